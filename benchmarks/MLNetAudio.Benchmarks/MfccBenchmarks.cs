using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Features;
using NWaves.FeatureExtractors;
using NWaves.FeatureExtractors.Options;
using NWaves.Windows;

namespace MLNetAudio.Benchmarks;

/// <summary>
/// MFCC of one song, one thread: MLNetAudio's extractor (MfccSegmenterOptions defaults: 2048-point FFT, 20 ms hop,
/// 128 Slaney mel bands, 20 coefficients) against NWaves' MfccExtractor with the same frame, hop, FFT and bank sizes.
/// </summary>
[MemoryDiagnoser]
public class MfccBenchmarks
{
    private float[] _audio = [];
    private SpectralExtractor _ours = null!;
    private MfccExtractor _nwaves = null!;
    private float[] _output = [];
    private int _frames;

    /// <summary>Seconds of audio per song.</summary>
    [Params(30)]
    public int Seconds { get; set; }

    [GlobalSetup]
    public void Setup() => Prepare(Audio.Synthesize(Audio.Rate, Seconds));

    /// <summary>FFT (and frame) size in samples.</summary>
    [Params(2048, 512)]
    public int FftSize { get; set; } = 2048;

    public void Prepare(float[] audio)
    {
        _audio = audio;
        _ours = Audio.CreateExtractor(new MfccSegmenterOptions { FftSize = FftSize });
        _frames = _ours.Definition.FrameCount(_audio.Length);
        _output = new float[_frames * _ours.Definition.Coefficients];
        _nwaves = new MfccExtractor(new MfccOptions
        {
            SamplingRate = Audio.Rate,
            FeatureCount = 20,
            FrameSize = FftSize,
            HopSize = 441,
            FftSize = FftSize,
            FilterBankSize = 128,
            Window = WindowType.Hann,
        });
    }

    [Benchmark(Baseline = true)]
    public float MLNetAudio()
    {
        _ours.Compute(_audio, _frames, _output);
        return _output[0];
    }

    [Benchmark]
    public float NWaves() => _nwaves.ComputeFrom(_audio)[0][0];

    public double SecondsOfAudio => (double)_audio.Length / Audio.Rate;
}

internal static class Audio
{
    public const int Rate = 22050;

    /// <summary>Builds the extractor the segmenter would build for a 22050 Hz column.</summary>
    public static SpectralExtractor CreateExtractor(MfccSegmenterOptions options)
    {
        var ml = new MLContext(1);
        var def = SchemaDefinition.Create(typeof(Row));
        def["X"].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        def["X"].AddAnnotation("SampleRate", Rate, NumberDataViewType.Int32);
        var data = ml.Data.LoadFromEnumerable(new[] { new Row() }, def);
        var transformer = ml.Transforms.SegmentMfcc("W", "X", options).Fit(data);
        return new SpectralExtractor(transformer.BindCore(data.Schema).Definition);
    }

    public static float[] Synthesize(int rate, int seconds)
    {
        var x = new float[rate * seconds];
        var rng = new Random(7);
        for (int i = 0; i < x.Length; i++)
        {
            double t = (double)i / rate;
            x[i] = (float)((0.3 * Math.Sin(2 * Math.PI * 220 * t * (1 + (0.1 * Math.Sin(t))))) + (0.1 * Math.Sin(2 * Math.PI * 1760 * t)) + (0.05 * (rng.NextDouble() - 0.5)));
        }

        return x;
    }

    public static float[] ReadRaw(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var x = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, x, 0, x.Length * 4);
        return x;
    }

    public sealed class Row
    {
        public float[] X { get; set; } = [];
    }
}

