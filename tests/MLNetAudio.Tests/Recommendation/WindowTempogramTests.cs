using Microsoft.ML;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The tempogram target of <see cref="MultiUserAudioOptions.RhythmWeight"/>: the float32 TorchSharp computation against
/// a float64 reference written out loop by loop, on several shapes, repeated; the lag range; and the trainer with the
/// read-out: the option is checked, changes the model, and makes the encoder's song embeddings hold a beat period that
/// the songs' timbre does not give away.
/// </summary>
public sealed class WindowTempogramTests
{
    // The definition, in float64: onset[t] = sum_c max(0, x[t,c] - x[t-1,c]) for t = 1..T-1, centred; r[k] = sum_t
    // onset[t] onset[t+k] / (sum_t onset[t]^2 + 1e-6).
    private static double[] Reference(double[] x, int frames, int coefficients, int first, int last)
    {
        var onset = new double[frames - 1];
        for (int t = 1; t < frames; t++)
        {
            for (int c = 0; c < coefficients; c++)
            {
                onset[t - 1] += Math.Max(0, x[(t * coefficients) + c] - x[((t - 1) * coefficients) + c]);
            }
        }

        double mean = onset.Average();
        for (int t = 0; t < onset.Length; t++)
        {
            onset[t] -= mean;
        }

        double energy = onset.Sum(v => v * v) + 1e-6;
        var result = new double[last - first + 1];
        for (int k = first; k <= last; k++)
        {
            for (int t = 0; t + k < onset.Length; t++)
            {
                result[k - first] += onset[t] * onset[t + k];
            }

            result[k - first] /= energy;
        }

        return result;
    }

    [Theory]
    [InlineData(400, 20, 5, 75)] // the library's default windows: 8 s at 50 frames per second
    [InlineData(100, 4, 5, 74)]
    [InlineData(37, 13, 1, 27)]
    [InlineData(16, 3, 5, 11)]
    public void TheTorchTempogramMatchesAFloat64ReferenceRepeatedly(int frames, int coefficients, int first, int last)
    {
        var rng = new Random(frames + coefficients);
        for (int repeat = 0; repeat < 3; repeat++)
        {
            const int Windows = 5;
            var values = Enumerable.Range(0, Windows * frames * coefficients).Select(_ => (rng.NextDouble() * 4) - 2).ToArray();
            using var scope = NewDisposeScope();
            var computed = WindowTempogram.Compute(tensor(values.Select(v => (float)v).ToArray(), [Windows, frames, coefficients]), first, last).data<float>().ToArray();
            int lags = last - first + 1;
            Assert.Equal(Windows * lags, computed.Length);
            for (int w = 0; w < Windows; w++)
            {
                var expected = Reference(values.AsSpan(w * frames * coefficients, frames * coefficients).ToArray(), frames, coefficients, first, last);
                for (int k = 0; k < lags; k++)
                {
                    Assert.True(Math.Abs(computed[(w * lags) + k] - expected[k]) <= 1e-4, $"window {w}, lag {first + k}: {computed[(w * lags) + k]} against {expected[k]} (repeat {repeat})");
                }
            }
        }
    }

    [Theory]
    [InlineData(50, 400, 5, 75)]
    [InlineData(100, 800, 10, 150)]
    [InlineData(50, 60, 5, 44)] // capped: a quarter of the envelope must overlap itself
    [InlineData(50, 8, 0, 0)] // too short for two lags
    public void LagsCoverBeatPeriodsOfATenthToOneAndAHalfSeconds(double framesPerSecond, int framesPerWindow, int first, int last)
    {
        var lags = WindowTempogram.Lags(framesPerSecond, framesPerWindow);
        Assert.Equal(first == 0 ? null : (first, last), lags);
    }

    [Fact]
    public void ABeatShowsAsAPeakAtItsPeriod()
    {
        // A click every 20 frames in one coefficient, otherwise flat: the autocorrelation peaks at lags 20 and 40.
        const int Frames = 200;
        var x = new float[Frames * 2];
        for (int t = 3; t < Frames; t += 20)
        {
            x[t * 2] = 1;
        }

        using var scope = NewDisposeScope();
        var r = WindowTempogram.Compute(tensor(x, [1, Frames, 2]), 5, 45).data<float>().ToArray();
        int best = Array.IndexOf(r, r.Max()) + 5;
        Assert.Equal(20, best);
        Assert.True(r[40 - 5] > 0.5 && r[30 - 5] < 0, $"lag 40: {r[35]}, lag 30: {r[25]}");
    }

