using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Onnx;
using MLNetAudio.Scoring;
using TorchSharp;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// The pooling options (<see cref="TimeConvNetworkSettings.PoolingLayers"/>, <see cref="TimeConvNetworkSettings.PoolingSize"/>)
/// added for experiment 2's head study: defaults unchanged, shapes right for every variant, saved and reloaded intact.
/// </summary>
public sealed class TimeConvPoolingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-pooling-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void DefaultsAreTheSeedsPooling()
    {
        var settings = new TimeConvNetworkSettings(400, 20);
        Assert.Null(settings.PoolingLayers);
        Assert.Equal(2, settings.PoolingSize);
        Assert.Equal(50, settings.PooledFrames); // 400 / 2^3
        Assert.Null(new TimeConvLstmOptions().PoolingLayers);
        Assert.Equal(2, new TimeConvLstmOptions().PoolingSize);
        using var network = new TimeConvNetwork(settings);
        Assert.Equal(8, network.PoolingStride);
        Assert.True(network.CanShareConvolution);
    }

    // 400 frames, 3 convolution layers: steps = 400 / size^pooling layers, rounded down at each pooling.
    [Theory]
    [InlineData(null, 2, 50, new[] { 400, 200, 100 })]
    [InlineData(2, 2, 100, new[] { 400, 200, 100 })]
    [InlineData(1, 2, 200, new[] { 400, 200, 200 })]
    [InlineData(0, 2, 400, new[] { 400, 400, 400 })]
    [InlineData(null, 4, 6, new[] { 400, 100, 25 })]
    public void FullyConnectedHeadSeesThePooledSteps(int? poolingLayers, int poolingSize, int steps, int[] layerFrames)
    {
        torch.random.manual_seed(1);
        var settings = new TimeConvNetworkSettings(400, 3, Head: NetworkHead.FullyConnected, Channels: 2) { PoolingLayers = poolingLayers, PoolingSize = poolingSize };
        using var network = new TimeConvNetwork(settings);
        using var windows = torch.randn(2, 400, 3);

        Assert.Equal(steps, settings.PooledFrames);
        using var features = network.Features(windows);
        Assert.Equal(new long[] { 2, steps, 2 * 3 }, features.shape);
        Assert.Equal(new long[] { 1, steps * 2 * 3 }, network.state_dict()["output.weight"].shape);
        using var scores = network.forward(windows);
        Assert.Equal(new long[] { 2 }, scores.shape);
        Assert.Equal(layerFrames, network.ConvolutionActivations(windows).Select(a => (int)a.shape[^1]).ToArray());
        Assert.Equal(settings.HasDefaultPooling, network.CanShareConvolution);
    }

    [Fact]
    public void BadPoolingIsReportedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => new TimeConvNetwork(new TimeConvNetworkSettings(400, 3) { PoolingLayers = 4, PoolingSize = 1 }));
        Assert.Contains("PoolingLayers", e.Message, StringComparison.Ordinal);
        Assert.Contains("PoolingSize", e.Message, StringComparison.Ordinal);

        var tooShort = Assert.Throws<ArgumentException>(() => new TimeConvNetwork(new TimeConvNetworkSettings(60, 3) { PoolingSize = 4 }));
        Assert.Contains("FramesPerWindow", tooShort.Message, StringComparison.Ordinal); // 60 / 4^3 < 1

        var options = Assert.Throws<ArgumentException>(() => new TimeConvLstmOptions { PoolingLayers = -1 }.Validate());
        Assert.Contains("PoolingLayers", options.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ScorerWithOtherPoolingRoundTrips()
    {
        var ml = new MLContext(seed: 1);
        var data = new WindowData(OrderTask.Songs(12, seed: 2), OrderTask.Frames, OrderTask.Coefficients);
        using var scorer = ml.Audio().Trainers.TimeConvLstm(new TimeConvLstmOptions
        {
            Epochs = 2,
            BatchSize = 8,
            ValidationFraction = 0,
            Seed = 3,
            Threads = 1,
            Device = TorchDevice.Cpu,
            ConvolutionLayers = 2,
            PoolingLayers = 1,
            PoolingSize = 4,
            Channels = 3,
            Head = NetworkHead.FullyConnected,
        }).Fit(data);
        Assert.Equal(1, scorer.Network.Settings.PoolingLayers);
        Assert.Equal(OrderTask.Frames / 4, scorer.Network.Settings.PooledFrames);

        string path = Path.Combine(_dir, "pooling.zip");
        ml.Audio().Model.Save(scorer, data.Schema, path);
        using var loaded = (TimeConvLstmScorer)AudioModelCatalog.Flatten(new MLContext(seed: 9).Audio().Model.Load(path, out _)).Single();

        Assert.Equal(scorer.Network.Settings, loaded.Network.Settings);
        var expected = scorer.Transform(data).GetColumn<float[]>("WindowScores").ToArray();
        Assert.Equal(expected, loaded.Transform(data).GetColumn<float[]>("WindowScores").ToArray());
        Assert.True(expected.SelectMany(s => s).Distinct().Count() > 1, "scores do not vary, so equality would prove nothing");

        // ONNX export pools after every layer; a network that does not is refused, not exported wrong.
        Assert.Throws<NotSupportedException>(() => TimeConvNetworkDescription.FromNetwork(loaded.Network));
    }
}
