using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
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

    private SeedSongModel SeedSong(IDataView training, int seed = 1, float[][]? features = null) =>
        _ml.Audio().Recommendation.Trainers.SeedSong(features ?? Features, new SeedSongOptions { Seed = seed }).Fit(training);

    // SchemaShape.Create is internal to ML.NET; the chain's shape is built as PipelineTests does.
    private static SchemaShape Shape(IDataView data) => new(data.Schema.Select(c => SchemaShapes.MakeColumn(c.Name, c.Type)));

    private SongSetModel SongSet(IDataView training, float[][]? features = null) =>
        _ml.Audio().Recommendation.Trainers.SongSet(features ?? Features).Fit(training);

    [Fact]
    public void SeedSongIsTheMostPlayedAndItsNearestNeighbourRanksFirst()
    {
        // User 1 played song 1 three times and song 4 once: song 1 is the seed.
        var training = PlayLogs.Make(_ml, 2, 6, (1, 1, 3), (1, 4, 1), (2, 3, 1));
        var model = SeedSong(training);

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
        var set = SongSet(training);
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
        foreach (ContentSongModel model in new ContentSongModel[] { SeedSong(training), SongSet(training) })
        {
            var all = model.Recommend(1, k: 6).Select(r => r.SongKey).ToArray();
            Assert.Equal(new uint[] { 2, 5, 6 }, all.Order().ToArray());
            Assert.Equal(new uint[] { 1, 3, 4 }, model.GetPlayedSongs(1).Order().ToArray());

            // Asked to keep them, the played songs come back (song 1, the seed and a set member, at distance 0 first).
            var kept = model.Recommend(1, k: 6, excludeAlreadyPlayed: false);
            Assert.Equal(6, kept.Count);
            Assert.Equal(1u, kept[0].SongKey);
            Assert.Equal(0f, kept[0].Score);
        }

        // Through the evaluator: the test play of song 2 (nearest to the played set) is found at rank 1 once the
        // played songs are filtered out.
        var metrics = _ml.Audio().Recommendation.Evaluate(
            SongSet(training), PlayLogs.Make(_ml, 1, 6, (1, 2, 1)), training, new RecommendationEvaluationOptions { K = 1 });
        Assert.Equal(1.0, metrics.PrecisionAtK, 6);
    }

    [Fact]
    public void TiedSeedChoiceIsSeededAndRepeatable()
    {
        // Every song played once: the seed is a seeded choice among all six.
        var training = PlayLogs.Make(_ml, 1, 6, (1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 1), (1, 5, 1), (1, 6, 1));
        var choices = Enumerable.Range(1, 20).Select(seed => SeedSong(training, seed).SeedSong(1)).ToArray();
        var again = Enumerable.Range(1, 20).Select(seed => SeedSong(training, seed).SeedSong(1)).ToArray();

        Assert.Equal(choices, again);
        Assert.All(choices, c => Assert.InRange(c, 1u, 6u));
        Assert.True(choices.Distinct().Count() > 1, "the seed should change the tie-break");
    }

    [Fact]
    public void ColdSongsAreScoredFromFeaturesAlone()
    {
        // Song 6 was never played by anyone; its score still follows its features (near the played song 4).
        var training = PlayLogs.Make(_ml, 1, 6, (1, 4, 1));
        var model = SeedSong(training);
        var scores = new float[6];
        model.ScoreUsers(0, 1, scores);
        Assert.True(float.IsFinite(scores[5]));
        Assert.True(scores[5] > scores[0], "song 6 lies next to the seed, song 1 far from it");

        // The Score column agrees: the cold song gets its distance, not the 0 the collaborative models give it.
        var pair = model.Transform(PlayLogs.Make(_ml, 1, 6, (1, 6, 0)));
        Assert.Equal(-0.2f, PlayLogs.Floats(pair, "Score").Single(), 4);
    }

    [Fact]
    public void AUserWithNoTrainingPlayScoresZeroEverywhereAndGetsTheLowestKeys()
    {
        // User 2 is in the key mapping but played nothing (their only row has count 0).
        var training = PlayLogs.Make(_ml, 2, 6, (1, 4, 2), (2, 3, 0));
        foreach (ContentSongModel model in new ContentSongModel[] { SeedSong(training), SongSet(training) })
        {
            var scores = Enumerable.Repeat(float.NaN, 12).ToArray();
            model.ScoreUsers(0, 2, scores);
            Assert.All(scores[6..], s => Assert.Equal(0f, s));
            Assert.Contains(scores[..6], s => s != 0f);

            var list = model.Recommend(2, k: 3);
            Assert.Equal(new uint[] { 1, 2, 3 }, list.Select(r => r.SongKey).ToArray());
            Assert.All(list, r => Assert.Equal(0f, r.Score));
            Assert.Empty(model.GetPlayedSongs(2));

            var rows = model.Transform(PlayLogs.Make(_ml, 2, 6, (2, 1, 0), (2, 6, 0)));
            Assert.Equal(new[] { 0f, 0f }, PlayLogs.Floats(rows, "Score"));
        }

        Assert.Equal(0u, SeedSong(training).SeedSong(2));
    }

    [Fact]
    public void FeaturesThatDoNotMatchTheSongKeysAreRejected()
    {
        var training = PlayLogs.Make(_ml, 1, 6, (1, 1, 1));
        var trainers = _ml.Audio().Recommendation.Trainers;
        var tooFew = Assert.Throws<ArgumentException>(() => trainers.SongSet(Features.Take(5).ToArray()).Fit(training));
        Assert.Contains("'SongId' has 6 keys", tooFew.Message, StringComparison.Ordinal);
        Assert.Contains("5 vectors", tooFew.Message, StringComparison.Ordinal);
        Assert.Contains("'SongId' has 6 keys", Assert.Throws<ArgumentException>(() => trainers.SeedSong(Features.Append([1f, 1f]).ToArray()).Fit(training)).Message, StringComparison.Ordinal);

        // Vector problems are found when the estimator is made, before any data is read.
        var ragged = Features.Select(f => f.ToArray()).ToArray();
        ragged[2] = [1f];
        Assert.Contains("song key 3", Assert.Throws<ArgumentException>(() => trainers.SeedSong(ragged)).Message, StringComparison.Ordinal);
        var nan = Features.Select(f => f.ToArray()).ToArray();
        nan[4][0] = float.NaN;
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => trainers.SongSet(nan)).Message, StringComparison.Ordinal);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => trainers.SeedSong([])).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => trainers.SeedSong((IReadOnlyList<float[]>)null!));
        Assert.Throws<ArgumentNullException>(() => trainers.SeedSong((IDataView)null!));
    }

    [Fact]
    public void DataWithOtherKeyCountsThanTrainingIsRejectedNamingTheColumn()
    {
        var model = SongSet(PlayLogs.Make(_ml, 2, 6, (1, 1, 1), (2, 4, 1)));
        var moreSongs = Assert.Throws<ArgumentException>(() => model.Transform(PlayLogs.Make(_ml, 2, 7, (1, 7, 1))));
        Assert.Contains("'SongId' is a key of 7 values", moreSongs.Message, StringComparison.Ordinal);
        Assert.Contains("6 songs", moreSongs.Message, StringComparison.Ordinal);
        var moreUsers = Assert.Throws<ArgumentException>(() => model.Transform(PlayLogs.Make(_ml, 3, 6, (3, 1, 1))));
        Assert.Contains("'UserId' is a key of 3 values", moreUsers.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidOptionsAreAllReportedAtOnce()
    {
        var trainers = _ml.Audio().Recommendation.Trainers;
        var seed = Assert.Throws<ArgumentException>(() => trainers.SeedSong(Features, new SeedSongOptions { MatrixColumnIndexColumnName = "", LabelColumnName = " " }));
        Assert.Contains(nameof(SeedSongOptions.MatrixColumnIndexColumnName), seed.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(SeedSongOptions.LabelColumnName), seed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(SeedSongOptions.MatrixRowIndexColumnName), seed.Message, StringComparison.Ordinal);

        var set = Assert.Throws<ArgumentException>(() => trainers.SongSet(Features, new SongSetOptions { MatrixRowIndexColumnName = null!, MatrixColumnIndexColumnName = "" }));
        Assert.Contains(nameof(SongSetOptions), set.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(SongSetOptions.MatrixRowIndexColumnName), set.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(SongSetOptions.MatrixColumnIndexColumnName), set.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheEstimatorKeepsItsOwnCopyOfTheFeatures()
    {
        var features = Features.Select(f => f.ToArray()).ToArray();
        var trainer = _ml.Audio().Recommendation.Trainers.SongSet(features);
        features[5][1] = 100f; // moving song 6 far away after the estimator was made must not move it in the model
        var scores = new float[6];
        trainer.Fit(PlayLogs.Make(_ml, 1, 6, (1, 4, 1))).ScoreUsers(0, 1, scores);
        Assert.Equal(-0.2f, scores[5], 4);
    }

    public sealed class Play
    {
        public string User { get; set; } = "";

        public string Song { get; set; } = "";

        public float Label { get; set; }
    }

    public sealed class Id
    {
        public string Value { get; set; } = "";
    }

    public sealed class Prediction
    {
        public float Score { get; set; }
    }

    [Fact]
    public void InAPipelineAfterMapValueToKeyTheScoresEqualTheFittedModels()
    {
        // Song names in catalog order: the key mapping built from the whole catalog makes key k = Features[k - 1],
        // including "s6", which nobody played. "dee" is a known user with no play.
        string[] songs = ["s1", "s2", "s3", "s4", "s5", "s6"];
        string[] users = ["ann", "bob", "cid", "dee"];
        var plays = _ml.Data.LoadFromEnumerable(new Play[]
        {
            new() { User = "ann", Song = "s1", Label = 3 },
            new() { User = "ann", Song = "s4", Label = 1 },
            new() { User = "bob", Song = "s3", Label = 2 },
            new() { User = "cid", Song = "s2", Label = 1 },
            new() { User = "cid", Song = "s5", Label = 1 },
        });
        var keys = _ml.Transforms.Conversion.MapValueToKey("UserId", "User", keyData: _ml.Data.LoadFromEnumerable(users.Select(u => new Id { Value = u })))
            .Append(_ml.Transforms.Conversion.MapValueToKey("SongId", "Song", keyData: _ml.Data.LoadFromEnumerable(songs.Select(s => new Id { Value = s }))));
        var trainers = _ml.Audio().Recommendation.Trainers;
        var everyPair = _ml.Data.LoadFromEnumerable(users.SelectMany(u => songs.Select(s => new Play { User = u, Song = s })).ToArray());

        foreach (var estimator in new IEstimator<ContentSongModel>[] { trainers.SeedSong(Features), trainers.SongSet(Features) })
        {
            var pipeline = keys.Append(estimator);

            // Before any Fit, the chain's schema propagation accepts MapValueToKey's keys and promises Score.
            var shape = pipeline.GetOutputSchema(Shape(plays));
            var score = Assert.Single(shape, c => c.Name == "Score");
            Assert.Equal(NumberDataViewType.Single, score.ItemType);

            var chain = pipeline.Fit(plays);
            var model = chain.LastTransformer;
            Assert.Equal(4, model.UserCount);
            Assert.Equal(6, model.SongCount);

            // The pipeline's Score column over every (user, song) pair equals the fitted model's own score table.
            var table = new float[4 * 6];
            model.ScoreUsers(0, 4, table);
            var scored = chain.Transform(everyPair);
            var userKeys = scored.GetColumn<uint>("UserId").ToArray();
            var songKeys = scored.GetColumn<uint>("SongId").ToArray();
            var scores = PlayLogs.Floats(scored, "Score");
            Assert.Equal(24, scores.Length);
            for (int i = 0; i < scores.Length; i++)
            {
                Assert.Equal(table[(userKeys[i] - 1) * 6 + (songKeys[i] - 1)], scores[i]);
            }

            // ... and the same estimator fitted directly on the keyed data gives the same table.
            var direct = estimator.Fit(keys.Fit(plays).Transform(plays));
            var directTable = new float[4 * 6];
            direct.ScoreUsers(0, 4, directTable);
            Assert.Equal(table, directTable);

            // Hand-computed: ann's seed (most played) is s1 and her set is {s1, s4}; s2 is 0.1 from s1 either way.
            // dee played nothing: 0 everywhere. An id the mapping never saw (key 0) also scores 0.
            var engine = _ml.Model.CreatePredictionEngine<Play, Prediction>(chain);
            Assert.Equal(-0.1f, engine.Predict(new Play { User = "ann", Song = "s2" }).Score, 5);
            Assert.Equal(0f, engine.Predict(new Play { User = "dee", Song = "s2" }).Score);
            Assert.Equal(0f, engine.Predict(new Play { User = "zed", Song = "s2" }).Score);
            Assert.Equal(0f, engine.Predict(new Play { User = "ann", Song = "a song not in the catalog" }).Score);
        }
    }

    [Fact]
    public void GetOutputSchemaNamesAColumnThatIsNotAKeyOrAMissingLabel()
    {
        var plays = _ml.Data.LoadFromEnumerable(new[] { new Play { User = "ann", Song = "s1", Label = 1 } });
        var trainers = _ml.Audio().Recommendation.Trainers;
        var notKey = Assert.Throws<ArgumentException>(() => trainers.SeedSong(Features, new SeedSongOptions { MatrixColumnIndexColumnName = "User", MatrixRowIndexColumnName = "Song" })
            .GetOutputSchema(Shape(plays)));
        Assert.Contains("'User'", notKey.Message, StringComparison.Ordinal);
        Assert.Contains("MapValueToKey", notKey.Message, StringComparison.Ordinal);

        var keyed = _ml.Transforms.Conversion.MapValueToKey("UserId", "User").Append(_ml.Transforms.Conversion.MapValueToKey("SongId", "Song"))
            .GetOutputSchema(Shape(plays));
        var noLabel = Assert.Throws<ArgumentException>(() => trainers.SongSet(Features, new SongSetOptions { LabelColumnName = "Plays" }).GetOutputSchema(keyed));
        Assert.Contains("'Plays'", noLabel.Message, StringComparison.Ordinal);
        var textLabel = Assert.Throws<ArgumentException>(() => trainers.SongSet(Features, new SongSetOptions { LabelColumnName = "Song" }).GetOutputSchema(keyed));
        Assert.Contains("Label column 'Song' must be a scalar Single", textLabel.Message, StringComparison.Ordinal);
        Assert.Contains(trainers.SongSet(Features).GetOutputSchema(keyed), c => c.Name == "Score");
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
