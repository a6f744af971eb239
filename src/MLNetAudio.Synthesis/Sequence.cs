namespace MLNetAudio.Synthesis;

/// <summary>A clip and the 20 ms frame at which it starts inside a longer clip.</summary>
/// <param name="Samples">The clip's mono samples.</param>
/// <param name="StartFrame">The frame (50 per second) at which its first sample sounds; may be negative to cut its start off.</param>
public readonly record struct Placement(float[] Samples, int StartFrame);

/// <summary>
/// Puts clips on a timeline measured in the seed's 20 ms frames (50 per second), so the time between events is
/// exact to the sample: at a sample rate that is a multiple of 50, frame f begins at sample f * (sampleRate / 50),
/// and moving a clip by k frames moves it by exactly k * 20 ms.
/// </summary>
public static class Sequence
{
    /// <summary>
    /// Mixes <paramref name="placements"/> into a clip of <paramref name="totalFrames"/> frames (overlapping clips add).
    /// Nothing is rescaled unless the sum would leave [-1, 1], in which case the whole clip is scaled down so its
    /// peak is 0.99 (rather than clipped, which would add distortion the model could learn).
    /// </summary>
    /// <param name="totalFrames">Length of the result in frames.</param>
    /// <param name="sampleRate">Samples per second; a multiple of 50.</param>
    /// <param name="placements">The clips and their start frames.</param>
    /// <returns>Mono samples, totalFrames * sampleRate / 50 long.</returns>
    /// <exception cref="ArgumentException">When a clip would run past the end (the message names it and by how much).</exception>
    public static float[] Arrange(int totalFrames, int sampleRate, params IReadOnlyList<Placement> placements)
    {
        ArgumentNullException.ThrowIfNull(placements);
        ArgumentOutOfRangeException.ThrowIfNegative(totalFrames);
        int hop = Pitch.SamplesPerFrame(sampleRate);
        var y = new float[Pitch.FramesToSamples(totalFrames, sampleRate)];
        for (int p = 0; p < placements.Count; p++)
        {
            float[] clip = placements[p].Samples ?? throw new ArgumentException($"Placement {p} has no samples.", nameof(placements));
            long start = (long)placements[p].StartFrame * hop;
            long end = start + clip.Length;
            if (end > y.Length)
            {
                throw new ArgumentException(
                    $"Placement {p} (frame {placements[p].StartFrame}, {clip.Length} samples) ends {end - y.Length} samples after the clip's {totalFrames} frames; lengthen the clip, start it earlier or shorten it.",
                    nameof(placements));
            }

            for (long i = Math.Max(0, start); i < end; i++)
            {
                y[i] += clip[i - start];
            }
        }

        LimitPeak(y);
        return y;
    }

    /// <summary>
    /// Joins clips end to end with <paramref name="gapFrames"/> frames of silence between neighbours (a negative gap
    /// overlaps them). Clips whose lengths are whole frames keep every onset on the frame grid.
    /// </summary>
    /// <param name="gapFrames">Silence between consecutive clips, in frames.</param>
    /// <param name="sampleRate">Samples per second; a multiple of 50.</param>
    /// <param name="clips">The clips in order.</param>
    /// <returns>Mono samples.</returns>
    public static float[] Concatenate(int gapFrames, int sampleRate, params IReadOnlyList<float[]> clips)
    {
        ArgumentNullException.ThrowIfNull(clips);
        int hop = Pitch.SamplesPerFrame(sampleRate);
        var starts = new long[clips.Count];
        long at = 0, end = 0;
        for (int c = 0; c < clips.Count; c++)
        {
            if (clips[c] is null)
            {
                throw new ArgumentException($"Clip {c} is null.", nameof(clips));
            }

            starts[c] = Math.Max(0, at);
            end = Math.Max(end, starts[c] + clips[c].Length);
            at = starts[c] + clips[c].Length + (long)gapFrames * hop;
        }

        var y = new float[end];
        for (int c = 0; c < clips.Count; c++)
        {
            for (int i = 0; i < clips[c].Length; i++)
            {
                y[starts[c] + i] += clips[c][i];
            }
        }

        LimitPeak(y);
        return y;
    }

    /// <summary>
    /// Experiment 2's layout: <paramref name="first"/> starting at frame <paramref name="layout"/>.FirstStartFrame,
    /// then <paramref name="second"/> starting <c>GapFrames</c> frames after the first ends (frame
    /// <see cref="PairLayout.SecondStartFrame"/>). Either clip may be null for "this one alone".
    /// </summary>
    /// <param name="first">The first event's samples (its length should be layout.FirstFrames frames), or null.</param>
    /// <param name="second">The second event's samples (its length should be layout.SecondFrames frames), or null.</param>
    /// <param name="layout">Where each event sits, in frames.</param>
    /// <param name="sampleRate">Samples per second; a multiple of 50.</param>
    /// <returns>Mono samples, layout.TotalFrames frames long.</returns>
    public static float[] Pair(float[]? first, float[]? second, PairLayout layout, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(layout);
        layout.Validate();
        var placements = new List<Placement>(2);
        if (first is not null)
        {
            CheckLength(first, layout.FirstFrames, sampleRate, nameof(first));
            placements.Add(new Placement(first, layout.FirstStartFrame));
        }

        if (second is not null)
        {
            CheckLength(second, layout.SecondFrames, sampleRate, nameof(second));
            placements.Add(new Placement(second, layout.SecondStartFrame));
        }

        return Arrange(layout.TotalFrames, sampleRate, placements);
    }

