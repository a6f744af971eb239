using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetAudio.Data;

/// <summary>
/// TorchSharp's Adam with every Scalar of its step kept alive through the native call that reads it.
/// </summary>
/// <remarks>
/// <para>
/// <c>torch.optim.Adam.step</c> (TorchSharp 0.107) makes about eight temporary Scalars per parameter per step
/// (<c>mul_(beta1)</c>, <c>add_(grad, alpha: 1 - beta1)</c>, <c>/ Math.Sqrt(...)</c>, <c>add_(eps)</c>, ...), each of which a
/// garbage collection on another thread may free while libtorch reads it (see <see cref="TorchScalars"/>). This step
/// is the same arithmetic in the same order on the same Scalar values and types, so weights are bit-identical to
/// TorchSharp's Adam, with the Scalars held by <c>using</c> locals instead.
/// </para>
/// <para>
/// Covered: the step's Scalars; its temporary Tensors live in the dispose scope TorchSharp's <c>_step</c> opens (a
/// scope roots what it holds), and the state, state_dict and zero_grad are Adam's own. Not covered: the options this
/// library never uses (weight decay, AMSGrad, maximize), which are refused rather than copied; a closure passed to
/// <see cref="step"/> runs as TorchSharp runs it.
/// </para>
/// </remarks>
internal sealed class RootedAdam : Adam
{
    /// <summary>Adam over <paramref name="parameters"/> with TorchSharp's default betas and epsilon.</summary>
    public RootedAdam(IEnumerable<Parameter> parameters, double lr)
        : base(parameters, lr)
    {
    }

    /// <inheritdoc/>
    public override Tensor step(Func<Tensor>? closure = null) =>
        _step<ParamGroup>(
            group =>
            {
                var options = (Options)group.Options;
                double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, lr = options.LearningRate!.Value;
                if (options.weight_decay != 0 || options.amsgrad == true || options.maximize == true)
                {
                    throw new NotSupportedException("RootedAdam implements plain Adam only: no weight decay, AMSGrad or maximize.");
                }

                using var beta1Scalar = beta1.ToScalar();
                using var beta2Scalar = beta2.ToScalar();
                using var gradientWeight = (1 - beta1).ToScalar();
                using var squareWeight = (1 - beta2).ToScalar();
                using var eps = options.eps!.Value.ToScalar();
                foreach (var param in group.Parameters)
                {
                    var state = (State)_state[param.Handle];
                    var grad = param.grad;
                    if (grad is null)
                    {
                        continue;
                    }

                    state.step += 1;
                    double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
                    double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
                    state.exp_avg.mul_(beta1Scalar).add_(grad, gradientWeight);
                    state.exp_avg_sq.mul_(beta2Scalar).addcmul_(grad, grad.conj(), squareWeight);
                    using var biasCorrection2Root = Math.Sqrt(biasCorrection2).ToScalar();
                    var denominator = state.exp_avg_sq.sqrt().div(biasCorrection2Root).add_(eps, TorchScalars.One);
                    using var stepSize = (-(lr / biasCorrection1)).ToScalar();
                    param.addcdiv_(state.exp_avg, denominator, stepSize);
                }
            },
            closure);

    /// <summary>
    /// Writes every parameter's Adam state (step count, first and second moments as float32 bits), in parameter
    /// order, for a training checkpoint.
    /// </summary>
    /// <remarks>
    /// Layout: int32 parameter count P; per parameter: int64 step, int64 element count E, E x float32 first moment,
    /// E x float32 second moment.
    /// </remarks>
    public void WriteMoments(BinaryWriter writer)
    {
        var states = States();
        writer.Write(states.Count);
        foreach (var state in states)
        {
            writer.Write(state.step);
            float[] first = Floats(state.exp_avg), second = Floats(state.exp_avg_sq);
            writer.Write((long)first.Length);
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(first.AsSpan()));
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(second.AsSpan()));
        }
    }

    /// <summary>Restores the state written by <see cref="WriteMoments"/> into this optimiser over the same parameters.</summary>
    /// <exception cref="InvalidDataException">The counts or sizes do not match this optimiser's parameters.</exception>
    public void ReadMoments(BinaryReader reader)
    {
        var states = States();
        int count = reader.ReadInt32();
        if (count != states.Count)
        {
            throw new InvalidDataException($"the optimiser state holds {count} parameters; the network has {states.Count}");
        }

        using var noGrad = torch.no_grad();
        for (int i = 0; i < count; i++)
        {
            var state = states[i];
            long step = reader.ReadInt64(), elements = reader.ReadInt64();
            if (step < 0 || elements != state.exp_avg.numel())
            {
                throw new InvalidDataException($"the optimiser state of parameter {i} has step {step} and {elements} values; the parameter has {state.exp_avg.numel()}");
            }

            state.step = step;
            ReadInto(reader, state.exp_avg, elements, i);
            ReadInto(reader, state.exp_avg_sq, elements, i);
        }
    }

    private List<State> States() =>
        [.. _parameter_groups.SelectMany(g => g.Parameters).Select(p => (State)_state[p.Handle])];

    private static float[] Floats(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.Float32)
        {
            throw new NotSupportedException($"Optimiser state of type {tensor.dtype} cannot be checkpointed; only float32.");
        }

        using var cpu = tensor.detach().cpu().contiguous();
        return cpu.data<float>().ToArray();
    }

    private static void ReadInto(BinaryReader reader, Tensor target, long elements, int parameter)
    {
        var values = new float[elements];
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
        if (reader.Read(bytes) != bytes.Length)
        {
            throw new EndOfStreamException($"the optimiser state of parameter {parameter} is cut short");
        }

        using var source = torch.tensor(values, target.shape);
        target.copy_(source);
    }
}
