using MLNetAudio.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Scoring;

/// <summary>How the convolution layers read the (coefficient x time) feature image. Both convolve along time only.</summary>
public enum ConvolutionForm
{
    /// <summary>
    /// The seed's literal form: a 2-D convolution over the (coefficient x time) image with kernel (1, 3), padding
    /// (0, 1) and max-pooling (1, 2). Filters never mix coefficients, so the coefficient axis (pitch) survives every
    /// layer; each time step's channels x coefficients values feed the head.
    /// </summary>
    Conv2dTimeOnly,

    /// <summary>
    /// A 1-D convolution along time whose filters span all coefficients at once (kernel 3, padding 1, max-pooling 2),
    /// the design of Dieleman's later Spotify model. Cheaper; pitch is mixed in the first layer.
    /// </summary>
    Conv1dAllCoefficients,
}

/// <summary>What turns the convolution stack's feature sequence into one preference per window.</summary>
public enum NetworkHead
{
    /// <summary>The seed's model: an LSTM over the pooled time sequence; its last state goes through Linear and sigmoid.</summary>
    Lstm,

    /// <summary>
    /// The CNN-only model of the seed's experiment 2: the whole feature map, flattened (time-major: all features of
    /// pooled step 0, then step 1, ...), goes through one Linear layer and sigmoid. Position-dependent by design, and
    /// needs every window to have exactly <see cref="TimeConvNetworkSettings.FramesPerWindow"/> frames.
    /// </summary>
    FullyConnected,
}

/// <summary>Everything needed to rebuild a <see cref="TimeConvNetwork"/> with the same parameter shapes.</summary>
/// <param name="FramesPerWindow">Frames in one window (400 = 8 s at 50 frames per second).</param>
/// <param name="Coefficients">Coefficients per frame (MFCC count, mel bands or spectrogram bins).</param>
/// <param name="ConvolutionForm">2-D time-only (the seed's) or 1-D over all coefficients.</param>
/// <param name="Head">LSTM (the seed's) or fully connected (experiment 2's CNN-only model).</param>
/// <param name="ConvolutionLayers">Convolution + ReLU (+ max-pool, see <see cref="PoolingLayers"/>) blocks; each pooling divides the time axis by <see cref="PoolingSize"/>.</param>
/// <param name="Channels">Filters in every convolution layer.</param>
/// <param name="LstmHiddenSize">LSTM state size (ignored by the fully connected head).</param>
public sealed record TimeConvNetworkSettings(
    int FramesPerWindow,
    int Coefficients,
    ConvolutionForm ConvolutionForm = ConvolutionForm.Conv2dTimeOnly,
    NetworkHead Head = NetworkHead.Lstm,
    int ConvolutionLayers = 3,
    int Channels = 16,
    int LstmHiddenSize = 64)
{
    /// <summary>
    /// How many convolution layers, counted from the input, end in max-pooling along time; the rest keep their
    /// time resolution. Null (default): every layer pools, as in the seed. 0 feeds the head un-pooled features.
    /// </summary>
    public int? PoolingLayers { get; init; }

    /// <summary>Kernel and stride of each max-pooling along time, in steps. Default 2 (the seed's (1, 2)).</summary>
    public int PoolingSize { get; init; } = 2;

    /// <summary>Time steps left after pooling: <see cref="FramesPerWindow"/> / <see cref="PoolingSize"/>^(pooling layers), rounded down.</summary>
    public int PooledFrames
    {
        get
        {
            int layers = PoolingLayerCount, frames = FramesPerWindow;
            if (layers is < 0 or > 30 || PoolingSize < 2)
            {
                return layers == 0 ? frames : 0;
            }

            for (int l = 0; l < layers && frames > 0; l++)
            {
                frames /= PoolingSize;
            }

            return frames;
        }
    }

    /// <summary>The layers that pool: <see cref="PoolingLayers"/>, or every convolution layer when it is null.</summary>
    internal int PoolingLayerCount => PoolingLayers ?? ConvolutionLayers;

    /// <summary>Whether pooling is the seed's (every layer, kernel and stride 2); saved models and ONNX export assume it unless told otherwise.</summary>
    internal bool HasDefaultPooling => PoolingLayerCount == ConvolutionLayers && PoolingSize == 2;

    /// <summary>Features per pooled time step fed to the head: channels x coefficients (2-D form) or channels (1-D form).</summary>
    public int FeaturesPerStep => ConvolutionForm == ConvolutionForm.Conv2dTimeOnly ? Channels * Coefficients : Channels;

    internal void Validate(OptionErrors errors, string prefix = "")
    {
        errors.Check(FramesPerWindow <= 0, prefix + nameof(FramesPerWindow), $"must be positive; got {FramesPerWindow}.")
            .Check(Coefficients <= 0, prefix + nameof(Coefficients), $"must be positive; got {Coefficients}.")
            .Check(!Enum.IsDefined(ConvolutionForm), prefix + nameof(ConvolutionForm), $"unknown value {(int)ConvolutionForm}.")
            .Check(!Enum.IsDefined(Head), prefix + nameof(Head), $"unknown value {(int)Head}.")
            .Check(ConvolutionLayers is < 1 or > 10, prefix + nameof(ConvolutionLayers), $"must be 1 to 10; got {ConvolutionLayers}.")
            .Check(Channels is < 1 or > 4096, prefix + nameof(Channels), $"must be 1 to 4096; got {Channels}.")
            .Check(Head == NetworkHead.Lstm && LstmHiddenSize is < 1 or > 8192, prefix + nameof(LstmHiddenSize), $"must be 1 to 8192; got {LstmHiddenSize}.")
            .Check(PoolingLayers is int p && (p < 0 || p > ConvolutionLayers), prefix + nameof(PoolingLayers), $"must be 0 to ConvolutionLayers ({ConvolutionLayers}) or null (every layer); got {PoolingLayers}.")
            .Check(PoolingSize is < 2 or > 8, prefix + nameof(PoolingSize), $"must be 2 to 8; got {PoolingSize}.")
            .Check(FramesPerWindow > 0 && ConvolutionLayers is >= 1 and <= 10 && PoolingLayerCount >= 0 && PoolingLayerCount <= ConvolutionLayers && PoolingSize is >= 2 and <= 8 && PooledFrames < 1,
                prefix + nameof(FramesPerWindow),
                $"{FramesPerWindow} frames cannot go through {PoolingLayerCount} pooling layers (each divides time by {PoolingSize}); use at least {Math.Pow(PoolingSize, PoolingLayerCount)} frames or fewer pooling layers.");
    }
}

