using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MLNetAudio.Features;

/// <summary>
/// The immutable tables of one feature definition (window, FFT twiddles, mel filter bank, DCT), shared by every
/// cursor. Per-cursor buffers live in <see cref="SpectralExtractor"/>.
/// </summary>
internal sealed class SpectralDefinition
{
    public SpectralDefinition(
        int sampleRate,
        int fftSize,
        int windowLength,
        int hopLength,
        bool center,
        SpectrogramPadMode padMode,
        AudioFeatureKind kind,
        int melBands,
        double minFrequency,
        double maxFrequency,
        MelScale melScale,
        MelNorm melNorm,
        int mfccCount,
        double amin,
        double? topDb)
    {
        SampleRate = sampleRate;
        FftSize = fftSize;
        HopLength = hopLength;
        Center = center;
        PadMode = padMode;
        Kind = kind;
        MelBands = melBands;
        Amin = (float)amin;
        TopDb = topDb;
        Bins = (fftSize / 2) + 1;
        Coefficients = kind switch
        {
            AudioFeatureKind.Mfcc => mfccCount,
            AudioFeatureKind.LogMel => melBands,
            _ => Bins,
        };

        // Periodic Hann of windowLength, centred in fftSize (torch.stft's placement of a shorter window).
        Window = new float[fftSize];
        int left = (fftSize - windowLength) / 2;
        for (int n = 0; n < windowLength; n++)
        {
            Window[left + n] = (float)(0.5 - (0.5 * Math.Cos(2 * Math.PI * n / windowLength)));
        }

        IsPowerOfTwo = BitOperations.IsPow2(fftSize);
        if (IsPowerOfTwo)
        {
            int bits = BitOperations.Log2((uint)fftSize);
            BitReverse = new int[fftSize];
            for (int i = 0; i < fftSize; i++)
            {
                BitReverse[i] = (int)(ReverseBits((uint)i) >> (32 - bits));
            }

        }
        else
        {
            BitReverse = [];
        }

        // Twiddles e^{-2 pi i m / N}: the FFT indexes them by k * (N / len), the direct DFT by (k * n) mod N.
        Cos = new float[fftSize];
        Sin = new float[fftSize];
        for (int m = 0; m < fftSize; m++)
        {
            Cos[m] = (float)Math.Cos(2 * Math.PI * m / fftSize);
            Sin[m] = (float)Math.Sin(2 * Math.PI * m / fftSize);
        }

        if (kind != AudioFeatureKind.PowerSpectrogram)
        {
            (MelStart, MelWeights) = BuildMelBank(sampleRate, fftSize, melBands, minFrequency, maxFrequency, melScale, melNorm);
        }
        else
        {
            MelStart = [];
            MelWeights = [];
        }

        Dct = kind == AudioFeatureKind.Mfcc ? BuildDct(mfccCount, melBands) : [];
    }

    public int SampleRate { get; }

    public int FftSize { get; }

    public int HopLength { get; }

    public bool Center { get; }

    public SpectrogramPadMode PadMode { get; }

    public AudioFeatureKind Kind { get; }

    public int MelBands { get; }

    public float Amin { get; }

    public double? TopDb { get; }

    /// <summary>One-sided spectrum size, <c>FftSize / 2 + 1</c>.</summary>
    public int Bins { get; }

    /// <summary>Values per frame in the output.</summary>
    public int Coefficients { get; }

    public float[] Window { get; }

    public bool IsPowerOfTwo { get; }

    public int[] BitReverse { get; }

    public float[] Cos { get; }

    public float[] Sin { get; }

    /// <summary>For band m, its non-zero weights cover bins MelStart[m] .. MelStart[m] + MelWeights[m].Length - 1.</summary>
    public int[] MelStart { get; }

    public float[][] MelWeights { get; }

    /// <summary>Row-major [coefficient, band] DCT-II (orthonormal) matrix.</summary>
    public float[] Dct { get; }

    /// <summary>The number of frames torch.stft (and librosa) produce for <paramref name="samples"/> samples.</summary>
    public int FrameCount(long samples)
    {
        if (Center)
        {
            return checked((int)(1 + (samples / HopLength)));
        }

        return samples < FftSize ? 0 : checked((int)(1 + ((samples - FftSize) / HopLength)));
    }

    private static uint ReverseBits(uint v)
    {
        v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
        v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
        v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
        v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
        return (v >> 16) | (v << 16);
    }

