using Microsoft.ML;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using MLNetAudio.Synthesis;

namespace MLNetAudio.Experiments;

/// <summary>Settings of the seed's experiment 2 (<see cref="OrderTimingExperiment"/>). Every field is checked; all bad ones are reported at once.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "ML.NET's options convention: public fields with inline defaults.")]
public sealed class OrderTimingOptions
{
    /// <summary>Instrument A (first in the liked arrangement). Default flute.</summary>
    public Instrument A = Instrument.Flute;

    /// <summary>Instrument B (second in the liked arrangement). Default guitar.</summary>
    public Instrument B = Instrument.Guitar;

    /// <summary>Where the two events sit; the clip is exactly one window. Default <see cref="PairLayout"/>'s (8 s, A at frame 40 for 120 frames, gap 40, B for 120).</summary>
    public PairLayout Layout = new();

    /// <summary>Training clips of A then B (label 1). Default 30.</summary>
    public int PositiveClips = 30;

    /// <summary>Training clips of each other arrangement (B then A, A alone, B alone, A then A, B then B; label 0). Default 6 (30 in all).</summary>
    public int NegativeClipsPerKind = 6;

    /// <summary>Fresh clips scored per test condition. Default 20.</summary>
    public int TestClips = 20;

    /// <summary>Changes of the gap to test, in frames (negative: shorter, B earlier). Default -2, -6, -10, -50 (the seed's) and +2, +6, +10, +50.</summary>
    public int[] GapChanges = [-2, -6, -10, -50, 2, 6, 10, 50];

    /// <summary>What the network sees. Default <see cref="AudioFeatureKind.Mfcc"/> (the seed's model input), 20 coefficients.</summary>
    public AudioFeatureKind FeatureKind = AudioFeatureKind.Mfcc;

    /// <summary>FFT size of the features. Default 2048.</summary>
    public int FftSize = 2048;

    /// <summary>Network and training settings shared by both models. Default <see cref="ExperimentNetwork"/>'s defaults.</summary>
    public ExperimentNetwork Network = new();

    /// <summary>
    /// Whether to train and score the CNN+LSTM model too. Default true. False runs the CNN-only model alone (for
    /// studies of its head and pooling); the rows' <see cref="OrderTimingRow.CnnLstm"/> and the LSTM's training
    /// accuracy are then NaN. The CNN-only model's numbers do not depend on this setting.
    /// </summary>
    public bool TrainCnnLstm = true;

    /// <summary>Seed of the clips and of both networks' initialisation and shuffling. Default 1.</summary>
    public int Seed = 1;

    /// <summary>libtorch threads while training. Default 1.</summary>
    public int Threads = 1;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field (a gap change that pushes B outside the clip included).</summary>
    public void Validate()
    {
        var e = new OptionErrors(nameof(OrderTimingOptions));
        e.Check(A == B, nameof(B), $"must differ from A ({A}): the experiment tells their order apart.")
         .Check(Layout is null, nameof(Layout), "must be set.")
         .Check(PositiveClips < 1, nameof(PositiveClips), $"must be at least 1; got {PositiveClips}.")
         .Check(NegativeClipsPerKind < 1, nameof(NegativeClipsPerKind), $"must be at least 1; got {NegativeClipsPerKind}.")
         .Check(TestClips < 1, nameof(TestClips), $"must be at least 1; got {TestClips}.")
         .Check(GapChanges is null, nameof(GapChanges), "must be set (it may be empty).")
         .Check(!Enum.IsDefined(FeatureKind), nameof(FeatureKind), $"unknown value {(int)FeatureKind}.")
         .Check(FftSize is < 64 or > 8192, nameof(FftSize), $"must be 64 to 8192; got {FftSize}.")
         .Check(Network is null, nameof(Network), "must be set.")
         .Check(Threads < 1, nameof(Threads), $"must be at least 1; got {Threads}.");
        Network?.Validate(e, nameof(Network) + ".");
        if (Layout is not null && GapChanges is not null)
        {
            foreach (int change in GapChanges.Prepend(0))
            {
                var shifted = Layout.WithGapChangedBy(change);
                e.Check(shifted.SecondStartFrame < 0 || shifted.SecondStartFrame + shifted.SecondFrames > shifted.TotalFrames, nameof(GapChanges),
                    $"a gap change of {change} frames puts B at frames {shifted.SecondStartFrame}-{shifted.SecondStartFrame + shifted.SecondFrames}, outside the {Layout.TotalFrames}-frame clip.");
            }
        }

        e.ThrowIfAny();
    }
}

