using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class RankingMetricsTests
{
    // Ranking [3, 1, 4, 0, 2] against relevant {1, 2, 7}: hits at positions 2 and 5.
    private static readonly int[] Ranking = [3, 1, 4, 0, 2];
    private static readonly HashSet<int> Relevant = [1, 2, 7];

    [Fact]
    public void PrecisionAndRecallCountHitsInTheFirstK()
    {
        Assert.Equal(1 / 3.0, TopKMetrics.Precision(Ranking, Relevant, 3), 12);
        Assert.Equal(1 / 3.0, TopKMetrics.Recall(Ranking, Relevant, 3), 12);
        Assert.Equal(2 / 5.0, TopKMetrics.Precision(Ranking, Relevant, 5), 12);
        Assert.Equal(2 / 3.0, TopKMetrics.Recall(Ranking, Relevant, 5), 12);

        // A short list still divides by k.
        Assert.Equal(2 / 10.0, TopKMetrics.Precision(Ranking, Relevant, 10), 12);
    }

    [Fact]
    public void NdcgUsesBinaryGainAndLog2Discount()
    {
        // DCG@3 = 1 / log2(3); ideal DCG@3 = 1 + 1 / log2(3) + 1 / log2(4).
        double expected = (1 / Math.Log2(3)) / (1 + 1 / Math.Log2(3) + 0.5);
        Assert.Equal(expected, TopKMetrics.Ndcg(Ranking, Relevant, 3), 12);

        // A perfect list scores 1; a list with no hit scores 0; no relevant song is undefined.
        Assert.Equal(1, TopKMetrics.Ndcg([1, 2, 7, 0], Relevant, 3), 12);
        Assert.Equal(0, TopKMetrics.Ndcg([0, 3], Relevant, 2), 12);
        Assert.True(double.IsNaN(TopKMetrics.Ndcg(Ranking, new HashSet<int>(), 3)));
    }

    [Fact]
    public void AveragePrecisionDividesByTheSmallerOfKAndRelevantCount()
    {
        // Hits at 2 and 5: (1/2 + 2/5) / min(5, 3).
        Assert.Equal((0.5 + 0.4) / 3, TopKMetrics.AveragePrecision(Ranking, Relevant, 5), 12);

        // Cut at 3: only the hit at 2 counts, still divided by min(3, 3).
        Assert.Equal(0.5 / 3, TopKMetrics.AveragePrecision(Ranking, Relevant, 3), 12);

        // Cut at 1 with one relevant song in first place: min(1, 3) = 1.
        Assert.Equal(1, TopKMetrics.AveragePrecision([2, 0], Relevant, 1), 12);
    }

    [Fact]
    public void AucCountsCorrectlyOrderedPairsWithTiesAsHalf()
    {
        // Relevant {0, 2}; song 4 is filtered out (NaN). Pairs: (0,1) win, (0,3) win, (2,1) win, (2,3) tie.
        float[] scores = [0.9f, 0.1f, 0.5f, 0.5f, float.NaN];
        Assert.Equal(3.5 / 4, TopKMetrics.Auc(scores, new HashSet<int> { 0, 2, 4 }), 12);
    }

    [Fact]
    public void AucRanksUnknownSongsLastAndTied()
    {
        // Song 0 (relevant) is unknown: it ties with unknown song 1 and loses to song 2.
        Assert.Equal(0.25, TopKMetrics.Auc([float.NegativeInfinity, float.NegativeInfinity, 1f], new HashSet<int> { 0 }), 12);

        // A model that knows no candidate is a coin flip.
        Assert.Equal(0.5, TopKMetrics.Auc([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity], new HashSet<int> { 1 }), 12);
        Assert.True(double.IsNaN(TopKMetrics.Auc([1f, 2f], new HashSet<int> { 0, 1 })));
    }

    [Fact]
    public void ExcludeAlreadyPlayedRemovesPlayedSongsFromTheRanking()
    {
        float[] scores = [0.9f, 0.8f, 0.7f, 0.6f];
        var filtered = TopKMetrics.ExcludeAlreadyPlayed(scores, [0, 2]);
        Assert.Equal([1, 3], TopKMetrics.TopK(filtered, 3));
        Assert.Equal(0.9f, scores[0]); // the input is left alone
        Assert.Throws<ArgumentOutOfRangeException>(() => TopKMetrics.ExcludeAlreadyPlayed(scores, [4]));
    }

    [Fact]
    public void TopKBreaksTiesByLowerIndexAndSkipsUnknownSongs()
    {
        Assert.Equal([1, 2], TopKMetrics.TopK([1f, 2f, 2f, 0f], 2));
        Assert.Equal([3, 0], TopKMetrics.TopK([1f, float.NegativeInfinity, float.NaN, 5f], 5));
    }

    [Fact]
    public void CoverageCountsDistinctRecommendedSongs()
    {
        Assert.Equal(0.3, TopKMetrics.CatalogCoverage([[0, 1], [1, 2]], 10), 12);
    }

    [Fact]
    public void IntraListDiversityIsMeanPairwiseCosineDistance()
    {
        float[][] embeddings = [[1, 0], [0, 1], [1, 1]];
        double d = 1 - 1 / Math.Sqrt(2);
        Assert.Equal((1 + d + d) / 3, TopKMetrics.IntraListDiversity([0, 1, 2], embeddings), 6);
        Assert.Equal(0, TopKMetrics.IntraListDiversity([2, 2], embeddings), 6);
        Assert.True(double.IsNaN(TopKMetrics.IntraListDiversity([0], embeddings)));
    }

    private sealed class Row
    {
        public uint Group { get; set; }

        public float Label { get; set; }

        public float Score { get; set; }
    }

    [Fact]
    public void NdcgMatchesMlNetRankingEvaluatorForBinaryLabels()
    {
        // Two users; each row is a candidate song with its relevance and score (no ties).
        var rows = new List<Row>();
        float[][] scores = [[0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f], [0.3f, 0.95f, 0.1f, 0.6f, 0.2f, 0.7f]];
        bool[][] labels = [[false, true, false, true, true, false], [true, false, false, false, true, true]];
        for (uint g = 0; g < 2; g++)
        {
            for (int s = 0; s < 6; s++)
            {
                rows.Add(new Row { Group = g + 1, Label = labels[g][s] ? 1 : 0, Score = scores[g][s] });
            }
        }

        var ml = new MLContext(seed: 1);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Group)].ColumnType = new KeyDataViewType(typeof(uint), 2);
        var data = ml.Data.LoadFromEnumerable(rows, schema);
        var metrics = ml.Ranking.Evaluate(data, "Label", "Group", "Score");

        foreach (int k in new[] { 1, 3, 5 })
        {
            double ours = Enumerable.Range(0, 2).Average(g =>
            {
                var relevant = Enumerable.Range(0, 6).Where(s => labels[g][s]).ToHashSet();
                return TopKMetrics.Ndcg(TopKMetrics.TopK(scores[g], 6), relevant, k);
            });
            Assert.Equal(ours, metrics.NormalizedDiscountedCumulativeGains[k - 1], 6);
        }
    }
}
