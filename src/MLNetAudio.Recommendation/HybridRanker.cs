using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

/// <summary>One input of the hybrid ranker: a name and the scorer whose score is that feature.</summary>
/// <param name="Name">The feature's name (e.g. "Audio", "MF", "ItemCF", "Popularity").</param>
/// <param name="Scorer">The fitted model that scores every (user, song).</param>
public sealed record HybridFeature(string Name, IUserSongScorer Scorer);

/// <summary>
/// One input of the hybrid ranker given as an estimator: a name and a trainer whose fitted model scores every (user,
/// song) (any recommendation trainer of this package, such as <c>ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(...)</c>).
/// The hybrid trainer fits it itself, on the play columns named in <see cref="HybridRankerOptions"/>.
/// </summary>
/// <param name="Name">The feature's name (e.g. "Audio", "MF", "ItemCF", "Popularity").</param>
/// <param name="Trainer">The estimator; its fitted transformer must be an <see cref="IUserSongScorer"/>.</param>
public sealed record HybridFeatureTrainer(string Name, IEstimator<ITransformer> Trainer);

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="HybridRankerTrainer"/>.</summary>
public sealed class HybridRankerOptions
{
    /// <summary>
    /// The user key column of the plays the trainer reads (held-out, already-played, or the whole log with
    /// <see cref="FeatureTrainers"/>) and of the rows the fitted model scores. Default "UserId".
    /// </summary>
    public string UserColumnName = RecommendationEvaluationOptions.Defaults.UserColumnName;

    /// <summary>The song key column, as <see cref="UserColumnName"/>. Default "SongId".</summary>
    public string SongColumnName = RecommendationEvaluationOptions.Defaults.SongColumnName;

    /// <summary>The play-count column. Default "Label".</summary>
    public string LabelColumnName = RecommendationEvaluationOptions.Defaults.LabelColumnName;

    /// <summary>
    /// The fitted feature models, in slot order: each a name and a model that scores every (user, song) (the audio,
    /// matrix factorization, item-based CF, popularity, content or audio -> factors models of this package, or any other
    /// <see cref="IUserSongScorer"/>), all over the same users and songs as the plays the ranker is fitted on. Required;
    /// the trainer keeps a copy of the list (the models themselves are shared, not copied).
    /// </summary>
    public IReadOnlyList<HybridFeature>? Features;

    /// <summary>
    /// The feature models as estimators, in slot order, instead of <see cref="Features"/> (set exactly one of the two).
    /// <see cref="HybridRankerTrainer.Fit(IDataView)"/> is then given the whole training log and stacks by itself: it
    /// holds <see cref="HeldOutFraction"/> of each user's plays out (and every play of <see cref="ColdLikeSongFraction"/>
    /// of the songs), fits the feature trainers on the rest, fits the ranker on the held-out plays, and refits the
    /// feature trainers on the whole log for the model it returns (which owns them: dispose it). The trainers must read this options' column names. The trainer keeps a copy of the list.
    /// </summary>
    public IReadOnlyList<HybridFeatureTrainer>? FeatureTrainers;

    /// <summary>
    /// With <see cref="FeatureTrainers"/>: the share of each user's training plays held out for the ranker (a user's
    /// first play, by song key, always stays with the feature models), drawn with <see cref="Seed"/>. Default 0.2.
    /// </summary>
    public double HeldOutFraction = Defaults.HeldOutFraction;

