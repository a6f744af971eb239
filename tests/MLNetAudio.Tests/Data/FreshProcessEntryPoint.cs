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
    /// <c>score MODEL DATA COLUMN [COLUMN ...]</c> prints, per row and column, the Single values
    /// (a scalar or a vector) as their exact bits (see <see cref="Format"/>).
    /// </summary>
    public const string ScoreCommand = "score";

    /// <summary>
    /// <c>simulate SEED</c> prints <see cref="SimulationFingerprint"/>: a listening simulation and its rendered songs
    /// must be the same in every process.
    /// </summary>
    public const string SimulateCommand = "simulate";

    /// <summary>
    /// <c>recommend MODEL SONG [SONG ...]</c> loads a file holding one multi-user audio model and prints, as exact bits,
    /// every user's scores for every song (<c>ScoreUsers</c>) and the fold-in vector of a new user who played the
    /// given song keys.
    /// </summary>
    public const string RecommendCommand = "recommend";

    /// <summary>
    /// <c>onednn-probe library|control</c>: trains and scores every network form through the library's layers, or
    /// runs one libtorch float32 convolution (the control); run with oneDNN's verbose log on, see
    /// <see cref="MLNetAudio.Tests.Scoring.OneDnnUsageTests"/>.
    /// </summary>
    public const string OneDnnProbeCommand = "onednn-probe";

    /// <summary>
    /// <c>other-machine reference|libtorch-layers|cuda|tests CLASS...</c>: the checks of <see cref="MLNetAudio.Tests.Scoring.OtherMachineChecks"/>,
    /// for a machine without the .NET SDK (build/other-machine-check.sh).
    /// </summary>
    public const string OtherMachineCommand = "other-machine";

    /// <summary>
    /// <c>train-checkpointed DIR|- EPOCHS OUT</c>: the training run of <see cref="MLNetAudio.Tests.Scoring.CheckpointedTraining"/>
    /// with checkpoints in DIR; writes the final weights' fingerprint to OUT (see <see cref="MLNetAudio.Tests.Scoring.TrainingCheckpointTests"/>).
    /// </summary>
    public const string TrainCheckpointedCommand = "train-checkpointed";

    /// <summary>
    /// <c>train-multi-user-checkpointed DIR|- EPOCHS OUT</c>: the multi-user training run of
    /// <see cref="MLNetAudio.Tests.Recommendation.CheckpointedMultiUserTraining"/> with checkpoints in DIR; writes the model's
    /// fingerprint to OUT (see <see cref="MLNetAudio.Tests.Recommendation.MultiUserAudioCheckpointTests"/>).
    /// </summary>
    public const string TrainMultiUserCheckpointedCommand = "train-multi-user-checkpointed";

    /// <summary>
    /// <c>stages MODEL FORMAT</c> loads a model file as an application would and prints whether the stage format FORMAT
    /// was registered before the load, then each stage's type and assembly: a recommendation stage's format is
    /// registered only when the core's loader finds it through the assembly name the file records (or, for older
    /// files, through its format name); nothing in this process registers it beforehand.
    /// </summary>
    public const string StagesCommand = "stages";

    public static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == OtherMachineCommand)
        {
            // other-machine reference | libtorch-layers | cuda: see Scoring/OtherMachineChecks.
            string what = args.Length > 1 ? args[1] : "reference";
            switch (what)
            {
                case "reference":
                    return MLNetAudio.Tests.Scoring.OtherMachineChecks.RunNumericalReference() == 0 ? 0 : 1;
                case "libtorch-layers":
                    MLNetAudio.Tests.Scoring.OtherMachineChecks.ProbeLibTorchLayers(5);
                    return 0;
                case "tests":
                    return MLNetAudio.Tests.Scoring.OtherMachineChecks.RunTests(args[2..]) == 0 ? 0 : 1;
                case "cuda":
                    return MLNetAudio.Tests.Scoring.OtherMachineChecks.ProbeCuda() == 0 ? 0 : 1;
                default:
                    Console.Error.WriteLine($"usage: {OtherMachineCommand} reference|libtorch-layers|cuda|tests CLASS...");
                    return 2;
            }
        }

        if (args.Length == 4 && args[0] == TrainCheckpointedCommand)
        {
            return MLNetAudio.Tests.Scoring.CheckpointedTraining.Run(args[1..]);
        }

        if (args.Length == 4 && args[0] == TrainMultiUserCheckpointedCommand)
        {
            return MLNetAudio.Tests.Recommendation.CheckpointedMultiUserTraining.Run(args[1..]);
        }

        if (args.Length == 3 && args[0] == StagesCommand)
        {
            foreach (string line in LoadStages(args[1], args[2]))
            {
                Console.WriteLine(line);
            }

            return 0;
        }

        if (args.Length == 2 && args[0] == OneDnnProbeCommand)
        {
            MLNetAudio.Tests.Scoring.OneDnnUsageTests.Probe(args[1]);
            return 0;
        }

        if (args.Length >= 3 && args[0] == RecommendCommand)
        {
            var loaded = new MLContext(seed: 123).Audio().Model.Load(args[1], out _);
            using var audio = ((IEnumerable<ITransformer>)loaded).OfType<MLNetAudio.Recommendation.MultiUserAudioModel>().Single();
            foreach (string line in RecommendationFingerprint(audio, args[2..].Select(a => uint.Parse(a, CultureInfo.InvariantCulture)).ToArray()))
            {
                Console.WriteLine(line);
            }

            return 0;
        }

        if (args.Length == 2 && args[0] == SimulateCommand)
        {
            foreach (string line in SimulationFingerprint(int.Parse(args[1], CultureInfo.InvariantCulture)))
            {
                Console.WriteLine(line);
            }

            return 0;
        }

        if (args.Length < 4 || args[0] != ScoreCommand)
        {
            Console.Error.WriteLine($"usage: {ScoreCommand} MODEL.zip DATA.idv COLUMN [COLUMN ...] | {SimulateCommand} SEED | {RecommendCommand} MODEL.zip SONG [SONG ...] | {OneDnnProbeCommand} library|control");
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

    /// <summary>What <see cref="StagesCommand"/> prints.</summary>
    private static List<string> LoadStages(string path, string format)
    {
        var lines = new List<string> { $"before: {format} registered={MLNetAudio.Data.AudioModelFormats.TryGet(format, out _)}" };
        var model = new MLContext(seed: 1).Audio().Model.Load(path, out _);
        foreach (var stage in MLNetAudio.Data.AudioModelCatalog.Flatten(model))
        {
            lines.Add($"stage: {stage.GetType().FullName} from {stage.GetType().Assembly.GetName().Name}");
            (stage as IDisposable)?.Dispose();
        }

        lines.Add($"after: {format} registered={MLNetAudio.Data.AudioModelFormats.TryGet(format, out _)}");
        return lines;
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

    /// <summary>One line per user with the bits of its scores for every song, then one with the fold-in vector's bits.</summary>
    public static IEnumerable<string> RecommendationFingerprint(MLNetAudio.Recommendation.MultiUserAudioModel model, uint[] playedSongKeys)
    {
        var scores = new float[model.UserCount * model.SongCount];
        model.ScoreUsers(0, model.UserCount, scores);
        for (int u = 0; u < model.UserCount; u++)
        {
            yield return $"user {u + 1}: " + string.Join(",", scores.AsSpan(u * model.SongCount, model.SongCount).ToArray().Select(Bits));
        }

        yield return "fold-in: " + string.Join(",", model.FoldInUser(playedSongKeys, steps: 50).Select(Bits));
    }

    /// <summary>
    /// One line with the SHA-256 of a small simulation's training plays, then one line per song with the SHA-256 of
    /// its rendered samples' bits.
    /// </summary>
    public static IEnumerable<string> SimulationFingerprint(int seed)
    {
        var simulator = new MLNetAudio.Recommendation.ListeningSimulator(
            new MLNetAudio.Recommendation.ListeningSimulatorOptions { SongCount = 12, UserCount = 10, MeanSongsPerUser = 4, Seed = seed });
        string plays = string.Join(";", simulator.Training.Select(e => FormattableString.Invariant($"{e.UserId},{e.SongId}")));
        yield return "plays: " + Sha(System.Text.Encoding.UTF8.GetBytes(plays));
        var options = new MLNetAudio.Recommendation.AudioSongOptions { SampleRate = 8000, RenderSeconds = 4, SectionSeconds = 2, WindowSeconds = 2, Seed = seed };
        foreach (var song in simulator.Songs)
        {
            var samples = MLNetAudio.Recommendation.AudioSongRenderer.Render(song, options);
            yield return $"song {song.Key}: " + Sha(System.Runtime.InteropServices.MemoryMarshal.AsBytes(samples.AsSpan()).ToArray());
        }
    }

    private static string Sha(byte[] bytes) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));

    private static string Bits(float v) => BitConverter.SingleToInt32Bits(v).ToString("X8", CultureInfo.InvariantCulture);
}
