using static MLNetAudio.Synthesis.SynthesisDsp;

namespace MLNetAudio.Synthesis;

/// <summary>
/// Single notes of synthetic instruments, made from physical or spectral models so that each sounds like itself
/// rather than like a sine wave. Every method returns mono samples in [-1, 1] whose length is exactly
/// round(<c>seconds</c> * <c>sampleRate</c>) and whose peak equals <c>loudness</c>.
/// </summary>
/// <remarks>
/// <para>Deterministic: the same arguments and an identically seeded <see cref="Random"/> give identical samples.
/// Each call draws the performance details below from <c>rng</c> (so two notes never sound quite alike) and
/// consumes a varying number of draws.</para>
/// <para>Per-note ranges (uniform draws):</para>
/// <list type="bullet">
/// <item><description>Flute: harmonic k amplitude base {1, .45, .22, .12, .07, .04, .025, .015} each scaled by 1 ± 25 %;
/// attack 50-120 ms (upper harmonics enter later), release 50-100 ms; vibrato 4.5-6 Hz, 5-15 cents, starting after
/// 150-350 ms; tremolo 5-15 %; breath noise (band-passed at the fundamental and at 2-4 kHz) 3-8 % of the tone's RMS,
/// three times stronger during the attack ("chiff").</description></item>
/// <item><description>Guitar: Karplus-Strong string tuned exactly with an all-pass fractional delay; damping filter
/// [a, 1 - 2a, a] (linear phase) with a = 0.05-0.2 times (110 Hz / f0)^2, limited to 0.001-0.25; fundamental T60
/// 2.5-5 s times (220 Hz / f0)^0.4, limited to 0.8-8 s;
/// pluck brightness 0.4-0.9 (one-pole low-pass on the excitation); pluck position 10-30 % of the string.</description></item>
/// <item><description>Violin: harmonics 1/k shaped by body resonances near 290 Hz, 500 Hz and 2.7 kHz; attack 80-200 ms,
/// release 80-150 ms; vibrato 5-7 Hz, 15-35 cents after 100-300 ms; bow noise 1-3 %.</description></item>
/// <item><description>Clarinet: odd harmonics 1/k, even harmonics 1/k times 0.03-0.08 below 1.5 kHz and 0.5 above,
/// roll-off above 3 kHz; attack 30-70 ms, release 50-100 ms; breath noise 1-2 %; no vibrato.</description></item>
/// <item><description>Marimba: modes at 1, 3.93 and 9.23 times f0 with amplitudes 1, 0.3-0.6, 0.1-0.25; fundamental
/// T60 0.6-1.5 s times sqrt(262 Hz / f0), upper modes decaying 3-6 times faster; a 5 ms mallet noise burst.</description></item>
/// </list>
/// </remarks>
public static class Instruments
{
    /// <summary>The loudness (peak amplitude) used when none is given: 0.7.</summary>
    public const float DefaultLoudness = 0.7f;

    /// <summary>Plays one note of <paramref name="instrument"/>; see the instrument's own method.</summary>
    /// <param name="instrument">Which voice to play.</param>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length of the returned clip in seconds.</param>
    /// <param name="rng">Source of the performance details; seed it for reproducible audio.</param>
    /// <param name="loudness">Peak amplitude of the result, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples, exactly round(seconds * sampleRate) long.</returns>
    public static float[] Play(Instrument instrument, double midiNote, double seconds, Random rng, float loudness = DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate) =>
        instrument switch
        {
            Instrument.Sine => Tones.Sine(midiNote, seconds, loudness, sampleRate),
            Instrument.Flute => Flute(midiNote, seconds, rng, loudness, sampleRate),
            Instrument.Guitar => Guitar(midiNote, seconds, rng, loudness, sampleRate),
            Instrument.Violin => Violin(midiNote, seconds, rng, loudness, sampleRate),
            Instrument.Clarinet => Clarinet(midiNote, seconds, rng, loudness, sampleRate),
            Instrument.Marimba => Marimba(midiNote, seconds, rng, loudness, sampleRate),
            _ => throw new ArgumentOutOfRangeException(nameof(instrument), instrument, $"Unknown instrument; use one of {string.Join(", ", Enum.GetNames<Instrument>())}."),
        };

