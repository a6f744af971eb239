using System.Buffers.Binary;
using System.Diagnostics;
using MLNetAudio.Audio;

namespace MLNetAudio.Tests.Audio;

/// <summary>Builds the hostile files of issue 13 and measures what loading one costs.</summary>
internal static class HostileInput
{
    /// <summary>Allocation allowed to refuse one hostile file: generous, but far below what its claims would cost.</summary>
    public const long MaxAllocatedBytes = 200L << 20;

    /// <summary>Runs <paramref name="load"/> on this thread; returns its exception (or null), the seconds and the bytes it allocated.</summary>
    public static (Exception? Error, double Seconds, long Allocated) Measure(Action load)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        Exception? error = null;
        try
        {
            load();
        }
        catch (Exception e)
        {
            error = e;
        }

        return (error, clock.Elapsed.TotalSeconds, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>Asserts <paramref name="load"/> fails with an <see cref="AudioLoadException"/> naming <paramref name="path"/>
    /// and <paramref name="reason"/>, within <paramref name="seconds"/> and <see cref="MaxAllocatedBytes"/>.</summary>
    public static AudioLoadException AssertRefused(string path, string reason, Action load, double seconds = 5)
    {
        var (error, elapsed, allocated) = Measure(load);
        var e = Assert.IsAssignableFrom<AudioLoadException>(error);
        Assert.Equal(path, e.FilePath);
        Assert.Contains($"'{path}'", e.Message);
        Assert.Contains(reason, e.Message);
        Assert.True(elapsed < seconds, $"refusing took {elapsed:F1} s");
        Assert.True(allocated < MaxAllocatedBytes, $"refusing allocated {allocated >> 20} MB");
        return e;
    }

    /// <summary>A mono 16-bit WAV whose rate field says <paramref name="rate"/>, holding <paramref name="dataBytes"/> bytes of a tone.</summary>
    public static byte[] WavClaimingRate(uint rate, int dataBytes)
    {
        var wav = AudioTestSignals.WavBytes(AudioTestSignals.Sine(440, 8000, dataBytes / 2 / 8000.0), 8000);
        BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(24), rate);
        BinaryPrimitives.WriteUInt32LittleEndian(wav.AsSpan(28), rate * 2); // byte rate, consistent with the lie
        return wav;
    }

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static string SampleClip(string name) => Path.Combine(AppContext.BaseDirectory, "SampleClips", name);

    /// <summary>Start offsets of every Ogg page in <paramref name="ogg"/>.</summary>
    public static List<int> OggPages(byte[] ogg)
    {
        var pages = new List<int>();
        for (int pos = 0; pos + 27 <= ogg.Length;)
        {
            Assert.True(ogg.AsSpan(pos, 4).SequenceEqual("OggS"u8), $"no page at {pos}");
            pages.Add(pos);
            int count = ogg[pos + 26], body = 0;
            for (int i = 0; i < count; i++)
            {
                body += ogg[pos + 27 + i];
            }

            pos += 27 + count + body;
        }

        return pages;
    }

    /// <summary>Recomputes the CRC of the page starting at <paramref name="page"/> (after an edit that must look intact).</summary>
    public static void FixOggCrc(byte[] ogg, int page)
    {
        int count = ogg[page + 26], body = 0;
        for (int i = 0; i < count; i++)
        {
            body += ogg[page + 27 + i];
        }

        ogg.AsSpan(page + 22, 4).Clear();
        uint crc = OggVorbisCheck.Crc(0, ogg.AsSpan(page, 27 + count + body));
        BinaryPrimitives.WriteUInt32LittleEndian(ogg.AsSpan(page + 22), crc);
    }

    /// <summary>Offset of the first occurrence of <paramref name="pattern"/>.</summary>
    public static int Find(byte[] data, ReadOnlySpan<byte> pattern) => data.AsSpan().IndexOf(pattern);
}
