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
}
