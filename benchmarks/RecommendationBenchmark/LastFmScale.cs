using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Scoring;
using MLNetAudio;
using MLNetAudio.Recommendation;
using TorchSharp;

/// <summary>
/// Weighted ALS and whole-catalog top-10 on a generated play log of last.fm-360k's shape (358,868 users x 160,113
/// artists, 17.5 M (user, artist) pairs; Celma's dataset keeps each user's top 50 artists, so nearly every user has
/// 50 and the artists' popularity is heavy-tailed). Usage:
///   OMP_WAIT_POLICY=PASSIVE dotnet run -c Release --project benchmarks/RecommendationBenchmark -- --lastfm-scale [users] [items] [threads] [iterations]
/// The peer figure is implicit's (benchmarks/README.md of benfred/implicit): 2.32 s per iteration, conjugate
/// gradient with 3 steps, 64 factors, on an 8-core i7-7820X, i.e. 18.6 core-seconds or 1.06 core-µs per play.
/// </summary>
internal static class LastFmScale
{
    private sealed class Play
    {
        public uint UserId;
        public uint SongId;
        public float Label;
    }

    public static void Run(string[] args)
    {
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        int users = Arg(1, 358_868);
        int items = Arg(2, 160_113);
        int threads = Arg(3, Environment.ProcessorCount);
        int iterations = Arg(4, 3);

        var clock = Stopwatch.StartNew();
        var (userOf, itemOf, counts) = Generate(users, items, seed: 1);
        int n = userOf.Length;
        var topShare = itemOf.GroupBy(i => i).Select(g => g.Count()).OrderDescending().First() / (double)users;
        Console.WriteLine($"generated {users:N0} users x {items:N0} items: {n:N0} plays ({n / (double)users:F1} per user; the most popular item reaches {topShare:P1} of users) in {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"CPU: {Environment.ProcessorCount} logical cores, {threads} threads used; libtorch {torch.__version__}; .NET {Environment.Version}");

        var ml = new MLContext(seed: 1);
        var schema = SchemaDefinition.Create(typeof(Play));
        schema[nameof(Play.UserId)].ColumnType = new KeyDataViewType(typeof(uint), users);
        schema[nameof(Play.SongId)].ColumnType = new KeyDataViewType(typeof(uint), items);

        // One reused row object: the cursor reads its fields before the next MoveNext, so 17.5 M rows cost no allocation.
        IEnumerable<Play> Rows()
        {
            var row = new Play();
            for (int i = 0; i < n; i++)
            {
                row.UserId = userOf[i];
                row.SongId = itemOf[i];
                row.Label = counts[i];
                yield return row;
            }
        }

        var data = ml.Data.LoadFromEnumerable(Rows(), schema);
        ImplicitMatrixFactorizationTrainer Als(int rounds) => ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
        {
            MatrixColumnIndexColumnName = nameof(Play.UserId), MatrixRowIndexColumnName = nameof(Play.SongId), LabelColumnName = nameof(Play.Label),
            ApproximationRank = 64, NumberOfIterations = rounds, Lambda = 0.1, Alpha = 1, ConjugateGradientSteps = 3,
            NumberOfThreads = threads, Device = TorchDevice.Cpu, Seed = 1,
        });

        var process = Process.GetCurrentProcess();
        (double Wall, double Cpu) Time(Action action)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            action();
            process.Refresh();
            return (watch.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalSeconds);
        }

        GC.Collect();
        process.Refresh();
        long before = process.WorkingSet64;
        ImplicitMatrixFactorizationModel? model = null;
        Als(1).Fit(data); // warm-up: JIT and libtorch initialisation
        var one = Time(() => Als(1).Fit(data));
        var many = Time(() => model = Als(1 + iterations).Fit(data));
        process.Refresh();
        double wall = (many.Wall - one.Wall) / iterations, cpu = (many.Cpu - one.Cpu) / iterations;
        Console.WriteLine($"ALS, conjugate gradient 3 steps, 64 factors: {wall:F2} s per iteration wall, {cpu:F2} core-seconds ({cpu * 1e6 / n:F2} core-µs per play; implicit: 18.6 core-s, 1.06 core-µs per play); "
            + $"reading the log and the first round {one.Wall:F1} s; peak working set {process.PeakWorkingSet64 / 1048576.0:N0} MiB (generated log {before / 1048576.0:N0} MiB before training)");
        Console.WriteLine($"  loss per round: {string.Join(", ", model!.TrainingLoss.Select(l => l.ToString("G4", CultureInfo.InvariantCulture)))}");

        torch.set_num_threads(threads);
        var top = Time(() => model.RecommendAll(10));
        Console.WriteLine($"top-10 for all {users:N0} users over {items:N0} items: {top.Wall:F1} s wall, {top.Cpu:F1} core-seconds");

        process.Refresh();
        Console.WriteLine($"peak working set {process.PeakWorkingSet64 / 1048576.0:N0} MiB");
    }

    /// <summary>
    /// A log of last.fm-360k's shape: 95% of users have 50 distinct items, the rest 1 to 49; items drawn with weight
    /// 1 / (rank + 25) (so the most popular reaches about a fifth of the users, as Radiohead does there); play counts
    /// log-normal (median about 33), given as log(1 + plays) as one would train on them.
    /// </summary>
    private static (uint[] Users, uint[] Items, float[] Counts) Generate(int users, int items, int seed)
    {
        var random = new Random(seed);
        var cumulative = new double[items];
        double total = 0;
        for (int i = 0; i < items; i++)
        {
            total += 1.0 / (i + 25);
            cumulative[i] = total;
        }

        var perUser = new int[users];
        long n = 0;
        for (int u = 0; u < users; u++)
        {
            perUser[u] = random.NextDouble() < 0.95 ? 50 : 1 + random.Next(49);
            n += perUser[u];
        }

        var userOf = new uint[n];
        var itemOf = new uint[n];
        var counts = new float[n];
        var chosen = new HashSet<int>();
        long p = 0;
        for (int u = 0; u < users; u++)
        {
            chosen.Clear();
            while (chosen.Count < perUser[u])
            {
                int i = Array.BinarySearch(cumulative, random.NextDouble() * total);
                chosen.Add(Math.Min(items - 1, i < 0 ? ~i : i));
            }

            foreach (int i in chosen)
            {
                userOf[p] = (uint)u;
                itemOf[p] = (uint)i;

                // Box-Muller normal, mean 3.5, deviation 1.3, of log plays.
                double z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                counts[p++] = (float)Math.Log(1 + Math.Floor(Math.Exp(3.5 + (1.3 * z))));
            }
        }

        return (userOf, itemOf, counts);
    }
}