    /// <summary>
    /// With <see cref="FeatureTrainers"/>: the share of the played songs made "cold-like" while the ranker is fitted,
    /// drawn with <see cref="Seed"/>. Every play of a cold-like song is taken out of the feature models' training data
    /// and becomes one of the ranker's positives, so the ranker sees songs the collaborative features know nothing of
    /// (their scores missing, <see cref="HybridRankerTrainer.MissingScore"/>) both played and unplayed, as cold songs
    /// are, and learns what the other features (audio, content) say of them. Cold-like songs need no candidates of their
    /// own: their plays are positives, and as negatives they come in with the random negatives (at their share of the
    /// catalog, weighted as the rest) and the audio or content features' top songs. The model returned is refitted on
    /// every play as without the option. The ranker tells such songs apart by the collaborative features' missing
    /// scores, so give at least one collaborative feature trainer (popularity, the song's play count, will do).
    /// <list type="bullet">
    /// <item>0 (default): no cold-like songs, the behaviour before the option (only songs whose every play happened to
    /// be held out look cold to the ranker), and the only value allowed with fitted <see cref="Features"/>.</item>
    /// <item>Below 1: a larger share costs the feature models those songs' plays while the ranker is fitted.</item>
    /// </list>
    /// Measured (docs/recommendation.md, "The hybrid trained with cold-like positives (issue 12, item 3)"): with the
    /// content or audio model beside MF, item-CF and popularity at 300 songs x 150 users, the ranker without cold-like
    /// songs ranks cold songs against the content model (cold AUC 0.37 to 0.44) and with 0.2 nearly as it does
    /// (0.73 against 0.73 to 0.75); in the HybridRecommender sample (three simulator seeds) 0.1 lifts the hybrid's cold
    /// AUC to its audio model's (0.69 to 0.71 from 0.60 to 0.68) but not its cold NDCG@10 (−0.015 to +0.026, mean
    /// +0.006; 0.2: mean −0.015), and warm NDCG@10 moves −0.021 to +0.027 (mean −0.003): hence the default of 0.
    /// </summary>
    public double ColdLikeSongFraction = Defaults.ColdLikeSongFraction;

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
        /// <summary>Default share of plays held out for the ranker when it fits its own feature models.</summary>
        public const double HeldOutFraction = 0.2;

        /// <summary>Default share of played songs made cold-like for the ranker: none.</summary>
        public const double ColdLikeSongFraction = 0;

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

    /// <summary>A copy (the feature list copied too): the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal HybridRankerOptions Copy()
    {
        var copy = (HybridRankerOptions)MemberwiseClone();
        copy.Features = Features?.ToArray();
        copy.FeatureTrainers = FeatureTrainers?.ToArray();
        return copy;
    }

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
            .Check(FeatureProblem() is not null, Features is null && FeatureTrainers is not null ? nameof(FeatureTrainers) : nameof(Features), FeatureProblem() ?? string.Empty)
            .Check(!(HeldOutFraction > 0 && HeldOutFraction < 1), nameof(HeldOutFraction), $"must be above 0 and below 1; found {HeldOutFraction}.")
            .Check(!(ColdLikeSongFraction is >= 0 and < 1), nameof(ColdLikeSongFraction), $"must be 0 or more and below 1; found {ColdLikeSongFraction}.")
            .Check(ColdLikeSongFraction > 0 && Features is not null, nameof(ColdLikeSongFraction),
                $"is {ColdLikeSongFraction} but the feature models are given fitted (Features), so they have seen every song's plays; give them as FeatureTrainers, or set it to 0.")
            .ThrowIfAny();

    /// <summary>What is wrong with <see cref="Features"/> or <see cref="FeatureTrainers"/>, or null.</summary>
    private string? FeatureProblem()
    {
        if (Features is not null && FeatureTrainers is not null)
        {
            return "is set and so is FeatureTrainers; give the feature models either fitted (Features) or as estimators (FeatureTrainers), not both.";
        }

        var names = Features?.Select(f => f?.Name).ToList() ?? FeatureTrainers?.Select(f => f?.Name).ToList();
        if (names is null || names.Count == 0)
        {
            return "must hold at least one feature model, new HybridFeature(name, fitted model), in the order of the ranker's slots (or set FeatureTrainers).";
        }

        int bad = Features is not null
            ? Features.ToList().FindIndex(f => f is null || f.Scorer is null || string.IsNullOrWhiteSpace(f.Name))
            : FeatureTrainers!.ToList().FindIndex(f => f is null || f.Trainer is null || string.IsNullOrWhiteSpace(f.Name));
        if (bad >= 0)
        {
            return $"entry {bad} is null or has no name or no model; every feature needs both.";
        }

        var repeated = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
        {
            return $"holds the name '{repeated.Key}' twice; names identify the slots (WithFeatures, saved files), so each must be unique.";
        }

        return Features is null ? null : ShapeProblem(Features);
    }

