using BenchmarkDotNet.Running;
using MLNetAudio.Benchmarks;

// --quick [--audio file.f32] [--repeats N] [--n-fft 2048]: a stopwatch comparison printing x real time (seconds of audio per second);
// anything else goes to BenchmarkDotNet (e.g. --filter *Mfcc*).
if (args.Contains("--quick"))
{
    int at = Array.IndexOf(args, "--audio");
    int rp = Array.IndexOf(args, "--repeats");
    int ff = Array.IndexOf(args, "--n-fft");
    var inv = System.Globalization.CultureInfo.InvariantCulture;
    Quick.Run(at >= 0 ? args[at + 1] : null, rp >= 0 ? int.Parse(args[rp + 1], inv) : 21, ff >= 0 ? int.Parse(args[ff + 1], inv) : 2048);
    return;
}

// --decode FILE [--seconds 60] [--repeats N]: decode + MFCC windows end to end on a real file.
if (args.Contains("--decode"))
{
    var inv = System.Globalization.CultureInfo.InvariantCulture;
    int sec = Array.IndexOf(args, "--seconds");
    int rp = Array.IndexOf(args, "--repeats");
    Quick.RunDecode(args[Array.IndexOf(args, "--decode") + 1], sec >= 0 ? double.Parse(args[sec + 1], inv) : 60, rp >= 0 ? int.Parse(args[rp + 1], inv) : 5);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(MfccBenchmarks).Assembly).Run(args);
