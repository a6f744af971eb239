using Microsoft.ML;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The conventions every recommendation trainer shares with TimeConvLstm (issue 9, item 1): a null Seed is drawn from
/// the MLContext (same context seed, same model; another, another model), Device = Cpu trains on the CPU, iterative
/// trainers report one <see cref="TrainingProgress"/> per epoch or round, options are copied at construction (changing
/// the caller's object afterwards changes nothing), and every bad option is listed in one exception.
/// </summary>
public sealed class TrainerConventionsTests
{
    private const int Frames = 16, Coefficients = 3, Users = 12, Songs = 10;

    // Every user plays four songs (two of them twice as often), so the seed song's tie-break and the samplers have choices.
    private static IDataView Plays(MLContext ml) => PlayLogs.FourPlaysEach(ml, Users, Songs);

    // Synthetic windows (no rendering): 10 songs of 3 windows, songs 9 and 10 cold.
    private static AudioSongWindows Windows() => PlayLogs.SyntheticWindows(Songs, Frames, Coefficients);

    private static float[][] Features() => Enumerable.Range(0, Songs).Select(s => new[] { s % 3, s / 3f }).ToArray();

    private static float[] AllScores(IUserSongScorer scorer)
    {
        var scores = new float[scorer.UserCount * scorer.SongCount];
        scorer.ScoreUsers(0, scorer.UserCount, scores);
        return scores;
    }

    private static MultiUserAudioOptions AudioOptions() => new()
    {
        EmbeddingSize = 4, Channels = 2, ConvolutionLayers = 2, Epochs = 3, BatchSize = 8, Device = TorchDevice.Cpu,
    };

    private static ImplicitMatrixFactorizationOptions AlsOptions() => new()
    {
        MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", ApproximationRank = 3, NumberOfIterations = 4, Device = TorchDevice.Cpu,
    };

    private static FieldAwareFactorizationMachineRecommenderOptions FfmOptions() => new()
    {
        MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", LatentDimension = 8, NumberOfIterations = 2,
    };

