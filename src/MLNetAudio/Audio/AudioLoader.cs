using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Data;

namespace MLNetAudio.Audio
{
    /// <summary>
    /// Names of the columns and annotations that <see cref="AudioLoadingTransformer"/> adds. For an output column
    /// <c>X</c>: <c>X</c> (samples), <c>X.SampleRate</c>, <c>X.Duration</c> and, under
    /// <see cref="AudioErrorPolicy.Report"/>, <c>X.Error</c>.
    /// </summary>
    public static class AudioColumns
    {
        /// <summary>Annotation on the samples column holding the sample rate (Int32, Hz).</summary>
        public const string SampleRateAnnotation = "SampleRate";

        /// <summary>Suffix of the Int32 sample-rate column: <c>X.SampleRate</c>.</summary>
        public const string SampleRateSuffix = ".SampleRate";

        /// <summary>Suffix of the Double duration column (seconds of the returned samples): <c>X.Duration</c>.</summary>
        public const string DurationSuffix = ".Duration";

        /// <summary>Suffix of the Text error column (empty for good rows), present only under <see cref="AudioErrorPolicy.Report"/>.</summary>
        public const string ErrorSuffix = ".Error";

        /// <summary>The sample-rate column's name for samples column <paramref name="audioColumn"/>.</summary>
        public static string SampleRate(string audioColumn) => audioColumn + SampleRateSuffix;

        /// <summary>The duration column's name for samples column <paramref name="audioColumn"/>.</summary>
        public static string Duration(string audioColumn) => audioColumn + DurationSuffix;

        /// <summary>The error column's name for samples column <paramref name="audioColumn"/>.</summary>
        public static string Error(string audioColumn) => audioColumn + ErrorSuffix;
    }

    /// <summary>What the loader does with a file it cannot load.</summary>
    public enum AudioErrorPolicy
    {
        /// <summary>Throw an <see cref="AudioLoadException"/> naming the file and the reason (default).</summary>
        Throw,

        /// <summary>
        /// Add a Text column <c>X.Error</c>: empty for good rows; for a bad row it holds the file and the reason, while
        /// its samples are empty and its duration 0. Every other row loads normally.
        /// </summary>
        Report,
    }

    /// <summary>Options of <see cref="AudioLoadingEstimator"/> (<c>ml.Transforms.LoadAudio</c>).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "ML.NET's convention: options classes expose public fields.")]
    public sealed class AudioLoaderOptions
    {
        /// <summary>Sample rate of the output samples, in Hz (1000 to 768000); every file is resampled to it. Default 22050.</summary>
        public int TargetSampleRate = Defaults.TargetSampleRate;

        /// <summary>Seconds to skip at the start of each song (seeked over, not decoded). Default 0.</summary>
        public double Offset = Defaults.Offset;

        /// <summary>Seconds to read at most from <see cref="Offset"/>; decoding stops there. Default null: to the end.</summary>
        public double? MaxDuration;

        /// <summary>Throw on a bad file, or report it in an <c>X.Error</c> column. Default <see cref="AudioErrorPolicy.Throw"/>.</summary>
        public AudioErrorPolicy ErrorPolicy = Defaults.ErrorPolicy;

        /// <summary>
        /// Decode the frames present when a WAV file is shorter than its header declares, an MP3 shorter than its
        /// LAME/Xing tag declares, a FLAC stream shorter than its STREAMINFO declares or cut inside a frame, an Ogg
        /// file (Vorbis, Opus, FLAC) without its end-of-stream page or shorter than its last granule position (a
        /// download cut short), or keep what ffmpeg decoded when it reported errors. Default false: such a file is an
        /// error, so a damaged song is never silently shortened. Damage that is not a cut (an Ogg page failing its
        /// CRC, a missing page) is an error either way.
        /// </summary>
        public bool AcceptTruncatedFiles = Defaults.AcceptTruncatedFiles;

        /// <summary>Folder that relative paths are resolved against. Default null: the current directory.</summary>
        public string? BaseDirectory;

        /// <summary>The default values.</summary>
        public static class Defaults
        {
            /// <summary>22050 Hz: the usual rate for music features (librosa's default).</summary>
            public const int TargetSampleRate = 22050;

            /// <summary>Start at the beginning.</summary>
            public const double Offset = 0;

            /// <summary>Throw on the first bad file.</summary>
            public const AudioErrorPolicy ErrorPolicy = AudioErrorPolicy.Throw;

