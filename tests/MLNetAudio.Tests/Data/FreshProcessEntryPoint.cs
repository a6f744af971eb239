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
    /// <summary>
    /// The only command: <c>score MODEL DATA COLUMN [COLUMN ...]</c> prints, per row and column, the Single values
    /// (a scalar or a vector) as their exact bits (see <see cref="Format"/>).
    /// </summary>
    public const string ScoreCommand = "score";

    public static int Main(string[] args)
    {
        if (args.Length < 4 || args[0] != ScoreCommand)
        {
            Console.Error.WriteLine($"usage: {ScoreCommand} MODEL.zip DATA.idv COLUMN [COLUMN ...]");
            return 2;
        }

        // Only what a user's process would do: register the formats its libraries bring, load, transform.
        ScaleTestTransformer.Register();
        var ml = new MLContext(seed: 123);
        var model = ml.Audio().Model.Load(args[1], out _);
        var data = ml.Data.LoadFromBinary(args[2]);
        foreach (string line in Format(model.Transform(data), args[3..]))
        {
            Console.WriteLine(line);
        }

        return 0;
    }

    /// <summary>One line per row and column: <c>column: bits,bits,...</c>, each Single as 8 hex digits of its bits.</summary>
    public static IEnumerable<string> Format(IDataView scored, IReadOnlyList<string> columns)
    {
        var cols = columns.Select(c => scored.Schema[c]).ToArray();
        using var cursor = scored.GetRowCursor(cols);
        var getters = cols.Select<DataViewSchema.Column, Func<string>>(c =>
        {
            if (c.Type is VectorDataViewType)
            {
                var g = cursor.GetGetter<VBuffer<float>>(c);
                var buffer = default(VBuffer<float>);
                return () =>
                {
                    g(ref buffer);
                    return string.Join(",", buffer.DenseValues().Select(Bits));
                };
            }

            var s = cursor.GetGetter<float>(c);
            return () =>
            {
                float v = 0;
                s(ref v);
                return Bits(v);
            };
        }).ToArray();
        var lines = new List<string>();
        while (cursor.MoveNext())
        {
            for (int i = 0; i < cols.Length; i++)
            {
                lines.Add($"{cols[i].Name}: {getters[i]()}");
            }
        }

        return lines;
    }

    private static string Bits(float v) => BitConverter.SingleToInt32Bits(v).ToString("X8", CultureInfo.InvariantCulture);
}
