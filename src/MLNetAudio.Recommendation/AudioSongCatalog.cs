using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;

namespace MLNetAudio.Recommendation;

/// <summary>Options of <see cref="AudioSongCatalog.Build"/>.</summary>
// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051
public sealed class AudioSongCatalogOptions
{
    /// <summary>The text column naming each song (unique). Default "SongId".</summary>
    public string SongIdColumnName = "SongId";

    /// <summary>The text column with each song's audio file. Default "Path".</summary>
    public string PathColumnName = "Path";

    /// <summary>The key column the built catalog adds (MapValueToKey over the readable songs). Default "SongKey".</summary>
    public string SongKeyColumnName = "SongKey";

    /// <summary>How songs are loaded; its error policy is always Report (each unreadable song is named). Default: the loader's defaults.</summary>
    public AudioLoaderOptions? Loader;

    /// <summary>How songs are cut into MFCC windows. Default: the segmenter's defaults.</summary>
    public MfccSegmenterOptions? Segmenter;

    /// <summary>Where the windows go; null keeps them in memory.</summary>
    public AudioSongStoreOptions? Store;

    /// <summary>
    /// Leave songs that cannot be read (missing, corrupt, unsupported, too short for a window) out of the catalog
    /// and list them in <see cref="AudioSongCatalog.Unreadable"/>; when false (the default) any such song stops the
    /// build with an error listing every one of them.
    /// </summary>
    public bool SkipUnreadableSongs;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate()
    {
        var errors = new Data.OptionErrors(nameof(AudioSongCatalogOptions))
            .Check(string.IsNullOrWhiteSpace(SongIdColumnName), nameof(SongIdColumnName), "must name the song id column.")
            .Check(string.IsNullOrWhiteSpace(PathColumnName), nameof(PathColumnName), "must name the audio file column.")
            .Check(string.IsNullOrWhiteSpace(SongKeyColumnName), nameof(SongKeyColumnName), "must name the key column to add.");
        errors.ThrowIfAny();
        Store?.Validate();
    }
}
#pragma warning restore CA1051

/// <summary>A song the catalog left out: its id, its row in the input and why.</summary>
/// <param name="SongId">The song's id.</param>
/// <param name="Row">Its 0-based row in the input catalog.</param>
/// <param name="Reason">The loader's message (it names the file).</param>
public sealed record UnreadableSong(string SongId, long Row, string Reason);

/// <summary>
/// A real catalog made ready for the recommenders in one pass over its files: every song decoded at most once
/// (with a store, never again on a rerun), unreadable songs listed and left out when asked, song keys mapped over the
/// songs that remain, and their windows in key order. Map the play log with <see cref="SongKeys"/> (after leaving out
/// the plays of <see cref="Unreadable"/> songs), so that songs without plays are the cold songs.
/// </summary>
public sealed class AudioSongCatalog : IDisposable
{
    private AudioSongCatalog(AudioSongWindows windows, ITransformer songKeys, IDataView songs, IReadOnlyList<UnreadableSong> unreadable)
    {
        Windows = windows;
        SongKeys = songKeys;
        Songs = songs;
        Unreadable = unreadable;
    }

    /// <summary>The readable songs' windows, index = song key - 1 (pass it to the audio recommenders).</summary>
    public AudioSongWindows Windows { get; }

    /// <summary>MapValueToKey fitted on the readable songs' ids: apply it to the play log.</summary>
    public ITransformer SongKeys { get; }

    /// <summary>The readable songs: id, path and key.</summary>
    public IDataView Songs { get; }

    /// <summary>The songs left out, with the loader's reason (empty unless <see cref="AudioSongCatalogOptions.SkipUnreadableSongs"/>).</summary>
    public IReadOnlyList<UnreadableSong> Unreadable { get; }

