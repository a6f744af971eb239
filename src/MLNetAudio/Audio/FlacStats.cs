namespace MLNetAudio.Audio;

/// <summary>What a decode met: which coding features a file uses (the tests check that each fixture has the ones it
/// is meant to cover).</summary>
internal sealed class FlacStats
{
    /// <summary>Frames per channel assignment code: 0-7 independent (1-8 channels), 8 left/side, 9 right/side, 10 mid/side.</summary>
    public int[] ChannelAssignments { get; } = new int[11];

    /// <summary>Frames per block size code (6 and 7: the size is coded after the header).</summary>
    public int[] BlockSizeCodes { get; } = new int[16];

    /// <summary>Frames per sample rate code (12-14: the rate is coded after the header).</summary>
    public int[] SampleRateCodes { get; } = new int[16];

    public int Frames { get; private set; }

    public int Constant { get; private set; }

    public int Verbatim { get; private set; }

    public int Fixed { get; private set; }

    public int Lpc { get; private set; }

    public int WastedBits { get; private set; }

    public int Rice4 { get; private set; }

    public int Rice5 { get; private set; }

    public int Escaped { get; private set; }

    public HashSet<int> BitsPerSample { get; } = [];

    internal void Frame(int channelCode, int blockCode, int rateCode, int bits)
    {
        Frames++;
        ChannelAssignments[channelCode]++;
        BlockSizeCodes[blockCode]++;
        SampleRateCodes[rateCode]++;
        BitsPerSample.Add(bits);
    }

    internal void Subframe(int type, int wasted)
    {
        if (type == 0)
        {
            Constant++;
        }
        else if (type == 1)
        {
            Verbatim++;
        }
        else if (type < 32)
        {
            Fixed++;
        }
        else
        {
            Lpc++;
        }

        WastedBits += wasted > 0 ? 1 : 0;
    }

    internal void Partition(int parameterBits, bool escaped)
    {
        Rice4 += parameterBits == 4 ? 1 : 0;
        Rice5 += parameterBits == 5 ? 1 : 0;
        Escaped += escaped ? 1 : 0;
    }
}
