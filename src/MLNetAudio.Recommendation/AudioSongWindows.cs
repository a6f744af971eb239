using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The MFCC windows of every song of a catalog (index = song key - 1): from a real catalog's windows column
/// (<see cref="FromDataView(IDataView, string, string)"/>, optionally streamed to an on-disk store), or, with the
/// MLNetAudio.Synthesis package, rendered from the listening simulator's song descriptions and cached on disk
/// (<c>AudioSongWindows.Compute(ml, simulator.Songs, options)</c>).
/// </summary>
public sealed class AudioSongWindows : IDisposable
{
    private readonly float[][]? _windows;
    private readonly SongWindowStore? _store;
    private readonly (long Offset, int Count)[]? _locations;
    private readonly int[] _windowCounts;

    private AudioSongWindows(float[][] windows, int framesPerWindow, int coefficients, AudioSongOptions options, int computed)
    {
        _windows = windows;
        _windowCounts = windows.Select(w => w.Length / (framesPerWindow * coefficients)).ToArray();
        FramesPerWindow = framesPerWindow;
        Coefficients = coefficients;
        Options = options;
        ComputedSongs = computed;
    }

    // Windows in an on-disk store (FromDataView with AudioSongStoreOptions): read through the memory-mapped file.
    private AudioSongWindows(SongWindowStore store, (long Offset, int Count)[] locations, int framesPerWindow, int coefficients, AudioSongOptions options, int computed)
    {
        _store = store;
        _locations = locations;
        _windowCounts = locations.Select(l => l.Count).ToArray();
        FramesPerWindow = framesPerWindow;
        Coefficients = coefficients;
        Options = options;
        ComputedSongs = computed;
    }

    // The layout of a catalog without its MFCC values: what a loaded MultiUserAudioModel keeps (see HasWindowValues).
    private AudioSongWindows(int[] windowCounts, int framesPerWindow, int coefficients, AudioSongOptions options)
    {
        _windowCounts = windowCounts;
        FramesPerWindow = framesPerWindow;
        Coefficients = coefficients;
        Options = options;
    }

    /// <summary>Frames in one window.</summary>
    public int FramesPerWindow { get; }

    /// <summary>Coefficients per frame.</summary>
    public int Coefficients { get; }

    /// <summary>The settings the windows were made with.</summary>
    public AudioSongOptions Options { get; }

    /// <summary>Songs rendered and segmented by this call (the rest came from the cache).</summary>
    public int ComputedSongs { get; }

    /// <summary>Number of songs.</summary>
    public int SongCount => _windowCounts.Length;

    /// <summary>
    /// False for the song windows of a model loaded by <c>ml.Audio().Model.Load</c>: it keeps each song's window count
    /// and timing (all that recommending and explaining need, since the model stores the window embeddings) but not
    /// the MFCC values, so <see cref="Windows"/> and <see cref="ToDataView"/> are unavailable there.
    /// </summary>
    public bool HasWindowValues => _windows is not null || _store is not null;

    /// <summary>Whether the windows are read from an on-disk store (<see cref="FromDataView(IDataView, string, string, AudioSongStoreOptions)"/>) rather than memory.</summary>
    public bool IsStoredOnDisk => _store is not null;

    /// <summary>Values in one window.</summary>
    public int WindowSize => FramesPerWindow * Coefficients;

    /// <summary>Where the windows lie in the songs: frames, coefficients, frames per second and hop.</summary>
    public WindowLayout Layout => new(FramesPerWindow, Coefficients, Options.FramesPerSecond, Options.WindowHopSeconds * Options.FramesPerSecond);

    /// <summary>Hop between windows in frames.</summary>
    public int HopFrames => (int)Math.Round(Options.WindowHopSeconds * Options.FramesPerSecond);

    /// <summary>Number of windows of a song (0-based index).</summary>
    public int WindowCount(int song) => _windowCounts[song];

    /// <summary>The windows of a song (0-based index), flattened [windows x frames x coefficients].</summary>
    /// <exception cref="InvalidOperationException">These are a loaded model's song windows, which keep no MFCC values (<see cref="HasWindowValues"/>).</exception>
    public ReadOnlySpan<float> Windows(int song) =>
        _store is not null ? _store.Read(_locations![song].Offset, _locations[song].Count) : Values()[song];

    /// <summary>Closes the on-disk store, if any (spans from <see cref="Windows"/> are invalid afterwards).</summary>
    public void Dispose() => _store?.Dispose();

