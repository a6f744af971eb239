namespace MLNetAudio.Benchmarks;
internal static class Stages
{
    public static void Run()
    {
        var audio = Audio.Synthesize(Audio.Rate, 30);
        foreach (var kind in new[] { MLNetAudio.Features.AudioFeatureKind.PowerSpectrogram, MLNetAudio.Features.AudioFeatureKind.LogMel, MLNetAudio.Features.AudioFeatureKind.Mfcc })
        {
            var ex = Audio.CreateExtractor(new MLNetAudio.Features.MfccSegmenterOptions { FeatureKind = kind });
            int frames = ex.Definition.FrameCount(audio.Length);
            var output = new float[frames * ex.Definition.Coefficients];
            for (int i = 0; i < 5; i++) ex.Compute(audio, frames, output);
            var times = new List<double>();
            for (int i = 0; i < 15; i++) { var t0 = System.Diagnostics.Process.GetCurrentProcess().UserProcessorTime; for (int k = 0; k < 10; k++) ex.Compute(audio, frames, output); times.Add((System.Diagnostics.Process.GetCurrentProcess().UserProcessorTime - t0).TotalMilliseconds / 10); }
            times.Sort();
            Console.WriteLine($"{kind}: {times[7]:0.00} ms, {times[7] * 1000 / frames:0.00} us/frame");
        }
    }
}
