using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace MLNetAudio.Data;

/// <summary>
/// The checkpoint files of one training run in one folder: written atomically (temporary file, flushed to disk, then
/// renamed over the final name), checksummed, listed newest first, and pruned to the newest few. What a checkpoint
/// holds is the trainer's business (its payload); this class only guarantees that a payload read back is the whole
/// payload that was written, or an <see cref="InvalidDataException"/> saying why not.
/// </summary>
/// <remarks>
/// File format (little-endian):
/// <code>
/// byte[8]  magic "MLNACKPT"
/// int32    format version (1)
/// string   kind: the trainer that wrote it (BinaryWriter string: 7-bit length, UTF-8)
/// int64    payload length N
/// byte[N]  payload (the trainer's own layout)
/// byte[32] SHA-256 of every byte above
/// </code>
/// A file is named <c>NAME.checkpoint</c>, where NAME sorts (ordinal) in training order; a write in progress is
/// <c>NAME.checkpoint.tmp-PID</c>, which a later run deletes. A process killed at any moment leaves either the
/// previous set of checkpoints or that set plus one complete new file. The folder itself is not flushed after the
/// rename (.NET has no call for it), so after a power cut the newest rename may be lost, never half a file.
/// </remarks>
internal sealed class TrainingCheckpointDirectory
{
    /// <summary>File name extension of a complete checkpoint.</summary>
    public const string Extension = ".checkpoint";

    /// <summary>Suffix given to a checkpoint found unreadable, so it is kept for inspection but never read again.</summary>
    public const string CorruptSuffix = ".corrupt";

    /// <summary>Current file format version.</summary>
    public const int FormatVersion = 1;

    // Checkpoints are read whole; a file larger than this is refused rather than read.
    private const long MaximumBytes = int.MaxValue - 64;
    private static readonly byte[] Magic = "MLNACKPT"u8.ToArray();
    private readonly string _kind;
    private readonly int _keep;

    /// <summary>Checkpoints of trainer <paramref name="kind"/> in <paramref name="directory"/> (created if missing); keeps the newest <paramref name="keep"/>.</summary>
    /// <exception cref="IOException">The folder cannot be created (the message names it).</exception>
    public TrainingCheckpointDirectory(string directory, string kind, int keep)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        Directory = Path.GetFullPath(directory);
        _kind = kind;
        _keep = keep;
        if (File.Exists(Directory))
        {
            throw new IOException($"Checkpoint directory '{Directory}' is a file; name a folder (it is created if missing).");
        }

        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The folder, as a full path.</summary>
    public string Directory { get; }

    /// <summary>Complete checkpoint files, newest (last in name order) first.</summary>
    public IReadOnlyList<string> Newest() =>
        [.. System.IO.Directory.EnumerateFiles(Directory, "*" + Extension).OrderByDescending(Path.GetFileName, StringComparer.Ordinal)];

    /// <summary>Deletes the temporary files of writes that never finished (a killed process); returns how many.</summary>
    public int DeleteUnfinished()
    {
        int n = 0;
        foreach (string temp in System.IO.Directory.EnumerateFiles(Directory, "*" + Extension + ".tmp-*"))
        {
            File.Delete(temp);
            n++;
        }

        return n;
    }

    /// <summary>
    /// Writes <c>NAME.checkpoint</c> atomically with the payload <paramref name="writePayload"/> writes, then deletes
    /// all but the newest checkpoints. Returns the path, its size and the time the write took.
    /// </summary>
    public (string Path, long Bytes, TimeSpan Elapsed) Write(string name, Action<BinaryWriter> writePayload)
    {
        var clock = Stopwatch.StartNew();
        using var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            writePayload(writer);
        }

        using var file = new MemoryStream();
        using (var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(_kind);
            writer.Write(payload.Length);
            writer.Write(payload.GetBuffer(), 0, (int)payload.Length);
        }

        byte[] hash = SHA256.HashData(file.GetBuffer().AsSpan(0, (int)file.Length));
        file.Write(hash);

        string path = Path.Combine(Directory, name + Extension);
        string temp = $"{path}.tmp-{Environment.ProcessId}";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(file.GetBuffer(), 0, (int)file.Length);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        foreach (string old in Newest().Skip(_keep))
        {
            File.Delete(old);
        }

