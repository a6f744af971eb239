using System.Globalization;
using MLNetAudio.Experiments;
using MLNetAudio.Synthesis;

namespace SeedExperiments;

/// <summary>One design of experiment 2's CNN-only model or data, tried as a possible cause of the seed's collapse under small shifts.</summary>
/// <param name="Key">Short name (file rows, command line).</param>
/// <param name="Name">What changes, for tables.</param>
/// <param name="Apply">Changes the full run's options (<see cref="Report.Experiment2Options"/>) into this variant's.</param>
internal sealed record Experiment2Variant(string Key, string Name, Action<OrderTimingOptions> Apply);

/// <summary>
/// The variants of issue 12, item 4, declared before any of them ran: every one changes one thing of the default
/// design (or two, for the combination), and none was tuned on its results.
/// </summary>
internal static class Variants
{
    /// <summary>
    /// Short events: A and B last 50 frames (1 s) instead of 120, with A's end (frame 160), the 40-frame gap and B's
    /// start (frame 200) where the default layout has them, so only the events' lengths change.
    /// </summary>
    public static readonly PairLayout ShortEvents = new() { TotalFrames = 400, FirstStartFrame = 110, FirstFrames = 50, GapFrames = 40, SecondFrames = 50 };

    /// <summary>Every variant, in table order; the default design first.</summary>
    public static readonly Experiment2Variant[] All =
    [
        new("default", "the default design: 3 pooling layers of 2 (8 frames per step)", _ => { }),
        new("pool2", "2 pooling layers of 2 (4 frames per step)", o => o.Network = o.Network with { PoolingLayers = 2 }),
        new("pool1", "1 pooling layer of 2 (2 frames per step)", o => o.Network = o.Network with { PoolingLayers = 1 }),
        new("pool0", "no pooling: head over un-pooled features (1 frame per step)", o => o.Network = o.Network with { PoolingLayers = 0 }),
        new("size4", "3 pooling layers of 4 (64 frames per step)", o => o.Network = o.Network with { PoolingSize = 4 }),
        new("short", "short events (A, B 50 frames), default network", o => o.Layout = ShortEvents),
        new("short-pool0", "short events and no pooling", o =>
        {
            o.Layout = ShortEvents;
            o.Network = o.Network with { PoolingLayers = 0 };
        }),

        // Added after the first run (pool0, seed 1) had finished, before any other result: METHOD.md says the seed's
        // feature-check experiments used the STFT power spectrogram, and its training set size is unknown.
        new("power", "STFT power spectrogram input (FFT 512, 257 bins, as in experiment 1), default network", o =>
        {
            o.FeatureKind = MLNetAudio.Features.AudioFeatureKind.PowerSpectrogram;
            o.FftSize = 512;
        }),
        new("power-pool0", "power spectrogram and no pooling", o =>
        {
            o.FeatureKind = MLNetAudio.Features.AudioFeatureKind.PowerSpectrogram;
            o.FftSize = 512;
            o.Network = o.Network with { PoolingLayers = 0 };
        }),
        new("few", "few training clips: 10 of A then B and 2 of each other arrangement, default network", o =>
        {
            o.PositiveClips = 10;
            o.NegativeClipsPerKind = 2;
        }),
    ];

    /// <summary>The order the runs go in when time is short: the variants most likely to tie the head to exact positions first.</summary>
    public static readonly string[] RunOrder = ["pool0", "pool1", "short", "short-pool0", "pool2", "default", "size4", "few", "power", "power-pool0"];

    /// <summary>Options of one variant and seed: the full run's flute-then-guitar settings, CNN-only, with the variant's change.</summary>
    public static OrderTimingOptions Options(Experiment2Variant variant, int seed, int threads)
    {
        var options = Report.Experiment2Options(Instrument.Flute, Instrument.Guitar, seed, threads);
        options.TrainCnnLstm = false;
        variant.Apply(options);
        return options;
    }

    /// <summary>
    /// Results kept one line per (variant, seed, condition) in a tab-separated file beside the plots, so a run that is
    /// stopped keeps what it finished and the next run goes on from there.
    /// </summary>
    public static List<VariantRow> Read(string path) =>
        !File.Exists(path)
            ? []
            : File.ReadLines(path).Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')).Select(f => new VariantRow(
                f[0], int.Parse(f[1], CultureInfo.InvariantCulture), Enum.Parse<OrderTimingTest>(f[2]), int.Parse(f[3], CultureInfo.InvariantCulture),
                double.Parse(f[4], CultureInfo.InvariantCulture), double.Parse(f[5], CultureInfo.InvariantCulture), double.Parse(f[6], CultureInfo.InvariantCulture))).ToList();

    /// <summary>Appends one run's rows (writing the header first when the file is new).</summary>
    public static void Append(string path, string key, OrderTimingResult result, double seconds)
    {
        var lines = new List<string>();
        if (!File.Exists(path))
        {
            lines.Add("variant\tseed\ttest\tgap_change\tcnn_mean\tcnn_training_accuracy\tseconds");
        }

        lines.AddRange(result.Rows.Select(r => string.Join('\t', key, result.Options.Seed.ToString(CultureInfo.InvariantCulture), r.Test, r.GapChange.ToString(CultureInfo.InvariantCulture),
            r.Cnn.ToString("R", CultureInfo.InvariantCulture), result.CnnTrainingAccuracy.ToString("R", CultureInfo.InvariantCulture), seconds.ToString("F1", CultureInfo.InvariantCulture))));
        File.AppendAllLines(path, lines);
    }
}

/// <summary>One line of the variants' results file.</summary>
internal sealed record VariantRow(string Variant, int Seed, OrderTimingTest Test, int GapChange, double Cnn, double TrainingAccuracy, double Seconds);
