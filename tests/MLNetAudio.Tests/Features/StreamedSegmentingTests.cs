using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Tests.Audio;

namespace MLNetAudio.Tests.Features;

/// <summary>
/// The loader streams a song's samples into the segmenter when nothing after the segmenter reads them: the windows
/// must be bit-identical to the path that holds the whole song, for every decoder, with and without resampling, for
/// every song length (shorter than one FFT frame to several minutes), and under both error policies.
/// </summary>
public sealed class StreamedSegmentingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-stream-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class PathRow
    {
        public string Path { get; set; } = string.Empty;
    }

    public static TheoryData<string, int> Decoders => new()
    {
        { "samples:flute-melody.ogg", 22050 },         // Ogg Vorbis, resampled from 44.1 kHz
        { "samples:piano-chords.ogg", 44100 },         // Ogg Vorbis at its own rate: no resampling
        { "fixture:sine440_2s_44100.mp3", 16000 },     // MP3
        { "fixture:flac24-stereo.flac", 22050 },       // FLAC
        { "fixture:oggflac16-mono.oga", 22050 },       // Ogg FLAC
        { "fixture:opus-stereo.opus", 22050 },         // Ogg Opus (48 kHz)
        { "fixture:aac-stereo.m4a", 22050 },           // AAC through the ffmpeg fallback
        { "wav:95.3:44100:2", 22050 },                  // WAV, stereo, long enough for many decoder blocks
        { "wav:95.3:22050:1", 22050 },                  // WAV at the target rate
        { "wav:8.0:16000:1", 22050 },                   // exactly one window, upsampled
        { "wav:0.05:22050:1", 22050 },                  // shorter than one FFT frame: padded
    };

    [Theory]
    [MemberData(nameof(Decoders))]
    public void Streamed_windows_are_bit_identical_to_the_whole_song_path(string source, int rate)
    {
        string path = Resolve(source);
        foreach (var options in new[]
        {
            new MfccSegmenterOptions(),
            new MfccSegmenterOptions { FeatureKind = AudioFeatureKind.LogMel, MelBands = 40, WindowHopSeconds = 0.5 },
            new MfccSegmenterOptions { Center = false, FftSize = 1024, HopLength = 300, Coefficients = 13 },
            new MfccSegmenterOptions { PadMode = SpectrogramPadMode.Reflect, WindowSeconds = 2, WindowHopSeconds = 2 },
        })
        {
            var (streamed, streamedCount) = Windows([path], rate, options, alsoReadSamples: false);
            var (held, heldCount) = Windows([path], rate, options, alsoReadSamples: true);
            Assert.Equal(1, streamedCount);
            Assert.Equal(0, heldCount);
            Assert.Single(streamed);
            Assert.True(held[0].Length > 0);
            Assert.Equal(held[0], streamed[0]);
        }
    }

    [RealMusicFact]
    public void Real_music_streams_bit_identically_with_default_options()
    {
        // Recordings this project did not make (Debian's frozen-bubble-data, 5.4 minutes of Ogg Vorbis at 44.1 kHz;
        // warzone2100-music's Opus menu theme), through LoadAudio and SegmentMfcc with every option at its default.
        foreach (string path in new[] { Path.Combine(AudioLoaderTests.FrozenBubbleDir, "frozen-mainzik-1p.ogg"), "/usr/share/games/warzone2100/music/menu.opus" })
        {
            var (streamed, count) = Windows([path], AudioLoaderOptions.Defaults.TargetSampleRate, new MfccSegmenterOptions(), alsoReadSamples: false);
            var (held, _) = Windows([path], AudioLoaderOptions.Defaults.TargetSampleRate, new MfccSegmenterOptions(), alsoReadSamples: true);
            Assert.Equal(1, count);
            Assert.True(held[0].Length > 0, path);
            Assert.Equal(held[0], streamed[0]);
        }
    }

    [Fact]
    public void A_standardized_segmenter_streams_the_same_windows_too()
    {
        string[] paths = [Resolve("samples:flute-melody.ogg"), Resolve("samples:guitar-melody.ogg")];
        var options = new MfccSegmenterOptions { Standardize = true };
        var (streamed, count) = Windows(paths, 22050, options, alsoReadSamples: false);
        var (held, _) = Windows(paths, 22050, options, alsoReadSamples: true);
        Assert.Equal(2, count);
        Assert.Equal(held, streamed);
    }

    [Theory]
    [InlineData(AudioErrorPolicy.Report)]
    [InlineData(AudioErrorPolicy.Throw)]
    public void A_damaged_song_fails_its_row_as_before_and_the_next_rows_stream(AudioErrorPolicy policy)
    {
        string good = Resolve("wav:12.5:44100:2");
        string truncated = Path.Combine(_dir, "truncated.wav");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(truncated, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        string nan = Path.Combine(_dir, "nan.wav");
        var samples = SongData.Tone(22050, 10);
        samples[150_000] = float.NaN;
        WavWriter.Write(nan, samples, 22050, 1, WavSampleFormat.IeeeFloat32);
        string[] paths = [good, truncated, nan, good];
        var loader = new AudioLoaderOptions { ErrorPolicy = policy };
        if (policy == AudioErrorPolicy.Throw)
        {
            foreach (bool alsoSamples in new[] { false, true })
            {
                var e = Assert.ThrowsAny<Exception>(() => Windows(paths, 22050, new MfccSegmenterOptions(), alsoSamples, loader));
                Assert.Contains("truncated.wav", Flatten(e), StringComparison.Ordinal);
            }

            return;
        }

        var (streamed, count) = Windows(paths, 22050, new MfccSegmenterOptions(), alsoReadSamples: false, loader);
        var (held, _) = Windows(paths, 22050, new MfccSegmenterOptions(), alsoReadSamples: true, loader);
        Assert.Equal(2, count);
        Assert.Equal([true, false, false, true], streamed.Select(w => w.Length > 0).ToArray());
        Assert.Equal(held, streamed);
        Assert.Equal(streamed[0], streamed[3]);
    }

    [Fact]
    public void Reading_the_samples_of_a_streamed_row_decodes_it_again_whole()
    {
        // The score pipeline reads the error column first, the windows later; a reader of the samples after the
        // windows (through another cursor's getter order) must still see every sample.
        string path = Resolve("wav:20.0:44100:1");
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable([new PathRow { Path = path }]);
        var loader = ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report }).Fit(data);
        var loaded = loader.Transform(data);
        var segmenter = (MfccSegmentingTransformer)ml.Transforms.SegmentMfcc("W", "Audio").Fit(loaded);
        var view = segmenter.Transform(loaded);
        using var cursor = view.GetRowCursor([view.Schema["W"], view.Schema["Audio.Error"], view.Schema["Audio.Duration"]]);
        var error = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema["Audio.Error"]);
        var windows = cursor.GetGetter<VBuffer<float>>(view.Schema["W"]);
        var duration = cursor.GetGetter<double>(view.Schema["Audio.Duration"]);
        Assert.True(cursor.MoveNext());
        ReadOnlyMemory<char> e = default;
        VBuffer<float> w = default;
        double d = 0;
        error(ref e);
        windows(ref w);
        duration(ref d);
        Assert.Equal(0, e.Length);
        Assert.Equal(1, segmenter.StreamedSongs);
        Assert.Equal(20.0, d, 1e-9);
        Assert.Equal(13 * 400 * 20, w.Length);
    }

    [Fact]
    public void A_streamed_song_is_never_held_whole()
    {
        // Ten minutes of stereo 44.1 kHz: held whole at 22.05 kHz the samples alone are 52.9 MB (and the old path
        // allocated them). Streamed, the allocations are the windows, the frames, the mel dB store and small buffers.
        string path = Path.Combine(_dir, "ten-minutes.wav");
        WriteLongWav(path, seconds: 600, rate: 44100);
        var ml = new MLContext(1);
        var (windowsBytes, streamedAllocated, count) = AllocatedWhileSegmenting(ml, path, alsoReadSamples: false);
        var (_, heldAllocated, _) = AllocatedWhileSegmenting(ml, path, alsoReadSamples: true);
        long samplesBytes = 600L * 22050 * sizeof(float);
        long frames = (600L * 22050 / 441) + 1;
        long melStore = frames * 128 * sizeof(float);
        Assert.Equal(1, count);
        Assert.True(
            streamedAllocated < windowsBytes + (2 * melStore) + (16L << 20),
            $"streaming allocated {streamedAllocated >> 20} MB for {windowsBytes >> 20} MB of windows and a {melStore >> 20} MB mel store");
        Assert.True(heldAllocated - streamedAllocated > samplesBytes / 2, $"held {heldAllocated >> 20} MB, streamed {streamedAllocated >> 20} MB");
    }

    private static (long WindowsBytes, long Allocated, long Streamed) AllocatedWhileSegmenting(MLContext ml, string path, bool alsoReadSamples)
    {
        var data = ml.Data.LoadFromEnumerable([new PathRow { Path = path }]);
        var loaded = ml.Transforms.LoadAudio("Audio", "Path").Fit(data).Transform(data);
        var segmenter = (MfccSegmentingTransformer)ml.Transforms.SegmentMfcc("W", "Audio").Fit(loaded);
        var view = segmenter.Transform(loaded);
        var columns = alsoReadSamples ? new[] { view.Schema["W"], view.Schema["Audio"] } : [view.Schema["W"]];
        using var cursor = view.GetRowCursor(columns);
        var windows = cursor.GetGetter<VBuffer<float>>(view.Schema["W"]);
        VBuffer<float> w = default;
        Assert.True(cursor.MoveNext());
        long before = GC.GetAllocatedBytesForCurrentThread();
        windows(ref w);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        return ((long)w.Length * sizeof(float), allocated, segmenter.StreamedSongs);
    }

    /// <summary>Windows of every row (empty for a failed row) and how many rows streamed.</summary>
    private static (List<float[]> Windows, long Streamed) Windows(
        string[] paths, int rate, MfccSegmenterOptions options, bool alsoReadSamples, AudioLoaderOptions? loaderOptions = null)
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { Path = p }).ToList());
        var loader = loaderOptions ?? new AudioLoaderOptions();
        loader.TargetSampleRate = rate;
        var loaded = ml.Transforms.LoadAudio("Audio", "Path", loader).Fit(data).Transform(data);
        var segmenter = (MfccSegmentingTransformer)ml.Transforms.SegmentMfcc("W", "Audio", options).Fit(loaded);
        var view = segmenter.Transform(loaded);
        var columns = new List<DataViewSchema.Column> { view.Schema["W"] };
        if (alsoReadSamples)
        {
            columns.Add(view.Schema["Audio"]);
        }

        var result = new List<float[]>();
        using var cursor = view.GetRowCursor(columns);
        var windows = cursor.GetGetter<VBuffer<float>>(view.Schema["W"]);
        var samples = alsoReadSamples ? cursor.GetGetter<VBuffer<float>>(view.Schema["Audio"]) : null;
        VBuffer<float> w = default, s = default;
        while (cursor.MoveNext())
        {
            samples?.Invoke(ref s);
            windows(ref w);
            result.Add(w.DenseValues().ToArray());
        }

        return (result, segmenter.StreamedSongs);
    }

    private string Resolve(string source)
    {
        var parts = source.Split(':');
        switch (parts[0])
        {
            case "samples":
                return Path.Combine(TestRepository.Root, "samples", "data", parts[1]);
            case "fixture":
                return ExternalTools.Fixture(parts[1]);
            default:
                double seconds = double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                int rate = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
                int channels = int.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture);
                string path = Path.Combine(_dir, $"{seconds}-{rate}-{channels}.wav");
                if (!File.Exists(path))
                {
                    var mono = SongData.Tone(rate, seconds);
                    var other = SongData.Tone(rate, seconds, baseHz: 330, seed: 2);
                    WavWriter.Write(path, channels == 1 ? mono : AudioTestSignals.Interleave(mono, other), rate, channels);
                }

                return path;
        }
    }

    /// <summary>A long stereo 16-bit WAV written a minute at a time (the test itself never holds the song).</summary>
    internal static void WriteLongWav(string path, int seconds, int rate)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        var minute = AudioTestSignals.Interleave(SongData.Tone(rate, 60), SongData.Tone(rate, 60, baseHz: 330, seed: 2));
        using (var header = new MemoryStream())
        {
            WavWriter.Write(header, minute, rate, channels: 2);
            var bytes = header.ToArray();
            int dataAt = AudioTestSignals.FindChunk(bytes, "data");
            long dataBytes = (long)seconds * rate * 2 * sizeof(short);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)(dataAt + 8 - 8 + dataBytes));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(dataAt + 4), (uint)dataBytes);
            stream.Write(bytes.AsSpan(0, dataAt + 8));
            for (int m = 0; m < seconds / 60; m++)
            {
                stream.Write(bytes.AsSpan(dataAt + 8));
            }
        }
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);

}
