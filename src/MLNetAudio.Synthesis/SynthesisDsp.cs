using System.Numerics;

namespace MLNetAudio.Synthesis;

/// <summary>
/// Small signal-processing pieces the instruments are built from (envelopes, filters, noise, normalisation).
/// Written by hand because they are a few lines each and must be bit-for-bit deterministic for a given seed;
/// NWaves has filters, but pulling its filter objects in for one biquad would add nothing.
/// </summary>
internal static class SynthesisDsp
{
    /// <summary>Throws unless the note can be rendered: positive finite duration, loudness in (0, 1], pitch below Nyquist.</summary>
    public static int CheckNote(double midiNote, double seconds, float loudness, int sampleRate, double highestPartialRatio = 1.0)
    {
        if (sampleRate < 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "The sample rate must be at least 1000 Hz (22050 is the default).");
        }

        if (!double.IsFinite(midiNote) || midiNote < 0 || midiNote > 127)
        {
            throw new ArgumentOutOfRangeException(nameof(midiNote), midiNote, "The MIDI note must be between 0 and 127 (60 = middle C, 69 = A4 = 440 Hz).");
        }

        double hz = Pitch.MidiToHz(midiNote) * highestPartialRatio;
        if (hz >= sampleRate * 0.45)
        {
            throw new ArgumentOutOfRangeException(
                nameof(midiNote), midiNote,
                $"MIDI note {midiNote} ({Pitch.MidiToHz(midiNote):F1} Hz) is too high for {sampleRate} Hz audio; keep it below {sampleRate * 0.45 / highestPartialRatio:F0} Hz or raise the sample rate.");
        }

