using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

/// <summary>
/// A sparse users x songs matrix of play counts read from (user key, song key, plays) rows, in compressed-row form
/// per user and per song. Rows whose play count is not positive are ignored (implicit feedback: they carry no
/// preference), NaN or infinite counts are errors; repeated (user, song) rows add up; rows whose user or song key is
/// missing (0) are skipped.
/// </summary>
internal sealed class PlayMatrix
{
    private PlayMatrix(int users, int songs, int[] userStart, int[] songIndex, float[] plays)
    {
        UserCount = users;
        SongCount = songs;
        UserStart = userStart;
        SongIndex = songIndex;
        Plays = plays;

        // The transpose, song by song, for the item half-step of ALS and for item-based CF.
        SongStart = new int[songs + 1];
        foreach (int s in songIndex)
        {
            SongStart[s + 1]++;
        }

        for (int s = 0; s < songs; s++)
        {
            SongStart[s + 1] += SongStart[s];
        }

        UserIndex = new int[songIndex.Length];
        SongPlays = new float[songIndex.Length];
        var next = (int[])SongStart.Clone();
        for (int u = 0; u < users; u++)
        {
            for (int p = userStart[u]; p < userStart[u + 1]; p++)
            {
                int slot = next[songIndex[p]]++;
                UserIndex[slot] = u;
                SongPlays[slot] = plays[p];
            }
        }
    }

    public int UserCount { get; }

    public int SongCount { get; }

    /// <summary>User u's entries are positions UserStart[u] .. UserStart[u + 1] - 1 of <see cref="SongIndex"/> and <see cref="Plays"/>.</summary>
    public int[] UserStart { get; }

    public int[] SongIndex { get; }

    public float[] Plays { get; }

    /// <summary>Song s's entries are positions SongStart[s] .. SongStart[s + 1] - 1 of <see cref="UserIndex"/> and <see cref="SongPlays"/>.</summary>
    public int[] SongStart { get; }

    public int[] UserIndex { get; }

    public float[] SongPlays { get; }

    public int NonZeroCount => SongIndex.Length;

    public ReadOnlySpan<int> SongsOf(int user) => SongIndex.AsSpan(UserStart[user], UserStart[user + 1] - UserStart[user]);

    public ReadOnlySpan<float> PlaysOf(int user) => Plays.AsSpan(UserStart[user], UserStart[user + 1] - UserStart[user]);

    public int PlayCountOfSong(int song) => SongStart[song + 1] - SongStart[song];

    /// <summary>Rebuilds a matrix from its compressed rows (as saved in a model file; the caller has checked them).</summary>
    public static PlayMatrix FromCompressedRows(int users, int songs, int[] userStart, int[] songIndex, float[] plays) =>
        new(users, songs, userStart, songIndex, plays);

    /// <summary>
    /// Builds the matrix from 0-based (user, song, plays) triples: collected into flat arrays, grouped by user with a
    /// counting sort, sorted by song within each user, repeated pairs summed (linear memory, no per-entry objects, so
    /// a play log of tens of millions of rows fits in a few hundred megabytes).
    /// </summary>
    public static PlayMatrix FromTriples(int users, int songs, IEnumerable<(int User, int Song, float Plays)> triples)
    {
        var userOf = new List<int>();
        var songOf = new List<int>();
        var playsOf = new List<float>();
        var perUser = new int[users + 1];
        foreach (var (u, s, r) in triples)
        {
            if (!float.IsFinite(r))
            {
                throw new ArgumentException($"The play count of (user key {u + 1}, song key {s + 1}) is {r}; play counts must be finite numbers (0 or less means not played).", nameof(triples));
            }

            if (r <= 0)
            {
                continue;
            }

            if ((uint)u >= (uint)users || (uint)s >= (uint)songs)
            {
                throw new ArgumentOutOfRangeException(nameof(triples), $"(user {u}, song {s}) is outside a {users} x {songs} matrix.");
            }

            userOf.Add(u);
            songOf.Add(s);
            playsOf.Add(r);
            perUser[u + 1]++;
        }

        for (int u = 0; u < users; u++)
        {
            perUser[u + 1] += perUser[u];
        }

        // Counting sort by user (stable: a user's rows keep their input order), then songs ascending within a user.
        int n = userOf.Count;
        var index = new int[n];
        var plays = new float[n];
        var next = (int[])perUser.Clone();
        for (int i = 0; i < n; i++)
        {
            int slot = next[userOf[i]]++;
            index[slot] = songOf[i];
            plays[slot] = playsOf[i];
        }

        userOf = null!;
        songOf = null!;
        playsOf = null!;

        // Repeated (user, song) rows add up, in input order; the compacted rows shift left over the merged ones.
        var start = new int[users + 1];
        int written = 0;
        for (int u = 0; u < users; u++)
        {
            int first = perUser[u], length = perUser[u + 1] - first;
            if (length > 1)
            {
                SortStable(index, plays, first, length);
            }

            start[u] = written;
            for (int p = first; p < first + length; p++)
            {
                if (written > start[u] && index[written - 1] == index[p])
                {
                    plays[written - 1] += plays[p];
                }
                else
                {
                    index[written] = index[p];
                    plays[written++] = plays[p];
                }
            }
        }

        start[users] = written;
        if (written < n)
        {
            Array.Resize(ref index, written);
            Array.Resize(ref plays, written);
        }

        return new PlayMatrix(users, songs, start, index, plays);
    }

