using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Scoring;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="PerListenerAudioTrainer"/>; column names as in ML.NET's MatrixFactorizationTrainer.</summary>
public sealed class PerListenerAudioOptions
{
    /// <summary>The user key column of the plays (the matrix's columns are users). Default "UserId".</summary>
    public string MatrixColumnIndexColumnName = Defaults.UserColumnName;

    /// <summary>The song key column of the plays and of the songs data view. Default "SongId".</summary>
    public string MatrixRowIndexColumnName = Defaults.SongColumnName;

    /// <summary>The play-count column (Single; a count above 0 is a play). Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// The windows column of the songs data view (made by <c>SegmentMfcc</c>), when the trainer is given songs as an
    /// IDataView; their song key column is <see cref="MatrixRowIndexColumnName"/>. Default "Windows".
    /// </summary>
    public string SongWindowsColumnName = Defaults.SongWindowsColumnName;

    /// <summary>
    /// Unplayed songs drawn as a listener's negatives (label false) for each song they played (label true), at random
    /// from the songs someone played (never cold songs). Fewer when the listener has not that many unplayed songs.
    /// Default 4.
    /// </summary>
    public int NegativesPerPlay = Defaults.NegativesPerPlay;

    /// <summary>
    /// Listeners with fewer distinct played songs get no model: every song scores 0 for them
    /// (<see cref="PerListenerAudioModel.HasListenerModel"/> false). So do listeners who played every song with plays,
    /// who leave no negative to contrast. Default 1.
    /// </summary>
    public int MinimumPlays = Defaults.MinimumPlays;

    /// <summary>
    /// Each listener's network and training, as for <c>ml.Audio().Trainers.TimeConvLstm</c>; null (default) for
    /// <see cref="DefaultListenerOptions"/>. Its <see cref="TimeConvLstmOptions.LabelColumnName"/>,
    /// <see cref="TimeConvLstmOptions.FeatureColumnName"/> and <see cref="TimeConvLstmOptions.OutputColumnName"/> are
    /// not read; its <see cref="TimeConvLstmOptions.Seed"/> and <see cref="TimeConvLstmOptions.CheckpointDirectory"/>
    /// must be null (listener seeds come from <see cref="Seed"/>; one checkpoint folder cannot serve many models). Its
    /// <see cref="TimeConvLstmOptions.Progress"/> hears every listener's epochs.
    /// </summary>
    public TimeConvLstmOptions? Listener;

    /// <summary>
    /// Seed of the negatives and of every listener's model (listener u, 0-based, trains with seed Seed + u). Null
    /// (default) draws one from the MLContext when the trainer is made; a set seed leaves the context's random stream
    /// untouched.
    /// </summary>
    public int? Seed;

    /// <summary>One report per listener (Epoch = listeners done, TotalEpochs = all listeners, TrainingLoss = that listener's last epoch loss, or NaN when it got no model).</summary>
    public IProgress<TrainingProgress>? Progress;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default user column.</summary>
        public const string UserColumnName = "UserId";

        /// <summary>Default song column.</summary>
        public const string SongColumnName = "SongId";

        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";

        /// <summary>Default windows column of the songs data view.</summary>
        public const string SongWindowsColumnName = "Windows";

        /// <summary>Default negatives per play.</summary>
        public const int NegativesPerPlay = 4;

        /// <summary>Default minimum plays for a listener's model.</summary>
        public const int MinimumPlays = 1;

