// MLNetAudio SeedExperiments: the seed's two feature-check experiments (../shared/seed/METHOD.md), run on the
// library's own pipeline (synthetic notes -> MfccSegmenter -> TimeConvLstm trainer/scorer), with plots and a
// results page.
//
//   export OMP_WAIT_POLICY=PASSIVE; dotnet run --project samples/SeedExperiments -c Release [-- <docs folder>]
//
// Writes <docs folder>/experiments.md and the PNG plots under <docs folder>/experiments/ (default: the repository's
// docs/ folder, found by walking up to MLNetAudio.sln).
using System.Diagnostics;
using System.Globalization;
using MLNetAudio.Experiments;
using MLNetAudio.Features;
using MLNetAudio.Synthesis;
using SeedExperiments;
using TorchSharp;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var clock = Stopwatch.StartNew();

// STEP 1: settings. Two libtorch threads (the 2-core build machine); every run has a fixed seed.
const int Threads = 2;
torch.set_num_threads(Threads);
int[] seeds = [1, 2, 3, 4, 5];
string docs = args.Length > 0 ? Path.GetFullPath(args[0]) : Path.Combine(Report.FindRepositoryRoot(), "docs");
string plots = Path.Combine(docs, "experiments");
Directory.CreateDirectory(plots);

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

string page = Path.Combine(docs, "experiments.md");
string history = File.Exists(page) ? Report.History(File.ReadAllText(page)) : string.Empty;
File.WriteAllText(page, Report.Markdown(experiment1, experiment2, seeds, Threads, clock.Elapsed) + history);
Console.WriteLine($"Wrote {page} and the plots in {plots} ({clock.Elapsed.TotalSeconds:F0} s in all).");
