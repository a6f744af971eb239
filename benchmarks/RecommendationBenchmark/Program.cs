// Recommendation speed at benchmark size: weighted-ALS seconds per iteration and top-10 for every user over the
// whole catalog, with libtorch on one and on two CPU threads. Usage:
//   OMP_WAIT_POLICY=PASSIVE dotnet run -c Release --project benchmarks/RecommendationBenchmark -- [songs] [users] [factors] [repeats]
//   ... -- --calibrate   prints docs/recommendation.md's table: how much the simulator's taste explains
//   ... -- --lastfm-scale [users] [items] [threads] [iterations]   ALS and top-10 at last.fm-360k's shape (LastFmScale.cs)
//   ... -- --tune-als    warm NDCG@10 of ALS over a small grid of rank, Lambda and Alpha at benchmark size
// The grid scores on the warm test split itself, so its best cell is optimistic: a guide for defaults, not a result.
// Wall-clock timing with Stopwatch (not BenchmarkDotNet): one ALS fit takes seconds, so per-call overhead is
// irrelevant, and the median of a few repeats is reported.
using System.Diagnostics;
using Microsoft.ML;
using MLNetAudio;
using MLNetAudio.Recommendation;
using TorchSharp;

if (args.Length > 0 && args[0] == "--calibrate")
{
    Calibrate();
    return;
}

if (args.Length > 0 && args[0] == "--lastfm-scale")
{
    LastFmScale.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "--tune-als")
{
    TuneAls();
    return;
}

int songs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5000;
int users = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2000;
int factors = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 64;
int repeats = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 3;
const int Iterations = 5;

var ml = new MLContext(seed: 1);
var clock = Stopwatch.StartNew();
var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = songs, UserCount = users, MeanSongsPerUser = 50, Seed = 1 });
var training = ml.Data.Cache(sim.ToDataView(ml, sim.Training));
Console.WriteLine($"simulated {songs} songs x {users} users: {sim.Training.Count} training plays, {sim.ColdSongKeys.Count} cold songs ({clock.Elapsed.TotalSeconds:F1} s)");
Console.WriteLine($"CPU: {Environment.ProcessorCount} logical cores; libtorch {torch.__version__}; OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")}");

ImplicitMatrixFactorizationTrainer Als(int iterations, int threads, int cgSteps = 0) =>
    ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
    {
        MatrixColumnIndexColumnName = "UserId",
        MatrixRowIndexColumnName = "SongId",
        ApproximationRank = factors,
        NumberOfIterations = iterations,

        // The best 64-factor cell of --tune-als (chosen on the warm test split, so optimistic).
        Lambda = 100,
        Alpha = 10,
        NumberOfThreads = threads,
        ConjugateGradientSteps = cgSteps,
        Seed = 1, // the seed of the published figures (docs/benchmarks.md); null would draw one from ml
    });

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

// The machine this was written on has 2 cores shared with other jobs, so process CPU time is reported beside wall
// time: with one thread and no contention they agree; under contention only CPU time stays meaningful.
double lastCpu = 0;
double Time(Action action)
{
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    action();
    process.Refresh();
    lastCpu = (process.TotalProcessorTime - cpu).TotalSeconds;
    return watch.Elapsed.TotalSeconds;
}

