using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace MLNetAudio.Tests.Samples.WebApi;

/// <summary>
/// Every endpoint of samples/WebApi through WebApplicationFactory, good and bad input. Expected values come from
/// models/flute-taste.md (strings-then-flute: score 0.336, best window 13-21 s) and models/builtin-recommender.md
/// (ana played flute-melody and piano-chords; strings-then-flute and flute-then-guitar have no plays: cold).
/// </summary>
public sealed class WebApiEndpointTests : IDisposable
{
    private readonly WebApiHost _host = new();
    private readonly HttpClient _client;

    public WebApiEndpointTests() => _client = _host.CreateClient();

    public void Dispose()
    {
        _client.Dispose();
        _host.Dispose();
    }

    [Fact]
    public async Task Score_returns_the_model_cards_score_and_best_window_with_the_timeline()
    {
        using var response = await _client.PostAsync("/score", WebApiHost.Upload(File.ReadAllBytes(WebApiHost.Clip("strings-then-flute.ogg")), "strings-then-flute.ogg"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await WebApiHost.JsonAsync(response);
        Assert.Equal(0.336, json.GetProperty("score").GetDouble(), 0.001);
        Assert.Equal(13, json.GetProperty("bestWindowStartSeconds").GetDouble());
        Assert.Equal(24, json.GetProperty("durationSeconds").GetDouble(), 0.05);
        Assert.Equal(8, json.GetProperty("windowSeconds").GetDouble());
        Assert.Equal(1, json.GetProperty("hopSeconds").GetDouble());

        // 24 s, 8 s windows every 1 s: starts 0..16, 17 windows; the best window is the timeline's maximum.
        var timeline = json.GetProperty("timeline").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(17, timeline.Length);
        Assert.All(timeline, v => Assert.InRange(v, 0, 1));
        Assert.Equal(13, Array.IndexOf(timeline, timeline.Max()));
        Assert.True(timeline[..5].Max() < 0.1, "the strings half (windows starting before 5 s) is not flute");
    }

    [Fact]
    public async Task Score_reads_a_wav_upload_and_pads_a_song_shorter_than_a_window()
    {
        using var nine = await _client.PostAsync("/score", WebApiHost.Upload(WebApiHost.ToneWav(9), "tone.wav"));
        Assert.Equal(HttpStatusCode.OK, nine.StatusCode);
        var json = await WebApiHost.JsonAsync(nine);
        Assert.Equal(9, json.GetProperty("durationSeconds").GetDouble(), 0.01);
        Assert.Equal(2, json.GetProperty("timeline").GetArrayLength()); // windows starting at 0 s and 1 s

        using var two = await _client.PostAsync("/score", WebApiHost.Upload(WebApiHost.ToneWav(2), "short.wav"));
        Assert.Equal(HttpStatusCode.OK, two.StatusCode);
        Assert.Equal(1, (await WebApiHost.JsonAsync(two)).GetProperty("timeline").GetArrayLength());
    }

    [Fact]
    public async Task Score_reads_an_mp3_upload_whatever_its_name()
    {
        // A 2 s 440 Hz sine at 44.1 kHz (Fixtures/README.md), uploaded under a misleading name: the format comes from the bytes.
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3"));
        using var response = await _client.PostAsync("/score", WebApiHost.Upload(bytes, "song.wav"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await WebApiHost.JsonAsync(response);
        Assert.Equal(2, json.GetProperty("durationSeconds").GetDouble(), 0.05);
        Assert.Equal(1, json.GetProperty("timeline").GetArrayLength());
    }

    [Fact]
    public async Task Score_without_a_file_field_is_400_naming_the_field()
    {
        using var response = await _client.PostAsync("/score", WebApiHost.Upload([1, 2, 3], "x.wav", field: "song"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "'file'");
    }

    [Fact]
    public async Task Score_of_a_request_that_is_not_a_form_is_400()
    {
        using var response = await _client.PostAsync("/score", new StringContent("{}", Encoding.UTF8, "application/json"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "multipart/form-data");
    }

    [Fact]
    public async Task Score_of_an_empty_file_is_400()
    {
        using var response = await _client.PostAsync("/score", WebApiHost.Upload([], "empty.ogg"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "'empty.ogg' is empty");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Score_of_garbage_bytes_is_400_never_500(int seed)
    {
        var bytes = new byte[5000 * seed];
        new Random(seed).NextBytes(bytes);
        using var response = await _client.PostAsync("/score", WebApiHost.Upload(bytes, "garbage.bin"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "garbage.bin");
    }

    [Fact]
    public async Task Score_of_text_names_the_upload_not_the_servers_temporary_file()
    {
        using var response = await _client.PostAsync("/score", WebApiHost.Upload(Encoding.UTF8.GetBytes("just some text, not a song"), "notes.txt"));
        var error = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "notes.txt");
        Assert.DoesNotContain("mlnetaudio-upload-", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Score_of_a_wav_with_no_samples_is_400()
    {
        using var response = await _client.PostAsync("/score", WebApiHost.Upload(WebApiHost.ToneWav(0), "silent.wav"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "no audio samples");
    }

    [Fact]
    public async Task Score_of_an_upload_over_the_configured_limit_is_413()
    {
        using var response = await _client.PostAsync("/score", WebApiHost.Upload(new byte[WebApiHost.MaxUploadBytes + (100 << 10)], "huge.wav"));
        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "limit is 4 MB");
    }

    [Fact]
    public async Task Recommendations_of_a_known_listener_include_the_cold_songs_with_their_best_window()
    {
        using var response = await _client.GetAsync("/users/ana/recommendations?k=10");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await WebApiHost.JsonAsync(response);
        Assert.Equal("model", json.GetProperty("source").GetString());
        var songs = json.GetProperty("recommendations").EnumerateArray().ToList();

        // 6 songs, ana's 2 played songs left out.
        Assert.Equal(["flute-then-guitar", "guitar-melody", "marimba-melody", "strings-then-flute"], songs.Select(s => s.GetProperty("songId").GetString()).Order());
        Assert.Equal(["flute-then-guitar", "strings-then-flute"], songs.Where(s => s.GetProperty("cold").GetBoolean()).Select(s => s.GetProperty("songId").GetString()).Order());
        var scores = songs.Select(s => s.GetProperty("score").GetDouble()).ToList();
        Assert.Equal(scores.OrderDescending(), scores);
        foreach (var s in songs)
        {
            var timeline = s.GetProperty("timeline").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(17, timeline.Length);
            Assert.Equal(Array.IndexOf(timeline, timeline.Max()), s.GetProperty("bestWindowStartSeconds").GetDouble());
            Assert.Equal(8, s.GetProperty("windowSeconds").GetDouble());
        }

        using var top2 = await _client.GetAsync("/users/ana/recommendations?k=2");
        Assert.Equal(2, (await WebApiHost.JsonAsync(top2)).GetProperty("recommendations").GetArrayLength());
    }

    [Fact]
    public async Task Recommendations_of_an_unknown_user_without_plays_is_404()
    {
        using var response = await _client.GetAsync("/users/nobody/recommendations");
        await AssertErrorAsync(response, HttpStatusCode.NotFound, "POST /users/nobody/plays");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("abc")]
    [InlineData("1001")]
    public async Task Recommendations_with_a_bad_k_is_400(string k)
    {
        using var response = await _client.GetAsync($"/users/ana/recommendations?k={k}");
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "k must be");
    }

    [Fact]
    public async Task Plays_fold_a_new_listener_in_without_retraining()
    {
        using var posted = await _client.PostAsJsonAsync("/users/zoe/plays", new[] { new { songId = "flute-melody", plays = 5 } });
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        Assert.Equal(1, (await WebApiHost.JsonAsync(posted)).GetProperty("recordedSongs").GetInt32());

        using var response = await _client.GetAsync("/users/zoe/recommendations?k=10");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await WebApiHost.JsonAsync(response);
        Assert.Equal("fold-in", json.GetProperty("source").GetString());
        var ids = json.GetProperty("recommendations").EnumerateArray().Select(s => s.GetProperty("songId").GetString()).ToList();
        Assert.Equal(5, ids.Count); // every song but the one played
        Assert.DoesNotContain("flute-melody", ids);
        Assert.Contains("strings-then-flute", ids);
    }

    [Fact]
    public async Task Plays_of_a_known_listener_change_their_next_recommendations()
    {
        var before = await RecommendationsAsync("ben");
        Assert.Equal("model", before.Source);
        Assert.Contains("strings-then-flute", before.Songs.Keys);

        using var posted = await _client.PostAsJsonAsync("/users/ben/plays", new[] { new { songId = "strings-then-flute", plays = 3 }, new { songId = "flute-melody", plays = 2 } });
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);

        var after = await RecommendationsAsync("ben");
        Assert.Equal("fold-in", after.Source);
        Assert.DoesNotContain("strings-then-flute", after.Songs.Keys);
        Assert.DoesNotContain("flute-melody", after.Songs.Keys);
        Assert.DoesNotContain("guitar-melody", after.Songs.Keys); // played in training: still left out after fold-in
        Assert.NotEqual(before.Songs["marimba-melody"], after.Songs["marimba-melody"]);

        using var plays = await _client.GetAsync("/users/ben/plays");
        var recorded = (await WebApiHost.JsonAsync(plays)).GetProperty("plays").EnumerateArray().ToDictionary(p => p.GetProperty("songId").GetString()!, p => p.GetProperty("plays").GetInt64());
        Assert.Equal(new Dictionary<string, long> { ["flute-melody"] = 2, ["strings-then-flute"] = 3 }, recorded);
    }

    [Theory]
    [InlineData("{not json", "JSON array")]
    [InlineData("{\"songId\": \"flute-melody\", \"plays\": 1}", "JSON array")]
    [InlineData("[]", "non-empty")]
    [InlineData("", "JSON array")]
    [InlineData("[{\"songId\": \"no-such-song\", \"plays\": 1}]", "no song 'no-such-song'")]
    [InlineData("[{\"songId\": \"flute-melody\", \"plays\": 0}]", "from 1 to 1000000")]
    [InlineData("[{\"songId\": \"flute-melody\", \"plays\": 1000001}]", "from 1 to 1000000")]
    [InlineData("[null]", "item 0 is null")]
    [InlineData("[{\"plays\": 2}]", "no songId")]
    [InlineData("[{\"songId\": \"flute-melody\", \"plays\": \"many\"}]", "JSON array")]
    public async Task Plays_with_a_bad_body_are_400_and_record_nothing(string body, string message)
    {
        using var response = await _client.PostAsync("/users/yan/plays", new StringContent(body, Encoding.UTF8, "application/json"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, message);
        using var plays = await _client.GetAsync("/users/yan/plays");
        Assert.Equal(0, (await WebApiHost.JsonAsync(plays)).GetProperty("plays").GetArrayLength());
    }

    [Fact]
    public async Task Plays_of_an_overlong_user_id_are_400()
    {
        using var response = await _client.PostAsync($"/users/{new string('u', 201)}/plays", new StringContent("[{\"songId\": \"flute-melody\", \"plays\": 1}]", Encoding.UTF8, "application/json"));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "at most 200 characters");
    }

    [Fact]
    public async Task Plays_survive_a_restart_over_the_same_database()
    {
        using var posted = await _client.PostAsJsonAsync("/users/rita/plays", new[] { new { songId = "piano-chords", plays = 4 } });
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);

        using var second = new WebApiHost(_host.DatabasePath);
        using var client = second.CreateClient();
        using var response = await client.GetAsync("/users/rita/recommendations");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await WebApiHost.JsonAsync(response);
        Assert.Equal("fold-in", json.GetProperty("source").GetString());
        Assert.Equal(1, json.GetProperty("recordedSongs").GetInt32());
    }

    [Fact]
    public async Task The_page_and_its_script_are_served()
    {
        string page = await _client.GetStringAsync("/");
        Assert.Contains("id=\"best-window\"", page, StringComparison.Ordinal);
        Assert.Contains("app.js", page, StringComparison.Ordinal);
        string script = await _client.GetStringAsync("/app.js");
        Assert.Contains("fetch(\"score\"", script, StringComparison.Ordinal);
    }

    private async Task<(string Source, Dictionary<string, double> Songs)> RecommendationsAsync(string user)
    {
        using var response = await _client.GetAsync($"/users/{user}/recommendations?k=10");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await WebApiHost.JsonAsync(response);
        return (json.GetProperty("source").GetString()!, json.GetProperty("recommendations").EnumerateArray().ToDictionary(s => s.GetProperty("songId").GetString()!, s => s.GetProperty("score").GetDouble()));
    }

    private static async Task<string> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string expected)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        string error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
        Assert.Contains(expected, error, StringComparison.Ordinal);
        return error;
    }
}
