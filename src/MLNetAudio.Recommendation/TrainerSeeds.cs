using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The seed convention every trainer of this package shares with TimeConvLstm: an options' Seed when set, otherwise one
/// drawn from the MLContext (through a host registered for the trainer, as ML.NET's own trainers draw theirs), so the
/// same context seed and the same calls give the same model.
/// </summary>
internal static class TrainerSeeds
{
    /// <summary>
    /// <paramref name="seed"/> when set; otherwise the first draw of a host registered on <paramref name="mlContext"/>
    /// under <paramref name="trainerName"/>. A set seed registers nothing, so the context's random stream (and whatever
    /// later components draw from it) is what it was before these options had a null default.
    /// </summary>
    public static int Resolve(MLContext mlContext, int? seed, string trainerName) =>
        seed ?? ((IHostEnvironment)mlContext).Register(trainerName).Rand.Next();
}
