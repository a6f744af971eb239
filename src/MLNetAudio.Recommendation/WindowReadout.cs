using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Recommendation;

/// <summary>
/// A self-supervised read-out of the window embedding (<see cref="MultiUserAudioOptions.RhythmWeight"/>,
/// <see cref="MultiUserAudioOptions.DirectionWeight"/>): a linear map from the embedding to values computed from the
/// window's own standardised MFCC frames, each value standardised by its mean and deviation over the windows of up to
/// 500 songs of the catalog (cold songs included: no plays are read), and the weighted mean squared error between them.
/// </summary>
internal sealed class WindowReadout : IDisposable
{
    private readonly Func<Tensor, Tensor> _target;
    private readonly Tensor _valueMean, _valueStd;
    private readonly double _weight;

    private WindowReadout(nn.Module<Tensor, Tensor> head, Func<Tensor, Tensor> target, Tensor valueMean, Tensor valueStd, double weight)
    {
        Head = head;
        _target = target;
        _valueMean = valueMean;
        _valueStd = valueStd;
        _weight = weight;
    }

    /// <summary>The read-out, trained with the encoder and dropped after training.</summary>
    public nn.Module<Tensor, Tensor> Head { get; }

    /// <summary>
    /// The per-value statistics of <paramref name="target"/> ([windows, frames, coefficients] standardised frames to
    /// [windows, <paramref name="count"/>]) over the catalog, then the read-out (made last, so the other modules'
    /// initial weights stay as without it).
    /// </summary>
    public static WindowReadout Create(int embeddingSize, int count, double weight, AudioSongWindows songs, Device device, Tensor mean, Tensor std, Func<Tensor, Tensor> target)
    {
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
                var values = target(x).to(ScalarType.Float64).cpu().data<double>().ToArray();
                for (int i = 0; i < values.Length; i++)
                {
                    sum[i % count] += values[i];
                    squares[i % count] += values[i] * values[i];
                }

                windows += values.Length / count;
            }
        }

        var valueMean = new float[count];
        var valueStd = new float[count];
        for (int k = 0; k < count; k++)
        {
            double m = sum[k] / windows;
            valueMean[k] = (float)m;
            valueStd[k] = (float)Math.Sqrt(Math.Max(1e-6, (squares[k] / windows) - (m * m)));
        }

        var head = nn.Linear(embeddingSize, count);
        head.to(device);
        return new WindowReadout(head, target, tensor(valueMean, device: device), tensor(valueStd, device: device), weight);
    }

    /// <summary>The weighted squared error of the read-out of <paramref name="embedding"/> against the values of <paramref name="standardised"/>.</summary>
    public Tensor Loss(Tensor standardised, Tensor embedding)
    {
        var target = _target(standardised).sub(_valueMean).div(_valueStd).detach();
        using var weight = ((float)_weight).ToScalar();
        return F.mse_loss(Head.call(embedding), target).mul(weight);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Head.Dispose();
        _valueMean.Dispose();
        _valueStd.Dispose();
    }
}
