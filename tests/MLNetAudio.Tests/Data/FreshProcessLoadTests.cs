using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Tests.Scoring;

namespace MLNetAudio.Tests.Data;

/// <summary>A model saved here loads in a new process and gives bit-identical scores.</summary>
public sealed class FreshProcessLoadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-fresh-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void SavedPipelineScoresIdenticallyInANewProcess()
    {
        ScaleTestTransformer.Register();
        var ml = new MLContext(seed: 1);
        var (data, model) = ModelPersistenceTests.MixedPipeline(ml);
        string modelPath = Path.Combine(_dir, "model.zip");
        string dataPath = Path.Combine(_dir, "data.idv");
        ml.Audio().Model.Save(model, data.Schema, modelPath);
        using (var file = File.Create(dataPath))
        {
            ml.Data.SaveAsBinary(data, file);
        }

        string[] expected = FreshProcessEntryPoint.Format(model.Transform(data), ["Out"]).ToArray();

        string[] actual = RunFreshProcess(FreshProcessEntryPoint.ScoreCommand, modelPath, dataPath, "Out");

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void TrainedAudioPipelineScoresBitIdenticallyInANewProcess()
    {
        // LoadAudio -> SegmentMfcc (standardised) -> TimeConvLstm -> AggregateWindows, trained on the built-in clips.
        var ml = new MLContext(seed: 1);
        var training = RealClipPipeline.Songs(ml, RealClipPipeline.TrainingClips);
        var model = RealClipPipeline.Pipeline(ml).Fit(training);
        try
        {
            var unheard = RealClipPipeline.Songs(ml, "strings-then-flute.ogg", "flute-then-guitar.ogg");
            string modelPath = Path.Combine(_dir, "audio-pipeline.zip");
            string dataPath = Path.Combine(_dir, "songs.idv");
            ml.Audio().Model.Save(model, training.Schema, modelPath);
            using (var file = File.Create(dataPath))
            {
                ml.Data.SaveAsBinary(unheard, file);
            }

            string[] columns = ["WindowScores", "Score", "Score.BestWindowStart"];
            string[] expected = FreshProcessEntryPoint.Format(model.Transform(unheard), columns).ToArray();

            string[] actual = RunFreshProcess([FreshProcessEntryPoint.ScoreCommand, modelPath, dataPath, .. columns]);

            Assert.Equal(6, expected.Length);
            Assert.True(expected[0].Split(',').Distinct().Count() > 1, $"window scores do not vary: {expected[0]}");
            Assert.Equal(expected, actual);
        }
        finally
        {
            RealClipPipeline.DisposeScorers(model);
        }
    }

    /// <summary>Runs the test assembly's own entry point in a new process and returns its output lines.</summary>
    internal static string[] RunFreshProcess(params string[] args) => RunFreshProcess(new Dictionary<string, string>(), args);

    /// <summary>Same, with extra environment variables in the new process (read by native libraries at load).</summary>
    internal static string[] RunFreshProcess(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using var process = StartFreshProcess(environment, args);
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            Assert.Fail("The fresh process did not finish in 60 s.");
        }

        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}: {stderr.Result}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>Starts the test assembly's own entry point in a new process, standard output and error redirected.</summary>
    internal static Process StartFreshProcess(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        string assembly = typeof(FreshProcessEntryPoint).Assembly.Location;
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(assembly);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        return Process.Start(start)!;
    }

    // The host running these tests is dotnet itself (vstest starts testhost.dll through it).
    private static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
}
