using Microsoft.ML;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The audio recommenders on <c>ml.Audio().Recommendation.Trainers</c>, kept in their own file beside the
/// collaborative baselines.
/// </summary>
public static class AudioRecommendationTrainers
{
    /// <summary>
    /// The multi-user audio recommender: a shared CNN+LSTM encoder over <paramref name="songs"/>' windows and one
    /// learned vector per user (DESIGN.md §4).
    /// </summary>
    /// <param name="trainers">The catalog.</param>
    /// <param name="songs">Every song's MFCC windows (index = song key - 1), from <see cref="AudioSongWindows.Compute"/>.</param>
    /// <param name="options">Columns, network shape and training settings; null for the defaults.</param>
    public static MultiUserAudioTrainer MultiUserAudio(this RecommendationTrainers trainers, AudioSongWindows songs, MultiUserAudioOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(trainers);
        return new MultiUserAudioTrainer(trainers.Context, options ?? new MultiUserAudioOptions(), songs);
    }

    /// <summary>The hybrid LightGBM LambdaRank ranker over other models' scores, one query group per user.</summary>
    /// <param name="trainers">The catalog.</param>
    /// <param name="options">Candidate sampling and LightGBM settings; null for the defaults.</param>
    public static HybridRankerTrainer HybridRanker(this RecommendationTrainers trainers, HybridRankerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(trainers);
        return new HybridRankerTrainer(trainers.Context, options);
    }
}
