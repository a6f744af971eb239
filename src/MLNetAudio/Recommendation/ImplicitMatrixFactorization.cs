using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051
/// <summary>
/// Options of <see cref="ImplicitMatrixFactorizationTrainer"/>. Names follow ML.NET's
/// <c>MatrixFactorizationTrainer.Options</c> where they mean the same thing; <see cref="Alpha"/> does not (see there).
/// </summary>
public sealed class ImplicitMatrixFactorizationOptions
{
    /// <summary>
    /// The user key column (as in ML.NET's recommendation sample, the matrix's columns are users). Must be set; a
    /// scalar UInt32 key with a known count, as made by MapValueToKey.
    /// </summary>
    public string? MatrixColumnIndexColumnName;

    /// <summary>The song key column (the matrix's rows are songs). Must be set; a scalar UInt32 key with a known count.</summary>
    public string? MatrixRowIndexColumnName;

    /// <summary>The play-count column r (Single). Rows with r ≤ 0 carry no preference; repeated (user, song) rows add up. Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>Number of latent factors f. Default 8 (ML.NET's default); implicit-feedback work often uses 32 to 200.</summary>
    public int ApproximationRank = Defaults.ApproximationRank;

    /// <summary>Alternating rounds (a user half-step then a song half-step each). Default 20 (ML.NET's default).</summary>
    public int NumberOfIterations = Defaults.NumberOfIterations;

    /// <summary>L2 regularisation λ on user and song factors, as in Hu, Koren and Volinsky 2008 (ML.NET's Lambda). Default 0.1.</summary>
    public double Lambda = Defaults.Lambda;

    /// <summary>
    /// Confidence scaling α of Hu, Koren and Volinsky 2008: an observed play count r has confidence c = 1 + α r, an
    /// unobserved pair confidence 1. Default 40 (the value the paper found to work). Not the same as ML.NET's
    /// one-class <c>Alpha</c>, which weights unobserved entries with observed ones at weight 1; ML.NET's Alpha a
    /// corresponds roughly to 1 / (1 + α r) here.
    /// </summary>
    public double Alpha = Defaults.Alpha;

    /// <summary>
    /// 0 (the default) solves each user's and song's system exactly (batched Cholesky). A positive n instead runs n
    /// conjugate-gradient steps per half-step, started from the current factors (Takács, Pilászy and Tikk 2011; the
    /// implicit library's default is 3): cheaper per iteration, approximate, and converging to the exact solve as
    /// n grows (n = ApproximationRank is exact up to rounding).
    /// </summary>
    public int ConjugateGradientSteps;

    /// <summary>
    /// Seed of the initial factors (uniform in [0, 0.01)); on the CPU the same seed, data and thread count give the
    /// same model (CUDA kernels may reorder sums). Default 1.
    /// </summary>
    public int Seed = Defaults.Seed;

    /// <summary>Train and recommend on CUDA when TorchSharp finds a GPU; otherwise on the CPU. Default true.</summary>
    public bool UseGpuWhenAvailable = true;

    /// <summary>
    /// When set, the CPU threads libtorch uses while training (restored afterwards; libtorch's thread count is
    /// process-wide). Null (the default) leaves libtorch's setting alone.
    /// </summary>
    public int? NumberOfThreads;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";

        /// <summary>Default number of latent factors.</summary>
        public const int ApproximationRank = 8;

        /// <summary>Default number of alternating rounds.</summary>
        public const int NumberOfIterations = 20;

        /// <summary>Default regularisation.</summary>
        public const double Lambda = 0.1;

        /// <summary>Default confidence scaling.</summary>
        public const double Alpha = 40;

