// Experiments on why the multi-user audio recommender (MultiUserAudioTrainer) learns little on cold songs.
// Builds the HybridRecommender sample's benchmark (TasteStrength 10, PopularityExponent 0.7) and its cached song windows
// once, then trains and evaluates variants on the cold split (and the warm split), printing one markdown row each.
//
//   dotnet run -c Release --project benchmarks/AudioRecommenderExperiments -- --run probe|features|cnn|library
//        [--songs 300 --users 150 --epochs 30 --seeds 1,2 --variants base,lr=1e-3;neg=4 --every 10 --weight 0]
//
// probe: oracle, random and MFCC-statistics rows, and linear probes of the taste attributes. features: the trainer's
// user-vector model over fixed song features (variants attributes or mfcc, with ;linear ;songbias ;wd=X ;emb=N).
// cnn: the trainer's loop re-implemented with switches (below), every --every epochs a row. library: the library's
// MultiUserAudioTrainer itself with its defaults (--weight sets WindowStatisticsWeight, --rhythm RhythmWeight, --agg mean|max Aggregation).
//
// CNN variants are ';'-separated tokens over the trainer's default (Conv1d, 3 layers x 16 channels, LSTM 32, Adam 3e-3,
// batch 32, 2 uniform negatives per play, 3 windows per pair, log-mean-exp over them, mean of window sigmoids to score):
//   lr=X  neg=N  wpp=N  form=2d  agg=max  popneg  songbias (a per-song bias for warm songs in training, dropped at
//   scoring: it can absorb popularity)  userbias  norm (L2-normalised window embeddings times a learned scale)
//   nostd (no per-coefficient standardisation)  wd=X (L2 on the batch's user vectors)  freeze (encoder left at its
//   random initialisation; only user vectors and biases train)  emb=N  ch=N  pool=meanstd (mean and deviation of the
//   convolution features over time through a Linear layer instead of the LSTM)  bn (batch-normalised embedding)
//   aux=X (self-supervised loss: a linear read-out of the embedding gives the window's MFCC mean and deviation; what
//   MultiUserAudioOptions.WindowStatisticsWeight now does)  vicreg=X (VICReg variance and covariance terms)
//   clr=X;tau=T (CLMR-style contrastive loss: two windows of a song are positives)  dropnet=P (DropoutNet-style song
//   vectors added to the audio embedding in training, dropped with probability P; scoring uses audio alone)
//   wpe / fmse;rank=N (van den Oord et al. 2013: the network predicts weighted-MF song factors, by the weighted
//   prediction error over all users with their MF factors fixed, or by squared error on the factors)
//   pretrain=E (E epochs of CLMR-style contrastive pretraining on every song's windows, cold ones too, before the plays;
//   temperature tau=T; with clr=X the contrastive term also stays in the play training; near=K draws the second window
//   of each pretraining pair within K windows of the first; rhythm=X a read-out of the embedding must give the window's
//   tempogram, weight X, in pretraining and play training; hard makes each pretraining batch a song and its 31 nearest
//   songs by MFCC statistics, so what tells them apart is what statistics miss); order=X a read-out must give the
//   window's antisymmetric lagged cross-covariances of its first 8 coefficients (which spectral shapes come before
//   which; the sign flips when time runs backwards), weight X, in pretraining and play training
//   simneg=P;simk=K (the dropped SimilarNegativeShare of commit 3353880: share P of the negatives from the played song's K
//   nearest warm songs by MFCC statistics, default K 5)
//
// --simseeds 1,2,3 rebuilds the benchmark for each simulator seed (windows cached per song); --seeds lists the models'
// seeds, the same on every simulator seed; --spu N sets the simulator's MeanSongsPerUser (default 20). Every cnn row
// is followed by the same model scored with the other aggregation (mean or max of the window preferences).
//
// Tastes by kind (issue 12, item 1): --focus all|instrument|register|tempo|motif|motiforder (comma-separated, each run
// on every simulator seed) sets ListeningSimulatorOptions.TasteFocus; --falling P its FallingMotifShare (default 0.5
// for motiforder, else 0); --motifs P its MotifProbability (default 0.3, as before). --run tastes prints, per focus and simulator seed: taste oracle, random, the library's
// MFCC-statistics content baselines (song set, seed song), the MLP on MFCC mean+std and on the simulator's attributes
// (the same training signal over fixed features), and the CNN variants of --variants (default aux=1, with the paired
// other aggregation; --variants none for no CNN), and with --perlistener E the seed's per-user method (a TimeConvLstm per
// listener, E epochs, --perlistenerneg N unplayed warm songs per play, default 4, --perlistenerform 1d|2d; with
// --focus motiforder also the same network told each motif's direction, which --run direction runs alone; --run tempo
// tells it each song's tempo, fast or slow, beside a logistic read-out of MFCC statistics told the same). --tsv FILE appends every row as tab-separated values; --run summarize --tsv FILE [--plot PNG]
// reads such a file back and prints, per focus, each model's mean and spread and its paired difference from the MLP
// on MFCC statistics (and plots the share of the taste oracle per focus).
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetAudio;
using MLNetAudio.Data;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using MLNetAudio.Synthesis;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var arguments = new Dictionary<string, string>();
for (int i = 0; i + 1 < args.Length; i += 2)
{
    arguments[args[i].TrimStart('-')] = args[i + 1];
}

int songCount = int.Parse(arguments.GetValueOrDefault("songs", "300"), CultureInfo.InvariantCulture);
int userCount = int.Parse(arguments.GetValueOrDefault("users", "150"), CultureInfo.InvariantCulture);
int epochs = int.Parse(arguments.GetValueOrDefault("epochs", "30"), CultureInfo.InvariantCulture);
int every = int.Parse(arguments.GetValueOrDefault("every", "0"), CultureInfo.InvariantCulture);
string run = arguments.GetValueOrDefault("run", "probe");
var seeds = arguments.GetValueOrDefault("seeds", "1").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
var variants = arguments.GetValueOrDefault("variants", "base").Split(',');
torch.set_num_threads(int.Parse(arguments.GetValueOrDefault("threads", "1"), CultureInfo.InvariantCulture));

var simulatorSeeds = arguments.GetValueOrDefault("simseeds", "1").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
double songsPerUser = double.Parse(arguments.GetValueOrDefault("spu", "20"), CultureInfo.InvariantCulture);
var focuses = arguments.GetValueOrDefault("focus", "all").Split(',').Select(f => Enum.Parse<TasteFocus>(f, ignoreCase: true)).ToArray();
string? tsv = arguments.GetValueOrDefault("tsv");
if (run == "summarize")
{
    TasteSummary.Print(tsv ?? throw new ArgumentException("--run summarize needs --tsv FILE."), arguments.GetValueOrDefault("plot"));
    return;
}

PerListenerModel.PerListenerForm = arguments.GetValueOrDefault("perlistenerform", "1d") == "2d" ? ConvolutionForm.Conv2dTimeOnly : ConvolutionForm.Conv1dAllCoefficients;
var clock = Stopwatch.StartNew();
foreach (var focus in focuses)
{
    foreach (int simulatorSeed in simulatorSeeds)
    {
        RunOnSimulator(simulatorSeed, focus);
    }
}

Console.WriteLine($"# done in {clock.Elapsed.TotalSeconds:0} s");