Als(1, 1).Fit(training); // warm-up: JIT, libtorch initialisation
var models = new Dictionary<string, IUserSongScorer>();
foreach (int cgSteps in new[] { 0, 3 })
{
    string solver = cgSteps == 0 ? "exact (Cholesky)" : $"conjugate gradient, {cgSteps} steps";
    foreach (int threads in new[] { 1, 2 })
    {
        var perIteration = new List<double>();
        var perIterationCpu = new List<double>();
        var fixedCost = new List<double>();
        var topK = new List<double>();
        var topKCpu = new List<double>();
        ImplicitMatrixFactorizationModel? model = null;
        for (int r = 0; r < repeats; r++)
        {
            double one = Time(() => Als(1, threads, cgSteps).Fit(training));
            double oneCpu = lastCpu;
            double many = Time(() => model = Als(1 + Iterations, threads, cgSteps).Fit(training));
            perIterationCpu.Add((lastCpu - oneCpu) / Iterations);

            // The difference of a 1-round and a (1 + n)-round fit removes reading the data and building batches.
            perIteration.Add((many - one) / Iterations);
            fixedCost.Add(one - (many - one) / Iterations);
            torch.set_num_threads(threads);
            topK.Add(Time(() => model!.RecommendAll(10)));
            topKCpu.Add(lastCpu);
        }

        Console.WriteLine($"ALS {solver}, threads {threads}: {Median(perIteration):F3} s/iteration wall, {Median(perIterationCpu):F3} s CPU (median of {repeats}; setup {Median(fixedCost):F2} s); "
            + $"top-10 for all {users} users over {songs} songs {Median(topK):F3} s wall, {Median(topKCpu):F3} s CPU");
    }
}

torch.set_num_threads(1);
var itemCf = ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId");
ItemBasedCollaborativeFilteringModel? cf = null;
double cfFit = Time(() => cf = itemCf.Fit(training));
double cfFitCpu = lastCpu;
double cfTop = Time(() => cf!.RecommendAll(10));
Console.WriteLine($"item-CF, threads 1: fit {cfFit:F2} s wall ({cfFitCpu:F2} s CPU); top-10 for all users {cfTop:F2} s wall ({lastCpu:F2} s CPU)");

