using System.Numerics.Tensors;
using TorchSharp;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Weighted ALS with conjugate-gradient solves on the CPU, one user (or song) at a time over its own plays, in managed
/// code: the path <see cref="ImplicitMatrixFactorizationTrainer"/> takes on the CPU when
/// <see cref="ImplicitMatrixFactorizationOptions.ConjugateGradientSteps"/> is positive.
/// </summary>
/// <remarks>
/// <para>
/// Written by hand because no served library solves Hu et al.'s implicit-feedback ALS (ML.NET's LIBMF one-class mode is a
/// different model) and because the tensor path (<see cref="ImplicitAls"/>) pads every user's play list to a batch's
/// longest and gathers the factors of every play into one tensor, which at last.fm-360k scale (17.5 M plays) costs
/// gigabytes and most of its time in copies. The algorithm is the one of Takács, Pilászy and Tikk ("Applications of
/// the conjugate gradient method for implicit feedback collaborative filtering", RecSys 2011), as the <c>implicit</c>
/// library runs it: per row u, warm-started from the current factors x, with A = YᵀY + λI + Yᵀ(C_u − I)Y and
/// b = Yᵀ C_u p(u), never forming A:
/// <code>
/// r = b − A x = Σ_i (c_ui − (c_ui − 1) y_iᵀx) y_i − (YᵀY + λI) x        (i over the songs u played)
/// repeat n times: Ap = (YᵀY + λI) p + Σ_i (c_ui − 1)(y_iᵀp) y_i;  a = rᵀr / pᵀAp;  x += a p;  r −= a Ap;  p = r + (r'ᵀr' / rᵀr) p
/// </code>
/// Each step costs one f x f product plus two length-f passes per play, so a half-step is linear in the plays. The
/// vector kernels are <see cref="TensorPrimitives"/> (System.Numerics.Tensors), which pick AVX-512, AVX2 or scalar code
/// for the machine; YᵀY and the loss are summed over a fixed partition of the rows, so the result does not depend on
/// the number of threads.
/// </para>
/// </remarks>
internal sealed class ConjugateGradientAls : IAlsSolver
{
    // Below this squared residual norm a row counts as solved (implicit's threshold).
    private const float Converged = 1e-20f;

    // Rows per work item of the parallel loops and per partial sum of the Gram matrix and the loss: fixed, so sums do
    // not depend on the thread count.
    private const int RowsPerChunk = 1024;

    private readonly int _rank;
    private readonly float _lambda;
    private readonly float _alpha;
    private readonly ParallelOptions _parallel;
    private float[] _users;
    private float[] _songs;

    public ConjugateGradientAls(PlayMatrix plays, int rank, float lambda, float alpha, int seed, int steps, int? threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        Plays = plays;
        _rank = rank;
        _lambda = lambda;
        _alpha = alpha;
        Steps = steps;
        _parallel = new ParallelOptions { MaxDegreeOfParallelism = threads ?? Environment.ProcessorCount };

        // The same initial factors as ImplicitAls: uniform [0, 0.01) from System.Random, users then songs.
        var random = new Random(seed);
        _users = ImplicitAls.Init(random, checked(plays.UserCount * rank));
        _songs = ImplicitAls.Init(random, checked(plays.SongCount * rank));
    }

    public PlayMatrix Plays { get; }

    /// <summary>Conjugate-gradient steps per row and half-step.</summary>
    public int Steps { get; }

    public torch.Device Device => torch.CPU;

    public void SolveUsers(int? round = null) =>
        Solve(_users, _songs, Plays.UserCount, Plays.UserStart, Plays.SongIndex, Plays.Plays, round, "user factors");

    public void SolveSongs(int? round = null) =>
        Solve(_songs, _users, Plays.SongCount, Plays.SongStart, Plays.UserIndex, Plays.SongPlays, round, "song factors");

    public void SetSongFactors(float[] values)
    {
        if (values.Length != _songs.Length)
        {
            throw new ArgumentException($"Expected {_songs.Length} song factors; found {values.Length}.", nameof(values));
        }

        _songs = (float[])values.Clone();
    }

    public float[] UserFactorsArray() => (float[])_users.Clone();

    public float[] SongFactorsArray() => (float[])_songs.Clone();

    /// <summary>Hu et al.'s objective, as <see cref="ImplicitAls.Loss"/> defines it, summed in double.</summary>
    public double Loss()
    {
        int f = _rank;
        var userGram = Gram(_users, Plays.UserCount);
        var songGram = Gram(_songs, Plays.SongCount);
        double allPairs = 0;
        for (int i = 0; i < f * f; i++)
        {
            allPairs += userGram[i] * songGram[i];
        }

        // Observed pairs: c (1 − s)² − s² replaces the all-zero term's s², per user chunk, summed in chunk order.
        int chunks = (Plays.UserCount + RowsPerChunk - 1) / RowsPerChunk;
        var partial = new double[chunks];
        Parallel.For(0, chunks, _parallel, chunk =>
        {
            double sum = 0;
            int end = Math.Min(Plays.UserCount, (chunk + 1) * RowsPerChunk);
            for (int u = chunk * RowsPerChunk; u < end; u++)
            {
                var x = _users.AsSpan(u * f, f);
                for (int p = Plays.UserStart[u]; p < Plays.UserStart[u + 1]; p++)
                {
                    double s = TensorPrimitives.Dot(x, _songs.AsSpan(Plays.SongIndex[p] * f, f));
                    double c = 1 + ((double)_alpha * Plays.Plays[p]);
                    sum += (c * (1 - s) * (1 - s)) - (s * s);
                }
            }

            partial[chunk] = sum;
        });

        double regulariser = _lambda * (SumOfSquares(_users) + SumOfSquares(_songs));
        return allPairs + partial.Sum() + regulariser;
    }

