// Scorer speed: TorchSharp training step time (compare with peer_torch_train.py), Fit's data path, and scoring a
// 3-minute song at a 1 s hop window by window vs with the shared convolution vs ONNX Runtime. Stopwatch medians,
// one thread.
// Usage: dotnet run -c Release --project benchmarks/MLNetAudio.ScorerBenchmarks -- [train|fit|score|all|step|parts|lstm|roofline] [steps]
// (step, parts, lstm and roofline break the 2-D training step down: its phases, its pieces, the LSTM head alone, and
// GEMM rates at its shapes; docs/benchmarks.md, "the training step, fused operations").
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetAudio;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

string mode = args.Length > 0 ? args[0] : "all";
int steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
torch.set_num_threads(1);
Console.WriteLine($"TorchSharp, libtorch threads {torch.get_num_threads()}, OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")}");

const int Batch = 32, Frames = 400, Coefficients = 40;
if (mode is "train" or "all")
{
    // Each form with the library's layers (GEMM) and, in the same run, libtorch's nn.Conv/nn.LSTM (oneDNN kernels,
    // what the library used before; labelled "/libtorch" so run-scorer-bench.sh's PyTorch ratio reads the GEMM line).
    // "/unfused": the library's layers as they ran before the fused operations (convolution module, ReLU and pooling
    // one by one under libtorch's autograd, LSTM stepped with lstm_cell). The three take turns step by step (same
    // seed, data and optimiser), so a change of machine load hits them alike; the ratios are per run.
    foreach (var form in new[] { ConvolutionForm.Conv2dTimeOnly, ConvolutionForm.Conv1dAllCoefficients })
    {
        var kinds = new (string Label, TimeConvLayers Layers, bool Fused)[] { (form + "/libtorch", TimeConvLayers.LibTorch, false), (form + "/unfused", TimeConvLayers.Gemm, false), (form.ToString(), TimeConvLayers.Gemm, true) };
        var runs = kinds.Select(k =>
        {
            torch.random.manual_seed(1);
            var net = new TimeConvNetwork(new TimeConvNetworkSettings(Frames, Coefficients, form), k.Layers) { FusedBlocks = k.Fused };
            return (k.Label, Net: net, Optimizer: new RootedAdam(net.parameters(), 1e-3), Times: new List<double>(), CpuTimes: new List<double>());
        }).ToList();
        using var x = randn(Batch, Frames, Coefficients);
        using var half = 0.5.ToScalar();
        using var y = (rand(Batch) > half).to_type(ScalarType.Float32);
        for (int i = 0; i < steps + 3; i++)
        {
            foreach (var run in runs)
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                using var scope = NewDisposeScope();
                var loss = nn.functional.binary_cross_entropy_with_logits(run.Net.Logits(x), y);
                run.Optimizer.zero_grad();
                loss.backward();
                run.Optimizer.step();
                if (i >= 3)
                {
                    run.Times.Add(clock.Elapsed.TotalMilliseconds);
                    run.CpuTimes.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds);
                }
            }
        }

        // Wall time, and the process's CPU time per step (user + system, all threads; libtorch runs on one): on a
        // machine shared with other work the CPU time is the steadier measure of what a step costs.
        // The fastest step of each is the one least disturbed by other work.
        double before = Median(runs[0].Times), beforeCpu = Median(runs[0].CpuTimes), beforeMin = runs[0].Times.Min();
        foreach (var run in runs)
        {
            double ms = Median(run.Times), cpuMs = Median(run.CpuTimes), minMs = run.Times.Min();
            Console.WriteLine(FormattableString.Invariant($"train {run.Label}: median {ms:F2} ms/step over {steps} steps (batch {Batch} x {Frames} x {Coefficients}), {Batch / ms * 1000:F0} windows/s, {before / ms:F2}x libtorch's speed; CPU time median {cpuMs:F2} ms/step, {beforeCpu / cpuMs:F2}x; fastest step {minMs:F2} ms, {beforeMin / minMs:F2}x"));
            run.Optimizer.Dispose();
            run.Net.Dispose();
        }
    }
}