    /// <summary>Sorts one user's entries by song, keeping the input order of repeated songs (so their sum is reproducible).</summary>
    private static void SortStable(int[] index, float[] plays, int first, int length)
    {
        bool sorted = true;
        for (int p = first + 1; p < first + length && sorted; p++)
        {
            sorted = index[p - 1] < index[p];
        }

        if (sorted)
        {
            return;
        }

        // Sort (song, original position) pairs: unique keys, so the unstable Array.Sort gives a stable order.
        var keys = new long[length];
        for (int j = 0; j < length; j++)
        {
            keys[j] = ((long)index[first + j] << 32) | (uint)j;
        }

        Array.Sort(keys);
        var copy = plays.AsSpan(first, length).ToArray();
        for (int j = 0; j < length; j++)
        {
            index[first + j] = (int)(keys[j] >> 32);
            plays[first + j] = copy[(int)(keys[j] & 0xFFFFFFFF)];
        }
    }

    /// <summary>
    /// Reads a play matrix from a data view with key-typed user and song columns (as made by MapValueToKey) and an
    /// optional Single play-count column (when null, every row counts as one play). A NaN or infinite count is an error.
    /// </summary>
    /// <exception cref="ArgumentException">A column is missing or of the wrong type; the message names it.</exception>
    public static PlayMatrix Read(IDataView data, string userColumnName, string songColumnName, string? playsColumnName)
    {
        ArgumentNullException.ThrowIfNull(data);
        var userColumn = RequireKey(data.Schema, userColumnName, "User (MatrixColumnIndexColumnName)");
        var songColumn = RequireKey(data.Schema, songColumnName, "Song (MatrixRowIndexColumnName)");
        DataViewSchema.Column? playsColumn = null;
        if (playsColumnName is not null)
        {
            playsColumn = SchemaShapes.Require(data.Schema, playsColumnName, "Label (play count)");
            if (playsColumn.Value.Type != NumberDataViewType.Single)
            {
                throw new ArgumentException(
                    $"Label column '{playsColumnName}' must be of type Single (a play count or 1 for a play); found {playsColumn.Value.Type}.",
                    nameof(data));
            }
        }

        int users = checked((int)((KeyDataViewType)userColumn.Type).Count);
        int songs = checked((int)((KeyDataViewType)songColumn.Type).Count);
        var columns = playsColumn is null ? new[] { userColumn, songColumn } : new[] { userColumn, songColumn, playsColumn.Value };
        return FromTriples(users, songs, ReadTriples(data, columns, userColumn, songColumn, playsColumn));
    }

