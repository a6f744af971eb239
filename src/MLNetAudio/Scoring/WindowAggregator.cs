using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Scoring;

namespace MLNetAudio.Scoring
{
    /// <summary>How a song's window preferences become one song score.</summary>
    public enum WindowAggregation
    {
        /// <summary>The seed's rule: sum of window scores / song length in seconds.</summary>
        SumOverDuration,

        /// <summary>Mean of the window scores.</summary>
        Mean,

        /// <summary>The best window's score: a song is as good as its best part.</summary>
        Max,

        /// <summary>Mean of the <see cref="WindowAggregatorOptions.TopK"/> best window scores (all of them when fewer).</summary>
        TopKMean,
    }

    /// <summary>Options of <see cref="WindowAggregatingEstimator"/>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "ML.NET's options convention: public fields with inline defaults.")]
    public sealed class WindowAggregatorOptions
    {
        /// <summary>The aggregation rule. Default <see cref="WindowAggregation.SumOverDuration"/> (the seed's).</summary>
        public WindowAggregation Aggregation = WindowAggregation.SumOverDuration;

        /// <summary>Windows averaged by <see cref="WindowAggregation.TopKMean"/>. Default 3.</summary>
        public int TopK = Defaults.TopK;

        /// <summary>
        /// A Double or Single column with each song's length in seconds (e.g. the loader's <c>Audio.Duration</c>), used by
        /// <see cref="WindowAggregation.SumOverDuration"/>. Null derives the length from the windows:
        /// (windows - 1) x hop + window seconds, which is the span the windows cover (up to one hop shorter than the
        /// song when the song does not end on a window boundary). Default null.
        /// </summary>
        public string? DurationColumnName;

        /// <summary>Hop between window starts in seconds; null reads the input column's <c>WindowHopSeconds</c> annotation. Default null.</summary>
        public double? WindowHopSeconds;

        /// <summary>Window length in seconds; null reads the input column's <c>WindowSeconds</c> annotation. Default null.</summary>
        public double? WindowSeconds;

        /// <summary>Default values.</summary>
        public static class Defaults
        {
            /// <summary>Default TopK.</summary>
            public const int TopK = 3;
        }

        /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
        public void Validate()
        {
            new OptionErrors(nameof(WindowAggregatorOptions))
                .Check(!Enum.IsDefined(Aggregation), nameof(Aggregation), $"unknown value {(int)Aggregation}.")
                .Check(TopK < 1, nameof(TopK), $"must be at least 1; got {TopK}.")
                .Check(DurationColumnName is not null && string.IsNullOrWhiteSpace(DurationColumnName), nameof(DurationColumnName), "must be null or name a column.")
                .Check(WindowHopSeconds is double h && !(h > 0 && double.IsFinite(h)), nameof(WindowHopSeconds), $"must be a positive number of seconds or null; got {WindowHopSeconds}.")
                .Check(WindowSeconds is double w && !(w > 0 && double.IsFinite(w)), nameof(WindowSeconds), $"must be a positive number of seconds or null; got {WindowSeconds}.")
                .ThrowIfAny();
        }

        internal WindowAggregatorOptions Clone() => (WindowAggregatorOptions)MemberwiseClone();
    }

    /// <summary>
    /// Turns a song's window preferences (<c>WindowScores</c>) into one song score, and says where the song's best
    /// part starts.
    /// </summary>
    /// <remarks>
    /// <para><b>Estimator characteristics</b></para>
    /// <list type="table">
    /// <item><term>Does it train?</term><description>No.</description></item>
    /// <item><term>Input</term><description>Single vector of window scores, with <c>WindowHopSeconds</c> (and for the derived duration <c>WindowSeconds</c>) annotations or options.</description></item>
    /// <item><term>Output</term><description><c>{output}</c>: Single score; <c>{output}.BestWindowStart</c>: Single, seconds from the song's start to the best-scoring window (the first one on ties).</description></item>
    /// </list>
    /// <para>A song with no windows gets NaN for both outputs: there is nothing to score, and 0 would read as "disliked".</para>
    /// </remarks>
    public sealed class WindowAggregatingEstimator : IEstimator<WindowAggregatingTransformer>
    {
        private readonly string _outputColumnName;
        private readonly string _inputColumnName;
        private readonly WindowAggregatorOptions _options;

