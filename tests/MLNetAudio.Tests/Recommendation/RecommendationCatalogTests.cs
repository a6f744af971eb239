using Microsoft.ML;
using MLNetAudio.Recommendation;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Recommendation;

public sealed class RecommendationCatalogTests
{
    private readonly ITestOutputHelper _output;

    public RecommendationCatalogTests(ITestOutputHelper output) => _output = output;

    private static RecommendationEvaluationOptions K2 => new() { K = 2 };

    [Fact]
    public void EvaluateFiltersPlayedSongsAndAveragesOverUsers()
    {
        var ml = new MLContext(seed: 1);

        // User 1 played song 1 in training and songs 3 and 5 in test; user 2 played song 5 in test.
        var scorer = new FixedScorer([0.9f, 0.8f, 0.7f, 0.6f, 0.5f], [0.1f, 0.2f, 0.3f, 0.4f, 0.5f]);
        var training = PlayLogs.Make(ml, 2, 5, (1, 1, 1));
        var test = PlayLogs.Make(ml, 2, 5, (1, 3, 1), (1, 5, 2), (2, 5, 1));
        var m = ml.Audio().Recommendation.Evaluate(scorer, test, training, K2);

        // User 1 ranks [2, 3, 4, 5] (song 1 filtered): top 2 = [2, 3], one hit at position 2.
        // User 2 ranks [5, 4, ...]: top 2 = [5, 4], one hit at position 1.
        double ndcg1 = (1 / Math.Log2(3)) / (1 + 1 / Math.Log2(3));
        Assert.Equal(2, m.UsersEvaluated);
        Assert.Equal(0.5, m.PrecisionAtK, 12);
        Assert.Equal((0.5 + 1) / 2, m.RecallAtK, 12);
        Assert.Equal((ndcg1 + 1) / 2, m.NdcgAtK, 12);
        Assert.Equal(((0.5 + 2 / 4.0) / 2 + 1) / 2, m.MapAtCutoff, 12); // user 1 hits at 2 and 4
        Assert.Equal((0.25 + 1) / 2, m.Auc, 12); // user 1: song 3 beats 4 only, song 5 beats none, of 2 x 2 pairs
        Assert.Equal(4 / 5.0, m.CatalogCoverage, 12); // songs 2, 3, 4, 5
        Assert.True(double.IsNaN(m.IntraListDiversity));

        // Without filtering, songs 1 and 2 fill user 1's list: no hit.
        var unfiltered = ml.Audio().Recommendation.Evaluate(scorer, test, alreadyPlayed: null, K2);
        Assert.Equal((0 + 0.5) / 2, unfiltered.PrecisionAtK, 12);
    }

    [Fact]
    public void NaNMetricsSayWhy()
    {
        var ml = new MLContext(seed: 1);
        var test = PlayLogs.Make(ml, 2, 3, (1, 1, 1), (2, 2, 1));

        // A scorer that gives NaN everywhere: both users are left out as unscored, not counted as misses (0.000).
        var broken = ml.Audio().Recommendation.Evaluate(new FixedScorer([float.NaN, float.NaN, float.NaN], [float.NaN, float.NaN, float.NaN]), test, null, K2);
        Assert.Equal(0, broken.UsersEvaluated);
        Assert.Equal(2, broken.UsersWithoutScores);
        Assert.True(double.IsNaN(broken.NdcgAtK));
        Assert.Equal("n/a (the scorer gave NaN for every relevant song of all 2 user(s) with test plays)", broken.Format(nameof(broken.NdcgAtK)));
        Assert.Equal("n/a (no song embeddings given)", broken.Format(nameof(broken.IntraListDiversity)));

        // Every candidate relevant: AUC has no negative to rank against; the other metrics are numbers.
        var both = PlayLogs.Make(ml, 2, 3, (1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 2, 1));
        var allRelevant = ml.Audio().Recommendation.Evaluate(new FixedScorer([0.5f, 0.4f, 0.3f], [0.1f, 0.9f, 0.2f]), both, null,
            new RecommendationEvaluationOptions { K = 2, CandidateSongKeys = [1, 2] });
        Assert.Equal("n/a (no evaluated user has both relevant and irrelevant candidates)", allRelevant.Format(nameof(allRelevant.Auc)));
        Assert.Equal("1.000", allRelevant.Format(nameof(allRelevant.PrecisionAtK)));
        Assert.False(allRelevant.MissingReasons.ContainsKey(nameof(allRelevant.PrecisionAtK)));

        // No test play at all among the candidates.
        var none = ml.Audio().Recommendation.Evaluate(new FixedScorer([0.5f, 0.4f, 0.3f], [0.1f, 0.9f, 0.2f]), test, null,
            new RecommendationEvaluationOptions { K = 2, CandidateSongKeys = [3] });
        Assert.Equal("n/a (no user has a relevant candidate song in the test data)", none.Format(nameof(none.RecallAtK)));
        Assert.Throws<ArgumentException>(() => none.Format("Accuracy"));
    }