    /// <summary>
    /// Decodes and segments every song of <paramref name="catalog"/> (or reads it from the store) and maps keys over
    /// the readable ones.
    /// </summary>
    /// <param name="mlContext">The context the loader and segmenter run in.</param>
    /// <param name="catalog">One row per song: <see cref="AudioSongCatalogOptions.SongIdColumnName"/> and <see cref="AudioSongCatalogOptions.PathColumnName"/>.</param>
    /// <param name="options">Columns, loader, segmenter, store and the skip policy; null for the defaults.</param>
    /// <exception cref="ArgumentException">
    /// A column is missing, an id is empty or repeated, the store holds another layout, or (without
    /// <see cref="AudioSongCatalogOptions.SkipUnreadableSongs"/>) songs cannot be read: the message lists them.
    /// </exception>
    public static AudioSongCatalog Build(MLContext mlContext, IDataView catalog, AudioSongCatalogOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(catalog);
        options ??= new AudioSongCatalogOptions();
        options.Validate();
        var idColumn = Data.SchemaShapes.Require(catalog.Schema, options.SongIdColumnName, "Song id");
        var pathColumn = Data.SchemaShapes.Require(catalog.Schema, options.PathColumnName, "Audio file");
        if (idColumn.Type is not TextDataViewType || pathColumn.Type is not TextDataViewType)
        {
            throw new ArgumentException($"Columns '{options.SongIdColumnName}' and '{options.PathColumnName}' must be text; found {idColumn.Type} and {pathColumn.Type}.", nameof(catalog));
        }

        var loader = Copy(options.Loader);
        loader.ErrorPolicy = AudioErrorPolicy.Report;
        const string Audio = "MLNetAudio.Catalog.Audio", Windows = "MLNetAudio.Catalog.Windows";
        var segmented = mlContext.Transforms.LoadAudio(Audio, options.PathColumnName, loader)
            .Append(mlContext.Transforms.SegmentMfcc(Windows, Audio, options.Segmenter ?? new MfccSegmenterOptions()))
            .Fit(catalog)
            .Transform(catalog);
        var shape = Scoring.WindowColumn.Read(segmented.Schema, Windows);
        var layout = WindowLayout.FromColumn(segmented.Schema[Windows]);
        var store = options.Store is { } storeOptions ? SongWindowStore.Open(storeOptions.Directory, layout) : null;
        try
        {
            var readable = new List<(string Id, string Path, float[]? Values, (long Offset, int Count) Location)>();
            var unreadable = new List<UnreadableSong>();
            var rows = new Dictionary<string, long>(StringComparer.Ordinal);
            int fromStore = 0, decoded = 0;
            long total = segmented.GetRowCount() ?? -1;
            using (var cursor = segmented.GetRowCursor([segmented.Schema[options.SongIdColumnName], segmented.Schema[options.PathColumnName], segmented.Schema[Windows], segmented.Schema[AudioColumns.Error(Audio)]]))
            {
                var id = cursor.GetGetter<ReadOnlyMemory<char>>(segmented.Schema[options.SongIdColumnName]);
                var path = cursor.GetGetter<ReadOnlyMemory<char>>(segmented.Schema[options.PathColumnName]);
                var windows = cursor.GetGetter<VBuffer<float>>(segmented.Schema[Windows]);
                var error = cursor.GetGetter<ReadOnlyMemory<char>>(segmented.Schema[AudioColumns.Error(Audio)]);
                ReadOnlyMemory<char> idValue = default, pathValue = default, errorValue = default;
                var value = default(VBuffer<float>);
                float[] scratch = [];
                long row = -1;
                while (cursor.MoveNext())
                {
                    row++;
                    id(ref idValue);
                    path(ref pathValue);
                    string songId = idValue.ToString();
                    if (songId.Length == 0)
                    {
                        throw new ArgumentException($"Row {row} of the catalog: '{options.SongIdColumnName}' is empty.", nameof(catalog));
                    }

                    if (!rows.TryAdd(songId, row))
                    {
                        throw new ArgumentException($"Song id '{songId}' (column '{options.SongIdColumnName}') appears in rows {rows[songId]} and {row}: a catalog holds each song once.", nameof(catalog));
                    }

                    var identity = SongWindowStore.IdentityOfSongId(songId);
                    if (store is not null && store.TryGet(identity, out var location) && location.Count > 0)
                    {
                        readable.Add((songId, pathValue.ToString(), null, location));
                        fromStore++;
                    }
                    else
                    {
                        windows(ref value);
                        error(ref errorValue);
                        int n = shape.DenseInto(value, Windows, row, ref scratch);
                        if (!errorValue.IsEmpty || n == 0)
                        {
                            unreadable.Add(new UnreadableSong(songId, row, errorValue.IsEmpty ? $"'{pathValue}' gave no window." : errorValue.ToString()));
                        }
                        else if (store is not null)
                        {
                            readable.Add((songId, pathValue.ToString(), null, store.Append(identity, scratch.AsSpan(0, n * shape.WindowSize))));
                            decoded++;
                        }
                        else
                        {
                            readable.Add((songId, pathValue.ToString(), scratch.AsSpan(0, n * shape.WindowSize).ToArray(), (0, n)));
                            decoded++;
                        }
                    }

                    options.Store?.Progress?.Report(new AudioSongStoreProgress((int)(row + 1), (int)Math.Max(total, row + 1), fromStore, decoded, songId));
                }
            }

            if (unreadable.Count > 0 && !options.SkipUnreadableSongs)
            {
                throw new ArgumentException(
                    $"{unreadable.Count} songs of the catalog cannot be read: "
                    + string.Join("; ", unreadable.Take(5).Select(u => $"'{u.SongId}' (row {u.Row}): {u.Reason}"))
                    + (unreadable.Count > 5 ? "; ..." : string.Empty)
                    + ". Set AudioSongCatalogOptions.SkipUnreadableSongs to leave them out and list them.",
                    nameof(catalog));
            }

            if (readable.Count == 0)
            {
                throw new ArgumentException($"No song of the catalog can be read ({unreadable.Count} tried; the first: {unreadable.FirstOrDefault()?.Reason}).", nameof(catalog));
            }

            // The readable songs as a view with the caller's column names, keyed in catalog order.
            var definition = SchemaDefinition.Create(typeof(CatalogRow));
            definition[nameof(CatalogRow.SongId)].ColumnName = options.SongIdColumnName;
            definition[nameof(CatalogRow.Path)].ColumnName = options.PathColumnName;
            var view = mlContext.Data.LoadFromEnumerable(readable.Select(r => new CatalogRow { SongId = r.Id, Path = r.Path }).ToList(), definition);
            var keys = mlContext.Transforms.Conversion.MapValueToKey(options.SongKeyColumnName, options.SongIdColumnName).Fit(view);
            var songOptions = AudioSongOptions.FromLayout(layout);
            AudioSongWindows songWindows;
            if (store is not null)
            {
                store.MapAll();
                songWindows = AudioSongWindows.Stored(store, [.. readable.Select(r => r.Location)], shape.FramesPerWindow, shape.Coefficients, songOptions, decoded);
            }
            else
            {
                songWindows = AudioSongWindows.FromValues([.. readable.Select(r => r.Values!)], shape.FramesPerWindow, shape.Coefficients, songOptions, decoded);
            }

            return new AudioSongCatalog(songWindows, keys, keys.Transform(view), unreadable);
        }
        catch
        {
            store?.Dispose();
            throw;
        }
    }

    /// <summary>Closes the windows' store, if any.</summary>
    public void Dispose() => Windows.Dispose();

    private static AudioLoaderOptions Copy(AudioLoaderOptions? options) => options?.Clone() ?? new AudioLoaderOptions();

    private sealed class CatalogRow
    {
        public string SongId { get; set; } = string.Empty;

        public string Path { get; set; } = string.Empty;
    }
}