/// <summary>What a test condition of experiment 2 holds.</summary>
public enum OrderTimingTest
{
    /// <summary>A then B in the trained layout (fresh notes): label 1 in training.</summary>
    AsTrained,

    /// <summary>Fresh clips of every arrangement labelled 0 in training (B then A, A alone, B alone, A then A, B then B, in turn).</summary>
    LabelledZero,

    /// <summary>A then B with the gap changed by <see cref="OrderTimingRow.GapChange"/> frames.</summary>
    GapChanged,

    /// <summary>B then A in the trained layout.</summary>
    BThenA,
}

/// <summary>One test condition's mean scores, for the CNN-only model and the CNN+LSTM model.</summary>
/// <param name="Test">What the condition holds.</param>
/// <param name="GapChange">Frames added to the gap (negative: shortened); 0 except for <see cref="OrderTimingTest.GapChanged"/>.</param>
/// <param name="Cnn">Mean output of the CNN-only model (convolution stack + fully connected layer over the flattened map).</param>
/// <param name="CnnLstm">Mean output of the CNN+LSTM model; NaN when it was not trained (<see cref="OrderTimingOptions.TrainCnnLstm"/>).</param>
/// <param name="Clips">Clips scored.</param>
public sealed record OrderTimingRow(OrderTimingTest Test, int GapChange, double Cnn, double CnnLstm, int Clips)
{
    /// <summary>A label for tables, in the seed's words ("A -> B, gap -6 frames").</summary>
    public string Label => Test switch
    {
        OrderTimingTest.AsTrained => "A -> B (as trained)",
        OrderTimingTest.LabelledZero => "data labelled 0 in training",
        OrderTimingTest.GapChanged => $"A -> B, gap {GapChange:+0;-0} frames",
        _ => "B -> A",
    };
}

/// <summary>Experiment 2's outcome for one seed and instrument pair.</summary>
/// <param name="Options">The settings it ran with.</param>
/// <param name="Rows">One row per test condition: as trained, labelled 0, each gap change in order, B then A.</param>
/// <param name="CnnTrainingAccuracy">Share of training clips the CNN-only model puts on the right side of 0.5.</param>
/// <param name="LstmTrainingAccuracy">The same for the CNN+LSTM model; NaN when it was not trained.</param>
public sealed record OrderTimingResult(OrderTimingOptions Options, IReadOnlyList<OrderTimingRow> Rows, double CnnTrainingAccuracy, double LstmTrainingAccuracy)
{
    /// <summary>The row of a condition.</summary>
    /// <param name="test">The condition.</param>
    /// <param name="gapChange">The gap change, for <see cref="OrderTimingTest.GapChanged"/>.</param>
    /// <returns>The row.</returns>
    /// <exception cref="KeyNotFoundException">The condition was not run.</exception>
    public OrderTimingRow Row(OrderTimingTest test, int gapChange = 0) =>
        Rows.FirstOrDefault(r => r.Test == test && r.GapChange == gapChange)
        ?? throw new KeyNotFoundException($"No result for {test} with gap change {gapChange}; GapChanges holds {string.Join(", ", Options.GapChanges)}.");
}

/// <summary>
/// The seed's experiment 2: does the LSTM learn order and timing? Trains two models on the same clips, "A then B" =
/// 1 and every other arrangement = 0: the CNN-only model (the convolution stack, then one fully connected layer over
/// the flattened, position-dependent feature map: <see cref="NetworkHead.FullyConnected"/>) and the CNN+LSTM model
/// (<see cref="NetworkHead.Lstm"/>). Both are then scored on fresh clips: as trained, labelled 0, A then B with the
/// gap changed, and B then A.
/// </summary>
/// <remarks>
/// Clips come from <see cref="SeedCurriculum.Pair(PairKind, Instrument, Instrument, PairLayout?, Random, SeedCurriculumOptions?)"/>
/// (random pitch and loudness per note) and are one window long; training and test clips use separate random streams.
/// </remarks>
public static class OrderTimingExperiment
{
    private static readonly PairKind[] NegativeKinds = [PairKind.BThenA, PairKind.AAlone, PairKind.BAlone, PairKind.AThenA, PairKind.BThenB];