        /// <summary>Default seed.</summary>
        public const int Seed = 1;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate()
    {
        new OptionErrors(nameof(ImplicitMatrixFactorizationOptions))
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(ApproximationRank < 1, nameof(ApproximationRank), $"must be at least 1; found {ApproximationRank}.")
            .Check(NumberOfIterations < 1, nameof(NumberOfIterations), $"must be at least 1; found {NumberOfIterations}.")
            .Check(!(Lambda > 0) || double.IsInfinity(Lambda), nameof(Lambda), $"must be positive and finite (it keeps each solve well posed); found {Lambda}.")
            .Check(!(Alpha >= 0) || double.IsInfinity(Alpha), nameof(Alpha), $"must be zero or positive and finite; found {Alpha}.")
            .Check(ConjugateGradientSteps < 0, nameof(ConjugateGradientSteps), $"must be 0 (exact solves) or positive; found {ConjugateGradientSteps}.")
            .Check(NumberOfThreads is < 1, nameof(NumberOfThreads), $"must be at least 1 when set; found {NumberOfThreads}.")
            .ThrowIfAny();
    }
}
#pragma warning restore CA1051

/// <summary>
/// Trains implicit-feedback matrix factorization by weighted alternating least squares (Hu, Koren and Volinsky,
/// "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008) on TorchSharp tensors.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (needs no caching; reads the data once); input: a user key column, a song key
/// column and a Single play-count column; output: a Single <c>Score</c> column and a Boolean <c>HasFactors</c>
/// column; NuGet: MLNetAudio (plus a libtorch backend); not exportable to ONNX.
/// </para>
/// <para>
/// Written by hand because Microsoft.ML.Recommender (LIBMF) is not available to this project and its one-class mode
/// is not Hu et al.'s confidence-weighted model. Each half-step solves every user (then every song) exactly:
/// x_u = (YᵀY + Yᵀ(C_u − I)Y + λI)⁻¹ Yᵀ C_u p(u), where YᵀY is computed once per half-step and Yᵀ(C_u − I)Y only
/// over the songs u played (c − 1 = α r), so the cost is linear in the number of plays. The per-user systems are
/// built by batched matrix products over users grouped by play count and solved by a batched Cholesky
/// factorisation, on CUDA when available; <see cref="ImplicitMatrixFactorizationOptions.ConjugateGradientSteps"/>
/// switches to a few warm-started conjugate-gradient steps instead, as the <c>implicit</c> library does.
/// </para>
/// <para>
/// Cold songs: a song with no positive play in the training data gets no factors (its solve has a zero right-hand
/// side). The model scores it 0 with <c>HasFactors</c> false and never recommends it; the same holds for a user or
/// song key of 0 (missing from the key mapping).
/// </para>
/// </remarks>
public sealed class ImplicitMatrixFactorizationTrainer : IEstimator<ImplicitMatrixFactorizationModel>
{
    private readonly ImplicitMatrixFactorizationOptions _options;

    internal ImplicitMatrixFactorizationTrainer(ImplicitMatrixFactorizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains the factors on <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">A column is missing or of the wrong type; the message names it.</exception>
    public ImplicitMatrixFactorizationModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, _options.LabelColumnName);
        float largest = plays.NonZeroCount == 0 ? 0 : plays.Plays.Max();
        if (!float.IsFinite(1 + ((float)_options.Alpha * largest)))
        {
            throw new ArgumentException(
                $"Play count column '{_options.LabelColumnName}' holds {largest}, which times Alpha ({_options.Alpha}) overflows a Single confidence; "
                + "scale the counts down (log1p, or cap them) or lower Alpha.",
                nameof(input));
        }

        int previousThreads = torch.get_num_threads();
        if (_options.NumberOfThreads is int threads)
        {
            torch.set_num_threads(threads);
        }

