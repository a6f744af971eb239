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
Fuzzer.OutOfProcess.Run(input =>
{
    using var bytes = new MemoryStream();
    input.CopyTo(bytes);
    bytes.Position = 0;
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
