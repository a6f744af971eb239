using MLNetAudio.Scoring;
using TorchSharp;

namespace MLNetAudio.Onnx;

// The network's form and head are the scorer's own enums (MLNetAudio.Scoring.ConvolutionForm / NetworkHead).
// Layouts the exporter relies on: Conv2dTimeOnly reads the window as a one-channel image [1, coefficients, frames]
// (Conv2d kernel (1, k) padding (0, k/2), MaxPool2d (1, p)) and the LSTM sees [frames', channels * coefficients]
// flattened channel-major; Conv1dAllCoefficients reads [coefficients, frames] (coefficients as input channels). The
// FullyConnected head flattens the conv sequence [frames', features] time-major.

/// <summary>One convolution layer's parameters, in PyTorch's layouts.</summary>
/// <param name="OutChannels">Filters in this layer.</param>
/// <param name="Weight">Conv2d: [out, in, 1, k]; Conv1d: [out, in, k]; row-major.</param>
/// <param name="Bias">[out].</param>
internal sealed record ConvLayerWeights(int OutChannels, float[] Weight, float[] Bias);

/// <summary>One LSTM layer's parameters, in PyTorch's layouts and gate order (input, forget, cell, output).</summary>
/// <param name="HiddenSize">H.</param>
/// <param name="WeightIh">weight_ih_l{n}: [4H, inputs].</param>
/// <param name="WeightHh">weight_hh_l{n}: [4H, H].</param>
/// <param name="BiasIh">bias_ih_l{n}: [4H].</param>
/// <param name="BiasHh">bias_hh_l{n}: [4H].</param>
internal sealed record LstmLayerWeights(int HiddenSize, float[] WeightIh, float[] WeightHh, float[] BiasIh, float[] BiasHh);

/// <summary>
/// A plain description of a time-convolution network (architecture and weights, PyTorch layouts), independent of
/// the TorchSharp module that trained it: what <see cref="TimeConvOnnxExporter"/> turns into ONNX.
/// </summary>
/// <remarks>
/// Input: [batch, frames, coefficients] float. Output: [batch], the sigmoid preference of each window.
/// </remarks>
internal sealed class TimeConvNetworkDescription
{
    /// <summary>Conv form.</summary>
    public required ConvolutionForm Form { get; init; }

    /// <summary>Head.</summary>
    public required NetworkHead Head { get; init; }

    /// <summary>Frames per window (time steps of the input).</summary>
    public required int Frames { get; init; }

    /// <summary>Coefficients per frame.</summary>
    public required int Coefficients { get; init; }

    /// <summary>Convolution kernel length along time (odd; padding is kernel / 2 so length is kept before pooling).</summary>
    public int KernelSize { get; init; } = 3;

    /// <summary>Max-pooling size and stride along time (floor mode, as PyTorch's default).</summary>
    public int PoolSize { get; init; } = 2;

    /// <summary>The convolution layers, first to last; each is followed by ReLU and max-pooling.</summary>
    public required IReadOnlyList<ConvLayerWeights> ConvLayers { get; init; }

    /// <summary>The LSTM layers (stacked, unidirectional); empty for <see cref="NetworkHead.FullyConnected"/>.</summary>
    public IReadOnlyList<LstmLayerWeights> LstmLayers { get; init; } = [];

    /// <summary>The output layer's weight, [1, features] (Linear(features, 1)).</summary>
    public required float[] OutputWeight { get; init; }

    /// <summary>The output layer's bias.</summary>
    public required float OutputBias { get; init; }

    /// <summary>
    /// Reads the weights from a TorchSharp state dict keyed as the scorer's network names its parameters:
    /// <c>convs.{i}.weight</c>/<c>bias</c>, <c>lstm.weight_ih_l{n}</c>, <c>lstm.weight_hh_l{n}</c>,
    /// <c>lstm.bias_ih_l{n}</c>, <c>lstm.bias_hh_l{n}</c>, <c>output.weight</c>/<c>bias</c>. Layer counts, channels,
    /// hidden sizes and the kernel length come from the tensors' shapes.
    /// </summary>
    public static TimeConvNetworkDescription FromStateDict(
        ConvolutionForm form, NetworkHead head, int frames, int coefficients, IReadOnlyDictionary<string, torch.Tensor> state, int poolSize = 2)
    {
        ArgumentNullException.ThrowIfNull(state);
        float[] Get(string key) => state.TryGetValue(key, out var t)
            ? t.detach().cpu().contiguous().data<float>().ToArray()
            : throw new ArgumentException($"The state dict has no '{key}'; found: {string.Join(", ", state.Keys)}.", nameof(state));

        var convs = new List<ConvLayerWeights>();
        int kernel = 3;
        for (int i = 0; state.ContainsKey($"convs.{i}.weight"); i++)
        {
            var w = state[$"convs.{i}.weight"];
            kernel = (int)w.shape[^1];
            convs.Add(new ConvLayerWeights((int)w.shape[0], Get($"convs.{i}.weight"), Get($"convs.{i}.bias")));
        }

        var lstm = new List<LstmLayerWeights>();
        for (int n = 0; head == NetworkHead.Lstm && state.ContainsKey($"lstm.weight_hh_l{n}"); n++)
        {
            lstm.Add(new LstmLayerWeights(
                (int)state[$"lstm.weight_hh_l{n}"].shape[1],
                Get($"lstm.weight_ih_l{n}"),
                Get($"lstm.weight_hh_l{n}"),
                Get($"lstm.bias_ih_l{n}"),
                Get($"lstm.bias_hh_l{n}")));
        }

        return new TimeConvNetworkDescription
        {
            Form = form,
            Head = head,
            Frames = frames,
            Coefficients = coefficients,
            KernelSize = kernel,
            PoolSize = poolSize,
            ConvLayers = convs,
            LstmLayers = lstm,
            OutputWeight = Get("output.weight"),
            OutputBias = Get("output.bias").Single(),
        };
    }

