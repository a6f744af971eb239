using BenchmarkDotNet.Running;
using MLNetAudio.Benchmarks;

// --quick [--audio file.f32] [--repeats N]: a stopwatch comparison printing x real time (seconds of audio per second);
// anything else goes to BenchmarkDotNet (e.g. --filter *Mfcc*).
if (args.Contains("--stages")) { Stages.Run(); return; }
if (args.Contains("--quick"))
{
    int at = Array.IndexOf(args, "--audio");
    int rp = Array.IndexOf(args, "--repeats");
    Quick.Run(at >= 0 ? args[at + 1] : null, rp >= 0 ? int.Parse(args[rp + 1], System.Globalization.CultureInfo.InvariantCulture) : 21);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(MfccBenchmarks).Assembly).Run(args);
