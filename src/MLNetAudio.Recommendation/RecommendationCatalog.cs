using Microsoft.ML;
using MLNetAudio.Data;
using MLNetAudio.Recommendation;

// The recommendation package's catalog entry points, in one file as ML.NET gathers each package's: ml.Audio().Recommendation
// (an extension property of the core's AudioCatalog), its trainers (ml.Audio().Recommendation.Trainers.*, the audio and
// content ones as extension methods), its evaluation, and the hybrid ranker's save/load on ml.Audio().Model.
namespace MLNetAudio
{
    /// <summary>
    /// What MLNetAudio.Recommendation adds to MLNetAudio's catalogs: <c>ml.Audio().Recommendation</c> and
    /// <c>ml.Audio().Model.SaveHybridRanker</c> / <c>LoadHybridRanker</c>.
    /// </summary>
    public static class AudioRecommendationCatalogExtensions
    {
        /// <param name="catalog">MLNetAudio's catalog, <c>ml.Audio()</c>.</param>
        extension(AudioCatalog catalog)
        {
            /// <summary>Recommendation trainers (audio, matrix factorization, item-based CF, popularity, content, hybrid) and their evaluation.</summary>
            public RecommendationCatalog Recommendation => new(catalog.Context);
        }

        /// <summary>Saves a fitted hybrid ranker and every feature model it reads to the file <paramref name="path"/>.</summary>
        /// <param name="catalog">The model catalog, <c>ml.Audio().Model</c>.</param>
        /// <param name="model">The fitted hybrid ranker.</param>
        /// <param name="path">The file to write (overwritten).</param>
        /// <exception cref="NotSupportedException">A feature model cannot be saved; the message names it.</exception>
        public static void SaveHybridRanker(this AudioModelCatalog catalog, HybridRankerModel model, string path)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            HybridRankerPersistence.SaveHybridRanker(catalog, model, path);
        }

        /// <summary>Loads a hybrid ranker written by <see cref="SaveHybridRanker"/>, with its feature models.</summary>
        /// <param name="catalog">The model catalog, <c>ml.Audio().Model</c>.</param>
        /// <param name="path">The file.</param>
        /// <returns>The ranker, scoring as the saved one did; its <see cref="HybridRankerModel.TrainingData"/> is empty.</returns>
        /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
        /// <exception cref="AudioModelFileException">The file is not a hybrid ranker, is truncated or damaged, or holds a part this version cannot read.</exception>
        public static HybridRankerModel LoadHybridRanker(this AudioModelCatalog catalog, string path)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            return HybridRankerPersistence.LoadHybridRanker(catalog, path);
        }
    }
}

namespace MLNetAudio.Recommendation
{
    /// <summary>Reached through <c>ml.Audio().Recommendation</c>: recommendation trainers and their evaluation.</summary>
    public sealed class RecommendationCatalog
    {
        internal RecommendationCatalog(MLContext context)
        {
            Context = context;
            Trainers = new RecommendationTrainers(context);
        }

        /// <summary>The context this catalog was made from.</summary>
        public MLContext Context { get; }

        /// <summary>The recommendation trainers.</summary>
        public RecommendationTrainers Trainers { get; }

        /// <summary>
        /// Evaluates a scorer's top-k recommendations against held-out plays.
        /// </summary>
        /// <remarks>
        /// For every user with at least one relevant candidate song: (1) the scorer scores every song; (2) songs the
        /// user played in <paramref name="alreadyPlayed"/> are removed (<see cref="TopKMetrics.ExcludeAlreadyPlayed"/>);
        /// (3) songs outside <see cref="RecommendationEvaluationOptions.CandidateSongKeys"/> are removed; (4) the best
        /// songs are ranked and measured. Relevant songs are the user's test plays (count &gt; 0) among the candidates.
        /// Precision, recall, NDCG, MAP and AUC are averaged over evaluated users.
        /// </remarks>
        /// <param name="scorer">The model (any <see cref="SongRecommenderModel"/>, an oracle, or any other scorer).</param>
        /// <param name="testData">Held-out plays: user key, song key and play-count columns named in <paramref name="options"/>.</param>
        /// <param name="alreadyPlayed">The plays to filter out of recommendations (usually the training data), or null to filter nothing.</param>
        /// <param name="options">Column names, k and the candidate songs.</param>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Catalog members are instance members, as in ML.NET (ml.Ranking.Evaluate).")]
        public RecommendationMetrics Evaluate(IUserSongScorer scorer, IDataView testData, IDataView? alreadyPlayed, RecommendationEvaluationOptions options)
        {
            ArgumentNullException.ThrowIfNull(scorer);
            ArgumentNullException.ThrowIfNull(testData);
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            var test = PlayMatrix.Read(testData, options.UserColumnName, options.SongColumnName, options.LabelColumnName);
            CheckShape(test, scorer, "testData");
            PlayMatrix? played = null;
            if (alreadyPlayed is not null)
            {
                played = PlayMatrix.Read(alreadyPlayed, options.UserColumnName, options.SongColumnName, options.LabelColumnName);
                CheckShape(played, scorer, nameof(alreadyPlayed));
            }

            bool[]? candidates = null;
            if (options.CandidateSongKeys is not null)
            {
                candidates = new bool[scorer.SongCount];
                foreach (uint key in options.CandidateSongKeys)
                {
                    if (key < 1 || key > scorer.SongCount)
                    {
                        throw new ArgumentException($"{nameof(RecommendationEvaluationOptions.CandidateSongKeys)} holds key {key}; song keys run from 1 to {scorer.SongCount}.", nameof(options));
                    }

                    candidates[key - 1] = true;
                }
            }

            if (options.SongEmbeddings is not null && options.SongEmbeddings.Count != scorer.SongCount)
            {
                throw new ArgumentException($"{nameof(RecommendationEvaluationOptions.SongEmbeddings)} holds {options.SongEmbeddings.Count} embeddings; the catalog has {scorer.SongCount} songs.", nameof(options));
            }

            return Measure(scorer, test, played, candidates, options);
        }