    /// <summary>
    /// A flute note: a few harmonics falling off quickly (a near-sine with a soft edge), band-passed breath noise
    /// that is stronger during the attack, a slow attack in which the upper harmonics enter last, and vibrato that
    /// fades in after the start of the note (with the tremolo real flute vibrato carries).
    /// </summary>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length of the returned clip in seconds.</param>
    /// <param name="rng">Source of the performance details; seed it for reproducible audio.</param>
    /// <param name="loudness">Peak amplitude of the result, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples, exactly round(seconds * sampleRate) long.</returns>
    public static float[] Flute(double midiNote, double seconds, Random rng, float loudness = DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int n = CheckNote(midiNote, seconds, loudness, sampleRate);
        double f0 = Pitch.MidiToHz(midiNote);

        double[] baseAmps = [1, 0.45, 0.22, 0.12, 0.07, 0.04, 0.025, 0.015];
        var amps = new double[baseAmps.Length];
        var phases = new double[baseAmps.Length];
        for (int k = 0; k < amps.Length; k++)
        {
            amps[k] = baseAmps[k] * (k == 0 ? 1 : Uniform(rng, 0.75, 1.25));
            phases[k] = Uniform(rng, 0, 2 * Math.PI);
        }

        int attack = (int)(Uniform(rng, 0.05, 0.12) * sampleRate);
        int release = (int)(Uniform(rng, 0.05, 0.10) * sampleRate);
        double vibRate = Uniform(rng, 4.5, 6.0);
        double vibCents = Uniform(rng, 5, 15);
        double vibDelay = Uniform(rng, 0.15, 0.35);
        double vibPhase = Uniform(rng, 0, 2 * Math.PI);
        double tremolo = Uniform(rng, 0.05, 0.15);
        double breath = Uniform(rng, 0.03, 0.08);
        double hissHz = Uniform(rng, 2000, 4000);

        double[] freq = VibratoFrequency(n, f0, vibRate, vibCents, vibDelay, 0.3, vibPhase, sampleRate);
        float[] env = AttackRelease(n, attack, release);

        // Upper harmonics follow env^(1 + 0.4 k): the tone brightens as the air jet settles.
        var tone = new float[n];
        double phase = 0;
        int count = 0;
        while (count < amps.Length && (count + 1) * f0 * 1.01 < sampleRate * 0.45)
        {
            count++;
        }

        for (int i = 0; i < n; i++)
        {
            double e = env[i];
            double s = 0;
            for (int k = 0; k < count; k++)
            {
                double ek = k == 0 ? e : Math.Pow(e, 1 + 0.4 * k);
                s += amps[k] * ek * Math.Sin((k + 1) * phase + phases[k]);
            }

            double t = (double)i / sampleRate;
            double ramp = Math.Clamp((t - vibDelay) / 0.3, 0, 1);
            tone[i] = (float)(s * (1 + tremolo * ramp * Math.Sin(2 * Math.PI * vibRate * t + vibPhase)));
            phase += 2 * Math.PI * freq[i] / sampleRate;
            if (phase > 2 * Math.PI)
            {
                phase -= 2 * Math.PI;
            }
        }

        // Breath: noise near the fundamental (the "airy" part of the tone) plus a high hiss.
        float[] airy = WhiteNoise(rng, n);
        BandPass(airy, f0, 6, sampleRate);
        float[] hiss = WhiteNoise(rng, n);
        BandPass(hiss, hissHz, 1.2, sampleRate);
        var noise = new float[n];
        for (int i = 0; i < n; i++)
        {
            noise[i] = airy[i] + 0.7f * hiss[i];
        }

        double noiseRms = Rms(noise);
        double toneRms = Rms(tone);
        double chiffLength = Math.Max(attack, 1);
        double g = noiseRms > 0 ? breath * toneRms / noiseRms : 0;
        var y = new float[n];
        for (int i = 0; i < n; i++)
        {
            double chiff = 1 + 2 * Math.Max(0, 1 - i / chiffLength);
            y[i] = tone[i] + (float)(g * chiff * Math.Max(env[i], i < attack ? 0.5 : 0) * noise[i]);
        }

        FadeEdges(y, Math.Min(attack, (int)(0.005 * sampleRate)));
        NormalizePeak(y, loudness);
        return y;
    }