    /// <summary>Which feature model scores other users or songs than the first, or null.</summary>
    internal static string? ShapeProblem(IReadOnlyList<HybridFeature> features)
    {
        var first = features[0];
        var other = features.FirstOrDefault(f => f.Scorer.UserCount != first.Scorer.UserCount || f.Scorer.SongCount != first.Scorer.SongCount);
        return other is null ? null
            : $"'{other.Name}' scores {other.Scorer.UserCount} users x {other.Scorer.SongCount} songs but '{first.Name}' scores {first.Scorer.UserCount} x {first.Scorer.SongCount}; fit every feature model on the same keys.";
    }
}
#pragma warning restore CA1051

/// <summary>
/// The hybrid: an ML.NET ranking pipeline (LightGBM LambdaRank, <c>ml.Ranking.Trainers.LightGbm</c>) over the scores
/// of other models (audio, matrix factorization, item-based CF, popularity, ...) as features, one query group per
/// user, trained on held-out plays. Each feature is the log of the score's rank among the user's songs.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (LightGBM on the CPU, one thread); input: user key, song key and Single play-count
/// columns of held-out plays; output: a Single <c>Score</c> column over (user key, song key) rows; NuGet:
/// MLNetAudio.Recommendation (adds Microsoft.ML.LightGbm); not exportable to ONNX; saved with its feature models by
/// <c>ml.Audio().Model.SaveHybridRanker</c>.
/// </para>
/// <para>
/// Train the feature models on one part of the training log and fit the ranker on the plays held out of it (stacking);
/// the ranker then applies to the same feature models or to ones retrained on the whole log
/// (<see cref="HybridRankerModel.WithFeatures"/>). A feature a model cannot give (a collaborative model on a cold song
/// scores negative infinity) becomes <see cref="MissingScore"/>, below every real score, which trees read as "no
/// information". Cold songs are scored like any other: by whatever the audio features say of them; a ranker that
/// stacks by itself can be shown cold-like songs while it is fitted (<see cref="HybridRankerOptions.ColdLikeSongFraction"/>),
/// so that it learns how far to trust those features when the collaborative ones are missing.
/// </para>
/// </remarks>
/// <example>
/// <c>samples/HybridRecommender/Program.cs</c>:
/// <code>
/// var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions { Features = features })
///     .Fit(heldOutPlays, basePlays);
/// </code>
/// </example>
public sealed class HybridRankerTrainer : IEstimator<HybridRankerModel>
{
    /// <summary>The value a non-finite feature score becomes.</summary>
    public const float MissingScore = -1e6f;

    private readonly MLContext _ml;
    private readonly HybridRankerOptions _options;
    private readonly HybridFeature[]? _features;
    private readonly HybridFeatureTrainer[]? _featureTrainers;
    private readonly int _seed;

    // Reached through the catalog (ml.Audio().Recommendation.Trainers.HybridRanker). The options are validated and copied
    // here (the feature list too); LightGBM runs on the context, and a null Seed is drawn from it.
    internal HybridRankerTrainer(MLContext mlContext, HybridRankerOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        _ml = mlContext;
        options.Validate();
        _options = options.Copy();
        _features = _options.Features?.ToArray();
        _featureTrainers = _options.FeatureTrainers?.ToArray();
        _seed = TrainerSeeds.Resolve(mlContext, _options.Seed, "HybridRanker");
    }

