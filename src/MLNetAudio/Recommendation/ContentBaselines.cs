using Microsoft.ML;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Song audio features for the content-based baselines: per-coefficient statistics of a song's MFCC frames.
/// </summary>
/// <remarks>
/// Written by hand (a mean and a standard deviation per coefficient), as in the MFCC-statistics song models of
/// content-based music similarity. The frames are read from the cached <see cref="AudioSongWindows"/>: window 0
/// gives its frames, each later window only the frames past the previous one's end (its last hop), so overlapping
/// windows do not count a frame twice.
/// </remarks>
public static class ContentSongFeatures
{
    /// <summary>
    /// One vector per song (index = song key - 1): the mean of each MFCC coefficient over the song's frames, then
    /// the standard deviation of each (2 x coefficients values).
    /// </summary>
    /// <param name="songs">The songs' cached MFCC windows.</param>
    /// <param name="standardize">
    /// When true (the default) every dimension is z-scored over the catalog (the mean of the 0th coefficient is in
    /// far larger units than the rest and would otherwise decide every distance alone); a dimension with zero
    /// spread is left at 0.
    /// </param>
    /// <exception cref="ArgumentException">A song has no window.</exception>
    public static float[][] MfccStatistics(AudioSongWindows songs, bool standardize = true)
    {
        ArgumentNullException.ThrowIfNull(songs);
        int c = songs.Coefficients;
        int frames = songs.FramesPerWindow;
        int hop = Math.Clamp(songs.HopFrames, 1, frames);
        var features = new float[songs.SongCount][];
        for (int s = 0; s < songs.SongCount; s++)
        {
            int windows = songs.WindowCount(s);
            if (windows == 0)
            {
                throw new ArgumentException($"Song key {s + 1} has no MFCC window; its rendered audio is shorter than one window ({frames} frames).", nameof(songs));
            }

            var values = songs.Windows(s);
            var sum = new double[c];
            var sumSquares = new double[c];
            long count = 0;
            for (int w = 0; w < windows; w++)
            {
                for (int f = w == 0 ? 0 : frames - hop; f < frames; f++)
                {
                    var frame = values.Slice((w * frames + f) * c, c);
                    for (int i = 0; i < c; i++)
                    {
                        sum[i] += frame[i];
                        sumSquares[i] += frame[i] * (double)frame[i];
                    }

                    count++;
                }
            }

            var vector = new float[2 * c];
            for (int i = 0; i < c; i++)
            {
                double mean = sum[i] / count;
                vector[i] = (float)mean;
                vector[c + i] = (float)Math.Sqrt(Math.Max(0, sumSquares[i] / count - mean * mean));
            }

            features[s] = vector;
        }

        if (standardize)
        {
            Standardize(features);
        }

        return features;
    }

    /// <summary>Z-scores every dimension over the rows, in place; a constant dimension becomes 0.</summary>
    internal static void Standardize(float[][] rows)
    {
        if (rows.Length == 0)
        {
            return;
        }

        int d = rows[0].Length;
        for (int i = 0; i < d; i++)
        {
            double mean = rows.Average(r => (double)r[i]);
            double sd = Math.Sqrt(rows.Average(r => (r[i] - mean) * (r[i] - mean)));
            foreach (var r in rows)
            {
                r[i] = sd > 0 ? (float)((r[i] - mean) / sd) : 0f;
            }
        }
    }
}