    /// <summary>
    /// A guitar note by the Karplus-Strong plucked-string model: one period of filtered noise circulates in a
    /// delay line whose loop holds a linear-phase damping filter (high partials die first) and an all-pass
    /// fractional delay that tunes the string exactly. The pluck is shaped by a brightness low-pass and a
    /// pluck-position comb. The string rings for the whole clip and is damped in the last 10 ms.
    /// </summary>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length of the returned clip in seconds.</param>
    /// <param name="rng">Source of the performance details; seed it for reproducible audio.</param>
    /// <param name="loudness">Peak amplitude of the result, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples, exactly round(seconds * sampleRate) long.</returns>
    public static float[] Guitar(double midiNote, double seconds, Random rng, float loudness = DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(rng);
        // The string's delay line needs at least two samples per period, so the top note is lower than for the others.
        int n = CheckNote(midiNote, seconds, loudness, sampleRate, highestPartialRatio: 1.6);
        double f0 = Pitch.MidiToHz(midiNote);

        // The loop filter acts once per period, so the same coefficient would dull high notes f0^3 times faster
        // per second; scaling it by (110 Hz / f0)^2 leaves high notes bright the way real strings are.
        double damping = Math.Clamp(Uniform(rng, 0.05, 0.2) * Math.Pow(110 / f0, 2), 0.001, 0.25);
        double t60 = Math.Clamp(Uniform(rng, 2.5, 5.0) * Math.Pow(220 / f0, 0.4), 0.8, 8.0);
        double brightness = Uniform(rng, 0.4, 0.9);
        double position = Uniform(rng, 0.1, 0.3);

        // Loop delay P = L (delay line) + 1 (the symmetric 3-tap filter) + d (all-pass), with d in [0.1, 1.1).
        double period = sampleRate / f0;
        int length = (int)Math.Floor(period - 1.1);
        double fraction = period - 1 - length;
        double omega = 2 * Math.PI * f0 / sampleRate;
        double c = AllPassCoefficient(fraction, omega);
        double filterGain = 1 - 2 * damping + 2 * damping * Math.Cos(omega);
        double rho = Math.Min(0.99999, Math.Pow(0.001, 1 / (t60 * f0)) / filterGain);

        // Excitation: one period of noise, darkened by the pick and notched by where it plucks the string.
        float[] excitation = WhiteNoise(rng, length);
        OnePoleLowPass(excitation, 1 - brightness);
        int notch = Math.Max(1, (int)Math.Round(position * length));
        var plucked = new float[length];
        for (int i = 0; i < length; i++)
        {
            plucked[i] = excitation[i] - (i >= notch ? excitation[i - notch] : 0);
        }

        float mean = plucked.Average();
        for (int i = 0; i < length; i++)
        {
            plucked[i] -= mean;
        }

        var y = new float[n];
        double u1 = 0, u2 = 0, v1 = 0, w1 = 0;
        for (int i = 0; i < n; i++)
        {
            double u = i >= length ? y[i - length] : 0;
            double v = damping * u + (1 - 2 * damping) * u1 + damping * u2;
            double w = c * v + v1 - c * w1;
            u2 = u1;
            u1 = u;
            v1 = v;
            w1 = w;
            y[i] = (float)((i < length ? plucked[i] : 0) + rho * w);
        }

        // A player's finger stops the string at the end of the note.
        int stop = Math.Min(n, (int)(0.01 * sampleRate));
        for (int i = 0; i < stop; i++)
        {
            y[n - 1 - i] *= (float)(0.5 - 0.5 * Math.Cos(Math.PI * (i + 0.5) / stop));
        }

        FadeEdges(y, Math.Min(n / 2, (int)(0.0005 * sampleRate) + 1));
        NormalizePeak(y, loudness);
        return y;
    }

