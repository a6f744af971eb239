using System.ComponentModel;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary><c>train</c>: a taste model from one listener's labels, or a recommender from a play log.</summary>
internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : TrainingSettings
    {
        [CommandOption("--labels <CSV>")]
        [Description("One listener's labels: SongId,Label (1/0 or true/false). Trains a taste model (the seed's per-user mode).")]
        public string? Labels { get; set; }

        [CommandOption("--plays <CSV>")]
        [Description("A play log: UserId,SongId,Plays. Trains the multi-user recommender; catalog songs without plays are cold songs.")]
        public string? Plays { get; set; }

        [CommandOption("--model <ZIP>")]
        [Description("Where to write the model.")]
        public string? Model { get; set; }

        public override ValidationResult Validate() =>
            Songs is null ? ValidationResult.Error("--songs is required.")
            : Model is null ? ValidationResult.Error("--model is required.")
            : (Labels is null) == (Plays is null) ? ValidationResult.Error("give exactly one of --labels (one listener) and --plays (a play log).")
            : base.Validate();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var catalog = Catalog.Read(settings.Songs!);
        var ml = new MLContext(seed: settings.Seed);
        return settings.Labels is not null
            ? TrainTaste(ml, catalog, settings, cancellationToken)
            : TrainRecommender(ml, catalog, settings, cancellationToken);
    }

    private static int TrainTaste(MLContext ml, Catalog catalog, Settings settings, CancellationToken cancel)
    {
        var labeled = new List<CatalogSong>();
        foreach (var row in Csv.Read(settings.Labels!, "SongId", "Label"))
        {
            string id = row.Text("SongId");
            var song = catalog.Find(id) ?? throw new CliInputException($"{row.Path}:{row.Line}:{row.Raw("SongId").Column}: SongId '{id}' is not in the catalog {settings.Songs}.");
            var (text, column) = row.Raw("Label");
            bool label = text.Trim().ToUpperInvariant() switch
            {
                "1" or "TRUE" => true,
                "0" or "FALSE" => false,
                _ => throw new CliInputException($"{row.Path}:{row.Line}:{column}: Label is '{text}'; expected 1, 0, true or false."),
            };
            labeled.Add(new CatalogSong { SongId = song.SongId, Path = song.Path, Line = song.Line, Label = label });
        }

        var readable = Pipelines.Readable(ml, labeled, settings.MaxSeconds, cancel);
        int liked = readable.Count(s => s.Label);
        if (liked == 0 || liked == readable.Count)
        {
            throw new CliInputException($"{settings.Labels}: training needs at least one liked and one disliked readable song; found {liked} liked and {readable.Count - liked} disliked.");
        }

        Ui.Info($"training a taste model on {readable.Count} songs ({liked} liked) ...");
        var data = ml.Data.LoadFromEnumerable(readable);
        var model = Ui.WithProgress(ctx =>
        {
            var task = ctx.AddTask("training (epochs)", maxValue: 1);
            var pipeline = Pipelines.FrontEnd(ml, settings.MaxSeconds)
                .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
                {
                    LabelColumnName = nameof(CatalogSong.Label),
                    FeatureColumnName = "Windows",
                    Epochs = settings.Epochs,
                    Seed = settings.Seed,
                    Progress = new Inline<TrainingProgress>(p =>
                    {
                        task.MaxValue = p.Plan?.Epochs ?? task.MaxValue;
                        task.Value = p.Epoch;
                        task.Description = FormattableString.Invariant($"training: epoch {p.Epoch}, loss {p.TrainingLoss:0.0000}");
                        cancel.ThrowIfCancellationRequested();
                    }),
                }))
                .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { DurationColumnName = "Audio.Duration" }));
            var fitted = pipeline.Fit(data);
            task.Value = task.MaxValue;
            return fitted;
        });

        Save(ml, model, data.Schema, settings.Model!);
        return Cli.Ok;
    }

    private static int TrainRecommender(MLContext ml, Catalog catalog, Settings settings, CancellationToken cancel)
    {
        var plays = PlayRow.Read(settings.Plays!, catalog);
        var data = Pipelines.PlayLog(ml, catalog, plays, settings.MaxSeconds, settings.Store, settings.Plays!, cancel);
        var readable = data.Readable;
        int cold = readable.Count - plays.Select(p => p.SongId).Distinct().Count();
        Ui.Info($"training the multi-user recommender: {plays.Select(p => p.UserId).Distinct().Count()} listeners, {plays.Count} plays, {readable.Count} songs ({cold} without plays) ...");
        var model = Ui.WithProgress(ctx =>
        {
            var task = ctx.AddTask("training (epochs)", maxValue: settings.Epochs ?? 1);
            var options = PlayLogData.AudioOptions(settings.Epochs, settings.Seed);
            options.Progress = new Inline<TrainingProgress>(p =>
            {
                task.Value = Math.Min(p.Epoch, task.MaxValue);
                task.Description = FormattableString.Invariant($"training: epoch {p.Epoch}, loss {p.TrainingLoss:0.0000}");
                cancel.ThrowIfCancellationRequested();
            });
            var fitted = ml.Audio().Recommendation.Trainers.MultiUserAudio(data.Songs, options).Fit(data.Training);
            task.MaxValue = fitted.Epochs;
            task.Value = fitted.Epochs;
            return fitted;
        });

        // The key mappings travel with the model, so recommend can take user ids and write song ids.
        using (model)
        {
            Save(ml, new TransformerChain<ITransformer>(data.UserKeys, data.SongKeys, model), data.Plays.Schema, settings.Model!);
        }

        return Cli.Ok;
    }

    private static void Save(MLContext ml, ITransformer model, Microsoft.ML.DataViewSchema schema, string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temporary = full + ".tmp-" + Environment.ProcessId;
        ml.Audio().Model.Save(model, schema, temporary);
        File.Move(temporary, full, overwrite: true);
        Ui.Info($"model written to {full}");
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; would post to the pool).</summary>
internal sealed class Inline<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
