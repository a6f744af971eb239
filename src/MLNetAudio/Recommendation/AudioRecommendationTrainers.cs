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

    /// <summary>
    /// The multi-user audio recommender over a real catalog (DESIGN.md §8): songs as an IDataView, one row per song with
    /// the song key (<see cref="MultiUserAudioOptions.MatrixRowIndexColumnName"/>, the same fitted MapValueToKey as the
    /// plays) and the windows <c>SegmentMfcc</c> made (<see cref="MultiUserAudioOptions.SongWindowsColumnName"/>).
    /// Songs without plays are cold songs: the model scores and recommends them from their audio.
    /// </summary>
    /// <param name="trainers">The catalog.</param>
    /// <param name="songs">The catalog's songs (see <see cref="AudioSongWindows.FromDataView(IDataView, string, string)"/>).</param>
    /// <param name="options">Columns, network shape and training settings; null for the defaults.</param>
    /// <exception cref="ArgumentException">An option, a column or a song of <paramref name="songs"/> is invalid; the message names it.</exception>
    public static MultiUserAudioTrainer MultiUserAudio(this RecommendationTrainers trainers, IDataView songs, MultiUserAudioOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(trainers);
        options ??= new MultiUserAudioOptions();
        options.Validate();
        var windows = AudioSongWindows.FromDataView(songs, options.MatrixRowIndexColumnName, options.SongWindowsColumnName);
        return new MultiUserAudioTrainer(trainers.Context, options, windows);
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
