using System.ComponentModel;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary><c>score</c>: every catalog song through a taste model; one row per song, unreadable ones with their error.</summary>
internal sealed class ScoreCommand : Command<ScoreCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <ZIP>")]
        [Description("A taste model written by 'train --labels'.")]
        public string? Model { get; set; }

        [CommandOption("--songs <CSV>")]
        [Description("The catalog to score: SongId,Path.")]
        public string? Songs { get; set; }

        [CommandOption("--out <CSV>")]
        [Description("Where to write SongId,Score,BestWindowStartSeconds,Error (one row per catalog song).")]
        public string? Out { get; set; }

        [CommandOption("--plots <DIR>")]
        [Description("Also draw each song's per-window preference timeline, best window marked, as DIR/<SongId>.png.")]
        public string? Plots { get; set; }

        public override ValidationResult Validate() =>
            Model is null ? ValidationResult.Error("--model is required.")
            : Songs is null ? ValidationResult.Error("--songs is required.")
            : Out is null ? ValidationResult.Error("--out is required.")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(seed: 1);
        var catalog = Catalog.Read(settings.Songs!);
        var model = Models.Load(ml, settings.Model!);
        if (Models.Flatten(model).OfType<MultiUserAudioModel>().Any())
        {
            throw new CliInputException($"{settings.Model}: this is a recommender (trained with --plays); use 'mlnet-audio recommend'.");
        }

        if (!Models.Flatten(model).OfType<TimeConvLstmScorer>().Any())
        {
            throw new CliInputException($"{settings.Model}: this model holds no taste scorer; train one with 'mlnet-audio train --labels'.");
        }

        var data = ml.Data.LoadFromEnumerable(catalog.Songs);
        var scored = model.Transform(data);
        var rows = new List<(string Id, float? Score, float? Best, string Error, float[] Timeline, double Hop, double Window)>();
        var layout = scored.Schema.GetColumnOrNull("WindowScores") is { } column ? column : throw new CliInputException($"{settings.Model}: the model writes no WindowScores column.");
        double hop = Annotation(layout, "WindowHopSeconds") ?? 1, window = Annotation(layout, "WindowSeconds") ?? 8;
        Ui.WithProgress(ctx =>
        {
            var task = ctx.AddTask("scoring songs", maxValue: catalog.Songs.Count);
            bool hasError = scored.Schema.GetColumnOrNull("Audio.Error") is not null;

            // Only the columns read: asking for every column would make the loader hold each song's samples for this
            // reader instead of streaming them into the segmenter (an hour of audio is 317 MB of samples).
            string[] read = ["SongId", "Score", "Score" + WindowAggregatingTransformer.BestWindowStartSuffix, "WindowScores", .. hasError ? ["Audio.Error"] : Array.Empty<string>()];
            using var cursor = scored.GetRowCursor(read.Select(c => scored.Schema[c]));
            var id = cursor.GetGetter<ReadOnlyMemory<char>>(scored.Schema["SongId"]);
            var score = cursor.GetGetter<float>(scored.Schema["Score"]);
            var best = cursor.GetGetter<float>(scored.Schema["Score" + WindowAggregatingTransformer.BestWindowStartSuffix]);
            var timeline = cursor.GetGetter<VBuffer<float>>(scored.Schema["WindowScores"]);
            var error = hasError ? cursor.GetGetter<ReadOnlyMemory<char>>(scored.Schema["Audio.Error"]) : null;
            ReadOnlyMemory<char> idValue = default, errorValue = default;
            float s = 0, b = 0;
            VBuffer<float> t = default;
            while (cursor.MoveNext())
            {
                cancellationToken.ThrowIfCancellationRequested();
                id(ref idValue);
                error?.Invoke(ref errorValue);
                string message = error is null ? string.Empty : errorValue.ToString();
                if (message.Length == 0)
                {
                    score(ref s);
                    best(ref b);
                    timeline(ref t);
                }

                bool ok = message.Length == 0 && float.IsFinite(s);
                if (message.Length == 0 && !ok)
                {
                    message = "the model gave no finite score for this song";
                }

                rows.Add((idValue.ToString(), ok ? s : null, ok ? b : null, message, ok ? t.DenseValues().ToArray() : [], hop, window));
                task.Increment(1);
            }

            return 0;
        });

        Csv.Write(settings.Out!, "SongId,Score,BestWindowStartSeconds,Error", rows.Select(r => new object?[] { r.Id, r.Score, r.Best, r.Error }));
        foreach (var r in rows.Where(r => r.Error.Length > 0))
        {
            Ui.Warn($"{r.Id}: {r.Error}");
        }

        if (settings.Plots is string folder)
        {
            Directory.CreateDirectory(folder);
            foreach (var r in rows.Where(r => r.Timeline.Length > 0))
            {
                TimelinePlot.Save(Path.Combine(folder, TimelinePlot.FileName(r.Id)), r.Id, r.Timeline, r.Hop, r.Window, r.Best ?? 0, r.Score ?? 0);
            }
        }

        Ui.Info($"{rows.Count(r => r.Error.Length == 0)} of {rows.Count} songs scored; results in {Path.GetFullPath(settings.Out!)}");
        return Cli.Ok;
    }


    private static double? Annotation(DataViewSchema.Column column, string name)
    {
        if (column.Annotations.Schema.GetColumnOrNull(name)?.Type != NumberDataViewType.Double)
        {
            return null;
        }

        double value = 0;
        column.Annotations.GetValue(name, ref value);
        return value;
    }
}
