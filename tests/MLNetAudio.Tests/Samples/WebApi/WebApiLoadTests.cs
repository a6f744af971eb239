using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Samples.WebApi;

/// <summary>
/// samples/WebApi under concurrent load: pooled prediction engines give every request the single-request answer, and
/// concurrent writers of plays lose no row.
/// </summary>
public sealed class WebApiLoadTests(ITestOutputHelper output) : IDisposable
{
    private readonly WebApiHost _host = new();

    public void Dispose() => _host.Dispose();

    [Fact]
    public async Task Fifty_concurrent_scores_all_succeed_and_equal_single_requests()
    {
        using var client = _host.CreateClient();
        string[] clips = ["strings-then-flute.ogg", "flute-then-guitar.ogg"];
        var bytes = clips.ToDictionary(c => c, c => File.ReadAllBytes(WebApiHost.Clip(c)));

        // Single requests, one after the other: the reference answers (and a warm engine).
        var single = new Dictionary<string, (double Score, double Best, double[] Timeline)>();
        var latencies = new List<double>();
        foreach (var clip in clips.Concat(clips).Concat(clips))
        {
            var clock = Stopwatch.StartNew();
            single[clip] = await ScoreAsync(client, bytes[clip], clip);
            latencies.Add(clock.Elapsed.TotalMilliseconds);
        }

        var wall = Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            string clip = clips[i % 2];
            return (clip, result: await ScoreAsync(client, bytes[clip], clip));
        }));
        wall.Stop();

        foreach (var (clip, result) in results)
        {
            Assert.Equal(single[clip].Score, result.Score);
            Assert.Equal(single[clip].Best, result.Best);
            Assert.Equal(single[clip].Timeline, result.Timeline);
        }

        output.WriteLine($"single /score of a 24 s clip: median {latencies.Order().ElementAt(latencies.Count / 2):0} ms (of {latencies.Count}); "
            + $"50 concurrent: {wall.Elapsed.TotalSeconds:0.00} s, {50 / wall.Elapsed.TotalSeconds:0.0} songs/s, {Environment.ProcessorCount} cores");
    }

    [Fact]
    public async Task Eight_concurrent_writers_lose_no_play()
    {
        const int Writers = 8, PostsEach = 25;
        using var client = _host.CreateClient();
        var songs = new[] { "flute-melody", "guitar-melody", "piano-chords", "marimba-melody" };
        var statuses = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var codes = new List<HttpStatusCode>();
            for (int i = 0; i < PostsEach; i++)
            {
                // Two rows per post: one for the writer's own listener, one for a listener all writers share.
                using var a = await client.PostAsJsonAsync($"/users/writer-{w}/plays", new[] { new { songId = songs[i % 4], plays = 1 }, new { songId = songs[(i + 1) % 4], plays = 2 } });
                using var b = await client.PostAsJsonAsync("/users/shared/plays", new[] { new { songId = songs[w % 4], plays = 1 } });
                codes.Add(a.StatusCode);
                codes.Add(b.StatusCode);
            }

            return codes;
        })));
        Assert.All(statuses.SelectMany(s => s), s => Assert.Equal(HttpStatusCode.Created, s));

        // Count in the file itself, through a connection of our own.
        using var connection = new SqliteConnection($"Data Source={_host.DatabasePath};Mode=ReadOnly");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*), SUM(plays) FROM plays";
        using var reader = count.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal(Writers * PostsEach * 3, reader.GetInt64(0));               // 2 own + 1 shared row per iteration
        Assert.Equal(Writers * PostsEach * (1 + 2 + 1), reader.GetInt64(1));      // plays 1 + 2 own, 1 shared
        using var shared = await client.GetAsync("/users/shared/plays");
        var plays = JsonDocument.Parse(await shared.Content.ReadAsStringAsync()).RootElement.GetProperty("plays").EnumerateArray().Sum(p => p.GetProperty("plays").GetInt64());
        Assert.Equal(Writers * PostsEach, plays);
    }

    private static async Task<(double Score, double Best, double[] Timeline)> ScoreAsync(HttpClient client, byte[] bytes, string name)
    {
        using var response = await client.PostAsync("/score", WebApiHost.Upload(bytes, name));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{name}: {(int)response.StatusCode} {body}");
        var json = JsonDocument.Parse(body).RootElement;
        return (json.GetProperty("score").GetDouble(), json.GetProperty("bestWindowStartSeconds").GetDouble(),
            [.. json.GetProperty("timeline").EnumerateArray().Select(v => v.GetDouble())]);
    }
}
