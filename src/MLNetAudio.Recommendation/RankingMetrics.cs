namespace MLNetAudio.Recommendation;

/// <summary>
/// Top-k ranking measures for recommendation with binary relevance: precision@k, recall@k, NDCG@k, MAP@k, per-user
/// AUC, catalog coverage and intra-list diversity, plus the already-played filtering step that must precede them.
/// </summary>
/// <remarks>
/// <para>
/// Named <c>TopKMetrics</c> rather than <c>RankingMetrics</c> so it never clashes with
/// <c>Microsoft.ML.Data.RankingMetrics</c> in files that import both namespaces.
/// </para>
/// <para>
/// Written by hand because ML.NET's <c>RankingEvaluator</c> ranks only the rows it is given per group and reports
/// NDCG and DCG only: it has no precision, recall, MAP, AUC, coverage or diversity, and no notion of songs a user
/// already played. For binary relevance its NDCG equals <see cref="Ndcg"/> when every candidate song of a user is a
/// row of that user's group: ML.NET's default gain for label 1 is 3 (gains 0, 3, 7, 15, ... = 2^label - 1) rather
/// than 1, and its discount uses the natural log rather than log2, but NDCG is a ratio of two sums with the same
/// gain and the same discount, so both constants cancel (a test checks this against ML.NET).
/// </para>
/// <para>Conventions: songs are 0-based indices; a ranking lists song indices best first and holds no duplicates.</para>
/// </remarks>
public static class TopKMetrics
{
    /// <summary>
    /// The explicit already-played filtering step: returns a copy of <paramref name="scores"/> in which every song in
    /// <paramref name="alreadyPlayed"/> is NaN, which every function here reads as "not a candidate": no ranking built
    /// from it recommends a song the user has already played, and AUC leaves it out.
    /// </summary>
    /// <param name="scores">One score per song of the catalog.</param>
    /// <param name="alreadyPlayed">Song indices the user played in the training data.</param>
    /// <exception cref="ArgumentOutOfRangeException">A played song index is outside the catalog.</exception>
    public static float[] ExcludeAlreadyPlayed(ReadOnlySpan<float> scores, IEnumerable<int> alreadyPlayed)
    {
        ArgumentNullException.ThrowIfNull(alreadyPlayed);
        var filtered = scores.ToArray();
        foreach (int song in alreadyPlayed)
        {
            if ((uint)song >= (uint)filtered.Length)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(alreadyPlayed), song, $"Played song index {song} is outside the catalog of {filtered.Length} songs.");
            }

