using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioLoaderTests;
using static MLNetAudio.Tests.Audio.ExternalTools;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// Ogg Opus through Concentus and the CRC-checked Ogg reader, against libopus (<c>opusdec --float</c>) on fixtures
/// made with opusenc and on Debian's warzone2100-music tracks.
/// </summary>
public class OpusDecoderTests
{
    private const string WarzoneDir = "/usr/share/games/warzone2100/music/albums/aftermath_soundtrack";

    /// <summary>
    /// Largest difference allowed from libopus' float decoder. Concentus is a port of libopus' fixed-point build, so
    /// it does not match the float build bit for bit. Measured: 2.2e-5 to 9.5e-5 on the fixtures (SNR 68-72 dB),
    /// 6.9e-4 on warzone2100's track19 (SNR 69.7 dB).
    /// </summary>
    private const float LibopusTolerance = 1e-3f;

    private static DecodedAudio DecodeFile(string path, DecodeRequest request = default)
    {
        using var s = File.OpenRead(path);
        return AudioDecoder.Decode(s, path, request);
    }

    /// <summary>
    /// libopus' decode: <c>opusdec --float --rate 48000</c> (pre-skip, gain and end trimming applied), each channel
    /// saturated to 16-bit range as Concentus' fixed-point decoder saturates it, then down-mixed.
    /// </summary>
    private static float[] Libopus(string path, TempDir dir)
    {
        string wav = dir.File(Path.GetFileNameWithoutExtension(path) + ".ref.wav");
        Run("opusdec", "opus-tools", "--quiet", "--float", "--rate", "48000", path, wav);
        var channels = ReadFloatWav(wav);
        var mono = new float[channels[0].Length];
        for (int i = 0; i < mono.Length; i++)
        {
            float sum = 0;
            foreach (var c in channels)
            {
                sum += Math.Clamp(c[i], -1f, 32767f / 32768f);
            }

            mono[i] = sum / channels.Length;
        }

        return mono;
    }

    private static (float MaxDiff, double Snr) Compare(float[] reference, float[] ours)
    {
        float max = 0;
        double signal = 0, noise = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            float d = Math.Abs(reference[i] - ours[i]);
            max = Math.Max(max, d);
            signal += (double)reference[i] * reference[i];
            noise += (double)d * d;
        }

