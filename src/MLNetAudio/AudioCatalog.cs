using Microsoft.ML;
using MLNetAudio.Audio;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;

// The core package's catalog entry points, in one file as ML.NET gathers each package's (TorchSharpCatalog.cs,
// RecommenderCatalog.cs): ml.Transforms.LoadAudio / SegmentMfcc / AggregateWindows, ml.Audio(), ml.Audio().Trainers,
// ml.Audio().Model. The other packages add theirs in their own catalog files, as extension members of these
// classes (MLNetAudio.Recommendation: ml.Audio().Recommendation; MLNetAudio.Onnx: ml.Audio().Model.ExportOnnx).
namespace MLNetAudio
{
    /// <summary>Entry point of MLNetAudio's own catalog: <c>ml.Audio()</c>.</summary>
    public static class MLContextAudioExtensions
    {
        /// <summary>
        /// Returns MLNetAudio's catalog (trainers, model save/load, and what the other MLNetAudio packages add: ONNX
        /// export, recommendation). Named <c>Audio</c> so it never clashes with <c>ml.Recommendation()</c> of Microsoft.ML.Recommender.
        /// </summary>
        public static AudioCatalog Audio(this MLContext mlContext)
        {
            ArgumentNullException.ThrowIfNull(mlContext);
            return new AudioCatalog(mlContext);
        }
    }

    /// <summary>MLNetAudio's catalog, reached through <c>ml.Audio()</c>.</summary>
    public sealed class AudioCatalog
    {
        internal AudioCatalog(MLContext mlContext)
        {
            Context = mlContext;
        }

        /// <summary>The context this catalog was made from; its seed drives every random choice.</summary>
        public MLContext Context { get; }

        /// <summary>MLNetAudio's trainers (<see cref="AudioTrainers.TimeConvLstm(TimeConvLstmOptions)"/>).</summary>
        public AudioTrainers Trainers => new(Context);

        /// <summary>Saves and loads fitted pipelines that hold MLNetAudio components and ordinary ML.NET transformers.</summary>
        public AudioModelCatalog Model => new(Context);
    }

    /// <summary>MLNetAudio's <c>ml.Transforms.*</c> extension methods: LoadAudio, SegmentMfcc, AggregateWindows.</summary>
    public static class AudioTransformsCatalog
    {
        /// <summary>
        /// Loads the audio files named in <paramref name="inputColumnName"/> as mono float samples resampled to
        /// <see cref="AudioLoaderOptions.TargetSampleRate"/> (22050 Hz by default). Adds
        /// <paramref name="outputColumnName"/> (samples, with a <c>SampleRate</c> annotation),
        /// <c>{output}.SampleRate</c> (Int32) and <c>{output}.Duration</c> (Double, seconds); under
        /// <see cref="AudioErrorPolicy.Report"/> also <c>{output}.Error</c> (Text).
        /// </summary>
        /// <remarks>
        /// Memory: each file is resampled while it is decoded, so a song never exists whole at its own rate, and a song of
        /// 2^20 samples or more (65 s at 16 kHz) is handed to the reader of the samples column without a copy; treat the
        /// values read from that column as read-only (ML.NET's own transforms do).
        /// </remarks>
        /// <param name="catalog">The transforms catalog (<c>ml.Transforms</c>).</param>
        /// <param name="outputColumnName">Name of the samples column to add.</param>
        /// <param name="inputColumnName">Text column of file paths; null means the same as <paramref name="outputColumnName"/>.</param>
        /// <param name="options">Target rate, part of the song to read, error policy; null for the defaults.</param>
        /// <example><code>
        /// var pipeline = ml.Transforms.LoadAudio("Audio", "Path")
        ///     .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"));
        /// </code></example>
        public static AudioLoadingEstimator LoadAudio(
            this TransformsCatalog catalog,
            string outputColumnName,
            string? inputColumnName = null,
            AudioLoaderOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
            return new AudioLoadingEstimator(outputColumnName, inputColumnName ?? outputColumnName, options ?? new AudioLoaderOptions());
        }

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

        /// <summary>
        /// Turns window preferences into a song score (<paramref name="outputColumnName"/>, Single) and the start of the
        /// best window in seconds (<c>{outputColumnName}.BestWindowStart</c>, Single).
        /// </summary>
        /// <param name="catalog">The transforms catalog.</param>
        /// <param name="outputColumnName">The score column.</param>
        /// <param name="inputColumnName">The window score column (Single vector with timing annotations); null means <paramref name="outputColumnName"/>.</param>
        /// <param name="aggregation">The rule; default the seed's sum of window scores / song seconds (song seconds derived from the windows).</param>
        public static WindowAggregatingEstimator AggregateWindows(
            this TransformsCatalog catalog,
            string outputColumnName,
            string? inputColumnName = null,
            WindowAggregation aggregation = WindowAggregation.SumOverDuration)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            return new WindowAggregatingEstimator(outputColumnName, inputColumnName ?? outputColumnName, new WindowAggregatorOptions { Aggregation = aggregation });
        }

        /// <summary>The same with all options (TopK, a duration column, timing when the input lacks annotations).</summary>
        /// <param name="catalog">The transforms catalog.</param>
        /// <param name="outputColumnName">The score column.</param>
        /// <param name="inputColumnName">The window score column; null means <paramref name="outputColumnName"/>.</param>
        /// <param name="options">The options; checked at once.</param>
        public static WindowAggregatingEstimator AggregateWindows(
            this TransformsCatalog catalog,
            string outputColumnName,
            string? inputColumnName,
            WindowAggregatorOptions options)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            return new WindowAggregatingEstimator(outputColumnName, inputColumnName ?? outputColumnName, options);
        }
    }
}

namespace MLNetAudio.Scoring
{
    /// <summary>MLNetAudio's trainers, reached through <c>ml.Audio().Trainers</c>.</summary>
    public sealed class AudioTrainers
    {
        private readonly MLContext _mlContext;

        internal AudioTrainers(MLContext mlContext) => _mlContext = mlContext;

        /// <summary>
        /// The seed's time-convolution + LSTM preference scorer: learns from songs' windows and their like/not labels.
        /// </summary>
        /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
        public TimeConvLstmTrainer TimeConvLstm(TimeConvLstmOptions options) => new(_mlContext, options);

        /// <summary>The same with default options and the given column names.</summary>
        public TimeConvLstmTrainer TimeConvLstm(
            string labelColumnName = TimeConvLstmOptions.Defaults.LabelColumnName,
            string featureColumnName = TimeConvLstmOptions.Defaults.FeatureColumnName,
            string outputColumnName = TimeConvLstmOptions.Defaults.OutputColumnName) =>
            new(_mlContext, new TimeConvLstmOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, OutputColumnName = outputColumnName });
    }
}
