using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The target of <see cref="MultiUserAudioOptions.DirectionWeight"/>: statistics of a window's standardised MFCC frames
/// that change sign when the window is played backwards, so an embedding that gives them has to hold which way time
/// runs in the window. Two kinds:
/// <list type="bullet">
/// <item>the skewness of every coefficient's change over 1, 2, 4 and 8 frames, mean(d³) / mean(d²)^1.5 with
/// d(t) = x(t + L) − x(t): sounds that start sharply and fade slowly (struck and plucked notes, most recorded music)
/// give a positive skew in loudness, and played backwards a negative one;</item>
/// <item>the antisymmetric lagged cross-covariances A_jk(L) = mean_t [x_j(t) x_k(t + L) − x_k(t) x_j(t + L)] of the
/// first <see cref="CrossCoefficients"/> coefficients (j &lt; k) at lags of 0.5, 1 and 1.5 s: which spectral shapes
/// come before which (a low note before a high one, a build-up before a drop).</item>
/// </list>
/// Frame statistics (the MFCC mean and deviation of the baselines) are the same forwards and backwards.
/// </summary>
/// <remarks>
/// Written here by hand: it runs on whole training batches inside the TorchSharp graph from the MFCC frames the trainer
/// already holds; no library at hand computes time-reversal asymmetry statistics on tensors. The skewness is the
/// classic time-reversal asymmetry test of time-series analysis (a stationary process that is reversible has
/// symmetric increments); the cross-covariance form is its multivariate, lagged counterpart.
/// </remarks>
internal static class WindowDirection
{
    /// <summary>The frame differences whose skewness is taken.</summary>
    public static readonly int[] DifferenceLags = [1, 2, 4, 8];

    /// <summary>The cross-covariance lags, in seconds.</summary>
    public static readonly double[] CrossLagSeconds = [0.5, 1.0, 1.5];

    /// <summary>How many of the first coefficients enter the cross-covariances.</summary>
    public const int CrossCoefficients = 8;

    /// <summary>The largest skewness kept: beyond it (a window of near silence with one click) the value is clipped.</summary>
    public const double SkewLimit = 10;

    /// <summary>
    /// The lags that fit a window of <paramref name="framesPerWindow"/> frames: difference lags below half the window,
    /// cross-covariance lags (in frames) at most three quarters of it; null when no difference lag fits.
    /// </summary>
    public static (int[] Differences, int[] Cross)? Lags(double framesPerSecond, int framesPerWindow)
    {
        int[] differences = [.. DifferenceLags.Where(l => 2 * l < framesPerWindow)];
        int[] cross = [.. CrossLagSeconds.Select(s => (int)Math.Round(s * framesPerSecond)).Where(l => l >= 1 && l <= (framesPerWindow - 1) * 3 / 4).Distinct()];
        return differences.Length > 0 ? (differences, cross) : null;
    }

    /// <summary>How many values <see cref="Compute"/> gives per window.</summary>
    public static int Count(int coefficients, (int[] Differences, int[] Cross) lags)
    {
        int k = Math.Min(CrossCoefficients, coefficients);
        return (lags.Differences.Length * coefficients) + (lags.Cross.Length * (k * (k - 1) / 2));
    }

    /// <summary>
    /// The direction statistics of each window of <paramref name="standardised"/> ([windows, frames, coefficients],
    /// each coefficient standardised): [windows, <see cref="Count"/>], the skewness per difference lag (coefficients
    /// in order), then the cross-covariances per lag (pairs j &lt; k in row order).
    /// </summary>
    public static Tensor Compute(Tensor standardised, (int[] Differences, int[] Cross) lags)
    {
        long frames = standardised.shape[1], coefficients = standardised.shape[2];
        var parts = new List<Tensor>();
        using var tiny = 1e-6.ToScalar();
        using var threeHalves = 1.5.ToScalar();
        using var limit = SkewLimit.ToScalar();
        using var negativeLimit = (-SkewLimit).ToScalar();
        foreach (int lag in lags.Differences)
        {
            var d = standardised.narrow(1, lag, frames - lag).sub(standardised.narrow(1, 0, frames - lag));
            var square = d.mul(d);
            var spread = square.mean([1]).add(tiny, TorchScalars.One).pow(threeHalves);
            parts.Add(square.mul(d).mean([1]).div(spread).clamp(negativeLimit, limit));
        }

        int k = (int)Math.Min(CrossCoefficients, coefficients);
        if (k > 1 && lags.Cross.Length > 0)
        {
            using var upper = triu_indices(k, k, 1, device: standardised.device);
            using var width = k.ToScalar();
            using var flat = upper[0].mul(width).add(upper[1], TorchScalars.One);
            var first = standardised.narrow(2, 0, k);
            foreach (int lag in lags.Cross)
            {
                using var count = ((float)(frames - lag)).ToScalar();
                var cross = first.narrow(1, 0, frames - lag).transpose(1, 2).matmul(first.narrow(1, lag, frames - lag)).div(count);
                parts.Add(cross.sub(cross.transpose(1, 2)).flatten(1).index_select(1, flat));
            }
        }

        return cat(parts, 1);
    }

    /// <summary><see cref="MultiUserAudioOptions.DirectionWeight"/>'s read-out: these statistics, each standardised over the catalog (<see cref="WindowReadout"/>).</summary>
    /// <exception cref="ArgumentException">The windows are too short for a frame difference.</exception>
    public static WindowReadout Readout(MultiUserAudioOptions options, AudioSongWindows songs, Device device, Tensor mean, Tensor std)
    {
        var lags = Lags(songs.Options.FramesPerSecond, songs.FramesPerWindow)
            ?? throw new ArgumentException(
                $"DirectionWeight is {options.DirectionWeight} but the song windows hold {songs.FramesPerWindow} frames, too short for a frame difference. Set DirectionWeight to 0, or use windows of at least 3 frames.",
                nameof(options));
        return WindowReadout.Create(options.EmbeddingSize, Count(songs.Coefficients, lags), options.DirectionWeight, songs, device, mean, std, x => Compute(x, lags));
    }
}
