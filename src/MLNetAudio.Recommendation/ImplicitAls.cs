using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The weighted-ALS solver on tensors. Internal so tests can check one half-step against a closed-form solve.
/// </summary>
internal sealed class ImplicitAls : IAlsSolver
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

    /// <summary>n values uniform in [0, 0.01), like the implicit library's initial factors.</summary>
    internal static float[] Init(Random random, int n)
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
