using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Scoring;

/// <summary>
/// The element-wise parts of <see cref="TimeConvReluPool"/> as single passes over float32 CPU tensors, written in
/// C# with <see cref="Vector{T}"/>: max-pool + ReLU into the next block's padded input, its backward (which element
/// of each pair gets the gradient, written with the padding in one pass, plus the bias gradient), and the whole first
/// block when it reads one channel (convolution with 3 taps, bias, pool, ReLU; its backward recomputes the
/// convolution instead of storing it).
/// </summary>
/// <remarks>
/// libtorch runs the same steps as several generic passes (comparison, masked fill, strided copies, zero fills): 4-10
/// ms each at the first block's size here, 40-50 ms for the first block's backward alone, against one pass of about
/// 2-3 ms. With 16 channels in and out and AVX-512, the block's products themselves run here too (about 150
/// GFLOP/s on one Zen 5 core against about 60 for libtorch's BLAS at these thin shapes). Every kernel is compiled
/// fully optimised at its first call (AggressiveOptimization): each runs a few long loops per step, which tiered
/// compilation would run as on-stack-replaced code, measured 3-10x slower for the 16-channel products. Sums over
/// many positions (weight and bias gradients) add float32 partial sums per batch item into float64 totals, so
/// their rounding stays that of a few thousand terms.
/// </remarks>
internal static unsafe class TimeConvKernels
{
    /// <summary>Whether these kernels can run on <paramref name="tensors"/>: float32, on the CPU, contiguous.</summary>
    public static bool Applicable(params Tensor[] tensors) =>
        tensors.All(t => t.dtype == ScalarType.Float32 && t.device_type == DeviceType.CPU && t.is_contiguous());

    /// <summary>
    /// <paramref name="padded"/> <c>[batch, pooled + 2, rows, channels]</c> = ReLU(max of each time pair of
    /// <paramref name="product"/>), with zero first and last steps; the product row i is padded row i + rows, so
    /// pair j of batch item b starts at product row (b (time + 2) + 2 j) rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PoolRelu(Tensor product, Tensor padded, long batch, long time, long rows, long channels)
    {
        float* y = Data(product);
        float* z = Data(padded);
        long block = rows * channels;
        long pooled = time / 2;
        for (long b = 0; b < batch; b++)
        {
            float* zb = z + (b * (pooled + 2) * block);
            new Span<float>(zb, checked((int)block)).Clear();
            new Span<float>(zb + ((pooled + 1) * block), checked((int)block)).Clear();
            for (long j = 0; j < pooled; j++)
            {
                float* first = y + (((b * (time + 2)) + (2 * j)) * block);
                MaxRelu(first, first + block, zb + ((j + 1) * block), block);
            }
        }
    }

    /// <summary>
    /// The backward of <see cref="PoolRelu"/>: <paramref name="dPadded"/> (shaped like the padded product,
    /// <c>[batch (time + 2) rows, channels]</c>) gets the gradient of each pooled value at the element that won its
    /// pair (the first on a tie) when the pooled value is positive, zero everywhere else; returns the bias gradient.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] PoolReluBackward(Tensor product, Tensor gradPadded, Tensor dPadded, long batch, long time, long rows, long channels)
    {
        float* y = Data(product);
        float* g = Data(gradPadded);
        float* d = Data(dPadded);
        long block = rows * channels;
        long pooled = time / 2;
        var total = new double[channels];
        var partial = new float[block];
        for (long b = 0; b < batch; b++)
        {
            Array.Clear(partial);
            float* db = d + (b * (time + 2) * block);
            new Span<float>(db, checked((int)block)).Clear();
            new Span<float>(db + ((2 * pooled) + 1) * block, checked((int)(((time + 1) - (2 * pooled)) * block))).Clear();
            for (long j = 0; j < pooled; j++)
            {
                float* first = y + (((b * (time + 2)) + (2 * j)) * block);
                float* dFirst = db + (((2 * j) + 1) * block);
                RouteGradient(first, first + block, g + (((b * (pooled + 2)) + j + 1) * block), dFirst, dFirst + block, partial, block);
            }

            for (long i = 0; i < block; i++)
            {
                total[i % channels] += partial[i];
            }
        }

        return Array.ConvertAll(total, v => (float)v);
    }

