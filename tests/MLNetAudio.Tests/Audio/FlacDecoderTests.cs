using System.Buffers.Binary;
using System.Security.Cryptography;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.AudioLoaderTests;
using static MLNetAudio.Tests.Audio.ExternalTools;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// The hand-written FLAC decoder against libFLAC (<c>flac -d</c>, bit for bit), on fixtures encoded with options that
/// force each coding feature, on a stream built bit by bit here, and on Debian's sonic-pi-samples recordings.
/// </summary>
public class FlacDecoderTests
{
    private const string SonicPiDir = "/usr/share/sonic-pi/samples";

    public static TheoryData<string> Fixtures() =>
    [
        "flac16-stereo-b1152-m.flac", "flac24-stereo.flac", "flac24-wasted-bits.flac", "flac8-mono.flac",
        "flac16-fixed-only-b576.flac", "flac16-verbatim.flac", "flac16-11025-b200.flac", "flac32-stereo.flac",
        "oggflac16-mono.oga", "flac16-stereo-modes.flac",
        "flac24-pink-noise.flac", "flac16-5.1.flac",
    ];

    private static DecodedAudio DecodeFile(string path, DecodeRequest request = default, FlacStats? stats = null)
    {
        using var s = File.OpenRead(path);
        return stats is null ? AudioDecoder.Decode(s, path, request) : FlacDecoder.Decode(s, path, request, stats: stats);
    }