    internal static double HzToMel(double hz, MelScale scale)
    {
        if (scale == MelScale.Htk)
        {
            return 2595.0 * Math.Log10(1.0 + (hz / 700.0));
        }

        // Slaney (Auditory Toolbox): linear below 1 kHz, logarithmic above.
        const double fSp = 200.0 / 3;
        double mel = hz / fSp;
        if (hz >= 1000.0)
        {
            mel = 15.0 + (Math.Log(hz / 1000.0) / (Math.Log(6.4) / 27.0));
        }

        return mel;
    }

    internal static double MelToHz(double mel, MelScale scale)
    {
        if (scale == MelScale.Htk)
        {
            return 700.0 * (Math.Pow(10.0, mel / 2595.0) - 1.0);
        }

        const double fSp = 200.0 / 3;
        return mel >= 15.0 ? 1000.0 * Math.Exp(Math.Log(6.4) / 27.0 * (mel - 15.0)) : fSp * mel;
    }

    /// <summary>
    /// Triangular mel filters on the one-sided FFT bins, as librosa's <c>filters.mel</c> and torchaudio's
    /// <c>melscale_fbanks</c> define them (Slaney or HTK scale, Slaney or no norm, bin frequencies k * sr / N).
    /// Built here from those published formulas because the presets must reproduce both libraries' filters to
    /// 1e-3 (the parity tests check it); kept sparse (each filter touches a few bins) because a dense
    /// bins x bands product would cost more than the FFT.
    /// </summary>
    private static (int[] Start, float[][] Weights) BuildMelBank(
        int sampleRate, int fftSize, int bands, double fMin, double fMax, MelScale scale, MelNorm norm)
    {
        int bins = (fftSize / 2) + 1;
        double mMin = HzToMel(fMin, scale);
        double mMax = HzToMel(fMax, scale);
        var fPts = new double[bands + 2];
        for (int i = 0; i < fPts.Length; i++)
        {
            fPts[i] = MelToHz(mMin + ((mMax - mMin) * i / (bands + 1)), scale);
        }

        var start = new int[bands];
        var weights = new float[bands][];
        var dense = new double[bins];
        for (int m = 0; m < bands; m++)
        {
            int first = -1;
            int last = -1;
            double enorm = norm == MelNorm.Slaney ? 2.0 / (fPts[m + 2] - fPts[m]) : 1.0;
            for (int k = 0; k < bins; k++)
            {
                double f = k * (sampleRate / 2.0) / (bins - 1);
                double down = (f - fPts[m]) / (fPts[m + 1] - fPts[m]);
                double up = (fPts[m + 2] - f) / (fPts[m + 2] - fPts[m + 1]);
                double w = Math.Max(0.0, Math.Min(down, up)) * enorm;
                dense[k] = w;
                if (w > 0)
                {
                    if (first < 0)
                    {
                        first = k;
                    }

                    last = k;
                }
            }

            if (first < 0)
            {
                // An empty band (more bands than the FFT resolves): it stays at amin, as in librosa and torchaudio.
                start[m] = 0;
                weights[m] = [];
                continue;
            }

            start[m] = first;
            weights[m] = new float[last - first + 1];
            for (int k = first; k <= last; k++)
            {
                weights[m][k - first] = (float)dense[k];
            }
        }

        return (start, weights);
    }

    private static float[] BuildDct(int coefficients, int bands)
    {
        var dct = new float[coefficients * bands];
        double scale = Math.Sqrt(2.0 / bands);
        for (int c = 0; c < coefficients; c++)
        {
            double s = c == 0 ? scale / Math.Sqrt(2.0) : scale;
            for (int m = 0; m < bands; m++)
            {
                dct[(c * bands) + m] = (float)(Math.Cos(Math.PI / bands * (m + 0.5) * c) * s);
            }
        }

        return dct;
    }
}

