namespace MLNetAudio.Recommendation;

/// <summary>The argument check every <see cref="IUserSongScorer.ScoreUsers"/> implementation makes.</summary>
internal static class UserSongBlocks
{
    /// <summary>Throws when users <paramref name="firstUser"/> .. + <paramref name="userCount"/> - 1 do not fit the scorer or <paramref name="destinationLength"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The block lies outside the scorer's users or the destination is too short.</exception>
    public static void Check(IUserSongScorer scorer, int firstUser, int userCount, int destinationLength)
    {
        if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > scorer.UserCount || destinationLength < userCount * (long)scorer.SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} (x {scorer.SongCount} songs) do not fit {scorer.UserCount} users or a destination of {destinationLength}.");
        }
    }
}
