using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
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
}
