using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using MLNetAudio.Synthesis;
using static TorchSharp.torch;

namespace MLNetAudio.Experiments;

/// <summary>Settings of the seed's experiment 1 (<see cref="FluteGuitarExperiment"/>). Every field is checked; all bad ones are reported at once.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "ML.NET's options convention: public fields with inline defaults.")]
public sealed class FluteGuitarOptions
{
    /// <summary>The liked instrument (label 1). Default flute.</summary>
    public Instrument Positive = Instrument.Flute;

    /// <summary>The other instrument (label 0). Default guitar.</summary>
    public Instrument Negative = Instrument.Guitar;

    /// <summary>MIDI pitches of the training notes, one note of each instrument per pitch. Default 48, 52, ..., 84 (10 pitches, C3-C6).</summary>
    public int[] TrainingNotes = [.. Enumerable.Range(0, 10).Select(i => 48 + (4 * i))];

    /// <summary>MIDI pitches of the test notes; none may be a training pitch. Default 50, 54, ..., 86 (10 pitches between and just above them).</summary>
    public int[] TestNotes = [.. Enumerable.Range(0, 10).Select(i => 50 + (4 * i))];

    /// <summary>Length of every note and of the network's window, in seconds (one window per note). Default 2.</summary>
    public double NoteSeconds = 2;

    /// <summary>What the network sees. Default <see cref="AudioFeatureKind.PowerSpectrogram"/> (the seed's feature-check input).</summary>
    public AudioFeatureKind FeatureKind = AudioFeatureKind.PowerSpectrogram;

    /// <summary>FFT size; the power spectrogram has FftSize / 2 + 1 bins. Default 512 (257 bins, 43 Hz apart at 22050 Hz).</summary>
    public int FftSize = 512;

    /// <summary>Network and training settings. Default <see cref="ExperimentNetwork"/>'s defaults with 40 epochs and batches of 4 (20 notes).</summary>
    public ExperimentNetwork Network = new(Epochs: 40, BatchSize: 4);

    /// <summary>Seed of the notes (loudness, performance details) and of the network's initialisation and shuffling. Default 1.</summary>
    public int Seed = 1;

    /// <summary>libtorch threads while training. Default 1.</summary>
    public int Threads = 1;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate()
    {
        var e = new OptionErrors(nameof(FluteGuitarOptions));
        e.Check(Positive == Negative, nameof(Negative), $"must differ from Positive ({Positive}).")
         .Check(TrainingNotes is null || TrainingNotes.Length == 0, nameof(TrainingNotes), "must hold at least one pitch.")
         .Check(TestNotes is null || TestNotes.Length == 0, nameof(TestNotes), "must hold at least one pitch.")
         .Check(TrainingNotes is not null && TestNotes is not null && TestNotes.Intersect(TrainingNotes).Any(), nameof(TestNotes),
             $"must not repeat a training pitch (shared: {string.Join(", ", (TestNotes ?? []).Intersect(TrainingNotes ?? []))}); the experiment measures unseen pitches.")
         .Check(!(NoteSeconds >= 0.5 && NoteSeconds <= 30), nameof(NoteSeconds), $"must be 0.5 to 30 s; got {NoteSeconds}.")
         .Check(!Enum.IsDefined(FeatureKind), nameof(FeatureKind), $"unknown value {(int)FeatureKind}.")
         .Check(FftSize is < 64 or > 8192, nameof(FftSize), $"must be 64 to 8192; got {FftSize}.")
         .Check(Network is null, nameof(Network), "must be set.")
         .Check(Threads < 1, nameof(Threads), $"must be at least 1; got {Threads}.");
        Network?.Validate(e, nameof(Network) + ".");
        e.ThrowIfAny();
    }
}

/// <summary>One note's score after training.</summary>
/// <param name="Instrument">Which instrument played it.</param>
/// <param name="Midi">Its pitch.</param>
/// <param name="IsTraining">Whether it was a training note (false: a test note at an unseen pitch).</param>
/// <param name="Score">The network's output, 0..1 (1 = the positive instrument).</param>
public sealed record NoteScore(Instrument Instrument, int Midi, bool IsTraining, float Score);

