using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioTestSignals;

namespace MLNetAudio.Tests.Audio;

public class ResamplerTests
{
    [Theory]
    [InlineData(44100, 22050, 1000.0)]
    [InlineData(48000, 22050, 3000.0)]
    [InlineData(8000, 22050, 440.0)]
    [InlineData(11025, 22050, 2500.0)]
    [InlineData(44101, 22050, 1000.0)] // ratio with no small L/M: quantised phases
    [InlineData(22050, 16000, 5000.0)]
    public void A_sine_keeps_its_frequency_amplitude_and_duration(int from, int to, double frequency)
    {
        var input = Sine(frequency, from, 2.0, amplitude: 0.5);

        var output = Resampler.Resample(input, from, to);

        Assert.Equal(Math.Round(input.Length * (double)to / from), output.Length, 0);
        Assert.InRange(PeakFrequency(output, to), frequency - 1.0, frequency + 1.0);
        Assert.InRange(SineAmplitude(output), 0.5 * 0.99, 0.5 * 1.01);
    }

    [Theory]
    [InlineData(44100, 22050, 15000.0)]
    [InlineData(44100, 22050, 12500.0)]
    [InlineData(48000, 16000, 10000.0)]
    public void A_tone_above_the_new_Nyquist_frequency_is_removed_not_aliased(int from, int to, double frequency)
    {
        var input = Sine(frequency, from, 1.0, amplitude: 0.5);

        var output = Resampler.Resample(input, from, to);

        // Naive decimation would fold this tone to |to - frequency| at full amplitude; require 60 dB suppression.
        Assert.True(SineAmplitude(output) < 0.5e-3, $"residual amplitude {SineAmplitude(output):E2} is above -60 dB");
    }

    [Fact]
    public void Upsampling_adds_no_image_above_the_old_Nyquist_frequency()
    {
        var input = Sine(3000, 8000, 2.0, amplitude: 0.5);

        var output = Resampler.Resample(input, 8000, 22050);

        // Zero-stuffing without a good filter leaves the image of 3 kHz (at 8 kHz) at 8 - 3 = 5 kHz.
        Assert.InRange(ToneAmplitude(output, 22050, 3000), 0.495, 0.505);
        Assert.True(ToneAmplitude(output, 22050, 5000) < 0.5e-3, $"image at 5 kHz: {ToneAmplitude(output, 22050, 5000):E2}");
    }

    [Fact]
    public void A_constant_signal_passes_unchanged_away_from_the_edges()
    {
        var input = Enumerable.Repeat(0.25f, 8000).ToArray();

        var output = Resampler.Resample(input, 8000, 22050);

        foreach (float v in output.AsSpan(200, output.Length - 400))
        {
            Assert.Equal(0.25f, v, 1e-4f);
        }
    }

    [Fact]
    public void Equal_rates_copy_the_input()
    {
        float[] input = [0.1f, -0.2f, 0.3f];

        var output = Resampler.Resample(input, 16000, 16000);

        Assert.Equal(input, output);
        Assert.NotSame(input, output);
    }

    [Fact]
    public void Empty_input_gives_empty_output()
    {
        Assert.Empty(Resampler.Resample([], 44100, 22050));
    }

    [Theory]
    [InlineData(44100, 16000, 1)]
    [InlineData(48000, 22050, 2)]
    [InlineData(8000, 22050, 3)]
    [InlineData(44101, 22050, 4)] // quantised phases
    [InlineData(22050, 16000, 5)]
    public void Resampling_while_decoding_is_bit_identical_to_resampling_the_whole_song(int from, int to, int seed)
    {
        // 12 s: longer than the buffer the streaming path keeps, so the input is dropped and shifted several times.
        var random = new Random(seed);
        var song = Enumerable.Range(0, 12 * from).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        int cut = song.Length - 3000; // what a decoder trims at the end (Ogg Vorbis: past the last granule position)

        var buffer = new MonoBuffer("test.wav", long.MaxValue, 1000, from, to);
        for (int at = 0; at < song.Length;)
        {
            int n = Math.Min(song.Length - at, 1 + random.Next(6000));
            song.AsSpan(at, n).CopyTo(buffer.Reserve(n));
            at += n;
        }

        buffer.Truncate(cut);
        var streamed = buffer.ToAudio();

        Assert.Equal(to, streamed.SampleRate);
        Assert.Equal(Resampler.Resample(song.AsSpan(0, cut), from, to), streamed.Samples);
    }

    [Fact]
    public void A_decoder_that_cuts_more_than_the_reserve_is_stopped_not_given_wrong_samples()
    {
        var buffer = new MonoBuffer("long.ogg", long.MaxValue, 1000, 44100, 16000);
        for (int i = 0; i < 20; i++)
        {
            buffer.Reserve(44100).Fill(0.1f);
        }

        var e = Assert.Throws<InvalidOperationException>(() => buffer.Truncate(44100));
        Assert.Contains("long.ogg", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoding_a_long_song_holds_it_only_at_the_target_rate()
    {
        // 3 minutes of stereo 44.1 kHz: 31.8 MB of mono floats at the file's rate, 11.5 MB at 16 kHz.
        const int Rate = 44100, Seconds = 180;
        var left = Sine(440, Rate, Seconds);
        var wav = WavBytes(Interleave(left, left), Rate, channels: 2);
        string path = Path.Combine(Path.GetTempPath(), $"mlnetaudio-long-{Guid.NewGuid():N}.wav");
        File.WriteAllBytes(path, wav);
        try
        {
            AudioDecoder.Decode(path, new DecodeRequest(TargetRate: 16000)); // warm-up: filter table, JIT
            long before = GC.GetAllocatedBytesForCurrentThread();
            var audio = AudioDecoder.Decode(path, new DecodeRequest(TargetRate: 16000));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            Assert.Equal(16000 * Seconds, audio.Samples.Length);
            long output = audio.Samples.Length * sizeof(float);
            Assert.True(allocated < output + (4 << 20), $"decoding allocated {allocated / 1048576.0:F1} MB for {output / 1048576.0:F1} MB of output");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
