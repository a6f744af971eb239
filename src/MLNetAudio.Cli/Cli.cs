using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary>The command table, exit codes and Ctrl-C handling of <c>mlnet-audio</c>.</summary>
internal static class Cli
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Anything else that went wrong (a bug, an I/O failure, a model that does not fit the data).</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments or input; the message names the file, line and column.</summary>
    public const int BadInput = 2;

    /// <summary>Stopped by Ctrl-C.</summary>
    public const int Cancelled = 130;

    public static int Run(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // The first Ctrl-C stops at the next safe point (files are written whole or not at all); a second kills.
            e.Cancel = !cancel.IsCancellationRequested;
            cancel.Cancel();
        };

        var app = new CommandApp();
        app.Configure(c =>
        {
            c.SetApplicationName("mlnet-audio");
            c.ConfigureConsole(Ui.Error);
            c.AddCommand<TrainCommand>("train")
                .WithDescription("Train a model: one listener's labels (--labels) give a taste model; a play log (--plays) gives a recommender.")
                .WithExample("train", "--songs", "catalog.csv", "--labels", "labels.csv", "--model", "taste.zip")
                .WithExample("train", "--songs", "catalog.csv", "--plays", "plays.csv", "--model", "rec.zip");
            c.AddCommand<ScoreCommand>("score")
                .WithDescription("Score every song of a catalog with a taste model: song score, best window, per-window timeline.")
                .WithExample("score", "--model", "taste.zip", "--songs", "catalog.csv", "--out", "scores.csv", "--plots", "plots");
            c.AddCommand<RecommendCommand>("recommend")
                .WithDescription("Recommend songs to listeners of a recommender model (songs nobody played included).")
                .WithExample("recommend", "--model", "rec.zip", "--user", "ana", "--k", "10", "--out", "recs.csv");
            c.AddCommand<EvaluateCommand>("evaluate")
                .WithDescription("Train the audio recommender and its baselines on one play log and rank the songs of another.")
                .WithExample("evaluate", "--songs", "catalog.csv", "--plays", "train.csv", "--test", "test.csv", "--out", "report.md");
            c.AddCommand<ExportOnnxCommand>("export-onnx")
                .WithDescription("Export a taste model's network to ONNX (opset 17; one window per row).")
                .WithExample("export-onnx", "--model", "taste.zip", "--out", "scorer.onnx");
            c.SetExceptionHandler((e, _) => Handle(e));
        });

        // DESIGN.md §9 writes "--k 10"; Spectre.Console.Cli wants long names of two letters or more, so --k is --top.
        string[] normalized = [.. args.Select(a => a == "--k" ? "--top" : a.StartsWith("--k=", StringComparison.Ordinal) ? "--top=" + a[4..] : a)];
        return app.Run(normalized, cancel.Token);
    }

    /// <summary>Maps an exception to its message on stderr and the exit code.</summary>
    internal static int Handle(Exception e)
    {
        switch (e)
        {
            case CliInputException input:
                Ui.Error.MarkupLineInterpolated($"[red]error:[/] {input.Message}");
                return BadInput;
            case CommandParseException or CommandRuntimeException:
                Ui.Error.MarkupLineInterpolated($"[red]error:[/] {e.Message} (mlnet-audio --help lists the commands; mlnet-audio COMMAND --help their options)");
                return BadInput;
            case OperationCanceledException:
                Ui.Error.MarkupLine("[yellow]stopped (Ctrl-C); nothing half-written was left behind.[/]");
                return Cancelled;
            case MLNetAudio.Audio.AudioLoadException or MLNetAudio.Data.AudioModelFileException or ArgumentException or InvalidDataException:
                Ui.Error.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
                return BadInput;
            default:
                Ui.Error.MarkupLineInterpolated($"[red]failed:[/] {e.GetType().Name}: {e.Message}");
                return Failed;
        }
    }
}

/// <summary>Bad arguments or input; <see cref="Cli.BadInput"/>.</summary>
internal sealed class CliInputException(string message) : Exception(message);
