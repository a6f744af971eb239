using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Scoring;

/// <summary>
/// One convolution block of <see cref="TimeConvNetwork"/> as a single autograd operation: the time-only convolution
/// (kernel 3, padding 1) of <see cref="TimeConvolution"/>, bias, ReLU and max-pooling 2 along time, with a forward and
/// a backward pass written by hand from matrix products.
/// </summary>
/// <remarks>
/// <para>
/// Layout, "time-major, padded": <c>[batch, time + 2, rows, channels]</c>, contiguous, whose first and last time
/// steps are zero (the convolution's padding). Rows are the coefficients of the 2-D form (never mixed) or one row
/// (1-D form). Read as one matrix <c>[batch * (time + 2) * rows, channels]</c>, the input seen by tap k of every
/// output position is the same matrix shifted by k * rows rows, a contiguous block: the forward pass is three GEMMs
/// (bias + X[0..] W0 + X[rows..] W1 + X[2 rows..] W2) with no copy of the input, and the backward pass is three GEMMs
/// for the weight gradient and three for the input gradient over the same shifted blocks. The few product rows that
/// straddle two windows are computed and never read. The output is the next block's input, already padded.
/// </para>
/// <para>
/// Why: libtorch's autograd through <see cref="TimeConvolution"/>'s three batched products plus separate ReLU,
/// max-pool and layout copies cost more than libtorch's (oneDNN) <c>Conv2d</c> (docs/benchmarks.md); oneDNN's
/// convolutions are not an option (wrong float32 values on some AVX-512 CPUs). Max-pooling comes before the ReLU
/// (the same values: ReLU is monotone), so the ReLU touches half the elements.
/// </para>
/// <para>
/// Gradients follow libtorch's <c>max_pool</c> and <c>relu</c>: the first element of a pair wins a tie, and a pooled
/// value of exactly 0 passes no gradient. Checked against libtorch's modules in float64 by
/// tests/MLNetAudio.Tests/Scoring/NumericalReferenceTests.cs.
/// </para>
/// </remarks>
internal sealed class TimeConvReluPool : autograd.SingleTensorFunction<TimeConvReluPool>
{
    private const int Kernel = 3;

    /// <inheritdoc/>
    public override string Name => nameof(TimeConvReluPool);

    /// <summary>
    /// Applies the block: <paramref name="padded"/> <c>[batch, time + 2, rows, in]</c> (time-major, padded) to
    /// <c>[batch, time / 2 + 2, rows, out]</c> in the same layout; <paramref name="weight"/> is a
    /// <see cref="TimeConvolution"/>'s (<c>[out, in, 3]</c> or <c>[out, in, 1, 3]</c>).
    /// </summary>
    /// <param name="padded">The block's input, time-major and padded.</param>
    /// <param name="weight">The convolution weight.</param>
    /// <param name="bias">The convolution bias <c>[out]</c>.</param>
    /// <param name="trace">When recording, receives the ReLU and pooling decisions in the conv layout (test hook).</param>
    public static Tensor Apply(Tensor padded, Tensor weight, Tensor bias, PoolingTrace? trace) =>
        apply(padded, weight, bias, trace!);

    /// <summary>Pads <c>[batch, time, rows, channels]</c> with one zero time step on each side, contiguous.</summary>
    public static Tensor Pad(Tensor timeMajor) => F.pad(timeMajor, [0, 0, 0, 0, 1, 1]);

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        var bias = (Tensor)vars[2];
        var trace = vars[3] as PoolingTrace;
        var s = new Shape(x, weight);
        bool kernels = TimeConvKernels.Applicable(x, weight, bias);
        ctx.save_data("inputGrad", x.requires_grad);
        using var scope = NewDisposeScope();
        if (kernels && s.In == 1 && !x.requires_grad)
        {
            // The first block: convolution, bias, pooling and ReLU in one pass; the backward recomputes the
            // convolution (3 multiply-adds per value) rather than keep it.
            var (taps1, bias1) = FirstBlockWeights(weight, bias);
            var output = empty(s.Batch, s.Pooled + 2, s.RowsPerStep, s.Out);
            TimeConvKernels.FirstBlock(x, taps1, bias1, output, s.Batch, s.Time, s.RowsPerStep);
            if (trace is { Replaying: false })
            {
                var conv = TimeConvKernels.FirstBlockProduct(x, taps1, bias1, s.Batch, s.Time, s.RowsPerStep);
                var pairs = conv.narrow(1, 0, 2 * s.Pooled).unflatten(1, [s.Pooled, 2]);
                Record(trace, weight, conv.gt(TorchScalars.Zero), pairs.select(2, 1).relu().gt(pairs.select(2, 0).relu()));
            }

            ctx.save_for_backward([x, weight, bias]);
            ctx.save_data("firstBlock", true);
            return output.MoveToOuterDisposeScope();
        }

