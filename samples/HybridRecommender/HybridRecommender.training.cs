using Microsoft.ML;
using MLNetAudio;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;

namespace HybridRecommenderSample;

/// <summary>Training half of the Model Builder-style pair: every model of the comparison, built on ML.NET pipelines.</summary>
public static partial class HybridRecommender
{
    /// <summary>
    /// The listening benchmark: taste drives choice strongly enough for audio to matter (TasteStrength 10,
    /// PopularityExponent 0.7: see docs/recommendation.md, "Two oracles"), 20 songs per user on average unless
    /// <paramref name="songsPerUser"/> says otherwise (more plays per listener give the audio model more to learn from;
    /// docs/recommendation.md, "Cold songs at the small size").
    /// </summary>
    public static ListeningSimulator Simulate(int songCount, int userCount, int seed = 1, double songsPerUser = 20) =>
        new(new ListeningSimulatorOptions
        {
            SongCount = songCount,
            UserCount = userCount,
            MeanSongsPerUser = songsPerUser,
            PopularityExponent = 0.7,
            TasteStrength = 10,
            Seed = seed,
        });

    /// <summary>
    /// Stacking: each user's training plays split once more, 80% for the models ("base"), 20% for the hybrid ranker
    /// on top of them (seeded 2; a user's first play always stays in the base).
    /// </summary>
    public static (List<ListeningEvent> Base, List<ListeningEvent> Ranker) SplitForStacking(IEnumerable<ListeningEvent> training)
    {
        var split = new Random(2);
        var basePlays = new List<ListeningEvent>();
        var rankerPlays = new List<ListeningEvent>();
        foreach (var user in training.GroupBy(e => e.UserId))
        {
            var events = user.ToArray();
            var held = events.Select(_ => split.NextDouble() < 0.2).ToArray();
            held[0] = false;
            for (int i = 0; i < events.Length; i++)
            {
                (held[i] ? rankerPlays : basePlays).Add(events[i]);
            }
        }

        return (basePlays, rankerPlays);
    }

    /// <summary>The collaborative models of one training log.</summary>
    public sealed record CollaborativeModels(PopularityModel Popularity, ItemBasedCollaborativeFilteringModel ItemCf, ImplicitMatrixFactorizationModel Mf);

    /// <summary>Popularity, item-based CF and weighted ALS on <paramref name="plays"/> (ML.NET column names).</summary>
    public static CollaborativeModels TrainCollaborative(MLContext ml, IDataView plays)
    {
        var trainers = ml.Audio().Recommendation.Trainers;
        return new CollaborativeModels(
            trainers.Popularity("Label", "UserId", "SongId").Fit(plays),
            trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId").Fit(plays),
            MatrixFactorization(ml).Fit(plays));
    }