    /// <summary>
    /// The first block when it reads one channel: <paramref name="padded"/> <c>[batch, pooled + 2, rows, channels]</c>
    /// from <paramref name="input"/> <c>[batch, time + 2, rows]</c> (padded) with taps <paramref name="taps"/>
    /// (<c>[3, channels]</c>, tap k multiplies the frame k - 1 steps away) and <paramref name="bias"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FirstBlock(Tensor input, float[] taps, float[] bias, Tensor padded, long batch, long time, long rows)
    {
        float* x = Data(input);
        float* z = Data(padded);
        int channels = bias.Length;
        long block = rows * channels;
        long pooled = time / 2;
        for (long b = 0; b < batch; b++)
        {
            float* zb = z + (b * (pooled + 2) * block);
            new Span<float>(zb, checked((int)block)).Clear();
            new Span<float>(zb + ((pooled + 1) * block), checked((int)block)).Clear();
        }

        // Channel chunks outermost, so that a chunk's taps and bias stay in registers over every position.
        int o = 0;
        int width = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            for (; o <= channels - width; o += width)
            {
                var w0 = new Vector<float>(taps, o);
                var w1 = new Vector<float>(taps, channels + o);
                var w2 = new Vector<float>(taps, (2 * channels) + o);
                var bo = new Vector<float>(bias, o);
                for (long b = 0; b < batch; b++)
                {
                    for (long j = 0; j < pooled; j++)
                    {
                        float* x0 = x + (((b * (time + 2)) + (2 * j)) * rows); // padded frames 2j .. 2j + 3
                        float* zj = z + (((b * (pooled + 2)) + j + 1) * block) + o;
                        for (long r = 0; r < rows; r++)
                        {
                            var p0 = new Vector<float>(x0[r]);
                            var p1 = new Vector<float>(x0[r + rows]);
                            var p2 = new Vector<float>(x0[r + (2 * rows)]);
                            var p3 = new Vector<float>(x0[r + (3 * rows)]);
                            var a = bo + (p0 * w0) + (p1 * w1) + (p2 * w2);
                            var c = bo + (p1 * w0) + (p2 * w1) + (p3 * w2);
                            Vector.Max(Vector.Max(a, c), Vector<float>.Zero).Store(zj + (r * channels));
                        }
                    }
                }
            }
        }

