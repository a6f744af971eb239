using System.Text;
using NLayer;
using NVorbis;

namespace MLNetAudio.Audio;

/// <summary>The container/codec of a file, found from its first bytes (never from its extension).</summary>
internal enum AudioContainer
{
    Wav,
    OggVorbis,
    Mpeg,
    Flac,
    OggFlac,
    OggOpus,
}

/// <summary>Which part of a song to decode.</summary>
/// <param name="OffsetSeconds">Seconds to skip at the start (seeked over, not decoded, where the format allows).</param>
/// <param name="MaxDurationSeconds">Seconds to decode at most from the offset; null decodes to the end.</param>
/// <param name="AcceptTruncated">Decode the frames present when a WAV file is shorter than its header says.</param>
/// <param name="TargetRate">Resample to this rate while decoding (so a long song never exists whole at its own rate); null keeps the file's rate.</param>
/// <param name="Sink">Where to send the samples (at the target rate) as they decode, instead of returning them: the
/// result then holds no samples, only their count (<see cref="DecodedAudio.StreamedLength"/>). Samples reach the sink
/// before the decoder has checked the whole file, so a consumer must drop what it computed when decoding throws.
/// Decoders that return before decoding anything (an offset past the end) return their (empty) samples instead.</param>
internal readonly record struct DecodeRequest(double OffsetSeconds = 0, double? MaxDurationSeconds = null, bool AcceptTruncated = false, int? TargetRate = null, ISampleSink? Sink = null)
{
    public long StartFrame(int rate) => (long)Math.Round(OffsetSeconds * rate);

    public long FrameLimit(int rate) =>
        MaxDurationSeconds is { } d ? (long)Math.Round(d * rate) : long.MaxValue;
}

/// <summary>Mono samples at the file's own sample rate, or at the request's <see cref="DecodeRequest.TargetRate"/>.</summary>
/// <param name="Samples">The samples.</param>
/// <param name="SampleRate">Their rate.</param>
/// <param name="FirstBadSample">When resampled or streamed while decoding: the first decoded sample (at the file's rate) that was not finite or beyond the float limit, checked before resampling.</param>
/// <param name="StreamedLength">When the samples went to <see cref="DecodeRequest.Sink"/>: how many (then <paramref name="Samples"/> is empty).</param>
internal sealed record DecodedAudio(float[] Samples, int SampleRate, BadSample? FirstBadSample = null, long? StreamedLength = null)
{
    /// <summary>The song's length in samples, held or streamed.</summary>
    public long Length => StreamedLength ?? Samples.Length;
}

/// <summary>A decoded sample that <see cref="AudioDecoder"/> refuses: its index after the offset, value, and the rate it was decoded at.</summary>
internal sealed record BadSample(long Index, float Value, int Rate);

/// <summary>
/// Decodes WAV (by hand), Ogg Vorbis (NVorbis), MPEG audio (NLayer), Ogg Opus (Concentus), FLAC and Ogg FLAC (by
/// hand) to mono floats at the file's own rate; any other format it recognises through ffmpeg when one is on PATH.
/// </summary>
/// <remarks>
/// The format is detected from magic bytes, so a FLAC file named <c>.wav</c> is reported as FLAC. Every failure is an
/// <see cref="AudioLoadException"/> naming the file; exceptions thrown inside NVorbis/NLayer on damaged data are
/// wrapped in <see cref="AudioDataException"/>. Down-mixing averages the channels.
/// </remarks>
internal static class AudioDecoder
{
    /// <summary>What the loader supports, for error messages.</summary>
    public const string SupportedFormats = "WAV (PCM 8/16/24/32-bit, IEEE float 32/64-bit, WAVE_FORMAT_EXTENSIBLE), Ogg Vorbis, Ogg Opus, FLAC (native and Ogg), MP3";

