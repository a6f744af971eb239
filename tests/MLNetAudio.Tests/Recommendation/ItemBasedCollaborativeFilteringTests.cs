using Microsoft.ML;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class ItemBasedCollaborativeFilteringTests
{
    // Listeners: song 1 {u1, u2}, song 2 {u1, u2}, song 3 {u2, u3}, song 4 {u3}, song 5 nobody.
    // Cosine: s(1,2) = 2/2 = 1, s(1,3) = s(2,3) = 1/2, s(3,4) = 1/sqrt(2), s(1,4) = s(2,4) = 0.
    private static readonly (uint, uint, float)[] Log = [(1, 1, 1), (1, 2, 3), (2, 1, 1), (2, 2, 1), (2, 3, 1), (3, 3, 2), (3, 4, 1)];

    private static ItemBasedCollaborativeFilteringModel Fit(MLContext ml, int neighbors = 0) =>
        ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId", neighbors).Fit(PlayLogs.Make(ml, 3, 5, Log));

    [Fact]
    public void SimilarityIsCosineOfBinaryListenerVectors()
    {
        var model = Fit(new MLContext(seed: 1));
        Assert.Equal(1f, model.GetSimilarity(1, 2), 6);
        Assert.Equal(0.5f, model.GetSimilarity(1, 3), 6);
        Assert.Equal(0.5f, model.GetSimilarity(3, 2), 6);
        Assert.Equal((float)(1 / Math.Sqrt(2)), model.GetSimilarity(4, 3), 6);
        Assert.Equal(0f, model.GetSimilarity(1, 4));
        Assert.Equal(0f, model.GetSimilarity(1, 1));
    }

    [Fact]
    public void ScoreSumsSimilaritiesToPlayedSongs()
    {
        var ml = new MLContext(seed: 1);
        var model = Fit(ml);

        // User 3 played songs 3 and 4: song 1 gets 1/2 + 0; user 1 played 1 and 2: song 3 gets 1/2 + 1/2, song 4 gets 0.
        var scores = PlayLogs.Floats(model.Transform(PlayLogs.Make(ml, 3, 5, (3, 1, 0), (1, 3, 0), (1, 4, 0), (1, 5, 0))), "Score");
        Assert.Equal([0.5f, 1f, 0f, 0f], scores);
        Assert.Equal([3u, 4u], model.Recommend(1, 5).Select(r => r.SongKey));
        Assert.Equal([1f, 0f], model.Recommend(1, 5).Select(r => r.Score));
        Assert.Equal(new[] { 1u, 2u }, model.Recommend(3, 5).Select(r => r.SongKey).Order());
    }

    [Fact]
    public void NeighbourPruningKeepsOnlyTheMostSimilarSongs()
    {
        var model = Fit(new MLContext(seed: 1), neighbors: 1);

        // Song 3's single nearest neighbour is song 4 (0.71 > 0.5), so plays of songs 1 and 2 no longer lead to it.
        Assert.Equal(0f, model.GetSimilarity(3, 1));
        Assert.Equal((float)(1 / Math.Sqrt(2)), model.GetSimilarity(3, 4), 6);
        Assert.Equal(0f, model.Recommend(1, 5).Single(r => r.SongKey == 3).Score);
    }

    [Fact]
    public void NegativeNeighbourCountIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Fit(new MLContext(seed: 1), neighbors: -1));
        Assert.Contains("NumberOfNeighbors", e.Message);
    }
}
