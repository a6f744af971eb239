using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace MLNetAudio.Audio;

/// <summary>
/// Decodes the formats MLNetAudio has no decoder for (AAC/M4A, WMA, AIFF, ADPCM WAV, ...) by running an installed
/// <c>ffmpeg</c>, as librosa's audioread fallback does. Used only when <c>ffmpeg</c> is on PATH.
/// </summary>
/// <remarks>
/// <para>Runs <c>ffmpeg -nostdin -v error [-ss OFFSET] -i file:PATH [-t DURATION] -map 0:a:0 -f wav -c:a pcm_f32le -</c>:
/// the first audio stream as 32-bit float WAV on stdout, every channel at the file's own rate (the WAV header says
/// which), down-mixed here by averaging as the other decoders do. <c>-ss</c> before <c>-i</c> seeks in the input;
/// ffmpeg then decodes and discards up to the exact offset.</para>
/// <para>Bounds: the output is read as it comes and held as mono floats, so a song longer than one .NET array fails
/// as for the other formats; ffmpeg is killed after <see cref="DefaultTimeout"/>. A non-zero exit is an
/// <see cref="AudioDataException"/> quoting ffmpeg's message; so is an exit of 0 with errors printed (ffmpeg carries on
/// past damaged packets), unless truncated files are accepted.</para>
/// </remarks>
internal static class FfmpegDecoder
{
    /// <summary>How long one file may take. Ten minutes: ffmpeg decodes an hour of AAC in well under a minute.</summary>
    internal static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    /// <summary>For tests: a shorter timeout in this async flow.</summary>
    internal static readonly AsyncLocal<TimeSpan?> TimeoutOverride = new();

    private static TimeSpan Timeout => TimeoutOverride.Value ?? DefaultTimeout;

    /// <summary>
    /// For tests: the ffmpeg executable to use in this async flow instead of searching PATH (a path that does not exist
    /// means "not installed").
    /// </summary>
    internal static readonly AsyncLocal<string?> ExecutableOverride = new();

    /// <summary>What an unsupported-format error adds when ffmpeg is missing.</summary>
    internal const string MissingHint =
        "MLNetAudio decodes other formats through ffmpeg when it is on PATH, and ffmpeg was not found: installing it (e.g. `apt-get install ffmpeg`) would add this format.";

    private const int MaxStderr = 4096;

    /// <summary>The ffmpeg executable to run, or null when none is installed.</summary>
    public static string? Find()
    {
        if (ExecutableOverride.Value is { } forced)
        {
            return File.Exists(forced) ? forced : null;
        }

        string name = OperatingSystem.IsWindows() ? "ffmpeg.exe" : "ffmpeg";
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Decodes <paramref name="path"/> (a <paramref name="format"/> file, as detected) with <paramref name="ffmpeg"/>.</summary>
    public static DecodedAudio Decode(string ffmpeg, string path, string format, DecodeRequest request)
    {
        var info = new ProcessStartInfo(ffmpeg)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        var args = info.ArgumentList;
        args.Add("-nostdin");
        args.Add("-hide_banner");
        args.Add("-v");
        args.Add("error");
        if (request.OffsetSeconds > 0)
        {
            args.Add("-ss");
            args.Add(request.OffsetSeconds.ToString("R", CultureInfo.InvariantCulture));
        }

        args.Add("-i");
        args.Add("file:" + Path.GetFullPath(path)); // "file:" so a name starting with '-' or holding ':' is a file
        if (request.MaxDurationSeconds is { } duration)
        {
            args.Add("-t");
            args.Add(duration.ToString("R", CultureInfo.InvariantCulture));
        }

        foreach (string a in (string[])["-map", "0:a:0", "-vn", "-sn", "-dn", "-f", "wav", "-c:a", "pcm_f32le", "-"])
        {
            args.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null.");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new AudioFormatException(path, format, $"{format} is decoded through ffmpeg, but '{ffmpeg}' could not be started ({e.Message}).");
        }

        using (process)
        {
            var stderr = new StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                lock (stderr)
                {
                    if (e.Data is { } line && stderr.Length < MaxStderr)
                    {
                        stderr.AppendLine(line);
                    }
                }
            };
            process.BeginErrorReadLine();
            bool timedOut = false;
            var timeout = Timeout;
            using var timer = new Timer(_ =>
            {
                Volatile.Write(ref timedOut, true);
                Kill(process);
            }, null, timeout, System.Threading.Timeout.InfiniteTimeSpan);

            DecodedAudio? audio = null;
            try
            {
                audio = ReadWav(process.StandardOutput.BaseStream, path, format, request.TargetRate, request.Sink);
            }
            catch (Exception) when (Volatile.Read(ref timedOut))
            {
                throw new AudioLoadException(path, $"ffmpeg did not finish decoding the {format} file within {timeout.TotalSeconds:F0} s and was stopped.");
            }
            catch (AudioLoadException)
            {
                Kill(process);
                process.WaitForExit();
                if (process.ExitCode == 0)
                {
                    throw;
                }

                // ffmpeg failed before or while writing: its message says why better than a missing header does.
            }
            catch
            {
                Kill(process);
                throw;
            }

            process.WaitForExit();
            if (Volatile.Read(ref timedOut))
            {
                throw new AudioLoadException(path, $"ffmpeg did not finish decoding the {format} file within {timeout.TotalSeconds:F0} s and was stopped.");
            }

            string message;
            lock (stderr)
            {
                message = stderr.ToString().Trim();
            }

            if (process.ExitCode != 0 || audio is null)
            {
                throw new AudioDataException(path, $"ffmpeg could not decode the {format} file (exit code {process.ExitCode}): {FirstLines(message)}");
            }

            if (message.Length > 0 && !request.AcceptTruncated)
            {
                throw new AudioDataException(path, $"ffmpeg reported errors decoding the {format} file, so the audio may be damaged or cut short: {FirstLines(message)} Set AudioLoaderOptions.AcceptTruncatedFiles = true to keep what it decoded.");
            }

            return audio;
        }
    }

