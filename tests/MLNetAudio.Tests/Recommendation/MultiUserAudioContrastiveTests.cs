using Microsoft.ML;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// Contrastive pretraining and the contrastive term of the multi-user audio model
/// (<see cref="MultiUserAudioOptions.ContrastivePretrainingEpochs"/>, <see cref="MultiUserAudioOptions.ContrastiveWeight"/>):
/// pretraining alone teaches the encoder which windows belong to one song, cold songs included; the options are
/// checked; a resumed run with them is the uninterrupted one (MultiUserAudioCheckpointTests).
/// </summary>
public sealed class MultiUserAudioContrastiveTests
{
    private const int Frames = 16, Coefficients = 4, Songs = 24, WindowsPerSong = 4, Users = 6;

    // Each song: a random template over frames and coefficients, the same in each of its windows up to a circular shift
    // in time and noise half as large as the template; songs 21..24 are cold (nobody plays them).
    private static AudioSongWindows SongsWithIdentity()
    {
        var rng = new Random(8);
        var windows = new float[Songs][];
        for (int s = 0; s < Songs; s++)
        {
            var template = Enumerable.Range(0, Frames * Coefficients).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
            windows[s] = new float[WindowsPerSong * Frames * Coefficients];
            for (int w = 0; w < WindowsPerSong; w++)
            {
                int shift = rng.Next(Frames);
                for (int f = 0; f < Frames; f++)
                {
                    for (int c = 0; c < Coefficients; c++)
                    {
                        windows[s][(((w * Frames) + f) * Coefficients) + c] = template[(((f + shift) % Frames) * Coefficients) + c] + (0.5f * (float)((rng.NextDouble() * 2) - 1));
                    }
                }
            }
        }

        return AudioSongWindows.FromValues(windows, Frames, Coefficients, new AudioSongOptions());
    }

    private static IDataView Plays(MLContext ml) =>
        PlayLogs.Make(ml, Users, Songs, Enumerable.Range(1, Users).SelectMany(u => Enumerable.Range(0, 4).Select(i => ((uint)u, (uint)(((u * 5) + (i * 3)) % 20) + 1, 1f))).ToArray());

    private static MultiUserAudioOptions Options(int? pretrainingEpochs, double? weight = 0) => new()
    {
        EmbeddingSize = 8, Channels = 8, ConvolutionLayers = 2, Epochs = 0, BatchSize = 8, Seed = 2, Device = TorchDevice.Cpu,
        ContrastivePretrainingEpochs = pretrainingEpochs, ContrastiveWeight = weight,
    };

    // The share of windows whose nearest other window (cosine, over the encoder's window embeddings) is of the same song.
    private static double NearestIsSameSong(MultiUserAudioModel model, IEnumerable<int> songs)
    {
        var chosen = songs.ToArray();
        var values = chosen.SelectMany(s => model.Songs.Windows(s).ToArray()).ToArray();
        using var scope = NewDisposeScope();
        var x = tensor(values, [chosen.Length * WindowsPerSong, Frames, Coefficients])
            .sub(tensor(model.CoefficientMean.ToArray())).div(tensor(model.CoefficientDeviation.ToArray()));
        model.Encoder.eval();
        using var noGrad = no_grad();
        var e = nn.functional.normalize(model.Encoder.Embedding(x), p: 2, dim: -1);
        var similarity = e.matmul(e.t()).data<float>().ToArray();
        int n = chosen.Length * WindowsPerSong, same = 0;
        for (int i = 0; i < n; i++)
        {
            int best = -1;
            for (int j = 0; j < n; j++)
            {
                if (j != i && (best < 0 || similarity[(i * n) + j] > similarity[(i * n) + best]))
                {
                    best = j;
                }
            }

            same += best / WindowsPerSong == i / WindowsPerSong ? 1 : 0;
        }

        return (double)same / n;
    }

