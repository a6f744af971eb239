using System.Buffers.Binary;
using System.Text;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioLoaderTests;
using static MLNetAudio.Tests.Audio.AudioTestSignals;

namespace MLNetAudio.Tests.Audio;

/// <summary>Every bad input of issue 2: a typed error naming the file under Throw, an error row under Report.</summary>
public class AudioLoaderBadInputTests
{
    /// <summary>A damaged or unsupported file, the exception type it must raise and words its reason must contain.</summary>
    public sealed record BadFile(string Path, Type Exception, string Reason);

    public static TheoryData<string> BadCases() =>
    [
        "missing", "empty", "random-bytes", "truncated-data", "header-claims-more-data", "zero-channels",
        "zero-sample-rate", "adpcm-wav", "flac", "ogg-opus", "nan-samples", "infinite-samples", "no-data-chunk",
        "empty-path", "truncated-mp3", "corrupt-ogg-vorbis",
    ];

    internal static BadFile Make(string name, TempDir dir)
    {
        string path = dir.File(name + ".wav");
        var good = WavBytes(Sine(440, 8000, 1.0), 8000);
        int data = FindChunk(good, "data");
        switch (name)
        {
            case "missing":
                return new(path, typeof(AudioLoadException), "does not exist");
            case "empty":
                File.WriteAllBytes(path, []);
                return new(path, typeof(AudioDataException), "empty");
            case "random-bytes":
                var random = new byte[4096];
                new Random(7).NextBytes(random);
                random[0] = 0x42; // keep the first byte off every magic number whatever the generator gives
                File.WriteAllBytes(path, random);
                return new(path, typeof(AudioFormatException), "not in any audio format");
            case "truncated-data":
                File.WriteAllBytes(path, good[..(good.Length - 5001)]); // cut mid-frame
                return new(path, typeof(AudioDataException), "truncated");
            case "header-claims-more-data":
                BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(data + 4), 10_000_000);
                File.WriteAllBytes(path, good);
                return new(path, typeof(AudioDataException), "declares 10000000 bytes");
            case "zero-channels":
                BinaryPrimitives.WriteUInt16LittleEndian(good.AsSpan(22), 0);
                File.WriteAllBytes(path, good);
                return new(path, typeof(AudioDataException), "0 channels");
            case "zero-sample-rate":
                BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(24), 0);
                File.WriteAllBytes(path, good);
                return new(path, typeof(AudioDataException), "sample rate of 0 Hz");
            case "adpcm-wav":
                BinaryPrimitives.WriteUInt16LittleEndian(good.AsSpan(20), 0x11);
                BinaryPrimitives.WriteUInt16LittleEndian(good.AsSpan(34), 4);
                File.WriteAllBytes(path, good);
                return new(path, typeof(AudioFormatException), "IMA ADPCM");
            case "flac":
                File.WriteAllBytes(path, [.. "fLaC"u8.ToArray(), 0, 0, 0, 34, .. new byte[64]]); // STREAMINFO of zeros
                return new(path, typeof(AudioDataException), "FLAC header declares a sample rate of 0 Hz");
            case "ogg-opus":
                File.WriteAllBytes(path, OggPage("OpusHead"u8.ToArray()));
                return new(path, typeof(AudioDataException), "Ogg Opus file's Ogg page at byte 0 fails its CRC check");
            case "nan-samples":
            case "infinite-samples":
                var x = Sine(440, 8000, 1.0);
                x[4000] = name == "nan-samples" ? float.NaN : float.PositiveInfinity;
                WavWriter.Write(path, x, 8000, format: WavSampleFormat.IeeeFloat32);
                return new(path, typeof(AudioDataException), name == "nan-samples" ? "NaN sample at 0.500 s" : "infinite sample at 0.500 s");
            case "no-data-chunk":
                File.WriteAllBytes(path, good[..data]);
                return new(path, typeof(AudioDataException), "no 'data' chunk");
            case "truncated-mp3":
                var mp3 = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3"));
                File.WriteAllBytes(path, mp3[..(mp3.Length / 2)]);
                return new(path, typeof(AudioDataException), "MP3 file is truncated");
            case "corrupt-ogg-vorbis":
                var ogg = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "stereo440l_660r_2s_44100.ogg"));
                new Random(3).NextBytes(ogg.AsSpan(100, 3000)); // the setup header and the first audio pages
                File.WriteAllBytes(path, ogg);
                return new(path, typeof(AudioDataException), "Ogg file is damaged: page 2 (byte 58) fails its CRC check");
            case "empty-path":
                return new(string.Empty, typeof(AudioLoadException), "path is empty");
            default:
                throw new ArgumentException(name);
        }
    }

    /// <summary>One Ogg page whose first packet is <paramref name="packet"/>, its CRC left zero (so the page is damaged).</summary>
    private static byte[] OggPage(byte[] packet)
    {
        var page = new List<byte>();
        page.AddRange(Encoding.ASCII.GetBytes("OggS"));
        page.Add(0);    // version
        page.Add(2);    // beginning of stream
        page.AddRange(new byte[8 + 4 + 4 + 4]); // granule, serial, sequence, CRC
        page.Add(1);    // one segment
        page.Add((byte)packet.Length);
        page.AddRange(packet);
        page.AddRange(new byte[11]);
        return page.ToArray();
    }

    [Theory]
    [MemberData(nameof(BadCases))]
    public void Under_Throw_a_bad_file_raises_a_typed_error_naming_the_file_and_the_reason(string name)
    {
        using var noFfmpeg = ExternalTools.NoFfmpeg(); // ADPCM WAV would go to ffmpeg where it is installed
        using var dir = new TempDir();
        var bad = Make(name, dir);

        var e = Assert.ThrowsAny<AudioLoadException>(() => Load(bad.Path));

        Assert.Equal(bad.Exception, e.GetType());
        Assert.Equal(bad.Path, e.FilePath);
        Assert.Contains($"'{bad.Path}'", e.Message);
        Assert.Contains(bad.Reason, e.Message);
    }

    [Theory]
    [MemberData(nameof(BadCases))]
    public void Under_Report_a_bad_file_gets_an_error_row_while_the_other_rows_load(string name)
    {
        using var noFfmpeg = ExternalTools.NoFfmpeg();
        using var dir = new TempDir();
        var bad = Make(name, dir);
        string good1 = dir.File("good1.wav"), good2 = dir.File("good2.ogg-named.wav");
        WavWriter.Write(good1, Sine(440, 44100, 0.5), 44100);
        WavWriter.Write(good2, Sine(880, 16000, 0.25), 16000, channels: 1, format: WavSampleFormat.Pcm24);

        var rows = LoadAll([good1, bad.Path, good2], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report });

        Assert.Equal(3, rows.Length);
        Assert.Equal(string.Empty, rows[0].Error);
        Assert.Equal(0.5, rows[0].Duration, 1e-9);
        Assert.Equal(11025, rows[0].Samples.Length);
        Assert.Contains($"'{bad.Path}'", rows[1].Error);
        Assert.Contains(bad.Reason, rows[1].Error);
        Assert.Empty(rows[1].Samples);
        Assert.Equal(0, rows[1].Duration);
        Assert.Equal(22050, rows[1].Rate);
        Assert.Equal(string.Empty, rows[2].Error);
        Assert.Equal(0.25, rows[2].Duration, 1.0 / 22050); // 5512.5 samples at 22050 Hz round to 5513
    }

    [Fact]
    public void A_truncated_WAV_decodes_the_frames_present_when_truncation_is_accepted()
    {
        using var dir = new TempDir();
        var wav = WavBytes(Sine(440, 8000, 1.0), 8000);
        string path = dir.File("cut.wav");
        File.WriteAllBytes(path, wav[..(wav.Length - 5001)]); // 2500 whole frames and half of one missing

        var row = Load(path, new AudioLoaderOptions { TargetSampleRate = 8000, AcceptTruncatedFiles = true });

        Assert.Equal(8000 - 2501, row.Samples.Length);
    }

    [Fact]
    public void A_header_claiming_more_data_than_exists_decodes_what_is_there_when_truncation_is_accepted()
    {
        using var dir = new TempDir();
        var wav = WavBytes(Sine(440, 8000, 1.0), 8000);
        BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(FindChunk(wav, "data") + 4), uint.MaxValue - 1);
        string path = dir.File("liar.wav");
        File.WriteAllBytes(path, wav);

        var row = Load(path, new AudioLoaderOptions { TargetSampleRate = 8000, AcceptTruncatedFiles = true });

        Assert.Equal(8000, row.Samples.Length);
    }

    [Fact]
    public void A_truncated_MP3_decodes_the_frames_present_when_truncation_is_accepted()
    {
        using var dir = new TempDir();
        var mp3 = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sine440_2s_44100.mp3"));
        string path = dir.File("cut.mp3");
        File.WriteAllBytes(path, mp3[..(mp3.Length / 2)]);

        var row = Load(path, new AudioLoaderOptions { AcceptTruncatedFiles = true });
        var start = Load(path, new AudioLoaderOptions { MaxDuration = 0.5 }); // within what is there: no error

        Assert.InRange(row.Duration, 0.8, 1.2);
        Assert.Equal(0.5, start.Duration, 1e-9);
    }

    [Fact]
    public void Silence_loads_as_zeros()
    {
        using var dir = new TempDir();
        string path = dir.File("silence.wav");
        WavWriter.Write(path, new float[44100 * 2], 44100, channels: 2);

        var row = Load(path);

        Assert.Equal(22050, row.Samples.Length);
        Assert.Equal(1.0, row.Duration, 1e-9);
        Assert.All(row.Samples, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void A_file_shorter_than_one_frame_loads_its_few_samples()
    {
        using var dir = new TempDir();
        string path = dir.File("blip.wav");
        WavWriter.Write(path, [0.5f, -0.5f, 0.25f, 0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f], 44100);

        var row = Load(path);

        Assert.Equal(5, row.Samples.Length);
        Assert.Equal(5 / 22050.0, row.Duration, 1e-12);
    }

    [Fact]
    public void A_WAV_with_no_samples_loads_as_empty()
    {
        using var dir = new TempDir();
        string path = dir.File("nothing.wav");
        WavWriter.Write(path, [], 22050);

        var row = Load(path);

        Assert.Empty(row.Samples);
        Assert.Equal(0, row.Duration);
    }

    [Fact]
    public void Odd_block_align_and_unsupported_bit_depths_are_named()
    {
        using var noFfmpeg = ExternalTools.NoFfmpeg(); // 12-bit PCM would go to ffmpeg where it is installed
        using var dir = new TempDir();
        var wav = WavBytes(Sine(440, 8000, 0.1), 8000);
        BinaryPrimitives.WriteUInt16LittleEndian(wav.AsSpan(34), 12); // 12-bit PCM
        string twelve = dir.File("twelve.wav");
        File.WriteAllBytes(twelve, wav);
        BinaryPrimitives.WriteUInt16LittleEndian(wav.AsSpan(34), 16);
        BinaryPrimitives.WriteUInt16LittleEndian(wav.AsSpan(32), 3); // block align 3 for 16-bit mono
        string misaligned = dir.File("misaligned.wav");
        File.WriteAllBytes(misaligned, wav);

        var e1 = Assert.Throws<AudioFormatException>(() => Load(twelve));
        var e2 = Assert.Throws<AudioDataException>(() => Load(misaligned));

        Assert.Contains("12 bits", e1.Message);
        Assert.Contains("block align", e2.Message);
    }

    public static TheoryData<string> NonRegularFiles() => ["fifo", "/dev/zero", "folder"];

    [Theory]
    [MemberData(nameof(NonRegularFiles))]
    public void A_FIFO_a_device_or_a_folder_is_refused_up_front_and_fails_only_its_row(string kind)
    {
        // Before: a FIFO hung LoadAudio (and model Load) forever; with a writer, NotSupportedException aborted the view.
        using var dir = new TempDir();
        string path = kind switch
        {
            "fifo" => dir.File("pipe.wav"),
            "folder" => dir.Path,
            _ => kind,
        };
        if (kind == "fifo")
        {
            using var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]);
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        string good = dir.File("good.wav");
        WavWriter.Write(good, Sine(440, 22050, 0.5), 22050);

        HostileInput.AssertRefused(path, kind == "folder" ? "is a folder" : "not a regular file", () => Load(path), seconds: 2);
        var rows = LoadAll([good, path, good], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report });
        Assert.Equal(["", rows[1].Error, ""], rows.Select(r => r.Error));
        Assert.Contains($"'{path}'", rows[1].Error);
        Assert.Equal(11025, rows[2].Samples.Length);
    }

    [Fact]
    public void An_exception_no_check_anticipated_fails_only_its_row_naming_the_file()
    {
        // A NUL in a path makes FileInfo throw ArgumentException, which no decoder check catches: before, such an
        // untyped exception (OverflowException, ArgumentException from the resampler, ...) aborted the whole view.
        using var dir = new TempDir();
        string good = dir.File("good.wav"), bad = dir.File("bad\0name.wav");
        WavWriter.Write(good, Sine(440, 22050, 0.5), 22050);

        var rows = LoadAll([good, bad, good], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report });
        var e = Assert.ThrowsAny<AudioLoadException>(() => Load(bad));

        Assert.Equal(["", rows[1].Error, ""], rows.Select(r => r.Error));
        Assert.Contains("loading failed unexpectedly (ArgumentException", rows[1].Error);
        Assert.Equal(bad, e.FilePath);
        Assert.IsType<ArgumentException>(e.InnerException);
    }

    [Fact]
    public void A_non_seekable_stream_is_a_typed_error_not_NotSupportedException()
    {
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);

        var e = Assert.Throws<AudioDataException>(() => AudioDecoder.Decode(pipe, "pipe", default));

        Assert.Contains("cannot be read by seeking", e.Message);
    }

    private static double LoadDuration(string path)
    {
        var ml = new Microsoft.ML.MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = path } });
        var view = ml.Transforms.LoadAudio("Audio", "Path").Fit(data).Transform(data);
        var column = view.Schema[AudioColumns.Duration("Audio")];
        using var cursor = view.GetRowCursor([column]);
        var getter = cursor.GetGetter<double>(column);
        Assert.True(cursor.MoveNext());
        double duration = 0;
        getter(ref duration);
        return duration;
    }

    [Fact]
    public void A_one_hour_file_loads_with_its_duration_and_MaxDuration_reads_only_part_of_it()
    {
        using var dir = new TempDir();
        const int rate = 8000;
        const int seconds = 3600;
        // One second of a 1 kHz sine repeated: an hour of 16-bit mono at 8 kHz (57.6 MB).
        var second = Sine(1000, rate, 1.0, amplitude: 0.5);
        var hour = new float[rate * seconds];
        for (int s = 0; s < seconds; s++)
        {
            second.CopyTo(hour, s * rate);
        }

        string path = dir.File("hour.wav");
        WavWriter.Write(path, hour, rate);
        hour = [];

        double fullDuration = LoadDuration(path); // resampled to 22050 Hz; the 318 MB vector is never copied out
        var lastSecond = Load(path, new AudioLoaderOptions { TargetSampleRate = rate, Offset = 3599 });
        var part = Load(path, new AudioLoaderOptions { TargetSampleRate = rate, Offset = 1800.25, MaxDuration = 2 });
        long bytesRead;
        using (var counting = new CountingStream(File.OpenRead(path)))
        {
            var decoded = AudioDecoder.Decode(counting, path, new DecodeRequest(1800.25, 2));
            Assert.Equal(2 * rate, decoded.Samples.Length);
            bytesRead = counting.BytesRead;
        }

        Assert.Equal(3600.0, fullDuration, 1e-9);
        Assert.Equal(rate, lastSecond.Samples.Length);
        Assert.Equal(second[123], lastSecond.Samples[123], 1e-4f);
        Assert.Equal(2 * rate, part.Samples.Length);
        for (int i = 0; i < part.Samples.Length; i++)
        {
            Assert.Equal(second[(2000 + i) % rate], part.Samples[i], 1e-4f); // 0.25 s into a second = sample 2000
        }

        Assert.True(bytesRead < 128 * 1024, $"reading 2 s of 16-bit mono (32 KB) read {bytesRead} bytes of a 57.6 MB file");
    }
}
