// Why the hybrid ranker loses to MF at benchmark size: the hybrid over the collaborative features only (MF, item-CF,
// popularity; no audio model, so a run takes about a minute) against MF alone, on the warm split with the
// HybridRecommender sample's simulator settings, stacking split and evaluation. Results: docs/recommendation.md,
// "Why the hybrid loses to MF at benchmark size: experiments". Usage:
//   OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 dotnet run -c Release --project benchmarks/HybridExperiments --
//       [--songs 5000] [--users 2000] [--seed 1] [--variants name,name,...]   (no --variants: all of them)
// The variants re-implement the ranker's candidate sampling here (so each idea is one switch) and run the library's
// HybridRankerTrainer itself as the reference rows ("library": its defaults; "library-unweighted": as before
// HybridRankerOptions.WeightRandomNegatives; "library-base": defaults, with the base-play feature models).
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using MLNetAudio;
using MLNetAudio.Recommendation;
using HybridRecommenderSample;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var arguments = new Dictionary<string, string>();
for (int i = 0; i + 1 < args.Length; i += 2)
{
    arguments[args[i].TrimStart('-')] = args[i + 1];
}

int songCount = int.Parse(arguments.GetValueOrDefault("songs") ?? "5000", CultureInfo.InvariantCulture);
int userCount = int.Parse(arguments.GetValueOrDefault("users") ?? "2000", CultureInfo.InvariantCulture);
int seed = int.Parse(arguments.GetValueOrDefault("seed") ?? "1", CultureInfo.InvariantCulture);
var clock = Stopwatch.StartNew();
void Log(string message) => Console.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0} s] {message}");

// The sample's benchmark settings (samples/HybridRecommender/Program.cs); the simulator seed is --seed.
var ml = new MLContext(seed: 1);
var simulator = HybridRecommender.Simulate(songCount, userCount, seed);
var (basePlays, rankerPlays) = HybridRecommender.SplitForStacking(simulator.Training);

IDataView training = simulator.ToDataView(ml, simulator.Training);
var cfBase = Collaborative.Train(ml, simulator.ToDataView(ml, basePlays));
var cf = Collaborative.Train(ml, training);
Log($"{songCount} songs x {userCount} users (seed {seed}): {simulator.Training.Count} training plays ({basePlays.Count} base + {rankerPlays.Count} ranker), {simulator.WarmTest.Count} warm test plays; collaborative models trained");

var warmTest = simulator.ToDataView(ml, simulator.WarmTest);
(double Ndcg, double Auc) Warm(IUserSongScorer scorer)
{
    var m = ml.Audio().Recommendation.Evaluate(scorer, warmTest, training, new RecommendationEvaluationOptions { CandidateSongKeys = simulator.WarmSongKeys.ToArray() });
    return (m.NdcgAtK, m.Auc);
}

var results = new List<(string Variant, double Ndcg, double Auc, double Seconds)>();
void Report(string name, (double Ndcg, double Auc) r, double seconds)
{
    results.Add((name, r.Ndcg, r.Auc, seconds));
    Log($"{name,-40} warm NDCG@10 {r.Ndcg:0.000}  AUC {r.Auc:0.000}");
}

Report("MF (all training plays)", Warm(cf.Mf), 0);
Report("MF, base plays only", Warm(cfBase.Mf), 0);
Report("item-CF", Warm(cf.ItemCf), 0);
Report("popularity", Warm(cf.Popularity), 0);

var played = Plays.ByUser(simulator.Training, userCount);
var basePlayed = Plays.ByUser(basePlays, userCount);
var rankerLabels = Plays.ByUser(rankerPlays, userCount);
var experiment = new Experiment(ml, userCount, songCount, simulator.WarmSongKeys.Select(k => (int)k - 1).ToArray());
// Each feature model's scores are read once into a table: fewer native calls and much faster candidate building.
var baseFeatures = Dense(cfBase.Features());
var allFeatures = Dense(cf.Features());
static HybridFeature[] Dense(HybridFeature[] features) => features.Select(f => new HybridFeature(f.Name, DenseScorer.From(f.Scorer))).ToArray();

var variants = Variants.All(rankerPlays.Count).ToList();
var chosen = arguments.TryGetValue("variants", out var list) ? list.Split(',') : variants.Select(v => v.Name).ToArray();
foreach (string name in chosen)
{
    var watch = Stopwatch.StartNew();
    if (name is "library" or "library-unweighted")
    {
        bool weighted = name == "library";
        var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions { Features = baseFeatures, WeightRandomNegatives = weighted, Seed = 1 })
            .Fit(simulator.ToDataView(ml, rankerPlays), simulator.ToDataView(ml, basePlays))
            .WithFeatures(allFeatures);
        Report(weighted ? "library HybridRanker (defaults)" : "library HybridRanker, WeightRandomNegatives = false", Warm(DenseScorer.From(hybrid)), watch.Elapsed.TotalSeconds);
        continue;
    }

    if (name == "library-base")
    {
        var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions { Features = baseFeatures, Seed = 1 })
            .Fit(simulator.ToDataView(ml, rankerPlays), simulator.ToDataView(ml, basePlays));
        Report("library HybridRanker, base-play features", Warm(DenseScorer.From(hybrid)), watch.Elapsed.TotalSeconds);
        continue;
    }

    var variant = variants.Single(v => v.Name == name);
    var groups = new List<Experiment.Group>();
    if (variant.Folds > 1)
    {
        // k-fold stacking: every training play is a label once, with feature models fitted on the other folds.
        var foldRng = new Random(3);
        var fold = simulator.Training.Select(e => foldRng.Next(variant.Folds)).ToArray();
        for (int f = 0; f < variant.Folds; f++)
        {
            var rest = simulator.Training.Where((e, i) => fold[i] != f).ToList();
            var held = simulator.Training.Where((e, i) => fold[i] == f).ToList();
            var models = Collaborative.Train(ml, simulator.ToDataView(ml, rest));
            groups.AddRange(experiment.Candidates(variant, Dense(models.Features()), Plays.ByUser(held, userCount), Plays.ByUser(rest, userCount), f));
        }
    }
    else
    {
        groups.AddRange(experiment.Candidates(variant, baseFeatures, rankerLabels, basePlayed, 0));
    }

    var ranker = experiment.Fit(variant, groups);
    var scorer = experiment.Score(variant, ranker, allFeatures, played);
    Report(variant.Name, Warm(scorer), watch.Elapsed.TotalSeconds);
    if (variant.AlsoBase)
    {
        Report(variant.Name + ", base-play features", Warm(experiment.Score(variant, ranker, baseFeatures, basePlayed)), 0);
    }
}

Console.WriteLine();
Console.WriteLine("| variant | NDCG@10 warm | AUC warm | seconds |");
Console.WriteLine("|---|---|---|---|");
foreach (var (variant, ndcg, auc, seconds) in results)
{
    Console.WriteLine($"| {variant} | {ndcg:0.000} | {auc:0.000} | {seconds:0} |");
}