        var flat = x.view(s.Rows, s.In);
        var taps = Taps(weight, s); // [3, in, out]
        if (kernels && TimeConvKernels.Sixteen(s.In, s.Out) && s.RowsPerStep % 4 == 0 && (trace is null || s.Time % 2 == 0))
        {
            // Product, pooling and ReLU in one pass (the 2-D form with a coefficient count divisible by 4); an odd
            // last step is left out of the product, so the trace, which reads every step, needs an even count.
            var product = empty(s.Positions, s.Out);
            var next = empty(s.Batch, s.Pooled + 2, s.RowsPerStep, s.Out);
            TimeConvKernels.Convolve16Pool(x, Array(taps), Array(bias), product, next, s.Batch, s.Time, s.RowsPerStep);
            if (trace is { Replaying: false })
            {
                var conv = product.as_strided([s.Batch, s.Time, s.RowsPerStep, s.Out], [(s.Time + 2) * s.RowsPerStep * s.Out, s.RowsPerStep * s.Out, s.Out, 1], 0);
                var (a, b) = s.Pairs(product, 0);
                Record(trace, weight, conv.gt(TorchScalars.Zero), b.relu().gt(a.relu()));
            }

            ctx.save_for_backward([x, weight, product.MoveToOuterDisposeScope()]);
            ctx.save_data("firstBlock", false);
            return next.MoveToOuterDisposeScope();
        }

        Tensor y; // [positions, out]: row i is the output at padded row i + rows (time-major)
        if (s.In == 1)
        {
            // A GEMM with an inner dimension of 3 runs at a few GFLOP/s; broadcast multiply-adds are faster.
            y = addcmul(bias, flat.narrow(0, 0, s.Positions), taps[0], TorchScalars.One);
            y.addcmul_(flat.narrow(0, s.RowsPerStep, s.Positions), taps[1], TorchScalars.One);
            y.addcmul_(flat.narrow(0, 2 * s.RowsPerStep, s.Positions), taps[2], TorchScalars.One);
        }
        else if (kernels && TimeConvKernels.Sixteen(s.In, s.Out))
        {
            y = empty(s.Positions, s.Out);
            TimeConvKernels.Convolve16(x, 0, Array(taps), Array(bias), y, 0, s.Positions, 0, s.RowsPerStep, 2 * s.RowsPerStep);
        }
        else
        {
            y = addmm(bias, flat.narrow(0, 0, s.Positions), taps[0], 1f, 1f);
            y.addmm_(flat.narrow(0, s.RowsPerStep, s.Positions), taps[1], 1f, 1f);
            y.addmm_(flat.narrow(0, 2 * s.RowsPerStep, s.Positions), taps[2], 1f, 1f);
        }

        var (first, second) = s.Pairs(y, 0);
        Tensor padded;
        if (kernels)
        {
            padded = empty(s.Batch, s.Pooled + 2, s.RowsPerStep, s.Out);
            TimeConvKernels.PoolRelu(y, padded, s.Batch, s.Time, s.RowsPerStep, s.Out);
        }
        else
        {
            padded = Pad(maximum(first, second).relu_()); // [batch, time / 2 + 2, rows, out]
        }