    /// <summary>Start time in seconds of window <paramref name="window"/> of any song.</summary>
    public double WindowStartSeconds(int window) => window * Options.WindowHopSeconds;

    /// <summary>
    /// The windows of a real catalog: one row per song with its song key and the windows column that
    /// <c>ml.Transforms.SegmentMfcc</c> makes (so any catalog that goes through <c>LoadAudio</c> + <c>SegmentMfcc</c>,
    /// files on disk or the synthesizer's renderings, DESIGN.md §8). The window layout (frames per window,
    /// coefficients, frames per second, window length and hop) is read from the column's annotations.
    /// </summary>
    /// <param name="songs">The catalog, one row per song.</param>
    /// <param name="songColumnName">
    /// The song key column (UInt32 key with a known count, from <c>ml.Transforms.Conversion.MapValueToKey</c> fitted on
    /// the catalog); its key count is the catalog size and every key must have exactly one row. Map the play log with
    /// the same fitted transformer, so that songs without plays are the catalog's cold songs.
    /// </param>
    /// <param name="windowsColumnName">The windows column made by <c>SegmentMfcc</c>.</param>
    /// <exception cref="ArgumentException">
    /// A column is missing or of the wrong type, the window column lacks its timing annotations, a key is missing,
    /// repeated or has no row, or a song has no window (an unreadable file under the loader's Report policy: the
    /// message gives the loader's error text); the message names the column, the rows and the keys.
    /// </exception>
    public static AudioSongWindows FromDataView(IDataView songs, string songColumnName = "SongKey", string windowsColumnName = "Windows") =>
        FromDataViewCore(songs, songColumnName, windowsColumnName, null);

    /// <summary>
    /// As <see cref="FromDataView(IDataView, string, string)"/>, but the windows go to an on-disk store instead of memory
    /// (a catalog of 10,000 three-minute songs holds about 55 GB of windows at the defaults): songs already in the store
    /// are not decoded again (a killed run resumes where it stopped), the others are decoded one at a time and
    /// appended, and readers get the windows from the memory-mapped store. A song's identity in the store is its key's
    /// text (the SongId that MapValueToKey mapped): give a changed recording a new id. Dispose the result to close the
    /// store.
    /// </summary>
    /// <param name="songs">The catalog, one row per song.</param>
    /// <param name="songColumnName">The song key column (see <see cref="FromDataView(IDataView, string, string)"/>).</param>
    /// <param name="windowsColumnName">The windows column made by <c>SegmentMfcc</c>.</param>
    /// <param name="store">The store's folder and progress reporting.</param>
    /// <exception cref="ArgumentException">
    /// As <see cref="FromDataView(IDataView, string, string)"/>; also when the store holds windows of another layout.
    /// </exception>
    public static AudioSongWindows FromDataView(IDataView songs, string songColumnName, string windowsColumnName, AudioSongStoreOptions store)
    {
        ArgumentNullException.ThrowIfNull(store);
        store.Validate();
        return FromDataViewCore(songs, songColumnName, windowsColumnName, store);
    }