    /// <summary>
    /// A violin note: a bowed string's sawtooth-like spectrum (harmonic k at 1/k) shaped by the body's resonances,
    /// a slow bowed attack, wide vibrato after the start and a little bow noise.
    /// </summary>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length of the returned clip in seconds.</param>
    /// <param name="rng">Source of the performance details; seed it for reproducible audio.</param>
    /// <param name="loudness">Peak amplitude of the result, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples, exactly round(seconds * sampleRate) long.</returns>
    public static float[] Violin(double midiNote, double seconds, Random rng, float loudness = DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int n = CheckNote(midiNote, seconds, loudness, sampleRate, highestPartialRatio: 1.05);
        double f0 = Pitch.MidiToHz(midiNote);

        static double Body(double hz) =>
            (0.4 + Math.Exp(-Math.Pow((hz - 290) / 90, 2)) + 0.6 * Math.Exp(-Math.Pow((hz - 500) / 150, 2))
             + 1.2 * Math.Exp(-Math.Pow((hz - 2700) / 800, 2))) / (1 + Math.Pow(hz / 5000, 4));

        double maxHz = Math.Min(8000, sampleRate * 0.45);
        int count = Math.Max(1, (int)(maxHz / (f0 * 1.03)));
        var amps = new double[count];
        var phases = new double[count];
        for (int k = 0; k < count; k++)
        {
            amps[k] = Body((k + 1) * f0) / (k + 1);
            phases[k] = Uniform(rng, 0, 2 * Math.PI);
        }

        int attack = (int)(Uniform(rng, 0.08, 0.2) * sampleRate);
        int release = (int)(Uniform(rng, 0.08, 0.15) * sampleRate);
        double[] freq = VibratoFrequency(
            n, f0, Uniform(rng, 5, 7), Uniform(rng, 15, 35), Uniform(rng, 0.1, 0.3), 0.25, Uniform(rng, 0, 2 * Math.PI), sampleRate);
        float[] y = Harmonics(freq, amps, phases, maxHz, sampleRate);
        float[] env = AttackRelease(n, attack, release);

        float[] bow = WhiteNoise(rng, n);
        BandPass(bow, Uniform(rng, 1500, 3500), 0.8, sampleRate);
        double bowGain = Uniform(rng, 0.01, 0.03) * Rms(y) / Math.Max(Rms(bow), 1e-12);
        for (int i = 0; i < n; i++)
        {
            y[i] = env[i] * (y[i] + (float)(bowGain * bow[i]));
        }

        NormalizePeak(y, loudness);
        return y;
    }

