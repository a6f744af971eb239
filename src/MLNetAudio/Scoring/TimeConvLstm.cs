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
    /// <summary>Where the network trains and scores.</summary>
    public enum TorchDevice
    {
        /// <summary>CUDA when <c>torch.cuda.is_available()</c>, otherwise CPU.</summary>
        Auto,

        /// <summary>Always the CPU.</summary>
        Cpu,

        /// <summary>Always CUDA; training fails with a clear message when no CUDA device and backend are present.</summary>
        Cuda,
    }

    /// <summary>One epoch's figures, reported through <see cref="TimeConvLstmOptions.Progress"/> and ML.NET's log.</summary>
    /// <param name="Epoch">1-based epoch number.</param>
    /// <param name="TrainingLoss">Mean weighted binary cross-entropy over the epoch's training windows.</param>
    /// <param name="TrainingWindows">Training windows used this epoch (after <see cref="TimeConvLstmOptions.TrainingWindowStride"/>).</param>
    /// <param name="ValidationLoss">Mean (unweighted) binary cross-entropy over the validation songs' windows; null without validation.</param>
    /// <param name="ValidationAccuracy">Share of validation windows on the right side of 0.5; null without validation.</param>
    /// <param name="WindowsPerSecond">Training windows processed per second of wall time this epoch (data reading included).</param>
    /// <param name="IsBest">Whether this epoch's weights are the best so far (lowest validation loss) and were kept.</param>
    /// <param name="DataPathShare">
    /// Share (0..1) of the epoch's training wall time spent outside the optimisation steps: reading rows, densifying,
    /// shuffling and copying windows into batches. Measured inside one epoch, so background load affects both parts alike.
    /// </param>
    public sealed record TrainingProgress(
        int Epoch,
        double TrainingLoss,
        long TrainingWindows,
        double? ValidationLoss,
        double? ValidationAccuracy,
        double WindowsPerSecond,
        bool IsBest,
        double DataPathShare)
    {
        /// <summary>What Fit decided before the first epoch (the same object in every report of one Fit).</summary>
        public TrainingPlan? Plan { get; init; }

        /// <summary>
        /// Batches skipped this epoch because their loss or gradient norm was NaN or infinite (only with
        /// <see cref="TimeConvLstmOptions.SkipNonFiniteBatches"/>; otherwise such a batch stops training).
        /// </summary>
        public int SkippedBatches { get; init; }
    }

    /// <summary>
    /// What <see cref="TimeConvLstmTrainer.Fit"/> decided before training, from the options and, for the automatic
    /// ones, the number of songs and windows. Logged to ML.NET's channel and carried by every <see cref="TrainingProgress"/>.
    /// </summary>
    /// <param name="Songs">Rows (songs) in the training data.</param>
    /// <param name="ValidationSongs">Songs held out to pick the best epoch and stop early; 0 trains on all.</param>
    /// <param name="LikedSongs">Training songs (validation songs excluded) with label above 0.5; null when the songs were not read before training (every automatic option set).</param>
    /// <param name="TrainingWindowStride">Every how many windows training takes (1: all).</param>
    /// <param name="TrainingWindowsPerEpoch">Training windows per epoch (expected, with the random offsets); null when the songs were not read before training.</param>
    /// <param name="Epochs">Most epochs training runs.</param>
    /// <param name="EarlyStoppingPatience">Epochs without improvement before stopping; null without validation.</param>
    /// <param name="Automatic">The options decided at Fit (a subset of "Epochs", "TrainingWindowStride", "ValidationFraction", "EarlyStoppingPatience").</param>
    /// <param name="Warnings">What Fit warned about (also written to ML.NET's log as warnings).</param>
    public sealed record TrainingPlan(
        long Songs,
        int ValidationSongs,
        long? LikedSongs,
        int TrainingWindowStride,
        double? TrainingWindowsPerEpoch,
        int Epochs,
        int? EarlyStoppingPatience,
        IReadOnlyList<string> Automatic,
        IReadOnlyList<string> Warnings);

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

        /// <summary>Seed of weight initialisation, the validation split and shuffling; null takes one from the MLContext's seed. Default null.</summary>
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

            /// <summary>Default channels.</summary>
            public const int Channels = 16;

            /// <summary>Default LSTM hidden size.</summary>
            public const int LstmHiddenSize = 64;
        }

        /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
        public void Validate() => Collect().ThrowIfAny();

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

            // The window shape comes from the data; check the rest of the network with a placeholder that passes.
            new TimeConvNetworkSettings(1 << Math.Clamp(ConvolutionLayers, 1, 10), 1, ConvolutionForm, Head, ConvolutionLayers, Channels, LstmHiddenSize)
                .Validate(e);
            return e;
        }

        internal TimeConvNetworkSettings NetworkSettings(WindowColumn column) =>
            new(column.FramesPerWindow, column.Coefficients, ConvolutionForm, Head, ConvolutionLayers, Channels, LstmHiddenSize);
    }

    /// <summary>
    /// Trains the seed's time-convolution + LSTM preference network on songs' windows with TorchSharp, and returns a
    /// <see cref="TimeConvLstmScorer"/> that outputs one preference per window.
    /// </summary>
    /// <remarks>
    /// <para><b>Estimator characteristics</b></para>
    /// <list type="table">
    /// <item><term>Does it train?</term><description>Yes (Adam, binary cross-entropy; epochs, training windows and validation adapt to the number of songs and windows; early stopping on held-out songs when there are enough).</description></item>
    /// <item><term>Input</term><description>Window column: Single vector [windows x frames x coefficients]; label: Boolean or Single 0..1.</description></item>
    /// <item><term>Output</term><description><c>WindowScores</c>: Single vector [windows], each in 0..1, with the window timing annotations.</description></item>
    /// <item><term>NuGet</term><description>MLNetAudio plus a libtorch backend (libtorch-cpu-linux-x64, ...).</description></item>
    /// </list>
    /// <para>
    /// Multiple-instance labels: each window of a song takes the song's label. Songs stream in through one cursor per
    /// epoch; only <see cref="TimeConvLstmOptions.ShuffleBufferSize"/> windows are held at a time. Same seed, same
    /// data and the CPU give identical weights and scores.
    /// </para>
    /// </remarks>
    public sealed class TimeConvLstmTrainer : IEstimator<TimeConvLstmScorer>
    {
        private const string ComponentName = "TimeConvLstm";
        private const string TrainerName = ComponentName;
        private readonly IHost _host;
        private readonly TimeConvLstmOptions _options;

        internal TimeConvLstmTrainer(MLContext mlContext, TimeConvLstmOptions options)
        {
            ArgumentNullException.ThrowIfNull(mlContext);
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            _host = ((IHostEnvironment)mlContext).Register(ComponentName);
            _options = options;
        }

        /// <summary>Checks the window and label columns and describes the output column.</summary>
        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            ArgumentNullException.ThrowIfNull(inputSchema);
            var features = SchemaShapes.Require(inputSchema, _options.FeatureColumnName, "Window");
            if (features.Kind == SchemaShape.Column.VectorKind.Scalar || features.ItemType != NumberDataViewType.Single)
            {
                throw new ArgumentException(
                    $"Window column '{features.Name}' must be a vector of Single; found {(features.Kind == SchemaShape.Column.VectorKind.Scalar ? "a scalar" : "a vector")} of {features.ItemType}.",
                    nameof(inputSchema));
            }

            var label = SchemaShapes.Require(inputSchema, _options.LabelColumnName, "Label");
            CheckLabel(label.Name, label.Kind == SchemaShape.Column.VectorKind.Scalar ? label.ItemType : null, label.ItemType);
            return SchemaShapes.Append(inputSchema, [new OutputColumn(_options.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single))]);
        }

        /// <summary>Trains on <paramref name="input"/> and returns the fitted scorer (which owns the network: dispose it).</summary>
        public TimeConvLstmScorer Fit(IDataView input)
        {
            ArgumentNullException.ThrowIfNull(input);
            var column = WindowColumn.Read(input.Schema, _options.FeatureColumnName);
            var label = SchemaShapes.Require(input.Schema, _options.LabelColumnName, "Label");
            CheckLabel(label.Name, label.Type, label.Type);
            var errors = new OptionErrors(nameof(TimeConvLstmOptions));
            var settings = _options.NetworkSettings(column);
            settings.Validate(errors, $"window column '{_options.FeatureColumnName}' with these options: ");
            errors.ThrowIfAny();

            var device = ResolveDevice(_options.Device);
            int seed = _options.Seed ?? _host.Rand.Next();
            int previousThreads = torch.get_num_threads();
            if (_options.Threads is int threads)
            {
                torch.set_num_threads(threads);
            }

            using var channel = _host.Start("Training");
            try
            {
                torch.random.manual_seed(seed);
                var network = new TimeConvNetwork(settings);
                try
                {
                    network.to(device);
                    new TrainingRun(_options, column, network, device, seed, channel).Run(input, label);
                    network.eval();
                    return new TimeConvLstmScorer(network, _options.FeatureColumnName, _options.OutputColumnName, _options.SharedConvolutionScoring, device, _options.Device)
                    {
                        TrainingLayout = WindowLayout.TryFromColumn(input.Schema[_options.FeatureColumnName]),
                    };
                }
                catch
                {
                    network.Dispose();
                    throw;
                }
            }
            finally
            {
                if (_options.Threads is not null)
                {
                    torch.set_num_threads(previousThreads);
                }
            }
        }

        internal static Device ResolveDevice(TorchDevice option)
        {
            bool cuda = torch.cuda.is_available();
            if (option == TorchDevice.Cuda && !cuda)
            {
                throw new InvalidOperationException(
                    "TimeConvLstmOptions.Device is Cuda, but torch.cuda.is_available() is false: reference a CUDA libtorch backend "
                    + "and run on a machine with an NVIDIA GPU, or set Device to Auto or Cpu.");
            }

            return option == TorchDevice.Cpu || !cuda ? torch.CPU : torch.CUDA;
        }

        private static void CheckLabel(string name, DataViewType? scalarType, DataViewType found)
        {
            if (scalarType != BooleanDataViewType.Instance && scalarType != NumberDataViewType.Single)
            {
                throw new ArgumentException(
                    $"Label column '{name}' must be a Boolean or Single (0/1) scalar; found {(scalarType is null ? "a vector of " : string.Empty)}{found}.",
                    nameof(found));
            }
        }

        // Training songs' windows up to this size are read once and kept in memory for all epochs.
        private const long TrainingCacheBytes = 256L << 20;

        /// <summary>One Fit call's state: split, optimiser, buffers, best weights.</summary>
        private sealed class TrainingRun
        {
            private readonly TimeConvLstmOptions _options;
            private readonly WindowColumn _column;
            private readonly TimeConvNetwork _network;
            private readonly Device _device;
            private readonly IChannel _channel;
            private readonly Random _random;
            private int _stride;
            private List<(float[] Values, int Windows, float Label, long Position)>? _cache;
            private bool _warnedEmpty;
            private double _stepSeconds;
            private int _epoch;
            private int _batches;
            private int _skipped;
            private float[]? _batch;

            public TrainingRun(TimeConvLstmOptions options, WindowColumn column, TimeConvNetwork network, Device device, int seed, IChannel channel)
            {
                _options = options;
                _column = column;
                _network = network;
                _device = device;
                _channel = channel;
                _random = new Random(seed);
            }

            private static int ConsecutiveStride(WindowColumn column) =>
                column.WindowSeconds is double w && column.WindowHopSeconds is double h && h > 0 && w > h
                    ? Math.Max(1, (int)Math.Round(w / h))
                    : 1;

            public void Run(IDataView data, DataViewSchema.Column label)
            {
                var (plan, validation) = MakePlan(data, label);
                int epochs = plan.Epochs;
                int patience = plan.EarlyStoppingPatience ?? int.MaxValue;

                using var optimizer = new RootedAdam(_network.parameters(), _options.LearningRate);
                using var positiveWeight = torch.tensor((float)_options.PositiveClassWeight, device: _device);
                Dictionary<string, Tensor>? best = null;
                double bestLoss = double.PositiveInfinity;
                int sinceBest = 0;
                try
                {
                    for (int epoch = 1; epoch <= epochs; epoch++)
                    {
                        var clock = Stopwatch.StartNew();
                        _epoch = epoch;
                        var (loss, windows) = TrainEpoch(data, label, validation, optimizer, positiveWeight);
                        double epochSeconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                        double rate = windows / epochSeconds;
                        double dataShare = Math.Clamp(1 - (_stepSeconds / epochSeconds), 0, 1);
                        _stepSeconds = 0;
                        double? validationLoss = null, validationAccuracy = null;
                        bool isBest = false;
                        if (validation.Count > 0)
                        {
                            (validationLoss, validationAccuracy) = Validate(data, label, validation);
                            // (NaN, NaN) means no validation window; a NaN loss beside a real accuracy means the outputs were NaN.
                            if (!double.IsFinite(validationLoss.Value) && !double.IsNaN(validationAccuracy.Value))
                            {
                                throw new NonFiniteTrainingException(TrainerName, epoch, null, "validation loss", validationLoss.Value,
                                    "The weights after this epoch give non-finite outputs on the validation songs.");
                            }

                            if (validationLoss < bestLoss - 1e-7)
                            {
                                bestLoss = validationLoss.Value;
                                sinceBest = 0;
                                isBest = true;
                                DisposeAll(best);
                                best = Snapshot();
                            }
                            else
                            {
                                sinceBest++;
                            }
                        }

                        var progress = new TrainingProgress(epoch, loss, windows, validationLoss, validationAccuracy, rate, isBest, dataShare) { SkippedBatches = _skipped, Plan = plan };
                        _channel.Info(MessageSensitivity.None,
                            $"TimeConvLstm epoch {epoch}: loss {loss:F4}, validation loss {validationLoss?.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) ?? "-"}, "
                            + $"validation accuracy {validationAccuracy?.ToString("F3", System.Globalization.CultureInfo.InvariantCulture) ?? "-"}, {rate:F0} windows/s"
                            + (_skipped > 0 ? $", {_skipped} of {_batches} batch(es) skipped (non-finite loss or gradient)" : string.Empty));
                        if (_skipped > 0)
                        {
                            _channel.Warning(MessageSensitivity.None,
                                $"TimeConvLstm epoch {epoch}: skipped {_skipped} of {_batches} batch(es) whose loss or gradient norm was NaN or infinite (SkipNonFiniteBatches).");
                        }

                        _options.Progress?.Report(progress);
                        if (windows == 0)
                        {
                            throw new InvalidOperationException(
                                $"No training windows: every song in column '{_options.FeatureColumnName}' is empty or held out for validation. "
                                + "Add songs or lower ValidationFraction.");
                        }

                        if (validation.Count > 0 && sinceBest >= patience)
                        {
                            _channel.Info(MessageSensitivity.None, $"TimeConvLstm: stopping early after epoch {epoch}; keeping the best epoch's weights.");
                            break;
                        }
                    }

                    if (best is not null)
                    {
                        Restore(best);
                    }
                }
                finally
                {
                    DisposeAll(best);
                }
            }

            private static long CountRows(IDataView data)
            {
                long n = 0;
                using var cursor = data.GetRowCursor([]);
                while (cursor.MoveNext())
                {
                    n++;
                }

                return n;
            }

            // Decides the automatic options from the number of songs and windows (read once, and kept in memory when
            // small so the epochs do not decode and segment the songs again), logs the decisions and warns.
            private (TrainingPlan Plan, HashSet<long> Validation) MakePlan(IDataView data, DataViewSchema.Column label)
            {
                var automatic = new List<string>();
                var warnings = new List<string>();
                bool read = _options.Epochs is null || _options.TrainingWindowStride is null;
                List<(int Windows, float Label)>? perSong = null;
                long songs;
                if (read)
                {
                    perSong = [];
                    List<(float[] Values, int Windows, float Label, long Position)>? cache = [];
                    long cachedValues = 0;
                    foreach (var (values, count, y, position) in ReadSongs(data, label, _ => true))
                    {
                        perSong.Add((count, y));
                        cachedValues += (long)count * _column.WindowSize;
                        if (cache is not null && cachedValues * sizeof(float) <= TrainingCacheBytes)
                        {
                            cache.Add((values.AsSpan(0, count * _column.WindowSize).ToArray(), count, y, position));
                        }
                        else
                        {
                            cache = null;
                        }
                    }

                    _cache = cache;
                    songs = perSong.Count;
                }
                else
                {
                    songs = data.GetRowCount() ?? CountRows(data);
                }

                double fraction;
                if (_options.ValidationFraction is double explicitFraction)
                {
                    fraction = explicitFraction;
                }
                else
                {
                    automatic.Add(nameof(TimeConvLstmOptions.ValidationFraction));
                    fraction = songs >= TimeConvLstmOptions.Defaults.MinimumSongsToValidate ? TimeConvLstmOptions.Defaults.ValidationFraction : 0;
                }

                var validation = PickValidationSongs(songs, fraction);
                int consecutive = ConsecutiveStride(_column);
                long windowsAllStrides = perSong?.Where((_, i) => !validation.Contains(i)).Sum(s => (long)s.Windows) ?? 0;
                int target = _options.TargetOptimizationSteps;
                if (_options.TrainingWindowStride is int explicitStride)
                {
                    _stride = explicitStride == TimeConvLstmOptions.ConsecutiveWindows ? consecutive : explicitStride;
                }
                else
                {
                    automatic.Add(nameof(TimeConvLstmOptions.TrainingWindowStride));
                    double consecutiveBatches = Math.Ceiling(windowsAllStrides / (double)consecutive / _options.BatchSize);
                    _stride = consecutive > 1 && consecutiveBatches * TimeConvLstmOptions.Defaults.MinimumEpochs >= target ? consecutive : 1;
                }

                double? windowsPerEpoch = perSong is null ? null : windowsAllStrides / (double)_stride;
                int epochs;
                if (_options.Epochs is int explicitEpochs)
                {
                    epochs = explicitEpochs;
                }
                else
                {
                    automatic.Add(nameof(TimeConvLstmOptions.Epochs));
                    double batches = Math.Max(1, Math.Ceiling(windowsPerEpoch!.Value / _options.BatchSize));
                    epochs = (int)Math.Clamp(Math.Ceiling(target / batches), TimeConvLstmOptions.Defaults.MinimumEpochs, TimeConvLstmOptions.Defaults.MaximumEpochs);
                }

                int? patience = null;
                if (validation.Count > 0)
                {
                    if (_options.EarlyStoppingPatience is int explicitPatience)
                    {
                        patience = explicitPatience;
                    }
                    else
                    {
                        automatic.Add(nameof(TimeConvLstmOptions.EarlyStoppingPatience));
                        patience = Math.Max(TimeConvLstmOptions.Defaults.MinimumEarlyStoppingPatience, epochs / 8);
                    }
                }

                long? liked = perSong?.Where((s, i) => !validation.Contains(i) && s.Label > 0.5f).LongCount();
                long trainingSongs = songs - validation.Count;
                if (_options.ValidationFraction is null && fraction == 0 && songs > 0)
                {
                    warnings.Add(
                        $"{songs} song(s) are too few to hold some out for validation (the automatic ValidationFraction needs at least "
                        + $"{TimeConvLstmOptions.Defaults.MinimumSongsToValidate}): training on all of them for {epochs} epochs without early stopping. "
                        + "Check the model on songs it has not seen.");
                }
                else if (validation.Count is > 0 and < TimeConvLstmOptions.Defaults.FewestValidationSongs)
                {
                    warnings.Add(
                        $"ValidationFraction {fraction} holds out only {validation.Count} of {songs} song(s): the validation loss is noisy and may stop "
                        + "training early or keep a poor epoch. With few songs leave ValidationFraction null (automatic) or set it to 0.");
                }

                if (liked is long l && trainingSongs > 0 && (l == 0 || l == trainingSongs))
                {
                    warnings.Add($"All {trainingSongs} training song(s) are {(l == 0 ? "disliked" : "liked")}: there is nothing to tell apart, so every score will drift to one side.");
                }

                var plan = new TrainingPlan(songs, validation.Count, liked, _stride, windowsPerEpoch, epochs, patience, automatic, warnings);
                string Auto(string option) => automatic.Contains(option) ? " (automatic)" : string.Empty;
                _channel.Info(MessageSensitivity.None,
                    $"TimeConvLstm: {songs} songs{(liked is long n ? $" ({n} of {trainingSongs} training songs liked)" : string.Empty)}, "
                    + $"{validation.Count} for validation{Auto(nameof(TimeConvLstmOptions.ValidationFraction))}; "
                    + $"every {_stride}. window for training{Auto(nameof(TimeConvLstmOptions.TrainingWindowStride))}"
                    + (windowsPerEpoch is double wpe ? $", about {wpe:F0} windows ({Math.Ceiling(wpe / _options.BatchSize):F0} batch(es) of {_options.BatchSize}) per epoch" : string.Empty)
                    + $"; at most {epochs} epochs{Auto(nameof(TimeConvLstmOptions.Epochs))}"
                    + (patience is int p ? $", patience {p}{Auto(nameof(TimeConvLstmOptions.EarlyStoppingPatience))}" : ", no early stopping")
                    + $"; windows of {_column.FramesPerWindow} x {_column.Coefficients}, device {_device}, {torch.get_num_threads()} thread(s)"
                    + (_cache is not null ? ", songs kept in memory." : "."));
                foreach (string warning in warnings)
                {
                    _channel.Warning(MessageSensitivity.None, "TimeConvLstm: " + warning);
                }

                return (plan, validation);
            }

            private HashSet<long> PickValidationSongs(long songs, double fraction)
            {
                int count = (int)Math.Round(fraction * songs);
                if (fraction > 0 && songs >= 2)
                {
                    count = Math.Clamp(count, 1, (int)songs - 1);
                }
                else
                {
                    count = 0;
                }

                // A seeded partial Fisher-Yates over row positions: exact count, same split for the same seed.
                var positions = new long[songs];
                for (long i = 0; i < songs; i++)
                {
                    positions[i] = i;
                }

                for (int i = 0; i < count; i++)
                {
                    long j = i + _random.NextInt64(songs - i);
                    (positions[i], positions[j]) = (positions[j], positions[i]);
                }

                return positions.Take(count).ToHashSet();
            }

            private (double Loss, long Windows) TrainEpoch(
                IDataView data, DataViewSchema.Column labelColumn, HashSet<long> validation, torch.optim.Optimizer optimizer, Tensor positiveWeight)
            {
                _network.train();
                var buffer = new List<(float[] Window, float Label)>();
                double lossSum = 0;
                long windows = 0;
                int emptySongs = 0;
                _batches = 0;
                _skipped = 0;
                foreach (var (values, count, label, _) in ReadSongs(data, labelColumn, p => !validation.Contains(p)))
                {
                    emptySongs += count == 0 ? 1 : 0;

                    // Copy the picked windows out (into pooled arrays, returned once batched): the song's array is reused.
                    for (int w = _random.Next(_stride); w < count; w += _stride)
                    {
                        var window = System.Buffers.ArrayPool<float>.Shared.Rent(_column.WindowSize);
                        values.AsSpan(w * _column.WindowSize, _column.WindowSize).CopyTo(window);
                        buffer.Add((window, label));
                    }

                    while (buffer.Count >= _options.ShuffleBufferSize)
                    {
                        (lossSum, windows) = Step(buffer, optimizer, positiveWeight, lossSum, windows);
                    }
                }

                while (buffer.Count > 0)
                {
                    (lossSum, windows) = Step(buffer, optimizer, positiveWeight, lossSum, windows);
                }

                if (emptySongs > 0 && !_warnedEmpty)
                {
                    _warnedEmpty = true;
                    _channel.Warning(MessageSensitivity.None,
                        $"TimeConvLstm: {emptySongs} training song(s) have no windows in column '{_options.FeatureColumnName}' and cannot teach anything "
                        + "(shorter than one window? let the segmenter pad short songs).");
                }

                if (_batches > 0 && _skipped == _batches)
                {
                    throw NonFiniteTrainingException.AllBatchesSkipped(TrainerName, _epoch, _batches);
                }

                return (windows == 0 ? double.NaN : lossSum / windows, windows);
            }

            private (double, long) Step(
                List<(float[] Window, float Label)> buffer, torch.optim.Optimizer optimizer, Tensor positiveWeight, double lossSum, long windows)
            {
                int b = Math.Min(_options.BatchSize, buffer.Count);
                var (x, y) = TakeRandomBatch(buffer, b);
                long started = Stopwatch.GetTimestamp();
                using var scope = torch.NewDisposeScope();
                var inputs = torch.tensor(x, [b, _column.FramesPerWindow, _column.Coefficients]).to(_device);
                var targets = torch.tensor(y).to(_device);
                var logits = _network.Logits(inputs);
                var loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weights: positiveWeight);
                optimizer.zero_grad();
                loss.backward();
                _batches++;

                // Checked before the step, so a NaN never reaches the weights. clip_grad_norm_ returns the norm before
                // clipping; with clipping off, an infinite bound measures it and leaves the gradients as they are.
                double gradientNorm = torch.nn.utils.clip_grad_norm_(
                    _network.parameters(), _options.GradientClipNorm > 0 ? _options.GradientClipNorm : double.PositiveInfinity);
                float value = loss.item<float>();
                if (NonFiniteTrainingException.IsNonFiniteBatch(TrainerName, _epoch, _batches, value, gradientNorm, _options.SkipNonFiniteBatches))
                {
                    _skipped++;
                    _stepSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                    return (lossSum, windows);
                }

                optimizer.step();
                _stepSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                return (lossSum + (value * b), windows + b);
            }

            // Swap-remove random entries: O(batch), and the draw order depends only on the seed.
            private (float[] X, float[] Y) TakeRandomBatch(List<(float[] Window, float Label)> buffer, int b)
            {
                int size = _column.WindowSize;
                var x = b == _options.BatchSize ? (_batch ??= new float[b * size]) : new float[b * size];
                var y = new float[b];
                for (int i = 0; i < b; i++)
                {
                    int j = _random.Next(buffer.Count);
                    var (window, label) = buffer[j];
                    Array.Copy(window, 0, x, i * size, size);
                    System.Buffers.ArrayPool<float>.Shared.Return(window);
                    y[i] = label;
                    buffer[j] = buffer[^1];
                    buffer.RemoveAt(buffer.Count - 1);
                }

                return (x, y);
            }

            private (double Loss, double Accuracy) Validate(IDataView data, DataViewSchema.Column labelColumn, HashSet<long> validation)
            {
                _network.eval();
                using var noGrad = torch.no_grad();
                double lossSum = 0;
                long correct = 0, total = 0;
                int size = _column.WindowSize;
                foreach (var (values, count, label, _) in ReadSongs(data, labelColumn, validation.Contains))
                {
                    var picked = Enumerable.Range(0, count).Where(w => w % _stride == 0).ToArray();
                    for (int start = 0; start < picked.Length; start += _options.BatchSize)
                    {
                        int b = Math.Min(_options.BatchSize, picked.Length - start);
                        var x = new float[b * size];
                        for (int i = 0; i < b; i++)
                        {
                            Array.Copy(values, picked[start + i] * size, x, i * size, size);
                        }

                        using var scope = torch.NewDisposeScope();
                        var inputs = torch.tensor(x, [b, _column.FramesPerWindow, _column.Coefficients]).to(_device);
                        using var labelScalar = label.ToScalar();
                        var targets = torch.full([b], labelScalar, device: _device);
                        var logits = _network.Logits(inputs);
                        lossSum += torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction: torch.nn.Reduction.Sum).item<float>();
                        correct += (logits > TorchScalars.Zero).eq(targets > TorchScalars.HalfSingle).sum().item<long>();
                        total += b;
                    }
                }

                _network.train();
                return total == 0 ? (double.NaN, double.NaN) : (lossSum / total, (double)correct / total);
            }

            // Streams the songs whose row position passes `wanted`; the others' windows are never read. The values
            // array is reused from song to song and may be longer than the song's windows.
            private IEnumerable<(float[] Values, int Windows, float Label, long Position)> ReadSongs(
                IDataView data, DataViewSchema.Column labelColumn, Func<long, bool> wanted)
            {
                if (_cache is not null)
                {
                    foreach (var song in _cache.Where(s => wanted(s.Position)))
                    {
                        yield return song;
                    }

                    yield break;
                }

                var features = data.Schema[_options.FeatureColumnName];
                using var cursor = data.GetRowCursor([features, labelColumn]);
                var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
                Func<float> getLabel;
                if (labelColumn.Type == BooleanDataViewType.Instance)
                {
                    var g = cursor.GetGetter<bool>(labelColumn);
                    getLabel = () =>
                    {
                        bool v = false;
                        g(ref v);
                        return v ? 1f : 0f;
                    };
                }
                else
                {
                    var g = cursor.GetGetter<float>(labelColumn);
                    getLabel = () =>
                    {
                        float v = 0;
                        g(ref v);
                        return v;
                    };
                }

                var buffer = default(VBuffer<float>);
                float[] scratch = [];
                while (cursor.MoveNext())
                {
                    if (!wanted(cursor.Position))
                    {
                        continue;
                    }

                    float label = getLabel();
                    if (!(label >= 0 && label <= 1))
                    {
                        throw new InvalidOperationException(
                            $"Row {cursor.Position}: label column '{labelColumn.Name}' is {label}; labels must be 0..1 (liked = 1).");
                    }

                    getFeatures(ref buffer);
                    // One reused array per pass: callers copy the windows they keep before asking for the next song.
                    int count = _column.DenseInto(buffer, features.Name, cursor.Position, ref scratch);
                    CheckFinite(scratch, count, features.Name, cursor.Position);
                    yield return (scratch, count, label, cursor.Position);
                }
            }

            // A NaN or infinity in the features would only surface later as a NaN loss; name the row and place instead.
            private void CheckFinite(float[] values, int windows, string columnName, long row)
            {
                int n = windows * _column.WindowSize;
                for (int i = 0; i < n; i++)
                {
                    if (!float.IsFinite(values[i]))
                    {
                        int window = i / _column.WindowSize, frame = i % _column.WindowSize / _column.Coefficients, coefficient = i % _column.Coefficients;
                        throw new InvalidOperationException(
                            $"Row {row}: window column '{columnName}' holds {values[i]} at window {window}, frame {frame}, coefficient {coefficient}; "
                            + "features must be finite numbers (check the audio and the feature extraction that filled the column).");
                    }
                }
            }

            private Dictionary<string, Tensor> Snapshot()
            {
                using var noGrad = torch.no_grad();
                return _network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            }

            private void Restore(Dictionary<string, Tensor> state)
            {
                using var noGrad = torch.no_grad();
                foreach (var (name, tensor) in _network.state_dict())
                {
                    tensor.copy_(state[name]);
                }
            }

            private static void DisposeAll(Dictionary<string, Tensor>? state)
            {
                if (state is null)
                {
                    return;
                }

                foreach (var t in state.Values)
                {
                    t.Dispose();
                }

                state.Clear();
            }
        }
    }

    /// <summary>
    /// The fitted preference scorer: adds <c>WindowScores</c>, one preference in 0..1 per window of each song, with the
    /// window column's timing annotations (<c>WindowSeconds</c>, <c>WindowHopSeconds</c>, <c>FramesPerSecond</c>) carried
    /// over so <c>WindowAggregatingTransformer</c> knows when each window starts.
    /// </summary>
    /// <remarks>
    /// Owns its <see cref="TimeConvNetwork"/>: dispose the scorer to free it. Overlapping windows of a song share one
    /// convolution pass (exact, see <see cref="TimeConvNetwork.ScoreOverlappingWindows"/>) when the window column's
    /// annotations give the hop in whole frames and the windows really are overlapping slices of one sequence;
    /// otherwise windows are scored one by one (batched). Either way a song's windows go through the head as batches.
    /// <para>
    /// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.TimeConvLstmScorer"; loading puts the network
    /// on the CPU when it was trained with <see cref="TorchDevice.Cpu"/>, otherwise on the device
    /// <see cref="TorchDevice.Auto"/> picks in the loading process (CUDA when available, else the CPU; a model trained
    /// on CUDA still loads on a machine without it). Payload (little-endian, <see cref="BinaryWriter"/> encodings):
    /// </para>
    /// <code>
    /// version 1: string featureColumn, string outputColumn, bool sharedConvolution, int32 devicePreference (TorchDevice),
    ///            int32 framesPerWindow, int32 coefficients, int32 convolutionForm, int32 head,
    ///            int32 convolutionLayers, int32 channels, int32 lstmHiddenSize,
    ///            [version 2 and later: bool hasTrainingLayout, double framesPerSecond, double hopFrames (0 when absent)]
    ///            then the network's weights as a TorchModuleState block (int64 length + TorchSharp state dict:
    ///            convs.{i}.weight/bias, lstm.* (LSTM head only), output.weight/bias)
    /// </code>
    /// <para>Export to ONNX with <c>ml.Audio().Model.ExportOnnx(scorer, path)</c>.</para>
    /// </remarks>
    public sealed class TimeConvLstmScorer : RowMappingTransformer, IDisposable, IPersistableAudioTransformer
    {
        internal const string FormatName = "MLNetAudio.TimeConvLstmScorer";
        internal const int CurrentVersion = 2;
        internal const int OldestReadableVersion = 1;

        // Windows per forward call: bounds memory on hour-long inputs.
        private const int MaxWindowsPerCall = 256;
        private readonly Device _device;
        private readonly TorchDevice _devicePreference;
        private bool _disposed;
        private long _sharedParts;

        internal TimeConvLstmScorer(TimeConvNetwork network, string featureColumnName, string outputColumnName, bool sharedConvolution, Device device, TorchDevice devicePreference)
        {
            Network = network;
            FeatureColumnName = featureColumnName;
            OutputColumnName = outputColumnName;
            SharedConvolution = sharedConvolution;
            _device = device;
            _devicePreference = devicePreference;
        }

        string IPersistableAudioTransformer.FormatName => FormatName;

        int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

        void IPersistableAudioTransformer.Save(BinaryWriter writer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var s = Network.Settings;
            writer.Write(FeatureColumnName);
            writer.Write(OutputColumnName);
            writer.Write(SharedConvolution);
            writer.Write((int)_devicePreference);
            writer.Write(s.FramesPerWindow);
            writer.Write(s.Coefficients);
            writer.Write((int)s.ConvolutionForm);
            writer.Write((int)s.Head);
            writer.Write(s.ConvolutionLayers);
            writer.Write(s.Channels);
            writer.Write(s.LstmHiddenSize);
            writer.Write(TrainingLayout is not null);
            writer.Write(TrainingLayout?.FramesPerSecond ?? 0);
            writer.Write(TrainingLayout?.HopFrames ?? 0);
            TorchModuleState.Write(writer, Network);
        }

        /// <summary>Rebuilds a scorer from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
        internal static TimeConvLstmScorer Load(AudioStageReader stage)
        {
            var r = stage.Reader;
            string feature = r.ReadString();
            string output = r.ReadString();
            bool shared = r.ReadBoolean();
            var preference = (TorchDevice)r.ReadInt32();
            var settings = new TimeConvNetworkSettings(
                FramesPerWindow: r.ReadInt32(),
                Coefficients: r.ReadInt32(),
                ConvolutionForm: (ConvolutionForm)r.ReadInt32(),
                Head: (NetworkHead)r.ReadInt32(),
                ConvolutionLayers: r.ReadInt32(),
                Channels: r.ReadInt32(),
                LstmHiddenSize: r.ReadInt32());
            WindowLayout? layout = null;
            if (stage.Version >= 2)
            {
                bool hasLayout = r.ReadBoolean();
                double fps = r.ReadDouble(), hop = r.ReadDouble();
                if (hasLayout && (!(fps > 0 && double.IsFinite(fps) && hop > 0 && double.IsFinite(hop)) || settings.FramesPerWindow <= 0 || settings.Coefficients <= 0))
                {
                    throw new InvalidDataException($"entry '{stage.EntryName}': the training window layout ({fps} frames/s, hop {hop} frames) is damaged.");
                }

                layout = hasLayout ? new WindowLayout(settings.FramesPerWindow, settings.Coefficients, fps, hop) : null;
            }

            var errors = new OptionErrors($"entry '{stage.EntryName}': {nameof(TimeConvNetworkSettings)}");
            errors.Check(string.IsNullOrWhiteSpace(feature), nameof(FeatureColumnName), "is empty.")
                .Check(string.IsNullOrWhiteSpace(output), nameof(OutputColumnName), "is empty.")
                .Check(!Enum.IsDefined(preference), "Device", $"unknown value {(int)preference}.")
                .Check(settings.Coefficients > 1 << 20, nameof(settings.Coefficients), $"{settings.Coefficients} is beyond any feature frame.")
                .Check(settings.FramesPerWindow > 1 << 24, nameof(settings.FramesPerWindow), $"{settings.FramesPerWindow} is beyond any window.");
            settings.Validate(errors);
            errors.ThrowIfAny();

            // Damaged sizes must fail before libtorch allocates a network for them: the weights block holds 4 bytes per parameter.
            long parameters = ParameterCount(settings);
            long left = r.BaseStream.Length - r.BaseStream.Position;
            if (parameters * sizeof(float) > left)
            {
                throw new InvalidDataException($"entry '{stage.EntryName}': the network's settings need {parameters} weights but only {left} bytes remain.");
            }

            // Building the network draws initial weights from libtorch's global generator; put its state back so that
            // loading a model does not change what a later seeded run in this process computes.
            TimeConvNetwork network;
            using (var rngState = torch.random.get_rng_state())
            {
                network = new TimeConvNetwork(settings);
                torch.random.set_rng_state(rngState);
            }

            try
            {
                TorchModuleState.Read(r, network);
                var device = TimeConvLstmTrainer.ResolveDevice(preference == TorchDevice.Cpu ? TorchDevice.Cpu : TorchDevice.Auto);
                network.to(device);
                network.eval();
                return new TimeConvLstmScorer(network, feature, output, shared, device, preference) { TrainingLayout = layout };
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }

        // The number of weights a network with these settings has (conv kernels are 3 wide).
        internal static long ParameterCount(TimeConvNetworkSettings s)
        {
            long channels = s.Channels;
            long firstIn = s.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly ? 1 : s.Coefficients;
            long count = (channels * firstIn * 3) + channels + ((s.ConvolutionLayers - 1) * ((channels * channels * 3) + channels));
            if (s.Head == NetworkHead.Lstm)
            {
                long h = s.LstmHiddenSize;
                count += (4 * h * s.FeaturesPerStep) + (4 * h * h) + (8 * h) + h + 1;
            }
            else
            {
                count += ((long)s.FeaturesPerStep * s.PooledFrames) + 1;
            }

            return count;
        }

        /// <summary>The trained network (for inspection: convolution activations, embeddings, weights by name).</summary>
        public TimeConvNetwork Network { get; }

        /// <summary>The window column read.</summary>
        public string FeatureColumnName { get; }

        /// <summary>
        /// The window layout of the training data (frames, coefficients, frames per second, hop), when its window column
        /// said it (as <c>SegmentMfcc</c>'s does); windows of another layout are refused with both layouts named. Null for
        /// scorers trained on windows without timing annotations, or saved before version 2 of the format.
        /// </summary>
        public WindowLayout? TrainingLayout { get; internal init; }

        /// <summary>The column written.</summary>
        public string OutputColumnName { get; }

        /// <summary>Whether overlapping windows share one convolution pass when that is exact.</summary>
        public bool SharedConvolution { get; }

        /// <summary>How many song parts (up to 256 windows each) went through the shared convolution; for tests.</summary>
        internal long SharedConvolutionParts => Interlocked.Read(ref _sharedParts);

        /// <summary>Frees the network.</summary>
        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                Network.Dispose();
            }
        }

        /// <summary>
        /// Scores one song's windows (<paramref name="windows"/> flattened [windows x frames x coefficients]).
        /// <paramref name="hopFrames"/> (null when unknown) lets overlapping windows share the convolution.
        /// </summary>
        /// <returns>One preference in 0..1 per window.</returns>
        public float[] ScoreSong(ReadOnlySpan<float> windows, int? hopFrames)
        {
            var result = new float[WindowCount(windows)];
            ForEachPart(windows, hopFrames, (first, features) =>
                Network.HeadLogits(features).sigmoid().cpu().data<float>().CopyTo(result, first));
            return result;
        }

        /// <summary>
        /// The window embeddings of one song (<see cref="TimeConvNetwork.Embedding"/>: the LSTM's last state), one row
        /// per window; the multi-user recommender scores users against them.
        /// </summary>
        public float[][] EmbedSong(ReadOnlySpan<float> windows, int? hopFrames)
        {
            var result = new float[WindowCount(windows)][];
            ForEachPart(windows, hopFrames, (first, features) =>
            {
                var embedding = Network.EmbeddingFromFeatures(features).cpu();
                for (int i = 0; i < embedding.shape[0]; i++)
                {
                    result[first + i] = embedding[i].data<float>().ToArray();
                }
            });
            return result;
        }

        private int WindowCount(ReadOnlySpan<float> windows)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var s = Network.Settings;
            int size = s.FramesPerWindow * s.Coefficients;
            if (windows.Length % size != 0)
            {
                throw new ArgumentException($"{windows.Length} values are not a whole number of {s.FramesPerWindow} x {s.Coefficients} windows.", nameof(windows));
            }

            return windows.Length / size;
        }

        // Runs the convolution stack over the song's windows in parts of at most MaxWindowsPerCall and hands each
        // part's feature sequences [m, pooled, features] to `use` (inside a dispose scope, with no_grad).
        private void ForEachPart(ReadOnlySpan<float> windows, int? hopFrames, Action<int, Tensor> use)
        {
            var s = Network.Settings;
            int size = s.FramesPerWindow * s.Coefficients;
            int n = windows.Length / size;
            using var noGrad = torch.no_grad();
            for (int first = 0; first < n; first += MaxWindowsPerCall)
            {
                int m = Math.Min(MaxWindowsPerCall, n - first);
                var part = windows.Slice(first * size, m * size);
                using var scope = torch.NewDisposeScope();
                Tensor features;
                if (SharedConvolution && hopFrames is int hop && hop < s.FramesPerWindow && m > 1 && Network.CanShareConvolution
                    && TryJoin(part, m, hop, s.FramesPerWindow, s.Coefficients) is float[] song)
                {
                    Interlocked.Increment(ref _sharedParts);
                    var frames = torch.tensor(song, [song.Length / s.Coefficients, s.Coefficients]).to(_device);
                    features = Network.OverlappingWindowFeatures(frames, Enumerable.Range(0, m).Select(w => (long)w * hop).ToArray());
                }
                else
                {
                    features = Network.Features(torch.tensor(part.ToArray(), [m, s.FramesPerWindow, s.Coefficients]).to(_device));
                }

                use(first, features);
            }
        }

        // The song's frame sequence when window w is frames [w*hop, w*hop+F) of it; null when the windows disagree
        // where they overlap (then they were not cut from one sequence and only per-window scoring is right).
        private static float[]? TryJoin(ReadOnlySpan<float> windows, int n, int hop, int frames, int coefficients)
        {
            int size = frames * coefficients;
            int hopSize = hop * coefficients;
            var song = new float[((n - 1) * hopSize) + size];
            windows[..size].CopyTo(song);
            for (int w = 1; w < n; w++)
            {
                var window = windows.Slice(w * size, size);
                int at = w * hopSize;
                if (!window[..(size - hopSize)].SequenceEqual(song.AsSpan(at, size - hopSize)))
                {
                    return null;
                }

                window[(size - hopSize)..].CopyTo(song.AsSpan(at + size - hopSize));
            }

            return song;
        }

        private protected override SchemaBinding Bind(DataViewSchema inputSchema)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var column = WindowColumn.Read(inputSchema, FeatureColumnName);
            var s = Network.Settings;
            if (column.FramesPerWindow != s.FramesPerWindow || column.Coefficients != s.Coefficients)
            {
                throw new ArgumentException(
                    $"Window column '{FeatureColumnName}' holds {column.FramesPerWindow} x {column.Coefficients} windows; this scorer was trained on "
                    + $"{s.FramesPerWindow} x {s.Coefficients}. Segment with the same settings as in training.",
                    nameof(inputSchema));
            }

            if (TrainingLayout is { } trained && WindowLayout.TryFromColumn(inputSchema[FeatureColumnName]) is { } given)
            {
                given.EnsureSameAs(trained, $"Window column '{FeatureColumnName}'", "this TimeConvLstm scorer");
            }

            return new Binding(this, inputSchema[FeatureColumnName].Index, column);
        }

        private sealed class Binding : SchemaBinding
        {
            private readonly TimeConvLstmScorer _scorer;
            private readonly int _input;
            private readonly WindowColumn _column;

            public Binding(TimeConvLstmScorer scorer, int input, WindowColumn column)
            {
                _scorer = scorer;
                _input = input;
                _column = column;
                Outputs = [new OutputColumn(scorer.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single), column.TimingAnnotations())];
            }

            public override IReadOnlyList<OutputColumn> Outputs { get; }

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) => activeOutputs[0] ? [_input] : [];

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(this, input);

            private sealed class Mapper : RowMapper
            {
                private readonly Binding _binding;
                private readonly DataViewRow _row;
                private ValueGetter<VBuffer<float>>? _windows;
                private VBuffer<float> _buffer;
                private long _cachedPosition = -1;
                private float[] _cached = [];

                public Mapper(Binding binding, DataViewRow row)
                {
                    _binding = binding;
                    _row = row;
                }

                public override Delegate GetGetter(int outputIndex)
                {
                    _windows ??= _row.GetGetter<VBuffer<float>>(_row.Schema[_binding._input]);
                    return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
                    {
                        if (_cachedPosition != _row.Position)
                        {
                            _windows(ref _buffer);
                            var values = _binding._column.Dense(_buffer, _binding._scorer.FeatureColumnName, _row.Position, out _);
                            _cached = _binding._scorer.ScoreSong(values, _binding._column.HopFrames);
                            _cachedPosition = _row.Position;
                        }

                        var editor = VBufferEditor.Create(ref dst, _cached.Length);
                        _cached.CopyTo(editor.Values);
                        dst = editor.Commit();
                    });
                }
            }
        }
    }

    /// <summary>MLNetAudio's trainers, reached through <c>ml.Audio().Trainers</c>.</summary>
    public sealed class AudioTrainers
    {
        private readonly MLContext _mlContext;

        internal AudioTrainers(MLContext mlContext) => _mlContext = mlContext;

        /// <summary>
        /// The seed's time-convolution + LSTM preference scorer: learns from songs' windows and their like/not labels.
        /// </summary>
        /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
        public TimeConvLstmTrainer TimeConvLstm(TimeConvLstmOptions options) => new(_mlContext, options);

        /// <summary>The same with default options and the given column names.</summary>
        public TimeConvLstmTrainer TimeConvLstm(
            string labelColumnName = TimeConvLstmOptions.Defaults.LabelColumnName,
            string featureColumnName = TimeConvLstmOptions.Defaults.FeatureColumnName,
            string outputColumnName = TimeConvLstmOptions.Defaults.OutputColumnName) =>
            new(_mlContext, new TimeConvLstmOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, OutputColumnName = outputColumnName });
    }
}

namespace MLNetAudio
{
    /// <summary>The trainers part of <c>ml.Audio()</c>.</summary>
    public sealed partial class AudioCatalog
    {
        /// <summary>MLNetAudio's trainers (<see cref="AudioTrainers.TimeConvLstm(TimeConvLstmOptions)"/>).</summary>
        public AudioTrainers Trainers => new(Context);
    }
}