        try
        {
            using var als = new ImplicitAls(plays, _options.ApproximationRank, (float)_options.Lambda, (float)_options.Alpha, _options.Seed, PickDevice(_options.UseGpuWhenAvailable))
            {
                ConjugateGradientSteps = _options.ConjugateGradientSteps,
            };
            var losses = new List<double>(_options.NumberOfIterations);
            for (int i = 0; i < _options.NumberOfIterations; i++)
            {
                als.SolveUsers(i + 1);
                als.SolveSongs(i + 1);
                double loss = als.Loss();
                if (!double.IsFinite(loss))
                {
                    throw new NonFiniteTrainingException(ImplicitAls.TrainerName, i + 1, null, "training loss", loss,
                        "The factors are finite but Hu et al.'s objective overflows: the play counts times Alpha are too large.");
                }

                losses.Add(loss);
            }

            return new ImplicitMatrixFactorizationModel(
                _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, plays,
                als.UserFactorsArray(), als.SongFactorsArray(), _options.ApproximationRank, als.Device.type, losses)
            {
                Lambda = _options.Lambda,
                Alpha = _options.Alpha,
            };
        }
        finally
        {
            if (_options.NumberOfThreads is not null)
            {
                torch.set_num_threads(previousThreads);
            }
        }
    }

    /// <summary>Checks the input columns and describes the output (Score and HasFactors).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        PlayMatrix.RequireKey(inputSchema, _options.MatrixColumnIndexColumnName!, "User (MatrixColumnIndexColumnName)");
        PlayMatrix.RequireKey(inputSchema, _options.MatrixRowIndexColumnName!, "Song (MatrixRowIndexColumnName)");
        return SchemaShapes.Append(inputSchema, ImplicitMatrixFactorizationModel.Outputs);
    }

    internal static Device PickDevice(bool useGpu) => useGpu && cuda.is_available() ? CUDA : CPU;
}