        if (trace is { Replaying: false })
        {
            // In the conv layout [batch, out, rows, time] that the float64 definition replays.
            var conv = y.as_strided([s.Batch, s.Time, s.RowsPerStep, s.Out], [(s.Time + 2) * s.RowsPerStep * s.Out, s.RowsPerStep * s.Out, s.Out, 1], 0);
            Record(trace, weight, conv.gt(TorchScalars.Zero), second.relu().gt(first.relu()));
        }

        // TorchSharp saves the tensors after forward returns: they must outlive this method's scope.
        ctx.save_for_backward([x, weight, y.MoveToOuterDisposeScope()]);
        ctx.save_data("firstBlock", false);
        return padded.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var (x, weight) = (saved[0], saved[1]);
        var s = new Shape(x, weight);
        var grad = grad_output.contiguous();
        if ((bool)ctx.get_data("firstBlock"))
        {
            var (taps1, bias1) = FirstBlockWeights(weight, saved[2]);
            var (dTaps1, dBias1) = TimeConvKernels.FirstBlockBackward(x, taps1, bias1, grad, s.Batch, s.Time, s.RowsPerStep);
            var dWeight1 = tensor(dTaps1).view(Kernel, s.Out).t().reshape(weight.shape);
            return [null!, dWeight1.MoveToOuterDisposeScope(), tensor(dBias1).MoveToOuterDisposeScope(), null!];
        }

        var y = saved[2];
        var flat = x.view(s.Rows, s.In);

        // Gradient of the pre-activation, padded like the input (zero at the padding and at an odd last step).
        var dPadded = empty(s.Rows, s.Out, dtype: y.dtype, device: y.device);
        Tensor dBias;
        if (TimeConvKernels.Applicable(y, grad))
        {
            dBias = tensor(TimeConvKernels.PoolReluBackward(y, grad, dPadded, s.Batch, s.Time, s.RowsPerStep, s.Out));
        }
        else
        {
            var (first, second) = s.Pairs(y, 0);
            var passed = grad.narrow(1, 1, s.Pooled).masked_fill(maximum(first, second).le(TorchScalars.Zero), TorchScalars.Zero);
            var secondWins = second.gt(first);
            dPadded.zero_();
            var (dFirst, dSecond) = s.Pairs(dPadded, s.RowsPerStep * s.Out);
            dFirst.copy_(passed.masked_fill(secondWins, TorchScalars.Zero));
            dSecond.copy_(passed.masked_fill(secondWins.logical_not(), TorchScalars.Zero));
            dBias = passed.sum([0, 1, 2]);
        }

        bool inputGrad = (bool)ctx.get_data("inputGrad");
        if (TimeConvKernels.Applicable(x, y, dPadded) && TimeConvKernels.Sixteen(s.In, s.Out))
        {
            var dTaps16 = tensor(TimeConvKernels.WeightGradient16(x, dPadded, s.RowsPerStep, s.Positions, s.RowsPerStep, (s.Time + 2) * s.RowsPerStep)).view(Kernel, s.In, s.Out);
            Tensor? dx16 = null;
            if (inputGrad)
            {
                // dx[j] = sum over taps k of dy at padded row j + (1 - k) rows, times tap k transposed.
                using var transposed = weight.detach().reshape(s.Out, s.In, Kernel).permute(2, 0, 1).contiguous();
                dx16 = empty(s.Rows, s.In);
                dx16.narrow(0, 0, s.RowsPerStep).zero_();
                dx16.narrow(0, s.Rows - s.RowsPerStep, s.RowsPerStep).zero_();
                TimeConvKernels.Convolve16(dPadded, s.RowsPerStep, Array(transposed), null, dx16, s.RowsPerStep, s.Rows - (2 * s.RowsPerStep), s.RowsPerStep, 0, -s.RowsPerStep);
                dx16 = dx16.view(x.shape).MoveToOuterDisposeScope();
            }

            return [dx16!, dTaps16.permute(2, 1, 0).reshape(weight.shape).MoveToOuterDisposeScope(), dBias.MoveToOuterDisposeScope(), null!];
        }