        /// <summary>Default epochs of each listener's model.</summary>
        public const int ListenerEpochs = 10;
    }

    /// <summary>
    /// The listener settings measured in docs/recommendation.md ("The seed's own method, one scorer per listener"):
    /// TimeConvLstm's defaults except <see cref="Defaults.ListenerEpochs"/> epochs over every window
    /// (<see cref="TimeConvLstmOptions.TrainingWindowStride"/> 1: a listener has few songs), no validation split (too
    /// few songs to hold any out) and the 1-D form over all coefficients. A new object on every call.
    /// </summary>
    public static TimeConvLstmOptions DefaultListenerOptions() => new()
    {
        Epochs = Defaults.ListenerEpochs,
        TrainingWindowStride = 1,
        ValidationFraction = 0,
        ConvolutionForm = ConvolutionForm.Conv1dAllCoefficients,
    };

    /// <summary>A copy (the listener options copied too): the trainer keeps its own.</summary>
    internal PerListenerAudioOptions Copy()
    {
        var copy = (PerListenerAudioOptions)MemberwiseClone();
        copy.Listener = Listener?.Copy();
        return copy;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field, the listener options' included.</summary>
    public void Validate()
    {
        var errors = ContentSongInputs.CheckColumns(new OptionErrors(nameof(PerListenerAudioOptions)), MatrixColumnIndexColumnName, MatrixRowIndexColumnName, LabelColumnName)
            .Check(string.IsNullOrWhiteSpace(SongWindowsColumnName), nameof(SongWindowsColumnName), "must name the songs' windows column.")
            .Check(NegativesPerPlay < 1, nameof(NegativesPerPlay), $"must be at least 1 (a listener's model needs songs they did not play); got {NegativesPerPlay}.")
            .Check(MinimumPlays < 1, nameof(MinimumPlays), $"must be at least 1; got {MinimumPlays}.")
            .Check(Listener?.Seed is not null, $"{nameof(Listener)}.{nameof(TimeConvLstmOptions.Seed)}", $"must be null: listener u trains with {nameof(PerListenerAudioOptions)}.{nameof(Seed)} + u; set {nameof(Seed)} instead.")
            .Check(Listener?.CheckpointDirectory is not null, $"{nameof(Listener)}.{nameof(TimeConvLstmOptions.CheckpointDirectory)}", "must be null: one checkpoint folder cannot hold a model per listener.");
        if (Listener is not null)
        {
            foreach (string problem in Listener.Collect().Errors)
            {
                errors.Check(true, nameof(Listener), problem);
            }
        }

        errors.ThrowIfAny();
    }
}
#pragma warning restore CA1051

/// <summary>
/// The seed's own per-user method as a recommender: one TimeConvLstm per listener, trained on that listener's played
/// songs (liked) against unplayed songs drawn at random (not liked), every window labelled as its song; a song's score
/// for the listener is the mean of its window preferences.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (one TimeConvLstm per listener through <c>ml.Audio().Trainers.TimeConvLstm</c>,
/// then scores every song of the catalog with it); input: user key, song key, Single play count; output: a Single
/// <c>Score</c> column over (user, song) key pairs; NuGet: MLNetAudio.Recommendation plus a libtorch backend; not
/// exportable to ONNX.
/// </para>
/// <para>
/// Unlike <see cref="MultiUserAudioTrainer"/>, nothing is shared between listeners: a listener's model hears only
/// their own plays, so it can learn what no other listener likes, such as the order of events in a song (on real
/// recordings played forwards and backwards it learns the direction from 24 plays per listener where the multi-user
/// model stays at chance; docs/recommendation.md), and it learns tastes many listeners share less well than the
/// multi-user model. The cost grows with listeners x their plays for training and listeners x catalog for scoring:
/// 60 listeners with 24 plays each over 176 tracks take about 10 minutes on one CPU core. It is the seed's design for
/// a few listeners (or a few groups), not for millions.
/// </para>
/// <para>
/// The model keeps each listener's scores of the catalog it was trained with, not the networks: it scores those songs
/// (cold ones included) and saves and loads them. Written as a loop over the library's TimeConvLstm trainer; no
/// library offers per-user model training.
/// </para>
/// </remarks>
/// <example>
/// <c>samples/RealMusic/Program.cs</c> (<c>--per-listener</c>) fits it over a real catalog:
/// <code>
/// var model = ml.Audio().Recommendation.Trainers.PerListenerAudio(songs, new PerListenerAudioOptions { Seed = 1 }).Fit(plays);
/// </code>
/// </example>
public sealed class PerListenerAudioTrainer : IEstimator<PerListenerAudioModel>
{
    private const string TrainerName = "PerListenerAudio";
    private readonly MLContext _mlContext;
    private readonly AudioSongWindows _songs;
    private readonly PerListenerAudioOptions _options;
    private readonly int _seed;

    // Options validated and copied here; a null Seed is drawn from the MLContext (TrainerSeeds).
    internal PerListenerAudioTrainer(MLContext mlContext, AudioSongWindows songs, PerListenerAudioOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(songs);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!songs.HasWindowValues)
        {
            throw new ArgumentException(
                "songs holds no MFCC window values (the song windows of a model loaded from a file); compute them with AudioSongWindows.Compute or AudioSongWindows.FromDataView over the catalog.",
                nameof(songs));
        }

