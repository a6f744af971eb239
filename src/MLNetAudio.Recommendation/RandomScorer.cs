namespace MLNetAudio.Recommendation;

/// <summary>
/// The random baseline: every (user, song) pair gets a score drawn uniformly from [0, 1), fixed by the seed, so
/// rankings are random but repeatable. Its metrics are what chance gives (AUC near 0.5).
/// </summary>
/// <remarks>
/// Written by hand (a few lines): the score is a hash of (seed, user, song), so any block of users scores the same
/// whichever order or block size the caller uses.
/// </remarks>
public sealed class RandomScorer : IUserSongScorer
{
    private readonly ulong _seed;

    /// <summary>Creates a random scorer over <paramref name="userCount"/> users and <paramref name="songCount"/> songs.</summary>
    public RandomScorer(int userCount, int songCount, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(userCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(songCount);
        UserCount = userCount;
        SongCount = songCount;
        _seed = (ulong)(uint)seed;
    }

    /// <inheritdoc/>
    public int UserCount { get; }

    /// <inheritdoc/>
    public int SongCount { get; }

    /// <inheritdoc/>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

        for (int r = 0; r < userCount; r++)
        {
            for (int s = 0; s < SongCount; s++)
            {
                destination[r * SongCount + s] = Hash(_seed, (ulong)(firstUser + r), (ulong)s);
            }
        }
    }

    /// <summary>SplitMix64's finaliser over the three inputs, mapped to [0, 1) with 24 bits (a float's precision).</summary>
    private static float Hash(ulong seed, ulong user, ulong song)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL ^ (user + 0x632BE59BD9B4E019UL) * 0xBF58476D1CE4E5B9UL ^ (song + 1) * 0x94D049BB133111EBUL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 40) / (float)(1 << 24);
    }
}
