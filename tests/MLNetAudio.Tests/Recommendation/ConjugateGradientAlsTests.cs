using Microsoft.ML;
using MLNetAudio.Scoring;
using MLNetAudio.Recommendation;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>The managed conjugate-gradient ALS solver against closed-form solves, the tensor solver and itself.</summary>
public sealed class ConjugateGradientAlsTests
{
    /// <summary>A random users x songs log with about <paramref name="perUser"/> plays each; some songs stay cold.</summary>
    private static PlayMatrix RandomPlays(int users, int songs, int perUser, int seed)
    {
        var random = new Random(seed);
        var triples = new List<(int, int, float)>();
        for (int u = 0; u < users; u++)
        {
            int n = random.Next(perUser * 2);
            for (int j = 0; j < n; j++)
            {
                // Song indices skewed toward the front; the last tenth is never played.
                int s = (int)(songs * 0.9 * Math.Pow(random.NextDouble(), 2));
                triples.Add((u, s, 1 + random.Next(20)));
            }
        }

        return PlayMatrix.FromTriples(users, songs, triples);
    }

    private static double[,] ToMatrix(float[] flat, int rows, int rank)
    {
        var m = new double[rows, rank];
        for (int i = 0; i < flat.Length; i++)
        {
            m[i / rank, i % rank] = flat[i];
        }

        return m;
    }

    private static float[] DenseRow(PlayMatrix plays, int user)
    {
        var row = new float[plays.SongCount];
        var songs = plays.SongsOf(user);
        var counts = plays.PlaysOf(user);
        for (int j = 0; j < songs.Length; j++)
        {
            row[songs[j]] = counts[j];
        }

        return row;
    }

    private static float[] RandomFactors(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(8, 2)]
    [InlineData(16, 3)]
    public void WithAsManyStepsAsFactorsEachUserReachesTheClosedFormSolve(int rank, int seed)
    {
        var plays = RandomPlays(users: 50, songs: 70, perUser: 6, seed);
        var y = RandomFactors(plays.SongCount * rank, seed + 100);
        using var als = new ConjugateGradientAls(plays, rank, lambda: 0.5f, alpha: 2f, seed, steps: 3 * rank, threads: 2);
        als.SetSongFactors(y);
        als.SolveUsers();
        var x = als.UserFactorsArray();
        var songMatrix = ToMatrix(y, plays.SongCount, rank);
        for (int u = 0; u < plays.UserCount; u++)
        {
            var expected = ImplicitMatrixFactorizationTests.ClosedForm(songMatrix, DenseRow(plays, u), lambda: 0.5, alpha: 2);
            double scale = Math.Max(1, expected.Max(Math.Abs));
            for (int j = 0; j < rank; j++)
            {
                Assert.True(Math.Abs(expected[j] - x[u * rank + j]) < 2e-3 * scale, $"user {u}, factor {j}: closed form {expected[j]}, CG {x[u * rank + j]}");
            }
        }
    }

    [Fact]
    public void SongHalfStepSolvesEverySongAndLeavesColdSongsAtZero()
    {
        const int Rank = 6;
        var plays = RandomPlays(users: 60, songs: 40, perUser: 5, seed: 4);
        using var als = new ConjugateGradientAls(plays, Rank, lambda: 0.5f, alpha: 2f, seed: 4, steps: 20, threads: 1);
        als.SolveUsers();
        var x = als.UserFactorsArray();
        als.SolveSongs();
        var songs = als.SongFactorsArray();
        var userMatrix = ToMatrix(x, plays.UserCount, Rank);
        for (int s = 0; s < plays.SongCount; s++)
        {
            var column = new float[plays.UserCount];
            for (int p = plays.SongStart[s]; p < plays.SongStart[s + 1]; p++)
            {
                column[plays.UserIndex[p]] = plays.SongPlays[p];
            }

            if (plays.PlayCountOfSong(s) == 0)
            {
                Assert.All(songs.Skip(s * Rank).Take(Rank), v => Assert.Equal(0f, v));
                continue;
            }

            var expected = ImplicitMatrixFactorizationTests.ClosedForm(userMatrix, column, lambda: 0.5, alpha: 2);
            double scale = Math.Max(1, expected.Max(Math.Abs));
            for (int j = 0; j < Rank; j++)
            {
                Assert.True(Math.Abs(expected[j] - songs[s * Rank + j]) < 2e-3 * scale, $"song {s}, factor {j}: closed form {expected[j]}, CG {songs[s * Rank + j]}");
            }
        }

        Assert.Contains(Enumerable.Range(0, plays.SongCount), s => plays.PlayCountOfSong(s) == 0);
    }

