using Microsoft.ML;
using MLNetAudio;
using MLNetAudio.Audio;
using MLNetAudio.Data;
using SharpFuzz;

// Under AFL++ (fuzz/run.sh) each input is decoded as a cursor would decode a row: any exception other than the
// library's typed errors is a crash that AFL records, and so is running out of the memory the script allows
// (DOTNET_GCHeapHardLimit) or of the time (afl-fuzz -t).
string target = args.Length > 0 ? args[0] : "audio";
var ml = new MLContext(seed: 1);

// "stage": the first byte picks a stage format, the rest is its payload, read as a model file's entry would be read
// after its checksum passed. A model file's checksums stop byte mutations before the stage readers, so this target
// reaches them directly. Formats whose loaders need libtorch are left out (the fuzz build carries no native torch).
string[] stageFormats =
[
    "MLNetAudio.AudioLoader", "MLNetAudio.MfccSegmenter", "MLNetAudio.WindowAggregator", "MLNetAudio.PopularityModel",
    "MLNetAudio.ImplicitMatrixFactorizationModel", "MLNetAudio.ItemBasedCollaborativeFilteringModel",
    "MLNetAudio.SeedSongModel", "MLNetAudio.SongSetModel",
];
Fuzzer.OutOfProcess.Run(input =>
{
    using var bytes = new MemoryStream();
    input.CopyTo(bytes);
    bytes.Position = 0;
    if (target == "stage")
    {
        var payload = bytes.ToArray();
        // Find registers a package's formats the way a model file's load does (the recommendation ones live in MLNetAudio.Recommendation).
        string name = payload.Length == 0 ? string.Empty : stageFormats[payload[0] % stageFormats.Length];
        if (payload.Length == 0 || AudioModelFormats.Find(name, AudioModelFormats.AssemblyOfOlderFormat(name)) is not { } format)
        {
            return;
        }

        using var reader = new BinaryReader(new MemoryStream(payload, 1, payload.Length - 1), System.Text.Encoding.UTF8);
        try
        {
            format.Loader(new AudioStageReader(ml, reader, format.CurrentVersion, name, "fuzz"));
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or IOException or FormatException or ArgumentException)
        {
            // What ModelPersistence reports as a damaged entry.
        }

        return;
    }

    if (target == "model")
    {
        try
        {
            ml.Audio().Model.Load(bytes, out _);
        }
        catch (AudioModelFileException)
        {
        }

        return;
    }

    try
    {
        var decoded = AudioDecoder.Decode(bytes, "fuzz-input", default);
        if (decoded.SampleRate != 22050)
        {
            AudioLimits.CheckSongLength("fuzz-input", Resampler.For(decoded.SampleRate, 22050).OutputLength(decoded.Samples.Length), 22050, "resampled, the song holds");
        }

        Resampler.Resample(decoded.Samples, decoded.SampleRate, 22050);
    }
    catch (AudioLoadException)
    {
    }
});