/// <summary>
/// Base of the content-based baselines: songs described only by feature vectors (for example
/// <see cref="ContentSongFeatures.MfccStatistics"/>), users by the songs they played in training. Every song,
/// cold ones included, is scored from its features alone; songs already played are left to the evaluator's
/// filtering (or to <see cref="Recommend"/>).
/// </summary>
public abstract class ContentSongScorer : IUserSongScorer
{
    private protected ContentSongScorer(IReadOnlyList<float[]> songFeatures, IDataView training, string userColumnName, string songColumnName, string labelColumnName)
    {
        ArgumentNullException.ThrowIfNull(songFeatures);
        ArgumentNullException.ThrowIfNull(training);
        Plays = PlayMatrix.ReadTraining(training, userColumnName, songColumnName, labelColumnName);
        if (songFeatures.Count != Plays.SongCount)
        {
            throw new ArgumentException($"songFeatures has {songFeatures.Count} vectors but song column '{songColumnName}' has {Plays.SongCount} keys; give one vector per song key, in key order.", nameof(songFeatures));
        }

        int dimension = songFeatures.Count == 0 ? 0 : songFeatures[0]?.Length ?? 0;
        for (int s = 0; s < songFeatures.Count; s++)
        {
            var v = songFeatures[s];
            string? problem = v is null || v.Length == 0 ? "is null or empty"
                : v.Length != dimension ? $"has {v.Length} values where song key 1 has {dimension}"
                : v.Any(x => !float.IsFinite(x)) ? "holds a NaN or infinity"
                : null;
            if (problem is not null)
            {
                throw new ArgumentException($"songFeatures[{s}] (song key {s + 1}) {problem}; every song needs a finite feature vector of the same length.", nameof(songFeatures));
            }
        }

        Features = songFeatures.ToArray();
    }

    /// <inheritdoc/>
    public int UserCount => Plays.UserCount;

    /// <inheritdoc/>
    public int SongCount => Plays.SongCount;

    private protected PlayMatrix Plays { get; }

    private protected float[][] Features { get; }

    /// <inheritdoc/>
    /// <remarks>A user with no training play has no taste to go on: every song scores 0.</remarks>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > UserCount || destination.Length < userCount * (long)SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} (x {SongCount} songs) do not fit {UserCount} users or a destination of {destination.Length}.");
        }

        for (int r = 0; r < userCount; r++)
        {
            var row = destination.Slice(r * SongCount, SongCount);
            if (Plays.SongsOf(firstUser + r).Length == 0)
            {
                row.Clear();
                continue;
            }

            ScoreUser(firstUser + r, row);
        }
    }

    /// <summary>The <paramref name="k"/> best songs for a user (key 1-based), leaving out the songs they played in training.</summary>
    public IReadOnlyList<SongRecommendation> Recommend(uint userKey, int k = 10)
    {
        if (userKey < 1 || userKey > UserCount)
        {
            throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var scores = new float[SongCount];
        ScoreUsers((int)userKey - 1, 1, scores);
        var played = new HashSet<int>(Plays.SongsOf((int)userKey - 1).ToArray());
        return Enumerable.Range(0, SongCount).Where(s => !played.Contains(s))
            .OrderByDescending(s => scores[s]).ThenBy(s => s).Take(k)
            .Select(s => new SongRecommendation((uint)s + 1, scores[s])).ToArray();
    }

    /// <summary>Scores every song for one user (0-based) who has at least one training play.</summary>
    private protected abstract void ScoreUser(int user, Span<float> scores);

    /// <summary>Euclidean distance between two feature vectors.</summary>
    private protected static float Distance(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            sum += d * d;
        }

        return (float)Math.Sqrt(sum);
    }
}

/// <summary>
/// The "similar songs" content baseline: each user gets the nearest neighbours of one seed song from their training
/// plays; a song's score is minus its Euclidean distance to the seed in feature space.
/// </summary>
/// <remarks>
/// The seed song is the user's most played song (largest play count); ties are broken by a choice seeded with
/// (<c>seed</c>, user), so it is the same on every run and for every block of users. Written by hand: a nearest-
/// neighbour ranking over a few dozen dimensions needs no library.
/// </remarks>
public sealed class SeedSongRecommender : ContentSongScorer
{
    private readonly int[] _seedSong;