/// <summary>
/// Per-cursor feature extraction: framing, window, FFT, power, sparse mel bank, dB with a song-wide top_db
/// clamp, DCT. Reuses its buffers from song to song; never shared between threads.
/// </summary>
/// <remarks>
/// Written by hand for speed: NWaves' <c>RealFft</c> takes about 30 us per 2048-point frame here and its
/// <c>MfccExtractor</c> ran 8-30 times slower than this class on the same settings (docs/benchmarks.md), below
/// torchaudio. The trick is to run one FFT on <see cref="Vector{T}.Count"/> frames at once, one frame per SIMD lane,
/// and to pack two real frames into one complex transform (one as the real part, one as the imaginary part), so
/// every step after framing — radix-2^2 butterflies (cache-blocked), power, sparse mel bank, log, clamp and DCT —
/// is plain lane-wise vector arithmetic; only framing transposes (8 x 8 AVX blocks where available).
/// FFT sizes that are not powers of two (torchaudio's 400) use a direct DFT, also lane-wise.
/// </remarks>
internal sealed class SpectralExtractor
{
    private static readonly int V = Vector<float>.Count;

    /// <summary>Points per cache block: 256 complex vectors of 8 floats take 16 KB, half a typical L1.</summary>
    private const int L1Block = 256;
    private readonly SpectralDefinition _d;
    private readonly Vector<float>[] _re;
    private readonly Vector<float>[] _im;
    private readonly Vector<float>[] _powA;
    private readonly Vector<float>[] _powB;
    private readonly Vector<float>[] _cep;

    // Mel dB of every frame so far (Mfcc and LogMel kinds), kept until the song's loudest band is known: the top_db
    // clamp is song-wide. Chunks of DbChunkHalves half-batches (V frames each) of MelBands vectors, so a long song
    // never needs one huge array, and growing never copies.
    private const int DbChunkHalves = 256;
    private const int DbChunksKept = 16;
    private readonly List<Vector<float>[]> _dbChunks = [];
    private float _maxDb;
    private int _batchesDone;

    // Streaming (BeginStream / StreamAppend / StreamFinish): the samples still needed, from _bufferStart on.
    private float[] _buffer = [];
    private long _bufferStart;
    private long _bufferEnd;
    private bool _streaming;

    public SpectralExtractor(SpectralDefinition definition)
    {
        _d = definition;
        _re = new Vector<float>[definition.FftSize];
        _im = new Vector<float>[definition.FftSize];
        _powA = new Vector<float>[definition.Bins];
        _powB = new Vector<float>[definition.Bins];
        _cep = definition.Kind == AudioFeatureKind.Mfcc ? new Vector<float>[definition.Coefficients] : [];
    }

    public SpectralDefinition Definition => _d;

    /// <summary>Whether this kind of feature can be computed from samples that arrive in pieces (mel kinds: the power spectrogram is written straight to the output).</summary>
    public bool CanStream => _d.Kind != AudioFeatureKind.PowerSpectrogram;

    /// <summary>Samples received since <see cref="BeginStream"/>.</summary>
    public long StreamedSamples => _bufferEnd;

    /// <summary>
    /// Computes <paramref name="frames"/> frames of <paramref name="signal"/> into <paramref name="output"/>
    /// (frame-major, <c>frames * Coefficients</c> values). Frames past the end of the signal read silence, so a
    /// caller can ask for more frames than <see cref="SpectralDefinition.FrameCount"/> to pad a short song.
    /// </summary>
    public void Compute(ReadOnlySpan<float> signal, int frames, Span<float> output)
    {
        CheckOutput(frames, output);
        Reset();
        Batches(new Signal(signal, 0), BatchCount(frames), frames, output);
        FinishMel(frames, output);
    }

    /// <summary>
    /// Starts a song whose samples arrive in pieces (<see cref="StreamAppend"/>): each frame's mel dB is computed as
    /// soon as its samples are in, and only the samples later frames still read are kept. The result
    /// (<see cref="StreamFinish"/>) is bit-identical to <see cref="Compute"/> over the whole song: the same frames go
    /// through the same batches of the same code.
    /// </summary>
    public void BeginStream()
    {
        if (!CanStream)
        {
            throw new InvalidOperationException("A power spectrogram cannot be computed from streamed samples.");
        }

        Reset();
        _bufferStart = 0;
        _bufferEnd = 0;
        _streaming = true;
    }

