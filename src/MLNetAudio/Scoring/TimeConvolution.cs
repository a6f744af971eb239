using MLNetAudio.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Scoring;

/// <summary>
/// A convolution along the last (time) axis only, kernel 3, zero padding 1, computed with matrix products: one
/// GEMM over a column matrix when no gradient is needed (scoring), three batched products over time-shifted views
/// when one is. It replaces <c>nn.Conv1d(in, out, 3, padding: 1)</c> and <c>nn.Conv2d(in, out, (1, 3),
/// padding: (0, 1))</c> with the same parameter names and shapes, so saved models load unchanged.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="TimeConvNetwork.Features"/> (training and per-window scoring) does not call this module's
/// <see cref="forward"/>: it runs each convolution block, with its ReLU and pooling, as one
/// <see cref="TimeConvReluPool"/> operation on this module's <see cref="Weight"/> and <see cref="Bias"/> (with the
/// LSTM as <see cref="LstmSequence"/>, the default 2-D training step went from 1.2-1.4x slower than libtorch's
/// <c>Conv2d</c> to about 3.5x faster; docs/benchmarks.md). This forward serves the per-layer paths
/// (<see cref="TimeConvNetwork.ConvolutionActivations"/>, shared-convolution scoring) and the per-layer tests.
/// </para>
/// <para>
/// Written by hand because libtorch's own float32 convolutions on x86-64 CPUs go through oneDNN, whose blocked
/// kernels returned wrong values (errors of order 1) on AVX-512 machines for input channel counts that are not a
/// multiple of the block size (16 with AVX-512, 8 with AVX2), changing from run to run; the default MFCC count (20)
/// is one of them. A GEMM in libtorch runs through its BLAS, not oneDNN, and agrees with the float64 definition
/// (tests/MLNetAudio.Tests/Scoring/NumericalReferenceTests.cs checks every layer and network against it).
/// </para>
/// <para>
/// Input and output layouts are those of the module replaced: <c>[batch, in, time]</c> → <c>[batch, out, time]</c>
/// (1-D), or <c>[batch, in, rows, time]</c> → <c>[batch, out, rows, time]</c> (2-D, rows never mixed). Outputs are
/// returned as a strided view of a channels-last product; the next element-wise operation keeps that layout.
/// </para>
/// </remarks>
internal sealed class TimeConvolution : nn.Module<Tensor, Tensor>
{
    private const int Kernel = 3;

    // Field names are the state-dict keys of nn.Conv1d / nn.Conv2d: keep them for saved models.
#pragma warning disable IDE1006, SA1300, IDE0044
    private Parameter weight;
    private Parameter bias;
#pragma warning restore IDE1006, SA1300, IDE0044

    /// <summary>Wraps existing weights: <c>[out, in, 3]</c> (1-D) or <c>[out, in, 1, 3]</c> (2-D) and bias <c>[out]</c>.</summary>
    public TimeConvolution(Parameter weight, Parameter bias)
        : base(nameof(TimeConvolution))
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        bool oneD = weight.ndim == 3 && weight.shape[2] == Kernel;
        bool twoD = weight.ndim == 4 && weight.shape[2] == 1 && weight.shape[3] == Kernel;
        if (!(oneD || twoD) || bias.ndim != 1 || bias.shape[0] != weight.shape[0])
        {
            throw new ArgumentException(
                $"Expected a weight [out, in, 3] or [out, in, 1, 3] and a bias [out]; got [{string.Join(", ", weight.shape)}] and [{string.Join(", ", bias.shape)}].",
                nameof(weight));
        }

