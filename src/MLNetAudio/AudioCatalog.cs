using Microsoft.ML;

namespace MLNetAudio;

/// <summary>Entry point of MLNetAudio's own catalog: <c>ml.Audio()</c>.</summary>
public static class MLContextAudioExtensions
{
    /// <summary>
    /// Returns MLNetAudio's catalog (trainers, model save/load, ONNX export, recommendation helpers).
    /// Named <c>Audio</c> so it never clashes with <c>ml.Recommendation()</c> of Microsoft.ML.Recommender.
    /// </summary>
    public static AudioCatalog Audio(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new AudioCatalog(mlContext);
    }
}

/// <summary>MLNetAudio's catalog, reached through <c>ml.Audio()</c>. Each area adds its members in its own file.</summary>
public sealed partial class AudioCatalog
{
    internal AudioCatalog(MLContext mlContext)
    {
        Context = mlContext;
    }

    /// <summary>The context this catalog was made from; its seed drives every random choice.</summary>
    public MLContext Context { get; }
}
