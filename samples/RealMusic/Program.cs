// RealMusic: the audio recommenders on real music installed from Debian packages (game soundtracks), through the
// IDataView route of DESIGN.md §8: a catalog of files with song ids, a play log with user ids, LoadAudio +
// SegmentMfcc, the trainers fitted on those views, and the cold songs (no plays at all) ranked from their audio.
//
// Listeners are simulated over the real tracks: each prefers one soundtrack (what can be heard: its composer,
// instrumentation and production) and plays mostly tracks of it; a third of every soundtrack's tracks get no plays
// and are the cold songs to recommend. Every model is evaluated on them beside the oracle (the listener's own taste)
// and a random ranking.
//
//   sudo apt-get install drascula-music wesnoth-1.16-music hyperrogue-music asc-music
//   dotnet run --project samples/RealMusic -c Release [-- --seconds 60 --users 60 --seed 1 --epochs N]
//   (--epochs: default automatic, see MultiUserAudioOptions.Epochs; --seconds 0 reads whole tracks; --store DIR
//   streams the windows into an on-disk store; --catalog-only stops after the windows, to measure that stage;
//   --copies N with --catalog-only lists every track N times under different song ids, for a catalog-scale measurement)
//
//   --taste order (issue 12: a time-structure taste on real recordings): every track is in the catalog twice, as
//   recorded and played backwards (both written as 16 kHz WAV files from the same decoded samples, under the temp
//   folder). Half of the listeners like music played forwards, the other half backwards, whatever the soundtrack.
//   The two versions have the same frames in the opposite order, so statistics over a song's frames (the MFCC
//   baselines) cannot tell them apart; only the order of frames can. Both versions of a track share its cold split.
//   --no-direction-check skips the single-listener scorer told the direction (about 2 min).
//
//   --window-statistics-weight W sets the multi-user model's WindowStatisticsWeight (--rhythm-weight W its
//   RhythmWeight, --direction-weight W its DirectionWeight, both default 0); --contrastive-pretraining E and
//   --contrastive-weight W its ContrastivePretrainingEpochs and ContrastiveWeight (left out, the library's automatic
//   defaults; 0 and 0 for the figures published before them); --form 1d|2d the ConvolutionForm
//   of both networks (defaults: 1-D for the multi-user model, 2-D for the one told the direction).
//
//   --per-listener adds the seed's own method: a TimeConvLstm per listener on that listener's played warm tracks
//   against four times as many unplayed ones (every window, --epochs or 10 epochs), scoring the cold tracks.
//   --stack (implies --per-listener) adds a learned stack: the hybrid ranker (LightGBM LambdaRank) over the multi-user
//   and per-listener models and popularity as feature trainers, stacking by itself with --cold-like F (default 0.2)
//   of the played tracks made cold-like; costs a second fit of both audio models.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Recommendation;
using MLNetAudio.Samples;
using MLNetAudio.Scoring;

if (SampleCommandLine.WantsHelp(args, Settings.Usage))
{
    return 0;
}

Settings settings;
try
{
    settings = Settings.Parse(args);
}
catch (ArgumentException error)
{
    return SampleCommandLine.Fail("RealMusic", error);
}

var ml = new MLContext(seed: settings.Seed);