    /// <summary>Picks each user's seed song from <paramref name="training"/>.</summary>
    /// <param name="songFeatures">One feature vector per song key, in key order (cold songs included).</param>
    /// <param name="training">Training plays with key-typed user and song columns and a Single play-count column.</param>
    /// <param name="userColumnName">The user key column.</param>
    /// <param name="songColumnName">The song key column.</param>
    /// <param name="labelColumnName">The play-count column.</param>
    /// <param name="seed">Seeds the choice between equally played songs.</param>
    /// <exception cref="ArgumentException">A column is wrong, the log has no play, or the features do not match the song keys.</exception>
    public SeedSongRecommender(IReadOnlyList<float[]> songFeatures, IDataView training, string userColumnName = "UserId", string songColumnName = "SongId", string labelColumnName = "Label", int seed = 1)
        : base(songFeatures, training, userColumnName, songColumnName, labelColumnName)
    {
        _seedSong = new int[UserCount];
        for (int u = 0; u < UserCount; u++)
        {
            var songs = Plays.SongsOf(u);
            var plays = Plays.PlaysOf(u);
            if (songs.Length == 0)
            {
                _seedSong[u] = -1;
                continue;
            }

            float most = float.NegativeInfinity;
            foreach (float p in plays)
            {
                most = Math.Max(most, p);
            }

            var tied = new List<int>();
            for (int i = 0; i < songs.Length; i++)
            {
                if (plays[i] == most)
                {
                    tied.Add(songs[i]);
                }
            }

            tied.Sort();
            _seedSong[u] = tied[new Random(unchecked(seed * 1_000_003 + u)).Next(tied.Count)];
        }
    }

    /// <summary>The seed song key of a user (1-based), or 0 for a user with no training play.</summary>
    public uint SeedSong(uint userKey) =>
        userKey >= 1 && userKey <= UserCount ? (uint)(_seedSong[userKey - 1] + 1) : throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}.");

    private protected override void ScoreUser(int user, Span<float> scores)
    {
        var seedVector = Features[_seedSong[user]];
        for (int s = 0; s < SongCount; s++)
        {
            scores[s] = -Distance(Features[s], seedVector);
        }
    }
}

/// <summary>
/// Logan's (ISMIR 2004) "music recommendation from song sets" baseline: a song's score is minus its distance to the
/// set of songs the user played in training, the distance to a set being the minimum Euclidean distance to any of its
/// songs (a song close to any one played song ranks high).
/// </summary>
/// <remarks>
/// Logan compared songs by distances between their MFCC distributions and tried several set distances; this
/// implements the minimum distance over the set, on the feature vectors given (for example MFCC mean and standard
/// deviation). Written by hand for the same reason as <see cref="SeedSongRecommender"/>.
/// </remarks>
public sealed class SongSetRecommender : ContentSongScorer
{
    /// <summary>Reads each user's played set from <paramref name="training"/>.</summary>
    /// <param name="songFeatures">One feature vector per song key, in key order (cold songs included).</param>
    /// <param name="training">Training plays with key-typed user and song columns and a Single play-count column.</param>
    /// <param name="userColumnName">The user key column.</param>
    /// <param name="songColumnName">The song key column.</param>
    /// <param name="labelColumnName">The play-count column.</param>
    /// <exception cref="ArgumentException">A column is wrong, the log has no play, or the features do not match the song keys.</exception>
    public SongSetRecommender(IReadOnlyList<float[]> songFeatures, IDataView training, string userColumnName = "UserId", string songColumnName = "SongId", string labelColumnName = "Label")
        : base(songFeatures, training, userColumnName, songColumnName, labelColumnName)
    {
    }

    private protected override void ScoreUser(int user, Span<float> scores)
    {
        var played = Plays.SongsOf(user);
        for (int s = 0; s < SongCount; s++)
        {
            float nearest = float.PositiveInfinity;
            foreach (int p in played)
            {
                nearest = Math.Min(nearest, Distance(Features[s], Features[p]));
            }

            scores[s] = -nearest;
        }
    }
}
