using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioTestSignals;

namespace MLNetAudio.Tests.Audio;

public class PathRow
{
    public string Path { get; set; } = string.Empty;
}

public class AudioRow
{
    [ColumnName("Audio")]
    public float[] Audio { get; set; } = [];

    [ColumnName("Audio.SampleRate")]
    public int SampleRate { get; set; }

    [ColumnName("Audio.Duration")]
    public double Duration { get; set; }
}

/// <summary>One loaded row, read through a cursor.</summary>
internal sealed record LoadedRow(float[] Samples, int Rate, double Duration, string? Error);

public class AudioLoaderTests
{
    internal const string FrozenBubbleDir = "/usr/share/games/frozen-bubble/snd";

    /// <summary>Loads every path through the transformer and a single cursor; errors surface as thrown.</summary>
    internal static LoadedRow[] LoadAll(IEnumerable<string> paths, AudioLoaderOptions? options = null)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { Path = p }).ToList());
        var transformed = ml.Transforms.LoadAudio("Audio", "Path", options).Fit(data).Transform(data);
        return ReadRows(transformed.GetRowCursor(transformed.Schema), transformed.Schema);
    }

    internal static LoadedRow Load(string path, AudioLoaderOptions? options = null) => LoadAll([path], options)[0];

    internal static LoadedRow[] ReadRows(DataViewRowCursor cursor, DataViewSchema schema)
    {
        using (cursor)
        {
            var samples = cursor.GetGetter<VBuffer<float>>(schema["Audio"]);
            var rate = cursor.GetGetter<int>(schema[AudioColumns.SampleRate("Audio")]);
            var duration = cursor.GetGetter<double>(schema[AudioColumns.Duration("Audio")]);
            var errorColumn = schema.GetColumnOrNull(AudioColumns.Error("Audio"));
            var error = errorColumn is { } e ? cursor.GetGetter<ReadOnlyMemory<char>>(e) : null;
            var rows = new List<LoadedRow>();
            while (cursor.MoveNext())
            {
                VBuffer<float> s = default;
                int r = 0;
                double d = 0;
                ReadOnlyMemory<char> err = default;
                samples(ref s);
                rate(ref r);
                duration(ref d);
                error?.Invoke(ref err);
                rows.Add(new LoadedRow(s.DenseValues().ToArray(), r, d, error is null ? null : err.ToString()));
            }

            return rows.ToArray();
        }
    }

    // SchemaShape.Create is internal to ML.NET; the library's helper builds the same shape.
    private static SchemaShape ShapeOf(DataViewSchema schema) =>
        new(schema.Select(c => MLNetAudio.Data.SchemaShapes.MakeColumn(c.Name, c.Type)));

    private static AudioLoaderOptions AtRate(int rate) => new() { TargetSampleRate = rate };

    [Fact]
    public void A_long_song_is_handed_over_whole_and_rows_after_it_still_read_their_own_samples()
    {
        // 70 s at 22.05 kHz resampled to 16 kHz: 1.12 M samples, over the 2^20 from which the array is handed over.
        using var dir = new TempDir();
        string longPath = dir.File("long.wav"), shortPath = dir.File("short.wav");
        var tone = Sine(440, 22050, 70);
        File.WriteAllBytes(longPath, WavBytes(tone, 22050, format: WavSampleFormat.IeeeFloat32));
        File.WriteAllBytes(shortPath, WavBytes(Sine(880, 22050, 2), 22050, format: WavSampleFormat.IeeeFloat32));
        var expectedLong = Resampler.Resample(tone, 22050, 16000);

        // One VBuffer reused across rows, as ML.NET consumers do: the short row after the long one gets its own samples.
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { longPath, longPath, shortPath }.Select(p => new PathRow { Path = p }).ToList());
        var loaded = ml.Transforms.LoadAudio("Audio", "Path", AtRate(16000)).Fit(data).Transform(data);
        using var cursor = loaded.GetRowCursor(loaded.Schema);
        var getter = cursor.GetGetter<VBuffer<float>>(loaded.Schema["Audio"]);
        VBuffer<float> buffer = default;
        var lengths = new List<int>();
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            getter(ref buffer); // a second read of the same row gives the same values
            lengths.Add(buffer.Length);
            var expected = buffer.Length == expectedLong.Length ? expectedLong : Resampler.Resample(Sine(880, 22050, 2), 22050, 16000);
            Assert.Equal(expected, buffer.DenseValues().ToArray());
        }

        Assert.Equal([expectedLong.Length, expectedLong.Length, 32000], lengths);
    }

    public static TheoryData<WavSampleFormat, int, bool> WavVariants()
    {
        var data = new TheoryData<WavSampleFormat, int, bool>();
        foreach (var format in Enum.GetValues<WavSampleFormat>())
        {
            foreach (int channels in new[] { 1, 2, 6 })
            {
                data.Add(format, channels, false);
                data.Add(format, channels, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WavVariants))]
    public void Every_WAV_variant_decodes_and_down_mixes_to_the_channel_mean(WavSampleFormat format, int channels, bool extensible)
    {
        using var dir = new TempDir();
        const int rate = 16000;
        var perChannel = Enumerable.Range(0, channels).Select(c => Sine(300 * (c + 1), rate, 0.1, amplitude: 0.4, phase: c)).ToArray();
        string path = dir.File("x.wav");
        WavWriter.Write(path, Interleave(perChannel), rate, channels, format, extensible);

        var row = Load(path, AtRate(rate));

        float tolerance = format switch { WavSampleFormat.Pcm8 => 1e-2f, WavSampleFormat.Pcm16 => 1e-4f, _ => 1e-5f };
        Assert.Equal(perChannel[0].Length, row.Samples.Length);
        for (int i = 0; i < row.Samples.Length; i++)
        {
            float mean = perChannel.Average(ch => ch[i]);
            Assert.True(Math.Abs(mean - row.Samples[i]) <= tolerance, $"sample {i}: expected {mean}, got {row.Samples[i]}");
        }

        Assert.Equal(rate, row.Rate);
        Assert.Equal(0.1, row.Duration, 1e-9);
    }

    [Fact]
    public void Unknown_and_odd_sized_chunks_are_skipped()
    {
        using var dir = new TempDir();
        var signal = Sine(440, 8000, 0.2);
        var wav = WavBytes(signal, 8000);
        wav = InsertChunkBeforeData(wav, "LIST", [1, 2, 3, 4, 5]); // odd size: one pad byte follows
        wav = InsertChunkBeforeData(wav, "fact", [0, 0, 0, 0]);
        wav = [.. wav, .. "junk"u8.ToArray(), 3, 0, 0, 0, 9, 9, 9, 0]; // a trailing chunk after data
        string path = dir.File("chunks.wav");
        File.WriteAllBytes(path, wav);

        var row = Load(path, AtRate(8000));

        Assert.Equal(signal.Length, row.Samples.Length);
        Assert.Equal(signal[100], row.Samples[100], 1e-4f);
    }

    [Fact]
    public void A_streamed_WAV_with_unknown_data_size_reads_to_the_end()
    {
        using var dir = new TempDir();
        var signal = Sine(440, 8000, 0.25);
        var wav = WavBytes(signal, 8000);
        BitConverter.GetBytes(uint.MaxValue).CopyTo(wav, FindChunk(wav, "data") + 4);
        string path = dir.File("streamed.wav");
        File.WriteAllBytes(path, wav);

        Assert.Equal(signal.Length, Load(path, AtRate(8000)).Samples.Length);
    }

    [Fact]
    public void The_format_comes_from_the_content_not_the_extension()
    {
        using var dir = new TempDir();
        string wavNamedMp3 = dir.File("really-a-wav.mp3");
        WavWriter.Write(wavNamedMp3, Sine(440, 22050, 0.5), 22050);
        string mp3NamedWav = dir.File("really-an-mp3.wav");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3"), mp3NamedWav);

        var rows = LoadAll([wavNamedMp3, mp3NamedWav]);

        Assert.Equal(0.5, rows[0].Duration, 1e-9);
        Assert.InRange(rows[1].Duration, 1.99, 2.1);
    }

    [Fact]
    public void Offset_and_MaxDuration_return_that_part_of_a_WAV()
    {
        using var dir = new TempDir();
        const int rate = 8000;
        var signal = Enumerable.Range(0, rate).Select(i => (float)Math.Sin(i * 0.001) * 0.9f).ToArray();
        string path = dir.File("ramp.wav");
        WavWriter.Write(path, signal, rate, format: WavSampleFormat.IeeeFloat32);

        var part = Load(path, new AudioLoaderOptions { TargetSampleRate = rate, Offset = 0.5, MaxDuration = 0.25 });
        var tail = Load(path, new AudioLoaderOptions { TargetSampleRate = rate, Offset = 0.75, MaxDuration = 10 });
        var past = Load(path, new AudioLoaderOptions { TargetSampleRate = rate, Offset = 2 });

        Assert.Equal(signal.AsSpan(4000, 2000).ToArray(), part.Samples);
        Assert.Equal(0.25, part.Duration, 1e-9);
        Assert.Equal(signal.AsSpan(6000).ToArray(), tail.Samples);
        Assert.Empty(past.Samples);
        Assert.Equal(0, past.Duration);
    }

    private static string FrozenBubble(string name)
    {
        string path = Path.Combine(FrozenBubbleDir, name);
        Assert.True(File.Exists(path), $"{path} is missing: run `apt-get install frozen-bubble-data` (the CI script installs it).");
        return path;
    }

    [RealMusicFact]
    public void A_real_Ogg_Vorbis_song_decodes_with_its_full_duration()
    {
        // Expected length measured with: ffprobe -v error -show_entries stream=sample_rate,duration_ts,duration
        //   /usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg -> sample_rate=44100 duration_ts=14189184 duration=321.750204
        string path = FrozenBubble("frozen-mainzik-1p.ogg");

        var native = Load(path, AtRate(44100));

        Assert.Equal(14189184, native.Samples.Length);
        Assert.Equal(321.750204, native.Duration, 1e-6);
        Assert.True(Rms(native.Samples) > 0.01, "the song decoded to near silence");
    }

    [RealMusicFact]
    public void A_real_Ogg_Vorbis_song_resampled_to_22050_keeps_its_duration()
    {
        // ffprobe: introzik.ogg sample_rate=44100 duration_ts=8622153 duration=195.513673. This file's page granule
        // positions are inconsistent (NVorbis reports "GranulePos mismatch" when seeking in it) and NVorbis 0.10.5
        // decodes 8614784 samples, 0.167 s short of ffmpeg; the tolerance covers that known difference.
        string path = FrozenBubble("introzik.ogg");

        var row = Load(path);

        Assert.Equal(22050, row.Rate);
        Assert.InRange(row.Duration, 195.513673 - 0.2, 195.513673 + 1e-4);
        Assert.Equal(row.Samples.Length / 22050.0, row.Duration, 1e-9);
    }

    [RealMusicFact]
    public void Ogg_Vorbis_offset_seeks_to_the_same_samples_a_full_decode_gives()
    {
        string path = FrozenBubble("frozen-mainzik-1p.ogg");

        var full = Load(path, new AudioLoaderOptions { TargetSampleRate = 44100, MaxDuration = 103 });
        var part = Load(path, new AudioLoaderOptions { TargetSampleRate = 44100, Offset = 100, MaxDuration = 3 });

        Assert.Equal(103 * 44100, full.Samples.Length);
        Assert.Equal(3 * 44100, part.Samples.Length);
        var expected = full.Samples.AsSpan(100 * 44100, 3 * 44100);
        double maxDiff = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - part.Samples[i]));
        }

        Assert.True(maxDiff < 1e-4, $"seeked samples differ from the full decode by up to {maxDiff}");
    }

    [RealMusicFact]
    public void Ogg_Vorbis_MaxDuration_from_the_start_reads_only_the_start_of_the_file()
    {
        string path = FrozenBubble("frozen-mainzik-1p.ogg");
        using var counting = new CountingStream(File.OpenRead(path));

        var decoded = AudioDecoder.Decode(counting, path, new DecodeRequest(0, 2));

        Assert.Equal(2 * 44100, decoded.Samples.Length);
        Assert.True(counting.BytesRead < counting.Length / 10, $"read {counting.BytesRead} of {counting.Length} bytes for 2 s of a 321 s song");
    }

    [RealMusicFact]
    public void Ogg_Vorbis_output_ends_at_the_last_granule_position()
    {
        // ffprobe -show_entries stream=duration_ts cancel.ogg -> 35627 samples at 44100 Hz (NVorbis alone returns 36075).
        string path = FrozenBubble("cancel.ogg");

        var row = Load(path, AtRate(44100));

        Assert.Equal(35627, row.Samples.Length);
    }

    [RealMusicFact]
    public void A_mono_Ogg_Vorbis_file_at_the_target_rate_keeps_every_sample()
    {
        // ffprobe: pause.ogg sample_rate=22050 duration_ts=11025
        string path = FrozenBubble("pause.ogg");

        var row = Load(path);
        var past = Load(path, new AudioLoaderOptions { Offset = 1 });

        Assert.Empty(past.Samples);
        Assert.Equal(11025, row.Samples.Length);
        Assert.Equal(0.5, row.Duration, 1e-9);
    }

    [Fact]
    public void A_stereo_Ogg_Vorbis_file_down_mixes_both_channels_and_keeps_its_length()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "stereo440l_660r_2s_44100.ogg");

        var native = Load(path, AtRate(44100));
        var row = Load(path);

        Assert.Equal(88200, native.Samples.Length); // ffprobe duration_ts
        Assert.Equal(2.0, row.Duration, 1e-9);
        // Each channel's 1/8-amplitude sine is halved by averaging the two channels.
        Assert.InRange(ToneAmplitude(row.Samples, 22050, 440), 0.0625 * 0.95, 0.0625 * 1.05);
        Assert.InRange(ToneAmplitude(row.Samples, 22050, 660), 0.0625 * 0.95, 0.0625 * 1.05);
    }

    [Fact]
    public void An_MP3_decodes_with_its_frequency_and_duration()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3");

        var row = Load(path);

        // Exactly 2 s: the encoder's delay and padding (LAME tag: 576 and 1080 samples) are trimmed, as ffmpeg does.
        Assert.Equal(2.0, row.Duration, 1e-9);
        Assert.Equal(22050, row.Rate);
        Assert.InRange(PeakFrequency(row.Samples, 22050), 439, 441);
        Assert.InRange(SineAmplitude(row.Samples), 0.9 * 0.125, 1.1 * 0.125); // ffmpeg's sine source: amplitude 1/8
    }

    [Fact]
    public void MP3_samples_line_up_with_the_original_sine_after_gapless_trimming()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3");

        var row = Load(path, AtRate(44100));

        // ffmpeg's sine source starts at phase 0 with amplitude 1/8; a 32 kbit/s encode keeps it within a few percent.
        var original = Sine(440, 44100, 2.0, amplitude: 0.125);
        Assert.Equal(original.Length, row.Samples.Length);
        double error = 0;
        for (int i = 4410; i < 84000; i++)
        {
            error = Math.Max(error, Math.Abs(original[i] - row.Samples[i]));
        }

        Assert.True(error < 0.0125, $"decoded samples differ from the original sine by up to {error}");
    }

    [Fact]
    public void An_MP3_with_no_tags_is_detected_from_its_frame_headers_and_decodes_untrimmed()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100_notag.mp3");

        var row = Load(path, AtRate(44100));

        Assert.Equal(89856, row.Samples.Length); // what ffmpeg decodes when no LAME tag says what to trim
        Assert.InRange(PeakFrequency(row.Samples, 44100), 439, 441);
    }

    [Fact]
    public void MP3_offset_and_MaxDuration_return_that_part()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3");

        var row = Load(path, new AudioLoaderOptions { Offset = 1.0, MaxDuration = 0.8 });
        var full = Load(path, AtRate(44100));
        var part = Load(path, new AudioLoaderOptions { TargetSampleRate = 44100, Offset = 1.3, MaxDuration = 0.5 });
        var tail = Load(path, new AudioLoaderOptions { TargetSampleRate = 44100, Offset = 1.9 });
        var past = Load(path, new AudioLoaderOptions { Offset = 10 });

        Assert.Equal((int)(0.8 * 22050), row.Samples.Length);
        Assert.InRange(PeakFrequency(row.Samples, 22050), 439, 441);
        Assert.Equal(full.Samples.AsSpan(57330, 22050).ToArray(), part.Samples); // 1.3 s = sample 57330
        Assert.Equal(4410, tail.Samples.Length);
        Assert.Empty(past.Samples);
    }

    [Fact]
    public void The_output_schema_has_samples_rate_and_duration_columns_with_a_rate_annotation()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "a.wav" } });
        var estimator = ml.Transforms.LoadAudio("Audio", "Path", AtRate(16000));

        var schema = estimator.Fit(data).GetOutputSchema(data.Schema);
        var shape = estimator.GetOutputSchema(ShapeOf(data.Schema));

        var audio = schema["Audio"];
        var vector = Assert.IsType<VectorDataViewType>(audio.Type);
        Assert.Equal(NumberDataViewType.Single, vector.ItemType);
        Assert.False(vector.IsKnownSize);
        int annotated = 0;
        audio.Annotations.GetValue(AudioColumns.SampleRateAnnotation, ref annotated);
        Assert.Equal(16000, annotated);
        Assert.Equal(NumberDataViewType.Int32, schema["Audio.SampleRate"].Type);
        Assert.Equal(NumberDataViewType.Double, schema["Audio.Duration"].Type);
        Assert.Null(schema.GetColumnOrNull("Audio.Error"));
        var shapeColumn = Assert.Single(shape, c => c.Name == "Audio");
        Assert.Equal(SchemaShape.Column.VectorKind.VariableVector, shapeColumn.Kind);
        Assert.Single(shape, c => c.Name == "Audio.Duration");
    }

    [Fact]
    public void The_error_column_exists_only_under_the_Report_policy()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "a.wav" } });

        var schema = ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report })
            .Fit(data).GetOutputSchema(data.Schema);

        Assert.Equal(TextDataViewType.Instance, schema["Audio.Error"].Type);
    }

    [Fact]
    public void A_path_column_of_the_wrong_type_fails_naming_the_column_and_the_type()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new { Path = 1.5f } });
        var estimator = ml.Transforms.LoadAudio("Audio", "Path");

        var fit = Assert.Throws<ArgumentException>(() => estimator.Fit(data));
        var shape = Assert.Throws<ArgumentException>(() => estimator.GetOutputSchema(ShapeOf(data.Schema)));

        Assert.Contains("'Path'", fit.Message);
        Assert.Contains("Single", fit.Message);
        Assert.Contains("'Path'", shape.Message);
        Assert.Contains("Single", shape.Message);
    }

    [Fact]
    public void A_missing_path_column_fails_naming_it()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "a.wav" } });

        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.LoadAudio("Audio", "File").Fit(data));

        Assert.Contains("'File'", e.Message);
        Assert.Contains("'Path'", e.Message);
    }

    [Fact]
    public void Invalid_options_are_all_reported_at_once()
    {
        var ml = new MLContext(seed: 1);
        var options = new AudioLoaderOptions { TargetSampleRate = 0, Offset = -1, MaxDuration = double.NaN, ErrorPolicy = (AudioErrorPolicy)7 };

        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.LoadAudio("Audio", "Path", options));

        Assert.Contains("TargetSampleRate", e.Message);
        Assert.Contains("Offset", e.Message);
        Assert.Contains("MaxDuration", e.Message);
        Assert.Contains("ErrorPolicy", e.Message);
    }

    [Fact]
    public void The_input_column_defaults_to_the_output_name()
    {
        using var dir = new TempDir();
        string path = dir.File("a.wav");
        WavWriter.Write(path, Sine(440, 22050, 0.5), 22050);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new { Audio = path } });

        var schema = ml.Transforms.LoadAudio("Audio").Fit(data).Transform(data).Schema;

        Assert.IsType<VectorDataViewType>(schema["Audio"].Type);
    }

    [Fact]
    public void Relative_paths_resolve_against_BaseDirectory()
    {
        using var dir = new TempDir();
        WavWriter.Write(dir.File("a.wav"), Sine(440, 22050, 0.5), 22050);

        var row = Load("a.wav", new AudioLoaderOptions { BaseDirectory = dir.Path });

        Assert.Equal(0.5, row.Duration, 1e-9);
    }

    [Fact]
    public void Each_row_is_decoded_once_whichever_columns_are_read()
    {
        using var dir = new TempDir();
        var paths = Enumerable.Range(0, 3).Select(i => dir.File($"{i}.wav")).ToArray();
        foreach (var p in paths)
        {
            WavWriter.Write(p, Sine(440, 22050, 0.2), 22050);
        }

        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { Path = p }).ToList());
        var transformer = ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report }).Fit(data);
        var view = transformer.Transform(data);

        var rows = ReadRows(view.GetRowCursor(view.Schema), view.Schema);

        Assert.Equal(3, rows.Length);
        Assert.Equal(3, transformer.LoadCount);
    }

    [Fact]
    public void Parallel_cursors_each_decode_their_own_songs()
    {
        using var dir = new TempDir();
        int[] frequencies = [300, 400, 500, 600, 700, 800];
        var paths = frequencies.Select(f => dir.File($"{f}.wav")).ToArray();
        for (int i = 0; i < paths.Length; i++)
        {
            WavWriter.Write(paths[i], Sine(frequencies[i], 44100, 1.5), 44100);
        }

        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { Path = p }).ToList());
        var view = ml.Transforms.LoadAudio("Audio", "Path").Fit(data).Transform(data);

        // ML.NET decides how many cursors a set gets; independent cursors on threads exercise the same isolation.
        var set = view.GetRowCursorSet(view.Schema, 3);
        var fromSet = set.AsParallel().SelectMany(c => ReadWithPaths(c, view.Schema)).ToList();
        var fromThreads = Enumerable.Range(0, 4).AsParallel().WithDegreeOfParallelism(4)
            .SelectMany(_ => ReadWithPaths(view.GetRowCursor(view.Schema), view.Schema)).ToList();

        Assert.Equal(paths.Length, fromSet.Count);
        Assert.Equal(4 * paths.Length, fromThreads.Count);
        foreach (var (path, samples) in fromSet.Concat(fromThreads))
        {
            int f = frequencies[Array.IndexOf(paths, path)];
            Assert.InRange(ToneAmplitude(samples, 22050, f), 0.49, 0.51);
        }
    }

    private static List<(string Path, float[] Samples)> ReadWithPaths(DataViewRowCursor cursor, DataViewSchema schema)
    {
        using (cursor)
        {
            var path = cursor.GetGetter<ReadOnlyMemory<char>>(schema["Path"]);
            var samples = cursor.GetGetter<VBuffer<float>>(schema["Audio"]);
            var result = new List<(string, float[])>();
            while (cursor.MoveNext())
            {
                ReadOnlyMemory<char> p = default;
                VBuffer<float> s = default;
                path(ref p);
                samples(ref s);
                result.Add((p.ToString(), s.DenseValues().ToArray()));
            }

            return result;
        }
    }

    [Fact]
    public void A_saved_loader_loads_back_with_its_columns_and_options()
    {
        using var dir = new TempDir();
        WavWriter.Write(dir.File("a.wav"), Sine(440, 44100, 2.0), 44100);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "a.wav" }, new PathRow { Path = "missing.wav" } });
        var options = new AudioLoaderOptions
        {
            TargetSampleRate = 16000, Offset = 0.5, MaxDuration = 1.0, ErrorPolicy = AudioErrorPolicy.Report,
            AcceptTruncatedFiles = true, BaseDirectory = dir.Path,
        };
        var model = ml.Transforms.LoadAudio("Audio", "Path", options).Fit(data);
        string file = dir.File("model.zip");

        ml.Audio().Model.Save(model, data.Schema, file);
        var loaded = ml.Audio().Model.Load(file, out var schema);
        var view = loaded.Transform(data);
        var rows = ReadRows(view.GetRowCursor(view.Schema), view.Schema);

        var stage = Assert.IsType<AudioLoadingTransformer>(Assert.Single((IEnumerable<ITransformer>)loaded));
        Assert.Equal("Path", stage.InputColumnName);
        Assert.Equal(16000, stage.Options.TargetSampleRate);
        Assert.Equal(0.5, stage.Options.Offset);
        Assert.Equal(1.0, stage.Options.MaxDuration);
        Assert.True(stage.Options.AcceptTruncatedFiles);
        Assert.Equal(dir.Path, stage.Options.BaseDirectory);
        Assert.Equal(data.Schema.Count, schema.Count);
        Assert.Equal(16000, rows[0].Samples.Length);
        Assert.Equal(string.Empty, rows[0].Error);
        Assert.Contains("does not exist", rows[1].Error);
    }

    [Fact]
    public void A_PredictionEngine_loads_one_song()
    {
        using var dir = new TempDir();
        string path = dir.File("a.wav");
        WavWriter.Write(path, Sine(440, 44100, 1.0), 44100, format: WavSampleFormat.Pcm24);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = path } });
        var model = ml.Transforms.LoadAudio("Audio", "Path").Fit(data);

        string other = dir.File("b.wav");
        WavWriter.Write(other, Sine(440, 22050, 0.5), 22050);

        var engine = ml.Model.CreatePredictionEngine<PathRow, AudioRow>(model);
        var result = engine.Predict(new PathRow { Path = path });
        var second = engine.Predict(new PathRow { Path = other }); // a new row, not the cached song

        Assert.Equal(22050, result.Audio.Length);
        Assert.Equal(22050, result.SampleRate);
        Assert.Equal(1.0, result.Duration, 1e-9);
        Assert.Equal(0.5, second.Duration, 1e-9);
        Assert.Equal(11025, second.Audio.Length);
    }
}