/// <summary>
/// A fitted implicit-feedback matrix factorization: user and song factors whose dot product scores a (user, song)
/// pair. Appends <c>Score</c> (Single) and <c>HasFactors</c> (Boolean: false for a cold song, a user without plays or
/// a missing key, whose Score is 0) and recommends the top k songs per user.
/// </summary>
/// <remarks>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.ImplicitMatrixFactorizationModel"; loading
/// computes on CUDA only when the model was trained there and a GPU is present. Payload (little-endian, encodings of
/// <see cref="RecommenderPersistence"/>):
/// <code>
/// version 1: recommender header (userColumn, songColumn, training plays), int32 rank, bool trainedOnCuda,
///            double lambda, double alpha, int32 n then n doubles (the training loss per round),
///            float[] userFactors (users x rank), float[] songFactors (songs x rank)
/// </code>
/// </remarks>
public sealed class ImplicitMatrixFactorizationModel : SongRecommenderModel, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.ImplicitMatrixFactorizationModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;

    /// <summary>The name of the flag column that says whether both the user and the song have trained factors.</summary>
    public const string HasFactorsColumnName = "HasFactors";

    private readonly float[] _userFactors;
    private readonly float[] _songFactors;
    private readonly DeviceType _device;

    internal ImplicitMatrixFactorizationModel(
        string userColumnName, string songColumnName, PlayMatrix training, float[] userFactors, float[] songFactors, int rank, DeviceType device, IReadOnlyList<double> losses)
        : base(userColumnName, songColumnName, training)
    {
        _userFactors = userFactors;
        _songFactors = songFactors;
        _device = device;
        ApproximationRank = rank;
        TrainingLoss = losses;
    }

    internal static IReadOnlyList<OutputColumn> Outputs { get; } =
        [new OutputColumn(ScoreColumnName, NumberDataViewType.Single), new OutputColumn(HasFactorsColumnName, BooleanDataViewType.Instance)];

    /// <summary>Number of latent factors.</summary>
    public int ApproximationRank { get; }

    /// <summary>The regularisation λ the model was trained with (fold-in uses it).</summary>
    public double Lambda { get; init; }

    /// <summary>The confidence scaling α the model was trained with (fold-in uses it).</summary>
    public double Alpha { get; init; }

    /// <summary>Hu et al.'s weighted objective after each alternating round (it never increases).</summary>
    public IReadOnlyList<double> TrainingLoss { get; }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        RecommenderPersistence.WriteHeader(writer, UserColumnName, SongColumnName, Training);
        writer.Write(ApproximationRank);
        writer.Write(_device == DeviceType.CUDA);
        writer.Write(Lambda);
        writer.Write(Alpha);
        writer.Write(TrainingLoss.Count);
        foreach (double loss in TrainingLoss)
        {
            writer.Write(loss);
        }

        RecommenderPersistence.WriteFloats(writer, _userFactors);
        RecommenderPersistence.WriteFloats(writer, _songFactors);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static ImplicitMatrixFactorizationModel Load(AudioStageReader stage)
    {
        var r = stage.Reader;
        var (user, song, training) = RecommenderPersistence.ReadHeader(r);
        int rank = r.ReadInt32();
        bool cuda = r.ReadBoolean();
        double lambda = r.ReadDouble();
        double alpha = r.ReadDouble();
        int rounds = r.ReadInt32();
        if (rank < 1 || rounds < 0 || rounds > (r.BaseStream.Length - r.BaseStream.Position) / sizeof(double)
            || !double.IsFinite(lambda) || lambda < 0 || !double.IsFinite(alpha) || alpha < 0)
        {
            throw new InvalidDataException($"its settings are impossible (rank {rank}, {rounds} training rounds, lambda {lambda}, alpha {alpha})");
        }

        var losses = new double[rounds];
        for (int i = 0; i < rounds; i++)
        {
            losses[i] = r.ReadDouble();
        }

        var userFactors = RecommenderPersistence.ReadFloats(r, "the user factors", (long)training.UserCount * rank);
        var songFactors = RecommenderPersistence.ReadFloats(r, "the song factors", (long)training.SongCount * rank);
        if (userFactors.Any(v => !float.IsFinite(v)) || songFactors.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidDataException("a factor is not a finite number");
        }

        var device = ImplicitMatrixFactorizationTrainer.PickDevice(cuda);
        return new ImplicitMatrixFactorizationModel(user, song, training, userFactors, songFactors, rank, device.type, losses)
        {
            Lambda = lambda,
            Alpha = alpha,
        };
    }

    /// <summary>True when the user played at least one song in training (else the user has no factors).</summary>
    public bool HasUserFactors(uint userKey) => userKey >= 1 && userKey <= UserCount && Training.SongsOf((int)userKey - 1).Length > 0;

    /// <summary>A copy of the user's factors (zeros for a user without plays).</summary>
    public float[] GetUserFactors(uint userKey) => Row(_userFactors, userKey, UserCount, nameof(userKey));

    /// <summary>A copy of the song's factors (zeros for a cold song; check <see cref="SongRecommenderModel.IsSongKnown"/>).</summary>
    public float[] GetSongFactors(uint songKey) => Row(_songFactors, songKey, SongCount, nameof(songKey));

    /// <summary>
    /// Fold-in: the factors of a user described only by their plays (a new user, or new plays), without retraining —
    /// one user half-step against the trained song factors, x = (YᵀY + Yᵀ(C − I)Y + λI)⁻¹ Yᵀ C p. Plays of songs
    /// without factors (cold songs) and non-positive counts add nothing; repeated songs add up.
    /// </summary>
    /// <param name="plays">The user's (song key, play count) pairs.</param>
    /// <exception cref="ArgumentOutOfRangeException">A song key is outside 1 .. SongCount.</exception>
    public float[] FoldInUser(IEnumerable<(uint SongKey, float Plays)> plays)
    {
        ArgumentNullException.ThrowIfNull(plays);
        int f = ApproximationRank;
        var counts = new Dictionary<int, double>();
        foreach (var (key, r) in plays)
        {
            if (key < 1 || key > SongCount)
            {
                throw new ArgumentOutOfRangeException(nameof(plays), key, $"Song keys run from 1 to {SongCount}.");
            }

            if (!float.IsFinite(r))
            {
                throw new ArgumentOutOfRangeException(nameof(plays), r, $"Song {key} has a non-finite play count; give finite counts (0 or more).");
            }

            if (r > 0)
            {
                counts[(int)key - 1] = counts.GetValueOrDefault((int)key - 1) + r;
            }
        }

        // Small f x f system in double: a Cholesky solve by hand costs microseconds and needs no tensors.
        var a = (double[,])SongGram().Clone();
        var b = new double[f];
        for (int i = 0; i < f; i++)
        {
            a[i, i] += Lambda;
        }

        foreach (var (song, r) in counts)
        {
            var y = _songFactors.AsSpan(song * f, f);
            double c = 1 + Alpha * r;
            for (int i = 0; i < f; i++)
            {
                for (int j = 0; j < f; j++)
                {
                    a[i, j] += (c - 1) * y[i] * y[j];
                }

                b[i] += c * y[i];
            }
        }

        var vector = CholeskySolve(a, b).Select(v => (float)v).ToArray();
        int bad = Array.FindIndex(vector, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new NonFiniteTrainingException("ImplicitMatrixFactorization fold-in", null, null, "fold-in user factor", vector[bad],
                "The new user's play counts times Alpha overflow float, or the model's song factors are not finite.");
        }

        return vector;
    }

    /// <summary>
    /// Recommends the top <paramref name="k"/> songs to a user described only by <paramref name="plays"/> (see
    /// <see cref="FoldInUser"/>), leaving out the songs in <paramref name="plays"/> unless
    /// <paramref name="excludeAlreadyPlayed"/> is false, and songs without factors.
    /// </summary>
    public IReadOnlyList<SongRecommendation> RecommendForPlays(IEnumerable<(uint SongKey, float Plays)> plays, int k = 10, bool excludeAlreadyPlayed = true)
    {
        ArgumentNullException.ThrowIfNull(plays);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var list = plays.ToList();
        var x = FoldInUser(list);
        int f = ApproximationRank;
        var scores = new float[SongCount];
        for (int s = 0; s < SongCount; s++)
        {
            if (!IsSongKnown((uint)s + 1))
            {
                scores[s] = float.NegativeInfinity;
                continue;
            }

            float dot = 0;
            for (int j = 0; j < f; j++)
            {
                dot += x[j] * _songFactors[s * f + j];
            }

            scores[s] = dot;
        }

        if (excludeAlreadyPlayed)
        {
            scores = TopKMetrics.ExcludeAlreadyPlayed(scores, list.Where(p => p.Plays > 0).Select(p => (int)p.SongKey - 1));
        }

        return TopKMetrics.TopK(scores, k).Select(s => new SongRecommendation((uint)s + 1, scores[s])).ToArray();
    }

    private double[,]? _songGram;

    /// <summary>YᵀY over all songs, computed once.</summary>
    private double[,] SongGram()
    {
        if (_songGram is not null)
        {
            return _songGram;
        }

        int f = ApproximationRank;
        var gram = new double[f, f];
        for (int s = 0; s < SongCount; s++)
        {
            for (int i = 0; i < f; i++)
            {
                double yi = _songFactors[s * f + i];
                for (int j = 0; j < f; j++)
                {
                    gram[i, j] += yi * _songFactors[s * f + j];
                }
            }
        }

        return _songGram = gram;
    }

    private static double[] CholeskySolve(double[,] a, double[] b)
    {
        int n = b.Length;
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i, j];
                for (int k = 0; k < j; k++)
                {
                    sum -= l[i, k] * l[j, k];
                }

                l[i, j] = i == j ? Math.Sqrt(sum) : sum / l[j, j];
            }
        }

        var z = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = b[i];
            for (int k = 0; k < i; k++)
            {
                sum -= l[i, k] * z[k];
            }

            z[i] = sum / l[i, i];
        }

        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double sum = z[i];
            for (int k = i + 1; k < n; k++)
            {
                sum -= l[k, i] * x[k];
            }

            x[i] = sum / l[i, i];
        }

        return x;
    }

    private protected override IReadOnlyList<OutputColumn> ExtraOutputs => [Outputs[1]];

    private protected override Device ComputeDevice => _device == DeviceType.CUDA ? CUDA : CPU;

    private protected override bool ExtraFlag(int extra, int user, int song) =>
        IsSongKnown((uint)song + 1) && Training.SongsOf(user).Length > 0;

    private protected override float ScorePair(int user, int song)
    {
        float dot = 0;
        int f = ApproximationRank;
        for (int j = 0; j < f; j++)
        {
            dot += _userFactors[user * f + j] * _songFactors[song * f + j];
        }

        return dot;
    }

    private protected override Tensor ScoreBlock(int firstUser, int count)
    {
        int f = ApproximationRank;
        // Clones live in libtorch's aligned memory: a product over pinned managed arrays rounds by their alignment,
        // which varies from process to process.
        var users = tensor(_userFactors.AsSpan(firstUser * f, count * f).ToArray(), [count, f]).clone().to(ComputeDevice);
        var songs = SongTensor();
        return users.matmul(songs.t());
    }

    private Tensor SongTensor() => tensor(_songFactors, [SongCount, ApproximationRank]).clone().to(ComputeDevice);

    private float[] Row(float[] factors, uint key, int count, string name)
    {
        if (key < 1 || key > count)
        {
            throw new ArgumentOutOfRangeException(name, key, $"Keys run from 1 to {count}.");
        }

        return factors.AsSpan((int)(key - 1) * ApproximationRank, ApproximationRank).ToArray();
    }
}

