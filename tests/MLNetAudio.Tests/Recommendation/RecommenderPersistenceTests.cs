using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Data;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The multi-user audio model through <c>ml.Audio().Model.Save/Load</c>: scores, recommendations, reasons and
/// fold-in come back identical (cold songs included), in this process and in a new one, alone or after ML.NET's
/// MapValueToKey; damaged files and mismatched keys fail with messages that say what is wrong.
/// </summary>
public sealed class MultiUserAudioPersistenceTests(TinyAudioCatalog catalog) : IClassFixture<TinyAudioCatalog>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-reco-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void OlderFilesWithUseGpuWhenAvailableAndWithoutTheStatisticsWeightStillLoad(int version)
    {
        var model = catalog.Model;
        string path = Path.Combine(_dir, $"audio-v{version}.zip");
        catalog.Ml.Audio().Model.Save(model, catalog.Training.Schema, path);

        // What older writers made (MultiUserAudioModel's Save order): version 2 wrote bool useGpuWhenAvailable where
        // version 3 writes int32 device; version 1 had no WindowStatisticsWeight after it.
        ModelFiles.RewriteEntry(path, bytes =>
        {
            using var r = new BinaryReader(new MemoryStream(bytes));
            r.ReadInt32();
            r.ReadString();
            int versionAt = (int)r.BaseStream.Position;
            Assert.Equal(3, r.ReadInt32());
            for (int i = 0; i < 3; i++)
            {
                r.ReadString();
            }

            for (int i = 0; i < 6; i++)
            {
                r.ReadInt32();
            }

            r.ReadDouble();
            r.ReadInt32();
            r.ReadBoolean();
            r.ReadInt32();
            r.ReadInt32();
            Assert.Equal(model.Seed, r.ReadInt32());
            int deviceAt = (int)r.BaseStream.Position;
            Assert.Equal((int)MLNetAudio.Scoring.TorchDevice.Auto, r.ReadInt32()); // true in the older formats
            Assert.Equal(MultiUserAudioOptions.Defaults.WindowStatisticsWeight, r.ReadDouble());
            int weightEnd = (int)r.BaseStream.Position;
            byte[] old = version == 1
                ? [.. bytes.AsSpan(0, deviceAt), 1, .. bytes.AsSpan(weightEnd)]
                : [.. bytes.AsSpan(0, deviceAt), 1, .. bytes.AsSpan(deviceAt + sizeof(int))];
            BitConverter.GetBytes(version).CopyTo(old, versionAt);
            return old;
        }, version: version);

        using var loaded = LoadSingle<MultiUserAudioModel>(new MLContext(seed: 7), path);
        var before = new float[model.UserCount * model.SongCount];
        var after = new float[before.Length];
        model.ScoreUsers(0, model.UserCount, before);
        loaded.ScoreUsers(0, loaded.UserCount, after);
        Assert.Equal(before, after);
    }

    [Fact]
    public void LoadedModelScoresRecommendsExplainsAndFoldsInIdentically()
    {
        var model = catalog.Model;
        string path = Path.Combine(_dir, "audio.zip");
        catalog.Ml.Audio().Model.Save(model, catalog.Training.Schema, path);

        using var loaded = LoadSingle<MultiUserAudioModel>(new MLContext(seed: 7), path);

        // Every (user, song) pair, cold songs included, scores bit-identically through the Score column.
        var pairs = AllPairs(catalog.Ml, model.UserCount, model.SongCount);
        var expected = PlayLogs.Floats(model.Transform(pairs), MultiUserAudioModel.ScoreColumnName);
        Assert.True(expected.Distinct().Count() > model.SongCount, "scores must vary for the comparison to mean anything");
        Assert.Equal(expected, PlayLogs.Floats(loaded.Transform(pairs), MultiUserAudioModel.ScoreColumnName));

        var before = new float[model.UserCount * model.SongCount];
        var after = new float[before.Length];
        model.ScoreUsers(0, model.UserCount, before);
        loaded.ScoreUsers(0, loaded.UserCount, after);
        Assert.Equal(before, after);

        Assert.Equal(model.Aggregation, loaded.Aggregation);
        Assert.Equal(model.EmbeddingSize, loaded.EmbeddingSize);
        Assert.Equal(model.CoefficientMean, loaded.CoefficientMean);
        Assert.Equal(model.CoefficientDeviation, loaded.CoefficientDeviation);
        for (uint u = 1; u <= model.UserCount; u++)
        {
            Assert.Equal(model.GetUserVector(u), loaded.GetUserVector(u));
            AssertSameReasons(model.Recommend(u, 5), loaded.Recommend(u, 5));
        }

        // Every song, cold ones (never in training) included, is explained and embedded from the stored window embeddings.
        var cold = catalog.Simulator.ColdSongKeys;
        Assert.NotEmpty(cold);
        for (uint song = 1; song <= model.SongCount; song++)
        {
            AssertSameReasons([model.Explain(1, song)], [loaded.Explain(1, song)]);
            Assert.Equal(model.GetSongEmbedding(song), loaded.GetSongEmbedding(song));
        }

        // Fold-in of a new user runs on the stored embeddings: same vector, same recommendations.
        uint[] plays = [catalog.Simulator.WarmSongKeys[0], catalog.Simulator.WarmSongKeys[1], cold[0]];
        Assert.Equal(model.FoldInUser(plays, steps: 50), loaded.FoldInUser(plays, steps: 50));
        AssertSameReasons(model.RecommendForPlays(plays, 5), loaded.RecommendForPlays(plays, 5));

        // The catalog's timing survives; its MFCC values are not kept (the model needs only the embeddings).
        Assert.Equal(model.SongCount, loaded.Songs.SongCount);
        Assert.All(Enumerable.Range(0, model.SongCount), s => Assert.Equal(model.Songs.WindowCount(s), loaded.Songs.WindowCount(s)));
        Assert.Equal(model.Songs.Options.WindowHopSeconds, loaded.Songs.Options.WindowHopSeconds);
        Assert.False(loaded.Songs.HasWindowValues);
        var e = Assert.Throws<InvalidOperationException>(() => loaded.Songs.Windows(0).ToArray());
        Assert.Contains("AudioSongWindows.Compute", e.Message, StringComparison.Ordinal);

        // A loaded model saves again to the same bytes (it needs no MFCC values for that).
        string again = Path.Combine(_dir, "again.zip");
        catalog.Ml.Audio().Model.Save(loaded, catalog.Training.Schema, again);
        Assert.Equal(StageBytes(path), StageBytes(again));

        // The encoder's weights come back: it embeds the same windows to the same values.
        // The encoder lives where the model computes (CUDA when trained there and a GPU is present): inputs go there.
        Assert.Equal(model.ComputeDevice, loaded.ComputeDevice);
        using var windows = TorchSharp.torch.tensor(catalog.Windows.Windows(0).ToArray(), [catalog.Windows.WindowCount(0), catalog.Windows.FramesPerWindow, catalog.Windows.Coefficients], device: loaded.ComputeDevice);
        using var a = model.Encoder.Embedding(windows).cpu();
        using var b = loaded.Encoder.Embedding(windows).cpu();
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
    }

    [Fact]
    public void SavedModelScoresBitIdenticallyInANewProcess()
    {
        var model = catalog.Model;
        string modelPath = Path.Combine(_dir, "audio.zip");
        string dataPath = Path.Combine(_dir, "pairs.idv");
        catalog.Ml.Audio().Model.Save(model, catalog.Training.Schema, modelPath);
        var pairs = AllPairs(catalog.Ml, model.UserCount, model.SongCount);
        using (var file = File.Create(dataPath))
        {
            catalog.Ml.Data.SaveAsBinary(pairs, file);
        }

        string[] expected = FreshProcessEntryPoint.Format(model.Transform(pairs), [MultiUserAudioModel.ScoreColumnName]).ToArray();

        string[] actual = FreshProcessLoadTests.RunFreshProcess(FreshProcessEntryPoint.ScoreCommand, modelPath, dataPath, MultiUserAudioModel.ScoreColumnName);

        Assert.Equal(model.UserCount * model.SongCount, expected.Length);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ScoresOfEveryPairAndFoldInAreBitIdenticalInANewProcess()
    {
        string modelPath = Path.Combine(_dir, "audio.zip");
        catalog.Ml.Audio().Model.Save(catalog.Model, catalog.Training.Schema, modelPath);
        string[] played = [.. catalog.Simulator.WarmSongKeys.Take(2).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)), catalog.Simulator.ColdSongKeys[0].ToString(System.Globalization.CultureInfo.InvariantCulture)];
        string[] expected = FreshProcessEntryPoint.RecommendationFingerprint(catalog.Model, played.Select(uint.Parse).ToArray()).ToArray();

        string[] actual = FreshProcessLoadTests.RunFreshProcess([FreshProcessEntryPoint.RecommendCommand, modelPath, .. played]);

        Assert.Equal(catalog.Model.UserCount + 1, expected.Length);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void PipelineFromRawIdsThroughMapValueToKeyRoundTrips()
    {
        var ml = catalog.Ml;
        var (raw, mapping) = RawIdsAndMapping(ml, catalog.Model.UserCount, catalog.Model.SongCount);
        var pipeline = new TransformerChain<ITransformer>(mapping, catalog.Model);
        string path = Path.Combine(_dir, "pipeline.zip");
        ml.Audio().Model.Save(pipeline, raw.Schema, path);

        var loaded = new MLContext(seed: 3).Audio().Model.Load(path, out var schema);
        try
        {
            Assert.Equal(raw.Schema.Select(c => c.Name), schema.Select(c => c.Name));
            var stages = AudioModelCatalog.Flatten(loaded).ToList();
            Assert.IsType<MultiUserAudioModel>(stages[^1]);
            var expected = PlayLogs.Floats(pipeline.Transform(raw), MultiUserAudioModel.ScoreColumnName);
            Assert.Equal(expected, PlayLogs.Floats(loaded.Transform(raw), MultiUserAudioModel.ScoreColumnName));

            // The mapping sends "user-07" to key 7 and "song-12" to key 12, so the scores are the model's own pairs.
            var rows = ml.Data.CreateEnumerable<RawPair>(raw, reuseRowObject: false).ToArray();
            for (int i = 0; i < rows.Length; i += 37)
            {
                Assert.Equal(catalog.Model.ScorePair(KeyOf(rows[i].User), KeyOf(rows[i].Song)), expected[i]);
            }
        }
        finally
        {
            DisposeStages(loaded);
        }
    }

    [Fact]
    public void LoadedModelRefusesKeysOfAnotherCountNamingTheColumn()
    {
        string path = Path.Combine(_dir, "audio.zip");
        catalog.Ml.Audio().Model.Save(catalog.Model, catalog.Training.Schema, path);
        using var loaded = LoadSingle<MultiUserAudioModel>(catalog.Ml, path);

        var moreSongs = PlayLogs.Make(catalog.Ml, catalog.Model.UserCount, catalog.Model.SongCount + 1, (1, 1, 1));
        var e = Assert.Throws<ArgumentException>(() => loaded.Transform(moreSongs));
        Assert.Contains("'SongId'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{catalog.Model.SongCount} songs", e.Message, StringComparison.Ordinal);

        var fewerUsers = PlayLogs.Make(catalog.Ml, catalog.Model.UserCount - 1, catalog.Model.SongCount, (1, 1, 1));
        e = Assert.Throws<ArgumentException>(() => loaded.Transform(fewerUsers));
        Assert.Contains("'UserId'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedOrCutPayloadFailsAsADamagedFile()
    {
        string path = Path.Combine(_dir, "audio.zip");
        catalog.Ml.Audio().Model.Save(catalog.Model, catalog.Training.Schema, path);
        var bytes = File.ReadAllBytes(path);
        string cut = Path.Combine(_dir, "cut.zip");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<AudioModelFileException>(() => catalog.Ml.Audio().Model.Load(cut, out _));
        Assert.Equal(AudioModelFileProblem.Truncated, e.Problem);
        Assert.Contains(cut, e.Message, StringComparison.Ordinal);

        // A payload cut inside the window embeddings, with a checksum that matches (as a buggy writer would leave it),
        // is caught by the stage's own reader.
        ModelFiles.RewriteStage(path, payload => payload[..(payload.Length * 3 / 4)]);
        e = Assert.Throws<AudioModelFileException>(() => catalog.Ml.Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
        Assert.Contains(MultiUserAudioModel.FormatName, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HybridRankerWithItsFeatureModelsRoundTrips()
    {
        var ml = catalog.Ml;
        var sim = catalog.Simulator;
        var trainers = ml.Audio().Recommendation.Trainers;
        var mf = trainers.ImplicitMatrixFactorization("Label", "UserId", "SongId", approximationRank: 4, numberOfIterations: 3).Fit(catalog.Training);
        var itemCf = trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId", numberOfNeighbors: 5).Fit(catalog.Training);
        var popularity = trainers.Popularity("Label", "UserId", "SongId").Fit(catalog.Training);
        HybridFeature[] features =
        [
            new("Audio", catalog.Model), new("AudioFactors", trainers.AudioFactorRegression(mf, catalog.Model).Fit(catalog.Training)),
            new("MF", mf), new("ItemCF", itemCf), new("Popularity", popularity),
        ];
        var hybrid = trainers.HybridRanker(new HybridRankerOptions { Features = features, NumberOfIterations = 10, RandomNegativesPerUser = 10, TopCandidatesPerFeature = 5 })
            .Fit(sim.ToDataView(ml, sim.WarmTest), catalog.Training);
        string path = Path.Combine(_dir, "hybrid.zip");
        ml.Audio().Model.SaveHybridRanker(hybrid, path);

        var loaded = new MLContext(seed: 4).Audio().Model.LoadHybridRanker(path);
        try
        {
            Assert.Equal(hybrid.FeatureNames, loaded.FeatureNames);
            Assert.Equal(features.Select(f => f.Scorer.GetType()), loaded.Features.Select(f => f.Scorer.GetType()));
            var before = new float[hybrid.UserCount * hybrid.SongCount];
            var after = new float[before.Length];
            hybrid.ScoreUsers(0, hybrid.UserCount, before);
            loaded.ScoreUsers(0, loaded.UserCount, after);
            Assert.True(before.Distinct().Count() > 10, "scores must vary for the comparison to mean anything");
            Assert.Equal(before, after);
            Assert.Equal(
                hybrid.ScoreCandidates(hybrid.TrainingData).GetColumn<float>("Score"),
                loaded.ScoreCandidates(hybrid.TrainingData).GetColumn<float>("Score"));

            // As ML.NET transformers over (user key, song key) rows, with the key columns they were fitted with.
            Assert.Equal((hybrid.UserColumnName, hybrid.SongColumnName), (loaded.UserColumnName, loaded.SongColumnName));
            var pairs = AllPairs(ml, hybrid.UserCount, hybrid.SongCount);
            Assert.Equal(PlayLogs.Floats(hybrid.Transform(pairs), "Score"), PlayLogs.Floats(loaded.Transform(pairs), "Score"));
            Assert.Empty(loaded.TrainingData.GetColumn<float>(HybridRankerModel.LabelColumnName));
        }
        finally
        {
            // A loaded ranker owns the feature models it read.
            loaded.Dispose();
        }

        // A feature that cannot be saved is named, and no file is left behind.
        var unsaveable = hybrid.WithFeatures([.. features[..4], new HybridFeature("Popularity", new RandomScorer(hybrid.UserCount, hybrid.SongCount, 1))]);
        string other = Path.Combine(_dir, "unsaveable.zip");
        var e = Assert.Throws<NotSupportedException>(() => ml.Audio().Model.SaveHybridRanker(unsaveable, other));
        Assert.Contains("'Popularity'", e.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(RandomScorer), e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(other));

        // A cut file, and a pipeline file given to the hybrid loader, fail saying so.
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(other, bytes[..(bytes.Length / 2)]);
        var cut = Assert.Throws<AudioModelFileException>(() => ml.Audio().Model.LoadHybridRanker(other));
        Assert.Equal(AudioModelFileProblem.Truncated, cut.Problem);
        ml.Audio().Model.Save(popularity, catalog.Training.Schema, other);
        var wrong = Assert.Throws<AudioModelFileException>(() => ml.Audio().Model.LoadHybridRanker(other));
        Assert.Equal(AudioModelFileProblem.NotAModelFile, wrong.Problem);
        Assert.Contains("ml.Audio().Model.Load", wrong.Message, StringComparison.Ordinal);
    }

    /// <summary>Every (user, song) pair as key rows.</summary>
    internal static IDataView AllPairs(MLContext ml, int users, int songs) =>
        PlayLogs.Make(ml, users, songs, Enumerable.Range(1, users).SelectMany(u => Enumerable.Range(1, songs).Select(s => ((uint)u, (uint)s, 1f))).ToArray());

    /// <summary>
    /// Every (user, song) pair with string ids ("user-07", "song-12") and the fitted MapValueToKey pair that maps them to
    /// the keys the models were trained on (ordered by value, so "song-01" is key 1).
    /// </summary>
    internal static (IDataView Raw, ITransformer Mapping) RawIdsAndMapping(MLContext ml, int users, int songs)
    {
        var rows = Enumerable.Range(1, users).SelectMany(u => Enumerable.Range(1, songs).Select(s => new RawPair { User = $"user-{u:D2}", Song = $"song-{s:D2}" })).ToArray();
        var raw = ml.Data.LoadFromEnumerable(rows);
        var mapping = ml.Transforms.Conversion.MapValueToKey("UserId", "User", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.Transforms.Conversion.MapValueToKey("SongId", "Song", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue))
            .Fit(raw);
        return (raw, mapping);
    }

    private static byte[] StageBytes(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        using var s = zip.Entries.Single(e => e.FullName.EndsWith(".audio.bin", StringComparison.Ordinal)).Open();
        using var buffer = new MemoryStream();
        s.CopyTo(buffer);
        return buffer.ToArray();
    }

    internal static uint KeyOf(string id) => uint.Parse(id[(id.IndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Loads a file holding one stage and returns it as its type.</summary>
    internal static T LoadSingle<T>(MLContext ml, string path)
        where T : ITransformer =>
        Assert.IsAssignableFrom<T>(AudioModelCatalog.Flatten(ml.Audio().Model.Load(path, out _)).Single());

    internal static void DisposeStages(ITransformer model)
    {
        foreach (var stage in AudioModelCatalog.Flatten(model))
        {
            (stage as IDisposable)?.Dispose();
        }
    }

    private static void AssertSameReasons(IReadOnlyList<AudioRecommendationReason> expected, IReadOnlyList<AudioRecommendationReason> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i] with { Timeline = [] }, actual[i] with { Timeline = [] });
            Assert.Equal(expected[i].Timeline, actual[i].Timeline);
        }
    }

    internal sealed class RawPair
    {
        public string User { get; set; } = string.Empty;

        public string Song { get; set; } = string.Empty;
    }
}

/// <summary>
/// The models trained from the play log (implicit matrix factorization, popularity, item-based CF, ML.NET's field-aware
/// factorization machine, and the content
/// baselines over song features) through <c>ml.Audio().Model.Save/Load</c>: identical Score columns and
/// recommendations, their own state back, key checks and damaged payloads reported.
/// </summary>
public sealed class PlayLogModelPersistenceTests : IDisposable
{
    private const int Users = 25;
    private const int Songs = 30;
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-cf-model-").FullName;
    private readonly MLContext _ml = new(seed: 1);
    private readonly ListeningSimulator _simulator = new(new ListeningSimulatorOptions { SongCount = Songs, UserCount = Users, MeanSongsPerUser = 6, Seed = 4 });

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Kinds => new() { "MF", "Popularity", "ItemCF", "FFM", "SeedSong", "SongSet", "AudioFactors", "PerListener" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LoadedModelGivesIdenticalScoresAndRecommendations(string kind)
    {
        var training = _simulator.ToDataView(_ml, _simulator.Training);
        var model = Fit(kind, training);
        string path = Path.Combine(_dir, kind + ".zip");
        _ml.Audio().Model.Save(model, training.Schema, path);

        var loaded = MultiUserAudioPersistenceTests.LoadSingle<ITransformer>(new MLContext(seed: 9), path);

        Assert.Equal(model.GetType(), loaded.GetType());
        var pairs = MultiUserAudioPersistenceTests.AllPairs(_ml, Users, Songs);
        var before = model.Transform(pairs);
        var after = loaded.Transform(pairs);
        Assert.Equal(before.Schema.Select(c => (c.Name, c.Type.ToString())), after.Schema.Select(c => (c.Name, c.Type.ToString())));
        var expected = PlayLogs.Floats(before, SongRecommenderModel.ScoreColumnName);
        Assert.True(expected.Distinct().Count() > 2, "scores must vary for the comparison to mean anything");
        Assert.Equal(expected, PlayLogs.Floats(after, SongRecommenderModel.ScoreColumnName));
        var all = new float[Users * Songs];
        var allAfter = new float[all.Length];
        ((IUserSongScorer)model).ScoreUsers(0, Users, all);
        ((IUserSongScorer)loaded).ScoreUsers(0, Users, allAfter);
        Assert.Equal(all, allAfter);

        switch ((model, loaded))
        {
            case (SongRecommenderModel m, SongRecommenderModel back):
                var recommended = m.RecommendAll(5);
                var recommendedAfter = back.RecommendAll(5);
                Assert.Equal(recommended.Length, recommendedAfter.Length);
                for (int u = 0; u < recommended.Length; u++)
                {
                    Assert.Equal(recommended[u], recommendedAfter[u]);
                    Assert.Equal(m.GetPlayedSongs((uint)u + 1), back.GetPlayedSongs((uint)u + 1));
                }

                Assert.All(Enumerable.Range(1, Songs), s => Assert.Equal(m.IsSongKnown((uint)s), back.IsSongKnown((uint)s)));
                break;
            case (ContentSongModel m, ContentSongModel back):
                for (uint u = 1; u <= Users; u++)
                {
                    Assert.Equal(m.Recommend(u, 5), back.Recommend(u, 5));
                    Assert.Equal(m.GetPlayedSongs(u), back.GetPlayedSongs(u));
                }

                break;
        }

        switch ((model, loaded))
        {
            case (ImplicitMatrixFactorizationModel mf, ImplicitMatrixFactorizationModel back):
                Assert.Equal(before.GetColumn<bool>(ImplicitMatrixFactorizationModel.HasFactorsColumnName), after.GetColumn<bool>(ImplicitMatrixFactorizationModel.HasFactorsColumnName));
                Assert.Equal(mf.TrainingLoss, back.TrainingLoss);
                Assert.Equal((mf.ApproximationRank, mf.Lambda, mf.Alpha), (back.ApproximationRank, back.Lambda, back.Alpha));
                (uint, float)[] plays = [(_simulator.WarmSongKeys[0], 2f), (_simulator.WarmSongKeys[3], 1f)];
                Assert.Equal(mf.FoldInUser(plays), back.FoldInUser(plays));
                Assert.Equal(mf.RecommendForPlays(plays, 5), back.RecommendForPlays(plays, 5));
                break;
            case (PopularityModel popular, PopularityModel back):
                Assert.All(Enumerable.Range(1, Songs), s => Assert.Equal(popular.GetPopularity((uint)s), back.GetPopularity((uint)s)));
                break;
            case (ItemBasedCollaborativeFilteringModel cf, ItemBasedCollaborativeFilteringModel back):
                for (uint s = 1; s <= Songs; s++)
                {
                    for (uint n = 1; n <= Songs; n++)
                    {
                        Assert.Equal(cf.GetSimilarity(s, n), back.GetSimilarity(s, n));
                    }
                }

                break;
            case (SeedSongModel seed, SeedSongModel back):
                Assert.All(Enumerable.Range(1, Users), u => Assert.Equal(seed.SeedSong((uint)u), back.SeedSong((uint)u)));
                break;
            case (AudioFactorRegressionModel factors, AudioFactorRegressionModel back):
                Assert.Equal((factors.UserColumnName, factors.SongColumnName, factors.Rank), (back.UserColumnName, back.SongColumnName, back.Rank));
                Assert.All(Enumerable.Range(1, Songs), s => Assert.Equal(factors.GetPredictedSongFactors((uint)s), back.GetPredictedSongFactors((uint)s)));
                break;
            case (PerListenerAudioModel listeners, PerListenerAudioModel back):
                Assert.Equal((listeners.UserColumnName, listeners.SongColumnName, listeners.Seed, listeners.ListenersWithModel), (back.UserColumnName, back.SongColumnName, back.Seed, back.ListenersWithModel));
                Assert.All(Enumerable.Range(1, Users), u => Assert.Equal(listeners.HasListenerModel((uint)u), back.HasListenerModel((uint)u)));
                break;
            case (SongSetModel, SongSetModel):
            case (FieldAwareFactorizationMachineRecommenderModel, FieldAwareFactorizationMachineRecommenderModel):
                // Their state is what the Score column and ScoreUsers read, compared above.
                break;
            default:
                Assert.Fail($"unexpected kinds {model.GetType().Name} and {loaded.GetType().Name}");
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PipelineFromRawIdsThroughMapValueToKeyRoundTrips(string kind)
    {
        var (raw, mapping) = MultiUserAudioPersistenceTests.RawIdsAndMapping(_ml, Users, Songs);
        var model = Fit(kind, _simulator.ToDataView(_ml, _simulator.Training));
        var pipeline = new TransformerChain<ITransformer>(mapping, model);
        string path = Path.Combine(_dir, kind + "-pipeline.zip");
        _ml.Audio().Model.Save(pipeline, raw.Schema, path);

        var loaded = new MLContext(seed: 5).Audio().Model.Load(path, out _);

        Assert.Equal(
            PlayLogs.Floats(pipeline.Transform(raw), SongRecommenderModel.ScoreColumnName),
            PlayLogs.Floats(loaded.Transform(raw), SongRecommenderModel.ScoreColumnName));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LoadedModelRefusesKeysOfAnotherCountNamingTheColumn(string kind)
    {
        var training = _simulator.ToDataView(_ml, _simulator.Training);
        string path = Path.Combine(_dir, kind + ".zip");
        _ml.Audio().Model.Save(Fit(kind, training), training.Schema, path);
        var loaded = _ml.Audio().Model.Load(path, out _);

        var e = Assert.Throws<ArgumentException>(() => loaded.Transform(PlayLogs.Make(_ml, Users, Songs - 1, (1, 1, 1))));

        Assert.Contains("'SongId'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{Songs} songs", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void DamagedPayloadFailsAsCorruptNamingTheEntry(string kind)
    {
        var training = _simulator.ToDataView(_ml, _simulator.Training);
        string path = Path.Combine(_dir, kind + ".zip");
        _ml.Audio().Model.Save(Fit(kind, training), training.Schema, path);

        // Cut short: every array's length prefix is checked against the bytes left.
        ModelFiles.RewriteStage(path, payload => payload[..(payload.Length - 5)]);
        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
        Assert.Contains("stages/000.audio.bin", e.Message, StringComparison.Ordinal);

        // Models without training plays in their payload: one int32 after the two key column names made impossible.
        // PerListener: a listener's model flag of 2 (after users, songs, seed and the flags' count); AudioFactors: rank 0
        // (after the user and the song counts).
        (int Offset, int Value, string Expected)? damage = kind switch
        {
            "PerListener" => (16, 2, "model flag"),
            "AudioFactors" => (8, 0, "rank 0"),
            _ => null,
        };
        if (damage is { } d)
        {
            _ml.Audio().Model.Save(Fit(kind, training), training.Schema, path);
            ModelFiles.RewriteStage(path, payload =>
            {
                BitConverter.TryWriteBytes(payload.AsSpan((2 * (1 + "UserId".Length)) + d.Offset, 4), d.Value);
                return payload;
            });
            e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));
            Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
            Assert.Contains(d.Expected, e.Message, StringComparison.Ordinal);
            return;
        }

        // A song index past the catalog inside the training plays (offset 4 + 2 strings + users + songs + offsets + count).
        _ml.Audio().Model.Save(Fit(kind, training), training.Schema, path);
        ModelFiles.RewriteStage(path, payload =>
        {
            int at = (2 * (1 + "UserId".Length)) + 8 + 4 + ((Users + 1) * 4) + 4;
            BitConverter.TryWriteBytes(payload.AsSpan(at, 4), Songs + 3);
            return payload;
        });
        e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
        Assert.Contains("song index", e.Message, StringComparison.Ordinal);
    }

    private ITransformer Fit(string kind, IDataView training)
    {
        var trainers = _ml.Audio().Recommendation.Trainers;
        var features = Enumerable.Range(1, Songs).Select(s => _simulator.AttributeVector((uint)s)).ToArray();
        return kind switch
        {
            "FFM" => trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions { MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", LatentDimension = 8, NumberOfIterations = 3 }).Fit(training),
            "SeedSong" => trainers.SeedSong(features).Fit(training),
            "SongSet" => trainers.SongSet(features).Fit(training),
            "MF" => trainers.ImplicitMatrixFactorization("Label", "UserId", "SongId", approximationRank: 4, numberOfIterations: 3).Fit(training),
            "Popularity" => trainers.Popularity("Label", "UserId", "SongId").Fit(training),
            "ItemCF" => trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId", numberOfNeighbors: 5).Fit(training),
            "AudioFactors" => trainers.AudioFactorRegression(PlayLogs.SyntheticWindows(Songs), new AudioFactorRegressionOptions
            {
                Factorization = new ImplicitMatrixFactorizationOptions { ApproximationRank = 4, NumberOfIterations = 3, Device = TorchDevice.Cpu },
                Audio = new MultiUserAudioOptions { EmbeddingSize = 4, Channels = 2, ConvolutionLayers = 2, Epochs = 1, BatchSize = 16, Device = TorchDevice.Cpu },
            }).Fit(training),
            "PerListener" => trainers.PerListenerAudio(PlayLogs.SyntheticWindows(Songs), new PerListenerAudioOptions
            {
                MinimumPlays = 3,
                Listener = new TimeConvLstmOptions { Epochs = 1, TrainingWindowStride = 1, ValidationFraction = 0, ConvolutionLayers = 1, Channels = 2, LstmHiddenSize = 4, Device = TorchDevice.Cpu },
            }).Fit(training),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
    }
}
