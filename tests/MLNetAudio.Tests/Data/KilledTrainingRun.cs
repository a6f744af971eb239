using System.Diagnostics;
using System.Globalization;
using MLNetAudio.Data;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// The kill test both checkpointing trainers share: COMMAND (a <see cref="FreshProcessEntryPoint"/> command taking
/// <c>DIR|- EPOCHS OUT</c>) runs uninterrupted in one process, is killed in a second once a checkpoint of epoch 3 exists,
/// and resumes in a third; the first and third must write the same fingerprint.
/// </summary>
internal static class KilledTrainingRun
{
    /// <summary>Runs the three processes under <paramref name="root"/> and asserts; returns the resumed run's "resuming" log line.</summary>
    public static string KillAndResume(ITestOutputHelper output, string root, string command, int epochs)
    {
        string directory = Path.Combine(root, "killed");
        string referenceOut = Path.Combine(root, "reference.txt"), killedOut = Path.Combine(root, "killed.txt"), resumedOut = Path.Combine(root, "resumed.txt");
        string epochText = epochs.ToString(CultureInfo.InvariantCulture);

        var watch = Stopwatch.StartNew();
        FreshProcessLoadTests.RunFreshProcess(command, "-", epochText, referenceOut);
        output.WriteLine($"uninterrupted run: {watch.Elapsed.TotalSeconds:F1} s");

        // Killed once checkpoints of epoch 3 exist (so the optimiser's moments and the rest are under way), while most
        // epochs remain.
        using var training = FreshProcessLoadTests.StartFreshProcess(new Dictionary<string, string>(), command, directory, epochText, killedOut);
        var errors = new System.Text.StringBuilder();
        training.OutputDataReceived += (_, _) => { };
        training.ErrorDataReceived += (_, e) => errors.AppendLine(e.Data);
        training.BeginOutputReadLine();
        training.BeginErrorReadLine();
        watch.Restart();
        while (!training.HasExited && watch.Elapsed < TimeSpan.FromMinutes(3)
            && !(Directory.Exists(directory) && Directory.EnumerateFiles(directory, "epoch-000003-*" + TrainingCheckpointDirectory.Extension).Any()))
        {
            Thread.Sleep(5);
        }

        bool exitedByItself = training.HasExited;
        training.Kill(entireProcessTree: true);
        training.WaitForExit();
        string[] left = [.. Directory.EnumerateFiles(directory, "*" + TrainingCheckpointDirectory.Extension).Order(StringComparer.Ordinal)];
        output.WriteLine($"killed after {watch.Elapsed.TotalSeconds:F1} s with {left.Length} checkpoints, the newest {Path.GetFileName(left[^1])}");
        Assert.False(exitedByItself, "the training process ended before it could be killed: " + errors);
        Assert.False(File.Exists(killedOut), "the killed process finished training");
        Assert.DoesNotContain(left, p => p.Contains($"epoch-{epochs:D6}", StringComparison.Ordinal));

        string[] lines = FreshProcessLoadTests.RunFreshProcess(command, directory, epochText, resumedOut);
        string resumedLine = Assert.Single(lines, l => l.Contains("resuming from checkpoint", StringComparison.Ordinal));
        output.WriteLine(resumedLine);
        Assert.Equal(File.ReadAllText(referenceOut), File.ReadAllText(resumedOut));
        return resumedLine;
    }

    /// <summary>
    /// The body of a <c>DIR|- EPOCHS OUT</c> command: trains with <paramref name="train"/> (checkpoints in DIR unless "-";
    /// it receives the log lines), echoes the lines about checkpoints to stdout, then writes the fingerprint it returns
    /// to OUT (atomically, so a killed process leaves none).
    /// </summary>
    public static int RunCommand(string[] args, Func<string?, int, Action<string>, string> train)
    {
        string? directory = args[0] == "-" ? null : args[0];
        int epochs = int.Parse(args[1], CultureInfo.InvariantCulture);
        string fingerprint = train(directory, epochs, line =>
        {
            if (line.Contains("checkpoint", StringComparison.OrdinalIgnoreCase))
            {
                Console.WriteLine(line);
            }
        });
        File.WriteAllText(args[2] + ".tmp", fingerprint);
        File.Move(args[2] + ".tmp", args[2]);
        return 0;
    }
}