/// <summary>
/// What one convolution layer did with the example note: one filter's output over time, the learned kernels, and
/// how closely that output follows the note's loudness envelope.
/// </summary>
/// <param name="Layer">1-based layer number, counted from the input.</param>
/// <param name="Filter">The filter shown: the one whose output changes most over the note (largest standard deviation over time).</param>
/// <param name="FramesPerSecond">Time resolution of <see cref="Output"/>: 50 / 2^(layer - 1) with the default pooling (each earlier layer pooled by 2).</param>
/// <param name="Output">The filter's output (after ReLU, before pooling) at each time step; for the 2-D form, the mean over the coefficient rows.</param>
/// <param name="Envelope">The note's RMS envelope at the same time steps, for comparison.</param>
/// <param name="EnvelopeCorrelation">Pearson correlation of <see cref="Output"/> with <see cref="Envelope"/>; NaN when either is constant.</param>
/// <param name="Kernels">The layer's weights, one row per filter: input channels x 3 taps (2-D form: the 1 x 3 taps per input channel; 1-D form: coefficients x 3).</param>
public sealed record LayerTrace(int Layer, int Filter, double FramesPerSecond, float[] Output, float[] Envelope, double EnvelopeCorrelation, float[][] Kernels);

/// <summary>Experiment 1's outcome for one feature kind and seed.</summary>
/// <param name="Options">The settings it ran with.</param>
/// <param name="Scores">Every note's score, training notes first.</param>
/// <param name="TrainingAccuracy">Share of training notes on the right side of 0.5.</param>
/// <param name="TestAccuracy">Share of test notes (unseen pitches) on the right side of 0.5.</param>
/// <param name="ExampleWaveform">The positive instrument's first training note (the layer plots' input).</param>
/// <param name="ExampleDescription">What that note is, e.g. "flute C3".</param>
/// <param name="SampleRate">Sample rate of <see cref="ExampleWaveform"/>.</param>
/// <param name="Layers">One trace per convolution layer, first layer first.</param>
public sealed record FluteGuitarResult(
    FluteGuitarOptions Options,
    IReadOnlyList<NoteScore> Scores,
    double TrainingAccuracy,
    double TestAccuracy,
    float[] ExampleWaveform,
    string ExampleDescription,
    int SampleRate,
    IReadOnlyList<LayerTrace> Layers);

/// <summary>
/// The seed's experiment 1: does the time-only CNN learn timbre? Trains the TimeConvLstm scorer on one note per
/// training pitch of each instrument (positive = 1, negative = 0), scores notes at pitches it never saw, and reads
/// the convolution layers' outputs for the positive instrument's first training note.
/// </summary>
/// <remarks>
/// Runs the library's own pipeline (MfccSegmenter, then TimeConvLstmTrainer) on synthetic notes from
/// <see cref="SeedCurriculum.Note"/>, so the sample and the tests measure the same code.
/// </remarks>
public static class FluteGuitarExperiment
{
    /// <summary>Runs the experiment.</summary>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <returns>Scores, accuracies and the layer traces.</returns>
    public static FluteGuitarResult Run(FluteGuitarOptions? options = null)
    {
        options ??= new FluteGuitarOptions();
        options.Validate();
        var curriculum = new SeedCurriculumOptions { Seconds = options.NoteSeconds };
        int rate = curriculum.SampleRate;

        // Separate streams, so changing the test notes never changes the training notes.
        var trainRng = new Random(options.Seed);
        var testRng = new Random(unchecked((options.Seed * 7919) + 104729));
        var training = Notes(options.TrainingNotes, trainRng, curriculum, options);
        var test = Notes(options.TestNotes, testRng, curriculum, options);

        var ml = new MLContext(seed: options.Seed);
        var trainData = ExperimentData.Load(ml, training.Select(n => (n.Audio.Samples, n.Instrument == options.Positive)), rate);
        var testData = ExperimentData.Load(ml, test.Select(n => (n.Audio.Samples, n.Instrument == options.Positive)), rate);
        var segmenter = ml.Transforms.SegmentMfcc(ExperimentData.WindowsColumn, ExperimentData.AudioColumn,
            ExperimentData.Segmenter(options.FeatureKind, options.FftSize, options.NoteSeconds)).Fit(trainData);
        var trainWindows = segmenter.Transform(trainData);
        var testWindows = segmenter.Transform(testData);

        using var scorer = ml.Audio().Trainers.TimeConvLstm(
            ExperimentData.Trainer(options.Network, NetworkHead.Lstm, options.Seed, options.Threads)).Fit(trainWindows);
        var trainScores = ExperimentData.ScoreClips(scorer, trainWindows);
        var testScores = ExperimentData.ScoreClips(scorer, testWindows);

        var scores = training.Select((n, i) => new NoteScore(n.Instrument, n.Midi, true, trainScores[i]))
            .Concat(test.Select((n, i) => new NoteScore(n.Instrument, n.Midi, false, testScores[i])))
            .ToList();

        int example = training.FindIndex(n => n.Instrument == options.Positive);
        var exampleWindow = trainWindows.GetColumn<float[]>(ExperimentData.WindowsColumn).ElementAt(example);
        var layers = Trace(scorer.Network, exampleWindow, training[example].Audio.Samples, rate);

        return new FluteGuitarResult(
            options,
            scores,
            Accuracy(scores.Where(s => s.IsTraining), options.Positive),
            Accuracy(scores.Where(s => !s.IsTraining), options.Positive),
            training[example].Audio.Samples,
            training[example].Audio.Description,
            rate,
            layers);
    }

