using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

/// <summary>One input of the hybrid ranker: a name and the scorer whose score is that feature.</summary>
/// <param name="Name">The feature's name (e.g. "Audio", "MF", "ItemCF", "Popularity").</param>
/// <param name="Scorer">The fitted model that scores every (user, song).</param>
public sealed record HybridFeature(string Name, IUserSongScorer Scorer);

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="HybridRankerTrainer"/>.</summary>
public sealed class HybridRankerOptions
{
    /// <summary>The user key column of the label and already-played data. Default "UserId".</summary>
    public string UserColumnName = RecommendationEvaluationOptions.Defaults.UserColumnName;

    /// <summary>The song key column. Default "SongId".</summary>
    public string SongColumnName = RecommendationEvaluationOptions.Defaults.SongColumnName;

    /// <summary>The play-count column. Default "Label".</summary>
    public string LabelColumnName = RecommendationEvaluationOptions.Defaults.LabelColumnName;

    /// <summary>Random unplayed songs added to each user's candidates as negatives (so the ranker sees the whole catalog's spread, not only the feature models' favourites). Default 200.</summary>
    public int RandomNegativesPerUser = Defaults.RandomNegativesPerUser;

    /// <summary>Each feature's top songs added to each user's candidates (hard negatives, or positives). Default 20.</summary>
    public int TopCandidatesPerFeature = Defaults.TopCandidatesPerFeature;

    /// <summary>
    /// Whether each random negative counts (as a LightGBM example weight) for every unplayed song it was drawn in place of:
    /// (unplayed songs − held-out plays − the features' top songs) / (random negatives drawn). Held-out plays and top
    /// songs are all in the candidates but the rest of the catalog only as a sample; unweighted, a held-out play outside
    /// every feature's top list looks far likelier than it is, and the ranker learns to push songs out of the models' top
    /// lists (measured at 5,000 songs, collaborative features only: warm NDCG@10 0.040 unweighted against 0.111 weighted, MF 0.111; see
    /// docs/recommendation.md, "Why the hybrid loses to MF at benchmark size: experiments"). Default true.
    /// </summary>
    public bool WeightRandomNegatives = Defaults.WeightRandomNegatives;

    /// <summary>LightGBM boosting rounds. Default 50.</summary>
    public int NumberOfIterations = Defaults.NumberOfIterations;

    /// <summary>LightGBM leaves per tree. Default 8.</summary>
    public int NumberOfLeaves = Defaults.NumberOfLeaves;

    /// <summary>LightGBM's minimum rows per leaf: few plays per user make small leaves overfit. Default 50.</summary>
    public int MinimumExampleCountPerLeaf = Defaults.MinimumExampleCountPerLeaf;

    /// <summary>LightGBM learning rate. Default 0.1.</summary>
    public double LearningRate = Defaults.LearningRate;

    /// <summary>
    /// Seed of the negative sampling and of LightGBM. Null (default) draws one from the MLContext when the trainer is
    /// made (the same context seed and the same calls give the same ranker); a set seed leaves the context's random
    /// stream untouched.
    /// </summary>
    public int? Seed;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default random negatives.</summary>
        public const int RandomNegativesPerUser = 200;

        /// <summary>Default top candidates per feature.</summary>
        public const int TopCandidatesPerFeature = 20;

        /// <summary>Default: random negatives weighted by the songs they stand for.</summary>
        public const bool WeightRandomNegatives = true;

        /// <summary>Default rounds.</summary>
        public const int NumberOfIterations = 50;

        /// <summary>Default leaves.</summary>
        public const int NumberOfLeaves = 8;

        /// <summary>Default minimum rows per leaf.</summary>
        public const int MinimumExampleCountPerLeaf = 50;

