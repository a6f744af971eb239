using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
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
}