    private static List<(Instrument Instrument, int Midi, SynthesizedAudio Audio)> Notes(
        int[] pitches, Random rng, SeedCurriculumOptions curriculum, FluteGuitarOptions options)
    {
        var notes = new List<(Instrument, int, SynthesizedAudio)>();
        foreach (var instrument in new[] { options.Positive, options.Negative })
        {
            foreach (int midi in pitches)
            {
                notes.Add((instrument, midi, SeedCurriculum.Note(instrument, midi, rng, curriculum)));
            }
        }

        return notes;
    }

    private static double Accuracy(IEnumerable<NoteScore> scores, Instrument positive)
    {
        var list = scores.ToList();
        return list.Count(s => (s.Score > 0.5f) == (s.Instrument == positive)) / (double)list.Count;
    }

    private static List<LayerTrace> Trace(TimeConvNetwork network, float[] window, float[] samples, int sampleRate)
    {
        var settings = network.Settings;
        var traces = new List<LayerTrace>();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        network.eval();
        var input = tensor(window, [1, settings.FramesPerWindow, settings.Coefficients]);
        var activations = network.ConvolutionActivations(input);
        var state = network.state_dict();
        float[] envelope50 = RmsEnvelope(samples, sampleRate, settings.FramesPerWindow);
        for (int l = 0; l < activations.Count; l++)
        {
            // [1, C, K, T] (2-D form): average the coefficient rows so each filter gives one curve over time.
            var a = activations[l];
            var curves = (a.ndim == 4 ? a.mean([2]) : a)[0].cpu(); // [C, T]
            int channels = (int)curves.shape[0];
            int steps = (int)curves.shape[1];
            int best = 0;
            double bestStd = -1;
            for (int c = 0; c < channels; c++)
            {
                double sd = curves[c].std().item<float>();
                if (sd > bestStd)
                {
                    bestStd = sd;
                    best = c;
                }
            }

            float[] output = curves[best].data<float>().ToArray();
            // Frames one step of this layer's output stands for: the pooling of the layers before it.
            int stride = (int)Math.Pow(settings.PoolingSize, Math.Min(l, settings.PoolingLayers ?? settings.ConvolutionLayers));
            float[] envelope = Downsample(envelope50, stride, steps);
            var weight = state[$"convs.{l}.weight"].detach().cpu();
            var kernels = Enumerable.Range(0, (int)weight.shape[0])
                .Select(f => weight[f].reshape(-1).data<float>().ToArray())
                .ToArray();
            traces.Add(new LayerTrace(l + 1, best, 50.0 / stride, output, envelope, Correlation(output, envelope), kernels));
        }

        return traces;
    }

    // RMS of each 20 ms frame (frame t centred on sample t * hop, like the segmenter's centred frames).
    private static float[] RmsEnvelope(float[] samples, int sampleRate, int frames)
    {
        int hop = sampleRate / 50;
        var env = new float[frames];
        for (int t = 0; t < frames; t++)
        {
            int from = Math.Max(0, (t * hop) - (hop / 2));
            int to = Math.Min(samples.Length, (t * hop) + (hop / 2));
            double sum = 0;
            for (int i = from; i < to; i++)
            {
                sum += samples[i] * samples[i];
            }

            env[t] = to > from ? (float)Math.Sqrt(sum / (to - from)) : 0;
        }

        return env;
    }

    private static float[] Downsample(float[] values, int factor, int length)
    {
        var result = new float[length];
        for (int i = 0; i < length; i++)
        {
            int from = i * factor, to = Math.Min(values.Length, from + factor);
            result[i] = to > from ? values[from..to].Average() : 0;
        }

        return result;
    }

    internal static double Correlation(float[] x, float[] y)
    {
        int n = Math.Min(x.Length, y.Length);
        double mx = x.Take(n).Average(), my = y.Take(n).Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }

        return sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : double.NaN;
    }
}
