using MLNetAudio.Scoring;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// Every layer and every network the library builds, in float32 as it runs, against its definition in float64:
/// libtorch's own <c>nn.Conv1d</c>/<c>nn.Conv2d</c>/<c>nn.LSTM</c> modules, which in float64 run ATen's plain
/// kernels (oneDNN has no float64 path). Forward outputs and every parameter gradient, for the input channel counts
/// and batch sizes the library uses and users may choose, each case repeated on fresh inputs after filling freed
/// memory with NaN, so a kernel that reads uninitialised or padded memory, or fails only now and then, is caught.
/// </summary>
/// <remarks>
/// This is the class that would have caught libtorch 2.10's float32 oneDNN convolutions returning errors of order 1
/// for 20 and 40 input channels on AVX-512 CPUs. Tolerance: max |float32 - float64| / max |float64| &lt;= 1e-4 per
/// tensor. Runs in the first test collection (see <see cref="NumericsFirst"/>).
/// </remarks>
[Collection(NumericsFirst.Name)]
public sealed class NumericalReferenceTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;
    private const int Repeats = 3;

    /// <summary>Input channel counts of the issue: 1, 3, 8, 12, 20 (default MFCC count), 40, 48.</summary>
    public static TheoryData<int> ChannelCounts => new() { 1, 3, 8, 12, 20, 40, 48 };

    private static readonly int[] BatchSizes = [1, 2, 32];

    public static TheoryData<ConvolutionForm, NetworkHead, int> Networks
    {
        get
        {
            var data = new TheoryData<ConvolutionForm, NetworkHead, int>();
            foreach (var form in Enum.GetValues<ConvolutionForm>())
            {
                foreach (var head in Enum.GetValues<NetworkHead>())
                {
                    foreach (int c in ChannelCounts)
                    {
                        data.Add(form, head, c);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(ChannelCounts))]
    public void OneDimensionalTimeConvolutionMatchesConv1dInFloat64ForwardAndBackward(int inChannels)
    {
        foreach (int outChannels in new[] { 16, 20 })
        {
            foreach (int batch in BatchSizes)
            {
                for (int repeat = 0; repeat < Repeats; repeat++)
                {
                    using var scope = NewDisposeScope();
                    PolluteFreedMemory();
                    torch.random.manual_seed(1000 + repeat);
                    using var layer = TimeConvolution.Create(inChannels, outChannels, twoDimensional: false);
                    var x = randn(batch, 400, inChannels).transpose(1, 2); // the network's strided layout
                    CheckLayer(
                        $"conv1d in {inChannels} out {outChannels} batch {batch} repeat {repeat}",
                        layer,
                        x,
                        (x64, p) => F.conv1d(x64, p["weight"], p["bias"], padding: 1));
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(ChannelCounts))]
    public void TwoDimensionalTimeConvolutionMatchesConv2dInFloat64ForwardAndBackward(int rows)
    {
        // The seed's form: the first layer reads one channel, later layers 16 (or a user's count) channels; the
        // coefficient rows are never mixed.
        foreach (int inChannels in new[] { 1, 12, 16, 20 })
        {
            foreach (int batch in BatchSizes)
            {
                for (int repeat = 0; repeat < Repeats; repeat++)
                {
                    using var scope = NewDisposeScope();
                    PolluteFreedMemory();
                    torch.random.manual_seed(2000 + repeat);
                    using var layer = TimeConvolution.Create(inChannels, 16, twoDimensional: true);
                    long frames = inChannels == 1 ? 400 : 200;
                    var x = randn(batch, rows, frames, inChannels).permute(0, 3, 1, 2);
                    CheckLayer(
                        $"conv2d (1, 3) in {inChannels} rows {rows} batch {batch} repeat {repeat}",
                        layer,
                        x,
                        (x64, p) => F.conv2d(x64, p["weight"], p["bias"], padding: [0, 1]));
                }
            }
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(20)]
    [InlineData(48)]
    [InlineData(192)] // 2-D form, 12 coefficients x 16 channels
    [InlineData(320)] // 2-D form, 20 coefficients x 16 channels
    [InlineData(640)] // 2-D form, 40 coefficients x 16 channels
    public void LstmMatchesNnLstmInFloat64ForwardAndBackward(int inputSize)
    {
        foreach (int hidden in new[] { 20, 64 })
        {
            foreach (int batch in BatchSizes)
            {
                for (int repeat = 0; repeat < Repeats; repeat++)
                {
                    using var scope = NewDisposeScope();
                    PolluteFreedMemory();
                    torch.random.manual_seed(3000 + repeat);
                    using var layer = GemmLstm.Create(inputSize, hidden);
                    using var reference = nn.LSTM(inputSize, hidden, batchFirst: true);
                    reference.to(float64);
                    var x = randn(batch, 50, inputSize);
                    CheckLayer(
                        $"lstm in {inputSize} hidden {hidden} batch {batch} repeat {repeat}",
                        layer,
                        x,
                        (x64, p) =>
                        {
                            reference.load_state_dict(p);
                            var (sequence, _, _) = reference.call(x64);
                            return sequence.select(1, -1);
                        },
                        () => reference.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.grad));
                }
            }
        }
    }

    [Fact]
    public void PoolingAndLinearMatchFloat64()
    {
        foreach (int batch in BatchSizes)
        {
            for (int repeat = 0; repeat < Repeats; repeat++)
            {
                using var scope = NewDisposeScope();
                PolluteFreedMemory();
                torch.random.manual_seed(4000 + repeat);
                var x = randn(batch, 20, 401);
                AssertClose($"max_pool1d batch {batch}", F.max_pool1d(x, 2), F.max_pool1d(x.to(float64), 2));
                var x2 = randn(batch, 16, 20, 400).permute(0, 1, 2, 3);
                AssertClose($"max_pool2d (1, 2) batch {batch}", F.max_pool2d(x2, [1, 2]), F.max_pool2d(x2.to(float64), [1, 2]));
                var w = randn(1, 3200) * 0.02;
                var v = randn(batch, 3200);
                AssertClose($"linear batch {batch}", F.linear(v, w), F.linear(v.to(float64), w.to(float64)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void WholeNetworkMatchesItsLibTorchDefinitionInFloat64(ConvolutionForm form, NetworkHead head, int coefficients)
    {
        foreach (int batch in BatchSizes)
        {
            for (int repeat = 0; repeat < Repeats; repeat++)
            {
                using var scope = NewDisposeScope();
                PolluteFreedMemory();
                torch.random.manual_seed(5000 + repeat);
                var settings = new TimeConvNetworkSettings(400, coefficients, form, head, Channels: repeat == 2 ? 20 : 16);
                using var network = new TimeConvNetwork(settings);
                using var reference = Float64Definition(network);
                var x = randn(batch, 400, coefficients);
                var weights = randn(batch);
                string name = $"{form} {head} coefficients {coefficients} channels {settings.Channels} batch {batch} repeat {repeat}";
                AssertClose(name + " logits", network.Logits(x), reference.Logits(x.to(float64)));

                // Gradients: the float64 copy follows the float32 run's max-pool choices (see PoolingTrace).
                using var trace = new PoolingTrace();
                network.PoolingTrace = reference.PoolingTrace = trace;
                var loss = (network.Logits(x) * weights).sum();
                trace.Replay();
                var expected = (reference.Logits(x.to(float64)) * weights.to(float64)).sum();
                network.PoolingTrace = reference.PoolingTrace = null;
                loss.backward();
                expected.backward();
                AssertGradientsClose(name, network, reference);
            }
        }
    }

    /// <summary>
    /// The fused training operations (TimeConvReluPool, LstmSequence) off the float32 CPU kernels: run in float64
    /// they take the libtorch-operations path that a GPU or another dtype would take, and must agree with the
    /// definition to float64 rounding; also the unfused form the benchmarks compare against.
    /// </summary>
    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, 20)]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, 3)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, 20)]
    public void FusedOperationsOffTheFloat32KernelsMatchTheDefinitionInFloat64(ConvolutionForm form, int coefficients)
    {
        foreach (bool fused in new[] { true, false })
        {
            foreach (int channels in new[] { 16, 20 })
            {
                using var scope = NewDisposeScope();
                PolluteFreedMemory();
                torch.random.manual_seed(6000 + channels);
                var settings = new TimeConvNetworkSettings(97, coefficients, form, Channels: channels);
                using var network = new TimeConvNetwork(settings) { FusedBlocks = fused };
                network.to(float64);
                using var reference = Float64Definition(network);
                var x = randn(2, 97, coefficients, dtype: float64);
                var weights = randn(2, dtype: float64);
                string name = $"float64 {form} coefficients {coefficients} channels {channels} fused {fused}";
                (network.Logits(x) * weights).sum().backward();
                (reference.Logits(x) * weights).sum().backward();
                AssertClose(name + " logits", network.Logits(x), reference.Logits(x), 1e-9);
                AssertGradientsClose(name, network, reference, 1e-9);
            }
        }
    }

    [Theory]
    [InlineData(20)]
    [InlineData(40)]
    public void SharedConvolutionScoringMatchesTheFloat64Definition(int coefficients)
    {
        foreach (var form in Enum.GetValues<ConvolutionForm>())
        {
            using var scope = NewDisposeScope();
            PolluteFreedMemory();
            torch.random.manual_seed(6000);
            using var network = new TimeConvNetwork(new TimeConvNetworkSettings(400, coefficients, form));
            using var reference = Float64Definition(network);
            network.eval();
            reference.eval();
            using var noGrad = no_grad();
            var song = randn(1500, coefficients);
            long[] starts = [.. Enumerable.Range(0, 23).Select(i => (long)i * 50)];
            var windows = stack(starts.Select(s => song.narrow(0, s, 400)).ToArray());
            AssertClose($"{form} {coefficients} shared convolution", network.ScoreOverlappingWindows(song, starts), reference.forward(windows.to(float64)));
        }
    }

    [Fact]
    public void MultiUserEncoderWithItsAuxiliaryHeadMatchesFloat64()
    {
        // The multi-user recommender's training loss: window embeddings (1-D form, LSTM state) scored against user
        // vectors, log-sum-exp over each pair's windows, plus the auxiliary read-out of the windows' MFCC statistics.
        foreach (int coefficients in new[] { 12, 20, 40 })
        {
            foreach (int batch in BatchSizes)
            {
                using var scope = NewDisposeScope();
                PolluteFreedMemory();
                torch.random.manual_seed(7000 + batch);
                const int windowsPerPair = 2, embedding = 32;
                var settings = new TimeConvNetworkSettings(400, coefficients, ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm, 3, 16, embedding);
                using var network = new TimeConvNetwork(settings);
                using var reference = Float64Definition(network);
                using var statistics = nn.Linear(embedding, 2L * coefficients);
                using var statistics64 = nn.Linear(embedding, 2L * coefficients);
                statistics64.load_state_dict(statistics.state_dict());
                statistics64.to(float64);
                var users = randn(batch, embedding).requires_grad_();
                var users64 = users.detach().to(float64).requires_grad_();
                var x = randn(batch * windowsPerPair, 400, coefficients);
                var labels = (rand(batch) > 0.5).to(float32);

                Tensor Loss(TimeConvNetwork net, Linear head, Tensor u, Tensor windows, Tensor y)
                {
                    var windowEmbedding = net.Embedding(windows);
                    var logits = (windowEmbedding.reshape(batch, windowsPerPair, -1) * u.unsqueeze(1)).sum(-1);
                    var pair = logits.logsumexp(1) - Math.Log(windowsPerPair);
                    var target = cat([windows.mean([1]), windows.std(1)], 1).detach();
                    return F.binary_cross_entropy_with_logits(pair, y) + (F.mse_loss(head.call(windowEmbedding), target) * 0.5);
                }

                using var trace = new PoolingTrace();
                network.PoolingTrace = reference.PoolingTrace = trace;
                var loss = Loss(network, statistics, users, x, labels);
                trace.Replay();
                var loss64 = Loss(reference, statistics64, users64, x.to(float64), labels.to(float64));
                string name = $"multi-user encoder coefficients {coefficients} batch {batch}";
                AssertClose(name + " loss", loss, loss64);
                loss.backward();
                loss64.backward();
                AssertGradientsClose(name, network, reference);
                AssertClose(name + " user vectors grad", users.grad!, users64.grad!);
                AssertClose(name + " auxiliary head grad", statistics.weight.grad!, statistics64.weight.grad!);
            }
        }
    }

    // The same weights in a network built from libtorch's modules, in float64: the definition.
    private static TimeConvNetwork Float64Definition(TimeConvNetwork network)
    {
        var reference = new TimeConvNetwork(network.Settings, TimeConvLayers.LibTorch);
        reference.load_state_dict(network.state_dict());
        reference.to(float64);
        return reference;
    }

    // Allocates and frees tensors full of NaN so that memory libtorch hands out next holds garbage, not zeros.
    private static void PolluteFreedMemory()
    {
        for (long n = 1024; n <= (1L << 22); n *= 4)
        {
            using var garbage = full(n, float.NaN);
        }
    }

    private static void AssertClose(string what, Tensor actual, Tensor expected, double tolerance = Tolerance)
    {
        double error = RelativeError(actual, expected);
        Assert.True(error <= tolerance, $"{what}: max |actual - float64| / max |float64| = {error:E2} > {tolerance:E0}");
    }

    private static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(expected.shape, actual.shape);
        var a = actual.detach().to(float64);
        var e = expected.detach();
        if (!a.isfinite().all().item<bool>())
        {
            return double.PositiveInfinity;
        }

        double scale = Math.Max(e.abs().max().item<double>(), 1e-12);
        return (a - e).abs().max().item<double>() / scale;
    }

    private static void AssertGradientsClose(string what, nn.Module network, nn.Module reference, double tolerance = Tolerance)
    {
        var expected = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        int checkedCount = 0;
        foreach (var (name, parameter) in network.named_parameters())
        {
            Assert.True(expected.TryGetValue(name, out var grad), $"{what}: the definition has no parameter {name}");
            if (grad is null)
            {
                // A parameter the loss does not reach (the output layer, when training uses the embedding).
                Assert.True(parameter.grad is null, $"{what}: {name} has a gradient its definition lacks");
                continue;
            }

            Assert.NotNull(parameter.grad);
            AssertClose($"{what} grad {name}", parameter.grad, grad, tolerance);
            checkedCount++;
        }

        Assert.True(checkedCount >= 4, $"{what}: only {checkedCount} gradients compared");
    }

    // One layer in float32 against a float64 function of the same parameters: output and the gradients of the
    // parameters and the input for a random output gradient.
    private void CheckLayer(
        string what,
        nn.Module<Tensor, Tensor> layer,
        Tensor input,
        Func<Tensor, Dictionary<string, Tensor>, Tensor> definition,
        Func<Dictionary<string, Tensor?>>? definitionGradients = null)
    {
        // Inference (no gradient) takes another code path: check it too.
        using (no_grad())
        {
            var parameters = layer.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().to(float64));
            AssertClose(what + " output without gradient", layer.call(input), definition(input.detach().to(float64), parameters));
        }

        var x = input.detach().requires_grad_();
        var y = layer.call(x);
        var parameters64 = layer.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().to(float64).requires_grad_());
        var x64 = input.detach().to(float64).requires_grad_();
        var y64 = definition(x64, parameters64);
        AssertClose(what + " output", y, y64);

        var upstream = randn_like(y);
        (y * upstream).sum().backward();
        (y64 * upstream.to(float64)).sum().backward();
        AssertClose(what + " input grad", x.grad!, x64.grad!);
        var referenceGradients = definitionGradients?.Invoke();
        foreach (var (name, parameter) in layer.named_parameters())
        {
            var expected = referenceGradients is not null ? referenceGradients[name] : parameters64[name].grad;
            Assert.NotNull(expected);
            AssertClose($"{what} grad {name}", parameter.grad!, expected);
        }

        output.WriteLine($"{what}: ok");
    }
}
