using System.Buffers.Binary;

namespace MLNetAudio.Audio;

/// <summary>
/// Reads the packets of one logical stream of an Ogg file (RFC 3533), checking every page's CRC-32. Written here
/// because Concentus 2.2.2 has no Ogg reader (its package says it does not parse .ogg or .opus files; the
/// <c>OpusOggReadStream</c> of older Concentus releases lives in Concentus.OggFile, which is not served).
/// </summary>
/// <remarks>
/// The stream read is the one whose beginning-of-stream page comes first; pages of other streams (multiplexed video,
/// say) are skipped. A page that fails its CRC, a missing capture pattern where a page should start, or a page cut
/// short is an <see cref="AudioDataException"/>: a damaged file is never silently shortened. Reading stops after the
/// end-of-stream page (later chained streams are not read).
/// </remarks>
internal sealed class OggReader
{
    private const int HeaderSize = 27;

    /// <summary>Longest packet accepted: a FLAC frame is at most about 2.2 MB, an Opus packet far less.</summary>
    private const int MaxPacket = 16 << 20;

    private readonly Stream _stream;
    private readonly string _path;
    private readonly string _format;
    private readonly bool _acceptTruncated;
    private readonly List<byte> _partial = [];
    private readonly Queue<byte[]> _ready = new();
    private readonly byte[] _header = new byte[HeaderSize + 255];
    private readonly byte[] _body = new byte[255 * 255];
    private bool _dropContinuation;
    private int? _serial;

    /// <param name="stream">The file, positioned at its first page.</param>
    /// <param name="path">The file's name, for errors.</param>
    /// <param name="format">"Ogg Opus", "Ogg FLAC": how errors name the file's format.</param>
    /// <param name="acceptTruncated">Treat a page cut short at the end of the file as the end of the stream.</param>
    public OggReader(Stream stream, string path, string format, bool acceptTruncated)
    {
        _stream = stream;
        _path = path;
        _format = format;
        _acceptTruncated = acceptTruncated;
    }

    /// <summary>The serial number of the stream read (known after the first page).</summary>
    public int Serial => _serial ?? 0;

    /// <summary>The granule position of the last page read that ends a packet (-1 before any).</summary>
    public long Granule { get; private set; } = -1;

    /// <summary>True once the end-of-stream page has been read.</summary>
    public bool EndOfStream { get; private set; }

    /// <summary>True when the file ended before an end-of-stream page (at a page boundary, or inside a page when
    /// truncation is accepted).</summary>
    public bool EndedWithoutEos { get; private set; }

    /// <summary>The next whole packet, or null at the end of the stream.</summary>
    public byte[]? NextPacket()
    {
        while (_ready.Count == 0)
        {
            if (EndOfStream || !ReadPage())
            {
                return null;
            }
        }

        return _ready.Dequeue();
    }

    /// <summary>
    /// Moves to the page at <paramref name="offset"/> and drops the packets that end on it, so the next packet returned
    /// is the first to start after that page's granule position.
    /// </summary>
    public void SeekToPageAfterItsPackets(long offset)
    {
        _stream.Position = offset;
        _partial.Clear();
        _ready.Clear();
        _dropContinuation = true;
        EndOfStream = false;
        ReadPage();
        _ready.Clear();
    }