        internal WindowAggregatingEstimator(string outputColumnName, string inputColumnName, WindowAggregatorOptions options)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
            ArgumentException.ThrowIfNullOrWhiteSpace(inputColumnName);
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            _outputColumnName = outputColumnName;
            _inputColumnName = inputColumnName;
            _options = options.Clone();
        }

        /// <summary>Nothing to learn: returns the transformer.</summary>
        public WindowAggregatingTransformer Fit(IDataView input)
        {
            ArgumentNullException.ThrowIfNull(input);
            var transformer = new WindowAggregatingTransformer(_outputColumnName, _inputColumnName, _options);
            transformer.GetOutputSchema(input.Schema); // fail at Fit, not at the first cursor
            return transformer;
        }

        /// <summary>Checks the input column and adds the two outputs.</summary>
        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            ArgumentNullException.ThrowIfNull(inputSchema);
            var input = SchemaShapes.Require(inputSchema, _inputColumnName, "Window score");
            if (input.Kind == SchemaShape.Column.VectorKind.Scalar || input.ItemType != NumberDataViewType.Single)
            {
                throw new ArgumentException($"Window score column '{_inputColumnName}' must be a vector of Single; found {input.ItemType} ({input.Kind}).", nameof(inputSchema));
            }

            if (_options.DurationColumnName is string duration)
            {
                var d = SchemaShapes.Require(inputSchema, duration, "Duration");
                if (d.Kind != SchemaShape.Column.VectorKind.Scalar || (d.ItemType != NumberDataViewType.Double && d.ItemType != NumberDataViewType.Single))
                {
                    throw new ArgumentException($"Duration column '{duration}' must be a Double or Single scalar (seconds); found {d.ItemType} ({d.Kind}).", nameof(inputSchema));
                }
            }

