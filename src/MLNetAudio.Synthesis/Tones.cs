using static MLNetAudio.Synthesis.SynthesisDsp;

namespace MLNetAudio.Synthesis;

/// <summary>
/// Pure sine tones for the seed's simplest data levels: a single tone (level 1), a chord (level 2), a tone whose
/// pitch changes over time by gliding or in steps (level 5) and a chord progression (level 6). Nothing here is
/// random, so no <see cref="Random"/> is taken. Every clip starts and ends with a 10 ms raised-cosine fade so it
/// does not click, and its length is exactly round(seconds * sampleRate).
/// </summary>
public static class Tones
{
    private const double FadeSeconds = 0.01;

    /// <summary>A sine at MIDI note <paramref name="midiNote"/> with peak <paramref name="loudness"/>.</summary>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length in seconds.</param>
    /// <param name="loudness">Peak amplitude, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples.</returns>
    public static float[] Sine(double midiNote, double seconds, float loudness = Instruments.DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        int n = CheckNote(midiNote, seconds, loudness, sampleRate);
        double w = 2 * Math.PI * Pitch.MidiToHz(midiNote) / sampleRate;
        var y = new float[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = (float)(loudness * Math.Sin(w * i));
        }

        FadeEdges(y, (int)(FadeSeconds * sampleRate));
        return y;
    }

    /// <summary>
    /// Several sines sounding together, each with amplitude <paramref name="loudness"/> / count, so the peak never
    /// exceeds <paramref name="loudness"/>.
    /// </summary>
    /// <param name="midiNotes">The chord's notes (at least one).</param>
    /// <param name="seconds">Length in seconds.</param>
    /// <param name="loudness">Upper bound of the peak amplitude, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples.</returns>
    public static float[] Chord(IReadOnlyList<double> midiNotes, double seconds, float loudness = Instruments.DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(midiNotes);
        if (midiNotes.Count == 0)
        {
            throw new ArgumentException("A chord needs at least one note.", nameof(midiNotes));
        }

        float[] sum = Sine(midiNotes[0], seconds, loudness / midiNotes.Count, sampleRate);
        for (int j = 1; j < midiNotes.Count; j++)
        {
            float[] voice = Sine(midiNotes[j], seconds, loudness / midiNotes.Count, sampleRate);
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += voice[i];
            }
        }