    /// <summary>
    /// With fitted <see cref="HybridRankerOptions.Features"/>: fits the ranker on <paramref name="input"/>, plays the
    /// feature models did not see, with no song left out of the candidates (<see cref="Fit(IDataView, IDataView?)"/>
    /// with no already-played data). With <see cref="HybridRankerOptions.FeatureTrainers"/>: <paramref name="input"/> is
    /// the whole training log, and the trainer stacks by itself (see <see cref="HybridRankerOptions.FeatureTrainers"/>).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A column is missing or wrong, its keys do not match the feature models', a feature trainer's model is not an
    /// <see cref="IUserSongScorer"/>, or no user has a held-out play; the message names the column or the feature.
    /// </exception>
    public HybridRankerModel Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_features is not null)
        {
            return Fit(input, null);
        }

        var plays = PlayMatrix.ReadTraining(input, _options.UserColumnName, _options.SongColumnName, _options.LabelColumnName);
        var (basePlays, heldOut, _) = SplitForStacking(plays, _options.HeldOutFraction, _seed, _options.ColdLikeSongFraction);
        var baseFeatures = FitFeatures(PlaysToDataView(_ml, basePlays, UserColumnName, SongColumnName, _options.LabelColumnName));
        HybridRankerModel ranker;
        try
        {
            ranker = FitRanker(baseFeatures, heldOut, basePlays, nameof(input));
        }
        finally
        {
            DisposeAll(baseFeatures);
        }

        var features = FitFeatures(input);
        return new HybridRankerModel(_ml, UserColumnName, SongColumnName, ranker.Model, features, ranker.TrainingData) { OwnsFeatures = true };
    }

    /// <summary>Checks the input columns (key user and song, Single label) and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ContentSongInputs.OutputSchema(inputSchema, _options.UserColumnName, _options.SongColumnName, _options.LabelColumnName);

    /// <summary>
    /// Fits the ranker: for each user with held-out plays, candidates are those plays (label 1), random unplayed songs
    /// and each feature's top songs (label 1 when held out, else 0); songs in <paramref name="alreadyPlayed"/> are left out.
    /// With <see cref="HybridRankerOptions.WeightRandomNegatives"/> each random negative is weighted by the unplayed songs
    /// it stands for, so the ranker's loss is that of the whole catalog, not of a sample skewed towards the top lists.
    /// </summary>
    /// <param name="heldOutPlays">Plays the feature models did not see (the labels).</param>
    /// <param name="alreadyPlayed">Plays the feature models were trained on (excluded from candidates), or null.</param>
    /// <exception cref="ArgumentException">A column is missing or wrong, its keys do not match the feature models', or no user has a held-out play.</exception>
    /// <exception cref="InvalidOperationException">The feature models were given as <see cref="HybridRankerOptions.FeatureTrainers"/>: use <see cref="Fit(IDataView)"/>.</exception>
    public HybridRankerModel Fit(IDataView heldOutPlays, IDataView? alreadyPlayed)
    {
        ArgumentNullException.ThrowIfNull(heldOutPlays);
        if (_features is null)
        {
            throw new InvalidOperationException(
                "HybridRankerOptions.FeatureTrainers are fitted by Fit(plays), which holds HeldOutFraction of each user's plays out by itself; "
                + "to stack by hand, fit the feature models and give them as HybridRankerOptions.Features.");
        }

        int users = _features[0].Scorer.UserCount, songs = _features[0].Scorer.SongCount;
        var labels = ReadPlays(heldOutPlays, nameof(heldOutPlays), users, songs);
        var played = alreadyPlayed is null ? null : ReadPlays(alreadyPlayed, nameof(alreadyPlayed), users, songs);
        return FitRanker(_features, labels, played, nameof(heldOutPlays));
    }

    private string UserColumnName => _options.UserColumnName;

    private string SongColumnName => _options.SongColumnName;

    /// <summary>The ranker over <paramref name="features"/>, fitted on <paramref name="labels"/> with <paramref name="played"/> left out of the candidates.</summary>
    private HybridRankerModel FitRanker(HybridFeature[] features, PlayMatrix labels, PlayMatrix? played, string labelsName)
    {
        int users = features[0].Scorer.UserCount, songs = features[0].Scorer.SongCount;
        var rng = new Random(_seed);
        var rows = new List<HybridRankerModel.Row>();
        var block = new float[features.Length][];
        for (int u = 0; u < users; u++)
        {
            var positives = new HashSet<int>(labels.SongsOf(u).ToArray());
            if (positives.Count == 0)
            {
                continue;
            }

            var exclude = played is null ? [] : new HashSet<int>(played.SongsOf(u).ToArray());
            for (int f = 0; f < features.Length; f++)
            {
                block[f] = new float[songs];
                features[f].Scorer.ScoreUsers(u, 1, block[f]);
            }

            var raw = block.Select(b => (float[])b.Clone()).ToArray();
            HybridRankerModel.ToLogRanks(block);
            // Every held-out play and every feature's top songs are candidates; the rest of the catalog is sampled.
            var candidates = new SortedSet<int>(positives.Where(s => !exclude.Contains(s)));
            for (int f = 0; f < features.Length; f++)
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
            throw new ArgumentException($"No user has a held-out play in '{_options.LabelColumnName}'; the ranker has nothing to learn from.", labelsName);
        }

        var data = HybridRankerModel.ToDataView(_ml, rows, users, features.Length);
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
        return new HybridRankerModel(_ml, UserColumnName, SongColumnName, model, features, data);
    }

    /// <summary>
    /// Each user's plays in song-key order, <paramref name="fraction"/> of them held out (drawn with
    /// <paramref name="seed"/>); the first always stays in the base, so every user with plays keeps one for the feature models.
    /// </summary>
    internal static (PlayMatrix Base, PlayMatrix HeldOut) SplitForStacking(PlayMatrix plays, double fraction, int seed)
    {
        var (basePlays, heldOut, _) = SplitForStacking(plays, fraction, seed, 0);
        return (basePlays, heldOut);
    }

    /// <summary>
    /// As <see cref="SplitForStacking(PlayMatrix, double, int)"/>, after drawing <paramref name="coldLikeSongFraction"/>
    /// of the played songs (rounded) whose plays are all held out: the user's first play of another song stays in the
    /// base (a user who played only cold-like songs keeps none). With no cold-like songs the draws are those of the
    /// three-argument split, so the two agree.
    /// </summary>
    internal static (PlayMatrix Base, PlayMatrix HeldOut, int[] ColdLikeSongs) SplitForStacking(PlayMatrix plays, double fraction, int seed, double coldLikeSongFraction)
    {
        var rng = new Random(seed);
        var coldLikeSongs = ChooseColdLikeSongs(plays, coldLikeSongFraction, rng);
        var coldLike = new bool[plays.SongCount];
        foreach (int s in coldLikeSongs)
        {
            coldLike[s] = true;
        }

        var kept = new List<(int, int, float)>();
        var held = new List<(int, int, float)>();
        for (int u = 0; u < plays.UserCount; u++)
        {
            var songs = plays.SongsOf(u);
            var counts = plays.PlaysOf(u);
            bool keptOne = false;
            for (int i = 0; i < songs.Length; i++)
            {
                if (coldLike[songs[i]])
                {
                    held.Add((u, songs[i], counts[i]));
                    continue;
                }

                bool holdOut = rng.NextDouble() < fraction && keptOne;
                keptOne |= !holdOut;
                (holdOut ? held : kept).Add((u, songs[i], counts[i]));
            }
        }

        return (PlayMatrix.FromTriples(plays.UserCount, plays.SongCount, kept), PlayMatrix.FromTriples(plays.UserCount, plays.SongCount, held), coldLikeSongs);
    }

    /// <summary><paramref name="fraction"/> of the songs with plays (rounded), drawn without replacement, in key order; none (and no draw) for 0.</summary>
    private static int[] ChooseColdLikeSongs(PlayMatrix plays, double fraction, Random rng)
    {
        if (fraction <= 0)
        {
            return [];
        }

        var played = Enumerable.Range(0, plays.SongCount).Where(s => plays.PlayCountOfSong(s) > 0).ToArray();
        int count = (int)Math.Round(fraction * played.Length, MidpointRounding.AwayFromZero);
        for (int i = 0; i < count; i++)
        {
            int j = rng.Next(i, played.Length);
            (played[i], played[j]) = (played[j], played[i]);
        }

        return [.. played.Take(count).Order()];
    }

    /// <summary>Plays as (user key, song key, plays) rows under the given column names, keys over the matrix's counts.</summary>
    internal static IDataView PlaysToDataView(MLContext ml, PlayMatrix plays, string userColumnName, string songColumnName, string labelColumnName)
    {
        var rows = new List<PlayRow>(plays.NonZeroCount);
        for (int u = 0; u < plays.UserCount; u++)
        {
            var songs = plays.SongsOf(u);
            var counts = plays.PlaysOf(u);
            for (int i = 0; i < songs.Length; i++)
            {
                // LoadFromEnumerable reads a .NET key value v as key v + 1, so the 0-based indices are stored as they are.
                rows.Add(new PlayRow { User = (uint)u, Song = (uint)songs[i], Plays = counts[i] });
            }
        }

        var schema = SchemaDefinition.Create(typeof(PlayRow));
        schema[nameof(PlayRow.User)].ColumnType = new KeyDataViewType(typeof(uint), plays.UserCount);
        schema[nameof(PlayRow.User)].ColumnName = userColumnName;
        schema[nameof(PlayRow.Song)].ColumnType = new KeyDataViewType(typeof(uint), plays.SongCount);
        schema[nameof(PlayRow.Song)].ColumnName = songColumnName;
        schema[nameof(PlayRow.Plays)].ColumnName = labelColumnName;
        return ml.Data.LoadFromEnumerable(rows, schema);
    }

    /// <summary>Fits every feature trainer on <paramref name="plays"/>; a model that is no scorer, or of another shape, is an error naming the feature.</summary>
    private HybridFeature[] FitFeatures(IDataView plays)
    {
        var features = new List<HybridFeature>();
        try
        {
            foreach (var (name, trainer) in _featureTrainers!)
            {
                var model = trainer.Fit(plays);
                if (model is not IUserSongScorer scorer)
                {
                    (model as IDisposable)?.Dispose();
                    throw new ArgumentException(
                        $"Feature trainer '{name}' made a {model.GetType().Name}, which does not score (user, song) pairs; give a recommendation trainer whose model is an IUserSongScorer.",
                        nameof(plays));
                }

                features.Add(new HybridFeature(name, scorer));
            }

            if (HybridRankerOptions.ShapeProblem(features) is string problem)
            {
                throw new ArgumentException($"The feature trainers' models disagree: {problem}", nameof(plays));
            }

            return [.. features];
        }
        catch
        {
            DisposeAll(features);
            throw;
        }
    }

    private static void DisposeAll(IEnumerable<HybridFeature> features)
    {
        foreach (var f in features)
        {
            (f.Scorer as IDisposable)?.Dispose();
        }
    }

    private sealed class PlayRow
    {
        public uint User { get; set; }

        public uint Song { get; set; }

        public float Plays { get; set; }
    }

    /// <summary>Reads plays whose key columns must cover the feature models' users and songs.</summary>
    private PlayMatrix ReadPlays(IDataView data, string name, int users, int songs)
    {
        var plays = PlayMatrix.Read(data, _options.UserColumnName, _options.SongColumnName, _options.LabelColumnName);
        if (plays.UserCount != users || plays.SongCount != songs)
        {
            throw new ArgumentException(
                $"Columns '{_options.UserColumnName}' and '{_options.SongColumnName}' of {name} are keys of {plays.UserCount} users x {plays.SongCount} songs "
                + $"but the feature models score {users} x {songs}; map the plays with the same fitted MapValueToKey the feature models were trained with.",
                name);
        }

        return plays;
    }
}