        for (; o < channels; o++)
        {
            for (long b = 0; b < batch; b++)
            {
                for (long j = 0; j < pooled; j++)
                {
                    float* x0 = x + (((b * (time + 2)) + (2 * j)) * rows);
                    float* zj = z + (((b * (pooled + 2)) + j + 1) * block) + o;
                    for (long r = 0; r < rows; r++)
                    {
                        float p0 = x0[r], p1 = x0[r + rows], p2 = x0[r + (2 * rows)], p3 = x0[r + (3 * rows)];
                        float a = bias[o] + (p0 * taps[o]) + (p1 * taps[channels + o]) + (p2 * taps[(2 * channels) + o]);
                        float c = bias[o] + (p1 * taps[o]) + (p2 * taps[channels + o]) + (p3 * taps[(2 * channels) + o]);
                        zj[r * channels] = Math.Max(Math.Max(a, c), 0f);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The first block's convolution output <c>[batch, time, rows, channels]</c>, computed exactly as
    /// <see cref="FirstBlock"/> computes it (same operations, same order), for the test hook that records pooling
    /// decisions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor FirstBlockProduct(Tensor input, float[] taps, float[] bias, long batch, long time, long rows)
    {
        int channels = bias.Length;
        var product = empty(batch, time, rows, channels);
        float* x = Data(input);
        float* y = Data(product);
        for (long b = 0; b < batch; b++)
        {
            for (long t = 0; t < time; t++)
            {
                float* x0 = x + (((b * (time + 2)) + t) * rows);
                float* yt = y + (((b * time) + t) * rows * channels);
                for (long r = 0; r < rows; r++)
                {
                    Convolve(taps, bias, x0[r], x0[r + rows], x0[r + (2 * rows)], new Span<float>(yt + (r * channels), channels));
                }
            }
        }

        return product;
    }

    /// <summary>
    /// The backward of <see cref="FirstBlock"/>: the weight gradient <c>[3, channels]</c> (tap-major) and the bias
    /// gradient, recomputing each pair's two convolution outputs to route the gradient.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (float[] Taps, float[] Bias) FirstBlockBackward(Tensor input, float[] taps, float[] bias, Tensor gradPadded, long batch, long time, long rows)
    {
        float* x = Data(input);
        float* g = Data(gradPadded);
        int channels = bias.Length;
        long block = rows * channels;
        long pooled = time / 2;
        var total = new double[4 * channels]; // taps 0..2, then bias
        int o = 0;
        int width = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            for (; o <= channels - width; o += width)
            {
                var w0 = new Vector<float>(taps, o);
                var w1 = new Vector<float>(taps, channels + o);
                var w2 = new Vector<float>(taps, (2 * channels) + o);
                var bo = new Vector<float>(bias, o);
                for (long b = 0; b < batch; b++)
                {
                    // Float32 sums over one batch item, float64 across them.
                    Vector<float> s0 = default, s1 = default, s2 = default, sb = default;
                    for (long j = 0; j < pooled; j++)
                    {
                        float* x0 = x + (((b * (time + 2)) + (2 * j)) * rows);
                        float* gj = g + (((b * (pooled + 2)) + j + 1) * block) + o;
                        for (long r = 0; r < rows; r++)
                        {
                            var p0 = new Vector<float>(x0[r]);
                            var p1 = new Vector<float>(x0[r + rows]);
                            var p2 = new Vector<float>(x0[r + (2 * rows)]);
                            var p3 = new Vector<float>(x0[r + (3 * rows)]);
                            var a = bo + (p0 * w0) + (p1 * w1) + (p2 * w2);
                            var c = bo + (p1 * w0) + (p2 * w1) + (p3 * w2);
                            var grad = Vector.ConditionalSelect(Vector.GreaterThan(Vector.Max(a, c), Vector<float>.Zero), Vector.Load(gj + (r * channels)), Vector<float>.Zero);
                            var firstWins = Vector.GreaterThanOrEqual(a, c);
                            s0 += Vector.ConditionalSelect(firstWins, p0, p1) * grad;
                            s1 += Vector.ConditionalSelect(firstWins, p1, p2) * grad;
                            s2 += Vector.ConditionalSelect(firstWins, p2, p3) * grad;
                            sb += grad;
                        }
                    }

                    for (int i = 0; i < width; i++)
                    {
                        total[o + i] += s0[i];
                        total[channels + o + i] += s1[i];
                        total[(2 * channels) + o + i] += s2[i];
                        total[(3 * channels) + o + i] += sb[i];
                    }
                }
            }
        }

        for (; o < channels; o++)
        {
            for (long b = 0; b < batch; b++)
            {
                float s0 = 0, s1 = 0, s2 = 0, sb = 0;
                for (long j = 0; j < pooled; j++)
                {
                    float* x0 = x + (((b * (time + 2)) + (2 * j)) * rows);
                    float* gj = g + (((b * (pooled + 2)) + j + 1) * block) + o;
                    for (long r = 0; r < rows; r++)
                    {
                        float p0 = x0[r], p1 = x0[r + rows], p2 = x0[r + (2 * rows)], p3 = x0[r + (3 * rows)];
                        float a = bias[o] + (p0 * taps[o]) + (p1 * taps[channels + o]) + (p2 * taps[(2 * channels) + o]);
                        float c = bias[o] + (p1 * taps[o]) + (p2 * taps[channels + o]) + (p3 * taps[(2 * channels) + o]);
                        float grad = Math.Max(a, c) > 0 ? gj[r * channels] : 0f;
                        bool firstWins = a >= c;
                        s0 += (firstWins ? p0 : p1) * grad;
                        s1 += (firstWins ? p1 : p2) * grad;
                        s2 += (firstWins ? p2 : p3) * grad;
                        sb += grad;
                    }
                }

                total[o] += s0;
                total[channels + o] += s1;
                total[(2 * channels) + o] += s2;
                total[(3 * channels) + o] += sb;
            }
        }

        var result = Array.ConvertAll(total, v => (float)v);
        return (result[..(3 * channels)], result[(3 * channels)..]);
    }

    /// <summary>Whether <see cref="Convolve16"/> and <see cref="WeightGradient16"/> can run: AVX-512 and 16 channels in and out.</summary>
    public static bool Sixteen(long inChannels, long outChannels) =>
        Avx512F.IsSupported && inChannels == ChannelBlock && outChannels == ChannelBlock;

    /// <summary>
    /// <c>output[i] = bias + sum over taps k and channels c of input[i + offsets[k]][c] * weights[k][c]</c> for
    /// <paramref name="count"/> rows of 16 floats, where <c>weights[k][c]</c> is a row of 16 (one per output channel):
    /// the block's forward product (offsets 0, rows, 2 rows; weights tap-major [3, in, out]) and, with the taps
    /// transposed ([3, out, in]) and offsets rows, 0, -rows, its input gradient. Four output rows at a time share each
    /// weight row, loaded once; the 16-wide rows fit one AVX-512 register. The inner products this small (48 terms,
    /// 16 outputs) ran at about 50 GFLOP/s through libtorch's BLAS here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Convolve16(Tensor input, long inputFirstRow, float[] weights, float[]? bias, Tensor output, long outputFirstRow, long count, long offset0, long offset1, long offset2)
    {
        float* source = Data(input) + (inputFirstRow * ChannelBlock);
        float* target = Data(output) + (outputFirstRow * ChannelBlock);
        fixed (float* w = weights)
        {
            var start = bias is null ? Vector512<float>.Zero : Vector512.Create(bias);
            long* offsets = stackalloc long[] { offset0 * ChannelBlock, offset1 * ChannelBlock, offset2 * ChannelBlock };
            long i = 0;
            for (; i + 4 <= count; i += 4)
            {
                Vector512<float> y0 = start, y1 = start, y2 = start, y3 = start;
                for (int k = 0; k < 3; k++)
                {
                    float* x = source + (i * ChannelBlock) + offsets[k];
                    float* wk = w + (k * ChannelBlock * ChannelBlock);
                    for (int c = 0; c < ChannelBlock; c++)
                    {
                        var wc = Vector512.Load(wk + (c * ChannelBlock));
                        y0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[c]), wc, y0);
                        y1 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[ChannelBlock + c]), wc, y1);
                        y2 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[(2 * ChannelBlock) + c]), wc, y2);
                        y3 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[(3 * ChannelBlock) + c]), wc, y3);
                    }
                }

                float* t = target + (i * ChannelBlock);
                y0.Store(t);
                y1.Store(t + ChannelBlock);
                y2.Store(t + (2 * ChannelBlock));
                y3.Store(t + (3 * ChannelBlock));
            }

            for (; i < count; i++)
            {
                var y = start;
                for (int k = 0; k < 3; k++)
                {
                    float* x = source + (i * ChannelBlock) + offsets[k];
                    float* wk = w + (k * ChannelBlock * ChannelBlock);
                    for (int c = 0; c < ChannelBlock; c++)
                    {
                        y = Avx512F.FusedMultiplyAdd(Vector512.Create(x[c]), Vector512.Load(wk + (c * ChannelBlock)), y);
                    }
                }

                y.Store(target + (i * ChannelBlock));
            }
        }
    }

    /// <summary>
    /// <see cref="Convolve16"/> (forward, offsets 0, rows, 2 rows) and <see cref="PoolRelu"/> in one pass, for
    /// <paramref name="rows"/> a multiple of 4: each pooling pair's two time steps are computed together (4 rows of
    /// each), stored to <paramref name="product"/> for the backward, and their ReLU'd maximum written to
    /// <paramref name="padded"/>. The same operations in the same order as <see cref="Convolve16"/>, so the product
    /// is bit-identical. An odd last time step is not computed (nothing reads it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Convolve16Pool(Tensor input, float[] weights, float[] bias, Tensor product, Tensor padded, long batch, long time, long rows)
    {
        float* source = Data(input);
        float* y = Data(product);
        float* z = Data(padded);
        long block = rows * ChannelBlock;
        long pooled = time / 2;
        fixed (float* w = weights)
        {
            var start = Vector512.Create(bias);
            for (long b = 0; b < batch; b++)
            {
                float* zb = z + (b * (pooled + 2) * block);
                new Span<float>(zb, checked((int)block)).Clear();
                new Span<float>(zb + ((pooled + 1) * block), checked((int)block)).Clear();
                for (long j = 0; j < pooled; j++)
                {
                    long even = ((b * (time + 2)) + (2 * j)) * rows; // product row of the pair's first step, row 0
                    float* zj = zb + ((j + 1) * block);
                    for (long r = 0; r < rows; r += 4)
                    {
                        Vector512<float> e0 = start, e1 = start, e2 = start, e3 = start;
                        Vector512<float> o0 = start, o1 = start, o2 = start, o3 = start;
                        for (int k = 0; k < 3; k++)
                        {
                            float* xe = source + ((even + r + (k * rows)) * ChannelBlock);
                            float* xo = xe + block;
                            float* wk = w + (k * ChannelBlock * ChannelBlock);
                            for (int c = 0; c < ChannelBlock; c++)
                            {
                                var wc = Vector512.Load(wk + (c * ChannelBlock));
                                e0 = Avx512F.FusedMultiplyAdd(Vector512.Create(xe[c]), wc, e0);
                                e1 = Avx512F.FusedMultiplyAdd(Vector512.Create(xe[ChannelBlock + c]), wc, e1);
                                e2 = Avx512F.FusedMultiplyAdd(Vector512.Create(xe[(2 * ChannelBlock) + c]), wc, e2);
                                e3 = Avx512F.FusedMultiplyAdd(Vector512.Create(xe[(3 * ChannelBlock) + c]), wc, e3);
                                o0 = Avx512F.FusedMultiplyAdd(Vector512.Create(xo[c]), wc, o0);
                                o1 = Avx512F.FusedMultiplyAdd(Vector512.Create(xo[ChannelBlock + c]), wc, o1);
                                o2 = Avx512F.FusedMultiplyAdd(Vector512.Create(xo[(2 * ChannelBlock) + c]), wc, o2);
                                o3 = Avx512F.FusedMultiplyAdd(Vector512.Create(xo[(3 * ChannelBlock) + c]), wc, o3);
                            }
                        }

                        float* ye = y + ((even + r) * ChannelBlock);
                        float* yo = ye + block;
                        e0.Store(ye);
                        e1.Store(ye + ChannelBlock);
                        e2.Store(ye + (2 * ChannelBlock));
                        e3.Store(ye + (3 * ChannelBlock));
                        o0.Store(yo);
                        o1.Store(yo + ChannelBlock);
                        o2.Store(yo + (2 * ChannelBlock));
                        o3.Store(yo + (3 * ChannelBlock));
                        float* zr = zj + (r * ChannelBlock);
                        Vector512.Max(Vector512.Max(e0, o0), Vector512<float>.Zero).Store(zr);
                        Vector512.Max(Vector512.Max(e1, o1), Vector512<float>.Zero).Store(zr + ChannelBlock);
                        Vector512.Max(Vector512.Max(e2, o2), Vector512<float>.Zero).Store(zr + (2 * ChannelBlock));
                        Vector512.Max(Vector512.Max(e3, o3), Vector512<float>.Zero).Store(zr + (3 * ChannelBlock));
                    }
                }
            }
        }
    }

    /// <summary>
    /// The weight gradient of a 16-to-16-channel block, tap-major <c>[3, in, out]</c>: the sum over the
    /// <paramref name="count"/> product rows i of <c>input[i + k rows][c] * gradient[i][o]</c>, where
    /// <paramref name="gradient"/>'s rows start at <paramref name="gradientFirstRow"/>. Float32 sums over
    /// <paramref name="rowsPerSum"/> rows (one batch item), float64 across them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] WeightGradient16(Tensor input, Tensor gradient, long gradientFirstRow, long count, long rows, long rowsPerSum)
    {
        float* source = Data(input);
        float* dy = Data(gradient) + (gradientFirstRow * ChannelBlock);
        var total = new double[3 * ChannelBlock * ChannelBlock];
        fixed (double* sums = total)
        {
            for (int k = 0; k < 3; k++)
            {
                for (long first = 0; first < count; first += rowsPerSum)
                {
                    long last = Math.Min(count, first + rowsPerSum);
                    var a0 = Vector512<float>.Zero;
                    var a1 = Vector512<float>.Zero;
                    var a2 = Vector512<float>.Zero;
                    var a3 = Vector512<float>.Zero;
                    var a4 = Vector512<float>.Zero;
                    var a5 = Vector512<float>.Zero;
                    var a6 = Vector512<float>.Zero;
                    var a7 = Vector512<float>.Zero;
                    var a8 = Vector512<float>.Zero;
                    var a9 = Vector512<float>.Zero;
                    var a10 = Vector512<float>.Zero;
                    var a11 = Vector512<float>.Zero;
                    var a12 = Vector512<float>.Zero;
                    var a13 = Vector512<float>.Zero;
                    var a14 = Vector512<float>.Zero;
                    var a15 = Vector512<float>.Zero;
                    for (long i = first; i < last; i++)
                    {
                        var d = Vector512.Load(dy + (i * ChannelBlock));
                        float* x = source + ((i + (k * rows)) * ChannelBlock);
                        a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[0]), d, a0);
                        a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[1]), d, a1);
                        a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[2]), d, a2);
                        a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[3]), d, a3);
                        a4 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[4]), d, a4);
                        a5 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[5]), d, a5);
                        a6 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[6]), d, a6);
                        a7 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[7]), d, a7);
                        a8 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[8]), d, a8);
                        a9 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[9]), d, a9);
                        a10 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[10]), d, a10);
                        a11 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[11]), d, a11);
                        a12 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[12]), d, a12);
                        a13 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[13]), d, a13);
                        a14 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[14]), d, a14);
                        a15 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[15]), d, a15);
                    }

                    Flush(a0, sums + (((k * 16) + 0) * 16));
                    Flush(a1, sums + (((k * 16) + 1) * 16));
                    Flush(a2, sums + (((k * 16) + 2) * 16));
                    Flush(a3, sums + (((k * 16) + 3) * 16));
                    Flush(a4, sums + (((k * 16) + 4) * 16));
                    Flush(a5, sums + (((k * 16) + 5) * 16));
                    Flush(a6, sums + (((k * 16) + 6) * 16));
                    Flush(a7, sums + (((k * 16) + 7) * 16));
                    Flush(a8, sums + (((k * 16) + 8) * 16));
                    Flush(a9, sums + (((k * 16) + 9) * 16));
                    Flush(a10, sums + (((k * 16) + 10) * 16));
                    Flush(a11, sums + (((k * 16) + 11) * 16));
                    Flush(a12, sums + (((k * 16) + 12) * 16));
                    Flush(a13, sums + (((k * 16) + 13) * 16));
                    Flush(a14, sums + (((k * 16) + 14) * 16));
                    Flush(a15, sums + (((k * 16) + 15) * 16));
                }
            }
        }

        return Array.ConvertAll(total, v => (float)v);
    }

    /// <summary>Whether <see cref="Multiply(Tensor, Tensor)"/> can run: AVX-512 and a multiple of 32 output columns.</summary>
    public static bool CanMultiply(long columns) => Avx512F.IsSupported && columns % 32 == 0;

    /// <summary>
    /// <c>C[m, n] = sum over k of A(i, k) B[k, :]</c> for float32 CPU matrices: A read through strides (element
    /// (i, k) at <c>a[i aRowStride + k aColumnStride]</c>, so a transposed view costs nothing), B and C row-major
    /// and contiguous. Tiles of 6 rows x 32 columns (12 AVX-512 accumulators, two B loads per 12 fused
    /// multiply-adds). Used for the LSTM head's three large products, where it runs faster than libtorch's BLAS on
    /// this core (docs/benchmarks.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyRaw(float* a, long aRowStride, long aColumnStride, float* b, float* c, long m, long k, long n)
    {
        long i = 0;
        for (; i + 6 <= m; i += 6)
        {
            for (long j = 0; j < n; j += 32)
            {
                    Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero;
                    Vector512<float> c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
                    Vector512<float> c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero;
                    Vector512<float> c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
                    Vector512<float> c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero;
                    Vector512<float> c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero;
                float* ak = a + (i * aRowStride);
                float* bk = b + j;
                for (long p = 0; p < k; p++)
                {
                        var b0 = Vector512.Load(bk);
                        var b1 = Vector512.Load(bk + 16);
                        var a0 = Vector512.Create(ak[0 * aRowStride]);
                        c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00);
                        c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
                        var a1 = Vector512.Create(ak[1 * aRowStride]);
                        c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10);
                        c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
                        var a2 = Vector512.Create(ak[2 * aRowStride]);
                        c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20);
                        c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
                        var a3 = Vector512.Create(ak[3 * aRowStride]);
                        c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30);
                        c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
                        var a4 = Vector512.Create(ak[4 * aRowStride]);
                        c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40);
                        c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41);
                        var a5 = Vector512.Create(ak[5 * aRowStride]);
                        c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50);
                        c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51);
                    ak += aColumnStride;
                    bk += n;
                }

                float* cTile = c + (i * n) + j;
                    c00.Store(cTile + (0 * n));
                    c01.Store(cTile + (0 * n) + 16);
                    c10.Store(cTile + (1 * n));
                    c11.Store(cTile + (1 * n) + 16);
                    c20.Store(cTile + (2 * n));
                    c21.Store(cTile + (2 * n) + 16);
                    c30.Store(cTile + (3 * n));
                    c31.Store(cTile + (3 * n) + 16);
                    c40.Store(cTile + (4 * n));
                    c41.Store(cTile + (4 * n) + 16);
                    c50.Store(cTile + (5 * n));
                    c51.Store(cTile + (5 * n) + 16);
            }
        }

        for (; i < m; i++)
        {
            for (long j = 0; j < n; j += 32)
            {
                Vector512<float> c0 = Vector512<float>.Zero, c1 = Vector512<float>.Zero;
                float* ak = a + (i * aRowStride);
                float* bk = b + j;
                for (long p = 0; p < k; p++)
                {
                    var ap = Vector512.Create(*ak);
                    c0 = Avx512F.FusedMultiplyAdd(ap, Vector512.Load(bk), c0);
                    c1 = Avx512F.FusedMultiplyAdd(ap, Vector512.Load(bk + 16), c1);
                    ak += aColumnStride;
                    bk += n;
                }

                c0.Store(c + (i * n) + j);
                c1.Store(c + (i * n) + j + 16);
            }
        }
    }

    /// <summary>A product <c>a b</c> of float32 CPU matrices, <paramref name="a"/> with any strides, <paramref name="b"/> contiguous (see MultiplyRaw).</summary>
    public static Tensor Multiply(Tensor a, Tensor b)
    {
        var c = empty(a.shape[0], b.shape[1]);
        MultiplyRaw(Data(a), a.stride(0), a.stride(1), Data(b), Data(c), a.shape[0], a.shape[1], b.shape[1]);
        return c;
    }

    private const int ChannelBlock = 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Flush(Vector512<float> partial, double* total)
    {
        for (int o = 0; o < ChannelBlock; o++)
        {
            total[o] += partial.GetElement(o);
        }
    }

    // The address of a float32 CPU tensor's first element (THSTensor_data is what TorchSharp's own accessor calls).
    internal static float* Data(Tensor t) => (float*)NativeMethods.THSTensor_data(t.Handle);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Convolve(float[] taps, float[] bias, float p0, float p1, float p2, Span<float> output)
    {
        int channels = bias.Length;
        int o = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var v0 = new Vector<float>(p0);
            var v1 = new Vector<float>(p1);
            var v2 = new Vector<float>(p2);
            for (; o <= channels - Vector<float>.Count; o += Vector<float>.Count)
            {
                var sum = new Vector<float>(bias, o) + (v0 * new Vector<float>(taps, o)) + (v1 * new Vector<float>(taps, channels + o)) + (v2 * new Vector<float>(taps, (2 * channels) + o));
                sum.CopyTo(output[o..]);
            }
        }

        for (; o < channels; o++)
        {
            output[o] = bias[o] + (p0 * taps[o]) + (p1 * taps[channels + o]) + (p2 * taps[(2 * channels) + o]);
        }
    }

    private static void MaxRelu(float* first, float* second, float* output, long length) =>
        MaxRelu(new ReadOnlySpan<float>(first, checked((int)length)), new ReadOnlySpan<float>(second, (int)length), new Span<float>(output, (int)length));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MaxRelu(ReadOnlySpan<float> first, ReadOnlySpan<float> second, Span<float> output)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= output.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Max(Vector.Max(new Vector<float>(first[i..]), new Vector<float>(second[i..])), Vector<float>.Zero).CopyTo(output[i..]);
            }
        }

        for (; i < output.Length; i++)
        {
            output[i] = Math.Max(Math.Max(first[i], second[i]), 0f);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RouteGradient(float* first, float* second, float* grad, float* dFirst, float* dSecond, float[] biasSum, long length)
    {
        int n = checked((int)length);
        var a = new ReadOnlySpan<float>(first, n);
        var c = new ReadOnlySpan<float>(second, n);
        var g = new ReadOnlySpan<float>(grad, n);
        var da = new Span<float>(dFirst, n);
        var dc = new Span<float>(dSecond, n);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                var va = new Vector<float>(a[i..]);
                var vc = new Vector<float>(c[i..]);
                var passed = Vector.ConditionalSelect(Vector.GreaterThan(Vector.Max(va, vc), Vector<float>.Zero), new Vector<float>(g[i..]), Vector<float>.Zero);
                var firstWins = Vector.GreaterThanOrEqual(va, vc);
                Vector.ConditionalSelect(firstWins, passed, Vector<float>.Zero).CopyTo(da[i..]);
                Vector.ConditionalSelect(firstWins, Vector<float>.Zero, passed).CopyTo(dc[i..]);
                (new Vector<float>(biasSum, i) + passed).CopyTo(biasSum, i);
            }
        }

        for (; i < n; i++)
        {
            float passed = Math.Max(a[i], c[i]) > 0 ? g[i] : 0f;
            bool firstWins = a[i] >= c[i];
            da[i] = firstWins ? passed : 0f;
            dc[i] = firstWins ? 0f : passed;
            biasSum[i] += passed;
        }
    }

    // A plain DllImport (not LibraryImport), so that tools compiling these sources without the source generator
    // (tests/MLNetAudio.Tests/Data/ImplicitScalarGuardTests) still can.
    private static class NativeMethods
    {
#pragma warning disable SYSLIB1054, CA5392
        [DllImport("LibTorchSharp")]
        public static extern IntPtr THSTensor_data(IntPtr handle);
#pragma warning restore SYSLIB1054, CA5392
    }
}
