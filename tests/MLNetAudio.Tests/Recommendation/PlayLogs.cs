using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>Builds small key-typed play logs for the recommendation tests.</summary>
internal static class PlayLogs
{
    /// <summary>A log of (user key, song key, plays) rows with UserId/SongId keys over the given counts.</summary>
    public static IDataView Make(MLContext ml, int users, int songs, params (uint User, uint Song, float Plays)[] rows) =>
        ListeningSimulator.ToDataView(ml, rows.Select(r => new ListeningEvent { UserId = r.User, SongId = r.Song, Label = r.Plays }), users, songs);

    /// <summary>
    /// A log written straight through LoadFromEnumerable, whose .NET key values are 0-based: a value at or above the
    /// count becomes the missing key 0.
    /// </summary>
    public static IDataView MakeZeroBased(MLContext ml, int users, int songs, params (uint User, uint Song, float Plays)[] rows)
    {
        var schema = SchemaDefinition.Create(typeof(ListeningEvent));
        schema[nameof(ListeningEvent.UserId)].ColumnType = new KeyDataViewType(typeof(uint), users);
        schema[nameof(ListeningEvent.SongId)].ColumnType = new KeyDataViewType(typeof(uint), songs);
        return ml.Data.LoadFromEnumerable(rows.Select(r => new ListeningEvent { UserId = r.User, SongId = r.Song, Label = r.Plays }).ToArray(), schema);
    }

    /// <summary>
    /// Every user of <paramref name="users"/> plays four of the first eight songs (two of them twice as often), so seed
    /// songs have ties and samplers have choices; songs 9 and above are cold (no play).
    /// </summary>
    public static IDataView FourPlaysEach(MLContext ml, int users, int songs) => Make(ml, users, songs, Enumerable.Range(1, users)
        .SelectMany(u => new[] { 0, 2, 5, 7 }.Select((offset, i) => ((uint)u, (uint)(((u + offset) % 8) + 1), i < 2 ? 2f : 1f)))
        .ToArray());

    /// <summary>Random windows (no rendering, seeded): 3 windows of <paramref name="frames"/> x <paramref name="coefficients"/> per song.</summary>
    public static AudioSongWindows SyntheticWindows(int songs, int frames = 16, int coefficients = 3)
    {
        var rng = new Random(4);
        var windows = Enumerable.Range(0, songs).Select(_ => Enumerable.Range(0, 3 * frames * coefficients).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
        return AudioSongWindows.FromValues(windows, frames, coefficients, new AudioSongOptions());
    }

    /// <summary>
    /// The shape of play rows before any Fit, as an estimator chain sees it: UserId and SongId keys made by MapValueToKey
    /// from string ids, and a Single Label (what a recommendation trainer's GetOutputSchema is given in a pipeline).
    /// </summary>
    public static SchemaShape KeyedPlaysShape(MLContext ml)
    {
        var raw = ml.Data.LoadFromEnumerable(new[] { new RawPlay { User = "ann", Song = "s1", Label = 1 } });
        return ml.Transforms.Conversion.MapValueToKey("UserId", "User").Append(ml.Transforms.Conversion.MapValueToKey("SongId", "Song"))
            .GetOutputSchema(new SchemaShape(raw.Schema.Select(c => MLNetAudio.Data.SchemaShapes.MakeColumn(c.Name, c.Type))));
    }

    private sealed class RawPlay
    {
        public string User { get; set; } = string.Empty;

        public string Song { get; set; } = string.Empty;

        public float Label { get; set; }
    }

    /// <summary>Reads a float column of a data view.</summary>
    public static float[] Floats(IDataView data, string column) => data.GetColumn<float>(column).ToArray();
}

/// <summary>A scorer with fixed scores, for checking the evaluator by hand.</summary>
internal sealed class FixedScorer : IUserSongScorer
{
    private readonly float[][] _scores;

    public FixedScorer(params float[][] scores) => _scores = scores;

    public int UserCount => _scores.Length;

    public int SongCount => _scores[0].Length;

    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        for (int r = 0; r < userCount; r++)
        {
            _scores[firstUser + r].CopyTo(destination.Slice(r * SongCount, SongCount));
        }
    }
}
