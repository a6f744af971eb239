using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;
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
}
