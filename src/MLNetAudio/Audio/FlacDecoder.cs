using System.Buffers.Binary;
using System.Security.Cryptography;

namespace MLNetAudio.Audio;

/// <summary>
/// Decodes native FLAC streams (and, through <see cref="OggReader"/>, Ogg FLAC) to mono floats. Hand-written because
/// no library served to this project decodes FLAC (the NuGet mirror has no managed FLAC decoder; NAudio's FLAC
/// support needs Windows' Media Foundation).
/// </summary>
/// <remarks>
/// <para>Follows the FLAC format (RFC 9639): STREAMINFO; frame headers with their CRC-8; CONSTANT, VERBATIM, FIXED
/// (orders 0-4) and LPC (orders 1-32) subframes; Rice-coded residuals with 4- and 5-bit parameters and escape codes;
/// wasted bits; independent, left/side, right/side and mid/side channels; 4 to 32 bits per sample (the 33-bit side
/// channel of 32-bit audio included); the frame CRC-16; and, when the whole stream was decoded, the MD5 of the
/// samples against STREAMINFO's.</para>
/// <para>Checks: every header value is bounded before anything is allocated (block size at most STREAMINFO's maximum
/// and 65535, 1-8 channels, 4-32 bits, the rate through <see cref="AudioDecoder.CheckHeader"/>); a frame header that
/// disagrees with STREAMINFO, a CRC or MD5 mismatch, a reserved code, or bytes that are not a frame where one should
/// start are <see cref="AudioDataException"/>s. A stream that ends inside a frame, or before STREAMINFO's total
/// sample count, is truncated: an error unless <see cref="DecodeRequest.AcceptTruncated"/>, which keeps the whole
/// frames decoded. After the last sample STREAMINFO declares, anything that is not a frame (an ID3v1 tag, say) is
/// ignored.</para>
/// <para>An ID3v2 tag before "fLaC" (written by some taggers) is skipped.</para>
/// <para>Seeking uses the SEEKTABLE when there is one (the flac tool writes one point every 10 s by default): it jumps
/// to the last point at or before the offset and decodes from there, discarding samples up to the offset. Without a
/// seek table it bisects the file on frame headers (sync code, CRC-8, agreement with STREAMINFO, coded frame or sample
/// number) to within 32 KB, then decodes from there; should the frame found be a false match, it decodes from the
/// first frame instead.</para>
/// </remarks>
internal static class FlacDecoder
{
    private const int MaxBlockSize = 65535;
    private const int MaxChannels = 8;

    /// <summary>What STREAMINFO declares.</summary>
    internal sealed record StreamInfo(
        int MinBlockSize, int MaxBlockSize, int SampleRate, int Channels, int BitsPerSample, long TotalSamples, byte[] Md5);

    private readonly record struct SeekPoint(long Sample, long Offset);

    public static DecodedAudio Decode(Stream stream, string path, DecodeRequest request, string format = "FLAC", FlacStats? stats = null)
    {
        long start = stream.Position;
        if (Id3TagLength(stream) is { } tag and > 0)
        {
            stream.Position = start + tag;
        }

        var reader = new FlacBitReader(stream, path, format);
        Span<byte> magic = stackalloc byte[4];
        reader.ReadBytes(magic);
        if (!magic.SequenceEqual("fLaC"u8))
        {
            throw new AudioDataException(path, $"the {format} stream does not start with 'fLaC'.");
        }

        StreamInfo info;
        List<SeekPoint> seekTable;
        try
        {
            (info, seekTable) = ReadMetadata(reader, path, format);
        }
        catch (FlacTruncatedException)
        {
            throw new AudioDataException(path, $"the {format} stream is truncated inside its metadata blocks.");
        }

        long firstFrame = reader.BytePosition;
        return DecodeFrames(reader, path, format, info, seekTable, firstFrame, request, stats);
    }

