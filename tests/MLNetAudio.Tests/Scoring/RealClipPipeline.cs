using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// The whole pipeline on the built-in clips (samples/data, copied to SampleClips/): LoadAudio -> SegmentMfcc
/// (standardised) -> TimeConvLstm -> AggregateWindows, trained for one epoch on a small network so tests stay fast.
/// </summary>
internal static class RealClipPipeline
{
    public const string PathColumn = "Path";

    public static readonly string[] TrainingClips = ["flute-melody.ogg", "guitar-melody.ogg", "piano-chords.ogg", "marimba-melody.ogg"];

    public static string ClipFolder => Path.Combine(AppContext.BaseDirectory, "SampleClips");

    public static IDataView Songs(MLContext ml, params string[] clips) =>
        ml.Data.LoadFromEnumerable(clips.Select(c => new SongRow { Path = Path.Combine(ClipFolder, c), Likes = c.StartsWith("flute", StringComparison.Ordinal) }).ToList());

    /// <summary>The front end only (audio -> standardised MFCC windows of 400 frames x 20 coefficients).</summary>
    public static IEstimator<ITransformer> FrontEnd(MLContext ml) =>
        ml.Transforms.LoadAudio("Audio", PathColumn)
            .Append(ml.Transforms.SegmentMfcc("Windows", "Audio", new MfccSegmenterOptions { Standardize = true }));

    public static IEstimator<ITransformer> Pipeline(MLContext ml, ConvolutionForm form = ConvolutionForm.Conv2dTimeOnly, NetworkHead head = NetworkHead.Lstm) =>
        FrontEnd(ml)
            .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
            {
                LabelColumnName = nameof(SongRow.Likes),
                FeatureColumnName = "Windows",
                Epochs = 1,
                ValidationFraction = 0,
                TrainingWindowStride = 4,
                Seed = 1,
                Threads = 1,
                Device = TorchDevice.Cpu,
                ConvolutionForm = form,
                Head = head,
                Channels = 3,
                LstmHiddenSize = 8,
            }))
            .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { DurationColumnName = "Audio.Duration" }));

    public static TimeConvLstmScorer Scorer(ITransformer model) => AudioModelCatalog.Flatten(model).OfType<TimeConvLstmScorer>().Single();

    public static void DisposeScorers(ITransformer model)
    {
        foreach (var s in AudioModelCatalog.Flatten(model).OfType<TimeConvLstmScorer>())
        {
            s.Dispose();
        }
    }

    internal sealed class SongRow
    {
        public string Path { get; set; } = string.Empty;

        public bool Likes { get; set; }
    }

    internal sealed class SongInput
    {
        public string Path { get; set; } = string.Empty;
    }

    internal sealed class SongPrediction
    {
        public float[] WindowScores { get; set; } = [];

        public float Score { get; set; }

        [ColumnName("Score.BestWindowStart")]
        public float BestWindowStart { get; set; }
    }
}
