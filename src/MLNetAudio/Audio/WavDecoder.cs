using System.Buffers.Binary;
using System.Text;

namespace MLNetAudio.Audio;

/// <summary>
/// Reads RIFF/WAVE files: integer PCM (8/16/24/32-bit), IEEE float (32/64-bit) and <c>WAVE_FORMAT_EXTENSIBLE</c>
/// with either sub-format, any channel count. Written by hand because NWaves' reader handles neither 24-bit,
/// 64-bit float nor extensible headers, cannot seek to an offset, and reads whole files.
/// </summary>
/// <remarks>
/// Chunk rules: unknown chunks (LIST, fact, cue, ...) are skipped; odd-sized chunks are followed by one pad byte;
/// the <c>fmt </c> chunk must come before <c>data</c>. A data size of 0xFFFFFFFF (written by tools streaming to a
/// pipe) means "to the end of the file". A data chunk that declares more bytes than the file holds is an
/// <see cref="AudioDataException"/> unless the caller accepts truncated files, in which case the whole frames
/// present are decoded; a trailing partial frame is dropped. Reading starts at the offset's byte position and stops
/// after the requested frames, so the rest of the file is never read.
/// </remarks>
internal static class WavDecoder
{
    private const int FramesPerBlock = 8192;

    private static ReadOnlySpan<byte> GuidSuffix => [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];

    private enum SampleKind
    {
        UInt8,
        Int16,
        Int24,
        Int32,
        Float32,
        Float64,
    }

    private sealed record Format(int Channels, int SampleRate, int BlockAlign, SampleKind Kind, int BytesPerSample);