/// <summary>
/// The weighted-ALS solver on tensors. Internal so tests can check one half-step against a closed-form solve.
/// </summary>
internal sealed class ImplicitAls : IDisposable
{
    /// <summary>The name <see cref="NonFiniteTrainingException"/> gives the trainer.</summary>
    public const string TrainerName = "ImplicitMatrixFactorization";

    // Bound on floats gathered per batch (users x longest play list x factors): about 64 MB of float32.
    private const long GatherBudget = 16_000_000;

    private readonly int _rank;
    private readonly float _lambda;
    private readonly float _alpha;
    private readonly List<Batch> _userBatches;
    private readonly List<Batch> _songBatches;
    private readonly Tensor _observedUsers;
    private readonly Tensor _observedSongs;
    private readonly Tensor _observedPlays;

    public ImplicitAls(PlayMatrix plays, int rank, float lambda, float alpha, int seed, Device device)
    {
        Plays = plays;
        Device = device;
        _rank = rank;
        _lambda = lambda;
        _alpha = alpha;

        // Uniform [0, 0.01) like the implicit library, from System.Random so the model depends on the seed only.
        var random = new Random(seed);
        UserFactors = tensor(Init(random, plays.UserCount * rank), [plays.UserCount, rank], device: device);
        SongFactors = tensor(Init(random, plays.SongCount * rank), [plays.SongCount, rank], device: device);

        _userBatches = MakeBatches(plays.UserCount, plays.UserStart, plays.SongIndex, plays.Plays, rank, device);
        _songBatches = MakeBatches(plays.SongCount, plays.SongStart, plays.UserIndex, plays.SongPlays, rank, device);

        var users = new long[plays.NonZeroCount];
        for (int u = 0; u < plays.UserCount; u++)
        {
            for (int p = plays.UserStart[u]; p < plays.UserStart[u + 1]; p++)
            {
                users[p] = u;
            }
        }

        _observedUsers = tensor(users, device: device);
        _observedSongs = tensor(plays.SongIndex.Select(s => (long)s).ToArray(), device: device);
        _observedPlays = tensor(plays.Plays, device: device);
    }

