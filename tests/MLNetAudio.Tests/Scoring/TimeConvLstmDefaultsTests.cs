using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using MLNetAudio.Synthesis;
using MLNetAudio.Tests.Synthesis;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// The README pipeline with the trainer's DEFAULT options (only the column names set) must learn from 10 liked and 10
/// disliked songs: held-out AUC of the aggregated song scores at least 0.9. Before the adaptive defaults, 20 epochs of
/// consecutive 8 s pieces gave about 20 optimisation steps and every song scored about the same.
/// </summary>
public sealed class TimeConvLstmDefaultsTests : IDisposable
{
    private const int Rate = Pitch.DefaultSampleRate;
    private readonly ITestOutputHelper _output;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mlnetaudio-defaults-" + Guid.NewGuid().ToString("N"));

    public TimeConvLstmDefaultsTests(ITestOutputHelper output)
    {
        _output = output;
        Directory.CreateDirectory(_folder);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Defaults_learn_which_instrument_comes_first_from_20_songs_of_12_seconds()
    {
        // The user's report: liked = part A (flute) then part B (guitar), disliked = B then A; synthesized instruments.
        var rng = new Random(11);
        float[] Song(bool liked)
        {
            var (first, second) = liked ? (Instrument.Flute, Instrument.Guitar) : (Instrument.Guitar, Instrument.Flute);
            return [.. Part(first, 6, rng), .. Part(second, 6, rng)];
        }

        var training = Enumerable.Range(0, 20).Select(i => (Song(i % 2 == 0), i % 2 == 0)).ToList();
        var heldOut = Enumerable.Range(0, 20).Select(i => (Song(i % 2 == 0), i % 2 == 0)).ToList();

        var (auc, plan) = TrainWithDefaultsAndScore(training, heldOut);

        Assert.Equal(1, plan.TrainingWindowStride);
        Assert.Equal(0, plan.ValidationSongs);
        Assert.True(auc >= 0.9, $"held-out AUC {auc:F3}");
    }

    [FluidSynthFact]
    public void Defaults_learn_flute_from_guitar_from_20_songs_of_1_to_12_seconds()
    {
        // Real sampled instruments (fluidsynth + a GM soundfont); every length from 1 s (padded to one 8 s window) to 12 s.
        var rng = new Random(5);
        double[] lengths = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12];
        var trainingSongs = lengths.SelectMany(s => new[] { (s, true), (s, false) }).ToList();
        var heldOutSongs = lengths.SelectMany(s => new[] { (s, true), (s, false) }).ToList();
        var rendered = RenderTogether([.. trainingSongs, .. heldOutSongs], rng);
        var training = rendered.Take(trainingSongs.Count).ToList();
        var heldOut = rendered.Skip(trainingSongs.Count).ToList();

        var (auc, plan) = TrainWithDefaultsAndScore(training, heldOut);

        Assert.Equal(20, plan.Songs);
        Assert.True(auc >= 0.9, $"held-out AUC {auc:F3}");
    }

    // Notes of one instrument, 0.25-0.6 s each, in one octave and a half (both instruments share the range).
    private static float[] Part(Instrument instrument, double seconds, Random rng)
    {
        var samples = new List<float>();
        int total = Pitch.SecondsToSamples(seconds, Rate);
        while (samples.Count < total)
        {
            double length = 0.25 + (0.35 * rng.NextDouble());
            samples.AddRange(Instruments.Play(instrument, 60 + rng.Next(18), length, rng, 0.3f + (0.4f * (float)rng.NextDouble())));
        }

        return [.. samples.Take(total)];
    }

    // One fluidsynth run for all songs (laid end to end with 2 s gaps for the release tails), then cut apart.
    private static List<(float[] Samples, bool Liked)> RenderTogether(List<(double Seconds, bool Liked)> songs, Random rng)
    {
        var notes = new List<NoteEvent>();
        var starts = new List<double>();
        double t = 0;
        foreach (var (seconds, liked) in songs)
        {
            starts.Add(t);
            var instrument = liked ? Instrument.Flute : Instrument.Guitar;
            for (double onset = 0; onset < seconds - 0.1; )
            {
                double length = Math.Min(0.25 + (0.35 * rng.NextDouble()), seconds - onset);
                notes.Add(new NoteEvent(instrument, 60 + rng.Next(18), t + onset, length, 0.5f + (0.5f * (float)rng.NextDouble())));
                onset += length;
            }

            t += seconds + 2;
        }

        float[] all = GeneralMidi.Render(notes, t, Rate);
        return [.. songs.Select((s, i) => (all.AsSpan(Pitch.SecondsToSamples(starts[i], Rate), Pitch.SecondsToSamples(s.Seconds, Rate)).ToArray(), s.Liked))];
    }

    private (double Auc, TrainingPlan Plan) TrainWithDefaultsAndScore(List<(float[] Samples, bool Liked)> training, List<(float[] Samples, bool Liked)> heldOut)
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, m) =>
        {
            if (m.Message.Contains("TimeConvLstm: ", StringComparison.Ordinal))
            {
                log.Add(m.Message);
            }
        };
        IDataView Write(string prefix, List<(float[] Samples, bool Liked)> songs) => ml.Data.LoadFromEnumerable(songs.Select((s, i) =>
        {
            string path = Path.Combine(_folder, $"{prefix}{i}.wav");
            WavWriter.Write(path, s.Samples, Rate);
            return new SongRow { Path = path, Label = s.Liked };
        }).ToList());

        var reports = new List<TrainingProgress>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var pipeline = ml.Transforms.LoadAudio("Audio", "Path")
            .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"))
            .Append(ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
            {
                LabelColumnName = "Label",
                FeatureColumnName = "Windows",
                Progress = new SyncProgress(reports.Add), // observes only
            }))
            .Append(ml.Transforms.AggregateWindows("Score", "WindowScores"));
        var model = pipeline.Fit(Write("train", training));
        var scores = model.Transform(Write("test", heldOut)).GetColumn<float>("Score").ToArray();
        double auc = TopKMetrics.Auc(scores, heldOut.Select((s, i) => (s.Liked, i)).Where(p => p.Liked).Select(p => p.i).ToHashSet());

        var plan = reports[0].Plan!;
        _output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s; ML.NET log:");
        log.ForEach(_output.WriteLine);
        _output.WriteLine($"final loss {reports[^1].TrainingLoss:F4} after {reports.Count} epochs, {reports.Average(r => r.WindowsPerSecond):F0} windows/s");
        _output.WriteLine(string.Join(" ", reports.Where((_, i) => i % Math.Max(1, reports.Count / 20) == 0).Select(r => $"{r.Epoch}:{r.TrainingLoss:F3}")));
        _output.WriteLine($"liked {string.Join(" ", scores.Where((_, i) => heldOut[i].Liked).Select(s => s.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}");
        _output.WriteLine($"disliked {string.Join(" ", scores.Where((_, i) => !heldOut[i].Liked).Select(s => s.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}");
        _output.WriteLine($"held-out AUC {auc:F3}");
        Assert.Contains(log, m => m.Contains($"at most {plan.Epochs} epochs (automatic)", StringComparison.Ordinal)); // Fit says what it chose
        Assert.Contains(log, m => m.Contains("too few to hold some out for validation", StringComparison.Ordinal)); // and that 20 songs are too few to validate
        Assert.Contains(nameof(TimeConvLstmOptions.Epochs), plan.Automatic);
        return (auc, plan);
    }

    private sealed class SongRow
    {
        public string Path { get; set; } = string.Empty;

        public bool Label { get; set; }
    }

    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