(string Name, string Package, string Folder)[] soundtracks =
[
    ("drascula", "drascula-music", "/usr/share/scummvm/drascula/audio"),
    ("wesnoth", "wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music"),
    ("hyperrogue", "hyperrogue-music", "/usr/share/hyperrogue/music"),
    ("asc", "asc-music", "/usr/share/games/asc/music"),
];
var tracks = soundtracks
    .Select(s => (s.Name, Files: Directory.Exists(s.Folder)
        ? Directory.GetFiles(s.Folder).Where(f => f.EndsWith(".ogg", StringComparison.Ordinal) || f.EndsWith(".mp3", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray()
        : []))
    .Where(s => s.Files.Length >= 3 && (settings.Sources is null || settings.Sources.Contains(s.Name)))
    .ToArray();
if (tracks.Length < 2)
{
    Console.Error.WriteLine("Needs the music of at least two of these Debian packages: "
        + string.Join(", ", soundtracks.Select(s => s.Package)) + ".\n  sudo apt-get install " + string.Join(' ', soundtracks.Select(s => s.Package)));
    return 1;
}

// --copies N (a scale measurement, with --catalog-only): every track N times under N song ids, each decoded on its own.
var allRows = Enumerable.Range(1, settings.Copies)
    .SelectMany(copy => tracks.SelectMany(s => s.Files.Select(f => new CatalogRow
    {
        SongId = settings.Copies == 1 ? $"{s.Name}/{Path.GetFileName(f)}" : $"{s.Name}/{Path.GetFileName(f)}#{copy}", Path = f, Soundtrack = s.Name,
    })))
    .ToList();
if (settings.Copies > 1 && !settings.CatalogOnly)
{
    Console.Error.WriteLine("--copies measures the catalog stage only: add --catalog-only (copies of a track would leak between training and test).");
    return 1;
}

var loaderOptions = new AudioLoaderOptions { TargetSampleRate = 16000, MaxDuration = settings.Seconds > 0 ? settings.Seconds : null };
if (settings.Taste == "order")
{
    if (settings.Copies > 1)
    {
        Console.Error.WriteLine("--taste order lists each track forwards and backwards: it does not take --copies.");
        return 1;
    }

    allRows = Reversal.ForwardAndBackward(ml, allRows, loaderOptions, settings.Seconds);
}
else if (settings.Taste != "soundtrack")
{
    Console.Error.WriteLine($"--taste must be soundtrack (the default: each listener likes one soundtrack) or order (forwards or backwards); found '{settings.Taste}'.");
    return 1;
}

// The catalog in one pass over its files: each decoded once (with --store DIR into an on-disk store, so a rerun
// decodes nothing), the files that do not decode listed and left out (one damaged file does not stop the others),
// song keys mapped over the rest in catalog order.
var watch = System.Diagnostics.Stopwatch.StartNew();
using var catalog = AudioSongCatalog.Build(ml, ml.Data.LoadFromEnumerable(allRows), new AudioSongCatalogOptions
{
    Loader = loaderOptions,
    Store = settings.Store is string storeDirectory ? new AudioSongStoreOptions { Directory = storeDirectory } : null,
    SkipUnreadableSongs = true,
});
double seconds = watch.Elapsed.TotalSeconds;
foreach (var bad in catalog.Unreadable)
{
    Console.WriteLine($"skipped {bad.SongId}: {bad.Reason}");
}

var windows = catalog.Windows;
var songKeys = catalog.SongKeys;
var readableIds = catalog.Songs.GetColumn<string>("SongId").ToHashSet(StringComparer.Ordinal);
var catalogRows = allRows.Where(r => readableIds.Contains(r.SongId)).ToList();
Console.WriteLine($"catalog: {catalogRows.Count} tracks ({string.Join(", ", tracks.Select(s => $"{s.Name} {s.Files.Length}"))}), {(settings.Seconds > 0 ? $"first {settings.Seconds} s of each" : "whole tracks")}");
long peak = System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64;
Console.WriteLine(FormattableString.Invariant($"windows of {windows.SongCount} songs in {seconds:F1} s ({windows.ComputedSongs} decoded, {windows.ComputedSongs / seconds:F2} songs/s; {(windows.IsStoredOnDisk ? "on-disk store" : "in memory")}): {Enumerable.Range(0, windows.SongCount).Sum(windows.WindowCount)} windows of {windows.FramesPerWindow} frames x {windows.Coefficients} coefficients; peak working set {peak / 1048576.0:F0} MiB"));
if (settings.CatalogOnly)
{
    return 0;
}

var features = ContentSongFeatures.MfccStatistics(windows);

// Listeners: a favourite soundtrack each (balanced), or with --taste order a favourite direction (forwards or
// backwards); six training plays (--plays N), 85% of them from the favourite.
var rng = new Random(settings.Seed);
var soundtrackOf = catalogRows.Select(r => settings.Taste == "order" ? (r.Backwards ? "backwards" : "forwards") : r.Soundtrack).ToArray();
var cold = new bool[catalogRows.Count];
// The cold split: a third of every soundtrack's tracks (both versions of a track together with --taste order).
foreach (var group in Enumerable.Range(0, catalogRows.Count).GroupBy(i => catalogRows[i].Soundtrack))
{
    // A track's versions (forwards and backwards) share its file stem, so they are one group.
    var versionsOfTrack = group.GroupBy(i => catalogRows[i].Path.Replace(".backwards.wav", ".forwards.wav", StringComparison.Ordinal)).ToArray();
    foreach (var track in versionsOfTrack.OrderBy(_ => rng.Next()).Take(versionsOfTrack.Length / 3))
    {
        foreach (int i in track)
        {
            cold[i] = true;
        }
    }
}

var names = settings.Taste == "order" ? ["forwards", "backwards"] : tracks.Select(t => t.Name).ToArray();
var favourite = Enumerable.Range(0, settings.Users).Select(u => names[u % names.Length]).ToArray();
var warm = Enumerable.Range(0, catalogRows.Count).Where(i => !cold[i]).ToArray();
var plays = new List<PlayRow>();
for (int u = 0; u < settings.Users; u++)
{
    var mine = warm.Where(i => soundtrackOf[i] == favourite[u]).ToArray();
    foreach (int i in Enumerable.Range(0, settings.Plays).Select(_ => rng.NextDouble() < 0.85 ? mine[rng.Next(mine.Length)] : warm[rng.Next(warm.Length)]).Distinct())
    {
        plays.Add(new PlayRow { UserId = $"listener-{u + 1}", SongId = catalogRows[i].SongId, Plays = 1 + rng.Next(5) });
    }
}

var log = ml.Data.LoadFromEnumerable(plays);
var userKeys = ml.Transforms.Conversion.MapValueToKey("UserKey", "UserId").Fit(log);
var training = songKeys.Transform(userKeys.Transform(log));

// The test: every cold track of a listener's favourite soundtrack is relevant; candidates are the cold tracks.
var keyOfUser = training.GetColumn<string>("UserId").Zip(training.GetColumn<uint>("UserKey")).DistinctBy(p => p.First).ToDictionary(p => p.First, p => p.Second);
uint UserKey(int u) => keyOfUser[$"listener-{u + 1}"];
var relevant = Enumerable.Range(0, settings.Users)
    .SelectMany(u => Enumerable.Range(0, catalogRows.Count).Where(i => cold[i] && soundtrackOf[i] == favourite[u]).Select(i => new KeyPlay { UserKey = UserKey(u), SongKey = (uint)i + 1, Plays = 1 }))
    .ToList();
var test = KeyPlay.ToDataView(ml, relevant, settings.Users, catalogRows.Count);
var evaluation = new RecommendationEvaluationOptions
{
    UserColumnName = "UserKey", SongColumnName = "SongKey", LabelColumnName = "Plays",
    CandidateSongKeys = Enumerable.Range(0, catalogRows.Count).Where(i => cold[i]).Select(i => (uint)i + 1).ToArray(),
};

// The models, all fitted on the same views.
var results = new List<(string Name, RecommendationMetrics Metrics)>();
void Evaluate(string name, IUserSongScorer scorer) => results.Add((name, ml.Audio().Recommendation.Evaluate(scorer, test, training, evaluation)));

watch.Restart();
MultiUserAudioOptions AudioOptions() => new()
{
    MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays",
    Epochs = settings.Epochs, Seed = settings.Seed,
    WindowStatisticsWeight = settings.WindowStatisticsWeight ?? MultiUserAudioOptions.Defaults.WindowStatisticsWeight,
    RhythmWeight = settings.RhythmWeight ?? MultiUserAudioOptions.Defaults.RhythmWeight,
    DirectionWeight = settings.DirectionWeight ?? MultiUserAudioOptions.Defaults.DirectionWeight,
    ContrastivePretrainingEpochs = settings.ContrastivePretrainingEpochs, ContrastiveWeight = settings.ContrastiveWeight,
    ConvolutionForm = settings.Form ?? ConvolutionForm.Conv1dAllCoefficients,
};
using var audio = ml.Audio().Recommendation.Trainers.MultiUserAudio(windows, AudioOptions()).Fit(training);
Console.WriteLine($"multi-user audio model trained in {watch.Elapsed.TotalSeconds:F1} s ({audio.Epochs} epochs{(settings.Epochs is null ? ", automatic" : string.Empty)})");
// Seed 1 whatever --seed says: the published tables (docs/recommendation.md) were made with it (a null Seed draws from ml).
var mf = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
    { LabelColumnName = "Plays", MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", Seed = 1 }).Fit(training);
var seedSong = ml.Audio().Recommendation.Trainers.SeedSong(features, new SeedSongOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays", Seed = settings.Seed }).Fit(training);
var songSet = ml.Audio().Recommendation.Trainers.SongSet(features, new SongSetOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays" }).Fit(training);
var userOfKey = Enumerable.Range(0, settings.Users).ToDictionary(u => UserKey(u), u => u);
Evaluate(settings.Taste == "order" ? "oracle (the listener's direction)" : "oracle (the listener's soundtrack)", new Oracle(settings.Users, catalogRows.Count, (user, song) => favourite[userOfKey[(uint)user + 1]] == soundtrackOf[song] ? 1 : 0));
Evaluate("multi-user audio (CNN + LSTM)", audio);
Evaluate("audio -> MF factors", ml.Audio().Recommendation.Trainers.AudioFactorRegression(mf, audio, new AudioFactorRegressionOptions
    { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays" }).Fit(training));
Evaluate("seed song (MFCC statistics)", seedSong);
Evaluate("song set (MFCC statistics)", songSet);
Evaluate("matrix factorization (no audio)", mf);
Evaluate("random", new RandomScorer(settings.Users, catalogRows.Count, settings.Seed));
if (settings.PerListener)
{
    // The seed's own method: one TimeConvLstm per listener, told that listener's plays directly (the library's
    // PerListenerAudio: 4 unplayed tracks per play, every window, 10 epochs unless --epochs, the 1-D form unless --form).
    watch.Restart();
    var listener = PerListenerAudioOptions.DefaultListenerOptions();
    listener.Epochs = settings.Epochs ?? listener.Epochs;
    listener.ConvolutionForm = settings.Form ?? listener.ConvolutionForm;
    PerListenerAudioTrainer PerListenerTrainer() => ml.Audio().Recommendation.Trainers.PerListenerAudio(windows, new PerListenerAudioOptions
    {
        MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays", Seed = settings.Seed, Listener = listener,
    });
    var perListener = PerListenerTrainer().Fit(training);
    Console.WriteLine($"per-listener scorers trained in {watch.Elapsed.TotalSeconds:F0} s ({perListener.ListenersWithModel} listeners)");
    Evaluate("per-listener TimeConvLstm (the seed's method)", perListener);
    // A fixed, unlearned stack: each listener's two scores standardised over the catalog and added.
    Evaluate("multi-user + per-listener (z-scores added)", StandardizedSum.Of(audio, perListener));
    if (settings.Stack)
    {
        // A learned stack: LightGBM LambdaRank over the two audio scores and popularity, stacking by itself (its own
        // 80/20 split of each listener's plays, ColdLikeSongFraction of the played tracks made cold-like so the ranker
        // learns how the audio scores rank tracks nobody played), every feature refitted on all plays after.
        watch.Restart();
        var trainers = ml.Audio().Recommendation.Trainers;
        using var stack = trainers.HybridRanker(new HybridRankerOptions
        {
            UserColumnName = "UserKey", SongColumnName = "SongKey", LabelColumnName = "Plays",
            FeatureTrainers =
            [
                new("MultiUserAudio", trainers.MultiUserAudio(windows, AudioOptions())),
                new("PerListener", PerListenerTrainer()),
                new("Popularity", trainers.Popularity("Plays", "UserKey", "SongKey")),
            ],
            ColdLikeSongFraction = settings.ColdLike, Seed = settings.Seed,
        }).Fit(training);
        Console.WriteLine($"learned stack trained in {watch.Elapsed.TotalSeconds:F0} s");
        Evaluate($"learned stack (LambdaRank: multi-user, per-listener, popularity; {settings.ColdLike:0.##} cold-like)", stack);
    }
}

Console.WriteLine();
Console.WriteLine($"cold tracks ({evaluation.CandidateSongKeys.Count}), {settings.Users} listeners, seed {settings.Seed}, taste {settings.Taste}:");
Console.WriteLine($"| model | NDCG@10 | P@10 | AUC |");
Console.WriteLine($"|---|---|---|---|");
foreach (var (name, m) in results)
{
    Console.WriteLine($"| {name} | {m.Format(nameof(m.NdcgAtK))} | {m.Format(nameof(m.PrecisionAtK))} | {m.Format(nameof(m.Auc))} |");
}

if (settings.Taste == "order")
{
    // Does the multi-user model's song embedding hold the direction, whatever the listeners make of it? A logistic
    // regression (ML.NET's SDCA) from the embedding to "backwards", fitted on the warm versions, AUC on the cold ones.
    var embedded = catalogRows.Select((r, i) => new EmbeddingRow { Backwards = r.Backwards, Cold = cold[i], Embedding = audio.GetSongEmbedding((uint)i + 1) }).ToArray();
    var schema = Microsoft.ML.Data.SchemaDefinition.Create(typeof(EmbeddingRow));
    schema[nameof(EmbeddingRow.Embedding)].ColumnType = new Microsoft.ML.Data.VectorDataViewType(Microsoft.ML.Data.NumberDataViewType.Single, audio.EmbeddingSize);
    var probe = ml.Transforms.NormalizeMeanVariance(nameof(EmbeddingRow.Embedding))
        .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression(nameof(EmbeddingRow.Backwards), nameof(EmbeddingRow.Embedding)))
        .Fit(ml.Data.LoadFromEnumerable(embedded.Where(r => !r.Cold), schema));
    var probed = ml.BinaryClassification.Evaluate(probe.Transform(ml.Data.LoadFromEnumerable(embedded.Where(r => r.Cold), schema)), nameof(EmbeddingRow.Backwards));
    Console.WriteLine(FormattableString.Invariant($"direction in the multi-user model's song embeddings: logistic regression fitted on {embedded.Count(r => !r.Cold)} warm versions, AUC {probed.AreaUnderRocCurve:0.000} on the {embedded.Count(r => r.Cold)} cold ones"));
}

if (settings.Taste == "order" && settings.DirectionCheck)
{
    // Can the network hear the direction at all when it is told it directly? The seed's single-listener scorer
    // (TimeConvLstm, library defaults but every window for 10 epochs, --epochs N for N) trained on the warm tracks with "backwards" as the label, scored on the cold
    // tracks: its AUC says whether the order is in the windows, whatever the play-based models make of it.
    watch.Restart();
    var labelled = catalogRows.Select((r, i) => new DirectionRow { Path = r.Path, Backwards = r.Backwards, Cold = cold[i] }).ToArray();
    var direction = ml.Transforms.LoadAudio("Audio", nameof(DirectionRow.Path), loaderOptions)
        .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"))
        .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
        {
            LabelColumnName = nameof(DirectionRow.Backwards), FeatureColumnName = "Windows", Seed = settings.Seed,
            Epochs = settings.Epochs ?? 10, TrainingWindowStride = 1, ValidationFraction = 0, // every window, 10 epochs: about 2,000 steps
            ConvolutionForm = settings.Form ?? ConvolutionForm.Conv2dTimeOnly,
        }))
        .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { DurationColumnName = "Audio.Duration" }))
        .Fit(ml.Data.LoadFromEnumerable(labelled.Where(r => !r.Cold)));
    var scoredCold = direction.Transform(ml.Data.LoadFromEnumerable(labelled.Where(r => r.Cold)));
    var backwards = scoredCold.GetColumn<bool>(nameof(DirectionRow.Backwards)).ToArray();
    var directionScores = scoredCold.GetColumn<float>("Score").ToArray();
    double auc = backwards.Select((b, i) => (b, i)).Where(p => p.b)
        .SelectMany(p => backwards.Select((f, j) => (f, j)).Where(q => !q.f).Select(q => directionScores[p.i] > directionScores[q.j] ? 1.0 : directionScores[p.i] == directionScores[q.j] ? 0.5 : 0.0))
        .Average();
    Console.WriteLine(FormattableString.Invariant($"direction told directly: TimeConvLstm ({settings.Epochs ?? 10} epochs over every window) trained on {labelled.Count(r => !r.Cold)} warm tracks labelled backwards or not, AUC {auc:0.000} on the {backwards.Length} cold tracks ({watch.Elapsed.TotalSeconds:F0} s)"));
}

var first = audio.Recommend(UserKey(0), 3);
Console.WriteLine();
Console.WriteLine($"listener-1 (likes {favourite[0]}): " + string.Join("; ", first.Select(r =>
    FormattableString.Invariant($"{catalogRows[(int)r.SongKey - 1].SongId} {r.Score:0.000} (best {r.BestWindowStartSeconds:0}-{r.BestWindowStartSeconds + r.WindowSeconds:0} s)"))));
return 0;

/// <summary>A song's embedding and direction, for the direction probe of <c>--taste order</c>.</summary>
internal sealed class EmbeddingRow
{
    public bool Backwards { get; set; }

    public bool Cold { get; set; }

    public float[] Embedding { get; set; } = [];
}

internal sealed class CatalogRow
{
    public string SongId { get; set; } = string.Empty;

    public string Path { get; set; } = string.Empty;

    public string Soundtrack { get; set; } = string.Empty;

    /// <summary>True for a track played backwards (<c>--taste order</c>).</summary>
    public bool Backwards { get; set; }
}

/// <summary>The catalog of <c>--taste order</c>: every track forwards and backwards, from the same decoded samples.</summary>
internal static class Reversal
{
    public static List<CatalogRow> ForwardAndBackward(MLContext ml, List<CatalogRow> rows, AudioLoaderOptions loaderOptions, double seconds)
    {
        string folder = Path.Combine(Path.GetTempPath(), "MLNetAudio", "realmusic-order", FormattableString.Invariant($"{seconds:0.###}s-{loaderOptions.TargetSampleRate}Hz"));
        Directory.CreateDirectory(folder);
        var result = new List<CatalogRow>();
        var reportOptions = new AudioLoaderOptions
        {
            TargetSampleRate = loaderOptions.TargetSampleRate, MaxDuration = loaderOptions.MaxDuration, ErrorPolicy = AudioErrorPolicy.Report,
        };
        var data = ml.Transforms.LoadAudio("Audio", nameof(CatalogRow.Path), reportOptions).Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        using var cursor = data.GetRowCursor(data.Schema);
        var audio = cursor.GetGetter<VBuffer<float>>(data.Schema["Audio"]);
        var error = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[AudioColumns.Error("Audio")]);
        var buffer = default(VBuffer<float>);
        var message = default(ReadOnlyMemory<char>);
        int row = 0;
        while (cursor.MoveNext())
        {
            var source = rows[row++];
            string stem = Path.Combine(folder, source.SongId.Replace('/', '_'));
            string forwards = stem + ".forwards.wav", backwards = stem + ".backwards.wav";
            if (!File.Exists(forwards) || !File.Exists(backwards))
            {
                audio(ref buffer);
                var samples = buffer.DenseValues().ToArray();
                if (samples.Length == 0)
                {
                    error(ref message);
                    Console.WriteLine($"skipped {source.SongId}: {message}");
                    continue;
                }

                WavWriter.Write(forwards + ".tmp", samples, loaderOptions.TargetSampleRate);
                Array.Reverse(samples);
                WavWriter.Write(backwards + ".tmp", samples, loaderOptions.TargetSampleRate);
                File.Move(forwards + ".tmp", forwards, overwrite: true);
                File.Move(backwards + ".tmp", backwards, overwrite: true);
            }

            result.Add(new CatalogRow { SongId = source.SongId + " >", Path = forwards, Soundtrack = source.Soundtrack });
            result.Add(new CatalogRow { SongId = source.SongId + " <", Path = backwards, Soundtrack = source.Soundtrack, Backwards = true });
        }

        Console.WriteLine($"--taste order: {result.Count / 2} tracks written forwards and backwards to {folder}");
        return result;
    }
}

internal sealed class DirectionRow
{
    public string Path { get; set; } = string.Empty;

    public bool Backwards { get; set; }

    public bool Cold { get; set; }
}

internal sealed class PlayRow
{
    public string UserId { get; set; } = string.Empty;

    public string SongId { get; set; } = string.Empty;

    public float Plays { get; set; }
}

internal sealed class KeyPlay
{
    public uint UserKey { get; set; }

    public uint SongKey { get; set; }

    public float Plays { get; set; }

    public static IDataView ToDataView(MLContext ml, IEnumerable<KeyPlay> rows, int users, int songs)
    {
        var schema = Microsoft.ML.Data.SchemaDefinition.Create(typeof(KeyPlay));
        schema[nameof(UserKey)].ColumnType = new Microsoft.ML.Data.KeyDataViewType(typeof(uint), users);
        schema[nameof(SongKey)].ColumnType = new Microsoft.ML.Data.KeyDataViewType(typeof(uint), songs);
        return ml.Data.LoadFromEnumerable(rows.Select(r => new KeyPlay { UserKey = r.UserKey - 1, SongKey = r.SongKey - 1, Plays = r.Plays }), schema);
    }
}

internal sealed class Oracle(int users, int songs, Func<int, int, float> score) : IUserSongScorer
{
    public int UserCount => users;

    public int SongCount => songs;

    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        for (int u = 0; u < userCount; u++)
        {
            for (int s = 0; s < songs; s++)
            {
                destination[(u * songs) + s] = score(firstUser + u, s);
            }
        }
    }
}

internal sealed record Settings(double Seconds, int Users, int Seed, int? Epochs, string? Store = null, bool CatalogOnly = false, string[]? Sources = null, int Copies = 1, string Taste = "soundtrack", bool DirectionCheck = true, double? WindowStatisticsWeight = null, ConvolutionForm? Form = null, bool PerListener = false, int Plays = 6, int? ContrastivePretrainingEpochs = null, double? ContrastiveWeight = null, bool Stack = false, double ColdLike = 0.2, double? RhythmWeight = null, double? DirectionWeight = null)
{
    /// <summary>The text of --help.</summary>
    public const string Usage = """
        RealMusic: the audio recommenders on real music from Debian's game-soundtrack packages
        (sudo apt-get install drascula-music wesnoth-1.16-music hyperrogue-music asc-music), cold tracks ranked from
        their audio beside the MFCC baselines, the oracle and random.

        Usage: dotnet run --project samples/RealMusic -c Release [-- options]
          --seconds S                  seconds read from each track (default 60; 0: whole tracks)
          --users N --seed N           simulated listeners (default 60) and the seed (default 1)
          --plays N                    training plays drawn per listener (default 6)
          --epochs N                   the multi-user model's epochs (default automatic)
          --taste soundtrack|order     listeners like a soundtrack (default), or music played forwards or backwards
          --no-direction-check         with order: skip the single-listener scorer told the direction (about 2 min)
          --window-statistics-weight W, --rhythm-weight W, --direction-weight W
                                       the multi-user model's read-out weights (default automatic, 0 and 0)
          --contrastive-pretraining E, --contrastive-weight W
                                       its ContrastivePretrainingEpochs and ContrastiveWeight (default automatic)
          --form 1d|2d                 both networks' ConvolutionForm (default 1-D multi-user, 2-D single-listener)
          --per-listener               also the seed's method: a TimeConvLstm per listener
          --stack                      with it, a learned LambdaRank stack (implies --per-listener)
          --cold-like F                the stack's ColdLikeSongFraction (default 0.2)
          --store DIR                  stream the windows into an on-disk store
          --sources a,b                only these soundtracks (drascula, wesnoth, hyperrogue, asc)
          --catalog-only [--copies N]  stop after the windows (N copies of every track, for a catalog-scale measurement)
          --help                       this text
        """;

    public static Settings Parse(string[] args)
    {
        var s = new Settings(60, 60, 1, null);
        for (int i = 0; i < args.Length; i += 2)
        {
            if (args[i] is "--no-direction-check" or "--per-listener" or "--stack")
            {
                s = args[i] switch
                {
                    "--per-listener" => s with { PerListener = true },
                    "--stack" => s with { PerListener = true, Stack = true },
                    _ => s with { DirectionCheck = false },
                };
                i--;
                continue;
            }

            if (args[i] is "--catalog-only" or "--no-check")
            {
                // --no-check is accepted for older command lines: unreadable files are found in the catalog's one pass now.
                s = args[i] == "--catalog-only" ? s with { CatalogOnly = true } : s;
                i--;
                continue;
            }

            if (i + 1 >= args.Length)
            {
                throw new ArgumentException(args[i].StartsWith("--", StringComparison.Ordinal) ? $"{args[i]} needs a value." : $"unknown argument '{args[i]}'.");
            }

            s = args[i] switch
            {
                "--store" => s with { Store = args[i + 1] },
                "--sources" => s with { Sources = args[i + 1].Split(',') },
                "--seconds" => s with { Seconds = SampleCommandLine.Double("--seconds", args[i + 1], minimum: 0) },
                "--users" => s with { Users = SampleCommandLine.Int("--users", args[i + 1], minimum: 1) },
                "--seed" => s with { Seed = SampleCommandLine.Int("--seed", args[i + 1]) },
                "--epochs" => s with { Epochs = SampleCommandLine.Int("--epochs", args[i + 1], minimum: 1) },
                "--copies" => s with { Copies = SampleCommandLine.Int("--copies", args[i + 1], minimum: 1) },
                "--taste" => s with { Taste = args[i + 1] is "soundtrack" or "order" ? args[i + 1] : throw new ArgumentException($"--taste takes soundtrack or order; found '{args[i + 1]}'.") },
                "--plays" => s with { Plays = SampleCommandLine.Int("--plays", args[i + 1], minimum: 1) },
                "--window-statistics-weight" => s with { WindowStatisticsWeight = SampleCommandLine.Double("--window-statistics-weight", args[i + 1], minimum: 0) },
                "--rhythm-weight" => s with { RhythmWeight = SampleCommandLine.Double("--rhythm-weight", args[i + 1], minimum: 0) },
                "--direction-weight" => s with { DirectionWeight = SampleCommandLine.Double("--direction-weight", args[i + 1], minimum: 0) },
                "--contrastive-pretraining" => s with { ContrastivePretrainingEpochs = SampleCommandLine.Int("--contrastive-pretraining", args[i + 1], minimum: 0) },
                "--contrastive-weight" => s with { ContrastiveWeight = SampleCommandLine.Double("--contrastive-weight", args[i + 1], minimum: 0) },
                "--cold-like" => s with { ColdLike = SampleCommandLine.Double("--cold-like", args[i + 1], minimum: 0) },
                "--form" => s with { Form = args[i + 1] == "2d" ? ConvolutionForm.Conv2dTimeOnly : args[i + 1] == "1d" ? ConvolutionForm.Conv1dAllCoefficients : throw new ArgumentException($"--form takes 1d or 2d; found '{args[i + 1]}'.") },
                _ => throw new ArgumentException($"unknown option '{args[i]}'."),
            };
        }

        return s;
    }
}

/// <summary>
/// Adds scorers per listener after standardising each one's scores over the whole catalog (mean 0, deviation 1; a
/// constant row stays 0), so neither scale dominates: a fixed blend with no weights to fit.
/// </summary>
internal sealed class StandardizedSum(IUserSongScorer[] scorers) : IUserSongScorer
{
    public static StandardizedSum Of(params IUserSongScorer[] scorers) => new(scorers);

    public int UserCount => scorers[0].UserCount;

    public int SongCount => scorers[0].SongCount;

    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        destination[..(userCount * SongCount)].Clear();
        var row = new float[userCount * SongCount];
        foreach (var scorer in scorers)
        {
            scorer.ScoreUsers(firstUser, userCount, row);
            for (int u = 0; u < userCount; u++)
            {
                var scores = row.AsSpan(u * SongCount, SongCount);
                double mean = 0, squares = 0;
                foreach (float v in scores)
                {
                    mean += v;
                }

                mean /= SongCount;
                foreach (float v in scores)
                {
                    squares += (v - mean) * (v - mean);
                }

                double deviation = Math.Sqrt(squares / SongCount);
                for (int s = 0; s < SongCount; s++)
                {
                    destination[(u * SongCount) + s] += deviation > 0 ? (float)((scores[s] - mean) / deviation) : 0f;
                }
            }
        }
    }
}