        this.weight = weight;
        this.bias = bias;
        TwoDimensional = twoD;
        RegisterComponents();
    }

    /// <summary>The weight, <c>[out, in, 3]</c> or <c>[out, in, 1, 3]</c>.</summary>
    internal Parameter Weight => weight;

    /// <summary>The bias <c>[out]</c>.</summary>
    internal Parameter Bias => bias;

    /// <summary>Whether this replaces a <c>Conv2d</c> with kernel (1, 3) (input <c>[batch, in, rows, time]</c>).</summary>
    public bool TwoDimensional { get; }

    /// <summary>
    /// A layer initialised exactly as libtorch initialises the module it replaces (same random draws, in the same
    /// order), so a seed gives the same starting weights as before.
    /// </summary>
    public static TimeConvolution Create(long inChannels, long outChannels, bool twoDimensional)
    {
        using var conv = twoDimensional
            ? (nn.Module<Tensor, Tensor>)nn.Conv2d(inChannels, outChannels, kernel_size: (1L, Kernel), padding: (0L, 1L))
            : nn.Conv1d(inChannels, outChannels, kernel_size: Kernel, padding: 1);
        var state = conv.state_dict();
        return new TimeConvolution(
            new Parameter(state["weight"].detach().clone()),
            new Parameter(state["bias"].detach().clone()));
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        int expected = TwoDimensional ? 4 : 3;
        if (input.ndim != expected || input.shape[1] != weight.shape[1])
        {
            throw new ArgumentException(
                $"Expected input [batch, {weight.shape[1]}, {(TwoDimensional ? "rows, " : string.Empty)}time]; got [{string.Join(", ", input.shape)}].",
                nameof(input));
        }

        using var scope = NewDisposeScope();
        long outChannels = weight.shape[0];
        long inChannels = weight.shape[1];
        long batch = input.shape[0];
        long rows = TwoDimensional ? input.shape[2] : 1;
        long time = input.shape[^1];
        long groups = batch * rows;

        Tensor product; // [groups, time, out]
        if (!is_grad_enabled())
        {
            // Scoring: a column matrix [steps, in * 3] (every step's 3-frame neighbourhood, channels-last) and one
            // GEMM, the fastest form measured for inference (docs/benchmarks.md).
            var columns = F.pad(input, [1, 1]).unfold(-1, Kernel, 1); // [b, in, (rows,) time, 3]
            var matrix = (TwoDimensional ? columns.permute(0, 2, 3, 1, 4) : columns.permute(0, 2, 1, 3))
                .reshape(groups * time, inChannels * Kernel);
            using var kernel = weight.reshape(outChannels, inChannels * Kernel);
            product = F.linear(matrix, kernel, bias).view(groups, time, outChannels);
        }
        else
        {
            // Training: channels-last, zero-padded along time, one [time + 2, in] matrix per batch item (and row);
            // when the input is a permuted channels-last product (every layer after the first) the permute is free
            // and the padding is the only copy. out[t] = bias + sum over taps k of in[t + k - 1] . W[:, :, k]: three
            // batched products over time-shifted views. Measured faster in training than the column matrix (whose
            // backward folds it back) and than one GEMM with all taps followed by shifted sums (2-7x slower).
            var channelsLast = TwoDimensional ? input.permute(0, 2, 3, 1) : input.permute(0, 2, 1);
            var padded = F.pad(channelsLast, [0, 0, 1, 1]).reshape(groups, time + 2, inChannels);
            var taps = weight.reshape(outChannels, inChannels, Kernel).permute(2, 1, 0); // [3, in, out]
            Tensor Tap(int k) => taps[k].expand(groups, inChannels, outChannels);
            product = padded.narrow(1, 0, time).bmm(Tap(0))
                .add_(padded.narrow(1, 1, time).bmm(Tap(1)), TorchScalars.One)
                .add_(padded.narrow(1, 2, time).bmm(Tap(2)), TorchScalars.One)
                .add_(bias, TorchScalars.One);
        }

        product = TwoDimensional
            ? product.view(batch, rows, time, outChannels).permute(0, 3, 1, 2) // [b, out, rows, time]
            : product.view(batch, time, outChannels).permute(0, 2, 1); // [b, out, time]

        return product.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            weight.Dispose();
            bias.Dispose();
        }

        base.Dispose(disposing);
    }
}
