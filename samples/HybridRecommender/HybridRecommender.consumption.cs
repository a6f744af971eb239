using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;

namespace HybridRecommenderSample;

/// <summary>Consumption half of the Model Builder-style pair: score a (user, song) pair, explain, fold in a new user.</summary>
public static partial class HybridRecommender
{
    private static PredictionEngine<ModelInput, ModelOutput>? _engine;

    /// <summary>A (user, song) pair; keys are 0-based here, as ML.NET's LoadFromEnumerable expects for key columns.</summary>
    public sealed class ModelInput
    {
        /// <summary>The user (0-based key value).</summary>
        public uint UserId { get; set; }

        /// <summary>The song (0-based key value).</summary>
        public uint SongId { get; set; }
    }

    /// <summary>The audio model's score of the pair.</summary>
    public sealed class ModelOutput
    {
        /// <summary>Predicted preference, 0..1.</summary>
        public float Score { get; set; }
    }

    /// <summary>Scores one pair with a PredictionEngine over the fitted audio model (made once, on first use).</summary>
    public static float Predict(MLContext ml, MultiUserAudioModel model, uint userKey, uint songKey)
    {
        if (_engine is null)
        {
            var schema = SchemaDefinition.Create(typeof(ModelInput));
            schema[nameof(ModelInput.UserId)].ColumnType = new KeyDataViewType(typeof(uint), model.UserCount);
            schema[nameof(ModelInput.SongId)].ColumnType = new KeyDataViewType(typeof(uint), model.SongCount);
            _engine = ml.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model, inputSchemaDefinition: schema);
        }

        return _engine.Predict(new ModelInput { UserId = userKey - 1, SongId = songKey - 1 }).Score;
    }

    /// <summary>Prints a recommendation with its reason: the best window and the song's score timeline.</summary>
    public static void PrintReason(AudioRecommendationReason r, SongDescription song)
    {
        string timeline = string.Join(" ", r.Timeline.Select(v => v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)));
        Console.WriteLine($"  song {r.SongKey} [{string.Join("+", song.Instruments)}, {song.Register}, {song.TempoBpm} bpm{(song.Motif is null ? string.Empty : ", motif on " + song.Motif.CarriedBy)}]: "
            + $"score {r.Score:0.000}, best part {r.BestWindowStartSeconds:0}-{r.BestWindowStartSeconds + r.WindowSeconds:0} s; timeline {timeline}");
    }
}
