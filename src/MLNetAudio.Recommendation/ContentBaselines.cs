using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Song audio features for the content-based baselines: per-coefficient statistics of a song's MFCC frames.
/// </summary>
/// <remarks>
/// Written by hand (a mean and a standard deviation per coefficient), as in the MFCC-statistics song models of
/// content-based music similarity. The frames are read from the cached <see cref="AudioSongWindows"/>: window 0
/// gives its frames, each later window only the frames past the previous one's end (its last hop), so overlapping
/// windows do not count a frame twice.
/// </remarks>
public static class ContentSongFeatures
{
    /// <summary>
    /// One vector per song (index = song key - 1): the mean of each MFCC coefficient over the song's frames, then
    /// the standard deviation of each (2 x coefficients values).
    /// </summary>
    /// <param name="songs">The songs' cached MFCC windows.</param>
    /// <param name="standardize">
    /// When true (the default) every dimension is z-scored over the catalog (the mean of the 0th coefficient is in
    /// far larger units than the rest and would otherwise decide every distance alone); a dimension with zero
    /// spread is left at 0.
    /// </param>
    /// <exception cref="ArgumentException">A song has no window.</exception>
    public static float[][] MfccStatistics(AudioSongWindows songs, bool standardize = true)
    {
        ArgumentNullException.ThrowIfNull(songs);
        int c = songs.Coefficients;
        int frames = songs.FramesPerWindow;
        int hop = Math.Clamp(songs.HopFrames, 1, frames);
        var features = new float[songs.SongCount][];
        for (int s = 0; s < songs.SongCount; s++)
        {
            int windows = songs.WindowCount(s);
            if (windows == 0)
            {
                throw new ArgumentException($"Song key {s + 1} has no MFCC window; its rendered audio is shorter than one window ({frames} frames).", nameof(songs));
            }

            var values = songs.Windows(s);
            var sum = new double[c];
            var sumSquares = new double[c];
            long count = 0;
            for (int w = 0; w < windows; w++)
            {
                for (int f = w == 0 ? 0 : frames - hop; f < frames; f++)
                {
                    var frame = values.Slice((w * frames + f) * c, c);
                    for (int i = 0; i < c; i++)
                    {
                        sum[i] += frame[i];
                        sumSquares[i] += frame[i] * (double)frame[i];
                    }

                    count++;
                }
            }

            var vector = new float[2 * c];
            for (int i = 0; i < c; i++)
            {
                double mean = sum[i] / count;
                vector[i] = (float)mean;
                vector[c + i] = (float)Math.Sqrt(Math.Max(0, sumSquares[i] / count - mean * mean));
            }

            features[s] = vector;
        }

        if (standardize)
        {
            Standardize(features);
        }

        return features;
    }

    /// <summary>Z-scores every dimension over the rows, in place; a constant dimension becomes 0.</summary>
    internal static void Standardize(float[][] rows)
    {
        if (rows.Length == 0)
        {
            return;
        }

        int d = rows[0].Length;
        for (int i = 0; i < d; i++)
        {
            double mean = rows.Average(r => (double)r[i]);
            double sd = Math.Sqrt(rows.Average(r => (r[i] - mean) * (r[i] - mean)));
            foreach (var r in rows)
            {
                r[i] = sd > 0 ? (float)((r[i] - mean) / sd) : 0f;
            }
        }
    }
}

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for these classes only.
#pragma warning disable CA1051
/// <summary>Options of <see cref="SeedSongTrainer"/>; column names as in ML.NET's MatrixFactorizationTrainer.</summary>
public sealed class SeedSongOptions
{
    /// <summary>The user key column (the matrix's columns are users). Default "UserId".</summary>
    public string MatrixColumnIndexColumnName = Defaults.UserColumnName;

    /// <summary>The song key column (the matrix's rows are songs); its key count must equal the number of song feature vectors. Default "SongId".</summary>
    public string MatrixRowIndexColumnName = Defaults.SongColumnName;