    public void Dispose()
    {
    }

    private void Solve(float[] target, float[] fixedFactors, int rows, int[] start, int[] index, float[] counts, int? round, string solved)
    {
        int f = _rank;
        var gramDouble = Gram(fixedFactors, fixedFactors.Length / f);
        var gram = new float[f * f];
        for (int i = 0; i < f; i++)
        {
            for (int j = 0; j < f; j++)
            {
                gram[(i * f) + j] = (float)gramDouble[(i * f) + j] + (i == j ? _lambda : 0);
            }
        }

        int chunks = (rows + RowsPerChunk - 1) / RowsPerChunk;
        Parallel.For(0, chunks, _parallel, () => new float[3 * f], (chunk, _, buffers) =>
        {
            var r = buffers.AsSpan(0, f);
            var p = buffers.AsSpan(f, f);
            var ap = buffers.AsSpan(2 * f, f);
            int end = Math.Min(rows, (chunk + 1) * RowsPerChunk);
            for (int row = chunk * RowsPerChunk; row < end; row++)
            {
                var x = target.AsSpan(row * f, f);
                int first = start[row], last = start[row + 1];
                if (first == last)
                {
                    // No plays: the system's right-hand side is 0, so is its solution (as in the exact solve).
                    x.Clear();
                    continue;
                }

                // r = b − A x.
                MatVec(gram, x, r);
                TensorPrimitives.Negate(r, r);
                for (int q = first; q < last; q++)
                {
                    var y = fixedFactors.AsSpan(index[q] * f, f);
                    float extra = _alpha * counts[q];
                    TensorPrimitives.MultiplyAdd(y, 1 + extra - (extra * TensorPrimitives.Dot(y, x)), r, r);
                }

                r.CopyTo(p);
                float rs = TensorPrimitives.Dot(r, r);
                for (int step = 0; step < Steps && rs >= Converged; step++)
                {
                    MatVec(gram, p, ap);
                    for (int q = first; q < last; q++)
                    {
                        var y = fixedFactors.AsSpan(index[q] * f, f);
                        TensorPrimitives.MultiplyAdd(y, _alpha * counts[q] * TensorPrimitives.Dot(y, p), ap, ap);
                    }

                    float a = rs / TensorPrimitives.Dot(p, ap);
                    TensorPrimitives.MultiplyAdd(p, a, x, x);
                    TensorPrimitives.MultiplyAdd(ap, -a, r, r);
                    float next = TensorPrimitives.Dot(r, r);
                    TensorPrimitives.MultiplyAdd(p, next / rs, r, p);
                    rs = next;
                }
            }

            return buffers;
        }, _ => { });

        int bad = Array.FindIndex(target, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new NonFiniteTrainingException(ImplicitAls.TrainerName, round, null, solved, target[bad],
                $"Row {bad / f} went non-finite in its conjugate-gradient solve: the play counts times Alpha overflow float, or Lambda is too small for the data.");
        }
    }

    /// <summary>out = G v for a symmetric f x f matrix G stored by rows.</summary>
    private void MatVec(float[] gram, ReadOnlySpan<float> v, Span<float> result)
    {
        int f = _rank;
        for (int i = 0; i < f; i++)
        {
            result[i] = TensorPrimitives.Dot(gram.AsSpan(i * f, f), v);
        }
    }

    /// <summary>MᵀM of a rows x f matrix, in double, summed over a fixed partition of the rows.</summary>
    private double[] Gram(float[] matrix, int rows)
    {
        int f = _rank;
        int chunks = (rows + RowsPerChunk - 1) / RowsPerChunk;
        var partial = new float[chunks][];
        Parallel.For(0, chunks, _parallel, chunk =>
        {
            var g = new float[f * f];
            int end = Math.Min(rows, (chunk + 1) * RowsPerChunk);
            for (int row = chunk * RowsPerChunk; row < end; row++)
            {
                var m = matrix.AsSpan(row * f, f);
                for (int i = 0; i < f; i++)
                {
                    var line = g.AsSpan(i * f, f);
                    TensorPrimitives.MultiplyAdd(m, m[i], line, line);
                }
            }

            partial[chunk] = g;
        });

        var sum = new double[f * f];
        foreach (var g in partial)
        {
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += g[i];
            }
        }

        return sum;
    }

    private static double SumOfSquares(float[] values)
    {
        double sum = 0;
        for (int start = 0; start < values.Length; start += RowsPerChunk * 64)
        {
            sum += TensorPrimitives.SumOfSquares(values.AsSpan(start, Math.Min(RowsPerChunk * 64, values.Length - start)));
        }

        return sum;
    }
}