        var dy = dPadded.narrow(0, s.RowsPerStep, s.Positions);
        var dTaps = stack(Enumerable.Range(0, Kernel).Select(k => flat.narrow(0, k * s.RowsPerStep, s.Positions).t().mm(dy)).ToArray());
        var dWeight = dTaps.permute(2, 1, 0).reshape(weight.shape);
        Tensor? dx = null;
        if (inputGrad)
        {
            var taps = Taps(weight, s);
            var dFlat = zeros(s.Rows, s.In, dtype: y.dtype, device: y.device);
            for (int k = 0; k < Kernel; k++)
            {
                dFlat.narrow(0, k * s.RowsPerStep, s.Positions).addmm_(dy, taps[k].t(), 1f, 1f);
            }

            dx = dFlat.view(x.shape).MoveToOuterDisposeScope();
        }

        return [dx!, dWeight.MoveToOuterDisposeScope(), dBias.MoveToOuterDisposeScope(), null!];
    }

    // Decisions [batch, time, rows, out] handed to the trace in the conv layout: [batch, out, rows, time] (2-D form)
    // or [batch, out, time] (1-D form, one row).
    private static void Record(PoolingTrace trace, Tensor weight, Tensor positive, Tensor secondWins)
    {
        Tensor ConvLayout(Tensor t) => weight.ndim == 3 ? t.squeeze(2).permute(0, 2, 1) : t.permute(0, 3, 2, 1);
        trace.Record(ConvLayout(positive), ConvLayout(secondWins));
    }

    private static float[] Array(Tensor t)
    {
        using var c = t.detach().contiguous();
        return c.data<float>().ToArray();
    }

    // Tap-major [3 * out] weights and the bias of a one-channel layer, as .NET arrays for TimeConvKernels.
    private static (float[] Taps, float[] Bias) FirstBlockWeights(Tensor weight, Tensor bias)
    {
        using var taps = weight.detach().reshape(weight.shape[0], Kernel).t().contiguous();
        return (taps.data<float>().ToArray(), bias.detach().data<float>().ToArray());
    }

    private static Tensor Taps(Tensor weight, Shape s) => weight.reshape(s.Out, s.In, Kernel).permute(2, 1, 0).contiguous();

    /// <summary>Sizes of one block; "rows" of the flat matrix are (batch, padded time step, row) triples.</summary>
    private readonly struct Shape
    {
        public Shape(Tensor x, Tensor weight)
        {
            if (x.ndim != 4 || x.shape[3] != weight.shape[1] || x.shape[1] < 4 || !x.is_contiguous())
            {
                throw new ArgumentException(
                    $"Expected a contiguous time-major padded input [batch, time + 2 >= 4, rows, {weight.shape[1]}]; got [{string.Join(", ", x.shape)}].",
                    nameof(x));
            }

            Batch = x.shape[0];
            Time = x.shape[1] - 2;
            RowsPerStep = x.shape[2];
            In = x.shape[3];
            Out = weight.shape[0];
        }

        public long Batch { get; }

        public long Time { get; }

        public long RowsPerStep { get; }

        public long In { get; }

        public long Out { get; }

        public long Pooled => Time / 2;

        public long Rows => Batch * (Time + 2) * RowsPerStep;

        // Product rows computed: every padded row but the first and last time step's.
        public long Positions => Rows - (2 * RowsPerStep);

        // The (even, odd) time steps of each pooling pair of a [*, out] matrix laid out like the product, as
        // [batch, time / 2, rows, out] views; offset 0 for the product, rows * out for a padded matrix.
        public (Tensor First, Tensor Second) Pairs(Tensor matrix, long offset)
        {
            long step = RowsPerStep * Out;
            var pairs = matrix.as_strided([Batch, Pooled, 2, RowsPerStep, Out], [(Time + 2) * step, 2 * step, step, Out, 1], offset + matrix.storage_offset());
            return (pairs.select(2, 0), pairs.select(2, 1));
        }
    }
}