    /// <summary>The play-count column (Single); rows with a count ≤ 0 are not plays. Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// The windows column of the songs data view (made by <c>SegmentMfcc</c>), when the trainer is given songs as an
    /// IDataView (its features are then <see cref="ContentSongFeatures.MfccStatistics"/>); their song key column is
    /// <see cref="MatrixRowIndexColumnName"/>. Default "Windows".
    /// </summary>
    public string SongWindowsColumnName = Defaults.SongWindowsColumnName;

    /// <summary>
    /// Seeds the choice of seed song between a user's equally most played songs. Null (default) draws one from the
    /// MLContext when the trainer is made; a set seed leaves the context's random stream untouched.
    /// </summary>
    public int? Seed;

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
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal SeedSongOptions Copy() => (SeedSongOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        ContentSongInputs.CheckColumns(new OptionErrors(nameof(SeedSongOptions)), MatrixColumnIndexColumnName, MatrixRowIndexColumnName, LabelColumnName)
            .Check(string.IsNullOrWhiteSpace(SongWindowsColumnName), nameof(SongWindowsColumnName), "must name the songs' windows column.")
            .ThrowIfAny();
}

/// <summary>Options of <see cref="SongSetTrainer"/>; column names as in ML.NET's MatrixFactorizationTrainer.</summary>
public sealed class SongSetOptions
{
    /// <summary>The user key column (the matrix's columns are users). Default "UserId".</summary>
    public string MatrixColumnIndexColumnName = Defaults.UserColumnName;

    /// <summary>The song key column (the matrix's rows are songs); its key count must equal the number of song feature vectors. Default "SongId".</summary>
    public string MatrixRowIndexColumnName = Defaults.SongColumnName;