            filtered[song] = float.NaN;
        }

        return filtered;
    }

    /// <summary>
    /// The <paramref name="k"/> best songs by score, best first; ties go to the lower song index. Songs scoring NaN
    /// (filtered out) or negative infinity (unknown to the model) are never returned, so the list can be shorter than k.
    /// </summary>
    public static int[] TopK(ReadOnlySpan<float> scores, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var heap = new PriorityQueue<int, (float Score, int Index)>(k + 1, WorstFirst.Instance);
        for (int i = 0; i < scores.Length; i++)
        {
            float s = scores[i];
            if (float.IsNaN(s) || float.IsNegativeInfinity(s) || k == 0)
            {
                continue;
            }

            if (heap.Count < k)
            {
                heap.Enqueue(i, (s, i));
            }
            else if (heap.TryPeek(out _, out var worst) && WorstFirst.Instance.Compare((s, i), worst) > 0)
            {
                heap.DequeueEnqueue(i, (s, i));
            }
        }

        var result = new int[heap.Count];
        for (int i = result.Length - 1; i >= 0; i--)
        {
            result[i] = heap.Dequeue();
        }

        return result;
    }

    /// <summary>Precision@k: the share of the first k recommendations that are relevant (divided by k, even when fewer were recommended).</summary>
    public static double Precision(IReadOnlyList<int> ranking, IReadOnlySet<int> relevant, int k)
    {
        Check(ranking, relevant, k);
        return Hits(ranking, relevant, k) / (double)k;
    }

    /// <summary>Recall@k: the share of relevant songs found in the first k recommendations; NaN when nothing is relevant.</summary>
    public static double Recall(IReadOnlyList<int> ranking, IReadOnlySet<int> relevant, int k)
    {
        Check(ranking, relevant, k);
        return relevant.Count == 0 ? double.NaN : Hits(ranking, relevant, k) / (double)relevant.Count;
    }

    /// <summary>
    /// NDCG@k with binary relevance and a log2 discount: DCG = sum over positions i = 1..k of rel_i / log2(i + 1),
    /// divided by the DCG of an ideal ranking that puts min(k, |relevant|) relevant songs first. NaN when nothing is
    /// relevant.
    /// </summary>
    public static double Ndcg(IReadOnlyList<int> ranking, IReadOnlySet<int> relevant, int k)
    {
        Check(ranking, relevant, k);
        if (relevant.Count == 0)
        {
            return double.NaN;
        }

        double dcg = 0;
        for (int i = 0; i < Math.Min(k, ranking.Count); i++)
        {
            if (relevant.Contains(ranking[i]))
            {
                dcg += 1 / Math.Log2(i + 2);
            }
        }

        double ideal = 0;
        for (int i = 0; i < Math.Min(k, relevant.Count); i++)
        {
            ideal += 1 / Math.Log2(i + 2);
        }

        return dcg / ideal;
    }

    /// <summary>
    /// Average precision at k: the mean of precision@i over the positions i ≤ k that hold a relevant song, divided by
    /// min(k, |relevant|) (the truncated normalisation of the Million Song Dataset challenge, whose MAP@500 van den
    /// Oord et al. 2013 report). Averaged over users it gives MAP@k. NaN when nothing is relevant.
    /// </summary>
    public static double AveragePrecision(IReadOnlyList<int> ranking, IReadOnlySet<int> relevant, int k)
    {
        Check(ranking, relevant, k);
        if (relevant.Count == 0)
        {
            return double.NaN;
        }

        double sum = 0;
        int hits = 0;
        for (int i = 0; i < Math.Min(k, ranking.Count); i++)
        {
            if (relevant.Contains(ranking[i]))
            {
                hits++;
                sum += hits / (double)(i + 1);
            }
        }

        return sum / Math.Min(k, relevant.Count);
    }

    /// <summary>
    /// The area under the ROC curve for one user: the probability that a relevant candidate song scores above a
    /// non-relevant one, ties counting one half. Songs scoring NaN (filtered out, for instance already played) are not
    /// candidates; songs scoring negative infinity (unknown to the model) are candidates ranked below every other
    /// song, all tied, so a model that cannot rank any candidate gets 0.5. NaN when the candidates are all relevant
    /// or all non-relevant.
    /// </summary>
    public static double Auc(ReadOnlySpan<float> scores, IReadOnlySet<int> relevant)
    {
        ArgumentNullException.ThrowIfNull(relevant);
        var candidates = new List<(float Score, bool Relevant)>(scores.Length);
        for (int i = 0; i < scores.Length; i++)
        {
            if (!float.IsNaN(scores[i]))
            {
                candidates.Add((scores[i], relevant.Contains(i)));
            }
        }

        // Rank-sum (Mann-Whitney) form: O(n log n) instead of comparing every pair; tied scores share their mean rank.
        candidates.Sort((a, b) => a.Score.CompareTo(b.Score));
        long positives = 0;
        double rankSum = 0;
        for (int start = 0; start < candidates.Count;)
        {
            int end = start;
            while (end < candidates.Count && candidates[end].Score == candidates[start].Score)
            {
                end++;
            }

            double meanRank = (start + 1 + end) / 2.0;
            for (int i = start; i < end; i++)
            {
                if (candidates[i].Relevant)
                {
                    positives++;
                    rankSum += meanRank;
                }
            }

            start = end;
        }

        long negatives = candidates.Count - positives;
        if (positives == 0 || negatives == 0)
        {
            return double.NaN;
        }

        return (rankSum - positives * (positives + 1) / 2.0) / (positives * (double)negatives);
    }

    /// <summary>Catalog coverage: the share of the catalog's songs that appear in at least one user's recommendations.</summary>
    public static double CatalogCoverage(IEnumerable<IReadOnlyList<int>> recommendations, int catalogSize)
    {
        ArgumentNullException.ThrowIfNull(recommendations);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(catalogSize);
        var seen = new HashSet<int>();
        foreach (var list in recommendations)
        {
            seen.UnionWith(list);
        }

        return seen.Count / (double)catalogSize;
    }

    /// <summary>
    /// Intra-list diversity of one recommendation list: the mean cosine distance (1 - cosine similarity) over all
    /// pairs of recommended songs' embeddings; NaN for fewer than two songs. A zero embedding has distance 1 to
    /// everything.
    /// </summary>
    /// <param name="ranking">Recommended song indices.</param>
    /// <param name="songEmbeddings">One embedding per song of the catalog, all of the same length.</param>
    public static double IntraListDiversity(IReadOnlyList<int> ranking, IReadOnlyList<float[]> songEmbeddings)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        ArgumentNullException.ThrowIfNull(songEmbeddings);
        if (ranking.Count < 2)
        {
            return double.NaN;
        }

        double sum = 0;
        int pairs = 0;
        for (int a = 0; a < ranking.Count; a++)
        {
            for (int b = a + 1; b < ranking.Count; b++)
            {
                sum += 1 - Cosine(songEmbeddings[ranking[a]], songEmbeddings[ranking[b]]);
                pairs++;
            }
        }

        return sum / pairs;
    }

    private static double Cosine(float[] x, float[] y)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"Song embeddings must all have the same length; found {x.Length} and {y.Length}.", nameof(x));
        }

        double dot = 0, nx = 0, ny = 0;
        for (int i = 0; i < x.Length; i++)
        {
            dot += x[i] * (double)y[i];
            nx += x[i] * (double)x[i];
            ny += y[i] * (double)y[i];
        }

        return nx == 0 || ny == 0 ? 0 : dot / Math.Sqrt(nx * ny);
    }

    private static int Hits(IReadOnlyList<int> ranking, IReadOnlySet<int> relevant, int k)
    {
        int hits = 0;
        for (int i = 0; i < Math.Min(k, ranking.Count); i++)
        {
            if (relevant.Contains(ranking[i]))
            {
                hits++;
            }
        }

        return hits;
    }

    private static void Check(IReadOnlyList<int> ranking, IReadOnlySet<int> relevant, int k)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        ArgumentNullException.ThrowIfNull(relevant);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
    }

    /// <summary>Orders (score, index) so that the worst entry comes first: lower score, then higher index.</summary>
    private sealed class WorstFirst : IComparer<(float Score, int Index)>
    {
        public static readonly WorstFirst Instance = new();

        public int Compare((float Score, int Index) x, (float Score, int Index) y)
        {
            int c = x.Score.CompareTo(y.Score);
            return c != 0 ? c : y.Index.CompareTo(x.Index);
        }
    }
}