// Accuracy at this size (15 rounds), so the speed figures sit beside what they buy.
var warm = sim.ToDataView(ml, sim.WarmTest);
var warmOptions = new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() };
models["oracle (true play probability)"] = sim;
models["taste oracle (hidden tastes only)"] = sim.TasteOracle;
models["random"] = new RandomScorer(sim.UserCount, sim.SongCount);
models["popularity"] = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(training);
models["item-CF (cosine, 50 neighbours)"] = cf!;
double ffmFit = Time(() => models["ML.NET FFM (16 latent, 4 negatives per play)"] = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions
    { LabelColumnName = "Label", MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", Seed = 1 }).Fit(training));
Console.WriteLine($"ML.NET FFM, fit (negative sampling + 5 passes): {ffmFit:F2} s wall ({lastCpu:F2} s CPU)");
models["ALS exact, 15 rounds"] = Als(15, 1).Fit(training);
models["ALS CG 3 steps, 15 rounds"] = Als(15, 1, 3).Fit(training);
Console.WriteLine($"Warm split: {sim.WarmTest.Count} held-out plays of {sim.WarmSongKeys.Count} warm songs; already-played songs filtered.");
Console.WriteLine("| model | NDCG@10 | P@10 | R@10 | MAP@500 | AUC | coverage |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach (var (name, m) in models)
{
    var r = ml.Audio().Recommendation.Evaluate(m, warm, training, warmOptions);
    Console.WriteLine($"| {name} | {r.NdcgAtK:F3} | {r.PrecisionAtK:F3} | {r.RecallAtK:F3} | {r.MapAtCutoff:F3} | {r.Auc:F3} | {r.CatalogCoverage:F3} |");
}

// Accuracy against diversity: maximal-marginal-relevance re-ranking of the ALS lists over the songs' attribute
// vectors (a stand-in for audio embeddings until the audio encoder is merged).
var embeddings = Enumerable.Range(1, sim.SongCount).Select(k => sim.AttributeVector((uint)k)).ToArray();
var alsModel = models["ALS exact, 15 rounds"];
Console.WriteLine();
Console.WriteLine("| ALS re-ranked, relevance weight | NDCG@10 | P@10 | coverage | intra-list diversity |");
Console.WriteLine("|---|---|---|---|---|");
foreach (double? weight in new double?[] { null, 0.9, 0.7, 0.5, 0.3 })
{
    var r = ml.Audio().Recommendation.Evaluate(alsModel, warm, training, new RecommendationEvaluationOptions
    {
        CandidateSongKeys = sim.WarmSongKeys.ToArray(), SongEmbeddings = embeddings, DiversityRelevanceWeight = weight,
    });
    Console.WriteLine($"| {(weight is null ? "none (plain top 10)" : weight.Value.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture))} | {r.NdcgAtK:F3} | {r.PrecisionAtK:F3} | {r.CatalogCoverage:F3} | {r.IntraListDiversity:F3} |");
}

// NDCG@10 of the two oracles and popularity on warm and cold splits for a few simulator settings.
static void Calibrate()
{
    var ml = new MLContext(seed: 1);
    Console.WriteLine("| PopularityExponent | TasteStrength | oracle warm | oracle cold | taste oracle warm | taste oracle cold | popularity warm |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    foreach (var (exponent, strength) in new[] { (1.0, 6.0), (0.5, 6.0), (1.0, 12.0), (0.7, 10.0), (0.5, 10.0) })
    {
        var sim = new ListeningSimulator(new ListeningSimulatorOptions
        {
            SongCount = 5000, UserCount = 2000, MeanSongsPerUser = 50, PopularityExponent = exponent, TasteStrength = strength, Seed = 1,
        });
        var training = sim.ToDataView(ml, sim.Training);
        var warm = sim.ToDataView(ml, sim.WarmTest);
        var cold = sim.ToDataView(ml, sim.ColdTest);
        var warmOptions = new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() };
        var coldOptions = new RecommendationEvaluationOptions { CandidateSongKeys = sim.ColdSongKeys.ToArray() };
        var popularity = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(training);
        double Ndcg(IUserSongScorer m, IDataView test, RecommendationEvaluationOptions o) => ml.Audio().Recommendation.Evaluate(m, test, training, o).NdcgAtK;
        Console.WriteLine($"| {exponent} | {strength} | {Ndcg(sim, warm, warmOptions):F3} | {Ndcg(sim, cold, coldOptions):F3} | "
            + $"{Ndcg(sim.TasteOracle, warm, warmOptions):F3} | {Ndcg(sim.TasteOracle, cold, coldOptions):F3} | {Ndcg(popularity, warm, warmOptions):F3} |");
    }
}

static void TuneAls()
{
    var ml = new MLContext(seed: 1);
    var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 5000, UserCount = 2000, MeanSongsPerUser = 50, Seed = 1 });
    var training = ml.Data.Cache(sim.ToDataView(ml, sim.Training));
    var warm = sim.ToDataView(ml, sim.WarmTest);
    var warmOptions = new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() };
    Console.WriteLine("| rank | Lambda | Alpha | warm NDCG@10 | AUC |");
    Console.WriteLine("|---|---|---|---|---|");
    var defaults = new ImplicitMatrixFactorizationOptions();
    var grid = new List<(int Rank, double Lambda, double Alpha)> { (defaults.ApproximationRank, defaults.Lambda, defaults.Alpha) };
    foreach (int rank in new[] { 16, 64 })
    {
        foreach (double lambda in new[] { 10.0, 100, 500 })
        {
            foreach (double alpha in new[] { 1.0, 10 })
            {
                grid.Add((rank, lambda, alpha));
            }
        }
    }

    foreach (var (rank, lambda, alpha) in grid)
    {
        var model = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
        {
            MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId",
            ApproximationRank = rank, NumberOfIterations = 15, Lambda = lambda, Alpha = alpha, ConjugateGradientSteps = 3, Seed = 1,
        }).Fit(training);
        var r = ml.Audio().Recommendation.Evaluate(model, warm, training, warmOptions);
        Console.WriteLine($"| {rank} | {lambda} | {alpha} | {r.NdcgAtK:F3} | {r.Auc:F3} |");
    }
}
