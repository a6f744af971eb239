using System.Security.Cryptography;
using Microsoft.ML;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Data;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// One small training run shared by <see cref="TrainingCheckpointTests"/> (in this process) and the
/// <c>train-checkpointed</c> command of <see cref="Data.FreshProcessEntryPoint"/> (a process the kill test stops):
/// songs of several windows, a validation split (so the best epoch and early-stopping count matter), a shuffle buffer
/// smaller than an epoch (so steps happen while songs are still being read) and checkpoints inside epochs.
/// </summary>
internal static class CheckpointedTraining
{
    /// <summary>Songs of three windows each, label by sound order; the same for a seed in every process.</summary>
    public static WindowData Data(int songs = 60, int seed = 4)
    {
        var rng = new Random(seed);
        var list = Enumerable.Range(0, songs).Select(i =>
        {
            bool liked = i % 2 == 0;
            return new Song([.. Enumerable.Range(0, 3).SelectMany(_ => OrderTask.Window(rng, liked))], liked);
        }).ToList();
        return new WindowData(list, OrderTask.Frames, OrderTask.Coefficients);
    }

    /// <summary>Options of the run: one CPU thread, a fixed seed; checkpoints in <paramref name="directory"/> when given.</summary>
    public static TimeConvLstmOptions Options(string? directory, int epochs = 6, int everySteps = 4) => new()
    {
        Epochs = epochs,
        BatchSize = 8,
        ShuffleBufferSize = 16,
        LearningRate = 0.01,
        ValidationFraction = 0.2,
        EarlyStoppingPatience = 100,
        TrainingWindowStride = 1,
        Seed = 21,
        Threads = 1,
        Device = TorchDevice.Cpu,
        ConvolutionLayers = 2,
        Channels = 4,
        LstmHiddenSize = 16,
        CheckpointDirectory = directory,
        CheckpointEverySteps = everySteps,
        CheckpointsToKeep = 1000,
    };

    /// <summary>Trains and returns the weights' fingerprint; <paramref name="log"/> receives ML.NET's log lines.</summary>
    public static string Train(TimeConvLstmOptions options, IDataView? data = null, Action<string>? log = null)
    {
        var ml = new MLContext(seed: 1);
        if (log is not null)
        {
            ml.Log += (_, e) => log(e.Message);
        }

        using var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(data ?? Data());
        return Fingerprint(scorer.Network);
    }

    /// <summary>SHA-256 of every weight's float32 bits, in state-dict order with the names: equal means bit-identical.</summary>
    public static string Fingerprint(TimeConvNetwork network)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in network.state_dict())
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var cpu = tensor.detach().cpu().contiguous();
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>
    /// The <c>train-checkpointed DIR|- EPOCHS OUT</c> command: trains (with checkpoints in DIR unless "-"), echoes the
    /// log lines about checkpoints to stdout, then writes the weights' fingerprint to OUT.
    /// </summary>
    public static int Run(string[] args) =>
        KilledTrainingRun.RunCommand(args, (directory, epochs, log) => Train(Options(directory, epochs), log: log));
}
