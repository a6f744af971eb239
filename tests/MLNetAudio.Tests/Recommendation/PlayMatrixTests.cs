using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class PlayMatrixTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomTriplesGiveTheSameMatrixAsADictionaryBuild(int seed)
    {
        const int Users = 40, Songs = 30;
        var random = new Random(seed);
        var triples = Enumerable.Range(0, 900)
            .Select(_ => (random.Next(Users), random.Next(Songs), random.Next(4) == 0 ? -random.Next(3) : (float)Math.Round(random.NextDouble() * 10, 2)))
            .ToArray();
        var reference = new SortedDictionary<(int User, int Song), float>();
        foreach (var (u, s, r) in triples.Where(t => t.Item3 > 0))
        {
            reference[(u, s)] = reference.GetValueOrDefault((u, s)) + r;
        }

        var m = PlayMatrix.FromTriples(Users, Songs, triples);

        Assert.Equal(reference.Count, m.NonZeroCount);
        var built = new List<((int, int), float)>();
        for (int u = 0; u < Users; u++)
        {
            var songs = m.SongsOf(u);
            for (int j = 1; j < songs.Length; j++)
            {
                Assert.True(songs[j - 1] < songs[j], $"user {u}: songs not strictly ascending");
            }

            for (int j = 0; j < songs.Length; j++)
            {
                built.Add(((u, songs[j]), m.PlaysOf(u)[j]));
            }
        }

        Assert.Equal(reference.Select(kv => (kv.Key, kv.Value)), built);

        // The per-song transpose holds the same entries.
        var transposed = new SortedDictionary<(int User, int Song), float>();
        for (int s = 0; s < Songs; s++)
        {
            for (int p = m.SongStart[s]; p < m.SongStart[s + 1]; p++)
            {
                transposed[(m.UserIndex[p], s)] = m.SongPlays[p];
            }
        }

        Assert.Equal(reference, transposed);
    }

    [Fact]
    public void RepeatedPairsAddUpInInputOrder()
    {
        // 0.1 + 0.2 + 0.3 in float depends on the order; the build must add in the order the rows came.
        var m = PlayMatrix.FromTriples(1, 3, [(0, 2, 0.1f), (0, 0, 5), (0, 2, 0.2f), (0, 2, 0.3f)]);
        Assert.Equal([0, 2], m.SongsOf(0).ToArray());
        Assert.Equal(0.1f + 0.2f + 0.3f, m.PlaysOf(0)[1]);
    }

    [Fact]
    public void NonFiniteCountsAndOutOfRangeKeysAreErrors()
    {
        var nan = Assert.Throws<ArgumentException>(() => PlayMatrix.FromTriples(2, 2, [(0, 0, 1), (1, 1, float.NaN)]));
        Assert.Contains("user key 2, song key 2", nan.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => PlayMatrix.FromTriples(2, 2, [(0, 2, 1)]));

        // A non-positive count is skipped before its keys are checked (it carries no preference).
        Assert.Equal(0, PlayMatrix.FromTriples(2, 2, [(5, 5, 0)]).NonZeroCount);
    }
}
