using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary>The options every command that trains takes (train, evaluate), checked in one place.</summary>
internal class TrainingSettings : CommandSettings
{
    [CommandOption("--songs <CSV>")]
    [Description("The catalog: SongId,Path (a relative Path is relative to the CSV's folder).")]
    public string? Songs { get; set; }

    [CommandOption("--epochs <N>")]
    [Description("Passes over the data; default automatic (adapts to the amount of data).")]
    public int? Epochs { get; set; }

    [CommandOption("--seed <N>")]
    [Description("Seed of the weights and the data order. Default 1.")]
    [DefaultValue(1)]
    public int Seed { get; set; } = 1;

    [CommandOption("--max-seconds <S>")]
    [Description("Read at most this many seconds of each song (default: whole songs).")]
    public double? MaxSeconds { get; set; }

    [CommandOption("--store <DIR>")]
    [Description("With a play log: keep the songs' MFCC windows in an on-disk store in DIR instead of memory; a rerun over the same catalog decodes no song again.")]
    public string? Store { get; set; }

    /// <summary>The checks of the shared options; a command adds its own before or after.</summary>
    public override ValidationResult Validate() =>
        Songs is null ? ValidationResult.Error("--songs is required.")
        : Epochs is <= 0 ? ValidationResult.Error("--epochs must be at least 1.")
        : MaxSeconds is double m && !(m > 0 && double.IsFinite(m)) ? ValidationResult.Error("--max-seconds must be a positive number.")
        : ValidationResult.Success();
}
