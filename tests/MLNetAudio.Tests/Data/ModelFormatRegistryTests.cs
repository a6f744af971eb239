using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetAudio.Data;
using MLNetAudio.Recommendation;
using MLNetAudio.Tests.Recommendation;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// Each assembly registers its own stage formats; the core finds a format it has not seen through the assembly name
/// the model file records (DESIGN.md §7). These check what the file records, that a fresh process loads a
/// recommendation model through the core's loader alone, that files written before the split still load, and what
/// happens when the recorded package is absent or is not one of MLNetAudio's.
/// </summary>
public sealed class ModelFormatRegistryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-formats-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ManifestRecordsTheAssemblyOfEachMLNetAudioStage()
    {
        string path = SavePopularity();
        var entries = Manifest(path)["entries"]!.AsArray();
        var stage = entries.Single(e => (string?)e!["kind"] == "MLNetAudio")!;
        Assert.Equal("MLNetAudio.PopularityModel", (string?)stage["format"]);
        Assert.Equal("MLNetAudio.Recommendation", (string?)stage["assembly"]);
        Assert.All(entries.Where(e => (string?)e!["kind"] != "MLNetAudio"), e => Assert.Null(e!["assembly"]));
    }

    [Fact]
    public void FreshProcessLoadsARecommendationModelThroughTheRecordedAssembly()
    {
        string path = SavePopularity();
        string[] lines = FreshProcessLoadTests.RunFreshProcess(FreshProcessEntryPoint.StagesCommand, path, "MLNetAudio.PopularityModel");
        Assert.Equal(
            ["before: MLNetAudio.PopularityModel registered=False",
             "stage: MLNetAudio.Recommendation.PopularityModel from MLNetAudio.Recommendation",
             "after: MLNetAudio.PopularityModel registered=True"],
            lines);
    }

    [Fact]
    public void FreshProcessLoadsAModelWrittenBeforeAssembliesWereRecorded()
    {
        // models/builtin-recommender.zip was written by MLNetAudio 0.1.0, one assembly, no "assembly" in its manifest.
        string model = Path.Combine(TestRepository.Root, "models", "builtin-recommender.zip");
        Assert.DoesNotContain(Manifest(model)["entries"]!.AsArray(), e => e!["assembly"] is not null);
        string[] lines = FreshProcessLoadTests.RunFreshProcess(FreshProcessEntryPoint.StagesCommand, model, "MLNetAudio.MultiUserAudioModel");
        Assert.Equal("before: MLNetAudio.MultiUserAudioModel registered=False", lines[0]);
        Assert.Contains("stage: MLNetAudio.Recommendation.MultiUserAudioModel from MLNetAudio.Recommendation", lines);
    }

    [Fact]
    public void AbsentPackageIsReportedByName()
    {
        string path = SavePopularity();
        RecordStage(path, format: "MLNetAudio.SomeFutureModel", assembly: "MLNetAudio.NotInstalled");
        var e = Assert.Throws<AudioModelFileException>(() => new MLContext(1).Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.MissingPackage, e.Problem);
        Assert.Contains("dotnet add package MLNetAudio.NotInstalled", e.Message, StringComparison.Ordinal);
        Assert.Contains("'MLNetAudio.SomeFutureModel'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AssemblyOutsideMLNetAudioIsNeverLoadedByName()
    {
        string path = SavePopularity();
        RecordStage(path, format: "MLNetAudio.SomeFutureModel", assembly: "System.Private.Xml");
        bool loadedBefore = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "System.Private.Xml");
        var e = Assert.Throws<AudioModelFileException>(() => new MLContext(1).Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.UnknownStageFormat, e.Problem);
        Assert.Equal(loadedBefore, AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "System.Private.Xml"));
    }

    [Fact]
    public void CoreFormatsNeedNoAssemblyName()
    {
        Assert.True(AudioModelFormats.TryGet("MLNetAudio.WindowAggregator", out _));
        Assert.Equal("MLNetAudio", AudioModelFormats.AssemblyOfOlderFormat("MLNetAudio.TimeConvLstmScorer"));
        Assert.Equal("MLNetAudio.Recommendation", AudioModelFormats.AssemblyOfOlderFormat("MLNetAudio.MultiUserAudioModel"));
        Assert.Null(AudioModelFormats.AssemblyOfOlderFormat("MLNetAudio.SomeFutureModel"));
    }

    private string SavePopularity()
    {
        var ml = new MLContext(seed: 1);
        var plays = PlayLogs.Make(ml, 2, 3, (1, 1, 2), (1, 2, 1), (2, 1, 5));
        var model = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(plays);
        string path = Path.Combine(_dir, $"popularity-{Guid.NewGuid():N}.zip");
        ml.Audio().Model.Save(model, plays.Schema, path);
        return path;
    }

    private static JsonNode Manifest(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        return JsonNode.Parse(ModelFiles.ReadEntry(zip.GetEntry("manifest.json")!))!;
    }

    /// <summary>Rewrites the manifest's MLNetAudio stage as if a package this process lacks had written it.</summary>
    private static void RecordStage(string path, string format, string assembly)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.GetEntry("manifest.json")!;
        var manifest = JsonNode.Parse(ModelFiles.ReadEntry(entry))!;
        var stage = manifest["entries"]!.AsArray().Single(e => (string?)e!["kind"] == "MLNetAudio")!;
        stage["format"] = format;
        stage["assembly"] = assembly;
        entry.Delete();
        using var w = zip.CreateEntry("manifest.json").Open();
        w.Write(System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }
}
