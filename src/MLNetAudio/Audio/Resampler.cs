using System.Numerics.Tensors;

namespace MLNetAudio.Audio;

/// <summary>
/// Band-limited sample-rate conversion between any two integer rates: a polyphase Kaiser-windowed sinc filter whose
/// cut-off sits just below the lower of the two Nyquist frequencies, so downsampling suppresses aliasing and
/// upsampling suppresses images.
/// </summary>
/// <remarks>
/// Written by hand instead of calling NWaves' <c>Resampler.Resample</c> because that one evaluates a cosine and a sine
/// per tap per output sample (about 60 transcendental calls per sample, which would dominate loading time), and its
/// anti-aliasing filter is a fixed 101-tap FIR whose transition band straddles the new Nyquist frequency. Here the
/// filter is tabulated once per rate pair: for rates whose ratio reduces to L/M with L ≤ <see cref="MaxPhases"/>
/// (every common audio rate pair) each output sample uses the exact phase; otherwise the nearest of
/// <see cref="MaxPhases"/> phases (timing error under 1/8192 of a sample). Each phase's taps are normalised to sum
/// to one, so a constant signal passes unchanged. Parameters: cut-off at 0.92 of the lower Nyquist frequency,
/// 16 zero crossings each side, Kaiser β = 8 (stop band about 80 dB down).
/// </remarks>
internal sealed class Resampler
{
    /// <summary>Phase table size limit: beyond it, phases are quantised to this many.</summary>
    public const int MaxPhases = 4096;

    private const double Rolloff = 0.92;
    private const int ZeroCrossings = 16;
    private const double KaiserBeta = 8.0;

    // Least recently used first; at most AudioLimits.MaxCachedResamplers tables, so the cache cannot grow with the
    // rates files claim.
    private static readonly LinkedList<Resampler> Cache = [];

    private readonly long _up;    // L: output samples per M input samples
    private readonly long _down;  // M
    private readonly int _phases;
    private readonly int _taps;   // 2 * H
    private readonly int _half;   // H: taps on each side of the output instant
    private readonly float[] _table; // _phases rows of _taps coefficients

    private Resampler(int fromRate, int toRate)
    {
        FromRate = fromRate;
        ToRate = toRate;
        long g = Gcd(fromRate, toRate);
        _up = toRate / g;
        _down = fromRate / g;

        // Cut-off as a fraction of the input rate, and the filter's half length in input samples.
        double cutoff = Rolloff * 0.5 * Math.Min(1.0, (double)toRate / fromRate);
        double halfWidth = ZeroCrossings / (2 * cutoff);
        _half = (int)Math.Ceiling(halfWidth);
        _taps = 2 * _half;

        // Long filters (steep down-sampling) get fewer phases so the table stays under its limit; the timing error
        // that costs is under 1/(2 * phases) of an input sample, far below the output's own sample period there.
        _phases = (int)Math.Min(Math.Min(_up, MaxPhases), Math.Max(1, AudioLimits.MaxResamplerTableFloats / _taps));
        _table = new float[_phases * _taps];
        double i0Beta = BesselI0(KaiserBeta);
        for (int p = 0; p < _phases; p++)
        {
            double frac = (double)p / _phases;
            var row = _table.AsSpan(p * _taps, _taps);
            double sum = 0;
            for (int k = 0; k < _taps; k++)
            {
                // Tap k weighs input sample (base - H + 1 + k); t is its distance from the output instant.
                double t = frac + _half - 1 - k;
                double h = 0;
                if (Math.Abs(t) < halfWidth)
                {
                    double r = t / halfWidth;
                    double window = BesselI0(KaiserBeta * Math.Sqrt(1 - (r * r))) / i0Beta;
                    double x = 2 * cutoff * t;
                    double sinc = x == 0 ? 1 : Math.Sin(Math.PI * x) / (Math.PI * x);
                    h = 2 * cutoff * sinc * window;
                }

                row[k] = (float)h;
                sum += h;
            }

            for (int k = 0; k < _taps; k++)
            {
                row[k] = (float)(row[k] / sum);
            }
        }
    }

    /// <summary>The rate of the input samples.</summary>
    public int FromRate { get; }

    /// <summary>The rate of the output samples.</summary>
    public int ToRate { get; }