    private static string FirstLines(string message)
    {
        if (message.Length == 0)
        {
            return "(no message).";
        }

        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(" | ", lines.Take(3)) + (lines.Length > 3 ? $" (and {lines.Length - 3} more lines)" : string.Empty);
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }

    /// <summary>Reads ffmpeg's float WAV from a pipe (sizes unknown: 0xFFFFFFFF) and down-mixes it as it arrives.</summary>
    private static DecodedAudio ReadWav(Stream pipe, string path, string format, int? targetRate, ISampleSink? sink)
    {
        Span<byte> head = stackalloc byte[12];
        if (pipe.ReadAtLeast(head, 12, throwOnEndOfStream: false) < 12 || !head[..4].SequenceEqual("RIFF"u8) || !head[8..].SequenceEqual("WAVE"u8))
        {
            throw new AudioDataException(path, $"ffmpeg wrote no WAV header decoding the {format} file.");
        }

        int channels = 0, rate = 0, bits = 0;
        Span<byte> chunk = stackalloc byte[8];
        while (true)
        {
            if (pipe.ReadAtLeast(chunk, 8, throwOnEndOfStream: false) < 8)
            {
                throw new AudioDataException(path, $"ffmpeg's WAV output for the {format} file has no data chunk.");
            }

            uint size = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
            if (chunk[..4].SequenceEqual("data"u8))
            {
                break;
            }

            if (size > 1 << 20)
            {
                throw new AudioDataException(path, $"ffmpeg's WAV output for the {format} file has a {size}-byte header chunk.");
            }

            var body = new byte[size + (size & 1)];
            pipe.ReadExactly(body);
            if (chunk[..4].SequenceEqual("fmt "u8) && size >= 16)
            {
                channels = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(2));
                rate = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(4)));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(14));
            }
        }

        AudioDecoder.CheckHeader(path, $"{format} (decoded by ffmpeg)", channels, rate);
        if (bits != 32)
        {
            throw new AudioDataException(path, $"ffmpeg wrote {bits}-bit samples for the {format} file; 32-bit float was asked for.");
        }

        var output = new MonoBuffer(path, long.MaxValue, rate * 60L, rate, targetRate, sink);
        int frameBytes = 4 * channels;
        var buffer = new byte[Math.Max(1 << 16, frameBytes) / frameBytes * frameBytes];
        var floats = new float[buffer.Length / 4];
        int filled = 0;
        while (true)
        {
            int got = pipe.Read(buffer, filled, buffer.Length - filled);
            if (got <= 0)
            {
                break; // a trailing partial frame (never written by ffmpeg) is dropped
            }

            filled += got;
            int whole = filled / frameBytes * frameBytes;
            for (int i = 0; i < whole / 4; i++)
            {
                floats[i] = BinaryPrimitives.ReadSingleLittleEndian(buffer.AsSpan(4 * i));
            }

            output.AppendInterleaved(floats.AsSpan(0, whole / 4), channels);
            Buffer.BlockCopy(buffer, whole, buffer, 0, filled - whole);
            filled -= whole;
        }

        return output.ToAudio();
    }
}