    private static void CheckLength(float[] clip, int frames, int sampleRate, string name)
    {
        int expected = Pitch.FramesToSamples(frames, sampleRate);
        if (clip.Length != expected)
        {
            throw new ArgumentException(
                $"The {name} clip has {clip.Length} samples but the layout gives it {frames} frames ({expected} samples at {sampleRate} Hz); render it with seconds = frames / {Pitch.FramesPerSecond}.",
                name);
        }
    }

    private static void LimitPeak(float[] y)
    {
        float peak = 0;
        foreach (float v in y)
        {
            peak = Math.Max(peak, Math.Abs(v));
        }

        if (peak > 1)
        {
            SynthesisDsp.NormalizePeak(y, 0.99f);
        }
    }
}

/// <summary>
/// Where two events sit inside one clip, in 20 ms frames (50 per second): the first starts at
/// <see cref="FirstStartFrame"/> and lasts <see cref="FirstFrames"/>; after <see cref="GapFrames"/> frames of
/// silence (negative: overlap) the second starts and lasts <see cref="SecondFrames"/>. Defaults fit the seed's
/// 8 s (400-frame) window: first at frame 40 for 120 frames, a 40-frame gap, the second for 120 frames
/// (frames 200-320), leaving 80 frames of room to lengthen the gap.
/// </summary>
public sealed record PairLayout
{
    /// <summary>Length of the whole clip in frames. Default 400 (8 s).</summary>
    public int TotalFrames { get; init; } = 400;

    /// <summary>Frame at which the first event starts. Default 40.</summary>
    public int FirstStartFrame { get; init; } = 40;

    /// <summary>Length of the first event in frames. Default 120.</summary>
    public int FirstFrames { get; init; } = 120;

    /// <summary>Frames of silence between the end of the first event and the start of the second. Default 40.</summary>
    public int GapFrames { get; init; } = 40;

    /// <summary>Length of the second event in frames. Default 120.</summary>
    public int SecondFrames { get; init; } = 120;

    /// <summary>Frame at which the second event starts: FirstStartFrame + FirstFrames + GapFrames.</summary>
    public int SecondStartFrame => FirstStartFrame + FirstFrames + GapFrames;

    /// <summary>
    /// The same layout with the gap changed by <paramref name="deltaFrames"/> (negative shortens it, as in the seed's
    /// "gap -2, -6, -10, -50 frames"): the second event moves by exactly deltaFrames * 20 ms, nothing else moves.
    /// </summary>
    /// <param name="deltaFrames">Frames to add to the gap.</param>
    /// <returns>A new layout.</returns>
    public PairLayout WithGapChangedBy(int deltaFrames) => this with { GapFrames = GapFrames + deltaFrames };

    /// <summary>The same layout with the two events' lengths swapped, for "B then A" when A and B differ in length.</summary>
    /// <returns>A new layout.</returns>
    public PairLayout Swapped() => this with { FirstFrames = SecondFrames, SecondFrames = FirstFrames };

    /// <summary>Throws one <see cref="ArgumentException"/> listing every field that does not fit.</summary>
    public void Validate()
    {
        var errors = new Data.OptionErrors(nameof(PairLayout));
        errors.Check(TotalFrames <= 0, nameof(TotalFrames), $"must be positive; it is {TotalFrames}.")
              .Check(FirstFrames <= 0, nameof(FirstFrames), $"must be positive; it is {FirstFrames}.")
              .Check(SecondFrames <= 0, nameof(SecondFrames), $"must be positive; it is {SecondFrames}.")
              .Check(FirstStartFrame < 0, nameof(FirstStartFrame), $"must not be negative; it is {FirstStartFrame}.")
              .Check(FirstStartFrame + FirstFrames > TotalFrames, nameof(FirstFrames), $"the first event ends at frame {FirstStartFrame + FirstFrames}, after the clip's {TotalFrames} frames.")
              .Check(SecondStartFrame < 0, nameof(GapFrames), $"a gap of {GapFrames} frames starts the second event at frame {SecondStartFrame}, before the clip begins.")
              .Check(SecondStartFrame + SecondFrames > TotalFrames, nameof(GapFrames), $"a gap of {GapFrames} frames ends the second event at frame {SecondStartFrame + SecondFrames}, after the clip's {TotalFrames} frames; shorten the gap or the events, or lengthen TotalFrames.");
        errors.ThrowIfAny();
    }
}
