using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Scoring
{
    /// <summary>Options of <see cref="TimeConvLstmTrainer"/>. Every field is checked when the trainer is made; all bad ones are reported at once.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "ML.NET's options convention: public fields with inline defaults.")]
    public sealed class TimeConvLstmOptions
    {
        /// <summary>Label column: Boolean, or Single in 0..1 (liked = 1). Every window of a song gets its song's label. Default "Label".</summary>
        public string LabelColumnName = Defaults.LabelColumnName;

        /// <summary>Window column (MfccSegmenter's output: Single vector [windows x frames x coefficients]). Default "Windows".</summary>
        public string FeatureColumnName = Defaults.FeatureColumnName;

        /// <summary>Output column: Single vector [windows], each a preference in 0..1. Default "WindowScores".</summary>
        public string OutputColumnName = Defaults.OutputColumnName;

        /// <summary>
        /// Maximum passes over the training songs; null (default) decides at Fit: enough epochs for about
        /// <see cref="TargetOptimizationSteps"/> optimisation steps, at least <see cref="Defaults.MinimumEpochs"/> and at
        /// most <see cref="Defaults.MaximumEpochs"/> (20 songs of 12 s: 50 epochs of 4 batches; thousands of songs: 20).
        /// </summary>
        public int? Epochs;

        /// <summary>
        /// Optimisation steps (batches) the automatic <see cref="Epochs"/> and <see cref="TrainingWindowStride"/> aim
        /// at: a few songs give only a few batches per epoch, and a fixed epoch count would leave the network untrained.
        /// Unused when both are set. Default 200.
        /// </summary>
        public int TargetOptimizationSteps = Defaults.TargetOptimizationSteps;

        /// <summary>Windows per optimisation step. Default 32.</summary>
        public int BatchSize = Defaults.BatchSize;

        /// <summary>Adam's learning rate. Default 0.001.</summary>
        public double LearningRate = Defaults.LearningRate;

        /// <summary>
        /// Share of songs (not windows: a song's windows never straddle the split) held out to pick the best epoch and
        /// stop early; 0 trains on everything for <see cref="Epochs"/> epochs. Null (default) decides at Fit:
        /// <see cref="Defaults.ValidationFraction"/> with at least <see cref="Defaults.MinimumSongsToValidate"/> songs,
        /// otherwise 0 with a warning (a handful of held-out songs would stop training on noise and take songs the
        /// model needs).
        /// </summary>
        public double? ValidationFraction;

        /// <summary>
        /// Epochs without a lower validation loss before training stops; the best epoch's weights are kept. Null
        /// (default): max(3, epochs / 8), so runs of many short epochs are not stopped by noise. Default null.
        /// </summary>
        public int? EarlyStoppingPatience;

        /// <summary>Weight of liked (label 1) windows in the loss (BCE's pos_weight); above 1 when likes are rare. Default 1.</summary>
        public double PositiveClassWeight = Defaults.PositiveClassWeight;

        /// <summary>
        /// Seed of weight initialisation, the validation split and shuffling. Null (default) draws one from the MLContext
        /// when the trainer is made (ML.NET's convention: the same context seed and the same calls give the same model).
        /// </summary>
        public int? Seed;

        /// <summary>Where to train and score. Default <see cref="TorchDevice.Auto"/> (CUDA when available).</summary>
        public TorchDevice Device = TorchDevice.Auto;

        /// <summary>
        /// libtorch's intra-op threads while training (process-wide; restored afterwards); null leaves libtorch's own
        /// setting. Default null.
        /// </summary>
        public int? Threads;

        /// <summary>
        /// Training takes every k-th window of a song. <see cref="ConsecutiveWindows"/> (0) takes consecutive, not
        /// overlapping, pieces as the seed does (it trains on consecutive 8 s pieces while scoring slides by 1 s):
        /// k = WindowSeconds / WindowHopSeconds from the window column's annotations (8 for 8 s windows at a 1 s hop),
        /// or 1 without them. Each epoch starts a song's pieces at a seeded random offset below k, so all windows get
        /// used over the epochs. Null (default) decides at Fit: consecutive pieces when they alone give
        /// <see cref="TargetOptimizationSteps"/> steps in <see cref="Defaults.MinimumEpochs"/> epochs (about 39 minutes
        /// of audio at the defaults), otherwise every window (k = 1).
        /// </summary>
        public int? TrainingWindowStride;

        /// <summary>The <see cref="TrainingWindowStride"/> that takes consecutive, non-overlapping windows (the seed's training).</summary>
        public const int ConsecutiveWindows = 0;

        /// <summary>
        /// Windows held in memory for shuffling: songs stream in through a cursor and batches are drawn at random from
        /// this buffer. Larger mixes songs better and costs FramesPerWindow x Coefficients x 4 bytes per window.
        /// Default 1024.
        /// </summary>
        public int ShuffleBufferSize = Defaults.ShuffleBufferSize;

        /// <summary>Gradient norm clip per step; 0 turns clipping off. Default 5.</summary>
        public double GradientClipNorm = Defaults.GradientClipNorm;

        /// <summary>How the convolution reads the feature image. Default <see cref="ConvolutionForm.Conv2dTimeOnly"/> (the seed's).</summary>
        public ConvolutionForm ConvolutionForm = ConvolutionForm.Conv2dTimeOnly;

        /// <summary>LSTM (the seed's) or fully connected (experiment 2's CNN-only model). Default <see cref="NetworkHead.Lstm"/>.</summary>
        public NetworkHead Head = NetworkHead.Lstm;

        /// <summary>Convolution + ReLU + max-pool blocks. Default 3.</summary>
        public int ConvolutionLayers = Defaults.ConvolutionLayers;

        /// <summary>
        /// How many convolution layers, counted from the input, end in max-pooling along time; null (default) every
        /// one, as in the seed. Fewer pooling layers give the head finer time positions (0: un-pooled features).
        /// Networks with other than the default pooling score window by window (no shared convolution), and those with
        /// fewer pooling layers than convolution layers cannot be exported to ONNX.
        /// </summary>
        public int? PoolingLayers;

        /// <summary>Kernel and stride of each max-pooling along time. Default 2 (the seed's (1, 2)).</summary>
        public int PoolingSize = Defaults.PoolingSize;

        /// <summary>Filters per convolution layer. Default 16.</summary>
        public int Channels = Defaults.Channels;

        /// <summary>LSTM state size. Default 64.</summary>
        public int LstmHiddenSize = Defaults.LstmHiddenSize;

        /// <summary>
        /// Score overlapping windows of a song with one convolution pass over the song (exact; see
        /// <see cref="TimeConvNetwork.ScoreOverlappingWindows"/>) instead of window by window. Default true.
        /// </summary>
        public bool SharedConvolutionScoring = true;

        /// <summary>Receives one <see cref="TrainingProgress"/> per epoch. Default null.</summary>
        public IProgress<TrainingProgress>? Progress;

        /// <summary>
        /// Skip a batch whose loss or gradient norm is NaN or infinite (no optimiser step), count it and report the count
        /// in the log and <see cref="TrainingProgress.SkippedBatches"/>, instead of stopping with
        /// <see cref="NonFiniteTrainingException"/>. An epoch whose every batch is skipped still stops training. Default false.
        /// </summary>
        public bool SkipNonFiniteBatches;

        /// <summary>
        /// Folder for crash-safe training; null (default) writes no checkpoints. When set, Fit writes checkpoints there
        /// (every <see cref="CheckpointEverySteps"/> optimisation steps and every <see cref="CheckpointEveryEpochs"/>
        /// epochs), and a later Fit with the same options, seed and data resumes from the newest readable one and ends
        /// with the same weights, bit for bit on the CPU, as a run that was never stopped.
        /// <list type="bullet">
        /// <item>A checkpoint holds the weights, Adam's moments and step counts, the shuffling generator's state, the
        /// epoch and step reached and that epoch's loss sums, the best epoch's weights and validation loss, the
        /// early-stopping count, and a fingerprint (options, seed, device, SHA-256 of the training songs' windows and
        /// labels).</item>
        /// <item>Writes are atomic: a temporary file, flushed to disk, renamed over the final name; a process killed at
        /// any moment leaves the previous checkpoints intact.</item>
        /// <item>A truncated or damaged checkpoint is logged as a warning, renamed to <c>*.checkpoint.corrupt</c>, and
        /// the previous one is used; with none readable, training starts over (logged).</item>
        /// <item>A checkpoint of another run (different options, seed or data) stops Fit with an
        /// <see cref="InvalidOperationException"/> naming the folder and what differs.</item>
        /// <item>Fingerprinting reads the training songs once more unless they fit the in-memory cache. One run per
        /// folder at a time. Checkpoints are kept after Fit: a Fit of a finished run returns its weights at once.</item>
        /// </list>
        /// Not part of the fingerprint (may change between the runs): column names, <see cref="Threads"/>,
        /// <see cref="Progress"/>, <see cref="SharedConvolutionScoring"/> and the checkpoint options; a different
        /// thread count may change the last bits of the result.
        /// </summary>
        public string? CheckpointDirectory;

        /// <summary>
        /// With <see cref="CheckpointDirectory"/>: write a checkpoint every this many optimisation steps (batches), in
        /// the middle of epochs too; 0 writes only at epoch ends. A resume from the middle of an epoch reads that
        /// epoch's songs again up to the checkpoint (no training). Default 0.
        /// </summary>
        public int CheckpointEverySteps;

        /// <summary>
        /// With <see cref="CheckpointDirectory"/>: write a checkpoint at the end of every this many epochs and at the
        /// end of training; 0 writes only every <see cref="CheckpointEverySteps"/> steps. Default 1.
        /// </summary>
        public int CheckpointEveryEpochs = Defaults.CheckpointEveryEpochs;

        /// <summary>
        /// With <see cref="CheckpointDirectory"/>: how many of the newest checkpoints to keep (older ones are deleted
        /// after each write); more than one lets a damaged newest file fall back to the one before. Default 2.
        /// </summary>
        public int CheckpointsToKeep = Defaults.CheckpointsToKeep;

        /// <summary>Default values of the options.</summary>
        public static class Defaults
        {
            /// <summary>Default label column.</summary>
            public const string LabelColumnName = "Label";

            /// <summary>Default window column.</summary>
            public const string FeatureColumnName = "Windows";

            /// <summary>Default output column.</summary>
            public const string OutputColumnName = "WindowScores";

            /// <summary>Fewest epochs the automatic <see cref="Epochs"/> picks.</summary>
            public const int MinimumEpochs = 20;

            /// <summary>Most epochs the automatic <see cref="Epochs"/> picks.</summary>
            public const int MaximumEpochs = 1000;

            /// <summary>Default target of optimisation steps.</summary>
            public const int TargetOptimizationSteps = 200;

            /// <summary>Fewest songs the automatic <see cref="ValidationFraction"/> holds some out of.</summary>
            public const int MinimumSongsToValidate = 40;

            /// <summary>Fewer held-out songs than this draw a warning that validation is noisy.</summary>
            public const int FewestValidationSongs = 4;

            /// <summary>Default batch size.</summary>
            public const int BatchSize = 32;

            /// <summary>Default learning rate.</summary>
            public const double LearningRate = 1e-3;

            /// <summary>Validation fraction the automatic <see cref="ValidationFraction"/> uses when there are enough songs.</summary>
            public const double ValidationFraction = 0.1;

            /// <summary>Fewest epochs of patience the automatic <see cref="EarlyStoppingPatience"/> picks.</summary>
            public const int MinimumEarlyStoppingPatience = 3;

            /// <summary>Default positive class weight.</summary>
            public const double PositiveClassWeight = 1;

            /// <summary>Default shuffle buffer size.</summary>
            public const int ShuffleBufferSize = 1024;

            /// <summary>Default gradient clip norm.</summary>
            public const double GradientClipNorm = 5;

            /// <summary>Default convolution layers.</summary>
            public const int ConvolutionLayers = 3;

            /// <summary>Default pooling kernel and stride.</summary>
            public const int PoolingSize = 2;

            /// <summary>Default channels.</summary>
            public const int Channels = 16;

            /// <summary>Default LSTM hidden size.</summary>
            public const int LstmHiddenSize = 64;

            /// <summary>Default epochs between checkpoints.</summary>
            public const int CheckpointEveryEpochs = 1;

            /// <summary>Default number of checkpoints kept.</summary>
            public const int CheckpointsToKeep = 2;
        }

        /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
        public void Validate() => Collect().ThrowIfAny();

        /// <summary>A copy (the trainer keeps its own; <see cref="Progress"/> is the same receiver).</summary>
        internal TimeConvLstmOptions Copy() => (TimeConvLstmOptions)MemberwiseClone();

        internal OptionErrors Collect()
        {
            var e = new OptionErrors(nameof(TimeConvLstmOptions));
            e.Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the label column.")
                .Check(string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "must name the window column.")
                .Check(string.IsNullOrWhiteSpace(OutputColumnName), nameof(OutputColumnName), "must name the output column.")
                .Check(Epochs is < 1, nameof(Epochs), $"must be at least 1 or null (automatic); got {Epochs}.")
                .Check(TargetOptimizationSteps < 1, nameof(TargetOptimizationSteps), $"must be at least 1; got {TargetOptimizationSteps}.")
                .Check(BatchSize < 1, nameof(BatchSize), $"must be at least 1; got {BatchSize}.")
                .Check(!(LearningRate > 0 && LearningRate <= 1e30), nameof(LearningRate), $"must be positive and at most 1e30 (Adam's step is computed in float32); got {LearningRate}.")
                .Check(ValidationFraction is double v && !(v >= 0 && v < 1), nameof(ValidationFraction), $"must be in [0, 1) or null (automatic); got {ValidationFraction}.")
                .Check(EarlyStoppingPatience is < 1, nameof(EarlyStoppingPatience), $"must be at least 1 or null (automatic); got {EarlyStoppingPatience}.")
                .Check(!(PositiveClassWeight > 0 && double.IsFinite(PositiveClassWeight)), nameof(PositiveClassWeight), $"must be a positive finite number; got {PositiveClassWeight}.")
                .Check(!Enum.IsDefined(Device), nameof(Device), $"unknown value {(int)Device}.")
                .Check(Threads is < 1, nameof(Threads), $"must be at least 1 or null; got {Threads}.")
                .Check(TrainingWindowStride is < 0, nameof(TrainingWindowStride), $"must be at least 1, 0 (ConsecutiveWindows) or null (automatic); got {TrainingWindowStride}.")
                .Check(ShuffleBufferSize < 1, nameof(ShuffleBufferSize), $"must be at least 1; got {ShuffleBufferSize}.")
                .Check(!(GradientClipNorm >= 0 && double.IsFinite(GradientClipNorm)), nameof(GradientClipNorm), $"must be 0 (off) or a positive finite number; got {GradientClipNorm}.");
            TrainingCheckpointDirectory.CheckOptions(e, CheckpointDirectory, CheckpointEverySteps, CheckpointEveryEpochs, CheckpointsToKeep);

            // The window shape comes from the data; check the rest of the network with a placeholder that passes.
            new TimeConvNetworkSettings(1 << 30, 1, ConvolutionForm, Head, ConvolutionLayers, Channels, LstmHiddenSize) { PoolingLayers = PoolingLayers, PoolingSize = PoolingSize }
                .Validate(e);
            return e;
        }

        internal TimeConvNetworkSettings NetworkSettings(WindowColumn column) =>
            new(column.FramesPerWindow, column.Coefficients, ConvolutionForm, Head, ConvolutionLayers, Channels, LstmHiddenSize) { PoolingLayers = PoolingLayers, PoolingSize = PoolingSize };
    }
}
