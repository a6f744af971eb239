using MLNetAudio.Scoring;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using MLNetAudio.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Onnx;

/// <summary>
/// The exported ONNX graph must compute what the TorchSharp network computes: the same network is built from
/// TorchSharp's own nn modules (PyTorch's layouts and gate order), exported, and run through ONNX Runtime.
/// The reference network stays beside the scorer's real <c>TimeConvNetwork</c> (ScorerOnnxExportTests) because it
/// reaches what the real one cannot: stacked LSTM layers and window lengths that pooling must floor.
/// </summary>
public sealed class TimeConvOnnxExporterTests(ITestOutputHelper output)
{
    private const int Frames = 25; // odd: pooling must floor as PyTorch does
    private const int Coefficients = 5;
    private const double Tolerance = 1e-5;

    // Enum names as strings: the description types are internal, and xunit needs public test signatures.
    [Theory]
    [InlineData("Conv2dTimeOnly", "Lstm", 1)]
    [InlineData("Conv1dAllCoefficients", "Lstm", 1)]
    [InlineData("Conv2dTimeOnly", "Lstm", 2)]
    [InlineData("Conv2dTimeOnly", "FullyConnected", 0)]
    [InlineData("Conv1dAllCoefficients", "FullyConnected", 0)]
    public void OnnxRuntimeAgreesWithTorchSharpOnRandomInputsForAnyBatchSize(string formName, string headName, int lstmLayers)
    {
        var form = Enum.Parse<ConvolutionForm>(formName);
        var head = Enum.Parse<NetworkHead>(headName);
        using var network = new ReferenceNetwork(form, head, lstmLayers, seed: 17);
        var description = network.Describe();
        using var session = new InferenceSession(TimeConvOnnxExporter.ToBytes(description));

        var random = new Random(5);
        foreach (int batch in new[] { 1, 3, 7 })
        {
            float[] input = RandomWindows(random, batch);
            float[] expected = network.Score(input, batch);
            float[] actual = RunOnnx(session, input, batch);

            Assert.Equal(batch, actual.Length);
            double maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            output.WriteLine($"{form}/{head}/{lstmLayers} LSTM layers, batch {batch}: max |torch - onnx| = {maxDiff:E2}");
            Assert.True(maxDiff <= Tolerance, $"{form}/{head}, batch {batch}: max |torch - onnx| = {maxDiff:E2}");
            if (batch > 1)
            {
                // Scores that do not vary with the input could agree by accident; these weights must separate windows.
                Assert.True(expected.Max() - expected.Min() > 100 * Tolerance, $"degenerate scores {string.Join(", ", expected)}");
            }
        }
    }

    [Fact]
    public void GatesAreReorderedFromPyTorchToOnnxOrder()
    {
        // Blocks i, f, g, o (PyTorch) must come out as i, o, f, g (ONNX: i, o, f, c).
        float[] pytorch = [1, 1, 2, 2, 3, 3, 4, 4];
        Assert.Equal(new float[] { 1, 1, 4, 4, 2, 2, 3, 3 }, TimeConvOnnxExporter.ReorderGates(pytorch));
    }