    /// <summary>Runs the experiment for one seed.</summary>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <returns>Mean scores per condition for both models.</returns>
    public static OrderTimingResult Run(OrderTimingOptions? options = null)
    {
        options ??= new OrderTimingOptions();
        options.Validate();
        var layout = options.Layout;
        double seconds = layout.TotalFrames / (double)Pitch.FramesPerSecond;
        var curriculum = new SeedCurriculumOptions();
        int rate = curriculum.SampleRate;

        var trainRng = new Random(options.Seed);
        var training = new List<(float[] Samples, bool Label)>();
        for (int i = 0; i < options.PositiveClips; i++)
        {
            training.Add((Clip(PairKind.AThenB, layout, trainRng), true));
        }

        foreach (var kind in NegativeKinds)
        {
            for (int i = 0; i < options.NegativeClipsPerKind; i++)
            {
                training.Add((Clip(kind, layout, trainRng), false));
            }
        }

        // Every condition draws from its own stream, so adding a condition never changes another's clips.
        var conditions = new List<(OrderTimingTest Test, int Gap, List<float[]> Clips)>
        {
            (OrderTimingTest.AsTrained, 0, Draw(0, n => Clip(PairKind.AThenB, layout, n))),
            (OrderTimingTest.LabelledZero, 0, DrawKinds(1)),
        };
        for (int g = 0; g < options.GapChanges.Length; g++)
        {
            var shifted = layout.WithGapChangedBy(options.GapChanges[g]);
            conditions.Add((OrderTimingTest.GapChanged, options.GapChanges[g], Draw(10 + g, n => Clip(PairKind.AThenB, shifted, n))));
        }

        conditions.Add((OrderTimingTest.BThenA, 0, Draw(2, n => Clip(PairKind.BThenA, layout, n))));

        var ml = new MLContext(seed: options.Seed);
        var trainData = ExperimentData.Load(ml, training, rate);
        var segmenter = ml.Transforms.SegmentMfcc(ExperimentData.WindowsColumn, ExperimentData.AudioColumn,
            ExperimentData.Segmenter(options.FeatureKind, options.FftSize, seconds)).Fit(trainData);
        var trainWindows = segmenter.Transform(trainData);
        var labels = training.Select(t => t.Label).ToArray();

        using var cnn = ml.Audio().Trainers.TimeConvLstm(
            ExperimentData.Trainer(options.Network, NetworkHead.FullyConnected, options.Seed, options.Threads)).Fit(trainWindows);
        using var lstm = options.TrainCnnLstm
            ? ml.Audio().Trainers.TimeConvLstm(ExperimentData.Trainer(options.Network, NetworkHead.Lstm, options.Seed, options.Threads)).Fit(trainWindows)
            : null;

        var rows = new List<OrderTimingRow>();
        foreach (var (test, gap, clips) in conditions)
        {
            var windows = segmenter.Transform(ExperimentData.Load(ml, clips.Select(c => (c, false)), rate));
            rows.Add(new OrderTimingRow(test, gap, ExperimentData.ScoreClips(cnn, windows).Average(), lstm is null ? double.NaN : ExperimentData.ScoreClips(lstm, windows).Average(), clips.Count));
        }

        return new OrderTimingResult(
            options, rows, Accuracy(ExperimentData.ScoreClips(cnn, trainWindows), labels), lstm is null ? double.NaN : Accuracy(ExperimentData.ScoreClips(lstm, trainWindows), labels));

        float[] Clip(PairKind kind, PairLayout l, Random rng) => SeedCurriculum.Pair(kind, options.A, options.B, l, rng, curriculum).Samples;

        List<float[]> Draw(int stream, Func<Random, float[]> make)
        {
            var rng = new Random(unchecked((options.Seed * 7919) + (stream * 104729) + 1));
            return [.. Enumerable.Range(0, options.TestClips).Select(_ => make(rng))];
        }

        List<float[]> DrawKinds(int stream)
        {
            var rng = new Random(unchecked((options.Seed * 7919) + (stream * 104729) + 1));
            return [.. Enumerable.Range(0, options.TestClips).Select(i => Clip(NegativeKinds[i % NegativeKinds.Length], layout, rng))];
        }
    }

    private static double Accuracy(float[] scores, bool[] labels) =>
        scores.Where((s, i) => (s > 0.5f) == labels[i]).Count() / (double)scores.Length;
}