if (mode is "fit" or "all")
{
    // End-to-end Fit on in-memory songs vs the pure step rate above: what the data path (cursor, shuffle buffer,
    // tensor copies, validation pass) costs. 32 songs x 24 windows, stride 1, no validation, 3 epochs.
    var rng = new Random(1);
    var songs = Enumerable.Range(0, 32).Select(_ => Enumerable.Range(0, 24 * Frames * Coefficients).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
    var data = new InMemorySongs(songs, Frames, Coefficients);
    foreach (var form in new[] { ConvolutionForm.Conv2dTimeOnly, ConvolutionForm.Conv1dAllCoefficients })
    {
    var ml = new MLContext(seed: 1);
    var progress = new List<TrainingProgress>();
    var options = new TimeConvLstmOptions { Epochs = 3, ValidationFraction = 0, TrainingWindowStride = 1, Seed = 1, Threads = 1, Device = TorchDevice.Cpu, ConvolutionForm = form, Progress = new Sync(progress.Add) };
    using var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(data);
    foreach (var p in progress)
    {
        Console.WriteLine(FormattableString.Invariant($"fit {form} epoch {p.Epoch}: {p.TrainingWindows} windows, {p.WindowsPerSecond:F0} windows/s end to end, {p.DataPathShare:P1} of the training time outside the optimisation steps"));
    }
    }
}

if (mode is "score" or "all")
{
    // The default model (2-D form, 20 MFCCs) first, then 40 coefficients in both forms; each with the library's
    // layers and, in the same run, libtorch's (before).
    var cases = new[] { (ConvolutionForm.Conv2dTimeOnly, 20), (ConvolutionForm.Conv2dTimeOnly, Coefficients), (ConvolutionForm.Conv1dAllCoefficients, Coefficients) }
        .SelectMany(c => new[] { (c.Item1, c.Item2, TimeConvLayers.LibTorch), (c.Item1, c.Item2, TimeConvLayers.Gemm) });
    foreach (var (form, coefficients, layers) in cases)
    {
        // A 3-minute song at 50 frames/s: 9000 frames; 8 s windows at a 1 s hop: 173 windows.
        const int SongFrames = 180 * 50, Hop = 50;
        int windows = ((SongFrames - Frames) / Hop) + 1;
        torch.random.manual_seed(1);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(Frames, coefficients, form), layers);
        net.eval();
        using var song = randn(SongFrames, coefficients);
        var starts = Enumerable.Range(0, windows).Select(w => (long)w * Hop).ToArray();
        using var stacked = stack(starts.Select(s => song.narrow(0, s, Frames)).ToArray());
        using var noGrad = no_grad();

        double oneByOne = Time(() =>
        {
            for (int w = 0; w < windows; w++)
            {
                using var scope = NewDisposeScope();
                net.call(stacked.narrow(0, w, 1));
            }
        });
        double batched = Time(() =>
        {
            using var scope = NewDisposeScope();
            net.call(stacked);
        });
        double shared = Time(() =>
        {
            using var scope = NewDisposeScope();
            net.ScoreOverlappingWindows(song, starts);
        });
        using var a = net.call(stacked);
        using var b = net.ScoreOverlappingWindows(song, starts);
        Console.WriteLine(FormattableString.Invariant($"score {form} {(layers == TimeConvLayers.Gemm ? "GEMM layers" : "libtorch layers (before)")}, 3-minute song ({windows} windows of {Frames} x {coefficients}, hop {Hop} frames), one thread; max |shared - per-window| = {(a - b).abs().max().item<float>():E1}"));
        Console.WriteLine(FormattableString.Invariant($"  per window, one at a time: {oneByOne:F1} ms/song = {1000 / oneByOne:F2} songs/s"));
        Console.WriteLine(FormattableString.Invariant($"  per window, one batch:     {batched:F1} ms/song = {1000 / batched:F2} songs/s"));
        Console.WriteLine(FormattableString.Invariant($"  shared convolution:        {shared:F1} ms/song = {1000 / shared:F2} songs/s ({batched / shared:F2}x the batched per-window path), {180 * 1000 / shared:F0}x real time"));
        if (layers != TimeConvLayers.Gemm)
        {
            continue;
        }

        // The same network exported to ONNX (ml.Audio().Model.ExportOnnx) and run by ONNX Runtime on one thread: it
        // scores windows independently (no shared convolution), all of a song's windows as one batch or one per call.
        using var onnxBytes = new MemoryStream();
        var onnx = new MLContext().Audio().Model.ExportOnnx(net, onnxBytes);
        using var sessionOptions = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        using var session = new InferenceSession(onnxBytes.ToArray(), sessionOptions);
        float[] windowValues = stacked.contiguous().data<float>().ToArray();
        float[] RunOnnx(int first, int count)
        {
            var input = new DenseTensor<float>(windowValues.AsMemory(first * Frames * coefficients, count * Frames * coefficients), [count, Frames, coefficients]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor(onnx.InputName, input)]);
            return results[0].AsTensor<float>().ToArray();
        }

        double onnxOneByOne = Time(() =>
        {
            for (int w = 0; w < windows; w++)
            {
                RunOnnx(w, 1);
            }
        });
        double onnxBatched = Time(() => RunOnnx(0, windows));
        float[] torchScores = a.data<float>().ToArray();
        float onnxDiff = RunOnnx(0, windows).Zip(torchScores, (x, y) => Math.Abs(x - y)).Max();
        Console.WriteLine(FormattableString.Invariant($"  ONNX Runtime {OrtEnv.Instance().GetVersionString()}, one thread, one window per call: {onnxOneByOne:F1} ms/song = {1000 / onnxOneByOne:F2} songs/s"));
        Console.WriteLine(FormattableString.Invariant($"  ONNX Runtime, one thread, all windows in one batch:  {onnxBatched:F1} ms/song = {1000 / onnxBatched:F2} songs/s; max |onnx - torch| = {onnxDiff:E1}"));
    }
}