        /// <summary>
        /// Wraps already-scored (user, song, score) rows — the output of any ML.NET pipeline that appends a score to
        /// (user, song) pairs, such as an audio scorer applied to every candidate pair — as an
        /// <see cref="IUserSongScorer"/> for <see cref="Evaluate"/>. Pairs without a row score negative infinity
        /// (never recommended); a repeated pair keeps its last score.
        /// </summary>
        /// <remarks>Holds a dense users x songs table of floats (40 MB for 2,000 users x 5,000 songs).</remarks>
        /// <param name="scoredData">Rows with user and song key columns and a Single score column.</param>
        /// <param name="userColumnName">The user key column.</param>
        /// <param name="songColumnName">The song key column.</param>
        /// <param name="scoreColumnName">The score column.</param>
        /// <exception cref="ArgumentException">A column is missing or of the wrong type, or a score is NaN; the message names it.</exception>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Catalog members are instance members, as in ML.NET.")]
        public IUserSongScorer ScorerFromScoredRows(
            IDataView scoredData,
            string userColumnName = RecommendationEvaluationOptions.Defaults.UserColumnName,
            string songColumnName = RecommendationEvaluationOptions.Defaults.SongColumnName,
            string scoreColumnName = SongRecommenderModel.ScoreColumnName)
        {
            ArgumentNullException.ThrowIfNull(scoredData);
            var user = PlayMatrix.RequireKey(scoredData.Schema, userColumnName, "User");
            var song = PlayMatrix.RequireKey(scoredData.Schema, songColumnName, "Song");
            var score = SchemaShapes.Require(scoredData.Schema, scoreColumnName, "Score");
            if (score.Type != Microsoft.ML.Data.NumberDataViewType.Single)
            {
                throw new ArgumentException($"Score column '{scoreColumnName}' must be of type Single; found {score.Type}.", nameof(scoredData));
            }

            int users = (int)((Microsoft.ML.Data.KeyDataViewType)user.Type).Count;
            int songs = (int)((Microsoft.ML.Data.KeyDataViewType)song.Type).Count;
            var table = new float[users * (long)songs];
            Array.Fill(table, float.NegativeInfinity);
            using var cursor = scoredData.GetRowCursor([user, song, score]);
            var userGetter = cursor.GetGetter<uint>(user);
            var songGetter = cursor.GetGetter<uint>(song);
            var scoreGetter = cursor.GetGetter<float>(score);
            uint u = 0, s = 0;
            float value = 0;
            while (cursor.MoveNext())
            {
                userGetter(ref u);
                songGetter(ref s);
                scoreGetter(ref value);
                if (u == 0 || s == 0)
                {
                    continue;
                }

                if (float.IsNaN(value))
                {
                    throw new ArgumentException($"Score column '{scoreColumnName}' holds NaN for user key {u}, song key {s} (row {cursor.Position}); a ranking needs a number for every scored pair.", nameof(scoredData));
                }

                table[(u - 1) * (long)songs + s - 1] = value;
            }

            return new TableScorer(users, songs, table);
        }