    /// <summary>Weighted ALS with the settings of docs/recommendation.md, "ALS settings at benchmark size".</summary>
    public static ImplicitMatrixFactorizationTrainer MatrixFactorization(MLContext ml) =>
        ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
        {
            LabelColumnName = "Label",
            MatrixColumnIndexColumnName = "UserId",
            MatrixRowIndexColumnName = "SongId",
            ApproximationRank = 32,
            Lambda = 100,
            Alpha = 10,
            NumberOfIterations = 15,
            ConjugateGradientSteps = 3,
            Seed = 1,
        });

    /// <summary>
    /// The audio model's settings that the command line can change: epochs, how window scores become a song's
    /// (<see cref="MultiUserAudioOptions.Aggregation"/>), negatives per play, contrastive pretraining epochs and
    /// weight (null: the library's automatic defaults), and the rhythm and direction read-outs' weights
    /// (<see cref="MultiUserAudioOptions.RhythmWeight"/>, <see cref="MultiUserAudioOptions.DirectionWeight"/>; 0: off, the default).
    /// </summary>
    public sealed record AudioModelSettings(
        int Epochs,
        AudioSongAggregation Aggregation = AudioSongAggregation.Mean,
        int NegativesPerPlay = MultiUserAudioOptions.Defaults.NegativesPerPlay,
        int? ContrastivePretrainingEpochs = null,
        double? ContrastiveWeight = null,
        double RhythmWeight = MultiUserAudioOptions.Defaults.RhythmWeight,
        double DirectionWeight = MultiUserAudioOptions.Defaults.DirectionWeight)
    {
        /// <summary>One line for the log.</summary>
        public override string ToString() =>
            FormattableString.Invariant($"audio aggregation {Aggregation}, {NegativesPerPlay} negatives per play, contrastive pretraining {ContrastivePretrainingEpochs?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "automatic"} epochs, weight {ContrastiveWeight?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "automatic"}, rhythm weight {RhythmWeight}, direction weight {DirectionWeight}");
    }

    /// <summary>The multi-user audio recommender: shared CNN+LSTM encoder, one vector per user.</summary>
    public static MultiUserAudioModel TrainAudio(MLContext ml, AudioSongWindows songs, IDataView plays, AudioModelSettings settings) =>
        AudioTrainer(ml, songs, settings).Fit(plays);

    /// <summary>The estimator of <see cref="TrainAudio"/>.</summary>
    public static MultiUserAudioTrainer AudioTrainer(MLContext ml, AudioSongWindows songs, AudioModelSettings settings) =>
        ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, new MultiUserAudioOptions
        {
            Epochs = settings.Epochs,
            Aggregation = settings.Aggregation,
            NegativesPerPlay = settings.NegativesPerPlay,
            ContrastivePretrainingEpochs = settings.ContrastivePretrainingEpochs,
            ContrastiveWeight = settings.ContrastiveWeight,
            RhythmWeight = settings.RhythmWeight,
            DirectionWeight = settings.DirectionWeight,
            EmbeddingSize = 32,
            Channels = 16,
            Seed = 1,
            Progress = new Progress<TrainingProgress>(p =>
            {
                if (!p.Pretraining || p.Epoch == 1 || p.Epoch % 25 == 0 || p.Epoch == p.TotalEpochs)
                {
                    Console.WriteLine($"    audio {(p.Pretraining ? "contrastive pretraining epoch" : "epoch")} {p.Epoch}/{p.TotalEpochs}: loss {p.TrainingLoss:0.0000}");
                }
            }),
        });

    /// <summary>
    /// The hybrid that stacks by itself (<see cref="HybridRankerOptions.FeatureTrainers"/>): the audio model, MF,
    /// item-CF and popularity as estimators, its own 80/20 split (seed 1), <paramref name="coldLikeSongFraction"/> of the
    /// played songs made cold-like while the ranker is fitted, every feature refitted on <paramref name="plays"/> after.
    /// </summary>
    public static HybridRankerModel TrainSelfStackedHybrid(
        MLContext ml, AudioSongWindows songs, IDataView plays, AudioModelSettings settings, double coldLikeSongFraction)
    {
        var trainers = ml.Audio().Recommendation.Trainers;
        return trainers.HybridRanker(new HybridRankerOptions
        {
            FeatureTrainers =
            [
                new("Audio", AudioTrainer(ml, songs, settings)),
                new("MF", MatrixFactorization(ml)),
                new("ItemCF", trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId")),
                new("Popularity", trainers.Popularity("Label", "UserId", "SongId")),
            ],
            ColdLikeSongFraction = coldLikeSongFraction,
            Seed = 1,
        }).Fit(plays);
    }

    /// <summary>The features of the hybrid ranker, in a fixed order.</summary>
    public static HybridFeature[] Features(MultiUserAudioModel audio, AudioFactorRegressionModel audioFactors, CollaborativeModels cf) =>
    [
        new("Audio", audio),
        new("AudioFactors", audioFactors),
        new("MF", cf.Mf),
        new("ItemCF", cf.ItemCf),
        new("Popularity", cf.Popularity),
    ];

    /// <summary>
    /// The seed's per-user model: one TimeConvLstm per user, labels from their plays (played = liked) against as many
    /// unplayed warm songs, trained through <c>ml.Audio().Trainers.TimeConvLstm</c>; the song score is the mean window score.
    /// </summary>
    public static float[] TrainPerUser(MLContext ml, AudioSongWindows songs, ListeningSimulator simulator, IReadOnlyList<ListeningEvent> plays, uint userKey, int seed)
    {
        var liked = plays.Where(e => e.UserId == userKey).Select(e => (int)e.SongId - 1).ToHashSet();
        var rng = new Random(seed);
        var unliked = simulator.WarmSongKeys.Select(k => (int)k - 1).Where(s => !liked.Contains(s)).OrderBy(_ => rng.Next()).Take(Math.Max(liked.Count, 10));
        var data = songs.ToDataView(ml, liked.Select(s => (s, true)).Concat(unliked.Select(s => (s, false))));
        using var scorer = ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
        {
            Epochs = 8,
            ConvolutionForm = ConvolutionForm.Conv1dAllCoefficients,
            LstmHiddenSize = 32,
            ValidationFraction = 0,
            TrainingWindowStride = 2, // every second 1 s-hop window: few songs per user
            Seed = seed,
        }).Fit(data);
        var scores = new float[songs.SongCount];
        for (int s = 0; s < songs.SongCount; s++)
        {
            scores[s] = scorer.ScoreSong(songs.Windows(s), songs.HopFrames).Average();
        }

        return scores;
    }
}