void RunOnSimulator(int simulatorSeed, TasteFocus focus)
{
    var ml = new MLContext(seed: 1);
    var simulator = new ListeningSimulator(new ListeningSimulatorOptions
    {
        SongCount = songCount,
        UserCount = userCount,
        MeanSongsPerUser = songsPerUser,
        PopularityExponent = 0.7,
        TasteStrength = 10,
        Seed = simulatorSeed,
        TasteFocus = focus,
        MotifProbability = double.Parse(arguments.GetValueOrDefault("motifs", "0.3"), CultureInfo.InvariantCulture),
        FallingMotifShare = double.Parse(arguments.GetValueOrDefault("falling", focus == TasteFocus.MotifOrder ? "0.5" : "0"), CultureInfo.InvariantCulture),
    });
    var songs = AudioSongWindows.Compute(ml, simulator.Songs, new AudioSongOptions());
    var bench = new Bench(ml, simulator, songs) { ResultsFile = tsv, Setting = $"{focus}{(simulator.Options.MotifProbability != 0.3 ? $" (motifs {simulator.Options.MotifProbability})" : string.Empty)}\t{simulatorSeed}\t{songsPerUser}" };
    Console.WriteLine($"# taste focus {focus}, motif probability {simulator.Options.MotifProbability}, falling motif share {simulator.Options.FallingMotifShare}; simulator seed {simulatorSeed}, {songsPerUser} songs per user; {songCount} songs x {userCount} users: {simulator.Training.Count} training plays, {simulator.WarmTest.Count} warm test plays, "
        + $"{simulator.ColdTest.Count} plays of {simulator.ColdSongKeys.Count} cold songs; windows {songs.WindowCount(0)} x {songs.FramesPerWindow} x {songs.Coefficients} "
        + $"({songs.ComputedSongs} rendered now); {clock.Elapsed.TotalSeconds:0} s");
    Console.WriteLine("| model / variant | seed | epochs | cold NDCG@10 | cold AUC | warm NDCG@10 | warm AUC | notes |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|");
    if (run != "probe")
    {
        bench.Row("taste oracle", 0, 0, simulator.TasteOracle, $"simulator seed {simulatorSeed}");
    }

    switch (run)
    {
        case "probe":
            bench.Row("oracle", 0, 0, simulator, "");
            bench.Row("taste oracle", 0, 0, simulator.TasteOracle, "");
            bench.Row("random", 1, 0, new RandomScorer(userCount, songCount, 1), "");
            var stats = ContentSongFeatures.MfccStatistics(songs);
            bench.Row("content, song set (MFCC stats)", 0, 0, ml.Audio().Recommendation.Trainers.SongSet(stats).Fit(bench.Training), "");
            Console.WriteLine();
            Console.WriteLine("Linear probes (trained on warm songs, tested on cold songs):");
            Console.WriteLine(Probe.Describe("MFCC mean+std (40)", stats, simulator, bench.Warm, bench.Cold));
            Console.WriteLine(Probe.Describe("simulator attributes (10)", Enumerable.Range(1, songCount).Select(k => simulator.AttributeVector((uint)k)).ToArray(), simulator, bench.Warm, bench.Cold));
            if (simulator.Options.FallingMotifShare > 0)
            {
                // The motif's direction, among the songs that hold one: MFCC statistics against the order features.
                int[] WithMotif(int[] keys) => keys.Where(s => simulator.Songs[s].Motif is not null).ToArray();
                var falling = simulator.Songs.Select(s => s.Motif?.Falling == true ? 1 : 0).ToArray();
                foreach (var (name, features) in new[] { ("MFCC mean+std (40)", stats), ("order features (84)", FeatureModel.Order(songs)) })
                {
                    var (accuracy, majority) = Probe.Classify(features, falling, 2, WithMotif(bench.Warm), WithMotif(bench.Cold));
                    Console.WriteLine($"- {name}: motif falling {accuracy:0.000} (majority {majority:0.000})");
                }
            }

            break;
        case "tastes":
            bench.Row("random", 1, 0, new RandomScorer(userCount, songCount, 1), "");
            var mfccStats = ContentSongFeatures.MfccStatistics(songs);
            bench.Row("content, song set (MFCC stats)", 0, 0, ml.Audio().Recommendation.Trainers.SongSet(mfccStats).Fit(bench.Training), "");
            bench.Row("content, seed song (MFCC stats)", 0, 0, ml.Audio().Recommendation.Trainers.SeedSong(mfccStats).Fit(bench.Training), "");
            foreach (int seed in seeds)
            {
                FeatureModel.Run(bench, "mfcc", seed, epochs);
                FeatureModel.Run(bench, "attributes", seed, epochs);
                foreach (string variant in arguments.GetValueOrDefault("variants", "aux=1").Split(',').Where(v => v != "none"))
                {
                    CnnExperiment.Run(bench, variant, seed, epochs, every);
                }

                if (arguments.TryGetValue("perlistener", out string? perListenerEpochs) && focus == TasteFocus.MotifOrder)
                {
                    PerListenerModel.ToldDirectly(bench, seed, int.Parse(perListenerEpochs, CultureInfo.InvariantCulture));
                }

                if (perListenerEpochs is not null)
                {
                    PerListenerModel.Run(bench, seed, int.Parse(perListenerEpochs, CultureInfo.InvariantCulture), int.Parse(arguments.GetValueOrDefault("perlistenerneg", "4"), CultureInfo.InvariantCulture));
                }
            }

            break;
        case "direction":
            foreach (int seed in seeds)
            {
                PerListenerModel.ToldDirectly(bench, seed, int.Parse(arguments.GetValueOrDefault("perlistener", "10"), CultureInfo.InvariantCulture));
            }

            break;
        case "tempo":
            // Told the tempo directly: fast (above the warm songs' median bpm) or not, the CNN + LSTM against a linear
            // read-out of MFCC statistics, cold AUC of each.
            foreach (int seed in seeds)
            {
                PerListenerModel.ToldTempo(bench, seed, int.Parse(arguments.GetValueOrDefault("perlistener", "10"), CultureInfo.InvariantCulture));
            }

            break;
        case "features":
            foreach (string variant in variants)
            {
                foreach (int seed in seeds)
                {
                    FeatureModel.Run(bench, variant, seed, epochs);
                }
            }

            break;
        case "cnn":
            foreach (string variant in variants)
            {
                foreach (int seed in seeds)
                {
                    CnnExperiment.Run(bench, variant, seed, epochs, every);
                }
            }

            break;
        case "library":
            foreach (int seed in seeds)
            {
                var timer = Stopwatch.StartNew();
                var losses = new List<double>();
                var options = new MultiUserAudioOptions { Epochs = epochs, Seed = seed, Progress = new SyncProgress(p => losses.Add(p.TrainingLoss)) };
                if (arguments.TryGetValue("weight", out string? weight))
                {
                    options.WindowStatisticsWeight = double.Parse(weight, CultureInfo.InvariantCulture);
                }

                if (arguments.TryGetValue("rhythm", out string? rhythmWeight))
                {
                    options.RhythmWeight = double.Parse(rhythmWeight, CultureInfo.InvariantCulture);
                }

                if (arguments.TryGetValue("agg", out string? aggregation))
                {
                    options.Aggregation = Enum.Parse<AudioSongAggregation>(aggregation, ignoreCase: true);
                }

                using var model = ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, options).Fit(bench.Training);
                bench.Row($"library MultiUserAudioTrainer, WindowStatisticsWeight {options.WindowStatisticsWeight}, RhythmWeight {options.RhythmWeight}, {options.Aggregation}", options.Seed.Value, epochs, model, $"play loss {losses.FirstOrDefault():0.000} -> {losses.LastOrDefault():0.000}; {timer.Elapsed.TotalSeconds:0} s");
            }

            break;
        default:
            throw new ArgumentException($"--run must be probe, tastes, direction, tempo, features, cnn or library; found '{run}'.");
    }
}

/// <summary>The benchmark, its splits and the evaluation every variant goes through.</summary>
internal sealed class Bench
{
    public Bench(MLContext ml, ListeningSimulator simulator, AudioSongWindows songs)
    {
        Ml = ml;
        Simulator = simulator;
        Songs = songs;
        Training = simulator.ToDataView(ml, simulator.Training);
        ColdTest = simulator.ToDataView(ml, simulator.ColdTest);
        WarmTest = simulator.ToDataView(ml, simulator.WarmTest);
        Warm = simulator.WarmSongKeys.Select(k => (int)k - 1).ToArray();
        Cold = simulator.ColdSongKeys.Select(k => (int)k - 1).ToArray();
        Positives = simulator.Training.Select(e => ((int)e.UserId - 1, (int)e.SongId - 1)).ToArray();
        Played = Enumerable.Range(0, simulator.UserCount).Select(_ => new HashSet<int>()).ToArray();
        foreach (var (u, s) in Positives)
        {
            Played[u].Add(s);
        }
    }

    public MLContext Ml { get; }

    /// <summary>A tab-separated file every row is appended to, or null.</summary>
    public string? ResultsFile { get; init; }

    /// <summary>The row's setting as the results file's first columns: focus, simulator seed, songs per user.</summary>
    public string Setting { get; init; } = string.Empty;

    public ListeningSimulator Simulator { get; }

    public AudioSongWindows Songs { get; }

    public IDataView Training { get; }

    public IDataView ColdTest { get; }

    public IDataView WarmTest { get; }

    public int[] Warm { get; }

    public int[] Cold { get; }

    public (int User, int Song)[] Positives { get; }

    public HashSet<int>[] Played { get; }

    public (RecommendationMetrics Cold, RecommendationMetrics Warm) Evaluate(IUserSongScorer scorer)
    {
        var evaluation = Ml.Audio().Recommendation;
        var cold = evaluation.Evaluate(scorer, ColdTest, Training, new RecommendationEvaluationOptions { CandidateSongKeys = Simulator.ColdSongKeys.ToArray() });
        var warm = evaluation.Evaluate(scorer, WarmTest, Training, new RecommendationEvaluationOptions { CandidateSongKeys = Simulator.WarmSongKeys.ToArray() });
        return (cold, warm);
    }

    public void Row(string name, int seed, int epochs, IUserSongScorer scorer, string notes)
    {
        var (cold, warm) = Evaluate(scorer);
        Print(name, seed, epochs, cold, warm, notes);
    }

    /// <summary>Prints one markdown row and appends it to <see cref="ResultsFile"/> when there is one.</summary>
    public void Print(string name, int seed, int epochs, RecommendationMetrics cold, RecommendationMetrics warm, string notes)
    {
        Console.WriteLine($"| {name} | {seed} | {epochs} | {cold.NdcgAtK:0.000} | {cold.Auc:0.000} | {warm.NdcgAtK:0.000} | {warm.Auc:0.000} | {notes} |");
        if (ResultsFile is not null)
        {
            File.AppendAllText(ResultsFile, FormattableString.Invariant($"{Setting}\t{name}\t{seed}\t{epochs}\t{cold.NdcgAtK:R}\t{cold.Auc:R}\t{warm.NdcgAtK:R}\t{warm.Auc:R}\n"));
        }
    }

    private readonly Dictionary<int, int[][]> _similar = [];

    /// <summary>Every warm song's nearest warm songs by z-scored MFCC statistics (exact search; cold songs get none).</summary>
    public int[][] SimilarWarmSongs(int neighbors)
    {
        if (_similar.TryGetValue(neighbors, out var known))
        {
            return known;
        }

        var features = ContentSongFeatures.MfccStatistics(Songs);
        var result = new int[Simulator.SongCount][];
        foreach (int song in Warm)
        {
            result[song] = Warm.Where(o => o != song)
                .Select(o => (Distance: features[song].Zip(features[o], (a, b) => (a - b) * (a - b)).Sum(), Song: o))
                .Order().Take(neighbors).Select(p => p.Song).ToArray();
        }

        return _similar[neighbors] = result;
    }