        private static RecommendationMetrics Measure(IUserSongScorer scorer, PlayMatrix test, PlayMatrix? played, bool[]? candidates, RecommendationEvaluationOptions options)
        {
            int songs = scorer.SongCount;
            int depth = Math.Max(options.K, options.MapCutoff);
            double precision = 0, recall = 0, ndcg = 0, map = 0, auc = 0, diversity = 0;
            int users = 0, aucUsers = 0, diversityUsers = 0, unscored = 0;
            var lists = new List<IReadOnlyList<int>>();
            int block = Math.Max(1, 4_000_000 / songs);
            var buffer = new float[block * songs];
            for (int first = 0; first < scorer.UserCount; first += block)
            {
                int count = Math.Min(block, scorer.UserCount - first);
                bool any = false;
                for (int u = first; u < first + count && !any; u++)
                {
                    any = test.SongsOf(u).Length > 0;
                }

                if (!any)
                {
                    continue;
                }

                scorer.ScoreUsers(first, count, buffer);
                for (int r = 0; r < count; r++)
                {
                    int u = first + r;
                    var relevant = new HashSet<int>();
                    foreach (int s in test.SongsOf(u))
                    {
                        if ((candidates is null || candidates[s]) && (played is null || played.SongsOf(u).IndexOf(s) < 0))
                        {
                            relevant.Add(s);
                        }
                    }

                    if (relevant.Count == 0)
                    {
                        continue;
                    }

                    var scores = buffer.AsSpan(r * songs, songs);
                    bool anyScore = false;
                    foreach (int s in relevant)
                    {
                        anyScore |= !float.IsNaN(scores[s]);
                    }

                    if (!anyScore)
                    {
                        // Not a zero score: the scorer gave no number, which the metrics must say instead of counting as a miss.
                        unscored++;
                        continue;
                    }

                    var filtered = TopKMetrics.ExcludeAlreadyPlayed(scores, played is null ? [] : played.SongsOf(u).ToArray());
                    if (candidates is not null)
                    {
                        for (int s = 0; s < songs; s++)
                        {
                            if (!candidates[s])
                            {
                                filtered[s] = float.NaN;
                            }
                        }
                    }

                    var ranking = TopKMetrics.TopK(filtered, depth);
                    var topK = options.DiversityRelevanceWeight is double weight
                        ? DiversityReranking.Mmr(filtered, options.SongEmbeddings!, options.K, weight)
                        : ranking.Length > options.K ? ranking[..options.K] : ranking;
                    users++;
                    precision += TopKMetrics.Precision(topK, relevant, options.K);
                    recall += TopKMetrics.Recall(topK, relevant, options.K);
                    ndcg += TopKMetrics.Ndcg(topK, relevant, options.K);
                    map += TopKMetrics.AveragePrecision(ranking, relevant, options.MapCutoff);
                    double userAuc = TopKMetrics.Auc(filtered, relevant);
                    if (!double.IsNaN(userAuc))
                    {
                        auc += userAuc;
                        aucUsers++;
                    }

                    lists.Add(topK);
                    if (options.SongEmbeddings is not null)
                    {
                        double d = TopKMetrics.IntraListDiversity(topK, options.SongEmbeddings);
                        if (!double.IsNaN(d))
                        {
                            diversity += d;
                            diversityUsers++;
                        }
                    }
                }
            }

            int catalog = candidates?.Count(c => c) ?? songs;
            string? noUsers = users > 0 ? null
                : unscored > 0 ? $"the scorer gave NaN for every relevant song of all {unscored} user(s) with test plays"
                : "no user has a relevant candidate song in the test data";
            var reasons = new Dictionary<string, string>();
            void Why(string metric, string? reason)
            {
                if (reason is not null)
                {
                    reasons[metric] = reason;
                }
            }

            Why(nameof(RecommendationMetrics.PrecisionAtK), noUsers);
            Why(nameof(RecommendationMetrics.RecallAtK), noUsers);
            Why(nameof(RecommendationMetrics.NdcgAtK), noUsers);
            Why(nameof(RecommendationMetrics.MapAtCutoff), noUsers);
            Why(nameof(RecommendationMetrics.Auc), aucUsers > 0 ? null : noUsers ?? "no evaluated user has both relevant and irrelevant candidates");
            Why(nameof(RecommendationMetrics.CatalogCoverage), catalog > 0 ? null : "no candidate songs");
            Why(nameof(RecommendationMetrics.IntraListDiversity), diversityUsers > 0 ? null
                : options.SongEmbeddings is null ? "no song embeddings given"
                : noUsers ?? "no top-k list of two or more songs");
            return new RecommendationMetrics
            {
                UsersWithoutScores = unscored,
                MissingReasons = reasons,
                K = options.K,
                MapCutoff = options.MapCutoff,
                UsersEvaluated = users,
                PrecisionAtK = users == 0 ? double.NaN : precision / users,
                RecallAtK = users == 0 ? double.NaN : recall / users,
                NdcgAtK = users == 0 ? double.NaN : ndcg / users,
                MapAtCutoff = users == 0 ? double.NaN : map / users,
                Auc = aucUsers == 0 ? double.NaN : auc / aucUsers,
                CatalogCoverage = catalog == 0 ? double.NaN : TopKMetrics.CatalogCoverage(lists, catalog),
                IntraListDiversity = diversityUsers == 0 ? double.NaN : diversity / diversityUsers,
            };
        }

