using MLNetAudio.Scoring;
using System.Globalization;
using Google.Protobuf;
using Onnx;

namespace MLNetAudio.Onnx;

/// <summary>
/// Writes a <see cref="TimeConvNetworkDescription"/> as an ONNX model (opset 17) that ONNX Runtime and ML.NET's
/// <c>ApplyOnnxModel</c> run.
/// </summary>
/// <remarks>
/// <para>
/// Written by hand: TorchSharp has no ONNX export (PyTorch's <c>torch.onnx</c> is Python-only), so this builds the
/// graph node by node on OnnxSharp's protobuf object model.
/// </para>
/// <para>Graph (input <c>Windows</c> [batch, frames, coefficients] float, output <c>Score</c> [batch] float):</para>
/// <list type="bullet">
/// <item>Conv2dTimeOnly: Transpose to [B, C, T], Reshape to [B, 1, C, T]; per layer Conv (kernel 1 x k, pads 0/k/2)
/// + Relu + MaxPool (1 x p, stride 1 x p); result [B, ch, C, T'].</item>
/// <item>Conv1dAllCoefficients: Transpose to [B, C, T]; per layer Conv (k, pad k/2) + Relu + MaxPool p; result [B, ch, T'].</item>
/// <item>Lstm head: Transpose to [T', B, ch, (C)] and Reshape to [T', B, features] (channel-major, then coefficient),
/// one LSTM node per layer (gates reordered from PyTorch's i, f, g, o to ONNX's i, o, f, c), last hidden state
/// Y_h [1, B, H] reshaped to [B, H].</item>
/// <item>FullyConnected head: Transpose to [B, T', ch, (C)] and Reshape to [B, T' * features] (time-major: all
/// features of pooled step 0, then step 1, ...).</item>
/// <item>Gemm (transB) with the output layer, Sigmoid, Reshape to [B].</item>
/// </list>
/// </remarks>
internal static class TimeConvOnnxExporter
{
    /// <summary>The ONNX opset the graph uses (the default domain).</summary>
    public const int Opset = 17;

    /// <summary>IR version matching opset 17 (ONNX 1.12).</summary>
    public const long IrVersion = 8;

    /// <summary>Name of the graph input.</summary>
    public const string InputName = "Windows";

    /// <summary>Name of the graph output.</summary>
    public const string OutputName = "Score";

    /// <summary>Name of the dynamic batch dimension.</summary>
    public const string BatchDimension = "batch";

    /// <summary>Writes the model to <paramref name="path"/>.</summary>
    public static void Export(TimeConvNetworkDescription network, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.Create(path);
        Export(network, file);
    }

    /// <summary>Writes the model to <paramref name="stream"/>.</summary>
    public static void Export(TimeConvNetworkDescription network, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        BuildModel(network).WriteTo(stream);
    }

    /// <summary>Returns the model as bytes (what <c>InferenceSession</c> and <c>ApplyOnnxModel</c> accept).</summary>
    public static byte[] ToBytes(TimeConvNetworkDescription network) => BuildModel(network).ToByteArray();

    /// <summary>Builds the ONNX model.</summary>
    /// <exception cref="ArgumentException">The description's sizes disagree; the message lists each one.</exception>
    public static ModelProto BuildModel(TimeConvNetworkDescription network)
    {
        ArgumentNullException.ThrowIfNull(network);
        network.Validate();
        var g = new GraphBuilder();
        int coefficients = network.Coefficients;
        int k = network.KernelSize;
        int p = network.PoolSize;
        bool twoD = network.Form == ConvolutionForm.Conv2dTimeOnly;

        // [B, T, C] -> [B, C, T]: time becomes the last (convolved) axis.
        string x = g.Node("Transpose", [InputName], ("perm", new long[] { 0, 2, 1 }));
        if (twoD)
        {
            x = g.Node("Reshape", [x, g.Int64s("image_shape", 0, 1, coefficients, -1)]);
        }

        for (int i = 0; i < network.ConvLayers.Count; i++)
        {
            var layer = network.ConvLayers[i];
            int inChannels = network.ConvInputChannels(i);
            long[] wShape = twoD ? [layer.OutChannels, inChannels, 1, k] : [layer.OutChannels, inChannels, k];
            string w = g.Floats($"conv{i}.weight", layer.Weight, wShape);
            string b = g.Floats($"conv{i}.bias", layer.Bias, layer.OutChannels);
            long[] kernel = twoD ? [1, k] : [k];
            long[] pads = twoD ? [0, k / 2, 0, k / 2] : [k / 2, k / 2];
            long[] pool = twoD ? [1, p] : [p];
            x = g.Node("Conv", [x, w, b], ("kernel_shape", kernel), ("pads", pads));
            x = g.Node("Relu", [x]);
            x = g.Node("MaxPool", [x], ("kernel_shape", pool), ("strides", pool));
        }

        string features;
        if (network.Head == NetworkHead.Lstm)
        {
            // Time first for ONNX's LSTM (layout 0: [seq, batch, input]); channel-major, then coefficient.
            x = g.Node("Transpose", [x], ("perm", twoD ? new long[] { 3, 0, 1, 2 } : new long[] { 2, 0, 1 }));
            x = g.Node("Reshape", [x, g.Int64s("sequence_shape", 0, 0, network.SequenceFeatures)]);
            string? lastHidden = null;
            for (int i = 0; i < network.LstmLayers.Count; i++)
            {
                var layer = network.LstmLayers[i];
                int h = layer.HiddenSize;
                int inputs = i == 0 ? network.SequenceFeatures : network.LstmLayers[i - 1].HiddenSize;
                string w = g.Floats($"lstm{i}.W", ReorderGates(layer.WeightIh), 1, 4 * h, inputs);
                string r = g.Floats($"lstm{i}.R", ReorderGates(layer.WeightHh), 1, 4 * h, h);
                string bias = g.Floats($"lstm{i}.B", [.. ReorderGates(layer.BiasIh), .. ReorderGates(layer.BiasHh)], 1, 8 * h);
                var outputs = g.NodeMulti("LSTM", [x, w, r, bias], 2, ("hidden_size", (long)h));

                // Y [seq, 1, batch, H] -> [seq, batch, H] for the next layer; Y_h [1, batch, H] is the last state.
                x = g.Node("Reshape", [outputs[0], g.Int64s($"lstm{i}.y_shape", 0, -1, h)]);
                lastHidden = outputs[1];
            }

            features = g.Node("Reshape", [lastHidden!, g.Int64s("hidden_shape", -1, network.HeadFeatures)]);
        }
        else
        {
            // Time-major flattening of the [B, T', features] sequence, as the network's fully connected head reads it.
            x = g.Node("Transpose", [x], ("perm", twoD ? new long[] { 0, 3, 1, 2 } : new long[] { 0, 2, 1 }));
            features = g.Node("Reshape", [x, g.Int64s("flatten_shape", 0, -1)]);
        }

        string ow = g.Floats("output.weight", network.OutputWeight, 1, network.HeadFeatures);
        string ob = g.Floats("output.bias", [network.OutputBias], 1);
        string logit = g.Node("Gemm", [features, ow, ob], ("transB", 1L));
        string prob = g.Node("Sigmoid", [logit]);
        g.Graph.Node.Add(new NodeProto
        {
            Name = "Score_reshape",
            OpType = "Reshape",
            Input = { prob, g.Int64s("score_shape", -1) },
            Output = { OutputName },
        });

        g.Graph.Input.Add(TensorValue(InputName, DimParam(BatchDimension), DimValue(network.Frames), DimValue(coefficients)));
        g.Graph.Output.Add(TensorValue(OutputName, DimParam(BatchDimension)));

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "MLNetAudio",
            ProducerVersion = typeof(TimeConvOnnxExporter).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = $"Time-convolution network ({network.Form}, {network.Head} head): [batch, {network.Frames} frames, "
                + $"{coefficients} coefficients] -> per-window preference in 0..1.",
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        return model;
    }

