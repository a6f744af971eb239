using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

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
