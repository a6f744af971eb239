using Microsoft.ML;
using MLNetAudio.Audio;
using MLNetAudio.Recommendation;
using MLNetAudio.Tests.Audio;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The direction target of <see cref="MultiUserAudioOptions.DirectionWeight"/>: the float32 TorchSharp computation
/// against a float64 reference written out loop by loop, on several shapes, repeated; its sign flip when a window is
/// played backwards; the lags; and the trainer with the read-out: the option is checked, and the read-out makes the
/// encoder's song embeddings hold which way time runs in songs whose frame statistics are the same both ways.
/// </summary>
public sealed class WindowDirectionTests(ITestOutputHelper output)
{
    // The definition, in float64: per difference lag L and coefficient c, with d(t) = x[t+L,c] - x[t,c] over
    // t = 0..T-L-1, mean(d^3) / (mean(d^2) + 1e-6)^1.5 clipped to +-10; then per cross lag L and pair j < k of the first
    // min(8, C) coefficients, mean over t = 0..T-L-1 of x[t,j] x[t+L,k] - x[t,k] x[t+L,j].
    private static double[] Reference(double[] x, int frames, int coefficients, int[] differences, int[] cross)
    {
        var result = new List<double>();
        foreach (int lag in differences)
        {
            for (int c = 0; c < coefficients; c++)
            {
                double m2 = 0, m3 = 0;
                for (int t = 0; t + lag < frames; t++)
                {
                    double d = x[((t + lag) * coefficients) + c] - x[(t * coefficients) + c];
                    m2 += d * d;
                    m3 += d * d * d;
                }

                m2 /= frames - lag;
                m3 /= frames - lag;
                result.Add(Math.Clamp(m3 / Math.Pow(m2 + 1e-6, 1.5), -WindowDirection.SkewLimit, WindowDirection.SkewLimit));
            }
        }

        int k = Math.Min(WindowDirection.CrossCoefficients, coefficients);
        foreach (int lag in cross)
        {
            for (int a = 0; a < k; a++)
            {
                for (int b = a + 1; b < k; b++)
                {
                    double sum = 0;
                    for (int t = 0; t + lag < frames; t++)
                    {
                        sum += (x[(t * coefficients) + a] * x[((t + lag) * coefficients) + b]) - (x[(t * coefficients) + b] * x[((t + lag) * coefficients) + a]);
                    }

                    result.Add(sum / (frames - lag));
                }
            }
        }

        return [.. result];
    }

    [Theory]
    [InlineData(400, 20, 50.0)] // the library's default windows: 8 s at 50 frames per second
    [InlineData(100, 4, 50.0)]
    [InlineData(37, 13, 20.0)]
    [InlineData(9, 3, 4.0)]
    public void TheTorchDirectionStatisticsMatchAFloat64ReferenceRepeatedly(int frames, int coefficients, double framesPerSecond)
    {
        var lags = WindowDirection.Lags(framesPerSecond, frames)!.Value;
        int count = WindowDirection.Count(coefficients, lags);
        var rng = new Random(frames + coefficients);
        for (int repeat = 0; repeat < 3; repeat++)
        {
            const int Windows = 5;
            var values = Enumerable.Range(0, Windows * frames * coefficients).Select(_ => (rng.NextDouble() * 4) - 2).ToArray();
            using var scope = NewDisposeScope();
            var computed = WindowDirection.Compute(tensor(values.Select(v => (float)v).ToArray(), [Windows, frames, coefficients]), lags).data<float>().ToArray();
            Assert.Equal(Windows * count, computed.Length);
            for (int w = 0; w < Windows; w++)
            {
                var expected = Reference(values.AsSpan(w * frames * coefficients, frames * coefficients).ToArray(), frames, coefficients, lags.Differences, lags.Cross);
                Assert.Equal(count, expected.Length);
                for (int i = 0; i < count; i++)
                {
                    double tolerance = 1e-4 * Math.Max(1, Math.Abs(expected[i]));
                    Assert.True(Math.Abs(computed[(w * count) + i] - expected[i]) <= tolerance, $"window {w}, value {i}: {computed[(w * count) + i]} against {expected[i]} (repeat {repeat})");
                }
            }
        }
    }

    [Fact]
    public void PlayedBackwardsEveryValueChangesSign()
    {
        var rng = new Random(3);
        const int Frames = 120, Coefficients = 10;
        var lags = WindowDirection.Lags(50, Frames)!.Value;
        var values = Enumerable.Range(0, 2 * Frames * Coefficients).Select(_ => (float)((rng.NextDouble() * 4) - 2)).ToArray();
        using var scope = NewDisposeScope();
        var x = tensor(values, [2, Frames, Coefficients]);
        var forwards = WindowDirection.Compute(x, lags).data<float>().ToArray();
        var backwards = WindowDirection.Compute(x.flip(1), lags).data<float>().ToArray();
        Assert.Equal(forwards.Length, backwards.Length);
        for (int i = 0; i < forwards.Length; i++)
        {
            Assert.True(Math.Abs(forwards[i] + backwards[i]) <= 1e-4 * Math.Max(1, Math.Abs(forwards[i])), $"value {i}: {forwards[i]} forwards, {backwards[i]} backwards");
        }

        Assert.Contains(forwards, v => Math.Abs(v) > 0.05); // not all zero
    }

