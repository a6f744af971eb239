using System.Diagnostics;
using MLNetAudio.Audio;
using static MLNetAudio.Tests.Audio.ExternalTools;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// Random damage to the FLAC, Ogg FLAC and Ogg Opus fixtures: every decode ends quickly in samples or in an
/// <see cref="AudioLoadException"/> raised by the decoders' own checks (none wrapping an exception thrown from deep
/// inside, such as an index out of range), so header values are bounded before they are used.
/// </summary>
public class FormatDamageTests
{
    [Theory]
    [InlineData("flac16-stereo-b1152-m.flac")]
    [InlineData("flac32-stereo.flac")]
    [InlineData("oggflac16-mono.oga")]
    [InlineData("opus-stereo.opus")]
    [InlineData("opus-5.1.opus")]
    public void Random_damage_gives_samples_or_a_typed_error_from_the_decoders_own_checks(string name)
    {
        using var noFfmpeg = NoFfmpeg(); // a damaged magic number must not hand the file to ffmpeg
        var original = File.ReadAllBytes(Fixture(name));
        var rng = new Random(1);
        int errors = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            var bytes = (byte[])original.Clone();
            int changes = rng.Next(1, 8);
            for (int j = 0; j < changes; j++)
            {
                // Half the changes hit the headers (the first 200 bytes), half anywhere.
                bytes[rng.Next(rng.Next(2) == 0 ? Math.Min(200, bytes.Length) : bytes.Length)] = (byte)rng.Next(256);
            }

            if (rng.Next(4) == 0)
            {
                bytes = bytes[..rng.Next(bytes.Length)];
            }

            var watch = Stopwatch.StartNew();
            try
            {
                using var stream = new MemoryStream(bytes);
                AudioDecoder.Decode(stream, name, default);
            }
            catch (AudioLoadException e)
            {
                Assert.True(e.InnerException is null, $"trial {trial}: {e.Message}");
                errors++;
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"trial {trial} took {watch.Elapsed}");
        }

        Assert.True(errors >= 150, $"only {errors} of 200 damaged files were refused");
    }
}
