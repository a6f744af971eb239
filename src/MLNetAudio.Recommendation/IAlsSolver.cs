using TorchSharp;

namespace MLNetAudio.Recommendation;

/// <summary>
/// One weighted-ALS solver: the tensor one (<see cref="ImplicitAls"/>: exact batched Cholesky, or conjugate gradient on
/// CUDA) or the managed CPU one (<see cref="ConjugateGradientAls"/>). Both start from the same factors for a seed.
/// </summary>
internal interface IAlsSolver : IDisposable
{
    /// <summary>The play matrix being factorised.</summary>
    PlayMatrix Plays { get; }

    /// <summary>Where the factors live.</summary>
    torch.Device Device { get; }

    /// <summary>The user half-step; <paramref name="round"/> (1-based) is for the message of a <see cref="NonFiniteTrainingException"/>.</summary>
    void SolveUsers(int? round = null);

    /// <summary>The song half-step.</summary>
    void SolveSongs(int? round = null);

    /// <summary>Replaces the song factors (songs x rank, by rows); tests start a half-step from known values.</summary>
    void SetSongFactors(float[] values);

    /// <summary>Hu et al.'s weighted objective at the current factors.</summary>
    double Loss();

    /// <summary>A copy of the user factors (users x rank, by rows).</summary>
    float[] UserFactorsArray();

    /// <summary>A copy of the song factors (songs x rank, by rows).</summary>
    float[] SongFactorsArray();
}
