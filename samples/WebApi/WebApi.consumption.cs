using Microsoft.ML;
using MLNetAudio;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Scoring;

namespace WebApiSample;

/// <summary>
/// Consumption half of the Model Builder-style pair for the taste model (<c>models/flute-taste.zip</c>): its input and
/// output types, loading, and scoring one uploaded song with a pooled prediction engine.
/// </summary>
public static partial class WebApi
{
    /// <summary>One song to score: the path of an audio file (WAV, Ogg Vorbis, MP3), as the model's LoadAudio reads it.</summary>
    public sealed class ModelInput
    {
        /// <summary>The audio file.</summary>
        public string Path { get; set; } = string.Empty;
    }

    /// <summary>What the taste model writes for a song.</summary>
    public sealed class ModelOutput
    {
        /// <summary>The song's score: the sum of window preferences over the song's length.</summary>
        public float Score { get; set; }

        /// <summary>Start of the best window, in seconds.</summary>
        [ColumnName("Score" + WindowAggregatingTransformer.BestWindowStartSuffix)]
        public float BestWindowStart { get; set; }

        /// <summary>The preference (0..1) of each window, in time order.</summary>
        public float[] WindowScores { get; set; } = [];

        /// <summary>The decoded song's length, in seconds.</summary>
        [ColumnName("Audio" + AudioColumns.DurationSuffix)]
        public double DurationSeconds { get; set; }
    }

    /// <summary>The taste model, loaded once, with its engines pooled and its window timing read from the model.</summary>
    /// <param name="Engines">Pooled prediction engines over the loaded model.</param>
    /// <param name="WindowSeconds">Length of a window (the WindowScores column's WindowSeconds annotation).</param>
    /// <param name="HopSeconds">Hop between window starts (its WindowHopSeconds annotation).</param>
    /// <param name="Loader">The model's first stage, the audio loader (to tell an upload holding no samples from a model error).</param>
    public sealed record TasteModel(PredictionEnginePool<ModelInput, ModelOutput> Engines, double WindowSeconds, double HopSeconds, ITransformer Loader)
    {
        /// <summary>Loads a taste model file and checks it writes what <see cref="ModelOutput"/> reads.</summary>
        /// <exception cref="InvalidOperationException">The file is missing or is not a taste model.</exception>
        public static TasteModel Load(MLContext ml, string path)
        {
            ArgumentNullException.ThrowIfNull(ml);
            if (!File.Exists(path))
            {
                throw new InvalidOperationException($"Taste model {path} not found: set WebApi:TasteModelPath in appsettings.json.");
            }

            var model = ml.Audio().Model.Load(path, out _);
            var output = model.GetOutputSchema(ml.Data.LoadFromEnumerable(Array.Empty<ModelInput>()).Schema);
            var timeline = output.GetColumnOrNull(nameof(ModelOutput.WindowScores))
                ?? throw new InvalidOperationException($"{path}: the model writes no WindowScores column; a taste model ends in AggregateWindows(\"Score\", \"WindowScores\").");
            double window = Annotation(timeline, WindowColumns.WindowSecondsAnnotation) ?? throw new InvalidOperationException($"{path}: WindowScores has no {WindowColumns.WindowSecondsAnnotation} annotation.");
            double hop = Annotation(timeline, WindowColumns.WindowHopSecondsAnnotation) ?? throw new InvalidOperationException($"{path}: WindowScores has no {WindowColumns.WindowHopSecondsAnnotation} annotation.");
            var loader = Flatten(model).FirstOrDefault() as AudioLoadingTransformer
                ?? throw new InvalidOperationException($"{path}: a taste model starts with LoadAudio reading the Path column.");
            return new TasteModel(new PredictionEnginePool<ModelInput, ModelOutput>(ml, model), window, hop, loader);
        }

        /// <summary>Scores the audio file at <paramref name="path"/>.</summary>
        /// <exception cref="AudioLoadException">The file is not audio the loader reads.</exception>
        public ModelOutput Predict(string path) => Engines.Predict(new ModelInput { Path = path });

        /// <summary>
        /// The decoded length of the audio file at <paramref name="path"/>, in seconds, from the loader alone (decodes
        /// the file again: for the rare upload that fails further down the pipeline).
        /// </summary>
        public double DecodedSeconds(MLContext ml, string path)
        {
            ArgumentNullException.ThrowIfNull(ml);
            using var engine = ml.Model.CreatePredictionEngine<ModelInput, DecodedAudio>(Loader);
            return engine.Predict(new ModelInput { Path = path }).DurationSeconds;
        }

        private static IEnumerable<ITransformer> Flatten(ITransformer model) =>
            model is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [model];

        private static double? Annotation(DataViewSchema.Column column, string name)
        {
            if (column.Annotations.Schema.GetColumnOrNull(name)?.Type != NumberDataViewType.Double)
            {
                return null;
            }

            double value = 0;
            column.Annotations.GetValue(name, ref value);
            return value;
        }
    }

    private sealed class DecodedAudio
    {
        [ColumnName("Audio" + AudioColumns.DurationSuffix)]
        public double DurationSeconds { get; set; }
    }
}