    /// <summary>The next samples of the song started by <see cref="BeginStream"/>.</summary>
    public void StreamAppend(ReadOnlySpan<float> samples)
    {
        if (!_streaming)
        {
            throw new InvalidOperationException("StreamAppend before BeginStream.");
        }

        // In pieces, so a caller that hands over a whole song at once does not make the buffer hold it all.
        const int Piece = 1 << 16;
        int n = _d.FftSize, hop = _d.HopLength, offset = _d.Center ? n / 2 : 0;
        for (int at = 0; at < samples.Length; at += Piece)
        {
            var piece = samples.Slice(at, Math.Min(Piece, samples.Length - at));

            // Keep from a margin before the first frame not computed yet: its own samples, and at the end of the song
            // the samples the reflect padding reads (StreamFinish), which lie at most a frame and a hop before it.
            long keep = Math.Max(0, ((long)_batchesDone * 2 * V * hop) - offset - n - hop - 2);
            Append(piece, Math.Min(keep, _bufferEnd));

            // Every batch whose frames all end within the samples so far: frame f ends at f * hop - offset + n.
            long lastReady = _bufferEnd + offset - n;
            int ready = lastReady < 0 ? 0 : (int)Math.Min(int.MaxValue, (lastReady / hop) + 1);
            int batches = ready / (2 * V);
            if (batches > _batchesDone)
            {
                Batches(new Signal(_buffer.AsSpan(0, (int)(_bufferEnd - _bufferStart)), _bufferStart), batches, int.MaxValue, default);
            }
        }
    }

    /// <summary>
    /// Ends the streamed song: computes its remaining frames (the last ones read the reflect padding past its end) and
    /// writes <paramref name="frames"/> frames to <paramref name="output"/>, as <see cref="Compute"/> does.
    /// </summary>
    public void StreamFinish(int frames, Span<float> output)
    {
        if (!_streaming)
        {
            throw new InvalidOperationException("StreamFinish before BeginStream.");
        }

        CheckOutput(frames, output);
        _streaming = false;
        Batches(new Signal(_buffer.AsSpan(0, (int)(_bufferEnd - _bufferStart)), _bufferStart), BatchCount(frames), frames, output);
        FinishMel(frames, output);
        if (_buffer.Length > 1 << 20)
        {
            _buffer = [];
        }
    }

    private void CheckOutput(int frames, Span<float> output)
    {
        if (output.Length < (long)frames * _d.Coefficients)
        {
            throw new ArgumentException("Output buffer too small.", nameof(output));
        }
    }

    private static int BatchCount(int frames) => (frames + (2 * V) - 1) / (2 * V);

    private void Reset()
    {
        _maxDb = float.NegativeInfinity;
        _batchesDone = 0;
    }

    /// <summary>Appends to the stream buffer, dropping the samples before <paramref name="keepFrom"/> first when it is full.</summary>
    private void Append(ReadOnlySpan<float> samples, long keepFrom)
    {
        int held = (int)(_bufferEnd - _bufferStart);
        if (held + samples.Length > _buffer.Length && keepFrom > _bufferStart)
        {
            int drop = (int)(keepFrom - _bufferStart);
            _buffer.AsSpan(drop, held - drop).CopyTo(_buffer);
            _bufferStart = keepFrom;
            held -= drop;
        }

        if (held + samples.Length > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(held + samples.Length, Math.Max(1 << 16, _buffer.Length * 2)));
        }