    [Theory]
    [InlineData(50, 400, new[] { 1, 2, 4, 8 }, new[] { 25, 50, 75 })]
    [InlineData(50, 60, new[] { 1, 2, 4, 8 }, new[] { 25 })] // 50 and 75 frames are beyond three quarters of 60
    [InlineData(50, 9, new[] { 1, 2, 4 }, new int[0])]
    [InlineData(50, 2, new int[0], new int[0])] // too short for a difference: null
    public void LagsFitTheWindow(double framesPerSecond, int framesPerWindow, int[] differences, int[] cross)
    {
        var lags = WindowDirection.Lags(framesPerSecond, framesPerWindow);
        if (differences.Length == 0)
        {
            Assert.Null(lags);
            return;
        }

        Assert.Equal(differences, lags!.Value.Differences);
        Assert.Equal(cross, lags.Value.Cross);
    }

    private sealed class ClipRow
    {
        public string Path { get; set; } = string.Empty;

        public string SongId { get; set; } = string.Empty;
    }

    [RealMusicFact]
    public void OnRealMusicTheStatisticsSeeWhichWayTheAudioRuns()
    {
        // The first 60 s of two frozen-bubble tracks (real recordings, GPL, installed by .ci/run), written as WAV files
        // as recorded and with the samples reversed, through LoadAudio, SegmentMfcc and AudioSongWindows as a user would.
        // Recorded music starts its notes sharply and lets them fade, so the loudness coefficient's frame-to-frame rise
        // (the first value, skewness over one frame) leans positive as recorded and negative reversed; the whole vector
        // of each reversed track's mean statistics is close to minus the recorded one's. Measured: 1.45 / -1.34 and
        // 0.53 / -0.53.
        string folder = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "direction-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var ml = new MLContext(1);
            var rows = new List<ClipRow>();
            foreach (string name in new[] { "frozen-mainzik-1p.ogg", "introzik.ogg" })
            {
                string source = Path.Combine(Audio.AudioLoaderTests.FrozenBubbleDir, name);
                Assert.True(File.Exists(source), $"{source} is missing: run `apt-get install frozen-bubble-data` (the CI script installs it).");
                var options = new AudioLoaderOptions { TargetSampleRate = 16000, MaxDuration = 60 };
                float[] samples = AudioLoaderTests.Load(source, options).Samples;
                string forwards = Path.Combine(folder, name + ".forwards.wav"), backwards = Path.Combine(folder, name + ".backwards.wav");
                WavWriter.Write(forwards, samples, 16000);
                WavWriter.Write(backwards, [.. samples.Reverse()], 16000);
                rows.Add(new ClipRow { Path = forwards, SongId = name + " forwards" });
                rows.Add(new ClipRow { Path = backwards, SongId = name + " backwards" });
            }

            var data = ml.Data.LoadFromEnumerable(rows);
            var windows = ml.Transforms.Conversion.MapValueToKey("SongKey", nameof(ClipRow.SongId))
                .Append(ml.Transforms.LoadAudio("Audio", nameof(ClipRow.Path), new AudioLoaderOptions { TargetSampleRate = 16000 }))
                .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"))
                .Fit(data).Transform(data);
            var songs = AudioSongWindows.FromDataView(windows, "SongKey", "Windows");
            var lags = WindowDirection.Lags(songs.Options.FramesPerSecond, songs.FramesPerWindow)!.Value;
            int count = WindowDirection.Count(songs.Coefficients, lags);
            using var scope = NewDisposeScope();
            var all = cat(Enumerable.Range(0, songs.SongCount).Select(s => tensor(songs.Windows(s).ToArray(), [songs.WindowCount(s), songs.FramesPerWindow, songs.Coefficients])).ToArray(), 0);
            var frames = all.reshape(-1, songs.Coefficients);
            var (mean, std) = (frames.mean([0]), frames.std(0));
            var means = Enumerable.Range(0, songs.SongCount).Select(s =>
                WindowDirection.Compute(tensor(songs.Windows(s).ToArray(), [songs.WindowCount(s), songs.FramesPerWindow, songs.Coefficients]).sub(mean).div(std), lags).mean([0]).data<float>().ToArray()).ToArray();
            for (int track = 0; track < songs.SongCount / 2; track++)
            {
                float[] recorded = means[2 * track], reversed = means[(2 * track) + 1];
                output.WriteLine($"{rows[2 * track].SongId}: loudness rise skew {recorded[0]:0.00} as recorded, {reversed[0]:0.00} reversed");
                Assert.True(recorded[0] > 0.3 && reversed[0] < -0.3, $"{rows[2 * track].SongId}: skew of the loudness coefficient's one-frame rise {recorded[0]:0.00} as recorded, {reversed[0]:0.00} reversed");
                double dot = recorded.Zip(reversed, (a, b) => (double)a * b).Sum();
                double cosine = dot / Math.Sqrt(recorded.Sum(a => (double)a * a) * reversed.Sum(b => (double)b * b));
                Assert.True(cosine < -0.8, $"{rows[2 * track].SongId}: the reversed track's statistics should be about minus the recorded ones; cosine {cosine:0.00}");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private const int Frames = 100, Coefficients = 4, Songs = 32, WindowsPerSong = 4;

    // Song s: notes that start sharply and fade over 8 to 16 frames (s even), or the same notes played backwards (s
    // odd: a slow swell cut off sharply), over a timbre of its own (a random level and note loudness per coefficient);
    // noise a tenth of the notes. Both directions hold the same frames, so frame statistics cannot tell them apart.
    private static AudioSongWindows AttackSongs()
    {
        var rng = new Random(5);
        var windows = new float[Songs][];
        for (int s = 0; s < Songs; s++)
        {
            var level = Enumerable.Range(0, Coefficients).Select(_ => (float)((rng.NextDouble() * 4) - 2)).ToArray();
            var loudness = Enumerable.Range(0, Coefficients).Select(_ => (float)(0.5 + rng.NextDouble())).ToArray();
            bool backwards = s % 2 == 1;
            windows[s] = new float[WindowsPerSong * Frames * Coefficients];
            for (int w = 0; w < WindowsPerSong; w++)
            {
                var envelope = new float[Frames];
                for (int start = rng.Next(8); start < Frames;)
                {
                    int length = 8 + rng.Next(9);
                    for (int f = 0; f < length && start + f < Frames; f++)
                    {
                        envelope[start + f] = 1 - ((float)f / length);
                    }

                    start += length;
                }

                for (int f = 0; f < Frames; f++)
                {
                    float e = envelope[backwards ? Frames - 1 - f : f];
                    for (int c = 0; c < Coefficients; c++)
                    {
                        windows[s][(((w * Frames) + f) * Coefficients) + c] = level[c] + (e * loudness[c]) + (0.1f * (float)((rng.NextDouble() * 2) - 1));
                    }
                }
            }
        }

        return AudioSongWindows.FromValues(windows, Frames, Coefficients, new AudioSongOptions());
    }

    // Pretraining alone, without the window-statistics term, so the read-out is the only thing that can teach the
    // direction.
    private static MultiUserAudioOptions Options(double direction) => new()
    {
        EmbeddingSize = 8, Channels = 8, ConvolutionLayers = 2, Epochs = 0, BatchSize = 8, Seed = 3, Device = TorchDevice.Cpu,
        ContrastivePretrainingEpochs = 150, ContrastiveWeight = 0, DirectionWeight = direction, WindowStatisticsWeight = 0,
    };

    private static double NearestRunsTheSameWay(MultiUserAudioModel model) => SongNeighbours.SameGroupShare(model, WindowsPerSong, s => s % 2);

    [Fact]
    public void TheDirectionReadOutMakesSongEmbeddingsHoldWhichWayTimeRuns()
    {
        var ml = new MLContext(1);
        var plays = PlayLogs.FourPlaysEach(ml, 4, Songs);
        using var without = ml.Audio().Recommendation.Trainers.MultiUserAudio(AttackSongs(), Options(0)).Fit(plays);
        using var with = ml.Audio().Recommendation.Trainers.MultiUserAudio(AttackSongs(), Options(5)).Fit(plays);
        double before = NearestRunsTheSameWay(without), after = NearestRunsTheSameWay(with);
        output.WriteLine($"nearest song runs the same way: {before:0.00} without the read-out, {after:0.00} with it");
        Assert.True(after >= 0.8 && after > before + 0.2, $"nearest song runs the same way: {before:0.00} without the read-out, {after:0.00} with it (chance 0.48)");
    }

    [Fact]
    public void DirectionWeightIsCheckedAndNeedsWindowsLongEnoughForADifference()
    {
        var ml = new MLContext(1);
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(AttackSongs(), new MultiUserAudioOptions { DirectionWeight = -1 }));
        Assert.Contains("DirectionWeight: must be 0 or more and finite; found -1", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.MultiUserAudio(AttackSongs(), new MultiUserAudioOptions { DirectionWeight = double.NaN }));
        Assert.Contains("DirectionWeight: must be 0 or more and finite", e.Message, StringComparison.Ordinal);

        // The network itself refuses windows this short; the read-out says what it needs on its own too.
        var shortWindows = AudioSongWindows.FromValues([new float[2 * 2 * 2], new float[2 * 2 * 2]], 2, 2, new AudioSongOptions());
        using var scope = NewDisposeScope();
        e = Assert.Throws<ArgumentException>(() => WindowDirection.Readout(Options(1), shortWindows, CPU, zeros(2), ones(2)));
        Assert.Contains("DirectionWeight is 1 but the song windows hold 2 frames, too short for a frame difference", e.Message, StringComparison.Ordinal);
        Assert.Contains("Set DirectionWeight to 0", e.Message, StringComparison.Ordinal);
    }
}
