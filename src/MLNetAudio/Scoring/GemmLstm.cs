using MLNetAudio.Data;
using TorchSharp;
using TorchSharp.Modules;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
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

    /// <summary>
    /// Whether to step through time with libtorch's <c>lstm_cell</c> under libtorch's autograd also when training (the
    /// earlier form, kept for comparison in benchmarks) instead of <see cref="LstmSequence"/> (the default).
    /// </summary>
    internal bool StepByStep { get; set; }

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

        // Training: one operation with a hand-written backward. Scoring (no gradient): lstm_cell steps, which ran
        // faster than LstmSequence's per-step operations for the 1-D form's 16 inputs (15.8 against 22.5 ms for
        // 173 windows) and are what the published scoring figures measured.
        if (!StepByStep && is_grad_enabled())
        {
            return LstmSequence.Apply(sequence, weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0);
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

/// <summary>
/// A one-layer LSTM over a whole sequence as one autograd operation, returning the last hidden state: the input
/// projection of every step is one GEMM (<c>[batch * steps, input] x [input, 4 hidden]</c>) before the recurrence,
/// and the backward pass, written by hand (backpropagation through time over the stored gate activations and cell
/// states), ends in one GEMM each for the input-weight gradient, the recurrent-weight gradient and the input
/// gradient. Gate order i, f, g, o as <c>nn.LSTM</c>.
/// </summary>
/// <remarks>
/// The three large products use <see cref="TimeConvKernels.Multiply(Tensor, Tensor)"/> on float32 CPU tensors.
/// Stepping <c>lstm_cell</c> under libtorch's autograd costs about twice the GEMM work of the 2-D form's head (640
/// inputs): every step multiplies a 32-row slice by the input weights, and the backward accumulates the input-weight
/// gradient 50 times. Only the small recurrent products and the element-wise gate arithmetic remain per step here.
/// </remarks>
internal sealed class LstmSequence : autograd.SingleTensorFunction<LstmSequence>
{
    /// <inheritdoc/>
    public override string Name => nameof(LstmSequence);

    /// <summary>The last hidden state <c>[batch, hidden]</c> of <paramref name="sequence"/> <c>[batch, steps, input]</c> from a zero state.</summary>
    public static Tensor Apply(Tensor sequence, Tensor weightIh, Tensor weightHh, Tensor biasIh, Tensor biasHh) =>
        apply(sequence, weightIh, weightHh, biasIh, biasHh);

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weightIh, weightHh, biasIh, biasHh) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4]);
        long batch = x.shape[0], steps = x.shape[1], hidden = weightHh.shape[1];
        using var scope = NewDisposeScope();

        // Gate pre-activations of every step from the input, then in place the activations: [steps, batch, 4 hidden].
        var gates = Product(x.reshape(batch * steps, x.shape[2]), weightIh.t().contiguous()).add_(biasIh.add(biasHh, TorchScalars.One), TorchScalars.One)
            .view(batch, steps, 4 * hidden).transpose(0, 1).contiguous();
        var hiddens = zeros(steps + 1, batch, hidden, dtype: x.dtype, device: x.device); // h_0 .. h_steps
        var cells = zeros(steps + 1, batch, hidden, dtype: x.dtype, device: x.device);
        var recurrent = weightHh.t();
        bool kernels = TimeConvKernels.Applicable(gates, hiddens, cells);
        for (long t = 0; t < steps; t++)
        {
            using var stepScope = NewDisposeScope();
            var a = gates[t];
            a.addmm_(hiddens[t], recurrent, 1f, 1f);
            if (kernels)
            {
                LstmKernels.Step(a, cells[t], cells[t + 1], hiddens[t + 1], batch, hidden);
                continue;
            }

            var g = a.narrow(1, 2 * hidden, hidden);
            var tanhG = g.tanh();
            a.sigmoid_();
            g.copy_(tanhG);
            var c = cells[t + 1];
            c.copy_(cells[t]).mul_(a.narrow(1, hidden, hidden)).addcmul_(a.narrow(1, 0, hidden), g, TorchScalars.One);
            hiddens[t + 1].copy_(c.tanh()).mul_(a.narrow(1, 3 * hidden, hidden));
        }

        ctx.save_for_backward([x, weightIh, weightHh, gates.MoveToOuterDisposeScope(), hiddens.MoveToOuterDisposeScope(), cells.MoveToOuterDisposeScope()]);
        ctx.save_data("inputGrad", x.requires_grad);
        return hiddens[steps].clone().MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var (x, weightIh, weightHh, gates, hiddens, cells) = (saved[0], saved[1], saved[2], saved[3], saved[4], saved[5]);
        long batch = x.shape[0], steps = x.shape[1], hidden = weightHh.shape[1];
        var dGates = empty_like(gates); // gradients of the gate pre-activations, [steps, batch, 4 hidden]
        var dh = grad_output.contiguous().clone();
        var dc = zeros_like(dh);
        bool kernels = TimeConvKernels.Applicable(gates, cells, dGates, dh, dc);
        for (long t = steps - 1; t >= 0; t--)
        {
            using var stepScope = NewDisposeScope();
            if (kernels)
            {
                var dt = dGates[t];
                LstmKernels.StepBackward(gates[t], cells[t], cells[t + 1], dh, dc, dt, batch, hidden);
                dh = dt.mm(weightHh).MoveToOuterDisposeScope();
                continue;
            }

            var a = gates[t];
            var (i, f, g, o) = (a.narrow(1, 0, hidden), a.narrow(1, hidden, hidden), a.narrow(1, 2 * hidden, hidden), a.narrow(1, 3 * hidden, hidden));
            var tanhC = cells[t + 1].tanh();
            var d = dGates[t];
            d.narrow(1, 3 * hidden, hidden).copy_(dh).mul_(tanhC); // output gate
            dc.addcmul_(dh.mul(o), tanhC.mul(tanhC).neg_().add_(TorchScalars.One, TorchScalars.One), TorchScalars.One);
            d.narrow(1, 0, hidden).copy_(dc).mul_(g); // input gate
            d.narrow(1, hidden, hidden).copy_(dc).mul_(cells[t]); // forget gate
            d.narrow(1, 2 * hidden, hidden).copy_(dc).mul_(i); // cell candidate

            // Through the activations: sigmoid' = s (1 - s) for i, f, o; tanh' = 1 - g^2 for g.
            var slope = a.mul(a).neg_().add_(a, TorchScalars.One);
            slope.narrow(1, 2 * hidden, hidden).copy_(g.mul(g).neg_().add_(TorchScalars.One, TorchScalars.One));
            d.mul_(slope);
            dh = d.mm(weightHh).MoveToOuterDisposeScope();
            dc.mul_(f);
        }

        var byItem = dGates.transpose(0, 1).reshape(batch * steps, gates.shape[2]); // rows in x's (batch, step) order
        var dWeightIh = Product(byItem.t(), x.reshape(batch * steps, x.shape[2]).contiguous());
        var dWeightHh = Product(dGates.view(steps * batch, -1).t(), hiddens.narrow(0, 0, steps).reshape(steps * batch, hidden).contiguous());
        var dBias = dGates.sum([0, 1]);
        Tensor? dx = (bool)ctx.get_data("inputGrad") ? Product(byItem, weightIh.contiguous()).view(x.shape).MoveToOuterDisposeScope() : null;
        return [dx!, dWeightIh.MoveToOuterDisposeScope(), dWeightHh.MoveToOuterDisposeScope(), dBias.clone().MoveToOuterDisposeScope(), dBias.MoveToOuterDisposeScope()];
    }

    // a b: the library's AVX-512 product for float32 CPU matrices whose column count it takes (about 2x libtorch's
    // BLAS at these shapes on a Zen 5 core, docs/benchmarks.md), libtorch's mm otherwise.
    private static Tensor Product(Tensor a, Tensor b) =>
        a.dtype == ScalarType.Float32 && a.device_type == DeviceType.CPU && TimeConvKernels.Applicable(b) && TimeConvKernels.CanMultiply(b.shape[1])
            ? TimeConvKernels.Multiply(a, b)
            : a.mm(b);
}

