using System.Numerics;

namespace MLNetAudio.Audio;

/// <summary>The stream ended inside a frame (caught by <see cref="FlacDecoder"/>, never escapes it).</summary>
internal sealed class FlacTruncatedException : Exception
{
}

/// <summary>
/// Reads bits MSB-first from a stream through a 64-bit cache, keeping the current frame's bytes in its buffer so its
/// CRC-8 and CRC-16 can be computed over exactly the bytes consumed.
/// </summary>
internal sealed class FlacBitReader
{
    private const int ReadSize = 8192;

    private readonly Stream _stream;
    private readonly string _path;
    private readonly string _format;
    private byte[] _buf = new byte[1 << 16];
    private long _bufStart; // stream position of _buf[0]
    private int _len;
    private int _pos;       // next byte to move into the cache
    private int _mark;      // start of the current frame in _buf; bytes before it may be dropped
    private ulong _cache;   // left-aligned
    private int _bits;      // valid bits in the cache
    private bool _eof;

    public FlacBitReader(Stream stream, string path, string format)
    {
        _stream = stream;
        _path = path;
        _format = format;
        _bufStart = stream.Position;
    }

    public long StreamLength => _stream.Length;

    /// <summary>The stream read (for the seek scan, which reads frame headers directly).</summary>
    public Stream BaseStream => _stream;

    /// <summary>One step of FLAC's CRC-8 (polynomial 0x07).</summary>
    public static byte Crc8(byte crc, byte b) => Crc8Table[crc ^ b];

    /// <summary>Stream position of the next unread byte (on a byte boundary).</summary>
    public long BytePosition => _bufStart + _pos - (_bits >> 3);

    public bool AtEnd
    {
        get
        {
            if (_bits >= 8)
            {
                return false;
            }

            EnsureBuffered(1);
            return _pos >= _len;
        }
    }

    /// <summary>True when the next bytes are a frame sync code (0xFFF8 or 0xFFF9).</summary>
    public bool AtFrameSync()
    {
        int p = (int)(BytePosition - _bufStart);
        _mark = Math.Min(_mark, p);
        EnsureBufferedAt(p, 2);
        p = (int)(BytePosition - _bufStart);
        return p + 2 <= _len && _buf[p] == 0xFF && (_buf[p + 1] & 0xFE) == 0xF8;
    }

    public void Seek(long position)
    {
        if (position >= _bufStart && position <= _bufStart + _len)
        {
            _pos = _mark = (int)(position - _bufStart); // already buffered: metadata blocks skipped, near seek points
            _cache = 0;
            _bits = 0;
            return;
        }

        _stream.Position = position;
        _bufStart = position;
        _len = _pos = _mark = 0;
        _cache = 0;
        _bits = 0;
        _eof = false;
    }

    public void MarkFrameStart() => _mark = (int)(BytePosition - _bufStart);

    public byte FrameCrc8()
    {
        int end = (int)(BytePosition - _bufStart);
        byte crc = 0;
        foreach (byte b in _buf.AsSpan(_mark, end - _mark))
        {
            crc = Crc8Table[crc ^ b];
        }

        return crc;
    }

    public ushort FrameCrc16()
    {
        int end = (int)(BytePosition - _bufStart);
        ushort crc = 0;
        foreach (byte b in _buf.AsSpan(_mark, end - _mark))
        {
            crc = (ushort)((crc << 8) ^ Crc16Table[(crc >> 8) ^ b]);
        }

        return crc;
    }

    public void AlignToByte()
    {
        int drop = _bits & 7;
        _cache <<= drop;
        _bits -= drop;
    }

    public void ReadBytes(Span<byte> dst)
    {
        for (int i = 0; i < dst.Length; i++)
        {
            dst[i] = (byte)ReadBits(8);
        }
    }

    public void Skip(long bytes)
    {
        AlignToByte();
        long target = BytePosition + bytes;
        if (target > _stream.Length)
        {
            throw new AudioDataException(_path, $"the {_format} stream is truncated inside a metadata block.");
        }

        Seek(target);
    }

    public uint ReadBits(int n)
    {
        if (n == 0)
        {
            return 0;
        }

        if (_bits < n)
        {
            Refill();
            if (_bits < n)
            {
                throw new FlacTruncatedException();
            }
        }

        uint v = (uint)(_cache >> (64 - n));
        _cache <<= n;
        _bits -= n;
        return v;
    }

    public ulong ReadBits64(int n) => n <= 32 ? ReadBits(n) : ((ulong)ReadBits(n - 32) << 32) | ReadBits(32);

    public long ReadSigned(int n)
    {
        if (n == 0)
        {
            return 0;
        }

        ulong v = ReadBits64(n);
        int shift = 64 - n;
        return (long)(v << shift) >> shift;
    }

