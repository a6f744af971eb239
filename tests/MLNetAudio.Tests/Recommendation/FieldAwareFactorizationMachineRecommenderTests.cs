using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class FieldAwareFactorizationMachineRecommenderTests
{
    private sealed class ReferenceRow
    {
        public uint User { get; set; }

        public uint Song { get; set; }

        public bool Label { get; set; }
    }

    [Fact]
    public void DivergedWeightsStopTraining()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 30, UserCount = 20, Seed = 8 });
        var trainer = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions
        {
            MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", LabelColumnName = "Label", LearningRate = 1e38f, NumberOfIterations = 3,
        });
        var e = Assert.Throws<NonFiniteTrainingException>(() => trainer.Fit(sim.ToDataView(ml, sim.Training)));
        Assert.Equal("FieldAwareFactorizationMachineRecommender", e.Trainer);
        Assert.Contains("LearningRate", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FitDoesNotDependOnWhatTheContextRanBefore()
    {
        // ML.NET's FFM seeds itself from its host, which depends on the components registered on the context before it;
        // the recommender trains on a context of its own so the same options give the same model.
        float[] Scores(bool warmUpContext)
        {
            var ml = new MLContext(seed: 1);
            var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 30, UserCount = 20, Seed = 8 });
            var training = sim.ToDataView(ml, sim.Training);
            var trainer = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine("Label", "UserId", "SongId");
            if (warmUpContext)
            {
                // Another fit on the same context registers ML.NET components and draws from the context's random.
                _ = trainer.Fit(training);
            }

            var model = trainer.Fit(training);
            var all = new float[model.UserCount * model.SongCount];
            model.ScoreUsers(0, model.UserCount, all);
            return all;
        }

        var fresh = Scores(false);
        Assert.Contains(fresh, v => v != fresh[0]);
        Assert.Equal(fresh, Scores(true));
        Assert.NotEqual(fresh, ScoresWithSeed(2));

        static float[] ScoresWithSeed(int seed)
        {
            var ml = new MLContext(seed: 1);
            var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 30, UserCount = 20, Seed = 8 });
            var model = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(
                new FieldAwareFactorizationMachineRecommenderOptions { LabelColumnName = "Label", MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", Seed = seed })
                .Fit(sim.ToDataView(ml, sim.Training));
            var all = new float[model.UserCount * model.SongCount];
            model.ScoreUsers(0, model.UserCount, all);
            return all;
        }
    }

    [Fact]
    public void BatchedScoresEqualMlNetsOwnFfmPredictions()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 40, UserCount = 25, Seed = 8 });
        var model = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine("Label", "UserId", "SongId").Fit(sim.ToDataView(ml, sim.Training));

        var pairs = (from u in Enumerable.Range(1, 25) from s in Enumerable.Range(1, 40) where (u * 7 + s) % 5 == 0 select ((uint)u, (uint)s)).ToArray();
        var ours = PlayLogs.Floats(model.Transform(PlayLogs.Make(ml, 25, 40, pairs.Select(p => (p.Item1, p.Item2, 0f)).ToArray())), "Score");

        // ML.NET's predictor on the same pairs (its input keys are 0-based in .NET, see ListeningSimulator.ToDataView).
        var schema = SchemaDefinition.Create(typeof(ReferenceRow));
        schema[nameof(ReferenceRow.User)].ColumnType = new KeyDataViewType(typeof(uint), 25);
        schema[nameof(ReferenceRow.Song)].ColumnType = new KeyDataViewType(typeof(uint), 40);
        var rows = ml.Data.LoadFromEnumerable(pairs.Select(p => new ReferenceRow { User = p.Item1 - 1, Song = p.Item2 - 1 }).ToArray(), schema);
        var theirs = PlayLogs.Floats(model.Reference!.Transform(rows), "Score");

        var known = pairs.Select(p => model.IsSongKnown(p.Item2)).ToArray();
        for (int i = 0; i < pairs.Length; i++)
        {
            if (known[i])
            {
                Assert.Equal(theirs[i], ours[i], 1e-4f);
            }
        }

        Assert.True(known.Count(k => k) > 20);
        Assert.True(theirs.Distinct().Count() > 20, "the FFM should not score every pair alike");
    }

    [Fact]
    public void LearnsWarmPreferencesBetterThanChance()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 150, UserCount = 100, Seed = 9 });
        var training = sim.ToDataView(ml, sim.Training);
        var model = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions
        {
            MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", NumberOfIterations = 10,
        }).Fit(training);
        var metrics = ml.Audio().Recommendation.Evaluate(model, sim.ToDataView(ml, sim.WarmTest), training,
            new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() });
        Assert.True(metrics.Auc > 0.6, $"AUC {metrics.Auc:F3}");
        Assert.DoesNotContain(model.RecommendAll(10).SelectMany((list, u) => list.Select(r => ((uint)u + 1, r.SongKey))),
            p => model.GetPlayedSongs(p.Item1).Contains(p.SongKey));
    }

    [Fact]
    public void OptionsReportEveryBadFieldAtOnce()
    {
        var e = Assert.Throws<ArgumentException>(() => new FieldAwareFactorizationMachineRecommenderOptions { NegativeSamplesPerPlay = 0, LatentDimension = 20, LearningRate = -1 }.Validate());
        foreach (var field in new[] { "MatrixColumnIndexColumnName", "NegativeSamplesPerPlay", "LatentDimension", "LearningRate" })
        {
            Assert.Contains(field, e.Message);
        }
    }
}
