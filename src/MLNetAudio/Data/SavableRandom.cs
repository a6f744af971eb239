using System.Numerics;

namespace MLNetAudio.Data;

/// <summary>
/// The draws of <c>new System.Random(seed)</c>, with a state that can be written and read back, so a training run
/// resumed from a checkpoint draws exactly the numbers the uninterrupted run would have drawn.
/// </summary>
/// <remarks>
/// <para>
/// <c>System.Random(int seed)</c> runs Knuth's subtractive generator (.NET's <c>Net5CompatSeedImpl</c>, kept
/// unchanged across .NET versions so seeded sequences stay reproducible), but its state is private. This is the same
/// algorithm with the same derivations for <see cref="Next(int)"/> and <see cref="NextInt64(long)"/>, so code that
/// switches from <c>System.Random</c> to it draws the same numbers and trains the same weights
/// (<c>SavableRandomTests</c> compares them draw for draw).
/// </para>
/// <para>
/// State format (<see cref="Write"/>, little-endian): int32 next index, int32 second index, 56 x int32 seed array.
/// </para>
/// </remarks>
internal sealed class SavableRandom
{
    private const int StateLength = 56;
    private readonly int[] _seedArray = new int[StateLength];
    private int _inext;
    private int _inextp;

    /// <summary>The generator of <c>new System.Random(seed)</c>.</summary>
    public SavableRandom(int seed)
    {
        int subtraction = seed == int.MinValue ? int.MaxValue : Math.Abs(seed);
        int mj = 161803398 - subtraction;
        _seedArray[55] = mj;
        int mk = 1;
        int ii = 0;
        for (int i = 1; i < 55; i++)
        {
            if ((ii += 21) >= 55)
            {
                ii -= 55;
            }

            _seedArray[ii] = mk;
            mk = mj - mk;
            if (mk < 0)
            {
                mk += int.MaxValue;
            }

            mj = _seedArray[ii];
        }

        for (int k = 1; k < 5; k++)
        {
            for (int i = 1; i < 56; i++)
            {
                int n = i + 30;
                if (n >= 55)
                {
                    n -= 55;
                }

                _seedArray[i] -= _seedArray[1 + n];
                if (_seedArray[i] < 0)
                {
                    _seedArray[i] += int.MaxValue;
                }
            }
        }

        _inext = 0;
        _inextp = 21;
    }

    /// <summary>A value in [0, <paramref name="maxValue"/>), as <c>System.Random.Next(int)</c> draws it.</summary>
    public int Next(int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return (int)(Sample() * maxValue);
    }

    /// <summary>A value in [0, <paramref name="maxValue"/>), as <c>System.Random.NextInt64(long)</c> draws it.</summary>
    public long NextInt64(long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        ulong range = (ulong)maxValue;
        if (range <= 1)
        {
            return 0;
        }

        // The smallest power of two holding the range, drawn until the value falls inside it.
        int bits = BitOperations.Log2(range - 1) + 1;
        while (true)
        {
            ulong result = NextUInt64() >> (64 - bits);
            if (result < range)
            {
                return (long)result;
            }
        }
    }

    /// <summary>Writes the state (232 bytes).</summary>
    public void Write(BinaryWriter writer)
    {
        writer.Write(_inext);
        writer.Write(_inextp);
        foreach (int v in _seedArray)
        {
            writer.Write(v);
        }
    }

    /// <summary>Replaces the state with one written by <see cref="Write"/>.</summary>
    /// <exception cref="InvalidDataException">The indices are out of range.</exception>
    public void Read(BinaryReader reader)
    {
        int inext = reader.ReadInt32(), inextp = reader.ReadInt32();
        if (inext is < 0 or >= StateLength || inextp is < 0 or >= StateLength)
        {
            throw new InvalidDataException($"random generator indices {inext}, {inextp} are outside 0..{StateLength - 1}");
        }

        for (int i = 0; i < StateLength; i++)
        {
            _seedArray[i] = reader.ReadInt32();
        }

        _inext = inext;
        _inextp = inextp;
    }

    /// <summary>A copy of the state, to restore later with <see cref="Restore"/>.</summary>
    public byte[] SaveState()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            Write(writer);
        }

        return stream.ToArray();
    }

    /// <summary>Restores a state from <see cref="SaveState"/>.</summary>
    public void Restore(byte[] state)
    {
        using var reader = new BinaryReader(new MemoryStream(state, writable: false));
        Read(reader);
    }

    private double Sample() => InternalSample() * (1.0 / int.MaxValue);

    private ulong NextUInt64() =>
        ((ulong)(uint)Next(1 << 22)) | (((ulong)(uint)Next(1 << 22)) << 22) | (((ulong)(uint)Next(1 << 20)) << 44);

    private int InternalSample()
    {
        int locINext = _inext;
        if (++locINext >= 56)
        {
            locINext = 1;
        }

        int locINextp = _inextp;
        if (++locINextp >= 56)
        {
            locINextp = 1;
        }

        int result = _seedArray[locINext] - _seedArray[locINextp];
        if (result == int.MaxValue)
        {
            result--;
        }

        if (result < 0)
        {
            result += int.MaxValue;
        }

        _seedArray[locINext] = result;
        _inext = locINext;
        _inextp = locINextp;
        return result;
    }
}
