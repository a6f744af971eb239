using Microsoft.ML;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class ContentBaselinesTests
{
    // Six songs in a plane: 1 and 2 close together, 4 and 6 close together far to the right, 3 far from everything,
    // 5 a little above song 1.
    private static readonly float[][] Features =
    [
        [0f, 0f],
        [0.1f, 0f],
        [5f, 5f],
        [10f, 0f],
        [0f, 3f],
        [10f, 0.2f],
    ];

    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void SeedSongIsTheMostPlayedAndItsNearestNeighbourRanksFirst()
    {
        // User 1 played song 1 three times and song 4 once: song 1 is the seed.
        var training = PlayLogs.Make(_ml, 2, 6, (1, 1, 3), (1, 4, 1), (2, 3, 1));
        var model = new SeedSongRecommender(Features, training);

        Assert.Equal(1u, model.SeedSong(1));
        Assert.Equal(3u, model.SeedSong(2));
        var top = model.Recommend(1, k: 4).Select(r => r.SongKey).ToArray();
        // Distances to song 1: song 2 0.1, song 5 3, song 3 7.07, song 6 10.
        Assert.Equal(new uint[] { 2, 5, 3, 6 }, top);
    }

    [Fact]
    public void SongSetRanksASongNearAnyPlayedSongAboveOneFarFromAll()
    {
        // User 1 played songs 1 and 4 once each. Song 6 is 0.2 from song 4 but 10 from song 1; song 3 is 7.07 from both.
        var training = PlayLogs.Make(_ml, 1, 6, (1, 1, 1), (1, 4, 1));
        var set = new SongSetRecommender(Features, training);
        var scores = new float[6];
        set.ScoreUsers(0, 1, scores);

        Assert.True(scores[5] > scores[2], $"song 6 {scores[5]} should beat song 3 {scores[2]}");
        Assert.True(scores[1] > scores[2], $"song 2 {scores[1]} should beat song 3 {scores[2]}");
        Assert.Equal(-0.2f, scores[5], 4);
        Assert.Equal(new uint[] { 2, 6, 5, 3 }, set.Recommend(1, k: 4).Select(r => r.SongKey).ToArray());
    }

    [Fact]
    public void AlreadyPlayedSongsAreNeverRecommended()
    {
        // Played songs are at distance 0 from themselves, so they score highest; they must still be left out.
        var training = PlayLogs.Make(_ml, 1, 6, (1, 1, 2), (1, 4, 1), (1, 3, 1));
        foreach (ContentSongScorer model in new ContentSongScorer[] { new SeedSongRecommender(Features, training), new SongSetRecommender(Features, training) })
        {
            var all = model.Recommend(1, k: 6).Select(r => r.SongKey).ToArray();
            Assert.Equal(new uint[] { 2, 5, 6 }, all.Order().ToArray());
        }

        // Through the evaluator: the test play of song 2 (nearest to the played set) is found at rank 1 once the
        // played songs are filtered out.
        var metrics = _ml.Audio().Recommendation.Evaluate(
            new SongSetRecommender(Features, training), PlayLogs.Make(_ml, 1, 6, (1, 2, 1)), training, new RecommendationEvaluationOptions { K = 1 });
        Assert.Equal(1.0, metrics.PrecisionAtK, 6);
    }

    [Fact]
    public void TiedSeedChoiceIsSeededAndRepeatable()
    {
        // Every song played once: the seed is a seeded choice among all six.
        var training = PlayLogs.Make(_ml, 1, 6, (1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 1), (1, 5, 1), (1, 6, 1));
        var choices = Enumerable.Range(1, 20).Select(seed => new SeedSongRecommender(Features, training, seed: seed).SeedSong(1)).ToArray();
        var again = Enumerable.Range(1, 20).Select(seed => new SeedSongRecommender(Features, training, seed: seed).SeedSong(1)).ToArray();

        Assert.Equal(choices, again);
        Assert.All(choices, c => Assert.InRange(c, 1u, 6u));
        Assert.True(choices.Distinct().Count() > 1, "the seed should change the tie-break");
    }

    [Fact]
    public void ColdSongsAreScoredFromFeaturesAlone()
    {
        // Song 6 was never played by anyone; its score still follows its features (near the played song 4).
        var training = PlayLogs.Make(_ml, 1, 6, (1, 4, 1));
        var scores = new float[6];
        new SeedSongRecommender(Features, training).ScoreUsers(0, 1, scores);
        Assert.True(float.IsFinite(scores[5]));
        Assert.True(scores[5] > scores[0], "song 6 lies next to the seed, song 1 far from it");
    }

    [Fact]
    public void FeaturesThatDoNotMatchTheSongKeysAreRejected()
    {
        var training = PlayLogs.Make(_ml, 1, 6, (1, 1, 1));
        var tooFew = Assert.Throws<ArgumentException>(() => new SongSetRecommender(Features.Take(5).ToArray(), training));
        Assert.Contains("6 keys", tooFew.Message, StringComparison.Ordinal);
        var ragged = Features.Select(f => f.ToArray()).ToArray();
        ragged[2] = [1f];
        Assert.Contains("song key 3", Assert.Throws<ArgumentException>(() => new SeedSongRecommender(ragged, training)).Message, StringComparison.Ordinal);
        var nan = Features.Select(f => f.ToArray()).ToArray();
        nan[4][0] = float.NaN;
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => new SeedSongRecommender(nan, training)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MfccStatisticsAreTheMeanAndSpreadOfTheSongsDistinctFrames()
    {
        string cache = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "content-windows-" + Guid.NewGuid().ToString("N"));
        try
        {
            var simulator = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 10, UserCount = 2, MeanSongsPerUser = 2, Seed = 5 });
            var options = new AudioSongOptions { SampleRate = 8000, RenderSeconds = 6, SectionSeconds = 2, WindowSeconds = 2, WindowHopSeconds = 1, Coefficients = 13, CacheDirectory = cache };
            var windows = AudioSongWindows.Compute(_ml, simulator.Songs.Take(4).ToArray(), options);
            var raw = ContentSongFeatures.MfccStatistics(windows, standardize: false);

            int c = windows.Coefficients, frames = windows.FramesPerWindow, hop = windows.HopFrames;
            Assert.True(hop < frames, "the test needs overlapping windows");
            for (int s = 0; s < windows.SongCount; s++)
            {
                // Each frame once, by its place on the song's timeline (overlapping windows repeat frames).
                var timeline = new Dictionary<int, float[]>();
                var values = windows.Windows(s);
                for (int w = 0; w < windows.WindowCount(s); w++)
                {
                    for (int f = 0; f < frames; f++)
                    {
                        timeline.TryAdd(w * hop + f, values.Slice((w * frames + f) * c, c).ToArray());
                    }
                }

                Assert.Equal(2 * c, raw[s].Length);
                for (int i = 0; i < c; i++)
                {
                    double mean = timeline.Values.Average(v => (double)v[i]);
                    double sd = Math.Sqrt(timeline.Values.Average(v => (v[i] - mean) * (v[i] - mean)));
                    Assert.Equal(mean, raw[s][i], 3);
                    Assert.Equal(sd, raw[s][c + i], 3);
                }
            }

            // Standardised: every dimension has mean 0 over the catalog.
            var standardized = ContentSongFeatures.MfccStatistics(windows);
            for (int i = 0; i < 2 * c; i++)
            {
                Assert.Equal(0.0, standardized.Average(v => (double)v[i]), 4);
            }
        }
        finally
        {
            if (Directory.Exists(cache))
            {
                Directory.Delete(cache, recursive: true);
            }
        }
    }
}