/// <summary>
/// The seed's preference network: convolution and max-pooling along time only, then an LSTM (or, for experiment 2,
/// a fully connected layer) giving one preference in 0..1 per window.
/// </summary>
/// <remarks>
/// <para>Input: <c>[batch, frames, coefficients]</c>; output: <c>[batch]</c> probabilities.</para>
/// <para>
/// Parameters are reachable by name (<see cref="nn.Module.state_dict"/>): <c>convs.{i}.weight</c>/<c>bias</c>
/// (Conv2d <c>[channels, in, 1, 3]</c> or Conv1d <c>[channels, in, 3]</c>), <c>lstm.*</c> (PyTorch gate order i, f, g, o)
/// and <c>output.weight</c>/<c>bias</c>.
/// </para>
/// <para>
/// <see cref="ScoreOverlappingWindows"/> is written by hand: no library shares convolution work between overlapping
/// windows while keeping each window's own zero padding.
/// </para>
/// <para>
/// The convolution and LSTM layers are the library's own (matrix products, not libtorch's oneDNN convolution and
/// RNN kernels, which computed wrong float32 values on some x86-64 CPUs); they have the parameters of
/// <c>nn.Conv2d</c>/<c>nn.Conv1d</c>/<c>nn.LSTM</c> and are checked against those modules in float64.
/// </para>
/// <para>
/// <see cref="Features"/> keeps the activations time-major and padded (<c>[batch, frames + 2, rows, channels]</c>)
/// from the input to the last block and runs each block as one autograd operation (<see cref="TimeConvReluPool"/>:
/// convolution, bias, max-pool, ReLU, with a hand-written backward); the LSTM head is one operation too
/// (<see cref="LstmSequence"/>). On float32 CPU tensors their element-wise passes and, with AVX-512, their products
/// run in the library's own kernels (<see cref="TimeConvKernels"/>).
/// </para>
/// </remarks>
public sealed class TimeConvNetwork : nn.Module<Tensor, Tensor>
{
    // Field names are the state-dict keys (TorchSharp's RegisterComponents): keep them stable for saved models.
#pragma warning disable IDE1006, SA1300
    private readonly ModuleList<nn.Module<Tensor, Tensor>> convs;
    private readonly nn.Module? lstm;
    private readonly Linear output;
#pragma warning restore IDE1006, SA1300