if (mode == "parts")
{
    // Where a 2-D training step's time goes: the convolution stack and the head, forward and forward + backward.
    foreach (bool fused in new[] { false, true })
    {
        torch.random.manual_seed(1);
        using var net = new TimeConvNetwork(new TimeConvNetworkSettings(Frames, Coefficients)) { FusedBlocks = fused };
        using var x = randn(Batch, Frames, Coefficients);
        using var feats = net.Features(x).detach().requires_grad_();
        double convFwd = Time(() => { using var f = net.Features(x); });
        double convBoth = Time(() => { using var f = net.Features(x); using var l = f.sum(); l.backward(); });
        double headFwd = Time(() => { using var l = net.HeadLogits(feats); });
        double headBoth = Time(() => { using var l = net.HeadLogits(feats).sum(); l.backward(); });
        Console.WriteLine(FormattableString.Invariant($"parts fused={fused}: convolutions fwd {convFwd:F1} ms, fwd+bwd {convBoth:F1} ms; head fwd {headFwd:F1} ms, fwd+bwd {headBoth:F1} ms"));
        foreach (var form in new[] { ConvolutionForm.Conv2dTimeOnly, ConvolutionForm.Conv1dAllCoefficients })
        {
            torch.random.manual_seed(1);
            using var scorer = new TimeConvNetwork(new TimeConvNetworkSettings(Frames, Coefficients, form)) { FusedBlocks = fused };
            using var one = randn(1, Frames, Coefficients);
            using var many = randn(173, Frames, Coefficients);
            using var noGrad = no_grad();
            double single = Time(() => { using var p = scorer.forward(one); });
            double batched = Time(() => { using var p = scorer.forward(many); });
            Console.WriteLine(FormattableString.Invariant($"  scoring (no gradient) {form}, fused={fused}: one window {single:F2} ms, 173 windows in one batch {batched:F1} ms"));
        }
    }
}

if (mode == "step")
{
    // One fused 2-D training step split into its phases (minimum and median over the steps; the minimum is the
    // least disturbed by other load on a shared machine).
    torch.random.manual_seed(1);
    using var net = new TimeConvNetwork(new TimeConvNetworkSettings(Frames, Coefficients));
    using var optimizer = new RootedAdam(net.parameters(), 1e-3);
    using var x = randn(Batch, Frames, Coefficients);
    using var half = 0.5.ToScalar();
    using var y = (rand(Batch) > half).to_type(ScalarType.Float32);
    var phases = new Dictionary<string, List<double>>();
    void Add(string phase, Stopwatch clock)
    {
        (phases.TryGetValue(phase, out var list) ? list : phases[phase] = []).Add(clock.Elapsed.TotalMilliseconds);
        clock.Restart();
    }

    for (int i = 0; i < steps + 3; i++)
    {
        using var scope = NewDisposeScope();
        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        var features = net.Features(x);
        Add("convolutions forward", clock);
        var loss = nn.functional.binary_cross_entropy_with_logits(net.HeadLogits(features), y);
        Add("head forward + loss", clock);
        optimizer.zero_grad();
        loss.backward();
        Add("backward (all)", clock);
        optimizer.step();
        Add("optimiser", clock);
        Add("step", total);
    }

    foreach (var (phase, times) in phases)
    {
        var kept = times.Skip(3).ToList();
        Console.WriteLine(FormattableString.Invariant($"step {phase,-22}: min {kept.Min(),7:F2} ms, median {Median(kept),7:F2} ms"));
    }
}

