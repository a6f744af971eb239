using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using MLNetAudio;
using MLNetAudio.Recommendation;

/// <summary>Which songs become a user's rows when the ranker is fitted.</summary>
internal enum CandidateSampling
{
    /// <summary>The library's: held-out plays + random unplayed songs + each feature's top N.</summary>
    RandomPlusTop,

    /// <summary>Held-out plays + random unplayed songs only (negatives sampled at one rate everywhere).</summary>
    RandomOnly,

    /// <summary>As <see cref="RandomPlusTop"/>, each random negative weighted by how many songs it stands for.</summary>
    RandomPlusTopWeighted,

    /// <summary>Only the union of the features' top N (held-out plays inside it are the positives); scoring re-ranks that pool.</summary>
    PoolOnly,
}

/// <summary>One experiment: candidate sampling, features and LightGBM settings.</summary>
internal sealed record Variant(string Name, string Description)
{
    public CandidateSampling Sampling { get; init; } = CandidateSampling.RandomPlusTop;

    public int RandomNegatives { get; init; } = 200;

    public int TopN { get; init; } = 20;

    public int Iterations { get; init; } = 50;

    public int Leaves { get; init; } = 8;

    public int MinLeaf { get; init; } = 50;

    public double LearningRate { get; init; } = 0.1;

    public bool RawMf { get; init; }

    public int Folds { get; init; } = 1;

    public bool AlsoBase { get; init; }
}

internal static class Variants
{
    public static IEnumerable<Variant> All(int rankerPlays)
    {
        _ = rankerPlays;
        yield return new("baseline", "the library's sampling re-implemented (200 random + top 20 of each feature)") { AlsoBase = true };
        yield return new("random-only", "200 random unplayed songs, no top-N") { Sampling = CandidateSampling.RandomOnly, TopN = 0 };
        yield return new("random-only-1000", "1,000 random unplayed songs") { Sampling = CandidateSampling.RandomOnly, RandomNegatives = 1000, TopN = 0 };
        yield return new("weighted", "200 random + top 20, random rows weighted by songs they stand for") { Sampling = CandidateSampling.RandomPlusTopWeighted };
        yield return new("top20-only", "top 20 of each feature, random 0, positives always in") { RandomNegatives = 0 };
        yield return new("pool50", "union of the features' top 50, re-ranked") { Sampling = CandidateSampling.PoolOnly, TopN = 50 };
        yield return new("pool100", "union of the features' top 100, re-ranked") { Sampling = CandidateSampling.PoolOnly, TopN = 100, AlsoBase = true };
        yield return new("pool200", "union of the features' top 200, re-ranked") { Sampling = CandidateSampling.PoolOnly, TopN = 200 };
        yield return new("baseline-big-trees", "library sampling, 200 rounds, 31 leaves, 20 rows per leaf, lr 0.05") { Iterations = 200, Leaves = 31, MinLeaf = 20, LearningRate = 0.05 };
        yield return new("baseline-rawmf", "library sampling + MF's raw score") { RawMf = true };
        yield return new("baseline-5fold", "library sampling, 5-fold stacking (every play a label once)") { Folds = 5 };
        yield return new("pool100-5fold", "pool of top 100, 5-fold stacking") { Sampling = CandidateSampling.PoolOnly, TopN = 100, Folds = 5 };
        yield return new("weighted-5fold", "weighted sampling, 5-fold stacking") { Sampling = CandidateSampling.RandomPlusTopWeighted, Folds = 5 };
        yield return new("weighted-big-trees", "weighted sampling, 200 rounds, 31 leaves, 20 rows per leaf, lr 0.05") { Sampling = CandidateSampling.RandomPlusTopWeighted, Iterations = 200, Leaves = 31, MinLeaf = 20, LearningRate = 0.05 };
        yield return new("weighted-rawmf", "weighted sampling + MF's raw score") { Sampling = CandidateSampling.RandomPlusTopWeighted, RawMf = true };
        yield return new("weighted-1000", "1,000 random + top 20, weighted") { Sampling = CandidateSampling.RandomPlusTopWeighted, RandomNegatives = 1000 };
        yield return new("random-only-5fold", "200 random, 5-fold stacking") { Sampling = CandidateSampling.RandomOnly, TopN = 0, Folds = 5 };
    }
}

/// <summary>Builds the ranker's rows, fits ML.NET's LightGBM LambdaRank and scores the warm songs for every user.</summary>
internal sealed class Experiment(MLContext ml, int users, int songs, int[] warmSongs)
{
    private const float Missing = HybridRankerTrainer.MissingScore;

    internal sealed record Group(int Id, List<(float[] Features, float Label, float Weight)> Rows);

