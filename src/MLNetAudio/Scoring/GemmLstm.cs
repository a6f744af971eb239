using MLNetAudio.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Scoring;

/// <summary>
/// A one-layer, batch-first LSTM written with matrix products and element-wise operations, returning the last hidden
/// state. Parameters have the names, shapes and gate order (i, f, g, o) of <c>nn.LSTM(input, hidden, batchFirst: true)</c>,
/// so saved models and the ONNX exporter read it unchanged.
/// </summary>
/// <remarks>
/// Written by hand because libtorch's float32 CPU LSTM runs through oneDNN's RNN primitives (a reference kernel for
/// training, a blocked <c>brgemm:avx512_core</c> kernel for inference on AVX-512 CPUs), the same library whose blocked
/// convolutions computed wrong values on some x86-64 CPUs. Here the input projection of every step is one GEMM;
/// each step then does one GEMM with the recurrent weights and a handful of element-wise operations, all through
/// libtorch's BLAS and ATen kernels. Checked against <c>nn.LSTM</c> in float64 by the numerical reference tests.
/// </remarks>
internal sealed class GemmLstm : nn.Module<Tensor, Tensor>
{
    // Field names are nn.LSTM's state-dict keys: keep them for saved models.
#pragma warning disable IDE1006, SA1300, IDE0044
    private Parameter weight_ih_l0;
    private Parameter weight_hh_l0;
    private Parameter bias_ih_l0;
    private Parameter bias_hh_l0;
#pragma warning restore IDE1006, SA1300, IDE0044

    private GemmLstm(Parameter weightIh, Parameter weightHh, Parameter biasIh, Parameter biasHh)
        : base(nameof(GemmLstm))
    {
        weight_ih_l0 = weightIh;
        weight_hh_l0 = weightHh;
        bias_ih_l0 = biasIh;
        bias_hh_l0 = biasHh;
        HiddenSize = weightHh.shape[1];
        RegisterComponents();
    }

    /// <summary>State size.</summary>
    public long HiddenSize { get; }

    /// <summary>An LSTM initialised exactly as <c>nn.LSTM</c> initialises itself (same draws, same order).</summary>
    public static GemmLstm Create(long inputSize, long hiddenSize)
    {
        using var lstm = nn.LSTM(inputSize, hiddenSize, batchFirst: true);
        var state = lstm.state_dict();
        Parameter Copy(string name) => new(state[name].detach().clone());
        return new GemmLstm(Copy("weight_ih_l0"), Copy("weight_hh_l0"), Copy("bias_ih_l0"), Copy("bias_hh_l0"));
    }

    /// <summary>The last hidden state <c>[batch, hidden]</c> of the sequence <c>[batch, steps, input]</c> (zero initial state).</summary>
    public override Tensor forward(Tensor sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.ndim != 3 || sequence.shape[2] != weight_ih_l0.shape[1] || sequence.shape[1] < 1)
        {
            throw new ArgumentException(
                $"Expected a sequence [batch, steps >= 1, {weight_ih_l0.shape[1]}]; got [{string.Join(", ", sequence.shape)}].",
                nameof(sequence));
        }

        using var scope = NewDisposeScope();
        long h = HiddenSize;
        long steps = sequence.shape[1];

        // Every step's input projection and both biases at once: [batch, steps, 4h].
        var projected = F.linear(sequence, weight_ih_l0, bias_ih_l0.add(bias_hh_l0, TorchScalars.One));
        var recurrent = weight_hh_l0.t();
        Tensor? hidden = null, cell = null;
        for (long t = 0; t < steps; t++)
        {
            var gates = projected.select(1, t);
            if (hidden is not null)
            {
                gates = gates.addmm(hidden, recurrent);
            }

            var sigmoids = gates.sigmoid();
            var input = sigmoids.narrow(1, 0, h);
            var forget = sigmoids.narrow(1, h, h);
            var output = sigmoids.narrow(1, 3 * h, h);
            var candidate = gates.narrow(1, 2 * h, h).tanh();
            cell = cell is null ? input * candidate : (forget * cell).add(input * candidate, TorchScalars.One);
            hidden = output * cell.tanh();
        }

        return hidden!.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            weight_ih_l0.Dispose();
            weight_hh_l0.Dispose();
            bias_ih_l0.Dispose();
            bias_hh_l0.Dispose();
        }

        base.Dispose(disposing);
    }
}