    [Fact]
    public void CandidateSongsRestrictRankingAndRelevance()
    {
        var ml = new MLContext(seed: 1);
        var scorer = new FixedScorer([0.9f, 0.8f, 0.7f, 0.6f, 0.5f]);
        var test = PlayLogs.Make(ml, 1, 5, (1, 1, 1), (1, 5, 1));
        var options = new RecommendationEvaluationOptions { K = 2, CandidateSongKeys = [4, 5], SongEmbeddings = [[1, 0], [1, 0], [1, 0], [1, 0], [0, 1]] };
        var m = ml.Audio().Recommendation.Evaluate(scorer, test, null, options);

        // Only songs 4 and 5 compete; song 1 is relevant but not a candidate. Ranking [4, 5]: hit at 2.
        Assert.Equal(0.5, m.PrecisionAtK, 12);
        Assert.Equal(1, m.RecallAtK, 12);
        Assert.Equal(0, m.Auc, 12);
        Assert.Equal(1, m.CatalogCoverage, 12);
        Assert.Equal(1, m.IntraListDiversity, 6);
    }

    [Fact]
    public void ScoredRowsEvaluateLikeTheModelThatScoredThem()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 60, UserCount = 30, Seed = 5 });
        var training = sim.ToDataView(ml, sim.Training);
        var warm = sim.ToDataView(ml, sim.WarmTest);
        var model = ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId").Fit(training);

        // Every (user, warm song) pair as a row, scored by the model's Score column, as a pipeline would.
        var pairs = from u in Enumerable.Range(1, sim.UserCount)
                    from s in sim.WarmSongKeys
                    select new ListeningEvent { UserId = (uint)u, SongId = s, Label = 0 };
        var scored = model.Transform(sim.ToDataView(ml, pairs));
        var fromRows = ml.Audio().Recommendation.ScorerFromScoredRows(scored);

        var options = new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() };
        var direct = ml.Audio().Recommendation.Evaluate(model, warm, training, options);
        var viaRows = ml.Audio().Recommendation.Evaluate(fromRows, warm, training, options);
        Assert.True(direct.UsersEvaluated > 10);
        Assert.Equal(direct.NdcgAtK, viaRows.NdcgAtK, 5);
        Assert.Equal(direct.Auc, viaRows.Auc, 5);
        Assert.Equal(direct.MapAtCutoff, viaRows.MapAtCutoff, 5);
    }

    [Fact]
    public void ScoredRowsLeaveUnscoredPairsOutAndRejectNaN()
    {
        var ml = new MLContext(seed: 1);
        var rows = PlayLogs.Make(ml, 1, 3, (1, 2, 0.5f), (1, 3, 0.7f));
        var scorer = ml.Audio().Recommendation.ScorerFromScoredRows(rows, scoreColumnName: "Label");
        var scores = new float[3];
        scorer.ScoreUsers(0, 1, scores);
        Assert.Equal([float.NegativeInfinity, 0.5f, 0.7f], scores);

        var bad = PlayLogs.Make(ml, 1, 3, (1, 2, float.NaN));
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.ScorerFromScoredRows(bad, scoreColumnName: "Label"));
        Assert.Contains("NaN", e.Message);
    }

    [Fact]
    public void TrainingDataWithoutPlaysIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var empty = PlayLogs.Make(ml, 2, 3, (1, 1, 0), (2, 3, -1));
        var trainers = ml.Audio().Recommendation.Trainers;
        Assert.Contains("no row with a positive play count", Assert.Throws<ArgumentException>(() => trainers.Popularity("Label", "UserId", "SongId").Fit(empty)).Message);
        Assert.Throws<ArgumentException>(() => trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId").Fit(empty));
        Assert.Throws<ArgumentException>(() => trainers.ImplicitMatrixFactorization("Label", "UserId", "SongId").Fit(empty));

        var nan = PlayLogs.Make(ml, 2, 3, (1, 1, 1), (2, 3, float.NaN));
        var e = Assert.Throws<ArgumentException>(() => trainers.Popularity("Label", "UserId", "SongId").Fit(nan));
        Assert.Contains("user key 2, song key 3", e.Message);
    }

    [Fact]
    public void ANonSingleLabelColumnIsRejectedByName()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.Conversion.ConvertType("Label", outputKind: Microsoft.ML.Data.DataKind.Double)
            .Fit(PlayLogs.Make(ml, 1, 2, (1, 1, 1))).Transform(PlayLogs.Make(ml, 1, 2, (1, 1, 1)));
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(data));
        Assert.Contains("'Label'", e.Message);
        Assert.Contains("Single", e.Message);
    }

    [Fact]
    public void RandomScorerIsRepeatableAndIndependentOfBlocking()
    {
        var a = new RandomScorer(4, 6, seed: 9);
        var whole = new float[24];
        a.ScoreUsers(0, 4, whole);
        var part = new float[12];
        new RandomScorer(4, 6, seed: 9).ScoreUsers(2, 2, part);
        Assert.Equal(whole[12..], part);
        Assert.All(whole, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(24, whole.Distinct().Count());
        var other = new float[24];
        new RandomScorer(4, 6, seed: 10).ScoreUsers(0, 4, other);
        Assert.NotEqual(whole, other);
    }

    [Fact]
    public void MismatchedKeyCountsAreRejected()
    {
        var ml = new MLContext(seed: 1);
        var e = Assert.Throws<ArgumentException>(() =>
            ml.Audio().Recommendation.Evaluate(new FixedScorer([1f, 2f, 3f]), PlayLogs.Make(ml, 1, 4, (1, 1, 1)), null, K2));
        Assert.Contains("testData", e.Message);
        Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Evaluate(new FixedScorer([1f]), PlayLogs.Make(ml, 1, 1, (1, 1, 1)), null, new() { K = 0, MapCutoff = 0 }));
    }

    [Fact]
    public void OnSimulatedListeningTheOracleLeadsAndCollaborativeModelsBeatChanceOnWarmSongs()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 200, UserCount = 150, Seed = 2 });
        var training = sim.ToDataView(ml, sim.Training);
        var warm = sim.ToDataView(ml, sim.WarmTest);
        var cold = sim.ToDataView(ml, sim.ColdTest);
        var trainers = ml.Audio().Recommendation.Trainers;
        var models = new (string Name, IUserSongScorer Model)[]
        {
            ("oracle", sim),
            ("taste", sim.TasteOracle),
            ("random", new RandomScorer(sim.UserCount, sim.SongCount, seed: 3)),
            ("popularity", trainers.Popularity("Label", "UserId", "SongId").Fit(training)),
            ("item-CF", trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId").Fit(training)),
            ("ALS", trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
            {
                MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", ApproximationRank = 16, NumberOfIterations = 15, Lambda = 10, Alpha = 1,
            }).Fit(training)),
        };

        var warmOptions = new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() };
        var coldOptions = new RecommendationEvaluationOptions { CandidateSongKeys = sim.ColdSongKeys.ToArray() };
        var results = models.ToDictionary(
            m => m.Name,
            m => (Warm: ml.Audio().Recommendation.Evaluate(m.Model, warm, training, warmOptions), Cold: ml.Audio().Recommendation.Evaluate(m.Model, cold, training, coldOptions)));
        foreach (var (name, r) in results)
        {
            _output.WriteLine($"{name,-10} warm NDCG@10 {r.Warm.NdcgAtK:F3} AUC {r.Warm.Auc:F3} MAP {r.Warm.MapAtCutoff:F3} cov {r.Warm.CatalogCoverage:F2} | cold NDCG@10 {r.Cold.NdcgAtK:F3} AUC {r.Cold.Auc:F3}");
        }

        // Collaborative models know nothing of cold songs: nothing to recommend, a coin flip for AUC.
        foreach (var name in new[] { "popularity", "item-CF", "ALS" })
        {
            Assert.Equal(0, results[name].Cold.NdcgAtK);
            Assert.Equal(0.5, results[name].Cold.Auc, 6);
            Assert.True(results[name].Warm.Auc > 0.6, $"{name} warm AUC {results[name].Warm.Auc}");
        }

        Assert.True(results["oracle"].Cold.Auc > 0.7);
        Assert.True(results["taste"].Cold.Auc > 0.6);
        Assert.InRange(results["random"].Warm.Auc, 0.44, 0.56);
        Assert.InRange(results["random"].Cold.Auc, 0.44, 0.56);
        Assert.True(results["taste"].Cold.NdcgAtK > 2 * results["random"].Cold.NdcgAtK);
        foreach (var name in new[] { "popularity", "item-CF", "ALS" })
        {
            Assert.True(results["oracle"].Warm.NdcgAtK > results[name].Warm.NdcgAtK, $"oracle should lead {name} on warm songs");
        }

        Assert.True(results["ALS"].Warm.NdcgAtK > results["popularity"].Warm.NdcgAtK, "ALS should beat popularity on warm songs");
    }
}
