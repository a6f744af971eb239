// MLNetAudio SeedExperiments: the seed's two feature-check experiments (../shared/seed/METHOD.md), run on the
// library's own pipeline (synthetic notes -> MfccSegmenter -> TimeConvLstm trainer/scorer), with plots and a
// results page.
//
//   export OMP_WAIT_POLICY=PASSIVE; dotnet run --project samples/SeedExperiments -c Release [-- <docs folder>]
//
// Writes <docs folder>/experiments.md and the PNG plots under <docs folder>/experiments/ (default: the repository's
// docs/ folder, found by walking up to MLNetAudio.sln).
//
//   dotnet run --project samples/SeedExperiments -c Release -- variants [--seeds 1,2,3] [--until 23:20] [<docs folder>]
//
// Runs only experiment 2's CNN-only variants (Variants.cs), keeps each finished run in
// <docs folder>/experiments/exp2-variants.tsv (a rerun goes on from there), starts no run after --until (UTC), and
// rewrites only the variants section of experiments.md and its plot.
using System.Diagnostics;
using System.Globalization;
using MLNetAudio.Experiments;
using MLNetAudio.Features;
using MLNetAudio.Samples;
using MLNetAudio.Synthesis;
using SeedExperiments;
using TorchSharp;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
const string Usage = """
    SeedExperiments: the seed's two feature-check experiments on the library's pipeline, with plots and a results page.

    Usage: dotnet run --project samples/SeedExperiments -c Release [-- [variants] [--seeds 1,2,3] [--until HH:MM] [<docs folder>]]
      variants         only experiment 2's CNN-only variants, kept in <docs folder>/experiments/exp2-variants.tsv
      --seeds LIST     the seeds, comma-separated (default 1,2,3,4,5)
      --until HH:MM    start no variant run after this UTC time (with variants)
      <docs folder>    where experiments.md and the plots go (default the repository's docs/)
      --help           this text
    """;
if (SampleCommandLine.WantsHelp(args, Usage))
{
    return 0;
}

int[] seeds = [1, 2, 3, 4, 5];
bool variantsOnly = args.Length > 0 && args[0] == "variants";
DateTime? until = null;
var rest = new List<string>();
try
{
    for (int i = variantsOnly ? 1 : 0; i < args.Length; i++)
    {
        string option = args[i];
        if (option is "--seeds" or "--until" && i + 1 >= args.Length)
        {
            throw new ArgumentException($"{option} needs a value.");
        }

        switch (option)
        {
            case "--seeds":
                seeds = args[++i].Split(',').Select(x => SampleCommandLine.Int("--seeds", x, minimum: 0)).ToArray();
                break;
            case "--until":
                until = DateTime.UtcNow.Date + (TimeSpan.TryParseExact(args[++i], @"hh\:mm", CultureInfo.InvariantCulture, out var time)
                    ? time
                    : throw new ArgumentException($"--until takes a UTC time such as 23:20; found '{args[i]}'."));
                break;
            case ['-', ..]:
                throw new ArgumentException($"unknown option '{option}'.");
            default:
                rest.Add(option);
                break;
        }
    }

    if (rest.Count > 1)
    {
        throw new ArgumentException($"takes one folder at most; found {string.Join(' ', rest)}.");
    }
}
catch (ArgumentException error)
{
    return SampleCommandLine.Fail("SeedExperiments", error);
}

var clock = Stopwatch.StartNew();

// STEP 1: settings. Two libtorch threads (the 2-core build machine); every run has a fixed seed.
const int Threads = 2;
torch.set_num_threads(Threads);
string docs = rest.Count > 0 ? Path.GetFullPath(rest[0]) : Path.Combine(Report.FindRepositoryRoot(), "docs");
string plots = Path.Combine(docs, "experiments");
Directory.CreateDirectory(plots);
string pagePath = Path.Combine(docs, "experiments.md");

