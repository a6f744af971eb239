using System.Buffers.Binary;

namespace MLNetAudio.Audio;

/// <summary>What <see cref="OggVorbisCheck.Scan"/> found in an Ogg Vorbis file's pages.</summary>
/// <param name="Channels">Channels the identification header declares.</param>
/// <param name="SampleRate">Sample rate it declares (within <see cref="AudioLimits"/>).</param>
/// <param name="DeclaredSamples">The last granule position of the Vorbis stream (samples per channel), or null when
/// the scan stopped early (it had seen the pages a bounded read needs) or no page carried one.</param>
internal sealed record OggVorbisScan(int Channels, int SampleRate, long? DeclaredSamples);

/// <summary>
/// Checks an Ogg Vorbis file's pages before NVorbis reads it. NVorbis 0.10.5 trusts what the headers claim (a comment
/// count of 2^31 makes it allocate gigabytes, a granule position of 2^62 makes it loop for minutes) and silently skips
/// pages that fail their CRC, so a damaged file would load shorter with no error. This pass reads each page once.
/// </summary>
/// <remarks>
/// Checks, in order: every page starts with "OggS", version 0, and fits in the file; its CRC-32 matches; the Vorbis
/// stream's page sequence numbers have no gap; the identification header's channels, rate and block sizes are
/// valid (<see cref="AudioDecoder.CheckHeader"/>); the comment header's vendor string and each comment fit in the
/// packet (so its comment count cannot exceed a quarter of the packet's bytes); the three header packets are at most
/// <see cref="MaxHeaderPacketBytes"/>; the codebooks of the setup header hold at most
/// <see cref="MaxCodebookEntries"/> entries in all; the last granule position is no more than the audio packets present can produce (each yields at most half the
/// long block size); and the stream ends with an end-of-stream page. A failed CRC, a missing page or impossible header
/// values are <see cref="AudioDataException"/>s; a file cut short (a partial last page, no end-of-stream page) is too,
/// unless the caller accepts truncated files.
/// </remarks>
internal static class OggVorbisCheck
{
    /// <summary>Largest header packet accepted (comments may hold cover art; 16 MiB is far beyond any real one).</summary>
    public const int MaxHeaderPacketBytes = 16 << 20;

    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Scans <paramref name="stream"/> from its start; with a bounded read (a MaxDuration) it stops once a
    /// page's granule position passes the end of that read, since pages after it are never decoded.</summary>
    public static OggVorbisScan Scan(Stream stream, string path, DecodeRequest request)
    {
        bool acceptTruncated = request.AcceptTruncated;
        long fileLength = stream.Length;
        stream.Position = 0;
        var header = new byte[27];
        var segments = new byte[255];
        var body = new byte[255 * 255];
        int? serial = null;
        long expectedSequence = 0;
        int pageNumber = 0;
        var packet = new MemoryStream();
        int headersRead = 0;
        int channels = 0, rate = 0, longBlock = 0;
        long audioPackets = 0;
        long? lastGranule = null;
        bool endOfStream = false;
        long pos = 0;
        while (pos < fileLength)
        {
            pageNumber++;
            string where = $"page {pageNumber} (byte {pos})";
            if (fileLength - pos < 27 || stream.ReadAtLeast(header, 27, throwOnEndOfStream: false) < 27)
            {
                return Truncated(path, acceptTruncated, $"the Ogg file ends inside the header of {where}", channels, rate, lastGranule);
            }

            if (header[0] != 'O' || header[1] != 'g' || header[2] != 'g' || header[3] != 'S' || header[4] != 0)
            {
                throw new AudioDataException(path, $"the Ogg file is damaged: {where} does not start with an Ogg page header.");
            }

            int flags = header[5];
            long granule = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(6));
            int pageSerial = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(14));
            long sequence = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(18));
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(22));
            int count = header[26];
            if (stream.ReadAtLeast(segments.AsSpan(0, count), count, throwOnEndOfStream: false) < count)
            {
                return Truncated(path, acceptTruncated, $"the Ogg file ends inside the segment table of {where}", channels, rate, lastGranule);
            }

            int bodyLength = 0;
            for (int i = 0; i < count; i++)
            {
                bodyLength += segments[i];
            }

            if (stream.ReadAtLeast(body.AsSpan(0, bodyLength), bodyLength, throwOnEndOfStream: false) < bodyLength)
            {
                return Truncated(path, acceptTruncated, $"the Ogg file ends inside {where}", channels, rate, lastGranule);
            }

            header.AsSpan(22, 4).Clear();
            uint actual = Crc(Crc(Crc(0, header), segments.AsSpan(0, count)), body.AsSpan(0, bodyLength));
            if (actual != crc)
            {
                throw new AudioDataException(path,
                    $"the Ogg file is damaged: {where} fails its CRC check (stored {crc:X8}, computed {actual:X8}), so its audio would be skipped and the song silently shortened.");
            }

            pos += 27 + count + bodyLength;
            serial ??= pageSerial;
            if (pageSerial != serial)
            {
                continue; // another logical stream (chained or multiplexed): NVorbis decodes only the first
            }

            if (sequence != expectedSequence)
            {
                throw new AudioDataException(path,
                    $"the Ogg file is damaged: {where} has sequence number {sequence} where {expectedSequence} was expected, so pages are missing.");
            }

            // A negative granule position other than -1 is legal: encoders (ffmpeg's Ogg muxer) write it on the first
            // pages to mark samples before the song's start, e.g. hyperrogue's music (-104).
            expectedSequence++;

            // Packets: a lacing value under 255 ends one. The first three are the headers, checked here.
            for (int i = 0, offset = 0; i < count; offset += segments[i], i++)
            {
                if (headersRead < 3)
                {
                    if (packet.Length + segments[i] > MaxHeaderPacketBytes)
                    {
                        throw new AudioDataException(path, $"the Ogg Vorbis header packet {headersRead + 1} is over {MaxHeaderPacketBytes} bytes; the file is damaged.");
                    }

                    packet.Write(body, offset, segments[i]);
                }

                if (segments[i] == 255)
                {
                    continue;
                }

                if (headersRead < 3)
                {
                    var p = packet.GetBuffer().AsSpan(0, (int)packet.Length);
                    switch (headersRead)
                    {
                        case 0:
                            (channels, rate, longBlock) = ReadIdentification(p, path);
                            break;
                        case 1:
                            CheckComments(p, path);
                            break;
                        default:
                            CheckCodebooks(p, path);
                            break;
                    }

                    headersRead++;
                    packet.SetLength(0);
                }
                else
                {
                    audioPackets++;
                }
            }

            if (granule != -1 && headersRead == 3)
            {
                long most = (audioPackets + 1) * (longBlock / 2);
                if (granule > most)
                {
                    throw new AudioDataException(path,
                        $"the Ogg Vorbis stream is damaged: {where} claims granule position {granule} ({(double)granule / rate:F1} s) but the {audioPackets} audio packets up to it hold at most {most} samples.");
                }

                lastGranule = granule;
                if (request.MaxDurationSeconds is not null && granule > request.StartFrame(rate) + request.FrameLimit(rate) + longBlock)
                {
                    return new OggVorbisScan(channels, rate, null);
                }
            }

            if ((flags & 4) != 0)
            {
                endOfStream = true;
                break;
            }
        }

        if (headersRead < 3)
        {
            throw new AudioDataException(path, $"the Ogg Vorbis file ends after {headersRead} of its 3 header packets.");
        }

        if (!endOfStream)
        {
            return Truncated(path, acceptTruncated, "the Ogg Vorbis stream has no end-of-stream page: the file was cut short", channels, rate, lastGranule);
        }

        return new OggVorbisScan(channels, rate, lastGranule);
    }

    private static OggVorbisScan Truncated(string path, bool accept, string what, int channels, int rate, long? lastGranule)
    {
        if (!accept || rate == 0)
        {
            throw new AudioDataException(path, $"{what}. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode what is there.");
        }

        return new OggVorbisScan(channels, rate, null); // decode what is there; no length to hold it to
    }

    private static (int Channels, int Rate, int LongBlock) ReadIdentification(ReadOnlySpan<byte> p, string path)
    {
        if (p.Length < 30 || p[0] != 1 || !p[1..7].SequenceEqual("vorbis"u8))
        {
            throw new AudioDataException(path, "the Ogg Vorbis identification header (first packet) is damaged.");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(p[7..]);
        int channels = p[11];
        long rate = BinaryPrimitives.ReadUInt32LittleEndian(p[12..]);
        int shortBlock = 1 << (p[28] & 0xF), longBlock = 1 << (p[28] >> 4);
        if (version != 0)
        {
            throw new AudioDataException(path, $"the Ogg Vorbis identification header declares version {version}; only 0 exists.");
        }

        AudioDecoder.CheckHeader(path, "Ogg Vorbis", channels, rate);
        if (shortBlock < 64 || longBlock > 8192 || shortBlock > longBlock)
        {
            throw new AudioDataException(path, $"the Ogg Vorbis identification header declares block sizes {shortBlock} and {longBlock}; Vorbis allows 64 to 8192, short ≤ long.");
        }

        return (channels, (int)rate, longBlock);
    }

    private static void CheckComments(ReadOnlySpan<byte> p, string path)
    {
        if (p.Length < 7 || p[0] != 3 || !p[1..7].SequenceEqual("vorbis"u8))
        {
            throw new AudioDataException(path, "the Ogg Vorbis comment header (second packet) is missing or damaged.");
        }

        long at = 7;
        long vendor = ReadLength(p, ref at, path, "vendor string length");
        at += vendor;
        long comments = ReadLength(p, ref at, path, "comment count");
        if (comments > (p.Length - at) / 4)
        {
            throw new AudioDataException(path,
                $"the Ogg Vorbis comment header declares {comments} comments but its remaining {p.Length - at} bytes hold at most {(p.Length - at) / 4}; the file is damaged.");
        }

        for (long i = 0; i < comments; i++)
        {
            long length = ReadLength(p, ref at, path, $"comment {i} length");
            at += length;
        }

        if (at > p.Length)
        {
            throw new AudioDataException(path, "the Ogg Vorbis comment header is damaged: its last comment runs past its end.");
        }
    }

    /// <summary>
    /// Walks the setup header's codebooks (Vorbis I §3.2.1) and bounds what NVorbis would allocate for them: an
    /// "ordered" codebook declares up to 2^24 entries in a few bits, and NVorbis allocates per entry and entries times
    /// dimensions floats for a lookup table, so one byte changed there cost 64 MB, and a crafted header could cost
    /// gigabytes. Real encoders' codebooks hold a few thousand entries in all.
    /// </summary>
    private static void CheckCodebooks(ReadOnlySpan<byte> p, string path)
    {
        if (p.Length < 8 || p[0] != 5 || !p[1..7].SequenceEqual("vorbis"u8))
        {
            throw new AudioDataException(path, "the Ogg Vorbis setup header (third packet) is missing or damaged.");
        }

        var bits = new BitReader(p[7..]);
        int count = (int)bits.Read(8) + 1;
        long entriesInAll = 0, lookupInAll = 0;
        for (int book = 0; book < count; book++)
        {
            if (bits.Read(24) != 0x564342)
            {
                throw new AudioDataException(path, $"the Ogg Vorbis setup header is damaged: codebook {book} lacks its sync pattern.");
            }

            long dimensions = bits.Read(16), entries = bits.Read(24);
            entriesInAll += entries;
            if (entriesInAll > MaxCodebookEntries)
            {
                throw new AudioDataException(path,
                    $"the Ogg Vorbis setup header declares over {MaxCodebookEntries} codebook entries (codebook {book} alone: {entries}); real encoders use a few thousand, so it is damaged.");
            }

            if (bits.Read(1) == 1)
            {
                // Ordered: lengths in runs; each run's size takes ilog(entries left) bits.
                long current = 0;
                bits.Read(5);
                while (current < entries)
                {
                    current += bits.Read(ILog(entries - current));
                    if (current > entries || bits.Overrun)
                    {
                        throw new AudioDataException(path, $"the Ogg Vorbis setup header is damaged: codebook {book}'s length runs overshoot its {entries} entries.");
                    }
                }
            }
            else
            {
                bool sparse = bits.Read(1) == 1;
                for (long e = 0; e < entries && !bits.Overrun; e++)
                {
                    if (!sparse || bits.Read(1) == 1)
                    {
                        bits.Read(5);
                    }
                }
            }

            long lookupType = bits.Read(4);
            if (lookupType is 1 or 2)
            {
                bits.Read(32);
                bits.Read(32);
                int valueBits = (int)bits.Read(4) + 1;
                bits.Read(1);
                long values = dimensions == 0 ? 0 : lookupType == 1 ? Lookup1Values(entries, dimensions) : entries * dimensions;
                lookupInAll += entries * dimensions;
                if (dimensions == 0 || lookupInAll > MaxCodebookEntries * 4)
                {
                    throw new AudioDataException(path,
                        $"the Ogg Vorbis setup header is damaged: codebook {book} declares a lookup table of {entries} entries by {dimensions} dimensions.");
                }

                bits.Skip(values * valueBits);
            }
            else if (lookupType != 0)
            {
                throw new AudioDataException(path, $"the Ogg Vorbis setup header is damaged: codebook {book} has lookup type {lookupType}.");
            }

            if (bits.Overrun)
            {
                throw new AudioDataException(path, $"the Ogg Vorbis setup header is damaged: it ends inside codebook {book} of {count}.");
            }
        }
    }

    /// <summary>Most codebook entries accepted in one setup header (2^20; lookup values: four times that).</summary>
    public const long MaxCodebookEntries = 1 << 20;

    private static int ILog(long x)
    {
        int n = 0;
        for (; x > 0; x >>= 1)
        {
            n++;
        }

        return n;
    }

    /// <summary>The largest r with r^dimensions ≤ entries (Vorbis I §9.2.3).</summary>
    private static long Lookup1Values(long entries, long dimensions)
    {
        long r = (long)Math.Floor(Math.Exp(Math.Log(Math.Max(entries, 1)) / dimensions));
        while (r > 0 && Math.Pow(r, dimensions) > entries)
        {
            r--;
        }

        while (Math.Pow(r + 1, dimensions) <= entries)
        {
            r++;
        }

        return r;
    }

    /// <summary>Vorbis bit packing: least significant bit first; reading past the end sets <see cref="Overrun"/>.</summary>
    private ref struct BitReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private long _bit;

        public readonly bool Overrun => _bit > (long)_data.Length * 8;

        public long Read(int count)
        {
            long value = 0;
            for (int i = 0; i < count; i++, _bit++)
            {
                long at = _bit >> 3;
                if (at < _data.Length && ((_data[(int)at] >> (int)(_bit & 7)) & 1) != 0)
                {
                    value |= 1L << i;
                }
            }

            return value;
        }

        public void Skip(long count) => _bit += Math.Max(0, Math.Min(count, ((long)_data.Length * 8) + 1));
    }

    /// <summary>Reads a 32-bit length at <paramref name="at"/> and checks the bytes it counts are in the packet.</summary>
    private static long ReadLength(ReadOnlySpan<byte> p, ref long at, string path, string what)
    {
        if (at + 4 > p.Length)
        {
            throw new AudioDataException(path, $"the Ogg Vorbis comment header is damaged: it ends before its {what}.");
        }

        long value = BinaryPrimitives.ReadUInt32LittleEndian(p[(int)at..]);
        at += 4;
        if (what != "comment count" && value > p.Length - at)
        {
            throw new AudioDataException(path,
                $"the Ogg Vorbis comment header is damaged: its {what} is {value} bytes but only {p.Length - at} remain.");
        }

        return value;
    }

    /// <summary>Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, no final xor) of <paramref name="data"/> continued from <paramref name="crc"/>.</summary>
    internal static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            crc = (crc << 8) ^ CrcTable[(int)(((crc >> 24) ^ b) & 0xFF)];
        }

        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint r = i << 24;
            for (int k = 0; k < 8; k++)
            {
                r = (r & 0x80000000) != 0 ? (r << 1) ^ 0x04C11DB7 : r << 1;
            }

            table[i] = r;
        }

        return table;
    }
}