        return (path, file.Length, clock.Elapsed);
    }

    /// <summary>Reads and checks a checkpoint file and returns its payload.</summary>
    /// <exception cref="InvalidDataException">The file is truncated, fails its checksum or was written by another trainer or format; the message says which.</exception>
    public byte[] ReadPayload(string path)
    {
        long length = new FileInfo(path).Length;
        if (length > MaximumBytes)
        {
            throw new InvalidDataException($"it is {length} bytes, more than the {MaximumBytes} a checkpoint may hold");
        }

        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 4 + 1 + 8 + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"it is not a checkpoint file ({bytes.Length} bytes, no 'MLNACKPT' header)");
        }

        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
        try
        {
            reader.ReadBytes(Magic.Length);
            int version = reader.ReadInt32();
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"its format version is {version}; this library reads version {FormatVersion}");
            }

            string kind = reader.ReadString();
            long payloadLength = reader.ReadInt64();
            long headerLength = reader.BaseStream.Position;
            if (payloadLength < 0 || headerLength + payloadLength + 32 != bytes.Length)
            {
                throw new InvalidDataException(
                    $"it is truncated or padded: the header announces a {payloadLength}-byte payload, the file holds {bytes.Length - headerLength - 32} bytes for it");
            }

            byte[] expected = SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32));
            if (!expected.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            {
                throw new InvalidDataException("its SHA-256 checksum does not match its contents");
            }

            if (kind != _kind)
            {
                throw new InvalidDataException($"it was written by the {kind} trainer, not {_kind}");
            }

            return bytes.AsSpan((int)headerLength, (int)payloadLength).ToArray();
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("it ends inside its header", e);
        }
    }

    /// <summary>Checks the four checkpoint options every checkpointing trainer has, by their names.</summary>
    public static OptionErrors CheckOptions(OptionErrors errors, string? directory, int everySteps, int everyEpochs, int keep) =>
        errors
            .Check(directory is not null && string.IsNullOrWhiteSpace(directory), "CheckpointDirectory", "must name a folder, or be null for no checkpoints.")
            .Check(directory is not null && directory.IndexOfAny(Path.GetInvalidPathChars()) >= 0, "CheckpointDirectory", $"'{directory}' holds a character no path may hold.")
            .Check(everySteps < 0, "CheckpointEverySteps", $"must be 0 (only at epoch ends) or positive; got {everySteps}.")
            .Check(everyEpochs < 0, "CheckpointEveryEpochs", $"must be 0 (only every CheckpointEverySteps steps) or positive; got {everyEpochs}.")
            .Check(directory is not null && everySteps == 0 && everyEpochs == 0, "CheckpointEveryEpochs",
                "and CheckpointEverySteps are both 0, so no checkpoint would ever be written to CheckpointDirectory; set one of them.")
            .Check(keep < 1, "CheckpointsToKeep", $"must be at least 1; got {keep}.");

    /// <summary>Renames an unreadable checkpoint to <c>NAME.checkpoint.corrupt</c>; returns the new path.</summary>
    public static string SetAside(string path)
    {
        string target = path + CorruptSuffix;
        File.Move(path, target, overwrite: true);
        return target;
    }

    /// <summary>
    /// The refusal of another run's checkpoint: its options ("Name=value;..." as the trainer describes them) or its data
    /// fingerprint differ from this run's. Returns null when both match; otherwise the exception to throw, naming the
    /// folder, the file and each difference (<c>BatchSize is 8 there, 16 here</c>).
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="theirOptions">The options the checkpoint records.</param>
    /// <param name="ourOptions">This run's options.</param>
    /// <param name="theirData">The checkpoint's SHA-256 of the training data.</param>
    /// <param name="ourData">This run's.</param>
    /// <param name="dataWhat">What the data hash covers, for the message ("windows and labels").</param>
    /// <param name="optionName">The option that names the folder ("TimeConvLstmOptions.CheckpointDirectory").</param>
    public InvalidOperationException? RefuseOtherRun(string path, string theirOptions, string ourOptions, byte[] theirData, byte[] ourData, string dataWhat, string optionName)
    {
        if (theirOptions == ourOptions && theirData.AsSpan().SequenceEqual(ourData))
        {
            return null;
        }

        var differences = new List<string>();
        if (theirOptions != ourOptions)
        {
            var theirs = Parse(theirOptions);
            var ours = Parse(ourOptions);
            differences.AddRange(theirs.Keys.Union(ours.Keys).Order(StringComparer.Ordinal)
                .Where(k => theirs.GetValueOrDefault(k) != ours.GetValueOrDefault(k))
                .Select(k => $"{k} is {theirs.GetValueOrDefault(k) ?? "absent"} there, {ours.GetValueOrDefault(k) ?? "absent"} here"));
        }

        if (!theirData.AsSpan().SequenceEqual(ourData))
        {
            differences.Add($"the training data differ (SHA-256 of {dataWhat} {Convert.ToHexString(theirData)[..12]}... there, {Convert.ToHexString(ourData)[..12]}... here)");
        }

        return new InvalidOperationException(
            $"Checkpoint directory '{Directory}' holds a checkpoint of a different training run ('{Path.GetFileName(path)}'): {string.Join("; ", differences)}. "
            + $"Resuming would mix two runs. Set {optionName} to an empty or new folder, or delete that folder's checkpoints to start over.");

        static Dictionary<string, string> Parse(string description) =>
            description.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
                .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : string.Empty);
    }
}