        return (max, 10 * Math.Log10(signal / Math.Max(noise, 1e-30)));
    }

    [Theory]
    [InlineData("opus-stereo.opus", 144000)]        // 3 s
    [InlineData("opus-5.1.opus", 48000)]            // 1 s, channel mapping family 1
    [InlineData("opus-mono-gain-6db.opus", 48000)]  // 1 s, OpusHead output gain +6 dB
    public void Every_fixture_decodes_with_its_exact_length_and_within_tolerance_of_libopus(string name, int length)
    {
        using var dir = new TempDir();
        string path = Fixture(name);

        var ours = DecodeFile(path);
        var reference = Libopus(path, dir);

        Assert.Equal(48000, ours.SampleRate);
        Assert.Equal(length, reference.Length);
        Assert.Equal(length, ours.Samples.Length);
        var (max, snr) = Compare(reference, ours.Samples);
        Assert.True(max < LibopusTolerance && snr > 60, $"{name}: largest difference from opusdec {max:E2}, SNR {snr:F1} dB");
    }

    [Fact]
    public void The_output_gain_scales_the_samples()
    {
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(Fixture("opus-mono-gain-6db.opus"));
        int head = 27 + bytes[26];
        Assert.Equal(6 * 256, BitConverter.ToInt16(bytes, head + 16));
        bytes[head + 16] = 0;
        bytes[head + 17] = 0;
        int pageLength = head + bytes.AsSpan(27, bytes[26]).ToArray().Sum(b => b);
        BitConverter.TryWriteBytes(bytes.AsSpan(22), OggReader.PageCrc(bytes.AsSpan(0, head), bytes.AsSpan(head, pageLength - head)));
        string unity = dir.File("unity.opus");
        File.WriteAllBytes(unity, bytes);

        var loud = DecodeFile(Fixture("opus-mono-gain-6db.opus")).Samples;
        var plain = DecodeFile(unity).Samples;

        float gain = (float)Math.Pow(10, 6.0 / 20);
        Assert.Equal(plain.Length, loud.Length);
        for (int i = 0; i < plain.Length; i++)
        {
            Assert.Equal(plain[i] * gain, loud[i], 1e-6f);
        }
    }

    [Fact]
    public void Offset_and_MaxDuration_return_that_part_of_the_full_decode_after_a_500_ms_pre_roll()
    {
        string path = Fixture("opus-stereo.opus");
        var full = DecodeFile(path).Samples;

        var part = DecodeFile(path, new DecodeRequest(1.5, 0.75)).Samples;
        var tail = DecodeFile(path, new DecodeRequest(2.5)).Samples;
        var past = DecodeFile(path, new DecodeRequest(3.5)).Samples;

        Assert.Equal(36000, part.Length);
        Assert.Equal(24000, tail.Length);
        Assert.Empty(past);
        var (max, _) = Compare(full.AsSpan(72000, 36000).ToArray(), part);
        var (maxTail, _) = Compare(full.AsSpan(120000).ToArray(), tail);
        Assert.True(max <= 1e-4f && maxTail <= 1e-4f, $"seeked samples differ from the full decode by up to {Math.Max(max, maxTail):E2}");
    }

    [Fact]
    public void The_loader_resamples_Opus_from_48_kHz()
    {
        string path = Fixture("opus-stereo.opus");
        var native = DecodeFile(path);

        var row = Load(path, new AudioLoaderOptions { TargetSampleRate = 22050 });

        Assert.Equal(Resampler.Resample(native.Samples, 48000, 22050), row.Samples);
        Assert.Equal(3.0, row.Duration, 1e-9);
    }

    [Fact]
    public void A_damaged_page_fails_its_CRC_and_a_truncated_file_is_an_error_unless_accepted()
    {
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(Fixture("opus-stereo.opus"));
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x04;
        string damaged = dir.File("damaged.opus");
        File.WriteAllBytes(damaged, flipped);
        string cut = dir.File("cut.opus");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var full = DecodeFile(Fixture("opus-stereo.opus")).Samples;

        var crc = Assert.Throws<AudioDataException>(() => Load(damaged));
        var truncated = Assert.Throws<AudioDataException>(() => Load(cut));
        var accepted = Load(cut, new AudioLoaderOptions { TargetSampleRate = 48000, AcceptTruncatedFiles = true });
        var start = Load(cut, new AudioLoaderOptions { TargetSampleRate = 48000, MaxDuration = 0.5 });

        Assert.Contains("fails its CRC check", crc.Message);
        Assert.Contains($"'{damaged}'", crc.Message);
        Assert.Contains("truncated", truncated.Message);
        Assert.Contains($"'{cut}'", truncated.Message);
        Assert.InRange(accepted.Samples.Length, 24000, full.Length - 24000);
        Assert.Equal(full.AsSpan(0, accepted.Samples.Length).ToArray(), accepted.Samples);
        Assert.Equal(full.AsSpan(0, 24000).ToArray(), start.Samples);
    }

    [InstalledAudioFact(WarzoneDir, "warzone2100-music")]
    public void A_real_Opus_track_decodes_with_libopus_length_and_seeks_to_the_same_samples()
    {
        using var dir = new TempDir();
        string path = Path.Combine(WarzoneDir, "track19.opus");

        var ours = DecodeFile(path);
        var reference = Libopus(path, dir);
        var part = DecodeFile(path, new DecodeRequest(61.25, 2)).Samples;
        long bytesRead;
        using (var counting = new CountingStream(File.OpenRead(path)))
        {
            Assert.Equal(96000, AudioDecoder.Decode(counting, path, new DecodeRequest(61.25, 2)).Samples.Length);
            bytesRead = counting.BytesRead;
        }

        Assert.Equal(reference.Length, ours.Samples.Length);
        var (max, snr) = Compare(reference, ours.Samples);
        Assert.True(max < LibopusTolerance && snr > 60, $"largest difference from opusdec {max:E2}, SNR {snr:F1} dB");
        var (seekMax, _) = Compare(ours.Samples.AsSpan(61 * 48000 + 12000, 96000).ToArray(), part);
        Assert.True(seekMax <= 1e-4f, $"seeked samples differ from the full decode by up to {seekMax:E2}");
        Assert.True(bytesRead < new FileInfo(path).Length / 5, $"2 s from 61.25 s read {bytesRead} of {new FileInfo(path).Length} bytes");
    }
}
