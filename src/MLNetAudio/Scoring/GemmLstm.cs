using MLNetAudio.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Scoring;

/// <summary>
/// A one-layer, batch-first LSTM stepped through time with libtorch's GEMM-based <c>lstm_cell</c>, returning the last
/// hidden state. Parameters have the names, shapes and gate order (i, f, g, o) of <c>nn.LSTM(input, hidden, batchFirst: true)</c>,
/// so saved models and the ONNX exporter read it unchanged.
/// </summary>
/// <remarks>
/// Written by hand because libtorch's float32 CPU LSTM runs through oneDNN's RNN primitives (a reference kernel for
/// training, a blocked <c>brgemm:avx512_core</c> kernel for inference on AVX-512 CPUs), the same library whose blocked
/// convolutions computed wrong values on some x86-64 CPUs. Each step here is libtorch's <c>lstm_cell</c> (through
/// <c>nn.LSTMCell</c>, one native call per step), which ATen composes from two GEMMs and element-wise kernels, not
/// oneDNN. Checked against <c>nn.LSTM</c> in float64 by the numerical reference tests.
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

    // libtorch's LSTMCell module, given this module's parameters before every use; held outside a Module-typed
    // field so that it is not registered (its own weights are never used and must not appear in the state dict).
    private readonly CellHolder _cell = new();

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
        var cell = Cell();
        long steps = sequence.shape[1];
        var hidden = zeros(sequence.shape[0], HiddenSize, dtype: sequence.dtype, device: sequence.device);
        var state = hidden;
        for (long t = 0; t < steps; t++)
        {
            (hidden, state) = cell.call(sequence.select(1, t), (hidden, state));
        }

        return hidden.MoveToOuterDisposeScope();
    }

    // The cell, pointed at the current parameters (which .to(device/dtype) may have replaced). Created without
    // drawing from the global generator, so a seed gives the same initial weights as nn.LSTM.
    private LSTMCell Cell()
    {
        if (_cell.Cell is null)
        {
            using var rng = torch.random.get_rng_state();
            _cell.Cell = nn.LSTMCell(weight_ih_l0.shape[1], HiddenSize, device: weight_ih_l0.device, dtype: weight_ih_l0.dtype);
            torch.random.set_rng_state(rng);
        }

        var cell = _cell.Cell;
        cell.weight_ih = weight_ih_l0;
        cell.weight_hh = weight_hh_l0;
        cell.bias_ih = bias_ih_l0;
        cell.bias_hh = bias_hh_l0;
        return cell;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cell.Cell?.Dispose();
            weight_ih_l0.Dispose();
            weight_hh_l0.Dispose();
            bias_ih_l0.Dispose();
            bias_hh_l0.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Keeps a module out of <see cref="nn.Module"/>'s field-based registration.</summary>
internal sealed class CellHolder
{
    /// <summary>The held cell, created on first use.</summary>
    public LSTMCell? Cell { get; set; }
}
