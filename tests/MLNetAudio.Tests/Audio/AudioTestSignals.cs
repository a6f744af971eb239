using System.Buffers.Binary;
using NWaves.Transforms;

namespace MLNetAudio.Tests.Audio;

/// <summary>A temporary folder deleted at the end of a test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlnetaudio-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A reader still holding a file must not fail the test; the OS cleans temp folders.
        }
    }
}

/// <summary>Signals and measurements shared by the audio tests.</summary>
internal static class AudioTestSignals
{
    public static float[] Sine(double frequency, int rate, double seconds, double amplitude = 0.5, double phase = 0)
    {
        var x = new float[(int)Math.Round(seconds * rate)];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(amplitude * Math.Sin((2 * Math.PI * frequency * i / rate) + phase));
        }

        return x;
    }

    /// <summary>Interleaves per-channel signals into frames.</summary>
    public static float[] Interleave(params float[][] channels)
    {
        int n = channels[0].Length;
        var x = new float[n * channels.Length];
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < channels.Length; c++)
            {
                x[(i * channels.Length) + c] = channels[c][i];
            }
        }

        return x;
    }

    /// <summary>
    /// Frequency of the strongest FFT bin of the middle 16384 samples (Hann window, parabolic interpolation between
    /// bins), in Hz.
    /// </summary>
    public static double PeakFrequency(float[] x, int rate)
    {
        const int n = 16384;
        Assert.True(x.Length >= n, $"need at least {n} samples, got {x.Length}");
        int start = (x.Length - n) / 2;
        var frame = new float[n];
        for (int i = 0; i < n; i++)
        {
            frame[i] = x[start + i] * (float)(0.5 - (0.5 * Math.Cos(2 * Math.PI * i / n)));
        }

        var mag = new float[(n / 2) + 1];
        new RealFft(n).MagnitudeSpectrum(frame, mag);
        int k = 1;
        for (int i = 1; i < mag.Length - 1; i++)
        {
            if (mag[i] > mag[k])
            {
                k = i;
            }
        }

        double a = Math.Log(mag[k - 1] + 1e-20), b = Math.Log(mag[k] + 1e-20), c = Math.Log(mag[k + 1] + 1e-20);
        double delta = 0.5 * (a - c) / (a - (2 * b) + c);
        return (k + delta) * rate / n;
    }

    /// <summary>Amplitude of a sine from the RMS of the middle half (edges skipped: filters ramp in and out there).</summary>
    public static double SineAmplitude(float[] x) => Rms(x.AsSpan(x.Length / 4, x.Length / 2)) * Math.Sqrt(2);

    /// <summary>Amplitude of the <paramref name="frequency"/> component over one second in the middle (a single DFT bin;
    /// exact for frequencies with a whole number of cycles per second).</summary>
    public static double ToneAmplitude(float[] x, int rate, double frequency)
    {
        int start = (x.Length - rate) / 2;
        double re = 0, im = 0;
        for (int i = 0; i < rate; i++)
        {
            double w = 2 * Math.PI * frequency * i / rate;
            re += x[start + i] * Math.Cos(w);
            im -= x[start + i] * Math.Sin(w);
        }

        return 2 * Math.Sqrt((re * re) + (im * im)) / rate;
    }

    public static double Rms(ReadOnlySpan<float> x)
    {
        double sum = 0;
        foreach (float v in x)
        {
            sum += (double)v * v;
        }

        return Math.Sqrt(sum / Math.Max(1, x.Length));
    }

    /// <summary>A 16-bit PCM WAV file's bytes.</summary>
    public static byte[] WavBytes(float[] interleaved, int rate, int channels = 1, MLNetAudio.Audio.WavSampleFormat format = MLNetAudio.Audio.WavSampleFormat.Pcm16, bool extensible = false)
    {
        using var ms = new MemoryStream();
        MLNetAudio.Audio.WavWriter.Write(ms, interleaved, rate, channels, format, extensible);
        return ms.ToArray();
    }

    /// <summary>Offset of a chunk's 8-byte header in a RIFF file, or -1.</summary>
    public static int FindChunk(byte[] wav, string id)
    {
        int pos = 12;
        while (pos + 8 <= wav.Length)
        {
            if (System.Text.Encoding.ASCII.GetString(wav, pos, 4) == id)
            {
                return pos;
            }

            uint size = BinaryPrimitives.ReadUInt32LittleEndian(wav.AsSpan(pos + 4));
            pos += 8 + (int)size + (int)(size & 1);
        }

        return -1;
    }

    /// <summary>Inserts a chunk (with its pad byte when odd) just before the data chunk and fixes the RIFF size.</summary>
    public static byte[] InsertChunkBeforeData(byte[] wav, string id, byte[] payload)
    {
        int at = FindChunk(wav, "data");
        var chunk = new byte[8 + payload.Length + (payload.Length & 1)];
        System.Text.Encoding.ASCII.GetBytes(id).CopyTo(chunk, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(4), (uint)payload.Length);
        payload.CopyTo(chunk, 8);
        var result = wav[..at].Concat(chunk).Concat(wav[at..]).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(4), (uint)(result.Length - 8));
        return result;
    }
}

/// <summary>A read-only stream wrapper that counts the bytes read through it.</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    public long BytesRead { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => inner.CanSeek;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position { get => inner.Position; set => inner.Position = value; }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = inner.Read(buffer, offset, count);
        BytesRead += n;
        return n;
    }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        BytesRead += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