    /// <summary>
    /// A clarinet note: the closed-pipe spectrum (odd harmonics strong, even harmonics weak in the low register),
    /// a quick tongued attack, a little breath noise and no vibrato.
    /// </summary>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length of the returned clip in seconds.</param>
    /// <param name="rng">Source of the performance details; seed it for reproducible audio.</param>
    /// <param name="loudness">Peak amplitude of the result, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples, exactly round(seconds * sampleRate) long.</returns>
    public static float[] Clarinet(double midiNote, double seconds, Random rng, float loudness = DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int n = CheckNote(midiNote, seconds, loudness, sampleRate);
        double f0 = Pitch.MidiToHz(midiNote);

        double maxHz = Math.Min(7000, sampleRate * 0.45);
        int count = Math.Max(1, (int)(maxHz / f0));
        double evenWeak = Uniform(rng, 0.03, 0.08);
        var amps = new double[count];
        var phases = new double[count];
        for (int k = 0; k < count; k++)
        {
            int harmonic = k + 1;
            double hz = harmonic * f0;
            double weight = harmonic % 2 == 1 ? 1 : hz < 1500 ? evenWeak : 0.5;
            amps[k] = weight / harmonic / (1 + Math.Pow(hz / 3000, 2));
            phases[k] = Uniform(rng, 0, 2 * Math.PI);
        }

        int attack = (int)(Uniform(rng, 0.03, 0.07) * sampleRate);
        int release = (int)(Uniform(rng, 0.05, 0.1) * sampleRate);
        var freq = new double[n];
        Array.Fill(freq, f0);
        float[] y = Harmonics(freq, amps, phases, maxHz, sampleRate);
        float[] env = AttackRelease(n, attack, release);

        float[] breath = WhiteNoise(rng, n);
        BandPass(breath, 2.0 * f0, 3, sampleRate);
        double breathGain = Uniform(rng, 0.01, 0.02) * Rms(y) / Math.Max(Rms(breath), 1e-12);
        for (int i = 0; i < n; i++)
        {
            y[i] = env[i] * (y[i] + (float)(breathGain * breath[i]));
        }

        NormalizePeak(y, loudness);
        return y;
    }

    /// <summary>
    /// A marimba note: a struck bar whose modes sit near 1, 4 and 10 times the fundamental (tuned bar ratios
    /// 1 : 3.93 : 9.23), each decaying exponentially, the upper ones much faster, plus a short mallet thump.
    /// </summary>
    /// <param name="midiNote">Pitch as a MIDI note number (69 = A4 = 440 Hz; fractional values allowed).</param>
    /// <param name="seconds">Length of the returned clip in seconds.</param>
    /// <param name="rng">Source of the performance details; seed it for reproducible audio.</param>
    /// <param name="loudness">Peak amplitude of the result, in (0, 1].</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <returns>Mono samples, exactly round(seconds * sampleRate) long.</returns>
    public static float[] Marimba(double midiNote, double seconds, Random rng, float loudness = DefaultLoudness, int sampleRate = Pitch.DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int n = CheckNote(midiNote, seconds, loudness, sampleRate);
        double f0 = Pitch.MidiToHz(midiNote);

        double[] ratios = [1, 3.93, 9.23];
        double[] amps = [1, Uniform(rng, 0.3, 0.6), Uniform(rng, 0.1, 0.25)];
        double t60 = Math.Clamp(Uniform(rng, 0.6, 1.5) * Math.Sqrt(262 / f0), 0.2, 3);
        double[] t60s = [t60, t60 / Uniform(rng, 3, 6), t60 / Uniform(rng, 4, 8)];
        var y = new float[n];
        for (int m = 0; m < ratios.Length; m++)
        {
            double hz = f0 * ratios[m];
            if (hz >= sampleRate * 0.45)
            {
                continue;
            }

            double phase0 = Uniform(rng, 0, 2 * Math.PI);
            double decayPerSample = Math.Log(1000) / (t60s[m] * sampleRate);
            for (int i = 0; i < n; i++)
            {
                y[i] += (float)(amps[m] * Math.Exp(-decayPerSample * i) * Math.Sin(2 * Math.PI * hz * i / sampleRate + phase0));
            }
        }

        int thump = Math.Min(n, (int)(0.005 * sampleRate));
        float[] mallet = WhiteNoise(rng, thump);
        OnePoleLowPass(mallet, 0.7);
        for (int i = 0; i < thump; i++)
        {
            y[i] += 0.3f * mallet[i] * (1 - (float)i / thump);
        }

        FadeEdges(y, Math.Min(n / 2, (int)(0.001 * sampleRate) + 1));
        NormalizePeak(y, loudness);
        return y;
    }
}
