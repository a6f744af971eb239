using System.Buffers.Binary;
using System.Diagnostics;

namespace MLNetAudio.Tests.Audio;

/// <summary>
/// The reference decoders the format tests compare against (Debian's <c>flac</c>, <c>opus-tools</c>, <c>ffmpeg</c>).
/// A missing tool fails the test with the install command: a comparison that cannot run must not pass.
/// </summary>
internal static class ExternalTools
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary>The tool's path; fails the test when it is not installed.</summary>
    public static string Require(string tool, string package)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"`{tool}` is not installed, and this test compares against it: run `apt-get install {package}` (bash .ci/run does).");
        return string.Empty;
    }

    /// <summary>Runs a tool and fails the test if it exits with an error.</summary>
    public static void Run(string tool, string package, params string[] args)
    {
        var info = new ProcessStartInfo(Require(tool, package)) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}");
    }

    /// <summary>Until disposed, the loader finds no ffmpeg (in this test's flow only), as on a machine without it.</summary>
    public static IDisposable NoFfmpeg() => new FfmpegOverride("/nonexistent/ffmpeg");

    private sealed class FfmpegOverride : IDisposable
    {
        private readonly string? _saved = MLNetAudio.Audio.FfmpegDecoder.ExecutableOverride.Value;

        public FfmpegOverride(string path) => MLNetAudio.Audio.FfmpegDecoder.ExecutableOverride.Value = path;

        public void Dispose() => MLNetAudio.Audio.FfmpegDecoder.ExecutableOverride.Value = _saved;
    }

    /// <summary>The channels of a 32-bit float WAV (as <c>opusdec --float</c> writes).</summary>
    public static float[][] ReadFloatWav(string path)
    {
        var b = File.ReadAllBytes(path);
        int p = 12, channels = 0, tag = 0, bits = 0;
        while (p + 8 <= b.Length)
        {
            string id = System.Text.Encoding.ASCII.GetString(b, p, 4);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 4));
            if (id == "fmt ")
            {
                tag = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 8));
                channels = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 10));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 22));
            }
            else if (id == "data")
            {
                Assert.True(tag is 3 or 0xFFFE && bits == 32, $"{path} is not 32-bit float (format tag {tag}, {bits} bits)");
                long frames = Math.Min(size, b.Length - p - 8) / (4 * channels);
                var ch = new float[channels][];
                for (int c = 0; c < channels; c++)
                {
                    ch[c] = new float[frames];
                    for (long f = 0; f < frames; f++)
                    {
                        ch[c][f] = BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(p + 8 + (int)(4 * ((f * channels) + c))));
                    }
                }

                return ch;
            }

            p += 8 + (int)size + (int)(size & 1);
        }

        Assert.Fail($"{path} has no data chunk");
        return [];
    }

    /// <summary>
    /// The integer samples of a PCM WAV as written by <c>flac -d</c> (or ffmpeg), per channel, with the bit depth.
    /// </summary>
    public static (long[][] Channels, int BitsPerSample, int Rate) ReadPcmWav(string path)
    {
        var b = File.ReadAllBytes(path);
        int p = 12, channels = 0, bits = 0, rate = 0, tag = 0;
        while (p + 8 <= b.Length)
        {
            string id = System.Text.Encoding.ASCII.GetString(b, p, 4);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p + 4));
            if (id == "fmt ")
            {
                tag = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 8));
                channels = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 10));
                rate = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(p + 12));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(p + 22));
            }
            else if (id == "data")
            {
                Assert.True(tag is 1 or 0xFFFE, $"{path} is not integer PCM (format tag {tag})");
                int bytes = bits / 8;
                long frames = Math.Min(size, b.Length - p - 8) / (bytes * channels);
                var ch = new long[channels][];
                for (int c = 0; c < channels; c++)
                {
                    ch[c] = new long[frames];
                }

                int q = p + 8;
                for (long f = 0; f < frames; f++)
                {
                    for (int c = 0; c < channels; c++, q += bytes)
                    {
                        long v = bytes switch
                        {
                            1 => b[q] - 128,
                            2 => BinaryPrimitives.ReadInt16LittleEndian(b.AsSpan(q)),
                            3 => (b[q] | (b[q + 1] << 8) | ((sbyte)b[q + 2] << 16)),
                            _ => BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(q)),
                        };
                        ch[c][f] = v;
                    }
                }

                return (ch, bits, rate);
            }

            p += 8 + (int)size + (int)(size & 1);
        }

        Assert.Fail($"{path} has no data chunk");
        return default;
    }

    /// <summary>The mono floats a bit-exact FLAC decoder must return for these integer samples (the channel mean, scaled by 2^(bits-1)).</summary>
    public static float[] MonoOf(long[][] channels, int bits)
    {
        double scale = 1.0 / (1L << (bits - 1)) / channels.Length;
        var mono = new float[channels[0].Length];
        for (int i = 0; i < mono.Length; i++)
        {
            long sum = 0;
            foreach (var c in channels)
            {
                sum += c[i];
            }

            mono[i] = (float)(sum * scale);
        }

        return mono;
    }
}

/// <summary>
/// A test on audio from a Debian package (installed, never committed). Skipped with the install command on a
/// developer machine without it; under CI (<c>CI=true</c>, where <c>.ci/run</c> installs it) it always runs.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class InstalledAudioFactAttribute : FactAttribute
{
    public InstalledAudioFactAttribute(string directory, string package)
    {
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ci && !Directory.Exists(directory))
        {
            Skip = $"{directory} is missing: run `apt-get install {package}` (bash .ci/run does).";
        }
    }
}