    /// <summary>What libFLAC decodes: <c>flac -d</c> to WAV, then the channel mean as a bit-exact decoder computes it.</summary>
    private static (float[] Mono, int Rate) LibFlac(string path, TempDir dir)
    {
        string wav = dir.File(Path.GetFileNameWithoutExtension(path) + ".ref.wav");
        Run("flac", "flac", "-d", "-s", "-f", "-o", wav, path);
        var (channels, bits, rate) = ReadPcmWav(wav);
        return (MonoOf(channels, bits), rate);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Every_fixture_decodes_bit_for_bit_as_libFLAC_does(string name)
    {
        using var dir = new TempDir();
        string path = Fixture(name);

        var ours = DecodeFile(path);
        var (reference, rate) = LibFlac(path, dir);

        Assert.Equal(rate, ours.SampleRate);
        Assert.Equal(reference.Length, ours.Samples.Length);
        Assert.Equal(reference, ours.Samples); // exact: FLAC is lossless, and the MD5 check passed inside the decode
    }

    [Fact]
    public void The_fixtures_hold_every_subframe_type_stereo_mode_bit_depth_and_coded_header_field()
    {
        FlacStats Stats(string name)
        {
            var stats = new FlacStats();
            DecodeFile(Fixture(name), stats: stats);
            return stats;
        }

        var exhaustive = Stats("flac16-stereo-b1152-m.flac");   // flac -8 -b 1152: tries all four stereo modes
        var fixedOnly = Stats("flac16-fixed-only-b576.flac");   // --lax -l 0 --disable-constant-subframes
        var verbatim = Stats("flac16-verbatim.flac");           // --lax -l 0 --disable-fixed-subframes --disable-constant-subframes
        var wasted = Stats("flac24-wasted-bits.flac");          // 16-bit audio in 24-bit samples: 8 wasted bits
        var odd = Stats("flac16-11025-b200.flac");              // 11025 Hz, 200-sample blocks: both coded after the header
        var eight = Stats("flac8-mono.flac");
        var deep = Stats("flac24-stereo.flac");
        var widest = Stats("flac32-stereo.flac");
        var modes = Stats("flac16-stereo-modes.flac");          // 0.5 s of right = 2 x left (left/side is cheapest), 0.5 s of L, R = a +- b (mid/side)

        Assert.True(exhaustive.Lpc > 0 && exhaustive.Constant > 0, "LPC and CONSTANT (the leading 0.3 s of silence)");
        Assert.True(exhaustive.ChannelAssignments[1] > 0, "independent stereo");
        Assert.True(modes.ChannelAssignments[8] > 0, "left/side");
        Assert.True(exhaustive.ChannelAssignments[9] > 0, "right/side");
        Assert.True(modes.ChannelAssignments[10] > 0, "mid/side");
        Assert.True(fixedOnly.Fixed > 0 && fixedOnly.Lpc == 0 && fixedOnly.Constant == 0);
        Assert.True(fixedOnly.BlockSizeCodes[2] > 0, "576-sample blocks use block size code 2");
        Assert.True(verbatim.Verbatim > 0 && verbatim.Fixed == 0 && verbatim.Lpc == 0);
        Assert.True(wasted.WastedBits > 0);
        Assert.True(odd.BlockSizeCodes[6] > 0, "a block size coded in 8 bits after the header");
        Assert.True(odd.SampleRateCodes[13] > 0 || odd.SampleRateCodes[14] > 0, "a sample rate coded after the header");
        Assert.Equal([8], eight.BitsPerSample);
        Assert.Equal([24], deep.BitsPerSample);
        Assert.True(Stats("flac24-pink-noise.flac").Rice5 > 0, "loud 24-bit noise needs Rice parameters above 14, in 5 bits");
        Assert.Equal([32], widest.BitsPerSample);
        Assert.True(widest.ChannelAssignments[8] + widest.ChannelAssignments[9] + widest.ChannelAssignments[10] > 0, "a 33-bit side channel");
        Assert.True(exhaustive.Rice4 > 0);
        Assert.True(Stats("flac16-5.1.flac").ChannelAssignments[5] > 0, "six independent channels");
    }

    [Fact]
    public void A_stream_built_bit_by_bit_with_escaped_partitions_wasted_bits_and_every_subframe_type_decodes_exactly()
    {
        var (bytes, left, right) = HandBuiltStream();
        using var dir = new TempDir();
        string path = dir.File("hand.flac");
        File.WriteAllBytes(path, bytes);
        var stats = new FlacStats();

        var decoded = DecodeFile(path, stats: stats);

        Assert.Equal(8000, decoded.SampleRate);
        Assert.Equal(MonoOf([left, right], 16), decoded.Samples);
        Assert.True(stats.Escaped == 1 && stats.Rice5 == 2 && stats.Rice4 == 1, $"escaped {stats.Escaped}, 5-bit {stats.Rice5}, 4-bit {stats.Rice4}");
        Assert.Equal(1, stats.WastedBits);
        Assert.True(stats.Constant == 1 && stats.Verbatim == 1 && stats.Fixed == 1 && stats.Lpc == 1);
        Assert.Equal(1, stats.ChannelAssignments[9]);
        Assert.Equal(1, stats.ChannelAssignments[1]);
    }

    [Fact]
    public void Offset_and_MaxDuration_seek_with_the_seek_table_and_return_exactly_that_part_of_the_full_decode()
    {
        string path = Fixture("flac16-stereo-b1152-m.flac"); // -S 0.5s: a seek point every 0.5 s
        var full = DecodeFile(path).Samples;
        long bytesRead;
        float[] part;
        using (var counting = new CountingStream(File.OpenRead(path)))
        {
            part = AudioDecoder.Decode(counting, path, new DecodeRequest(2.3, 0.25)).Samples;
            bytesRead = counting.BytesRead;
        }

        var tail = DecodeFile(path, new DecodeRequest(2.9)).Samples;
        var past = DecodeFile(path, new DecodeRequest(5)).Samples;

        int start = (int)Math.Round(2.3 * 44100);
        Assert.Equal(full.AsSpan(start, 11025).ToArray(), part);
        Assert.Equal(full.AsSpan((int)Math.Round(2.9 * 44100)).ToArray(), tail);
        Assert.Empty(past);
        Assert.True(bytesRead < new FileInfo(path).Length / 3, $"read {bytesRead} of {new FileInfo(path).Length} bytes for 0.25 s from 2.3 s");
    }

    [Fact]
    public void Without_a_usable_seek_table_Offset_bisects_on_frame_headers_and_returns_exactly_that_part()
    {
        string path = Fixture("flac16-fixed-only-b576.flac"); // 3 s: its seek table holds only the point at 0
        var full = DecodeFile(path).Samples;
        long length = new FileInfo(path).Length;
        var parts = new List<(double Offset, float[] Samples, long BytesRead)>();
        foreach (double offset in new[] { 0.7, 1.5, 2.5, 2.99 })
        {
            using var counting = new CountingStream(File.OpenRead(path));
            parts.Add((offset, AudioDecoder.Decode(counting, path, new DecodeRequest(offset, 0.25)).Samples, counting.BytesRead));
        }

        foreach (var (offset, samples, bytesRead) in parts)
        {
            int start = (int)Math.Round(offset * 44100);
            Assert.Equal(full.AsSpan(start, Math.Min(11025, full.Length - start)).ToArray(), samples);
            Assert.True(bytesRead < length * 2 / 3, $"offset {offset}: read {bytesRead} of {length} bytes");
        }
    }

    [Fact]
    public void A_FLAC_file_behind_an_ID3v2_tag_is_detected_and_decoded_as_without_it()
    {
        using var dir = new TempDir();
        string plain = Fixture("flac8-mono.flac");
        var tag = new byte[10 + 300];
        "ID3"u8.CopyTo(tag);
        tag[3] = 4;
        tag[8] = 300 >> 7; // syncsafe size 300: 2 * 128 + 44
        tag[9] = 300 & 0x7F;
        string tagged = dir.File("tagged.flac");
        File.WriteAllBytes(tagged, [.. tag, .. File.ReadAllBytes(plain)]);

        Assert.Equal(DecodeFile(plain).Samples, DecodeFile(tagged).Samples);
        Assert.Equal(DecodeFile(plain, new DecodeRequest(1.2, 0.5)).Samples, DecodeFile(tagged, new DecodeRequest(1.2, 0.5)).Samples);
    }

    [Fact]
    public void The_loader_resamples_FLAC_like_any_other_format()
    {
        string path = Fixture("flac24-stereo.flac");
        var native = DecodeFile(path);

        var row = Load(path, new AudioLoaderOptions { TargetSampleRate = 16000 });

        Assert.Equal(Resampler.Resample(native.Samples, 44100, 16000), row.Samples);
        Assert.Equal(1.5, row.Duration, 1.0 / 16000);
    }

    private static string Damaged(TempDir dir, string name, Action<byte[]> damage)
    {
        var bytes = File.ReadAllBytes(Fixture("flac16-stereo-b1152-m.flac"));
        damage(bytes);
        string path = dir.File(name + ".flac");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The byte where the first frame starts: after "fLaC" and every metadata block.</summary>
    private static int FirstFrame(byte[] flac)
    {
        int p = 4;
        bool last;
        do
        {
            last = (flac[p] & 0x80) != 0;
            p += 4 + ((flac[p + 1] << 16) | (flac[p + 2] << 8) | flac[p + 3]);
        }
        while (!last);

        Assert.True(flac[p] == 0xFF && (flac[p + 1] & 0xFE) == 0xF8);
        return p;
    }

    [Fact]
    public void Damaged_frames_headers_and_STREAMINFO_are_typed_errors_naming_the_file()
    {
        using var dir = new TempDir();
        var cases = new (string Path, string Reason)[]
        {
            (Damaged(dir, "frame-byte", b => b[b.Length / 2] ^= 0x10), "CRC-16"),
            (Damaged(dir, "header-byte", b => b[FirstFrame(b) + 2] ^= 0x01), "CRC-8"),
            (Damaged(dir, "md5", b => b[8 + 18] ^= 0xFF), "MD5"),
            (Damaged(dir, "max-block", b => { BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8), 1024); BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8 + 2), 1024); }), "STREAMINFO declares at most 1024 samples"),
            (Damaged(dir, "min-block", b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8), 4)), "block sizes 4 to"),
            (Damaged(dir, "zero-rate", b => { b[8 + 10] = 0; b[8 + 11] = 0; b[8 + 12] &= 0x0F; }), "sample rate of 0 Hz"),
            (Damaged(dir, "more-samples", b => b[8 + 16] ^= 0x01), "truncated"),               // 132300 + 256 declared
            (Damaged(dir, "fewer-samples", b => b[8 + 16] ^= 0x04), "STREAMINFO declares 131276"), // 132300 - 1024 declared
        };

        foreach (var (path, reason) in cases)
        {
            var e = Assert.ThrowsAny<AudioDataException>(() => Load(path));
            Assert.Equal(path, e.FilePath);
            Assert.Contains($"'{path}'", e.Message);
            Assert.Contains(reason, e.Message);
        }
    }

    [Fact]
    public void A_truncated_FLAC_is_an_error_unless_accepted_and_then_decodes_the_whole_frames_present()
    {
        using var dir = new TempDir();
        string path = Fixture("flac16-stereo-b1152-m.flac");
        var full = DecodeFile(path).Samples;
        var bytes = File.ReadAllBytes(path);
        string cut = dir.File("cut.flac");
        File.WriteAllBytes(cut, bytes[..(bytes.Length * 2 / 3)]);

        var e = Assert.Throws<AudioDataException>(() => Load(cut));
        var row = Load(cut, new AudioLoaderOptions { TargetSampleRate = 44100, AcceptTruncatedFiles = true });
        var start = Load(cut, new AudioLoaderOptions { TargetSampleRate = 44100, MaxDuration = 0.5 }); // within what is there

        Assert.Contains("FLAC stream is truncated", e.Message);
        Assert.Contains($"'{cut}'", e.Message);
        Assert.Equal(0, row.Samples.Length % 1152); // whole 1152-sample frames only
        Assert.InRange(row.Samples.Length, full.Length / 3, full.Length - 1152);
        Assert.Equal(full.AsSpan(0, row.Samples.Length).ToArray(), row.Samples);
        Assert.Equal(full.AsSpan(0, 22050).ToArray(), start.Samples);
    }

    [Fact]
    public void Ogg_FLAC_seeks_like_native_FLAC_and_a_cut_file_is_an_error_unless_accepted()
    {
        using var dir = new TempDir();
        string path = Fixture("oggflac16-mono.oga");
        var full = DecodeFile(path).Samples;
        var bytes = File.ReadAllBytes(path);
        string cut = dir.File("cut.oga");
        File.WriteAllBytes(cut, bytes[..(bytes.Length * 9 / 10)]); // inside the last page; the pages before hold 4 frames

        var part = DecodeFile(path, new DecodeRequest(0.4, 0.25)).Samples;
        var e = Assert.Throws<AudioDataException>(() => Load(cut));
        var accepted = Load(cut, new AudioLoaderOptions { TargetSampleRate = 22050, AcceptTruncatedFiles = true });

        Assert.Equal(full.AsSpan(8820, 5512).ToArray(), part); // 0.25 s = 5512.5 samples, rounded to even
        Assert.Contains("Ogg FLAC file is truncated", e.Message);
        Assert.Contains($"'{cut}'", e.Message);
        Assert.Equal(4 * 4096, accepted.Samples.Length);
        Assert.Equal(full.AsSpan(0, accepted.Samples.Length).ToArray(), accepted.Samples);
    }

    [Fact]
    public void Under_Report_a_damaged_FLAC_row_fails_alone()
    {
        using var dir = new TempDir();
        string bad = Damaged(dir, "bad", b => b[b.Length / 2] ^= 0x10);

        var rows = LoadAll([Fixture("flac8-mono.flac"), bad, Fixture("opus-stereo.opus")], new AudioLoaderOptions { ErrorPolicy = AudioErrorPolicy.Report });

        Assert.Equal(string.Empty, rows[0].Error);
        Assert.Equal(3.0, rows[0].Duration, 1e-3);
        Assert.Contains("CRC-16", rows[1].Error);
        Assert.Contains($"'{bad}'", rows[1].Error);
        Assert.Empty(rows[1].Samples);
        Assert.Equal(string.Empty, rows[2].Error);
        Assert.Equal(3.0, rows[2].Duration, 1e-3);
    }

    [InstalledAudioFact(SonicPiDir, "sonic-pi-samples")]
    public void Real_recordings_from_sonic_pi_samples_decode_bit_for_bit_as_libFLAC_does()
    {
        using var dir = new TempDir();
        var files = Directory.GetFiles(SonicPiDir, "*.flac").Order(StringComparer.Ordinal).ToArray();
        Assert.True(files.Length >= 100, $"{files.Length} FLAC files in {SonicPiDir}");
        var depths = new HashSet<int>();
        var assignments = new int[11];
        foreach (string path in files)
        {
            var stats = new FlacStats();
            var ours = DecodeFile(path, stats: stats);
            var (reference, rate) = LibFlac(path, dir);
            Assert.Equal(rate, ours.SampleRate);
            Assert.True(reference.AsSpan().SequenceEqual(ours.Samples), $"{path}: decoded samples differ from flac -d");
            depths.UnionWith(stats.BitsPerSample);
            for (int i = 0; i < 11; i++)
            {
                assignments[i] += stats.ChannelAssignments[i];
            }
        }

        Assert.Contains(16, depths);
        Assert.True(assignments[10] > 0, "real stereo recordings use mid/side");
    }

    /// <summary>
    /// A two-frame, 2-channel, 16-bit, 8 kHz stream written bit by bit. Frame 1 (right/side): the side channel is
    /// FIXED order 0 with 5-bit Rice parameters, its first partition escaped to 7-bit raw values, its second at
    /// parameter 17; the right channel is CONSTANT 40 stored as 5 with 3 wasted bits. Frame 2 (independent): left is
    /// VERBATIM, right LPC order 2 (coefficients 3, -1, shift 1) with a 4-bit Rice parameter of 3.
    /// </summary>
    private static (byte[] Bytes, long[] Left, long[] Right) HandBuiltStream()
    {
        const int n = 32;
        var left = new long[2 * n];
        var right = new long[2 * n];
        var rng = new Random(5);
        var w = new BitWriter();

        // Frame 1: right/side.
        var side = new long[n];
        for (int i = 0; i < n; i++)
        {
            side[i] = i < 16 ? rng.Next(-64, 64) : rng.Next(-30000, 30000);
            right[i] = 40;
            left[i] = side[i] + right[i];
        }

        var frames = new List<byte[]>();
        var f = new BitWriter();
        FrameHeader(f, channelCode: 9, frameNumber: 0, n);
        f.Write(0, 1); f.Write(8, 6); f.Write(0, 1);        // side: FIXED order 0, no wasted bits
        f.Write(1, 2); f.Write(1, 4);                       // 5-bit parameters, partition order 1
        f.Write(31, 5); f.Write(7, 5);                      // partition 0: escaped, 7-bit raw signed
        for (int i = 0; i < 16; i++)
        {
            f.Write((ulong)side[i] & 0x7F, 7);
        }

        f.Write(17, 5);                                     // partition 1: Rice parameter 17
        for (int i = 16; i < n; i++)
        {
            f.Rice(side[i], 17);
        }

        f.Write(0, 1); f.Write(0, 6); f.Write(1, 1); f.Write(0b001, 3); // right: CONSTANT, wasted flag, unary 2 -> 3 wasted bits
        f.Write(5, 13);                                     // 40 >> 3, in 16 - 3 bits
        frames.Add(FrameFooter(f));

        // Frame 2: independent; left VERBATIM, right LPC order 2.
        for (int i = 0; i < n; i++)
        {
            left[n + i] = rng.Next(-32768, 32768);
        }

        var residual = new long[n];
        right[n] = 100;
        right[n + 1] = 110;
        for (int i = 2; i < n; i++)
        {
            residual[i] = rng.Next(-20, 21);
            right[n + i] = residual[i] + (((3 * right[n + i - 1]) - right[n + i - 2]) >> 1);
        }

        f = new BitWriter();
        FrameHeader(f, channelCode: 1, frameNumber: 1, n);
        f.Write(0, 1); f.Write(1, 6); f.Write(0, 1);        // left: VERBATIM
        for (int i = 0; i < n; i++)
        {
            f.Write((ulong)left[n + i] & 0xFFFF, 16);
        }

        f.Write(0, 1); f.Write(33, 6); f.Write(0, 1);       // right: LPC order 2
        f.Write(100, 16); f.Write(110, 16);                 // warm-up
        f.Write(4, 4);                                      // precision 5
        f.Write(1, 5);                                      // shift 1
        f.Write(3, 5); f.Write(0x1F, 5);                    // coefficients 3, -1 (5-bit two's complement)
        f.Write(0, 2); f.Write(0, 4); f.Write(3, 4);        // 4-bit parameters, one partition, parameter 3
        for (int i = 2; i < n; i++)
        {
            f.Rice(residual[i], 3);
        }

        frames.Add(FrameFooter(f));

        var pcm = new byte[2 * n * 2 * 2];
        for (int i = 0; i < 2 * n; i++)
        {
            BinaryPrimitives.WriteInt16LittleEndian(pcm.AsSpan(4 * i), (short)left[i]);
            BinaryPrimitives.WriteInt16LittleEndian(pcm.AsSpan((4 * i) + 2), (short)right[i]);
        }

        w.Write(0x664C6143, 32);                            // "fLaC"
        w.Write(1, 1); w.Write(0, 7); w.Write(34, 24);      // last block, STREAMINFO, 34 bytes
        w.Write(n, 16); w.Write(n, 16); w.Write(0, 24); w.Write(0, 24);
        w.Write(8000, 20); w.Write(1, 3); w.Write(15, 5); w.Write(2 * n, 36);
#pragma warning disable CA5351 // FLAC's format defines the MD5 of the samples as a checksum, not for security.
        foreach (byte b in MD5.HashData(pcm))
#pragma warning restore CA5351
        {
            w.Write(b, 8);
        }

        var bytes = w.ToArray().Concat(frames.SelectMany(x => x)).ToArray();
        return (bytes, left, right);
    }

    private static void FrameHeader(BitWriter f, int channelCode, int frameNumber, int blockSize)
    {
        f.Write(0xFFF8, 16);            // sync, reserved 0, fixed block size
        f.Write(6, 4);                  // block size: 8 bits after the header
        f.Write(4, 4);                  // 8000 Hz
        f.Write((ulong)channelCode, 4);
        f.Write(4, 3);                  // 16 bits
        f.Write(0, 1);
        f.Write((ulong)frameNumber, 8); // UTF-8 frame number below 128
        f.Write((ulong)blockSize - 1, 8);
        f.Write(Crc8(f.ToArray()), 8);
    }

    private static byte[] FrameFooter(BitWriter f)
    {
        f.AlignWithZeros();
        f.Write(Crc16(f.ToArray()), 16);
        return f.ToArray();
    }

    // Bit-by-bit CRCs, independent of the decoder's tables.
    private static ulong Crc8(byte[] data)
    {
        int crc = 0;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++)
            {
                crc = ((crc & 0x80) != 0 ? (crc << 1) ^ 0x07 : crc << 1) & 0xFF;
            }
        }

        return (ulong)crc;
    }

    private static ulong Crc16(byte[] data)
    {
        int crc = 0;
        foreach (byte b in data)
        {
            crc ^= b << 8;
            for (int i = 0; i < 8; i++)
            {
                crc = ((crc & 0x8000) != 0 ? (crc << 1) ^ 0x8005 : crc << 1) & 0xFFFF;
            }
        }

        return (ulong)crc;
    }

    private sealed class BitWriter
    {
        private readonly List<byte> _bytes = [];
        private int _bitCount;

        public void Write(ulong value, int bits)
        {
            for (int i = bits - 1; i >= 0; i--)
            {
                if (_bitCount % 8 == 0)
                {
                    _bytes.Add(0);
                }

                if (((value >> i) & 1) != 0)
                {
                    _bytes[^1] |= (byte)(0x80 >> (_bitCount % 8));
                }

                _bitCount++;
            }
        }

        public void Rice(long v, int k)
        {
            ulong u = v >= 0 ? (ulong)v << 1 : ((ulong)(-v) << 1) - 1;
            for (ulong q = u >> k; q > 0; q--)
            {
                Write(0, 1);
            }

            Write(1, 1);
            Write(u & ((1UL << k) - 1), k);
        }

        public void AlignWithZeros()
        {
            while (_bitCount % 8 != 0)
            {
                Write(0, 1);
            }
        }

        public byte[] ToArray() => [.. _bytes];
    }
}