    [Fact]
    public void PretrainingAloneTeachesWhichWindowsBelongToOneSongColdSongsIncluded()
    {
        var ml = new MLContext(1);
        using var untrained = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), Options(0)).Fit(Plays(ml));
        using var pretrained = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), Options(150)).Fit(Plays(ml));

        var all = Enumerable.Range(0, Songs);
        var cold = Enumerable.Range(20, 4);
        double before = NearestIsSameSong(untrained, all), after = NearestIsSameSong(pretrained, all);
        Assert.True(after >= 0.75 && after > before + 0.4, $"nearest window of the same song: {before:0.00} untrained, {after:0.00} pretrained");
        Assert.True(NearestIsSameSong(pretrained, cold) >= 0.75, $"cold songs: {NearestIsSameSong(pretrained, cold):0.00}");
    }

    [Fact]
    public void ContrastiveOptionsAreCheckedTogether()
    {
        var ml = new MLContext(1);
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), new MultiUserAudioOptions
        {
            ContrastivePretrainingEpochs = -1, ContrastiveWeight = 0.5, WindowsPerPair = 1, ContrastiveTemperature = 0,
        }));

        Assert.Contains("ContrastivePretrainingEpochs: must be null (automatic) or 0 or more", e.Message, StringComparison.Ordinal);
        Assert.Contains("ContrastiveWeight: needs WindowsPerPair of 2 or more", e.Message, StringComparison.Ordinal);
        Assert.Contains("ContrastiveTemperature: must be positive", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), new MultiUserAudioOptions { ContrastivePretrainingEpochs = 3, BatchSize = 1 }));
        Assert.Contains("ContrastivePretrainingEpochs: needs BatchSize of 2 or more", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), new MultiUserAudioOptions { ContrastiveWeight = double.NaN }));
        Assert.Contains("ContrastiveWeight: must be null (automatic), 0 or more and finite", e.Message, StringComparison.Ordinal);

        // The automatic weight is 0 with one window per pair, so the defaults never stop a model that takes one window.
        var one = Options(0, weight: null);
        one.WindowsPerPair = 1;
        one.Epochs = 1;
        using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), one).Fit(Plays(ml));
        Assert.Equal(1, model.Epochs);
    }

    [Fact]
    public void TheDefaultsPretrainAHundredEpochsWithWeightHalfAndReportEachPretrainingEpochFirst()
    {
        var ml = new MLContext(1);
        var reports = new List<TrainingProgress>();
        var automatic = Options(null, weight: null);
        automatic.Epochs = 1;
        automatic.Progress = new SyncProgress(reports.Add);
        using var a = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), automatic).Fit(Plays(ml));
        var explicitOptions = Options(MultiUserAudioOptions.Defaults.ContrastivePretrainingEpochs, MultiUserAudioOptions.Defaults.ContrastiveWeight);
        explicitOptions.Epochs = 1;
        using var b = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), explicitOptions).Fit(Plays(ml));
        var off = Options(0, 0);
        off.Epochs = 1;
        using var c = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), off).Fit(Plays(ml));

        Assert.Equal(100, MultiUserAudioOptions.Defaults.ContrastivePretrainingEpochs);
        Assert.Equal(0.5, MultiUserAudioOptions.Defaults.ContrastiveWeight);
        Assert.Equal(CheckpointedMultiUserTraining.Fingerprint(a), CheckpointedMultiUserTraining.Fingerprint(b));
        Assert.NotEqual(CheckpointedMultiUserTraining.Fingerprint(a), CheckpointedMultiUserTraining.Fingerprint(c));

        // 100 pretraining reports (epochs 1..100 of 100, finite contrastive losses, windows encoded), then the one epoch.
        Assert.Equal(101, reports.Count);
        Assert.Equal(Enumerable.Range(1, 100), reports.Take(100).Select(r => r.Epoch));
        Assert.All(reports.Take(100), r => Assert.True(r.Pretraining && r.TotalEpochs == 100 && double.IsFinite(r.TrainingLoss) && r.TrainingWindows == 2 * Songs, $"{r}"));
        Assert.True(!reports[100].Pretraining && reports[100].Epoch == 1 && reports[100].TotalEpochs == 1, $"{reports[100]}");
        Assert.True(reports[99].TrainingLoss < reports[0].TrainingLoss, $"contrastive loss {reports[0].TrainingLoss:0.000} -> {reports[99].TrainingLoss:0.000}");
    }

    [Fact]
    public void OneSongSkipsAutomaticPretrainingAndRefusesAnExplicitCountNamingTheOption()
    {
        var ml = new MLContext(1);
        var song = SongsWithIdentity().Windows(0).ToArray();
        var single = AudioSongWindows.FromValues([song], Frames, Coefficients, new AudioSongOptions());
        var plays = PlayLogs.Make(ml, 2, 1, [(1u, 1u, 1f), (2u, 1u, 1f)]);

        // Automatic: no pretraining epoch is reported (before, empty epochs reported a NaN loss), training runs.
        var reports = new List<TrainingProgress>();
        var automatic = Options(null, weight: null);
        automatic.Epochs = 2;
        automatic.Progress = new SyncProgress(reports.Add);
        using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(single, automatic).Fit(plays);
        Assert.Equal([1, 2], reports.Select(r => r.Epoch));
        Assert.All(reports, r => Assert.False(r.Pretraining, $"{r}"));

        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(single, Options(3)).Fit(plays));
        Assert.Contains("ContrastivePretrainingEpochs is 3 but the song windows hold 1 song(s)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Set ContrastivePretrainingEpochs to 0 or null", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(24, 8, 100)] // 3 steps an epoch: the default 100 epochs
    [InlineData(5_000, 32, 100)] // 157 steps: 15,700, under the cap
    [InlineData(100_000, 32, 5)] // 3,125 steps: the cap of 16,000 steps allows 5 epochs
    [InlineData(10_000_000, 32, 1)] // at least one epoch
    [InlineData(1, 32, 0)] // one song: nothing to tell it apart from
    [InlineData(100, 1, 0)] // batches of one song: the same
    public void TheAutomaticPretrainingCountIsCappedByStepsAndKeepsOneEpoch(int songs, int batchSize, int expected) =>
        Assert.Equal(expected, MultiUserAudioTrainer.AutomaticPretrainingEpochs(songs, new MultiUserAudioOptions { BatchSize = batchSize }));

    [Fact]
    public void TheContrastiveTermChangesTheModelAndZeroLeavesItAsWithoutTheOptions()
    {
        var ml = new MLContext(1);
        var plain = Options(0);
        plain.Epochs = 2;
        using var a = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), plain).Fit(Plays(ml));
        var withZeros = Options(0);
        withZeros.Epochs = 2;
        withZeros.ContrastiveWeight = 0;
        withZeros.ContrastiveTemperature = 0.5; // no effect without a contrastive option
        using var b = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), withZeros).Fit(Plays(ml));
        var joint = Options(0);
        joint.Epochs = 2;
        joint.ContrastiveWeight = 0.5;
        using var c = ml.Audio().Recommendation.Trainers.MultiUserAudio(SongsWithIdentity(), joint).Fit(Plays(ml));

        Assert.Equal(CheckpointedMultiUserTraining.Fingerprint(a), CheckpointedMultiUserTraining.Fingerprint(b));
        Assert.NotEqual(CheckpointedMultiUserTraining.Fingerprint(a), CheckpointedMultiUserTraining.Fingerprint(c));
        var scores = new float[c.UserCount * c.SongCount];
        c.ScoreUsers(0, c.UserCount, scores);
        Assert.All(scores, v => Assert.True(float.IsFinite(v)));
    }
}
