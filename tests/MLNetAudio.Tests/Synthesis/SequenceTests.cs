using MLNetAudio.Synthesis;

namespace MLNetAudio.Tests.Synthesis;

public class SequenceTests
{
    private const int Sr = 22050;
    private const int Hop = 441; // 20 ms at 22050 Hz

    private static readonly PairLayout Wide = new() { TotalFrames = 400, FirstStartFrame = 20, FirstFrames = 100, GapFrames = 60, SecondFrames = 100 };

    [Fact]
    public void Pair_places_the_second_instrument_at_exactly_the_requested_sample()
    {
        var options = new SeedCurriculumOptions { MaxLoudness = 0.45f };
        SynthesizedAudio both = SeedCurriculum.Pair(Instrument.Flute, Instrument.Guitar, Wide, new Random(9), options);
        SynthesizedAudio firstOnly = SeedCurriculum.Pair(Instrument.Flute, null, Wide, new Random(9), options);

        Assert.Equal(400 * Hop, both.Samples.Length);
        int expected = Wide.SecondStartFrame * Hop;
        Assert.Equal(180 * Hop, expected);

        // Subtracting the first instrument leaves exactly the second, starting at the expected sample.
        var second = both.Samples.Zip(firstOnly.Samples, (a, b) => a - b).ToArray();
        Assert.Equal(expected, SignalAnalysis.FirstAbove(second, 0, 0f));
        Assert.Equal(Wide.SecondStartFrame / 50.0, both.Notes[1].OnsetSeconds, 12);

        // The energy onset detector, at 20 ms frames, finds the second note in frame 180 of the mix.
        Assert.Equal(Wide.SecondStartFrame, SignalAnalysis.OnsetBlock(both.Samples, Hop, Wide.FirstStartFrame + Wide.FirstFrames));
    }

    [Theory]
    [InlineData(-2)]
    [InlineData(-6)]
    [InlineData(-10)]
    [InlineData(-50)]
    [InlineData(5)]
    [InlineData(40)]
    public void Changing_the_gap_by_k_frames_moves_only_the_second_instrument_by_k_times_20_ms(int k)
    {
        var rngSeed = 21;
        var options = new SeedCurriculumOptions { MaxLoudness = 0.45f };
        PairLayout shifted = Wide.WithGapChangedBy(k);
        float[] before = SeedCurriculum.Pair(Instrument.Violin, Instrument.Guitar, Wide, new Random(rngSeed), options).Samples;
        float[] after = SeedCurriculum.Pair(Instrument.Violin, Instrument.Guitar, shifted, new Random(rngSeed), options).Samples;
        float[] firstOnly = SeedCurriculum.Pair(Instrument.Violin, null, Wide, new Random(rngSeed), options).Samples;

        int onsetBefore = SignalAnalysis.FirstAbove(before.Zip(firstOnly, (a, b) => a - b).ToArray(), 0, 0f);
        int onsetAfter = SignalAnalysis.FirstAbove(after.Zip(firstOnly, (a, b) => a - b).ToArray(), 0, 0f);

        Assert.Equal(k * Hop, onsetAfter - onsetBefore);
        Assert.Equal(k * 0.020, (double)(onsetAfter - onsetBefore) / Sr, 12);

        // The second note itself is the same samples, just moved (the first is untouched).
        int len = 100 * Hop;
        for (int i = 0; i < len; i += 97)
        {
            Assert.Equal(before[onsetBefore + i] - firstOnly[onsetBefore + i], after[onsetAfter + i] - firstOnly[onsetAfter + i], 5);
        }
    }

    [Fact]
    public void Reversed_order_alone_and_repeated_instruments_are_all_available()
    {
        var layout = new PairLayout();
        var rng = new Random(4);

        SynthesizedAudio bThenA = SeedCurriculum.Pair(Instrument.Guitar, Instrument.Flute, layout, rng);
        SynthesizedAudio aAlone = SeedCurriculum.Pair(Instrument.Flute, null, layout, rng);
        SynthesizedAudio bAlone = SeedCurriculum.Pair(null, Instrument.Guitar, layout, rng);
        SynthesizedAudio aThenA = SeedCurriculum.Pair(Instrument.Flute, Instrument.Flute, layout, rng);

        Assert.Equal([Instrument.Guitar, Instrument.Flute], bThenA.Notes.Select(n => n.Instrument));
        Assert.Single(aAlone.Notes);
        Assert.Single(bAlone.Notes);
        Assert.Equal(2, aThenA.Notes.Count);

        // "Alone" means silence where the other event would be.
        int secondFrom = layout.SecondStartFrame * Hop, secondTo = secondFrom + layout.SecondFrames * Hop;
        Assert.All(aAlone.Samples[secondFrom..secondTo], v => Assert.Equal(0f, v));
        Assert.All(bAlone.Samples[..secondFrom], v => Assert.Equal(0f, v));
        Assert.All(new[] { bThenA, aAlone, bAlone, aThenA }, c => Assert.Equal(400 * Hop, c.Samples.Length));
    }