/// <summary>
/// The element-wise part of one <see cref="LstmSequence"/> step on float32 CPU tensors in one pass each way, with
/// <see cref="TensorPrimitives"/> for sigmoid and tanh: libtorch's operations cost about 10 calls per step forward
/// and 20 backward, which for 50 steps of a [32, 256] gate matrix was most of the recurrence's time.
/// </summary>
internal static unsafe class LstmKernels
{
    /// <summary>
    /// Gate pre-activations <paramref name="gates"/> <c>[batch, 4 hidden]</c> (i, f, g, o) to activations in place,
    /// then <c>c = f c_prev + i g</c> and <c>h = o tanh(c)</c>.
    /// </summary>
    public static void Step(Tensor gates, Tensor cellPrevious, Tensor cell, Tensor hidden, long batch, long size)
    {
        float* a = TimeConvKernels.Data(gates);
        float* cp = TimeConvKernels.Data(cellPrevious);
        float* c = TimeConvKernels.Data(cell);
        float* h = TimeConvKernels.Data(hidden);
        int n = checked((int)size);
        for (long b = 0; b < batch; b++)
        {
            float* row = a + (b * 4 * size);
            var i = new Span<float>(row, n);
            var f = new Span<float>(row + size, n);
            var g = new Span<float>(row + (2 * size), n);
            var o = new Span<float>(row + (3 * size), n);
            TensorPrimitives.Sigmoid(new Span<float>(row, 2 * n), new Span<float>(row, 2 * n));
            TensorPrimitives.Tanh(g, g);
            TensorPrimitives.Sigmoid(o, o);
            var cRow = new Span<float>(c + (b * size), n);
            var hRow = new Span<float>(h + (b * size), n);
            TensorPrimitives.Multiply(f, new ReadOnlySpan<float>(cp + (b * size), n), cRow);
            TensorPrimitives.FusedMultiplyAdd(i, g, cRow, cRow);
            TensorPrimitives.Tanh(cRow, hRow);
            TensorPrimitives.Multiply(hRow, o, hRow);
        }
    }

