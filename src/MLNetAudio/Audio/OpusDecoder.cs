using System.Buffers.Binary;
using Concentus.Structs;

namespace MLNetAudio.Audio;

/// <summary>
/// Decodes Ogg Opus (RFC 7845) to mono floats at 48 kHz: the Ogg pages through <see cref="OggReader"/> (CRC-checked),
/// the Opus packets through Concentus 2.2.2's managed decoder.
/// </summary>
/// <remarks>
/// <para>Follows RFC 7845: the OpusHead's pre-skip is dropped from the start, its output gain applied, and the output
/// ends at the granule position of the stream's last page (so the length is exact, not a multiple of the 20 ms
/// frame). Channel mapping families 0 (mono, stereo), 1 (Vorbis order, up to 8) and 255 (unordered) are decoded;
/// every channel is averaged to mono.</para>
/// <para>Seeking reads page headers only up to the last page that ends at least 500 ms before the offset (RFC 7845
/// asks for at least 80 ms of pre-roll), starts a fresh decoder at the first packet after it and discards the
/// pre-roll, so nothing before it is decoded. The pre-roll lets the decoder's state converge: in 120 random seeks
/// on real music the samples were identical to a full decode's; nothing guarantees that, and the tests allow 1e-4.</para>
/// <para>A file that ends without an end-of-stream page, or inside a page, is truncated: an error unless
/// <see cref="DecodeRequest.AcceptTruncated"/>.</para>
/// </remarks>
internal static class OpusDecoder
{
    /// <summary>Opus always decodes at 48 kHz; granule positions count 48 kHz samples.</summary>
    public const int SampleRate = 48000;

    private const int MaxFrame = 5760; // 120 ms at 48 kHz: the longest packet
    // 500 ms. RFC 7845 asks for at least 80 ms; measured after seeks on three warzone2100 tracks (40 random offsets
    // each), 80 ms left differences from a full decode of up to 0.076, 200 ms up to 5e-4, 500 ms none at all.
    private const int PreRoll = 24000;

    private sealed record Head(int Channels, int PreSkip, float Gain, int Streams, int Coupled, byte[] Mapping);

