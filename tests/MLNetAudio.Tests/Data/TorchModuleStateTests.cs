using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Data;

/// <summary>A TorchSharp module's weights travel inside a stage payload and come back exactly.</summary>
public sealed class TorchModuleStateTests
{
    [Fact]
    public void WeightsRoundTripIntoAFreshModuleAndTheNextFieldStillReads()
    {
        torch.random.manual_seed(1);
        using var saved = Small();
        torch.random.manual_seed(2);
        using var fresh = Small();
        Assert.NotEqual(Weights(saved), Weights(fresh)); // different seeds: the copy below is what makes them equal

        byte[] bytes = Write(saved, trailer: 12345);
        using var reader = new BinaryReader(new MemoryStream(bytes));
        TorchModuleState.Read(reader, fresh);

        Assert.Equal(Weights(saved), Weights(fresh));
        Assert.Equal(12345, reader.ReadInt32());
    }

    [Fact]
    public void ATruncatedBlockFailsBeforeReachingTorch()
    {
        torch.random.manual_seed(1);
        using var module = Small();
        byte[] bytes = Write(module, trailer: 0);
        using var reader = new BinaryReader(new MemoryStream(bytes[..(bytes.Length / 2)]));

        var e = Assert.Throws<InvalidDataException>(() => TorchModuleState.Read(reader, module));
        Assert.Contains("bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WeightsOfAnotherArchitectureAreRefused()
    {
        using var saved = nn.Sequential(("layer", nn.Linear(3, 2)));
        using var other = nn.Sequential(("layer", nn.Linear(4, 2)));
        using var reader = new BinaryReader(new MemoryStream(Write(saved, trailer: 0)));

        var e = Assert.Throws<InvalidDataException>(() => TorchModuleState.Read(reader, other));
        Assert.Contains("do not fit", e.Message, StringComparison.Ordinal);
    }

    private static TorchSharp.Modules.Sequential Small() =>
        nn.Sequential(("conv", nn.Conv1d(2, 3, 3, padding: 1)), ("relu", nn.ReLU()), ("flat", nn.Flatten()), ("out", nn.Linear(3 * 5, 1)));

    private static float[] Weights(nn.Module module) =>
        module.parameters().SelectMany(p => p.detach().cpu().data<float>().ToArray()).ToArray();

    private static byte[] Write(nn.Module module, int trailer)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            TorchModuleState.Write(writer, module);
            writer.Write(trailer);
        }

        return buffer.ToArray();
    }
}
