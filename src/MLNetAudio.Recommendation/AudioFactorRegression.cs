using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="AudioFactorRegressionTrainer"/>; column names as in ML.NET's MatrixFactorizationTrainer.</summary>
public sealed class AudioFactorRegressionOptions
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

    /// <summary>The ridge penalty λ of the regression (0 or more, finite). Default 1.</summary>
    public double Ridge = Defaults.Ridge;

    /// <summary>
    /// Settings of the matrix factorization the trainer fits on the plays (rank, rounds, λ, α, Seed, Device, Progress),
    /// when it trains its own models; null (default) for ImplicitMatrixFactorization's defaults. Its column names are
    /// not read: this options' <see cref="MatrixColumnIndexColumnName"/>, <see cref="MatrixRowIndexColumnName"/> and
    /// <see cref="LabelColumnName"/> apply. Must be null when the trainer is given fitted models.
    /// </summary>
    public ImplicitMatrixFactorizationOptions? Factorization;

    /// <summary>
    /// Settings of the multi-user audio model the trainer fits on the plays (network, epochs, Seed, Device, Progress),
    /// when it trains its own models; null (default) for MultiUserAudio's defaults. Its column names are not read, as
    /// for <see cref="Factorization"/>. Must be null when the trainer is given fitted models.
    /// </summary>
    public MultiUserAudioOptions? Audio;

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

        /// <summary>Default ridge penalty.</summary>
        public const double Ridge = 1;
    }

    /// <summary>A copy (the nested options copied too): the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal AudioFactorRegressionOptions Copy()
    {
        var copy = (AudioFactorRegressionOptions)MemberwiseClone();
        copy.Factorization = Factorization?.Copy();
        copy.Audio = Audio?.Copy();
        return copy;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field (the nested options are checked by their own trainers).</summary>
    public void Validate() =>
        ContentSongInputs.CheckColumns(new OptionErrors(nameof(AudioFactorRegressionOptions)), MatrixColumnIndexColumnName, MatrixRowIndexColumnName, LabelColumnName)
            .Check(string.IsNullOrWhiteSpace(SongWindowsColumnName), nameof(SongWindowsColumnName), "must name the songs' windows column.")
            // An infinite ridge makes the Gram matrix inf and NaN (0 x inf off the diagonal), which LAPACK rejects cryptically.
            .Check(!(Ridge >= 0) || double.IsInfinity(Ridge), nameof(Ridge), $"must be a finite number, 0 or more; found {Ridge}.")
            .ThrowIfAny();

    /// <summary>This options' column names written over a copy of the factorization settings.</summary>
    internal ImplicitMatrixFactorizationOptions FactorizationWithColumns()
    {
        var options = Factorization?.Copy() ?? new ImplicitMatrixFactorizationOptions();
        options.MatrixColumnIndexColumnName = MatrixColumnIndexColumnName;
        options.MatrixRowIndexColumnName = MatrixRowIndexColumnName;
        options.LabelColumnName = LabelColumnName;
        return options;
    }

    /// <summary>This options' column names written over a copy of the audio settings.</summary>
    internal MultiUserAudioOptions AudioWithColumns()
    {
        var options = Audio?.Copy() ?? new MultiUserAudioOptions();
        options.MatrixColumnIndexColumnName = MatrixColumnIndexColumnName;
        options.MatrixRowIndexColumnName = MatrixRowIndexColumnName;
        options.LabelColumnName = LabelColumnName;
        options.SongWindowsColumnName = SongWindowsColumnName;
        return options;
    }
}
#pragma warning restore CA1051