    /// <summary>The play-count column (Single); rows with a count ≤ 0 are not plays. Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// The windows column of the songs data view (made by <c>SegmentMfcc</c>), when the trainer is given songs as an
    /// IDataView (its features are then <see cref="ContentSongFeatures.MfccStatistics"/>); their song key column is
    /// <see cref="MatrixRowIndexColumnName"/>. Default "Windows".
    /// </summary>
    public string SongWindowsColumnName = Defaults.SongWindowsColumnName;

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
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal SongSetOptions Copy() => (SongSetOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        ContentSongInputs.CheckColumns(new OptionErrors(nameof(SongSetOptions)), MatrixColumnIndexColumnName, MatrixRowIndexColumnName, LabelColumnName)
            .Check(string.IsNullOrWhiteSpace(SongWindowsColumnName), nameof(SongWindowsColumnName), "must name the songs' windows column.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>Checks and reads shared by the content-based trainers.</summary>
internal static class ContentSongInputs
{
    public static OptionErrors CheckColumns(OptionErrors errors, string user, string song, string label) =>
        errors
            .Check(string.IsNullOrWhiteSpace(user), nameof(SeedSongOptions.MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(song), nameof(SeedSongOptions.MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(label), nameof(SeedSongOptions.LabelColumnName), "must name the play-count column.");

    /// <summary>A private copy of the features (a caller changing its arrays later must not change a model), checked.</summary>
    public static float[][] CopyFeatures(IReadOnlyList<float[]> songFeatures)
    {
        ArgumentNullException.ThrowIfNull(songFeatures);
        if (songFeatures.Count == 0)
        {
            throw new ArgumentException("songFeatures is empty; give one feature vector per song key, in key order.", nameof(songFeatures));
        }

        int dimension = songFeatures[0]?.Length ?? 0;
        var copy = new float[songFeatures.Count][];
        for (int s = 0; s < songFeatures.Count; s++)
        {
            var v = songFeatures[s];
            string? problem = v is null || v.Length == 0 ? "is null or empty"
                : v.Length != dimension ? $"has {v.Length} values where song key 1 has {dimension}"
                : v.Any(x => !float.IsFinite(x)) ? "holds a NaN or infinity"
                : null;
            if (problem is not null)
            {
                throw new ArgumentException($"songFeatures[{s}] (song key {s + 1}) {problem}; every song needs a finite feature vector of the same length.", nameof(songFeatures));
            }

            copy[s] = (float[])v!.Clone();
        }

        return copy;
    }

    /// <summary>Reads the training plays and checks that there is one feature vector per song key.</summary>
    public static PlayMatrix ReadTraining(IDataView input, string user, string song, string label, float[][] features)
    {
        ArgumentNullException.ThrowIfNull(input);
        var plays = PlayMatrix.ReadTraining(input, user, song, label);
        if (features.Length != plays.SongCount)
        {
            throw new ArgumentException(
                $"Song column '{song}' has {plays.SongCount} keys but songFeatures holds {features.Length} vectors; give one vector per song key, "
                + "in key order (map the song ids with the same MapValueToKey over the whole catalog that the features were computed for).",
                nameof(input));
        }

        return plays;
    }

    /// <summary>The trainers' GetOutputSchema: key user and song columns, a Single label; appends Score.</summary>
    public static SchemaShape OutputSchema(SchemaShape inputSchema, string user, string song, string label)
    {
        var output = PlayMatrix.ScoreOutputSchema(inputSchema, user, song);
        var labelColumn = SchemaShapes.Require(inputSchema, label, "Label (play count)");
        if (labelColumn.Kind != SchemaShape.Column.VectorKind.Scalar || labelColumn.ItemType != NumberDataViewType.Single || labelColumn.IsKey)
        {
            throw new ArgumentException(
                $"Label column '{label}' must be a scalar Single (a play count or 1 for a play); found {labelColumn.Kind} of {labelColumn.ItemType}{(labelColumn.IsKey ? " (key)" : string.Empty)}.",
                nameof(inputSchema));
        }

        return output;
    }
}

/// <summary>
/// The "similar songs" content baseline: each user gets the nearest neighbours of one seed song from their training
/// plays; a song's score is minus its Euclidean distance to the seed in feature space.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (one pass over the data, picking each user's seed song); input: user key, song
/// key, Single play count; output: a Single <c>Score</c> column over (user, song) key pairs; not exportable to ONNX.
/// Made by <see cref="ContentRecommendationTrainers.SeedSong(RecommendationTrainers, IReadOnlyList{float[]}, SeedSongOptions?)"/>.
/// </para>
/// <para>
/// The seed song is the user's most played song (largest play count); ties are broken by a choice seeded with
/// (<see cref="SeedSongOptions.Seed"/>, user), so it is the same on every run and for every block of users. Written by
/// hand: a nearest-neighbour ranking over a few dozen dimensions needs no library.
/// </para>
/// </remarks>
/// <example>
/// <c>samples/HybridRecommender/Program.cs</c> fits it on MFCC statistics beside the collaborative and audio models:
/// <code>var model = ml.Audio().Recommendation.Trainers.SeedSong(ContentSongFeatures.MfccStatistics(songWindows)).Fit(training);</code>
/// </example>
public sealed class SeedSongTrainer : IEstimator<SeedSongModel>
{
    private readonly float[][] _features;
    private readonly SeedSongOptions _options;
    private readonly int _seed;

    // Options validated and copied here; a null Seed is drawn from the MLContext (TrainerSeeds).
    internal SeedSongTrainer(MLContext mlContext, IReadOnlyList<float[]> songFeatures, SeedSongOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Copy();
        _features = ContentSongInputs.CopyFeatures(songFeatures);
        _seed = TrainerSeeds.Resolve(mlContext, _options.Seed, "SeedSong");
    }

    /// <summary>Picks each user's seed song from the training plays in <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">
    /// A column is missing or of the wrong type, the log has no play, or the song key count differs from the number of
    /// feature vectors; the message names the column.
    /// </exception>
    public SeedSongModel Fit(IDataView input)
    {
        var plays = ContentSongInputs.ReadTraining(input, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName, _features);
        var seedSong = new int[plays.UserCount];
        for (int u = 0; u < plays.UserCount; u++)
        {
            var songs = plays.SongsOf(u);
            var counts = plays.PlaysOf(u);
            if (songs.Length == 0)
            {
                seedSong[u] = -1;
                continue;
            }

            float most = float.NegativeInfinity;
            foreach (float p in counts)
            {
                most = Math.Max(most, p);
            }

            var tied = new List<int>();
            for (int i = 0; i < songs.Length; i++)
            {
                if (counts[i] == most)
                {
                    tied.Add(songs[i]);
                }
            }

            tied.Sort();
            seedSong[u] = tied[new Random(unchecked(_seed * 1_000_003 + u)).Next(tied.Count)];
        }

        return new SeedSongModel(_options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, plays, _features, seedSong);
    }

    /// <summary>Checks the input columns (key user and song, Single label) and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ContentSongInputs.OutputSchema(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName);
}

/// <summary>
/// Logan's (ISMIR 2004) "music recommendation from song sets" baseline: a song's score is minus its distance to the
/// set of songs the user played in training, the distance to a set being the minimum Euclidean distance to any of its
/// songs (a song close to any one played song ranks high).
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (one pass over the data, keeping each user's played set); input: user key, song
/// key, Single play count; output: a Single <c>Score</c> column over (user, song) key pairs; not exportable to ONNX.
/// Made by <see cref="ContentRecommendationTrainers.SongSet(RecommendationTrainers, IReadOnlyList{float[]}, SongSetOptions?)"/>.
/// </para>
/// <para>
/// Logan compared songs by distances between their MFCC distributions and tried several set distances; this
/// implements the minimum distance over the set, on the feature vectors given (for example MFCC mean and standard
/// deviation). Written by hand for the same reason as <see cref="SeedSongTrainer"/>.
/// </para>
/// </remarks>
/// <example>
/// <c>samples/HybridRecommender/Program.cs</c> fits it on MFCC statistics beside the collaborative and audio models:
/// <code>var model = ml.Audio().Recommendation.Trainers.SongSet(ContentSongFeatures.MfccStatistics(songWindows)).Fit(training);</code>
/// </example>
public sealed class SongSetTrainer : IEstimator<SongSetModel>
{
    private readonly float[][] _features;
    private readonly SongSetOptions _options;

    // Options validated and copied here. Deterministic: no seed, no device (a few vector distances per song).
    internal SongSetTrainer(IReadOnlyList<float[]> songFeatures, SongSetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Copy();
        _features = ContentSongInputs.CopyFeatures(songFeatures);
    }

    /// <summary>Reads each user's played set from the training plays in <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">
    /// A column is missing or of the wrong type, the log has no play, or the song key count differs from the number of
    /// feature vectors; the message names the column.
    /// </exception>
    public SongSetModel Fit(IDataView input)
    {
        var plays = ContentSongInputs.ReadTraining(input, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName, _features);
        return new SongSetModel(_options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, plays, _features);
    }

    /// <summary>Checks the input columns (key user and song, Single label) and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ContentSongInputs.OutputSchema(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName);
}

/// <summary>
/// Base of the fitted content-based baselines: songs described only by feature vectors, users by the songs they
/// played in training. Every song, cold ones included, is scored from its features alone, in the <c>Score</c> column
/// of (user, song) rows and by <see cref="ScoreUsers"/>; songs already played are left to the evaluator's filtering
/// (or to <see cref="Recommend"/>).
/// </summary>
/// <remarks>
/// A user with no training play has no taste to go on: every song scores 0 for them, so <see cref="Recommend"/> gives
/// them the first k song keys (the lowest keys win ties), all at score 0. A row whose user or song key is missing
/// (0: an id the key mapping never saw) also scores 0, never NaN, so a downstream ranking stage needs no special case.
/// </remarks>
public abstract class ContentSongModel : RowMappingTransformer, IUserSongScorer
{
    private protected ContentSongModel(string userColumnName, string songColumnName, PlayMatrix training, float[][] features)
    {
        UserColumnName = userColumnName;
        SongColumnName = songColumnName;
        Plays = training;
        Features = features;
    }

    /// <summary>The user key column (ML.NET's MatrixColumnIndexColumnName).</summary>
    public string UserColumnName { get; }

    /// <summary>The song key column (ML.NET's MatrixRowIndexColumnName).</summary>
    public string SongColumnName { get; }

    /// <inheritdoc/>
    public int UserCount => Plays.UserCount;

    /// <inheritdoc/>
    public int SongCount => Plays.SongCount;

    private protected PlayMatrix Plays { get; }

    private protected float[][] Features { get; }

    /// <summary>The keys of the songs <paramref name="userKey"/> played in the training data (filtered out of recommendations).</summary>
    public IReadOnlyList<uint> GetPlayedSongs(uint userKey)
    {
        var songs = Plays.SongsOf(UserIndex(userKey));
        var keys = new uint[songs.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = (uint)songs[i] + 1;
        }

        return keys;
    }

    /// <inheritdoc/>
    /// <remarks>A user with no training play has no taste to go on: every song scores 0.</remarks>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

        for (int r = 0; r < userCount; r++)
        {
            var row = destination.Slice(r * SongCount, SongCount);
            int user = firstUser + r;
            if (Plays.SongsOf(user).Length == 0)
            {
                row.Clear();
                continue;
            }

            for (int s = 0; s < SongCount; s++)
            {
                row[s] = ScorePair(user, s);
            }
        }
    }

    /// <summary>
    /// The <paramref name="k"/> best songs of the whole catalog (cold songs included) for a user (key 1-based), best
    /// first, the lower key first among equal scores; songs the user played in training are left out unless
    /// <paramref name="excludeAlreadyPlayed"/> is false.
    /// </summary>
    public IReadOnlyList<SongRecommendation> Recommend(uint userKey, int k = 10, bool excludeAlreadyPlayed = true)
    {
        int user = UserIndex(userKey);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var scores = new float[SongCount];
        ScoreUsers(user, 1, scores);
        var played = excludeAlreadyPlayed ? new HashSet<int>(Plays.SongsOf(user).ToArray()) : [];
        return Enumerable.Range(0, SongCount).Where(s => !played.Contains(s))
            .OrderByDescending(s => scores[s]).ThenBy(s => s).Take(k)
            .Select(s => new SongRecommendation((uint)s + 1, scores[s])).ToArray();
    }

    /// <summary>The score of one song (0-based) for one user (0-based) who has at least one training play.</summary>
    private protected abstract float ScorePair(int user, int song);

    /// <summary>
    /// Writes what both content models hold (saved by <c>ml.Audio().Model.Save</c>): the recommender header of
    /// <see cref="RecommenderPersistence"/> (key columns, training plays), int32 feature size, float[] features
    /// (songs x size, song by song).
    /// </summary>
    private protected void SaveCommon(BinaryWriter writer)
    {
        RecommenderPersistence.WriteHeader(writer, UserColumnName, SongColumnName, Plays);
        int size = Features.Length == 0 ? 0 : Features[0].Length;
        writer.Write(size);
        RecommenderPersistence.WriteFloats(writer, Features.SelectMany(f => f).ToArray());
    }

    /// <summary>Reads what <see cref="SaveCommon"/> wrote.</summary>
    private protected static (string User, string Song, PlayMatrix Training, float[][] Features) ReadCommon(BinaryReader reader)
    {
        var (user, song, training) = RecommenderPersistence.ReadHeader(reader);
        int size = reader.ReadInt32();
        if (size < 1)
        {
            throw new InvalidDataException($"the song features claim {size} values per song");
        }

        var flat = RecommenderPersistence.ReadFloats(reader, "the song features", (long)training.SongCount * size);
        if (flat.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidDataException("a song feature is not a finite number");
        }

        var features = new float[training.SongCount][];
        for (int s = 0; s < features.Length; s++)
        {
            features[s] = flat.AsSpan(s * size, size).ToArray();
        }

        return (user, song, training, features);
    }

    /// <summary>Euclidean distance between two feature vectors.</summary>
    private protected static float Distance(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            sum += d * d;
        }

        return (float)Math.Sqrt(sum);
    }

    private protected int UserIndex(uint userKey) =>
        userKey >= 1 && userKey <= UserCount
            ? (int)userKey - 1
            : throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}.");

    /// <summary>The Score of a (user key, song key) row: 0 for a missing key or a user without training plays.</summary>
    private float ScoreKeys(uint userKey, uint songKey) =>
        userKey == 0 || songKey == 0 || Plays.SongsOf((int)userKey - 1).Length == 0 ? 0f : ScorePair((int)userKey - 1, (int)songKey - 1);

    private protected sealed override SchemaBinding Bind(DataViewSchema inputSchema) =>
        UserSongScoreBinding.Create(inputSchema, UserColumnName, SongColumnName, UserCount, SongCount, ScoreKeys);
}

/// <summary>A fitted <see cref="SeedSongTrainer"/>: Score(u, i) = minus the Euclidean distance from song i to u's seed song.</summary>
/// <remarks>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.SeedSongModel". Payload, version 1: the content
/// models' common block (key columns, training plays, feature size, song features), then int[] seed song per user
/// (0-based, -1 for a user without plays).
/// </remarks>
public sealed class SeedSongModel : ContentSongModel, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.SeedSongModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;

    private readonly int[] _seedSong;

    internal SeedSongModel(string userColumnName, string songColumnName, PlayMatrix training, float[][] features, int[] seedSong)
        : base(userColumnName, songColumnName, training, features)
    {
        _seedSong = seedSong;
    }

    /// <summary>The seed song key of a user (1-based), or 0 for a user with no training play.</summary>
    public uint SeedSong(uint userKey) => (uint)(_seedSong[UserIndex(userKey)] + 1);

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        SaveCommon(writer);
        RecommenderPersistence.WriteInts(writer, _seedSong);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static SeedSongModel Load(AudioStageReader stage)
    {
        var (user, song, training, features) = ReadCommon(stage.Reader);
        var seeds = RecommenderPersistence.ReadInts(stage.Reader, "the seed songs", training.UserCount);
        for (int u = 0; u < seeds.Length; u++)
        {
            // A user with plays has a seed among the catalog's songs; one without has none (-1).
            bool hasPlays = training.SongsOf(u).Length > 0;
            if (hasPlays ? (uint)seeds[u] >= (uint)training.SongCount : seeds[u] != -1)
            {
                throw new InvalidDataException($"user {u}'s seed song is {seeds[u]}, which does not fit {training.SongCount} songs and {(hasPlays ? "its plays" : "no plays")}");
            }
        }

        return new SeedSongModel(user, song, training, features, seeds);
    }

    private protected override float ScorePair(int user, int song) => -Distance(Features[song], Features[_seedSong[user]]);
}

/// <summary>A fitted <see cref="SongSetTrainer"/>: Score(u, i) = minus the smallest Euclidean distance from song i to a song u played.</summary>
/// <remarks>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.SongSetModel". Payload, version 1: the content
/// models' common block (key columns, training plays, feature size, song features).
/// </remarks>
public sealed class SongSetModel : ContentSongModel, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.SongSetModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;

    internal SongSetModel(string userColumnName, string songColumnName, PlayMatrix training, float[][] features)
        : base(userColumnName, songColumnName, training, features)
    {
    }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer) => SaveCommon(writer);

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static SongSetModel Load(AudioStageReader stage)
    {
        var (user, song, training, features) = ReadCommon(stage.Reader);
        return new SongSetModel(user, song, training, features);
    }

    private protected override float ScorePair(int user, int song)
    {
        float nearest = float.PositiveInfinity;
        foreach (int p in Plays.SongsOf(user))
        {
            nearest = Math.Min(nearest, Distance(Features[song], Features[p]));
        }

        return -nearest;
    }
}