    public static DecodedAudio Decode(Stream stream, string path, DecodeRequest request)
    {
        const string format = "Ogg Opus";
        var ogg = new OggReader(stream, path, format, request.AcceptTruncated);
        var head = ReadHead(ogg.NextPacket(), path);
        var tags = ogg.NextPacket();
        if (tags is null || !tags.AsSpan().StartsWith("OpusTags"u8))
        {
            throw new AudioDataException(path, "the Ogg Opus file's second packet is not its OpusTags header.");
        }

        long dataStart = stream.Position;
        var last = ogg.LastGranule();
        long end = last is { } g && g.Granule > head.PreSkip ? g.Granule : long.MaxValue; // granule where the song ends
        long start = head.PreSkip + request.StartFrame(SampleRate);
        long wanted = request.FrameLimit(SampleRate) == long.MaxValue ? long.MaxValue : start + request.FrameLimit(SampleRate);
        if (last is not { EndOfStream: true } && !request.AcceptTruncated && wanted > (last?.Granule ?? 0))
        {
            // The last whole page does not end the stream: the file was cut short (at or inside a page), and the part
            // asked for runs past what is there.
            double present = last is { } l ? (double)Math.Max(0, l.Granule - head.PreSkip) / SampleRate : 0;
            throw new AudioDataException(
                path,
                $"the Ogg Opus file is truncated: its last whole page ends at {present:F3} s without the end-of-stream flag. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode what is there.");
        }

        if (start >= end)
        {
            return new DecodedAudio([], SampleRate);
        }

        long stop = request.FrameLimit(SampleRate) == long.MaxValue ? end : Math.Min(end, start + request.FrameLimit(SampleRate));
        long position = 0; // granule at which the next decoded packet starts
        if (start - PreRoll > head.PreSkip)
        {
            stream.Position = dataStart;
            long? seekPage = null;
            foreach (var (offset, granule) in ogg.ScanPages())
            {
                if (granule == -1)
                {
                    continue;
                }

                if (granule > start - PreRoll)
                {
                    break;
                }

                seekPage = offset;
                position = granule;
            }

            if (seekPage is { } page)
            {
                ogg.SeekToPageAfterItsPackets(page);
            }
            else
            {
                stream.Position = dataStart;
                position = 0;
            }
        }

        // The managed decoder itself, not OpusCodecFactory: the factory may bind a native libopus where one is installed,
        // so the same file would decode differently from machine to machine.
#pragma warning disable CS0618
        var decoder = new OpusMSDecoder(SampleRate, head.Channels, head.Streams, head.Coupled, head.Mapping);
#pragma warning restore CS0618
        long expected = stop == long.MaxValue ? long.MaxValue : stop - start;
        var output = new MonoBuffer(path, stop - start, Math.Min(expected, SampleRate * 300L), SampleRate, request.TargetRate, request.Sink);
        var pcm = new float[MaxFrame * head.Channels];
        while (position < stop)
        {
            var packet = ogg.NextPacket();
            if (packet is null)
            {
                break;
            }

            if (packet.Length == 0)
            {
                continue; // an empty packet is a lost frame; the granule positions say what to output
            }

            int frames;
            try
            {
                frames = decoder.DecodeMultistream(packet, pcm, MaxFrame, false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new AudioDataException(path, $"the Ogg Opus data is damaged: a packet near {(double)Math.Max(0, position - head.PreSkip) / SampleRate:F3} s cannot be decoded ({e.GetType().Name}: {e.Message}).", e);
            }

            if (frames < 0)
            {
                throw new AudioDataException(path, $"the Ogg Opus data is damaged: a packet near {(double)Math.Max(0, position - head.PreSkip) / SampleRate:F3} s cannot be decoded (Opus error {frames}).");
            }

            long from = Math.Max(start, position);
            long to = Math.Min(stop, position + frames);
            if (to > from)
            {
                int skip = (int)(from - position);
                var span = pcm.AsSpan(skip * head.Channels, (int)(to - from) * head.Channels);
                if (head.Gain != 1f)
                {
                    foreach (ref float v in span)
                    {
                        v *= head.Gain;
                    }
                }

                output.AppendInterleaved(span, head.Channels);
            }

            position += frames;
        }

        // EndedWithoutEos is set only when reading reached the end of the file, so a MaxDuration that stops early never
        // sees it.
        if (ogg.EndedWithoutEos && !request.AcceptTruncated)
        {
            throw new AudioDataException(
                path,
                $"the Ogg Opus file is truncated: it ends at {(double)Math.Max(0, Math.Min(position, end) - head.PreSkip) / SampleRate:F3} s without its end-of-stream page. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode what is there.");
        }

        return output.ToAudio();
    }

    private static Head ReadHead(byte[]? packet, string path)
    {
        if (packet is null || packet.Length < 19 || !packet.AsSpan().StartsWith("OpusHead"u8))
        {
            throw new AudioDataException(path, "the Ogg Opus file's first packet is not a valid OpusHead header (RFC 7845 needs at least 19 bytes).");
        }

        int version = packet[8];
        if (version >> 4 != 0)
        {
            throw new AudioFormatException(path, $"Ogg Opus (header version {version})", $"the OpusHead declares version {version}; only major version 0 is defined.");
        }

        int channels = packet[9];
        int preSkip = BinaryPrimitives.ReadUInt16LittleEndian(packet.AsSpan(10));
        short gainQ8 = BinaryPrimitives.ReadInt16LittleEndian(packet.AsSpan(16));
        int family = packet[18];
        AudioDecoder.CheckHeader(path, "Ogg Opus", channels, SampleRate);
        int streams = 1, coupled = channels - 1;
        byte[] mapping = channels == 1 ? [0] : [0, 1];
        if (family == 0)
        {
            if (channels > 2)
            {
                throw new AudioDataException(path, $"the OpusHead declares {channels} channels with mapping family 0, which allows 1 or 2.");
            }
        }
        else if (family is 1 or 255)
        {
            if (packet.Length < 21 + channels)
            {
                throw new AudioDataException(path, "the OpusHead is too short for its channel mapping table.");
            }

            streams = packet[19];
            coupled = packet[20];
            mapping = packet.AsSpan(21, channels).ToArray();
            if (streams == 0 || coupled > streams || streams + coupled > 255 || (family == 1 && channels > 8))
            {
                throw new AudioDataException(path, $"the OpusHead's channel mapping is invalid ({channels} channels, {streams} streams, {coupled} coupled, family {family}).");
            }

            foreach (byte m in mapping)
            {
                if (m != 255 && m >= streams + coupled)
                {
                    throw new AudioDataException(path, $"the OpusHead maps a channel to stream channel {m}, past the {streams + coupled} decoded.");
                }
            }
        }
        else
        {
            throw new AudioFormatException(path, $"Ogg Opus (channel mapping family {family})", $"the Ogg Opus file uses channel mapping family {family}; families 0, 1 and 255 are decoded.");
        }

        float gain = (float)Math.Pow(10, gainQ8 / (20.0 * 256.0));
        return new Head(channels, preSkip, gain, streams, coupled, mapping);
    }
}