            return SchemaShapes.Append(inputSchema, WindowAggregatingTransformer.OutputColumns(_outputColumnName));
        }
    }

    /// <summary>Adds a song score and the best window's start time computed from the window scores. See <see cref="WindowAggregatingEstimator"/>.</summary>
    /// <remarks>
    /// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.WindowAggregator". Payload (little-endian,
    /// <see cref="BinaryWriter"/> encodings):
    /// <code>
    /// version 1: string outputColumn, string inputColumn, int32 aggregation (WindowAggregation), int32 topK,
    ///            bool hasDurationColumn, string durationColumn ("" when absent),
    ///            bool hasWindowHopSeconds, double windowHopSeconds (0 when absent),
    ///            bool hasWindowSeconds, double windowSeconds (0 when absent)
    /// </code>
    /// </remarks>
    public sealed class WindowAggregatingTransformer : RowMappingTransformer, IPersistableAudioTransformer
    {
        /// <summary>Suffix of the best window's start column: <c>{output}.BestWindowStart</c>.</summary>
        public const string BestWindowStartSuffix = ".BestWindowStart";

        internal const string FormatName = "MLNetAudio.WindowAggregator";
        internal const int CurrentVersion = 1;
        internal const int OldestReadableVersion = 1;

        private readonly WindowAggregatorOptions _options;

        internal WindowAggregatingTransformer(string outputColumnName, string inputColumnName, WindowAggregatorOptions options)
        {
            OutputColumnName = outputColumnName;
            InputColumnName = inputColumnName;
            _options = options;
        }

        /// <summary>The score column; the best window's start goes to this name plus <see cref="BestWindowStartSuffix"/>.</summary>
        public string OutputColumnName { get; }

        /// <summary>The window score column read.</summary>
        public string InputColumnName { get; }

        /// <summary>The aggregation rule.</summary>
        public WindowAggregation Aggregation => _options.Aggregation;

        string IPersistableAudioTransformer.FormatName => FormatName;

        int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

        void IPersistableAudioTransformer.Save(BinaryWriter writer)
        {
            var o = _options;
            writer.Write(OutputColumnName);
            writer.Write(InputColumnName);
            writer.Write((int)o.Aggregation);
            writer.Write(o.TopK);
            writer.Write(o.DurationColumnName is not null);
            writer.Write(o.DurationColumnName ?? string.Empty);
            writer.Write(o.WindowHopSeconds.HasValue);
            writer.Write(o.WindowHopSeconds ?? 0);
            writer.Write(o.WindowSeconds.HasValue);
            writer.Write(o.WindowSeconds ?? 0);
        }

        /// <summary>Rebuilds a transformer from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
        internal static WindowAggregatingTransformer Load(AudioStageReader stage)
        {
            var r = stage.Reader;
            string output = r.ReadString();
            string input = r.ReadString();
            var o = new WindowAggregatorOptions { Aggregation = (WindowAggregation)r.ReadInt32(), TopK = r.ReadInt32() };
            bool hasDuration = r.ReadBoolean();
            string duration = r.ReadString();
            o.DurationColumnName = hasDuration ? duration : null;
            bool hasHop = r.ReadBoolean();
            double hop = r.ReadDouble();
            o.WindowHopSeconds = hasHop ? hop : null;
            bool hasWindow = r.ReadBoolean();
            double window = r.ReadDouble();
            o.WindowSeconds = hasWindow ? window : null;
            if (string.IsNullOrWhiteSpace(output) || string.IsNullOrWhiteSpace(input))
            {
                throw new InvalidDataException($"entry '{stage.EntryName}' names no output or input column.");
            }

            // Saved options were valid when saved; a damaged payload fails here, naming every bad field.
            o.Validate();
            return new WindowAggregatingTransformer(output, input, o);
        }

        /// <summary>
        /// Aggregates one song's window scores. Written by hand: a few lines of arithmetic with the seed's own rule.
        /// </summary>
        /// <param name="scores">The song's window scores, in time order.</param>
        /// <param name="aggregation">The rule.</param>
        /// <param name="topK">Windows averaged by <see cref="WindowAggregation.TopKMean"/>.</param>
        /// <param name="durationSeconds">The song's length (used by <see cref="WindowAggregation.SumOverDuration"/>).</param>
        /// <returns>The score and the index of the best window (-1 when there are no windows).</returns>
        public static (float Score, int BestWindow) Aggregate(ReadOnlySpan<float> scores, WindowAggregation aggregation, int topK, double durationSeconds)
        {
            if (scores.IsEmpty)
            {
                return (float.NaN, -1);
            }

            int best = 0;
            double sum = 0;
            for (int i = 0; i < scores.Length; i++)
            {
                sum += scores[i];
                if (scores[i] > scores[best])
                {
                    best = i;
                }
            }

            double score = aggregation switch
            {
                WindowAggregation.SumOverDuration => durationSeconds > 0 ? sum / durationSeconds : double.NaN,
                WindowAggregation.Mean => sum / scores.Length,
                WindowAggregation.Max => scores[best],
                WindowAggregation.TopKMean => TopKMean(scores, topK),
                _ => throw new ArgumentOutOfRangeException(nameof(aggregation), aggregation, "Unknown aggregation."),
            };
            return ((float)score, best);
        }

        internal static IReadOnlyList<OutputColumn> OutputColumns(string output) =>
        [
            new OutputColumn(output, NumberDataViewType.Single),
            new OutputColumn(output + BestWindowStartSuffix, NumberDataViewType.Single),
        ];

        private static double TopKMean(ReadOnlySpan<float> scores, int k)
        {
            var sorted = scores.ToArray();
            Array.Sort(sorted);
            int take = Math.Min(k, sorted.Length);
            double sum = 0;
            for (int i = sorted.Length - take; i < sorted.Length; i++)
            {
                sum += sorted[i];
            }

            return sum / take;
        }

        private protected override SchemaBinding Bind(DataViewSchema inputSchema)
        {
            var input = SchemaShapes.Require(inputSchema, InputColumnName, "Window score");
            if (input.Type is not VectorDataViewType { ItemType: NumberDataViewType t } || t != NumberDataViewType.Single)
            {
                throw new ArgumentException($"Window score column '{InputColumnName}' must be a vector of Single; found {input.Type}.", nameof(inputSchema));
            }

            double? hop = _options.WindowHopSeconds ?? WindowColumn.GetDouble(input.Annotations, WindowColumn.WindowHopSecondsKind);
            if (hop is null)
            {
                throw new ArgumentException(
                    $"Window score column '{InputColumnName}' has no '{WindowColumn.WindowHopSecondsKind}' annotation, so window start times are unknown: "
                    + "score windows made by ml.Transforms.SegmentMfcc, or set WindowAggregatorOptions.WindowHopSeconds.",
                    nameof(inputSchema));
            }

            int? durationIndex = null;
            if (_options.DurationColumnName is string durationName)
            {
                var d = SchemaShapes.Require(inputSchema, durationName, "Duration");
                if (d.Type != NumberDataViewType.Double && d.Type != NumberDataViewType.Single)
                {
                    throw new ArgumentException($"Duration column '{durationName}' must be a Double or Single scalar (seconds); found {d.Type}.", nameof(inputSchema));
                }

                durationIndex = d.Index;
            }

            double? window = _options.WindowSeconds ?? WindowColumn.GetDouble(input.Annotations, WindowColumn.WindowSecondsKind);
            if (_options.Aggregation == WindowAggregation.SumOverDuration && durationIndex is null && window is null)
            {
                throw new ArgumentException(
                    $"SumOverDuration needs each song's length: set WindowAggregatorOptions.DurationColumnName (e.g. \"Audio.Duration\"), or give column "
                    + $"'{InputColumnName}' a '{WindowColumn.WindowSecondsKind}' annotation (ml.Transforms.SegmentMfcc does), or set WindowAggregatorOptions.WindowSeconds.",
                    nameof(inputSchema));
            }

            return new Binding(this, input.Index, durationIndex, hop.Value, window ?? 0);
        }

        private sealed class Binding : SchemaBinding
        {
            private readonly WindowAggregatingTransformer _owner;
            private readonly int _input;
            private readonly int? _duration;
            private readonly double _hop;
            private readonly double _window;

            public Binding(WindowAggregatingTransformer owner, int input, int? duration, double hop, double window)
            {
                _owner = owner;
                _input = input;
                _duration = duration;
                _hop = hop;
                _window = window;
                Outputs = OutputColumns(owner.OutputColumnName);
            }

            public override IReadOnlyList<OutputColumn> Outputs { get; }

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs)
            {
                if (!activeOutputs.Any(a => a))
                {
                    return [];
                }

                bool needsDuration = activeOutputs[0] && _duration is not null && _owner.Aggregation == WindowAggregation.SumOverDuration;
                return needsDuration ? [_input, _duration!.Value] : [_input];
            }

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(this, input, activeOutputs);

            private sealed class Mapper : RowMapper
            {
                private readonly Binding _b;
                private readonly DataViewRow _row;
                private readonly ValueGetter<VBuffer<float>> _scores;
                private readonly Func<double>? _duration;
                private VBuffer<float> _buffer;
                private long _position = -1;
                private float _score;
                private float _bestStart;

                public Mapper(Binding binding, DataViewRow row, bool[] active)
                {
                    _b = binding;
                    _row = row;
                    _scores = row.GetGetter<VBuffer<float>>(row.Schema[binding._input]);
                    if (active[0] && binding._duration is int d && binding._owner.Aggregation == WindowAggregation.SumOverDuration)
                    {
                        var column = row.Schema[d];
                        if (column.Type == NumberDataViewType.Double)
                        {
                            var g = row.GetGetter<double>(column);
                            _duration = () =>
                            {
                                double v = 0;
                                g(ref v);
                                return v;
                            };
                        }
                        else
                        {
                            var g = row.GetGetter<float>(column);
                            _duration = () =>
                            {
                                float v = 0;
                                g(ref v);
                                return v;
                            };
                        }
                    }
                }

                public override Delegate GetGetter(int outputIndex) => outputIndex == 0
                    ? (ValueGetter<float>)((ref float dst) =>
                    {
                        Compute();
                        dst = _score;
                    })
                    : (ValueGetter<float>)((ref float dst) =>
                    {
                        Compute();
                        dst = _bestStart;
                    });

                private void Compute()
                {
                    if (_position == _row.Position)
                    {
                        return;
                    }

                    _scores(ref _buffer);
                    var dense = _buffer.IsDense ? _buffer.GetValues() : _buffer.DenseValues().ToArray();
                    double duration = _duration is not null ? _duration() : ((dense.Length - 1) * _b._hop) + _b._window;
                    if (_duration is not null && !(duration > 0 && double.IsFinite(duration)))
                    {
                        throw new InvalidOperationException(
                            $"Row {_row.Position}: duration column '{_b._owner._options.DurationColumnName}' is {duration}; a song's length must be positive seconds.");
                    }

                    var (score, best) = Aggregate(dense, _b._owner.Aggregation, _b._owner._options.TopK, duration);
                    _score = score;
                    _bestStart = best < 0 ? float.NaN : (float)(best * _b._hop);
                    _position = _row.Position;
                }
            }
        }
    }
}
