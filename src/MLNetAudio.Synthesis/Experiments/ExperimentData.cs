using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;

namespace MLNetAudio.Experiments;

/// <summary>Shared plumbing of the seed experiments: in-memory clips to an IDataView, segmenting, training, scoring.</summary>
internal static class ExperimentData
{
    internal const string AudioColumn = "Audio";
    internal const string LabelColumn = "Label";
    internal const string WindowsColumn = "Windows";
    internal const string ScoresColumn = "WindowScores";

    /// <summary>In-memory clips as rows: Audio (Single vector with a SampleRate annotation, as LoadAudio writes it) and Label.</summary>
    internal static IDataView Load(MLContext ml, IEnumerable<(float[] Samples, bool Label)> clips, int sampleRate)
    {
        var definition = SchemaDefinition.Create(typeof(ClipRow));
        definition[AudioColumn].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        definition[AudioColumn].AddAnnotation(WindowColumns.SampleRateAnnotation, sampleRate, NumberDataViewType.Int32);
        return ml.Data.LoadFromEnumerable(clips.Select(c => new ClipRow { Audio = c.Samples, Label = c.Label }).ToList(), definition);
    }

    /// <summary>
    /// Segmenter options for clips that are exactly one window long: one window per clip, standardised per
    /// coefficient from the training clips (linear power spans many decades; the network needs comparable scales).
    /// </summary>
    internal static MfccSegmenterOptions Segmenter(AudioFeatureKind kind, int fftSize, double clipSeconds) => new()
    {
        FeatureKind = kind,
        FftSize = fftSize,
        WindowSeconds = clipSeconds,
        WindowHopSeconds = clipSeconds,
        Standardize = true,
    };

    /// <summary>The trainer's options for a small synthetic data set: no validation split, fixed epochs, CPU, fixed seed.</summary>
    internal static TimeConvLstmOptions Trainer(ExperimentNetwork network, NetworkHead head, int seed, int threads) => new()
    {
        LabelColumnName = LabelColumn,
        FeatureColumnName = WindowsColumn,
        OutputColumnName = ScoresColumn,
        Epochs = network.Epochs,
        BatchSize = network.BatchSize,
        LearningRate = network.LearningRate,
        ValidationFraction = 0,
        Seed = seed,
        Device = TorchDevice.Cpu,
        Threads = threads,
        TrainingWindowStride = 1,
        ConvolutionForm = network.ConvolutionForm,
        Head = head,
        ConvolutionLayers = network.ConvolutionLayers,
        PoolingLayers = network.PoolingLayers,
        PoolingSize = network.PoolingSize,
        Channels = network.Channels,
        LstmHiddenSize = network.LstmHiddenSize,
    };

    /// <summary>Each clip's score: the scorer's output for its one window.</summary>
    internal static float[] ScoreClips(TimeConvLstmScorer scorer, IDataView segmented) =>
        scorer.Transform(segmented).GetColumn<float[]>(ScoresColumn).Select(s => s.Length == 1
            ? s[0]
            : throw new InvalidOperationException($"Expected one window per clip, got {s.Length}: the clip and window lengths disagree.")).ToArray();

    private sealed class ClipRow
    {
        public float[] Audio { get; set; } = [];

        public bool Label { get; set; }
    }
}

/// <summary>
/// The network and training settings an experiment uses (a subset of <see cref="TimeConvLstmOptions"/>); the head
/// is chosen by the experiment.
/// </summary>
/// <param name="Epochs">Passes over the training clips (no validation split: every clip trains). Default 30.</param>
/// <param name="BatchSize">Windows per Adam step. Default 8.</param>
/// <param name="LearningRate">Adam's learning rate. Default 0.002.</param>
/// <param name="ConvolutionForm">Default the seed's 2-D (1 x 3) time-only form.</param>
/// <param name="ConvolutionLayers">Convolution + ReLU + max-pool blocks. Default 3 (the seed's plots show three layers).</param>
/// <param name="Channels">Filters per layer. Default 8.</param>
/// <param name="LstmHiddenSize">LSTM state size. Default 32.</param>
/// <remarks>
/// The pooling (<see cref="PoolingLayers"/>, <see cref="PoolingSize"/>) is set with an initialiser, so the
/// positional constructor of earlier releases is unchanged.
/// </remarks>
public sealed record ExperimentNetwork(
    int Epochs = 30,
    int BatchSize = 8,
    double LearningRate = 2e-3,
    ConvolutionForm ConvolutionForm = ConvolutionForm.Conv2dTimeOnly,
    int ConvolutionLayers = 3,
    int Channels = 8,
    int LstmHiddenSize = 32)
{
    /// <summary>
    /// Convolution layers, counted from the input, that end in max-pooling along time; null (default) every one.
    /// Fewer give the head finer time positions; 0 puts the head over un-pooled features.
    /// </summary>
    public int? PoolingLayers { get; init; }

    /// <summary>Kernel and stride of each max-pooling along time. Default 2 (the seed's (1, 2)).</summary>
    public int PoolingSize { get; init; } = 2;

    internal void Validate(Data.OptionErrors e, string prefix)
    {
        e.Check(Epochs < 1, prefix + nameof(Epochs), $"must be at least 1; got {Epochs}.")
         .Check(BatchSize < 1, prefix + nameof(BatchSize), $"must be at least 1; got {BatchSize}.")
         .Check(!(LearningRate > 0 && double.IsFinite(LearningRate)), prefix + nameof(LearningRate), $"must be a positive finite number; got {LearningRate}.")
         .Check(ConvolutionLayers is < 1 or > 10, prefix + nameof(ConvolutionLayers), $"must be 1 to 10; got {ConvolutionLayers}.")
         .Check(Channels < 1, prefix + nameof(Channels), $"must be at least 1; got {Channels}.")
         .Check(LstmHiddenSize < 1, prefix + nameof(LstmHiddenSize), $"must be at least 1; got {LstmHiddenSize}.")
         .Check(PoolingLayers is int p && (p < 0 || p > ConvolutionLayers), prefix + nameof(PoolingLayers), $"must be 0 to ConvolutionLayers ({ConvolutionLayers}) or null (every layer); got {PoolingLayers}.")
         .Check(PoolingSize is < 2 or > 8, prefix + nameof(PoolingSize), $"must be 2 to 8; got {PoolingSize}.");
    }
}
