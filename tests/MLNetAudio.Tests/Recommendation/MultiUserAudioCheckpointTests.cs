using System.Security.Cryptography;
using Microsoft.ML;
using MLNetAudio.Data;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Data;
using MLNetAudio.Tests.Scoring;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// One small multi-user training run shared by <see cref="MultiUserAudioCheckpointTests"/> (in this process) and the
/// <c>train-multi-user-checkpointed</c> command of <see cref="FreshProcessEntryPoint"/> (a process the kill test stops):
/// synthetic windows (no rendering), the auxiliary read-out on, negatives drawn every epoch, checkpoints inside epochs.
/// </summary>
internal static class CheckpointedMultiUserTraining
{
    private const int Frames = 16, Coefficients = 3, Users = 16, Songs = 24;

    /// <summary>24 songs of 4 random windows (songs 23 and 24 cold); every user plays 5 of the first 22.</summary>
    public static (MLContext Ml, AudioSongWindows Songs, IDataView Plays) Data(int dataSeed = 4)
    {
        var rng = new Random(dataSeed);
        var windows = Enumerable.Range(0, Songs).Select(_ => Enumerable.Range(0, 4 * Frames * Coefficients).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
        var ml = new MLContext(seed: 1);
        var plays = PlayLogs.Make(ml, Users, Songs, Enumerable.Range(1, Users)
            .SelectMany(u => Enumerable.Range(0, 5).Select(i => ((uint)u, (uint)(((u * 3) + (i * 4)) % 22 + 1), 1f + (i % 2))))
            .ToArray());
        return (ml, AudioSongWindows.FromValues(windows, Frames, Coefficients, new AudioSongOptions()), plays);
    }

    /// <summary>Options of the run: CPU, a fixed seed; checkpoints in <paramref name="directory"/> when given.</summary>
    public static MultiUserAudioOptions Options(string? directory, int epochs = 4, int everySteps = 3) => new()
    {
        EmbeddingSize = 4,
        Channels = 2,
        ConvolutionLayers = 2,
        Epochs = epochs,
        BatchSize = 8,
        Seed = 5,
        Device = TorchDevice.Cpu,
        CheckpointDirectory = directory,
        CheckpointEverySteps = everySteps,
        CheckpointsToKeep = 1000,
    };

    /// <summary>Trains and returns the model's fingerprint; <paramref name="log"/> receives ML.NET's log lines.</summary>
    public static string Train(MultiUserAudioOptions options, int dataSeed = 4, Action<string>? log = null)
    {
        var (ml, songs, plays) = Data(dataSeed);
        if (log is not null)
        {
            ml.Log += (_, e) => log(e.Message);
        }

        using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, options).Fit(plays);
        return Fingerprint(model);
    }

    /// <summary>SHA-256 of the encoder's weights, every user vector and every score's bits: equal means bit-identical.</summary>
    public static string Fingerprint(MultiUserAudioModel model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(CheckpointedTraining.Fingerprint(model.Encoder)));
        var scores = new float[model.UserCount * model.SongCount];
        model.ScoreUsers(0, model.UserCount, scores);
        hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scores.AsSpan()));
        for (uint u = 1; u <= model.UserCount; u++)
        {
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(model.GetUserVector(u).AsSpan()));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>
    /// The <c>train-multi-user-checkpointed DIR|- EPOCHS OUT</c> command: trains on one libtorch thread (with
    /// checkpoints in DIR unless "-"), echoes the log lines about checkpoints, then writes the fingerprint to OUT.
    /// </summary>
    public static int Run(string[] args)
    {
        TorchSharp.torch.set_num_threads(1);
        return KilledTrainingRun.RunCommand(args, (directory, epochs, log) => Train(Options(directory, epochs), log: log));
    }
}