if (mode == "lstm")
{
    // The LSTM head alone without gradient (scoring): one operation (LstmSequence) against lstm_cell steps.
    foreach (int inputs in new[] { 16, 640 })
    {
        using var lstm = GemmLstm.Create(inputs, 64);
        var p = lstm.state_dict();
        using var noGrad = no_grad();
        foreach (int batch in new[] { 1, 173 })
        {
            using var sequence = randn(batch, 50, inputs);
            double sequenceMs = Time(() => { using var h = LstmSequence.Apply(sequence, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"]); });
            double cellMs = Time(() => { using var h = lstm.call(sequence); });
            Console.WriteLine(FormattableString.Invariant($"lstm {inputs} inputs, batch {batch}, no gradient: LstmSequence {sequenceMs:F2} ms, lstm_cell steps {cellMs:F2} ms"));
        }
    }
}

if (mode == "roofline")
{
    // What one core can do at the training step's shapes (2-D form, batch 32 x 400 x 40, 16 channels, LSTM 64):
    // GFLOP/s of libtorch's GEMM (its BLAS) for every product of the forward and backward pass, and a copy's
    // bandwidth, which bounds the element-wise work (ReLU, pooling, padding). docs/benchmarks.md turns these into
    // the best achievable step time.
    void Gemm(string what, long m, long k, long n, bool transposeA = false)
    {
        using var a = transposeA ? randn(k, m) : randn(m, k);
        using var b = randn(k, n);
        using var c = zeros(m, n);
        double ms = Time(() =>
        {
            using var r = transposeA ? a.t().mm(b) : a.mm(b);
        });
        Console.WriteLine(FormattableString.Invariant($"gemm {what,-40} [{m}x{k}]x[{k}x{n}]: {ms,7:F2} ms, {2.0 * m * k * n / ms / 1e6,6:F1} GFLOP/s"));
    }

    long rows1 = 32L * 40 * 402, rows2 = 32L * 40 * 202, rows3 = 32L * 40 * 102;
    Gemm("conv1 fwd (in 1, 3 taps)", rows1, 3, 16);
    Gemm("conv1 fwd transposed (channels first)", 16, 3, rows1);
    using (var x1 = randn(rows1, 1))
    using (var w1 = randn(16))
    using (var y1 = empty(rows1, 16))
    {
        double ms = Time(() =>
        {
            using var r = x1.mul(w1);
            r.addcmul_(x1, w1, TorchScalars.One);
            r.addcmul_(x1, w1, TorchScalars.One);
        });
        Console.WriteLine(FormattableString.Invariant($"conv1 fwd as 3 broadcast multiply-adds: {ms,7:F2} ms"));
    }

    Gemm("conv1 dW (sum over positions)", 48 / 16, rows1, 16, transposeA: true);
    foreach (var (name, rows) in new[] { ("conv2", rows2), ("conv3", rows3) })
    {
        Gemm(name + " fwd, columns (K = 48)", rows, 48, 16);
        Gemm(name + " fwd, one tap (K = 16)", rows, 16, 16);
        Gemm(name + " dW (K = positions)", 48, rows, 16, transposeA: true);
        Gemm(name + " dX, columns (N = 48)", rows, 16, 48);
    }

    // The library's AVX-512 16-channel kernels (TimeConvKernels) against libtorch's GEMM at conv2's shape.
    if (TimeConvKernels.Sixteen(16, 16))
    {
        long positions = rows2 - (2 * 40);
        using var input = randn(rows2, 16);
        using var output = empty(positions, 16);
        var w = randn(3 * 16 * 16).data<float>().ToArray();
        var b = randn(16).data<float>().ToArray();
        using var wt = tensor(w).view(3, 16, 16);
        using var bt = tensor(b);
        for (int round = 0; round < 2; round++)
        {
            double ours = Time(() => TimeConvKernels.Convolve16(input, 0, w, b, output, 0, positions, 0, 40, 80));
            double blas = Time(() =>
            {
                using var y = addmm(bt, input.narrow(0, 0, positions), wt[0], 1f, 1f);
                y.addmm_(input.narrow(0, 40, positions), wt[1], 1f, 1f);
                y.addmm_(input.narrow(0, 80, positions), wt[2], 1f, 1f);
            });
            double oursW = Time(() => TimeConvKernels.WeightGradient16(input, output, 0, positions - 80, 40, 202 * 40));
            double blasW = Time(() =>
            {
                using var d = stack(Enumerable.Range(0, 3).Select(k => input.narrow(0, k * 40, positions - 80).t().mm(output.narrow(0, 0, positions - 80))).ToArray());
            });
            double flop = 2.0 * positions * 48 * 16;
            Console.WriteLine(FormattableString.Invariant($"conv2 forward: Convolve16 {ours:F2} ms ({flop / ours / 1e6:F0} GFLOP/s), three addmm {blas:F2} ms ({flop / blas / 1e6:F0}); weight gradient: WeightGradient16 {oursW:F2} ms ({flop / oursW / 1e6:F0}), three mm {blasW:F2} ms ({flop / blasW / 1e6:F0})"));
        }
    }

    using (var xs = randn(1600, 640))
    using (var wih = randn(256, 640))
    using (var dg = randn(1600, 256))
    {
        using var wihT = wih.t().contiguous();
        for (int round = 0; round < 2; round++)
        {
            double u = Time(() => { using var r = TimeConvKernels.Multiply(xs, wihT); });
            double dxs = Time(() => { using var r = TimeConvKernels.Multiply(dg, wih); });
            double dw = Time(() => { using var r = TimeConvKernels.Multiply(dg.t(), xs); });
            double flop = 2.0 * 1600 * 640 * 256;
            Console.WriteLine(FormattableString.Invariant($"lstm products with TimeConvKernels.Multiply: input projection {u:F2} ms ({flop / u / 1e6:F0} GFLOP/s), dX {dxs:F2} ms ({flop / dxs / 1e6:F0}), dW_ih {dw:F2} ms ({flop / dw / 1e6:F0})"));
        }

        using var check = TimeConvKernels.Multiply(dg.t(), xs);
        using var expected = dg.to(ScalarType.Float64).t().mm(xs.to(ScalarType.Float64));
        Console.WriteLine(FormattableString.Invariant($"  max relative error of dW_ih against float64: {((check.to(ScalarType.Float64) - expected).abs().max() / expected.abs().max()).item<double>():E1}"));
    }

    Gemm("lstm input projection fwd", 1600, 640, 256);
    Gemm("lstm dW_ih", 256, 1600, 640, transposeA: true);
    Gemm("lstm dX", 1600, 256, 640);
    Gemm("lstm recurrent step", 32, 64, 256);
    using var big = randn(32L * 40 * 400 * 16);
    using var dst = empty_like(big);
    double copyMs = Time(() => dst.copy_(big));
    Console.WriteLine(FormattableString.Invariant($"copy of {big.numel() * 4 / 1e6:F0} MB (conv1 output): {copyMs:F2} ms, {2 * big.numel() * 4 / copyMs / 1e6:F1} GB/s read + write"));
    double zerosMs = Time(() => { using var z = zeros(big.numel()); });
    double fillMs = Time(() => dst.zero_());
    Console.WriteLine(FormattableString.Invariant($"zeros() of {big.numel() * 4 / 1e6:F0} MB, fresh: {zerosMs:F2} ms; zero_() of an existing one: {fillMs:F2} ms (the difference is first-touch page faults)"));
    double reluMs = Time(() => big.relu_());
    Console.WriteLine(FormattableString.Invariant($"relu_ in place on it: {reluMs:F2} ms"));
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

static double Time(Action action)
{
    action();
    var times = new List<double>();
    for (int i = 0; i < 7; i++)
    {
        var clock = Stopwatch.StartNew();
        action();
        times.Add(clock.Elapsed.TotalMilliseconds);
    }

    return Median(times);
}

internal sealed class Sync(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

/// <summary>Songs shaped like MfccSegmenter's output (windows flattened), all labelled alternately.</summary>
internal sealed class InMemorySongs : IDataView
{
    private readonly float[][] _songs;

    public InMemorySongs(float[][] songs, int frames, int coefficients)
    {
        _songs = songs;
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add("FramesPerSecond", NumberDataViewType.Double, (ref double v) => v = 50);
        annotations.Add("WindowSeconds", NumberDataViewType.Double, (ref double v) => v = frames / 50.0);
        annotations.Add("WindowHopSeconds", NumberDataViewType.Double, (ref double v) => v = frames / 50.0);
        var builder = new DataViewSchema.Builder();
        builder.AddColumn("Windows", new VectorDataViewType(NumberDataViewType.Single, 0, frames, coefficients), annotations.ToAnnotations());
        builder.AddColumn("Label", BooleanDataViewType.Instance);
        Schema = builder.ToSchema();
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _songs.Length;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(this)];

    private sealed class Cursor(InMemorySongs data) : DataViewRowCursor
    {
        private int _row = -1;

        public override long Position => _row;

        public override long Batch => 0;

        public override DataViewSchema Schema => data.Schema;

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext() => ++_row < data._songs.Length;

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId v) => v = new DataViewRowId((ulong)_row, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => column.Index == 0
            ? (ValueGetter<TValue>)(Delegate)(ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) => v = new VBuffer<float>(data._songs[_row].Length, data._songs[_row]))
            : (ValueGetter<TValue>)(Delegate)(ValueGetter<bool>)((ref bool v) => v = _row % 2 == 0);
    }
}