    /// <summary>Pairs of one epoch: every training play and <paramref name="negatives"/> unplayed warm songs for it.</summary>
    /// <remarks>
    /// With <paramref name="similarShare"/> above 0, that share of the negatives comes from the played song's
    /// <paramref name="similarNeighbors"/> nearest warm songs by MFCC statistics, drawn in the same order as the
    /// library's SimilarNegativeShare drew them in commit 3353880 (dropped since).
    /// </remarks>
    public List<(int User, int Song, float Label)> Pairs(Random rng, int negatives, bool popularityMatched, double similarShare = 0, int similarNeighbors = 5)
    {
        var similar = similarShare > 0 ? SimilarWarmSongs(similarNeighbors) : null;
        var pairs = new List<(int, int, float)>(Positives.Length * (1 + negatives));
        foreach (var (u, s) in Positives)
        {
            pairs.Add((u, s, 1));
            for (int n = 0; n < negatives; n++)
            {
                var neighbours = similar is not null && rng.NextDouble() < similarShare ? similar[s] : null;
                for (int attempt = 0; attempt < 20; attempt++)
                {
                    int candidate = neighbours is not null && neighbours.Length > 0 && attempt < 10 ? neighbours[rng.Next(neighbours.Length)]
                        : popularityMatched ? Positives[rng.Next(Positives.Length)].Song : Warm[rng.Next(Warm.Length)];
                    if (!Played[u].Contains(candidate))
                    {
                        pairs.Add((u, candidate, 0));
                        break;
                    }
                }
            }
        }

        for (int i = pairs.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (pairs[i], pairs[j]) = (pairs[j], pairs[i]);
        }

        return pairs;
    }
}

/// <summary>
/// The seed's per-user method on the simulator (<c>--perlistener E</c> in <c>--run tastes</c>): the library's
/// PerListenerAudio (a TimeConvLstm per listener, <see cref="PerListenerAudioOptions.DefaultListenerOptions"/> with E
/// epochs, one thread) trained on each listener's training plays against <paramref name="negativesPerPlay"/> unplayed
/// warm songs per play. The same design as RealMusic's <c>--per-listener</c>.
/// </summary>
internal static class PerListenerModel
{
    /// <summary>The listeners' convolution form (<c>--perlistenerform 1d|2d</c>; default the library's 1-D).</summary>
    public static ConvolutionForm PerListenerForm { get; set; } = ConvolutionForm.Conv1dAllCoefficients;

