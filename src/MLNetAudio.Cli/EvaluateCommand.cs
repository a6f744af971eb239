using System.ComponentModel;
using System.Globalization;
using System.Text;
using Microsoft.ML;
using MLNetAudio.Scoring;
using MLNetAudio.Recommendation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary>
/// <c>evaluate</c>: trains the multi-user audio recommender and the baselines a user would compare it with on one
/// play log, and ranks every catalog song for the listeners of another (all songs, and the songs without training
/// plays alone: the cold songs only audio can rank).
/// </summary>
internal sealed class EvaluateCommand : Command<EvaluateCommand.Settings>
{
    public sealed class Settings : TrainingSettings
    {
        [CommandOption("--plays <CSV>")]
        [Description("The training play log: UserId,SongId,Plays.")]
        public string? Plays { get; set; }

        [CommandOption("--test <CSV>")]
        [Description("The held-out plays to rank: UserId,SongId,Plays (listeners of the training log).")]
        public string? Test { get; set; }

        [CommandOption("--out <MD>")]
        [Description("Where to write the report (Markdown); default: only the table on stderr.")]
        public string? Out { get; set; }

        [CommandOption("-k|--top <N>")]
        [Description("Cut-off of the ranking metrics. Default 10.")]
        [DefaultValue(10)]
        public int K { get; set; } = 10;

        public override ValidationResult Validate() =>
            Songs is null ? ValidationResult.Error("--songs is required.")
            : Plays is null ? ValidationResult.Error("--plays is required.")
            : Test is null ? ValidationResult.Error("--test is required.")
            : K < 1 ? ValidationResult.Error("--k must be at least 1.")
            : base.Validate();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(seed: settings.Seed);
        var catalog = Catalog.Read(settings.Songs!);
        var plays = PlayRow.Read(settings.Plays!, catalog);
        var test = PlayRow.Read(settings.Test!, catalog);
        var data = Pipelines.PlayLog(ml, catalog, plays, settings.MaxSeconds, settings.Store, settings.Plays!, cancellationToken);
        var readable = data.Readable;
        var kept = data.ReadableIds;
        var trainUsers = plays.Select(p => p.UserId).ToHashSet(StringComparer.Ordinal);
        int before = test.Count;
        test.RemoveAll(p => !kept.Contains(p.SongId) || !trainUsers.Contains(p.UserId) || p.Plays <= 0);
        if (test.Count < before)
        {
            Ui.Warn($"{before - test.Count} test rows left out (no plays, an unreadable song, or a listener absent from the training log).");
        }

        if (test.Count == 0)
        {
            throw new CliInputException($"{settings.Test}: no test play is left to rank.");
        }

        var songs = data.Songs;
        var training = data.Training;
        var testView = data.SongKeys.Transform(data.UserKeys.Transform(ml.Data.LoadFromEnumerable(test)));
        int users = trainUsers.Count, songCount = readable.Count;
        var playedSongs = plays.Where(p => p.Plays > 0).Select(p => p.SongId).ToHashSet(StringComparer.Ordinal);
        uint[] coldKeys = [.. readable.Select((s, i) => (s, i)).Where(p => !playedSongs.Contains(p.s.SongId)).Select(p => (uint)p.i + 1)];

        var models = Ui.WithProgress(ctx =>
        {
            var task = ctx.AddTask("training models", maxValue: 5);
            var list = new List<(string Name, IUserSongScorer Scorer)>();
            var audioOptions = PlayLogData.AudioOptions(settings.Epochs, settings.Seed);
            audioOptions.Progress = new Inline<TrainingProgress>(_ => cancellationToken.ThrowIfCancellationRequested());
            var audio = ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, audioOptions).Fit(training);
            list.Add(($"multi-user audio (CNN + LSTM, {audio.Epochs} epochs)", audio));
            task.Increment(1);
            var mf = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
                { LabelColumnName = nameof(PlayRow.Plays), MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", Seed = settings.Seed }).Fit(training);
            list.Add(("audio -> MF factors", ml.Audio().Recommendation.Trainers.AudioFactorRegression(mf, audio, new AudioFactorRegressionOptions
                { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = nameof(PlayRow.Plays) }).Fit(training)));
            list.Add(("matrix factorization (no audio)", mf));
            task.Increment(1);
            list.Add(("song set (MFCC statistics)", ml.Audio().Recommendation.Trainers.SongSet(ContentSongFeatures.MfccStatistics(songs), new SongSetOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = nameof(PlayRow.Plays) }).Fit(training)));
            task.Increment(1);
            list.Add(("seed song (MFCC statistics)", ml.Audio().Recommendation.Trainers.SeedSong(ContentSongFeatures.MfccStatistics(songs), new SeedSongOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = nameof(PlayRow.Plays), Seed = settings.Seed }).Fit(training)));
            task.Increment(1);
            list.Add(("popularity", ml.Audio().Recommendation.Trainers.Popularity(nameof(PlayRow.Plays), "UserKey", "SongKey").Fit(training)));
            list.Add(("random", new RandomScorer(users, songCount, settings.Seed)));
            task.Increment(1);
            return list;
        });

        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"| model | NDCG@{settings.K} | P@{settings.K} | R@{settings.K} | AUC | cold NDCG@{settings.K} | cold AUC |");
        table.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var (name, scorer) in models)
        {
            var options = new RecommendationEvaluationOptions { UserColumnName = "UserKey", SongColumnName = "SongKey", LabelColumnName = nameof(PlayRow.Plays), K = settings.K };
            var all = ml.Audio().Recommendation.Evaluate(scorer, testView, training, options);
            options.CandidateSongKeys = coldKeys;
            var cold = ml.Audio().Recommendation.Evaluate(scorer, testView, training, options);
            table.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {all.Format(nameof(all.NdcgAtK))} | {all.Format(nameof(all.PrecisionAtK))} | {all.Format(nameof(all.RecallAtK))} | {all.Format(nameof(all.Auc))} | {cold.Format(nameof(cold.NdcgAtK))} | {cold.Format(nameof(cold.Auc))} |");
        }

        foreach (var (_, scorer) in models)
        {
            (scorer as IDisposable)?.Dispose();
        }

        var report = new StringBuilder();
        report.AppendLine("# mlnet-audio evaluate");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Catalog {settings.Songs}: {readable.Count} readable songs ({coldKeys.Length} without training plays: the cold songs). ");
        report.AppendLine(CultureInfo.InvariantCulture, $"Training plays {settings.Plays}: {plays.Count} rows, {users} listeners. Test plays {settings.Test}: {test.Count} rows. Seed {settings.Seed}.");
        report.AppendLine();
        report.Append(table);
        report.AppendLine();
        report.AppendLine("Songs a listener played in training are not ranked for them. 'cold' ranks only the songs without training plays.");
        Ui.Error.WriteLine(table.ToString());
        if (settings.Out is string path)
        {
            string full = Path.GetFullPath(path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full + ".tmp", report.ToString());
            File.Move(full + ".tmp", full, overwrite: true);
            Ui.Info($"report written to {full}");
        }

        return Cli.Ok;
    }
}