    private static AudioSongWindows FromDataViewCore(IDataView songs, string songColumnName, string windowsColumnName, AudioSongStoreOptions? storeOptions)
    {
        ArgumentNullException.ThrowIfNull(songs);
        ArgumentException.ThrowIfNullOrEmpty(songColumnName);
        ArgumentException.ThrowIfNullOrEmpty(windowsColumnName);
        var keyColumn = PlayMatrix.RequireKey(songs.Schema, songColumnName, "Song");
        var layout = Scoring.WindowColumn.Read(songs.Schema, windowsColumnName);
        var timing = WindowLayout.FromColumn(songs.Schema[windowsColumnName]);
        if (timing.WholeHopFrames is null)
        {
            throw new ArgumentException(
                $"Window column '{windowsColumnName}': windows of {timing} start {timing.HopFrames:0.###} frames apart, not a whole number of frames; "
                + "choose MfccSegmenterOptions.WindowHopSeconds so that they do.",
                nameof(songs));
        }

        var options = AudioSongOptions.FromLayout(timing);

        int count = (int)((KeyDataViewType)keyColumn.Type).Count;
        var windows = new float[count][];
        var seen = new bool[count];
        var locations = new (long Offset, int Count)[count];
        var rowOf = new long[count];
        string[]? keyNames = null;
        SongWindowStore.Identity[]? identities = null;
        SongWindowStore? store = null;
        if (storeOptions is not null)
        {
            (keyNames, identities) = KeyIdentities(keyColumn, count);
            store = SongWindowStore.Open(storeOptions.Directory, new WindowLayout(layout.FramesPerWindow, layout.Coefficients, timing.FramesPerSecond, timing.HopFrames));
        }

        int fromStore = 0, decoded = 0, done = 0;
        try
        {
        var errorColumn = songs.Schema.FirstOrDefault(c => c.Name.EndsWith(WindowColumns.ErrorColumnSuffix, StringComparison.Ordinal) && c.Type is TextDataViewType);
        var errors = new string?[count];
        var columns = new List<DataViewSchema.Column> { keyColumn, songs.Schema[windowsColumnName] };
        if (errorColumn.Name is not null)
        {
            columns.Add(errorColumn);
        }

        using (var cursor = songs.GetRowCursor(columns))
        {
            var keyGetter = cursor.GetGetter<uint>(keyColumn);
            var windowGetter = cursor.GetGetter<VBuffer<float>>(songs.Schema[windowsColumnName]);
            var errorGetter = errorColumn.Name is null ? null : cursor.GetGetter<ReadOnlyMemory<char>>(errorColumn);
            uint key = 0;
            var value = default(VBuffer<float>);
            var error = default(ReadOnlyMemory<char>);
            float[] scratch = [];
            long row = -1;
            while (cursor.MoveNext())
            {
                row++;
                keyGetter(ref key);
                if (key == 0 || key > count)
                {
                    throw new ArgumentException(
                        $"Row {row} of the songs: song column '{songColumnName}' holds no key (its value is not in the key's dictionary); "
                        + "fit MapValueToKey on this catalog.",
                        nameof(songs));
                }

                int song = (int)key - 1;
                if (seen[song])
                {
                    throw new ArgumentException(
                        $"Song key {key} (column '{songColumnName}') appears in rows {rowOf[song]} and {row}: a catalog holds each song once.",
                        nameof(songs));
                }

                seen[song] = true;
                rowOf[song] = row;
                if (store is not null && store.TryGet(identities![song], out locations[song]))
                {
                    // In the store: the windows getter is never called, so the song is not decoded again.
                    fromStore++;
                }
                else
                {
                    windowGetter(ref value);
                    int n = layout.DenseInto(value, windowsColumnName, row, ref scratch);
                    if (errorGetter is not null)
                    {
                        errorGetter(ref error);
                        errors[song] = error.IsEmpty ? null : error.ToString();
                    }

                    if (store is null)
                    {
                        windows[song] = scratch.AsSpan(0, n * layout.WindowSize).ToArray();
                    }
                    else if (n > 0)
                    {
                        locations[song] = store.Append(identities![song], scratch.AsSpan(0, n * layout.WindowSize));
                        decoded++;
                    }
                }

                done++;
                storeOptions?.Progress?.Report(new AudioSongStoreProgress(done, count, fromStore, decoded, keyNames![song]));
            }
        }

        var absent = Enumerable.Range(0, count).Where(s => !seen[s]).ToArray();
        if (absent.Length > 0)
        {
            throw new ArgumentException(
                $"Song column '{songColumnName}' is a key of {count} values but {absent.Length} of them have no row in the songs "
                + $"(keys {string.Join(", ", absent.Take(10).Select(s => s + 1))}{(absent.Length > 10 ? ", ..." : string.Empty)}); "
                + "the catalog must hold every song its keys name.",
                nameof(songs));
        }

        var empty = Enumerable.Range(0, count).Where(s => store is null ? windows[s].Length == 0 : locations[s].Count == 0).ToArray();
        if (empty.Length > 0)
        {
            throw new ArgumentException(
                $"{empty.Length} songs have no window in column '{windowsColumnName}': "
                + string.Join("; ", empty.Take(5).Select(s => $"key {s + 1} (row {rowOf[s]}){(errors[s] is string e ? ": " + e : string.Empty)}"))
                + (empty.Length > 5 ? "; ..." : string.Empty)
                + ". Leave unreadable files out of the catalog before mapping keys (the loader's Report policy names them in its Error column).",
                nameof(songs));
        }

        store?.MapAll();
        return store is null
            ? new AudioSongWindows(windows, layout.FramesPerWindow, layout.Coefficients, options, count)
            : new AudioSongWindows(store, locations, layout.FramesPerWindow, layout.Coefficients, options, decoded);
        }
        catch
        {
            store?.Dispose();
            throw;
        }
    }

