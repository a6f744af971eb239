using System.Buffers.Binary;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioLoaderTests;
using static MLNetAudio.Tests.Audio.HostileInput;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// Issue 13: Ogg Vorbis claims are checked before NVorbis reads them, and a damaged or cut stream is an error, never a
/// silently shorter song. Each hostile file is an intact fixture with one field changed and its page CRC fixed.
/// </summary>
public class OggVorbisCheckTests
{
    private static byte[] Stereo() => File.ReadAllBytes(Fixture("stereo440l_660r_2s_44100.ogg"));

    [Fact]
    public void An_identification_header_claiming_2147483647_Hz_is_refused_before_allocating()
    {
        // Before: 117 s and 3.4 GB.
        using var dir = new TempDir();
        var ogg = Stereo();
        int ident = Find(ogg, "\u0001vorbis"u8);
        BinaryPrimitives.WriteUInt32LittleEndian(ogg.AsSpan(ident + 12), int.MaxValue);
        FixOggCrc(ogg, 0);
        string path = dir.File("rate.ogg");
        File.WriteAllBytes(path, ogg);

        AssertRefused(path, "sample rate of 2147483647 Hz", () => Load(path), seconds: 2);
    }

    [Theory]
    [InlineData(1_000_000_000u)]
    [InlineData(2_147_483_648u)]
    public void A_comment_count_of_a_billion_is_refused_before_NVorbis_reads_it(uint count)
    {
        // Before: 8 to 15 GB inside NVorbis, then an OutOfMemoryException that escaped the Report policy.
        using var dir = new TempDir();
        var ogg = Stereo();
        int comments = Find(ogg, "\u0003vorbis"u8);
        int vendor = (int)BinaryPrimitives.ReadUInt32LittleEndian(ogg.AsSpan(comments + 7));
        BinaryPrimitives.WriteUInt32LittleEndian(ogg.AsSpan(comments + 11 + vendor), count);
        FixOggCrc(ogg, OggPages(ogg).Last(p => p < comments));
        string path = dir.File($"comments-{count}.ogg");
        File.WriteAllBytes(path, ogg);

        AssertRefused(path, $"declares {count} comments", () => Load(path), seconds: 2);
        var row = LoadAll([path], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report })[0];
        Assert.Contains("comments", row.Error);
    }

    [Fact]
    public void A_setup_header_codebook_of_16_million_entries_is_refused_before_NVorbis_allocates_it()
    {
        // Found by AudioMutationTests (seed 13, Ogg mutant 952): four bytes set to FF in the first codebook's entry
        // count cost 64 MB inside NVorbis; a crafted header with 256 such codebooks would cost gigabytes.
        using var dir = new TempDir();
        var ogg = Stereo();
        int setup = Find(ogg, "\u0005vorbis"u8);
        BinaryPrimitives.WriteUInt32LittleEndian(ogg.AsSpan(setup + 14), uint.MaxValue);
        FixOggCrc(ogg, OggPages(ogg).Last(p => p < setup));
        string path = dir.File("codebook.ogg");
        File.WriteAllBytes(path, ogg);

        AssertRefused(path, "codebook entries", () => Load(path), seconds: 2);
        var (_, _, allocated) = Measure(() => LoadAll([path], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report }));
        Assert.True(allocated < 16 << 20, $"refusing allocated {allocated >> 20} MB");
    }

    [Fact]
    public void A_last_granule_of_2_to_the_62_is_refused_in_bounded_time()
    {
        // Before: ran past 300 s.
        using var dir = new TempDir();
        var ogg = Stereo();
        int last = OggPages(ogg)[^1];
        BinaryPrimitives.WriteInt64LittleEndian(ogg.AsSpan(last + 6), 1L << 62);
        FixOggCrc(ogg, last);
        string path = dir.File("granule.ogg");
        File.WriteAllBytes(path, ogg);

        AssertRefused(path, "claims granule position 4611686018427387904", () => Load(path), seconds: 2);
    }

    [Fact]
    public void Changing_only_the_CRC_of_page_5_of_the_flute_clip_is_an_error_not_3_seconds_of_24()
    {
        // Before: 3.69 s of the 24 s loaded with no error.
        using var dir = new TempDir();
        var ogg = File.ReadAllBytes(SampleClip("flute-melody.ogg"));
        int page5 = OggPages(ogg)[4];
        ogg[page5 + 22] ^= 0xFF;
        ogg[page5 + 25] ^= 0x01;
        string path = dir.File("flute-crc.ogg");
        File.WriteAllBytes(path, ogg);

        AssertRefused(path, "page 5 (byte " + page5 + ") fails its CRC check", () => Load(path));
        AssertRefused(path, "fails its CRC check", () => Load(path, new AudioLoaderOptions { AcceptTruncatedFiles = true }));
        Assert.Equal(24.0, Load(SampleClip("flute-melody.ogg")).Duration, 0.05);
    }

    [Fact]
    public void A_cut_Ogg_is_an_error_unless_truncation_is_accepted()
    {
        using var dir = new TempDir();
        var ogg = File.ReadAllBytes(SampleClip("flute-melody.ogg"));
        var pages = OggPages(ogg);
        string atPage = dir.File("cut-at-page.ogg"), midPage = dir.File("cut-mid-page.ogg");
        File.WriteAllBytes(atPage, ogg[..pages[pages.Count / 2]]);
        File.WriteAllBytes(midPage, ogg[..(pages[pages.Count / 2] + 100)]);

        AssertRefused(atPage, "no end-of-stream page", () => Load(atPage));
        AssertRefused(midPage, "ends inside page", () => Load(midPage));
        double kept = Load(atPage, new AudioLoaderOptions { AcceptTruncatedFiles = true }).Duration;
        Assert.InRange(kept, 6, 18);
        Assert.InRange(Load(midPage, new AudioLoaderOptions { AcceptTruncatedFiles = true }).Duration, kept - 0.1, kept + 0.1);
    }

    [Fact]
    public void A_negative_granule_position_on_an_early_page_is_accepted()
    {
        // Legal, and written by ffmpeg's Ogg muxer (hyperrogue's music has -104 on its first audio page).
        var ogg = File.ReadAllBytes(SampleClip("flute-melody.ogg"));
        int page = OggPages(ogg)[2];
        BinaryPrimitives.WriteInt64LittleEndian(ogg.AsSpan(page + 6), -104);
        FixOggCrc(ogg, page);

        // NVorbis itself refuses this edit ("Granule Position regressed"), so the check is tested on its own.
        var scan = OggVorbisCheck.Scan(new MemoryStream(ogg), "negative.ogg", default);

        Assert.Equal(24.0, (double)scan.DeclaredSamples!.Value / scan.SampleRate, 0.05);
    }

    [Fact]
    public void A_missing_page_is_an_error()
    {
        using var dir = new TempDir();
        var ogg = File.ReadAllBytes(SampleClip("flute-melody.ogg"));
        var pages = OggPages(ogg);
        string path = dir.File("gap.ogg");
        File.WriteAllBytes(path, [.. ogg[..pages[5]], .. ogg[pages[6]..]]);

        AssertRefused(path, "pages are missing", () => Load(path, new AudioLoaderOptions { AcceptTruncatedFiles = true }));
    }

    [Fact]
    public void A_bounded_read_of_an_intact_file_does_not_need_its_end()
    {
        using var dir = new TempDir();
        var ogg = File.ReadAllBytes(SampleClip("flute-melody.ogg"));
        var pages = OggPages(ogg);
        string path = dir.File("cut.ogg");
        File.WriteAllBytes(path, ogg[..pages[^3]]);

        var row = Load(path, new AudioLoaderOptions { MaxDuration = 2 });

        Assert.Equal(2.0, row.Duration, 1e-9);
    }
}
