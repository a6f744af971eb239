using System.IO.Compression;
using System.Security.Cryptography;

namespace MLNetAudio.Data;

/// <summary>
/// Reads model zip files within stated limits: the file is checked to be a regular file of bounded size before it is
/// opened, each entry's size is checked from the zip's central directory (and against the manifest) before it is
/// decompressed, and decompression stops at the declared size. Shared by the pipeline and hybrid-ranker loaders.
/// </summary>
/// <remarks>
/// Limits: a model file of at most <see cref="MaxFileBytes"/> (2 GiB); each entry at most <see cref="MaxEntryBytes"/>
/// (1 GiB) decompressed, all entries together at most <see cref="MaxTotalBytes"/> (2 GiB); a manifest at most
/// <see cref="MaxManifestBytes"/>. Only one entry's bytes are held at a time, so loading needs about the largest
/// entry plus the stages built so far.
/// </remarks>
internal static class ModelZip
{
    /// <summary>Largest model file read, in bytes (2 GiB).</summary>
    public const long MaxFileBytes = 2L << 30;

    /// <summary>Largest decompressed entry, in bytes (1 GiB: a million users by 256 float factors).</summary>
    public const long MaxEntryBytes = 1L << 30;

    /// <summary>Largest sum of decompressed entries, in bytes (2 GiB).</summary>
    public const long MaxTotalBytes = 2L << 30;

    /// <summary>Largest manifest, in bytes (1 MiB; a 1000-stage manifest is about 250 KB).</summary>
    public const long MaxManifestBytes = 1L << 20;

    /// <summary>
    /// Opens <paramref name="path"/> for reading after checking it is a regular file of at most
    /// <see cref="MaxFileBytes"/>: a FIFO would block the open forever and /dev/zero never ends (both report length 0).
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="AudioModelFileException">A folder, an empty or non-regular file, or one over the limit.</exception>
    public static FileStream OpenModelFile(string path)
    {
        if (Directory.Exists(path))
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile, "it is a folder, not a model file");
        }

        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"No model file at '{path}'.", path);
        }

        if (info.Length == 0)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                "it is empty (0 bytes) or not a regular file (a FIFO, device or socket); only regular files are read");
        }

        if (info.Length > MaxFileBytes)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                $"it is {info.Length} bytes, over the {MaxFileBytes} bytes a model file may have");
        }

        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile, $"it cannot be opened ({e.Message})", e);
        }
    }

    /// <summary>
    /// A seekable stream over the model starting at <paramref name="stream"/>'s position: the stream itself when it is
    /// seekable and at 0, otherwise a copy of at most <see cref="MaxFileBytes"/> (a longer stream is refused).
    /// </summary>
    public static Stream Seekable(Stream stream, string? path)
    {
        if (stream.CanSeek && stream.Position == 0)
        {
            if (stream.Length > MaxFileBytes)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                    $"it is {stream.Length} bytes, over the {MaxFileBytes} bytes a model file may have");
            }

            return stream;
        }

        var copy = new MemoryStream();
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            if (copy.Length + n > MaxFileBytes)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                    $"it is over the {MaxFileBytes} bytes a model file may have (it may be a device or a stream that never ends)");
            }

            copy.Write(buffer, 0, n);
        }

        copy.Position = 0;
        return copy;
    }

    /// <summary>True when the stream starts with a zip local-file header ("PK\x03\x04"); leaves the position at 0.</summary>
    public static bool StartsAsZip(Stream stream)
    {
        Span<byte> head = stackalloc byte[4];
        stream.Position = 0;
        int n = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        return n == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
    }

    /// <summary>
    /// Reads one entry: its size from the zip's central directory must equal <paramref name="expectedLength"/> (when
    /// the manifest gives one) and be at most <paramref name="limit"/> before anything is decompressed; decompression
    /// stops at that size (more data is damage); the SHA-256 must match <paramref name="expectedSha256"/> when given.
    /// </summary>
    public static byte[] ReadEntry(string? path, ZipArchiveEntry entry, long? expectedLength, string? expectedSha256, long limit)
    {
        long declared = entry.Length;
        if (expectedLength is { } expected && expected != declared)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                $"entry '{entry.FullName}' is {declared} bytes by the zip's directory but {expected} by the manifest");
        }

        if (declared > limit)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                $"entry '{entry.FullName}' declares {declared} bytes, over the {limit} bytes an entry may have");
        }

        var data = new byte[declared];
        try
        {
            using var s = entry.Open();
            s.ReadExactly(data);
            if (s.ReadByte() != -1)
            {
                throw new InvalidDataException($"it decompresses to more than the {declared} bytes its directory entry declares");
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"entry '{entry.FullName}' cannot be decompressed ({e.Message})", e);
        }

        if (expectedSha256 is not null
            && !string.Equals(Convert.ToHexString(SHA256.HashData(data)), expectedSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                $"entry '{entry.FullName}' does not match the checksum recorded when it was saved");
        }

        return data;
    }
}