        private static void CheckShape(PlayMatrix data, IUserSongScorer scorer, string name)
        {
            if (data.UserCount != scorer.UserCount || data.SongCount != scorer.SongCount)
            {
                throw new ArgumentException(
                    $"{name} has keys for {data.UserCount} users x {data.SongCount} songs but the scorer covers {scorer.UserCount} x {scorer.SongCount}; "
                    + "map every view with the same fitted MapValueToKey transformers.",
                    name);
            }
        }
    }

    /// <summary>A dense table of scores read from scored rows.</summary>
    internal sealed class TableScorer(int users, int songs, float[] table) : IUserSongScorer
    {
        public int UserCount => users;

        public int SongCount => songs;

        public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
        {
            if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > users)
            {
                throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} are outside {users} users.");
            }

            table.AsSpan((int)(firstUser * (long)songs), (int)(userCount * (long)songs)).CopyTo(destination);
        }
    }

    /// <summary>Creates the recommendation trainers. Reached through <c>ml.Audio().Recommendation.Trainers</c>.</summary>
    public sealed class RecommendationTrainers
    {
        internal RecommendationTrainers(MLContext context)
        {
            Context = context;
        }

        /// <summary>The context this catalog was made from.</summary>
        public MLContext Context { get; }

        /// <summary>Implicit-feedback matrix factorization by weighted ALS (Hu, Koren and Volinsky 2008).</summary>
        /// <param name="labelColumnName">The play-count column (Single).</param>
        /// <param name="matrixColumnIndexColumnName">The user key column.</param>
        /// <param name="matrixRowIndexColumnName">The song key column.</param>
        /// <param name="approximationRank">Number of latent factors.</param>
        /// <param name="numberOfIterations">Alternating rounds.</param>
        public ImplicitMatrixFactorizationTrainer ImplicitMatrixFactorization(
            string labelColumnName,
            string matrixColumnIndexColumnName,
            string matrixRowIndexColumnName,
            int approximationRank = ImplicitMatrixFactorizationOptions.Defaults.ApproximationRank,
            int numberOfIterations = ImplicitMatrixFactorizationOptions.Defaults.NumberOfIterations) =>
            ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
            {
                LabelColumnName = labelColumnName,
                MatrixColumnIndexColumnName = matrixColumnIndexColumnName,
                MatrixRowIndexColumnName = matrixRowIndexColumnName,
                ApproximationRank = approximationRank,
                NumberOfIterations = numberOfIterations,
            });

        /// <summary>Implicit-feedback matrix factorization with every option.</summary>
        public ImplicitMatrixFactorizationTrainer ImplicitMatrixFactorization(ImplicitMatrixFactorizationOptions options) => new(Context, options);

        /// <summary>The popularity baseline.</summary>
        /// <param name="labelColumnName">The play-count column (Single).</param>
        /// <param name="matrixColumnIndexColumnName">The user key column.</param>
        /// <param name="matrixRowIndexColumnName">The song key column.</param>
        public PopularityTrainer Popularity(string labelColumnName, string matrixColumnIndexColumnName, string matrixRowIndexColumnName) =>
            Popularity(new PopularityOptions
            {
                LabelColumnName = labelColumnName,
                MatrixColumnIndexColumnName = matrixColumnIndexColumnName,
                MatrixRowIndexColumnName = matrixRowIndexColumnName,
            });

        /// <summary>The popularity baseline with every option.</summary>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Catalog members are instance members, as in ML.NET (ml.Ranking.Evaluate).")]
        public PopularityTrainer Popularity(PopularityOptions options) => new(options);

        /// <summary>Item-based collaborative filtering with cosine similarity (Sarwar et al. 2001).</summary>
        /// <param name="labelColumnName">The play-count column (Single).</param>
        /// <param name="matrixColumnIndexColumnName">The user key column.</param>
        /// <param name="matrixRowIndexColumnName">The song key column.</param>
        /// <param name="numberOfNeighbors">Neighbours kept per song; 0 keeps all.</param>
        public ItemBasedCollaborativeFilteringTrainer ItemBasedCollaborativeFiltering(
            string labelColumnName,
            string matrixColumnIndexColumnName,
            string matrixRowIndexColumnName,
            int numberOfNeighbors = ItemBasedCollaborativeFilteringOptions.Defaults.NumberOfNeighbors) =>
            ItemBasedCollaborativeFiltering(new ItemBasedCollaborativeFilteringOptions
            {
                LabelColumnName = labelColumnName,
                MatrixColumnIndexColumnName = matrixColumnIndexColumnName,
                MatrixRowIndexColumnName = matrixRowIndexColumnName,
                NumberOfNeighbors = numberOfNeighbors,
            });

        /// <summary>
        /// ML.NET's field-aware factorization machine as a collaborative-filtering baseline (user and song as two
        /// one-hot fields, sampled unplayed songs as negatives).
        /// </summary>
        /// <param name="labelColumnName">The play-count column (Single).</param>
        /// <param name="matrixColumnIndexColumnName">The user key column.</param>
        /// <param name="matrixRowIndexColumnName">The song key column.</param>
        public FieldAwareFactorizationMachineRecommenderTrainer FieldAwareFactorizationMachine(string labelColumnName, string matrixColumnIndexColumnName, string matrixRowIndexColumnName) =>
            FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions
            {
                LabelColumnName = labelColumnName,
                MatrixColumnIndexColumnName = matrixColumnIndexColumnName,
                MatrixRowIndexColumnName = matrixRowIndexColumnName,
            });

        /// <summary>The field-aware factorization machine baseline with every option; ML.NET's shuffling follows this catalog's MLContext seed.</summary>
        public FieldAwareFactorizationMachineRecommenderTrainer FieldAwareFactorizationMachine(FieldAwareFactorizationMachineRecommenderOptions options) => new(Context, options);

        /// <summary>Item-based collaborative filtering with every option.</summary>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Catalog members are instance members, as in ML.NET (ml.Ranking.Evaluate).")]
        public ItemBasedCollaborativeFilteringTrainer ItemBasedCollaborativeFiltering(ItemBasedCollaborativeFilteringOptions options) => new(options);
    }

    // ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

    /// <summary>Options of <see cref="RecommendationCatalog.Evaluate"/>.</summary>
    public sealed class RecommendationEvaluationOptions
    {
        /// <summary>The user key column of the test and already-played data. Default "UserId".</summary>
        public string UserColumnName = Defaults.UserColumnName;

        /// <summary>The song key column of the test and already-played data. Default "SongId".</summary>
        public string SongColumnName = Defaults.SongColumnName;

        /// <summary>The play-count column (Single; a count > 0 is a play). Default "Label".</summary>
        public string LabelColumnName = Defaults.LabelColumnName;

        /// <summary>The list length k of precision@k, recall@k, NDCG@k, coverage and diversity. Default 10.</summary>
        public int K = Defaults.K;

        /// <summary>The cutoff of MAP (van den Oord et al. 2013 report MAP@500). Default 500.</summary>
        public int MapCutoff = Defaults.MapCutoff;

        /// <summary>
        /// When set, only these song keys can be recommended and count as relevant (for a cold-start split: the
        /// songs never played in training). Null (the default) means the whole catalog.
        /// </summary>
        public IReadOnlyCollection<uint>? CandidateSongKeys;

        /// <summary>
        /// One embedding per song (index = song key - 1) for intra-list diversity (mean pairwise cosine distance);
        /// null (the default) leaves diversity NaN.
        /// </summary>
        public IReadOnlyList<float[]>? SongEmbeddings;

        /// <summary>
        /// When set (0 to 1), each top-k list is re-ranked by maximal marginal relevance over
        /// <see cref="SongEmbeddings"/> with this relevance weight (<see cref="DiversityReranking.Mmr"/>) before
        /// precision, recall, NDCG, coverage and diversity are measured; MAP and AUC still use the scores' own order.
        /// Null (the default) measures the plain top k.
        /// </summary>
        public double? DiversityRelevanceWeight;

        /// <summary>Default values.</summary>
        public static class Defaults
        {
            /// <summary>Default user column.</summary>
            public const string UserColumnName = "UserId";

            /// <summary>Default song column.</summary>
            public const string SongColumnName = "SongId";

            /// <summary>Default label column.</summary>
            public const string LabelColumnName = "Label";

            /// <summary>Default k.</summary>
            public const int K = 10;

            /// <summary>Default MAP cutoff.</summary>
            public const int MapCutoff = 500;
        }

        /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
        public void Validate() =>
            new OptionErrors(nameof(RecommendationEvaluationOptions))
                .Check(string.IsNullOrWhiteSpace(UserColumnName), nameof(UserColumnName), "must name the user key column.")
                .Check(string.IsNullOrWhiteSpace(SongColumnName), nameof(SongColumnName), "must name the song key column.")
                .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
                .Check(K < 1, nameof(K), $"must be at least 1; found {K}.")
                .Check(MapCutoff < 1, nameof(MapCutoff), $"must be at least 1; found {MapCutoff}.")
                .Check(DiversityRelevanceWeight is not null && !(DiversityRelevanceWeight is >= 0 and <= 1), nameof(DiversityRelevanceWeight), $"must be between 0 and 1 when set; found {DiversityRelevanceWeight}.")
                .Check(DiversityRelevanceWeight is not null && SongEmbeddings is null, nameof(SongEmbeddings), "must be set when DiversityRelevanceWeight is: re-ranking compares songs' embeddings.")
                .ThrowIfAny();
    }