    /// <summary>
    /// The same network told the motif's direction: one TimeConvLstm (the listener settings, E epochs) trained on the
    /// warm songs holding a motif, labelled falling or not, and its cold-song AUC. It separates "the network cannot hear
    /// the order in these songs" from "plays carry too little of it".
    /// </summary>
    public static void ToldDirectly(Bench bench, int seed, int epochs)
    {
        var timer = Stopwatch.StartNew();
        var songs = bench.Simulator.Songs;
        bool? Falling(int s) => songs[s].Motif?.Falling;
        var listener = PerListenerAudioOptions.DefaultListenerOptions();
        listener.Epochs = epochs;
        listener.Threads = 1;
        listener.Seed = seed;
        listener.ConvolutionForm = PerListenerForm;
        var data = bench.Songs.ToDataView(bench.Ml, bench.Warm.Where(s => Falling(s) is not null).Select(s => (s, Falling(s)!.Value)));
        using var scorer = bench.Ml.Audio().Trainers.TimeConvLstm(listener).Fit(data);
        var cold = bench.Cold.Where(s => Falling(s) is not null).Select(s => (Falling: Falling(s)!.Value, Score: scorer.ScoreSong(bench.Songs.Windows(s), bench.Songs.HopFrames).Average())).ToArray();
        var falling = cold.Where(c => c.Falling).Select(c => c.Score).ToArray();
        var rising = cold.Where(c => !c.Falling).Select(c => c.Score).ToArray();
        double auc = falling.SelectMany(f => rising.Select(r => f > r ? 1.0 : f == r ? 0.5 : 0.0)).Average();
        Console.WriteLine($"# told the motif's direction directly: TimeConvLstm ({epochs} epochs, every window) on {data.GetRowCount() ?? bench.Warm.Length} warm motif songs, cold AUC {auc:0.000} over {falling.Length} falling x {rising.Length} rising cold songs; {timer.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>
    /// The network told the tempo: one TimeConvLstm (the listener settings, E epochs) trained on every warm song, labelled
    /// fast when its tempo is above the warm songs' median, and its cold-song AUC; beside it a logistic read-out of the
    /// songs' MFCC mean and standard deviation told the same. It separates "the network cannot hear tempo in MFCC
    /// windows" from "plays carry too little of it".
    /// </summary>
    public static void ToldTempo(Bench bench, int seed, int epochs)
    {
        var timer = Stopwatch.StartNew();
        var songs = bench.Simulator.Songs;
        double median = bench.Warm.Select(s => songs[s].TempoBpm).OrderBy(t => t).ElementAt(bench.Warm.Length / 2);
        bool Fast(int s) => songs[s].TempoBpm > median;
        var listener = PerListenerAudioOptions.DefaultListenerOptions();
        listener.Epochs = epochs;
        listener.Threads = 1;
        listener.Seed = seed;
        listener.ConvolutionForm = PerListenerForm;
        var data = bench.Songs.ToDataView(bench.Ml, bench.Warm.OrderBy(s => (s * 7919) % bench.Warm.Length).Select(s => (s, Fast(s))));
        using var scorer = bench.Ml.Audio().Trainers.TimeConvLstm(listener).Fit(data);
        var network = bench.Cold.Select(s => (Fast: Fast(s), Score: (double)scorer.ScoreSong(bench.Songs.Windows(s), bench.Songs.HopFrames).Average())).ToArray();
        var statistics = ContentSongFeatures.MfccStatistics(bench.Songs);
        var logits = Probe.BinaryScores(statistics, songs.Select((_, s) => Fast(s) ? 1 : 0).ToArray(), bench.Warm, bench.Cold);
        var linear = bench.Cold.Select((s, i) => (Fast: Fast(s), Score: logits[i])).ToArray();
        static double Auc((bool Fast, double Score)[] rows) =>
            rows.Where(r => r.Fast).SelectMany(f => rows.Where(r => !r.Fast).Select(o => f.Score > o.Score ? 1.0 : f.Score == o.Score ? 0.5 : 0.0)).Average();
        Console.WriteLine($"# told the tempo directly (fast: above the warm median {median:0} bpm): TimeConvLstm ({epochs} epochs, every window, {PerListenerForm}) on {bench.Warm.Length} warm songs, cold AUC {Auc(network):0.000}; "
            + $"logistic read-out of MFCC mean + std, cold AUC {Auc(linear):0.000}; {network.Count(r => r.Fast)} fast x {network.Count(r => !r.Fast)} slow cold songs; {timer.Elapsed.TotalSeconds:0} s");
        Console.WriteLine($"tempo\t{bench.Setting}\t{seed}\t{epochs}\t{PerListenerForm}\t{Auc(network):0.000}\t{Auc(linear):0.000}");
    }

    public static void Run(Bench bench, int seed, int epochs, int negativesPerPlay)
    {
        var timer = Stopwatch.StartNew();
        var listener = PerListenerAudioOptions.DefaultListenerOptions();
        listener.Epochs = epochs;
        listener.Threads = 1;
        listener.ConvolutionForm = PerListenerForm;
        var model = bench.Ml.Audio().Recommendation.Trainers.PerListenerAudio(bench.Songs, new PerListenerAudioOptions
        {
            Seed = seed, NegativesPerPlay = negativesPerPlay, Listener = listener,
        }).Fit(bench.Training);
        bench.Row("per-listener TimeConvLstm", seed, epochs, model, $"{negativesPerPlay} negatives per play, every window; {model.ListenersWithModel} listeners; {timer.Elapsed.TotalSeconds:0} s");
    }
}

/// <summary>Scores from a dense users x songs table.</summary>
internal sealed class DenseScorer(int users, int songs, float[] table) : IUserSongScorer
{
    public int UserCount => users;

    public int SongCount => songs;

    public void ScoreUsers(int firstUser, int userCount, Span<float> destination) =>
        table.AsSpan(firstUser * songs, userCount * songs).CopyTo(destination);
}

/// <summary>Reports progress synchronously (Progress&lt;T&gt; posts to the thread pool, so values could arrive late).</summary>
internal sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

/// <summary>
/// Linear probes: can a linear model on song features predict the attributes the simulator's tastes are defined on?
/// Fitted on warm songs, tested on cold ones.
/// </summary>
internal static class Probe
{
    private static readonly Instrument[] Parts = [Instrument.Flute, Instrument.Guitar, Instrument.Violin, Instrument.Clarinet, Instrument.Marimba];

    public static string Describe(string name, float[][] features, ListeningSimulator simulator, int[] train, int[] test)
    {
        var parts = new List<string>();
        double instrumentAccuracy = 0, instrumentMajority = 0;
        foreach (var instrument in Parts)
        {
            var y = simulator.Songs.Select(s => s.Instruments.Contains(instrument) ? 1 : 0).ToArray();
            var (accuracy, majority) = Classify(features, y, 2, train, test);
            instrumentAccuracy += accuracy / Parts.Length;
            instrumentMajority += majority / Parts.Length;
        }

        parts.Add($"instrument present {instrumentAccuracy:0.000} (majority {instrumentMajority:0.000})");
        var (ra, rm) = Classify(features, simulator.Songs.Select(s => (int)s.Register).ToArray(), 3, train, test);
        parts.Add($"register {ra:0.000} (majority {rm:0.000})");
        var (ma, mm) = Classify(features, simulator.Songs.Select(s => s.Motif is null ? 0 : 1).ToArray(), 2, train, test);
        parts.Add($"motif {ma:0.000} (majority {mm:0.000})");
        parts.Add($"tempo R2 {TempoR2(features, simulator.Songs.Select(s => (float)s.TempoBpm).ToArray(), train, test):0.000}");
        return $"- {name}: " + string.Join("; ", parts);
    }

    public static (double Accuracy, double Majority) Classify(float[][] features, int[] labels, int classes, int[] train, int[] test)
    {
        using var scope = NewDisposeScope();
        int d = features[0].Length;
        var x = Matrix(features, train, d);
        var y = tensor(train.Select(s => (long)labels[s]).ToArray());
        var w = nn.Parameter(zeros(d, classes));
        var b = nn.Parameter(zeros(classes));
        using var optimizer = new RootedAdam([w, b], 0.05);
        for (int i = 0; i < 400; i++)
        {
            using var step = NewDisposeScope();
            var loss = F.cross_entropy(x.matmul(w).add(b, TorchScalars.One), y).add(w.pow(TorchScalars.Two).sum().mul(TorchScalars.OneThousandthSingle), TorchScalars.One);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }

        var predicted = Matrix(features, test, d).matmul(w).add(b, TorchScalars.One).argmax(1).data<long>().ToArray();
        double accuracy = test.Select((s, i) => predicted[i] == labels[s] ? 1.0 : 0.0).Average();
        double majority = test.GroupBy(s => labels[s]).Max(g => g.Count()) / (double)test.Length;
        return (accuracy, majority);
    }

    /// <summary>A logistic read-out fitted on <paramref name="train"/> (labels 0 or 1); its logits on <paramref name="test"/>.</summary>
    public static double[] BinaryScores(float[][] features, int[] labels, int[] train, int[] test)
    {
        using var scope = NewDisposeScope();
        int d = features[0].Length;
        var x = Matrix(features, train, d);
        var y = tensor(train.Select(s => (float)labels[s]).ToArray());
        var w = nn.Parameter(zeros(d));
        var b = nn.Parameter(zeros(1));
        using var optimizer = new RootedAdam([w, b], 0.05);
        for (int i = 0; i < 1000; i++)
        {
            using var step = NewDisposeScope();
            var loss = F.binary_cross_entropy_with_logits(x.matmul(w).add(b, TorchScalars.One), y).add(w.pow(TorchScalars.Two).sum().mul(TorchScalars.OneThousandthSingle), TorchScalars.One);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }

        return Matrix(features, test, d).matmul(w).add(b, TorchScalars.One).data<float>().ToArray().Select(v => (double)v).ToArray();
    }

    private static double TempoR2(float[][] features, float[] tempo, int[] train, int[] test)
    {
        using var scope = NewDisposeScope();
        int d = features[0].Length;
        float mean = train.Average(s => tempo[s]);
        float spread = (float)Math.Sqrt(train.Average(s => (tempo[s] - mean) * (tempo[s] - mean)));
        var x = Matrix(features, train, d);
        var y = tensor(train.Select(s => (tempo[s] - mean) / spread).ToArray());
        var w = nn.Parameter(zeros(d));
        var b = nn.Parameter(zeros(1));
        using var optimizer = new RootedAdam([w, b], 0.05);
        for (int i = 0; i < 1000; i++)
        {
            using var step = NewDisposeScope();
            var loss = (x.matmul(w).add(b, TorchScalars.One) - y).pow(TorchScalars.Two).mean().add(w.pow(TorchScalars.Two).sum().mul(TorchScalars.OneThousandthSingle), TorchScalars.One);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }

        using var spreadScalar = spread.ToScalar();
        var predicted = Matrix(features, test, d).matmul(w).add(b, TorchScalars.One).mul(spreadScalar).data<float>().ToArray();
        double residual = test.Select((s, i) => Math.Pow(predicted[i] - (tempo[s] - mean), 2)).Sum();
        double testMean = test.Average(s => tempo[s] - mean);
        double total = test.Sum(s => Math.Pow(tempo[s] - mean - testMean, 2));
        return 1 - (residual / total);
    }

    private static Tensor Matrix(float[][] features, int[] rows, int d) =>
        tensor(rows.SelectMany(s => features[s]).ToArray(), [rows.Length, d]);
}

/// <summary>
/// The trainer's user-vector model on fixed song features instead of the CNN+LSTM: a small MLP maps each song's
/// feature vector to an embedding, scored against per-user vectors, trained on the same pairs and loss. With the
/// simulator's own attributes it is the ceiling of this training signal; with MFCC statistics it asks whether the
/// CNN+LSTM adds anything over them.
/// </summary>
internal static class FeatureModel
{
    /// <summary>The first and last lag of <see cref="Tempogram"/>, in frames (20 ms hops: 0.1 to 1.5 s; beat periods at 180 and 60 bpm are 17 and 50 frames).</summary>
    public const int FirstLag = 5, LastLag = 75;

    /// <summary>
    /// A song's tempogram: per window, an onset envelope (the half-wave rectified frame-to-frame rise of the
    /// per-coefficient standardised MFCCs, summed over coefficients), centred, and its autocorrelation at lags
    /// <see cref="FirstLag"/>..<see cref="LastLag"/> divided by the lag-0 value; averaged over the song's windows and
    /// standardised per lag over the catalog. A beat period of k frames shows as a peak at lag k, so a tempo is a
    /// position along these features, not a single number.
    /// </summary>
    public static float[][] Tempogram(AudioSongWindows songs)
    {
        int frames = songs.FramesPerWindow, c = songs.Coefficients, lags = LastLag - FirstLag + 1;
        var (_, deviation) = CoefficientMoments(songs);

        var result = new float[songs.SongCount][];
        var onset = new double[frames];
        for (int s = 0; s < songs.SongCount; s++)
        {
            var w = songs.Windows(s);
            int windows = songs.WindowCount(s);
            var sum = new double[lags];
            for (int k = 0; k < windows; k++)
            {
                var x = w.Slice(k * frames * c, frames * c);
                onset[0] = 0;
                for (int t = 1; t < frames; t++)
                {
                    double rise = 0;
                    for (int j = 0; j < c; j++)
                    {
                        rise += Math.Max(0, (x[(t * c) + j] - x[((t - 1) * c) + j]) / deviation[j]);
                    }

                    onset[t] = rise;
                }

                double average = onset.Skip(1).Average();
                for (int t = 0; t < frames; t++)
                {
                    onset[t] = t == 0 ? 0 : onset[t] - average;
                }

                double zero = onset.Sum(v => v * v) + 1e-12;
                for (int lag = FirstLag; lag <= LastLag; lag++)
                {
                    double r = 0;
                    for (int t = 1; t + lag < frames; t++)
                    {
                        r += onset[t] * onset[t + lag];
                    }

                    sum[lag - FirstLag] += r / zero / windows;
                }
            }

            result[s] = sum.Select(v => (float)v).ToArray();
        }

        for (int lag = 0; lag < lags; lag++)
        {
            double m = result.Average(r => r[lag]);
            double d = Math.Sqrt(Math.Max(1e-12, result.Average(r => (r[lag] - m) * (r[lag] - m))));
            foreach (var r in result)
            {
                r[lag] = (float)((r[lag] - m) / d);
            }
        }

        return result;
    }

    /// <summary>
    /// A song's order features: per window, the antisymmetric lagged cross-covariances
    /// A_jk(L) = mean_t [x_j(t) x_k(t+L) - x_k(t) x_j(t+L)] of the first 8 per-coefficient standardised MFCCs, j &lt; k,
    /// at lags of 0.5, 1 and 1.5 s; averaged over the song's windows and standardised per feature over the catalog.
    /// Each changes sign when the song is played backwards, so a rising and a falling motif differ here although their
    /// MFCC statistics are equal (what the CNN's order=X read-out is asked to give, as fixed features).
    /// </summary>
    public static float[][] Order(AudioSongWindows songs)
    {
        const int K = 8;
        int frames = songs.FramesPerWindow, c = songs.Coefficients;
        int[] lags = [(int)Math.Round(0.5 * songs.Options.FramesPerSecond), (int)Math.Round(1.0 * songs.Options.FramesPerSecond), (int)Math.Round(1.5 * songs.Options.FramesPerSecond)];
        var (mean, deviation) = CoefficientMoments(songs);
        int pairs = K * (K - 1) / 2;
        var result = new float[songs.SongCount][];
        for (int s = 0; s < songs.SongCount; s++)
        {
            var w = songs.Windows(s);
            int windows = songs.WindowCount(s);
            var sum = new double[lags.Length * pairs];
            var z = new double[frames, K];
            for (int k = 0; k < windows; k++)
            {
                var x = w.Slice(k * frames * c, frames * c);
                for (int t = 0; t < frames; t++)
                {
                    for (int j = 0; j < K; j++)
                    {
                        z[t, j] = (x[(t * c) + j] - mean[j]) / deviation[j];
                    }
                }

                int f = 0;
                foreach (int lag in lags)
                {
                    for (int a = 0; a < K; a++)
                    {
                        for (int b = a + 1; b < K; b++)
                        {
                            double r = 0;
                            for (int t = 0; t + lag < frames; t++)
                            {
                                r += (z[t, a] * z[t + lag, b]) - (z[t, b] * z[t + lag, a]);
                            }

                            sum[f++] += r / (frames - lag) / windows;
                        }
                    }
                }
            }

            result[s] = sum.Select(v => (float)v).ToArray();
        }

        for (int f = 0; f < result[0].Length; f++)
        {
            double m = result.Average(r => r[f]);
            double d = Math.Sqrt(Math.Max(1e-12, result.Average(r => (r[f] - m) * (r[f] - m))));
            foreach (var r in result)
            {
                r[f] = (float)((r[f] - m) / d);
            }
        }

        return result;
    }

    /// <summary>Each MFCC coefficient's mean and deviation over every frame of the catalog.</summary>
    private static (double[] Mean, double[] Deviation) CoefficientMoments(AudioSongWindows songs)
    {
        int c = songs.Coefficients;
        var mean = new double[c];
        var sq = new double[c];
        long n = 0;
        for (int s = 0; s < songs.SongCount; s++)
        {
            var w = songs.Windows(s);
            for (int i = 0; i < w.Length; i++)
            {
                mean[i % c] += w[i];
                sq[i % c] += (double)w[i] * w[i];
            }

            n += w.Length / c;
        }

        var deviation = new double[c];
        for (int j = 0; j < c; j++)
        {
            mean[j] /= n;
            deviation[j] = Math.Sqrt(Math.Max(1e-12, (sq[j] / n) - (mean[j] * mean[j])));
        }

        return (mean, deviation);
    }

    public static void Run(Bench bench, string variant, int seed, int epochs)
    {
        var simulator = bench.Simulator;
        var tokens = variant.Split(';');
        float[][] features = tokens[0] switch
        {
            "attributes" => Enumerable.Range(1, simulator.SongCount).Select(k => simulator.AttributeVector((uint)k)).ToArray(),
            "mfcc" => ContentSongFeatures.MfccStatistics(bench.Songs),
            "tempogram" => Tempogram(bench.Songs),
            "mfcc+tempogram" => ContentSongFeatures.MfccStatistics(bench.Songs).Zip(Tempogram(bench.Songs), (a, b) => a.Concat(b).ToArray()).ToArray(),
            "order" => Order(bench.Songs),
            "mfcc+order" => ContentSongFeatures.MfccStatistics(bench.Songs).Zip(Order(bench.Songs), (a, b) => a.Concat(b).ToArray()).ToArray(),
            _ => throw new ArgumentException($"feature variant must start with attributes, mfcc, tempogram, mfcc+tempogram, order or mfcc+order; found '{tokens[0]}'."),
        };
        double lr = Value(tokens, "lr", 3e-3);
        int negatives = (int)Value(tokens, "neg", 2);
        bool songBias = tokens.Contains("songbias");
        bool linear = tokens.Contains("linear");
        // dist: the logit is bias - |song embedding - user vector|^2 instead of their dot product, so a listener's
        // liking can be a bump around a point of the embedding (a tempo taste is a bump of 20 bpm around the
        // listener's tempo), which a dot product can only make by bending the embedding.
        bool distance = tokens.Contains("dist");
        double wd = Value(tokens, "wd", 0);
        int e = (int)Value(tokens, "emb", 32);
        var timer = Stopwatch.StartNew();
        torch.random.manual_seed(seed);
        int d = features[0].Length;
        using var x = tensor(features.SelectMany(f => f).ToArray(), [features.Length, d]);
        nn.Module<Tensor, Tensor> encoder = linear
            ? nn.Linear(d, e)
            : nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, e));
        var users = nn.Parameter(randn(simulator.UserCount, e).mul_(TorchScalars.OneTenthDouble));
        var bias = nn.Parameter(zeros(1));
        var songBiases = nn.Parameter(zeros(simulator.SongCount));
        var parameters = encoder.parameters().Append(users).Append(bias).Append(songBiases).ToArray();
        using var optimizer = new RootedAdam(parameters, lr);
        var rng = new Random(seed);
        double first = double.NaN, last = double.NaN;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var pairs = bench.Pairs(rng, negatives, false);
            double total = 0;
            int batches = 0;
            for (int start = 0; start < pairs.Count; start += 32)
            {
                using var scope = NewDisposeScope();
                var batch = pairs.Skip(start).Take(32).ToArray();
                var songIndex = tensor(batch.Select(p => (long)p.Song).ToArray());
                var embedding = encoder.call(x.index_select(0, songIndex));
                var u = users.index_select(0, tensor(batch.Select(p => (long)p.User).ToArray()));
                var logits = distance
                    ? bias.sub(embedding.sub(u).pow(TorchScalars.Two).sum(-1))
                    : (embedding * u).sum(-1).add(bias, TorchScalars.One);
                if (songBias)
                {
                    logits = logits.add(songBiases.index_select(0, songIndex), TorchScalars.One);
                }

                var loss = F.binary_cross_entropy_with_logits(logits, tensor(batch.Select(p => p.Label).ToArray()));
                if (wd > 0)
                {
                    using var wdScalar = ((float)wd).ToScalar();
                    loss = loss.add(u.pow(TorchScalars.Two).sum(-1).mean().mul(wdScalar), TorchScalars.One);
                }
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                total += loss.item<float>();
                batches++;
            }

            first = epoch == 0 ? total / batches : first;
            last = total / batches;
        }

