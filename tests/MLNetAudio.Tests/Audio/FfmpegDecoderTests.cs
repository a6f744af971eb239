using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioLoaderTests;
using static MLNetAudio.Tests.Audio.ExternalTools;

namespace MLNetAudio.Tests.Audio;

/// <summary>The ffmpeg fallback for formats without a decoder here (AAC/M4A, AIFF, ADPCM WAV), and its absence.</summary>
public class FfmpegDecoderTests
{
    private static DecodedAudio DecodeFile(string path, DecodeRequest request = default)
    {
        using var s = File.OpenRead(path);
        return AudioDecoder.Decode(s, path, request);
    }

    /// <summary>What the ffmpeg command line decodes, every channel as float, averaged as the loader averages.</summary>
    private static float[] FfmpegCli(string path, TempDir dir)
    {
        string wav = dir.File(Path.GetFileName(path) + ".ref.wav");
        Run("ffmpeg", "ffmpeg", "-v", "error", "-y", "-i", path, "-f", "wav", "-c:a", "pcm_f32le", wav);
        var channels = ReadFloatWav(wav);
        var mono = new float[channels[0].Length];
        float scale = 1f / channels.Length;
        for (int i = 0; i < mono.Length; i++)
        {
            float sum = 0;
            foreach (var c in channels)
            {
                sum += c[i];
            }

            mono[i] = channels.Length == 1 ? sum : sum * scale;
        }

        return mono;
    }

    [Theory]
    [InlineData("aac-stereo.m4a", 44100, 89088)]       // 2 s encoded; ffmpeg 5.1 decodes 87 AAC frames of 1024
    [InlineData("aiff-mono.aiff", 22050, 22050)]
    [InlineData("adpcm-ima-stereo.wav", 22050, 22374)] // a WAV codec the WAV decoder refuses; the last ADPCM block is padded
    public void A_format_without_a_decoder_here_decodes_through_ffmpeg_as_its_command_line_does(string name, int rate, int length)
    {
        Require("ffmpeg", "ffmpeg");
        using var dir = new TempDir();
        string path = Fixture(name);

        var ours = DecodeFile(path);
        var reference = FfmpegCli(path, dir);

        Assert.Equal(rate, ours.SampleRate);
        Assert.Equal(length, ours.Samples.Length);
        Assert.Equal(reference, ours.Samples);
    }

    [Fact]
    public void The_AAC_fixture_sounds_like_the_lossless_FLAC_of_the_same_source()
    {
        Require("ffmpeg", "ffmpeg");
        var aac = DecodeFile(Fixture("aac-stereo.m4a")).Samples;          // the first 2 s of the same stereo source,
        var flac = DecodeFile(Fixture("flac16-stereo-b1152-m.flac")).Samples; // AAC at 64 kbit/s

        double signal = 0, noise = 0;
        for (int i = 0; i < aac.Length; i++)
        {
            signal += (double)flac[i] * flac[i];
            noise += (double)(aac[i] - flac[i]) * (aac[i] - flac[i]);
        }

        double snr = 10 * Math.Log10(signal / noise);
        Assert.True(snr > 10, $"AAC vs FLAC of the same source: SNR {snr:F1} dB (a misaligned or wrong decode is near 0)");
    }

    [Fact]
    public void Offset_and_MaxDuration_go_to_ffmpeg_as_ss_and_t()
    {
        Require("ffmpeg", "ffmpeg");
        string path = Fixture("aiff-mono.aiff");
        var full = DecodeFile(path).Samples;

        var part = DecodeFile(path, new DecodeRequest(0.3, 0.5)).Samples;
        var past = DecodeFile(path, new DecodeRequest(2)).Samples;

        Assert.Equal(full.AsSpan(6615, 11025).ToArray(), part); // PCM: seeking is sample-exact
        Assert.Empty(past);
    }

    [Fact]
    public void The_loader_resamples_what_ffmpeg_decodes()
    {
        Require("ffmpeg", "ffmpeg");
        string path = Fixture("aac-stereo.m4a");
        var native = DecodeFile(path);

        var row = Load(path, new AudioLoaderOptions { TargetSampleRate = 16000 });

        Assert.Equal(Resampler.Resample(native.Samples, 44100, 16000), row.Samples);
    }

    [Fact]
    public void Without_ffmpeg_an_M4A_is_a_typed_unsupported_format_error_saying_ffmpeg_would_add_it()
    {
        using var noFfmpeg = NoFfmpeg();
        string path = Fixture("aac-stereo.m4a");

        var e = Assert.Throws<AudioFormatException>(() => Load(path));
        var rows = LoadAll([Fixture("flac8-mono.flac"), path], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report });