    /// <summary>Describes the scorer's trained <see cref="MLNetAudio.Scoring.TimeConvNetwork"/> (its settings and state dict).</summary>
    public static TimeConvNetworkDescription FromNetwork(MLNetAudio.Scoring.TimeConvNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var s = network.Settings;
        if ((s.PoolingLayers ?? s.ConvolutionLayers) != s.ConvolutionLayers)
        {
            throw new NotSupportedException(
                $"The network pools after {s.PoolingLayers} of its {s.ConvolutionLayers} convolution layers; ONNX export supports pooling after every layer (PoolingLayers null).");
        }

        var form = s.ConvolutionForm;
        var head = s.Head;
        using var scope = torch.NewDisposeScope();
        return FromStateDict(form, head, s.FramesPerWindow, s.Coefficients, network.state_dict(), s.PoolingSize);
    }

    /// <summary>Frames after the conv stack: each pooling floors the length.</summary>
    public int PooledFrames
    {
        get
        {
            int t = Frames;
            for (int i = 0; i < ConvLayers.Count; i++)
            {
                t /= PoolSize;
            }

            return t;
        }
    }

    /// <summary>Channels entering conv layer <paramref name="layer"/>.</summary>
    public int ConvInputChannels(int layer) =>
        layer == 0 ? (Form == ConvolutionForm.Conv2dTimeOnly ? 1 : Coefficients) : ConvLayers[layer - 1].OutChannels;

    /// <summary>Features per time step of the conv sequence (what the LSTM reads).</summary>
    public int SequenceFeatures
    {
        get
        {
            int c = ConvLayers.Count == 0 ? ConvInputChannels(0) : ConvLayers[^1].OutChannels;
            return Form == ConvolutionForm.Conv2dTimeOnly ? c * Coefficients : c;
        }
    }

    /// <summary>Inputs of the output layer.</summary>
    public int HeadFeatures => Head == NetworkHead.Lstm
        ? (LstmLayers.Count == 0 ? 0 : LstmLayers[^1].HiddenSize)
        : SequenceFeatures * PooledFrames;

    /// <summary>Checks every size against the architecture; throws once listing every mismatch.</summary>
    /// <exception cref="ArgumentException">A size or weight length is wrong; the message lists each one.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (Frames <= 0)
        {
            errors.Add($"Frames must be positive (found {Frames}).");
        }

        if (Coefficients <= 0)
        {
            errors.Add($"Coefficients must be positive (found {Coefficients}).");
        }

        if (KernelSize <= 0 || KernelSize % 2 == 0)
        {
            errors.Add($"KernelSize must be odd and positive so padding keeps the length (found {KernelSize}).");
        }

        if (PoolSize <= 0)
        {
            errors.Add($"PoolSize must be positive (found {PoolSize}).");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid network description: " + string.Join(" ", errors));
        }

        if (ConvLayers.Count == 0)
        {
            errors.Add("ConvLayers must hold at least one layer.");
        }

        if (PooledFrames <= 0)
        {
            errors.Add($"{ConvLayers.Count} poolings of size {PoolSize} leave no frames of {Frames}.");
        }

        for (int i = 0; i < ConvLayers.Count; i++)
        {
            var l = ConvLayers[i];
            int expected = l.OutChannels * ConvInputChannels(i) * KernelSize;
            Check(errors, $"ConvLayers[{i}].Weight", l.Weight, expected);
            Check(errors, $"ConvLayers[{i}].Bias", l.Bias, l.OutChannels);
        }

        if (Head == NetworkHead.Lstm)
        {
            if (LstmLayers.Count == 0)
            {
                errors.Add("The Lstm head needs at least one LstmLayers entry.");
            }

            int inputs = SequenceFeatures;
            for (int i = 0; i < LstmLayers.Count; i++)
            {
                var l = LstmLayers[i];
                int h4 = 4 * l.HiddenSize;
                Check(errors, $"LstmLayers[{i}].WeightIh", l.WeightIh, h4 * inputs);
                Check(errors, $"LstmLayers[{i}].WeightHh", l.WeightHh, h4 * l.HiddenSize);
                Check(errors, $"LstmLayers[{i}].BiasIh", l.BiasIh, h4);
                Check(errors, $"LstmLayers[{i}].BiasHh", l.BiasHh, h4);
                inputs = l.HiddenSize;
            }
        }
        else if (LstmLayers.Count > 0)
        {
            errors.Add("The FullyConnected head takes no LstmLayers.");
        }

        Check(errors, "OutputWeight", OutputWeight, HeadFeatures);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid network description: " + string.Join(" ", errors));
        }
    }

    private static void Check(List<string> errors, string name, float[]? values, int expected)
    {
        if (values is null || values.Length != expected)
        {
            errors.Add($"{name} must hold {expected} values (found {values?.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}).");
        }
    }
}