    [Theory]
    [InlineData(4, 1)]
    [InlineData(32, 2)]
    public void AgreesWithTheTensorConjugateGradientRoundAfterRound(int rank, int steps)
    {
        var plays = RandomPlays(users: 300, songs: 200, perUser: 8, seed: 7);
        using var managed = new ConjugateGradientAls(plays, rank, lambda: 0.1f, alpha: 5f, seed: 3, steps, threads: 2);
        using var tensor = new ImplicitAls(plays, rank, lambda: 0.1f, alpha: 5f, seed: 3, CPU) { ConjugateGradientSteps = steps };
        Assert.Equal(tensor.UserFactorsArray(), managed.UserFactorsArray());
        for (int round = 1; round <= 4; round++)
        {
            foreach (var als in new IAlsSolver[] { managed, tensor })
            {
                als.SolveUsers(round);
                als.SolveSongs(round);
            }

            AssertClose(tensor.UserFactorsArray(), managed.UserFactorsArray(), $"user factors, round {round}");
            AssertClose(tensor.SongFactorsArray(), managed.SongFactorsArray(), $"song factors, round {round}");
            double a = tensor.Loss(), b = managed.Loss();
            Assert.True(Math.Abs(a - b) <= 1e-4 * Math.Abs(a), $"round {round}: tensor loss {a}, managed loss {b}");
        }
    }

    [Fact]
    public void LossEqualsTheTensorSolversLossAtTheSameFactors()
    {
        var plays = RandomPlays(users: 120, songs: 90, perUser: 7, seed: 9);
        var y = RandomFactors(plays.SongCount * 5, 11);
        using var managed = new ConjugateGradientAls(plays, 5, lambda: 0.3f, alpha: 3f, seed: 2, steps: 3, threads: 2);
        using var tensor = new ImplicitAls(plays, 5, lambda: 0.3f, alpha: 3f, seed: 2, CPU);
        managed.SetSongFactors(y);
        tensor.SetSongFactors(y);
        double a = tensor.Loss(), b = managed.Loss();
        Assert.True(Math.Abs(a - b) <= 1e-5 * Math.Abs(a), $"tensor {a}, managed {b}");
    }

    [Fact]
    public void TheThreadCountDoesNotChangeASingleBit()
    {
        // More users than one work item holds, so several threads really share the rows and the partial sums.
        var plays = RandomPlays(users: 3000, songs: 500, perUser: 6, seed: 5);
        float[] Train(int threads)
        {
            using var als = new ConjugateGradientAls(plays, 8, lambda: 0.1f, alpha: 4f, seed: 1, steps: 3, threads);
            for (int round = 1; round <= 3; round++)
            {
                als.SolveUsers(round);
                als.SolveSongs(round);
            }

            return [.. als.UserFactorsArray(), .. als.SongFactorsArray(), (float)als.Loss()];
        }

        var one = Train(1);
        Assert.Equal(one, Train(3));
        Assert.Equal(one, Train(1));
    }

    [Fact]
    public void TheTrainerUsesTheManagedSolverOnTheCpuForConjugateGradientOnly()
    {
        var plays = RandomPlays(users: 10, songs: 10, perUser: 3, seed: 1);
        var ml = new MLContext(seed: 1);
        ImplicitMatrixFactorizationTrainer Trainer(int steps, bool gpu) => ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
        {
            MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", ConjugateGradientSteps = steps, Device = gpu ? TorchDevice.Auto : TorchDevice.Cpu,
        });

        using (var solver = Trainer(3, gpu: false).CreateSolver(plays))
        {
            Assert.IsType<ConjugateGradientAls>(solver);
        }

        using (var solver = Trainer(0, gpu: false).CreateSolver(plays))
        {
            Assert.IsType<ImplicitAls>(solver);
        }
    }

    [Fact]
    public void OverflowingConjugateGradientStopsNamingTheRound()
    {
        // Finite counts whose confidence is finite but whose products overflow inside the solve.
        var ml = new MLContext(seed: 1);
        var data = PlayLogs.Make(ml, 3, 5, (1, 1, 2e36f), (1, 3, 1e36f), (2, 2, 3e36f), (2, 3, 1), (3, 4, 1e36f), (3, 1, 1));
        var trainer = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
        {
            MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", ApproximationRank = 3, Alpha = 2,
            ConjugateGradientSteps = 3, Device = TorchDevice.Cpu,
        });
        var e = Assert.Throws<NonFiniteTrainingException>(() => trainer.Fit(data));
        Assert.Equal("ImplicitMatrixFactorization", e.Trainer);
        Assert.Equal(1, e.Epoch);
    }

    // Float rounding in a few unconverged CG steps, compounded over rounds: about 1e-3 of the RMS factor at 32 factors.
    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        double norm = Math.Sqrt(expected.Sum(v => (double)v * v) / expected.Length);
        double worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 5e-3 * Math.Max(norm, 1e-3), $"{what}: worst difference {worst} against RMS {norm}");
    }
}
