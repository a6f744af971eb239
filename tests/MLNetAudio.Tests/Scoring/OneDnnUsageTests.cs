using MLNetAudio.Data;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// The network never runs a oneDNN primitive, so whatever oneDNN computes on a CPU cannot reach its numbers: a
/// fresh process with oneDNN's verbose log on trains and scores every form and head through the library's layers
/// and must log no primitive execution, while a control process running one libtorch float32 convolution must log
/// at least one (so the check cannot pass because the log is off).
/// </summary>
[Collection(NumericsFirst.Name)]
public sealed class OneDnnUsageTests
{
    private static readonly Dictionary<string, string> Verbose = new() { ["DNNL_VERBOSE"] = "1", ["ONEDNN_VERBOSE"] = "1" };

    [Fact]
    public void TrainingAndScoringEveryNetworkFormRunNoOneDnnPrimitive()
    {
        var library = FreshProcessLoadTests.RunFreshProcess(Verbose, FreshProcessEntryPoint.OneDnnProbeCommand, "library");
        Assert.Contains("probe done", library);
        var executed = library.Where(l => l.Contains("primitive,exec", StringComparison.Ordinal)).ToArray();
        Assert.True(executed.Length == 0, $"oneDNN primitives ran:\n{string.Join('\n', executed.Take(10))}");

        var control = FreshProcessLoadTests.RunFreshProcess(Verbose, FreshProcessEntryPoint.OneDnnProbeCommand, "control");
        Assert.Contains(control, l => l.Contains("primitive,exec", StringComparison.Ordinal) && l.Contains("convolution", StringComparison.Ordinal));
    }

    /// <summary>The fresh process's work (see <see cref="FreshProcessEntryPoint.OneDnnProbeCommand"/>).</summary>
    internal static void Probe(string what)
    {
        torch.random.manual_seed(1);
        using var scope = NewDisposeScope();
        if (what == "control")
        {
            using var conv = nn.Conv1d(20, 16, 3, padding: 1);
            conv.call(randn(2, 20, 400)).sum().backward();
            Console.WriteLine("probe done");
            return;
        }

        foreach (var form in Enum.GetValues<ConvolutionForm>())
        {
            foreach (var head in Enum.GetValues<NetworkHead>())
            {
                using var network = new TimeConvNetwork(new TimeConvNetworkSettings(400, 20, form, head));
                using var optimizer = new RootedAdam(network.parameters(), 1e-3);
                var x = randn(4, 400, 20);
                network.train();
                var loss = nn.functional.binary_cross_entropy_with_logits(network.Logits(x), rand(4));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                network.eval();
                using var noGrad = no_grad();
                network.call(x);
                network.ScoreOverlappingWindows(randn(1000, 20), [0L, 50L, 100L, 600L]);
            }
        }

        Console.WriteLine("probe done");
    }
}
