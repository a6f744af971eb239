using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The target of <see cref="MultiUserAudioOptions.RhythmWeight"/>: each window's tempogram, the autocorrelation of an
/// onset envelope computed from the window's own standardised MFCC frames. A beat period of k frames shows as a peak at
/// lag k, so a tempo is a position along many values rather than one number, and a user vector can weigh it as a bump
/// around the listener's tempo (docs/recommendation.md, "Tempo from plays: a rhythm read-out").
/// </summary>
/// <remarks>
/// Written here by hand: it runs on whole training batches inside the TorchSharp graph (on the GPU when training is
/// there), from the MFCC frames the trainer already holds. NWaves and librosa-style onset and tempogram code work on
/// the signal or the spectrum, one clip at a time, which the song windows no longer carry.
/// The onset envelope at frame t is the half-wave rectified rise of every coefficient from frame t − 1 to t, summed
/// over coefficients (a cepstral spectral flux); it is centred over the window, and its autocorrelation at each lag is
/// divided by its energy (lag 0), so the values lie in [−1, 1] whatever the window's loudness.
/// </remarks>
internal static class WindowTempogram
{
    /// <summary>The shortest lag, in seconds: a beat period of 0.1 s is 600 bpm.</summary>
    public const double ShortestLagSeconds = 0.1;

    /// <summary>The longest lag, in seconds: a beat period of 1.5 s is 40 bpm.</summary>
    public const double LongestLagSeconds = 1.5;

    /// <summary>
    /// The first and last lag in frames at <paramref name="framesPerSecond"/>, the last capped so that at least a
    /// quarter of the window's onset envelope overlaps itself; null when the window is too short for two lags.
    /// </summary>
    public static (int First, int Last)? Lags(double framesPerSecond, int framesPerWindow)
    {
        int first = Math.Max(1, (int)Math.Round(ShortestLagSeconds * framesPerSecond));
        int last = Math.Min((int)Math.Round(LongestLagSeconds * framesPerSecond), (framesPerWindow - 1) * 3 / 4);
        return last > first ? (first, last) : null;
    }

    /// <summary>
    /// <see cref="MultiUserAudioOptions.RhythmWeight"/>'s read-out: the tempogram of each window, each lag standardised
    /// over the catalog (<see cref="WindowReadout"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The windows are too short for a lag between 0.1 and 1.5 s.</exception>
    public static WindowReadout Readout(MultiUserAudioOptions options, AudioSongWindows songs, Device device, Tensor mean, Tensor std)
    {
        var (first, last) = Lags(songs.Options.FramesPerSecond, songs.FramesPerWindow)
            ?? throw new ArgumentException(
                $"RhythmWeight is {options.RhythmWeight} but the song windows hold {songs.FramesPerWindow} frames at {songs.Options.FramesPerSecond} frames per second, too short for beat periods of "
                + $"{ShortestLagSeconds} to {LongestLagSeconds} s. Set RhythmWeight to 0, or use windows of at least 2 s.",
                nameof(options));
        return WindowReadout.Create(options.EmbeddingSize, last - first + 1, options.RhythmWeight, songs, device, mean, std, x => Compute(x, first, last));
    }

    /// <summary>
    /// The tempogram of each window of <paramref name="standardised"/> ([windows, frames, coefficients], each
    /// coefficient standardised): [windows, last − first + 1], lag <paramref name="first"/> first.
    /// </summary>
    public static Tensor Compute(Tensor standardised, int first, int last)
    {
        long frames = standardised.shape[1];
        var rise = F.relu(standardised.narrow(1, 1, frames - 1).sub(standardised.narrow(1, 0, frames - 1))).sum(2);
        var onset = rise.sub(rise.mean([1], keepdim: true));
        long length = frames - 1;
        using var tiny = 1e-6.ToScalar();
        var energy = onset.pow(TorchScalars.Two).sum(1).add(tiny, TorchScalars.One).unsqueeze(1);
        var lagged = new Tensor[last - first + 1];
        for (int k = first; k <= last; k++)
        {
            lagged[k - first] = onset.narrow(1, 0, length - k).mul(onset.narrow(1, k, length - k)).sum(1);
        }

        return stack(lagged, 1).div(energy);
    }
}
