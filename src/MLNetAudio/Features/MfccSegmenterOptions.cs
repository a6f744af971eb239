using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
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
}