#pragma warning restore CA1051

    /// <summary>Top-k recommendation quality averaged over the evaluated users (see <see cref="TopKMetrics"/> for definitions).</summary>
    public sealed record RecommendationMetrics
    {
        /// <summary>The list length k.</summary>
        public int K { get; init; }

        /// <summary>The cutoff of <see cref="MapAtCutoff"/>.</summary>
        public int MapCutoff { get; init; }

        /// <summary>Users with at least one relevant candidate song in the test data.</summary>
        public int UsersEvaluated { get; init; }

        /// <summary>Mean precision@k.</summary>
        public double PrecisionAtK { get; init; }

        /// <summary>Mean recall@k.</summary>
        public double RecallAtK { get; init; }

        /// <summary>Mean NDCG@k (binary relevance, log2 discount).</summary>
        public double NdcgAtK { get; init; }

        /// <summary>Mean average precision at <see cref="MapCutoff"/>.</summary>
        public double MapAtCutoff { get; init; }

        /// <summary>Mean per-user AUC over candidate songs (users whose candidates are all relevant are skipped).</summary>
        public double Auc { get; init; }

        /// <summary>Share of the candidate songs recommended to at least one evaluated user in the top k.</summary>
        public double CatalogCoverage { get; init; }

        /// <summary>Mean intra-list diversity of the top-k lists; NaN without song embeddings.</summary>
        public double IntraListDiversity { get; init; }

        /// <summary>
        /// Users with relevant test songs left out because the scorer gave NaN for every one of them (a broken model, not
        /// a miss); they are not in <see cref="UsersEvaluated"/>.
        /// </summary>
        public int UsersWithoutScores { get; init; }

        /// <summary>Why a metric is NaN, by property name (<c>nameof(Auc)</c>, ...); metrics that are numbers have no entry.</summary>
        public IReadOnlyDictionary<string, string> MissingReasons { get; init; } = new Dictionary<string, string>();

        /// <summary>
        /// The metric named <paramref name="metric"/> (a property name such as <c>nameof(NdcgAtK)</c>) as text: the number in
        /// <paramref name="format"/> (invariant culture), or "n/a (reason)" when it is NaN, so a table never shows a bare NaN.
        /// </summary>
        /// <exception cref="ArgumentException"><paramref name="metric"/> names no metric.</exception>
        public string Format(string metric, string format = "0.000")
        {
            double value = metric switch
            {
                nameof(PrecisionAtK) => PrecisionAtK,
                nameof(RecallAtK) => RecallAtK,
                nameof(NdcgAtK) => NdcgAtK,
                nameof(MapAtCutoff) => MapAtCutoff,
                nameof(Auc) => Auc,
                nameof(CatalogCoverage) => CatalogCoverage,
                nameof(IntraListDiversity) => IntraListDiversity,
                _ => throw new ArgumentException($"'{metric}' is not a metric of {nameof(RecommendationMetrics)}.", nameof(metric)),
            };
            return double.IsNaN(value)
                ? $"n/a ({MissingReasons.GetValueOrDefault(metric, "not computed")})"
                : value.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// The audio recommenders on <c>ml.Audio().Recommendation.Trainers</c>, kept in their own file beside the
    /// collaborative baselines.
    /// </summary>
    public static class AudioRecommendationTrainers
    {
        /// <summary>
        /// The multi-user audio recommender: a shared CNN+LSTM encoder over <paramref name="songs"/>' windows and one
        /// learned vector per user (DESIGN.md §4).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">Every song's MFCC windows (index = song key - 1), from <c>AudioSongWindows.Compute</c> (MLNetAudio.Synthesis) or <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>.</param>
        /// <param name="options">Columns, network shape and training settings; null for the defaults.</param>
        public static MultiUserAudioTrainer MultiUserAudio(this RecommendationTrainers trainers, AudioSongWindows songs, MultiUserAudioOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new MultiUserAudioTrainer(trainers.Context, options ?? new MultiUserAudioOptions(), songs);
        }

        /// <summary>
        /// The multi-user audio recommender over a real catalog (DESIGN.md §8): songs as an IDataView, one row per song with
        /// the song key (<see cref="MultiUserAudioOptions.MatrixRowIndexColumnName"/>, the same fitted MapValueToKey as the
        /// plays) and the windows <c>SegmentMfcc</c> made (<see cref="MultiUserAudioOptions.SongWindowsColumnName"/>).
        /// Songs without plays are cold songs: the model scores and recommends them from their audio.
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">The catalog's songs (see <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>).</param>
        /// <param name="options">Columns, network shape and training settings; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option, a column or a song of <paramref name="songs"/> is invalid; the message names it.</exception>
        public static MultiUserAudioTrainer MultiUserAudio(this RecommendationTrainers trainers, IDataView songs, MultiUserAudioOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            options ??= new MultiUserAudioOptions();
            options.Validate();
            var windows = AudioSongWindows.FromDataView(songs, options.MatrixRowIndexColumnName, options.SongWindowsColumnName);
            return new MultiUserAudioTrainer(trainers.Context, options, windows);
        }

        /// <summary>
        /// The seed's per-user method: one TimeConvLstm per listener, trained on that listener's plays against unplayed
        /// songs, scoring every song of <paramref name="songs"/> (cold ones included) by its mean window preference.
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">Every song's MFCC windows (index = song key - 1), from <c>AudioSongWindows.Compute</c> (MLNetAudio.Synthesis) or <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>.</param>
        /// <param name="options">Columns, negatives and each listener's network and training; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option is invalid (every bad one is listed), or <paramref name="songs"/> holds no window values.</exception>
        public static PerListenerAudioTrainer PerListenerAudio(this RecommendationTrainers trainers, AudioSongWindows songs, PerListenerAudioOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new PerListenerAudioTrainer(trainers.Context, songs, options ?? new PerListenerAudioOptions());
        }

        /// <summary>
        /// The per-listener recommender over a real catalog (DESIGN.md §8): songs as an IDataView, one row per song with the
        /// song key (<see cref="PerListenerAudioOptions.MatrixRowIndexColumnName"/>, the same fitted MapValueToKey as the
        /// plays) and the windows <c>SegmentMfcc</c> made (<see cref="PerListenerAudioOptions.SongWindowsColumnName"/>).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">The catalog's songs (see <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>).</param>
        /// <param name="options">Columns, negatives and each listener's network and training; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option, a column or a song of <paramref name="songs"/> is invalid; the message names it.</exception>
        public static PerListenerAudioTrainer PerListenerAudio(this RecommendationTrainers trainers, IDataView songs, PerListenerAudioOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            options ??= new PerListenerAudioOptions();
            options.Validate();
            var windows = AudioSongWindows.FromDataView(songs, options.MatrixRowIndexColumnName, options.SongWindowsColumnName);
            return new PerListenerAudioTrainer(trainers.Context, windows, options);
        }

        /// <summary>
        /// The hybrid LightGBM LambdaRank ranker over other models' scores, one query group per user, fitted on held-out
        /// plays (<see cref="HybridRankerTrainer.Fit(IDataView, IDataView?)"/>).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="options">The fitted feature models (<see cref="HybridRankerOptions.Features"/>, required), columns, candidate sampling and LightGBM settings.</param>
        /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
        public static HybridRankerTrainer HybridRanker(this RecommendationTrainers trainers, HybridRankerOptions options)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new HybridRankerTrainer(trainers.Context, options);
        }

        /// <summary>
        /// The van den Oord et al. (2013) audio -> factors recommender over a real catalog (DESIGN.md §8): at Fit it trains
        /// weighted ALS and the multi-user audio model on the plays, then a ridge regression from each song's audio
        /// embedding to its factors, so cold songs (no plays) get factors and scores. Songs as an IDataView, one row per
        /// song with the song key (<see cref="AudioFactorRegressionOptions.MatrixRowIndexColumnName"/>, the same fitted
        /// MapValueToKey as the plays) and the windows <c>SegmentMfcc</c> made (<see cref="AudioFactorRegressionOptions.SongWindowsColumnName"/>).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">The catalog's songs (see <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>).</param>
        /// <param name="options">Columns, the ridge and the two models' settings; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option, a column or a song of <paramref name="songs"/> is invalid; the message names it.</exception>
        public static AudioFactorRegressionTrainer AudioFactorRegression(this RecommendationTrainers trainers, IDataView songs, AudioFactorRegressionOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            options ??= new AudioFactorRegressionOptions();
            options.Validate();
            var windows = AudioSongWindows.FromDataView(songs, options.MatrixRowIndexColumnName, options.SongWindowsColumnName);
            return new AudioFactorRegressionTrainer(trainers.Context, windows, options);
        }

        /// <summary>
        /// The audio -> factors recommender over songs already cut into windows (index = song key - 1), as
        /// <see cref="AudioFactorRegression(RecommendationTrainers, IDataView, AudioFactorRegressionOptions?)"/>.
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">Every song's MFCC windows, from <c>AudioSongWindows.Compute</c> (MLNetAudio.Synthesis) or <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>.</param>
        /// <param name="options">Columns, the ridge and the two models' settings; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
        public static AudioFactorRegressionTrainer AudioFactorRegression(this RecommendationTrainers trainers, AudioSongWindows songs, AudioFactorRegressionOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new AudioFactorRegressionTrainer(trainers.Context, songs, options ?? new AudioFactorRegressionOptions());
        }

        /// <summary>
        /// The audio -> factors regression between two fitted models: at Fit, only the ridge regression from
        /// <paramref name="audio"/>'s song embeddings to <paramref name="factors"/>' song factors over the songs played
        /// in the plays (usually the plays both models were trained on).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="factors">The fitted matrix factorization (its user factors score; its song factors are the targets).</param>
        /// <param name="audio">The fitted multi-user audio model (its song embeddings are the inputs); it stays the caller's to dispose.</param>
        /// <param name="options">Columns and the ridge (<see cref="AudioFactorRegressionOptions.Factorization"/> and <see cref="AudioFactorRegressionOptions.Audio"/> must be null); null for the defaults.</param>
        /// <exception cref="ArgumentException">An option is invalid, or the two models disagree on the users or songs.</exception>
        public static AudioFactorRegressionTrainer AudioFactorRegression(this RecommendationTrainers trainers, ImplicitMatrixFactorizationModel factors, MultiUserAudioModel audio, AudioFactorRegressionOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new AudioFactorRegressionTrainer(factors, audio, options ?? new AudioFactorRegressionOptions());
        }
    }

    /// <summary>
    /// The content-based baselines on <c>ml.Audio().Recommendation.Trainers</c>: recommenders that know songs only by
    /// their audio feature vectors, the systems the seed paper argues against.
    /// </summary>
    public static class ContentRecommendationTrainers
    {
        /// <summary>
        /// The "similar songs" baseline: each user gets the nearest neighbours, in <paramref name="songFeatures"/>, of
        /// their most played training song.
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songFeatures">
        /// One feature vector per song, index = song key - 1, cold songs included (for example
        /// <see cref="ContentSongFeatures.MfccStatistics"/>, or the multi-user audio model's
        /// <see cref="MultiUserAudioModel.GetSongEmbedding"/> for every key); the count must equal the song key column's
        /// key count at <see cref="SeedSongTrainer.Fit"/>.
        /// </param>
        /// <param name="options">Columns and the tie-break seed; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option is invalid or a feature vector is empty, of another length or not finite.</exception>
        public static SeedSongTrainer SeedSong(this RecommendationTrainers trainers, IReadOnlyList<float[]> songFeatures, SeedSongOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new SeedSongTrainer(trainers.Context, songFeatures, options ?? new SeedSongOptions());
        }

        /// <summary>
        /// The "similar songs" baseline over a real catalog: songs as an IDataView (song key and <c>SegmentMfcc</c>
        /// windows, see <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>), compared by their MFCC statistics
        /// (<see cref="ContentSongFeatures.MfccStatistics"/>).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">One row per song: <see cref="SeedSongOptions.MatrixRowIndexColumnName"/> and <see cref="SeedSongOptions.SongWindowsColumnName"/>.</param>
        /// <param name="options">Columns and the tie-break seed; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option, a column or a song of <paramref name="songs"/> is invalid; the message names it.</exception>
        public static SeedSongTrainer SeedSong(this RecommendationTrainers trainers, IDataView songs, SeedSongOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            options ??= new SeedSongOptions();
            options.Validate();
            var windows = AudioSongWindows.FromDataView(songs, options.MatrixRowIndexColumnName, options.SongWindowsColumnName);
            return new SeedSongTrainer(trainers.Context, ContentSongFeatures.MfccStatistics(windows), options);
        }

        /// <summary>
        /// Logan's song-set baseline over a real catalog: songs as an IDataView, compared by their MFCC statistics (as
        /// <see cref="SeedSong(RecommendationTrainers, IDataView, SeedSongOptions?)"/>).
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songs">One row per song: <see cref="SongSetOptions.MatrixRowIndexColumnName"/> and <see cref="SongSetOptions.SongWindowsColumnName"/>.</param>
        /// <param name="options">Columns; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option, a column or a song of <paramref name="songs"/> is invalid; the message names it.</exception>
        public static SongSetTrainer SongSet(this RecommendationTrainers trainers, IDataView songs, SongSetOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            options ??= new SongSetOptions();
            options.Validate();
            var windows = AudioSongWindows.FromDataView(songs, options.MatrixRowIndexColumnName, options.SongWindowsColumnName);
            return new SongSetTrainer(ContentSongFeatures.MfccStatistics(windows), options);
        }

        /// <summary>
        /// Logan's (ISMIR 2004) song-set baseline: a song scores by its distance, in <paramref name="songFeatures"/>, to
        /// the set of songs the user played in training.
        /// </summary>
        /// <param name="trainers">The catalog.</param>
        /// <param name="songFeatures">One feature vector per song, index = song key - 1, as for <see cref="SeedSong(RecommendationTrainers, IReadOnlyList{float[]}, SeedSongOptions?)"/>.</param>
        /// <param name="options">Columns; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option is invalid or a feature vector is empty, of another length or not finite.</exception>
        public static SongSetTrainer SongSet(this RecommendationTrainers trainers, IReadOnlyList<float[]> songFeatures, SongSetOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(trainers);
            return new SongSetTrainer(songFeatures, options ?? new SongSetOptions());
        }
    }
}