    /// <summary>Reads the next page of this stream; false at a clean end of file.</summary>
    private bool ReadPage()
    {
        while (true)
        {
            long pageStart = _stream.Position;
            int got = _stream.ReadAtLeast(_header.AsSpan(0, HeaderSize), HeaderSize, throwOnEndOfStream: false);
            if (got == 0)
            {
                EndedWithoutEos = true;
                return false;
            }

            if (got < HeaderSize)
            {
                return CutShort(pageStart);
            }

            if (!_header.AsSpan(0, 4).SequenceEqual("OggS"u8))
            {
                throw new AudioDataException(_path, $"the {_format} file has no Ogg page where one should start (byte {pageStart}): the data is damaged.");
            }

            if (_header[4] != 0)
            {
                throw new AudioDataException(_path, $"the {_format} file has an Ogg page of version {_header[4]} at byte {pageStart}; only version 0 exists.");
            }

            int segments = _header[26];
            if (_stream.ReadAtLeast(_header.AsSpan(HeaderSize, segments), segments, throwOnEndOfStream: false) < segments)
            {
                return CutShort(pageStart);
            }

            int bodyLength = 0;
            for (int i = 0; i < segments; i++)
            {
                bodyLength += _header[HeaderSize + i];
            }

            if (_stream.ReadAtLeast(_body.AsSpan(0, bodyLength), bodyLength, throwOnEndOfStream: false) < bodyLength)
            {
                return CutShort(pageStart);
            }

            uint stored = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(22));
            if (PageCrc(_header.AsSpan(0, HeaderSize + segments), _body.AsSpan(0, bodyLength)) != stored)
            {
                throw new AudioDataException(_path, $"the {_format} file's Ogg page at byte {pageStart} fails its CRC check: the data is damaged.");
            }

            int serial = BinaryPrimitives.ReadInt32LittleEndian(_header.AsSpan(14));
            _serial ??= serial;
            if (serial != _serial)
            {
                continue; // another logical stream in the same file
            }

            byte flags = _header[5];
            bool continued = (flags & 1) != 0;
            if (!continued && _partial.Count > 0 && !_dropContinuation)
            {
                throw new AudioDataException(_path, $"the {_format} file's Ogg page at byte {pageStart} does not continue the packet the previous page left open: a page is missing.");
            }

            if (!continued)
            {
                _partial.Clear();
            }

            bool drop = continued && (_dropContinuation || _partial.Count == 0);
            _dropContinuation = false;
            int offset = 0;
            bool endsPacket = false;
            for (int i = 0; i < segments; i++)
            {
                int lace = _header[HeaderSize + i];
                if (!drop)
                {
                    _partial.AddRange(_body.AsSpan(offset, lace));
                    if (_partial.Count > MaxPacket)
                    {
                        throw new AudioDataException(_path, $"the {_format} file holds an Ogg packet longer than {MaxPacket >> 20} MB (at the page at byte {pageStart}); no Opus packet or FLAC frame is that long, so the data is damaged.");
                    }
                }

                offset += lace;
                if (lace < 255)
                {
                    if (!drop)
                    {
                        _ready.Enqueue([.. _partial]);
                    }

                    _partial.Clear();
                    drop = false;
                    endsPacket = true;
                }
            }

            long granule = BinaryPrimitives.ReadInt64LittleEndian(_header.AsSpan(6));
            if (endsPacket && granule != -1)
            {
                Granule = granule;
            }

            EndOfStream = (flags & 4) != 0;
            return true;
        }
    }

    /// <summary>
    /// Offsets and granule positions of this stream's pages from the current position on, reading page headers only
    /// (bodies are skipped, not read or checked).
    /// </summary>
    public IEnumerable<(long Offset, long Granule)> ScanPages()
    {
        var head = new byte[HeaderSize + 255];
        while (true)
        {
            long pageStart = _stream.Position;
            if (_stream.ReadAtLeast(head.AsSpan(0, HeaderSize), HeaderSize, throwOnEndOfStream: false) < HeaderSize
                || !head.AsSpan(0, 4).SequenceEqual("OggS"u8))
            {
                yield break;
            }

            int segments = head[26];
            if (_stream.ReadAtLeast(head.AsSpan(HeaderSize, segments), segments, throwOnEndOfStream: false) < segments)
            {
                yield break;
            }

            int bodyLength = 0;
            for (int i = 0; i < segments; i++)
            {
                bodyLength += head[HeaderSize + i];
            }

            long next = _stream.Position + bodyLength;
            if (BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(14)) == _serial)
            {
                yield return (pageStart, BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(6)));
            }

            _stream.Position = next;
        }
    }

    /// <summary>
    /// The granule position of this stream's last page, and whether that page ends the stream, found by reading
    /// backwards from the end of the file (pages that fail their CRC or are cut short are passed over); null when none
    /// is found.
    /// </summary>
    public (long Granule, bool EndOfStream)? LastGranule()
    {
        long length = _stream.Length;
        long saved = _stream.Position;
        try
        {
            int window = 65536;
            for (long end = length; end > 0;)
            {
                long from = Math.Max(0, end - window);
                var chunk = new byte[(int)Math.Min(length - from, window + HeaderSize + 255 + (255 * 255))];
                _stream.Position = from;
                int n = _stream.ReadAtLeast(chunk, chunk.Length, throwOnEndOfStream: false);
                for (int i = (int)(end - from) - 1; i >= 0; i--)
                {
                    if (i + HeaderSize > n || chunk[i] != (byte)'O' || !chunk.AsSpan(i, 4).SequenceEqual("OggS"u8))
                    {
                        continue;
                    }

                    int segments = chunk[i + 26];
                    if (i + HeaderSize + segments > n)
                    {
                        continue;
                    }

                    int bodyLength = 0;
                    for (int s = 0; s < segments; s++)
                    {
                        bodyLength += chunk[i + HeaderSize + s];
                    }

                    int bodyStart = i + HeaderSize + segments;
                    if (bodyStart + bodyLength > n
                        || BinaryPrimitives.ReadInt32LittleEndian(chunk.AsSpan(i + 14)) != _serial
                        || PageCrc(chunk.AsSpan(i, HeaderSize + segments), chunk.AsSpan(bodyStart, bodyLength)) != BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(i + 22)))
                    {
                        continue;
                    }

                    long granule = BinaryPrimitives.ReadInt64LittleEndian(chunk.AsSpan(i + 6));
                    if (granule != -1)
                    {
                        return (granule, (chunk[i + 5] & 4) != 0);
                    }
                }

                end = from;
            }

            return null;
        }
        finally
        {
            _stream.Position = saved;
        }
    }

    private bool CutShort(long pageStart)
    {
        if (!_acceptTruncated)
        {
            throw Truncated(pageStart);
        }

        EndedWithoutEos = true;
        return false;
    }

    private AudioDataException Truncated(long pageStart) =>
        new(_path, $"the {_format} file is truncated inside the Ogg page at byte {pageStart}. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode the pages before it.");

    /// <summary>Ogg's CRC-32 (polynomial 0x04C11DB7, no reflection, initial 0) with the CRC field taken as zero.</summary>
    internal static uint PageCrc(ReadOnlySpan<byte> header, ReadOnlySpan<byte> body)
    {
        uint crc = 0;
        for (int i = 0; i < header.Length; i++)
        {
            byte b = i is >= 22 and < 26 ? (byte)0 : header[i];
            crc = (crc << 8) ^ CrcTable[(crc >> 24) ^ b];
        }

        foreach (byte b in body)
        {
            crc = (crc << 8) ^ CrcTable[(crc >> 24) ^ b];
        }

        return crc;
    }

    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i << 24;
            for (int b = 0; b < 8; b++)
            {
                c = (c & 0x80000000) != 0 ? (c << 1) ^ 0x04C11DB7 : c << 1;
            }

            t[i] = c;
        }

        return t;
    }
}
