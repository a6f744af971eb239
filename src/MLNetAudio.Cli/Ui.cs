using Spectre.Console;

namespace MLNetAudio.Cli;

/// <summary>Messages and progress bars go to stderr, so stdout and the --out files hold only results.</summary>
internal static class Ui
{
    public static IAnsiConsole Error { get; } = Create();

    private static IAnsiConsole Create()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (Console.IsErrorRedirected)
        {
            // A log file or a test reads whole lines: no wrapping at a terminal width that is not there.
            console.Profile.Width = 1000;
        }

        return console;
    }

    public static void Info(string message) => Error.MarkupLineInterpolated($"{message}");

    public static void Warn(string message) => Error.MarkupLineInterpolated($"[yellow]warning:[/] {message}");

    /// <summary>Runs <paramref name="work"/> with a progress display on stderr (plain lines when stderr is not a terminal).</summary>
    public static T WithProgress<T>(Func<ProgressContext, T> work) =>
        Error.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(work);
}