    /// <summary>Builds a network with freshly initialised weights (seed them with <c>torch.random.manual_seed</c>).</summary>
    /// <exception cref="ArgumentException">A setting is invalid; every bad one is listed.</exception>
    public TimeConvNetwork(TimeConvNetworkSettings settings)
        : this(settings, TimeConvLayers.Gemm)
    {
    }

    /// <summary>
    /// Builds a network whose convolution and LSTM layers are <paramref name="layers"/>; both kinds have the same
    /// parameter names and shapes and the same initial weights for a seed, so state dicts move between them.
    /// </summary>
    internal TimeConvNetwork(TimeConvNetworkSettings settings, TimeConvLayers layers)
        : base(nameof(TimeConvNetwork))
    {
        ArgumentNullException.ThrowIfNull(settings);
        var errors = new OptionErrors(nameof(TimeConvNetworkSettings));
        settings.Validate(errors);
        errors.ThrowIfAny();
        Settings = settings;

        convs = nn.ModuleList<nn.Module<Tensor, Tensor>>();
        long inChannels = settings.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly ? 1 : settings.Coefficients;
        for (int l = 0; l < settings.ConvolutionLayers; l++)
        {
            bool twoD = settings.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly;
            convs.Add(layers == TimeConvLayers.Gemm
                ? TimeConvolution.Create(inChannels, settings.Channels, twoD)
                : twoD
                    ? nn.Conv2d(inChannels, settings.Channels, kernel_size: (1L, 3L), padding: (0L, 1L))
                    : nn.Conv1d(inChannels, settings.Channels, kernel_size: 3, padding: 1));
            inChannels = settings.Channels;
        }

        if (settings.Head == NetworkHead.Lstm)
        {
            lstm = layers == TimeConvLayers.Gemm
                ? GemmLstm.Create(settings.FeaturesPerStep, settings.LstmHiddenSize)
                : nn.LSTM(settings.FeaturesPerStep, settings.LstmHiddenSize, batchFirst: true);
            output = nn.Linear(settings.LstmHiddenSize, 1);
        }
        else
        {
            output = nn.Linear((long)settings.FeaturesPerStep * settings.PooledFrames, 1);
        }

        RegisterComponents();
    }

    /// <summary>
    /// Whether <see cref="Features"/> runs each convolution block as one <see cref="TimeConvReluPool"/> operation
    /// (the default) or as separate convolution, ReLU and pooling modules, and whether the LSTM head runs as one
    /// <see cref="LstmSequence"/> operation (the default) or steps <c>lstm_cell</c>; the earlier forms are kept for
    /// comparison (benchmarks). libtorch's layers always run separately.
    /// </summary>
    internal bool FusedBlocks
    {
        get => _fused;
        set
        {
            _fused = value;
            if (lstm is GemmLstm gemm)
            {
                gemm.StepByStep = !value;
            }
        }
    }

    private bool _fused = true;

    /// <summary>The shape settings this network was built with.</summary>
    public TimeConvNetworkSettings Settings { get; }

    /// <summary>Time frames one pooled step stands for: <see cref="TimeConvNetworkSettings.PoolingSize"/>^(pooling layers), 2^layers by default.</summary>
    public int PoolingStride => (int)Math.Pow(Settings.PoolingSize, Settings.PoolingLayerCount);

