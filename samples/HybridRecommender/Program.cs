// MLNetAudio HybridRecommender: every recommender of issue 5 on one simulated listening benchmark whose songs are
// rendered to audio, on warm and cold songs, beside the oracle and random.
//
//   dotnet run -c Release --project samples/HybridRecommender [-- --size small|benchmark] [--songs N --users N --epochs N]
//        [--seed N --songs-per-user N --aggregation mean|max --negatives N] [--cold-like F] [--cache FOLDER] [--out FOLDER]
//        [--contrastive-pretraining E --contrastive-weight W] (the audio model's ContrastivePretrainingEpochs and
//        ContrastiveWeight; left out, the library's automatic defaults; "0 0" for the figures published before them)
//        [--rhythm-weight W --direction-weight W] (the audio model's RhythmWeight and DirectionWeight; left out, 0: off)
using System.Diagnostics;
using System.Globalization;
using System.Text;
using HybridRecommenderSample;
using Microsoft.ML;
using MLNetAudio;
using MLNetAudio.Samples;
using MLNetAudio.Recommendation;
using ScottPlot;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
const string Usage = """
    HybridRecommender: every recommender on one simulated listening benchmark whose songs are rendered to audio,
    scored on warm and cold songs beside the oracle and random; writes tables and plots.

    Usage: dotnet run -c Release --project samples/HybridRecommender [-- options]
      --size small|benchmark     300 songs x 150 users (default) or 5,000 x 2,000
      --songs N --users N        the catalog and the listeners (override --size)
      --epochs N                 the audio model's epochs (default 30 small, 4 benchmark)
      --seed N                   the simulator's seed (default 1)
      --songs-per-user N         the simulator's mean songs per listener (default 20)
      --aggregation mean|max     how window scores become a song's (default mean)
      --negatives N              the audio model's negatives per play (default 2)
      --contrastive-pretraining E, --contrastive-weight W
                                 the audio model's ContrastivePretrainingEpochs and ContrastiveWeight (default
                                 automatic; "0 0" for the figures published before them)
      --rhythm-weight W, --direction-weight W
                                 the audio model's RhythmWeight and DirectionWeight (default 0: off)
      --cold-like F              also the hybrid that stacks by itself, F of the played songs made cold-like
      --cache FOLDER             the song-window cache (default under the temp folder)
      --out FOLDER               tables and plots (default ./hybrid-output)
      --help                     this text
    """;
if (SampleCommandLine.WantsHelp(args, Usage))
{
    return 0;
}

CommandLine commandLine;
try
{
    commandLine = CommandLine.Parse(ParseArguments(args));
}
catch (ArgumentException error)
{
    return SampleCommandLine.Fail("HybridRecommender", error);
}

var (benchmark, songCount, userCount, simulatorSeed, songsPerUser, audioSettings, coldLike, outputFolder, cacheFolder) = commandLine;
Directory.CreateDirectory(outputFolder);
var clock = Stopwatch.StartNew();
void Log(string message) => Console.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0} s] {message}");

// STEP 1: an ML.NET context; its seed makes the run repeatable. Trainers whose Seed is left null draw theirs from it;
// here every trainer's Seed is set to 1, the seed the published results (docs/recommendation.md) were made with.
var ml = new MLContext(seed: 1);

// STEP 2: the listening benchmark. Taste drives choice strongly enough for audio to matter (TasteStrength 10,
// PopularityExponent 0.7: see docs/recommendation.md, "Two oracles"). The training log is split once more per user:
// 80% trains the models, 20% trains the hybrid ranker on top of them (stacking).
var simulator = HybridRecommender.Simulate(songCount, userCount, simulatorSeed, songsPerUser);
var (basePlays, rankerPlays) = HybridRecommender.SplitForStacking(simulator.Training);

IDataView training = simulator.ToDataView(ml, simulator.Training);
IDataView baseTraining = simulator.ToDataView(ml, basePlays);
Log($"simulated {songCount} songs x {userCount} users (simulator seed {simulatorSeed}, {songsPerUser} songs per user on average; {audioSettings}): {simulator.Training.Count} training plays ({basePlays.Count} base + {rankerPlays.Count} for the ranker), "
    + $"{simulator.WarmTest.Count} warm test plays, {simulator.ColdTest.Count} plays of {simulator.ColdSongKeys.Count} cold songs");