    /// <summary>
    /// Decodes Ogg FLAC (the FLAC-to-Ogg mapping): the first packet carries STREAMINFO, the next ones the other metadata
    /// blocks, and every later packet one frame. The frames are put back into a native stream in memory and decoded as
    /// one; so seeking decodes from the start.
    /// </summary>
    public static DecodedAudio DecodeOgg(Stream stream, string path, DecodeRequest request)
    {
        const string format = "Ogg FLAC";
        var ogg = new OggReader(stream, path, format, request.AcceptTruncated);
        var first = ogg.NextPacket();
        if (first is null || first.Length < 13 + 4 + 34 || first[0] != 0x7F || !first.AsSpan(1, 4).SequenceEqual("FLAC"u8) || !first.AsSpan(9, 4).SequenceEqual("fLaC"u8))
        {
            throw new AudioDataException(path, "the Ogg FLAC file's first packet is not a FLAC mapping header with STREAMINFO.");
        }

        if (first[5] != 1)
        {
            throw new AudioFormatException(path, $"Ogg FLAC (mapping version {first[5]}.{first[6]})", $"the Ogg FLAC file uses mapping version {first[5]}.{first[6]}; version 1.x is decoded.");
        }

        int headers = BinaryPrimitives.ReadUInt16BigEndian(first.AsSpan(7));
        var native = new MemoryStream(Math.Max(1024, (int)Math.Min(int.MaxValue, stream.Length)));
        native.Write("fLaC"u8);
        native.WriteByte((byte)(first[13] | 0x80)); // STREAMINFO becomes the last metadata block: the others are not needed
        native.Write(first.AsSpan(14, 3 + 34));
        for (int i = 0; i < headers; i++)
        {
            if (ogg.NextPacket() is null)
            {
                throw new AudioDataException(path, $"the Ogg FLAC file ends inside its {headers} metadata packets.");
            }
        }

        bool framesStarted = false;
        while (ogg.NextPacket() is { } frame)
        {
            // A header count of 0 means "unknown": metadata packets never start with 0xFF, frames always do.
            framesStarted |= headers > 0 || (frame.Length > 0 && frame[0] == 0xFF);
            if (framesStarted)
            {
                native.Write(frame);
            }
        }

        if (ogg.EndedWithoutEos && !request.AcceptTruncated)
        {
            throw new AudioDataException(path, "the Ogg FLAC file is truncated: it ends without its end-of-stream page. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode what is there.");
        }

        native.Position = 0;
        return Decode(native, path, request, format);
    }

    /// <summary>
    /// The length of an ID3v2 tag at the stream's position when "fLaC" follows it, else null; the position is left
    /// where it was.
    /// </summary>
    internal static long? Id3TagLength(Stream stream)
    {
        long at = stream.Position;
        try
        {
            Span<byte> h = stackalloc byte[10];
            if (stream.ReadAtLeast(h, 10, throwOnEndOfStream: false) < 10 || !h[..3].SequenceEqual("ID3"u8)
                || ((h[6] | h[7] | h[8] | h[9]) & 0x80) != 0)
            {
                return null;
            }

            long length = 10 + ((h[6] << 21) | (h[7] << 14) | (h[8] << 7) | h[9]) + ((h[5] & 0x10) != 0 ? 10 : 0);
            Span<byte> magic = stackalloc byte[4];
            stream.Position = at + length;
            return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("fLaC"u8) ? length : null;
        }
        finally
        {
            stream.Position = at;
        }
    }

    private static (StreamInfo Info, List<SeekPoint> SeekTable) ReadMetadata(FlacBitReader reader, string path, string format)
    {
        StreamInfo? info = null;
        var seekTable = new List<SeekPoint>();
        bool last;
        do
        {
            reader.MarkFrameStart(); // lets the buffer drop the blocks already read
            last = reader.ReadBits(1) == 1;
            int type = (int)reader.ReadBits(7);
            int length = (int)reader.ReadBits(24);
            if (type == 127)
            {
                throw new AudioDataException(path, $"the {format} stream has a metadata block of the invalid type 127.");
            }

            if (info is null && type != 0)
            {
                throw new AudioDataException(path, $"the {format} stream's first metadata block is of type {type}, not STREAMINFO.");
            }

            if (type == 0)
            {
                if (info is not null)
                {
                    throw new AudioDataException(path, $"the {format} stream has two STREAMINFO blocks.");
                }

                if (length != 34)
                {
                    throw new AudioDataException(path, $"the {format} STREAMINFO block is {length} bytes; it must be 34.");
                }

                info = ReadStreamInfo(reader, path, format);
            }
            else if (type == 3 && length % 18 == 0)
            {
                for (int i = 0; i < length / 18; i++)
                {
                    long sample = (long)reader.ReadBits64(64);
                    long offset = (long)reader.ReadBits64(64);
                    reader.ReadBits(16);
                    if (sample != -1 && offset >= 0)
                    {
                        seekTable.Add(new SeekPoint(sample, offset)); // placeholders (sample -1) are skipped
                    }
                }
            }
            else
            {
                reader.Skip(length); // VORBIS_COMMENT, PADDING, APPLICATION, CUESHEET, PICTURE, malformed SEEKTABLE
            }
        }
        while (!last);

        return (info!, seekTable);
    }

