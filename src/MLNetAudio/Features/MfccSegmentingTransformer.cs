using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
    /// <summary>
    /// Cuts each song's mono samples into windows of feature frames: output is a variable-length vector
    /// [window, frame, coefficient] (row-major) whose frames and coefficients are in the column's annotations
    /// (<see cref="WindowColumns"/>).
    /// </summary>
    /// <remarks>
    /// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.MfccSegmenter". Payload (little-endian,
    /// <see cref="BinaryWriter"/> encodings):
    /// <code>
    /// version 1: string outputColumn, string inputColumn,
    ///            int32 featureKind, double framesPerSecond, int32 hopLength, double windowSeconds,
    ///            double windowHopSeconds, int32 fftSize, int32 windowLength, bool center, int32 padMode,
    ///            int32 melBands, double minFrequency, double maxFrequency, int32 melScale, int32 melNorm,
    ///            int32 coefficients, double amin, bool hasTopDb, double topDb (0 when absent), int32 sampleRate,
    ///            int32 shortSongPolicy, bool standardize,
    ///            int32 n (-1: no standardisation), then n float means and n float standard deviations
    /// </code>
    /// </remarks>
    public sealed class MfccSegmentingTransformer : RowMappingTransformer, IPersistableAudioTransformer
    {
        internal const string FormatName = "MLNetAudio.MfccSegmenter";
        internal const int CurrentVersion = 1;
        internal const int OldestReadableVersion = 1;

        private readonly MfccSegmenterOptions _options;
        private long _streamedSongs;
        private readonly float[]? _mean;
        private readonly float[]? _std;
        private readonly ConcurrentDictionary<int, SpectralDefinition> _definitions = new();

        internal MfccSegmentingTransformer(string outputColumnName, string inputColumnName, MfccSegmenterOptions options, float[]? mean, float[]? std)
        {
            OutputColumnName = outputColumnName;
            InputColumnName = inputColumnName;
            _options = options.Clone();
            _mean = mean;
            _std = std;
        }

        /// <summary>The output column of windows.</summary>
        public string OutputColumnName { get; }

        /// <summary>The input column of mono samples.</summary>
        public string InputColumnName { get; }

        /// <summary>A copy of the options this transformer was made with.</summary>
        public MfccSegmenterOptions Options => _options.Clone();

        /// <summary>Per-coefficient means learned at Fit (null without standardisation).</summary>
        public IReadOnlyList<float>? CoefficientMeans => _mean is null ? null : Array.AsReadOnly(_mean);

        /// <summary>Per-coefficient standard deviations learned at Fit (null without standardisation).</summary>
        public IReadOnlyList<float>? CoefficientStandardDeviations => _std is null ? null : Array.AsReadOnly(_std);

        string IPersistableAudioTransformer.FormatName => FormatName;

        int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

        void IPersistableAudioTransformer.Save(BinaryWriter writer)
        {
            var o = _options;
            writer.Write(OutputColumnName);
            writer.Write(InputColumnName);
            writer.Write((int)o.FeatureKind);
            writer.Write(o.FramesPerSecond);
            writer.Write(o.HopLength);
            writer.Write(o.WindowSeconds);
            writer.Write(o.WindowHopSeconds);
            writer.Write(o.FftSize);
            writer.Write(o.WindowLength);
            writer.Write(o.Center);
            writer.Write((int)o.PadMode);
            writer.Write(o.MelBands);
            writer.Write(o.MinFrequency);
            writer.Write(o.MaxFrequency);
            writer.Write((int)o.MelScale);
            writer.Write((int)o.MelNorm);
            writer.Write(o.Coefficients);
            writer.Write(o.Amin);
            writer.Write(o.TopDb.HasValue);
            writer.Write(o.TopDb ?? 0);
            writer.Write(o.SampleRate);
            writer.Write((int)o.ShortSongPolicy);
            writer.Write(o.Standardize);
            writer.Write(_mean?.Length ?? -1);
            if (_mean is not null && _std is not null)
            {
                foreach (var v in _mean)
                {
                    writer.Write(v);
                }

                foreach (var v in _std)
                {
                    writer.Write(v);
                }
            }
        }

        /// <summary>Rebuilds a transformer from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
        internal static MfccSegmentingTransformer Load(AudioStageReader stage)
        {
            var r = stage.Reader;
            string output = r.ReadString();
            string input = r.ReadString();
            var o = new MfccSegmenterOptions
            {
                FeatureKind = (AudioFeatureKind)r.ReadInt32(),
                FramesPerSecond = r.ReadDouble(),
                HopLength = r.ReadInt32(),
                WindowSeconds = r.ReadDouble(),
                WindowHopSeconds = r.ReadDouble(),
                FftSize = r.ReadInt32(),
                WindowLength = r.ReadInt32(),
                Center = r.ReadBoolean(),
                PadMode = (SpectrogramPadMode)r.ReadInt32(),
                MelBands = r.ReadInt32(),
                MinFrequency = r.ReadDouble(),
                MaxFrequency = r.ReadDouble(),
                MelScale = (MelScale)r.ReadInt32(),
                MelNorm = (MelNorm)r.ReadInt32(),
                Coefficients = r.ReadInt32(),
                Amin = r.ReadDouble(),
            };
            bool hasTopDb = r.ReadBoolean();
            double topDb = r.ReadDouble();
            o.TopDb = hasTopDb ? topDb : null;
            o.SampleRate = r.ReadInt32();
            o.ShortSongPolicy = (ShortSongPolicy)r.ReadInt32();
            o.Standardize = r.ReadBoolean();
            int n = r.ReadInt32();
            if (n < -1 || n > 1 << 20)
            {
                throw new InvalidDataException($"entry '{stage.EntryName}' claims {n} standardised coefficients.");
            }

            float[]? mean = null;
            float[]? std = null;
            if (n >= 0)
            {
                mean = new float[n];
                std = new float[n];
                for (int i = 0; i < n; i++)
                {
                    mean[i] = r.ReadSingle();
                }

                for (int i = 0; i < n; i++)
                {
                    std[i] = r.ReadSingle();
                }
            }

            // Saved options were valid when saved; a damaged payload must fail here, naming every bad field.
            o.Validate();
            return new MfccSegmentingTransformer(output, input, o, mean, std);
        }

        internal static DataViewSchema.Annotations MakeAnnotations(int framesPerWindow, int coefficients, double framesPerSecond, MfccSegmenterOptions o)
        {
            var b = new DataViewSchema.Annotations.Builder();
            b.Add(WindowColumns.FramesPerWindowAnnotation, NumberDataViewType.Int32, (ref int v) => v = framesPerWindow);
            b.Add(WindowColumns.CoefficientsAnnotation, NumberDataViewType.Int32, (ref int v) => v = coefficients);
            b.Add(WindowColumns.FramesPerSecondAnnotation, NumberDataViewType.Double, (ref double v) => v = framesPerSecond);
            b.Add(WindowColumns.WindowSecondsAnnotation, NumberDataViewType.Double, (ref double v) => v = o.WindowSeconds);
            b.Add(WindowColumns.WindowHopSecondsAnnotation, NumberDataViewType.Double, (ref double v) => v = o.WindowHopSeconds);
            double hopFrames = o.WindowHopSeconds * framesPerSecond;
            b.Add(WindowColumns.HopFramesAnnotation, NumberDataViewType.Double, (ref double v) => v = hopFrames);
            var kind = o.FeatureKind.ToString().AsMemory();
            b.Add(WindowColumns.FeatureKindAnnotation, TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = kind);
            return b.ToAnnotations();
        }

        private protected override SchemaBinding Bind(DataViewSchema inputSchema) => BindCore(inputSchema);

        internal Binding BindCore(DataViewSchema inputSchema)
        {
            var col = SchemaShapes.Require(inputSchema, InputColumnName, "Audio input");
            if (col.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Single)
            {
                throw new ArgumentException(
                    $"Audio input column '{InputColumnName}' must be a vector of Single (mono samples, as LoadAudio produces); found {col.Type}.",
                    nameof(inputSchema));
            }

            int sampleRate = ReadSampleRate(col);
            var errors = new OptionErrors(nameof(MfccSegmenterOptions));
            int hop = _options.HopLength > 0 ? _options.HopLength : (int)Math.Round(sampleRate / _options.FramesPerSecond);
            errors.Check(hop < 1, nameof(MfccSegmenterOptions.FramesPerSecond), $"{_options.FramesPerSecond} frames per second at {sampleRate} Hz gives a hop under one sample; use at most {sampleRate}.");
            hop = Math.Max(hop, 1);
            var layout = new SegmentGrid(sampleRate, hop, _options.WindowSeconds, _options.WindowHopSeconds);
            errors.Check(layout.FramesPerWindow < 1, nameof(MfccSegmenterOptions.WindowSeconds), $"{_options.WindowSeconds} s holds no whole frame at {layout.FramesPerSecond:0.###} frames per second.")
                  .Check(layout.HopFrames < 1, nameof(MfccSegmenterOptions.WindowHopSeconds), $"{_options.WindowHopSeconds} s is less than one frame ({1 / layout.FramesPerSecond:0.#####} s) at {sampleRate} Hz.");
            double maxFrequency = _options.MaxFrequency > 0 ? _options.MaxFrequency : sampleRate / 2.0;
            errors.Check(maxFrequency > (sampleRate / 2.0) + 1e-9, nameof(MfccSegmenterOptions.MaxFrequency), $"{maxFrequency} Hz is above the Nyquist frequency ({sampleRate / 2.0} Hz) of column '{InputColumnName}'.")
                  .Check(_options.MinFrequency >= maxFrequency, nameof(MfccSegmenterOptions.MinFrequency), $"{_options.MinFrequency} Hz must be below the top of the filter bank ({maxFrequency} Hz).");
            errors.ThrowIfAny();

            var definition = _definitions.GetOrAdd(sampleRate, sr => new SpectralDefinition(
                sr,
                _options.FftSize,
                _options.WindowLength > 0 ? _options.WindowLength : _options.FftSize,
                hop,
                _options.Center,
                _options.PadMode,
                _options.FeatureKind,
                _options.MelBands,
                _options.MinFrequency,
                maxFrequency,
                _options.MelScale,
                _options.MelNorm,
                _options.Coefficients,
                _options.Amin,
                _options.TopDb));
            if ((long)layout.FramesPerWindow * definition.Coefficients > MfccSegmenterOptions.MaxFeaturesPerWindow)
            {
                throw new ArgumentException(
                    $"MfccSegmenterOptions.WindowSeconds: {_options.WindowSeconds} s at {layout.FramesPerSecond:0.###} frames per second holds {layout.FramesPerWindow} frames of {definition.Coefficients} values, "
                    + $"over the {MfccSegmenterOptions.MaxFeaturesPerWindow} one window may hold; use shorter windows or fewer frames per second.",
                    nameof(inputSchema));
            }

            if (_mean is not null && _mean.Length != definition.Coefficients)
            {
                throw new InvalidOperationException($"The standardisation learned at Fit has {_mean.Length} coefficients but column '{InputColumnName}' gives {definition.Coefficients}.");
            }

            var errorColumn = inputSchema.GetColumnOrNull(InputColumnName + WindowColumns.ErrorColumnSuffix);
            int? errorIndex = errorColumn is { Type: TextDataViewType } e ? e.Index : null;
            return new Binding(this, col.Index, errorIndex, definition, layout);
        }

        private int ReadSampleRate(DataViewSchema.Column col)
        {
            var annotation = col.Annotations.Schema.GetColumnOrNull(WindowColumns.SampleRateAnnotation);
            if (annotation is null)
            {
                if (_options.SampleRate > 0)
                {
                    return _options.SampleRate;
                }

                throw new ArgumentException(
                    $"Audio input column '{InputColumnName}' has no Int32 '{WindowColumns.SampleRateAnnotation}' annotation, so its sample rate is unknown. "
                    + "Produce it with LoadAudio, or set MfccSegmenterOptions.SampleRate.");
            }

            if (annotation.Value.Type != NumberDataViewType.Int32)
            {
                throw new ArgumentException(
                    $"The '{WindowColumns.SampleRateAnnotation}' annotation of column '{InputColumnName}' must be Int32; found {annotation.Value.Type}.");
            }

            int rate = 0;
            col.Annotations.GetValue(WindowColumns.SampleRateAnnotation, ref rate);
            if (rate <= 0)
            {
                throw new ArgumentException($"The '{WindowColumns.SampleRateAnnotation}' annotation of column '{InputColumnName}' is {rate}; it must be a positive rate in Hz.");
            }

            if (_options.SampleRate > 0 && _options.SampleRate != rate)
            {
                throw new ArgumentException(
                    $"MfccSegmenterOptions.SampleRate is {_options.SampleRate} Hz but column '{InputColumnName}' is annotated {rate} Hz. "
                    + "Leave SampleRate at 0 to use the annotation, or resample the audio.");
            }

            return rate;
        }

        /// <summary>Streams the data once and returns each coefficient's mean and standard deviation over all song frames.</summary>
        internal (float[] Mean, float[] Std) LearnStandardization(IDataView data)
        {
            var binding = BindCore(data.Schema);
            int c = binding.Definition.Coefficients;
            var sum = new double[c];
            var sumSq = new double[c];
            long frames = 0;
            var needed = binding.InputsNeeded([true]).Select(i => data.Schema[i]);
            using var cursor = data.GetRowCursor(needed);
            using var worker = new SongWorker(binding, cursor);
            while (cursor.MoveNext())
            {
                if (!worker.ReadSong(out var samples))
                {
                    continue;
                }

                var song = worker.SongFeatures(samples, forStatistics: true, out int n);
                for (int f = 0; f < n; f++)
                {
                    var row = song.Slice(f * c, c);
                    for (int i = 0; i < c; i++)
                    {
                        double v = row[i];
                        sum[i] += v;
                        sumSq[i] += v * v;
                    }
                }

                frames += n;
            }

            if (frames == 0)
            {
                throw new InvalidOperationException(
                    $"Standardize needs training audio, but column '{InputColumnName}' gave no frames (empty data or every row in error).");
            }

            var mean = new float[c];
            var std = new float[c];
            for (int i = 0; i < c; i++)
            {
                double m = sum[i] / frames;
                double var = Math.Max(0, (sumSq[i] / frames) - (m * m));
                double s = Math.Sqrt(var);
                mean[i] = (float)m;

                // A constant coefficient (e.g. a band that never sounds) maps to 0 instead of dividing by zero.
                std[i] = s > 1e-6 * Math.Max(1, Math.Abs(m)) ? (float)s : 1f;
            }

            return (mean, std);
        }

        internal sealed class Binding : SchemaBinding
        {
            private readonly int _inputIndex;

            public Binding(MfccSegmentingTransformer owner, int inputIndex, int? errorIndex, SpectralDefinition definition, SegmentGrid layout)
            {
                Owner = owner;
                _inputIndex = inputIndex;
                ErrorIndex = errorIndex;
                Definition = definition;
                Layout = layout;
                var type = new VectorDataViewType(NumberDataViewType.Single, 0, layout.FramesPerWindow, definition.Coefficients);
                Outputs = [new OutputColumn(owner.OutputColumnName, type, MakeAnnotations(layout.FramesPerWindow, definition.Coefficients, layout.FramesPerSecond, owner._options))];
            }

            public MfccSegmentingTransformer Owner { get; }

            public int InputIndex => _inputIndex;

            public int? ErrorIndex { get; }

            public SpectralDefinition Definition { get; }

            public SegmentGrid Layout { get; }

            public override IReadOnlyList<OutputColumn> Outputs { get; }

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs)
            {
                if (!activeOutputs[0])
                {
                    return [];
                }

                return ErrorIndex is int e ? [_inputIndex, e] : [_inputIndex];
            }

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new SongWorker(this, input, mayStream: false);

            // The samples may stream from the loader straight into the spectrogram when nothing after this stage reads them.
            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs, IReadOnlySet<int> inputsPassedOn) =>
                new SongWorker(this, input, mayStream: !inputsPassedOn.Contains(_inputIndex));
        }

        /// <summary>Rows whose samples streamed from the loader into this transformer's spectrogram, never held whole (for tests).</summary>
        internal long StreamedSongs => Interlocked.Read(ref _streamedSongs);

        /// <summary>Per-cursor state: the extractor's buffers, the song's frames and the last row's windows.</summary>
        /// <remarks>
        /// When the samples column comes straight from <c>LoadAudio</c> and nothing after this stage reads it, the worker
        /// subscribes to the loader (<see cref="ISongSampleSource"/>): each row's samples then stream from the decoder
        /// into the spectrogram as they decode and the song is never held whole (an hour at 22.05 kHz is 317 MB of
        /// samples; its mel dB store is 92 MB, its frames 14 MB). The features are bit-identical either way.
        /// </remarks>
        private sealed class SongWorker : RowMapper, ISongSampleConsumer, ISongFrameSource
        {
            private readonly Binding _b;
            private readonly DataViewRow _input;
            private readonly SpectralExtractor _extractor;
            private readonly ValueGetter<VBuffer<float>> _samplesGetter;
            private readonly ValueGetter<ReadOnlyMemory<char>>? _errorGetter;
            private readonly bool _mayStream;
            private ISongSampleSource? _source;
            private long _streamPosition = -1;
            private VBuffer<float> _samples;
            private ReadOnlyMemory<char> _error;
            private float[] _song = [];
            private int _windowCount;
            private int _windowValues;
            private long _cachedPosition = -1;

            public SongWorker(Binding binding, DataViewRow input, bool mayStream = false)
            {
                _b = binding;
                _input = input;
                _extractor = new SpectralExtractor(binding.Definition);
                _samplesGetter = input.GetGetter<VBuffer<float>>(input.Schema[binding.InputIndex]);
                _errorGetter = binding.ErrorIndex is int e ? input.GetGetter<ReadOnlyMemory<char>>(input.Schema[e]) : null;
                _mayStream = mayStream;
            }

            private string Column => _b.Owner.InputColumnName;

            void ISongSampleConsumer.BeginSong(long position)
            {
                _streamPosition = position;
                _extractor.BeginStream();
            }

            void ISampleSink.Append(ReadOnlySpan<float> samples) => _extractor.StreamAppend(samples);

            /// <summary>
            /// Subscribes to the loader behind the samples getter when this worker may stream: the getter (and the error
            /// column's, when there is one) belongs to one <c>LoadAudio</c> cursor, and the features are mel kinds.
            /// </summary>
            private void SubscribeOnce()
            {
                if (_source is null && _mayStream && _extractor.CanStream && _samplesGetter.Target is ISongSampleSource source
                    && (_errorGetter is null || ReferenceEquals(_errorGetter.Target, source)))
                {
                    _source = source;
                    source.Subscribe(this);
                }
            }

            public override Delegate GetGetter(int outputIndex)
            {
                SubscribeOnce();
                return (ValueGetter<VBuffer<float>>)GetWindows;
            }

            // A method, not a lambda, so the getter's target is this worker (what ISongFrameSource readers look for).
            private void GetWindows(ref VBuffer<float> dst)
            {
                EnsureComputed();
                var editor = VBufferEditor.Create(ref dst, _windowValues);
                CopyWindows(editor.Values);
                dst = editor.Commit();
            }

            public ReadOnlyMemory<float> CurrentFrames(out int windows, out Func<int, int> windowStart)
            {
                EnsureComputed();
                windows = _windowCount;
                windowStart = _b.Layout.WindowStart;
                int frames = windows == 0 ? 0 : _b.Layout.WindowStart(windows - 1) + _b.Layout.FramesPerWindow;
                return _song.AsMemory(0, frames * _b.Definition.Coefficients);
            }

            private void EnsureComputed()
            {
                if (_cachedPosition != _input.Position)
                {
                    ComputeWindows();
                    _cachedPosition = _input.Position;
                }
            }

            /// <summary>Reads the row's samples; false when the loader flagged the row as an error (it yields no windows).</summary>
            public bool ReadSong(out ReadOnlySpan<float> samples)
            {
                if (_errorGetter is not null)
                {
                    _errorGetter(ref _error);
                    if (!_error.Span.IsWhiteSpace())
                    {
                        samples = default;
                        return false;
                    }
                }

                _samplesGetter(ref _samples);
                if (!_samples.IsDense)
                {
                    var dense = new float[_samples.Length];
                    _samples.CopyTo(dense);
                    _samples = new VBuffer<float>(dense.Length, dense);
                }

                samples = _samples.GetValues();
                if (!AllFinite(samples))
                {
                    throw new InvalidDataException(
                        $"Row {_input.Position} of column '{Column}' holds NaN or infinite samples; features of such audio would be meaningless. "
                        + "Fix or drop the file, or let LoadAudio's error policy flag it.");
                }

                return true;
            }

            private static bool AllFinite(ReadOnlySpan<float> x)
            {
                // v - v is 0 for finite v and NaN for NaN or infinity.
                var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(x);
                foreach (var v in vectors)
                {
                    if (!System.Numerics.Vector.EqualsAll(v - v, System.Numerics.Vector<float>.Zero))
                    {
                        return false;
                    }
                }

                for (int i = vectors.Length * System.Numerics.Vector<float>.Count; i < x.Length; i++)
                {
                    if (!float.IsFinite(x[i]))
                    {
                        return false;
                    }
                }

                return true;
            }

            /// <summary>
            /// The song's frames (frame-major): for statistics only the song's own frames, otherwise as many as its windows
            /// need (padded with silence for a short song under <see cref="ShortSongPolicy.Pad"/>).
            /// </summary>
            public Span<float> SongFeatures(ReadOnlySpan<float> samples, bool forStatistics, out int frames)
            {
                var song = PrepareSong(samples.Length, forStatistics, out frames);
                _extractor.Compute(samples, frames, song);
                Standardize(song, frames);
                return song;
            }

            /// <summary>The frames of the row that streamed into the extractor (see <see cref="SongFeatures"/>).</summary>
            private Span<float> StreamedSongFeatures(out int frames)
            {
                var song = PrepareSong(_extractor.StreamedSamples, forStatistics: false, out frames);
                _extractor.StreamFinish(frames, song);
                Standardize(song, frames);
                return song;
            }

            /// <summary>Checks the song's length against the window policy and limits; returns the frame buffer to fill.</summary>
            private Span<float> PrepareSong(long sampleCount, bool forStatistics, out int frames)
            {
                var d = _b.Definition;
                var layout = _b.Layout;
                int windows = layout.WindowCount(sampleCount);
                if (windows == 0)
                {
                    if (_b.Owner._options.ShortSongPolicy == ShortSongPolicy.Reject)
                    {
                        throw new SongTooShortException(Column, _input.Position, (double)sampleCount / layout.SampleRate, layout.WindowSeconds);
                    }

                    windows = 1;
                }

                int own = d.FrameCount(sampleCount);
                frames = forStatistics ? own : Math.Max(own, layout.WindowStart(windows - 1) + layout.FramesPerWindow);
                long size = (long)frames * d.Coefficients;
                if (size > Array.MaxLength)
                {
                    throw new InvalidDataException($"Row {_input.Position} of column '{Column}' is too long: {frames} frames of {d.Coefficients} values exceed one array.");
                }

                if (_song.Length < size)
                {
                    _song = new float[size];
                }

                return _song.AsSpan(0, (int)size);
            }

            private void Standardize(Span<float> song, int frames)
            {
                var mean = _b.Owner._mean;
                var std = _b.Owner._std;
                if (mean is not null && std is not null)
                {
                    int c = _b.Definition.Coefficients;
                    for (int f = 0; f < frames; f++)
                    {
                        var row = song.Slice(f * c, c);
                        System.Numerics.Tensors.TensorPrimitives.Subtract(row, mean, row);
                        System.Numerics.Tensors.TensorPrimitives.Divide(row, std, row);
                    }
                }
            }

            /// <summary>Computes the row's song frames once; the getter copies the windows straight out of them.</summary>
            private void ComputeWindows()
            {
                _windowCount = 0;
                _windowValues = 0;
                long sampleCount;
                var load = _source?.Load() ?? SongSampleLoad.Held;
                if (load == SongSampleLoad.Failed)
                {
                    return;
                }

                if (load == SongSampleLoad.Streamed && _streamPosition == _input.Position)
                {
                    sampleCount = _extractor.StreamedSamples;
                    StreamedSongFeatures(out _);
                    Interlocked.Increment(ref _b.Owner._streamedSongs);
                }
                else
                {
                    if (!ReadSong(out var samples))
                    {
                        return;
                    }

                    sampleCount = samples.Length;
                    SongFeatures(samples, forStatistics: false, out _);
                }

                int windows = Math.Max(1, _b.Layout.WindowCount(sampleCount));
                int per = _b.Layout.FramesPerWindow * _b.Definition.Coefficients;
                long total = (long)windows * per;
                if (total > Array.MaxLength)
                {
                    throw new InvalidDataException($"Row {_input.Position} of column '{Column}' gives {windows} windows of {per} values, more than one vector holds; use a longer WindowHopSeconds.");
                }

                _windowCount = windows;
                _windowValues = (int)total;
            }

            private void CopyWindows(Span<float> destination)
            {
                int c = _b.Definition.Coefficients;
                int per = _b.Layout.FramesPerWindow * c;
                for (int w = 0; w < _windowCount; w++)
                {
                    _song.AsSpan(_b.Layout.WindowStart(w) * c, per).CopyTo(destination.Slice(w * per, per));
                }
            }
        }
    }
}