    /// <summary>Preference in 0..1 for each window of <paramref name="windows"/> (<c>[batch, frames, coefficients]</c>).</summary>
    public override Tensor forward(Tensor windows)
    {
        using var logits = Logits(windows);
        return logits.sigmoid();
    }

    /// <summary>Pre-sigmoid outputs <c>[batch]</c>; training uses them with a logits loss for numerical stability.</summary>
    public Tensor Logits(Tensor windows)
    {
        using var scope = NewDisposeScope();
        return HeadLogits(Features(windows)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The window embedding <c>[batch, size]</c>: the LSTM's last state (LSTM head) or the flattened feature map
    /// (fully connected head). The multi-user recommender scores users against it.
    /// </summary>
    public Tensor Embedding(Tensor windows)
    {
        using var scope = NewDisposeScope();
        return EmbeddingFromFeatures(Features(windows)).MoveToOuterDisposeScope();
    }

    /// <summary>The window embedding from a feature sequence (<see cref="Features"/> or <see cref="OverlappingWindowFeatures"/>).</summary>
    public Tensor EmbeddingFromFeatures(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        using var scope = NewDisposeScope();
        return (lstm is null ? features.reshape(features.shape[0], -1) : LastState(features)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each convolution layer's activations (after ReLU, before pooling) for <paramref name="windows"/>:
    /// <c>[batch, channels, coefficients, time]</c> (2-D form) or <c>[batch, channels, time]</c> (1-D form), first layer first.
    /// </summary>
    public IReadOnlyList<Tensor> ConvolutionActivations(Tensor windows)
    {
        var result = new List<Tensor>();
        using var scope = NewDisposeScope();
        var h = ToConvLayout(windows);
        for (int l = 0; l < convs.Count; l++)
        {
            var a = F.relu(convs[l].call(h));
            result.Add(a.detach().clone().MoveToOuterDisposeScope());
            h = l < Settings.PoolingLayerCount ? Pool(a) : a;
        }

        return result;
    }

    /// <summary>The convolution stack's feature sequence <c>[batch, pooled frames, features per step]</c>.</summary>
    public Tensor Features(Tensor windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        if (windows.ndim != 3 || windows.shape[2] != Settings.Coefficients || windows.shape[1] < PoolingStride)
        {
            throw new ArgumentException(
                $"Expected windows shaped [batch, frames >= {PoolingStride}, {Settings.Coefficients}]; got [{string.Join(", ", windows.shape)}].",
                nameof(windows));
        }

        if (windows.shape[0] == 0)
        {
            // (The per-layer path's reshape(-1) cannot infer a size from no elements.)
            return zeros(0, windows.shape[1] / PoolingStride, Settings.FeaturesPerStep, dtype: windows.dtype, device: windows.device);
        }

        using var scope = NewDisposeScope();
        // The fused blocks pool by 2 in every layer: other pooling (experiment 2's head study) runs layer by layer.
        if (FusedBlocks && Settings.HasDefaultPooling && PoolingTrace is not { Replaying: true } && convs.All(c => c is TimeConvolution))
        {
            // Time-major and padded from the start ([batch, frames + 2, rows, channels]); one autograd operation per
            // convolution block (TimeConvReluPool) and no layout copy until the head's sequence.
            bool twoD = Settings.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly;
            var x = F.pad(windows, [0, 0, 1, 1]).contiguous().unsqueeze(twoD ? 3 : 2);
            foreach (var conv in convs.Cast<TimeConvolution>())
            {
                x = TimeConvReluPool.Apply(x, conv.Weight, conv.Bias, PoolingTrace);
            }

            var steps = x.narrow(1, 1, x.shape[1] - 2); // [batch, pooled, rows, channels]
            return (twoD ? steps.transpose(2, 3) : steps).reshape(steps.shape[0], steps.shape[1], -1).MoveToOuterDisposeScope();
        }

        var h = ToConvLayout(windows);
        for (int l = 0; l < convs.Count; l++)
        {
            var preActivation = convs[l].call(h);
            h = l >= Settings.PoolingLayerCount ? F.relu(preActivation)
                : PoolingTrace is { } trace ? trace.ReluPool(preActivation, Pool) : Pool(F.relu(preActivation));
        }

        return ToSequence(h).MoveToOuterDisposeScope();
    }

    /// <summary>Pre-sigmoid outputs <c>[batch]</c> from a feature sequence made by <see cref="Features"/>.</summary>
    public Tensor HeadLogits(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        using var scope = NewDisposeScope();
        Tensor flat;
        if (lstm is not null)
        {
            flat = LastState(features);
        }
        else
        {
            if (features.shape[1] != Settings.PooledFrames)
            {
                throw new ArgumentException(
                    $"The fully connected head needs windows of exactly {Settings.FramesPerWindow} frames ({Settings.PooledFrames} pooled steps); got {features.shape[1]} pooled steps.",
                    nameof(features));
            }

            flat = features.reshape(features.shape[0], -1);
        }

        return output.call(flat).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Whether <see cref="ScoreOverlappingWindows"/> reproduces per-window scoring exactly for this network: windows
    /// must fill a whole number of pooled steps, and hold at least four of them (the edge steps are recomputed from
    /// four-step chunks). Only the seed's pooling (every layer, by 2) is shared; other pooling scores window by window.
    /// </summary>
    public bool CanShareConvolution => Settings.HasDefaultPooling && Settings.FramesPerWindow % PoolingStride == 0 && Settings.PooledFrames >= EdgeChunkSteps;

    // Final steps in the chunks that recompute a window's first and last step; the receptive field of an edge
    // step (3 * 2^layers - 2 frames, reaching 2^layers - 1 frames outside the window) fits inside this many steps.
    private const int EdgeChunkSteps = 4;

    /// <summary>
    /// Scores overlapping windows cut from one song's frame sequence, sharing the convolution work between them,
    /// and returns the same values as <see cref="forward"/> on the stacked windows (up to float rounding).
    /// </summary>
    /// <param name="songFrames">The song's frames <c>[frames, coefficients]</c>.</param>
    /// <param name="windowStarts">First frame of each window; each window spans <see cref="TimeConvNetworkSettings.FramesPerWindow"/> frames inside the song.</param>
    /// <returns>Probabilities <c>[windows]</c>.</returns>
    /// <remarks>
    /// Each convolution layer runs once over the whole song. Pooling (stride 2) depends on where a window starts, so
    /// windows whose start differs in phase at some layer follow separate pooled branches (at most 2^layers of them,
    /// 4 for a 50-frame hop and 3 layers; deeper layers run on ever shorter branches). A window's interior pooled
    /// steps are then a slice of its branch, exactly. Only its first and last step see the window's zero padding
    /// instead of the song's neighbouring frames; those two are recomputed from short chunks cut at the window's
    /// edges, which carry the same padding. Falls back to per-window scoring when <see cref="CanShareConvolution"/>
    /// is false.
    /// </remarks>
    public Tensor ScoreOverlappingWindows(Tensor songFrames, IReadOnlyList<long> windowStarts)
    {
        using var scope = NewDisposeScope();
        var features = OverlappingWindowFeatures(songFrames, windowStarts);
        return (features.shape[0] == 0 ? zeros(0, device: songFrames.device) : HeadLogits(features).sigmoid()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The feature sequences <c>[windows, pooled frames, features per step]</c> of overlapping windows cut from one
    /// song, equal to <see cref="Features"/> on the stacked windows; the convolution work is shared as described in
    /// <see cref="ScoreOverlappingWindows"/>.
    /// </summary>
    /// <param name="songFrames">The song's frames <c>[frames, coefficients]</c>.</param>
    /// <param name="windowStarts">First frame of each window.</param>
    public Tensor OverlappingWindowFeatures(Tensor songFrames, IReadOnlyList<long> windowStarts)
    {
        ArgumentNullException.ThrowIfNull(songFrames);
        ArgumentNullException.ThrowIfNull(windowStarts);
        long frames = songFrames.shape[0];
        int window = Settings.FramesPerWindow;
        foreach (var s in windowStarts)
        {
            if (s < 0 || s + window > frames)
            {
                throw new ArgumentOutOfRangeException(nameof(windowStarts), $"A window starting at frame {s} does not fit in a song of {frames} frames.");
            }
        }

        using var scope = NewDisposeScope();
        int n = windowStarts.Count;
        if (n == 0)
        {
            return zeros(0, Math.Max(Settings.PooledFrames, 1), Settings.FeaturesPerStep, device: songFrames.device).MoveToOuterDisposeScope();
        }

        var starts = tensor(windowStarts.ToArray(), device: songFrames.device);
        if (!CanShareConvolution)
        {
            return Features(CutWindows(songFrames, starts, window)).MoveToOuterDisposeScope();
        }

        int pooled = Settings.PooledFrames;
        int stride = PoolingStride;

        // Branches of the pooled song: (first frame, layer tensor, windows that follow it).
        var branches = new List<(long Offset, Tensor Map, List<int> Windows)>
        {
            (0, ToConvLayout(songFrames.unsqueeze(0)), Enumerable.Range(0, n).ToList()),
        };
        for (int l = 0; l < convs.Count; l++)
        {
            long step = 1L << l;
            var next = new List<(long, Tensor, List<int>)>();
            foreach (var (offset, map, members) in branches)
            {
                var activated = F.relu(convs[l].call(map));
                long length = activated.shape[^1];
                foreach (var group in members.GroupBy(w => (windowStarts[w] - offset) / step % 2))
                {
                    long phase = group.Key;
                    next.Add((offset + (phase * step), Pool(activated.narrow(-1, phase, length - phase)), group.ToList()));
                }
            }

            branches = next;
        }

        // Interior steps: a slice of each window's branch; edges: from chunks with the window's own padding.
        var order = new long[n];
        var pieces = new List<Tensor>();
        int k = 0;
        foreach (var (offset, map, members) in branches)
        {
            var sequence = ToSequence(map).squeeze(0); // [steps, features]
            var sliceStarts = tensor(members.Select(w => (windowStarts[w] - offset) / stride).ToArray(), device: songFrames.device);
            pieces.Add(sequence.unfold(0, pooled, 1).index_select(0, sliceStarts).permute(0, 2, 1));
            foreach (var w in members)
            {
                order[w] = k++;
            }
        }

        var interior = cat(pieces, 0).index_select(0, tensor(order, device: songFrames.device));
        int chunk = EdgeChunkSteps * stride;
        using var tailOffset = ((long)(window - chunk)).ToScalar();
        var head = Features(CutWindows(songFrames, starts, chunk)).narrow(1, 0, 1);
        var tail = Features(CutWindows(songFrames, starts.add(tailOffset, TorchScalars.One), chunk)).narrow(1, EdgeChunkSteps - 1, 1);
        return cat([head, interior.narrow(1, 1, pooled - 2), tail], 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            convs.Dispose();
            lstm?.Dispose();
            output.Dispose();
        }

        base.Dispose(disposing);
    }

    private static Tensor CutWindows(Tensor songFrames, Tensor starts, long length) =>
        songFrames.unfold(0, length, 1).index_select(0, starts).permute(0, 2, 1); // [n, length, coefficients]

    private Tensor LastState(Tensor features)
    {
        if (lstm is GemmLstm gemm)
        {
            return gemm.call(features);
        }

        var (sequence, _, _) = ((LSTM)lstm!).call(features);
        return sequence.select(1, -1);
    }

    // [batch, frames, coefficients] -> [batch, 1, coefficients, frames] (2-D form) or [batch, coefficients, frames].
    private Tensor ToConvLayout(Tensor windows) =>
        Settings.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly ? windows.transpose(1, 2).unsqueeze(1) : windows.transpose(1, 2);

    private Tensor Pool(Tensor activated) =>
        Settings.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly
            ? F.max_pool2d(activated, kernel_size: (1L, Settings.PoolingSize))
            : F.max_pool1d(activated, kernel_size: Settings.PoolingSize);

    /// <summary>
    /// Test hook for <see cref="Features"/>: records the ReLU and max-pool decisions of one forward pass and replays
    /// them in another, so a float64 copy follows a float32 run's discrete choices. A near-tie or a pre-activation
    /// near zero decided differently by float32 and float64 rounding would otherwise move a whole gradient
    /// contribution, which says nothing about the kernels' accuracy.
    /// </summary>
    internal PoolingTrace? PoolingTrace { get; set; }

    // Conv layout -> [batch, steps, features]; 2-D features are channel-major (channel 0's coefficients first).
    private Tensor ToSequence(Tensor h) =>
        Settings.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly
            ? h.permute(0, 3, 1, 2).reshape(h.shape[0], h.shape[3], -1)
            : h.transpose(1, 2);
}

/// <summary>Which kernels compute a <see cref="TimeConvNetwork"/>'s convolution and LSTM layers.</summary>
internal enum TimeConvLayers
{
    /// <summary>
    /// The library's own layers (<see cref="TimeConvolution"/>, <see cref="GemmLstm"/>): matrix products and
    /// element-wise operations only, correct on every CPU. The default.
    /// </summary>
    Gemm,

    /// <summary>
    /// libtorch's <c>nn.Conv1d</c>/<c>nn.Conv2d</c>/<c>nn.LSTM</c>: in float32 on x86-64 CPUs these run oneDNN kernels
    /// that computed wrong values on some CPUs. Kept as the definition the float64 reference tests compare against
    /// and as the "before" side of the benchmarks.
    /// </summary>
    LibTorch,
}

/// <summary>ReLU and max-pool (kernel 2 along time) decisions recorded from one forward pass and replayed in another.</summary>
internal sealed class PoolingTrace : IDisposable
{
    private readonly List<Tensor> _decisions = [];
    private int _next;

    /// <summary>Whether <see cref="ReluPool"/> replays recorded decisions (true) or records new ones (false).</summary>
    public bool Replaying { get; private set; }

    /// <summary>Switches from recording to replaying, from the first recorded layer on.</summary>
    public void Replay()
    {
        Replaying = true;
        _next = 0;
    }

    /// <summary>
    /// ReLU then max-pool along the last axis: with <paramref name="pool"/> while recording, with the recorded
    /// decisions (which elements are positive, which of each pair wins) while replaying.
    /// </summary>
    public Tensor ReluPool(Tensor preActivation, Func<Tensor, Tensor> pool)
    {
        if (!Replaying)
        {
            var activated = F.relu(preActivation);
            var (first, second) = Pairs(activated);
            _decisions.Add(preActivation.gt(TorchScalars.Zero).detach().DetachFromDisposeScope());
            _decisions.Add(second.gt(first).detach().DetachFromDisposeScope());
            return pool(activated);
        }

        var positive = _decisions[_next++].to(preActivation.device);
        var (a, b) = Pairs(preActivation * positive.to(preActivation.dtype));
        return where(_decisions[_next++].to(preActivation.device), b, a);
    }

    /// <summary>
    /// Records decisions made elsewhere (<see cref="TimeConvReluPool"/>): which pre-activations are positive
    /// <c>[batch, channels, rows, time]</c> and where the second of a pooling pair beats the first after ReLU
    /// <c>[batch, channels, rows, time / 2]</c>, in the layout <see cref="ReluPool"/> replays.
    /// </summary>
    public void Record(Tensor positive, Tensor secondWins)
    {
        _decisions.Add(positive.detach().clone().DetachFromDisposeScope());
        _decisions.Add(secondWins.detach().clone().DetachFromDisposeScope());
    }

    private static (Tensor First, Tensor Second) Pairs(Tensor activated)
    {
        long last = activated.ndim - 1;
        long pairs = activated.shape[^1] / 2;
        var paired = activated.narrow(last, 0, pairs * 2).unflatten(last, [pairs, 2]);
        return (paired.select(last + 1, 0), paired.select(last + 1, 1));
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var d in _decisions)
        {
            d.Dispose();
        }
    }
}
