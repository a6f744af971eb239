using System.ComponentModel;
using Microsoft.ML;
using MLNetAudio.Scoring;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary><c>export-onnx</c>: a taste model's network as ONNX.</summary>
internal sealed class ExportOnnxCommand : Command<ExportOnnxCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <ZIP>")]
        [Description("A taste model written by 'train --labels'.")]
        public string? Model { get; set; }

        [CommandOption("--out <ONNX>")]
        [Description("Where to write the ONNX model.")]
        public string? Out { get; set; }

        public override ValidationResult Validate() =>
            Model is null ? ValidationResult.Error("--model is required.")
            : Out is null ? ValidationResult.Error("--out is required.")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(seed: 1);
        var scorer = Models.Flatten(Models.Load(ml, settings.Model!)).OfType<TimeConvLstmScorer>().SingleOrDefault()
            ?? throw new CliInputException($"{settings.Model}: this model holds no taste scorer to export (train one with 'mlnet-audio train --labels').");
        using (scorer)
        {
            string full = Path.GetFullPath(settings.Out!);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            string temporary = full + ".tmp-" + Environment.ProcessId;
            ml.Audio().Model.ExportOnnx(scorer, temporary);
            File.Move(temporary, full, overwrite: true);
            Ui.Info($"ONNX model written to {full} (input: windows [batch, {scorer.Network.Settings.FramesPerWindow}, {scorer.Network.Settings.Coefficients}])");
        }

        return Cli.Ok;
    }
}