    // Every key's value (MapValueToKey's values, e.g. the SongId) and the song's identity in a store; the key
    // number when the key has no values.
    private static (string[] Names, SongWindowStore.Identity[] Identities) KeyIdentities(DataViewSchema.Column keyColumn, int count)
    {
        var names = Enumerable.Range(1, count).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var identities = Enumerable.Range(1, count).Select(SongWindowStore.IdentityOfKey).ToArray();
        if (keyColumn.Annotations.Schema.GetColumnOrNull("KeyValues") is { Type: VectorDataViewType { ItemType: TextDataViewType } })
        {
            var values = default(VBuffer<ReadOnlyMemory<char>>);
            keyColumn.GetKeyValues(ref values);
            int i = 0;
            foreach (var v in values.DenseValues().Take(count))
            {
                names[i] = v.ToString();
                identities[i] = SongWindowStore.IdentityOfSongId(names[i]);
                i++;
            }
        }

        return (names, identities);
    }

    /// <summary>
    /// The windows of the given songs as an IDataView for the seed's per-user <c>ml.Audio().Trainers.TimeConvLstm</c>:
    /// a <c>Windows</c> column shaped as <c>SegmentMfcc</c> makes it and a Boolean <c>Label</c> column.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="songsAndLabels">0-based song indices and their labels.</param>
    /// <exception cref="InvalidOperationException">These are a loaded model's song windows, which keep no MFCC values (<see cref="HasWindowValues"/>).</exception>
    public IDataView ToDataView(MLContext mlContext, IEnumerable<(int Song, bool Label)> songsAndLabels)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(songsAndLabels);
        if (!HasWindowValues)
        {
            Values(); // throws the explanation for a loaded model's catalog
        }
        var rows = songsAndLabels.Select(p => new WindowRow { Windows = Windows(p.Song).ToArray(), Label = p.Label }).ToArray();
        var schema = SchemaDefinition.Create(typeof(WindowRow));
        var column = schema[nameof(WindowRow.Windows)];
        column.ColumnType = new VectorDataViewType(NumberDataViewType.Single, 0, FramesPerWindow, Coefficients);
        column.AddAnnotation(WindowColumns.FramesPerWindowAnnotation, FramesPerWindow, NumberDataViewType.Int32);
        column.AddAnnotation(WindowColumns.CoefficientsAnnotation, Coefficients, NumberDataViewType.Int32);
        column.AddAnnotation(WindowColumns.FramesPerSecondAnnotation, Options.FramesPerSecond, NumberDataViewType.Double);
        column.AddAnnotation(WindowColumns.WindowSecondsAnnotation, Options.WindowSeconds, NumberDataViewType.Double);
        column.AddAnnotation(WindowColumns.WindowHopSecondsAnnotation, Options.WindowHopSeconds, NumberDataViewType.Double);
        return mlContext.Data.LoadFromEnumerable(rows, schema);
    }

    /// <summary>The layout of <paramref name="windowCounts"/> songs without their values (a loaded model's catalog).</summary>
    internal static AudioSongWindows LayoutOnly(int[] windowCounts, int framesPerWindow, int coefficients, AudioSongOptions options) =>
        new(windowCounts, framesPerWindow, coefficients, options);

    // Windows given directly (tests: small synthetic catalogs, no rendering; AudioSongCatalog in memory).
    internal static AudioSongWindows FromValues(float[][] windows, int framesPerWindow, int coefficients, AudioSongOptions options, int computed = 0) =>
        new(windows, framesPerWindow, coefficients, options, computed);

    // Windows in a store, in key order (AudioSongCatalog).
    internal static AudioSongWindows Stored(SongWindowStore store, (long Offset, int Count)[] locations, int framesPerWindow, int coefficients, AudioSongOptions options, int computed) =>
        new(store, locations, framesPerWindow, coefficients, options, computed);

    private float[][] Values() =>
        _windows ?? throw new InvalidOperationException(
            "These song windows belong to a model loaded from a file, which keeps the songs' window embeddings and timing but not "
            + "their MFCC values; compute the values with AudioSongWindows.Compute over the same catalog and options.");

    private sealed class WindowRow
    {
        public float[] Windows { get; set; } = [];

        public bool Label { get; set; }
    }
}
