using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Scoring;

public sealed class TimeConvLstmTests
{
    private readonly ITestOutputHelper _output;

    public TimeConvLstmTests(ITestOutputHelper output) => _output = output;

    private static TimeConvLstmOptions SmallOptions(int seed = 7) => new()
    {
        Epochs = 25,
        BatchSize = 16,
        LearningRate = 0.01,
        ValidationFraction = 0.2,
        EarlyStoppingPatience = 25,
        Seed = seed,
        Threads = 1,
        Device = TorchDevice.Cpu,
        ConvolutionLayers = 2,
        Channels = 4,
        LstmHiddenSize = 16,
    };

    private static float[] Scores(TimeConvLstmScorer model, IDataView data, string column = "WindowScores")
    {
        var result = new List<float>();
        using var cursor = model.Transform(data).GetRowCursor(model.Transform(data).Schema.Where(c => c.Name == column));
        var getter = cursor.GetGetter<VBuffer<float>>(cursor.Schema[column]);
        var buffer = default(VBuffer<float>);
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            result.AddRange(buffer.DenseValues());
        }

        return result.ToArray();
    }

    [Fact]
    public void LstmLearnsWhichSoundComesFirst()
    {
        var ml = new MLContext(seed: 1);
        var train = new WindowData(OrderTask.Songs(160, seed: 1), OrderTask.Frames, OrderTask.Coefficients);
        var testSongs = OrderTask.Songs(40, seed: 2);
        var test = new WindowData(testSongs, OrderTask.Frames, OrderTask.Coefficients);
        using var scorer = ml.Audio().Trainers.TimeConvLstm(SmallOptions()).Fit(train);

        var scores = Scores(scorer, test);
        double aThenB = scores.Where((_, i) => testSongs[i].Label).Average();
        double bThenA = scores.Where((_, i) => !testSongs[i].Label).Average();
        _output.WriteLine($"A then B {aThenB:F3}, B then A {bThenA:F3}");
        Assert.True(aThenB > 0.9, $"A then B scored {aThenB:F3} on average");
        Assert.True(bThenA < 0.1, $"B then A scored {bThenA:F3} on average");
    }

    [Fact]
    public void TimeShuffledInputCannotBeLearned()
    {
        // Same sounds, frames shuffled in time: order is the only cue, so what is left is chance.
        var ml = new MLContext(seed: 1);
        var train = new WindowData(OrderTask.Songs(160, seed: 1, shuffleTime: true), OrderTask.Frames, OrderTask.Coefficients);
        var testSongs = OrderTask.Songs(40, seed: 2, shuffleTime: true);
        using var scorer = ml.Audio().Trainers.TimeConvLstm(SmallOptions()).Fit(train);

        var scores = Scores(scorer, new WindowData(testSongs, OrderTask.Frames, OrderTask.Coefficients));
        double aThenB = scores.Where((_, i) => testSongs[i].Label).Average();
        double bThenA = scores.Where((_, i) => !testSongs[i].Label).Average();
        _output.WriteLine($"shuffled: A then B {aThenB:F3}, B then A {bThenA:F3}");
        Assert.True(Math.Abs(aThenB - bThenA) < 0.3, $"shuffled input separated the classes: {aThenB:F3} vs {bThenA:F3}");
    }

    [Fact]
    public void SameSeedGivesIdenticalWeightsAndScores()
    {
        var data = new WindowData(OrderTask.Songs(40, seed: 3), OrderTask.Frames, OrderTask.Coefficients);
        var options = SmallOptions(seed: 11);
        options.Epochs = 3;
        using var a = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);
        using var b = new MLContext(seed: 2).Audio().Trainers.TimeConvLstm(options).Fit(data);
        options.Seed = 12;
        using var c = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);

        var wa = a.Network.state_dict();
        var wb = b.Network.state_dict();
        var wc = c.Network.state_dict();
        Assert.All(wa, kv => Assert.True(kv.Value.equal(wb[kv.Key]).all().item<bool>(), kv.Key + " differs between two runs with one seed"));
        Assert.Contains(wa, kv => !kv.Value.equal(wc[kv.Key]).all().item<bool>());
        Assert.Equal(Scores(a, data), Scores(b, data));
    }

    [Fact]
    public void NullSeedFollowsTheMLContextSeed()
    {
        var data = new WindowData(OrderTask.Songs(20, seed: 3), OrderTask.Frames, OrderTask.Coefficients);
        var options = SmallOptions();
        options.Seed = null;
        options.Epochs = 1;
        using var a = new MLContext(seed: 5).Audio().Trainers.TimeConvLstm(options).Fit(data);
        using var b = new MLContext(seed: 5).Audio().Trainers.TimeConvLstm(options).Fit(data);
        using var c = new MLContext(seed: 6).Audio().Trainers.TimeConvLstm(options).Fit(data);
        Assert.Equal(Scores(a, data), Scores(b, data));
        Assert.NotEqual(Scores(a, data), Scores(c, data));
    }

    [Fact]
    public void OptionsAreCopiedAtConstructionAndProgressComesOncePerEpoch()
    {
        var data = new WindowData(OrderTask.Songs(20, seed: 3), OrderTask.Frames, OrderTask.Coefficients);
        var reports = new List<TrainingProgress>();
        var options = SmallOptions();
        options.Epochs = 2;
        options.ValidationFraction = 0;
        options.Progress = new InlineProgress(reports.Add);
        var trainer = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options);

        // Changed after construction: the trainer keeps what it was made with.
        options.Epochs = 9;
        options.Seed = 8;
        options.FeatureColumnName = "missing";
        using var a = trainer.Fit(data);
        options.Epochs = 2;
        options.Seed = 7;
        options.FeatureColumnName = TimeConvLstmOptions.Defaults.FeatureColumnName;
        options.Progress = null;
        using var b = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);
        Assert.Equal(Scores(b, data), Scores(a, data));

        Assert.Equal([1, 2], reports.Select(p => p.Epoch));
        Assert.All(reports, p =>
        {
            Assert.True(double.IsFinite(p.TrainingLoss), $"loss {p.TrainingLoss}");
            Assert.Equal("TimeConvLstm", p.Trainer);
            Assert.Equal(2, p.TotalEpochs);
        });
    }

    [Fact]
    public void SchemaBeforeAndAfterFit()
    {
        var ml = new MLContext(seed: 1);
        var data = new WindowData(OrderTask.Songs(10, seed: 4), OrderTask.Frames, OrderTask.Coefficients, hopSeconds: 0.5, floatLabel: true);
        var options = SmallOptions();
        options.Epochs = 1;
        var trainer = ml.Audio().Trainers.TimeConvLstm(options);

        var shape = trainer.GetOutputSchema(new SchemaShape(data.Schema.Select(c => SchemaShapes.MakeColumn(c.Name, c.Type, c.Annotations))));
        var planned = shape.Single(c => c.Name == "WindowScores");
        Assert.Equal(SchemaShape.Column.VectorKind.VariableVector, planned.Kind);
        Assert.Equal(NumberDataViewType.Single, planned.ItemType);

        using var scorer = trainer.Fit(data);
        var schema = scorer.GetOutputSchema(data.Schema);
        var column = schema["WindowScores"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single), column.Type);
        double hop = 0;
        column.Annotations.GetValue("WindowHopSeconds", ref hop);
        Assert.Equal(0.5, hop);
        double window = 0;
        column.Annotations.GetValue("WindowSeconds", ref window);
        Assert.Equal(OrderTask.Frames / 50.0, window);

        var scores = Scores(scorer, data);
        Assert.Equal(10, scores.Length); // one window per song
        Assert.All(scores, s => Assert.InRange(s, 0f, 1f));
    }

    [Fact]
    public void ScoresOneValuePerWindowAndEmptySongsGetNone()
    {
        var ml = new MLContext(seed: 1);
        var rng = new Random(1);
        var songs = new List<Song>
        {
            new(OrderTask.Window(rng, true).Concat(OrderTask.Window(rng, false)).Concat(OrderTask.Window(rng, true)).ToArray(), true),
            new([], false),
            new(OrderTask.Window(rng, false), false),
        };
        var data = new WindowData(songs, OrderTask.Frames, OrderTask.Coefficients, dimensionsInType: false);
        var options = SmallOptions();
        options.Epochs = 1;
        options.ValidationFraction = 0;
        var warnings = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning)
            {
                warnings.Add(e.Message);
            }
        };
        using var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(data);
        Assert.Contains(warnings, w => w.Contains("1 training song(s) have no windows", StringComparison.Ordinal));

        var perSong = new List<int>();
        var transformed = scorer.Transform(data);
        using var cursor = transformed.GetRowCursor(transformed.Schema);
        var getter = cursor.GetGetter<VBuffer<float>>(transformed.Schema["WindowScores"]);
        var buffer = default(VBuffer<float>);
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            perSong.Add(buffer.Length);
        }

        Assert.Equal(new[] { 3, 0, 1 }, perSong);
    }

    [Theory]
    [InlineData(1e31)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(0)]
    public void LearningRatesAdamCannotTakeAreRejectedByName(double learningRate)
    {
        // Above about 1e37 libtorch's Adam failed inside step() with "value cannot be converted to type float".
        var e = Assert.Throws<ArgumentException>(() => new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions { LearningRate = learningRate }));
        Assert.Contains("LearningRate:", e.Message, StringComparison.Ordinal);
        var m = Assert.Throws<ArgumentException>(() => new MLNetAudio.Recommendation.MultiUserAudioOptions { LearningRate = learningRate }.Validate());
        Assert.Contains("LearningRate", m.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadOptionsAreReportedAllAtOnce()
    {
        var ml = new MLContext(seed: 1);
        var options = new TimeConvLstmOptions
        {
            Epochs = 0,
            BatchSize = -1,
            LearningRate = double.NaN,
            ValidationFraction = 1.5,
            PositiveClassWeight = 0,
            Threads = 0,
            TrainingWindowStride = -1,
            TargetOptimizationSteps = 0,
            Channels = 0,
            ConvolutionLayers = 0,
            LstmHiddenSize = -3,
            LabelColumnName = "",
        };
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Trainers.TimeConvLstm(options));
        foreach (var field in new[] { "Epochs", "BatchSize", "LearningRate", "ValidationFraction", "PositiveClassWeight", "Threads", "TrainingWindowStride", "TargetOptimizationSteps", "Channels", "ConvolutionLayers", "LstmHiddenSize", "LabelColumnName" })
        {
            Assert.Contains(field + ":", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void BadColumnsNameTheColumn()
    {
        var ml = new MLContext(seed: 1);
        var data = new WindowData(OrderTask.Songs(4, seed: 1), OrderTask.Frames, OrderTask.Coefficients);
        var options = SmallOptions();
        options.FeatureColumnName = "Missing";
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Trainers.TimeConvLstm(options).Fit(data));
        Assert.Contains("'Missing'", e.Message, StringComparison.Ordinal);

        options = SmallOptions();
        options.LabelColumnName = "Duration"; // a Double
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Trainers.TimeConvLstm(options).Fit(data));
        Assert.Contains("'Duration'", e.Message, StringComparison.Ordinal);
        Assert.Contains("Boolean or Single", e.Message, StringComparison.Ordinal);

        // A scorer trained on 64 x 4 windows refuses 32 x 8 ones.
        options = SmallOptions();
        options.Epochs = 1;
        using var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(data);
        var other = new WindowData([new Song(new float[32 * 8], true)], 32, 8);
        e = Assert.Throws<ArgumentException>(() => scorer.Transform(other));
        Assert.Contains("'Windows'", e.Message, StringComparison.Ordinal);

        // A row whose length is not whole windows fails naming the row and the column.
        var ragged = new WindowData([new Song(new float[OrderTask.Frames * OrderTask.Coefficients + 3], true)], OrderTask.Frames, OrderTask.Coefficients);
        var rowError = Assert.Throws<InvalidOperationException>(() => Scores(scorer, ragged));
        Assert.Contains("Row 0", rowError.Message, StringComparison.Ordinal);
        Assert.Contains("'Windows'", rowError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ProgressReportsEveryEpochAndEarlyStoppingStops()
    {
        var ml = new MLContext(seed: 1);
        var data = new WindowData(OrderTask.Songs(40, seed: 5), OrderTask.Frames, OrderTask.Coefficients);
        var reports = new List<TrainingProgress>();
        var options = SmallOptions();
        options.Epochs = 4;
        options.Progress = new SyncProgress(reports.Add);
        using (ml.Audio().Trainers.TimeConvLstm(options).Fit(data))
        {
        }

        Assert.Equal(new[] { 1, 2, 3, 4 }, reports.Select(r => r.Epoch));
        Assert.All(reports, r =>
        {
            Assert.True(r.TrainingLoss > 0 && double.IsFinite(r.TrainingLoss));
            Assert.NotNull(r.ValidationLoss);
            Assert.InRange(r.ValidationAccuracy!.Value, 0, 1);
            Assert.True(r.WindowsPerSecond > 0);
            Assert.InRange(r.DataPathShare, 0, 1);
        });

        // A learning rate of ~0 never improves validation loss after epoch 1: patience 2 stops after epoch 3.
        reports.Clear();
        options.Epochs = 10;
        options.LearningRate = 1e-12;
        options.EarlyStoppingPatience = 2;
        using (ml.Audio().Trainers.TimeConvLstm(options).Fit(data))
        {
        }

        Assert.Equal(3, reports.Count);
        Assert.True(reports[0].IsBest);
    }

    [Fact]
    public void ALongSongIsScoredInPartsThatGiveTheSameScoresAsOneWindowAtATime()
    {
        // The default 2-D network: its activations keep the coefficient axis, so parts are small (memory bound).
        var settings = new TimeConvNetworkSettings(400, 20, ConvolutionForm.Conv2dTimeOnly);
        Assert.Equal(16, TimeConvLstmScorer.WindowsPerCall(settings));
        Assert.Equal(64, TimeConvLstmScorer.WindowsPerCall(settings, shared: true));
        Assert.Equal(256, TimeConvLstmScorer.WindowsPerCall(new TimeConvNetworkSettings(400, 40, ConvolutionForm.Conv1dAllCoefficients)));

        // 230 windows at a 50-frame hop: 4 shared parts, 15 per-window parts, both with a short last part.
        TorchSharp.torch.random.manual_seed(3);
        using var scorer = new TimeConvLstmScorer(new TimeConvNetwork(settings), "Windows", "WindowScores", sharedConvolution: true, TorchSharp.torch.CPU, TorchDevice.Cpu);
        var rng = new Random(4);
        const int Windows = 230, Hop = 50;
        var sequence = Enumerable.Range(0, ((Windows - 1) * Hop + 400) * 20).Select(_ => (float)rng.NextDouble()).ToArray();
        var cut = new float[Windows * 400 * 20];
        for (int w = 0; w < Windows; w++)
        {
            Array.Copy(sequence, w * Hop * 20, cut, w * 400 * 20, 400 * 20);
        }

        var shared = scorer.ScoreSong(cut, Hop);
        var perWindow = scorer.ScoreSong(cut, null);
        Assert.Equal(4, scorer.SharedConvolutionParts);
        using var noGrad = TorchSharp.torch.no_grad();
        for (int w = 0; w < Windows; w += 23)
        {
            using var one = TorchSharp.torch.tensor(cut.AsSpan(w * 8000, 8000).ToArray(), [1, 400, 20]);
            float alone = scorer.Network.HeadLogits(scorer.Network.Features(one)).sigmoid().item<float>();
            Assert.True(Math.Abs(alone - perWindow[w]) < 1e-5, $"window {w}: alone {alone}, in a part {perWindow[w]}");
        }

        for (int w = 0; w < Windows; w++)
        {
            Assert.True(Math.Abs(shared[w] - perWindow[w]) < 1e-5, $"window {w}: shared {shared[w]} vs per-window {perWindow[w]}");
        }
    }

    [Fact]
    public void SharedConvolutionScoringMatchesPerWindowScoring()
    {
        // Overlapping windows cut from one frame sequence at a 10-frame hop (not a multiple of the pooling stride 4).
        var rng = new Random(9);
        const int frames = 64, coefficients = 4, hop = 10;
        var songs = new List<Song>();
        for (int s = 0; s < 3; s++)
        {
            int windows = 5 + (s * 7);
            var sequence = Enumerable.Range(0, ((windows - 1) * hop + frames) * coefficients).Select(_ => (float)rng.NextDouble()).ToArray();
            var cut = new float[windows * frames * coefficients];
            for (int w = 0; w < windows; w++)
            {
                Array.Copy(sequence, w * hop * coefficients, cut, w * frames * coefficients, frames * coefficients);
            }

            songs.Add(new Song(cut, s % 2 == 0));
        }

        // A song whose windows are not slices of one sequence: must fall back to per-window scoring.
        songs.Add(new Song(Enumerable.Range(0, 4 * frames * coefficients).Select(_ => (float)rng.NextDouble()).ToArray(), false));
        var data = new WindowData(songs, frames, coefficients, framesPerSecond: 50, hopSeconds: hop / 50.0);

        var options = SmallOptions();
        options.Epochs = 2;
        options.ValidationFraction = 0;
        using var shared = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);
        options.SharedConvolutionScoring = false;
        using var naive = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);

        var a = Scores(shared, data);
        var b = Scores(naive, data);
        Assert.Equal(5 + 12 + 19 + 4, a.Length);
        Assert.Equal(3, shared.SharedConvolutionParts); // the fourth song's windows disagree where they overlap
        for (int i = 0; i < a.Length; i++)
        {
            Assert.True(Math.Abs(a[i] - b[i]) < 1e-5, $"window {i}: shared {a[i]} vs per-window {b[i]}");
        }

        // The window embeddings (for the multi-user recommender) agree the same way.
        var ea = shared.EmbedSong(songs[2].Windows, hop);
        var eb = naive.EmbedSong(songs[2].Windows, hop);
        Assert.Equal(19, ea.Length);
        Assert.All(ea, e => Assert.Equal(options.LstmHiddenSize, e.Length));
        for (int w = 0; w < ea.Length; w++)
        {
            for (int j = 0; j < ea[w].Length; j++)
            {
                Assert.True(Math.Abs(ea[w][j] - eb[w][j]) < 1e-5, $"window {w} embedding {j}: {ea[w][j]} vs {eb[w][j]}");
            }
        }
    }

    [Fact]
    public void ConsecutiveWindowsFollowTheAnnotations()
    {
        // 8 windows per song at a hop of a quarter window: consecutive pieces are every 4th window (2 per song per epoch).
        var rng = new Random(2);
        var songs = Enumerable.Range(0, 6).Select(i => new Song(
            Enumerable.Range(0, 8).SelectMany(_ => OrderTask.Window(rng, i % 2 == 0)).ToArray(), i % 2 == 0)).ToList();
        double windowSeconds = OrderTask.Frames / 50.0;
        var data = new WindowData(songs, OrderTask.Frames, OrderTask.Coefficients, hopSeconds: windowSeconds / 4);
        var reports = new List<TrainingProgress>();
        var options = SmallOptions();
        options.Epochs = 1;
        options.ValidationFraction = 0;
        options.BatchSize = 1;
        options.TrainingWindowStride = TimeConvLstmOptions.ConsecutiveWindows;
        options.Progress = new SyncProgress(reports.Add);
        using (new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data))
        {
        }

        options.TrainingWindowStride = 1;
        using (new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data))
        {
        }

        Assert.Equal(new long[] { 6 * 2, 6 * 8 }, reports.Select(r => r.TrainingWindows));
    }

    [Fact]
    public void AutomaticOptionsFollowTheDataAndAreLogged()
    {
        // 6 songs x 8 windows at a quarter-window hop (consecutive stride 4), batches of 16, a target of 30 steps:
        // consecutive pieces give ceil(12 / 16) = 1 batch, x 20 epochs = 20 < 30 steps, so every window trains
        // (48 windows, 3 batches); epochs = max(20, ceil(30 / 3)) = 20; 6 songs are too few to validate.
        var plan = PlanFor(songs: 6, o => { });
        Assert.Equal((6L, 0, 1, 48.0, 20, (int?)null, 3L), (plan.Songs, plan.ValidationSongs, plan.TrainingWindowStride, plan.TrainingWindowsPerEpoch, plan.Epochs, plan.EarlyStoppingPatience, plan.LikedSongs));
        Assert.Equal(["ValidationFraction", "TrainingWindowStride", "Epochs"], plan.Automatic);
        Assert.Contains(plan.Warnings, w => w.Contains("too few to hold some out for validation", StringComparison.Ordinal));

        // A target of 120 steps: 120 / 3 = 40 epochs.
        Assert.Equal(40, PlanFor(songs: 6, o => o.TargetOptimizationSteps = 120).Epochs);

        // 40 songs: 4 held out; 36 x 2 = 72 consecutive pieces = 5 batches, x 20 = 100 >= 30 steps, so consecutive
        // pieces (stride 4); epochs max(20, ceil(30 / 5)) = 20; patience max(3, 20 / 8) = 3.
        plan = PlanFor(songs: 40, o => { });
        Assert.Equal((40L, 4, 4, 72.0, 20, (int?)3), (plan.Songs, plan.ValidationSongs, plan.TrainingWindowStride, plan.TrainingWindowsPerEpoch, plan.Epochs, plan.EarlyStoppingPatience));
        Assert.Empty(plan.Warnings);

        // Options set by the user are kept, and with none left to decide the songs are not read before training (so
        // neither windows nor likes are counted); a validation split of 3 songs is used but warned about.
        plan = PlanFor(songs: 6, o => (o.Epochs, o.ValidationFraction, o.TrainingWindowStride, o.EarlyStoppingPatience) = (2, 0.5, 2, 5));
        Assert.Equal((3, 2, 2, (int?)5), (plan.ValidationSongs, plan.TrainingWindowStride, plan.Epochs, plan.EarlyStoppingPatience));
        Assert.Null(plan.TrainingWindowsPerEpoch);
        Assert.Null(plan.LikedSongs);
        Assert.Empty(plan.Automatic);
        Assert.Contains(plan.Warnings, w => w.Contains("holds out only 3 of 6 song(s)", StringComparison.Ordinal));

        TrainingPlan PlanFor(int songs, Action<TimeConvLstmOptions> configure)
        {
            var rng = new Random(2);
            var data = new WindowData(
                [.. Enumerable.Range(0, songs).Select(i => new Song([.. Enumerable.Range(0, 8).SelectMany(_ => OrderTask.Window(rng, i % 2 == 0))], i % 2 == 0))],
                OrderTask.Frames, OrderTask.Coefficients, hopSeconds: OrderTask.Frames / 50.0 / 4);
            var reports = new List<TrainingProgress>();
            var options = SmallOptions();
            (options.Epochs, options.ValidationFraction, options.EarlyStoppingPatience) = (null, null, null);
            options.TargetOptimizationSteps = 30;
            options.Progress = new SyncProgress(reports.Add);
            configure(options);
            var ml = new MLContext(seed: 1);
            var messages = new List<string>();
            ml.Log += (_, m) =>
            {
                if (m.Message.Contains("TimeConvLstm:", StringComparison.Ordinal))
                {
                    messages.Add(m.Message);
                }
            };
            using (ml.Audio().Trainers.TimeConvLstm(options).Fit(data))
            {
            }

            var plan = reports[0].Plan!;
            Assert.All(reports, r => Assert.Same(plan, r.Plan));
            Assert.Contains(messages, m => m.Contains($"every {plan.TrainingWindowStride}. window for training", StringComparison.Ordinal)
                && m.Contains($"at most {plan.Epochs} epochs", StringComparison.Ordinal));
            Assert.All(plan.Automatic, a => Assert.Contains(messages, m => m.Contains("(automatic)", StringComparison.Ordinal)));
            Assert.All(plan.Warnings, w => Assert.Contains(messages, m => m.Contains(w, StringComparison.Ordinal)));
            return plan;
        }
    }

    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.FullyConnected)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.FullyConnected)]
    public void EveryFormAndHeadTrainsThroughTheCatalog(ConvolutionForm form, NetworkHead head)
    {
        var data = new WindowData(OrderTask.Songs(80, seed: 6), OrderTask.Frames, OrderTask.Coefficients);
        var options = SmallOptions();
        options.Epochs = 10;
        options.ConvolutionForm = form;
        options.Head = head;
        using var scorer = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);
        Assert.Equal(form, scorer.Network.Settings.ConvolutionForm);
        Assert.Equal(head, scorer.Network.Settings.Head);

        // Every variant sees both sounds at fixed-ish places, so each fits its own training data better than chance.
        var scores = Scores(scorer, data);
        double accuracy = scores.Select((p, i) => (p > 0.5) == (i % 2 == 0) ? 1.0 : 0.0).Average();
        Assert.True(accuracy > 0.7, $"training accuracy {accuracy:F2}");
    }

    [Fact]
    public void ScorerAndAggregatorFormOnePipeline()
    {
        var ml = new MLContext(seed: 1);
        var rng = new Random(4);
        var songs = Enumerable.Range(0, 8).Select(i => new Song(
            Enumerable.Range(0, 3).SelectMany(_ => OrderTask.Window(rng, i % 2 == 0)).ToArray(), i % 2 == 0)).ToList();
        var data = new WindowData(songs, OrderTask.Frames, OrderTask.Coefficients, hopSeconds: 0.5);
        var options = SmallOptions();
        options.Epochs = 2;
        var pipeline = ml.Audio().Trainers.TimeConvLstm(options)
            .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", WindowAggregation.Max));
        var model = pipeline.Fit(data);
        var transformed = model.Transform(data);
        var windowScores = transformed.GetColumn<float[]>("WindowScores").ToArray();
        var score = transformed.GetColumn<float>("Score").ToArray();
        var start = transformed.GetColumn<float>("Score.BestWindowStart").ToArray();
        for (int i = 0; i < songs.Count; i++)
        {
            Assert.Equal(windowScores[i].Max(), score[i]);
            Assert.Equal(Array.IndexOf(windowScores[i], windowScores[i].Max()) * 0.5f, start[i]);
        }

        foreach (var t in model)
        {
            (t as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void ValidationHoldsOutWholeSongs()
    {
        // Songs of 1, 2, 4 and 8 windows: any two of them add up to a count with exactly two bits set, which a
        // window-level split of the 15 windows (7 or 8 for training) would not give.
        var rng = new Random(3);
        var songs = new[] { 1, 2, 4, 8 }.Select((n, i) => new Song(
            Enumerable.Range(0, n).SelectMany(_ => OrderTask.Window(rng, i % 2 == 0)).ToArray(), i % 2 == 0)).ToList();
        var data = new WindowData(songs, OrderTask.Frames, OrderTask.Coefficients);
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var reports = new List<TrainingProgress>();
            var options = SmallOptions(seed);
            options.Epochs = 1;
            options.ValidationFraction = 0.5;
            options.TrainingWindowStride = 1;
            options.Progress = new SyncProgress(reports.Add);
            using (new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data))
            {
            }

            Assert.Equal(2, System.Numerics.BitOperations.PopCount((ulong)reports[0].TrainingWindows));
        }
    }

    [Fact]
    public void TrainingLogsThroughMLContext()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) =>
        {
            lock (messages)
            {
                messages.Add(e.Message);
            }
        };
        var options = SmallOptions();
        options.Epochs = 2;
        using (ml.Audio().Trainers.TimeConvLstm(options).Fit(new WindowData(OrderTask.Songs(10, seed: 1), OrderTask.Frames, OrderTask.Coefficients)))
        {
        }

        Assert.Contains(messages, m => m.Contains("TimeConvLstm epoch 1:", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("TimeConvLstm epoch 2:", StringComparison.Ordinal));
    }

    [Fact]
    public void ForcedCudaWithoutCudaIsAClearError()
    {
        if (TorchSharp.torch.cuda.is_available())
        {
            return; // this machine can train on CUDA; the error path cannot happen here
        }

        var options = SmallOptions();
        options.Device = TorchDevice.Cuda;
        var e = Assert.Throws<InvalidOperationException>(() => new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options)
            .Fit(new WindowData(OrderTask.Songs(4, seed: 1), OrderTask.Frames, OrderTask.Coefficients)));
        Assert.Contains("Device", e.Message, StringComparison.Ordinal);
    }

    private static WindowData OrderSongs(int songs) => new(OrderTask.Songs(songs, seed: 5), OrderTask.Frames, OrderTask.Coefficients);

    private static TimeConvLstmOptions TinyOptions() => new()
    {
        Epochs = 1, BatchSize = 4, ValidationFraction = 0, Seed = 1, Threads = 1, Device = TorchDevice.Cpu,
        ConvolutionLayers = 2, Channels = 4, LstmHiddenSize = 8,
    };

    [Fact]
    public void OverflowingLossStopsTrainingNamingEpochAndBatch()
    {
        // A finite but enormous class weight: each liked window's loss is near float.MaxValue, so the batch mean overflows.
        var ml = new MLContext(seed: 1);
        var options = TinyOptions();
        options.PositiveClassWeight = float.MaxValue;
        var e = Assert.Throws<NonFiniteTrainingException>(() => ml.Audio().Trainers.TimeConvLstm(options).Fit(OrderSongs(8)).Dispose());
        _output.WriteLine(e.Message);
        Assert.Equal("TimeConvLstm", e.Trainer);
        Assert.Equal(1, e.Epoch);
        Assert.Equal(1, e.Batch);
        Assert.False(double.IsFinite(e.Value));
        Assert.Contains("TimeConvLstm: the loss is Infinity at epoch 1, batch 1 (1-based); training stopped.", e.Message, StringComparison.Ordinal);
        Assert.Contains("learning rate", e.Message, StringComparison.Ordinal);
        Assert.Contains("standardised", e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<InvalidOperationException>(e);
    }

    [Theory]
    [InlineData(5.0)]
    [InlineData(0.0)] // clipping off: the gradient norm is still measured and checked
    public void HugeLearningRateStopsTrainingInsteadOfPrintingNaN(double gradientClipNorm)
    {
        // One Adam step moves every weight by about the learning rate; at 1e30 the next batch's gradients overflow.
        var ml = new MLContext(seed: 1);
        var options = TinyOptions();
        options.LearningRate = 1e30;
        options.Epochs = 3;
        options.GradientClipNorm = gradientClipNorm;
        var e = Assert.Throws<NonFiniteTrainingException>(() => ml.Audio().Trainers.TimeConvLstm(options).Fit(OrderSongs(8)).Dispose());
        _output.WriteLine(e.Message);
        Assert.Equal(1, e.Epoch);
        Assert.True(e.Batch >= 2, $"batch {e.Batch}: the first step starts from finite weights");
    }

    [Fact]
    public void SkipNonFiniteBatchesSkipsAndCountsThem()
    {
        // After the first step at a learning rate of 1e30 every later batch overflows; skipped, none of them is stepped.
        var ml = new MLContext(seed: 1);
        var options = TinyOptions();
        options.LearningRate = 1e30;
        options.SkipNonFiniteBatches = true;
        var reports = new List<TrainingProgress>();
        options.Progress = new SyncProgress(reports.Add);
        var messages = new List<string>();
        ml.Log += (_, m) => messages.Add(m.Message);
        using var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(OrderSongs(8));

        var report = Assert.Single(reports);
        _output.WriteLine($"{report.SkippedBatches} skipped, loss {report.TrainingLoss}, {report.TrainingWindows} windows");
        Assert.InRange(report.SkippedBatches, 1, 1000);
        Assert.True(double.IsFinite(report.TrainingLoss), $"loss {report.TrainingLoss}");
        Assert.Contains(messages, m => m.Contains($"skipped {report.SkippedBatches} of", StringComparison.Ordinal));
    }

    [Fact]
    public void SkippingEveryBatchOfAnEpochStillStops()
    {
        var ml = new MLContext(seed: 1);
        var options = TinyOptions();
        options.PositiveClassWeight = float.MaxValue;
        options.SkipNonFiniteBatches = true;
        var e = Assert.Throws<NonFiniteTrainingException>(() => ml.Audio().Trainers.TimeConvLstm(options).Fit(OrderSongs(8)).Dispose());
        Assert.Equal(1, e.Epoch);
        Assert.Null(e.Batch);
        Assert.Contains("were non-finite and skipped", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void NonFiniteFeatureIsRejectedNamingColumnAndRow(float value)
    {
        var songs = OrderTask.Songs(4, seed: 5).ToList();
        var windows = (float[])songs[2].Windows.Clone();
        windows[OrderTask.Coefficients + 1] = value;
        songs[2] = songs[2] with { Windows = windows };
        var ml = new MLContext(seed: 1);
        var e = Assert.Throws<InvalidOperationException>(() => ml.Audio().Trainers.TimeConvLstm(TinyOptions()).Fit(new WindowData(songs, OrderTask.Frames, OrderTask.Coefficients)).Dispose());
        Assert.IsNotType<NonFiniteTrainingException>(e);
        Assert.Contains("Row 2: window column 'Windows'", e.Message, StringComparison.Ordinal);
        Assert.Contains("window 0, frame 1, coefficient 1", e.Message, StringComparison.Ordinal);
    }

    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

internal sealed class InlineProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
