using System.Diagnostics;
using System.Text;
using System.Xml.Linq;
using MLNetAudio.Tests.Scoring;

namespace MLNetAudio.Tests.Packaging;

/// <summary>
/// The packages as an outside project gets them: <c>dotnet pack</c> of the four library packages into a local folder
/// feed, then new console projects outside this repository (so none of its Directory.Build files apply and no
/// InternalsVisibleTo reaches them) that reference the packages and <c>libtorch-cpu-linux-x64</c>, restore, build
/// and run through the public API only: the README pipeline, save/load, ONNX export, and a recommendation model saved
/// in one process and loaded in another. A second project that references only MLNetAudio is told which package
/// the recommendation model needs. On Debian 12 TorchSharp's native library loads only because the core package's
/// buildTransitive targets mark its GLIBCXX_3.4.32 requirement weak in the consumer's output, also when the core
/// comes only transitively; before they travelled with the package, the first <c>Fit</c> threw from
/// <c>TorchSharp.torch</c>'s type initializer.
/// </summary>
public sealed class PackageConsumerTests : IDisposable
{
    private static readonly string[] LibraryPackages = ["MLNetAudio", "MLNetAudio.Recommendation", "MLNetAudio.Onnx", "MLNetAudio.Synthesis"];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "consumer-" + Guid.NewGuid().ToString("N"));
    private readonly string _version = "0.0.0-test." + Guid.NewGuid().ToString("N")[..12];

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover folder in the temp dir does no harm.
        }

        // The restore put this one-off version in the global packages folder: take it out again.
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (string id in LibraryPackages.Append("MLNetAudio.Cli"))
        {
            string cached = Path.Combine(packages, id.ToLowerInvariant(), _version);
            if (Directory.Exists(cached))
            {
                Directory.Delete(cached, recursive: true);
            }
        }
    }

    [Fact]
    public void OutsideProjectsRestoreThePackagesAndTrainScoreSaveLoadAndRecommendThroughThem()
    {
        string repo = TestRepository.Root;
        string feed = Path.Combine(_dir, "feed");

        // The libraries as built for this test run, packed under a version no cache has seen.
        foreach (string id in LibraryPackages)
        {
            Run(repo, "pack", Path.Combine(repo, "src", id, id + ".csproj"), "--no-build", "-c", Configuration, "-o", feed, $"-p:Version={_version}", "-nologo");
            string package = Path.Combine(feed, $"{id}.{_version}.nupkg");
            Assert.True(File.Exists(package), $"dotnet pack made no {package}");
            Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), $"dotnet pack made no symbols package beside {package}");
            using var zip = System.IO.Compression.ZipFile.OpenRead(package);
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            Assert.Contains($"lib/net10.0/{id}.dll", entries);
            Assert.Contains($"lib/net10.0/{id}.xml", entries);
            Assert.Contains("README.md", entries);
            Assert.Equal(id == "MLNetAudio", entries.Contains("buildTransitive/MLNetAudio.targets"));
            string nuspec = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open()).ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", nuspec, StringComparison.Ordinal);
            Assert.Contains("<repository type=\"git\"", nuspec, StringComparison.Ordinal);
            // Each package depends only on what it uses: no LightGBM, ONNX or NWaves in the core.
            if (id == "MLNetAudio")
            {
                Assert.DoesNotContain("LightGbm", nuspec, StringComparison.Ordinal);
                Assert.DoesNotContain("OnnxSharp", nuspec, StringComparison.Ordinal);
                Assert.DoesNotContain("NWaves", nuspec, StringComparison.Ordinal);
            }
        }

        // The full consumer: every package but Synthesis. MLNetAudio itself comes transitively (as a user who adds
        // only MLNetAudio.Recommendation gets it), so its buildTransitive targets must still run.
        string app = NewConsumer("app", feed, ["MLNetAudio.Recommendation", "MLNetAudio.Onnx"], FullConsumerProgram);
        string[] clips = ["flute-melody.ogg", "guitar-melody.ogg", "piano-chords.ogg"];
        string work = Path.Combine(_dir, "work");
        Directory.CreateDirectory(work);
        var output = Run(app, ["run", "-c", "Release", "-v", "m", "--", "train", work, .. clips.Select(c => Path.Combine(RealClipPipeline.ClipFolder, c))]);
        var scores = Values(output, "score ");
        Assert.True(scores.Length == clips.Length, $"expected {clips.Length} scores from the consumer; its output:\n{string.Join('\n', output.TakeLast(40))}");
        Assert.All(scores, s => Assert.InRange(float.Parse(s, System.Globalization.CultureInfo.InvariantCulture), 0f, 1f));
        Assert.Equal(scores, Values(output, "loaded-score "));
        Assert.Contains("onnx Windows -> Score, 400 x 20", output);
        string[] recommended = Values(output, "recommend ");
        Assert.NotEmpty(recommended);

        // Where the system's libstdc++ lacks GLIBCXX_3.4.32 (Debian 12), the package's targets did the work.
        if (!File.ReadAllText("/usr/lib/x86_64-linux-gnu/libstdc++.so.6").Contains("GLIBCXX_3.4.32", StringComparison.Ordinal))
        {
            Assert.Contains(output, l => l.Contains("WeakenElfVersionNeed: marked GLIBCXX_3.4.32 weak", StringComparison.Ordinal));
        }

        // A new process loads the recommendation model before touching any recommendation type, and recommends the
        // same; the repository's model written before the split into packages loads through them too.
        string builtin = Path.Combine(repo, "models", "builtin-recommender.zip");
        var loaded = Run(app, "run", "-c", "Release", "--no-build", "--", "load", Path.Combine(work, "rec.zip"), builtin);
        Assert.Equal(recommended, Values(loaded, "recommend "));
        Assert.Contains(loaded, l => l.StartsWith("builtin MLNetAudio.Recommendation.MultiUserAudioModel", StringComparison.Ordinal));

        // Only the core package: the recommendation model names the package to add.
        string core = NewConsumer("core-only", feed, ["MLNetAudio"], CoreOnlyProgram);
        var refused = Run(core, "run", "-c", "Release", "-v", "q", "--", Path.Combine(work, "rec.zip"));
        Assert.Contains(refused, l => l.StartsWith("MissingPackage: ", StringComparison.Ordinal)
            && l.Contains("dotnet add package MLNetAudio.Recommendation", StringComparison.Ordinal));
    }

    [Fact]
    public void TheCommandLineInstallsFromTheFeedAsADotnetToolAndScores()
    {
        string repo = TestRepository.Root;
        string feed = Path.Combine(_dir, "tool-feed");
        string tools = Path.Combine(_dir, "tools");
        Run(repo, "pack", Path.Combine(repo, "src", "MLNetAudio.Cli", "MLNetAudio.Cli.csproj"), "--no-build", "-c", Configuration, "-o", feed, $"-p:Version={_version}", "-nologo");
        Run(_dir, "tool", "install", "MLNetAudio.Cli", "--tool-path", tools, "--add-source", feed, "--version", _version);
        string tool = Path.Combine(tools, "mlnet-audio");

        var help = RunProgram(tool, _dir, "--help");
        Assert.Contains(help, l => l.Contains("recommend", StringComparison.Ordinal));

        // The shipped taste model scores the built-in catalog as models/flute-taste.md says: the flute song first.
        string scores = Path.Combine(_dir, "scores.csv");
        RunProgram(tool, _dir, "score", "--model", Path.Combine(repo, "models", "flute-taste.zip"), "--songs", Path.Combine(repo, "models", "builtin-catalog.csv"), "--out", scores);
        var rows = File.ReadAllLines(scores).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(6, rows.Count);
        Assert.Equal("flute-melody", rows.MaxBy(r => float.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture))![0]);

        string recs = Path.Combine(_dir, "recs.csv");
        RunProgram(tool, _dir, "recommend", "--model", Path.Combine(repo, "models", "builtin-recommender.zip"), "--user", "ana", "--k", "3", "--out", recs);
        Assert.Equal(4, File.ReadAllLines(recs).Length);

        // The installed tool also trains: a taste model from four labelled clips, which then scores the catalog.
        string catalog = Path.Combine(_dir, "tool-catalog.csv");
        File.WriteAllLines(catalog, ["SongId,Path", .. new[] { "flute-melody", "guitar-melody", "piano-chords", "marimba-melody" }
            .Select(c => $"{c},{Path.Combine(RealClipPipeline.ClipFolder, c + ".ogg")}")]);
        string labels = Path.Combine(_dir, "tool-labels.csv");
        File.WriteAllLines(labels, ["SongId,Label", "flute-melody,1", "guitar-melody,0", "piano-chords,0", "marimba-melody,0"]);
        string taste = Path.Combine(_dir, "tool-taste.zip");
        RunProgram(tool, _dir, "train", "--songs", catalog, "--labels", labels, "--model", taste, "--epochs", "2", "--max-seconds", "12");
        string own = Path.Combine(_dir, "tool-scores.csv");
        RunProgram(tool, _dir, "score", "--model", taste, "--songs", catalog, "--out", own);
        var ownRows = File.ReadAllLines(own).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(4, ownRows.Count);
        Assert.All(ownRows, r => Assert.True(float.TryParse(r[1], System.Globalization.CultureInfo.InvariantCulture, out float v) && v is >= 0 and <= 1, string.Join(',', r)));
    }

    private const string FullConsumerProgram = """
        using System.Globalization;
        using Microsoft.ML;
        using Microsoft.ML.Data;
        using MLNetAudio;
        using MLNetAudio.Data;
        using MLNetAudio.Recommendation;
        using MLNetAudio.Scoring;

        var ml = new MLContext(seed: 1);
        if (args[0] == "load")
        {
            // Nothing but the core's loader before the recommendation model is in memory.
            var rec = ml.Audio().Model.Load(args[1], out _);
            PrintRecommendations(rec);
            var builtin = ml.Audio().Model.Load(args[2], out _);
            foreach (var stage in AudioModelCatalog.Flatten(builtin))
            {
                Console.WriteLine($"builtin {stage.GetType().FullName}");
            }

            return;
        }

        string work = args[1];
        var songs = args[2..].Select(p => new Song(p, Path.GetFileName(p).StartsWith("flute", StringComparison.Ordinal))).ToList();
        var data = ml.Data.LoadFromEnumerable(songs);
        var model = ml.Transforms.LoadAudio("Audio", "Path")
            .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"))
            .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions { LabelColumnName = "Likes", FeatureColumnName = "Windows", Epochs = 2, Device = TorchDevice.Cpu }))
            .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { DurationColumnName = "Audio.Duration" }))
            .Fit(data);
        foreach (float score in model.Transform(data).GetColumn<float>("Score"))
        {
            Console.WriteLine($"score {score.ToString("R", CultureInfo.InvariantCulture)}");
        }

        string taste = Path.Combine(work, "taste.zip");
        ml.Audio().Model.Save(model, data.Schema, taste);
        var loadedTaste = ml.Audio().Model.Load(taste, out var schema);
        foreach (float score in loadedTaste.Transform(data).GetColumn<float>("Score"))
        {
            Console.WriteLine($"loaded-score {score.ToString("R", CultureInfo.InvariantCulture)}");
        }

        var scorer = AudioModelCatalog.Flatten(loadedTaste).OfType<TimeConvLstmScorer>().Single();
        var onnx = ml.Audio().Model.ExportOnnx(scorer, Path.Combine(work, "scorer.onnx"));
        Console.WriteLine($"onnx {onnx.InputName} -> {onnx.OutputName}, {onnx.FramesPerWindow} x {onnx.Coefficients}");

        // A play log with text ids, keyed as ML.NET users do, and a matrix factorization model saved beside the pipeline.
        var log = ml.Data.LoadFromEnumerable(new[]
        {
            new Play("ana", "flute", 5), new Play("ana", "strings", 2), new Play("ben", "guitar", 4),
            new Play("ben", "piano", 3), new Play("cy", "piano", 2), new Play("cy", "marimba", 6), new Play("dee", "flute", 1),
        });
        var keyed = ml.Transforms.Conversion.MapValueToKey("UserKey", "UserId")
            .Append(ml.Transforms.Conversion.MapValueToKey("SongKey", "SongId")).Fit(log);
        var plays = keyed.Transform(log);
        var recommender = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization("Plays", "UserKey", "SongKey", approximationRank: 2, numberOfIterations: 3).Fit(plays);
        ml.Audio().Model.Save(keyed.Append(recommender), log.Schema, Path.Combine(work, "rec.zip"));
        PrintRecommendations(keyed.Append(recommender));

        static void PrintRecommendations(ITransformer model)
        {
            var mf = AudioModelCatalog.Flatten(model).OfType<SongRecommenderModel>().Single();
            foreach (uint user in new uint[] { 1, 2, 3, 4 })
            {
                foreach (var r in mf.Recommend(user, k: 3))
                {
                    Console.WriteLine($"recommend {user} {r.SongKey} {r.Score.ToString("R", CultureInfo.InvariantCulture)}");
                }
            }
        }

        internal sealed record Song(string Path, bool Likes);

        internal sealed record Play(string UserId, string SongId, float Plays);
        """;

    private const string CoreOnlyProgram = """
        using Microsoft.ML;
        using MLNetAudio;
        using MLNetAudio.Data;

        try
        {
            new MLContext(seed: 1).Audio().Model.Load(args[0], out _);
            Console.WriteLine("loaded");
        }
        catch (AudioModelFileException e)
        {
            Console.WriteLine($"{e.Problem}: {e.Message}");
        }
        """;

    /// <summary>Writes a console project outside the repository that references <paramref name="packages"/> from the feed.</summary>
    private string NewConsumer(string name, string feed, string[] packages, string program)
    {
        string repo = TestRepository.Root;
        string app = Path.Combine(_dir, name);
        Directory.CreateDirectory(app);
        string libtorch = XDocument.Load(Path.Combine(repo, "Directory.Packages.props")).Descendants("PackageVersion")
            .Single(e => (string?)e.Attribute("Include") == "libtorch-cpu-linux-x64").Attribute("Version")!.Value;
        File.WriteAllText(Path.Combine(app, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local-test-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        string references = string.Join("\n", packages.Select(p => $"    <PackageReference Include=\"{p}\" Version=\"{_version}\" />"));
        File.WriteAllText(Path.Combine(app, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <SatelliteResourceLanguages>en</SatelliteResourceLanguages>
              </PropertyGroup>
              <ItemGroup>
            {references}
                <PackageReference Include="libtorch-cpu-linux-x64" Version="{libtorch}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), program);
        return app;
    }

    /// <summary>The rest of each output line that starts with <paramref name="prefix"/>.</summary>
    private static string[] Values(IEnumerable<string> output, string prefix) =>
        output.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l[prefix.Length..]).ToArray();

    // Runs dotnet with a time limit; fails with the tail of its output when it fails.
    private static List<string> Run(string workingDirectory, params string[] args) => RunProgram("dotnet", workingDirectory, args);

    // Runs a program with a time limit; fails with the tail of its output when it fails.
    private static List<string> RunProgram(string program, string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        // The consumer must not see this repository's build settings through the environment either.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var lines = new List<string>();
        using var process = new Process { StartInfo = start };
        var sync = new object();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (sync) { lines.Add(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (sync) { lines.Add(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} ran over 8 minutes");
        }

        process.WaitForExit();
        var text = new StringBuilder();
        lock (sync)
        {
            text.AppendJoin('\n', lines.Where(l => !l.Contains("/reference:", StringComparison.Ordinal)).TakeLast(25));
        }

        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)} exited with {process.ExitCode}:\n{text}");
        return lines;
    }
}
