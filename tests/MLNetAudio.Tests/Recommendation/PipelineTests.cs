using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>The recommenders inside ordinary ML.NET pipelines, with string ids mapped to keys by MapValueToKey.</summary>
public sealed class PipelineTests
{
    public sealed class Play
    {
        public string User { get; set; } = "";

        public string Song { get; set; } = "";

        public float Label { get; set; }
    }

    public sealed class Prediction
    {
        public float Score { get; set; }
    }

    private static readonly Play[] Plays =
    [
        new() { User = "ann", Song = "flute suite", Label = 3 },
        new() { User = "ann", Song = "guitar song", Label = 1 },
        new() { User = "bob", Song = "flute suite", Label = 2 },
        new() { User = "bob", Song = "drum solo", Label = 1 },
        new() { User = "cid", Song = "guitar song", Label = 4 },
    ];

    [Fact]
    public void TrainersFollowMapValueToKeyInAPipelineAndServeAPredictionEngine()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Plays);
        var keys = ml.Transforms.Conversion.MapValueToKey("UserId", "User")
            .Append(ml.Transforms.Conversion.MapValueToKey("SongId", "Song"));
        var trainers = ml.Audio().Recommendation.Trainers;

        var popularity = keys.Append(trainers.Popularity("Label", "UserId", "SongId")).Fit(data);
        var engine = ml.Model.CreatePredictionEngine<Play, Prediction>(popularity);
        Assert.Equal(2f, engine.Predict(new Play { User = "cid", Song = "flute suite" }).Score);
        Assert.Equal(0f, engine.Predict(new Play { User = "cid", Song = "a song nobody played" }).Score);

        var als = keys.Append(trainers.ImplicitMatrixFactorization("Label", "UserId", "SongId", approximationRank: 2, numberOfIterations: 3)).Fit(data);
        var scored = als.Transform(data);
        Assert.NotNull(scored.Schema.GetColumnOrNull("Score"));
        Assert.NotNull(scored.Schema.GetColumnOrNull(ImplicitMatrixFactorizationModel.HasFactorsColumnName));
        Assert.All(scored.GetColumn<bool>(ImplicitMatrixFactorizationModel.HasFactorsColumnName), Assert.True);

        // The estimator chain's schema propagation accepts MapValueToKey's key columns.
        var shape = keys.Append(trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId")).GetOutputSchema(new SchemaShape(data.Schema.Select(c => SchemaShapes.MakeColumn(c.Name, c.Type))));
        Assert.Contains(shape, c => c.Name == "Score");
    }
}