    [Fact]
    public void GraphUsesOpset17AndOnlyTheDocumentedOperators()
    {
        using var network = new ReferenceNetwork(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm, 1, seed: 3);
        var model = TimeConvOnnxExporter.BuildModel(network.Describe());
        Assert.Equal(17, model.OpsetImport.Single().Version);
        var allowed = new HashSet<string> { "Conv", "Relu", "MaxPool", "Transpose", "Reshape", "LSTM", "Gemm", "Sigmoid" };
        Assert.All(model.Graph.Node, n => Assert.Contains(n.OpType, allowed));
        Assert.Contains(model.Graph.Node, n => n.OpType == "LSTM");
        Assert.Equal(TimeConvOnnxExporter.BatchDimension, model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
    }

    [Fact]
    public void WrongWeightSizesAreAllReportedAtOnce()
    {
        using var network = new ReferenceNetwork(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm, 1, seed: 3);
        var good = network.Describe();
        var bad = new TimeConvNetworkDescription
        {
            Form = good.Form,
            Head = good.Head,
            Frames = good.Frames,
            Coefficients = good.Coefficients,
            ConvLayers = [good.ConvLayers[0] with { Bias = new float[1] }, good.ConvLayers[1]],
            LstmLayers = [good.LstmLayers[0] with { WeightHh = new float[2] }],
            OutputWeight = new float[3],
            OutputBias = 0,
        };
        var e = Assert.Throws<ArgumentException>(() => TimeConvOnnxExporter.BuildModel(bad));
        Assert.Contains("ConvLayers[0].Bias", e.Message, StringComparison.Ordinal);
        Assert.Contains("LstmLayers[0].WeightHh", e.Message, StringComparison.Ordinal);
        Assert.Contains("OutputWeight", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ExportedModelScoresInsideAnMLNetPipelineAndSurvivesModelSaveAndLoad()
    {
        using var network = new ReferenceNetwork(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm, 1, seed: 11);
        string dir = Directory.CreateTempSubdirectory("mlnetaudio-onnx-").FullName;
        try
        {
            string onnxPath = Path.Combine(dir, "scorer.onnx");
            TimeConvOnnxExporter.Export(network.Describe(), onnxPath);

            var ml = new MLContext(seed: 1);
            var random = new Random(9);
            var rows = Enumerable.Range(0, 6).Select(_ => new WindowRow { Windows = RandomWindows(random, 1) }).ToList();
            var data = ml.Data.LoadFromEnumerable(rows);

            var pipeline = ml.Transforms.ApplyOnnxModel(
                outputColumnNames: [TimeConvOnnxExporter.OutputName], inputColumnNames: [TimeConvOnnxExporter.InputName], modelFile: onnxPath);
            var model = pipeline.Fit(data);
            float[][] scores = ReadScores(ml, model.Transform(data));

            // Each row is one window scored as a batch of one; it must match TorchSharp on the same window.
            for (int i = 0; i < rows.Count; i++)
            {
                float expected = network.Score(rows[i].Windows, 1)[0];
                Assert.Single(scores[i]);
                Assert.True(Math.Abs(expected - scores[i][0]) <= Tolerance, $"row {i}: torch {expected}, ML.NET {scores[i][0]}");
            }

            string zip = Path.Combine(dir, "pipeline.zip");
            ml.Model.Save(model, data.Schema, zip);

            // MLNetAudio's own model file carries the ML.NET ONNX stage as well.
            string audioZip = Path.Combine(dir, "audio-model.zip");
            ml.Audio().Model.Save(model, data.Schema, audioZip);

            File.Delete(onnxPath); // the ONNX bytes travel inside both zips
            var loaded = new MLContext(seed: 2).Model.Load(zip, out var schema);
            Assert.Equal(data.Schema.Count, schema.Count);
            float[][] reloaded = ReadScores(ml, loaded.Transform(data));
            Assert.Equal(scores, reloaded);
            var fromAudioZip = ml.Audio().Model.Load(audioZip, out _);
            Assert.Equal(scores, ReadScores(ml, fromAudioZip.Transform(data)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static float[][] ReadScores(MLContext ml, IDataView scored) =>
        ml.Data.CreateEnumerable<ScoreRow>(scored, reuseRowObject: false).Select(r => r.Score).ToArray();

    private static float[] RandomWindows(Random random, int batch)
    {
        var x = new float[batch * Frames * Coefficients];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(random.NextDouble() * 4 - 2);
        }

        return x;
    }

    private static float[] RunOnnx(InferenceSession session, float[] input, int batch)
    {
        var tensor = new DenseTensor(input, [batch, Frames, Coefficients]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(TimeConvOnnxExporter.InputName, tensor)]);
        return results.Single().AsTensor<float>().ToArray();
    }

    private sealed class WindowRow
    {
        [VectorType(Frames, Coefficients)]
        public float[] Windows { get; set; } = [];
    }

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }

    /// <summary>
    /// The network written with TorchSharp's nn modules, straight from the architecture's definition; the exporter's
    /// description is read from these modules' parameters.
    /// </summary>
    internal sealed class ReferenceNetwork : nn.Module<Tensor, Tensor>
    {
        private static readonly int[] Channels = [4, 6];
        private const int Hidden = 5;

        private readonly ConvolutionForm _form;
        private readonly NetworkHead _head;
        // Field names are the state-dict keys, the same as the scorer's TimeConvNetwork uses.
        private readonly TorchSharp.Modules.ModuleList<nn.Module<Tensor, Tensor>> convs;
        private readonly nn.Module<Tensor, Tensor> _pool;
        private readonly TorchSharp.Modules.LSTM? lstm;
        private readonly TorchSharp.Modules.Linear output;

        public ReferenceNetwork(ConvolutionForm form, NetworkHead head, int lstmLayers, int seed)
            : base(nameof(ReferenceNetwork))
        {
            torch.random.manual_seed(seed);
            _form = form;
            _head = head;
            bool twoD = form == ConvolutionForm.Conv2dTimeOnly;
            convs = nn.ModuleList<nn.Module<Tensor, Tensor>>();
            for (int i = 0; i < Channels.Length; i++)
            {
                int inputs = i > 0 ? Channels[i - 1] : twoD ? 1 : Coefficients;
                convs.Add(twoD
                    ? nn.Conv2d(inputs, Channels[i], kernel_size: (1, 3), padding: (0, 1))
                    : nn.Conv1d(inputs, Channels[i], kernel_size: 3, padding: 1));
            }

            _pool = twoD ? nn.MaxPool2d(kernel_size: (1, 2), stride: (1, 2)) : nn.MaxPool1d(kernel_size: 2, stride: 2);
            int pooledFrames = Frames >> Channels.Length;
            int sequenceFeatures = Channels[^1] * (twoD ? Coefficients : 1);
            if (head == NetworkHead.Lstm)
            {
                lstm = nn.LSTM(sequenceFeatures, Hidden, numLayers: lstmLayers, batchFirst: true);
                output = nn.Linear(Hidden, 1);
            }
            else
            {
                output = nn.Linear(sequenceFeatures * pooledFrames, 1);
            }

            RegisterComponents();
        }

        public override Tensor forward(Tensor windows)
        {
            using var scope = NewDisposeScope();
            var x = windows.transpose(1, 2); // [B, C, T]
            if (_form == ConvolutionForm.Conv2dTimeOnly)
            {
                x = x.unsqueeze(1); // [B, 1, C, T]
            }

            foreach (var conv in convs)
            {
                x = _pool.call(nn.functional.relu(conv.call(x)));
            }

            // [B, ch, C, T'] -> [B, T', ch * C] (channel-major) or [B, ch, T'] -> [B, T', ch].
            var sequence = _form == ConvolutionForm.Conv2dTimeOnly
                ? x.permute(0, 3, 1, 2).flatten(2)
                : x.permute(0, 2, 1);
            Tensor features;
            if (_head == NetworkHead.Lstm)
            {
                var (_, hN, _) = lstm!.call(sequence);
                features = hN[-1];
            }
            else
            {
                features = sequence.flatten(1); // time-major
            }

            return torch.sigmoid(output.call(features)).squeeze(-1).MoveToOuterDisposeScope();
        }

        public float[] Score(float[] windows, int batch)
        {
            using var noGrad = torch.no_grad();
            using var x = torch.tensor(windows, [batch, Frames, Coefficients]);
            using var y = forward(x);
            return y.data<float>().ToArray();
        }

        public TimeConvNetworkDescription Describe() =>
            TimeConvNetworkDescription.FromStateDict(_form, _head, Frames, Coefficients, state_dict());
    }
}
