using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Scoring
{
    /// <summary>
    /// The fitted preference scorer: adds <c>WindowScores</c>, one preference in 0..1 per window of each song, with the
    /// window column's timing annotations (<c>WindowSeconds</c>, <c>WindowHopSeconds</c>, <c>FramesPerSecond</c>) carried
    /// over so <c>WindowAggregatingTransformer</c> knows when each window starts.
    /// </summary>
    /// <remarks>
    /// Owns its <see cref="TimeConvNetwork"/>: dispose the scorer to free it. Overlapping windows of a song share one
    /// convolution pass (exact, see <see cref="TimeConvNetwork.ScoreOverlappingWindows"/>) when the window column's
    /// annotations give the hop in whole frames and the windows really are overlapping slices of one sequence;
    /// otherwise windows are scored one by one (batched). Either way a song's windows go through the head as batches.
    /// <para>
    /// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.TimeConvLstmScorer"; loading puts the network
    /// on the CPU when it was trained with <see cref="TorchDevice.Cpu"/>, otherwise on the device
    /// <see cref="TorchDevice.Auto"/> picks in the loading process (CUDA when available, else the CPU; a model trained
    /// on CUDA still loads on a machine without it). Payload (little-endian, <see cref="BinaryWriter"/> encodings):
    /// </para>
    /// <code>
    /// version 1: string featureColumn, string outputColumn, bool sharedConvolution, int32 devicePreference (TorchDevice),
    ///            int32 framesPerWindow, int32 coefficients, int32 convolutionForm, int32 head,
    ///            int32 convolutionLayers, int32 channels, int32 lstmHiddenSize,
    ///            [version 2 and later: bool hasTrainingLayout, double framesPerSecond, double hopFrames (0 when absent)]
    ///            [version 3: int32 poolingLayers, int32 poolingSize; written only for networks whose pooling is not
    ///             the default (every layer, by 2), so default networks still save as version 2]
    ///            then the network's weights as a TorchModuleState block (int64 length + TorchSharp state dict:
    ///            convs.{i}.weight/bias, lstm.* (LSTM head only), output.weight/bias)
    /// </code>
    /// <para>Export to ONNX with <c>ml.Audio().Model.ExportOnnx(scorer, path)</c>.</para>
    /// </remarks>
    public sealed class TimeConvLstmScorer : RowMappingTransformer, IDisposable, IPersistableAudioTransformer
    {
        internal const string FormatName = "MLNetAudio.TimeConvLstmScorer";
        internal const int CurrentVersion = 3;
        internal const int OldestReadableVersion = 1;

        // Windows per forward call: bounds memory on hour-long inputs.
        private const int MaxWindowsPerCall = 256;

        // Bytes of convolution activations one part may need (the first layer's output and its unfolded input, about
        // four times the output): 2-D networks keep the coefficient axis, so 256 windows of the default 2-D network
        // took about 400 MB and a 60-minute song left 330 MB of native memory behind. 32 MB keeps 1-D networks at 256
        // windows per part and the default 2-D network at 16 (64 with shared convolution).
        private const long ActivationBudget = 32L << 20;
        private readonly Device _device;
        private readonly TorchDevice _devicePreference;
        private bool _disposed;
        private long _sharedParts;

        internal TimeConvLstmScorer(TimeConvNetwork network, string featureColumnName, string outputColumnName, bool sharedConvolution, Device device, TorchDevice devicePreference)
        {
            Network = network;
            FeatureColumnName = featureColumnName;
            OutputColumnName = outputColumnName;
            SharedConvolution = sharedConvolution;
            _device = device;
            _devicePreference = devicePreference;
        }

        string IPersistableAudioTransformer.FormatName => FormatName;

        int IPersistableAudioTransformer.FormatVersion => Network.Settings.HasDefaultPooling ? 2 : CurrentVersion;

        void IPersistableAudioTransformer.Save(BinaryWriter writer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var s = Network.Settings;
            writer.Write(FeatureColumnName);
            writer.Write(OutputColumnName);
            writer.Write(SharedConvolution);
            writer.Write((int)_devicePreference);
            writer.Write(s.FramesPerWindow);
            writer.Write(s.Coefficients);
            writer.Write((int)s.ConvolutionForm);
            writer.Write((int)s.Head);
            writer.Write(s.ConvolutionLayers);
            writer.Write(s.Channels);
            writer.Write(s.LstmHiddenSize);
            writer.Write(TrainingLayout is not null);
            writer.Write(TrainingLayout?.FramesPerSecond ?? 0);
            writer.Write(TrainingLayout?.HopFrames ?? 0);
            if (!s.HasDefaultPooling)
            {
                writer.Write(s.PoolingLayerCount);
                writer.Write(s.PoolingSize);
            }

            TorchModuleState.Write(writer, Network);
        }

        /// <summary>Rebuilds a scorer from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
        internal static TimeConvLstmScorer Load(AudioStageReader stage)
        {
            var r = stage.Reader;
            string feature = r.ReadString();
            string output = r.ReadString();
            bool shared = r.ReadBoolean();
            var preference = (TorchDevice)r.ReadInt32();
            var settings = new TimeConvNetworkSettings(
                FramesPerWindow: r.ReadInt32(),
                Coefficients: r.ReadInt32(),
                ConvolutionForm: (ConvolutionForm)r.ReadInt32(),
                Head: (NetworkHead)r.ReadInt32(),
                ConvolutionLayers: r.ReadInt32(),
                Channels: r.ReadInt32(),
                LstmHiddenSize: r.ReadInt32());
            WindowLayout? layout = null;
            if (stage.Version >= 2)
            {
                bool hasLayout = r.ReadBoolean();
                double fps = r.ReadDouble(), hop = r.ReadDouble();
                if (hasLayout && (!(fps > 0 && double.IsFinite(fps) && hop > 0 && double.IsFinite(hop)) || settings.FramesPerWindow <= 0 || settings.Coefficients <= 0))
                {
                    throw new InvalidDataException($"entry '{stage.EntryName}': the training window layout ({fps} frames/s, hop {hop} frames) is damaged.");
                }

                layout = hasLayout ? new WindowLayout(settings.FramesPerWindow, settings.Coefficients, fps, hop) : null;
            }

            if (stage.Version >= 3)
            {
                settings = settings with { PoolingLayers = r.ReadInt32(), PoolingSize = r.ReadInt32() };
            }

            var errors = new OptionErrors($"entry '{stage.EntryName}': {nameof(TimeConvNetworkSettings)}");
            errors.Check(string.IsNullOrWhiteSpace(feature), nameof(FeatureColumnName), "is empty.")
                .Check(string.IsNullOrWhiteSpace(output), nameof(OutputColumnName), "is empty.")
                .Check(!Enum.IsDefined(preference), "Device", $"unknown value {(int)preference}.")
                .Check(settings.Coefficients > 1 << 20, nameof(settings.Coefficients), $"{settings.Coefficients} is beyond any feature frame.")
                .Check(settings.FramesPerWindow > 1 << 24, nameof(settings.FramesPerWindow), $"{settings.FramesPerWindow} is beyond any window.");
            settings.Validate(errors);
            errors.ThrowIfAny();

            // Damaged sizes must fail before libtorch allocates a network for them: the weights block holds 4 bytes per parameter.
            long parameters = ParameterCount(settings);
            long left = r.BaseStream.Length - r.BaseStream.Position;
            if (parameters * sizeof(float) > left)
            {
                throw new InvalidDataException($"entry '{stage.EntryName}': the network's settings need {parameters} weights but only {left} bytes remain.");
            }

            // Building the network draws initial weights from libtorch's global generator; put its state back so that
            // loading a model does not change what a later seeded run in this process computes.
            TimeConvNetwork network;
            using (var rngState = torch.random.get_rng_state())
            {
                network = new TimeConvNetwork(settings);
                torch.random.set_rng_state(rngState);
            }

            try
            {
                TorchModuleState.Read(r, network);
                var device = TimeConvLstmTrainer.ResolveDevice(preference == TorchDevice.Cpu ? TorchDevice.Cpu : TorchDevice.Auto);
                network.to(device);
                network.eval();
                return new TimeConvLstmScorer(network, feature, output, shared, device, preference) { TrainingLayout = layout };
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }

        // The number of weights a network with these settings has (conv kernels are 3 wide).
        internal static long ParameterCount(TimeConvNetworkSettings s)
        {
            long channels = s.Channels;
            long firstIn = s.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly ? 1 : s.Coefficients;
            long count = (channels * firstIn * 3) + channels + ((s.ConvolutionLayers - 1) * ((channels * channels * 3) + channels));
            if (s.Head == NetworkHead.Lstm)
            {
                long h = s.LstmHiddenSize;
                count += (4 * h * s.FeaturesPerStep) + (4 * h * h) + (8 * h) + h + 1;
            }
            else
            {
                count += ((long)s.FeaturesPerStep * s.PooledFrames) + 1;
            }

            return count;
        }

        /// <summary>The trained network (for inspection: convolution activations, embeddings, weights by name).</summary>
        public TimeConvNetwork Network { get; }

        /// <summary>The window column read.</summary>
        public string FeatureColumnName { get; }

        /// <summary>
        /// The window layout of the training data (frames, coefficients, frames per second, hop), when its window column
        /// said it (as <c>SegmentMfcc</c>'s does); windows of another layout are refused with both layouts named. Null for
        /// scorers trained on windows without timing annotations, or saved before version 2 of the format.
        /// </summary>
        public WindowLayout? TrainingLayout { get; internal init; }

        /// <summary>The column written.</summary>
        public string OutputColumnName { get; }

        /// <summary>Whether overlapping windows share one convolution pass when that is exact.</summary>
        public bool SharedConvolution { get; }

        /// <summary>How many song parts (up to 256 windows each) went through the shared convolution; for tests.</summary>
        internal long SharedConvolutionParts => Interlocked.Read(ref _sharedParts);

        /// <summary>Songs scored from the segmenter's frames instead of the windows column (for tests).</summary>
        internal long SongsScoredFromFrames => Interlocked.Read(ref _songsFromFrames);

        private long _songsFromFrames;

        /// <summary>Frees the network.</summary>
        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                Network.Dispose();
            }
        }

        /// <summary>
        /// Scores one song's windows (<paramref name="windows"/> flattened [windows x frames x coefficients]).
        /// <paramref name="hopFrames"/> (null when unknown) lets overlapping windows share the convolution.
        /// </summary>
        /// <returns>One preference in 0..1 per window.</returns>
        public float[] ScoreSong(ReadOnlySpan<float> windows, int? hopFrames)
        {
            var result = new float[WindowCount(windows)];
            ForEachPart(windows, hopFrames, (first, features) =>
                Network.HeadLogits(features).sigmoid().cpu().data<float>().CopyTo(result, first));
            return result;
        }

        /// <summary>
        /// The window embeddings of one song (<see cref="TimeConvNetwork.Embedding"/>: the LSTM's last state), one row
        /// per window; the multi-user recommender scores users against them.
        /// </summary>
        public float[][] EmbedSong(ReadOnlySpan<float> windows, int? hopFrames)
        {
            var result = new float[WindowCount(windows)][];
            ForEachPart(windows, hopFrames, (first, features) =>
            {
                var embedding = Network.EmbeddingFromFeatures(features).cpu();
                for (int i = 0; i < embedding.shape[0]; i++)
                {
                    result[first + i] = embedding[i].data<float>().ToArray();
                }
            });
            return result;
        }

        private int WindowCount(ReadOnlySpan<float> windows)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var s = Network.Settings;
            int size = s.FramesPerWindow * s.Coefficients;
            if (windows.Length % size != 0)
            {
                throw new ArgumentException($"{windows.Length} values are not a whole number of {s.FramesPerWindow} x {s.Coefficients} windows.", nameof(windows));
            }

            return windows.Length / size;
        }

        /// <summary>Windows per convolution call: at most <see cref="MaxWindowsPerCall"/>, fewer when their activations would pass <see cref="ActivationBudget"/>.</summary>
        /// <remarks>
        /// With shared convolution a part convolves its joined frames once (about hop, not a whole window, of frames per
        /// window), so it takes 4 times as many windows: fewer part boundaries, whose overlap is convolved twice. The
        /// default 2-D network (16 channels, 20 coefficients): 16 windows per part (per-window path), 64 (shared; scoring
        /// a 3-minute song at 1 s hop within about 5% of one 256-window part, where 16-window parts cost 15% more).
        /// </remarks>
        internal static int WindowsPerCall(TimeConvNetworkSettings s, bool shared = false)
        {
            long perWindow = 4L * sizeof(float) * s.FramesPerWindow * s.Channels * (s.ConvolutionForm == ConvolutionForm.Conv2dTimeOnly ? s.Coefficients : 1);
            long windows = ActivationBudget / Math.Max(1, perWindow) * (shared ? 4 : 1);
            return (int)Math.Clamp(windows, 1, MaxWindowsPerCall);
        }

        /// <summary>
        /// Scores one song given as its frames (frame-major) and its windows' first frames, as the segmenter holds it
        /// (<see cref="Features.ISongFrameSource"/>): the same scores, bit for bit, as <see cref="ScoreSong"/> over the
        /// windows cut from those frames, without the windows ever existing whole.
        /// </summary>
        internal float[] ScoreSongFrames(ReadOnlySpan<float> frames, int windows, Func<int, int> windowStart, int? hopFrames)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Interlocked.Increment(ref _songsFromFrames);
            var result = new float[windows];
            ForEachPart(frames, windowStart, windows, hopFrames, (first, features) =>
                Network.HeadLogits(features).sigmoid().cpu().data<float>().CopyTo(result, first));
            return result;
        }

        private void ForEachPart(ReadOnlySpan<float> windows, int? hopFrames, Action<int, Tensor> use) =>
            ForEachPart(windows, null, windows.Length / (Network.Settings.FramesPerWindow * Network.Settings.Coefficients), hopFrames, use);

        // Runs the convolution stack over the song's windows in parts of at most WindowsPerCall and hands each
        // part's feature sequences [m, pooled, features] to `use` (inside a dispose scope, with no_grad). `data` holds
        // the windows one after another, or (with `windowStart`) the song's frames, window w starting at frame windowStart(w).
        private void ForEachPart(ReadOnlySpan<float> data, Func<int, int>? windowStart, int n, int? hopFrames, Action<int, Tensor> use)
        {
            var s = Network.Settings;
            int size = s.FramesPerWindow * s.Coefficients;
            using var noGrad = torch.no_grad();
            bool share = SharedConvolution && hopFrames is int h && h < s.FramesPerWindow && Network.CanShareConvolution;
            int perCall = WindowsPerCall(s, shared: share);
            for (int first = 0; first < n; first += perCall)
            {
                int m = Math.Min(perCall, n - first);
                using var scope = torch.NewDisposeScope();
                Tensor features;
                float[]? song = null;
                if (share && m > 1)
                {
                    song = windowStart is null
                        ? TryJoin(data.Slice(first * size, m * size), m, hopFrames!.Value, s.FramesPerWindow, s.Coefficients)
                        : TrySlice(data, windowStart, first, m, hopFrames!.Value, s.FramesPerWindow, s.Coefficients);
                }

                if (song is not null)
                {
                    Interlocked.Increment(ref _sharedParts);
                    var frames = torch.tensor(song, [song.Length / s.Coefficients, s.Coefficients]).to(_device);
                    features = Network.OverlappingWindowFeatures(frames, Enumerable.Range(0, m).Select(w => (long)w * hopFrames!.Value).ToArray());
                }
                else
                {
                    var part = windowStart is null ? data.Slice(first * size, m * size).ToArray() : Cut(data, windowStart, first, m, s.FramesPerWindow, s.Coefficients);
                    features = Network.Features(torch.tensor(part, [m, s.FramesPerWindow, s.Coefficients]).to(_device));
                }

                use(first, features);
            }
        }

        // Frames [start(first), start(first + n - 1) + F) when windows first .. first + n - 1 start hop frames apart
        // (what TryJoin rebuilds from the windows); null when they do not.
        private static float[]? TrySlice(ReadOnlySpan<float> songFrames, Func<int, int> start, int first, int n, int hop, int frames, int coefficients)
        {
            int from = start(first);
            for (int w = 1; w < n; w++)
            {
                if (start(first + w) != from + (w * hop))
                {
                    return null;
                }
            }

            return songFrames.Slice(from * coefficients, (((n - 1) * hop) + frames) * coefficients).ToArray();
        }

        // Windows first .. first + n - 1 cut from the song's frames, one after another.
        private static float[] Cut(ReadOnlySpan<float> songFrames, Func<int, int> start, int first, int n, int frames, int coefficients)
        {
            int size = frames * coefficients;
            var part = new float[n * size];
            for (int w = 0; w < n; w++)
            {
                songFrames.Slice(start(first + w) * coefficients, size).CopyTo(part.AsSpan(w * size));
            }

            return part;
        }

        // The song's frame sequence when window w is frames [w*hop, w*hop+F) of it; null when the windows disagree
        // where they overlap (then they were not cut from one sequence and only per-window scoring is right).
        private static float[]? TryJoin(ReadOnlySpan<float> windows, int n, int hop, int frames, int coefficients)
        {
            int size = frames * coefficients;
            int hopSize = hop * coefficients;
            var song = new float[((n - 1) * hopSize) + size];
            windows[..size].CopyTo(song);
            for (int w = 1; w < n; w++)
            {
                var window = windows.Slice(w * size, size);
                int at = w * hopSize;
                if (!window[..(size - hopSize)].SequenceEqual(song.AsSpan(at, size - hopSize)))
                {
                    return null;
                }

                window[(size - hopSize)..].CopyTo(song.AsSpan(at + size - hopSize));
            }

            return song;
        }

        private protected override SchemaBinding Bind(DataViewSchema inputSchema)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var column = WindowColumn.Read(inputSchema, FeatureColumnName);
            var s = Network.Settings;
            if (column.FramesPerWindow != s.FramesPerWindow || column.Coefficients != s.Coefficients)
            {
                throw new ArgumentException(
                    $"Window column '{FeatureColumnName}' holds {column.FramesPerWindow} x {column.Coefficients} windows; this scorer was trained on "
                    + $"{s.FramesPerWindow} x {s.Coefficients}. Segment with the same settings as in training.",
                    nameof(inputSchema));
            }

            if (TrainingLayout is { } trained && WindowLayout.TryFromColumn(inputSchema[FeatureColumnName]) is { } given)
            {
                given.EnsureSameAs(trained, $"Window column '{FeatureColumnName}'", "this TimeConvLstm scorer");
            }

            return new Binding(this, inputSchema[FeatureColumnName].Index, column);
        }

        private sealed class Binding : SchemaBinding
        {
            private readonly TimeConvLstmScorer _scorer;
            private readonly int _input;
            private readonly WindowColumn _column;

            public Binding(TimeConvLstmScorer scorer, int input, WindowColumn column)
            {
                _scorer = scorer;
                _input = input;
                _column = column;
                Outputs = [new OutputColumn(scorer.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single), column.TimingAnnotations())];
            }

            public override IReadOnlyList<OutputColumn> Outputs { get; }

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) => activeOutputs[0] ? [_input] : [];

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(this, input, mayReadFrames: false);

            // When nothing after the scorer reads the windows column, the scorer may read the segmenter's frames instead.
            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs, IReadOnlySet<int> inputsPassedOn) =>
                new Mapper(this, input, mayReadFrames: !inputsPassedOn.Contains(_input));

            private sealed class Mapper : RowMapper
            {
                private readonly Binding _binding;
                private readonly DataViewRow _row;
                private readonly bool _mayReadFrames;
                private ValueGetter<VBuffer<float>>? _windows;
                private Features.ISongFrameSource? _frames;
                private VBuffer<float> _buffer;
                private long _cachedPosition = -1;
                private float[] _cached = [];

                public Mapper(Binding binding, DataViewRow row, bool mayReadFrames)
                {
                    _binding = binding;
                    _row = row;
                    _mayReadFrames = mayReadFrames;
                }

                public override Delegate GetGetter(int outputIndex)
                {
                    if (_windows is null)
                    {
                        _windows = _row.GetGetter<VBuffer<float>>(_row.Schema[_binding._input]);
                        _frames = _mayReadFrames ? _windows.Target as Features.ISongFrameSource : null;
                    }

                    return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
                    {
                        if (_cachedPosition != _row.Position)
                        {
                            var scorer = _binding._scorer;
                            if (_frames is not null)
                            {
                                var frames = _frames.CurrentFrames(out int windows, out var start);
                                _cached = scorer.ScoreSongFrames(frames.Span, windows, start, _binding._column.HopFrames);
                            }
                            else
                            {
                                _windows(ref _buffer);
                                var values = _binding._column.Dense(_buffer, scorer.FeatureColumnName, _row.Position, out _);
                                _cached = scorer.ScoreSong(values, _binding._column.HopFrames);
                            }

                            _cachedPosition = _row.Position;
                        }

                        var editor = VBufferEditor.Create(ref dst, _cached.Length);
                        _cached.CopyTo(editor.Values);
                        dst = editor.Commit();
                    });
                }
            }
        }
    }
}