    /// <summary>PyTorch stacks the gates as (i, f, g, o) blocks of H rows; ONNX wants (i, o, f, c).</summary>
    internal static float[] ReorderGates(float[] pytorch)
    {
        int block = pytorch.Length / 4;
        var onnx = new float[pytorch.Length];
        ReadOnlySpan<float> src = pytorch;
        src.Slice(0 * block, block).CopyTo(onnx.AsSpan(0 * block)); // input
        src.Slice(3 * block, block).CopyTo(onnx.AsSpan(1 * block)); // output
        src.Slice(1 * block, block).CopyTo(onnx.AsSpan(2 * block)); // forget
        src.Slice(2 * block, block).CopyTo(onnx.AsSpan(3 * block)); // cell candidate
        return onnx;
    }

    private static TensorShapeProto.Types.Dimension DimParam(string name) => new() { DimParam = name };

    private static TensorShapeProto.Types.Dimension DimValue(long value) => new() { DimValue = value };

    private static ValueInfoProto TensorValue(string name, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape },
            },
        };
    }

    /// <summary>Adds nodes and initializers with unique names.</summary>
    private sealed class GraphBuilder
    {
        private int _next;

        public GraphProto Graph { get; } = new() { Name = "TimeConvNetwork" };

        public string Node(string op, string[] inputs, params (string Name, object Value)[] attributes) =>
            NodeMulti(op, inputs, 1, attributes)[0];

        public string[] NodeMulti(string op, string[] inputs, int outputCount, params (string Name, object Value)[] attributes)
        {
            string name = $"{op}_{_next++}";
            var node = new NodeProto { Name = name, OpType = op };
            node.Input.AddRange(inputs);
            var outputs = new string[outputCount];
            for (int i = 0; i < outputCount; i++)
            {
                outputs[i] = $"{name}_out{i}";
            }

            node.Output.AddRange(outputs);
            foreach (var (attrName, value) in attributes)
            {
                node.Attribute.Add(value switch
                {
                    long l => new AttributeProto { Name = attrName, Type = AttributeProto.Types.AttributeType.Int, I = l },
                    long[] ls => Ints(attrName, ls),
                    _ => throw new ArgumentException($"Unsupported attribute type {value.GetType().Name}.", nameof(attributes)),
                });
            }

            Graph.Node.Add(node);
            return outputs;
        }

        public string Floats(string name, float[] values, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            t.Dims.AddRange(dims);

            // raw_data is little-endian by the ONNX spec; BitConverter order matches on every platform .NET runs here.
            var bytes = new byte[values.Length * sizeof(float)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            if (!BitConverter.IsLittleEndian)
            {
                throw new PlatformNotSupportedException("ONNX export needs a little-endian platform.");
            }

            t.RawData = ByteString.CopyFrom(bytes);
            Graph.Initializer.Add(t);
            return name;
        }

        public string Int64s(string name, params long[] values)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
            t.Dims.Add(values.Length);
            t.Int64Data.AddRange(values);
            Graph.Initializer.Add(t);
            return name;
        }

        private static AttributeProto Ints(string name, long[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(values);
            return a;
        }
    }

    internal static string Describe(ModelProto model) =>
        string.Join(", ", model.Graph.Node.Select(n => n.OpType).Distinct().OrderBy(s => s, StringComparer.Ordinal))
        + string.Create(CultureInfo.InvariantCulture, $" (opset {model.OpsetImport[0].Version})");
}
