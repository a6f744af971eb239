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

        var run = new Incremental(this, outLength);
        run.Finish(input, 0, input.Length);
        return run.Output;
    }

    /// <summary>Starts a resampling whose input arrives in pieces (see <see cref="Incremental"/>).</summary>
    /// <param name="expectedOutput">Output samples to allocate up front (the expected length, when known).</param>
    public Incremental Start(long expectedOutput) => new(this, expectedOutput);

    /// <summary>
    /// Resampling of a signal that arrives in pieces: <see cref="Emit"/> computes every output sample whose filter window
    /// lies inside the input seen so far, <see cref="Finish"/> the rest once the input's length is known. Each output
    /// sample is the same dot product over the same input values as in <see cref="Process"/>, so the result is
    /// bit-identical to resampling the whole signal at once, while the caller keeps only the input from
    /// <see cref="FirstNeeded"/> on.
    /// </summary>
    public sealed class Incremental
    {
        private readonly Resampler _r;
        private readonly float[] _edge;
        private float[] _output;
        private long _outputStart; // absolute index of _output[0]: above 0 once output was drained to a sink
        private long _count;
        private long _baseIndex;
        private long _rem;

        internal Incremental(Resampler resampler, long expectedOutput)
        {
            _r = resampler;
            _edge = new float[resampler._taps];
            _output = new float[Math.Clamp(expectedOutput, 0, Array.MaxLength)];
        }

        /// <summary>Output samples computed so far.</summary>
        public long Count => _count;

        /// <summary>The output, trimmed to <see cref="Count"/> (valid after <see cref="Finish"/>, when nothing was <see cref="Drain"/>ed).</summary>
        public float[] Output => _outputStart != 0
            ? throw new InvalidOperationException("The output was drained to a sink; it is not held.")
            : _count == _output.Length ? _output : _output.AsSpan(0, (int)_count).ToArray();

        /// <summary>
        /// Hands the output computed since the last call to <paramref name="sink"/> and forgets it, so the output buffer
        /// stays as small as what one <see cref="Emit"/> computes.
        /// </summary>
        public void Drain(ISampleSink sink)
        {
            int n = (int)(_count - _outputStart);
            if (n > 0)
            {
                sink.Append(_output.AsSpan(0, n));
                _outputStart = _count;
            }
        }

        /// <summary>The first input index the next output sample reads (earlier input may be dropped); may be negative at the start.</summary>
        public long FirstNeeded => NextBase() - _r._half + 1;

        /// <summary>The last input index any output computed so far has read, plus one.</summary>
        public long Consumed { get; private set; }

        /// <summary>
        /// Computes the output samples whose whole window lies before <paramref name="safeEnd"/> (absolute input index):
        /// <paramref name="buffer"/> holds input samples <paramref name="bufferStart"/> onwards.
        /// </summary>
        /// <param name="buffer">Input samples from <paramref name="bufferStart"/> on (at least up to <paramref name="safeEnd"/>).</param>
        /// <param name="bufferStart">Absolute index of buffer[0]; at most <see cref="FirstNeeded"/> (or 0).</param>
        /// <param name="safeEnd">Input before this index is final.</param>
        /// <param name="grow">Called when the output must grow, with the length it will reach (limits are checked there).</param>
        public void Emit(ReadOnlySpan<float> buffer, long bufferStart, long safeEnd, Action<long>? grow = null)
        {
            while (true)
            {
                if (NextBase() - _r._half + 1 + _r._taps > safeEnd)
                {
                    return;
                }

                Append(Compute(buffer, bufferStart, long.MaxValue), grow);
            }
        }

        /// <summary>Computes the remaining output for an input of <paramref name="inputLength"/> samples (silence beyond it).</summary>
        public void Finish(ReadOnlySpan<float> buffer, long bufferStart, long inputLength, Action<long>? grow = null)
        {
            long outLength = _r.OutputLength(inputLength);
            while (_count < outLength)
            {
                Append(Compute(buffer, bufferStart, inputLength), grow);
            }
        }

        /// <summary>The input index at the centre of the next output's window.</summary>
        private long NextBase() => Next().Base;

        /// <summary>The next output's window centre and filter phase; a phase that rounds up to a whole sample moves the centre on.</summary>
        private (long Base, int Phase) Next()
        {
            bool exact = _r._phases == _r._up;
            int phase = exact ? (int)_rem : (int)(((_rem * _r._phases) + (_r._up / 2)) / _r._up);
            return phase == _r._phases ? (_baseIndex + 1, 0) : (_baseIndex, phase);
        }

        private float Compute(ReadOnlySpan<float> buffer, long bufferStart, long inputLength)
        {
            var r = _r;
            var (b, phase) = Next();
            long first = b - r._half + 1;
            long end = Math.Min(inputLength, bufferStart + buffer.Length);
            ReadOnlySpan<float> window;
            if (first >= bufferStart && first + r._taps <= end)
            {
                window = buffer.Slice((int)(first - bufferStart), r._taps);
            }
            else
            {
                // Windows that overhang either end of the signal: silence there.
                Array.Clear(_edge);
                long from = Math.Max(Math.Max(0, bufferStart), first), to = Math.Min(end, first + r._taps);
                if (to > from)
                {
                    buffer[(int)(from - bufferStart)..(int)(to - bufferStart)].CopyTo(_edge.AsSpan((int)(from - first)));
                }

                window = _edge;
            }

            Consumed = Math.Max(Consumed, first + r._taps);
            float value = TensorPrimitives.Dot(window, r._table.AsSpan(phase * r._taps, r._taps));

            // Output n sits at input time n * M / L = baseIndex + rem / L; step both without dividing per sample.
            _baseIndex += r._down / r._up;
            _rem += r._down % r._up;
            if (_rem >= r._up)
            {
                _rem -= r._up;
                _baseIndex++;
            }

            return value;
        }

        private void Append(float value, Action<long>? grow)
        {
            long held = _count - _outputStart;
            if (held == _output.Length)
            {
                long next = Math.Min(Array.MaxLength, Math.Max(held + 1, Math.Max(1024, held * 2)));
                if (next == held)
                {
                    throw new InvalidOperationException($"Resampling to {_r.ToRate} Hz gives more samples than one array holds.");
                }

                grow?.Invoke(_count + 1);
                Array.Resize(ref _output, (int)next);
            }

            _output[held] = value;
            _count++;
        }
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
