using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The van den Oord et al. (2013) variant: learn to predict a song's matrix-factorization item factors from its
/// audio, so a cold song (no plays, no factors) gets factors and MF-style scores (user factors · predicted factors).
/// Here the audio side is the multi-user encoder's song embedding (the mean of its window embeddings) plus a
/// constant, and the map to the factors is ridge regression fitted on the warm songs (those with factors).
/// </summary>
/// <remarks>
/// van den Oord et al. trained a CNN end to end to regress the factors; this variant reuses the encoder trained on
/// plays and fits only a linear map, in closed form (a (size+1)-square solve), so it costs nothing next to training.
/// Written by hand: a few lines of linear algebra on TorchSharp.
/// </remarks>
public sealed class AudioFactorRegressionModel : IUserSongScorer
{
    private const string TrainerName = "AudioFactorRegression";
    private readonly float[] _userFactors;
    private readonly float[] _predicted;

    private AudioFactorRegressionModel(int users, int songs, int rank, float[] userFactors, float[] predicted)
    {
        UserCount = users;
        SongCount = songs;
        Rank = rank;
        _userFactors = userFactors;
        _predicted = predicted;
    }

    /// <inheritdoc/>
    public int UserCount { get; }

    /// <inheritdoc/>
    public int SongCount { get; }

    /// <summary>Number of factors.</summary>
    public int Rank { get; }

    /// <summary>
    /// Fits the regression from <paramref name="audio"/>'s song embeddings to <paramref name="factors"/>' song
    /// factors over the songs with training plays, and predicts factors for every song.
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
        if (factors.SongCount != audio.SongCount || factors.UserCount != audio.UserCount)
        {
            throw new ArgumentException($"The factorization has {factors.UserCount} users x {factors.SongCount} songs, the audio model {audio.UserCount} x {audio.SongCount}; train both on the same keys.", nameof(audio));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(ridge);
        if (!double.IsFinite(ridge))
        {
            // An infinite ridge makes the Gram matrix inf and NaN (0 x inf off the diagonal), which LAPACK rejects cryptically.
            throw new ArgumentOutOfRangeException(nameof(ridge), ridge, "The ridge penalty must be a finite number (0 or more).");
        }

        int songs = factors.SongCount, rank = factors.ApproximationRank, size = audio.EmbeddingSize + 1;
        var x = new float[songs * size];
        var y = new float[songs * rank];
        var warm = new List<long>();
        for (int s = 0; s < songs; s++)
        {
            var e = audio.GetSongEmbedding((uint)s + 1);
            e.CopyTo(x, s * size);
            x[(s * size) + size - 1] = 1;
            if (factors.IsSongKnown((uint)s + 1))
            {
                factors.GetSongFactors((uint)s + 1).CopyTo(y, s * rank);
                warm.Add(s);
            }
        }

        if (warm.Count == 0)
        {
            throw new ArgumentException("The factorization knows no song (no training plays); there is nothing to regress.", nameof(factors));
        }

        var predicted = Regress(x, y, warm.ToArray(), size, rank, ridge);
        var users = new float[factors.UserCount * rank];
        for (int u = 0; u < factors.UserCount; u++)
        {
            factors.GetUserFactors((uint)u + 1).CopyTo(users, u * rank);
        }

        return new AudioFactorRegressionModel(factors.UserCount, songs, rank, users, predicted);
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
        if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > UserCount || destination.Length < userCount * (long)SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} (x {SongCount} songs) do not fit {UserCount} users or a destination of {destination.Length}.");
        }

        using var scope = NewDisposeScope();
        // Clones live in libtorch's aligned memory: a product over pinned managed arrays rounds by their alignment,
        // which varies from process to process.
        var u = tensor(_userFactors.AsSpan(firstUser * Rank, userCount * Rank).ToArray(), [userCount, Rank]).clone();
        var v = tensor(_predicted, [SongCount, Rank]).clone();
        u.matmul(v.t()).data<float>().CopyTo(destination);
    }

    /// <summary>
    /// Writes the model (saved inside a hybrid ranker's file, see <c>ml.Audio().Model.SaveHybridRanker</c>):
    /// int32 users, int32 songs, int32 rank, float[] userFactors (users x rank), float[] predicted (songs x rank),
    /// little-endian, arrays as <see cref="RecommenderPersistence"/> writes them.
    /// </summary>
    internal void Save(BinaryWriter writer)
    {
        writer.Write(UserCount);
        writer.Write(SongCount);
        writer.Write(Rank);
        RecommenderPersistence.WriteFloats(writer, _userFactors);
        RecommenderPersistence.WriteFloats(writer, _predicted);
    }

    /// <summary>Reads what <see cref="Save"/> wrote.</summary>
    /// <exception cref="InvalidDataException">The sizes are impossible or a value is not finite.</exception>
    internal static AudioFactorRegressionModel Load(BinaryReader reader)
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

        return new AudioFactorRegressionModel(users, songs, rank, userFactors, predicted);
    }
}
