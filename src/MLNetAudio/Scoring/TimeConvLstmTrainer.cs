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
    /// <para>
    /// Batches are drawn from that buffer, so row order matters once the songs' windows outnumber it: rows sorted by
    /// label (every liked song first) train on a run of liked windows, then one of the rest, every epoch. Give the rows
    /// in a random order (for example <c>ml.Data.ShuffleRows</c>, or as <c>PerListenerAudio</c> does for each listener):
    /// on real recordings that was the difference between a per-listener AUC of 0.50 and 0.56 (docs/recommendation.md).
    /// </para>
    /// </remarks>
    public sealed partial class TimeConvLstmTrainer : IEstimator<TimeConvLstmScorer>
    {
        private const string ComponentName = "TimeConvLstm";
        private const string TrainerName = ComponentName;
        private readonly IHost _host;
        private readonly TimeConvLstmOptions _options;
        private readonly int _seed;

        // Validated and copied here, so changing the caller's options object later changes nothing; a null Seed is
        // drawn from this trainer's host, which the MLContext seeds (ML.NET's way: same context seed, same model).
        internal TimeConvLstmTrainer(MLContext mlContext, TimeConvLstmOptions options)
        {
            ArgumentNullException.ThrowIfNull(mlContext);
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            _host = ((IHostEnvironment)mlContext).Register(ComponentName);
            _options = options.Copy();
            _seed = _options.Seed ?? _host.Rand.Next();
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
            int seed = _seed;
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

        internal static Device ResolveDevice(TorchDevice option) => TorchDevices.Resolve(option, "TimeConvLstmOptions.Device");

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

    }
}
