using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetAudio.Onnx;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Scoring;
using TorchSharp;
using Xunit.Abstractions;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;

namespace MLNetAudio.Tests.Onnx;

/// <summary>
/// The public export (<c>ml.Audio().Model.ExportOnnx</c>) of the scorer's real <see cref="TimeConvNetwork"/>: ONNX
/// Runtime agrees with TorchSharp on random windows and on MFCC windows of a real clip, for both convolution forms
/// and the CNN-only head; and the fixed-size route through <c>ApplyOnnxModel</c> (one window per row) matches the
/// scorer and survives ML.NET's own <c>Model.Save</c>/<c>Load</c>.
/// </summary>
public sealed class ScorerOnnxExportTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-5;
    private static readonly Lazy<float[][]> RealWindows = new(ReadRealWindows);
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-scorer-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.FullyConnected)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.FullyConnected)]
    public void OnnxRuntimeAgreesWithTheTorchSharpNetworkOnRandomAndRealWindows(ConvolutionForm form, NetworkHead head)
    {
        // The real clip's windows: 400 frames x 20 standardised MFCCs, as the default segmenter makes them.
        float[][] real = RealWindows.Value;
        const int Frames = 400, Coefficients = 20;
        torch.random.manual_seed(5);
        using var network = new TimeConvNetwork(new TimeConvNetworkSettings(Frames, Coefficients, form, head, ConvolutionLayers: 3, Channels: 4, LstmHiddenSize: 8));
        network.eval();
        var random = new Random(3);
        float[] randomWindows = Enumerable.Range(0, 5 * Frames * Coefficients).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        float[] realWindows = real.SelectMany(w => w).ToArray();
        using (torch.no_grad())
        using (var all = torch.tensor([.. randomWindows, .. realWindows], [5 + real.Length, Frames, Coefficients]))
        {
            // Freshly initialised heads give scores within 1e-3 of each other: widen the output layer and centre its
            // logits on these inputs, so the scores spread over 0..1 and agreement means something.
            var state = network.state_dict();
            state["output.weight"].mul_(10);
            using var logits = network.Logits(all);
            state["output.bias"].sub_(logits.mean());
        }

        using var stream = new MemoryStream();
        var info = new MLContext().Audio().Model.ExportOnnx(network, stream);
        Assert.Equal(("Windows", "Score", Frames, Coefficients, 17), (info.InputName, info.OutputName, info.FramesPerWindow, info.Coefficients, info.Opset));
        using var session = new InferenceSession(stream.ToArray());
        foreach (var (name, windows, batch) in new[] { ("random", randomWindows, 5), ("real", realWindows, real.Length) })
        {
            float[] expected = TorchScores(network, windows, batch, Frames, Coefficients);
            var tensor = new DenseTensor(windows, [batch, Frames, Coefficients]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(info.InputName, tensor)]);
            float[] actual = results.Single(r => r.Name == info.OutputName).AsTensor<float>().ToArray();

            double maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            output.WriteLine($"{form}/{head}, {name} ({batch} windows): max |torch - onnx| = {maxDiff:E2}, scores {expected.Min():F4}..{expected.Max():F4}");
            Assert.Equal(batch, actual.Length);
            Assert.True(maxDiff <= Tolerance, $"{form}/{head}, {name}: max |torch - onnx| = {maxDiff:E2}");
            Assert.True(expected.Max() - expected.Min() > 100 * Tolerance, $"{name} scores do not separate windows: {string.Join(", ", expected)}");
        }
    }

    [Fact]
    public void ExportedScorerRunsOneWindowPerRowThroughApplyOnnxModelAndMLNetModelSaveLoad()
    {
        var ml = new MLContext(seed: 1);
        var model = RealClipPipeline.Pipeline(ml).Fit(RealClipPipeline.Songs(ml, RealClipPipeline.TrainingClips));
        try
        {
            var scorer = RealClipPipeline.Scorer(model);
            string onnxPath = Path.Combine(_dir, "scorer.onnx");
            var info = ml.Audio().Model.ExportOnnx(scorer, onnxPath);

            // The scorer's own window scores (shared convolution) on two unheard songs.
            var songs = model.Transform(RealClipPipeline.Songs(ml, "strings-then-flute.ogg", "flute-then-guitar.ogg"));
            float[][] windows = songs.GetColumn<float[]>("Windows").ToArray();
            float[] expected = songs.GetColumn<float[]>("WindowScores").SelectMany(s => s).ToArray();

            // The documented fixed-size route: one window per row, then ML.NET's ApplyOnnxModel.
            var rows = OnnxWindowRows.Load(ml, windows, info);
            var onnxModel = ml.Transforms.ApplyOnnxModel(info.OutputName, info.InputName, onnxPath).Fit(rows);
            float[] actual = onnxModel.Transform(rows).GetColumn<float[]>(info.OutputName).Select(v => Assert.Single(v)).ToArray();

            Assert.Equal(expected.Length, actual.Length);
            double maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            output.WriteLine($"{expected.Length} windows: max |scorer - ApplyOnnxModel| = {maxDiff:E2}");
            Assert.True(maxDiff <= Tolerance, $"max |scorer - ApplyOnnxModel| = {maxDiff:E2}");

            // ML.NET's own zip carries the ONNX bytes: it loads without the .onnx file and scores the same.
            string zip = Path.Combine(_dir, "onnx-pipeline.zip");
            ml.Model.Save(onnxModel, rows.Schema, zip);
            File.Delete(onnxPath);
            var loaded = new MLContext(seed: 2).Model.Load(zip, out _);
            Assert.Equal(actual, loaded.Transform(rows).GetColumn<float[]>(info.OutputName).Select(v => v[0]).ToArray());
        }
        finally
        {
            RealClipPipeline.DisposeScorers(model);
        }
    }

    private static float[] TorchScores(TimeConvNetwork network, float[] windows, int batch, int frames, int coefficients)
    {
        using var noGrad = torch.no_grad();
        using var x = torch.tensor(windows, [batch, frames, coefficients]);
        using var y = network.call(x);
        return y.data<float>().ToArray();
    }

    private static float[][] ReadRealWindows()
    {
        var ml = new MLContext(seed: 1);
        var songs = RealClipPipeline.Songs(ml, "strings-then-flute.ogg");
        var segmented = RealClipPipeline.FrontEnd(ml).Fit(songs).Transform(songs);
        float[] song = segmented.GetColumn<float[]>("Windows").Single();
        const int Size = 400 * 20;
        return Enumerable.Range(0, song.Length / Size).Select(w => song.AsSpan(w * Size, Size).ToArray()).ToArray();
    }
}