        _mlContext = mlContext;
        _songs = songs;
        _options = options.Copy();
        _seed = TrainerSeeds.Resolve(mlContext, _options.Seed, TrainerName);
    }

    /// <summary>Trains one TimeConvLstm per listener of <paramref name="input"/> and scores every song with it.</summary>
    /// <exception cref="ArgumentException">
    /// A column is missing or of the wrong type, the log has no play, or the song key count differs from the number of
    /// songs given; the message names the column.
    /// </exception>
    /// <exception cref="NonFiniteTrainingException">A listener's model scored a song NaN or infinite.</exception>
    public PerListenerAudioModel Fit(IDataView input)
    {
        string user = _options.MatrixColumnIndexColumnName, song = _options.MatrixRowIndexColumnName;
        var plays = PlayMatrix.ReadTraining(input, user, song, _options.LabelColumnName);
        if (plays.SongCount != _songs.SongCount)
        {
            throw new ArgumentException(
                $"Song column '{song}' has {plays.SongCount} keys but the songs hold {_songs.SongCount}; map the plays and the songs with the same fitted MapValueToKey over the whole catalog.",
                nameof(input));
        }

        int songCount = plays.SongCount;
        int[] warm = Enumerable.Range(0, songCount).Where(s => plays.PlayCountOfSong(s) > 0).ToArray();
        var scores = new float[plays.UserCount * (long)songCount];
        var trained = new bool[plays.UserCount];
        for (int u = 0; u < plays.UserCount; u++)
        {
            double lastLoss = double.NaN;
            var liked = PlayedSongs(plays, u);
            var unliked = Negatives(warm, liked, u);
            if (liked.Count >= _options.MinimumPlays && unliked.Length > 0)
            {
                lastLoss = TrainListener(u, liked, unliked, scores.AsSpan((int)(u * (long)songCount), songCount));
                trained[u] = true;
            }

            _options.Progress?.Report(new TrainingProgress(u + 1, lastLoss) { Trainer = TrainerName, TotalEpochs = plays.UserCount });
        }

        return new PerListenerAudioModel(user, song, plays.UserCount, songCount, scores, trained, _seed);
    }

    /// <summary>Checks the input columns (key user and song, Single label) and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ContentSongInputs.OutputSchema(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName);

    private static HashSet<int> PlayedSongs(PlayMatrix plays, int user)
    {
        var songs = plays.SongsOf(user);
        var counts = plays.PlaysOf(user);
        var liked = new HashSet<int>();
        for (int i = 0; i < songs.Length; i++)
        {
            if (counts[i] > 0)
            {
                liked.Add(songs[i]);
            }
        }

        return liked;
    }

    /// <summary>NegativesPerPlay x the listener's songs drawn without replacement from the warm songs they did not play (seeded by listener).</summary>
    private int[] Negatives(int[] warm, HashSet<int> liked, int user)
    {
        var pool = warm.Where(s => !liked.Contains(s)).ToArray();
        var rng = new Random(unchecked((_seed * 1_000_003) + user));
        int take = (int)Math.Min(pool.Length, (long)_options.NegativesPerPlay * liked.Count);
        for (int i = 0; i < take; i++)
        {
            int j = i + rng.Next(pool.Length - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }

        return pool[..take];
    }

    /// <summary>
    /// A listener's training rows, liked and unliked songs in a seeded random order: TimeConvLstm streams songs in row
    /// order through a buffer of ShuffleBufferSize windows, so rows of liked songs first would give every epoch a run of
    /// liked windows, then one of unliked windows.
    /// </summary>
    internal static (int Song, bool Label)[] TrainingRows(HashSet<int> liked, int[] unliked, Random random)
    {
        var rows = liked.Order().Select(s => (s, true)).Concat(unliked.Select(s => (s, false))).ToArray();
        random.Shuffle(rows);
        return rows;
    }

    /// <summary>Trains listener <paramref name="user"/>'s model and writes its mean window score of every song; returns its last training loss.</summary>
    private double TrainListener(int user, HashSet<int> liked, int[] unliked, Span<float> row)
    {
        var options = _options.Listener?.Copy() ?? PerListenerAudioOptions.DefaultListenerOptions();
        options.LabelColumnName = "Label";
        options.FeatureColumnName = "Windows";
        options.OutputColumnName = TimeConvLstmOptions.Defaults.OutputColumnName;
        options.Seed = unchecked(_seed + user);
        double lastLoss = double.NaN;
        var listenerProgress = options.Progress;
        options.Progress = new LastLoss(p =>
        {
            lastLoss = p.TrainingLoss;
            listenerProgress?.Report(p);
        });
        var data = _songs.ToDataView(_mlContext, TrainingRows(liked, unliked, new Random(unchecked((_seed * 1_000_003) + user + 1))));
        using var scorer = _mlContext.Audio().Trainers.TimeConvLstm(options).Fit(data);
        for (int s = 0; s < row.Length; s++)
        {
            var windows = scorer.ScoreSong(_songs.Windows(s), _songs.HopFrames);
            double sum = 0;
            foreach (float w in windows)
            {
                sum += w;
            }

            float score = (float)(sum / windows.Length);
            if (!float.IsFinite(score))
            {
                throw new NonFiniteTrainingException(TrainerName, null, null, $"score of song key {s + 1} for user key {user + 1}", score,
                    "The listener's TimeConvLstm gave a non-finite window preference; check the song's windows for NaN or infinite values.");
            }

            row[s] = score;
        }

        return lastLoss;
    }

    /// <summary>Hears the listener model's epochs synchronously (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class LastLoss(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

/// <summary>
/// A fitted <see cref="PerListenerAudioTrainer"/>: each listener's own TimeConvLstm's mean window preference (0..1) of
/// every song of the catalog it was trained with, cold songs included; 0 for a listener without a model.
/// </summary>
/// <remarks>
/// As an ML.NET transformer it appends a Single <c>Score</c> to (user key, song key) rows (0 for a missing key, 0 = not
/// in the key mapping); saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.PerListenerAudioModel".
/// Payload, version 1: string user column, string song column, int32 users, int32 songs, int32 seed, int32[] listener
/// has a model (1 or 0, per user), float[] scores (users x songs), little-endian, arrays as
/// <see cref="RecommenderPersistence"/> writes them.
/// </remarks>
public sealed class PerListenerAudioModel : RowMappingTransformer, IUserSongScorer, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.PerListenerAudioModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;
    private readonly float[] _scores;
    private readonly bool[] _trained;

    internal PerListenerAudioModel(string userColumnName, string songColumnName, int users, int songs, float[] scores, bool[] trained, int seed)
    {
        UserColumnName = userColumnName;
        SongColumnName = songColumnName;
        UserCount = users;
        SongCount = songs;
        _scores = scores;
        _trained = trained;
        Seed = seed;
    }

    /// <summary>The user key column of the rows the model scores (ML.NET's MatrixColumnIndexColumnName).</summary>
    public string UserColumnName { get; }

    /// <summary>The song key column of the rows the model scores (ML.NET's MatrixRowIndexColumnName).</summary>
    public string SongColumnName { get; }

    /// <inheritdoc/>
    public int UserCount { get; }

    /// <inheritdoc/>
    public int SongCount { get; }

    /// <summary>The seed training used (the options' Seed, or the one drawn from the MLContext).</summary>
    public int Seed { get; }

    /// <summary>How many listeners got a model of their own.</summary>
    public int ListenersWithModel => _trained.Count(t => t);

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    /// <summary>Whether the listener (1-based key) got a model of their own (enough plays, and some song they did not play).</summary>
    public bool HasListenerModel(uint userKey)
    {
        ArgumentOutOfRangeException.ThrowIfZero(userKey);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(userKey, (uint)UserCount);
        return _trained[userKey - 1];
    }

    /// <inheritdoc/>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

        _scores.AsSpan((int)(firstUser * (long)SongCount), (int)(userCount * (long)SongCount)).CopyTo(destination);
    }

    /// <summary>Writes the payload described in the remarks.</summary>
    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        writer.Write(UserColumnName);
        writer.Write(SongColumnName);
        writer.Write(UserCount);
        writer.Write(SongCount);
        writer.Write(Seed);
        RecommenderPersistence.WriteInts(writer, Array.ConvertAll(_trained, t => t ? 1 : 0));
        RecommenderPersistence.WriteFloats(writer, _scores);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    /// <exception cref="InvalidDataException">The sizes are impossible or a value is not finite.</exception>
    internal static PerListenerAudioModel Load(AudioStageReader stage)
    {
        var reader = stage.Reader;
        string user = reader.ReadString(), song = reader.ReadString();
        int users = reader.ReadInt32(), songs = reader.ReadInt32(), seed = reader.ReadInt32();
        if (users < 1 || songs < 1 || (long)users * songs > Array.MaxLength)
        {
            throw new InvalidDataException($"the per-listener model claims {users} users and {songs} songs");
        }

        var trained = RecommenderPersistence.ReadInts(reader, "the listeners' model flags", users);
        if (trained.Any(t => t is not (0 or 1)))
        {
            throw new InvalidDataException("a listener's model flag is neither 0 nor 1");
        }

        var scores = RecommenderPersistence.ReadFloats(reader, "the listeners' song scores", (long)users * songs);
        if (scores.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidDataException("a listener's song score is not a finite number");
        }

        return new PerListenerAudioModel(user, song, users, songs, scores, Array.ConvertAll(trained, t => t == 1), seed);
    }

    /// <summary>The Score of a (user key, song key) row; 0 for a missing key.</summary>
    private float ScoreKeys(uint userKey, uint songKey) =>
        userKey == 0 || songKey == 0 ? 0f : _scores[((userKey - 1) * (long)SongCount) + songKey - 1];

    private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
        UserSongScoreBinding.Create(inputSchema, UserColumnName, SongColumnName, UserCount, SongCount, ScoreKeys);
}
