using MLNetAudio.Synthesis;

namespace MLNetAudio.Tests.Synthesis;

public class TonesTests
{
    private const int Sr = 22050;
    private const int FftSize = 1 << 17;

    /// <summary>Local frequency of a sine around <paramref name="center"/>, from interpolated upward zero crossings in a 60 ms window.</summary>
    private static double LocalHz(float[] y, int center)
    {
        int half = (int)(0.03 * Sr);
        var crossings = new List<double>();
        for (int i = center - half; i < center + half; i++)
        {
            if (y[i] <= 0 && y[i + 1] > 0)
            {
                crossings.Add(i + y[i] / (y[i] - y[i + 1]));
            }
        }

        return (crossings.Count - 1) / ((crossings[^1] - crossings[0]) / Sr);
    }

    /// <summary>The share of the spectrum's power lying within ±30 cents of one of <paramref name="notes"/>.</summary>
    private static double ShareNear(double[] p, IEnumerable<double> notes)
    {
        double near = notes.Sum(m => SignalAnalysis.BandPower(p, Pitch.MidiToHz(m), 30, Sr, FftSize));
        return near / p.Sum();
    }

    [Theory]
    [InlineData(new double[] { 60, 64, 67 })]
    [InlineData(new double[] { 48, 55, 64, 70 })]
    [InlineData(new double[] { 71, 74, 77, 81 })]
    public void A_chord_holds_every_requested_fundamental_and_nothing_else(double[] notes)
    {
        float[] y = Tones.Chord(notes, 2.0, 0.8f, Sr);
        double[] p = SignalAnalysis.PowerSpectrum(y, 0, y.Length, FftSize);

        double strongest = 0;
        var powers = new List<double>();
        foreach (double m in notes)
        {
            double hz = SignalAnalysis.PeakNear(p, Pitch.MidiToHz(m), 50, Sr, FftSize, out double power);
            Assert.InRange(Pitch.Cents(hz, Pitch.MidiToHz(m)), -2, 2);
            powers.Add(power);
            strongest = Math.Max(strongest, power);
        }

        Assert.All(powers, pw => Assert.True(pw > 0.5 * strongest, "every chord note is about as loud as the others"));
        Assert.True(ShareNear(p, notes) > 0.99);
        Assert.True(y.Max(Math.Abs) <= 0.8f + 1e-6f);
    }

    [Fact]
    public void A_glide_moves_evenly_in_semitones_from_its_start_to_its_end_pitch()
    {
        float[] y = Tones.Glide(57, 69, 4.0, 0.5f, Sr);

        foreach (double along in new[] { 0.1, 0.25, 0.5, 0.75, 0.9 })
        {
            double expected = Pitch.MidiToHz(57 + 12 * along);
            double hz = LocalHz(y, (int)(along * (y.Length - 1)));
            Assert.InRange(Pitch.Cents(hz, expected), -3, 3);
        }
    }

    [Fact]
    public void Steps_hold_each_pitch_for_its_step_without_a_break_in_the_waveform()
    {
        double[] notes = [60, 67, 55, 72];
        float[] y = Tones.Steps(notes, 0.5, 0.5f, Sr);

        Assert.Equal(Pitch.SecondsToSamples(2.0, Sr), y.Length);
        for (int j = 0; j < notes.Length; j++)
        {
            double hz = LocalHz(y, (int)((j + 0.5) * 0.5 * Sr));
            Assert.InRange(Pitch.Cents(hz, Pitch.MidiToHz(notes[j])), -3, 3);
        }

        // Phase-continuous: no sample-to-sample jump larger than the highest note's own slope allows.
        double maxStep = 0.5 * 2 * Math.PI * Pitch.MidiToHz(72) / Sr;
        for (int i = 1; i < y.Length; i++)
        {
            Assert.True(Math.Abs(y[i] - y[i - 1]) <= maxStep * 1.01, $"jump at sample {i}");
        }
    }

    [Fact]
    public void A_progression_plays_each_chord_in_its_own_time_slot()
    {
        IReadOnlyList<double>[] chords = [[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]];
        float[] y = Tones.Progression(chords, 0.75, 0.6f, Sr);

        Assert.Equal(Pitch.SecondsToSamples(3.0, Sr), y.Length);
        for (int j = 0; j < chords.Length; j++)
        {
            int from = (int)((j * 0.75 + 0.05) * Sr), count = (int)(0.65 * Sr);
            double[] p = SignalAnalysis.PowerSpectrum(y, from, count, FftSize);
            Assert.True(ShareNear(p, chords[j]) > 0.97, $"chord {j} is not what sounds in its slot");
        }
    }

    [Fact]
    public void Empty_chords_and_progressions_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Tones.Chord([], 1.0));
        Assert.Throws<ArgumentException>(() => Tones.Steps([], 1.0));
        Assert.Throws<ArgumentException>(() => Tones.Progression([[60.0], []], 1.0));
    }
}
