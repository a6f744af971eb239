using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Scoring;

public sealed class TimeConvNetworkTests
{
    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.FullyConnected)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.FullyConnected)]
    public void ShapesFollowTheSettings(ConvolutionForm form, NetworkHead head)
    {
        torch.random.manual_seed(1);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(64, 5, form, head, ConvolutionLayers: 3, Channels: 4, LstmHiddenSize: 7));
        using var x = randn(2, 64, 5);
        using var y = net.call(x);
        Assert.Equal(new long[] { 2 }, y.shape);
        Assert.All(y.data<float>().ToArray(), v => Assert.InRange(v, 0f, 1f));

        var acts = net.ConvolutionActivations(x);
        Assert.Equal(3, acts.Count);
        for (int l = 0; l < 3; l++)
        {
            var expected = form == ConvolutionForm.Conv2dTimeOnly ? new long[] { 2, 4, 5, 64 >> l } : new long[] { 2, 4, 64 >> l };
            Assert.Equal(expected, acts[l].shape);
            acts[l].Dispose();
        }

        using var f = net.Features(x);
        Assert.Equal(new long[] { 2, 8, form == ConvolutionForm.Conv2dTimeOnly ? 20 : 4 }, f.shape);
        using var e = net.Embedding(x);
        Assert.Equal(new long[] { 2, head == NetworkHead.Lstm ? 7 : 8 * f.shape[2] }, e.shape);
    }

    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients)]
    public void FusedAndUnfusedLayersAgreeAndTrainTheSameParameters(ConvolutionForm form)
    {
        // The fused training operations (TimeConvReluPool, LstmSequence) and the per-layer modules compute the same
        // function; float32 rounding differs only. An odd frame count exercises the unpaired last step.
        torch.random.manual_seed(3);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(203, 20, form));
        using var x = randn(3, 203, 20);
        var gradients = new List<Dictionary<string, Tensor>>();
        var outputs = new List<Tensor>();
        foreach (bool fused in new[] { true, false })
        {
            net.FusedBlocks = fused;
            net.zero_grad();
            var logits = net.Logits(x);
            logits.sum().backward();
            outputs.Add(logits.detach());
            gradients.Add(net.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
        }

        Assert.True((outputs[0] - outputs[1]).abs().max().item<float>() < 1e-4f);
        foreach (var (name, g) in gradients[0])
        {
            double scale = Math.Max(g.abs().max().item<float>(), 1e-6f);
            Assert.True((g - gradients[1][name]).abs().max().item<float>() / scale < 1e-3, name);
        }

        using var empty = zeros(0, 203, 20);
        using var none = net.call(empty);
        Assert.Equal(new long[] { 0 }, none.shape);
    }

    [Fact]
    public void WeightsAreReachableByName()
    {
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(32, 3, ConvolutionLayers: 2, Channels: 4, LstmHiddenSize: 6));
        var keys = net.state_dict().Keys.ToHashSet();
        Assert.Contains("convs.0.weight", keys);
        Assert.Contains("convs.1.bias", keys);
        Assert.Contains("output.weight", keys);
        Assert.Contains(keys, k => k.StartsWith("lstm.", StringComparison.Ordinal));
        Assert.Equal(new long[] { 4, 1, 1, 3 }, net.state_dict()["convs.0.weight"].shape);
    }

    [Fact]
    public void Conv2dFormComputesTheLiteralTwoDimensionalConvolution()
    {
        // Layer 1 must be nn.Conv2d (1, 3), padding (0, 1), on the [B, 1, C, T] image, then ReLU.
        torch.random.manual_seed(4);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(32, 5, ConvolutionLayers: 2, Channels: 3, LstmHiddenSize: 4));
        using var x = randn(2, 32, 5);
        var state = net.state_dict();
        using var image = x.transpose(1, 2).unsqueeze(1);
        using var expected = nn.functional.relu(nn.functional.conv2d(image, state["convs.0.weight"], state["convs.0.bias"], padding: new long[] { 0, 1 }));
        var acts = net.ConvolutionActivations(x);
        Assert.Equal(expected.shape, acts[0].shape);
        Assert.True(acts[0].allclose(expected, rtol: 1e-5, atol: 1e-6));

        // And layer 2 is Conv2d (1, 3) over max-pool (1, 2) of layer 1.
        using var pooled = nn.functional.max_pool2d(expected, kernel_size: new long[] { 1, 2 });
        using var expected2 = nn.functional.relu(nn.functional.conv2d(pooled, state["convs.1.weight"], state["convs.1.bias"], padding: new long[] { 0, 1 }));
        Assert.True(acts[1].allclose(expected2, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Conv2dFormNeverMixesCoefficients()
    {
        // Changing coefficient 2 of the input must leave every other coefficient row of every layer unchanged.
        torch.random.manual_seed(3);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(32, 4, ConvolutionLayers: 3, Channels: 3, LstmHiddenSize: 5));
        using var x = randn(1, 32, 4);
        using var x2 = x.clone();
        x2[TensorIndex.Colon, TensorIndex.Colon, 2] = randn(1, 32);
        var a = net.ConvolutionActivations(x);
        var b = net.ConvolutionActivations(x2);
        for (int l = 0; l < 3; l++)
        {
            foreach (int c in new[] { 0, 1, 3 })
            {
                Assert.True(a[l].select(2, c).eq(b[l].select(2, c)).all().item<bool>(), $"layer {l} coefficient {c} changed");
            }

            Assert.False(a[l].select(2, 2).eq(b[l].select(2, 2)).all().item<bool>());
        }
    }

    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm, 3, 50)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm, 3, 50)]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.FullyConnected, 3, 50)]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm, 2, 7)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm, 4, 13)]
    public void SharedConvolutionMatchesPerWindowScoring(ConvolutionForm form, NetworkHead head, int layers, int hop)
    {
        torch.random.manual_seed(5);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(400, 6, form, head, layers, Channels: 4, LstmHiddenSize: 8));
        Assert.True(net.CanShareConvolution);
        using var song = randn(400 + (hop * 20) + 3, 6);
        var starts = Enumerable.Range(0, 21).Select(w => (long)w * hop).ToArray();
        using var noGrad = no_grad();
        using var shared = net.ScoreOverlappingWindows(song, starts);
        using var windows = stack(starts.Select(s => song.narrow(0, s, 400)).ToArray());
        using var naive = net.call(windows);
        var a = shared.data<float>().ToArray();
        var b = naive.data<float>().ToArray();
        Assert.Equal(b.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.True(Math.Abs(a[i] - b[i]) < 1e-5, $"window {i}: shared {a[i]} vs per-window {b[i]}");
        }
    }
}