if (variantsOnly)
{
    // Seeds outermost: when time runs out every variant has the same seeds done.
    string table = Path.Combine(plots, "exp2-variants.tsv");
    var done = Variants.Read(table).Select(r => (r.Variant, r.Seed)).ToHashSet();
    foreach (int seed in seeds)
    {
        foreach (var variant in Variants.RunOrder.Select(k => Variants.All.Single(v => v.Key == k)))
        {
            if (done.Contains((variant.Key, seed)))
            {
                continue;
            }

            if (until is DateTime stop && DateTime.UtcNow >= stop)
            {
                Console.WriteLine($"--until {stop:HH:mm} UTC reached: {variant.Key} seed {seed} and later runs not started.");
                break;
            }

            var started = Stopwatch.StartNew();
            var result = OrderTimingExperiment.Run(Variants.Options(variant, seed, Threads));
            Variants.Append(table, variant.Key, result, started.Elapsed.TotalSeconds);
            Console.WriteLine($"variant {variant.Key,-12} seed {seed}: CNN {result.Row(OrderTimingTest.AsTrained).Cnn:F3} as trained, "
                + $"{result.Row(OrderTimingTest.GapChanged, -2).Cnn:F3} / {result.Row(OrderTimingTest.GapChanged, -6).Cnn:F3} / {result.Row(OrderTimingTest.GapChanged, -10).Cnn:F3} at gap -2 / -6 / -10  "
                + $"({started.Elapsed.TotalSeconds:F0} s; {clock.Elapsed.TotalSeconds:F0} s in all)");
        }
    }

    var rows = Variants.Read(table);
    Plots.Variants(rows, plots, "exp2-variants-gap");
    string section = Report.VariantsSection(rows, Threads);
    File.WriteAllText(pagePath, Report.WithVariantsSection(File.ReadAllText(pagePath), section));
    Console.WriteLine($"Wrote the variants section of {pagePath} and {Path.Combine(plots, "exp2-variants-gap.png")} ({clock.Elapsed.TotalSeconds:F0} s in all).");
    return 0;
}

// STEP 2: experiment 1, flute (1) vs guitar (0): 10 + 10 training notes, 10 + 10 test notes at unseen pitches;
// the STFT power spectrogram (the seed's input) and MFCC, five seeds each.
var experiment1 = new Dictionary<AudioFeatureKind, List<FluteGuitarResult>>();
foreach (var kind in new[] { AudioFeatureKind.PowerSpectrogram, AudioFeatureKind.Mfcc })
{
    experiment1[kind] = [];
    foreach (int seed in seeds)
    {
        var result = FluteGuitarExperiment.Run(new FluteGuitarOptions { FeatureKind = kind, Seed = seed, Threads = Threads });
        experiment1[kind].Add(result);
        Console.WriteLine($"experiment 1, {kind,-16} seed {seed}: training accuracy {result.TrainingAccuracy:F2}, unseen pitches {result.TestAccuracy:F2}  ({clock.Elapsed.TotalSeconds:F0} s)");
    }
}

// STEP 3: experiment 2, order and timing: A then B = 1, everything else = 0; CNN-only vs CNN+LSTM; the seed's pair
// (flute, guitar) and one it did not try (violin, clarinet); five seeds each.
var experiment2 = new List<(Instrument A, Instrument B, List<OrderTimingResult> Runs)>();
foreach (var (a, b) in new[] { (Instrument.Flute, Instrument.Guitar), (Instrument.Violin, Instrument.Clarinet) })
{
    var runs = new List<OrderTimingResult>();
    foreach (int seed in seeds)
    {
        var result = OrderTimingExperiment.Run(Report.Experiment2Options(a, b, seed, Threads));
        runs.Add(result);
        Console.WriteLine($"experiment 2, {a} then {b}, seed {seed}: CNN {result.Row(OrderTimingTest.AsTrained).Cnn:F3} / CNN+LSTM {result.Row(OrderTimingTest.AsTrained).CnnLstm:F3} on A then B, "
            + $"{result.Row(OrderTimingTest.BThenA).Cnn:F3} / {result.Row(OrderTimingTest.BThenA).CnnLstm:F3} on B then A  ({clock.Elapsed.TotalSeconds:F0} s)");
    }

    experiment2.Add((a, b, runs));
}

// STEP 4: plots and the results page.
Plots.Experiment1(experiment1[AudioFeatureKind.PowerSpectrogram][0], plots, "exp1-power");
Plots.Experiment1(experiment1[AudioFeatureKind.Mfcc][0], plots, "exp1-mfcc");
foreach (var (a, b, runs) in experiment2)
{
    Plots.Experiment2(runs, plots, $"exp2-{a}-{b}".ToLowerInvariant(), $"{a} then {b}", a == Instrument.Flute);
}

string old = File.Exists(pagePath) ? File.ReadAllText(pagePath) : string.Empty;
string fresh = Report.Markdown(experiment1, experiment2, seeds, Threads, clock.Elapsed) + Report.History(old);
File.WriteAllText(pagePath, Report.VariantsSectionOf(old) is { } carried ? Report.WithVariantsSection(fresh, carried) : fresh);
Console.WriteLine($"Wrote {pagePath} and the plots in {plots} ({clock.Elapsed.TotalSeconds:F0} s in all).");
return 0;