    public List<Group> Candidates(Variant v, HybridFeature[] features, HashSet<int>[] labels, HashSet<int>[] exclude, int fold)
    {
        var rng = new Random(1 + fold);
        var groups = new List<Group>();
        for (int u = 0; u < users; u++)
        {
            var positives = labels[u].Where(s => !exclude[u].Contains(s)).ToHashSet();
            if (positives.Count == 0)
            {
                continue;
            }

            var (raw, block) = Scores(features, u);
            var candidates = new SortedSet<int>();
            var top = TopOfFeatures(raw, exclude[u], v.TopN);
            if (v.Sampling == CandidateSampling.PoolOnly)
            {
                candidates.UnionWith(top);
            }
            else
            {
                candidates.UnionWith(positives);
                candidates.UnionWith(top);
            }

            var random = new HashSet<int>();
            if (v.Sampling != CandidateSampling.PoolOnly)
            {
                for (int i = 0; i < v.RandomNegatives; i++)
                {
                    int s = rng.Next(songs);
                    if (!exclude[u].Contains(s) && !candidates.Contains(s))
                    {
                        random.Add(s);
                    }
                }
            }

            // Songs neither positive nor in a top list, each random one stands for this many of them.
            float weight = v.Sampling == CandidateSampling.RandomPlusTopWeighted && random.Count > 0
                ? (songs - exclude[u].Count - candidates.Count) / (float)random.Count
                : 1f;
            var rows = new List<(float[], float, float)>();
            foreach (int s in candidates)
            {
                rows.Add((Row(block, raw, s, v.RawMf), positives.Contains(s) ? 1 : 0, 1));
            }

            foreach (int s in random)
            {
                rows.Add((Row(block, raw, s, v.RawMf), positives.Contains(s) ? 1 : 0, weight));
            }

            if (rows.Any(r => r.Item2 > 0))
            {
                groups.Add(new Group((fold * users) + u, rows));
            }
        }

        return groups;
    }

    public ITransformer Fit(Variant v, List<Group> groups)
    {
        int groupCount = groups.Max(g => g.Id) + 1;
        var rows = groups.OrderBy(g => g.Id).SelectMany(g => g.Rows.Select(r => new RankRow { GroupId = (uint)g.Id, Label = r.Label, Weight = r.Weight, Features = r.Features }));
        var data = ml.Data.Cache(ToDataView(rows, groupCount, groups[0].Rows[0].Features.Length));
        Console.WriteLine($"    {v.Name}: {groups.Count} query groups, {groups.Sum(g => g.Rows.Count)} rows, {groups.Sum(g => g.Rows.Count(r => r.Label > 0))} positives");
        return ml.Ranking.Trainers.LightGbm(new LightGbmRankingTrainer.Options
        {
            LabelColumnName = "Label",
            FeatureColumnName = "Features",
            RowGroupColumnName = "GroupId",
            ExampleWeightColumnName = v.Sampling == CandidateSampling.RandomPlusTopWeighted ? "Weight" : null,
            NumberOfIterations = v.Iterations,
            NumberOfLeaves = v.Leaves,
            MinimumExampleCountPerLeaf = v.MinLeaf,
            LearningRate = v.LearningRate,
            Seed = 1,
            NumberOfThreads = 1,
        }).Fit(data);
    }

    /// <summary>Scores every user's warm songs (other songs negative infinity); a pool variant puts songs outside the pool below it, in MF's order.</summary>
    public DenseScorer Score(Variant v, ITransformer ranker, HybridFeature[] features, HashSet<int>[] exclude)
    {
        var table = new float[users * (long)songs];
        Array.Fill(table, float.NegativeInfinity);
        const int Batch = 100;
        for (int first = 0; first < users; first += Batch)
        {
            int count = Math.Min(Batch, users - first);
            var rows = new List<RankRow>(count * warmSongs.Length);
            var pools = new HashSet<int>?[count];
            var mfRanks = new float[count][];
            for (int r = 0; r < count; r++)
            {
                var (raw, block) = Scores(features, first + r);
                mfRanks[r] = block[0];
                if (v.Sampling == CandidateSampling.PoolOnly)
                {
                    pools[r] = TopOfFeatures(raw, exclude[first + r], v.TopN);
                }

                foreach (int s in warmSongs)
                {
                    rows.Add(new RankRow { GroupId = (uint)(first + r), Features = Row(block, raw, s, v.RawMf) });
                }
            }

            var scored = ranker.Transform(ToDataView(rows, users, rows[0].Features.Length));
            using var cursor = scored.GetRowCursor([scored.Schema["Score"]]);
            var getter = cursor.GetGetter<float>(scored.Schema["Score"]);
            float value = 0;
            int i = 0;
            while (cursor.MoveNext())
            {
                getter(ref value);
                int r = i / warmSongs.Length, s = warmSongs[i % warmSongs.Length];
                var pool = pools[r];
                table[((first + r) * (long)songs) + s] = pool is null || pool.Contains(s) ? value : -100 + mfRanks[r][s];
                i++;
            }
        }

        return new DenseScorer(users, songs, table);
    }