        /// <summary>Default learning rate.</summary>
        public const double LearningRate = 0.1;
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal HybridRankerOptions Copy() => (HybridRankerOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(HybridRankerOptions))
            .Check(string.IsNullOrWhiteSpace(UserColumnName), nameof(UserColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(SongColumnName), nameof(SongColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(RandomNegativesPerUser < 0, nameof(RandomNegativesPerUser), $"must be 0 or more; found {RandomNegativesPerUser}.")
            .Check(TopCandidatesPerFeature < 0, nameof(TopCandidatesPerFeature), $"must be 0 or more; found {TopCandidatesPerFeature}.")
            .Check(NumberOfIterations < 1, nameof(NumberOfIterations), $"must be at least 1; found {NumberOfIterations}.")
            .Check(NumberOfLeaves < 2, nameof(NumberOfLeaves), $"must be at least 2; found {NumberOfLeaves}.")
            .Check(MinimumExampleCountPerLeaf < 1, nameof(MinimumExampleCountPerLeaf), $"must be at least 1; found {MinimumExampleCountPerLeaf}.")
            .Check(!(LearningRate > 0), nameof(LearningRate), $"must be positive; found {LearningRate}.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>
/// The hybrid: an ML.NET ranking pipeline (LightGBM LambdaRank, <c>ml.Ranking.Trainers.LightGbm</c>) over the scores
/// of other models (audio, matrix factorization, item-based CF, popularity, ...) as features, one query group per
/// user, trained on held-out plays. Each feature is the log of the score's rank among the user's songs.
/// </summary>
/// <remarks>
/// Train the feature models on one part of the training log and fit the ranker on the plays held out of it (stacking);
/// the ranker then applies to the same feature models or to ones retrained on the whole log. A feature a model cannot
/// give (a collaborative model on a cold song scores negative infinity) becomes <see cref="MissingScore"/>, below every
/// real score, which trees read as "no information".
/// </remarks>
public sealed class HybridRankerTrainer
{
    /// <summary>The value a non-finite feature score becomes.</summary>
    public const float MissingScore = -1e6f;

    private readonly MLContext _ml;
    private readonly HybridRankerOptions _options;
    private readonly int _seed;

    /// <summary>Creates the trainer; the options are validated and copied (changing them later changes nothing).</summary>
    /// <param name="mlContext">The context: LightGBM runs on it, and a null <see cref="HybridRankerOptions.Seed"/> is drawn from it.</param>
    /// <param name="options">Candidate sampling and LightGBM settings; null for the defaults.</param>
    /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
    public HybridRankerTrainer(MLContext mlContext, HybridRankerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        _ml = mlContext;
        (options ?? new HybridRankerOptions()).Validate();
        _options = options?.Copy() ?? new HybridRankerOptions();
        _seed = TrainerSeeds.Resolve(mlContext, _options.Seed, "HybridRanker");
    }

    /// <summary>
    /// Fits the ranker: for each user with held-out plays, candidates are those plays (label 1), random unplayed songs
    /// and each feature's top songs (label 1 when held out, else 0); songs in <paramref name="alreadyPlayed"/> are left out.
    /// With <see cref="HybridRankerOptions.WeightRandomNegatives"/> each random negative is weighted by the unplayed songs
    /// it stands for, so the ranker's loss is that of the whole catalog, not of a sample skewed towards the top lists.
    /// </summary>
    /// <param name="features">The feature models, all over the same users and songs.</param>
    /// <param name="heldOutPlays">Plays the feature models did not see (the labels).</param>
    /// <param name="alreadyPlayed">Plays the feature models were trained on (excluded from candidates), or null.</param>
    /// <exception cref="ArgumentException">No feature, models of different shapes, or no user with held-out plays.</exception>
    public HybridRankerModel Fit(IReadOnlyList<HybridFeature> features, IDataView heldOutPlays, IDataView? alreadyPlayed)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(heldOutPlays);
        if (features.Count == 0)
        {
            throw new ArgumentException("The hybrid ranker needs at least one feature model.", nameof(features));
        }

        int users = features[0].Scorer.UserCount, songs = features[0].Scorer.SongCount;
        foreach (var f in features)
        {
            if (f.Scorer.UserCount != users || f.Scorer.SongCount != songs)
            {
                throw new ArgumentException($"Feature '{f.Name}' scores {f.Scorer.UserCount} users x {f.Scorer.SongCount} songs; '{features[0].Name}' scores {users} x {songs}.", nameof(features));
            }
        }

        var labels = PlayMatrix.Read(heldOutPlays, _options.UserColumnName, _options.SongColumnName, _options.LabelColumnName);
        var played = alreadyPlayed is null ? null : PlayMatrix.Read(alreadyPlayed, _options.UserColumnName, _options.SongColumnName, _options.LabelColumnName);
        var rng = new Random(_seed);
        var rows = new List<HybridRankerModel.Row>();
        var block = new float[features.Count][];
        for (int u = 0; u < users; u++)
        {
            var positives = new HashSet<int>(labels.SongsOf(u).ToArray());
            if (positives.Count == 0)
            {
                continue;
            }

            var exclude = played is null ? [] : new HashSet<int>(played.SongsOf(u).ToArray());
            for (int f = 0; f < features.Count; f++)
            {
                block[f] = new float[songs];
                features[f].Scorer.ScoreUsers(u, 1, block[f]);
            }

            var raw = block.Select(b => (float[])b.Clone()).ToArray();
            HybridRankerModel.ToLogRanks(block);
            // Every held-out play and every feature's top songs are candidates; the rest of the catalog is sampled.
            var candidates = new SortedSet<int>(positives.Where(s => !exclude.Contains(s)));
            for (int f = 0; f < features.Count; f++)
            {
                var masked = TopKMetrics.ExcludeAlreadyPlayed(raw[f], exclude);
                foreach (int s in TopKMetrics.TopK(masked, Math.Min(_options.TopCandidatesPerFeature, songs)))
                {
                    if (!float.IsNegativeInfinity(masked[s]))
                    {
                        candidates.Add(s);
                    }
                }
            }

            var sampled = new SortedSet<int>();
            for (int i = 0; i < _options.RandomNegativesPerUser; i++)
            {
                int s = rng.Next(songs);
                if (!exclude.Contains(s) && !candidates.Contains(s))
                {
                    sampled.Add(s);
                }
            }

            int rest = songs - exclude.Count - candidates.Count;
            float weight = _options.WeightRandomNegatives && sampled.Count > 0 ? Math.Max(1f, rest / (float)sampled.Count) : 1f;
            foreach (int s in candidates.Concat(sampled).Order())
            {
                rows.Add(HybridRankerModel.MakeRow(u, s, positives.Contains(s) ? 1 : 0, block, sampled.Contains(s) ? weight : 1f));
            }
        }

        if (rows.Count == 0)
        {
            throw new ArgumentException($"No user has a held-out play in '{_options.LabelColumnName}'; the ranker has nothing to learn from.", nameof(heldOutPlays));
        }

        var data = HybridRankerModel.ToDataView(_ml, rows, users, features.Count);
        var trainer = _ml.Ranking.Trainers.LightGbm(new LightGbmRankingTrainer.Options
        {
            LabelColumnName = HybridRankerModel.LabelColumnName,
            FeatureColumnName = HybridRankerModel.FeaturesColumnName,
            RowGroupColumnName = HybridRankerModel.GroupColumnName,
            ExampleWeightColumnName = HybridRankerModel.WeightColumnName,
            NumberOfIterations = _options.NumberOfIterations,
            NumberOfLeaves = _options.NumberOfLeaves,
            LearningRate = _options.LearningRate,
            MinimumExampleCountPerLeaf = _options.MinimumExampleCountPerLeaf,
            Seed = _seed,
            NumberOfThreads = 1,
        });
        var model = trainer.Fit(data);
        return new HybridRankerModel(_ml, model, features, data);
    }
}

/// <summary>
/// A fitted hybrid ranker: an ML.NET LightGBM ranking model over the feature models' scores. As an
/// <see cref="IUserSongScorer"/> it scores every (user, song) by computing the features and running the ML.NET model.
/// </summary>
public sealed class HybridRankerModel : IUserSongScorer
{
    /// <summary>The query-group (user key) column of the ranker's data.</summary>
    public const string GroupColumnName = "GroupId";

    /// <summary>The label column (1 = played) of the ranker's data.</summary>
    public const string LabelColumnName = "Label";

    /// <summary>The feature vector column (one slot per feature model, in order).</summary>
    public const string FeaturesColumnName = "Features";

    /// <summary>The example weight column: 1, or for a random negative the number of unplayed songs it stands for.</summary>
    public const string WeightColumnName = "Weight";

    private readonly MLContext _ml;
    private readonly IReadOnlyList<HybridFeature> _features;

    internal HybridRankerModel(MLContext ml, ITransformer model, IReadOnlyList<HybridFeature> features, IDataView trainingData)
    {
        _ml = ml;
        Model = model;
        _features = features;
        TrainingData = trainingData;
    }

    /// <summary>The ML.NET ranking model (reads <see cref="FeaturesColumnName"/>, appends Score).</summary>
    public ITransformer Model { get; }

    /// <summary>The candidate rows the ranker was trained on, grouped by user (for <c>ml.Ranking.Evaluate</c>).</summary>
    public IDataView TrainingData { get; }

    /// <summary>The feature models, in slot order.</summary>
    public IReadOnlyList<HybridFeature> Features => _features;

    /// <summary>The names of the features, in slot order.</summary>
    public IReadOnlyList<string> FeatureNames => _features.Select(f => f.Name).ToArray();

    /// <inheritdoc/>
    public int UserCount => _features[0].Scorer.UserCount;

    /// <inheritdoc/>
    public int SongCount => _features[0].Scorer.SongCount;

    /// <summary>Scores every song for each user in the range with the ML.NET ranking model.</summary>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > UserCount || destination.Length < userCount * (long)SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} (x {SongCount} songs) do not fit {UserCount} users or a destination of {destination.Length}.");
        }

        int songs = SongCount;
        var block = new float[_features.Count][];
        for (int r = 0; r < userCount; r++)
        {
            for (int f = 0; f < _features.Count; f++)
            {
                block[f] = new float[songs];
                _features[f].Scorer.ScoreUsers(firstUser + r, 1, block[f]);
            }

            ToLogRanks(block);

            var rows = new Row[songs];
            for (int s = 0; s < songs; s++)
            {
                rows[s] = MakeRow(firstUser + r, s, 0, block);
            }

            var scored = Model.Transform(ToDataView(_ml, rows, UserCount, _features.Count));
            var column = scored.Schema["Score"];
            using var cursor = scored.GetRowCursor([column]);
            var getter = cursor.GetGetter<float>(column);
            int i = 0;
            float value = 0;
            while (cursor.MoveNext())
            {
                getter(ref value);
                destination[(r * songs) + i++] = value;
            }
        }
    }

    /// <summary>
    /// The same ranker over other fitted feature models of the same kind and order: for stacking, the features are
    /// trained on part of the log to fit the ranker, then retrained on the whole log for recommending.
    /// </summary>
    /// <exception cref="ArgumentException">The count, names or shapes of the features differ.</exception>
    public HybridRankerModel WithFeatures(IReadOnlyList<HybridFeature> features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Count != _features.Count || features.Where((f, i) => f.Name != _features[i].Name || f.Scorer.UserCount != UserCount || f.Scorer.SongCount != SongCount).Any())
        {
            throw new ArgumentException($"The ranker was trained on features [{string.Join(", ", FeatureNames)}] over {UserCount} users x {SongCount} songs; give the same names in the same order over the same keys.", nameof(features));
        }

        return new HybridRankerModel(_ml, Model, features, TrainingData);
    }

    /// <summary>Scores candidate rows (as <see cref="TrainingData"/>): the ML.NET model's output, still grouped by user.</summary>
    public IDataView Transform(IDataView candidates) => Model.Transform(candidates);

    /// <summary>
    /// Replaces each feature's scores of one user by −ln(1 + r), r the song's rank among that user's songs (0 for the
    /// best; ties share the better rank), and a non-finite score by <see cref="HybridRankerTrainer.MissingScore"/>.
    /// Ranks make the features comparable between the models the ranker was fitted on and the ones retrained on the
    /// whole log, whose raw scales differ (item-CF sums grow with the number of plays, ALS factors with the data).
    /// The logarithm keeps the top of each list apart: LightGBM bins a feature into at most 255 values, and plain
    /// percentiles over 5,000 songs put a model's whole top 10 into one bin (measured: the hybrid then fell from above
    /// MF to a third of it at benchmark size).
    /// </summary>
    internal static void ToLogRanks(float[][] block)
    {
        foreach (var scores in block)
        {
            var finite = Enumerable.Range(0, scores.Length).Where(s => float.IsFinite(scores[s])).OrderByDescending(s => scores[s]).ToArray();
            var result = new float[scores.Length];
            Array.Fill(result, HybridRankerTrainer.MissingScore);
            for (int i = 0; i < finite.Length; i++)
            {
                bool tie = i > 0 && scores[finite[i]] == scores[finite[i - 1]];
                result[finite[i]] = tie ? result[finite[i - 1]] : -(float)Math.Log(1 + i);
            }

            result.CopyTo(scores, 0);
        }
    }

    internal static Row MakeRow(int user, int song, float label, float[][] block, float weight = 1f)
    {
        var features = new float[block.Length];
        for (int f = 0; f < block.Length; f++)
        {
            float v = block[f][song];
            features[f] = float.IsFinite(v) ? v : HybridRankerTrainer.MissingScore;
        }

        // LoadFromEnumerable reads a .NET key value v as key v + 1, so the 0-based user index is stored as is.
        return new Row { GroupId = (uint)user, SongIndex = song, Label = label, Weight = weight, Features = features };
    }

    internal static IDataView ToDataView(MLContext ml, IEnumerable<Row> rows, int users, int featureCount)
    {
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.GroupId)].ColumnType = new KeyDataViewType(typeof(uint), users);
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, featureCount);
        return ml.Data.LoadFromEnumerable(rows, schema);
    }

    internal sealed class Row
    {
        public uint GroupId { get; set; }

        public int SongIndex { get; set; }

        public float Label { get; set; }

        public float Weight { get; set; } = 1f;

        public float[] Features { get; set; } = [];
    }
}