    private static float[] TrainAudio(int contextSeed, MultiUserAudioOptions options)
    {
        var ml = new MLContext(contextSeed);
        using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), options).Fit(Plays(ml));
        return AllScores(model);
    }

    private static float[] TrainAls(int contextSeed, ImplicitMatrixFactorizationOptions options)
    {
        var ml = new MLContext(contextSeed);
        return AllScores(ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(options).Fit(Plays(ml)));
    }

    private static float[] TrainFfm(int contextSeed, FieldAwareFactorizationMachineRecommenderOptions options)
    {
        var ml = new MLContext(contextSeed);
        return AllScores(ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(options).Fit(Plays(ml)));
    }

    private static uint[] SeedSongs(int contextSeed, SeedSongOptions options)
    {
        var ml = new MLContext(contextSeed);
        var model = ml.Audio().Recommendation.Trainers.SeedSong(Features(), options).Fit(Plays(ml));
        return Enumerable.Range(1, Users).Select(u => model.SeedSong((uint)u)).ToArray();
    }

    // Three users' candidates scored by a fixed oracle-like feature and popularity: enough for LightGBM to differ by seed.
    private static float[] TrainHybrid(int contextSeed, HybridRankerOptions options)
    {
        var ml = new MLContext(contextSeed);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 120, UserCount = 40, MeanSongsPerUser = 10, Seed = 1 });
        var held = sim.Training.Where((_, i) => i % 4 == 0).ToHashSet();
        var basePlays = sim.ToDataView(ml, sim.Training.Where(e => !held.Contains(e)).ToArray());
        var popularity = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(basePlays);
        options.Features = [new HybridFeature("Oracle", sim), new HybridFeature("Popularity", popularity)];
        var model = ml.Audio().Recommendation.Trainers.HybridRanker(options).Fit(sim.ToDataView(ml, held.ToArray()), basePlays);
        return AllScores(model);
    }

    // The audio -> factors estimator training both of its models; returns every (user, song) score.
    private static float[] TrainRegression(int contextSeed, AudioFactorRegressionOptions options)
    {
        var ml = new MLContext(contextSeed);
        return AllScores(ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), options).Fit(Plays(ml)));
    }

    // One TimeConvLstm per listener; returns every (user, song) score.
    private static float[] TrainPerListener(int contextSeed, PerListenerAudioOptions options)
    {
        var ml = new MLContext(contextSeed);
        return AllScores(ml.Audio().Recommendation.Trainers.PerListenerAudio(Windows(), options).Fit(Plays(ml)));
    }

    private static PerListenerAudioOptions PerListenerOptions(int? seed = null) => new()
    {
        Seed = seed,
        Listener = new TimeConvLstmOptions { Epochs = 1, TrainingWindowStride = 1, ValidationFraction = 0, ConvolutionLayers = 1, Channels = 2, LstmHiddenSize = 4, Device = TorchDevice.Cpu },
    };

    private static AudioFactorRegressionOptions RegressionOptions() => new() { Factorization = AlsOptions(), Audio = AudioOptions() };

    [Fact]
    public void NullSeedIsDrawnFromTheMLContext()
    {
        // Same context seed: the same model; another context seed: another model (every trainer with randomness).
        Assert.Equal(TrainAudio(5, AudioOptions()), TrainAudio(5, AudioOptions()));
        Assert.NotEqual(TrainAudio(5, AudioOptions()), TrainAudio(6, AudioOptions()));
        Assert.Equal(TrainAls(5, AlsOptions()), TrainAls(5, AlsOptions()));
        Assert.NotEqual(TrainAls(5, AlsOptions()), TrainAls(6, AlsOptions()));
        Assert.Equal(TrainFfm(5, FfmOptions()), TrainFfm(5, FfmOptions()));
        Assert.NotEqual(TrainFfm(5, FfmOptions()), TrainFfm(6, FfmOptions()));
        Assert.Equal(SeedSongs(5, new SeedSongOptions()), SeedSongs(5, new SeedSongOptions()));
        Assert.NotEqual(SeedSongs(5, new SeedSongOptions()), SeedSongs(6, new SeedSongOptions()));
        var small = new HybridRankerOptions { RandomNegativesPerUser = 10, TopCandidatesPerFeature = 5, MinimumExampleCountPerLeaf = 5, NumberOfIterations = 5 };
        Assert.Equal(TrainHybrid(5, small), TrainHybrid(5, small));
        Assert.NotEqual(TrainHybrid(5, small), TrainHybrid(6, small));
        Assert.Equal(TrainRegression(5, RegressionOptions()), TrainRegression(5, RegressionOptions()));
        Assert.NotEqual(TrainRegression(5, RegressionOptions()), TrainRegression(6, RegressionOptions()));
        Assert.Equal(TrainPerListener(5, PerListenerOptions()), TrainPerListener(5, PerListenerOptions()));
        Assert.NotEqual(TrainPerListener(5, PerListenerOptions()), TrainPerListener(6, PerListenerOptions()));
    }

    [Fact]
    public void ASetSeedIsTheSameWhateverTheMLContextSeed()
    {
        var audio = AudioOptions();
        audio.Seed = 3;
        Assert.Equal(TrainAudio(5, audio), TrainAudio(6, audio));
        var als = AlsOptions();
        als.Seed = 3;
        Assert.Equal(TrainAls(5, als), TrainAls(6, als));
        var ffm = FfmOptions();
        ffm.Seed = 3;
        Assert.Equal(TrainFfm(5, ffm), TrainFfm(6, ffm));
        Assert.Equal(SeedSongs(5, new SeedSongOptions { Seed = 3 }), SeedSongs(6, new SeedSongOptions { Seed = 3 }));
        var hybrid = new HybridRankerOptions { RandomNegativesPerUser = 10, TopCandidatesPerFeature = 5, MinimumExampleCountPerLeaf = 5, NumberOfIterations = 5, Seed = 3 };
        Assert.Equal(TrainHybrid(5, hybrid), TrainHybrid(6, hybrid));
        var regression = RegressionOptions();
        regression.Factorization!.Seed = 3;
        regression.Audio!.Seed = 3;
        Assert.Equal(TrainRegression(5, regression), TrainRegression(6, regression));
        Assert.Equal(TrainPerListener(5, PerListenerOptions(3)), TrainPerListener(6, PerListenerOptions(3)));
    }

    [Fact]
    public void DrawnSeedIsRecordedInTheModelAndReproducesIt()
    {
        var ml = new MLContext(7);
        using var drawn = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), AudioOptions()).Fit(Plays(ml));
        var again = AudioOptions();
        again.Seed = drawn.Seed;
        Assert.Equal(AllScores(drawn), TrainAudio(1, again));
        var listeners = ml.Audio().Recommendation.Trainers.PerListenerAudio(Windows(), PerListenerOptions()).Fit(Plays(ml));
        Assert.Equal(AllScores(listeners), TrainPerListener(1, PerListenerOptions(listeners.Seed)));
    }

    [Fact]
    public void DeviceCpuTrainsOnTheCpu()
    {
        var ml = new MLContext(1);
        using var audio = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), AudioOptions()).Fit(Plays(ml));
        Assert.Equal(TorchSharp.DeviceType.CPU, audio.ComputeDevice.type);
        var als = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(AlsOptions()).Fit(Plays(ml));
        Assert.Equal(TorchSharp.DeviceType.CPU, als.TrainedOn);

        if (!cuda.is_available())
        {
            // Cuda without a GPU fails at Fit, naming the option.
            var options = AudioOptions();
            options.Device = TorchDevice.Cuda;
            var e = Assert.Throws<InvalidOperationException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), options).Fit(Plays(ml)).Dispose());
            Assert.Contains("MultiUserAudioOptions.Device", e.Message, StringComparison.Ordinal);
            var alsOptions = AlsOptions();
            alsOptions.Device = TorchDevice.Cuda;
            e = Assert.Throws<InvalidOperationException>(() => ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(alsOptions).Fit(Plays(ml)));
            Assert.Contains("ImplicitMatrixFactorizationOptions.Device", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ThreadsHoldsLibtorchsThreadCountForTheFitAndRestoresIt()
    {
        int before = torch.get_num_threads();
        try
        {
            // libtorch at two threads; the options ask for one: every epoch (pretraining included) runs on one.
            torch.set_num_threads(2);
            var seen = new List<int>();
            var pinned = AudioOptions();
            pinned.Seed = 4;
            pinned.Threads = 1;
            pinned.Progress = new InlineProgress(_ => seen.Add(torch.get_num_threads()));
            var ml = new MLContext(1);
            using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), pinned).Fit(Plays(ml));
            Assert.True(seen.Count > 3, $"{seen.Count} progress reports");
            Assert.All(seen, n => Assert.Equal(1, n));
            Assert.Equal(2, torch.get_num_threads());

            // The same model as a fit made with libtorch already at one thread and the option left null.
            torch.set_num_threads(1);
            var plain = AudioOptions();
            plain.Seed = 4;
            Assert.Equal(AllScores(model), TrainAudio(1, plain));
            Assert.Equal(1, torch.get_num_threads());

            // A failed fit restores the count too.
            torch.set_num_threads(2);
            var failing = AudioOptions();
            failing.Threads = 1;
            failing.Progress = new InlineProgress(_ => throw new InvalidOperationException("stop"));
            Assert.Throws<InvalidOperationException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), failing).Fit(Plays(ml)).Dispose());
            Assert.Equal(2, torch.get_num_threads());
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    [Fact]
    public void IterativeTrainersReportOneProgressPerEpochWithFiniteLosses()
    {
        var ml = new MLContext(1);
        var audioReports = new List<TrainingProgress>();
        var audio = AudioOptions();
        audio.Progress = new InlineProgress(audioReports.Add);
        using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), audio).Fit(Plays(ml));

        // The default contrastive pretraining reports its epochs first, marked; the training epochs count from 1 after.
        int pretraining = audioReports.TakeWhile(p => p.Pretraining).Count();
        Assert.True(pretraining > 0, "the default pretrains and reports it");
        Assert.Equal(Enumerable.Range(1, pretraining), audioReports.Take(pretraining).Select(p => p.Epoch));
        Assert.All(audioReports.Take(pretraining), p => Assert.True(p.TotalEpochs == pretraining && double.IsFinite(p.TrainingLoss) && p.Trainer == "MultiUserAudio", $"{p}"));
        audioReports.RemoveRange(0, pretraining);
        Assert.Equal([1, 2, 3], audioReports.Select(p => p.Epoch));
        Assert.All(audioReports, p =>
        {
            Assert.True(double.IsFinite(p.TrainingLoss) && p.TrainingLoss > 0, $"loss {p.TrainingLoss}");
            Assert.Equal("MultiUserAudio", p.Trainer);
            Assert.Equal(3, p.TotalEpochs);

            // 48 plays and 2 negatives each, 3 windows per pair.
            Assert.Equal(48 * 3 * 3, p.TrainingWindows);
            Assert.True(p.WindowsPerSecond > 0);
            Assert.Equal(0, p.SkippedBatches);
            Assert.False(p.Pretraining);
        });

        var alsReports = new List<TrainingProgress>();
        var als = AlsOptions();
        als.Progress = new InlineProgress(alsReports.Add);
        var mf = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(als).Fit(Plays(ml));
        Assert.Equal([1, 2, 3, 4], alsReports.Select(p => p.Epoch));
        Assert.Equal(mf.TrainingLoss, alsReports.Select(p => p.TrainingLoss));
        Assert.All(alsReports, p =>
        {
            Assert.True(double.IsFinite(p.TrainingLoss));
            Assert.Equal("ImplicitMatrixFactorization", p.Trainer);
            Assert.Equal(4, p.TotalEpochs);
            Assert.Null(p.Plan);
        });
    }

    [Fact]
    public void OptionsAreCopiedAtConstruction()
    {
        // Each trainer is made, then the caller's options object is changed in a way that would change the result (or
        // break Fit); the trainer must fit what it was made with.
        var ml = new MLContext(1);
        var plays = Plays(ml);

        var audioOptions = AudioOptions();
        audioOptions.Seed = 2;
        var audioTrainer = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), audioOptions);
        audioOptions.Epochs = 1;
        audioOptions.Seed = 9;
        audioOptions.MatrixColumnIndexColumnName = "missing";
        using (var audio = audioTrainer.Fit(plays))
        {
            Assert.Equal(3, audio.Epochs);
            Assert.Equal(2, audio.Seed);
        }

        var alsOptions = AlsOptions();
        alsOptions.Seed = 2;
        var alsTrainer = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(alsOptions);
        alsOptions.NumberOfIterations = 1;
        alsOptions.ApproximationRank = 7;
        alsOptions.MatrixRowIndexColumnName = "missing";
        var mf = alsTrainer.Fit(plays);
        Assert.Equal(4, mf.TrainingLoss.Count);
        Assert.Equal(3, mf.ApproximationRank);

        var ffmOptions = FfmOptions();
        ffmOptions.Seed = 2;
        var ffmTrainer = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(ffmOptions);
        ffmOptions.Seed = 3;
        ffmOptions.LabelColumnName = "missing";
        var unchanged = FfmOptions();
        unchanged.Seed = 2;
        Assert.Equal(TrainFfm(1, unchanged), AllScores(ffmTrainer.Fit(plays)));

        var seedSongOptions = new SeedSongOptions { Seed = 2 };
        var seedSongTrainer = ml.Audio().Recommendation.Trainers.SeedSong(Features(), seedSongOptions);
        seedSongOptions.Seed = 3;
        seedSongOptions.LabelColumnName = "missing";
        var seedSong = seedSongTrainer.Fit(plays);
        Assert.Equal(SeedSongs(1, new SeedSongOptions { Seed = 2 }), Enumerable.Range(1, Users).Select(u => seedSong.SeedSong((uint)u)));

        var songSetOptions = new SongSetOptions();
        var songSetTrainer = ml.Audio().Recommendation.Trainers.SongSet(Features(), songSetOptions);
        songSetOptions.MatrixColumnIndexColumnName = "missing";
        Assert.Equal(Users, songSetTrainer.Fit(plays).UserCount);

        var itemCfOptions = new ItemBasedCollaborativeFilteringOptions { LabelColumnName = "Label", MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", NumberOfNeighbors = 2 };
        var itemCfTrainer = ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering(itemCfOptions);
        itemCfOptions.NumberOfNeighbors = 0;
        itemCfOptions.MatrixRowIndexColumnName = "missing";
        Assert.Equal(AllScores(ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId", numberOfNeighbors: 2).Fit(plays)), AllScores(itemCfTrainer.Fit(plays)));

        var popularityOptions = new PopularityOptions { LabelColumnName = "Label", MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId" };
        var popularityTrainer = ml.Audio().Recommendation.Trainers.Popularity(popularityOptions);
        popularityOptions.LabelColumnName = "missing";
        Assert.Equal(Songs, popularityTrainer.Fit(plays).SongCount);

        var hybridOptions = new HybridRankerOptions { RandomNegativesPerUser = 10, TopCandidatesPerFeature = 5, MinimumExampleCountPerLeaf = 5, NumberOfIterations = 5, Seed = 2 };
        var expected = TrainHybrid(1, hybridOptions);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 120, UserCount = 40, MeanSongsPerUser = 10, Seed = 1 });
        var held = sim.Training.Where((_, i) => i % 4 == 0).ToHashSet();
        var basePlays = sim.ToDataView(ml, sim.Training.Where(e => !held.Contains(e)).ToArray());
        var popularity = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(basePlays);
        var features = new List<HybridFeature> { new("Oracle", sim), new("Popularity", popularity) };
        hybridOptions.Features = features;
        var hybridTrainer = new MLContext(1).Audio().Recommendation.Trainers.HybridRanker(hybridOptions);
        hybridOptions.Seed = 3;
        hybridOptions.NumberOfIterations = 1;
        hybridOptions.UserColumnName = "missing";
        features.Reverse(); // the list the options named: the trainer kept its own copy
        features.Add(new HybridFeature("Random", new RandomScorer(sim.UserCount, sim.SongCount, 1)));
        Assert.Equal(expected, AllScores(hybridTrainer.Fit(sim.ToDataView(ml, held.ToArray()), basePlays)));

        var regressionOptions = new AudioFactorRegressionOptions { Ridge = 1, Factorization = AlsOptions(), Audio = AudioOptions() };
        regressionOptions.Factorization.Seed = 2;
        regressionOptions.Audio.Seed = 2;
        var regressionTrainer = ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), regressionOptions);
        var expectedRegression = TrainRegression(1, regressionOptions);
        regressionOptions.Ridge = 1000;
        regressionOptions.LabelColumnName = "missing";
        regressionOptions.Factorization.ApproximationRank = 5;
        regressionOptions.Audio.EmbeddingSize = 2;
        regressionOptions.Audio = null;
        var regression = regressionTrainer.Fit(plays);
        Assert.Equal(3, regression.Rank);
        Assert.Equal(expectedRegression, AllScores(regression));
    }

    [Fact]
    public void EveryBadOptionIsListedTogether()
    {
        var ml = new MLContext(1);
        void Lists(Action make, params string[] fields)
        {
            var e = Assert.Throws<ArgumentException>(make);
            Assert.All(fields, f => Assert.Contains(f, e.Message, StringComparison.Ordinal));
            Assert.Contains($"{fields.Length} invalid value(s)", e.Message, StringComparison.Ordinal);
        }

        Lists(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), new MultiUserAudioOptions { Device = (TorchDevice)7, BatchSize = 0, LearningRate = -1, Threads = 0 }),
            "Device", "BatchSize", "LearningRate", "Threads");
        Lists(() => ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions { Device = (TorchDevice)7, ApproximationRank = 0 }),
            "Device", "ApproximationRank", "MatrixColumnIndexColumnName", "MatrixRowIndexColumnName");
        Lists(() => ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions { LatentDimension = 5, NumberOfIterations = 0 }),
            "LatentDimension", "NumberOfIterations", "MatrixColumnIndexColumnName", "MatrixRowIndexColumnName");
        Lists(() => ml.Audio().Recommendation.Trainers.SeedSong(Features(), new SeedSongOptions { LabelColumnName = " ", MatrixColumnIndexColumnName = "" }),
            "LabelColumnName", "MatrixColumnIndexColumnName");
        Lists(() => ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions { NumberOfLeaves = 1, LearningRate = 0 }),
            "NumberOfLeaves", "LearningRate", "Features");
        Lists(() => ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), new AudioFactorRegressionOptions { Ridge = double.PositiveInfinity, SongWindowsColumnName = "" }),
            "Ridge", "SongWindowsColumnName");
        Lists(() => ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), new AudioFactorRegressionOptions { Factorization = new ImplicitMatrixFactorizationOptions { ApproximationRank = 0, Lambda = 0 } }),
            "ApproximationRank", "Lambda");
    }
}
