using MLNetAudio.Synthesis;

namespace MLNetAudio.Tests.Synthesis;

public class InstrumentsTests
{
    private const int Sr = 22050;
    private const int FftSize = 1 << 16;

    public static TheoryData<Instrument, int> InstrumentsAndPitches()
    {
        var data = new TheoryData<Instrument, int>();
        foreach (Instrument i in Enum.GetValues<Instrument>())
        {
            foreach (int midi in new[] { 48, 57, 64, 71, 79, 84 })
            {
                data.Add(i, midi);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(InstrumentsAndPitches))]
    public void Every_instrument_sounds_the_requested_pitch_within_a_few_cents(Instrument instrument, int midi)
    {
        float[] y = Instruments.Play(instrument, midi, 2.0, new Random(midi * 7 + (int)instrument), 0.7f, Sr);

        double hz = SignalAnalysis.Fundamental(y, Sr);

        Assert.InRange(Pitch.Cents(hz, Pitch.MidiToHz(midi)), -3, 3);
    }

    [Fact]
    public void The_pitch_measure_notices_a_note_a_tenth_of_a_semitone_sharp()
    {
        // Guards the pitch tests above: a 10-cent error must show up as one.
        float[] y = Instruments.Guitar(60.1, 2.0, new Random(3), 0.7f, Sr);

        double cents = Pitch.Cents(SignalAnalysis.Fundamental(y, Sr), Pitch.MidiToHz(60));

        Assert.InRange(cents, 8, 12);
    }

    [Theory]
    [InlineData(Instrument.Flute)]
    [InlineData(Instrument.Guitar)]
    [InlineData(Instrument.Violin)]
    [InlineData(Instrument.Clarinet)]
    [InlineData(Instrument.Marimba)]
    public void The_same_seed_gives_identical_samples_and_another_seed_different_ones(Instrument instrument)
    {
        float[] a = Instruments.Play(instrument, 62, 1.0, new Random(11), 0.5f, Sr);
        float[] b = Instruments.Play(instrument, 62, 1.0, new Random(11), 0.5f, Sr);
        float[] c = Instruments.Play(instrument, 62, 1.0, new Random(12), 0.5f, Sr);

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData(Instrument.Sine, 48, 0.05f)]
    [InlineData(Instrument.Flute, 84, 1.0f)]
    [InlineData(Instrument.Guitar, 40, 0.9f)]
    [InlineData(Instrument.Guitar, 96, 0.3f)]
    [InlineData(Instrument.Violin, 55, 0.6f)]
    [InlineData(Instrument.Clarinet, 50, 0.8f)]
    [InlineData(Instrument.Marimba, 90, 0.7f)]
    public void Notes_have_the_exact_length_their_loudness_as_peak_and_no_NaN(Instrument instrument, int midi, float loudness)
    {
        float[] y = Instruments.Play(instrument, midi, 1.234, new Random(5), loudness, Sr);

        Assert.Equal((int)Math.Round(1.234 * Sr), y.Length);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(loudness, y.Max(Math.Abs), 3);
    }

    [Fact]
    public void A_guitar_note_decays_while_a_flute_note_is_sustained()
    {
        float[] guitar = Instruments.Guitar(57, 3.0, new Random(1), 0.7f, Sr);
        float[] flute = Instruments.Flute(57, 3.0, new Random(1), 0.7f, Sr);

        double[] g = SignalAnalysis.BlockRms(guitar, Sr / 10);
        double[] f = SignalAnalysis.BlockRms(flute, Sr / 10);

        // Guitar: each half second quieter than the one before, and 2.5 s in far below its start.
        for (int b = 5; b + 5 < g.Length - 1; b += 5)
        {
            Assert.True(g[b + 5] < g[b], $"guitar block {b + 5} ({g[b + 5]:F4}) is not quieter than block {b} ({g[b]:F4})");
        }

        Assert.True(g[25] < 0.3 * g[2], $"guitar at 2.5 s ({g[25]:F4}) has not decayed from 0.2 s ({g[2]:F4})");

        // Flute: steady between the attack and the release.
        Assert.InRange(f[25] / f[5], 0.7, 1.4);
    }

    [Fact]
    public void A_flute_has_upper_harmonics_and_a_breath_noise_floor_that_a_sine_lacks()
    {
        const int midi = 67;
        double f0 = Pitch.MidiToHz(midi);
        float[] flute = Instruments.Flute(midi, 2.0, new Random(2), 0.7f, Sr);
        float[] sine = Tones.Sine(midi, 2.0, 0.7f, Sr);
        double[] pf = SignalAnalysis.PowerSpectrum(flute, Sr / 4, Sr, FftSize);
        double[] ps = SignalAnalysis.PowerSpectrum(sine, Sr / 4, Sr, FftSize);

        double h1 = SignalAnalysis.BandPower(pf, f0, 50, Sr, FftSize);
        double h2 = SignalAnalysis.BandPower(pf, 2 * f0, 50, Sr, FftSize);
        double h3 = SignalAnalysis.BandPower(pf, 3 * f0, 50, Sr, FftSize);
        double sineH2 = SignalAnalysis.BandPower(ps, 2 * f0, 50, Sr, FftSize) / SignalAnalysis.BandPower(ps, f0, 50, Sr, FftSize);

        Assert.InRange(h2 / h1, 0.01, 1.0);   // second harmonic present (-20 dB or more) but below the fundamental
        Assert.InRange(h3 / h1, 0.001, h2 / h1);
        Assert.True(sineH2 < 1e-6, $"the sine's second harmonic is {sineH2:E2}");

        double flatFlute = SignalAnalysis.SpectralFlatness(pf, Sr, FftSize, 200, 8000);
        double flatSine = SignalAnalysis.SpectralFlatness(ps, Sr, FftSize, 200, 8000);
        Assert.True(flatFlute > 1000 * flatSine, $"flute flatness {flatFlute:E2} vs sine {flatSine:E2}");
    }

    [Fact]
    public void A_threshold_on_spectral_centroid_learned_at_ten_pitches_separates_flute_from_guitar_at_unseen_pitches()
    {
        // Experiment 1's data in miniature: 10 flute and 10 guitar notes to learn from, other pitches to test.
        int[] trainPitches = [48, 50, 52, 54, 56, 58, 60, 62, 64, 66];
        int[] testPitches = [49, 53, 57, 61, 65, 69, 72, 75, 79, 83];
        var rng = new Random(42);

        double Feature(Instrument i, int midi)
        {
            float[] y = Instruments.Play(i, midi, 2.0, rng, 0.7f, Sr);
            double f0 = SignalAnalysis.Fundamental(y, Sr);
            double[] p = SignalAnalysis.PowerSpectrum(y, Sr / 4, 3 * Sr / 2, FftSize);
            return Math.Log(SignalAnalysis.SpectralCentroid(p, Sr, FftSize, 10000) / f0);
        }

        double fluteMean = trainPitches.Average(m => Feature(Instrument.Flute, m));
        double guitarMean = trainPitches.Average(m => Feature(Instrument.Guitar, m));
        double threshold = 0.5 * (fluteMean + guitarMean);
        bool fluteBelow = fluteMean < threshold;

        int correct = 0;
        foreach (int m in testPitches)
        {
            correct += (Feature(Instrument.Flute, m) < threshold) == fluteBelow ? 1 : 0;
            correct += (Feature(Instrument.Guitar, m) < threshold) != fluteBelow ? 1 : 0;
        }

        Assert.True(correct >= 18, $"{correct} of 20 unseen notes classified correctly (flute mean {fluteMean:F3}, guitar mean {guitarMean:F3})");
    }

    [Fact]
    public void Nearest_centroid_on_four_timbre_measures_tells_all_five_instruments_apart_at_unseen_pitches()
    {
        // So experiment 2 can use another pair: every instrument is distinct from every other, not only flute from guitar.
        Instrument[] instruments = [Instrument.Flute, Instrument.Guitar, Instrument.Violin, Instrument.Clarinet, Instrument.Marimba];
        int[] trainPitches = [50, 54, 58, 62, 66, 70, 74, 78];
        int[] testPitches = [52, 57, 61, 65, 69, 73, 77, 81];
        var rng = new Random(7);

        double[] Features(Instrument i, int midi)
        {
            float[] y = Instruments.Play(i, midi, 2.0, rng, 0.7f, Sr);
            double f0 = Pitch.MidiToHz(midi);
            double[] p = SignalAnalysis.PowerSpectrum(y, Sr / 4, Sr, FftSize);
            double odd = 0, even = 0;
            for (int k = 2; k <= 6; k++)
            {
                double h = SignalAnalysis.BandPower(p, k * f0, 40, Sr, FftSize);
                if (k % 2 == 0)
                {
                    even += h;
                }
                else
                {
                    odd += h;
                }
            }

            double[] rms = SignalAnalysis.BlockRms(y, Sr / 10);
            return
            [
                Math.Log(SignalAnalysis.SpectralCentroid(p, Sr, FftSize, 10000) / f0),
                Math.Log10(SignalAnalysis.SpectralFlatness(p, Sr, FftSize, 200, 8000)),
                Math.Log10(rms[15] / rms[3] + 1e-9),
                Math.Log10((odd + 1e-20) / (even + 1e-20)),
            ];
        }

        var train = instruments.ToDictionary(i => i, i => trainPitches.Select(m => Features(i, m)).ToArray());
        int dims = train[Instrument.Flute][0].Length;
        double[] mean = new double[dims], sd = new double[dims];
        var all = train.Values.SelectMany(v => v).ToArray();
        for (int d = 0; d < dims; d++)
        {
            mean[d] = all.Average(f => f[d]);
            sd[d] = Math.Sqrt(all.Average(f => (f[d] - mean[d]) * (f[d] - mean[d]))) + 1e-9;
        }

        var centroids = train.ToDictionary(
            kv => kv.Key,
            kv => Enumerable.Range(0, dims).Select(d => kv.Value.Average(f => (f[d] - mean[d]) / sd[d])).ToArray());

        int correct = 0, total = 0;
        var confusions = new List<string>();
        foreach (Instrument i in instruments)
        {
            foreach (int m in testPitches)
            {
                double[] z = Features(i, m).Select((v, d) => (v - mean[d]) / sd[d]).ToArray();
                Instrument guess = centroids.MinBy(c => c.Value.Select((v, d) => (v - z[d]) * (v - z[d])).Sum()).Key;
                total++;
                if (guess == i)
                {
                    correct++;
                }
                else
                {
                    confusions.Add($"{i} {m} as {guess}");
                }
            }
        }

        Assert.True(correct >= 0.9 * total, $"{correct}/{total} correct; confused: {string.Join(", ", confusions)}");
    }

    [Fact]
    public void Bad_arguments_are_rejected_with_the_argument_named()
    {
        var rng = new Random(1);
        Assert.Equal("midiNote", Assert.Throws<ArgumentOutOfRangeException>(() => Instruments.Flute(130, 1, rng)).ParamName);
        Assert.Equal("midiNote", Assert.Throws<ArgumentOutOfRangeException>(() => Instruments.Guitar(double.NaN, 1, rng)).ParamName);
        Assert.Equal("seconds", Assert.Throws<ArgumentOutOfRangeException>(() => Instruments.Violin(60, 0, rng)).ParamName);
        Assert.Equal("loudness", Assert.Throws<ArgumentOutOfRangeException>(() => Instruments.Clarinet(60, 1, rng, 1.5f)).ParamName);
        Assert.Equal("sampleRate", Assert.Throws<ArgumentOutOfRangeException>(() => Instruments.Marimba(60, 1, rng, 0.5f, 0)).ParamName);
        Assert.Throws<ArgumentNullException>(() => Instruments.Flute(60, 1, null!));

        // 8 kHz audio cannot hold a 4 kHz note.
        var tooHigh = Assert.Throws<ArgumentOutOfRangeException>(() => Instruments.Flute(107, 1, rng, 0.5f, 8000));
        Assert.Contains("too high", tooHigh.Message, StringComparison.Ordinal);
    }
}