        float[] table;
        double participation;
        using (no_grad())
        {
            var embeddings = encoder.call(x);
            // With dist, a user's ranking by -|e - u|^2 is the ranking by 2 u.e - |e|^2 (|u|^2 is the same for all songs).
            table = (distance
                ? users.matmul(embeddings.t()).mul(TorchScalars.Two).sub(embeddings.pow(TorchScalars.Two).sum(-1).unsqueeze(0))
                : users.matmul(embeddings.t())).data<float>().ToArray();
            participation = CnnExperiment.ParticipationRatio(embeddings);
        }

        bench.Row($"MLP on {variant}", seed, epochs, new DenseScorer(simulator.UserCount, simulator.SongCount, table), $"loss {first:0.000} -> {last:0.000}; participation ratio {participation:0.0}; {timer.Elapsed.TotalSeconds:0} s");
        encoder.Dispose();
    }

    public static double Value(string[] tokens, string name, double fallback)
    {
        var token = tokens.FirstOrDefault(t => t.StartsWith(name + "=", StringComparison.Ordinal));
        return token is null ? fallback : double.Parse(token[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The multi-user trainer's loop, re-implemented with switches (see the header), plus diagnostics: held-out warm loss,
/// the spread of song embeddings (between-song share of the window variance, participation ratio) and linear probes
/// of the learned song embeddings.
/// </summary>
internal static class CnnExperiment
{
    public static void Run(Bench bench, string variant, int seed, int epochs, int every)
    {
        var tokens = variant.Split(';');
        double lr = FeatureModel.Value(tokens, "lr", 3e-3);
        int negatives = (int)FeatureModel.Value(tokens, "neg", 2);
        int w = (int)FeatureModel.Value(tokens, "wpp", 3);
        int e = (int)FeatureModel.Value(tokens, "emb", 32);
        int channels = (int)FeatureModel.Value(tokens, "ch", 16);
        double wd = FeatureModel.Value(tokens, "wd", 0);
        bool songBias = tokens.Contains("songbias"), userBias = tokens.Contains("userbias"), norm = tokens.Contains("norm");
        bool freeze = tokens.Contains("freeze"), popNeg = tokens.Contains("popneg"), standardise = !tokens.Contains("nostd");
        bool max = tokens.Contains("agg=max");
        double similarShare = FeatureModel.Value(tokens, "simneg", 0);
        int similarNeighbors = (int)FeatureModel.Value(tokens, "simk", 5);
        var form = tokens.Contains("form=2d") ? ConvolutionForm.Conv2dTimeOnly : ConvolutionForm.Conv1dAllCoefficients;

        var songs = bench.Songs;
        var simulator = bench.Simulator;
        var timer = Stopwatch.StartNew();
        torch.random.manual_seed(seed);
        using var network = new TimeConvNetwork(new TimeConvNetworkSettings(songs.FramesPerWindow, songs.Coefficients, form, NetworkHead.Lstm, 3, channels, e));
        var users = nn.Parameter(randn(simulator.UserCount, e).mul_(TorchScalars.OneTenthDouble));
        var bias = nn.Parameter(zeros(1));
        var userBiases = nn.Parameter(zeros(simulator.UserCount));
        var songBiases = nn.Parameter(zeros(simulator.SongCount));
        var logScale = nn.Parameter(tensor(new[] { (float)Math.Log(4) }));
        var (mean, std) = Standardisation(songs, bench.Warm, standardise);
        // pool=meanstd: the convolution features' mean and deviation over time through one Linear layer, instead of
        // the LSTM's last state (a learned generalisation of the MFCC mean/std baseline).
        using var poolHead = tokens.Contains("pool=meanstd") ? nn.Linear(2L * network.Settings.FeaturesPerStep, e) : null;
        // bn: batch normalisation of the window embedding (running statistics when scoring). At initialisation the
        // LSTM's last state barely differs between songs; this spreads songs apart from the first step.
        using var batchNorm = tokens.Contains("bn") ? nn.BatchNorm1d(e) : null;
        Tensor Embed(Tensor x)
        {
            Tensor embedding;
            if (poolHead is null)
            {
                embedding = network.Embedding(x);
            }
            else
            {
                var f = network.Features(x);
                embedding = poolHead.call(cat([f.mean([1]), f.std(1)], 1));
            }

            if (batchNorm is not null)
            {
                batchNorm.train(network.training);
                embedding = batchNorm.call(embedding);
            }

            return embedding;
        }

        // aux=X: a self-supervised auxiliary loss, weight X: a linear read-out of the window embedding must give the
        // window's own per-coefficient MFCC mean and deviation, so the embedding keeps at least what MFCC statistics
        // hold. vicreg=X: VICReg's variance and covariance terms on the batch's embeddings, weight X.
        double aux = FeatureModel.Value(tokens, "aux", 0), vicreg = FeatureModel.Value(tokens, "vicreg", 0);
        using var auxHead = aux > 0 ? nn.Linear(e, 2L * songs.Coefficients) : null;
        // rhythm=X: a second read-out, weight X, must give the window's tempogram (FeatureModel.Tempogram's
        // autocorrelation of the onset envelope at lags 5..75 frames, per window, standardised per lag over the
        // catalog's windows): a beat period shows as a peak at its lag, so the embedding holds tempo as a position
        // along many directions, which user vectors can weigh as a bump.
        double rhythm = FeatureModel.Value(tokens, "rhythm", 0);
        int lagCount = FeatureModel.LastLag - FeatureModel.FirstLag + 1;
        using var rhythmHead = rhythm > 0 ? nn.Linear(e, lagCount) : null;
        Tensor WindowTempogram(Tensor standardised)
        {
            var o = F.relu(standardised.narrow(1, 1, standardised.shape[1] - 1).sub(standardised.narrow(1, 0, standardised.shape[1] - 1))).sum(2);
            o = o.sub(o.mean([1], keepdim: true));
            using var small = 1e-6.ToScalar();
            var zero = o.pow(TorchScalars.Two).sum(1).add(small, TorchScalars.One);
            long length = o.shape[1];
            var lagged = Enumerable.Range(FeatureModel.FirstLag, lagCount).Select(k => o.narrow(1, 0, length - k).mul(o.narrow(1, k, length - k)).sum(1)).ToArray();
            return stack(lagged, 1).div(zero.unsqueeze(1));
        }

        // A read-out target's mean and deviation per feature over every window of the catalog (standardised input).
        (Tensor Mean, Tensor Std) CatalogMoments(Func<Tensor, Tensor> target)
        {
            using var noGrad = no_grad();
            var all = new List<Tensor>();
            for (int s = 0; s < simulator.SongCount; s++)
            {
                using var scope = NewDisposeScope();
                var x = tensor(songs.Windows(s).ToArray(), [songs.WindowCount(s), songs.FramesPerWindow, songs.Coefficients]).sub(mean).div(std);
                all.Add(target(x).MoveToOuterDisposeScope());
            }

            using var windows = cat(all, 0);
            using var floor = 1e-6.ToScalar();
            all.ForEach(t => t.Dispose());
            return (windows.mean([0]), windows.std(0).clamp_min(floor));
        }

        var (lagMean, lagStd) = rhythmHead is not null ? CatalogMoments(WindowTempogram) : (null!, null!);

        Tensor RhythmLoss(Tensor x, Tensor embedding)
        {
            var target = WindowTempogram(x).sub(lagMean).div(lagStd).detach();
            using var weight = ((float)rhythm).ToScalar();
            return F.mse_loss(rhythmHead!.call(embedding), target).mul(weight);
        }
        // order=X: a third read-out, weight X, must give the window's antisymmetric lagged cross-covariances
        // A_jk(L) = mean_t [x_j(t) x_k(t+L) - x_k(t) x_j(t+L)] of its first OrderCoefficients standardised coefficients,
        // j < k, at lags of 0.5, 1 and 1.5 s, each standardised over the catalog's windows. A_jk(L) changes sign when
        // the window is played backwards, so an embedding that gives it has to hold which sounds come first: a
        // low-then-high motif and its high-then-low mirror have opposite targets, while MFCC statistics are equal.
        double orderWeight = FeatureModel.Value(tokens, "order", 0);
        const int OrderCoefficients = 8;
        int[] orderLags = [(int)Math.Round(0.5 * songs.Options.FramesPerSecond), (int)Math.Round(1.0 * songs.Options.FramesPerSecond), (int)Math.Round(1.5 * songs.Options.FramesPerSecond)];
        int pairCount = OrderCoefficients * (OrderCoefficients - 1) / 2;
        using var orderHead = orderWeight > 0 ? nn.Linear(e, (long)orderLags.Length * pairCount) : null;
        using var upper = triu_indices(OrderCoefficients, OrderCoefficients, 1);
        using var width = OrderCoefficients.ToScalar();
        using var flatUpper = upper[0].mul(width).add(upper[1], TorchScalars.One);
        Tensor WindowOrder(Tensor standardised)
        {
            long length = standardised.shape[1];
            var first = standardised.narrow(2, 0, Math.Min(OrderCoefficients, standardised.shape[2]));
            var parts = orderLags.Select(lag =>
            {
                var before = first.narrow(1, 0, length - lag);
                var after = first.narrow(1, lag, length - lag);
                using var frames = ((float)(length - lag)).ToScalar();
                var cross = before.transpose(1, 2).matmul(after).div(frames);
                return cross.sub(cross.transpose(1, 2)).flatten(1).index_select(1, flatUpper);
            }).ToArray();
            return cat(parts, 1);
        }

        if (orderHead is not null && (songs.Coefficients < OrderCoefficients || songs.FramesPerWindow <= orderLags[^1]))
        {
            throw new ArgumentException($"order=X needs {OrderCoefficients} coefficients and windows longer than {orderLags[^1]} frames.");
        }

        var (orderMean, orderStd) = orderHead is not null ? CatalogMoments(WindowOrder) : (null!, null!);

        Tensor OrderLoss(Tensor x, Tensor embedding)
        {
            var target = WindowOrder(x).sub(orderMean).div(orderStd).detach();
            using var weight = ((float)orderWeight).ToScalar();
            return F.mse_loss(orderHead!.call(embedding), target).mul(weight);
        }

        // clr=X: CLMR-style contrastive loss, weight X: two windows of the same song are positives, the other songs'
        // windows in the batch negatives (InfoNCE through a linear projection, temperature tau=T, default 0.1).
        double clr = FeatureModel.Value(tokens, "clr", 0), tau = FeatureModel.Value(tokens, "tau", 0.1);
        bool pretraining = FeatureModel.Value(tokens, "pretrain", 0) > 0;
        using var clrHead = clr > 0 || pretraining ? nn.Linear(e, e) : null;
        if (clr > 0 && w < 2)
        {
            throw new ArgumentException("clr=X needs at least two windows per pair (wpp=2 or more).");
        }

        // dropnet=P: DropoutNet-style. Every warm song also has a learned vector added to its audio embedding in
        // training, dropped (zeroed) for a pair with probability P; scoring uses the audio embedding alone, as for a
        // cold song. The song vectors absorb what audio cannot explain; the dropped pairs train audio alone.
        double dropNet = FeatureModel.Value(tokens, "dropnet", 0);
        var songVectors = nn.Parameter(zeros(simulator.SongCount, e));
        IEnumerable<TorchSharp.Modules.Parameter> trained = dropNet > 0 ? [users, bias, userBiases, songBiases, logScale, songVectors] : [users, bias, userBiases, songBiases, logScale];
        var encoderParameters = network.parameters().Concat(poolHead?.parameters() ?? []).Concat(batchNorm?.parameters() ?? []).Concat(auxHead?.parameters() ?? []).Concat(rhythmHead?.parameters() ?? []).Concat(orderHead?.parameters() ?? []).Concat(clrHead?.parameters() ?? []);
        // wpe / fmse (van den Oord, Dieleman and Schrauwen 2013, "Deep content-based music recommendation"): the
        // network predicts each song's weighted-MF factors instead of learning user vectors from plays. MF (the
        // library's ImplicitMatrixFactorization, rank=N, default 8, its other defaults) is fitted on the training plays
        // first; a linear head maps the mean of a song's window embeddings to its factors. fmse: mean squared error
        // against the MF song factors. wpe: the weighted prediction error, the WMF objective with the user factors held
        // fixed: mean over the batch's songs and all users of c_us (p_us - x_u . y_s)^2, c = 1 + alpha x plays.
        // Scoring: each window's preference is sigmoid(x_u . head(embedding)), aggregated like every other variant.
        bool wpe = tokens.Contains("wpe"), fmse = tokens.Contains("fmse");
        int rank = (int)FeatureModel.Value(tokens, "rank", ImplicitMatrixFactorizationOptions.Defaults.ApproximationRank);
        Tensor? userFactors = null, songFactors = null, preference = null, confidence = null;
        using var factorHead = wpe || fmse ? nn.Linear(e, rank) : null;
        if (factorHead is not null)
        {
            var mf = bench.Ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions { MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", ApproximationRank = rank, Seed = seed }).Fit(bench.Training);
            userFactors = tensor(Enumerable.Range(1, simulator.UserCount).SelectMany(k => mf.GetUserFactors((uint)k)).ToArray(), [simulator.UserCount, rank]);
            songFactors = tensor(Enumerable.Range(1, simulator.SongCount).SelectMany(k => mf.GetSongFactors((uint)k)).ToArray(), [simulator.SongCount, rank]);
            var p = new float[simulator.SongCount * simulator.UserCount];
            var c = new float[p.Length];
            Array.Fill(c, 1f);
            foreach (var play in simulator.Training)
            {
                int at = ((int)play.SongId - 1) * simulator.UserCount + (int)play.UserId - 1;
                p[at] = 1;
                c[at] = 1 + (float)(mf.Alpha * play.Label);
            }

            preference = tensor(p, [simulator.SongCount, simulator.UserCount]);
            confidence = tensor(c, [simulator.SongCount, simulator.UserCount]);
        }

        var parameters = (freeze ? trained : encoderParameters.Concat(trained)).Concat(factorHead?.parameters() ?? []).ToArray();
        using var optimizer = new RootedAdam(parameters, lr);
        var rng = new Random(seed);
        int size = songs.WindowSize;

        // pretrain=E: CLMR-style contrastive pretraining as a phase of its own, before any play is seen: E epochs over
        // every song of the catalog (cold ones too: no labels needed), batches of 32 songs, two different windows of each,
        // InfoNCE through the clr projection (temperature tau) plus the aux term when set; the encoder's own Adam, lr.
        int pretrain = (int)FeatureModel.Value(tokens, "pretrain", 0);
        if (pretrain > 0)
        {
            var head = clrHead!;
            var encoderOnly = encoderParameters.ToArray();
            using var preOptimizer = new RootedAdam(encoderOnly, lr);
            var preBuffer = new float[32 * 2 * size];
            // near=K: the second window of a positive pair lies within K windows of the first (a section, not anywhere
            // in the song), so a part heard in only one section (a motif) can be shared by both windows.
            int near = (int)FeatureModel.Value(tokens, "near", 0);
            var preLosses = new List<double>();
            // hard: each batch is a random song and the 31 songs nearest it by standardised MFCC mean + std among those
            // not yet in a batch this epoch, so songs alike in frame statistics must be told apart by what the
            // statistics miss (tempo, rhythm, the order of parts).
            bool hard = tokens.Contains("hard");
            var statistics = hard ? ContentSongFeatures.MfccStatistics(songs) : null;
            for (int epoch = 0; epoch < pretrain; epoch++)
            {
                network.train();
                var order = Enumerable.Range(0, simulator.SongCount).OrderBy(_ => rng.Next()).ToArray();
                if (statistics is not null)
                {
                    order = HardBatches(order, statistics, 32);
                }

                double total = 0;
                int batches = 0;
                for (int start = 0; start + 1 < order.Length; start += 32)
                {
                    int b = Math.Min(32, order.Length - start);
                    for (int i = 0; i < b; i++)
                    {
                        int song = order[start + i], count = songs.WindowCount(song);
                        int first = rng.Next(count), second = count < 2 ? first : (first + 1 + rng.Next(count - 1)) % count;
                        if (near > 0 && count > 1)
                        {
                            int low = Math.Max(0, first - near), high = Math.Min(count - 1, first + near);
                            second = low + rng.Next(high - low); // high - low candidates besides first
                            second += second >= first ? 1 : 0;
                        }

                        songs.Windows(song).Slice(first * size, size).CopyTo(preBuffer.AsSpan(2 * i * size, size));
                        songs.Windows(song).Slice(second * size, size).CopyTo(preBuffer.AsSpan(((2 * i) + 1) * size, size));
                    }

                    using var scope = NewDisposeScope();
                    var x = tensor(preBuffer.AsSpan(0, 2 * b * size).ToArray(), [2 * b, songs.FramesPerWindow, songs.Coefficients]).sub(mean).div(std);
                    var flat = Embed(x);
                    var pairsOfWindows = flat.reshape(b, 2, -1);
                    var z0 = F.normalize(head.call(pairsOfWindows.select(1, 0)), p: 2, dim: -1);
                    var z1 = F.normalize(head.call(pairsOfWindows.select(1, 1)), p: 2, dim: -1);
                    using var tauScalar = ((float)tau).ToScalar();
                    var similarity = z0.matmul(z1.t()).div(tauScalar);
                    using var batchSongs = b.ToScalar();
                    var targets = arange(batchSongs, dtype: ScalarType.Int64);
                    var loss = F.cross_entropy(similarity, targets).add(F.cross_entropy(similarity.t(), targets), TorchScalars.One).div(TorchScalars.Two);
                    if (auxHead is not null)
                    {
                        var target = cat([x.mean([1]), x.std(1)], 1).detach();
                        using var auxScalar = ((float)aux).ToScalar();
                        loss = loss.add(F.mse_loss(auxHead.call(flat), target).mul(auxScalar), TorchScalars.One);
                    }

                    if (rhythmHead is not null)
                    {
                        loss = loss.add(RhythmLoss(x, flat), TorchScalars.One);
                    }

                    if (orderHead is not null)
                    {
                        loss = loss.add(OrderLoss(x, flat), TorchScalars.One);
                    }

                    preOptimizer.zero_grad();
                    loss.backward();
                    nn.utils.clip_grad_norm_(encoderOnly, 5);
                    preOptimizer.step();
                    total += loss.item<float>();
                    batches++;
                }

                preLosses.Add(total / batches);
            }

            Console.WriteLine($"# {variant}: {pretrain} pretraining epochs over {simulator.SongCount} songs, loss {preLosses[0]:0.000} -> {preLosses[^1]:0.000}; {timer.Elapsed.TotalSeconds:0} s");
        }
        var buffer = new float[32 * w * size];
        var losses = new List<double>();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            network.train();
            var pairs = bench.Pairs(rng, negatives, popNeg, similarShare, similarNeighbors);
            double total = 0;
            int batches = 0;
            for (int start = 0; start < pairs.Count; start += 32)
            {
                int b = Math.Min(32, pairs.Count - start);
                for (int i = 0; i < b; i++)
                {
                    int s = pairs[start + i].Song;
                    var windows = songs.Windows(s);
                    for (int j = 0; j < w; j++)
                    {
                        windows.Slice(rng.Next(songs.WindowCount(s)) * size, size).CopyTo(buffer.AsSpan(((i * w) + j) * size, size));
                    }
                }

                using var scope = NewDisposeScope();
                var x = tensor(buffer.AsSpan(0, b * w * size).ToArray(), [b * w, songs.FramesPerWindow, songs.Coefficients]).sub(mean).div(std);
                var flat = Embed(x);
                var embedding = Normalise(flat, norm, logScale).reshape(b, w, -1);
                var userIndex = tensor(pairs.Skip(start).Take(b).Select(p => (long)p.User).ToArray());
                var songIndex = tensor(pairs.Skip(start).Take(b).Select(p => (long)p.Song).ToArray());
                var u = users.index_select(0, userIndex);
                if (dropNet > 0)
                {
                    var keep = tensor(Enumerable.Range(0, b).Select(_ => rng.NextDouble() < dropNet ? 0f : 1f).ToArray()).reshape(b, 1, 1);
                    embedding = embedding.add(songVectors.index_select(0, songIndex).unsqueeze(1).mul(keep), TorchScalars.One);
                }

                var logits = (embedding * u.unsqueeze(1)).sum(-1).add(bias, TorchScalars.One);
                using var logWindows = ((float)Math.Log(w)).ToScalar();
                var pair = logits.logsumexp(1).sub(logWindows);
                if (userBias)
                {
                    pair = pair.add(userBiases.index_select(0, userIndex), TorchScalars.One);
                }

                if (songBias)
                {
                    pair = pair.add(songBiases.index_select(0, songIndex), TorchScalars.One);
                }

                var loss = F.binary_cross_entropy_with_logits(pair, tensor(pairs.Skip(start).Take(b).Select(p => p.Label).ToArray()));
                if (factorHead is not null)
                {
                    var predicted = factorHead.call(flat).reshape(b, w, rank).mean([1]);
                    loss = fmse
                        ? F.mse_loss(predicted, songFactors!.index_select(0, songIndex))
                        : confidence!.index_select(0, songIndex).mul(preference!.index_select(0, songIndex).sub(predicted.matmul(userFactors!.t())).pow(TorchScalars.Two)).mean();
                }

                if (wd > 0)
                {
                    using var wdScalar = ((float)wd).ToScalar();
                    loss = loss.add(u.pow(TorchScalars.Two).sum(-1).mean().mul(wdScalar), TorchScalars.One);
                }

                if (auxHead is not null)
                {
                    var target = cat([x.mean([1]), x.std(1)], 1).detach();
                    using var auxScalar = ((float)aux).ToScalar();
                    loss = loss.add(F.mse_loss(auxHead.call(flat), target).mul(auxScalar), TorchScalars.One);
                }

                if (rhythmHead is not null)
                {
                    loss = loss.add(RhythmLoss(x, flat), TorchScalars.One);
                }

                if (orderHead is not null)
                {
                    loss = loss.add(OrderLoss(x, flat), TorchScalars.One);
                }

                if (clrHead is not null && clr > 0)
                {
                    var windowsOfPair = flat.reshape(b, w, -1);
                    var z0 = F.normalize(clrHead.call(windowsOfPair.select(1, 0)), p: 2, dim: -1);
                    var z1 = F.normalize(clrHead.call(windowsOfPair.select(1, 1)), p: 2, dim: -1);
                    using var tauScalar = ((float)tau).ToScalar();
                    var similarity = z0.matmul(z1.t()).div(tauScalar);
                    // Another pair of the same song is no negative.
                    var sameSong = songIndex.unsqueeze(1).eq(songIndex.unsqueeze(0)).logical_and(eye(b, dtype: ScalarType.Bool).logical_not());
                    using var masked = (-1e4f).ToScalar();
                    similarity = similarity.masked_fill(sameSong, masked);
                    using var batchPairs = b.ToScalar();
                    var targets = arange(batchPairs, dtype: ScalarType.Int64);
                    var contrastive = F.cross_entropy(similarity, targets).add(F.cross_entropy(similarity.t(), targets), TorchScalars.One).div(TorchScalars.Two);
                    using var clrScalar = ((float)clr).ToScalar();
                    loss = loss.add(contrastive.mul(clrScalar), TorchScalars.One);
                }

                if (vicreg > 0)
                {
                    var z = flat - flat.mean([0], keepdim: true);
                    using var degrees = (z.shape[0] - 1).ToScalar();
                    var covariance = z.t().matmul(z).div(degrees);
                    var variance = covariance.diagonal();
                    var offDiagonal = covariance - diag(variance);
                    using var ridgeScalar = 1e-4f.ToScalar();
                    using var eScalar = e.ToScalar();
                    using var vicregScalar = ((float)vicreg).ToScalar();
                    var spreadPenalty = F.relu(variance.add(ridgeScalar, TorchScalars.One).sqrt().negative().add(TorchScalars.One, TorchScalars.One)).mean();
                    loss = loss.add(spreadPenalty.add(offDiagonal.pow(TorchScalars.Two).sum().div(eScalar), TorchScalars.One).mul(vicregScalar), TorchScalars.One);
                }

                optimizer.zero_grad();
                loss.backward();
                nn.utils.clip_grad_norm_(parameters, 5);
                optimizer.step();
                total += loss.item<float>();
                batches++;
            }

            losses.Add(total / batches);
            if (epoch == epochs || (every > 0 && epoch % every == 0))
            {
                if (factorHead is not null)
                {
                    using var noBias = zeros(1);
                    Report(bench, variant, seed, epoch, network, x => factorHead.call(Embed(x)), userFactors!, noBias, null, false, logScale, max, mean, std, losses, timer, epoch == epochs);
                }
                else
                {
                    Report(bench, variant, seed, epoch, network, Embed, users, bias, userBias ? userBiases : null, norm, logScale, max, mean, std, losses, timer, epoch == epochs);
                }
            }
        }
    }

    /// <summary>(Σλ)² / Σλ² of the covariance of the rows: how many directions the songs really spread over.</summary>
    public static double ParticipationRatio(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var centred = rows - rows.mean([0], keepdim: true);
        using var rowCount = rows.shape[0].ToScalar();
        var eig = linalg.eigvalsh(centred.t().matmul(centred).div(rowCount)).clamp_min(TorchScalars.Zero);
        return Math.Pow(eig.sum().item<float>(), 2) / Math.Max(1e-12, eig.pow(TorchScalars.Two).sum().item<float>());
    }

    private static Tensor Normalise(Tensor embedding, bool norm, Tensor logScale) =>
        norm ? F.normalize(embedding, p: 2, dim: -1) * logScale.exp() : embedding;

    private static void Report(
        Bench bench, string variant, int seed, int epoch, TimeConvNetwork network, Func<Tensor, Tensor> embed, Tensor users, Tensor bias, Tensor? userBiases, bool norm, Tensor logScale, bool max,
        Tensor mean, Tensor std, List<double> losses, Stopwatch timer, bool last)
    {
        network.eval();
        var songs = bench.Songs;
        var simulator = bench.Simulator;
        int songCount = simulator.SongCount;
        var table = new float[simulator.UserCount * songCount];
        var otherTable = table;
        var songMeans = new float[songCount][];
        double withinSong = 0, total = 0;
        long windowsSeen = 0;
        using (no_grad())
        {
            var all = new List<Tensor>();
            using var scope = NewDisposeScope();
            for (int s = 0; s < songCount; s++)
            {
                int n = songs.WindowCount(s);
                var x = tensor(songs.Windows(s).ToArray(), [n, songs.FramesPerWindow, songs.Coefficients]).sub(mean).div(std);
                all.Add(Normalise(embed(x), norm, logScale));
            }

            var stacked = stack(all); // [songs, windows, e] (every song has the same window count here)
            var songMean = stacked.mean([1]);
            for (int s = 0; s < songCount; s++)
            {
                songMeans[s] = songMean[s].data<float>().ToArray();
            }

            withinSong = stacked.var(1, unbiased: false).sum(-1).mean().item<float>();
            total = stacked.reshape(-1, stacked.shape[2]).var(0, unbiased: false).sum().item<float>();
            windowsSeen = stacked.shape[0] * stacked.shape[1];
            var logits = users.matmul(stacked.reshape(-1, stacked.shape[2]).t()).reshape(simulator.UserCount, songCount, -1).add(bias, TorchScalars.One);
            if (userBiases is not null)
            {
                logits = logits.add(userBiases.reshape(-1, 1, 1), TorchScalars.One);
            }

            var p = logits.sigmoid();
            table = (max ? p.amax([2]) : p.mean([2])).data<float>().ToArray();
            otherTable = (max ? p.mean([2]) : p.amax([2])).data<float>().ToArray();
        }

        // Participation ratio of the song-mean embeddings' covariance: how many directions the songs really spread over.
        double participation;
        using (no_grad())
        {
            using var m = tensor(songMeans.SelectMany(v => v).ToArray(), [songCount, songMeans[0].Length]);
            participation = ParticipationRatio(m);
        }

        var (cold, warm) = bench.Evaluate(new DenseScorer(simulator.UserCount, songCount, table));
        // The same model scored with the other aggregation (mean or max of the window preferences), at no training cost.
        var (otherCold, otherWarm) = bench.Evaluate(new DenseScorer(simulator.UserCount, songCount, otherTable));
        bench.Print($"cnn {variant};{(max ? "agg=mean" : "agg=max")} (same model)", seed, epoch, otherCold, otherWarm, string.Empty);
        string probe = string.Empty;
        if (last)
        {
            var standardised = Standardised(songMeans);
            var instruments = new[] { Instrument.Flute, Instrument.Guitar, Instrument.Violin, Instrument.Clarinet, Instrument.Marimba };
            double instrument = instruments.Average(i => Probe.Classify(standardised, simulator.Songs.Select(s => s.Instruments.Contains(i) ? 1 : 0).ToArray(), 2, bench.Warm, bench.Cold).Accuracy);
            double register = Probe.Classify(standardised, simulator.Songs.Select(s => (int)s.Register).ToArray(), 3, bench.Warm, bench.Cold).Accuracy;
            // Tempo in thirds of the simulator's 60-180 bpm range: slow, middle, fast.
            double tempo = Probe.Classify(standardised, simulator.Songs.Select(s => Math.Clamp((int)((s.TempoBpm - 60) / 40), 0, 2)).ToArray(), 3, bench.Warm, bench.Cold).Accuracy;
            probe = $"; probe of song embedding: instrument {instrument:0.00}, register {register:0.00}, tempo third {tempo:0.00}";
            // With both motif orders in the catalog: can a linear read-out of the song embedding tell them apart
            // (motif songs only, trained on warm, tested on cold)?
            if (simulator.Songs.Any(s => s.Motif?.Falling == true))
            {
                int[] Motifs(int[] keys) => keys.Where(s => simulator.Songs[s].Motif is not null).ToArray();
                var (direction, majority) = Probe.Classify(standardised, simulator.Songs.Select(s => s.Motif?.Falling == true ? 1 : 0).ToArray(), 2, Motifs(bench.Warm), Motifs(bench.Cold));
                probe += $", motif order {direction:0.00} (majority {majority:0.00})";
            }
        }

        bench.Print(
            $"cnn {variant}", seed, epoch, cold, warm,
            $"loss {losses[0]:0.000} -> {losses[^1]:0.000}; between-song share of window variance {1 - (withinSong / Math.Max(1e-12, total)):0.00}, "
            + $"total {total:0.000}, participation ratio {participation:0.0}{probe}; {timer.Elapsed.TotalSeconds:0} s");
        _ = windowsSeen;
    }

    // Greedy batches of look-alikes: the first song left in the shuffled order, then its batch - 1 nearest songs
    // (squared Euclidean distance over the given features) among those left; the batches laid end to end.
    private static int[] HardBatches(int[] shuffled, float[][] features, int batch)
    {
        var left = new List<int>(shuffled);
        var result = new List<int>(shuffled.Length);
        while (left.Count > 0)
        {
            int anchor = left[0];
            var chosen = left.OrderBy(s => s == anchor ? -1 : features[anchor].Zip(features[s], (a, b) => (a - b) * (a - b)).Sum()).Take(batch).ToList();
            result.AddRange(chosen);
            var taken = chosen.ToHashSet();
            left.RemoveAll(taken.Contains);
        }

        return result.ToArray();
    }

    private static float[][] Standardised(float[][] rows)
    {
        int d = rows[0].Length;
        var result = rows.Select(r => (float[])r.Clone()).ToArray();
        for (int j = 0; j < d; j++)
        {
            double m = rows.Average(r => r[j]);
            double sd = Math.Sqrt(rows.Average(r => (r[j] - m) * (r[j] - m)));
            foreach (var r in result)
            {
                r[j] = sd > 1e-9 ? (float)((r[j] - m) / sd) : 0;
            }
        }

        return result;
    }

    private static (Tensor Mean, Tensor Std) Standardisation(AudioSongWindows songs, int[] warm, bool standardise)
    {
        int c = songs.Coefficients;
        var sum = new double[c];
        var squares = new double[c];
        long count = 0;
        foreach (int s in warm)
        {
            var values = songs.Windows(s);
            for (int j = 0; j < values.Length; j++)
            {
                sum[j % c] += values[j];
                squares[j % c] += (double)values[j] * values[j];
            }

            count += values.Length / c;
        }

        var mean = new float[c];
        var std = new float[c];
        for (int k = 0; k < c; k++)
        {
            double m = sum[k] / count;
            mean[k] = standardise ? (float)m : 0;
            std[k] = standardise ? (float)Math.Max(Math.Sqrt(Math.Max(0, (squares[k] / count) - (m * m))), 1e-3) : 1;
        }

        return (tensor(mean), tensor(std));
    }
}
