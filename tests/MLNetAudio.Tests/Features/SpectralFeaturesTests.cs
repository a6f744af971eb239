using System.Text.Json;
using Xunit.Abstractions;
using Microsoft.ML;
using MLNetAudio.Features;

namespace MLNetAudio.Tests.Features;

/// <summary>
/// Parity with reference features made by Debian's python3-torchaudio (Fixtures/make_mfcc_reference.py, computed in
/// float64), and FFT checks that need no reference.
/// </summary>
public class SpectralFeaturesTests(ITestOutputHelper log)
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "mfcc_reference");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in ReadCases())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Features_match_torchaudio_reference(string name)
    {
        var c = ReadCases().Single(e => e.GetProperty("name").GetString() == name);
        var options = OptionsFor(c);
        int sampleRate = c.GetProperty("sample_rate").GetInt32();
        var signal = ReadFloats(c.GetProperty("signal").GetString()!);
        var expected = ReadFloats(name + ".f32");
        int frames = c.GetProperty("frames").GetInt32();
        int coefficients = c.GetProperty("coefficients").GetInt32();

        var actual = WholeSong(options, sampleRate, signal, out int actualFrames, out int actualCoefficients);

        Assert.Equal(frames, actualFrames);
        Assert.Equal(coefficients, actualCoefficients);
        log.WriteLine($"{name}: max |a - b| / max |b| = {AssertClose(expected, actual, name):E2}");
    }

    [Fact]
    public void Librosa_preset_pins_the_reference_settings_and_matches_it()
    {
        var c = ReadCases().Single(e => e.GetProperty("name").GetString() == "librosa_mfcc");
        AssertSameSettings(MfccSegmenterOptions.Librosa(), OptionsFor(c));
        var actual = WholeSong(MfccSegmenterOptions.Librosa(), 22050, ReadFloats("signal_22050.f32"), out _, out _);
        AssertClose(ReadFloats("librosa_mfcc.f32"), actual, "librosa preset");
    }

    [Fact]
    public void Torchaudio_preset_pins_the_reference_settings_and_matches_it()
    {
        var c = ReadCases().Single(e => e.GetProperty("name").GetString() == "torchaudio_mfcc");
        AssertSameSettings(MfccSegmenterOptions.Torchaudio(), OptionsFor(c));
        var actual = WholeSong(MfccSegmenterOptions.Torchaudio(), 16000, ReadFloats("signal_16000.f32"), out _, out _);
        AssertClose(ReadFloats("torchaudio_mfcc.f32"), actual, "torchaudio preset");
    }

    [Fact]
    public void Windows_of_the_torchaudio_preset_are_slices_of_the_reference()
    {
        // Through the public transformer: 1 s windows every 0.1 s over 1.2 s of audio -> floor(0.2 / 0.1) + 1 = 3.
        var ml = new MLContext(1);
        var options = MfccSegmenterOptions.Torchaudio();
        options.WindowSeconds = 1.0;
        options.WindowHopSeconds = 0.1;
        var data = SongData.Load(ml, 16000, ReadFloats("signal_16000.f32"));
        var windows = SongData.Read(ml.Transforms.SegmentMfcc("W", "X", options).Fit(data).Transform(data), "W").Single();
        var reference = ReadFloats("torchaudio_mfcc.f32");
        const int frames = 80;
        const int c = 40;
        Assert.Equal(3 * frames * c, windows.Length);
        for (int w = 0; w < 3; w++)
        {
            AssertClose(reference.AsSpan(w * 8 * c, frames * c).ToArray(), windows.AsSpan(w * frames * c, frames * c).ToArray(), $"window {w}");
        }
    }

    [Theory]
    [InlineData(512, 16000, 1000.0, 32)] // fast FFT path: 1000 Hz is bin 32 of 512 at 16 kHz
    [InlineData(256, 16000, 1000.0, 16)] // an even number of radix-2 stages
    [InlineData(400, 16000, 1000.0, 25)] // direct DFT path (400 is not a power of two)
    [InlineData(2048, 22050, 22050.0 * 100 / 2048, 100)]
    public void Power_spectrum_of_a_bin_centred_sine_peaks_at_its_bin_with_the_Hann_gain(int fftSize, int sampleRate, double hz, int bin)
    {
        // A sine of amplitude A at a bin centre under a periodic Hann window (sum N/2) gives |X[bin]| = A N / 4.
        const double amplitude = 0.5;
        var x = new float[sampleRate];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / sampleRate));
        }

        var options = new MfccSegmenterOptions { FeatureKind = AudioFeatureKind.PowerSpectrogram, FftSize = fftSize, HopLength = fftSize / 2, Center = false };
        var spectrum = WholeSong(options, sampleRate, x, out int frames, out int bins);
        Assert.Equal((fftSize / 2) + 1, bins);
        double expected = Math.Pow(amplitude * fftSize / 4, 2);
        for (int f = 0; f < frames; f++)
        {
            var row = spectrum.AsSpan(f * bins, bins);
            Assert.Equal(bin, System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row));
            Assert.InRange(row[bin], expected * 0.999, expected * 1.001);
            Assert.InRange(row[bin + 1], expected * 0.249, expected * 0.251); // Hann's neighbour bins hold (1/2)^2
            Assert.True(row[bin + 3] < expected * 1e-6, $"frame {f}: leakage {row[bin + 3]} three bins away");
        }
    }

    internal static float[] WholeSong(MfccSegmenterOptions options, int sampleRate, float[] signal, out int frames, out int coefficients)
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, sampleRate, signal);
        var transformer = ml.Transforms.SegmentMfcc("W", "X", options).Fit(data);
        var definition = transformer.BindCore(data.Schema).Definition;
        frames = definition.FrameCount(signal.Length);
        coefficients = definition.Coefficients;
        var output = new float[frames * coefficients];
        new SpectralExtractor(definition).Compute(signal, frames, output);
        return output;
    }

    /// <summary>
    /// Relative agreement: max |a - b| / max |b| within 1e-3 over the whole array, and per element |a - b| within
    /// 1e-3 |b| wherever |b| is at least 5% of max |b| (near-zero elements have no meaningful relative error).
    /// </summary>
    internal static double AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            worst = Math.Max(worst, diff);
            if (Math.Abs(expected[i]) >= 0.05 * scale)
            {
                Assert.True(diff <= 1e-3 * Math.Abs(expected[i]), $"{what}: element {i} is {actual[i]}, reference {expected[i]}");
            }
        }

        Assert.True(worst <= 1e-3 * scale, $"{what}: max |a - b| = {worst}, max |b| = {scale}");
        return worst / scale;
    }

    private static void AssertSameSettings(MfccSegmenterOptions preset, MfccSegmenterOptions reference)
    {
        Assert.Equal(reference.FeatureKind, preset.FeatureKind);
        Assert.Equal(reference.FftSize, preset.FftSize);
        Assert.Equal(reference.HopLength, preset.HopLength);
        Assert.Equal(reference.Center, preset.Center);
        Assert.Equal(reference.PadMode, preset.PadMode);
        Assert.Equal(reference.MelBands, preset.MelBands);
        Assert.Equal(reference.MelScale, preset.MelScale);
        Assert.Equal(reference.MelNorm, preset.MelNorm);
        Assert.Equal(reference.Coefficients, preset.Coefficients);
        Assert.Equal(reference.Amin, preset.Amin);
        Assert.Equal(reference.TopDb, preset.TopDb);
        Assert.True(preset.WindowLength == 0 || preset.WindowLength == preset.FftSize);
    }

    private static MfccSegmenterOptions OptionsFor(JsonElement c)
    {
        var kind = Enum.Parse<AudioFeatureKind>(c.GetProperty("kind").GetString()!);
        var norm = c.GetProperty("norm");
        return new MfccSegmenterOptions
        {
            FeatureKind = kind,
            FftSize = c.GetProperty("n_fft").GetInt32(),
            WindowLength = c.GetProperty("win_length").GetInt32(),
            HopLength = c.GetProperty("hop").GetInt32(),
            Center = c.GetProperty("center").GetBoolean(),
            PadMode = c.GetProperty("pad_mode").GetString() == "reflect" ? SpectrogramPadMode.Reflect : SpectrogramPadMode.Constant,
            MelBands = c.GetProperty("n_mels").GetInt32(),
            MelScale = c.GetProperty("mel_scale").GetString() == "htk" ? MelScale.Htk : MelScale.Slaney,
            MelNorm = norm.ValueKind == JsonValueKind.Null ? MelNorm.None : MelNorm.Slaney,
            Coefficients = kind == AudioFeatureKind.Mfcc ? c.GetProperty("n_mfcc").GetInt32() : MfccSegmenterOptions.Defaults.Coefficients,
            Amin = c.GetProperty("amin").GetDouble(),
            MinFrequency = c.GetProperty("f_min").GetDouble(),
            MaxFrequency = c.GetProperty("f_max").ValueKind == JsonValueKind.Null ? 0 : c.GetProperty("f_max").GetDouble(),
            TopDb = c.GetProperty("top_db").ValueKind == JsonValueKind.Null ? null : c.GetProperty("top_db").GetDouble(),
        };
    }

    private static List<JsonElement> ReadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    private static float[] ReadFloats(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Dir, file));
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
