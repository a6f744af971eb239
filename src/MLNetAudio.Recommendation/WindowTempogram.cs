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

/// <summary>
/// <see cref="MultiUserAudioOptions.RhythmWeight"/>'s read-out: a linear map from the window embedding to the window's
/// <see cref="WindowTempogram"/>, each lag standardised by its mean and deviation over the windows of up to 500 songs
/// of the catalog (cold songs included: no plays are read), and the weighted mean squared error between them.
/// </summary>
internal sealed class RhythmTarget : IDisposable
{
    private readonly int _first, _last;
    private readonly Tensor _lagMean, _lagStd;
    private readonly double _weight;

    private RhythmTarget(nn.Module<Tensor, Tensor> head, int first, int last, Tensor lagMean, Tensor lagStd, double weight)
    {
        Head = head;
        _first = first;
        _last = last;
        _lagMean = lagMean;
        _lagStd = lagStd;
        _weight = weight;
    }

    /// <summary>The read-out, trained with the encoder and dropped after training.</summary>
    public nn.Module<Tensor, Tensor> Head { get; }

    /// <summary>Makes the read-out (after every other module, so the other modules' initial weights stay as without it) and the lag statistics.</summary>
    /// <exception cref="ArgumentException">The windows are too short for a lag between 0.1 and 1.5 s.</exception>
    public static RhythmTarget Create(MultiUserAudioOptions options, AudioSongWindows songs, Device device, Tensor mean, Tensor std)
    {
        var lags = WindowTempogram.Lags(songs.Options.FramesPerSecond, songs.FramesPerWindow)
            ?? throw new ArgumentException(
                $"RhythmWeight is {options.RhythmWeight} but the song windows hold {songs.FramesPerWindow} frames at {songs.Options.FramesPerSecond} frames per second, too short for beat periods of "
                + $"{WindowTempogram.ShortestLagSeconds} to {WindowTempogram.LongestLagSeconds} s. Set RhythmWeight to 0, or use windows of at least 2 s.",
                nameof(options));
        var (first, last) = lags;
        int count = last - first + 1;
        var sum = new double[count];
        var squares = new double[count];
        long windows = 0;
        int step = Math.Max(1, songs.SongCount / 500);
        using (no_grad())
        {
            for (int s = 0; s < songs.SongCount; s += step)
            {
                using var scope = NewDisposeScope();
                var x = tensor(songs.Windows(s).ToArray(), [songs.WindowCount(s), songs.FramesPerWindow, songs.Coefficients]).to(device).sub(mean).div(std);
                var values = WindowTempogram.Compute(x, first, last).to(ScalarType.Float64).cpu().data<double>().ToArray();
                for (int i = 0; i < values.Length; i++)
                {
                    sum[i % count] += values[i];
                    squares[i % count] += values[i] * values[i];
                }

                windows += values.Length / count;
            }
        }

        var lagMean = new float[count];
        var lagStd = new float[count];
        for (int k = 0; k < count; k++)
        {
            double m = sum[k] / windows;
            lagMean[k] = (float)m;
            lagStd[k] = (float)Math.Sqrt(Math.Max(1e-6, (squares[k] / windows) - (m * m)));
        }

        var head = nn.Linear(options.EmbeddingSize, count);
        head.to(device);
        return new RhythmTarget(head, first, last, tensor(lagMean, device: device), tensor(lagStd, device: device), options.RhythmWeight);
    }

    /// <summary>The weighted squared error of the read-out of <paramref name="embedding"/> against the tempogram of <paramref name="standardised"/>.</summary>
    public Tensor Loss(Tensor standardised, Tensor embedding)
    {
        var target = WindowTempogram.Compute(standardised, _first, _last).sub(_lagMean).div(_lagStd).detach();
        using var weight = ((float)_weight).ToScalar();
        return F.mse_loss(Head.call(embedding), target).mul(weight);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Head.Dispose();
        _lagMean.Dispose();
        _lagStd.Dispose();
    }
}