/// <summary>The --quick mode: a plain stopwatch, median of several runs, in seconds of audio per second.</summary>
internal static class Quick
{
    public static void Run(string? audioPath, int repeats, int fftSize)
    {
        var audio = audioPath is null ? Audio.Synthesize(Audio.Rate, 30) : Audio.ReadRaw(audioPath);
        var b = new MfccBenchmarks { FftSize = fftSize };
        b.Prepare(audio);
        var (ours, oursCpu) = Measure(() => b.MLNetAudio(), repeats);
        var (nwaves, nwavesCpu) = Measure(() => b.NWaves(), Math.Max(3, repeats / 3));
        var (pipeline, _) = Measure(SegmentThroughPipeline(audio, fftSize), Math.Max(3, repeats / 3));
        double seconds = b.SecondsOfAudio;
        Console.WriteLine($"audio: {seconds:0.##} s at {Audio.Rate} Hz ({(audioPath ?? "synthetic")}); settings: FFT {fftSize}, hop 441, 128 Slaney mels, 20 MFCC; 1 thread");
        Console.WriteLine($"mlnetaudio_x_realtime {seconds / ours:0}");
        Console.WriteLine($"nwaves_x_realtime {seconds / nwaves:0}");
        Console.WriteLine($"mlnetaudio_over_nwaves {nwaves / ours:0.00}");
        Console.WriteLine($"mlnetaudio_cpu_x_realtime {seconds / oursCpu:0}");
        Console.WriteLine($"nwaves_cpu_x_realtime {seconds / nwavesCpu:0}");
        Console.WriteLine($"segmenter_pipeline_x_realtime {seconds / pipeline:0} (ml.Transforms.SegmentMfcc: 8 s windows, 1 s hop, read through a cursor)");
    }

    /// <summary>
    /// The --decode mode: decode (LoadAudio: down-mix, resample to 22050 Hz) plus SegmentMfcc, end to end through
    /// an ML.NET cursor, on the first <paramref name="seconds"/> of a real file; and decoding alone, for the split.
    /// </summary>
    public static void RunDecode(string path, double seconds, int repeats)
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = path } });
        var loader = ml.Transforms.LoadAudio("Audio", "Path", new MLNetAudio.Audio.AudioLoaderOptions { MaxDuration = seconds });
        var decoded = loader.Fit(data).Transform(data);
        var windows = loader.Append(ml.Transforms.SegmentMfcc("W", "Audio")).Fit(data).Transform(data);
        double audioSeconds = decoded.GetColumn<double>("Audio.Duration").First();
        var (decodeOnly, decodeCpu) = Measure(ReadFirst(decoded, "Audio"), repeats);
        var (both, bothCpu) = Measure(ReadFirst(windows, "W"), repeats);
        Console.WriteLine($"audio: {audioSeconds:0.##} s of {path}, decoded to mono 22050 Hz; MFCC defaults (FFT 2048, hop 441, 128 Slaney mels, 20 MFCC), 8 s windows every 1 s; 1 thread");
        Console.WriteLine($"decode_x_realtime {audioSeconds / decodeOnly:0} (cpu {audioSeconds / decodeCpu:0})");
        Console.WriteLine($"decode_mfcc_x_realtime {audioSeconds / both:0} (cpu {audioSeconds / bothCpu:0})");
    }

    private static Func<float> ReadFirst(IDataView view, string name)
    {
        var column = view.Schema[name];
        VBuffer<float> values = default;
        return () =>
        {
            using var cursor = view.GetRowCursor([column]);
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            cursor.MoveNext();
            getter(ref values);
            return values.GetValues()[0];
        };
    }

    private sealed class PathRow
    {
        public string Path { get; set; } = "";
    }

    /// <summary>The whole transformer on a one-song data view, including the window copies.</summary>
    private static Func<float> SegmentThroughPipeline(float[] audio, int fftSize)
    {
        var ml = new MLContext(1);
        var def = SchemaDefinition.Create(typeof(Audio.Row));
        def["X"].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        def["X"].AddAnnotation("SampleRate", Audio.Rate, NumberDataViewType.Int32);
        var data = ml.Data.LoadFromEnumerable(new[] { new Audio.Row { X = audio } }, def);
        var view = ml.Transforms.SegmentMfcc("W", "X", new MfccSegmenterOptions { FftSize = fftSize }).Fit(data).Transform(data);
        var column = view.Schema["W"];
        VBuffer<float> windows = default;
        return () =>
        {
            using var cursor = view.GetRowCursor([column]);
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            cursor.MoveNext();
            getter(ref windows);
            return windows.GetValues()[0];
        };
    }

    /// <summary>
    /// Median wall time of one run, and mean CPU time (this process's user + system time over all runs / runs;
    /// less disturbed than wall time when other processes share the cores).
    /// </summary>
    private static (double Wall, double Cpu) Measure(Func<float> run, int repeats)
    {
        for (int i = 0; i < 3; i++)
        {
            run();
        }

        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            times[i] = sw.Elapsed.TotalSeconds;
        }

        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds / repeats;
        Array.Sort(times);
        return (times[repeats / 2], cpu);
    }
}
