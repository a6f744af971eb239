namespace MLNetAudio.Audio;

/// <summary>
/// A song could not be loaded. The message names the file and the reason; <see cref="FilePath"/> holds the file.
/// </summary>
/// <remarks>
/// Thrown directly for files that cannot be opened (missing, unreadable, empty path). The subclasses say whether
/// the format is one MLNetAudio does not decode (<see cref="AudioFormatException"/>) or the file is damaged
/// (<see cref="AudioDataException"/>).
/// </remarks>
public class AudioLoadException : Exception
{
    /// <summary>Creates an exception for <paramref name="filePath"/> with a message naming the file and the reason.</summary>
    public AudioLoadException(string filePath, string reason, Exception? innerException = null)
        : base($"Cannot load audio file '{filePath}': {reason}", innerException)
    {
        FilePath = filePath;
        Reason = reason;
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public AudioLoadException()
        : this(string.Empty, "unknown reason")
    {
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public AudioLoadException(string message)
        : this(string.Empty, message)
    {
    }

    /// <summary>Creates an exception with a message and inner exception (for serializers and tooling).</summary>
    public AudioLoadException(string message, Exception innerException)
        : this(string.Empty, message, innerException)
    {
    }

    /// <summary>The file that failed to load, as given in the path column.</summary>
    public string FilePath { get; }

    /// <summary>Why it failed, without the file name.</summary>
    public string Reason { get; }
}

/// <summary>
/// The file is in a format MLNetAudio does not decode itself (AAC/M4A, WMA, AIFF, ADPCM WAV, ...) and no ffmpeg is on
/// PATH to decode it, or in no audio format it recognises. The message names the format found and the formats
/// supported.
/// </summary>
public class AudioFormatException : AudioLoadException
{
    /// <summary>Creates an exception for <paramref name="filePath"/> naming the unsupported <paramref name="format"/>.</summary>
    public AudioFormatException(string filePath, string format, string reason)
        : base(filePath, reason)
    {
        Format = format;
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public AudioFormatException()
        : this(string.Empty, "unknown", "unknown format")
    {
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public AudioFormatException(string message)
        : this(string.Empty, "unknown", message)
    {
    }

    /// <summary>Creates an exception with a message and inner exception (for serializers and tooling).</summary>
    public AudioFormatException(string message, Exception innerException)
        : base(string.Empty, message, innerException)
    {
        Format = "unknown";
    }

    /// <summary>The format that was detected, e.g. "MP4/M4A (AAC or ALAC)" or "WAV (IMA ADPCM, format tag 0x0011)".</summary>
    public string Format { get; }
}

/// <summary>
/// The file is in a supported format but is damaged: truncated, a header with impossible values (zero channels,
/// zero sample rate), undecodable packets, or samples that are NaN or infinite.
/// </summary>
public class AudioDataException : AudioLoadException
{
    /// <summary>Creates an exception for <paramref name="filePath"/> with the <paramref name="reason"/> it is damaged.</summary>
    public AudioDataException(string filePath, string reason, Exception? innerException = null)
        : base(filePath, reason, innerException)
    {
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public AudioDataException()
        : this(string.Empty, "damaged file")
    {
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public AudioDataException(string message)
        : this(string.Empty, message)
    {
    }

    /// <summary>Creates an exception with a message and inner exception (for serializers and tooling).</summary>
    public AudioDataException(string message, Exception innerException)
        : this(string.Empty, message, innerException)
    {
    }
}
