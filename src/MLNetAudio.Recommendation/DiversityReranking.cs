namespace MLNetAudio.Recommendation;

/// <summary>
/// Maximal marginal relevance re-ranking (Carbonell and Goldstein, SIGIR 1998) of a recommendation list over song
/// embeddings: trades a little relevance for lists whose songs sound less alike, the answer to the criticism that
/// content-based filtering recommends only similar-sounding songs.
/// </summary>
/// <remarks>
/// Written by hand (a greedy loop; no ML.NET or TorchSharp equivalent). The best <c>poolSize</c> songs by score are
/// the candidates; their scores are rescaled to [0, 1] within the pool so that they are comparable with cosine
/// similarity; then, k times, the candidate maximising
/// relevanceWeight x relevance − (1 − relevanceWeight) x (largest cosine similarity to a song already chosen) is
/// appended. relevanceWeight 1 gives the plain top k.
/// </remarks>
public static class DiversityReranking
{
    /// <summary>The default number of best-scoring songs the re-ranking chooses from.</summary>
    public const int DefaultPoolSize = 100;

    /// <summary>Re-ranks the best songs by maximal marginal relevance and returns k song indices, best first.</summary>
    /// <param name="scores">One score per song; NaN or negative infinity (filtered out or unknown) are never chosen.</param>
    /// <param name="songEmbeddings">One embedding per song, all of the same length.</param>
    /// <param name="k">The list length.</param>
    /// <param name="relevanceWeight">From 0 (diversity only, after the first song) to 1 (relevance only).</param>
    /// <param name="poolSize">How many best-scoring songs to choose from (at least k).</param>
    public static int[] Mmr(ReadOnlySpan<float> scores, IReadOnlyList<float[]> songEmbeddings, int k, double relevanceWeight, int poolSize = DefaultPoolSize)
    {
        ArgumentNullException.ThrowIfNull(songEmbeddings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (!(relevanceWeight is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(relevanceWeight), relevanceWeight, "The relevance weight must be between 0 and 1.");
        }

        if (songEmbeddings.Count != scores.Length)
        {
            throw new ArgumentException($"There are {scores.Length} scores but {songEmbeddings.Count} song embeddings; give one embedding per song.", nameof(songEmbeddings));
        }

        var pool = TopKMetrics.TopK(scores, Math.Max(k, poolSize));
        if (pool.Length == 0)
        {
            return [];
        }

        float best = scores[pool[0]], worst = scores[pool[^1]];
        var relevance = new double[pool.Length];
        for (int c = 0; c < pool.Length; c++)
        {
            relevance[c] = best > worst ? (scores[pool[c]] - worst) / (double)(best - worst) : 1;
        }

        var unit = pool.Select(s => Normalise(songEmbeddings[s])).ToArray();
        var maxSimilarity = new double[pool.Length];
        var taken = new bool[pool.Length];
        var chosen = new List<int>(Math.Min(k, pool.Length));
        while (chosen.Count < Math.Min(k, pool.Length))
        {
            int pick = -1;
            double pickValue = double.NegativeInfinity;
            for (int c = 0; c < pool.Length; c++)
            {
                if (taken[c])
                {
                    continue;
                }

                // The first pick is the most relevant song whatever the weight: there is nothing to differ from yet.
                double value = chosen.Count == 0 ? relevance[c] : relevanceWeight * relevance[c] - (1 - relevanceWeight) * maxSimilarity[c];
                if (value > pickValue)
                {
                    pick = c;
                    pickValue = value;
                }
            }

            taken[pick] = true;
            chosen.Add(pool[pick]);
            for (int c = 0; c < pool.Length; c++)
            {
                if (!taken[c])
                {
                    maxSimilarity[c] = Math.Max(maxSimilarity[c], Dot(unit[c], unit[pick]));
                }
            }
        }

        return chosen.ToArray();
    }

    private static double[] Normalise(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => x * (double)x));
        return v.Select(x => norm == 0 ? 0 : x / norm).ToArray();
    }

    private static double Dot(double[] a, double[] b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Song embeddings must all have the same length; found {a.Length} and {b.Length}.", nameof(a));
        }

        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }
}