/// <summary>
/// The van den Oord et al. (2013) variant as an ML.NET estimator: learns to predict a song's matrix-factorization
/// factors from its audio, so a cold song (no plays, no factors) gets factors and MF-style scores.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (a closed-form ridge solve; with its own models, weighted ALS and the multi-user
/// audio model first); input: user key, song key, Single play count; output: a Single <c>Score</c> column over (user,
/// song) key pairs; NuGet: MLNetAudio.Recommendation plus a libtorch backend; not exportable to ONNX.
/// </para>
/// <para>
/// Two forms, both reached through <c>ml.Audio().Recommendation.Trainers.AudioFactorRegression</c>: given the songs
/// (an IDataView of song keys and <c>SegmentMfcc</c> windows, or <see cref="AudioSongWindows"/>), <see cref="Fit"/>
/// trains weighted ALS (<see cref="AudioFactorRegressionOptions.Factorization"/>) and the multi-user audio model
/// (<see cref="AudioFactorRegressionOptions.Audio"/>) on the plays, then the regression; given a fitted factorization
/// and audio model, it fits only the regression. The warm songs, whose factors are the regression's targets, are the
/// songs with plays in <see cref="Fit"/>'s input that the factorization has factors for; every other song is cold
/// and gets predicted factors from its audio.
/// </para>
/// <para>
/// Seeds, devices and progress are the nested trainers': a null Seed in <see cref="AudioFactorRegressionOptions.Factorization"/>
/// or <see cref="AudioFactorRegressionOptions.Audio"/> is drawn from the MLContext when this trainer is made (the
/// factorization's first), and each reports its rounds or epochs to its own Progress. The regression itself is
/// deterministic and runs on the CPU in float64.
/// </para>
/// </remarks>
/// <example>
/// <c>samples/HybridRecommender/Program.cs</c> regresses between the models it has already fitted; over a real catalog
/// (songs and plays as IDataViews, <c>tests/.../RealCatalogTests.cs</c>) the trainer fits its own:
/// <code>
/// var audioFactors = ml.Audio().Recommendation.Trainers.AudioFactorRegression(mf, audio).Fit(training);
/// var coldReady = ml.Audio().Recommendation.Trainers.AudioFactorRegression(songs, new AudioFactorRegressionOptions
///     { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays" }).Fit(plays);
/// </code>
/// </example>
public sealed class AudioFactorRegressionTrainer : IEstimator<AudioFactorRegressionModel>
{
    private readonly AudioFactorRegressionOptions _options;
    private readonly ImplicitMatrixFactorizationTrainer? _factorsTrainer;
    private readonly MultiUserAudioTrainer? _audioTrainer;
    private readonly ImplicitMatrixFactorizationModel? _factors;
    private readonly MultiUserAudioModel? _audio;

    // Trains its own models: options validated and copied here, the nested trainers made (and their null seeds drawn) now.
    internal AudioFactorRegressionTrainer(MLContext mlContext, AudioSongWindows songs, AudioFactorRegressionOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(songs);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Copy();
        _factorsTrainer = new ImplicitMatrixFactorizationTrainer(mlContext, _options.FactorizationWithColumns());
        _audioTrainer = new MultiUserAudioTrainer(mlContext, _options.AudioWithColumns(), songs);
    }

    // Regresses between two fitted models: options validated and copied here.
    internal AudioFactorRegressionTrainer(ImplicitMatrixFactorizationModel factors, MultiUserAudioModel audio, AudioFactorRegressionOptions options)
    {
        ArgumentNullException.ThrowIfNull(factors);
        ArgumentNullException.ThrowIfNull(audio);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Factorization is not null || options.Audio is not null)
        {
            throw new ArgumentException(
                $"{nameof(AudioFactorRegressionOptions)}.{(options.Factorization is not null ? nameof(AudioFactorRegressionOptions.Factorization) : nameof(AudioFactorRegressionOptions.Audio))} "
                + "is set, but the trainer was given fitted models: leave Factorization and Audio null, or give the songs instead of the models so that the trainer fits its own.",
                nameof(options));
        }

        AudioFactorRegressionModel.CheckSameKeys(factors, audio);
        _options = options.Copy();
        _factors = factors;
        _audio = audio;
    }

    /// <summary>
    /// Fits the regression from the audio model's song embeddings to the factorization's song factors over the songs
    /// played in <paramref name="input"/> (training both models on <paramref name="input"/> first unless they were given).
    /// </summary>
    /// <exception cref="ArgumentException">A column is missing or of the wrong type, the log has no play, or its keys do not match the models'; the message names the column.</exception>
    /// <exception cref="NonFiniteTrainingException">The solve gave a NaN or infinite weight or predicted factor.</exception>
    public AudioFactorRegressionModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName);
        if (_factors is not null && _audio is not null)
        {
            if (plays.UserCount != _factors.UserCount || plays.SongCount != _factors.SongCount)
            {
                throw new ArgumentException(
                    $"Columns '{_options.MatrixColumnIndexColumnName}' and '{_options.MatrixRowIndexColumnName}' are keys of {plays.UserCount} users x {plays.SongCount} songs "
                    + $"but the fitted models cover {_factors.UserCount} x {_factors.SongCount}; map the plays with the same fitted MapValueToKey the models were trained with.",
                    nameof(input));
            }

            return Regress(_factors, _audio, plays);
        }

        var factors = _factorsTrainer!.Fit(input);
        using var audio = _audioTrainer!.Fit(input);
        return Regress(factors, audio, plays);
    }

    /// <summary>Checks the input columns (key user and song, Single label) and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ContentSongInputs.OutputSchema(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName);

    private AudioFactorRegressionModel Regress(ImplicitMatrixFactorizationModel factors, MultiUserAudioModel audio, PlayMatrix plays) =>
        AudioFactorRegressionModel.Fit(_options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, factors, audio,
            s => plays.PlayCountOfSong(s) > 0 && factors.IsSongKnown((uint)s + 1), _options.Ridge);
}

