// MLNetAudio QuickStart: learn what one listener likes from the audio of a few songs, then find the part of
// each new song they would like most. Runs on the six built-in clips in samples/data (real sampled instruments).
//
//   dotnet run --project samples/QuickStart -c Release [-- <output folder>]
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using MLNetAudio.Samples;
using ScottPlot;

const string Usage = """
    QuickStart: learns what one listener likes from the audio of four built-in clips, then scores two new ones
    and finds the 8 s window of each the listener would like most.

    Usage: dotnet run --project samples/QuickStart -c Release [-- <output folder>]
      <output folder>  where the MFCC picture goes (default ./quickstart-output)
      --help           this text
    """;
if (SampleCommandLine.WantsHelp(args, Usage))
{
    return 0;
}

if (args.Length > 1)
{
    return SampleCommandLine.Fail("QuickStart", new ArgumentException($"takes at most one argument, the output folder; found {args.Length}: {string.Join(' ', args)}."));
}

if (args is [['-', ..] option])
{
    return SampleCommandLine.Fail("QuickStart", new ArgumentException($"unknown option '{option}'; the only argument is the output folder."));
}

string outputFolder = args.Length > 0 ? args[0] : Path.Combine(Environment.CurrentDirectory, "quickstart-output");
Directory.CreateDirectory(outputFolder);
string dataFolder = Path.Combine(AppContext.BaseDirectory, "data");

// STEP 1: an ML.NET context; its seed makes training repeatable.
var ml = new MLContext(seed: 1);

// STEP 2: the data. The listener likes flute. Four songs they rated train the model; two songs they have never
// heard (each changes instrument half-way) are scored: the model should point at the flute half.
var training = new[]
{
    new Song("flute-melody.ogg", true),
    new Song("guitar-melody.ogg", false),
    new Song("piano-chords.ogg", false),
    new Song("marimba-melody.ogg", false),
};
var unheard = new[] { new Song("strings-then-flute.ogg", false), new Song("flute-then-guitar.ogg", false) };
IDataView Load(IEnumerable<Song> songs) =>
    ml.Data.LoadFromEnumerable(songs.Select(s => s with { Path = Path.Combine(dataFolder, s.Path) }));

// STEP 3: the pipeline. Decode -> MFCC in 8 s windows every 1 s -> time-only CNN + LSTM -> song score.
var features = ml.Transforms.LoadAudio("Audio", nameof(Song.Path))
    .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"));
var pipeline = features
    // The defaults adapt to the data: with four songs Fit trains on every 1 s-hop window for about 200 steps and
    // holds no songs out for validation (ml.Log and TrainingProgress.Plan say what it chose, and warn that four
    // songs are too few to validate).
    .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
    {
        LabelColumnName = nameof(Song.Likes),
        FeatureColumnName = "Windows",
    }))
    .Append(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { DurationColumnName = "Audio.Duration" }));

// STEP 4: look at the features the network sees, for one song.
var featureData = features.Fit(Load(training)).Transform(Load(training));
var windowsColumn = featureData.Schema["Windows"];
var (frames, coefficients) = WindowColumns.GetWindowShape(windowsColumn);
var firstSong = featureData.GetColumn<float[]>("Windows").First();
var durations = featureData.GetColumn<double>("Audio.Duration").ToArray();
int windowCount = firstSong.Length / (frames * coefficients);
string picture = Path.Combine(outputFolder, "mfcc-flute-melody.png");
SaveMfccPicture(firstSong, frames, coefficients, picture);
Console.WriteLine($"flute-melody.ogg: {durations[0]:F2} s decoded, {windowCount} windows of {frames} frames x {coefficients} coefficients");
Console.WriteLine($"MFCC picture of its first window: {picture}");

// STEP 5: train (TorchSharp, CPU here; CUDA when present) and score the songs the listener has never heard.
Console.WriteLine("Training the time-convolution + LSTM scorer on 4 songs ...");
var model = pipeline.Fit(Load(training));
var scored = model.Transform(Load(unheard));
var names = scored.GetColumn<string>(nameof(Song.Path)).Select(Path.GetFileName).ToArray();
var scores = scored.GetColumn<float>("Score").ToArray();
var best = scored.GetColumn<float>("Score.BestWindowStart").ToArray();
var timelines = scored.GetColumn<float[]>("WindowScores").ToArray();

Console.WriteLine();
Console.WriteLine("song                      score   best 8 s window   preference per window (1 s hop)");
for (int i = 0; i < names.Length; i++)
{
    string bars = string.Concat(timelines[i].Select(v => " .:-=+*#%@"[Math.Clamp((int)(v * 10), 0, 9)]));
    Console.WriteLine($"{names[i],-24} {scores[i],6:F3}   {best[i],5:F0} s - {best[i] + 8,3:F0} s     |{bars}|");
}

Console.WriteLine();
Console.WriteLine("strings-then-flute turns to flute at 12 s; flute-then-guitar turns to guitar at 12 s.");
return 0;

static void SaveMfccPicture(float[] windows, int frames, int coefficients, string path)
{
    // Coefficient 0 (overall loudness) is left out: its scale would wash out the others.
    var values = new double[coefficients - 1, frames];
    for (int f = 0; f < frames; f++)
    {
        for (int c = 1; c < coefficients; c++)
        {
            values[coefficients - 1 - c, f] = windows[(f * coefficients) + c];
        }
    }

    var plot = new Plot();
    var heatmap = plot.Add.Heatmap(values);
    heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
    plot.Add.ColorBar(heatmap);
    plot.Title("MFCC 1-19, first 8 s window of flute-melody.ogg");
    plot.XLabel("frame (20 ms)");
    plot.YLabel("coefficient - 1");
    plot.SavePng(path, 900, 400);
}

/// <summary>One song: the audio file and whether the listener likes it.</summary>
internal sealed record Song(string Path, bool Likes);
