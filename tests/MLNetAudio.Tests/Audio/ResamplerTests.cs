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
}