    private const int Frames = 100, Coefficients = 4, Songs = 32, WindowsPerSong = 4;
    private static readonly int[] Periods = [10, 14, 20, 28];

    // Song s: clicks every Periods[s % 4] frames (phase random per window) over a timbre of its own (a random level per
    // coefficient, so the coefficients' statistics tell songs apart but not their beat), noise a tenth of the clicks.
    private static AudioSongWindows ClickSongs()
    {
        var rng = new Random(5);
        var windows = new float[Songs][];
        for (int s = 0; s < Songs; s++)
        {
            var level = Enumerable.Range(0, Coefficients).Select(_ => (float)((rng.NextDouble() * 4) - 2)).ToArray();
            var loudness = Enumerable.Range(0, Coefficients).Select(_ => (float)(0.5 + rng.NextDouble())).ToArray();
            int period = Periods[s % Periods.Length];
            windows[s] = new float[WindowsPerSong * Frames * Coefficients];
            for (int w = 0; w < WindowsPerSong; w++)
            {
                int phase = rng.Next(period);
                for (int f = 0; f < Frames; f++)
                {
                    bool click = (f + phase) % period < 2;
                    for (int c = 0; c < Coefficients; c++)
                    {
                        windows[s][(((w * Frames) + f) * Coefficients) + c] = level[c] + (click ? loudness[c] : 0) + (0.1f * (float)((rng.NextDouble() * 2) - 1));
                    }
                }
            }
        }

        return AudioSongWindows.FromValues(windows, Frames, Coefficients, new AudioSongOptions());
    }

    // Pretraining alone, without the window-statistics term, so the read-out is the only thing that can teach the beat
    // (measured on this seed: 0.28 without, 0.75 with).
    private static MultiUserAudioOptions Options(double rhythm) => new()
    {
        EmbeddingSize = 8, Channels = 8, ConvolutionLayers = 2, Epochs = 0, BatchSize = 8, Seed = 3, Device = TorchDevice.Cpu,
        ContrastivePretrainingEpochs = 150, ContrastiveWeight = 0, RhythmWeight = rhythm, WindowStatisticsWeight = 0,
    };

    private static double NearestHasSamePeriod(MultiUserAudioModel model) => SongNeighbours.SameGroupShare(model, WindowsPerSong, s => s % Periods.Length);

    [Fact]
    public void TheRhythmReadOutMakesSongEmbeddingsHoldTheBeatPeriod()
    {
        var ml = new MLContext(1);
        var plays = PlayLogs.FourPlaysEach(ml, 4, Songs);
        using var without = ml.Audio().Recommendation.Trainers.MultiUserAudio(ClickSongs(), Options(0)).Fit(plays);
        using var with = ml.Audio().Recommendation.Trainers.MultiUserAudio(ClickSongs(), Options(5)).Fit(plays);
        double before = NearestHasSamePeriod(without), after = NearestHasSamePeriod(with);
        Assert.True(after >= 0.6 && after > before + 0.3, $"nearest song has the same beat period: {before:0.00} without the read-out, {after:0.00} with it (chance 0.23)");
    }

    [Fact]
    public void RhythmWeightIsCheckedAndNeedsWindowsLongEnoughForItsLags()
    {
        var ml = new MLContext(1);
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(ClickSongs(), new MultiUserAudioOptions { RhythmWeight = -1 }));
        Assert.Contains("RhythmWeight: must be 0 or more and finite; found -1", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(ClickSongs(), new MultiUserAudioOptions { RhythmWeight = double.PositiveInfinity }));
        Assert.Contains("RhythmWeight: must be 0 or more and finite", e.Message, StringComparison.Ordinal);

        var shortWindows = AudioSongWindows.FromValues([new float[2 * 8 * 2], new float[2 * 8 * 2]], 8, 2, new AudioSongOptions());
        var plays = PlayLogs.Make(ml, 2, 2, [(1u, 1u, 1f), (2u, 2u, 1f)]);
        var options = Options(1);
        options.ContrastivePretrainingEpochs = 0;
        options.Epochs = 1;
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(shortWindows, options).Fit(plays));
        Assert.Contains("RhythmWeight is 1 but the song windows hold 8 frames at 50 frames per second", e.Message, StringComparison.Ordinal);
        Assert.Contains("Set RhythmWeight to 0, or use windows of at least 2 s", e.Message, StringComparison.Ordinal);
    }
}