// STEP 3: render every song with the synthesizer and cut it into 8 s MFCC windows every 1 s (cached on disk, so a
// rerun reads them back).
var audioOptions = new AudioSongOptions { CacheDirectory = cacheFolder };
var songs = AudioSongWindows.Compute(ml, simulator.Songs, audioOptions);
Log($"song windows: {songs.SongCount} songs x {songs.WindowCount(0)} windows of {songs.FramesPerWindow} x {songs.Coefficients} "
    + $"({songs.ComputedSongs} rendered now, {songs.SongCount - songs.ComputedSongs} from the cache {audioOptions.CacheDirectory ?? "in the temp folder"})");

// STEP 4: train. Collaborative models on the base plays (for the ranker) and on all training plays (for the table);
// the audio model once, on the base plays.
var cfBase = HybridRecommender.TrainCollaborative(ml, baseTraining);
var cf = HybridRecommender.TrainCollaborative(ml, training);
var ffm = ml.Audio().Recommendation.Trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineRecommenderOptions
    { LabelColumnName = "Label", MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", Seed = 1 }).Fit(training);
Log("collaborative models trained");
using var audio = HybridRecommender.TrainAudio(ml, songs, baseTraining, audioSettings);
Log("multi-user audio model trained");
// audio -> MF factors: a ridge regression from the audio model's song embeddings to each factorization's song factors,
// fitted on the plays that factorization was trained on.
var audioFactorsBase = ml.Audio().Recommendation.Trainers.AudioFactorRegression(cfBase.Mf, audio).Fit(baseTraining);
var audioFactors = ml.Audio().Recommendation.Trainers.AudioFactorRegression(cf.Mf, audio).Fit(training);
// The hybrid ranker over the base-play models, fitted on the held-out plays (base plays left out of its candidates),
// then applied to the models trained on every training play.
var hybridBase = ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions { Features = HybridRecommender.Features(audio, audioFactorsBase, cfBase), Seed = 1 })
    .Fit(simulator.ToDataView(ml, rankerPlays), baseTraining);
var hybrid = hybridBase.WithFeatures(HybridRecommender.Features(audio, audioFactors, cf));
var rankerFit = ml.Ranking.Evaluate(hybridBase.ScoreCandidates(hybridBase.TrainingData), HybridRankerModel.LabelColumnName, HybridRankerModel.GroupColumnName);
Log($"hybrid ranker (LightGBM LambdaRank) trained; NDCG@10 on its own candidates (ML.NET RankingEvaluator): {rankerFit.NormalizedDiscountedCumulativeGains[Math.Min(9, rankerFit.NormalizedDiscountedCumulativeGains.Count - 1)]:0.000}");
using var selfStacked = coldLike is double fraction
    ? HybridRecommender.TrainSelfStackedHybrid(ml, songs, training, audioSettings, fraction)
    : null;
if (selfStacked is not null)
{
    Log($"self-stacked hybrid trained (cold-like songs {coldLike}, features refitted on every training play)");
}

// STEP 5: evaluate every model on the warm split (held-out plays of warm songs) and the cold split (songs never
// played in training); songs played in training are filtered out; diversity over the songs' attribute vectors.
var attributes = Enumerable.Range(1, songCount).Select(k => simulator.AttributeVector((uint)k)).ToArray();
var mfccStatistics = ContentSongFeatures.MfccStatistics(songs);
var models = new (string Name, IUserSongScorer Scorer)[]
{
    ("oracle", simulator),
    ("taste oracle", simulator.TasteOracle),
    ("random", new RandomScorer(userCount, songCount, 1)),
    ("popularity", cf.Popularity),
    ("item-CF", cf.ItemCf),
    ("ML.NET FFM", ffm),
    ("MF (weighted ALS)", cf.Mf),
    ("audio, multi-user", audio),
    ("audio -> MF factors", audioFactors),
    // The content baselines the seed argues against, on MFCC mean and standard deviation per coefficient.
    ("content, seed song (MFCC stats)", ml.Audio().Recommendation.Trainers.SeedSong(mfccStatistics, new SeedSongOptions { Seed = 1 }).Fit(training)),
    ("content, song set (Logan 2004)", ml.Audio().Recommendation.Trainers.SongSet(mfccStatistics).Fit(training)),
    // The hybrid runs LightGBM on every (user, song): score the table once for both splits.
    ("hybrid (LambdaRank)", DenseScorer.From(hybrid)),
    // Diagnostics: the ranker with the very feature models it was fitted on, beside MF fitted on the same 80%.
    ("MF, base plays only", cfBase.Mf),
    ("hybrid, base-play features", DenseScorer.From(hybridBase)),
};
if (selfStacked is not null)
{
    // The hybrid that stacks by itself, beside its own audio model (refitted on every training play, as its MF is cf.Mf).
    models = [.. models,
        ($"hybrid, self-stacked, cold-like {coldLike}", DenseScorer.From(selfStacked)),
        ("audio, multi-user, all training plays", selfStacked.Features[0].Scorer)];
}