/// <summary>
/// A fitted <see cref="AudioFactorRegressionTrainer"/>, the van den Oord et al. (2013) variant: every song's matrix
/// factorization factors predicted from its audio, so a cold song (no plays, no factors) gets MF-style scores (user
/// factors · predicted factors). The audio side is the multi-user encoder's song embedding (the mean of its window
/// embeddings) plus a constant, and the map to the factors is ridge regression fitted on the warm songs.
/// </summary>
/// <remarks>
/// <para>
/// van den Oord et al. trained a CNN end to end to regress the factors; this variant reuses the encoder trained on
/// plays and fits only a linear map, in closed form (a (size+1)-square solve), so it costs nothing next to training.
/// Written by hand: a few lines of linear algebra on TorchSharp.
/// </para>
/// <para>
/// As an ML.NET transformer it appends a Single <c>Score</c> to (user key, song key) rows (0 for a missing key, 0 = not
/// in the key mapping); saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.AudioFactorRegressionModel".
/// Payload, version 1: string user column, string song column, int32 users, int32 songs, int32 rank, float[]
/// userFactors (users x rank), float[] predicted (songs x rank), little-endian, arrays as
/// <see cref="RecommenderPersistence"/> writes them.
/// </para>
/// </remarks>
public sealed class AudioFactorRegressionModel : RowMappingTransformer, IUserSongScorer, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.AudioFactorRegressionModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;
    private const string TrainerName = "AudioFactorRegression";
    private readonly float[] _userFactors;
    private readonly float[] _predicted;

    private AudioFactorRegressionModel(string userColumnName, string songColumnName, int users, int songs, int rank, float[] userFactors, float[] predicted)
    {
        UserColumnName = userColumnName;
        SongColumnName = songColumnName;
        UserCount = users;
        SongCount = songs;
        Rank = rank;
        _userFactors = userFactors;
        _predicted = predicted;
    }

    /// <summary>The user key column of the rows the model scores (ML.NET's MatrixColumnIndexColumnName).</summary>
    public string UserColumnName { get; }

    /// <summary>The song key column of the rows the model scores (ML.NET's MatrixRowIndexColumnName).</summary>
    public string SongColumnName { get; }

    /// <inheritdoc/>
    public int UserCount { get; }

    /// <inheritdoc/>
    public int SongCount { get; }

    /// <summary>Number of factors.</summary>
    public int Rank { get; }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    /// <summary>
    /// Fits the regression from <paramref name="audio"/>'s song embeddings to <paramref name="factors"/>' song
    /// factors over the songs with training plays, and predicts factors for every song. A convenience over
    /// <see cref="AudioFactorRegressionTrainer"/>: the same model as
    /// <c>ml.Audio().Recommendation.Trainers.AudioFactorRegression(factors, audio, options).Fit(plays)</c> on the
    /// factorization's training plays, with the factorization's column names.
    /// </summary>
    /// <param name="factors">The fitted matrix factorization (its user factors score; its song factors are the targets).</param>
    /// <param name="audio">The fitted multi-user audio model (its song embeddings are the inputs).</param>
    /// <param name="ridge">The ridge penalty λ. Default 1.</param>
    /// <exception cref="ArgumentException">The two models disagree on the catalog or the users.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ridge"/> is negative, NaN or infinite.</exception>
    /// <exception cref="NonFiniteTrainingException">The solve gave a NaN or infinite weight or predicted factor.</exception>
    public static AudioFactorRegressionModel Fit(ImplicitMatrixFactorizationModel factors, MultiUserAudioModel audio, double ridge = 1)
    {
        ArgumentNullException.ThrowIfNull(factors);
        ArgumentNullException.ThrowIfNull(audio);
        CheckSameKeys(factors, audio);
        ArgumentOutOfRangeException.ThrowIfNegative(ridge);
        if (!double.IsFinite(ridge))
        {
            // An infinite ridge makes the Gram matrix inf and NaN (0 x inf off the diagonal), which LAPACK rejects cryptically.
            throw new ArgumentOutOfRangeException(nameof(ridge), ridge, "The ridge penalty must be a finite number (0 or more).");
        }

        return Fit(factors.UserColumnName, factors.SongColumnName, factors, audio, s => factors.IsSongKnown((uint)s + 1), ridge);
    }

    /// <exception cref="ArgumentException">The two models disagree on the catalog or the users.</exception>
    internal static void CheckSameKeys(ImplicitMatrixFactorizationModel factors, MultiUserAudioModel audio)
    {
        if (factors.SongCount != audio.SongCount || factors.UserCount != audio.UserCount)
        {
            throw new ArgumentException($"The factorization has {factors.UserCount} users x {factors.SongCount} songs, the audio model {audio.UserCount} x {audio.SongCount}; train both on the same keys.", nameof(audio));
        }
    }

    /// <summary>The regression over the songs <paramref name="isWarm"/> picks (0-based), both models already checked.</summary>
    internal static AudioFactorRegressionModel Fit(string userColumnName, string songColumnName, ImplicitMatrixFactorizationModel factors, MultiUserAudioModel audio, Func<int, bool> isWarm, double ridge)
    {
        int songs = factors.SongCount, rank = factors.ApproximationRank, size = audio.EmbeddingSize + 1;
        var x = new float[songs * size];
        var y = new float[songs * rank];
        var warm = new List<long>();
        for (int s = 0; s < songs; s++)
        {
            var e = audio.GetSongEmbedding((uint)s + 1);
            e.CopyTo(x, s * size);
            x[(s * size) + size - 1] = 1;
            if (isWarm(s))
            {
                factors.GetSongFactors((uint)s + 1).CopyTo(y, s * rank);
                warm.Add(s);
            }
        }

        if (warm.Count == 0)
        {
            throw new ArgumentException("No song has both training plays and factorization factors; there is nothing to regress.", nameof(factors));
        }

        var predicted = Regress(x, y, warm.ToArray(), size, rank, ridge);
        var users = new float[factors.UserCount * rank];
        for (int u = 0; u < factors.UserCount; u++)
        {
            factors.GetUserFactors((uint)u + 1).CopyTo(users, u * rank);
        }

        return new AudioFactorRegressionModel(userColumnName, songColumnName, factors.UserCount, songs, rank, users, predicted);
    }

    /// <summary>
    /// Ridge regression of <paramref name="y"/> (songs x rank) on <paramref name="x"/> (songs x size) over the
    /// <paramref name="warm"/> rows, in float64; returns every song's predicted factors as Single.
    /// </summary>
    /// <exception cref="NonFiniteTrainingException">A weight or a predicted factor is NaN or infinite (or overflows Single).</exception>
    internal static float[] Regress(float[] x, float[] y, long[] warm, int size, int rank, double ridge)
    {
        int songs = x.Length / size;
        using var scope = NewDisposeScope();
        var xs = tensor(x, [songs, size], dtype: float64);
        var ys = tensor(y, [songs, rank], dtype: float64);
        var index = tensor(warm);
        var xw = xs.index_select(0, index);
        var yw = ys.index_select(0, index);
        using var ridgeScalar = ridge.ToScalar();
        var gram = xw.t().matmul(xw).add(eye(size, dtype: float64).mul(ridgeScalar), TorchScalars.One);
        var (weights, info) = linalg.solve_ex(gram, xw.t().matmul(yw));
        var weightArray = weights.data<double>().ToArray();
        int badWeight = Array.FindIndex(weightArray, v => !double.IsFinite(v));
        if (info.item<int>() != 0 || badWeight >= 0)
        {
            throw new NonFiniteTrainingException(TrainerName, null, null, "regression weight", badWeight >= 0 ? weightArray[badWeight] : double.NaN,
                ridge == 0 ? "The solve failed or overflowed with ridge 0: give a positive ridge." : "The solve failed or overflowed.");
        }

        var predicted = xs.matmul(weights).to(float32).data<float>().ToArray();
        int bad = Array.FindIndex(predicted, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new NonFiniteTrainingException(TrainerName, null, null, $"predicted factor {bad % rank} of song key {(bad / rank) + 1}", predicted[bad],
                "The song's embedding lies far outside the warm songs' (or their factors are huge), so its prediction overflows a Single.");
        }

        return predicted;
    }

    /// <summary>The predicted factors of a song (1-based key), cold or warm.</summary>
    public float[] GetPredictedSongFactors(uint songKey)
    {
        ArgumentOutOfRangeException.ThrowIfZero(songKey);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(songKey, (uint)SongCount);
        return _predicted.AsSpan((int)(songKey - 1) * Rank, Rank).ToArray();
    }

    /// <summary>User factors times predicted song factors, one matrix product.</summary>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

        using var scope = NewDisposeScope();
        // Clones live in libtorch's aligned memory: a product over pinned managed arrays rounds by their alignment,
        // which varies from process to process.
        var u = tensor(_userFactors.AsSpan(firstUser * Rank, userCount * Rank).ToArray(), [userCount, Rank]).clone();
        var v = tensor(_predicted, [SongCount, Rank]).clone();
        u.matmul(v.t()).data<float>().CopyTo(destination);
    }

    /// <summary>Writes the payload described in the remarks: the key columns, then <see cref="SaveFactors"/>'s block.</summary>
    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        writer.Write(UserColumnName);
        writer.Write(SongColumnName);
        SaveFactors(writer);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static AudioFactorRegressionModel Load(AudioStageReader stage)
    {
        string user = stage.Reader.ReadString(), song = stage.Reader.ReadString();
        return LoadFactors(stage.Reader, user, song);
    }

    /// <summary>
    /// Writes int32 users, int32 songs, int32 rank, float[] userFactors (users x rank), float[] predicted (songs x rank),
    /// little-endian, arrays as <see cref="RecommenderPersistence"/> writes them (also the whole of an "audio-factors"
    /// part of a hybrid ranker file of hybrid format version 1).
    /// </summary>
    internal void SaveFactors(BinaryWriter writer)
    {
        writer.Write(UserCount);
        writer.Write(SongCount);
        writer.Write(Rank);
        RecommenderPersistence.WriteFloats(writer, _userFactors);
        RecommenderPersistence.WriteFloats(writer, _predicted);
    }

    /// <summary>Reads what <see cref="SaveFactors"/> wrote; the key columns come from the caller.</summary>
    /// <exception cref="InvalidDataException">The sizes are impossible or a value is not finite.</exception>
    internal static AudioFactorRegressionModel LoadFactors(BinaryReader reader, string userColumnName, string songColumnName)
    {
        int users = reader.ReadInt32(), songs = reader.ReadInt32(), rank = reader.ReadInt32();
        if (users < 1 || songs < 1 || rank < 1)
        {
            throw new InvalidDataException($"the audio factor regression claims {users} users, {songs} songs and rank {rank}");
        }

        var userFactors = RecommenderPersistence.ReadFloats(reader, "the user factors", (long)users * rank);
        var predicted = RecommenderPersistence.ReadFloats(reader, "the predicted song factors", (long)songs * rank);
        if (userFactors.Any(v => !float.IsFinite(v)) || predicted.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidDataException("a factor is not a finite number");
        }

        return new AudioFactorRegressionModel(userColumnName, songColumnName, users, songs, rank, userFactors, predicted);
    }

    /// <summary>The Score of a (user key, song key) row: the dot product in float64 (ScoreUsers' float32 product within rounding); 0 for a missing key.</summary>
    private float ScoreKeys(uint userKey, uint songKey)
    {
        if (userKey == 0 || songKey == 0)
        {
            return 0f;
        }

        var u = _userFactors.AsSpan((int)(userKey - 1) * Rank, Rank);
        var v = _predicted.AsSpan((int)(songKey - 1) * Rank, Rank);
        double sum = 0;
        for (int i = 0; i < Rank; i++)
        {
            sum += (double)u[i] * v[i];
        }

        return (float)sum;
    }

    private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
        UserSongScoreBinding.Create(inputSchema, UserColumnName, SongColumnName, UserCount, SongCount, ScoreKeys);
}
