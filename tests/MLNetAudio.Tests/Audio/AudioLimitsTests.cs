using System.Buffers.Binary;
using System.Diagnostics;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioLoaderTests;
using static MLNetAudio.Tests.Audio.AudioTestSignals;
using static MLNetAudio.Tests.Audio.HostileInput;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// Issue 13: header claims are checked against <see cref="AudioLimits"/> before anything sized by them is allocated,
/// and every failure of a row is a typed error naming the file. Inputs are the ones the outside probe reported.
/// </summary>
public class AudioLimitsTests
{
    [Fact]
    public void A_244_byte_WAV_claiming_2147483647_Hz_is_refused_before_allocating()
    {
        // Before: 126 s, 3.8 GB, then an untyped ArgumentOutOfRangeException.
        using var dir = new TempDir();
        string path = dir.File("rate-max.wav");
        var wav = WavClaimingRate(int.MaxValue, 200);
        Assert.Equal(244, wav.Length);
        File.WriteAllBytes(path, wav);

        var e = AssertRefused(path, "sample rate of 2147483647 Hz", () => Load(path), seconds: 2);

        Assert.IsType<AudioDataException>(e);
        Assert.Contains("1000 to 768000 Hz", e.Message);
    }

    [Theory]
    [InlineData(1u)]           // 10 KB at 1 Hz: before, 3.16 GB of samples
    [InlineData(999u)]
    [InlineData(768_001u)]
    [InlineData(1_073_785_924u)] // before: OverflowException through the Report policy (3 of 2,000 mutants)
    [InlineData(uint.MaxValue)]
    public void A_WAV_rate_outside_1_kHz_to_768_kHz_is_a_typed_error(uint rate)
    {
        using var dir = new TempDir();
        string path = dir.File($"rate-{rate}.wav");
        File.WriteAllBytes(path, WavClaimingRate(rate, 10_000));

        AssertRefused(path, $"sample rate of {rate} Hz", () => Load(path), seconds: 2);
    }

    [Fact]
    public void Rates_at_the_limits_load()
    {
        using var dir = new TempDir();
        string low = dir.File("1k.wav"), high = dir.File("768k.wav");
        File.WriteAllBytes(low, WavClaimingRate(1000, 2000));
        File.WriteAllBytes(high, WavClaimingRate(768_000, 153_600));

        Assert.Equal(22050, Load(low).Samples.Length);          // 1 s at 1 kHz
        Assert.Equal(2205, Load(high).Samples.Length);          // 0.1 s at 768 kHz
    }

    [Fact]
    public void Flipped_rate_bytes_of_14_to_34_MHz_are_refused_and_leave_no_memory_behind()
    {
        // Before: 22 s for three 529 KB files and 1.59 GB still live after a full collection (filter tables cached by
        // the claimed rate). 529 KB = 44 + 529,156 bytes: 6 s of 44.1 kHz 16-bit mono.
        using var dir = new TempDir();
        var good = WavBytes(Sine(440, 44100, 6.0), 44100);
        var paths = new List<string>();
        foreach (byte flipped in new byte[] { 0xD5, 0xFF })
        {
            var wav = (byte[])good.Clone();
            wav[26] = flipped; // third byte of the rate: 44100 + flipped * 65536 (14.0 MHz and 16.8 MHz)
            paths.Add(dir.File($"flip-{flipped:X2}.wav"));
            File.WriteAllBytes(paths[^1], wav);
        }

        var big = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(big.AsSpan(24), 34_000_000);
        paths.Add(dir.File("flip-34M.wav"));
        File.WriteAllBytes(paths[^1], big);
        GC.Collect();
        long liveBefore = GC.GetTotalMemory(forceFullCollection: true);

        var (error, seconds, allocated) = Measure(() =>
        {
            var rows = LoadAll(paths, new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report });
            Assert.All(rows, r => Assert.Contains("sample rate of", r.Error));
        });
        long liveAfter = GC.GetTotalMemory(forceFullCollection: true);

