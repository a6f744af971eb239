using System.Buffers.Binary;

namespace MLNetAudio.Audio;

/// <summary>How <see cref="WavWriter"/> stores each sample.</summary>
public enum WavSampleFormat
{
    /// <summary>Unsigned 8-bit integer PCM (silence is 128).</summary>
    Pcm8,

    /// <summary>Signed 16-bit integer PCM, the most common WAV layout.</summary>
    Pcm16,

    /// <summary>Signed 24-bit integer PCM, packed in 3 bytes.</summary>
    Pcm24,

    /// <summary>Signed 32-bit integer PCM.</summary>
    Pcm32,

    /// <summary>IEEE 754 single-precision float.</summary>
    IeeeFloat32,

    /// <summary>IEEE 754 double-precision float.</summary>
    IeeeFloat64,
}

/// <summary>
/// Writes WAV files: integer PCM (8/16/24/32-bit) or IEEE float (32/64-bit), any channel count, with a plain
/// <c>WAVEFORMAT</c> header or a <c>WAVE_FORMAT_EXTENSIBLE</c> one. Used by tests, samples and the synthetic
/// data generator; written by hand because the formats are a few lines each and no referenced library writes all of
/// them (NWaves' writer has no 24-bit, 64-bit float or extensible header).
/// </summary>
/// <remarks>
/// Samples are floats in [-1, 1] (integer formats clip outside that range; float formats store them as they are,
/// NaN included, which tests use to build damaged files). Multi-channel input is interleaved: frame by frame, each
/// frame holding one sample per channel.
/// </remarks>
public static class WavWriter
{
    /// <summary>Writes <paramref name="interleavedSamples"/> to a new file at <paramref name="path"/>.</summary>
    /// <param name="path">The file to create or overwrite.</param>
    /// <param name="interleavedSamples">Samples in [-1, 1], interleaved when <paramref name="channels"/> &gt; 1.</param>
    /// <param name="sampleRate">Frames per second, e.g. 44100.</param>
    /// <param name="channels">Samples per frame (1 mono, 2 stereo, ...).</param>
    /// <param name="format">How each sample is stored. Default 16-bit PCM.</param>
    /// <param name="extensible">Write a <c>WAVE_FORMAT_EXTENSIBLE</c> header (required by some tools for more than two
    /// channels or more than 16 bits). Default false.</param>
    public static void Write(
        string path,
        ReadOnlySpan<float> interleavedSamples,
        int sampleRate,
        int channels = 1,
        WavSampleFormat format = WavSampleFormat.Pcm16,
        bool extensible = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Write(stream, interleavedSamples, sampleRate, channels, format, extensible);
    }