    public PlayMatrix Plays { get; }

    public Device Device { get; }

    /// <summary>0 for exact solves; otherwise conjugate-gradient steps per half-step, warm-started.</summary>
    public int ConjugateGradientSteps { get; init; }

    public Tensor UserFactors { get; private set; }

    public Tensor SongFactors { get; private set; }

    /// <summary>The user half-step: every user's factors given the song factors.</summary>
    /// <param name="round">1-based alternating round, for the message of a <see cref="NonFiniteTrainingException"/>; null when outside a Fit.</param>
    public void SolveUsers(int? round = null)
    {
        var next = Solve(SongFactors, _userBatches, Plays.UserCount, UserFactors, round, "user factors");
        UserFactors.Dispose();
        UserFactors = next;
    }

    /// <summary>The song half-step: every song's factors given the user factors.</summary>
    /// <param name="round">1-based alternating round, for the message of a <see cref="NonFiniteTrainingException"/>; null when outside a Fit.</param>
    public void SolveSongs(int? round = null)
    {
        var next = Solve(UserFactors, _songBatches, Plays.SongCount, SongFactors, round, "song factors");
        SongFactors.Dispose();
        SongFactors = next;
    }

    /// <summary>Replaces the song factors (tests start a half-step from known values).</summary>
    public void SetSongFactors(float[] values)
    {
        SongFactors.Dispose();
        SongFactors = tensor(values, [Plays.SongCount, _rank], device: Device);
    }

