using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>The fused top-k kernel against a brute-force reference in double precision.</summary>
public sealed class FactorTopKTests
{
    // Both kernels run on every machine: 512-bit vectors are emulated in software where the CPU lacks them.
    [Theory]
    [InlineData(1, 1, 1, 1, true, true)]
    [InlineData(7, 15, 3, 5, true, false)]
    [InlineData(9, 17, 8, 20, false, true)]
    [InlineData(300, 1000, 64, 10, true, true)]
    [InlineData(300, 1000, 64, 10, true, false)]
    [InlineData(517, 333, 13, 50, true, false)]
    [InlineData(257, 40, 5, 100, false, true)]
    [InlineData(40, 2100, 32, 7, true, true)]
    public void EqualsABruteForceTopKForAnyShape(int users, int songs, int f, int k, bool exclude, bool wide)
    {
        var random = new Random(users * 31 + songs);
        var x = Enumerable.Range(0, users * f).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var y = Enumerable.Range(0, songs * f).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var known = Enumerable.Range(0, songs).Select(_ => random.Next(5) != 0).ToArray();
        var triples = Enumerable.Range(0, users * 4).Select(_ => (random.Next(users), random.Next(songs), 1f)).ToArray();
        var plays = PlayMatrix.FromTriples(users, songs, triples);
        int first = users > 3 ? 2 : 0, count = users - first;

        var lists = FactorTopK.Recommend(x, f, FactorTopK.Pack(y, songs, f, wide), songs, first, count, k, known, exclude ? plays : null, threads: 3);

        Assert.Equal(count, lists.Length);
        for (int i = 0; i < count; i++)
        {
            int u = first + i;
            var played = plays.SongsOf(u).ToArray().ToHashSet();
            double Score(int s) => Enumerable.Range(0, f).Sum(j => (double)x[u * f + j] * y[s * f + j]);
            var eligible = Enumerable.Range(0, songs).Where(s => known[s] && !(exclude && played.Contains(s))).ToArray();
            var expected = eligible.Select(Score).OrderDescending().Take(k).ToArray();
            var got = lists[i];

            Assert.Equal(expected.Length, got.Count);
            Assert.Equal(got.Count, got.Select(r => r.SongKey).Distinct().Count());
            for (int r = 0; r < got.Count; r++)
            {
                int song = (int)got[r].SongKey - 1;
                Assert.Contains(song, eligible);
                Assert.Equal(Score(song), got[r].Score, 1e-5);
                Assert.Equal(expected[r], got[r].Score, 1e-5);
                Assert.True(r == 0 || got[r - 1].Score >= got[r].Score);
            }
        }
    }

    [Fact]
    public void ThreadCountDoesNotChangeTheLists()
    {
        var random = new Random(3);
        const int Users = 700, Songs = 500, F = 16;
        var x = Enumerable.Range(0, Users * F).Select(_ => (float)random.NextDouble()).ToArray();
        var y = Enumerable.Range(0, Songs * F).Select(_ => (float)random.NextDouble()).ToArray();
        var known = Enumerable.Repeat(true, Songs).ToArray();
        var packed = FactorTopK.Pack(y, Songs, F);
        var one = FactorTopK.Recommend(x, F, packed, Songs, 0, Users, 10, known, null, threads: 1);
        var four = FactorTopK.Recommend(x, F, packed, Songs, 0, Users, 10, known, null, threads: 4);
        Assert.Equal(one.SelectMany(l => l), four.SelectMany(l => l));
    }

    [Fact]
    public void EqualScoresAtTheCutKeepTheLowerSongKey()
    {
        // Every song scores the same: the first k songs (keys 1..k) are the list.
        var x = new float[] { 1, 1 };
        var y = Enumerable.Repeat(0.5f, 40 * 2).ToArray();
        var lists = FactorTopK.Recommend(x, 2, FactorTopK.Pack(y, 40, 2), 40, 0, 1, 5, Enumerable.Repeat(true, 40).ToArray(), null, threads: 1);
        Assert.Equal([1u, 2u, 3u, 4u, 5u], lists[0].Select(r => r.SongKey));
    }
}
