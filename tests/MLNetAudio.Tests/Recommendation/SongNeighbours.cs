using MLNetAudio.Recommendation;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>What a trained encoder's song embeddings put next to each other (the read-out learning tests).</summary>
internal static class SongNeighbours
{
    /// <summary>
    /// Leave-one-out nearest song (Euclidean, over song-mean window embeddings standardised per dimension) of every
    /// song of <paramref name="model"/>, all of whose songs hold <paramref name="windowsPerSong"/> windows: the share
    /// whose nearest other song is in the same group.
    /// </summary>
    public static double SameGroupShare(MultiUserAudioModel model, int windowsPerSong, Func<int, int> group)
    {
        int songCount = model.SongCount, frames = model.Songs.FramesPerWindow, coefficients = model.Songs.Coefficients;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.Encoder.eval();
        var x = tensor(Enumerable.Range(0, songCount).SelectMany(s => model.Songs.Windows(s).ToArray()).ToArray(), [songCount * windowsPerSong, frames, coefficients])
            .sub(tensor(model.CoefficientMean.ToArray())).div(tensor(model.CoefficientDeviation.ToArray()));
        var songs = model.Encoder.Embedding(x).reshape(songCount, windowsPerSong, -1).mean([1]);
        using var floor = 1e-6.ToScalar();
        songs = songs.sub(songs.mean([0])).div(songs.std(0).clamp_min(floor));
        var distance = cdist(songs, songs).data<float>().ToArray();
        int same = 0;
        for (int i = 0; i < songCount; i++)
        {
            int best = Enumerable.Range(0, songCount).Where(j => j != i).MinBy(j => distance[(i * songCount) + j]);
            same += group(best) == group(i) ? 1 : 0;
        }

        return (double)same / songCount;
    }
}