    /// <summary>Writes a WAV file to <paramref name="stream"/> (see <see cref="Write(string, ReadOnlySpan{float}, int, int, WavSampleFormat, bool)"/>).</summary>
    public static void Write(
        Stream stream,
        ReadOnlySpan<float> interleavedSamples,
        int sampleRate,
        int channels = 1,
        WavSampleFormat format = WavSampleFormat.Pcm16,
        bool extensible = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        if (interleavedSamples.Length % channels != 0)
        {
            throw new ArgumentException(
                $"The sample count {interleavedSamples.Length} is not a multiple of the channel count {channels}; pass whole frames.",
                nameof(interleavedSamples));
        }

        int bytesPerSample = BytesPerSample(format);
        long dataBytes = (long)interleavedSamples.Length * bytesPerSample;
        int fmtSize = extensible ? 40 : 16;
        long riffSize = 4 + (8 + fmtSize) + (8 + dataBytes) + (dataBytes & 1);
        if (riffSize > uint.MaxValue)
        {
            throw new ArgumentException("The audio is too long for a WAV file (over 4 GiB of data).", nameof(interleavedSamples));
        }

        bool isFloat = format is WavSampleFormat.IeeeFloat32 or WavSampleFormat.IeeeFloat64;
        Span<byte> header = stackalloc byte[12 + 8 + 40 + 8];
        int p = 0;
        WriteAscii(header, ref p, "RIFF");
        WriteU32(header, ref p, (uint)riffSize);
        WriteAscii(header, ref p, "WAVE");
        WriteAscii(header, ref p, "fmt ");
        WriteU32(header, ref p, (uint)fmtSize);
        WriteU16(header, ref p, extensible ? (ushort)0xFFFE : isFloat ? (ushort)3 : (ushort)1);
        WriteU16(header, ref p, (ushort)channels);
        WriteU32(header, ref p, (uint)sampleRate);
        WriteU32(header, ref p, (uint)(sampleRate * channels * bytesPerSample));
        WriteU16(header, ref p, (ushort)(channels * bytesPerSample));
        WriteU16(header, ref p, (ushort)(bytesPerSample * 8));
        if (extensible)
        {
            WriteU16(header, ref p, 22); // cbSize: the extension below
            WriteU16(header, ref p, (ushort)(bytesPerSample * 8)); // valid bits per sample
            WriteU32(header, ref p, channels <= 32 ? (uint)((1L << channels) - 1) : 0); // speaker mask: first N positions
            // SubFormat GUID: the format tag followed by the fixed KSDATAFORMAT suffix.
            WriteU32(header, ref p, isFloat ? 3u : 1u);
            ReadOnlySpan<byte> suffix = [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];
            suffix.CopyTo(header[p..]);
            p += suffix.Length;
        }

        WriteAscii(header, ref p, "data");
        WriteU32(header, ref p, (uint)dataBytes);
        stream.Write(header[..p]);

        var buffer = new byte[64 * 1024 / bytesPerSample * bytesPerSample];
        int perBlock = buffer.Length / bytesPerSample;
        for (int start = 0; start < interleavedSamples.Length; start += perBlock)
        {
            var block = interleavedSamples.Slice(start, Math.Min(perBlock, interleavedSamples.Length - start));
            Encode(block, format, buffer);
            stream.Write(buffer, 0, block.Length * bytesPerSample);
        }

        if ((dataBytes & 1) == 1)
        {
            stream.WriteByte(0); // RIFF chunks are padded to an even size
        }
    }

    /// <summary>Bytes one sample of <paramref name="format"/> takes in the file.</summary>
    public static int BytesPerSample(WavSampleFormat format) => format switch
    {
        WavSampleFormat.Pcm8 => 1,
        WavSampleFormat.Pcm16 => 2,
        WavSampleFormat.Pcm24 => 3,
        WavSampleFormat.Pcm32 => 4,
        WavSampleFormat.IeeeFloat32 => 4,
        WavSampleFormat.IeeeFloat64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown WAV sample format."),
    };

    private static void Encode(ReadOnlySpan<float> samples, WavSampleFormat format, Span<byte> dst)
    {
        for (int i = 0; i < samples.Length; i++)
        {
            float s = samples[i];
            switch (format)
            {
                case WavSampleFormat.Pcm8:
                    dst[i] = (byte)(Quantize(s, 127) + 128);
                    break;
                case WavSampleFormat.Pcm16:
                    BinaryPrimitives.WriteInt16LittleEndian(dst[(2 * i)..], (short)Quantize(s, short.MaxValue));
                    break;
                case WavSampleFormat.Pcm24:
                    int v = (int)Quantize(s, 8388607);
                    dst[3 * i] = (byte)v;
                    dst[(3 * i) + 1] = (byte)(v >> 8);
                    dst[(3 * i) + 2] = (byte)(v >> 16);
                    break;
                case WavSampleFormat.Pcm32:
                    BinaryPrimitives.WriteInt32LittleEndian(dst[(4 * i)..], (int)Quantize(s, int.MaxValue));
                    break;
                case WavSampleFormat.IeeeFloat32:
                    BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], s);
                    break;
                default:
                    BinaryPrimitives.WriteDoubleLittleEndian(dst[(8 * i)..], s);
                    break;
            }
        }
    }

    // Rounds to the nearest level and clips, so out-of-range input saturates instead of wrapping around.
    private static long Quantize(float s, long max)
    {
        if (float.IsNaN(s))
        {
            return 0;
        }

        double scaled = Math.Round(s * (double)max);
        return (long)Math.Clamp(scaled, -max, max);
    }

    private static void WriteAscii(Span<byte> dst, ref int p, string text)
    {
        foreach (char c in text)
        {
            dst[p++] = (byte)c;
        }
    }

    private static void WriteU16(Span<byte> dst, ref int p, ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(dst[p..], value);
        p += 2;
    }

    private static void WriteU32(Span<byte> dst, ref int p, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(dst[p..], value);
        p += 4;
    }
}