    public static DecodedAudio Decode(string path, DecodeRequest request)
    {
        if (path.Length == 0)
        {
            throw new AudioLoadException(path, "the path is empty. Put a file path in every row of the path column.");
        }

        if (Directory.Exists(path))
        {
            throw new AudioLoadException(path, "it is a folder, not a file. Put a file path in every row of the path column.");
        }

        // Checked before opening: opening a FIFO waits for a writer, forever if none comes, and a device such as
        // /dev/zero never ends. Both (and sockets, and block devices) report a length of 0; so does an empty file.
        var info = new FileInfo(path);
        if (info.Exists && info.Length == 0)
        {
            throw new AudioDataException(path, "the file is empty (0 bytes) or not a regular file (a FIFO, device or socket); only regular files are read.");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new AudioLoadException(path, $"the file does not exist (current directory: '{Environment.CurrentDirectory}'). Check the path or AudioLoaderOptions.BaseDirectory.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new AudioLoadException(path, $"the file cannot be opened: {e.Message}", e);
        }

        using (stream)
        {
            return Decode(stream, path, request);
        }
    }

    /// <summary>Decodes from a seekable <paramref name="stream"/>; <paramref name="path"/> names it in errors.</summary>
    public static DecodedAudio Decode(Stream stream, string path, DecodeRequest request)
    {
        if (!stream.CanSeek)
        {
            throw new AudioDataException(path, "the file cannot be read by seeking (a pipe, FIFO or device?); only regular files are read.");
        }

        if (stream.Length == 0)
        {
            throw new AudioDataException(path, "the file is empty (0 bytes).");
        }

        var container = AudioContainer.Wav;
        DecodedAudio audio;
        try
        {
            container = Detect(stream, path);
            stream.Position = 0;
            audio = container switch
            {
                AudioContainer.Wav => WavDecoder.Decode(stream, path, request),
                AudioContainer.OggVorbis => DecodeVorbis(stream, path, request),
                AudioContainer.Flac => FlacDecoder.Decode(stream, path, request),
                AudioContainer.OggFlac => FlacDecoder.DecodeOgg(stream, path, request),
                AudioContainer.OggOpus => OpusDecoder.Decode(stream, path, request),
                _ => DecodeMpeg(stream, path, request),
            };
        }
        catch (AudioFormatException e) when (ViaFfmpeg(e))
        {
            // A format recognised but not decoded here (AAC, ADPCM WAV, AIFF, ...): ffmpeg, or say how to get it.
            audio = FfmpegDecoder.Find() is { } ffmpeg
                ? FfmpegDecoder.Decode(ffmpeg, stream is FileStream file ? file.Name : path, e.Format, request)
                : throw new AudioFormatException(path, e.Format, $"{e.Reason} {FfmpegDecoder.MissingHint}");
        }
        catch (AudioLoadException)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // NVorbis and NLayer throw assorted exception types on damaged data; give the caller one typed error.
            throw new AudioDataException(path, $"the {Describe(container)} data is damaged and cannot be decoded ({e.GetType().Name}: {e.Message}).", e);
        }

        CheckFinite(audio, path, request);
        return audio;
    }

    private static string Describe(AudioContainer c) => c switch
    {
        AudioContainer.Wav => "WAV",
        AudioContainer.OggVorbis => "Ogg Vorbis",
        AudioContainer.Flac => "FLAC",
        AudioContainer.OggFlac => "Ogg FLAC",
        AudioContainer.OggOpus => "Ogg Opus",
        _ => "MP3",
    };

    /// <summary>True for an unsupported format that ffmpeg may decode: one recognised, and audio.</summary>
    private static bool ViaFfmpeg(AudioFormatException e) => e.Format is not ("unknown" or MidiFormat);

    private const string MidiFormat = "MIDI (notes, not audio)";

    private static void CheckFinite(DecodedAudio audio, string path, DecodeRequest request)
    {
        var bad = audio.FirstBadSample ?? (FirstBad(audio.Samples) is int i ? new BadSample(i, audio.Samples[i], audio.SampleRate) : null);
        if (bad is not null)
        {
            double t = request.OffsetSeconds + ((double)bad.Index / bad.Rate);
            float v = bad.Value;
            string what = float.IsNaN(v) ? "a NaN sample" : float.IsInfinity(v) ? "an infinite sample" : $"a sample of {v:G4}, beyond ±{AudioLimits.MaxFloatSampleMagnitude} (full scale is ±1),";
            throw new AudioDataException(
                path,
                $"the audio holds {what} at {t:F3} s (mono sample {bad.Index} after the offset). Re-export the file; a float WAV written from unchecked data can hold such values.");
        }
    }