    /// <summary>
    /// Hu et al.'s objective: sum over all (u, i) of c_ui (p_ui − x_uᵀy_i)² + λ(Σ‖x_u‖² + Σ‖y_i‖²), computed as the
    /// all-zero-preference term trace(XᵀX YᵀY) plus a correction over the observed pairs only.
    /// </summary>
    public double Loss()
    {
        using var scope = NewDisposeScope();
        var x = UserFactors;
        var y = SongFactors;
        using var alpha = _alpha.ToScalar();
        using var lambda = _lambda.ToScalar();
        var allPairs = (x.t().matmul(x) * y.t().matmul(y)).sum();
        var s = (x.index_select(0, _observedUsers) * y.index_select(0, _observedSongs)).sum(1);
        var c = _observedPlays.mul(alpha).add(TorchScalars.One, TorchScalars.One);
        var correction = (c * s.negative().add(TorchScalars.One, TorchScalars.One).pow(TorchScalars.Two) - s.pow(TorchScalars.Two)).sum();
        var regulariser = x.pow(TorchScalars.Two).sum().add(y.pow(TorchScalars.Two).sum(), TorchScalars.One).mul(lambda);
        return allPairs.add(correction, TorchScalars.One).add(regulariser, TorchScalars.One).to_type(ScalarType.Float64).cpu().item<double>();
    }

    public float[] UserFactorsArray() => UserFactors.cpu().data<float>().ToArray();

    public float[] SongFactorsArray() => SongFactors.cpu().data<float>().ToArray();

    public void Dispose()
    {
        UserFactors.Dispose();
        SongFactors.Dispose();
        _observedUsers.Dispose();
        _observedSongs.Dispose();
        _observedPlays.Dispose();
        foreach (var b in _userBatches.Concat(_songBatches))
        {
            b.Dispose();
        }
    }

    private Tensor Solve(Tensor fixedFactors, List<Batch> batches, int rows, Tensor previous, int? round, string solved)
    {
        // Rows with no plays keep zero factors: their system has a zero right-hand side.
        var result = zeros([rows, _rank], device: Device);
        using var scope = NewDisposeScope();
        using var alpha = _alpha.ToScalar();
        using var lambda = _lambda.ToScalar();
        var gram = fixedFactors.t().matmul(fixedFactors).add(eye(_rank, device: Device).mul(lambda), TorchScalars.One);
        for (int batchIndex = 0; batchIndex < batches.Count; batchIndex++)
        {
            var b = batches[batchIndex];
            using var batchScope = NewDisposeScope();
            long n = b.Rows.shape[0];
            long width = b.Index.shape[1];
            var gathered = fixedFactors.index_select(0, b.Index.view(-1)).view(n, width, _rank);

            // Yᵀ C_u p(u) over the played songs (padding has confidence 0).
            var confidence = b.Plays.mul(alpha).add(TorchScalars.One, TorchScalars.One) * b.Mask;
            var rhs = gathered.transpose(1, 2).bmm(confidence.unsqueeze(2));
            var weights = b.Plays.mul(alpha);
            Tensor solution;
            if (ConjugateGradientSteps == 0)
            {
                // YᵀY + λI + Yᵀ(C_u − I)Y, the last term over the played songs only.
                var a = gram.unsqueeze(0).add((gathered.transpose(1, 2) * weights.unsqueeze(1)).bmm(gathered), TorchScalars.One);

                // cholesky_ex reports a failed factorization instead of throwing LAPACK's message; with λ > 0 the system
                // is positive definite, so a failure means the numbers overflowed or are wrong.
                var (factor, info) = linalg.cholesky_ex(a);
                if (info.ne(TorchScalars.Zero).any().cpu().item<bool>())
                {
                    throw new NonFiniteTrainingException(TrainerName, round, batchIndex + 1, $"{solved}' system", double.NaN,
                        "Its Cholesky factorization failed (not positive definite, which with Lambda > 0 means overflowing or wrong numbers).");
                }

                solution = cholesky_solve(rhs, factor).squeeze(2);
            }
            else
            {
                solution = ConjugateGradient(gram, gathered, weights, rhs.squeeze(2), previous.index_select(0, b.Rows));
            }

            var bad = solution.isfinite().logical_not();
            if (bad.any().cpu().item<bool>())
            {
                throw new NonFiniteTrainingException(TrainerName, round, batchIndex + 1, solved, solution.masked_select(bad)[0].to(ScalarType.Float64).cpu().item<double>());
            }

            result.index_copy_(0, b.Rows, solution);
        }

        return result;
    }

