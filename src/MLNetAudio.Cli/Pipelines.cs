using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Recommendation;
using Spectre.Console;

namespace MLNetAudio.Cli;

/// <summary>The front end every command shares, and the pass that finds unreadable songs.</summary>
internal static class Pipelines
{
    public static AudioLoaderOptions Loader(double? maxSeconds) => new() { ErrorPolicy = AudioErrorPolicy.Report, MaxDuration = maxSeconds };

    public static IEstimator<ITransformer> FrontEnd(MLContext ml, double? maxSeconds) =>
        ml.Transforms.LoadAudio("Audio", "Path", Loader(maxSeconds))
            .Append(ml.Transforms.SegmentMfcc("Windows", "Audio"));

    /// <summary>
    /// Decodes every song once (progress per song) and returns the readable ones; each unreadable one is reported with
    /// the loader's message and left out, so one corrupt file among thousands does not stop the others.
    /// </summary>
    public static List<CatalogSong> Readable(MLContext ml, IReadOnlyList<CatalogSong> songs, double? maxSeconds, CancellationToken cancel)
    {
        var data = ml.Data.LoadFromEnumerable(songs);
        var loaded = ml.Transforms.LoadAudio("Audio", "Path", Loader(maxSeconds)).Fit(data).Transform(data);
        var errors = new string[songs.Count];
        Ui.WithProgress(ctx =>
        {
            var task = ctx.AddTask("decoding songs", maxValue: songs.Count);
            using var cursor = loaded.GetRowCursor([loaded.Schema["Audio.Error"]]);
            var getter = cursor.GetGetter<ReadOnlyMemory<char>>(loaded.Schema["Audio.Error"]);
            var value = default(ReadOnlyMemory<char>);
            int i = 0;
            while (cursor.MoveNext())
            {
                cancel.ThrowIfCancellationRequested();
                getter(ref value);
                errors[i++] = value.ToString();
                task.Increment(1);
            }

            return 0;
        });

        var good = new List<CatalogSong>();
        for (int i = 0; i < songs.Count; i++)
        {
            if (errors[i].Length > 0)
            {
                Ui.Warn($"skipped {songs[i].SongId} (catalog line {songs[i].Line}): {errors[i]}");
            }
            else
            {
                good.Add(songs[i]);
            }
        }

        return good;
    }

    /// <summary>
    /// A catalog and a play log made ready for the recommenders: unreadable songs left out (and their plays, with a
    /// warning), song keys from the catalog, user keys from the plays, the songs' windows cached.
    /// </summary>
    public static PlayLogData PlayLog(MLContext ml, Catalog catalog, List<PlayRow> plays, double? maxSeconds, string? store, string playsPath, CancellationToken cancel)
    {
        // One pass over the files: each song decoded once, the unreadable ones listed and left out.
        AudioSongCatalog songs = WithProgress(catalog.Songs.Count, "decoding songs", task => AudioSongCatalog.Build(ml, ml.Data.LoadFromEnumerable(catalog.Songs), new AudioSongCatalogOptions
        {
            Loader = Loader(maxSeconds),
            SkipUnreadableSongs = true,
            Store = store is null ? null : new AudioSongStoreOptions
            {
                Directory = store,
                Progress = new Inline<AudioSongStoreProgress>(p =>
                {
                    task.Value = p.SongsDone;
                    cancel.ThrowIfCancellationRequested();
                }),
            },
        }));
        Ui.Info($"songs: {songs.Windows.SongCount} readable, {songs.Windows.ComputedSongs} decoded{(store is null ? string.Empty : $", the rest from the store in {store}")}.");
        foreach (var bad in songs.Unreadable)
        {
            Ui.Warn($"skipped {bad.SongId} (catalog row {bad.Row + 1}): {bad.Reason}");
        }

        cancel.ThrowIfCancellationRequested();
        var kept = songs.Songs.GetColumn<string>("SongId").ToHashSet(StringComparer.Ordinal);
        int dropped = plays.RemoveAll(p => !kept.Contains(p.SongId));
        if (dropped > 0)
        {
            Ui.Warn($"{dropped} plays of unreadable songs were left out.");
        }

        if (plays.Count == 0)
        {
            songs.Dispose();
            throw new CliInputException($"{playsPath}: no play is left on a readable song.");
        }

        var readable = catalog.Songs.Where(s => kept.Contains(s.SongId)).ToList();
        var playView = ml.Data.LoadFromEnumerable(plays);
        var userKeys = ml.Transforms.Conversion.MapValueToKey("UserKey", "UserId").Fit(playView);
        return new PlayLogData(readable, kept, songs.SongKeys, userKeys, songs.Windows, playView, songs.SongKeys.Transform(userKeys.Transform(playView)));
    }

    private static T WithProgress<T>(int total, string what, Func<ProgressTask, T> work) =>
        Ui.WithProgress(ctx =>
        {
            var task = ctx.AddTask(what, maxValue: total);
            var result = work(task);
            task.Value = total;
            return result;
        });
}

/// <summary>What <see cref="Pipelines.PlayLog"/> prepares.</summary>
internal sealed record PlayLogData(
    List<CatalogSong> Readable,
    HashSet<string> ReadableIds,
    ITransformer SongKeys,
    ITransformer UserKeys,
    AudioSongWindows Songs,
    IDataView Plays,
    IDataView Training)
{
    /// <summary>The recommenders' column names, as the keyed views have them.</summary>
    public static MultiUserAudioOptions AudioOptions(int? epochs, int seed) => new()
    {
        MatrixColumnIndexColumnName = "UserKey",
        MatrixRowIndexColumnName = "SongKey",
        LabelColumnName = nameof(PlayRow.Plays),
        Epochs = epochs,
        Seed = seed,
    };
}