        if (!double.IsFinite(seconds) || seconds <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "The duration must be a positive number of seconds.");
        }

        if (!float.IsFinite(loudness) || loudness <= 0 || loudness > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(loudness), loudness, "The loudness is the peak amplitude and must be in (0, 1].");
        }

        int n = Pitch.SecondsToSamples(seconds, sampleRate);
        if (n < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"{seconds} s is shorter than one sample at {sampleRate} Hz.");
        }

        return n;
    }

    /// <summary>A uniform draw in [<paramref name="lo"/>, <paramref name="hi"/>).</summary>
    public static double Uniform(Random rng, double lo, double hi) => lo + (hi - lo) * rng.NextDouble();

    /// <summary>White noise, uniform in [-1, 1).</summary>
    public static float[] WhiteNoise(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(2 * rng.NextDouble() - 1);
        }

        return x;
    }

    /// <summary>
    /// Attack-sustain-release envelope: raised-cosine rise over <paramref name="attack"/> samples and fall over
    /// <paramref name="release"/> samples (shortened proportionally when the note is too short for both).
    /// </summary>
    public static float[] AttackRelease(int n, int attack, int release)
    {
        if (attack + release > n)
        {
            double scale = (double)n / Math.Max(1, attack + release);
            attack = (int)(attack * scale);
            release = (int)(release * scale);
        }

        var env = new float[n];
        for (int i = 0; i < n; i++)
        {
            double e = 1;
            if (i < attack)
            {
                e = 0.5 - 0.5 * Math.Cos(Math.PI * (i + 0.5) / attack);
            }

            int fromEnd = n - 1 - i;
            if (fromEnd < release)
            {
                e *= 0.5 - 0.5 * Math.Cos(Math.PI * (fromEnd + 0.5) / release);
            }

            env[i] = (float)e;
        }

        return env;
    }

    /// <summary>Multiplies the first and last <paramref name="fade"/> samples by a raised-cosine ramp so a clip starts and ends at zero without a click.</summary>
    public static void FadeEdges(float[] x, int fade)
    {
        fade = Math.Min(fade, x.Length / 2);
        for (int i = 0; i < fade; i++)
        {
            float g = (float)(0.5 - 0.5 * Math.Cos(Math.PI * (i + 0.5) / fade));
            x[i] *= g;
            x[x.Length - 1 - i] *= g;
        }
    }

    /// <summary>Scales <paramref name="x"/> so that its largest absolute value is <paramref name="peak"/> (silence stays silence).</summary>
    public static void NormalizePeak(float[] x, float peak)
    {
        float max = 0;
        foreach (float v in x)
        {
            max = Math.Max(max, Math.Abs(v));
        }

        if (max > 0)
        {
            float g = peak / max;
            for (int i = 0; i < x.Length; i++)
            {
                x[i] *= g;
            }
        }
    }

    /// <summary>Root mean square of <paramref name="x"/>.</summary>
    public static double Rms(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x)
        {
            s += (double)v * v;
        }

        return x.Length == 0 ? 0 : Math.Sqrt(s / x.Length);
    }

    /// <summary>
    /// RBJ-cookbook band-pass biquad (constant 0 dB peak gain) applied in place: keeps noise near
    /// <paramref name="centerHz"/> with bandwidth about centerHz / <paramref name="q"/>.
    /// </summary>
    public static void BandPass(float[] x, double centerHz, double q, int sampleRate)
    {
        double w0 = 2 * Math.PI * Math.Min(centerHz, sampleRate * 0.45) / sampleRate;
        double alpha = Math.Sin(w0) / (2 * q);
        double a0 = 1 + alpha;
        double b0 = alpha / a0, b2 = -alpha / a0;
        double a1 = -2 * Math.Cos(w0) / a0, a2 = (1 - alpha) / a0;
        double x1 = 0, x2 = 0, y1 = 0, y2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double xi = x[i];
            double y = b0 * xi + b2 * x2 - a1 * y1 - a2 * y2;
            x2 = x1;
            x1 = xi;
            y2 = y1;
            y1 = y;
            x[i] = (float)y;
        }
    }

    /// <summary>One-pole low-pass in place: y[n] = (1 - p) x[n] + p y[n-1]; larger <paramref name="pole"/> is darker.</summary>
    public static void OnePoleLowPass(float[] x, double pole)
    {
        double y = 0;
        for (int i = 0; i < x.Length; i++)
        {
            y = (1 - pole) * x[i] + pole * y;
            x[i] = (float)y;
        }
    }

    /// <summary>
    /// Coefficient C of the first-order all-pass (C + z^-1) / (1 + C z^-1) whose phase delay at angular frequency
    /// <paramref name="omega"/> (radians per sample) equals <paramref name="delay"/> samples (0 &lt; delay &lt; 2).
    /// Solved exactly by bisection instead of the usual low-frequency approximation (1 - d) / (1 + d), so high
    /// plucked notes are tuned to within a fraction of a cent.
    /// </summary>
    public static double AllPassCoefficient(double delay, double omega)
    {
        static double PhaseDelay(double c, double w)
        {
            var z1 = Complex.FromPolarCoordinates(1, -w);
            Complex h = (c + z1) / (1 + c * z1);
            return -Math.Atan2(h.Imaginary, h.Real) / w;
        }

        // The phase delay falls monotonically as C rises from -1 to 1.
        double lo = -0.9999, hi = 0.9999;
        for (int i = 0; i < 60; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (PhaseDelay(mid, omega) > delay)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return 0.5 * (lo + hi);
    }

    /// <summary>
    /// Instantaneous frequency (Hz) of a note at <paramref name="baseHz"/> with sinusoidal vibrato of
    /// <paramref name="depthCents"/> at <paramref name="rateHz"/>, fading in after <paramref name="delaySeconds"/>
    /// over <paramref name="rampSeconds"/> (players start a note straight and then add vibrato).
    /// </summary>
    public static double[] VibratoFrequency(int n, double baseHz, double rateHz, double depthCents, double delaySeconds, double rampSeconds, double phase, int sampleRate)
    {
        var f = new double[n];
        for (int i = 0; i < n; i++)
        {
            double t = (double)i / sampleRate;
            double ramp = Math.Clamp((t - delaySeconds) / Math.Max(rampSeconds, 1e-6), 0, 1);
            double cents = depthCents * ramp * Math.Sin(2 * Math.PI * rateHz * t + phase);
            f[i] = baseHz * Math.Pow(2, cents / 1200);
        }

        return f;
    }

    /// <summary>
    /// Additive synthesis: the sum over k of amplitudes[k] * sin(k * phase + phases[k]), where phase integrates
    /// <paramref name="frequency"/> and partial k sits at (k + 1) times the fundamental. Partials at or above
    /// <paramref name="maxHz"/> are left out so nothing aliases.
    /// </summary>
    public static float[] Harmonics(double[] frequency, double[] amplitudes, double[] phases, double maxHz, int sampleRate)
    {
        int n = frequency.Length;
        var y = new float[n];
        double phase = 0;
        double peakHz = frequency.Length == 0 ? 0 : frequency.Max();
        int count = 0;
        while (count < amplitudes.Length && (count + 1) * peakHz < maxHz)
        {
            count++;
        }

        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int k = 0; k < count; k++)
            {
                s += amplitudes[k] * Math.Sin((k + 1) * phase + phases[k]);
            }

            y[i] = (float)s;
            phase += 2 * Math.PI * frequency[i] / sampleRate;
            if (phase > 2 * Math.PI)
            {
                // Wrapping keeps (k + 1) * phase small, so high partials keep full double precision.
                phase -= 2 * Math.PI;
            }
        }

        return y;
    }
}