        samples.CopyTo(_buffer.AsSpan(held));
        _bufferEnd += samples.Length;
    }

    /// <summary>The mel dB vectors of half-batch <paramref name="half"/> (frames half * V ..), allocated on first use.</summary>
    private Span<Vector<float>> Db(int half)
    {
        int chunk = half / DbChunkHalves;
        while (_dbChunks.Count <= chunk)
        {
            _dbChunks.Add(new Vector<float>[DbChunkHalves * _d.MelBands]);
        }

        return _dbChunks[chunk].AsSpan((half % DbChunkHalves) * _d.MelBands, _d.MelBands);
    }

    /// <summary>
    /// Computes batches <see cref="_batchesDone"/> .. <paramref name="toBatch"/> - 1 (2 x V frames each): a power
    /// spectrogram straight into <paramref name="output"/>, mel kinds into their dB store (tracking the loudest band).
    /// </summary>
    private void Batches(Signal signal, int toBatch, int frames, Span<float> output)
    {
        int perBatch = 2 * V;
        bool mel = _d.Kind != AudioFeatureKind.PowerSpectrogram;
        for (int b = _batchesDone; b < toBatch; b++)
        {
            int first = b * perBatch;
            Spectrum(signal, first, first + V, frames);
            if (!mel)
            {
                Scatter(_powA, first, frames, output, _d.Coefficients);
                Scatter(_powB, first + V, frames, output, _d.Coefficients);
                continue;
            }

            var dbA = Db(2 * b);
            var dbB = Db((2 * b) + 1);
            MelDb(_powA, dbA);
            MelDb(_powB, dbB);
            _maxDb = Math.Max(_maxDb, MaxOver(dbA, frames - first));
            _maxDb = Math.Max(_maxDb, MaxOver(dbB, frames - first - V));
        }

        _batchesDone = Math.Max(_batchesDone, toBatch);
    }

    /// <summary>The mel kinds' second pass: clamps every frame's dB at the song's loudest band minus top_db, then maps to the output.</summary>
    private void FinishMel(int frames, Span<float> output)
    {
        if (_d.Kind == AudioFeatureKind.PowerSpectrogram)
        {
            return;
        }

        // top_db is relative to the whole song's loudest band (torchaudio and librosa clamp over the whole
        // spectrogram), so it needs every frame's dB first: this pass clamps, then maps to the output.
        int c = _d.Coefficients;
        int perBatch = 2 * V;
        var floor = new Vector<float>(_d.TopDb is double top ? (float)(_maxDb - top) : float.NegativeInfinity);
        var cep = _cep.AsSpan();
        for (int h = 0; h < 2 * BatchCount(frames); h++)
        {
            int first = ((h >> 1) * perBatch) + ((h & 1) * V);
            if (first >= frames)
            {
                continue;
            }

            var db = Db(h);
            for (int m = 0; m < db.Length; m++)
            {
                db[m] = Vector.Max(db[m], floor);
            }

            if (_d.Kind == AudioFeatureKind.LogMel)
            {
                Scatter(db, first, frames, output, c);
                continue;
            }

            Dct(db, cep);
            Scatter(cep, first, frames, output, c);
        }

        // A long song's store (92 MB for an hour at 50 frames/s and 128 bands) is not kept for the next one.
        if (_dbChunks.Count > DbChunksKept)
        {
            _dbChunks.RemoveRange(DbChunksKept, _dbChunks.Count - DbChunksKept);
        }
    }

    /// <summary>
    /// A song's samples from <see cref="Start"/> on (all of them, or a streamed song's samples still needed);
    /// <see cref="End"/> is the song's length once it is complete, else the samples so far.
    /// </summary>
    private readonly ref struct Signal
    {
        public Signal(ReadOnlySpan<float> data, long start)
        {
            Data = data;
            Start = start;
        }

        public ReadOnlySpan<float> Data { get; }

        public long Start { get; }

        public long End => Start + Data.Length;

        /// <summary>Sample <paramref name="i"/> (absolute); throws when it was dropped, so a framing bug cannot read wrong samples.</summary>
        public float this[long i] => Data[checked((int)(i - Start))];
    }

    /// <summary>Fills _powA (frames a0 .. a0+V-1) and _powB (frames b0 .. b0+V-1) with |X|^2 of each bin.</summary>
    private void Spectrum(Signal signal, int a0, int b0, int frames)
    {
        var re = MemoryMarshal.Cast<Vector<float>, float>(_re.AsSpan());
        var im = MemoryMarshal.Cast<Vector<float>, float>(_im.AsSpan());
        LoadFrames(signal, a0, frames, re);
        LoadFrames(signal, b0, frames, im);
        if (_d.IsPowerOfTwo)
        {
            FftDif(_re, _im, _d.Cos, _d.Sin);
            SplitPower();
        }
        else
        {
            DftPower(_re, _powA);
            DftPower(_im, _powB);
        }
    }

    /// <summary>Windowed frames first .. first+V-1 into lanes 0..V-1 of dst (dst[n * V + lane]).</summary>
    private void LoadFrames(Signal x, int first, int frames, Span<float> dst)
    {
        int n = _d.FftSize;
        var w = _d.Window;
        int offset = _d.Center ? n / 2 : 0;
        if (TryLoadInterior8(x, first, frames, offset, dst))
        {
            return;
        }

        for (int lane = 0; lane < V; lane++)
        {
            int f = first + lane;
            if (f >= frames)
            {
                for (int i = 0; i < n; i++)
                {
                    dst[(i * V) + lane] = 0f;
                }

                continue;
            }

            long start = ((long)f * _d.HopLength) - offset;
            if (start >= x.Start && start + n <= x.End)
            {
                // The hot path of every interior frame: bounds were checked once above.
                ref float src = ref Unsafe.Add(ref MemoryMarshal.GetReference(x.Data), (int)(start - x.Start));
                ref float win = ref MemoryMarshal.GetArrayDataReference(w);
                ref float d = ref Unsafe.Add(ref MemoryMarshal.GetReference(dst), lane);
                for (int i = 0; i < n; i++)
                {
                    Unsafe.Add(ref d, i * V) = Unsafe.Add(ref src, i) * Unsafe.Add(ref win, i);
                }
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    dst[(i * V) + lane] = Sample(x, start + i, offset) * w[i];
                }
            }
        }
    }

    /// <summary>
    /// The common case (8 lanes, all 8 frames inside the song): loads 8 samples of each frame as one vector, applies
    /// the window and transposes the 8 x 8 block with AVX shuffles, instead of 64 scalar stores.
    /// </summary>
    private bool TryLoadInterior8(Signal x, int first, int frames, int offset, Span<float> dst)
    {
        int n = _d.FftSize;
        int hop = _d.HopLength;
        if (V != 8 || !Avx.IsSupported || (n & 7) != 0 || first + 7 >= frames)
        {
            return false;
        }

        long s0 = ((long)first * hop) - offset;
        if (s0 < x.Start || s0 + (7L * hop) + n > x.End)
        {
            return false;
        }

        ref float xr = ref Unsafe.Add(ref MemoryMarshal.GetReference(x.Data), (nint)(s0 - x.Start));
        ref float wr = ref MemoryMarshal.GetArrayDataReference(_d.Window);
        ref var d = ref Unsafe.As<float, Vector256<float>>(ref MemoryMarshal.GetReference(dst));
        nint h = hop;
        for (nint i = 0; i < n; i += 8)
        {
            var w8 = Vector256.LoadUnsafe(ref wr, (nuint)i);
            var r0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i)) * w8;
            var r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + h)) * w8;
            var r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + (2 * h))) * w8;
            var r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + (3 * h))) * w8;
            var r4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + (4 * h))) * w8;
            var r5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + (5 * h))) * w8;
            var r6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + (6 * h))) * w8;
            var r7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref xr, i + (7 * h))) * w8;
            var t0 = Avx.UnpackLow(r0, r1);
            var t1 = Avx.UnpackHigh(r0, r1);
            var t2 = Avx.UnpackLow(r2, r3);
            var t3 = Avx.UnpackHigh(r2, r3);
            var t4 = Avx.UnpackLow(r4, r5);
            var t5 = Avx.UnpackHigh(r4, r5);
            var t6 = Avx.UnpackLow(r6, r7);
            var t7 = Avx.UnpackHigh(r6, r7);
            var u0 = Avx.Shuffle(t0, t2, 0x44);
            var u1 = Avx.Shuffle(t0, t2, 0xEE);
            var u2 = Avx.Shuffle(t1, t3, 0x44);
            var u3 = Avx.Shuffle(t1, t3, 0xEE);
            var u4 = Avx.Shuffle(t4, t6, 0x44);
            var u5 = Avx.Shuffle(t4, t6, 0xEE);
            var u6 = Avx.Shuffle(t5, t7, 0x44);
            var u7 = Avx.Shuffle(t5, t7, 0xEE);
            Unsafe.Add(ref d, i) = Avx.Permute2x128(u0, u4, 0x20);
            Unsafe.Add(ref d, i + 1) = Avx.Permute2x128(u1, u5, 0x20);
            Unsafe.Add(ref d, i + 2) = Avx.Permute2x128(u2, u6, 0x20);
            Unsafe.Add(ref d, i + 3) = Avx.Permute2x128(u3, u7, 0x20);
            Unsafe.Add(ref d, i + 4) = Avx.Permute2x128(u0, u4, 0x31);
            Unsafe.Add(ref d, i + 5) = Avx.Permute2x128(u1, u5, 0x31);
            Unsafe.Add(ref d, i + 6) = Avx.Permute2x128(u2, u6, 0x31);
            Unsafe.Add(ref d, i + 7) = Avx.Permute2x128(u3, u7, 0x31);
        }

        return true;
    }

    /// <summary>Sample i of the padded signal: reflect or zero within the centre padding, zero beyond.</summary>
    private float Sample(Signal x, long i, int pad)
    {
        long length = x.End;
        if (i >= 0 && i < length)
        {
            return x[i];
        }

        if (_d.Center && _d.PadMode == SpectrogramPadMode.Reflect && length > 1)
        {
            if (i < 0 && -i <= pad && -i < length)
            {
                return x[-i];
            }

            long j = (2L * (length - 1)) - i;
            if (i >= length && i - length < pad && j >= 0)
            {
                return x[j];
            }
        }

        return 0f;
    }

    /// <summary>
    /// In-place decimation-in-frequency FFT; the result is left in bit-reversed order. Two radix-2 stages are fused
    /// per pass (radix 2^2), and once a stage's butterflies span at most <see cref="L1Block"/> points the remaining
    /// stages run block by block, so they work in L1 instead of streaming the whole transform through L2 each pass.
    /// </summary>
    private static void FftDif(Vector<float>[] reArr, Vector<float>[] imArr, float[] cos, float[] sin)
    {
        int n = reArr.Length;
        ref var re = ref MemoryMarshal.GetArrayDataReference(reArr);
        ref var im = ref MemoryMarshal.GetArrayDataReference(imArr);
        int len = n;
        for (; len >= 4 && len > L1Block; len >>= 2)
        {
            Radix4Pass(ref re, ref im, 0, n, len, n, cos, sin);
        }

        int block = len;
        for (int b = 0; b < n; b += block)
        {
            int l = block;
            for (; l >= 4; l >>= 2)
            {
                Radix4Pass(ref re, ref im, b, block, l, n, cos, sin);
            }

            if (l == 2)
            {
                // The last radix-2 stage has twiddle 1.
                for (int s = b; s < b + block; s += 2)
                {
                    ref var ar = ref Unsafe.Add(ref re, s);
                    ref var ai = ref Unsafe.Add(ref im, s);
                    ref var br = ref Unsafe.Add(ref re, s + 1);
                    ref var bi = ref Unsafe.Add(ref im, s + 1);
                    var tr = ar - br;
                    var ti = ai - bi;
                    ar += br;
                    ai += bi;
                    br = tr;
                    bi = ti;
                }
            }
        }
    }

    /// <summary>Stages <paramref name="len"/> and len / 2 over points offset .. offset + count - 1.</summary>
    private static void Radix4Pass(ref Vector<float> re, ref Vector<float> im, int offset, int count, int len, int n, float[] cos, float[] sin)
    {
        // Stage len pairs (x0, x2) and (x1, x3); stage len / 2 then pairs (y0, y1) and (y2, y3).
        int q = len >> 2;
        int step = n / len;
        int end = offset + count;
        for (int k = 0; k < q; k++)
        {
            var w1r = new Vector<float>(cos[k * step]);
            var w1i = new Vector<float>(-sin[k * step]);
            var w3r = new Vector<float>(cos[(k + q) * step]);
            var w3i = new Vector<float>(-sin[(k + q) * step]);
            var w2r = new Vector<float>(cos[2 * k * step]);
            var w2i = new Vector<float>(-sin[2 * k * step]);
            for (int s = offset + k; s < end; s += len)
            {
                ref var x0r = ref Unsafe.Add(ref re, s);
                ref var x0i = ref Unsafe.Add(ref im, s);
                ref var x1r = ref Unsafe.Add(ref re, s + q);
                ref var x1i = ref Unsafe.Add(ref im, s + q);
                ref var x2r = ref Unsafe.Add(ref re, s + (2 * q));
                ref var x2i = ref Unsafe.Add(ref im, s + (2 * q));
                ref var x3r = ref Unsafe.Add(ref re, s + (3 * q));
                ref var x3i = ref Unsafe.Add(ref im, s + (3 * q));
                var y0r = x0r + x2r;
                var y0i = x0i + x2i;
                var dr = x0r - x2r;
                var di = x0i - x2i;
                var y2r = (dr * w1r) - (di * w1i);
                var y2i = (dr * w1i) + (di * w1r);
                var y1r = x1r + x3r;
                var y1i = x1i + x3i;
                dr = x1r - x3r;
                di = x1i - x3i;
                var y3r = (dr * w3r) - (di * w3i);
                var y3i = (dr * w3i) + (di * w3r);
                x0r = y0r + y1r;
                x0i = y0i + y1i;
                dr = y0r - y1r;
                di = y0i - y1i;
                x1r = (dr * w2r) - (di * w2i);
                x1i = (dr * w2i) + (di * w2r);
                x2r = y2r + y3r;
                x2i = y2i + y3i;
                dr = y2r - y3r;
                di = y2i - y3i;
                x3r = (dr * w2r) - (di * w2i);
                x3i = (dr * w2i) + (di * w2r);
            }
        }
    }

    /// <summary>Separates the two packed real frames: |A[k]|^2 and |B[k]|^2 from Z[k] and Z[N-k].</summary>
    private void SplitPower()
    {
        int n = _d.FftSize;
        var rev = _d.BitReverse;
        var quarter = new Vector<float>(0.25f);
        for (int k = 0; k < _d.Bins; k++)
        {
            int p = rev[k];
            int q = rev[(n - k) & (n - 1)];
            var zr = _re[p];
            var zi = _im[p];
            var yr = _re[q];
            var yi = _im[q];
            var ar = zr + yr;
            var ai = zi - yi;
            var br = zr - yr;
            var bi = zi + yi;
            _powA[k] = ((ar * ar) + (ai * ai)) * quarter;
            _powB[k] = ((br * br) + (bi * bi)) * quarter;
        }
    }

    /// <summary>Direct real DFT power for sizes that are not powers of two.</summary>
    private void DftPower(Vector<float>[] x, Vector<float>[] pow)
    {
        int n = _d.FftSize;
        var cos = _d.Cos;
        var sin = _d.Sin;
        for (int k = 0; k < _d.Bins; k++)
        {
            var sr = Vector<float>.Zero;
            var si = Vector<float>.Zero;
            int idx = 0;
            for (int i = 0; i < n; i++)
            {
                sr += x[i] * cos[idx];
                si += x[i] * sin[idx];
                idx += k;
                if (idx >= n)
                {
                    idx -= n;
                }
            }

            pow[k] = (sr * sr) + (si * si);
        }
    }

    private void MelDb(Vector<float>[] pow, Span<Vector<float>> db)
    {
        var amin = new Vector<float>(_d.Amin);
        var toDb = new Vector<float>((float)(10.0 / Math.Log(10.0)));
        for (int m = 0; m < db.Length; m++)
        {
            var w = _d.MelWeights[m];
            int s = _d.MelStart[m];
            var acc = Vector<float>.Zero;
            for (int i = 0; i < w.Length; i++)
            {
                acc += pow[s + i] * w[i];
            }

            db[m] = Vector.Log(Vector.Max(acc, amin)) * toDb;
        }
    }

    private void Dct(ReadOnlySpan<Vector<float>> db, Span<Vector<float>> cep)
    {
        int bands = db.Length;
        var dct = _d.Dct;
        for (int c = 0; c < cep.Length; c++)
        {
            var acc = Vector<float>.Zero;
            int row = c * bands;
            for (int m = 0; m < bands; m++)
            {
                acc += db[m] * dct[row + m];
            }

            cep[c] = acc;
        }
    }

    private static float MaxOver(ReadOnlySpan<Vector<float>> db, int validLanes)
    {
        float max = float.NegativeInfinity;
        if (validLanes <= 0)
        {
            return max;
        }

        if (validLanes >= V)
        {
            var m = db[0];
            for (int i = 1; i < db.Length; i++)
            {
                m = Vector.Max(m, db[i]);
            }

            for (int lane = 0; lane < V; lane++)
            {
                max = Math.Max(max, m[lane]);
            }

            return max;
        }

        for (int i = 0; i < db.Length; i++)
        {
            for (int lane = 0; lane < validLanes; lane++)
            {
                max = Math.Max(max, db[i][lane]);
            }
        }

        return max;
    }

    /// <summary>Writes lanes (frames first ..) of per-coefficient vectors to the frame-major output.</summary>
    private static void Scatter(ReadOnlySpan<Vector<float>> values, int first, int frames, Span<float> output, int c)
    {
        int lanes = Math.Min(V, frames - first);
        if (lanes <= 0)
        {
            return;
        }

        var flat = MemoryMarshal.Cast<Vector<float>, float>(values);
        for (int lane = 0; lane < lanes; lane++)
        {
            var row = output.Slice((first + lane) * c, c);
            for (int i = 0; i < c; i++)
            {
                row[i] = flat[(i * V) + lane];
            }
        }
    }
}