/// <summary>
/// Crash-safe training of the multi-user audio model (<see cref="MultiUserAudioOptions.CheckpointDirectory"/>): a run
/// resumed from any checkpoint, in this process or after its process was killed, ends with the model of a run never
/// stopped, bit for bit on the CPU; a damaged checkpoint falls back to the one before; another run's is refused.
/// </summary>
public sealed class MultiUserAudioCheckpointTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mlnetaudio-mu-checkpoints-" + Guid.NewGuid().ToString("N"));

    public MultiUserAudioCheckpointTests(ITestOutputHelper output)
    {
        _output = output;
        Directory.CreateDirectory(_root);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string[] Checkpoints(string directory) =>
        [.. Directory.EnumerateFiles(directory, "*" + TrainingCheckpointDirectory.Extension).Order(StringComparer.Ordinal)];

    private (string Reference, string Directory) ReferenceAndCheckpoints()
    {
        string reference = CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(null));
        string directory = Path.Combine(_root, "all");
        var lines = new List<string>();
        Assert.Equal(reference, CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(directory), log: lines.Add));
        _output.WriteLine(lines.First(l => l.Contains("written", StringComparison.Ordinal)));
        return (reference, directory);
    }

    private string ResumeFrom(string checkpoint, List<string> log)
    {
        string directory = Path.Combine(_root, "one-" + Path.GetFileNameWithoutExtension(checkpoint));
        Directory.CreateDirectory(directory);
        File.Copy(checkpoint, Path.Combine(directory, Path.GetFileName(checkpoint)));
        return CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(directory), log: log.Add);
    }

    [Fact]
    public void Resuming_inside_an_epoch_at_an_epoch_end_or_after_the_end_gives_the_uninterrupted_model()
    {
        var (reference, directory) = ReferenceAndCheckpoints();
        string[] all = Checkpoints(directory);

        // 80 plays x 3 pairs / 8 = 30 batches per epoch, a checkpoint every 3 steps and at each of the 4 epoch ends.
        Assert.Equal((4 * 10) + 4, all.Length);
        string[] chosen =
        [
            all.First(p => p.Contains("epoch-000000-step-000000006", StringComparison.Ordinal)),
            all.First(p => p.Contains("epoch-000002-step-000000000", StringComparison.Ordinal)),
            all.First(p => p.Contains("epoch-000003-step-000000030", StringComparison.Ordinal)),
            all[^1],
        ];
        foreach (string checkpoint in chosen)
        {
            var log = new List<string>();
            Assert.Equal(reference, ResumeFrom(checkpoint, log));
            string line = Assert.Single(log, l => l.Contains("resuming from checkpoint", StringComparison.Ordinal) || l.Contains("finished run", StringComparison.Ordinal));
            _output.WriteLine(line);
        }
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(1.0, 0.0)] // and the rhythm read-out, saved after the projection
    [InlineData(1.0, 1.0)] // and the direction read-out, saved after the rhythm read-out
    public void With_contrastive_pretraining_and_term_a_run_resumed_inside_an_epoch_gives_the_uninterrupted_model(double rhythmWeight, double directionWeight)
    {
        MultiUserAudioOptions Contrastive(string? directory)
        {
            var options = CheckpointedMultiUserTraining.Options(directory, epochs: 2);
            options.ContrastivePretrainingEpochs = 2;
            options.ContrastiveWeight = 0.5;
            options.RhythmWeight = rhythmWeight;
            options.DirectionWeight = directionWeight;
            return options;
        }

        string reference = CheckpointedMultiUserTraining.Train(Contrastive(null));
        Assert.NotEqual(CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(null, epochs: 2)), reference);
        string directory = Path.Combine(_root, $"contrastive-{rhythmWeight}-{directionWeight}");
        Assert.Equal(reference, CheckpointedMultiUserTraining.Train(Contrastive(directory)));

        // Inside the second epoch: the projection and the encoder come back from the checkpoint, pretraining is not redone.
        string checkpoint = Checkpoints(directory).First(p => p.Contains("epoch-000001-step-000000006", StringComparison.Ordinal));
        string resumed = Path.Combine(_root, $"contrastive-resumed-{rhythmWeight}-{directionWeight}");
        Directory.CreateDirectory(resumed);
        File.Copy(checkpoint, Path.Combine(resumed, Path.GetFileName(checkpoint)));
        var log = new List<string>();
        Assert.Equal(reference, CheckpointedMultiUserTraining.Train(Contrastive(resumed), log: log.Add));
        Assert.Contains(log, l => l.Contains("resuming from checkpoint", StringComparison.Ordinal));
        Assert.DoesNotContain(log, l => l.Contains("contrastive pretraining epoch", StringComparison.Ordinal));
    }

    [Fact]
    public void A_damaged_newest_checkpoint_is_reported_and_the_one_before_is_used()
    {
        var (reference, directory) = ReferenceAndCheckpoints();
        string[] all = Checkpoints(directory);
        string resumed = Path.Combine(_root, "damaged");
        Directory.CreateDirectory(resumed);
        foreach (string p in all.Where(p => p.Contains("epoch-000001-", StringComparison.Ordinal)))
        {
            File.Copy(p, Path.Combine(resumed, Path.GetFileName(p)));
        }

        string newest = Checkpoints(resumed)[^1];
        byte[] bytes = File.ReadAllBytes(newest);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(newest, bytes);

        var log = new List<string>();
        Assert.Equal(reference, CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(resumed), log: log.Add));
        string warning = Assert.Single(log, l => l.Contains("is unreadable", StringComparison.Ordinal));
        _output.WriteLine(warning);
        Assert.Contains(Path.GetFileName(newest), warning, StringComparison.Ordinal);
        Assert.Contains("checksum", warning, StringComparison.Ordinal);
        Assert.True(File.Exists(newest + TrainingCheckpointDirectory.CorruptSuffix));
        Assert.Single(log, l => l.Contains("resuming from checkpoint", StringComparison.Ordinal));
    }

    [Fact]
    public void Another_runs_checkpoint_is_refused_naming_the_folder_and_the_difference()
    {
        string directory = Path.Combine(_root, "refused");
        CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(directory, epochs: 1));
        string[] before = Checkpoints(directory);

        var other = CheckpointedMultiUserTraining.Options(directory, epochs: 1);
        other.BatchSize = 4;
        var e = Assert.Throws<InvalidOperationException>(() => CheckpointedMultiUserTraining.Train(other));
        _output.WriteLine(e.Message);
        Assert.Contains($"'{Path.GetFullPath(directory)}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("BatchSize is 8 there, 4 here", e.Message, StringComparison.Ordinal);
        Assert.Contains("MultiUserAudioOptions.CheckpointDirectory", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<InvalidOperationException>(() => CheckpointedMultiUserTraining.Train(CheckpointedMultiUserTraining.Options(directory, epochs: 1), dataSeed: 5));
        Assert.Contains("the training data differ", e.Message, StringComparison.Ordinal);

        // Refusing changes nothing in the folder; a different cadence is the same run.
        Assert.Equal(before, Checkpoints(directory));
        var cadence = CheckpointedMultiUserTraining.Options(directory, epochs: 1, everySteps: 5);
        var log = new List<string>();
        CheckpointedMultiUserTraining.Train(cadence, log: log.Add);
        Assert.Contains(log, l => l.Contains("finished run", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_checkpoint_options_are_listed_together()
    {
        var e = Assert.Throws<ArgumentException>(() => new MultiUserAudioOptions { CheckpointDirectory = " ", CheckpointEverySteps = -1, CheckpointsToKeep = 0 }.Validate());
        Assert.Contains("CheckpointDirectory", e.Message, StringComparison.Ordinal);
        Assert.Contains("CheckpointEverySteps", e.Message, StringComparison.Ordinal);
        Assert.Contains("CheckpointsToKeep", e.Message, StringComparison.Ordinal);
        var none = Assert.Throws<ArgumentException>(() => new MultiUserAudioOptions { CheckpointDirectory = "x", CheckpointEverySteps = 0, CheckpointEveryEpochs = 0 }.Validate());
        Assert.Contains("no checkpoint would ever be written", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_training_process_killed_mid_run_resumes_in_a_new_process_to_the_model_of_an_uninterrupted_run() =>
        KilledTrainingRun.KillAndResume(_output, _root, FreshProcessEntryPoint.TrainMultiUserCheckpointedCommand, epochs: 40);
}
