using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
    /// <summary>What the segmenter computes for each frame.</summary>
    public enum AudioFeatureKind
    {
        /// <summary>Mel-frequency cepstral coefficients: DCT-II (orthonormal) of the dB mel spectrogram.</summary>
        Mfcc,

        /// <summary>The dB mel spectrogram (librosa's <c>power_to_db(melspectrogram)</c>), one value per mel band.</summary>
        LogMel,

        /// <summary>The STFT power spectrogram |X|^2 (the seed's feature-check input), <c>FftSize / 2 + 1</c> values per frame.</summary>
        PowerSpectrogram,
    }

    /// <summary>Which mel scale places the filter bank's centre frequencies.</summary>
    public enum MelScale
    {
        /// <summary>Slaney's Auditory Toolbox scale (librosa's default, <c>htk=False</c>): linear below 1 kHz, logarithmic above.</summary>
        Slaney,

        /// <summary>The HTK scale, <c>2595 log10(1 + f / 700)</c> (torchaudio's default).</summary>
        Htk,
    }

    /// <summary>How each mel filter is scaled.</summary>
    public enum MelNorm
    {
        /// <summary>Triangles peak at 1 (torchaudio's default).</summary>
        None,

        /// <summary>Each triangle is divided by its bandwidth in Hz / 2, so filters have equal area (librosa's default).</summary>
        Slaney,
    }

    /// <summary>How frames that reach past either end of the song are filled when <see cref="MfccSegmenterOptions.Center"/> is on.</summary>
    public enum SpectrogramPadMode
    {
        /// <summary>Zeros (librosa 0.10's default).</summary>
        Constant,

        /// <summary>The signal mirrored at its ends without repeating the edge sample (torchaudio's default).</summary>
        Reflect,
    }

    /// <summary>What to do with a song shorter than one window.</summary>
    public enum ShortSongPolicy
    {
        /// <summary>Pad the audio with silence to one full window, so the song yields exactly one window.</summary>
        Pad,

        /// <summary>Throw a <see cref="SongTooShortException"/> naming the row and the column.</summary>
        Reject,
    }

    /// <summary>Names of the annotations the segmenter puts on its output column, so consumers can reshape it.</summary>
    public static class WindowColumns
    {
        /// <summary>Int32: frames in one window (the middle dimension of [window, frame, coefficient]).</summary>
        public const string FramesPerWindowAnnotation = "FramesPerWindow";

        /// <summary>Int32: values per frame (the last dimension).</summary>
        public const string CoefficientsAnnotation = "Coefficients";

        /// <summary>Double: frames per second of audio (sample rate / hop length).</summary>
        public const string FramesPerSecondAnnotation = "FramesPerSecond";

        /// <summary>Double: the configured window length in seconds.</summary>
        public const string WindowSecondsAnnotation = "WindowSeconds";

        /// <summary>Double: the configured distance between window starts in seconds.</summary>
        public const string WindowHopSecondsAnnotation = "WindowHopSeconds";

        /// <summary>
        /// Double: the distance between window starts in frames (hop seconds x frames per second; may be fractional, each
        /// start is rounded). Read the whole layout with <see cref="WindowLayout.FromColumn"/>.
        /// </summary>
        public const string HopFramesAnnotation = "HopFrames";

        /// <summary>Text: the <see cref="AudioFeatureKind"/> name (Mfcc, LogMel or PowerSpectrogram).</summary>
        public const string FeatureKindAnnotation = "FeatureKind";

        /// <summary>Int32 annotation read from the input audio column: its sample rate in Hz.</summary>
        public const string SampleRateAnnotation = "SampleRate";

        /// <summary>Suffix of the loader's optional error column: rows whose <c>{input}.Error</c> text is not empty yield no windows.</summary>
        public const string ErrorColumnSuffix = ".Error";

        /// <summary>
        /// Reads a window column's frames per window and coefficients per frame from its annotations, so a consumer
        /// can reshape the flat vector to [window, frame, coefficient].
        /// </summary>
        /// <exception cref="ArgumentException">The column is not a vector of Single or lacks the Int32 annotations; the message names it.</exception>
        public static (int FramesPerWindow, int Coefficients) GetWindowShape(DataViewSchema.Column column)
        {
            if (column.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Single)
            {
                throw new ArgumentException($"Column '{column.Name}' must be a vector of Single windows (from SegmentMfcc); found {column.Type}.", nameof(column));
            }

            return (ReadInt(column, FramesPerWindowAnnotation), ReadInt(column, CoefficientsAnnotation));
        }

        private static int ReadInt(DataViewSchema.Column column, string name)
        {
            var annotation = column.Annotations.Schema.GetColumnOrNull(name);
            if (annotation is null || annotation.Value.Type != NumberDataViewType.Int32)
            {
                throw new ArgumentException(
                    $"Column '{column.Name}' has no Int32 '{name}' annotation, so its windows cannot be reshaped; produce it with ml.Transforms.SegmentMfcc.",
                    nameof(column));
            }

            int value = 0;
            column.Annotations.GetValue(name, ref value);
            if (value <= 0)
            {
                throw new ArgumentException($"The '{name}' annotation of column '{column.Name}' is {value}; it must be positive.", nameof(column));
            }

            return value;
        }
    }

    /// <summary>
    /// Options of <see cref="MfccSegmentingEstimator"/>. Defaults follow the method: MFCC at 50 frames per second
    /// (20 ms hop), 8 s windows (400 frames), a 1 s window hop, with librosa's MFCC definition otherwise
    /// (2048-point FFT, 128 Slaney mel bands with Slaney norm, dB with amin 1e-10 and top_db 80, 20 coefficients).
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "ML.NET's options convention: public fields with inline defaults.")]
    public sealed class MfccSegmenterOptions
    {
        /// <summary>What to compute per frame. Default <see cref="AudioFeatureKind.Mfcc"/>.</summary>
        public AudioFeatureKind FeatureKind = Defaults.FeatureKind;

        /// <summary>Frames per second of audio; the hop is <c>round(sampleRate / FramesPerSecond)</c> samples. Default 50 (20 ms). Ignored when <see cref="HopLength"/> is set.</summary>
        public double FramesPerSecond = Defaults.FramesPerSecond;

        /// <summary>Hop between frames in samples; 0 (default) derives it from <see cref="FramesPerSecond"/>. Sizes win over durations.</summary>
        public int HopLength;

        /// <summary>Window length in seconds, at most 600; a window holds <c>round(WindowSeconds * framesPerSecond)</c> frames, and
        /// at most 2^24 features (64 MiB). Default 8.</summary>
        public double WindowSeconds = Defaults.WindowSeconds;

        /// <summary>Distance between window starts in seconds. Default 1 (scoring); use 8 for the consecutive windows of training.</summary>
        public double WindowHopSeconds = Defaults.WindowHopSeconds;

        /// <summary>FFT size in samples. Default 2048. Powers of two use a fast FFT; other sizes a slower direct DFT.</summary>
        public int FftSize = Defaults.FftSize;

        /// <summary>Length of the periodic Hann window in samples, centred in the FFT frame; 0 (default) means <see cref="FftSize"/>.</summary>
        public int WindowLength;

        /// <summary>Whether frame t is centred on sample <c>t * hop</c> (padding FftSize / 2 at both ends). Default true.</summary>
        public bool Center = true;

        /// <summary>How the centre padding is filled. Default <see cref="SpectrogramPadMode.Constant"/> (zeros, as librosa).</summary>
        public SpectrogramPadMode PadMode = Defaults.PadMode;

        /// <summary>Number of mel bands. Default 128.</summary>
        public int MelBands = Defaults.MelBands;

        /// <summary>Lowest filter-bank frequency in Hz. Default 0.</summary>
        public double MinFrequency;

        /// <summary>Highest filter-bank frequency in Hz; 0 (default) means the Nyquist frequency.</summary>
        public double MaxFrequency;

        /// <summary>Mel scale. Default <see cref="Features.MelScale.Slaney"/> (librosa).</summary>
        public MelScale MelScale = Defaults.MelScale;

        /// <summary>Mel filter normalisation. Default <see cref="Features.MelNorm.Slaney"/> (librosa).</summary>
        public MelNorm MelNorm = Defaults.MelNorm;

        /// <summary>Number of MFCCs (only for <see cref="AudioFeatureKind.Mfcc"/>); at most <see cref="MelBands"/>. Default 20.</summary>
        public int Coefficients = Defaults.Coefficients;

        /// <summary>Floor on the mel power before the logarithm (dB = 10 log10(max(power, Amin))). Default 1e-10.</summary>
        public double Amin = Defaults.Amin;

        /// <summary>Dynamic range kept in dB below the song's loudest band, over the whole song; null keeps everything. Default 80.</summary>
        public double? TopDb = Defaults.TopDb;

        /// <summary>
        /// Sample rate in Hz, used only when the input column has no Int32 <c>SampleRate</c> annotation (LoadAudio
        /// writes one). 0 (default): the annotation is required. When both are present they must agree.
        /// </summary>
        public int SampleRate;

        /// <summary>What to do with a song shorter than one window. Default <see cref="ShortSongPolicy.Pad"/>.</summary>
        public ShortSongPolicy ShortSongPolicy = Defaults.ShortSongPolicy;

        /// <summary>
        /// Learn each coefficient's mean and standard deviation over every frame of the training songs at Fit and
        /// output <c>(value - mean) / std</c>. Fit streams the training data once with a cursor, skips rows flagged by
        /// the loader's error column and applies <see cref="ShortSongPolicy"/> as Transform does. Default false.
        /// </summary>
        public bool Standardize;

        /// <summary>
        /// librosa's <c>feature.mfcc</c> definition at its defaults: 2048-point FFT, hop 512, centred with zero
        /// padding, periodic Hann, 128 Slaney-scale bands with Slaney norm, power_to_db (amin 1e-10, top_db 80), 20
        /// DCT-II (ortho) coefficients. The window layout keeps this class's defaults (8 s windows, 1 s hop).
        /// </summary>
        public static MfccSegmenterOptions Librosa() => new()
        {
            FeatureKind = AudioFeatureKind.Mfcc,
            HopLength = 512,
            FftSize = 2048,
            Center = true,
            PadMode = SpectrogramPadMode.Constant,
            MelBands = 128,
            MelScale = MelScale.Slaney,
            MelNorm = MelNorm.Slaney,
            Coefficients = 20,
            Amin = 1e-10,
            TopDb = 80,
        };

        /// <summary>
        /// torchaudio's <c>transforms.MFCC</c> definition at its defaults: 400-point FFT, hop 200, centred with
        /// reflect padding, periodic Hann, 128 HTK-scale bands without norm, AmplitudeToDB("power", top_db=80), 40
        /// DCT-II (ortho) coefficients. The window layout keeps this class's defaults (8 s windows, 1 s hop).
        /// </summary>
        public static MfccSegmenterOptions Torchaudio() => new()
        {
            FeatureKind = AudioFeatureKind.Mfcc,
            HopLength = 200,
            FftSize = 400,
            Center = true,
            PadMode = SpectrogramPadMode.Reflect,
            MelBands = 128,
            MelScale = MelScale.Htk,
            MelNorm = MelNorm.None,
            Coefficients = 40,
            Amin = 1e-10,
            TopDb = 80,
        };

        internal MfccSegmenterOptions Clone() => (MfccSegmenterOptions)MemberwiseClone();

        /// <summary>Longest window (and window hop) accepted, in seconds: ten minutes, beyond any excerpt a model scores.</summary>
        internal const double MaxWindowSeconds = 600;

        /// <summary>Most features (frames times values per frame) one window may hold: 2^24 floats, 64 MiB.</summary>
        internal const long MaxFeaturesPerWindow = 1L << 24;

        /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
        internal void Validate()
        {
            var errors = new OptionErrors(nameof(MfccSegmenterOptions));
            Collect(errors);
            errors.ThrowIfAny();
        }

        internal void Collect(OptionErrors e)
        {
            e.Check(!Enum.IsDefined(FeatureKind), nameof(FeatureKind), $"{FeatureKind} is not a feature kind.")
             .Check(HopLength < 0, nameof(HopLength), $"must be 0 (derive from FramesPerSecond) or positive; got {HopLength}.")
             .Check(HopLength == 0 && !(FramesPerSecond > 0 && double.IsFinite(FramesPerSecond)), nameof(FramesPerSecond), $"must be a positive number; got {FramesPerSecond}.")
             .Check(!(WindowSeconds > 0 && WindowSeconds <= MaxWindowSeconds), nameof(WindowSeconds), $"must be a positive number of seconds up to {MaxWindowSeconds}; got {WindowSeconds}.")
             .Check(!(WindowHopSeconds > 0 && WindowHopSeconds <= MaxWindowSeconds), nameof(WindowHopSeconds), $"must be a positive number of seconds up to {MaxWindowSeconds}; got {WindowHopSeconds}.")
             .Check(FftSize < 2 || FftSize > 1 << 16, nameof(FftSize), $"must be between 2 and 65536 samples; got {FftSize}.")
             .Check(WindowLength < 0 || WindowLength > FftSize, nameof(WindowLength), $"must be 0 (= FftSize) or between 1 and FftSize ({FftSize}); got {WindowLength}.")
             .Check(!Enum.IsDefined(PadMode), nameof(PadMode), $"{PadMode} is not a pad mode.")
             .Check(FeatureKind != AudioFeatureKind.PowerSpectrogram && MelBands < 1, nameof(MelBands), $"must be at least 1; got {MelBands}.")
             .Check(!(MinFrequency >= 0 && double.IsFinite(MinFrequency)), nameof(MinFrequency), $"must be 0 or more Hz; got {MinFrequency}.")
             .Check(!(MaxFrequency >= 0 && double.IsFinite(MaxFrequency)), nameof(MaxFrequency), $"must be 0 (Nyquist) or a positive frequency in Hz; got {MaxFrequency}.")
             .Check(MaxFrequency > 0 && MaxFrequency <= MinFrequency, nameof(MaxFrequency), $"must be above MinFrequency ({MinFrequency} Hz); got {MaxFrequency}.")
             .Check(!Enum.IsDefined(MelScale), nameof(MelScale), $"{MelScale} is not a mel scale.")
             .Check(!Enum.IsDefined(MelNorm), nameof(MelNorm), $"{MelNorm} is not a mel norm.")
             .Check(FeatureKind == AudioFeatureKind.Mfcc && (Coefficients < 1 || Coefficients > Math.Max(MelBands, 1)), nameof(Coefficients), $"must be between 1 and MelBands ({MelBands}); got {Coefficients}.")
             .Check(!(Amin > 0 && double.IsFinite(Amin)), nameof(Amin), $"must be a small positive number such as 1e-10; got {Amin}.")
             .Check(TopDb is double t && !(t > 0 && double.IsFinite(t)), nameof(TopDb), $"must be null (no clamp) or a positive number of dB; got {TopDb}.")
             .Check(SampleRate < 0, nameof(SampleRate), $"must be 0 (read the SampleRate annotation) or a positive rate in Hz; got {SampleRate}.")
             .Check(!Enum.IsDefined(ShortSongPolicy), nameof(ShortSongPolicy), $"{ShortSongPolicy} is not a short-song policy.");
        }

        /// <summary>Default values of <see cref="MfccSegmenterOptions"/>.</summary>
        public static class Defaults
        {
            /// <summary>MFCC.</summary>
            public const AudioFeatureKind FeatureKind = AudioFeatureKind.Mfcc;

            /// <summary>50 frames per second (20 ms hop).</summary>
            public const double FramesPerSecond = 50;

            /// <summary>8 s windows.</summary>
            public const double WindowSeconds = 8;

            /// <summary>1 s between window starts.</summary>
            public const double WindowHopSeconds = 1;

            /// <summary>2048-point FFT.</summary>
            public const int FftSize = 2048;

            /// <summary>Zero padding at the ends.</summary>
            public const SpectrogramPadMode PadMode = SpectrogramPadMode.Constant;

            /// <summary>128 mel bands.</summary>
            public const int MelBands = 128;

            /// <summary>Slaney mel scale.</summary>
            public const MelScale MelScale = Features.MelScale.Slaney;

            /// <summary>Slaney mel norm.</summary>
            public const MelNorm MelNorm = Features.MelNorm.Slaney;

            /// <summary>20 MFCCs.</summary>
            public const int Coefficients = 20;

            /// <summary>Power floor 1e-10.</summary>
            public const double Amin = 1e-10;

            /// <summary>80 dB of dynamic range.</summary>
            public const double TopDb = 80;

            /// <summary>Pad short songs.</summary>
            public const ShortSongPolicy ShortSongPolicy = Features.ShortSongPolicy.Pad;
        }
    }

    /// <summary>A song is shorter than one window and <see cref="ShortSongPolicy.Reject"/> is in force.</summary>
    public sealed class SongTooShortException : Exception
    {
        /// <summary>Creates the exception.</summary>
        public SongTooShortException(string column, long row, double durationSeconds, double windowSeconds)
            : base($"Row {row} of column '{column}' holds {durationSeconds:0.###} s of audio, shorter than one {windowSeconds:0.###} s window. "
                + "Set MfccSegmenterOptions.ShortSongPolicy = Pad to pad it with silence, or use a shorter WindowSeconds.")
        {
            Column = column;
            Row = row;
            DurationSeconds = durationSeconds;
            WindowSeconds = windowSeconds;
        }

        /// <summary>Creates the exception with a message.</summary>
        public SongTooShortException(string message)
            : base(message)
        {
            Column = string.Empty;
        }

        /// <summary>Creates the exception with a message and an inner exception.</summary>
        public SongTooShortException(string message, Exception innerException)
            : base(message, innerException)
        {
            Column = string.Empty;
        }

        /// <summary>Creates the exception with a default message.</summary>
        public SongTooShortException()
        {
            Column = string.Empty;
        }

        /// <summary>The input audio column.</summary>
        public string Column { get; }

        /// <summary>The row's position in the data view.</summary>
        public long Row { get; }

        /// <summary>The song's duration in seconds.</summary>
        public double DurationSeconds { get; }

        /// <summary>The window length in seconds.</summary>
        public double WindowSeconds { get; }
    }

    /// <summary>Where windows fall in a song, in frames, for one sample rate.</summary>
    internal sealed class SegmentGrid
    {
        public SegmentGrid(int sampleRate, int hopLength, double windowSeconds, double windowHopSeconds)
        {
            SampleRate = sampleRate;
            HopLength = hopLength;
            WindowSeconds = windowSeconds;
            WindowHopSeconds = windowHopSeconds;
            FramesPerSecond = (double)sampleRate / hopLength;
            FramesPerWindow = (int)Math.Round(windowSeconds * FramesPerSecond);
            HopFrames = windowHopSeconds * FramesPerSecond;
        }

        public int SampleRate { get; }

        public int HopLength { get; }

        public double WindowSeconds { get; }

        public double WindowHopSeconds { get; }

        public double FramesPerSecond { get; }

        public int FramesPerWindow { get; }

        /// <summary>Distance between window starts in frames (may be fractional; each start is rounded).</summary>
        public double HopFrames { get; }

        /// <summary>
        /// floor((d - window) / hop) + 1 windows for a song of d = samples / sampleRate seconds, or 0 when the song is
        /// shorter than one window. The 1e-9 tolerance absorbs rounding in d - window (so d = 8 exactly gives 1).
        /// </summary>
        public int WindowCount(long samples)
        {
            double d = (double)samples / SampleRate;
            double x = (d - WindowSeconds) / WindowHopSeconds;
            return x < -1e-9 ? 0 : (int)Math.Floor(x + 1e-9) + 1;
        }

        public int WindowStart(int window) => (int)Math.Round(window * HopFrames);
    }

    /// <summary>
    /// Estimator for <see cref="MfccSegmentingTransformer"/>: cuts each song's audio into overlapping windows of
    /// MFCC (or log-mel, or power-spectrogram) frames.
    /// </summary>
    /// <remarks>
    /// <format type="text/markdown"><![CDATA[
    /// ### Estimator characteristics
    /// |  |  |
    /// | -- | -- |
    /// | Does this estimator need to look at the data to train its parameters? | Only with `Standardize = true` |
    /// | Input column data type | Variable-size vector of Single (mono samples) with an Int32 `SampleRate` annotation |
    /// | Output column data type | Variable-size vector of Single, [window, frame, coefficient] row-major |
    /// | Required NuGet in addition to Microsoft.ML | MLNetAudio |
    /// | Exportable to ONNX | No |
    ///
    /// A song of d seconds yields floor((d - WindowSeconds) / WindowHopSeconds) + 1 windows; a shorter one is padded
    /// to one window or rejected (<see cref="MfccSegmenterOptions.ShortSongPolicy"/>), never dropped. Rows whose
    /// `{input}.Error` text column (written by LoadAudio's error policy) is non-empty yield zero windows.
    /// ]]></format>
    /// </remarks>
    /// <example>
    /// <code>
    /// var pipeline = ml.Transforms.LoadAudio("Audio", "Path")
    ///     .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"));
    /// </code>
    /// </example>
    public sealed class MfccSegmentingEstimator : IEstimator<MfccSegmentingTransformer>
    {
        private readonly string _output;
        private readonly string _input;
        private readonly MfccSegmenterOptions _options;

        internal MfccSegmentingEstimator(string outputColumnName, string inputColumnName, MfccSegmenterOptions options)
        {
            ArgumentException.ThrowIfNullOrEmpty(outputColumnName);
            ArgumentException.ThrowIfNullOrEmpty(inputColumnName);
            options.Validate();
            _output = outputColumnName;
            _input = inputColumnName;
            _options = options.Clone();
        }

        /// <summary>
        /// Returns the transformer; with <see cref="MfccSegmenterOptions.Standardize"/> it first streams every
        /// training song once (a cursor, one song in memory at a time) to learn each coefficient's mean and
        /// standard deviation over all frames.
        /// </summary>
        public MfccSegmentingTransformer Fit(IDataView input)
        {
            ArgumentNullException.ThrowIfNull(input);
            var plain = new MfccSegmentingTransformer(_output, _input, _options, null, null);
            plain.GetOutputSchema(input.Schema);
            if (!_options.Standardize)
            {
                return plain;
            }

            var (mean, std) = plain.LearnStandardization(input);
            return new MfccSegmentingTransformer(_output, _input, _options, mean, std);
        }

        /// <summary>Checks the input column's type and adds the output column.</summary>
        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            ArgumentNullException.ThrowIfNull(inputSchema);
            var col = SchemaShapes.Require(inputSchema, _input, "Audio input");
            if (col.Kind == SchemaShape.Column.VectorKind.Scalar || col.ItemType != NumberDataViewType.Single)
            {
                throw new ArgumentException(
                    $"Audio input column '{_input}' must be a vector of Single (mono samples, as LoadAudio produces); found {(col.Kind == SchemaShape.Column.VectorKind.Scalar ? "a scalar" : "a vector")} of {col.ItemType}.",
                    nameof(inputSchema));
            }

            var output = new OutputColumn(_output, new VectorDataViewType(NumberDataViewType.Single), MfccSegmentingTransformer.MakeAnnotations(1, 1, 1, _options));
            return SchemaShapes.Append(inputSchema, [output]);
        }
    }

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

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new SongWorker(this, input);
        }

        /// <summary>Per-cursor state: the extractor's buffers, the song's frames and the last row's windows.</summary>
        private sealed class SongWorker : RowMapper
        {
            private readonly Binding _b;
            private readonly DataViewRow _input;
            private readonly SpectralExtractor _extractor;
            private readonly ValueGetter<VBuffer<float>> _samplesGetter;
            private readonly ValueGetter<ReadOnlyMemory<char>>? _errorGetter;
            private VBuffer<float> _samples;
            private ReadOnlyMemory<char> _error;
            private float[] _song = [];
            private int _windowCount;
            private int _windowValues;
            private long _cachedPosition = -1;

            public SongWorker(Binding binding, DataViewRow input)
            {
                _b = binding;
                _input = input;
                _extractor = new SpectralExtractor(binding.Definition);
                _samplesGetter = input.GetGetter<VBuffer<float>>(input.Schema[binding.InputIndex]);
                _errorGetter = binding.ErrorIndex is int e ? input.GetGetter<ReadOnlyMemory<char>>(input.Schema[e]) : null;
            }

            private string Column => _b.Owner.InputColumnName;

            public override Delegate GetGetter(int outputIndex)
            {
                ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
                {
                    if (_cachedPosition != _input.Position)
                    {
                        ComputeWindows();
                        _cachedPosition = _input.Position;
                    }

                    var editor = VBufferEditor.Create(ref dst, _windowValues);
                    CopyWindows(editor.Values);
                    dst = editor.Commit();
                };
                return getter;
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
                var d = _b.Definition;
                var layout = _b.Layout;
                int windows = layout.WindowCount(samples.Length);
                if (windows == 0)
                {
                    if (_b.Owner._options.ShortSongPolicy == ShortSongPolicy.Reject)
                    {
                        throw new SongTooShortException(Column, _input.Position, (double)samples.Length / layout.SampleRate, layout.WindowSeconds);
                    }

                    windows = 1;
                }

                int own = d.FrameCount(samples.Length);
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

                var song = _song.AsSpan(0, (int)size);
                _extractor.Compute(samples, frames, song);
                var mean = _b.Owner._mean;
                var std = _b.Owner._std;
                if (mean is not null && std is not null)
                {
                    int c = d.Coefficients;
                    for (int f = 0; f < frames; f++)
                    {
                        var row = song.Slice(f * c, c);
                        System.Numerics.Tensors.TensorPrimitives.Subtract(row, mean, row);
                        System.Numerics.Tensors.TensorPrimitives.Divide(row, std, row);
                    }
                }

                return song;
            }

            /// <summary>Computes the row's song frames once; the getter copies the windows straight out of them.</summary>
            private void ComputeWindows()
            {
                _windowCount = 0;
                if (!ReadSong(out var samples))
                {
                    _windowValues = 0;
                    return;
                }

                SongFeatures(samples, forStatistics: false, out _);
                int windows = Math.Max(1, _b.Layout.WindowCount(samples.Length));
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

namespace MLNetAudio
{
    /// <summary>MfccSegmenter's part of the transforms catalog.</summary>
    public static partial class AudioTransformsCatalog
    {
        /// <summary>
        /// Cuts each song's mono samples (from <c>LoadAudio</c>) into overlapping windows of MFCC frames (or log-mel or
        /// power-spectrogram frames): a variable-length vector [window, frame, coefficient] whose frame and
        /// coefficient counts are in the column's annotations (<see cref="WindowColumns"/>).
        /// </summary>
        /// <param name="catalog">The transforms catalog.</param>
        /// <param name="outputColumnName">The column of windows to create.</param>
        /// <param name="inputColumnName">The column of samples; null means the same as <paramref name="outputColumnName"/>.</param>
        /// <param name="options">Feature and window settings; null means the defaults (MFCC, 50 frames/s, 8 s windows, 1 s hop).</param>
        public static MfccSegmentingEstimator SegmentMfcc(
            this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null, MfccSegmenterOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            return new MfccSegmentingEstimator(outputColumnName, inputColumnName ?? outputColumnName, options ?? new MfccSegmenterOptions());
        }
    }
}
