using System.Diagnostics;
using System.Text;
using System.Xml.Linq;
using MLNetAudio.Tests.Scoring;

namespace MLNetAudio.Tests.Packaging;

/// <summary>
/// The package as an outside project gets it: <c>dotnet pack</c> of src/MLNetAudio into a local folder feed, then a
/// new console project outside this repository (so none of its Directory.Build files apply) that references the
/// package and <c>libtorch-cpu-linux-x64</c>, restores, builds and runs the README's pipeline through the public API
/// only. On Debian 12 TorchSharp's native library loads only because the package's buildTransitive targets mark its
/// GLIBCXX_3.4.32 requirement weak in the consumer's output; before they travelled with the package, the first
/// <c>Fit</c> threw from <c>TorchSharp.torch</c>'s type initializer.
/// </summary>
public sealed class PackageConsumerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "consumer-" + Guid.NewGuid().ToString("N"));
    private readonly string _version = "0.0.0-test." + Guid.NewGuid().ToString("N")[..12];

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
        string cached = Path.Combine(
            Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
            "mlnetaudio",
            _version);
        if (Directory.Exists(cached))
        {
            Directory.Delete(cached, recursive: true);
        }
    }

    [Fact]
    public void AnOutsideProjectRestoresThePackageAndTrainsAndScoresThroughIt()
    {
        string repo = RepositoryRoot();
        string feed = Path.Combine(_dir, "feed");
        string app = Path.Combine(_dir, "app");
        Directory.CreateDirectory(app);
#if DEBUG
        const string Configuration = "Debug";
#else
        const string Configuration = "Release";
#endif

        // The library as built for this test run, packed under a version no cache has seen.
        Run(repo, "pack", Path.Combine(repo, "src", "MLNetAudio", "MLNetAudio.csproj"), "--no-build", "-c", Configuration, "-o", feed, $"-p:Version={_version}", "-nologo");
        string package = Path.Combine(feed, $"MLNetAudio.{_version}.nupkg");
        Assert.True(File.Exists(package), $"dotnet pack made no {package}");
        using (var zip = System.IO.Compression.ZipFile.OpenRead(package))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            Assert.Contains("buildTransitive/MLNetAudio.targets", entries);
            Assert.Contains("lib/net10.0/MLNetAudio.dll", entries);
            Assert.Contains("lib/net10.0/MLNetAudio.xml", entries);
            Assert.Contains("README.md", entries);
        }

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
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <SatelliteResourceLanguages>en</SatelliteResourceLanguages>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="MLNetAudio" Version="{_version}" />
                <PackageReference Include="libtorch-cpu-linux-x64" Version="{libtorch}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Microsoft.ML;
            using Microsoft.ML.Data;
            using MLNetAudio;
            using MLNetAudio.Audio;
            using MLNetAudio.Features;
            using MLNetAudio.Scoring;

            var ml = new MLContext(seed: 1);
            var songs = args.Select(p => new Song(p, Path.GetFileName(p).StartsWith("flute", StringComparison.Ordinal))).ToList();
            var data = ml.Data.LoadFromEnumerable(songs);
            var model = ml.Transforms.LoadAudio("Audio", "Path")
                .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"))
                .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions { LabelColumnName = "Likes", FeatureColumnName = "Windows", Epochs = 2, Device = TorchDevice.Cpu }))
                .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { DurationColumnName = "Audio.Duration" }))
                .Fit(data);
            foreach (float score in model.Transform(data).GetColumn<float>("Score"))
            {
                Console.WriteLine(FormattableString.Invariant($"score {score:0.0000}"));
            }

            internal sealed record Song(string Path, bool Likes);
            """);

        string[] clips = ["flute-melody.ogg", "guitar-melody.ogg", "piano-chords.ogg"];
        var output = Run(app, ["run", "-c", "Release", "-v", "m", "--", .. clips.Select(c => Path.Combine(RealClipPipeline.ClipFolder, c))]);
        var scores = output.Where(l => l.StartsWith("score ", StringComparison.Ordinal)).Select(l => float.Parse(l[6..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(scores.Length == clips.Length, $"expected {clips.Length} scores from the consumer; its output:\n{string.Join('\n', output.TakeLast(40))}");
        Assert.All(scores, s => Assert.InRange(s, 0f, 1f));

        // Where the system's libstdc++ lacks GLIBCXX_3.4.32 (Debian 12), the package's targets did the work.
        if (!File.ReadAllText("/usr/lib/x86_64-linux-gnu/libstdc++.so.6").Contains("GLIBCXX_3.4.32", StringComparison.Ordinal))
        {
            Assert.Contains(output, l => l.Contains("WeakenElfVersionNeed: marked GLIBCXX_3.4.32 weak", StringComparison.Ordinal));
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MLNetAudio.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No MLNetAudio.sln above {AppContext.BaseDirectory}: the packaging test runs from a build of this repository.");
    }

    // Runs dotnet with a time limit; fails with the tail of its output when it fails.
    private static List<string> Run(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
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
            Assert.Fail($"dotnet {string.Join(' ', args)} ran over 8 minutes");
        }

        process.WaitForExit();
        var text = new StringBuilder();
        lock (sync)
        {
            text.AppendJoin('\n', lines.Where(l => !l.Contains("/reference:", StringComparison.Ordinal)).TakeLast(25));
        }

        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited with {process.ExitCode}:\n{text}");
        return lines;
    }
}