    /// <summary>
    /// One step back: from the gradients of the step's hidden state <paramref name="dHidden"/> and cell state
    /// <paramref name="dCell"/> (updated in place to the previous cell state's), the gradients of the gate
    /// pre-activations into <paramref name="dGates"/> <c>[batch, 4 hidden]</c>.
    /// </summary>
    public static void StepBackward(Tensor gates, Tensor cellPrevious, Tensor cell, Tensor dHidden, Tensor dCell, Tensor dGates, long batch, long size)
    {
        float* a = TimeConvKernels.Data(gates);
        float* cp = TimeConvKernels.Data(cellPrevious);
        float* c = TimeConvKernels.Data(cell);
        float* dh = TimeConvKernels.Data(dHidden);
        float* dc = TimeConvKernels.Data(dCell);
        float* d = TimeConvKernels.Data(dGates);
        int n = checked((int)size);
        Span<float> tanhC = n <= 1024 ? stackalloc float[n] : new float[n];
        for (long b = 0; b < batch; b++)
        {
            float* row = a + (b * 4 * size);
            float* dRow = d + (b * 4 * size);
            float* cpRow = cp + (b * size);
            float* dhRow = dh + (b * size);
            float* dcRow = dc + (b * size);
            TensorPrimitives.Tanh(new ReadOnlySpan<float>(c + (b * size), n), tanhC);
            for (int j = 0; j < n; j++)
            {
                float i = row[j], f = row[size + j], g = row[(2 * size) + j], o = row[(3 * size) + j];
                float tc = tanhC[j], gradH = dhRow[j];
                float gradC = dcRow[j] + (gradH * o * (1 - (tc * tc)));
                dRow[j] = gradC * g * i * (1 - i);
                dRow[size + j] = gradC * cpRow[j] * f * (1 - f);
                dRow[(2 * size) + j] = gradC * i * (1 - (g * g));
                dRow[(3 * size) + j] = gradH * tc * o * (1 - o);
                dcRow[j] = gradC * f;
            }
        }
    }
}

/// <summary>Keeps a module out of <see cref="nn.Module"/>'s field-based registration.</summary>
internal sealed class CellHolder
{
    /// <summary>The held cell, created on first use.</summary>
    public LSTMCell? Cell { get; set; }
}
