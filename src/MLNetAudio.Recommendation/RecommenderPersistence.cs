using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The pieces the recommendation models' stage payloads share (for <c>ml.Audio().Model.Save</c>/<c>Load</c>): arrays
/// with their length, the training play matrix, and the header of every <see cref="SongRecommenderModel"/>.
/// </summary>
/// <remarks>
/// Encodings (little-endian, <see cref="BinaryWriter"/>'s):
/// <code>
/// float[] / int[]    int32 count, then count values
/// play matrix        int32 users, int32 songs, int[] userStart (users + 1), int[] songIndex, float[] plays
///                    (compressed rows: user u's songs are songIndex[userStart[u] .. userStart[u + 1]), ascending)
/// recommender header string userColumn, string songColumn, play matrix
/// </code>
/// Every read checks its sizes against the bytes left before allocating and checks the values it depends on
/// (indices in range, counts consistent), so a damaged payload fails with <see cref="InvalidDataException"/>,
/// which <see cref="AudioModelCatalog"/> reports as a corrupt entry, never as a crash or a wrong score.
/// </remarks>
internal static class RecommenderPersistence
{
    public static void WriteFloats(BinaryWriter writer, ReadOnlySpan<float> values)
    {
        writer.Write(values.Length);
        foreach (float v in values)
        {
            writer.Write(v);
        }
    }

    public static void WriteInts(BinaryWriter writer, ReadOnlySpan<int> values)
    {
        writer.Write(values.Length);
        foreach (int v in values)
        {
            writer.Write(v);
        }
    }

    /// <summary>Reads a float array; <paramref name="expectedCount"/>, when given, must match.</summary>
    public static float[] ReadFloats(BinaryReader reader, string what, long? expectedCount = null)
    {
        int count = ReadCount(reader, what, sizeof(float), expectedCount);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = reader.ReadSingle();
        }

        return values;
    }

    /// <summary>Reads an int array; <paramref name="expectedCount"/>, when given, must match.</summary>
    public static int[] ReadInts(BinaryReader reader, string what, long? expectedCount = null)
    {
        int count = ReadCount(reader, what, sizeof(int), expectedCount);
        var values = new int[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = reader.ReadInt32();
        }

        return values;
    }

    public static void WritePlays(BinaryWriter writer, PlayMatrix plays)
    {
        writer.Write(plays.UserCount);
        writer.Write(plays.SongCount);
        WriteInts(writer, plays.UserStart);
        WriteInts(writer, plays.SongIndex);
        WriteFloats(writer, plays.Plays);
    }

    public static PlayMatrix ReadPlays(BinaryReader reader)
    {
        int users = reader.ReadInt32();
        int songs = reader.ReadInt32();
        if (users < 1 || songs < 1)
        {
            throw new InvalidDataException($"the training plays claim {users} users and {songs} songs; both must be at least 1");
        }

        var start = ReadInts(reader, "the training plays' user offsets", (long)users + 1);
        var index = ReadInts(reader, "the training plays' song indices");
        var plays = ReadFloats(reader, "the training play counts", index.Length);
        if (start[0] != 0 || start[users] != index.Length)
        {
            throw new InvalidDataException($"the training plays' user offsets run from {start[0]} to {start[users]}, not from 0 to {index.Length}");
        }

        for (int u = 0; u < users; u++)
        {
            if (start[u + 1] < start[u])
            {
                throw new InvalidDataException($"the training plays' user offsets decrease at user {u}");
            }

            for (int p = start[u]; p < start[u + 1]; p++)
            {
                // Ascending songs per user is what FromTriples makes and what the item-based model's lookups rely on.
                if ((uint)index[p] >= (uint)songs || (p > start[u] && index[p] <= index[p - 1]))
                {
                    throw new InvalidDataException($"the training plays of user {u} hold song index {index[p]}, out of order or outside 0 .. {songs - 1}");
                }

                if (!(plays[p] > 0) || !float.IsFinite(plays[p]))
                {
                    throw new InvalidDataException($"the training plays hold a play count of {plays[p]}; stored counts are positive and finite");
                }
            }
        }

        return PlayMatrix.FromCompressedRows(users, songs, start, index, plays);
    }

    /// <summary>Writes the header of a <see cref="SongRecommenderModel"/>: its key columns and its training plays.</summary>
    public static void WriteHeader(BinaryWriter writer, string userColumnName, string songColumnName, PlayMatrix training)
    {
        writer.Write(userColumnName);
        writer.Write(songColumnName);
        WritePlays(writer, training);
    }

    /// <summary>Reads what <see cref="WriteHeader"/> wrote.</summary>
    public static (string User, string Song, PlayMatrix Training) ReadHeader(BinaryReader reader)
    {
        string user = reader.ReadString();
        string song = reader.ReadString();
        if (string.IsNullOrWhiteSpace(user) || string.IsNullOrWhiteSpace(song))
        {
            throw new InvalidDataException("a key column name is empty");
        }

        return (user, song, ReadPlays(reader));
    }

    private static int ReadCount(BinaryReader reader, string what, int elementSize, long? expectedCount)
    {
        int count = reader.ReadInt32();
        long left = reader.BaseStream.CanSeek ? reader.BaseStream.Length - reader.BaseStream.Position : long.MaxValue;
        if (count < 0 || (long)count * elementSize > left)
        {
            throw new InvalidDataException($"{what} claim {count} values but only {left} bytes remain");
        }

        if (expectedCount is long expected && count != expected)
        {
            throw new InvalidDataException($"{what} hold {count} values; the model's sizes need {expected}");
        }

        return count;
    }
}