    private (float[][] Raw, float[][] LogRanks) Scores(HybridFeature[] features, int user)
    {
        var raw = new float[features.Length][];
        var ranks = new float[features.Length][];
        for (int f = 0; f < features.Length; f++)
        {
            raw[f] = new float[songs];
            features[f].Scorer.ScoreUsers(user, 1, raw[f]);
            ranks[f] = LogRanks(raw[f]);
        }

        return (raw, ranks);
    }

    // As HybridRankerModel.ToLogRanks: −ln(1 + rank) among all the user's songs, ties share the better rank.
    private static float[] LogRanks(float[] scores)
    {
        var order = Enumerable.Range(0, scores.Length).Where(s => float.IsFinite(scores[s])).OrderByDescending(s => scores[s]).ToArray();
        var result = new float[scores.Length];
        Array.Fill(result, Missing);
        for (int i = 0; i < order.Length; i++)
        {
            bool tie = i > 0 && scores[order[i]] == scores[order[i - 1]];
            result[order[i]] = tie ? result[order[i - 1]] : -MathF.Log(1 + i);
        }

        return result;
    }

    private HashSet<int> TopOfFeatures(float[][] raw, HashSet<int> exclude, int n)
    {
        var top = new HashSet<int>();
        foreach (var scores in raw)
        {
            var masked = TopKMetrics.ExcludeAlreadyPlayed(scores, exclude);
            foreach (int s in TopKMetrics.TopK(masked, Math.Min(n, songs)))
            {
                top.Add(s);
            }
        }

        return top;
    }

    private static float[] Row(float[][] block, float[][] raw, int song, bool rawMf)
    {
        var features = new float[block.Length + (rawMf ? 1 : 0)];
        for (int f = 0; f < block.Length; f++)
        {
            features[f] = block[f][song];
        }

        if (rawMf)
        {
            features[^1] = float.IsFinite(raw[0][song]) ? raw[0][song] : Missing;
        }

        return features;
    }

    private IDataView ToDataView(IEnumerable<RankRow> rows, int groups, int featureCount)
    {
        var schema = SchemaDefinition.Create(typeof(RankRow));
        schema[nameof(RankRow.GroupId)].ColumnType = new KeyDataViewType(typeof(uint), groups);
        schema[nameof(RankRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, featureCount);
        return ml.Data.LoadFromEnumerable(rows, schema);
    }

    private sealed class RankRow
    {
        public uint GroupId { get; set; }

        public float Label { get; set; }

        public float Weight { get; set; }

        public float[] Features { get; set; } = [];
    }
}

/// <summary>Scores from a dense users x songs table.</summary>
internal sealed class DenseScorer(int users, int songs, float[] table) : IUserSongScorer
{
    public int UserCount => users;

    public int SongCount => songs;

    public static DenseScorer From(IUserSongScorer scorer)
    {
        var table = new float[scorer.UserCount * (long)scorer.SongCount];
        scorer.ScoreUsers(0, scorer.UserCount, table);
        return new DenseScorer(scorer.UserCount, scorer.SongCount, table);
    }

    public void ScoreUsers(int firstUser, int userCount, Span<float> destination) =>
        table.AsSpan(firstUser * songs, userCount * songs).CopyTo(destination);
}

/// <summary>The collaborative models of one log, with the sample's settings.</summary>
internal sealed record Collaborative(PopularityModel Popularity, ItemBasedCollaborativeFilteringModel ItemCf, ImplicitMatrixFactorizationModel Mf)
{
    /// <summary>The sample's collaborative models and settings (its source file is linked into this project).</summary>
    public static Collaborative Train(MLContext ml, IDataView plays)
    {
        var cf = HybridRecommenderSample.HybridRecommender.TrainCollaborative(ml, plays);
        return new Collaborative(cf.Popularity, cf.ItemCf, cf.Mf);
    }

    /// <summary>MF first (the pool variants fall back to its order).</summary>
    public HybridFeature[] Features() => [new("MF", Mf), new("ItemCF", ItemCf), new("Popularity", Popularity)];
}

internal static class Plays
{
    public static HashSet<int>[] ByUser(IEnumerable<ListeningEvent> plays, int users)
    {
        var result = Enumerable.Range(0, users).Select(_ => new HashSet<int>()).ToArray();
        foreach (var e in plays)
        {
            result[(int)e.UserId - 1].Add((int)e.SongId - 1);
        }

        return result;
    }
}