var rows = new List<(string Model, string Split, RecommendationMetrics Metrics)>();
foreach (var (name, scorer) in models)
{
    foreach (var (splitName, test, candidates) in new[] { ("warm", simulator.WarmTest, simulator.WarmSongKeys), ("cold", simulator.ColdTest, simulator.ColdSongKeys) })
    {
        var metrics = ml.Audio().Recommendation.Evaluate(scorer, simulator.ToDataView(ml, test), training, new RecommendationEvaluationOptions
        {
            CandidateSongKeys = candidates.ToArray(),
            SongEmbeddings = attributes,
        });
        rows.Add((name, splitName, metrics));
    }

    Log($"evaluated {name}");
}

// The seed's per-user model for a handful of users, beside the multi-user model on the same users.
var chosen = simulator.Training.GroupBy(e => e.UserId).OrderByDescending(g => g.Count()).Take(3).Select(g => g.Key).ToArray();
var perUserTable = new float[userCount * songCount];
foreach (uint user in chosen)
{
    HybridRecommender.TrainPerUser(ml, songs, simulator, basePlays, user, seed: (int)user).CopyTo(perUserTable, (int)(user - 1) * songCount);
}

var perUser = new DenseScorer(userCount, songCount, perUserTable);
var perUserRows = new List<(string Model, string Split, RecommendationMetrics Metrics)>();
foreach (var (name, scorer) in new (string, IUserSongScorer)[] { ("oracle", simulator), ("audio, per-user TimeConvLstm", perUser), ("audio, multi-user", audio) })
{
    foreach (var (splitName, test, candidates) in new[] { ("warm", simulator.WarmTest, simulator.WarmSongKeys), ("cold", simulator.ColdTest, simulator.ColdSongKeys) })
    {
        var subset = test.Where(e => chosen.Contains(e.UserId)).ToArray();
        perUserRows.Add((name, splitName, ml.Audio().Recommendation.Evaluate(scorer, simulator.ToDataView(ml, subset), training, new RecommendationEvaluationOptions
        {
            CandidateSongKeys = candidates.ToArray(),
            SongEmbeddings = attributes,
        })));
    }
}

Log($"per-user TimeConvLstm trained for users {string.Join(", ", chosen)}");

// STEP 6: print and save the comparison, with plots.
string table = Table(rows);
string perUserText = Table(perUserRows);
Console.WriteLine();
Console.WriteLine(table);
Console.WriteLine($"Per-user models, users {string.Join(", ", chosen)} only:");
Console.WriteLine(perUserText);
File.WriteAllText(Path.Combine(outputFolder, "comparison.md"), table + Environment.NewLine + $"Per-user models, users {string.Join(", ", chosen)}:" + Environment.NewLine + Environment.NewLine + perUserText);
PlotMetricByModel(rows, Path.Combine(outputFolder, "ndcg-by-model.png"));
PlotAccuracyDiversity(rows, Path.Combine(outputFolder, "accuracy-vs-diversity.png"));
Log($"tables and plots written to {outputFolder}");

// STEP 7: consume. Why a song is recommended (best window and score timeline), a PredictionEngine on one pair,
// and a brand-new listener folded in from three flute songs without retraining the encoder.
uint someone = chosen[0];
Console.WriteLine($"Audio recommendations for user {someone} (likes {simulator.Users[(int)someone - 1].FavoriteInstrument}), with reasons:");
foreach (var r in audio.Recommend(someone, k: 3))
{
    HybridRecommender.PrintReason(r, simulator.Songs[(int)r.SongKey - 1]);
}

// Recommend leaves out songs without a score, so the list can be empty (every song already played, or a model that
// gives NaN; training now stops on the latter): say so instead of indexing into nothing.
var top = audio.Recommend(someone, k: 1);
if (top.Count == 0)
{
    Console.WriteLine($"No song to recommend to user {someone}: every candidate is already played or has no score.");
}
else
{
    Console.WriteLine($"PredictionEngine on (user {someone}, song {top[0].SongKey}): {HybridRecommender.Predict(ml, audio, someone, top[0].SongKey):0.000}");
}

