// The command-line convention of the console samples (QuickStart, SeedExperiments, HybridRecommender, RealMusic),
// linked into each of them: --help (or -h) prints the usage and exits 0; a bad option or value prints one line that
// names the option, the value found and what it takes, then exits 2 with no stack trace and before any work is done
// (no output folder is created). Written by hand: the samples keep their hand-rolled option loops (a few options
// each, read like the ML.NET samples) rather than take a command-line library.
using System.Globalization;

namespace MLNetAudio.Samples;

/// <summary>Help, errors and typed option values for the console samples.</summary>
internal static class SampleCommandLine
{
    /// <summary>Exit code of a bad command line.</summary>
    public const int UsageError = 2;

    /// <summary>True (after printing <paramref name="usage"/>) when any argument asks for help.</summary>
    public static bool WantsHelp(string[] args, string usage)
    {
        if (!args.Any(a => a is "--help" or "-h" or "-?"))
        {
            return false;
        }

        Console.WriteLine(usage.Trim());
        return true;
    }

    /// <summary>Prints the error and the way to the usage on standard error; returns <see cref="UsageError"/>.</summary>
    public static int Fail(string program, ArgumentException error)
    {
        Console.Error.WriteLine($"{program}: {error.Message}");
        Console.Error.WriteLine($"Run {program} with --help for the options.");
        return UsageError;
    }

    /// <summary>A whole number, at least <paramref name="minimum"/>, or an error naming the option.</summary>
    public static int Int(string option, string value, int minimum = int.MinValue) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= minimum
            ? n
            : throw new ArgumentException(minimum == int.MinValue
                ? $"{option} takes a whole number; found '{value}'."
                : $"{option} takes a whole number of at least {minimum}; found '{value}'.");

    /// <summary>A finite number, at least <paramref name="minimum"/>, or an error naming the option.</summary>
    public static double Double(string option, string value, double minimum = double.MinValue) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x) && x >= minimum
            ? x
            : throw new ArgumentException(minimum == double.MinValue
                ? $"{option} takes a number such as 0.5; found '{value}'."
                : $"{option} takes a number of at least {minimum.ToString(CultureInfo.InvariantCulture)}; found '{value}'.");

    /// <summary>One of an enum's names (any case), or an error naming the option and listing the names.</summary>
    public static T Choice<T>(string option, string value)
        where T : struct, Enum =>
        System.Enum.TryParse(value, ignoreCase: true, out T choice) && System.Enum.IsDefined(choice) && !int.TryParse(value, out _)
            ? choice
            : throw new ArgumentException($"{option} takes one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}; found '{value}'.");
}