        Assert.Null(error);
        Assert.True(seconds < 5, $"three files took {seconds:F1} s");
        Assert.True(allocated < MaxAllocatedBytes, $"allocated {allocated >> 20} MB");
        Assert.True(liveAfter - liveBefore < 64L << 20, $"{(liveAfter - liveBefore) >> 20} MB stayed live after a full collection");
    }

    [Theory]
    [InlineData(768_000, 1000)]
    [InlineData(767_999, 22050)]
    [InlineData(767_999, 1000)]
    [InlineData(1000, 768_000)]
    [InlineData(1009, 767_977)]
    public void Resampler_tables_stay_under_their_limit_for_any_rate_pair_in_range(int from, int to)
    {
        var clock = Stopwatch.StartNew();

        var r = Resampler.For(from, to);

        Assert.InRange(r.TableLength, 1, AudioLimits.MaxResamplerTableFloats);
        Assert.True(clock.Elapsed.TotalSeconds < 5, $"building the table took {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void A_steep_down_sampling_with_a_capped_table_still_keeps_the_tone()
    {
        // 767,999 -> 22,050 Hz has no small L/M and 1,212-tap filters: the cap leaves 865 phases of the 4096.
        var input = Sine(1000, 767_999, 1.0);

        var output = Resampler.Resample(input, 767_999, 22050);

        Assert.Equal(22050, output.Length);
        Assert.Equal(1000, PeakFrequency(output, 22050), 0.5);
        Assert.Equal(0.5, SineAmplitude(output), 0.005);
    }

    [Fact]
    public void The_resampler_cache_stays_bounded_whatever_rates_files_claim()
    {
        for (int i = 0; i < 3 * AudioLimits.MaxCachedResamplers; i++)
        {
            Resampler.For(20_000 + i, 22050);
        }

        Assert.InRange(Resampler.CachedCount, 1, AudioLimits.MaxCachedResamplers);
        Assert.Throws<ArgumentOutOfRangeException>(() => Resampler.For(14_003_268, 22050));
    }

    [Fact]
    public void A_WAV_holding_more_than_2_to_the_28_frames_is_refused_before_its_buffer_is_allocated()
    {
        // 300 million 8-bit mono frames (a sparse file: nothing is written to disk): over the 2^28 a row may hold.
        using var dir = new TempDir();
        string path = dir.File("long.wav");
        var header = WavBytes([], 8000, format: WavSampleFormat.Pcm8);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(FindChunk(header, "data") + 4), 300_000_000);
        using (var file = File.Create(path))
        {
            file.Write(header);
            file.SetLength(header.Length + 300_000_000L);
        }

        AssertRefused(path, "the WAV data chunk holds 300000000 samples (37500.0 s at 8000 Hz), over the 268435456 samples (1 GiB) one row may hold", () => Load(path));
        Assert.Equal(8000, Load(path, new AudioLoaderOptions { TargetSampleRate = 8000, MaxDuration = 1 }).Samples.Length);
    }

    [Fact]
    public void A_song_that_would_resample_past_the_row_limit_is_refused_before_resampling()
    {
        // 360,000 samples at 1 kHz become 276 million at 768 kHz: over 2^28, so refused before the 1.1 GB array.
        using var dir = new TempDir();
        string path = dir.File("long-at-1k.wav");
        File.WriteAllBytes(path, WavClaimingRate(1000, 720_000));

        AssertRefused(path, "resampled to 768000 Hz", () => Load(path, new AudioLoaderOptions { TargetSampleRate = 768_000 }));
        Assert.Equal(768_000, Load(path, new AudioLoaderOptions { TargetSampleRate = 768_000, MaxDuration = 1 }).Samples.Length);
    }

    [Fact]
    public void An_MP3_whose_ID3_tag_claims_more_than_the_file_is_refused_before_NLayer_reads_it()
    {
        // Found by AudioMutationTests (seed 13, MP3 mutant 654): one byte of the ID3 size made NLayer allocate 64 MB.
        using var dir = new TempDir();
        var mp3 = File.ReadAllBytes(Fixture("sine440_2s_44100.mp3"));
        mp3[6] = 0x10; // syncsafe size 2^25 + 35 bytes (+ 10 of header), in an 8 KB file
        string path = dir.File("id3.mp3");
        File.WriteAllBytes(path, mp3);

        var (error, _, allocated) = Measure(() => Load(path));

        Assert.Contains("ID3v2 tag at byte 0 declares 33554477 bytes but the file ends 8377 bytes after it", Assert.IsType<AudioDataException>(error).Message);
        Assert.True(allocated < 16 << 20, $"refusing allocated {allocated >> 20} MB");
    }

    [Theory]
    [InlineData("fff214e3be04cb46dfff05524946467f0014e3be14cb46dffff214e3be04cb46dfff05524946467f0014f3524946465e11000057415645666d7420000000000100010056000034ac000000")]
    [InlineData("ffff14ff150055ff524946465e11000057415645666d7420fc00001601000000")]
    public void MP3s_holding_a_RIFF_header_whose_chunks_run_past_the_end_are_refused_before_NLayer_buffers_them(string hex)
    {
        // Found by fuzz/run.sh audio (AFL++ + SharpFuzz, 60 s): 75 and 32 bytes on which NLayer allocated 1 GB and
        // 512 MB (it buffers up to the end of a RIFF chunk it finds while hunting for frames, before reading it).
        using var dir = new TempDir();
        string path = dir.File("riff-in-mp3.mp3");
        File.WriteAllBytes(path, Convert.FromHexString(hex));

        var (error, seconds, allocated) = Measure(() => Load(path));

        Assert.Contains("RIFF/WAVE header at byte", Assert.IsType<AudioDataException>(error).Message);
        Assert.True(allocated < 16 << 20 && seconds < 2, $"refusing allocated {allocated >> 20} MB in {seconds:F1} s");
    }

    [Fact]
    public void An_MP3_holding_a_RIFF_header_with_a_negative_chunk_size_is_refused_rather_than_looping()
    {
        // NLayer's RIFF walk adds the chunk size to its offset: -8 would read the same 4 bytes forever.
        using var dir = new TempDir();
        var mp3 = File.ReadAllBytes(Fixture("sine440_2s_44100.mp3"));
        byte[] riff = [.. "RIFF"u8, 0, 0, 0, 0, .. "WAVEfmt "u8, 0xF8, 0xFF, 0xFF, 0xFF];
        string path = dir.File("negative-riff.mp3");
        File.WriteAllBytes(path, [.. mp3, .. riff]);

        AssertRefused(path, "negative chunk size (-8)", () => Load(path), seconds: 2);
    }

    [Theory]
    [InlineData(22050)]
    [InlineData(44100)] // before: InvalidDataException from SegmentMfcc, without the file name
    public void A_float_WAV_holding_3e38_is_refused_at_load_time(int rate)
    {
        // Before, at 22.05 kHz: loaded, every feature non-finite, Score NaN.
        using var dir = new TempDir();
        string path = dir.File($"huge-{rate}.wav");
        var x = new float[rate];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = i % 2 == 0 ? 3e38f : -3e38f;
        }

        WavWriter.Write(path, x, rate, format: WavSampleFormat.IeeeFloat32);

        var e = AssertRefused(path, "beyond ±1000", () => Load(path));
        Assert.IsType<AudioDataException>(e);
        Assert.Contains("at 0.000 s", e.Message);
    }

    [Fact]
    public void A_float_WAV_a_little_over_full_scale_still_loads()
    {
        using var dir = new TempDir();
        string path = dir.File("hot.wav");
        WavWriter.Write(path, Sine(440, 22050, 0.5, amplitude: 4.0), 22050, format: WavSampleFormat.IeeeFloat32);

        Assert.Equal(4.0, Load(path).Samples.Max(), 0.01);
    }
}