        return sum;
    }

    /// <summary>
    /// A sine whose pitch moves linearly in semitones (so exponentially in hertz) from <paramref name="startMidi"/>
    /// to <paramref name="endMidi"/> over the clip, with a continuous phase.
    /// </summary>
    /// <param name="startMidi">Pitch at the first sample, as a MIDI note number.</param>
    /// <param name="endMidi">Pitch at the last sample, as a MIDI note number.</param>
    /// <param name="seconds">Length in seconds.</param>
    /// <param name="loudness">Peak amplitude, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples.</returns>
    public static float[] Glide(double startMidi, double endMidi, double seconds, float loudness = Instruments.DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        int n = CheckNote(startMidi, seconds, loudness, sampleRate);
        CheckNote(endMidi, seconds, loudness, sampleRate);
        var hz = new double[n];
        for (int i = 0; i < n; i++)
        {
            double along = n == 1 ? 0 : (double)i / (n - 1);
            hz[i] = Pitch.MidiToHz(startMidi + (endMidi - startMidi) * along);
        }

        return FromFrequency(hz, loudness, sampleRate);
    }

    /// <summary>
    /// A sine that holds each pitch of <paramref name="midiNotes"/> for <paramref name="stepSeconds"/> in turn,
    /// changing pitch without a break in phase (so without clicks). The clip is count * stepSeconds long and step j
    /// starts at sample round(j * stepSeconds * sampleRate).
    /// </summary>
    /// <param name="midiNotes">The pitches in order (at least one).</param>
    /// <param name="stepSeconds">How long each pitch is held.</param>
    /// <param name="loudness">Peak amplitude, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples.</returns>
    public static float[] Steps(IReadOnlyList<double> midiNotes, double stepSeconds, float loudness = Instruments.DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(midiNotes);
        if (midiNotes.Count == 0)
        {
            throw new ArgumentException("Steps needs at least one note.", nameof(midiNotes));
        }

        foreach (double m in midiNotes)
        {
            CheckNote(m, stepSeconds, loudness, sampleRate);
        }

        int n = Pitch.SecondsToSamples(stepSeconds * midiNotes.Count, sampleRate);
        var hz = new double[n];
        for (int j = 0; j < midiNotes.Count; j++)
        {
            int from = Pitch.SecondsToSamples(j * stepSeconds, sampleRate);
            int to = Math.Min(n, Pitch.SecondsToSamples((j + 1) * stepSeconds, sampleRate));
            Array.Fill(hz, Pitch.MidiToHz(midiNotes[j]), from, to - from);
        }

        return FromFrequency(hz, loudness, sampleRate);
    }

    /// <summary>
    /// Chords one after another, each held for <paramref name="chordSeconds"/>: voice v of each chord continues
    /// voice v of the previous one in phase, so changes do not click. Chords with fewer voices than the largest
    /// leave the missing voices silent (faded over 10 ms). Chord j starts at sample round(j * chordSeconds * sampleRate).
    /// </summary>
    /// <param name="chords">The chords in order; each is a list of MIDI notes.</param>
    /// <param name="chordSeconds">How long each chord is held.</param>
    /// <param name="loudness">Upper bound of the peak amplitude, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples.</returns>
    public static float[] Progression(IReadOnlyList<IReadOnlyList<double>> chords, double chordSeconds, float loudness = Instruments.DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(chords);
        if (chords.Count == 0 || chords.Any(c => c is null || c.Count == 0))
        {
            throw new ArgumentException("A progression needs at least one chord, and every chord at least one note.", nameof(chords));
        }

        int voices = chords.Max(c => c.Count);
        int n = Pitch.SecondsToSamples(chordSeconds * chords.Count, sampleRate);
        var sum = new float[n];
        int fade = (int)(FadeSeconds * sampleRate);
        for (int v = 0; v < voices; v++)
        {
            var hz = new double[n];
            var gain = new float[n];
            for (int j = 0; j < chords.Count; j++)
            {
                int from = Pitch.SecondsToSamples(j * chordSeconds, sampleRate);
                int to = Math.Min(n, Pitch.SecondsToSamples((j + 1) * chordSeconds, sampleRate));
                bool sounds = v < chords[j].Count;
                double midi = sounds ? chords[j][v] : chords[j][^1];
                CheckNote(midi, chordSeconds, loudness, sampleRate);
                Array.Fill(hz, Pitch.MidiToHz(midi), from, to - from);
                Array.Fill(gain, sounds ? 1f : 0f, from, to - from);
            }

            float[] voice = FromFrequency(hz, loudness / voices, sampleRate);
            float[] smooth = Smooth(gain, fade);
            for (int i = 0; i < n; i++)
            {
                sum[i] += voice[i] * smooth[i];
            }
        }

        return sum;
    }

    private static float[] FromFrequency(double[] hz, float loudness, int sampleRate)
    {
        var y = new float[hz.Length];
        double phase = 0;
        for (int i = 0; i < hz.Length; i++)
        {
            y[i] = (float)(loudness * Math.Sin(phase));
            phase += 2 * Math.PI * hz[i] / sampleRate;
            if (phase > 2 * Math.PI)
            {
                phase -= 2 * Math.PI;
            }
        }

        FadeEdges(y, (int)(FadeSeconds * sampleRate));
        return y;
    }

    /// <summary>A moving average of a 0/1 gate, so a voice that enters or leaves does so over <paramref name="width"/> samples.</summary>
    private static float[] Smooth(float[] gate, int width)
    {
        if (width <= 1)
        {
            return gate;
        }

        var y = new float[gate.Length];
        double acc = 0;
        for (int i = 0; i < gate.Length; i++)
        {
            acc += gate[i];
            if (i >= width)
            {
                acc -= gate[i - width];
            }

            y[i] = (float)(acc / width);
        }

        return y;
    }
}