/// <summary>
/// A fitted hybrid ranker: an ML.NET LightGBM ranking model over the feature models' scores. As an
/// <see cref="IUserSongScorer"/> it scores every (user, song) by computing the features and running the ML.NET model;
/// as an ML.NET transformer it appends that score to (user key, song key) rows.
/// </summary>
/// <remarks>
/// A row's score needs the features of all the user's songs (each is a rank among them), so each cursor keeps the last
/// user's scores: rows grouped by user are scored at the cost of one <see cref="ScoreUsers"/> per user. A row whose user
/// or song key is missing (0) scores 0, never NaN.
/// </remarks>
public sealed class HybridRankerModel : RowMappingTransformer, IUserSongScorer, IDisposable
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

    internal HybridRankerModel(MLContext ml, string userColumnName, string songColumnName, ITransformer model, IReadOnlyList<HybridFeature> features, IDataView trainingData)
    {
        _ml = ml;
        UserColumnName = userColumnName;
        SongColumnName = songColumnName;
        Model = model;
        _features = features;
        TrainingData = trainingData;
    }

    /// <summary>The user key column of the rows <see cref="RowMappingTransformer.Transform"/> scores (the ranker's <see cref="HybridRankerOptions.UserColumnName"/>).</summary>
    public string UserColumnName { get; }

    /// <summary>The song key column of the rows <see cref="RowMappingTransformer.Transform"/> scores (the ranker's <see cref="HybridRankerOptions.SongColumnName"/>).</summary>
    public string SongColumnName { get; }

    /// <summary>
    /// Whether <see cref="Dispose"/> disposes the feature models: true for the ones the trainer fitted itself
    /// (<see cref="HybridRankerOptions.FeatureTrainers"/>) and for a loaded ranker's; fitted models given in
    /// <see cref="HybridRankerOptions.Features"/> stay the caller's.
    /// </summary>
    internal bool OwnsFeatures { get; init; }

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
        UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

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

        return new HybridRankerModel(_ml, UserColumnName, SongColumnName, Model, features, TrainingData);
    }

    /// <summary>
    /// Scores candidate rows (as <see cref="TrainingData"/>: <see cref="GroupColumnName"/>, <see cref="FeaturesColumnName"/>, ...):
    /// the ML.NET model's output, still grouped by user, for <c>ml.Ranking.Evaluate</c>.
    /// </summary>
    public IDataView ScoreCandidates(IDataView candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        return Model.Transform(candidates);
    }

    /// <summary>Disposes the feature models this ranker owns (see <see cref="HybridRankerOptions.FeatureTrainers"/>); others stay the caller's.</summary>
    public void Dispose()
    {
        if (OwnsFeatures)
        {
            foreach (var f in _features)
            {
                (f.Scorer as IDisposable)?.Dispose();
            }
        }
    }

    private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
        UserSongScoreBinding.Create(inputSchema, UserColumnName, SongColumnName, UserCount, SongCount, CursorScorer);

    /// <summary>A scorer for one cursor, keeping the last user's row of scores.</summary>
    private Func<uint, uint, float> CursorScorer()
    {
        var row = new float[SongCount];
        uint cached = 0;
        return (userKey, songKey) =>
        {
            if (userKey == 0 || songKey == 0)
            {
                return 0f;
            }

            if (userKey != cached)
            {
                ScoreUsers((int)userKey - 1, 1, row);
                cached = userKey;
            }

            return row[songKey - 1];
        };
    }

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
