using Microsoft.ML;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public sealed class PopularityRecommenderTests
{
    // Listeners: song 1 by three users, song 2 by two, song 3 by one (who plays it 9 times), song 4 by nobody.
    private static readonly (uint, uint, float)[] Log = [(1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 3, 9), (3, 1, 2), (3, 2, 1)];

    private static PopularityModel Fit(MLContext ml, bool byPlays = false) =>
        ml.Audio().Recommendation.Trainers.Popularity(new PopularityOptions
        {
            MatrixColumnIndexColumnName = "UserId",
            MatrixRowIndexColumnName = "SongId",
            WeightByPlayCount = byPlays,
        }).Fit(PlayLogs.Make(ml, 3, 4, Log));

    [Fact]
    public void ScoreIsTheNumberOfListeners()
    {
        var ml = new MLContext(seed: 1);
        var model = Fit(ml);
        var scores = PlayLogs.Floats(model.Transform(PlayLogs.Make(ml, 3, 4, (1, 1, 0), (2, 2, 0), (3, 3, 0), (1, 4, 0))), "Score");
        Assert.Equal([3f, 2f, 1f, 0f], scores);
    }

    [Fact]
    public void WeightByPlayCountSumsPlays()
    {
        var ml = new MLContext(seed: 1);
        var model = Fit(ml, byPlays: true);
        Assert.Equal(4f, model.GetPopularity(1));
        Assert.Equal(9f, model.GetPopularity(3));
    }

    [Fact]
    public void RecommendsPopularUnplayedSongsAndNeverUnknownOnes()
    {
        var ml = new MLContext(seed: 1);
        var model = Fit(ml);

        // User 2 played songs 1 and 3: only song 2 is left (song 4 has no listeners, so the model knows nothing of it).
        Assert.Equal([2u], model.Recommend(2, 3).Select(r => r.SongKey));
        Assert.Equal([3u], model.Recommend(1, 3).Select(r => r.SongKey));
        Assert.Equal([1u, 2u, 3u], model.Recommend(2, 3, excludeAlreadyPlayed: false).Select(r => r.SongKey));
        Assert.Equal(model.RecommendAll(3).Select(l => l.Select(r => r.SongKey).ToArray()), new[] { new[] { 3u }, [2u], [3u] });
    }
}