    public int ReadUnary()
    {
        int count = 0;
        while (true)
        {
            if (_bits == 0)
            {
                Refill();
                if (_bits == 0)
                {
                    throw new FlacTruncatedException();
                }
            }

            ulong visible = _cache & (ulong.MaxValue << (64 - _bits));
            if (visible != 0)
            {
                int lz = BitOperations.LeadingZeroCount(visible);
                _cache = lz == 63 ? 0 : _cache << (lz + 1); // C# masks shift counts: << 64 would shift by 0
                _bits -= lz + 1;
                return count + lz;
            }

            count += _bits;
            _cache = 0;
            _bits = 0;
            if (count > (1 << 30))
            {
                throw new AudioDataException(_path, $"the {_format} data is damaged: a residual's unary code is longer than any valid sample.");
            }
        }
    }

    /// <summary>Rice-decodes <paramref name="dst"/>.Length values with parameter <paramref name="k"/> (zig-zag signed).</summary>
    public void ReadRice(Span<long> dst, int k)
    {
        // The cache in locals: this loop decodes most of a FLAC file's bits.
        ulong cache = _cache;
        int bits = _bits;
        for (int i = 0; i < dst.Length; i++)
        {
            if (bits < 40)
            {
                _cache = cache;
                _bits = bits;
                Refill();
                cache = _cache;
                bits = _bits;
            }

            // Bits past the valid ones are always zero, so lz >= bits means no 1 bit is in the cache.
            int lz = BitOperations.LeadingZeroCount(cache);
            int used = lz + 1 + k;
            ulong q;
            if (used <= bits && lz < 63)
            {
                cache <<= lz + 1;
                ulong low = k == 0 ? 0 : cache >> (64 - k); // C# masks shift counts: >> 64 would shift by 0
                cache <<= k;
                bits -= used;
                q = ((ulong)lz << k) | low;
            }
            else
            {
                _cache = cache;
                _bits = bits;
                q = ((ulong)ReadUnary() << k) | ReadBits64(k);
                cache = _cache;
                bits = _bits;
            }

            dst[i] = (long)(q >> 1) ^ -(long)(q & 1);
        }

        _cache = cache;
        _bits = bits;
    }

    private void Refill()
    {
        while (_bits <= 56)
        {
            if (_pos >= _len)
            {
                EnsureBuffered(1);
                if (_pos >= _len)
                {
                    return;
                }
            }

            _cache |= (ulong)_buf[_pos++] << (56 - _bits);
            _bits += 8;
        }
    }

    private void EnsureBuffered(int bytes) => EnsureBufferedAt(_pos, bytes);

    /// <summary>Makes <paramref name="bytes"/> bytes from buffer index <paramref name="at"/> available if the stream has them.</summary>
    private void EnsureBufferedAt(int at, int bytes)
    {
        if (at + bytes <= _len || _eof)
        {
            return;
        }

        // Keep the current frame (from _mark) for its CRC; drop what came before it.
        int keep = Math.Min(_mark, at);
        if (keep > 0)
        {
            Buffer.BlockCopy(_buf, keep, _buf, 0, _len - keep);
            _len -= keep;
            _pos -= keep;
            _mark -= keep;
            _bufStart += keep;
        }

        if (_len == _buf.Length)
        {
            // One frame larger than the buffer: worst case about 65535 x 8 channels x 33 bits, 2.2 MB.
            if (_buf.Length >= 1 << 24)
            {
                throw new AudioDataException(_path, $"the {_format} data is damaged: a frame runs past 16 MB without ending.");
            }

            Array.Resize(ref _buf, _buf.Length * 2);
        }

        while (_len < _buf.Length)
        {
            // 8 KB at a time: reading 0.1 s after a seek should not read 64 KB.
            int got = _stream.Read(_buf, _len, Math.Min(ReadSize, _buf.Length - _len));
            if (got <= 0)
            {
                _eof = true;
                break;
            }

            _len += got;
            if (_len - (at - keep) >= bytes)
            {
                break;
            }
        }
    }

    private static readonly byte[] Crc8Table = MakeCrc8();
    private static readonly ushort[] Crc16Table = MakeCrc16();

    private static byte[] MakeCrc8()
    {
        var t = new byte[256];
        for (int i = 0; i < 256; i++)
        {
            int c = i;
            for (int b = 0; b < 8; b++)
            {
                c = (c & 0x80) != 0 ? (c << 1) ^ 0x07 : c << 1;
            }

            t[i] = (byte)c;
        }

        return t;
    }

    private static ushort[] MakeCrc16()
    {
        var t = new ushort[256];
        for (int i = 0; i < 256; i++)
        {
            int c = i << 8;
            for (int b = 0; b < 8; b++)
            {
                c = (c & 0x8000) != 0 ? (c << 1) ^ 0x8005 : c << 1;
            }

            t[i] = (ushort)c;
        }

        return t;
    }
}