            /// <summary>Truncated WAV files are errors.</summary>
            public const bool AcceptTruncatedFiles = false;
        }

        /// <summary>Checks every field; throws one <see cref="ArgumentException"/> listing all invalid ones.</summary>
        public void Validate()
        {
            new OptionErrors(nameof(AudioLoaderOptions))
                .Check(TargetSampleRate is < AudioLimits.MinSampleRate or > AudioLimits.MaxSampleRate, nameof(TargetSampleRate), $"must be between {AudioLimits.MinSampleRate} and {AudioLimits.MaxSampleRate} Hz; got {TargetSampleRate}.")
                .Check(!double.IsFinite(Offset) || Offset < 0, nameof(Offset), $"must be a finite number of seconds >= 0; got {Offset}.")
                .Check(MaxDuration is { } d && (!double.IsFinite(d) || d <= 0), nameof(MaxDuration), $"must be null (to the end) or a finite number of seconds > 0; got {MaxDuration}.")
                .Check(!Enum.IsDefined(ErrorPolicy), nameof(ErrorPolicy), $"must be Throw or Report; got {(int)ErrorPolicy}.")
                .ThrowIfAny();
        }

        internal AudioLoaderOptions Clone() => (AudioLoaderOptions)MemberwiseClone();
    }

    /// <summary>
    /// Loads the audio file named in a Text column: decodes it, down-mixes to mono and resamples to
    /// <see cref="AudioLoaderOptions.TargetSampleRate"/>. Created by <c>ml.Transforms.LoadAudio</c>.
    /// </summary>
    /// <remarks>
    /// <para>Estimator characteristics:</para>
    /// <list type="table">
    /// <item><term>Does this estimator need to look at the data to train its parameters?</term><description>No</description></item>
    /// <item><term>Input column data type</term><description>Text (a file path)</description></item>
    /// <item><term>Output column data type</term><description>Variable-length vector of Single (mono samples) with a
    /// <c>SampleRate</c> annotation; plus <c>X.SampleRate</c> (Int32), <c>X.Duration</c> (Double, seconds) and, under
    /// <see cref="AudioErrorPolicy.Report"/>, <c>X.Error</c> (Text)</description></item>
    /// <item><term>Required NuGet in addition to Microsoft.ML</term><description>MLNetAudio</description></item>
    /// <item><term>Exportable to ONNX</term><description>No</description></item>
    /// </list>
    /// <para>Formats, detected from the content (not the extension): WAV (PCM 8/16/24/32-bit, IEEE float 32/64-bit,
    /// WAVE_FORMAT_EXTENSIBLE, any channel count), Ogg Vorbis (NVorbis), MP3 (NLayer), Ogg Opus (Concentus), FLAC and
    /// Ogg FLAC (hand-written); any other format it recognises (AAC/M4A, WMA, AIFF, ADPCM WAV, ...) through an
    /// installed <c>ffmpeg</c> on PATH. Without ffmpeg those fail with <see cref="AudioFormatException"/>. Cursors
    /// decode one song at a time and keep only that song in memory.</para>
    /// <para>Limits (checked before anything sized by a header is allocated): sample rates 1 kHz to 768 kHz, at most
    /// 255 channels, at most 2^28 mono samples (1 GiB of floats) per song both at the file's rate and after
    /// resampling (set <see cref="AudioLoaderOptions.MaxDuration"/> to read part of a longer one), float samples
    /// within ±1000; only regular files are read (FIFOs, devices and folders are refused before opening). Under
    /// <see cref="AudioErrorPolicy.Report"/> any failure while loading a row, whatever its cause, fails that row only,
    /// naming the file. See docs/reliability.md.</para>
    /// </remarks>
    public sealed class AudioLoadingEstimator : IEstimator<AudioLoadingTransformer>
    {
        private readonly AudioLoadingTransformer _transformer;

        internal AudioLoadingEstimator(string outputColumnName, string inputColumnName, AudioLoaderOptions options)
        {
            _transformer = new AudioLoadingTransformer(outputColumnName, inputColumnName, options);
        }

        /// <summary>Returns the transformer: loading audio learns nothing from the data. Checks the input column.</summary>
        public AudioLoadingTransformer Fit(IDataView input)
        {
            ArgumentNullException.ThrowIfNull(input);
            _transformer.GetOutputSchema(input.Schema);
            return _transformer;
        }