    [Theory]
    [InlineData(PairKind.AThenB, Instrument.Clarinet, Instrument.Marimba)]
    [InlineData(PairKind.BThenA, Instrument.Marimba, Instrument.Clarinet)]
    [InlineData(PairKind.AAlone, Instrument.Clarinet, null)]
    [InlineData(PairKind.BAlone, null, Instrument.Marimba)]
    [InlineData(PairKind.AThenA, Instrument.Clarinet, Instrument.Clarinet)]
    [InlineData(PairKind.BThenB, Instrument.Marimba, Instrument.Marimba)]
    public void Each_arrangement_fills_the_two_slots_as_named(PairKind kind, Instrument? first, Instrument? second)
    {
        var layout = new PairLayout();

        SynthesizedAudio byKind = SeedCurriculum.Pair(kind, Instrument.Clarinet, Instrument.Marimba, layout, new Random(8));
        SynthesizedAudio bySlots = SeedCurriculum.Pair(first, second, layout, new Random(8));

        Assert.Equal(bySlots.Samples, byKind.Samples);
        var expectedSlots = new[] { (first, layout.FirstStartFrame), (second, layout.SecondStartFrame) }.Where(s => s.Item1 is not null);
        Assert.Equal(expectedSlots.Select(s => (s.Item1!.Value, s.Item2 / 50.0)), byKind.Notes.Select(n => (n.Instrument, n.OnsetSeconds)));
    }

    [Fact]
    public void A_layout_that_does_not_fit_lists_every_problem()
    {
        var bad = new PairLayout { TotalFrames = 100, FirstStartFrame = -1, FirstFrames = 0, GapFrames = 200 };

        var e = Assert.Throws<ArgumentException>(bad.Validate);

        Assert.Contains("FirstStartFrame", e.Message, StringComparison.Ordinal);
        Assert.Contains("FirstFrames", e.Message, StringComparison.Ordinal);
        Assert.Contains("GapFrames", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SeedCurriculum.Pair(Instrument.Flute, Instrument.Guitar, new PairLayout().WithGapChangedBy(200), new Random(1)));
    }

    [Fact]
    public void Arrange_mixes_at_frame_offsets_and_refuses_a_clip_that_overruns()
    {
        float[] one = Enumerable.Repeat(0.25f, 2 * Hop).ToArray();

        float[] y = Sequence.Arrange(10, Sr, new Placement(one, 1), new Placement(one, 2));

        Assert.Equal(10 * Hop, y.Length);
        Assert.Equal(0f, y[Hop - 1]);
        Assert.Equal(0.25f, y[Hop]);
        Assert.Equal(0.5f, y[2 * Hop]);
        Assert.Equal(0.25f, y[3 * Hop]);
        Assert.Equal(0f, y[4 * Hop]);
        var e = Assert.Throws<ArgumentException>(() => Sequence.Arrange(10, Sr, new Placement(one, 9)));
        Assert.Contains("Placement 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_mix_that_would_clip_is_scaled_into_range_instead()
    {
        float[] loud = Enumerable.Repeat(0.8f, Hop).ToArray();

        float[] y = Sequence.Arrange(2, Sr, new Placement(loud, 0), new Placement(loud, 0));

        Assert.All(y.Take(Hop), v => Assert.Equal(0.99f, v, 5));
    }

    [Fact]
    public void Concatenate_puts_whole_frame_gaps_between_clips()
    {
        float[] a = Enumerable.Repeat(0.1f, 3 * Hop).ToArray();
        float[] b = Enumerable.Repeat(0.2f, 2 * Hop).ToArray();

        float[] y = Sequence.Concatenate(4, Sr, a, b);

        Assert.Equal(9 * Hop, y.Length);
        Assert.Equal(0.1f, y[3 * Hop - 1]);
        Assert.Equal(0f, y[3 * Hop]);
        Assert.Equal(0f, y[7 * Hop - 1]);
        Assert.Equal(0.2f, y[7 * Hop]);
    }

    [Fact]
    public void Frames_convert_to_samples_exactly_and_odd_rates_are_refused()
    {
        Assert.Equal(441, Pitch.SamplesPerFrame(22050));
        Assert.Equal(320, Pitch.SamplesPerFrame(16000));
        Assert.Equal(50 * 441, Pitch.FramesToSamples(50, 22050));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pitch.SamplesPerFrame(22051));
    }
}