    /// <summary>
    /// Batched conjugate gradient on A x = b with A x = (YᵀY + λI) x + Yᵀ(C_u − I)(Y x), never forming A: each step
    /// costs one f x f product per row plus one pass over the row's plays.
    /// </summary>
    private Tensor ConjugateGradient(Tensor gram, Tensor gathered, Tensor weights, Tensor rhs, Tensor x)
    {
        Tensor Apply(Tensor v) =>
            v.matmul(gram).add(gathered.transpose(1, 2).bmm(gathered.bmm(v.unsqueeze(2)) * weights.unsqueeze(2)).squeeze(2), TorchScalars.One);

        var r = rhs - Apply(x);
        var p = r;
        var rs = (r * r).sum(1, keepdim: true);
        for (int step = 0; step < ConjugateGradientSteps; step++)
        {
            var ap = Apply(p);

            // Converged rows have rs = 0; the floor keeps them at rest instead of dividing 0 by 0.
            var stepSize = rs / (p * ap).sum(1, keepdim: true).clamp_min(TorchScalars.TinyDouble);
            x = x.add(stepSize * p, TorchScalars.One);
            r = r - stepSize * ap;
            var next = (r * r).sum(1, keepdim: true);
            p = r.add(next / rs.clamp_min(TorchScalars.TinyDouble) * p, TorchScalars.One);
            rs = next;
        }

        return x;
    }

    private static float[] Init(Random random, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (float)(random.NextDouble() * 0.01);
        }

        return values;
    }

    /// <summary>Groups rows (users or songs) of similar play count so that padding to the longest list wastes little.</summary>
    private static List<Batch> MakeBatches(int rows, int[] start, int[] index, float[] plays, int rank, Device device)
    {
        var order = Enumerable.Range(0, rows).Where(r => start[r + 1] > start[r]).OrderByDescending(r => start[r + 1] - start[r]).ToArray();
        var batches = new List<Batch>();
        for (int first = 0; first < order.Length;)
        {
            int width = start[order[first] + 1] - start[order[first]];
            int limit = (int)Math.Clamp(GatherBudget / ((long)width * rank), 1, order.Length - first);

            // A batch holds only rows at least 70% as long as its longest, so padding wastes under a third of the work.
            int count = 1;
            while (count < limit && (start[order[first + count] + 1] - start[order[first + count]]) * 10 >= width * 7)
            {
                count++;
            }

            var idx = new long[count * width];
            var values = new float[count * width];
            var mask = new float[count * width];
            for (int r = 0; r < count; r++)
            {
                int row = order[first + r];
                for (int p = start[row], j = 0; p < start[row + 1]; p++, j++)
                {
                    idx[r * width + j] = index[p];
                    values[r * width + j] = plays[p];
                    mask[r * width + j] = 1;
                }
            }

            batches.Add(new Batch(
                tensor(order.AsSpan(first, count).ToArray().Select(r => (long)r).ToArray(), device: device),
                tensor(idx, [count, width], device: device),
                tensor(values, [count, width], device: device),
                tensor(mask, [count, width], device: device)));
            first += count;
        }

        return batches;
    }

    private sealed record Batch(Tensor Rows, Tensor Index, Tensor Plays, Tensor Mask) : IDisposable
    {
        public void Dispose()
        {
            Rows.Dispose();
            Index.Dispose();
            Plays.Dispose();
            Mask.Dispose();
        }
    }
}