    /// <summary>The index of the first sample that is NaN, infinite or beyond <see cref="AudioLimits.MaxFloatSampleMagnitude"/>; null when none is.</summary>
    internal static int? FirstBad(ReadOnlySpan<float> samples)
    {
        for (int i = 0; i < samples.Length; i++)
        {
            // One comparison catches NaN (every comparison with it is false), infinities and absurd magnitudes.
            if (!(Math.Abs(samples[i]) <= AudioLimits.MaxFloatSampleMagnitude))
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>Finds the format from the file's first bytes; throws <see cref="AudioFormatException"/> for any other.</summary>
    internal static AudioContainer Detect(Stream stream, string path)
    {
        Span<byte> head = stackalloc byte[64];
        stream.Position = 0;
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..n];

        if (Starts(head, "RIFF"))
        {
            if (n >= 12 && Ascii(head, 8, 4) == "WAVE")
            {
                return AudioContainer.Wav;
            }

            string form = n >= 12 ? Ascii(head, 8, 4) : "?";
            throw Unsupported(path, $"RIFF '{form}'", $"it is a RIFF file of type '{form}', not WAVE.");
        }

        if (Starts(head, "OggS"))
        {
            return DetectOgg(head, path);
        }

        stream.Position = 0;
        if (Starts(head, "fLaC") || (Starts(head, "ID3") && FlacDecoder.Id3TagLength(stream) is > 0))
        {
            return AudioContainer.Flac; // some taggers put an ID3v2 tag before "fLaC"
        }

        if (Starts(head, "ID3") || IsMpegFrameStart(stream, 0))
        {
            return AudioContainer.Mpeg;
        }

        string? known =
            Starts(head, "RF64") || Starts(head, "BW64") ? "RF64/BW64 (64-bit WAV)"
            : Starts(head, "riff") ? "Sony Wave64"
            : Starts(head, "FORM") && n >= 12 && (Ascii(head, 8, 4) == "AIFF" || Ascii(head, 8, 4) == "AIFC") ? "AIFF"
            : Starts(head, "caff") ? "Core Audio Format (CAF)"
            : Starts(head, ".snd") ? "Sun/NeXT AU"
            : n >= 8 && Ascii(head, 4, 4) == "ftyp" ? "MP4/M4A (AAC or ALAC)"
            : Starts(head, "#!AMR") ? "AMR"
            : Starts(head, "MThd") ? MidiFormat
            : Starts(head, "wvpk") ? "WavPack"
            : n >= 4 && head[0] == 0x1A && head[1] == 0x45 && head[2] == 0xDF && head[3] == 0xA3 ? "Matroska/WebM"
            : Starts(head, "MAC ") ? "Monkey's Audio"
            : n >= 4 && head[0] == 0x30 && head[1] == 0x26 && head[2] == 0xB2 && head[3] == 0x75 ? "ASF/WMA"
            : n >= 2 && head[0] == 0xFF && (head[1] & 0xF6) == 0xF0 ? "AAC (ADTS)"
            : null;
        if (known is not null)
        {
            throw Unsupported(path, known, $"{known} is not supported.");
        }

        string hex = Convert.ToHexString(head[..Math.Min(n, 8)]);
        throw Unsupported(path, "unknown", $"the content is not in any audio format MLNetAudio recognises (first bytes: {hex}), whatever its extension.");
    }

    private static AudioFormatException Unsupported(string path, string format, string reason) =>
        new(path, format, $"{reason} Decoded here: {SupportedFormats}; other audio formats through ffmpeg when it is on PATH.");

    private static AudioContainer DetectOgg(ReadOnlySpan<byte> head, string path)
    {
        // The first page's first packet names the codec: 27-byte page header, then the segment table.
        if (head.Length < 28)
        {
            throw new AudioDataException(path, "the Ogg file is truncated inside its first page header.");
        }

        int packet = 27 + head[26];
        var body = packet < head.Length ? head[packet..] : [];
        if (body.Length >= 7 && body[0] == 1 && Ascii(body, 1, 6) == "vorbis")
        {
            return AudioContainer.OggVorbis;
        }

        if (Starts(body, "OpusHead"))
        {
            return AudioContainer.OggOpus;
        }

        if (body.Length >= 5 && body[0] == 0x7F && Ascii(body, 1, 4) == "FLAC")
        {
            return AudioContainer.OggFlac;
        }

        string codec =
            Starts(body, "Speex") ? "Speex"
            : body.Length >= 7 && body[0] == 0x80 && Ascii(body, 1, 6) == "theora" ? "Theora (video)"
            : "an unknown codec";
        throw Unsupported(path, $"Ogg {codec}", $"the Ogg file holds {codec}; Vorbis, Opus and FLAC are decoded from Ogg.");
    }

    /// <summary>True when a valid MPEG audio frame header starts at <paramref name="offset"/> and another follows it
    /// (two in a row make a chance match in random bytes unlikely).</summary>
    private static bool IsMpegFrameStart(Stream stream, long offset)
    {
        Span<byte> h = stackalloc byte[4];
        stream.Position = offset;
        if (stream.ReadAtLeast(h, 4, throwOnEndOfStream: false) < 4)
        {
            return false;
        }

        int length = MpegFrameLength(h);
        if (length <= 0)
        {
            return false;
        }

        if (offset + length + 4 > stream.Length)
        {
            return offset + length <= stream.Length; // a single whole frame
        }

        stream.Position = offset + length;
        return stream.ReadAtLeast(h, 4, throwOnEndOfStream: false) == 4 && MpegFrameLength(h) > 0;
    }

    private static readonly int[] BitratesV1L1 = [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448];
    private static readonly int[] BitratesV1L2 = [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384];
    private static readonly int[] BitratesV1L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    private static readonly int[] BitratesV2L1 = [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256];
    private static readonly int[] BitratesV2L23 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

    /// <summary>Byte length of the MPEG audio frame whose 4-byte header is <paramref name="h"/>, or 0 if it is not one.</summary>
    internal static int MpegFrameLength(ReadOnlySpan<byte> h)
    {
        if (h[0] != 0xFF || (h[1] & 0xE0) != 0xE0)
        {
            return 0;
        }

        int version = (h[1] >> 3) & 3; // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1
        int layer = (h[1] >> 1) & 3;   // 1: III, 2: II, 3: I, 0: reserved (ADTS AAC uses it)
        int bitrateIndex = h[2] >> 4;
        int rateIndex = (h[2] >> 2) & 3;
        if (version == 1 || layer == 0 || bitrateIndex is 0 or 15 || rateIndex == 3)
        {
            return 0; // reserved values, or free-format streams, which NLayer cannot seek in anyway
        }

        int[] rates = version == 3 ? [44100, 48000, 32000] : version == 2 ? [22050, 24000, 16000] : [11025, 12000, 8000];
        int rate = rates[rateIndex];
        int padding = (h[2] >> 1) & 1;
        int[] table = version == 3
            ? layer == 3 ? BitratesV1L1 : layer == 2 ? BitratesV1L2 : BitratesV1L3
            : layer == 3 ? BitratesV2L1 : BitratesV2L23;
        int bitrate = table[bitrateIndex] * 1000;
        return layer switch
        {
            3 => ((12 * bitrate / rate) + padding) * 4,
            2 => (144 * bitrate / rate) + padding,
            _ => ((version == 3 ? 144 : 72) * bitrate / rate) + padding,
        };
    }

    private static bool Starts(ReadOnlySpan<byte> head, string magic) =>
        head.Length >= magic.Length && Ascii(head, 0, magic.Length) == magic;

    private static string Ascii(ReadOnlySpan<byte> bytes, int start, int count) =>
        Encoding.Latin1.GetString(bytes.Slice(start, count));

    private static DecodedAudio DecodeVorbis(Stream stream, string path, DecodeRequest request)
    {
        var scan = OggVorbisCheck.Scan(stream, path, request);
        stream.Position = 0;
        using var reader = new VorbisReader(stream, closeOnDispose: false);
        int channels = reader.Channels;
        int rate = reader.SampleRate;
        CheckHeader(path, "Ogg Vorbis", channels, rate);

        long start = request.StartFrame(rate);
        if (start > 0)
        {
            if (start >= reader.TotalSamples)
            {
                return new DecodedAudio([], rate);
            }

            reader.SamplePosition = start; // NVorbis seeks by granule position: pages before it are skipped, not decoded
        }

        // TotalSamples is read only when needed: NVorbis finds it by scanning every page to the end of the file, which
        // would defeat reading just the first MaxDuration seconds.
        long limit = request.FrameLimit(rate);
        // Grown by doubling from an estimate: a header cannot make this allocate more than the decoded audio needs.
        long expected = scan.DeclaredSamples is { } total ? Math.Max(0, total - start) : long.MaxValue;
        var output = new MonoBuffer(path, limit, InitialFrames(stream, rate, Math.Min(limit, expected)), rate, request.TargetRate, request.Sink);
        var buffer = new float[4096 * channels];
        bool reachedEnd = false;
        while (output.Remaining > 0)
        {
            int want = (int)Math.Min(4096, output.Remaining) * channels;
            int got = reader.ReadSamples(buffer, 0, want);
            if (got <= 0)
            {
                reachedEnd = true;
                break;
            }

            output.AppendInterleaved(buffer.AsSpan(0, got - (got % channels)), channels);
        }

        if (reachedEnd)
        {
            // Trimmed to the stream's last granule position (what ffmpeg decodes too): on some files NVorbis 0.10.5
            // returns a few hundred samples past it. On files whose page granule positions are inconsistent it returns
            // fewer (frozen-bubble's introzik.ogg: 0.17 s short of 195.5 s); nothing here can recover those, and the
            // tests document the difference.
            output.Truncate(Math.Max(0, reader.TotalSamples - start));
            long shortfall = scan.DeclaredSamples is { } declared ? declared - (start + output.Count) : 0;
            if (shortfall > AudioLimits.VorbisShortfallSeconds * rate && !request.AcceptTruncated)
            {
                // Every page passed its CRC, yet packets did not decode: never hand back a silently shorter song.
                throw new AudioDataException(
                    path,
                    $"the Ogg Vorbis stream decodes to {(double)(start + output.Count) / rate:F3} s but its last granule position declares {(double)scan.DeclaredSamples!.Value / rate:F3} s: packets are damaged. Set AudioLoaderOptions.AcceptTruncatedFiles = true to keep what decodes.");
            }
        }

        return output.ToAudio();
    }

    /// <summary>
    /// NLayer looks for an ID3v2 tag ("ID3") and a RIFF/WAVE header ("RIFF") at every byte where it hunts for a frame,
    /// and buffers up to the end each one declares before checking the file holds it: one changed byte of an 8 KB
    /// file cost 64 MB, a 32-byte file found by fuzzing 512 MB, and a negative RIFF chunk size would loop forever.
    /// Every such header in the file is walked here, as NLayer would, and refused if it reaches past the file's end.
    /// </summary>
    private static void CheckMpegSideHeaders(Stream stream, string path)
    {
        long length = stream.Length;
        var block = new byte[1 << 16];
        for (long start = 0; start < length;)
        {
            stream.Position = start;
            int n = stream.ReadAtLeast(block, block.Length, throwOnEndOfStream: false);
            var span = block.AsSpan(0, n);
            foreach (var marker in new[] { "ID3"u8.ToArray(), "RIFF"u8.ToArray() })
            {
                for (int from = 0, k; (k = span[from..].IndexOf(marker)) >= 0; from += k + 1)
                {
                    CheckSideHeader(stream, path, start + from + k, marker[0] == 'I');
                }
            }

            if (n < block.Length)
            {
                break;
            }

            start += n - 3; // a marker across the block boundary is found in the next block
        }

        stream.Position = 0;
    }

    private static void CheckSideHeader(Stream stream, string path, long at, bool id3)
    {
        long length = stream.Length;
        Span<byte> h = stackalloc byte[16];
        stream.Position = at;
        int n = stream.ReadAtLeast(h, h.Length, throwOnEndOfStream: false);
        if (id3)
        {
            // NLayer's test for a v2 tag: version 2-4, revision not 0xFF, unused flag bits and size bits clear.
            if (n < 10 || h[3] is < 2 or > 4 || h[4] == 0xFF
                || (h[5] & (h[3] == 2 ? 0x3F : h[3] == 3 ? 0x1F : 0x0F)) != 0 || ((h[6] | h[7] | h[8] | h[9]) & 0x80) != 0)
            {
                return;
            }

            long size = 10 + ((h[6] << 21) | (h[7] << 14) | (h[8] << 7) | h[9]);
            if (at + size > length)
            {
                throw new AudioDataException(path,
                    $"the MP3 file's ID3v2 tag at byte {at} declares {size} bytes but the file ends {length - at} bytes after it; the tag is damaged or the file truncated.");
            }

            return;
        }

        if (n < 16 || !h[8..12].SequenceEqual("WAVE"u8) || !h[12..16].SequenceEqual("fmt "u8))
        {
            return;
        }

        // NLayer's walk: a length at 16, skip it, a chunk id, until "data"; each read must be inside the file.
        Span<byte> word = stackalloc byte[4];
        for (long offset = 16; ;)
        {
            if (at + offset + 4 > length)
            {
                throw new AudioDataException(path, $"the MP3 file holds a RIFF/WAVE header at byte {at} whose chunks run past the end of the file; it is damaged.");
            }

            stream.Position = at + offset;
            stream.ReadExactly(word);
            int chunk = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(word);
            if (chunk < 0)
            {
                throw new AudioDataException(path, $"the MP3 file holds a RIFF/WAVE header at byte {at} with a negative chunk size ({chunk}); it is damaged.");
            }

            offset += 4 + (long)chunk;
            if (at + offset + 4 > length)
            {
                throw new AudioDataException(path, $"the MP3 file holds a RIFF/WAVE header at byte {at} whose chunks run past the end of the file; it is damaged.");
            }

            stream.Position = at + offset;
            stream.ReadExactly(word);
            offset += 4;
            if (word.SequenceEqual("data"u8))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Frames to allocate before decoding a compressed file: the expected length (the request's limit, or what the
    /// stream declares) but never more than a minute at its rate or 16 frames per byte of file, whichever is more
    /// (Vorbis and MP3 at 32 kbit/s and up hold fewer), so a header's claim cannot make this allocation large; the
    /// buffer doubles if the file holds more.
    /// </summary>
    private static long InitialFrames(Stream stream, int rate, long expected) =>
        Math.Min(expected, Math.Max(rate * 60L, 4096 + (stream.Length * 16)));

    private static DecodedAudio DecodeMpeg(Stream stream, string path, DecodeRequest request)
    {
        CheckMpegSideHeaders(stream, path);
        var gapless = Mp3Gapless.Read(stream);
        stream.Position = 0;
        using var mpeg = new MpegFile(stream);
        int channels = mpeg.Channels;
        int rate = mpeg.SampleRate;
        CheckHeader(path, "MP3", channels, rate);

        // With a LAME/Xing tag, the encoder's delay and padding are trimmed as ffmpeg does, so the samples line up
        // with the original audio: raw sample (k + lead) is song sample k.
        long lead = gapless?.Lead ?? 0;
        long songLength = gapless?.Length ?? long.MaxValue;
        long start = request.StartFrame(rate);
        long limit = Math.Min(request.FrameLimit(rate), songLength - start);
        if (limit <= 0)
        {
            return new DecodedAudio([], rate); // the offset is past the end of the song
        }

        // The offset is reached by decoding and discarding, not by NLayer's seek: NLayer 3.0.1 snaps to a frame
        // boundary, reports a position one frame off on files with a Xing/Info frame, and decodes the first frames
        // after a seek without their overlap history, so seeked audio would not line up with a full decode.
        var buffer = new float[4608 * channels];
        long target = start + lead;
        long position = 0;
        while (position < target)
        {
            int got = mpeg.ReadSamples(buffer, 0, (int)Math.Min(4608, target - position) * channels);
            if (got <= 0)
            {
                return new DecodedAudio([], rate);
            }

            position += got / channels;
        }

        var output = new MonoBuffer(path, limit, InitialFrames(stream, rate, limit), rate, request.TargetRate, request.Sink);
        while (output.Remaining > 0)
        {
            int want = (int)Math.Min(4608, output.Remaining) * channels;
            int got = mpeg.ReadSamples(buffer, 0, want);
            if (got <= 0)
            {
                break;
            }

            output.AppendInterleaved(buffer.AsSpan(0, got - (got % channels)), channels);
        }

        if (gapless is not null && output.Remaining > 0 && songLength - start <= request.FrameLimit(rate) && !request.AcceptTruncated)
        {
            // The LAME tag's frame count promised more than the file holds: a download cut short.
            double declared = (double)songLength / rate;
            double present = (double)(start + limit - output.Remaining) / rate;
            throw new AudioDataException(
                path,
                $"the MP3 file is truncated: its LAME/Xing tag declares {declared:F3} s but the frames present end at {present:F3} s. Set AudioLoaderOptions.AcceptTruncatedFiles = true to decode what is there.");
        }

        return output.ToAudio();
    }

    /// <summary>
    /// Checks a header's channel count and sample rate against <see cref="AudioLimits"/>; every decoder calls it before
    /// allocating anything sized by them.
    /// </summary>
    internal static void CheckHeader(string path, string format, int channels, long rate)
    {
        if (channels <= 0)
        {
            throw new AudioDataException(path, $"the {format} header declares {channels} channels; a playable file has at least one.");
        }

        if (channels > AudioLimits.MaxChannels)
        {
            throw new AudioDataException(path, $"the {format} header declares {channels} channels; at most {AudioLimits.MaxChannels} are accepted.");
        }

        if (rate <= 0)
        {
            throw new AudioDataException(path, $"the {format} header declares a sample rate of {rate} Hz; a playable file has a positive rate.");
        }

        AudioLimits.CheckSampleRate(path, format, rate);
    }
}

/// <summary>
/// Collects down-mixed mono samples up to a frame limit, growing as needed; with a target rate, resamples them as
/// they arrive, so a long song never exists whole at its own rate.
/// </summary>
/// <remarks>
/// Resampling on the fly is bit-identical to resampling the whole song (<see cref="Resampler.Incremental"/>). The
/// input kept is the part later output still reads plus <see cref="TruncationReserve"/> frames: decoders may
/// <see cref="Truncate"/> the end (Ogg Vorbis trims to the last granule position, at most one block), and output
/// already computed must not have read frames that are cut.
/// </remarks>
internal sealed class MonoBuffer
{
    /// <summary>Frames at the end that are not resampled before the decoder is done (it may still truncate them).</summary>
    internal const int TruncationReserve = 1 << 16;

    // The most allocated before samples arrive when the capacity is an estimate, not an exact length: for MP3 without
    // a LAME tag it is a bound from the file's size (16 frames per byte: 6 to 10 times the real length at common bit
    // rates), and a whole catalog of such files kept the garbage collector's heap far above what the songs need.
    private const int UpfrontSeconds = 600;

    private readonly string _path;
    private readonly long _limit;
    private readonly int _rate;
    private readonly Resampler.Incremental? _resampling;
    private readonly int _targetRate;
    private readonly ISampleSink? _sink;
    private long _sent; // without resampling, with a sink: frames handed to the sink (absolute)
    private float[] _data;
    private long _dataStart; // absolute frame index of _data[0] (above 0 once resampled frames are dropped)
    private long _count;     // frames received (absolute)
    private long _scanned;   // frames checked for non-finite values (absolute)
    private BadSample? _firstBad;

    /// <param name="path">The file, named when the song is too long for one row.</param>
    /// <param name="limit">Frames to keep at most (<see cref="long.MaxValue"/>: no limit).</param>
    /// <param name="capacity">Frames to allocate up front (the expected length, when known; the caller has checked
    /// it against the file's size or <see cref="AudioLimits.MaxSamplesPerSong"/>).</param>
    /// <param name="rate">The file's sample rate, for messages.</param>
    /// <param name="targetRate">Resample to this rate as the samples arrive; null or <paramref name="rate"/> keeps the file's rate.</param>
    /// <param name="sink">Send the samples (at the target rate) here as they become final instead of keeping them (<see cref="DecodeRequest.Sink"/>).</param>
    public MonoBuffer(string path, long limit, long capacity, int rate, int? targetRate = null, ISampleSink? sink = null)
    {
        _path = path;
        _limit = limit;
        _rate = rate;
        _targetRate = targetRate ?? rate;
        _sink = sink;
        long initial = Math.Clamp(Math.Min(limit, capacity), 0, AudioLimits.MaxSamplesPerSong);

        // A capacity that equals the limit is an exact length (WAV): allocated whole. Otherwise it is an estimate.
        long upfrontSeconds = capacity >= limit ? long.MaxValue / Math.Max(rate, _targetRate) : UpfrontSeconds;
        if (_targetRate != rate)
        {
            var resampler = Resampler.For(rate, _targetRate);

            // Refused before anything is allocated when the expected length alone resamples past the row limit.
            long expected = resampler.OutputLength(initial);
            CheckOutputLength(expected);
            _resampling = resampler.Start(sink is null ? Math.Min(expected, upfrontSeconds * _targetRate) : Math.Min(expected, 4 * TruncationReserve));

            // A working window of the input, not the whole song.
            initial = Math.Min(initial, 4 * TruncationReserve);
        }
        else if (sink is not null)
        {
            initial = Math.Min(initial, 4 * TruncationReserve);
        }

        _data = new float[(int)Math.Min(initial, upfrontSeconds * rate)];
    }

    public long Remaining => _limit - _count;

    /// <summary>Frames received (at the file's rate).</summary>
    public int Count => (int)_count;

    public Span<float> Reserve(int frames)
    {
        long needed = _count + frames;
        AudioLimits.CheckSongLength(_path, needed, _rate, "the song decodes to at least");
        if (_resampling is not null)
        {
            // Check what arrived (the decoder has filled the last reserved span), resample what is final, then drop the
            // input no later output reads.
            Scan();
            _resampling.Emit(_data.AsSpan(0, (int)(_count - _dataStart)), _dataStart, _count - TruncationReserve, CheckOutputLength);
            if (_sink is not null)
            {
                CheckOutputLength(_resampling.Count);
                _resampling.Drain(_sink);
            }

            Compact(needed, Math.Min(_count, _resampling.FirstNeeded));
        }
        else if (_sink is not null)
        {
            // Frames the decoder can no longer cut go to the sink, then out of the buffer.
            Scan();
            long final = _count - TruncationReserve;
            if (final > _sent)
            {
                _sink.Append(_data.AsSpan((int)(_sent - _dataStart), (int)(final - _sent)));
                _sent = final;
            }

            Compact(needed, _sent);
        }

        if (needed - _dataStart > _data.Length)
        {
            Array.Resize(ref _data, (int)Math.Min(AudioLimits.MaxSamplesPerSong, Math.Max(needed - _dataStart, (long)_data.Length * 2)));
        }

        var span = _data.AsSpan((int)(_count - _dataStart), frames);
        _count = needed;
        return span;
    }

    public void AppendInterleaved(ReadOnlySpan<float> interleaved, int channels)
    {
        int frames = interleaved.Length / channels;
        var dst = Reserve(frames);
        if (channels == 1)
        {
            interleaved.CopyTo(dst);
            return;
        }

        float scale = 1f / channels;
        for (int f = 0, k = 0; f < frames; f++)
        {
            float sum = 0;
            for (int c = 0; c < channels; c++, k++)
            {
                sum += interleaved[k];
            }

            dst[f] = sum * scale;
        }
    }

    /// <summary>Drops frames beyond <paramref name="frames"/>.</summary>
    /// <exception cref="InvalidOperationException">Resampled output already read a dropped frame (more than <see cref="TruncationReserve"/> frames cut).</exception>
    public void Truncate(long frames)
    {
        if ((_resampling is not null && frames < Math.Min(_count, _resampling.Consumed)) || frames < _sent)
        {
            throw new InvalidOperationException(
                $"{_path}: the decoder cut the song back by {_count - frames} frames, more than the {TruncationReserve} kept unresampled for that.");
        }

        _count = Math.Min(_count, frames);
    }

    /// <summary>The samples at the target rate (resampling the rest of the song now).</summary>
    public DecodedAudio ToAudio()
    {
        if (_resampling is null && _sink is null)
        {
            return new DecodedAudio(_count == _data.Length ? _data : _data.AsSpan(0, (int)_count).ToArray(), _rate);
        }

        Scan();
        var bad = _firstBad is { } b && b.Index < _count ? b : null;
        if (_resampling is null)
        {
            _sink!.Append(_data.AsSpan((int)(_sent - _dataStart), (int)(_count - _sent)));
            _sent = _count;
            return new DecodedAudio([], _rate, bad, _count);
        }

        _resampling.Finish(_data.AsSpan(0, (int)(_count - _dataStart)), _dataStart, _count, CheckOutputLength);
        if (_sink is null)
        {
            return new DecodedAudio(_resampling.Output, _targetRate, bad);
        }

        CheckOutputLength(_resampling.Count);
        _resampling.Drain(_sink);
        return new DecodedAudio([], _targetRate, bad, _resampling.Count);
    }

    /// <summary>Drops the input before <paramref name="keepFrom"/> when the buffer would otherwise grow to hold frame <paramref name="needed"/>.</summary>
    private void Compact(long needed, long keepFrom)
    {
        keepFrom = Math.Max(_dataStart, keepFrom);
        if (keepFrom > _dataStart && needed - _dataStart > _data.Length)
        {
            int shift = (int)(keepFrom - _dataStart);
            Array.Copy(_data, shift, _data, 0, (int)(_count - keepFrom));
            _dataStart = keepFrom;
        }
    }

    /// <summary>Finds the first refused sample among those not scanned yet (before they are resampled and dropped).</summary>
    private void Scan()
    {
        if (_firstBad is null && _scanned < _count && AudioDecoder.FirstBad(_data.AsSpan((int)(_scanned - _dataStart), (int)(_count - _scanned))) is int i)
        {
            long index = _scanned + i;
            _firstBad = new BadSample(index, _data[index - _dataStart], _rate);
        }

        _scanned = _count;
    }

    private void CheckOutputLength(long samples) =>
        AudioLimits.CheckSongLength(_path, samples, _targetRate, $"resampled to {_targetRate} Hz, the song holds");
}
