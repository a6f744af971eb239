using Microsoft.ML;

namespace MLNetAudio.Cli;

/// <summary>Loading models, with the stages of nested chains listed in order.</summary>
internal static class Models
{
    public static ITransformer Load(MLContext ml, string path)
    {
        if (!File.Exists(path))
        {
            throw new CliInputException($"{path}: no such model file.");
        }

        return ml.Audio().Model.Load(path, out _);
    }

    public static IEnumerable<ITransformer> Flatten(ITransformer model) => MLNetAudio.Data.AudioModelCatalog.Flatten(model);
}