    private static StreamInfo ReadStreamInfo(FlacBitReader reader, string path, string format)
    {
        int minBlock = (int)reader.ReadBits(16);
        int maxBlock = (int)reader.ReadBits(16);
        reader.ReadBits(24); // minimum frame size: unused
        reader.ReadBits(24); // maximum frame size: unused (frames are read until their CRC, whatever their size)
        int rate = (int)reader.ReadBits(20);
        int channels = (int)reader.ReadBits(3) + 1;
        int bits = (int)reader.ReadBits(5) + 1;
        long total = (long)reader.ReadBits64(36);
        var md5 = new byte[16];
        reader.ReadBytes(md5);
        AudioDecoder.CheckHeader(path, format, channels, rate);
        if (minBlock < 16 || maxBlock < minBlock)
        {
            throw new AudioDataException(path, $"the {format} STREAMINFO declares block sizes {minBlock} to {maxBlock}; a valid stream has 16 <= minimum <= maximum <= 65535.");
        }

        if (bits < 4)
        {
            throw new AudioDataException(path, $"the {format} STREAMINFO declares {bits} bits per sample; FLAC has 4 to 32.");
        }

        return new StreamInfo(minBlock, maxBlock, rate, channels, bits, total, md5);
    }

    private static DecodedAudio DecodeFrames(
        FlacBitReader reader, string path, string format, StreamInfo info, List<SeekPoint> seekTable, long firstFrame, DecodeRequest request, FlacStats? stats)
    {
        int rate = info.SampleRate;
        long start = request.StartFrame(rate);
        long limit = request.FrameLimit(rate);
        long total = info.TotalSamples; // 0: unknown
        if (total > 0 && start >= total)
        {
            return new DecodedAudio([], rate);
        }

        long position = 0; // stream sample of the next frame's first sample
        bool scanned = false; // the position came from a frame header found by scanning, not from the seek table
        if (start > 0)
        {
            SeekPoint? best = null;
            foreach (var p in seekTable)
            {
                if (p.Sample <= start && (best is null || p.Sample > best.Value.Sample) && firstFrame + p.Offset < reader.StreamLength)
                {
                    best = p;
                }
            }

            if (best is { } point && point.Sample > 0)
            {
                reader.Seek(firstFrame + point.Offset);
                position = point.Sample;
            }
            else if (FindFrameBefore(reader.BaseStream, info, firstFrame, start) is { Sample: > 0 } found)
            {
                reader.Seek(found.Offset);
                position = found.Sample;
                scanned = true;
            }
        }

        long expected = total > 0 ? Math.Min(limit, total - start) : limit;
        var output = new MonoBuffer(path, limit, Math.Min(expected, rate * 300L), rate, request.TargetRate, request.Sink);
        var channels = new long[info.Channels][];
        for (int c = 0; c < channels.Length; c++)
        {
            channels[c] = new long[info.MaxBlockSize];
        }

        var residualScratch = new long[info.MaxBlockSize];
        bool complete = start == 0 && position == 0 && info.Md5.AsSpan().ContainsAnyExcept((byte)0);
        using var md5 = complete ? IncrementalHash.CreateHash(HashAlgorithmName.MD5) : null;
        var md5Bytes = md5 is null ? [] : new byte[info.MaxBlockSize * info.Channels * ((info.BitsPerSample + 7) / 8)];
        double scale = 1.0 / (1L << (info.BitsPerSample - 1)) / info.Channels;
        bool stoppedEarly = false;
        while (true)
        {
            if (reader.AtEnd)
            {
                break;
            }

            if (total > 0 && position >= total && !reader.AtFrameSync())
            {
                break; // trailing bytes after the last frame (an ID3v1 tag, padding): not audio
            }

            long frameStart = reader.BytePosition;
            int blockSize;
            try
            {
                blockSize = DecodeFrame(reader, path, format, info, channels, residualScratch, position, stats);
            }
            catch (AudioDataException) when (scanned)
            {
                // The scan landed on bytes that only looked like a frame header (its CRC-8 matched by chance):
                // decode from the first frame instead.
                reader.Seek(firstFrame);
                position = 0;
                scanned = false;
                continue;
            }
            catch (FlacTruncatedException)
            {
                if (!request.AcceptTruncated)
                {
                    throw new AudioDataException(
                        path,
                        $"the {format} stream is truncated: it ends inside the frame at byte {frameStart} ({(double)position / rate:F3} s){Declared(info)}. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode the whole frames present.");
                }

                complete = false;
                break;
            }

            if (md5 is not null)
            {
                AppendMd5(md5, md5Bytes, channels, blockSize, info.BitsPerSample);
            }

            long from = Math.Max(0, start - position);
            long take = Math.Min(blockSize - from, output.Remaining);
            if (take > 0)
            {
                var dst = output.Reserve((int)take);
                DownMix(channels, (int)from, dst, scale);
            }

            position += blockSize;
            scanned = false;
            if (output.Remaining == 0)
            {
                stoppedEarly = total == 0 || position < total;
                break;
            }
        }

        if (!stoppedEarly && total > 0 && position < total && !request.AcceptTruncated)
        {
            throw new AudioDataException(
                path,
                $"the {format} stream is truncated: its frames end at {(double)position / rate:F3} s{Declared(info)}. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode the whole frames present.");
        }

        if (!stoppedEarly && total > 0 && position > total)
        {
            throw new AudioDataException(
                path,
                $"the {format} stream's frames hold {position} samples per channel but its STREAMINFO declares {total}: the header or the frames are damaged.");
        }

        if (md5 is not null && complete && !stoppedEarly && (total == 0 || position == total))
        {
            Span<byte> actual = stackalloc byte[16];
            md5.GetHashAndReset(actual);
            if (!actual.SequenceEqual(info.Md5))
            {
                throw new AudioDataException(
                    path,
                    $"the {format} stream's decoded samples do not match the MD5 in its STREAMINFO (expected {Convert.ToHexString(info.Md5)}, got {Convert.ToHexString(actual)}): the audio is damaged.");
            }
        }

        return output.ToAudio();
    }

