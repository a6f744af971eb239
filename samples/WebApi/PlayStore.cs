using System.Globalization;
using Microsoft.Data.Sqlite;

namespace WebApiSample;

/// <summary>One recorded play count: a listener played a song this many times.</summary>
/// <param name="SongId">The song's id in the recommender's catalog.</param>
/// <param name="Plays">How many times (at least 1).</param>
public sealed record PlayCount(string SongId, long Plays);

/// <summary>
/// Recorded plays in a SQLite file: created on first start, kept across restarts. WAL mode lets readers run beside the
/// one writer; writers take the write lock up front (BEGIN IMMEDIATE) and wait for it (busy timeout) instead of
/// failing, so concurrent writers lose nothing.
/// </summary>
public sealed class PlayStore
{
    private readonly string _connectionString;

    /// <summary>Opens (and on first use creates) the database at <paramref name="path"/>.</summary>
    public PlayStore(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30, // seconds a command waits on a locked database
        }.ToString();

        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS plays (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id TEXT NOT NULL,
                song_id TEXT NOT NULL,
                plays INTEGER NOT NULL CHECK (plays > 0),
                recorded_utc TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS plays_by_user ON plays (user_id);
            """;
        command.ExecuteNonQuery();
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Records <paramref name="plays"/> for <paramref name="userId"/>, all or none, one row each.</summary>
    public async Task AddAsync(string userId, IReadOnlyList<PlayCount> plays, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plays);
        await using var connection = Open();
        await using var transaction = connection.BeginTransaction(deferred: false);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT INTO plays (user_id, song_id, plays, recorded_utc) VALUES ($user, $song, $plays, $at)";
        var song = command.Parameters.Add("$song", SqliteType.Text);
        var count = command.Parameters.Add("$plays", SqliteType.Integer);
        command.Parameters.AddWithValue("$user", userId);
        command.Parameters.AddWithValue("$at", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        foreach (var p in plays)
        {
            song.Value = p.SongId;
            count.Value = p.Plays;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Every song <paramref name="userId"/> has recorded plays of, with the total, by song id.</summary>
    public async Task<IReadOnlyList<PlayCount>> GetAsync(string userId, CancellationToken cancellationToken = default)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT song_id, SUM(plays) FROM plays WHERE user_id = $user GROUP BY song_id ORDER BY song_id";
        command.Parameters.AddWithValue("$user", userId);
        var result = new List<PlayCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(new PlayCount(reader.GetString(0), reader.GetInt64(1)));
        }

        return result;
    }

    /// <summary>How many rows (one per recorded song and request) the database holds.</summary>
    public async Task<long> CountRowsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM plays";
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var busy = connection.CreateCommand();
        busy.CommandText = "PRAGMA busy_timeout = 30000"; // SQLite's own wait on a locked file, in milliseconds
        busy.ExecuteNonQuery();
        return connection;
    }
}