        Assert.Equal("MP4/M4A (AAC or ALAC)", e.Format);
        Assert.Equal(path, e.FilePath);
        Assert.Contains("ffmpeg was not found", e.Message);
        Assert.Contains("installing it", e.Message);
        Assert.Equal(string.Empty, rows[0].Error);
        Assert.Contains("ffmpeg was not found", rows[1].Error);
        Assert.Empty(rows[1].Samples);
    }

    [Fact]
    public void A_file_ffmpeg_cannot_decode_is_a_data_error_quoting_ffmpeg()
    {
        Require("ffmpeg", "ffmpeg");
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(Fixture("aac-stereo.m4a"));
        string cut = dir.File("cut.m4a");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]); // ffmpeg writes the moov index last: cut, it is gone

        var e = Assert.Throws<AudioDataException>(() => Load(cut));

        Assert.Contains($"'{cut}'", e.Message);
        Assert.Contains("ffmpeg could not decode the MP4/M4A (AAC or ALAC) file", e.Message);
        Assert.Contains("moov atom not found", e.Message);
    }

    [Fact]
    public void An_ffmpeg_that_fails_is_a_data_error_quoting_its_message()
    {
        using var dir = new TempDir();
        string failing = dir.File("ffmpeg-fails");
        File.WriteAllText(failing, "#!/bin/sh\necho 'Invalid data found when processing input' >&2\nexit 3\n");
        Assert.False(OperatingSystem.IsWindows(), "this test runs a POSIX shell script as ffmpeg");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(failing, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        string aiff = Fixture("aiff-mono.aiff");

        var failed = Assert.Throws<AudioDataException>(() => FfmpegDecoder.Decode(failing, aiff, "AIFF", default));

        Assert.Contains("exit code 3", failed.Message);
        Assert.Contains("Invalid data found when processing input", failed.Message);
        Assert.Contains($"'{aiff}'", failed.Message);
    }

    [Fact]
    public void Errors_printed_by_an_ffmpeg_that_exits_0_fail_the_file_unless_truncation_is_accepted()
    {
        using var dir = new TempDir();
        string noisy = dir.File("ffmpeg-noisy");
        // A float WAV header (mono, 44100 Hz, sizes unknown), no samples, an error on stderr, exit 0.
        File.WriteAllText(noisy,
            "#!/bin/sh\n" +
            "printf 'RIFF\\377\\377\\377\\377WAVEfmt \\020\\000\\000\\000\\003\\000\\001\\000\\104\\254\\000\\000\\020\\261\\002\\000\\004\\000\\040\\000data\\377\\377\\377\\377'\n" +
            "echo 'Error while decoding stream #0:0: Invalid data found when processing input' >&2\n" +
            "exit 0\n");
        Assert.False(OperatingSystem.IsWindows(), "this test runs a POSIX shell script as ffmpeg");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(noisy, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        string aiff = Fixture("aiff-mono.aiff");

        var e = Assert.Throws<AudioDataException>(() => FfmpegDecoder.Decode(noisy, aiff, "AIFF", default));
        var kept = FfmpegDecoder.Decode(noisy, aiff, "AIFF", new DecodeRequest(AcceptTruncated: true));

        Assert.Contains("ffmpeg reported errors decoding the AIFF file", e.Message);
        Assert.Contains("Invalid data found", e.Message);
        Assert.Equal(44100, kept.SampleRate);
        Assert.Empty(kept.Samples);
    }

    [Fact]
    public void An_ffmpeg_that_hangs_is_stopped_at_the_timeout()
    {
        using var dir = new TempDir();
        string hanging = dir.File("ffmpeg-hangs");
        File.WriteAllText(hanging, "#!/bin/sh\nsleep 60\n");
        Assert.False(OperatingSystem.IsWindows(), "this test runs a POSIX shell script as ffmpeg");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(hanging, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        FfmpegDecoder.TimeoutOverride.Value = TimeSpan.FromSeconds(1);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var e = Assert.Throws<AudioLoadException>(() => FfmpegDecoder.Decode(hanging, Fixture("aiff-mono.aiff"), "AIFF", default));
            Assert.Contains("did not finish decoding the AIFF file within 1 s", e.Message);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
        }
        finally
        {
            FfmpegDecoder.TimeoutOverride.Value = null;
        }
    }
}
