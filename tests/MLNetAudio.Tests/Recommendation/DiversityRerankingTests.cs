using Microsoft.ML;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class DiversityRerankingTests
{
    // Songs 0 and 1 sound the same; song 2 is different and less relevant.
    private static readonly float[][] Embeddings = [[1, 0], [1, 0], [0, 1]];
    private static readonly float[] Scores = [1f, 0.99f, 0.5f];

    [Fact]
    public void MmrSwapsANearDuplicateForADifferentSong()
    {
        // Relevance rescaled in the pool: [1, 0.98, 0]. Second pick at weight 0.5: song 1 scores
        // 0.5 x 0.98 - 0.5 x 1 = -0.01, song 2 scores 0.5 x 0 - 0.5 x 0 = 0, so song 2 wins.
        Assert.Equal([0, 2], DiversityReranking.Mmr(Scores, Embeddings, 2, relevanceWeight: 0.5));

        // At weight 0.6 relevance wins: 0.6 x 0.98 - 0.4 x 1 = 0.188 > 0.
        Assert.Equal([0, 1], DiversityReranking.Mmr(Scores, Embeddings, 2, relevanceWeight: 0.6));
    }

    [Fact]
    public void RelevanceWeightOneIsThePlainTopK()
    {
        var random = new Random(4);
        var scores = Enumerable.Range(0, 50).Select(_ => (float)random.NextDouble()).ToArray();
        var embeddings = Enumerable.Range(0, 50).Select(_ => new[] { (float)random.NextDouble(), (float)random.NextDouble() }).ToArray();
        Assert.Equal(TopKMetrics.TopK(scores, 10), DiversityReranking.Mmr(scores, embeddings, 10, relevanceWeight: 1));
    }

    [Fact]
    public void FilteredSongsAreNeverChosen()
    {
        float[] scores = [float.NaN, 0.99f, float.NegativeInfinity];
        Assert.Equal([1], DiversityReranking.Mmr(scores, Embeddings, 3, relevanceWeight: 0.2));
    }

    [Fact]
    public void EvaluateTradesAccuracyForDiversity()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 200, UserCount = 100, Seed = 6 });
        var training = sim.ToDataView(ml, sim.Training);
        var warm = sim.ToDataView(ml, sim.WarmTest);
        var model = ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId").Fit(training);
        var embeddings = Enumerable.Range(1, sim.SongCount).Select(k => sim.AttributeVector((uint)k)).ToArray();

        var plain = ml.Audio().Recommendation.Evaluate(model, warm, training, new RecommendationEvaluationOptions { SongEmbeddings = embeddings });
        var diverse = ml.Audio().Recommendation.Evaluate(model, warm, training, new RecommendationEvaluationOptions { SongEmbeddings = embeddings, DiversityRelevanceWeight = 0.3 });
        Assert.True(diverse.IntraListDiversity > plain.IntraListDiversity + 0.05, $"diversity {plain.IntraListDiversity:F3} -> {diverse.IntraListDiversity:F3}");
        Assert.Equal(plain.MapAtCutoff, diverse.MapAtCutoff, 12);
        Assert.Equal(plain.Auc, diverse.Auc, 12);
    }

    [Fact]
    public void ReRankingWithoutEmbeddingsIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new RecommendationEvaluationOptions { DiversityRelevanceWeight = 2 }.Validate());
        Assert.Contains("DiversityRelevanceWeight", e.Message);
        Assert.Contains("SongEmbeddings", e.Message);
    }
}