    private static void DownMix(long[][] channels, int from, Span<float> dst, double scale)
    {
        if (channels.Length == 1)
        {
            var mono = channels[0].AsSpan(from, dst.Length);
            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] = (float)(mono[i] * scale);
            }
        }
        else if (channels.Length == 2)
        {
            var left = channels[0].AsSpan(from, dst.Length);
            var right = channels[1].AsSpan(from, dst.Length);
            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] = (float)((left[i] + right[i]) * scale);
            }
        }
        else
        {
            for (int i = 0; i < dst.Length; i++)
            {
                long sum = 0;
                for (int c = 0; c < channels.Length; c++)
                {
                    sum += channels[c][from + i];
                }

                dst[i] = (float)(sum * scale);
            }
        }
    }

    /// <summary>
    /// Without a seek table: bisects the file for the last frame starting at or before <paramref name="target"/>,
    /// reading frame headers only (found by their sync code, checked by their CRC-8 and against STREAMINFO; 16 KB per
    /// probe). Stops when the range is under 32 KB, so about that much is decoded and discarded. Null when no header
    /// is found.
    /// </summary>
    private static (long Offset, long Sample)? FindFrameBefore(Stream stream, StreamInfo info, long firstFrame, long target)
    {
        long saved = stream.Position; // the bit reader expects the stream where it left it
        try
        {
            long lo = firstFrame, loSample = 0, hi = stream.Length;
            var window = new byte[16384 + 16];
            while (hi - lo > 32768)
            {
                long mid = lo + ((hi - lo) / 2);
                var next = NextFrameHeader(stream, info, mid, hi, window);
                if (next is not { } f || f.Sample > target)
                {
                    hi = mid;
                }
                else
                {
                    lo = f.Offset;
                    loSample = f.Sample;
                }
            }

            return loSample > 0 ? (lo, loSample) : null;
        }
        finally
        {
            stream.Position = saved;
        }
    }

    private static (long Offset, long Sample)? NextFrameHeader(Stream stream, StreamInfo info, long from, long to, byte[] window)
    {
        stream.Position = from;
        int n = stream.ReadAtLeast(window, (int)Math.Min(window.Length, stream.Length - from), throwOnEndOfStream: false);
        for (int i = 0; i + 16 <= n && from + i < to; i++)
        {
            if (window[i] == 0xFF && (window[i + 1] & 0xFE) == 0xF8 && HeaderSample(window.AsSpan(i, 16), info) is { } sample)
            {
                return (from + i, sample);
            }
        }

        return null;
    }

    /// <summary>The first sample of the frame whose header starts <paramref name="h"/>, or null when it is not a valid
    /// header of this stream.</summary>
    private static long? HeaderSample(ReadOnlySpan<byte> h, StreamInfo info)
    {
        bool variable = (h[1] & 1) != 0;
        int blockCode = h[2] >> 4, rateCode = h[2] & 15, channelCode = h[3] >> 4, sizeCode = (h[3] >> 1) & 7;
        if (blockCode == 0 || rateCode == 15 || channelCode > 10 || sizeCode == 3 || (h[3] & 1) != 0
            || (channelCode <= 7 ? channelCode + 1 : 2) != info.Channels
            || (rateCode is >= 1 and <= 11 && FixedRates[rateCode] != info.SampleRate)
            || (sizeCode != 0 && new[] { 0, 8, 12, 0, 16, 20, 24, 32 }[sizeCode] != info.BitsPerSample))
        {
            return null;
        }

        int p = 4;
        int first = h[p++];
        int extra = first switch { < 0x80 => 0, >= 0xC0 and < 0xE0 => 1, >= 0xE0 and < 0xF0 => 2, >= 0xF0 and < 0xF8 => 3, >= 0xF8 and < 0xFC => 4, >= 0xFC and < 0xFE => 5, 0xFE => 6, _ => -1 };
        if (extra < 0)
        {
            return null;
        }

        long number = extra == 0 ? first : first & (0x3F >> extra);
        for (int i = 0; i < extra; i++)
        {
            if ((h[p] & 0xC0) != 0x80)
            {
                return null;
            }

            number = (number << 6) | (long)(h[p++] & 0x3F);
        }

        p += blockCode == 6 ? 1 : blockCode == 7 ? 2 : 0;
        p += rateCode == 12 ? 1 : rateCode is 13 or 14 ? 2 : 0;
        byte crc = 0;
        foreach (byte b in h[..p])
        {
            crc = FlacBitReader.Crc8(crc, b);
        }

        if (crc != h[p])
        {
            return null;
        }

        // A fixed-block-size stream numbers frames; a variable one numbers samples.
        long sample = variable ? number : info.MinBlockSize == info.MaxBlockSize ? number * info.MaxBlockSize : -1;
        return sample >= 0 && (info.TotalSamples == 0 || sample < info.TotalSamples) ? sample : null;
    }

    private static string Declared(StreamInfo info) =>
        info.TotalSamples > 0 ? $", but STREAMINFO declares {(double)info.TotalSamples / info.SampleRate:F3} s" : string.Empty;

    /// <summary>MD5 input per RFC 9639: interleaved samples, little-endian, in whole bytes of the stream's bit depth.</summary>
    private static void AppendMd5(IncrementalHash md5, byte[] buffer, long[][] channels, int blockSize, int bits)
    {
        int bytes = (bits + 7) / 8;
        int p = 0;
        if (bytes == 2 && channels.Length == 2)
        {
            // The common case (CD audio) without the per-byte loop.
            var left = channels[0];
            var right = channels[1];
            for (int i = 0; i < blockSize; i++, p += 4)
            {
                BinaryPrimitives.WriteInt16LittleEndian(buffer.AsSpan(p), (short)left[i]);
                BinaryPrimitives.WriteInt16LittleEndian(buffer.AsSpan(p + 2), (short)right[i]);
            }
        }
        else
        {
            for (int i = 0; i < blockSize; i++)
            {
                for (int c = 0; c < channels.Length; c++)
                {
                    long v = channels[c][i];
                    for (int b = 0; b < bytes; b++)
                    {
                        buffer[p++] = (byte)(v >> (8 * b));
                    }
                }
            }
        }

        md5.AppendData(buffer, 0, p);
    }

    private static readonly int[] FixedRates = [0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];

    /// <summary>Decodes one frame into <paramref name="channels"/>; returns its block size.</summary>
    private static int DecodeFrame(FlacBitReader r, string path, string format, StreamInfo info, long[][] channels, long[] scratch, long position, FlacStats? stats)
    {
        long frameStart = r.BytePosition;
        r.MarkFrameStart();
        uint sync = r.ReadBits(15);
        if (sync != 0x7FFC)
        {
            throw new AudioDataException(path, $"the {format} stream has no frame sync code at byte {frameStart} ({(double)position / info.SampleRate:F3} s): the data is damaged.");
        }

        r.ReadBits(1); // blocking strategy: fixed or variable; the coded number is not needed to decode in order
        int blockCode = (int)r.ReadBits(4);
        int rateCode = (int)r.ReadBits(4);
        int channelCode = (int)r.ReadBits(4);
        int sizeCode = (int)r.ReadBits(3);
        if (r.ReadBits(1) != 0)
        {
            throw Damaged(path, format, frameStart, "a frame header's reserved bit is set");
        }

        ReadUtf8Number(r, path, format, frameStart);
        int blockSize = blockCode switch
        {
            0 => throw Damaged(path, format, frameStart, "a frame header uses the reserved block size code 0"),
            1 => 192,
            <= 5 => 576 << (blockCode - 2),
            6 => (int)r.ReadBits(8) + 1,
            7 => (int)r.ReadBits(16) + 1,
            _ => 256 << (blockCode - 8),
        };
        int rate = rateCode switch
        {
            0 => info.SampleRate,
            <= 11 => FixedRates[rateCode],
            12 => (int)r.ReadBits(8) * 1000,
            13 => (int)r.ReadBits(16),
            14 => (int)r.ReadBits(16) * 10,
            _ => throw Damaged(path, format, frameStart, "a frame header uses the invalid sample rate code 15"),
        };
        int bits = sizeCode switch
        {
            0 => info.BitsPerSample,
            1 => 8,
            2 => 12,
            4 => 16,
            5 => 20,
            6 => 24,
            7 => 32,
            _ => throw Damaged(path, format, frameStart, "a frame header uses the reserved sample size code 3"),
        };
        if (channelCode > 10)
        {
            throw Damaged(path, format, frameStart, $"a frame header uses the reserved channel assignment {channelCode}");
        }

        int channelCount = channelCode <= 7 ? channelCode + 1 : 2;
        byte crc8 = r.FrameCrc8();
        if (r.ReadBits(8) != crc8)
        {
            throw Damaged(path, format, frameStart, "a frame header fails its CRC-8");
        }

        // Checked after the CRC, so a damaged header is reported as damaged rather than as a disagreement.
        if (blockSize > info.MaxBlockSize || rate != info.SampleRate || channelCount != info.Channels || bits != info.BitsPerSample)
        {
            throw Damaged(path, format, frameStart,
                $"a frame declares {blockSize} samples, {rate} Hz, {channelCount} channel(s), {bits} bits, but STREAMINFO declares at most {info.MaxBlockSize} samples, {info.SampleRate} Hz, {info.Channels} channel(s), {info.BitsPerSample} bits");
        }

        for (int c = 0; c < channelCount; c++)
        {
            // The side channel carries one bit more than the samples.
            bool side = (channelCode == 8 && c == 1) || (channelCode == 9 && c == 0) || (channelCode == 10 && c == 1);
            DecodeSubframe(r, path, format, frameStart, channels[c].AsSpan(0, blockSize), bits + (side ? 1 : 0), scratch, stats);
        }

        r.AlignToByte();
        ushort crc16 = r.FrameCrc16();
        if (r.ReadBits(16) != crc16)
        {
            throw Damaged(path, format, frameStart, "a frame fails its CRC-16");
        }

        Decorrelate(channelCode, channels, blockSize);
        stats?.Frame(channelCode, blockCode, rateCode, bits);
        return blockSize;
    }

    private static void Decorrelate(int channelCode, long[][] channels, int n)
    {
        if (channelCode < 8)
        {
            return;
        }

        var a = channels[0];
        var b = channels[1];
        switch (channelCode)
        {
            case 8: // left, side: right = left - side
                for (int i = 0; i < n; i++)
                {
                    b[i] = a[i] - b[i];
                }

                break;
            case 9: // side, right: left = side + right
                for (int i = 0; i < n; i++)
                {
                    a[i] += b[i];
                }

                break;
            default: // mid, side
                for (int i = 0; i < n; i++)
                {
                    long side = b[i];
                    long mid = (a[i] << 1) | (side & 1);
                    a[i] = (mid + side) >> 1;
                    b[i] = (mid - side) >> 1;
                }

                break;
        }
    }

    private static void ReadUtf8Number(FlacBitReader r, string path, string format, long frameStart)
    {
        uint first = r.ReadBits(8);
        int extra = first switch
        {
            < 0x80 => 0,
            >= 0xC0 and < 0xE0 => 1,
            >= 0xE0 and < 0xF0 => 2,
            >= 0xF0 and < 0xF8 => 3,
            >= 0xF8 and < 0xFC => 4,
            >= 0xFC and < 0xFE => 5,
            0xFE => 6,
            _ => -1,
        };
        if (extra < 0)
        {
            throw Damaged(path, format, frameStart, "a frame header's coded frame number is not valid UTF-8");
        }

        for (int i = 0; i < extra; i++)
        {
            if ((r.ReadBits(8) & 0xC0) != 0x80)
            {
                throw Damaged(path, format, frameStart, "a frame header's coded frame number is not valid UTF-8");
            }
        }
    }

    private static void DecodeSubframe(FlacBitReader r, string path, string format, long frameStart, Span<long> dst, int bits, long[] scratch, FlacStats? stats)
    {
        if (r.ReadBits(1) != 0)
        {
            throw Damaged(path, format, frameStart, "a subframe's padding bit is set");
        }

        int type = (int)r.ReadBits(6);
        int wasted = 0;
        if (r.ReadBits(1) == 1)
        {
            wasted = r.ReadUnary() + 1;
            if (wasted >= bits)
            {
                throw Damaged(path, format, frameStart, $"a subframe declares {wasted} wasted bits of {bits}");
            }

            bits -= wasted;
        }

        stats?.Subframe(type, wasted);
        switch (type)
        {
            case 0:
                dst.Fill(r.ReadSigned(bits));
                break;
            case 1:
                for (int i = 0; i < dst.Length; i++)
                {
                    dst[i] = r.ReadSigned(bits);
                }

                break;
            case >= 8 and <= 12:
                DecodeFixed(r, path, format, frameStart, dst, bits, type - 8, scratch, stats);
                break;
            case >= 32:
                DecodeLpc(r, path, format, frameStart, dst, bits, type - 31, scratch, stats);
                break;
            default:
                throw Damaged(path, format, frameStart, $"a subframe uses the reserved type {type}");
        }

        if (wasted > 0)
        {
            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] <<= wasted;
            }
        }
    }

    private static void DecodeFixed(FlacBitReader r, string path, string format, long frameStart, Span<long> s, int bits, int order, long[] scratch, FlacStats? stats)
    {
        if (order > s.Length)
        {
            throw Damaged(path, format, frameStart, $"a FIXED subframe of order {order} is longer than its block of {s.Length} samples");
        }

        for (int i = 0; i < order; i++)
        {
            s[i] = r.ReadSigned(bits);
        }

        var res = scratch.AsSpan(0, s.Length);
        ReadResidual(r, path, format, frameStart, res, order, stats);
        switch (order)
        {
            case 0:
                res.CopyTo(s);
                break;
            case 1:
                for (int i = 1; i < s.Length; i++)
                {
                    s[i] = res[i] + s[i - 1];
                }

                break;
            case 2:
                for (int i = 2; i < s.Length; i++)
                {
                    s[i] = res[i] + (2 * s[i - 1]) - s[i - 2];
                }

                break;
            case 3:
                for (int i = 3; i < s.Length; i++)
                {
                    s[i] = res[i] + (3 * (s[i - 1] - s[i - 2])) + s[i - 3];
                }

                break;
            default:
                for (int i = 4; i < s.Length; i++)
                {
                    s[i] = res[i] + (4 * (s[i - 1] + s[i - 3])) - (6 * s[i - 2]) - s[i - 4];
                }

                break;
        }
    }

    private static void DecodeLpc(FlacBitReader r, string path, string format, long frameStart, Span<long> s, int bits, int order, long[] scratch, FlacStats? stats)
    {
        if (order > s.Length)
        {
            throw Damaged(path, format, frameStart, $"an LPC subframe of order {order} is longer than its block of {s.Length} samples");
        }

        for (int i = 0; i < order; i++)
        {
            s[i] = r.ReadSigned(bits);
        }

        int precision = (int)r.ReadBits(4) + 1;
        if (precision == 16)
        {
            throw Damaged(path, format, frameStart, "an LPC subframe uses the invalid coefficient precision code 15");
        }

        int shift = (int)r.ReadSigned(5);
        if (shift < 0)
        {
            throw Damaged(path, format, frameStart, $"an LPC subframe declares the negative shift {shift}");
        }

        Span<long> coefs = stackalloc long[order];
        for (int j = 0; j < order; j++)
        {
            coefs[j] = r.ReadSigned(precision);
        }

        var res = scratch.AsSpan(0, s.Length);
        ReadResidual(r, path, format, frameStart, res, order, stats);
        // Coefficients reversed so both spans run forwards: sum over k of reversed[k] * s[i - order + k].
        Span<long> reversed = stackalloc long[order];
        for (int j = 0; j < order; j++)
        {
            reversed[order - 1 - j] = coefs[j];
        }

        if (order == 8)
        {
            // The common case (flac -5 and below use orders up to 8) unrolled.
            long c0 = reversed[0], c1 = reversed[1], c2 = reversed[2], c3 = reversed[3], c4 = reversed[4], c5 = reversed[5], c6 = reversed[6], c7 = reversed[7];
            for (int i = 8; i < s.Length; i++)
            {
                var h = s.Slice(i - 8, 8);
                long sum = (c0 * h[0]) + (c1 * h[1]) + (c2 * h[2]) + (c3 * h[3]) + (c4 * h[4]) + (c5 * h[5]) + (c6 * h[6]) + (c7 * h[7]);
                s[i] = res[i] + (sum >> shift);
            }

            return;
        }

        for (int i = order; i < s.Length; i++)
        {
            var h = s.Slice(i - order, order);
            long sum = 0;
            for (int k = 0; k < h.Length; k++)
            {
                sum += reversed[k] * h[k];
            }

            s[i] = res[i] + (sum >> shift);
        }
    }

    /// <summary>Reads the partitioned Rice residual into <paramref name="res"/> from index <paramref name="order"/> on.</summary>
    private static void ReadResidual(FlacBitReader r, string path, string format, long frameStart, Span<long> res, int order, FlacStats? stats)
    {
        int method = (int)r.ReadBits(2);
        if (method > 1)
        {
            throw Damaged(path, format, frameStart, $"a residual uses the reserved coding method {method}");
        }

        int paramBits = method == 0 ? 4 : 5;
        int escape = (1 << paramBits) - 1;
        int partitionOrder = (int)r.ReadBits(4);
        int partitions = 1 << partitionOrder;
        int n = res.Length;
        if (n % partitions != 0 || (n >> partitionOrder) < order)
        {
            throw Damaged(path, format, frameStart, $"a residual's partition order {partitionOrder} does not fit its block of {n} samples with predictor order {order}");
        }

        int i = order;
        for (int p = 0; p < partitions; p++)
        {
            int end = (p + 1) * (n >> partitionOrder);
            int k = (int)r.ReadBits(paramBits);
            stats?.Partition(paramBits, k == escape);
            if (k == escape)
            {
                int raw = (int)r.ReadBits(5);
                for (; i < end; i++)
                {
                    res[i] = raw == 0 ? 0 : r.ReadSigned(raw);
                }
            }
            else
            {
                r.ReadRice(res[i..end], k);
                i = end;
            }
        }
    }

    private static AudioDataException Damaged(string path, string format, long frameStart, string what) =>
        new(path, $"the {format} data is damaged: {what} (frame at byte {frameStart}).");
}
