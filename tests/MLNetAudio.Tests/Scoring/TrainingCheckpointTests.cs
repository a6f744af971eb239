using Microsoft.ML;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Data;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// Crash-safe training (<see cref="TimeConvLstmOptions.CheckpointDirectory"/>): a run resumed from any checkpoint, in
/// this process or after its process was killed, ends with the weights of a run never stopped, bit for bit; damaged
/// checkpoints fall back to older ones; a checkpoint of another run is refused.
/// </summary>
public sealed class TrainingCheckpointTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mlnetaudio-checkpoints-" + Guid.NewGuid().ToString("N"));

    public TrainingCheckpointTests(ITestOutputHelper output)
    {
        _output = output;
        Directory.CreateDirectory(_root);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string[] Checkpoints(string directory) =>
        [.. Directory.EnumerateFiles(directory, "*" + TrainingCheckpointDirectory.Extension).Order(StringComparer.Ordinal)];

    private (string Reference, string Directory) ReferenceAndCheckpoints()
    {
        string reference = CheckpointedTraining.Train(CheckpointedTraining.Options(null));
        string directory = Path.Combine(_root, "all");
        var lines = new List<string>();
        string withCheckpoints = CheckpointedTraining.Train(CheckpointedTraining.Options(directory), log: lines.Add);
        Assert.Equal(reference, withCheckpoints);
        foreach (string line in lines.Where(l => l.Contains("written", StringComparison.Ordinal)).Take(2))
        {
            _output.WriteLine(line);
        }

        return (reference, directory);
    }

    private string ResumeFrom(string checkpoint, List<string> log)
    {
        string directory = Path.Combine(_root, "one-" + Path.GetFileNameWithoutExtension(checkpoint));
        Directory.CreateDirectory(directory);
        File.Copy(checkpoint, Path.Combine(directory, Path.GetFileName(checkpoint)));
        return CheckpointedTraining.Train(CheckpointedTraining.Options(directory), log: log.Add);
    }

    [Fact]
    public void Resuming_from_a_checkpoint_inside_an_epoch_at_an_epoch_end_or_after_the_end_gives_the_uninterrupted_weights()
    {
        var (reference, directory) = ReferenceAndCheckpoints();
        string[] all = Checkpoints(directory);

        // 6 epochs of 18 steps, a checkpoint every 4 steps and at every epoch end.
        Assert.Equal(27 + 6, all.Length);
        string[] picked =
        [
            all[0], // 4 steps into epoch 1
            all.First(p => p.EndsWith("epoch-000002-step-000000000.checkpoint", StringComparison.Ordinal)),
            all.First(p => p.Contains("epoch-000003-step-", StringComparison.Ordinal) && !p.EndsWith("-000000000.checkpoint", StringComparison.Ordinal)),
            all[^2], // the last step of the last epoch, before its validation
            all[^1], // training finished
        ];
        foreach (string checkpoint in picked)
        {
            var log = new List<string>();
            string resumed = ResumeFrom(checkpoint, log);
            _output.WriteLine(log.Single(l => l.Contains("resuming", StringComparison.Ordinal) || l.Contains("finished run", StringComparison.Ordinal)));
            Assert.Contains(log, l => l.Contains(checkpoint == all[^1] ? "is of a finished run" : "resuming from checkpoint", StringComparison.Ordinal));
            Assert.Equal(reference, resumed);
        }
    }

    [Fact]
    public void Only_the_newest_checkpoints_are_kept_and_unfinished_writes_are_deleted()
    {
        string directory = Path.Combine(_root, "keep");
        Directory.CreateDirectory(directory);
        string unfinished = Path.Combine(directory, "epoch-000009-step-000000000.checkpoint.tmp-4242");
        File.WriteAllBytes(unfinished, [1, 2, 3]);
        var options = CheckpointedTraining.Options(directory, epochs: 2);
        options.CheckpointsToKeep = 2;
        var log = new List<string>();
        CheckpointedTraining.Train(options, log: log.Add);

        Assert.False(File.Exists(unfinished));
        Assert.Contains(log, l => l.Contains("deleted 1 unfinished checkpoint write", StringComparison.Ordinal));
        Assert.Equal(["epoch-000001-step-000000018.checkpoint", "epoch-000002-step-000000000.checkpoint"], Checkpoints(directory).Select(Path.GetFileName));
    }

    [Fact]
    public void A_truncated_and_a_damaged_checkpoint_are_reported_and_the_one_before_them_is_used()
    {
        var (reference, directory) = ReferenceAndCheckpoints();
        string[] all = Checkpoints(directory);
        string truncated = all[^1], flipped = all[^2];
        byte[] bytes = File.ReadAllBytes(truncated);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        bytes = File.ReadAllBytes(flipped);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(flipped, bytes);

        var log = new List<string>();
        string resumed = CheckpointedTraining.Train(CheckpointedTraining.Options(directory), log: log.Add);
        foreach (string line in log.Where(l => l.Contains("unreadable", StringComparison.Ordinal) || l.Contains("resuming", StringComparison.Ordinal)))
        {
            _output.WriteLine(line);
        }

        Assert.Contains(log, l => l.Contains($"checkpoint '{truncated}' is unreadable: it is truncated", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains($"checkpoint '{flipped}' is unreadable: its SHA-256 checksum does not match", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains($"resuming from checkpoint '{all[^3]}'", StringComparison.Ordinal));
        Assert.True(File.Exists(truncated + TrainingCheckpointDirectory.CorruptSuffix));
        Assert.Equal(reference, resumed);
    }

    [Fact]
    public void With_every_checkpoint_unreadable_training_starts_over_and_says_so()
    {
        string reference = CheckpointedTraining.Train(CheckpointedTraining.Options(null, epochs: 2));
        string directory = Path.Combine(_root, "bad");
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "epoch-000001-step-000000000.checkpoint"), []);
        File.WriteAllText(Path.Combine(directory, "epoch-000001-step-000000004.checkpoint"), "not a checkpoint at all, just text");
        var log = new List<string>();
        string trained = CheckpointedTraining.Train(CheckpointedTraining.Options(directory, epochs: 2), log: log.Add);

        Assert.Equal(2, log.Count(l => l.Contains("is unreadable: it is not a checkpoint file", StringComparison.Ordinal)));
        Assert.Contains(log, l => l.Contains($"no usable checkpoint in '{directory}'; training from the start", StringComparison.Ordinal));
        Assert.Equal(reference, trained);
    }

    [Fact]
    public void A_checkpoint_of_other_options_a_seed_or_data_is_refused_naming_the_folder_and_the_difference()
    {
        string directory = Path.Combine(_root, "run");
        CheckpointedTraining.Train(CheckpointedTraining.Options(directory, epochs: 1));
        int files = Checkpoints(directory).Length;

        var batch = CheckpointedTraining.Options(directory, epochs: 1);
        batch.BatchSize = 16;
        var e = Assert.Throws<InvalidOperationException>(() => CheckpointedTraining.Train(batch));
        _output.WriteLine(e.Message);
        Assert.Contains($"Checkpoint directory '{directory}' holds a checkpoint of a different training run", e.Message, StringComparison.Ordinal);
        Assert.Contains("BatchSize is 8 there, 16 here", e.Message, StringComparison.Ordinal);

        var seed = CheckpointedTraining.Options(directory, epochs: 1);
        seed.Seed = 22;
        e = Assert.Throws<InvalidOperationException>(() => CheckpointedTraining.Train(seed));
        Assert.Contains("Seed is 21 there, 22 here", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<InvalidOperationException>(() => CheckpointedTraining.Train(CheckpointedTraining.Options(directory, epochs: 1), CheckpointedTraining.Data(seed: 5)));
        _output.WriteLine(e.Message);
        Assert.Contains("the training data differ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("BatchSize", e.Message, StringComparison.Ordinal);

        // Refused, not overwritten; and the cadence is not part of a run's identity.
        Assert.Equal(files, Checkpoints(directory).Length);
        var cadence = CheckpointedTraining.Options(directory, epochs: 1, everySteps: 0);
        cadence.CheckpointsToKeep = 1;
        var log = new List<string>();
        CheckpointedTraining.Train(cadence, log: log.Add);
        Assert.Contains(log, l => l.Contains("is of a finished run", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_checkpoint_options_are_reported_by_name()
    {
        var options = CheckpointedTraining.Options("  ");
        options.CheckpointEverySteps = -1;
        options.CheckpointEveryEpochs = -2;
        options.CheckpointsToKeep = 0;
        var e = Assert.Throws<ArgumentException>(options.Validate);
        foreach (string field in new[] { "CheckpointDirectory", "CheckpointEverySteps", "CheckpointEveryEpochs", "CheckpointsToKeep" })
        {
            Assert.Contains(field + ":", e.Message, StringComparison.Ordinal);
        }

        var never = CheckpointedTraining.Options(Path.Combine(_root, "never"), everySteps: 0);
        never.CheckpointEveryEpochs = 0;
        e = Assert.Throws<ArgumentException>(never.Validate);
        Assert.Contains("no checkpoint would ever be written", e.Message, StringComparison.Ordinal);

        string file = Path.Combine(_root, "a-file");
        File.WriteAllText(file, "x");
        var io = Assert.Throws<IOException>(() => CheckpointedTraining.Train(CheckpointedTraining.Options(file, epochs: 1)));
        Assert.Contains($"Checkpoint directory '{file}' is a file", io.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_training_process_killed_mid_run_resumes_in_a_new_process_to_the_weights_of_an_uninterrupted_run() =>
        KilledTrainingRun.KillAndResume(_output, _root, FreshProcessEntryPoint.TrainCheckpointedCommand, epochs: 40);

    [Fact]
    public void Checkpoint_size_and_write_time_of_the_default_network()
    {
        // Figures for docs/reliability.md: the default network (16 channels, LSTM 64) on 400 x 20 windows.
        var rng = new Random(3);
        var songs = Enumerable.Range(0, 8).Select(i => new Song([.. Enumerable.Range(0, 400 * 20 * 2).Select(_ => (float)(rng.NextDouble() - 0.5))], i % 2 == 0)).ToList();
        var data = new WindowData(songs, 400, 20);
        string directory = Path.Combine(_root, "default");
        var log = new List<string>();
        var options = new TimeConvLstmOptions { Epochs = 3, Seed = 1, Threads = 1, Device = TorchDevice.Cpu, ValidationFraction = 0.25, CheckpointDirectory = directory };
        var ml = new MLContext(seed: 1);
        ml.Log += (_, e) => log.Add(e.Message);
        using (var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(data))
        {
            _output.WriteLine($"parameters: {scorer.Network.parameters().Sum(p => p.numel())}");
        }

        var written = log.Where(l => l.Contains("written", StringComparison.Ordinal)).ToList();
        foreach (string line in written)
        {
            _output.WriteLine(line);
        }

        Assert.Equal(2, Checkpoints(directory).Length);
    }
}
