using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using MLNetAudio.Features;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Where <see cref="AudioSongWindows.FromDataView(Microsoft.ML.IDataView, string, string, AudioSongStoreOptions)"/> keeps a catalog's MFCC
/// windows on disk, and what it reports while filling the store.
/// </summary>
// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051
public sealed class AudioSongStoreOptions
{
    /// <summary>
    /// The store's folder (created when missing). It holds <c>windows.f32</c> (every song's windows, appended) and
    /// <c>index.bin</c> (one entry per song). A run that is killed leaves whole entries only; the next run over the same
    /// catalog reads them back and decodes only the songs that are not there yet.
    /// </summary>
    public string Directory = string.Empty;

    /// <summary>Reports after every song (from the store or newly decoded). Called on the reading thread.</summary>
    public IProgress<AudioSongStoreProgress>? Progress;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new Data.OptionErrors(nameof(AudioSongStoreOptions))
            .Check(string.IsNullOrWhiteSpace(Directory), nameof(Directory), "must name the store's folder.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>Progress of filling a song window store.</summary>
/// <param name="SongsDone">Songs handled so far.</param>
/// <param name="SongsTotal">Songs in the catalog (the song key count).</param>
/// <param name="FromStore">Songs found in the store (not decoded again).</param>
/// <param name="Decoded">Songs decoded and added to the store by this run.</param>
/// <param name="SongId">The song just handled (its key's value, e.g. the SongId).</param>
public sealed record AudioSongStoreProgress(int SongsDone, int SongsTotal, int FromStore, int Decoded, string SongId);

/// <summary>
/// An append-only, memory-mapped store of song windows: the catalog's features never need to be in memory at once,
/// and readers get a span over the mapped file. Written by hand: no served library stores float arrays this way.
/// </summary>
/// <remarks>
/// <para><c>windows.f32</c>: every song's windows, float32 little-endian, songs one after another.</para>
/// <para><c>index.bin</c>: "MLNASTO1", Int32 frames per window, Int32 coefficients, Double frames per second, Double hop
/// frames (the <see cref="WindowLayout"/>), then 32-byte entries appended after the song's data is flushed: 16 bytes
/// of SHA-256 of the song's identity (its key's text), Int64 offset in floats, Int32 window count, Int32 checksum
/// (the entry's own first 28 bytes, FNV-1a). On opening, entries that are torn, whose checksum fails or whose data
/// lies beyond the end of <c>windows.f32</c> are dropped and both files cut back to the last good entry.</para>
/// </remarks>
internal sealed class SongWindowStore : IDisposable
{
    private const int HeaderSize = 8 + 4 + 4 + 8 + 8;
    private const int EntrySize = 32;
    private static readonly byte[] Magic = "MLNASTO1"u8.ToArray();
    private readonly Dictionary<Identity, (long Offset, int Count)> _entries = [];
    private readonly Lock _mapLock = new();
    private readonly string _dataPath;
    private readonly string _indexPath;
    private FileStream? _data;
    private FileStream? _index;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private unsafe byte* _pointer;
    private long _mappedBytes;

    private SongWindowStore(string directory, WindowLayout layout)
    {
        Layout = layout;
        _dataPath = Path.Combine(directory, "windows.f32");
        _indexPath = Path.Combine(directory, "index.bin");
    }

    public WindowLayout Layout { get; }

    /// <summary>Opens (or creates) the store in <paramref name="directory"/> for windows of <paramref name="layout"/>.</summary>
    /// <exception cref="ArgumentException">The store holds windows of another layout; the message names both.</exception>
    public static SongWindowStore Open(string directory, WindowLayout layout)
    {
        System.IO.Directory.CreateDirectory(directory);
        var store = new SongWindowStore(directory, layout);
        try
        {
            store.Load();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>A song's identity in the store: its id (the value MapValueToKey mapped, e.g. the SongId).</summary>
    public static Identity IdentityOfSongId(string songId) => IdentityOf("id:" + songId);

    /// <summary>The identity of a key without values: its number (tied to the catalog's key order).</summary>
    public static Identity IdentityOfKey(int key) => IdentityOf("key:" + key.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static Identity IdentityOf(string text) => new(SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 16));

    public bool TryGet(Identity identity, out (long Offset, int Count) entry) => _entries.TryGetValue(identity, out entry);

    /// <summary>Appends one song's windows; the entry is written only after its data is on disk.</summary>
    public (long Offset, int Count) Append(Identity identity, ReadOnlySpan<float> windows)
    {
        if (windows.Length % Layout.WindowSize != 0)
        {
            throw new ArgumentException($"{windows.Length} values are not a whole number of {Layout.FramesPerWindow} x {Layout.Coefficients} windows.", nameof(windows));
        }

        var data = _data!;
        long offset = data.Length / sizeof(float);
        data.Seek(0, SeekOrigin.End);
        data.Write(MemoryMarshal.AsBytes(windows));
        data.Flush(flushToDisk: true);
        int count = windows.Length / Layout.WindowSize;
        Span<byte> entry = stackalloc byte[EntrySize];
        identity.Bytes.CopyTo(entry);
        BitConverter.TryWriteBytes(entry[16..], offset);
        BitConverter.TryWriteBytes(entry[24..], count);
        BitConverter.TryWriteBytes(entry[28..], Checksum(entry[..28]));
        _index!.Seek(0, SeekOrigin.End);
        _index.Write(entry);
        _index.Flush(flushToDisk: true);
        _entries[identity] = (offset, count);
        return (offset, count);
    }

    /// <summary>Maps everything written so far (called once the store is filled, before readers get it).</summary>
    public void MapAll()
    {
        lock (_mapLock)
        {
            Remap();
        }
    }

    /// <summary>A span over the mapped windows of one song (valid until the store is disposed).</summary>
    public unsafe ReadOnlySpan<float> Read(long offset, int count)
    {
        long floats = (long)count * Layout.WindowSize;
        long end = (offset + floats) * sizeof(float);
        if (end > Volatile.Read(ref _mappedBytes))
        {
            lock (_mapLock)
            {
                if (end > _mappedBytes)
                {
                    // Only after appends (FromDataView maps the whole file before handing the store out), so no
                    // reader holds a span into the mapping replaced here.
                    Remap();
                }
            }
        }

        return floats == 0 ? [] : new ReadOnlySpan<float>(_pointer + (offset * sizeof(float)), checked((int)floats));
    }

    public unsafe void Dispose()
    {
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }

        _view?.Dispose();
        _map?.Dispose();
        _data?.Dispose();
        _index?.Dispose();
    }

    private static int Checksum(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }

        return (int)hash;
    }

    private void Load()
    {
        _data = new FileStream(_dataPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        _index = new FileStream(_indexPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        if (_index.Length < HeaderSize)
        {
            // A new store (or one killed before its header was whole): start both files afresh.
            _data.SetLength(0);
            _index.SetLength(0);
            Span<byte> header = stackalloc byte[HeaderSize];
            Magic.CopyTo(header);
            BitConverter.TryWriteBytes(header[8..], Layout.FramesPerWindow);
            BitConverter.TryWriteBytes(header[12..], Layout.Coefficients);
            BitConverter.TryWriteBytes(header[16..], Layout.FramesPerSecond);
            BitConverter.TryWriteBytes(header[24..], Layout.HopFrames);
            _index.Write(header);
            _index.Flush(flushToDisk: true);
            return;
        }

        var bytes = new byte[_index.Length];
        _index.ReadExactly(bytes);
        if (!bytes.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new ArgumentException($"{_indexPath} is not an MLNetAudio song window store; choose an empty folder for AudioSongStoreOptions.Directory.");
        }

        var stored = new WindowLayout(
            BitConverter.ToInt32(bytes, 8), BitConverter.ToInt32(bytes, 12), BitConverter.ToDouble(bytes, 16), BitConverter.ToDouble(bytes, 24));
        if (!stored.SameAs(Layout))
        {
            throw new ArgumentException(
                $"The song window store in {Path.GetDirectoryName(_indexPath)} holds windows of {stored}, but this catalog's windows are {Layout}; "
                + "give each segmenter setting its own AudioSongStoreOptions.Directory.");
        }

        long dataFloats = _data.Length / sizeof(float);
        long good = HeaderSize, goodDataEnd = 0;
        for (long at = HeaderSize; at + EntrySize <= bytes.Length; at += EntrySize)
        {
            var entry = bytes.AsSpan((int)at, EntrySize);
            long offset = BitConverter.ToInt64(entry[16..]);
            int count = BitConverter.ToInt32(entry[24..]);
            long end = offset + ((long)count * Layout.WindowSize);
            if (BitConverter.ToInt32(entry[28..]) != Checksum(entry[..28]) || count < 0 || offset < 0 || end > dataFloats || offset < goodDataEnd)
            {
                break;
            }

            _entries[new Identity(entry[..16])] = (offset, count);
            good = at + EntrySize;
            goodDataEnd = end;
        }

        // Cut a torn tail (a killed write) back to the last whole entry.
        _index.SetLength(good);
        _data.SetLength(goodDataEnd * sizeof(float));
    }

    private unsafe void Remap()
    {
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }

        _view?.Dispose();
        _map?.Dispose();
        _mappedBytes = _data!.Length;
        if (_mappedBytes == 0)
        {
            return;
        }

        _map = MemoryMappedFile.CreateFromFile(_data, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        _view = _map.CreateViewAccessor(0, _mappedBytes, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _pointer = pointer + _view.PointerOffset;
    }

    /// <summary>The first 16 bytes of SHA-256 of a song's identity text.</summary>
    internal readonly record struct Identity
    {
        public Identity(ReadOnlySpan<byte> bytes)
        {
            Low = BitConverter.ToUInt64(bytes);
            High = BitConverter.ToUInt64(bytes[8..]);
        }

        public ulong Low { get; }

        public ulong High { get; }

        public byte[] Bytes => [.. BitConverter.GetBytes(Low), .. BitConverter.GetBytes(High)];
    }
}