    public static DecodedAudio Decode(Stream stream, string path, DecodeRequest request)
    {
        long fileLength = stream.Length;
        Span<byte> chunkHeader = stackalloc byte[8];
        stream.Position = 12;
        long pos = 12;
        Format? format = null;
        while (pos + 8 <= fileLength)
        {
            stream.Position = pos;
            stream.ReadExactly(chunkHeader);
            string id = Encoding.Latin1.GetString(chunkHeader[..4]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(chunkHeader[4..]);
            pos += 8;
            long available = fileLength - pos;
            if (id == "fmt ")
            {
                if (size < 16 || size > available)
                {
                    throw new AudioDataException(path, size < 16
                        ? $"the WAV 'fmt ' chunk is {size} bytes; it needs at least 16."
                        : "the WAV file is truncated inside its 'fmt ' chunk.");
                }

                var fmt = new byte[Math.Min(size, 64)];
                stream.ReadExactly(fmt);
                format = ParseFormat(fmt, path);
            }
            else if (id == "data")
            {
                if (format is null)
                {
                    throw new AudioDataException(path, "the WAV 'data' chunk comes before any 'fmt ' chunk, so its layout is unknown.");
                }

                long dataBytes = size;
                if (size == uint.MaxValue)
                {
                    dataBytes = available; // size unknown when written (streamed): read to the end
                }
                else if (size > available)
                {
                    if (!request.AcceptTruncated)
                    {
                        double declared = (double)(size / format.BlockAlign) / format.SampleRate;
                        double present = (double)(available / format.BlockAlign) / format.SampleRate;
                        throw new AudioDataException(
                            path,
                            $"the WAV file is truncated: its data chunk declares {size} bytes ({declared:F3} s) but only {available} bytes ({present:F3} s) are present. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode what is there.");
                    }

                    dataBytes = available;
                }

                return ReadFrames(stream, path, format, pos, dataBytes / format.BlockAlign, request);
            }

            pos += size + (size & 1);
        }

        throw new AudioDataException(path, format is null
            ? "the WAV file has no 'fmt ' chunk (the file may be truncated)."
            : "the WAV file has no 'data' chunk (the file may be truncated).");
    }

    private static Format ParseFormat(ReadOnlySpan<byte> fmt, string path)
    {
        int tag = BinaryPrimitives.ReadUInt16LittleEndian(fmt);
        int channels = BinaryPrimitives.ReadUInt16LittleEndian(fmt[2..]);
        long rate = BinaryPrimitives.ReadUInt32LittleEndian(fmt[4..]);
        int blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(fmt[12..]);
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(fmt[14..]);
        string tagName = $"format tag 0x{tag:X4}";
        if (tag == 0xFFFE)
        {
            if (fmt.Length < 40)
            {
                throw new AudioDataException(path, $"the WAV header says WAVE_FORMAT_EXTENSIBLE but its 'fmt ' chunk is {fmt.Length} bytes, not 40.");
            }

            var guid = fmt.Slice(24, 16);
            if (!guid[4..].SequenceEqual(GuidSuffix))
            {
                throw new AudioFormatException(path, "WAV (extensible, unknown sub-format)",
                    $"WAVE_FORMAT_EXTENSIBLE with sub-format GUID {Convert.ToHexString(guid)} is not supported. Supported: {AudioDecoder.SupportedFormats}.");
            }

            tag = BinaryPrimitives.ReadUInt16LittleEndian(guid);
            tagName = $"extensible sub-format 0x{tag:X4}";
        }

        if (tag is not (1 or 3))
        {
            string codec = tag switch
            {
                2 => "Microsoft ADPCM",
                0x11 => "IMA ADPCM",
                6 => "A-law",
                7 => "mu-law",
                0x31 => "GSM 6.10",
                0x50 => "MPEG Layer 1/2",
                0x55 => "MPEG Layer 3",
                0x161 or 0x162 or 0x163 => "Windows Media Audio",
                0x2000 => "AC-3",
                _ => "an unknown codec",
            };
            throw new AudioFormatException(path, $"WAV ({codec}, {tagName})",
                $"the WAV file is encoded with {codec} ({tagName}); only integer PCM and IEEE float WAV are decoded. Convert it, e.g. `ffmpeg -i in.wav -c:a pcm_s16le out.wav`.");
        }

        AudioDecoder.CheckHeader(path, "WAV", channels, rate);
        SampleKind? kind = (tag, bits) switch
        {
            (1, 8) => SampleKind.UInt8,
            (1, 16) => SampleKind.Int16,
            (1, 24) => SampleKind.Int24,
            (1, 32) => SampleKind.Int32,
            (3, 32) => SampleKind.Float32,
            (3, 64) => SampleKind.Float64,
            _ => null,
        };
        if (kind is null)
        {
            string what = tag == 1 ? "integer PCM" : "IEEE float";
            throw new AudioFormatException(path, $"WAV ({what}, {bits}-bit)",
                $"{what} WAV with {bits} bits per sample is not supported (integer PCM: 8/16/24/32; float: 32/64).");
        }

        int bytes = bits / 8;
        if (blockAlign != channels * bytes)
        {
            throw new AudioDataException(path,
                $"the WAV header's block align is {blockAlign} bytes but {channels} channel(s) of {bits}-bit samples take {channels * bytes}; the header is damaged.");
        }

        return new Format(channels, (int)rate, blockAlign, kind.Value, bytes);
    }

    private static DecodedAudio ReadFrames(Stream stream, string path, Format f, long dataStart, long totalFrames, DecodeRequest request)
    {
        long start = Math.Min(request.StartFrame(f.SampleRate), totalFrames);
        long frames = Math.Min(totalFrames - start, request.FrameLimit(f.SampleRate));
        AudioLimits.CheckSongLength(path, frames, f.SampleRate, "the WAV data chunk holds");
        var output = new MonoBuffer(path, frames, frames, f.SampleRate, request.TargetRate, request.Sink);
        stream.Position = dataStart + (start * f.BlockAlign);
        var block = new byte[FramesPerBlock * f.BlockAlign];
        while (output.Remaining > 0)
        {
            int n = (int)Math.Min(FramesPerBlock, output.Remaining);
            var bytes = block.AsSpan(0, n * f.BlockAlign);
            stream.ReadExactly(bytes);
            DownMix(bytes, f, output.Reserve(n));
        }

        return output.ToAudio();
    }

    private static void DownMix(ReadOnlySpan<byte> bytes, Format f, Span<float> dst)
    {
        int channels = f.Channels;
        int step = f.BytesPerSample;
        float scale = 1f / channels;
        for (int frame = 0, p = 0; frame < dst.Length; frame++)
        {
            double sum = 0;
            for (int c = 0; c < channels; c++, p += step)
            {
                sum += f.Kind switch
                {
                    SampleKind.UInt8 => (bytes[p] - 128) / 128.0,
                    SampleKind.Int16 => BinaryPrimitives.ReadInt16LittleEndian(bytes[p..]) / 32768.0,
                    SampleKind.Int24 => ((bytes[p] << 8) | (bytes[p + 1] << 16) | (bytes[p + 2] << 24)) / 2147483648.0,
                    SampleKind.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[p..]) / 2147483648.0,
                    SampleKind.Float32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[p..]),
                    _ => BinaryPrimitives.ReadDoubleLittleEndian(bytes[p..]),
                };
            }

            dst[frame] = (float)sum * scale;
        }
    }
}