    /// <summary>Reads training plays: as <see cref="Read"/>, but a log without a single positive play is an error.</summary>
    /// <exception cref="ArgumentException">A column is wrong, or no row has a positive play count.</exception>
    public static PlayMatrix ReadTraining(IDataView data, string userColumnName, string songColumnName, string playsColumnName)
    {
        var plays = Read(data, userColumnName, songColumnName, playsColumnName);
        if (plays.NonZeroCount == 0)
        {
            throw new ArgumentException(
                $"The training data has no row with a positive play count in column '{playsColumnName}' and non-missing keys in "
                + $"'{userColumnName}' and '{songColumnName}'; a recommender cannot learn from it.",
                nameof(data));
        }

        return plays;
    }

    private static IEnumerable<(int, int, float)> ReadTriples(
        IDataView data, DataViewSchema.Column[] columns, DataViewSchema.Column userColumn, DataViewSchema.Column songColumn, DataViewSchema.Column? playsColumn)
    {
        using var cursor = data.GetRowCursor(columns);
        var userGetter = cursor.GetGetter<uint>(userColumn);
        var songGetter = cursor.GetGetter<uint>(songColumn);
        var playsGetter = playsColumn is null ? null : cursor.GetGetter<float>(playsColumn.Value);
        uint user = 0, song = 0;
        float plays = 1;
        while (cursor.MoveNext())
        {
            userGetter(ref user);
            songGetter(ref song);
            playsGetter?.Invoke(ref plays);
            if (user != 0 && song != 0)
            {
                yield return ((int)user - 1, (int)song - 1, plays);
            }
        }
    }

    /// <summary>Finds a uint key column with a known count or throws naming it and saying how to make one.</summary>
    public static DataViewSchema.Column RequireKey(DataViewSchema schema, string name, string role)
    {
        var column = SchemaShapes.Require(schema, name, role);
        if (column.Type is not KeyDataViewType key || key.RawType != typeof(uint) || key.Count == 0 || key.Count > int.MaxValue)
        {
            throw new ArgumentException(
                $"{role} column '{name}' must be a key of type UInt32 with a known count, as made by "
                + $"ml.Transforms.Conversion.MapValueToKey; found {column.Type}.",
                nameof(schema));
        }

        return column;
    }

    /// <summary>
    /// Checks that a key column (found by <see cref="RequireKey(DataViewSchema, string, string)"/>) has as many values as
    /// the model has <paramref name="what"/>: keys mapped by another MapValueToKey would score the wrong users or songs.
    /// </summary>
    /// <exception cref="ArgumentException">The counts differ; the message names the column and both counts.</exception>
    public static void RequireKeyCount(DataViewSchema.Column column, int expected, string what)
    {
        ulong found = ((KeyDataViewType)column.Type).Count;
        if (found != (ulong)expected)
        {
            throw new ArgumentException(
                $"Column '{column.Name}' is a key of {found} values but the model was trained on {expected} {what}; "
                + "map the data with the same fitted MapValueToKey transformer used for training.",
                nameof(column));
        }
    }

    /// <summary>
    /// A recommendation trainer's GetOutputSchema: checks the user and song key columns and appends the Single Score
    /// column every fitted recommendation model outputs.
    /// </summary>
    public static SchemaShape ScoreOutputSchema(SchemaShape inputSchema, string userColumnName, string songColumnName)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        RequireKey(inputSchema, userColumnName, "User (MatrixColumnIndexColumnName)");
        RequireKey(inputSchema, songColumnName, "Song (MatrixRowIndexColumnName)");
        return SchemaShapes.Append(inputSchema, [new OutputColumn(SongRecommenderModel.ScoreColumnName, NumberDataViewType.Single)]);
    }

    /// <summary>Checks a shape-level key column (for estimators' GetOutputSchema).</summary>
    public static void RequireKey(SchemaShape shape, string name, string role)
    {
        var column = SchemaShapes.Require(shape, name, role);
        if (!column.IsKey || column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType.RawType != typeof(uint))
        {
            throw new ArgumentException(
                $"{role} column '{name}' must be a scalar key of type UInt32, as made by ml.Transforms.Conversion.MapValueToKey; "
                + $"found {column.Kind} of {column.ItemType}{(column.IsKey ? " (key)" : string.Empty)}.",
                nameof(shape));
        }
    }
}
