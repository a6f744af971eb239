using System.Buffers.Binary;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.ExternalTools;

namespace MLNetAudio.Tests.Audio;

/// <summary>The Ogg page reader under the Opus and Ogg FLAC decoders: CRC, packets across pages, missing pages, other streams.</summary>
public class OggReaderTests
{
    [Theory]
    [InlineData("opus-stereo.opus")]
    [InlineData("oggflac16-mono.oga")]
    [InlineData("stereo440l_660r_2s_44100.ogg")]
    public void The_page_CRC_matches_every_page_libogg_wrote(string name)
    {
        var b = File.ReadAllBytes(Fixture(name));
        int pages = 0;
        for (int p = 0; p < b.Length; pages++)
        {
            int segments = b[p + 26];
            int body = b.AsSpan(p + 27, segments).ToArray().Sum(x => x);
            uint stored = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 22));
            Assert.Equal(stored, OggReader.PageCrc(b.AsSpan(p, 27 + segments), b.AsSpan(p + 27 + segments, body)));
            p += 27 + segments + body;
        }

        Assert.True(pages >= 3);
    }

    /// <summary>One page of stream <paramref name="serial"/> holding <paramref name="laces"/> over <paramref name="body"/>.</summary>
    private static byte[] Page(int serial, int sequence, byte flags, long granule, byte[] laces, byte[] body)
    {
        var page = new byte[27 + laces.Length + body.Length];
        "OggS"u8.CopyTo(page);
        page[5] = flags;
        BinaryPrimitives.WriteInt64LittleEndian(page.AsSpan(6), granule);
        BinaryPrimitives.WriteInt32LittleEndian(page.AsSpan(14), serial);
        BinaryPrimitives.WriteInt32LittleEndian(page.AsSpan(18), sequence);
        page[26] = (byte)laces.Length;
        laces.CopyTo(page, 27);
        body.CopyTo(page, 27 + laces.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(22), OggReader.PageCrc(page.AsSpan(0, 27 + laces.Length), body));
        return page;
    }

    private static byte[] Filled(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    [Fact]
    public void A_packet_spanning_pages_comes_back_whole_and_other_streams_are_skipped()
    {
        // Packet A: 300 bytes (laces 255, 45) split as 255 on page 1 and 45 on page 2; packet B: 10 bytes on page 2.
        var p1 = Page(7, 0, 2, -1, [255], Filled(255, 1));
        var other = Page(9, 0, 2, 0, [3], [9, 9, 9]);
        var p2 = Page(7, 1, 1 | 4, 1234, [45, 10], [.. Filled(45, 1), .. Filled(10, 2)]);
        using var stream = new MemoryStream([.. p1, .. other, .. p2]);
        var reader = new OggReader(stream, "x.ogg", "Ogg test", acceptTruncated: false);

        var a = reader.NextPacket();
        var b = reader.NextPacket();
        var end = reader.NextPacket();

        Assert.Equal(Filled(300, 1), a);
        Assert.Equal(Filled(10, 2), b);
        Assert.Null(end);
        Assert.True(reader.EndOfStream);
        Assert.Equal(1234, reader.Granule);
    }

    [Fact]
    public void A_missing_continuation_page_a_bad_CRC_a_cut_page_and_an_endless_packet_are_data_errors_naming_the_file()
    {
        var p1 = Page(7, 0, 2, -1, [255], Filled(255, 1));
        var fresh = Page(7, 2, 4, 10, [5], Filled(5, 3)); // not a continuation, while packet A is still open
        var damaged = Page(7, 0, 2, 0, [5], Filled(5, 3));
        damaged[^1] ^= 1;

        AudioDataException Read(byte[] bytes, bool accept = false)
        {
            using var stream = new MemoryStream(bytes);
            var reader = new OggReader(stream, "x.ogg", "Ogg test", accept);
            return Assert.Throws<AudioDataException>(() =>
            {
                while (reader.NextPacket() is not null)
                {
                }
            });
        }

        var endless = Enumerable.Range(0, 300).SelectMany(i => Page(7, i, (byte)(i == 0 ? 2 : 1), -1, Filled(255, 255), Filled(255 * 255, 0))).ToArray();

        Assert.Contains("a page is missing", Read([.. p1, .. fresh]).Message);
        Assert.Contains("longer than 16 MB", Read(endless).Message); // 300 pages of one unending packet: 19.5 MB
        Assert.Contains("fails its CRC check", Read(damaged).Message);
        var cut = Read(p1[..100]);
        Assert.Contains("truncated inside the Ogg page at byte 0", cut.Message);
        Assert.Contains("'x.ogg'", cut.Message);
    }

    [Fact]
    public void The_last_granule_and_its_end_of_stream_flag_are_found_from_the_end()
    {
        var head = Page(7, 0, 2, 0, [5], Filled(5, 1));
        var mid = Page(7, 1, 0, 960, [5], Filled(5, 2));
        var last = Page(7, 2, 4, 1920, [5], Filled(5, 3));
        using var whole = new MemoryStream([.. head, .. mid, .. last]);
        using var cut = new MemoryStream([.. head, .. mid, .. last[..20]]);
        var a = new OggReader(whole, "a.ogg", "Ogg test", false);
        var b = new OggReader(cut, "b.ogg", "Ogg test", false);
        a.NextPacket();
        b.NextPacket();

        Assert.Equal((1920L, true), a.LastGranule());
        Assert.Equal((960L, false), b.LastGranule()); // the cut page is passed over; the one before does not end the stream
    }
}
