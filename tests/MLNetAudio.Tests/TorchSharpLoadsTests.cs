using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests;

/// <summary>Guards ENVIRONMENT.md pitfall 1: the native library must load on this machine's libstdc++.</summary>
public sealed class TorchSharpLoadsTests
{
    [Fact]
    public void MatrixProductRunsOnCpu()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        using var b = tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
        using var c = matmul(a, b);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
    }
}