var fluteSongs = simulator.Songs.Where(s => s.Instruments.Count == 1 && s.Instruments[0] == MLNetAudio.Synthesis.Instrument.Flute).Take(3).Select(s => s.Key).ToArray();
Console.WriteLine($"A new listener who played flute-only songs {string.Join(", ", fluteSongs)} gets:");
foreach (var r in audio.RecommendForPlays(fluteSongs, k: 5))
{
    HybridRecommender.PrintReason(r, simulator.Songs[(int)r.SongKey - 1]);
}

Log("done");
return 0;

static string Table(IEnumerable<(string Model, string Split, RecommendationMetrics Metrics)> rows)
{
    var text = new StringBuilder();
    text.AppendLine("| model | split | NDCG@10 | P@10 | R@10 | MAP@500 | AUC | coverage | diversity |");
    text.AppendLine("|---|---|---|---|---|---|---|---|---|");
    foreach (var (model, split, m) in rows)
    {
        // Format prints "n/a (reason)" for a metric that could not be computed, never a bare NaN.
        string unscored = m.UsersWithoutScores > 0 ? $" ({m.UsersWithoutScores} user(s) without scores)" : string.Empty;
        text.AppendLine(string.Join(" | ", [
            $"| {model}", split, m.Format(nameof(m.NdcgAtK)), m.Format(nameof(m.PrecisionAtK)), m.Format(nameof(m.RecallAtK)),
            m.Format(nameof(m.MapAtCutoff)), m.Format(nameof(m.Auc)), m.Format(nameof(m.CatalogCoverage)), m.Format(nameof(m.IntraListDiversity)),
        ]) + " |" + unscored);
    }

    return text.ToString();
}

static void PlotMetricByModel(List<(string Model, string Split, RecommendationMetrics Metrics)> rows, string path)
{
    var plot = new Plot();
    var names = rows.Select(r => r.Model).Distinct().ToArray();
    var bars = new List<Bar>();
    for (int i = 0; i < names.Length; i++)
    {
        foreach (var (split, offset, color) in new[] { ("warm", -0.2, Colors.SteelBlue), ("cold", 0.2, Colors.DarkOrange) })
        {
            var m = rows.First(r => r.Model == names[i] && r.Split == split).Metrics;
            bars.Add(new Bar { Position = i + offset, Value = m.NdcgAtK, FillColor = color, Size = 0.38 });
        }
    }

    plot.Add.Bars(bars);
    plot.Axes.Bottom.SetTicks(Enumerable.Range(0, names.Length).Select(i => (double)i).ToArray(), names);
    plot.Axes.Bottom.TickLabelStyle.Rotation = 40;
    plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
    plot.Axes.Bottom.MinimumSize = 200;
    plot.Legend.ManualItems.Add(new LegendItem { LabelText = "warm songs", FillColor = Colors.SteelBlue });
    plot.Legend.ManualItems.Add(new LegendItem { LabelText = "cold songs", FillColor = Colors.DarkOrange });
    plot.ShowLegend(Alignment.UpperRight);
    plot.Axes.Margins(bottom: 0);
    plot.Axes.Right.MinimumSize = 150;
    plot.Title("NDCG@10 by model and split");
    plot.YLabel("NDCG@10");
    plot.SavePng(path, 1000, 560);
}

static void PlotAccuracyDiversity(List<(string Model, string Split, RecommendationMetrics Metrics)> rows, string path)
{
    var plot = new Plot();
    foreach (var (split, color) in new[] { ("warm", Colors.SteelBlue), ("cold", Colors.DarkOrange) })
    {
        foreach (var (model, _, m) in rows.Where(r => r.Split == split && double.IsFinite(r.Metrics.IntraListDiversity)))
        {
            var marker = plot.Add.Marker(m.IntraListDiversity, m.NdcgAtK);
            marker.Color = color;
            marker.Size = 9;
            var label = plot.Add.Text(model, m.IntraListDiversity, m.NdcgAtK);
            label.LabelFontSize = 10;
            label.LabelFontColor = color;
        }
    }

    plot.Legend.ManualItems.Add(new LegendItem { LabelText = "warm songs", FillColor = Colors.SteelBlue });
    plot.Legend.ManualItems.Add(new LegendItem { LabelText = "cold songs", FillColor = Colors.DarkOrange });
    plot.ShowLegend(Alignment.UpperRight);
    plot.Title("Accuracy against diversity (intra-list, song attributes)");
    plot.XLabel("intra-list diversity of the top 10");
    plot.YLabel("NDCG@10");
    plot.SavePng(path, 1000, 600);
}