    /// <summary>Filter coefficients this resampler holds (phases times taps).</summary>
    internal int TableLength => _table.Length;

    /// <summary>Resamplers currently cached (tests check the cache stays bounded).</summary>
    internal static int CachedCount
    {
        get
        {
            lock (Cache)
            {
                return Cache.Count;
            }
        }
    }

    /// <summary>
    /// Returns the (shared, immutable) resampler for a rate pair, both within <see cref="AudioLimits"/>' rates; its
    /// filter table is built once and kept while it is among the <see cref="AudioLimits.MaxCachedResamplers"/> most
    /// recently used.
    /// </summary>
    public static Resampler For(int fromRate, int toRate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromRate, AudioLimits.MinSampleRate);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fromRate, AudioLimits.MaxSampleRate);
        ArgumentOutOfRangeException.ThrowIfLessThan(toRate, AudioLimits.MinSampleRate);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(toRate, AudioLimits.MaxSampleRate);
        lock (Cache)
        {
            for (var node = Cache.First; node is not null; node = node.Next)
            {
                if (node.Value.FromRate == fromRate && node.Value.ToRate == toRate)
                {
                    Cache.Remove(node);
                    Cache.AddLast(node);
                    return node.Value;
                }
            }
        }

        var r = new Resampler(fromRate, toRate); // built outside the lock: a large table takes milliseconds
        lock (Cache)
        {
            Cache.AddLast(r);
            while (Cache.Count > AudioLimits.MaxCachedResamplers)
            {
                Cache.RemoveFirst();
            }
        }

        return r;
    }

    /// <summary>Resamples <paramref name="input"/> from <paramref name="fromRate"/> to <paramref name="toRate"/>.</summary>
    public static float[] Resample(ReadOnlySpan<float> input, int fromRate, int toRate) =>
        fromRate == toRate ? input.ToArray() : For(fromRate, toRate).Process(input);

    /// <summary>Number of output samples for <paramref name="inputLength"/> input samples: the same duration, rounded.</summary>
    public long OutputLength(long inputLength) => ((inputLength * _up) + (_down / 2)) / _down;

    /// <summary>Resamples a whole signal (samples before the start and after the end count as silence).</summary>
    public float[] Process(ReadOnlySpan<float> input)
    {
        long outLength = OutputLength(input.Length);
        if (outLength > Array.MaxLength)
        {
            throw new ArgumentException($"Resampling {input.Length} samples from {FromRate} Hz to {ToRate} Hz gives more samples than one array holds.", nameof(input));
        }

        var output = new float[outLength];
        var edge = new float[_taps]; // windows that overhang either end, padded with silence
        var table = _table.AsSpan();

        // Output n sits at input time n * M / L = baseIndex + rem / L; step both without dividing per sample.
        long stepWhole = _down / _up, stepRem = _down % _up;
        long baseIndex = 0, rem = 0;
        bool exact = _phases == _up;
        for (long n = 0; n < outLength; n++)
        {
            long b = baseIndex;
            int phase = exact ? (int)rem : (int)(((rem * _phases) + (_up / 2)) / _up);
            if (phase == _phases)
            {
                phase = 0;
                b++;
            }

            long first = b - _half + 1;
            ReadOnlySpan<float> window;
            if (first >= 0 && first + _taps <= input.Length)
            {
                window = input.Slice((int)first, _taps);
            }
            else
            {
                Array.Clear(edge);
                long from = Math.Max(0, first), to = Math.Min(input.Length, first + _taps);
                if (to > from)
                {
                    input[(int)from..(int)to].CopyTo(edge.AsSpan((int)(from - first)));
                }

                window = edge;
            }

            output[n] = TensorPrimitives.Dot(window, table.Slice(phase * _taps, _taps));

            baseIndex += stepWhole;
            rem += stepRem;
            if (rem >= _up)
            {
                rem -= _up;
                baseIndex++;
            }
        }

        return output;
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    // Zeroth-order modified Bessel function of the first kind, by its power series (converges fast for β ≤ 20).
    private static double BesselI0(double x)
    {
        double sum = 1, term = 1, q = x * x / 4;
        for (int k = 1; k < 50; k++)
        {
            term *= q / (k * k);
            sum += term;
            if (term < sum * 1e-17)
            {
                break;
            }
        }

        return sum;
    }
}
