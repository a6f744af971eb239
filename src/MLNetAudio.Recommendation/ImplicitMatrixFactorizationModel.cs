using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

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

    // Where training ran (tests check the Device option).
    internal DeviceType TrainedOn => _device;

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
        return users.matmul(SongTensor().t());
    }

    private protected override bool ScoreBlockIsWritable => true;

    private FactorTopK.PackedSongs? _packedSongs;

    /// <summary>
    /// On the CPU: the fused product and selection of <see cref="FactorTopK"/> (no score matrix), on as many threads
    /// as libtorch's setting (<c>torch.set_num_threads</c>), so the thread knob users know keeps working.
    /// </summary>
    private protected override IReadOnlyList<SongRecommendation>[]? RecommendWithoutScoreMatrix(int firstUser, int userCount, int k, bool excludeAlreadyPlayed, bool[] songKnown)
    {
        if (ComputeDevice.type != DeviceType.CPU)
        {
            return null;
        }

        var packed = LazyInitializer.EnsureInitialized(ref _packedSongs, () => FactorTopK.Pack(_songFactors, SongCount, ApproximationRank));
        return FactorTopK.Recommend(_userFactors, ApproximationRank, packed, SongCount, firstUser, userCount, k, songKnown,
            excludeAlreadyPlayed ? Training : null, torch.get_num_threads());
    }

    private Tensor? _songTensor;

    /// <summary>
    /// The song factors as a tensor on the compute device, made once per model (not per block: at 160,000 songs a
    /// copy per block of users cost more than the product). Outside every dispose scope, so it lives with the model.
    /// </summary>
    private Tensor SongTensor()
    {
        lock (_songFactors)
        {
            if (_songTensor is null)
            {
                using var scope = NewDisposeScope();
                _songTensor = tensor(_songFactors, [SongCount, ApproximationRank]).clone().to(ComputeDevice).DetachFromDisposeScope();
            }

            return _songTensor;
        }
    }

    private float[] Row(float[] factors, uint key, int count, string name)
    {
        if (key < 1 || key > count)
        {
            throw new ArgumentOutOfRangeException(name, key, $"Keys run from 1 to {count}.");
        }

        return factors.AsSpan((int)(key - 1) * ApproximationRank, ApproximationRank).ToArray();
    }
}