static Dictionary<string, string> ParseArguments(string[] args)
{
    // A misspelt option is an error, not a silent default.
    string[] known = ["size", "songs", "users", "epochs", "seed", "songs-per-user", "aggregation", "negatives", "cold-like", "contrastive-pretraining", "contrastive-weight", "rhythm-weight", "direction-weight", "cache", "out"];
    string options = $"Options: --{string.Join(", --", known)}.";
    if (args.Length % 2 != 0)
    {
        throw new ArgumentException($"Every option takes a value; '{args[^1]}' has none. {options}");
    }

    var result = new Dictionary<string, string>();
    for (int i = 0; i + 1 < args.Length; i += 2)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Expected an option such as --size, found '{args[i]}'. {options}");
        }

        string name = args[i][2..];
        if (!known.Contains(name))
        {
            throw new ArgumentException($"Unknown option '{args[i]}'. {options}");
        }

        result[name] = args[i + 1];
    }

    return result;
}

/// <summary>
/// What the command line asks for: the benchmark size, the simulator's seed and songs per listener, the audio
/// model's settings, the cold-like fraction (null: that hybrid is not fitted), and the output and cache folders.
/// </summary>
internal sealed record CommandLine(bool Benchmark, int SongCount, int UserCount, int SimulatorSeed, double SongsPerUser, HybridRecommender.AudioModelSettings Audio, double? ColdLike, string OutputFolder, string? CacheFolder)
{
    /// <summary>Reads the options (names without "--"); a bad value is an <see cref="ArgumentException"/> naming its option.</summary>
    public static CommandLine Parse(IReadOnlyDictionary<string, string> options)
    {
        string? size = options.GetValueOrDefault("size");
        bool benchmark = size switch
        {
            null or "small" => false,
            "benchmark" => true,
            _ => throw new ArgumentException($"--size takes small or benchmark; found '{size}'."),
        };
        int Int(string name, int fallback, int minimum) => options.TryGetValue(name, out var v) ? SampleCommandLine.Int("--" + name, v, minimum) : fallback;
        double? Double(string name, double minimum) => options.TryGetValue(name, out var v) ? SampleCommandLine.Double("--" + name, v, minimum) : null;
        var audio = new HybridRecommender.AudioModelSettings(
            Int("epochs", benchmark ? 4 : 30, 1),
            options.TryGetValue("aggregation", out var aggregation) ? SampleCommandLine.Choice<AudioSongAggregation>("--aggregation", aggregation) : AudioSongAggregation.Mean,
            Int("negatives", MultiUserAudioOptions.Defaults.NegativesPerPlay, 1),
            options.ContainsKey("contrastive-pretraining") ? Int("contrastive-pretraining", 0, 0) : null,
            Double("contrastive-weight", 0),
            Double("rhythm-weight", 0) ?? MultiUserAudioOptions.Defaults.RhythmWeight,
            Double("direction-weight", 0) ?? MultiUserAudioOptions.Defaults.DirectionWeight);
        return new CommandLine(
            benchmark,
            Int("songs", benchmark ? 5000 : 300, 2),
            Int("users", benchmark ? 2000 : 150, 1),
            Int("seed", 1, int.MinValue),
            Double("songs-per-user", double.Epsilon) ?? 20,
            audio,
            Double("cold-like", 0),
            options.GetValueOrDefault("out") ?? Path.Combine(Environment.CurrentDirectory, "hybrid-output"),
            options.GetValueOrDefault("cache"));
    }
}

/// <summary>Scores from a dense users x songs table (the per-user models' scores; other users score 0).</summary>
internal sealed class DenseScorer(int users, int songs, float[] table) : IUserSongScorer
{
    public static DenseScorer From(IUserSongScorer scorer)
    {
        var table = new float[scorer.UserCount * (long)scorer.SongCount];
        scorer.ScoreUsers(0, scorer.UserCount, table);
        return new DenseScorer(scorer.UserCount, scorer.SongCount, table);
    }

    public int UserCount => users;

    public int SongCount => songs;

    public void ScoreUsers(int firstUser, int userCount, Span<float> destination) =>
        table.AsSpan(firstUser * songs, userCount * songs).CopyTo(destination);
}