        /// <summary>The input shape plus the loader's output columns; throws if the path column is missing or not Text.</summary>
        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            ArgumentNullException.ThrowIfNull(inputSchema);
            var col = SchemaShapes.Require(inputSchema, _transformer.InputColumnName, "Audio path");
            if (col.Kind != SchemaShape.Column.VectorKind.Scalar || col.ItemType is not TextDataViewType)
            {
                throw new ArgumentException(
                    $"Audio path column '{_transformer.InputColumnName}' must be a Text scalar (a file path); found {Describe(col)}.",
                    nameof(inputSchema));
            }

            return SchemaShapes.Append(inputSchema, _transformer.OutputColumns());
        }

        private static string Describe(SchemaShape.Column col) => col.Kind switch
        {
            SchemaShape.Column.VectorKind.Scalar => $"{col.ItemType}",
            SchemaShape.Column.VectorKind.Vector => $"Vector<{col.ItemType}>",
            _ => $"variable-length Vector<{col.ItemType}>",
        };
    }

    /// <summary>
    /// The fitted audio loader (see <see cref="AudioLoadingEstimator"/>): maps a path column to mono samples, their
    /// sample rate and duration, one song per row, lazily.
    /// </summary>
    public sealed class AudioLoadingTransformer : RowMappingTransformer, IPersistableAudioTransformer
    {
        /// <summary>The stage format name in saved models (<c>ml.Audio().Model.Save</c>).</summary>
        internal const string PersistedFormatName = "MLNetAudio.AudioLoader";

        /// <summary>The stage format version written now.</summary>
        internal const int CurrentFormatVersion = 1;

        /// <summary>The oldest stage format version <see cref="Load"/> reads.</summary>
        internal const int OldestReadableFormatVersion = 1;

        private readonly AudioLoaderOptions _options;
        private int _loadCount;

        internal AudioLoadingTransformer(string outputColumnName, string inputColumnName, AudioLoaderOptions options)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
            ArgumentException.ThrowIfNullOrWhiteSpace(inputColumnName);
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            OutputColumnName = outputColumnName;
            InputColumnName = inputColumnName;
            _options = options.Clone();
        }

        /// <summary>The samples column; the other outputs are named from it (see <see cref="AudioColumns"/>).</summary>
        public string OutputColumnName { get; }

        /// <summary>The Text column holding file paths.</summary>
        public string InputColumnName { get; }

        /// <summary>A copy of the options this transformer uses.</summary>
        public AudioLoaderOptions Options => _options.Clone();

        internal IReadOnlyList<OutputColumn> OutputColumns()
        {
            int rate = _options.TargetSampleRate;
            var annotations = new DataViewSchema.Annotations.Builder();
            annotations.Add(AudioColumns.SampleRateAnnotation, NumberDataViewType.Int32, (ref int value) => value = rate);
            var outputs = new List<OutputColumn>
            {
                new(OutputColumnName, new VectorDataViewType(NumberDataViewType.Single), annotations.ToAnnotations()),
                new(AudioColumns.SampleRate(OutputColumnName), NumberDataViewType.Int32),
                new(AudioColumns.Duration(OutputColumnName), NumberDataViewType.Double),
            };
            if (_options.ErrorPolicy == AudioErrorPolicy.Report)
            {
                outputs.Add(new(AudioColumns.Error(OutputColumnName), TextDataViewType.Instance));
            }

            return outputs;
        }

        private protected override SchemaBinding Bind(DataViewSchema inputSchema)
        {
            var col = SchemaShapes.Require(inputSchema, InputColumnName, "Audio path");
            if (col.Type is not TextDataViewType)
            {
                throw new ArgumentException(
                    $"Audio path column '{InputColumnName}' must be Text (a file path); found {col.Type}.",
                    nameof(inputSchema));
            }

            return new Binding(this, col.Index);
        }

        string IPersistableAudioTransformer.FormatName => PersistedFormatName;

        int IPersistableAudioTransformer.FormatVersion => CurrentFormatVersion;

        /// <summary>Writes the column names and options (the loader learns nothing else).</summary>
        /// <remarks>
        /// Version 1 payload:
        /// <code>
        /// string  output column name
        /// string  input column name
        /// int32   TargetSampleRate
        /// double  Offset (seconds)
        /// bool    MaxDuration present; double MaxDuration (seconds) when present
        /// int32   ErrorPolicy
        /// bool    AcceptTruncatedFiles
        /// bool    BaseDirectory present; string BaseDirectory when present
        /// </code>
        /// </remarks>
        void IPersistableAudioTransformer.Save(BinaryWriter writer)
        {
            writer.Write(OutputColumnName);
            writer.Write(InputColumnName);
            writer.Write(_options.TargetSampleRate);
            writer.Write(_options.Offset);
            writer.Write(_options.MaxDuration.HasValue);
            if (_options.MaxDuration is { } max)
            {
                writer.Write(max);
            }

            writer.Write((int)_options.ErrorPolicy);
            writer.Write(_options.AcceptTruncatedFiles);
            writer.Write(_options.BaseDirectory is not null);
            if (_options.BaseDirectory is { } dir)
            {
                writer.Write(dir);
            }
        }

        /// <summary>Rebuilds a saved loader (see the payload layout on <c>Save</c>); the options are validated again.</summary>
        internal static ITransformer Load(AudioStageReader stage)
        {
            var r = stage.Reader;
            string output = r.ReadString();
            string input = r.ReadString();
            var options = new AudioLoaderOptions { TargetSampleRate = r.ReadInt32(), Offset = r.ReadDouble() };
            options.MaxDuration = r.ReadBoolean() ? r.ReadDouble() : null;
            options.ErrorPolicy = (AudioErrorPolicy)r.ReadInt32();
            options.AcceptTruncatedFiles = r.ReadBoolean();
            options.BaseDirectory = r.ReadBoolean() ? r.ReadString() : null;
            return new AudioLoadingTransformer(output, input, options);
        }

        /// <summary>How many files this transformer has decoded (tests check that each row is decoded once).</summary>
        internal int LoadCount => Volatile.Read(ref _loadCount);

        /// <summary>
        /// Loads one file with this transformer's options (what a cursor does for each row). Every failure is an
        /// <see cref="AudioLoadException"/> naming the file, whatever its cause, so that under
        /// <see cref="AudioErrorPolicy.Report"/> only this row fails.
        /// </summary>
        /// <param name="path">The file (relative to <see cref="AudioLoaderOptions.BaseDirectory"/> when set).</param>
        /// <param name="sink">Where to stream the samples at the target rate instead of returning them (<see cref="DecodeRequest.Sink"/>).</param>
        internal DecodedAudio LoadFile(string path, ISampleSink? sink = null)
        {
            Interlocked.Increment(ref _loadCount);
            string full = string.Empty;
            try
            {
                full = _options.BaseDirectory is { } dir && path.Length > 0 ? Path.Combine(dir, path) : path;
                // Resampled while decoding: a long song never exists whole at its own rate (a 60-minute 44.1 kHz song
                // would hold 635 MB of mono floats before resampling to 16 kHz).
                int target = _options.TargetSampleRate;
                var decoded = AudioDecoder.Decode(full, new DecodeRequest(_options.Offset, _options.MaxDuration, _options.AcceptTruncatedFiles, target, sink));
                if (decoded.StreamedLength is not null)
                {
                    return decoded;
                }

                if (decoded.SampleRate != target)
                {
                    // Paths that return before streaming (an offset past the end): resample what there is.
                    long outLength = Resampler.For(decoded.SampleRate, target).OutputLength(decoded.Samples.Length);
                    AudioLimits.CheckSongLength(full, outLength, target, $"resampled to {target} Hz, the song holds");
                    decoded = new DecodedAudio(Resampler.Resample(decoded.Samples, decoded.SampleRate, target), target);
                }

                if (sink is null)
                {
                    return decoded;
                }

                sink.Append(decoded.Samples);
                return new DecodedAudio([], target, null, decoded.Samples.Length);
            }
            catch (AudioLoadException)
            {
                throw;
            }
            catch (Exception e)
            {
                // A decoder or library bug must fail this row with the file named, not abort the whole data view.
                throw new AudioLoadException(
                    full.Length > 0 ? full : path,
                    $"loading failed unexpectedly ({e.GetType().Name}: {e.Message}). The file is probably damaged; please report it if it plays elsewhere.",
                    e);
            }
        }

        private sealed class Binding : SchemaBinding
        {
            private readonly AudioLoadingTransformer _parent;
            private readonly int _inputIndex;

            public Binding(AudioLoadingTransformer parent, int inputIndex)
            {
                _parent = parent;
                _inputIndex = inputIndex;
                Outputs = parent.OutputColumns();
            }

            public override IReadOnlyList<OutputColumn> Outputs { get; }

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) =>
                activeOutputs.Any(a => a) ? [_inputIndex] : [];

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) =>
                new Mapper(_parent, input, input.Schema[_inputIndex]);
        }

        /// <summary>
        /// Per-cursor state: the current row's decoded song, loaded once whichever getter asks first; streamed to the
        /// subscribed consumers instead of held when there are any (<see cref="ISongSampleSource"/>).
        /// </summary>
        private sealed class Mapper : RowMapper, ISongSampleSource
        {
            private readonly AudioLoadingTransformer _parent;
            private readonly DataViewRow _input;
            private readonly ValueGetter<ReadOnlyMemory<char>> _pathGetter;
            private long _position = -1;
            // Songs at least this long (65 s at 16 kHz) are handed to the consumer without a copy.
            private const int ShareFromSamples = 1 << 20;

            private readonly List<ISongSampleConsumer> _consumers = [];
            private float[] _samples = [];
            private long _length;
            private bool _streamed;
            private string _error = string.Empty;
            private ReadOnlyMemory<char> _path;
            private string _pathText = string.Empty;

            public Mapper(AudioLoadingTransformer parent, DataViewRow input, DataViewSchema.Column pathColumn)
            {
                _parent = parent;
                _input = input;
                _pathGetter = input.GetGetter<ReadOnlyMemory<char>>(pathColumn);
            }

            public override Delegate GetGetter(int outputIndex) => outputIndex switch
            {
                0 => (ValueGetter<VBuffer<float>>)GetSamples,
                1 => (ValueGetter<int>)GetRate,
                2 => (ValueGetter<double>)GetDuration,
                _ => (ValueGetter<ReadOnlyMemory<char>>)GetError,
            };

            public void Subscribe(ISongSampleConsumer consumer) => _consumers.Add(consumer);

            public SongSampleLoad Load()
            {
                EnsureLoaded();
                return _error.Length > 0 ? SongSampleLoad.Failed : _streamed ? SongSampleLoad.Streamed : SongSampleLoad.Held;
            }

            private void GetSamples(ref VBuffer<float> value)
            {
                EnsureLoaded();
                if (_streamed)
                {
                    // The row went to the consumers and is not held; another reader wants the samples too: decode it again, whole.
                    _samples = Decode(null).Samples;
                    _streamed = false;
                }

                if (_samples.Length >= ShareFromSamples)
                {
                    // A long song: hand over the decoded array instead of copying it (a 60-minute song at 16 kHz is 230 MB,
                    // which a copy would double). Consumers read it; one that wrote into it would change what a second
                    // reader of this row sees (documented on LoadAudio's output column).
                    value = new VBuffer<float>(_samples.Length, _samples);
                    return;
                }

                var editor = VBufferEditor.Create(ref value, _samples.Length);
                _samples.AsSpan().CopyTo(editor.Values);
                value = editor.Commit();
            }

            private void GetRate(ref int value) => value = _parent._options.TargetSampleRate;

            private void GetDuration(ref double value)
            {
                EnsureLoaded();
                value = (double)_length / _parent._options.TargetSampleRate;
            }

            private void GetError(ref ReadOnlyMemory<char> value)
            {
                EnsureLoaded();
                value = _error.AsMemory();
            }

            private void EnsureLoaded()
            {
                long position = _input.Position;
                if (position == _position)
                {
                    return;
                }

                _samples = [];
                _length = 0;
                _streamed = false;
                _error = string.Empty;
                _position = -1; // stays unset if loading throws, so the next call retries rather than serving stale data
                _pathGetter(ref _path);
                _pathText = _path.ToString();
                ISampleSink? sink = null;
                if (_consumers.Count > 0)
                {
                    foreach (var consumer in _consumers)
                    {
                        consumer.BeginSong(position);
                    }

                    sink = _consumers.Count == 1 ? _consumers[0] : new FanOutSink(_consumers);
                }

                var decoded = Decode(sink);
                _samples = decoded.Samples;
                _length = decoded.Length;
                _streamed = sink is not null && _error.Length == 0;
                _position = position;
            }

            /// <summary>Loads the current row's file; under the Report policy a failure sets the error and gives no samples.</summary>
            private DecodedAudio Decode(ISampleSink? sink)
            {
                if (_parent._options.ErrorPolicy != AudioErrorPolicy.Report)
                {
                    return _parent.LoadFile(_pathText, sink);
                }

                try
                {
                    return _parent.LoadFile(_pathText, sink);
                }
                catch (AudioLoadException e)
                {
                    _error = e.Message;
                    return new DecodedAudio([], _parent._options.TargetSampleRate);
                }
            }
        }
    }
}