/// <summary>
/// The fixed-size route to score with the exported model inside ML.NET (the snippet docs/scoring.md shows): ML.NET
/// 5.0.1's <c>ApplyOnnxModel</c> needs a known vector size, so each window becomes one row whose column, named after
/// the model's input, is typed <c>[frames, coefficients]</c>.
/// </summary>
internal static class OnnxWindowRows
{
    public static IDataView Load(MLContext ml, IEnumerable<float[]> songs, ScorerOnnxModel onnx)
    {
        int size = onnx.FramesPerWindow * onnx.Coefficients;
        var rows = songs.SelectMany((song, s) => Enumerable.Range(0, song.Length / size)
            .Select(w => new WindowRow { Song = s, Window = w, Windows = song.AsSpan(w * size, size).ToArray() }));
        var schema = SchemaDefinition.Create(typeof(WindowRow));
        schema[nameof(WindowRow.Windows)].ColumnName = onnx.InputName;
        schema[nameof(WindowRow.Windows)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, onnx.FramesPerWindow, onnx.Coefficients);
        return ml.Data.LoadFromEnumerable(rows.ToList(), schema);
    }

    internal sealed class WindowRow
    {
        public int Song { get; set; }

        public int Window { get; set; }

        public float[] Windows { get; set; } = [];
    }
}
