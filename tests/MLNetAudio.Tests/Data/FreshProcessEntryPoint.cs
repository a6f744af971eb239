using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// The test assembly's own entry point (the project sets <c>GenerateProgramFile</c> to false), so a test can start
/// this very assembly in a new process with <c>dotnet MLNetAudio.Tests.dll</c> and check that a saved model loads
/// there and scores identically. Reusing the test output folder keeps libtorch in one folder only
/// (ENVIRONMENT.md pitfall 2); the test runner (vstest's testhost) never calls this.
/// </summary>
internal static class FreshProcessEntryPoint
{
    /// <summary>The only command: <c>score MODEL DATA COLUMN</c> prints each row's float as its exact bits (hex), one per line.</summary>
    public const string ScoreCommand = "score";

    public static int Main(string[] args)
    {
        if (args.Length != 4 || args[0] != ScoreCommand)
        {
            Console.Error.WriteLine($"usage: {ScoreCommand} MODEL.zip DATA.idv COLUMN");
            return 2;
        }

        // Only what a user's process would do: register the formats its libraries bring, load, transform.
        ScaleTestTransformer.Register();
        var ml = new MLContext(seed: 123);
        var model = ml.Audio().Model.Load(args[1], out _);
        var data = ml.Data.LoadFromBinary(args[2]);
        foreach (float v in model.Transform(data).GetColumn<float>(args[3]))
        {
            Console.WriteLine(BitConverter.SingleToInt32Bits(v).ToString("X8", CultureInfo.InvariantCulture));
        }

        return 0;
    }
}
