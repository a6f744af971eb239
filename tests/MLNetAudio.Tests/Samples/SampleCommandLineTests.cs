namespace MLNetAudio.Tests.Samples;

/// <summary>
/// The console samples (QuickStart, SeedExperiments, HybridRecommender, RealMusic) run as processes, as a user would
/// start them: --help prints the usage and exits 0; a misspelt option, a missing or bad value exits 2 with one line
/// naming the option and the value found, no stack trace, before any work (no output folder, no training).
/// </summary>
public sealed class SampleCommandLineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "samples-" + Guid.NewGuid().ToString("N"));

    public SampleCommandLineTests() => Directory.CreateDirectory(_dir);

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
    }

    [Theory]
    [InlineData("QuickStart", "<output folder>")]
    [InlineData("SeedExperiments", "--seeds LIST")]
    [InlineData("HybridRecommender", "--songs-per-user N")]
    [InlineData("RealMusic", "--direction-weight W")]
    public void Help_prints_the_options_and_exits_0(string sample, string option)
    {
        var run = Run(sample, "--help");
        Assert.True(run.ExitCode == 0, run.Describe());
        Assert.Contains(option, run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Usage:", run.Stdout, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("QuickStart", new[] { "--bogus" }, new[] { "unknown option '--bogus'" })]
    [InlineData("QuickStart", new[] { "a", "b" }, new[] { "at most one argument", "a b" })]
    [InlineData("SeedExperiments", new[] { "--bogus" }, new[] { "unknown option '--bogus'" })]
    [InlineData("SeedExperiments", new[] { "--seeds" }, new[] { "--seeds needs a value" })]
    [InlineData("SeedExperiments", new[] { "--seeds", "1,x" }, new[] { "--seeds", "'x'" })]
    [InlineData("SeedExperiments", new[] { "variants", "--until", "25:00" }, new[] { "--until", "'25:00'" })]
    [InlineData("HybridRecommender", new[] { "--bogus", "1" }, new[] { "Unknown option '--bogus'", "--songs-per-user" })]
    [InlineData("HybridRecommender", new[] { "--songs" }, new[] { "'--songs' has none" })]
    [InlineData("HybridRecommender", new[] { "--songs", "many" }, new[] { "--songs takes a whole number", "'many'" })]
    [InlineData("HybridRecommender", new[] { "--size", "huge" }, new[] { "--size takes small or benchmark", "'huge'" })]
    [InlineData("HybridRecommender", new[] { "--aggregation", "median" }, new[] { "--aggregation takes one of mean, max", "'median'" })]
    [InlineData("HybridRecommender", new[] { "--negatives", "0" }, new[] { "--negatives", "at least 1", "'0'" })]
    [InlineData("HybridRecommender", new[] { "--rhythm-weight", "NaN" }, new[] { "--rhythm-weight", "'NaN'" })]
    [InlineData("RealMusic", new[] { "--bogus", "1" }, new[] { "unknown option '--bogus'" })]
    [InlineData("RealMusic", new[] { "--seed" }, new[] { "--seed needs a value" })]
    [InlineData("RealMusic", new[] { "--seed", "one" }, new[] { "--seed takes a whole number", "'one'" })]
    [InlineData("RealMusic", new[] { "--taste", "jazz" }, new[] { "--taste takes soundtrack or order", "'jazz'" })]
    [InlineData("RealMusic", new[] { "--plays", "0" }, new[] { "--plays", "at least 1", "'0'" })]
    [InlineData("RealMusic", new[] { "--direction-weight", "-1" }, new[] { "--direction-weight", "at least 0", "'-1'" })]
    public void A_bad_option_exits_2_naming_it_before_any_work(string sample, string[] args, string[] fragments)
    {
        var run = Run(sample, args);
        Assert.True(run.ExitCode == 2, run.Describe());
        foreach (string fragment in fragments)
        {
            Assert.Contains(fragment, run.Stderr, StringComparison.Ordinal);
        }

        Assert.Contains("--help", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir)); // no output folder made, nothing written
    }

    private SampleRun Run(string sample, params string[] args)
    {
        var (started, stdout, stderr) = ToolProcess.Start(ToolProcess.BuiltDll(Path.Combine("samples", sample), sample), _dir, args);
        using var process = started;
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{sample} {string.Join(' ', args)} still ran after 2 minutes: the command line was not refused before the work");
        }

        process.WaitForExit();
        return new SampleRun(sample, args, process.ExitCode, stdout.Result, stderr.Result);
    }

    private sealed record SampleRun(string Sample, string[] Args, int ExitCode, string Stdout, string Stderr)
    {
        public string Describe() => $"{Sample} {string.Join(' ', Args)} exited with {ExitCode}:\n{Stdout}\n{Stderr}";
    }
}
