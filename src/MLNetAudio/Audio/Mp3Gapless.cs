using System.Buffers.Binary;
using System.Text;

namespace MLNetAudio.Audio;

/// <summary>
/// The encoder delay and padding an MP3 declares in its Xing/Info + LAME tag, so decoded audio can be trimmed to the
/// original song's samples. Written by hand because NLayer parses this tag but keeps it internal.
/// </summary>
/// <remarks>
/// Facts used (the LAME tag layout, as ffmpeg and mpg123 read it): the tag sits in the first frame after its side
/// information; after "Xing"/"Info" come a flags word, the frame count (flag 1), byte count (flag 2), a 100-byte seek
/// table (flag 4) and a quality word (flag 8); then a 9-byte encoder name and, 21 bytes after its start, 12 bits of
/// encoder delay and 12 bits of padding. Decoders add 529 samples of their own delay (the synthesis filterbank's),
/// which NLayer has too: the fixture test checks the trimmed output against ffmpeg's.
/// </remarks>
internal sealed record Mp3Gapless(long Lead, long Length)
{
    private const int DecoderDelay = 529;

    /// <summary>Reads the tag from the start of <paramref name="stream"/>; null when there is none or it is unusable.</summary>
    public static Mp3Gapless? Read(Stream stream)
    {
        long pos = 0;
        Span<byte> id3 = stackalloc byte[10];
        stream.Position = 0;
        if (stream.ReadAtLeast(id3, 10, throwOnEndOfStream: false) == 10 && id3[..3].SequenceEqual("ID3"u8))
        {
            long size = (id3[6] << 21) | (id3[7] << 14) | (id3[8] << 7) | id3[9];
            pos = 10 + size + ((id3[5] & 0x10) != 0 ? 10 : 0);
        }

        var frame = new byte[512];
        stream.Position = pos;
        int n = stream.ReadAtLeast(frame, frame.Length, throwOnEndOfStream: false);
        if (n < 4 || AudioDecoder.MpegFrameLength(frame) <= 0 || ((frame[1] >> 1) & 3) != 1)
        {
            return null; // no frame here, or not layer III (no LAME tag there)
        }

        bool mpeg1 = ((frame[1] >> 3) & 3) == 3;
        bool mono = (frame[3] >> 6) == 3;
        int sideInfo = mpeg1 ? (mono ? 17 : 32) : (mono ? 9 : 17);
        int p = 4 + sideInfo + ((frame[1] & 1) == 0 ? 2 : 0);
        if (p + 8 > n)
        {
            return null;
        }

        string magic = Encoding.ASCII.GetString(frame, p, 4);
        if (magic is not ("Xing" or "Info"))
        {
            return null;
        }

        uint flags = BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(p + 4));
        p += 8;
        if ((flags & 1) == 0 || p + 4 > n)
        {
            return null; // without the frame count the song's length is unknown
        }

        long frames = BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(p));
        p += 4;
        p += (flags & 2) != 0 ? 4 : 0;
        p += (flags & 4) != 0 ? 100 : 0;
        p += (flags & 8) != 0 ? 4 : 0;
        if (p + 24 > n || !char.IsAsciiLetter((char)frame[p]))
        {
            return null; // no LAME extension (e.g. a Xing tag from an encoder that writes no delay)
        }

        int delay = (frame[p + 21] << 4) | (frame[p + 22] >> 4);
        int padding = ((frame[p + 22] & 0x0F) << 8) | frame[p + 23];
        int samplesPerFrame = mpeg1 ? 1152 : 576;
        long length = (frames * samplesPerFrame) - delay - padding;
        return length > 0 ? new Mp3Gapless(delay + DecoderDelay, length) : null;
    }
}
