using TorchSharp;

namespace MLNetAudio.Data;

/// <summary>
/// Constant TorchSharp <see cref="Scalar"/>s that live as long as the process.
/// </summary>
/// <remarks>
/// A <see cref="Scalar"/> owns a native c10::Scalar and frees it in its finalizer. One made on the fly from a .NET
/// number (<c>t.mul(0.5f)</c>, <c>t * 2.0</c>, <c>t.add(u)</c>, which is <c>t.add(u, 1)</c>) is unreachable as soon as
/// TorchSharp has read its handle, so a garbage collection on another thread can free it while libtorch still reads
/// it. These are rooted by static fields and never disposed; a value computed at run time goes in a
/// <c>using var s = value.ToScalar();</c> declared before the call instead. Each keeps the .NET type the bare literal
/// had, so libtorch sees the same Scalar as before and results stay bit-identical.
/// Tests/Data/ImplicitScalarGuardTests fails the build's tests on any new temporary Scalar.
/// </remarks>
internal static class TorchScalars
{
    /// <summary>The integer 0 (as in <c>clamp_min(0)</c>, <c>logits &gt; 0</c>).</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>The integer 1: TorchSharp's own default <c>alpha</c> of <c>add</c>, passed explicitly.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer 2 (as in <c>pow(2)</c>).</summary>
    public static readonly Scalar Two = 2.ToScalar();

    /// <summary>The single 0.5 (a probability threshold).</summary>
    public static readonly Scalar HalfSingle = 0.5f.ToScalar();

    /// <summary>The single 0 (a fill value).</summary>
    public static readonly Scalar ZeroSingle = 0f.ToScalar();

    /// <summary>The single −1 (a fill value below every probability).</summary>
    public static readonly Scalar MinusOneSingle = (-1f).ToScalar();

    /// <summary>The single 1e-3 (a small L2 penalty weight).</summary>
    public static readonly Scalar OneThousandthSingle = 1e-3f.ToScalar();

    /// <summary>The single −∞ (masks padding before a softmax or logsumexp).</summary>
    public static readonly Scalar NegativeInfinitySingle = float.NegativeInfinity.ToScalar();

    /// <summary>The double 0.1 (an initial weight scale).</summary>
    public static readonly Scalar OneTenthDouble = 0.1.ToScalar();

    /// <summary>The double 1e-30 (a floor that keeps 0 / 0 away).</summary>
    public static readonly Scalar TinyDouble = 1e-30.ToScalar();
}
