using System.Buffers.Binary;
using MLNetAudio.Audio;
using Xunit.Abstractions;
using static MLNetAudio.Tests.Audio.AudioTestSignals;
using static MLNetAudio.Tests.Audio.HostileInput;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// Issue 13: a seeded mutation run over each format. Every mutant must either load finite samples or fail with an
/// <see cref="AudioLoadException"/> naming the file, each within a time and allocation bound per row. Mutations: a few
/// flipped bytes, a header field set to an extreme value, a cut; for Ogg, half the mutants get their page CRCs
/// recomputed so the checks behind the CRC (headers, granules, NVorbis itself) are reached too.
/// </summary>
public class AudioMutationTests(ITestOutputHelper output)
{
    private const int MutantsPerFormat = 1000;
    private const double SecondsPerRow = 5;

    // Seeds decode to at most 2 s; a mutant declaring 1 kHz stretches that to 88 s at 22,050 Hz (8 MB of floats).
    private const long BytesPerRow = 32 << 20;

    public static TheoryData<string> Formats() => ["wav-pcm16", "wav-float32-stereo", "ogg", "mp3"];

    private static byte[] Seed(string format) => format switch
    {
        "wav-pcm16" => WavBytes(Sine(440, 22050, 0.5), 22050),
        "wav-float32-stereo" => WavBytes(Interleave(Sine(440, 44100, 0.25), Sine(660, 44100, 0.25)), 44100, 2, WavSampleFormat.IeeeFloat32, extensible: true),
        "ogg" => File.ReadAllBytes(Fixture("stereo440l_660r_2s_44100.ogg")),
        _ => File.ReadAllBytes(Fixture("sine440_2s_44100.mp3")),
    };

    private static byte[] Mutate(byte[] seed, Random random, bool ogg)
    {
        var m = (byte[])seed.Clone();
        // Headers and the first pages are where claims live: three quarters of the edits land in the first 256 bytes.
        int Offset(int width) => random.Next(4) > 0 ? random.Next(Math.Min(256, m.Length - width)) : random.Next(m.Length - width);
        switch (random.Next(4))
        {
            case 0:
                for (int k = random.Next(1, 5); k > 0; k--)
                {
                    m[Offset(1)] ^= (byte)(1 << random.Next(8));
                }

                break;
            case 1:
                uint[] extremes = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x40000000, 1_000_000_000];
                BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(Offset(4)), extremes[random.Next(extremes.Length)]);
                break;
            case 2:
                m[Offset(1)] = (byte)random.Next(256);
                break;
            default:
                m = m[..random.Next(1, m.Length)];
                break;
        }

        if (ogg && random.Next(2) == 0)
        {
            FixAllOggCrcs(m);
        }

        return m;
    }

    /// <summary>Recomputes the CRC of every whole page that still starts with "OggS".</summary>
    private static void FixAllOggCrcs(byte[] ogg)
    {
        for (int pos = 0; pos + 27 <= ogg.Length && ogg.AsSpan(pos, 4).SequenceEqual("OggS"u8);)
        {
            int count = ogg[pos + 26];
            if (pos + 27 + count > ogg.Length)
            {
                return;
            }

            int body = 0;
            for (int i = 0; i < count; i++)
            {
                body += ogg[pos + 27 + i];
            }

            if (pos + 27 + count + body > ogg.Length)
            {
                return;
            }

            FixOggCrc(ogg, pos);
            pos += 27 + count + body;
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_mutant_loads_finite_samples_or_fails_typed_within_bounds(string format)
    {
        using var dir = new TempDir();
        var seed = Seed(format);
        var random = new Random(13);
        var ml = new Microsoft.ML.MLContext(seed: 1);
        var loader = ml.Transforms.LoadAudio("Audio", "Path").Fit(ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "x" } }));
        int loaded = 0, refused = 0;
        double slowest = 0;
        long mostAllocated = 0;
        for (int i = 0; i < MutantsPerFormat; i++)
        {
            string path = dir.File($"{format}-{i}.bin");
            File.WriteAllBytes(path, Mutate(seed, random, format == "ogg"));
            float[]? samples = null;
            var (error, seconds, allocated) = Measure(() => samples = loader.LoadFile(path).Samples);
            slowest = Math.Max(slowest, seconds);
            mostAllocated = Math.Max(mostAllocated, allocated);
            Assert.True(seconds < SecondsPerRow, $"mutant {i} of {format} took {seconds:F1} s");
            Assert.True(allocated < BytesPerRow, $"mutant {i} of {format} allocated {allocated >> 20} MB");
            if (error is null)
            {
                loaded++;
                Assert.All(samples!, v => Assert.True(float.IsFinite(v)));
                Assert.True(samples!.Length <= 22050 * 60, $"mutant {i} of {format} decoded to {samples.Length} samples from {seed.Length} bytes");
            }
            else
            {
                refused++;
                var e = Assert.IsAssignableFrom<AudioLoadException>(error);
                Assert.Equal(path, e.FilePath);
                Assert.DoesNotContain("loading failed unexpectedly", e.Message); // every cause is named by a check, not caught generically
            }

            File.Delete(path);
        }

        output.WriteLine($"{format}: {loaded} loaded, {refused} refused; slowest {slowest:F3} s, most allocated {mostAllocated >> 20} MB");
        Assert.True(refused > MutantsPerFormat / 10, $"only {refused} of {MutantsPerFormat} {format} mutants were refused");
        Assert.True(slowest < SecondsPerRow && mostAllocated < BytesPerRow, $"{loaded} loaded, {refused} refused; slowest {slowest:F2} s, most allocated {mostAllocated >> 20} MB");
    }
}
