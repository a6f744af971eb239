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
    /// <summary>The training loop of <see cref="TimeConvLstmTrainer"/> (one Fit): epochs, batches, validation, early stopping.</summary>
    public sealed partial class TimeConvLstmTrainer
    {
        /// <summary>One Fit call's state: split, optimiser, buffers, best weights.</summary>
        private sealed partial class TrainingRun
        {
            private readonly TimeConvLstmOptions _options;
            private readonly WindowColumn _column;
            private readonly TimeConvNetwork _network;
            private readonly Device _device;
            private readonly IChannel _channel;
            private readonly SavableRandom _random;
            private readonly int _seed;
            private int _stride;
            private List<(float[] Values, int Windows, float Label, long Position)>? _cache;
            private bool _warnedEmpty;
            private double _stepSeconds;
            private int _epoch;
            private int _batches;
            private int _skipped;
            private float[]? _batch;

            public TrainingRun(TimeConvLstmOptions options, WindowColumn column, TimeConvNetwork network, Device device, int seed, IChannel channel)
            {
                _options = options;
                _column = column;
                _network = network;
                _device = device;
                _channel = channel;
                _seed = seed;
                _random = new SavableRandom(seed);
            }

            private static int ConsecutiveStride(WindowColumn column) =>
                column.WindowSeconds is double w && column.WindowHopSeconds is double h && h > 0 && w > h
                    ? Math.Max(1, (int)Math.Round(w / h))
                    : 1;

            public void Run(IDataView data, DataViewSchema.Column label)
            {
                var (plan, validation) = MakePlan(data, label);
                int epochs = plan.Epochs;
                int patience = plan.EarlyStoppingPatience ?? int.MaxValue;

                using var optimizer = new RootedAdam(_network.parameters(), _options.LearningRate);
                using var positiveWeight = torch.tensor((float)_options.PositiveClassWeight, device: _device);
                try
                {
                    // With checkpoints on, a checkpoint of this very run (same options, seed and data) puts the
                    // weights, optimiser, generator, best epoch and position back where it was written.
                    var resume = _options.CheckpointDirectory is null ? null : OpenCheckpoints(data, label, optimizer, epochs);
                    for (int epoch = (resume?.EpochsDone ?? 0) + 1; epoch <= epochs && resume?.Stopped != true; epoch++)
                    {
                        var clock = Stopwatch.StartNew();
                        _epoch = epoch;
                        var (loss, windows) = TrainEpoch(data, label, validation, optimizer, positiveWeight, epoch == (resume?.EpochsDone ?? 0) + 1 ? resume : null);
                        double epochSeconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                        double rate = windows / epochSeconds;
                        double dataShare = Math.Clamp(1 - (_stepSeconds / epochSeconds), 0, 1);
                        _stepSeconds = 0;
                        double? validationLoss = null, validationAccuracy = null;
                        bool isBest = false;
                        if (validation.Count > 0)
                        {
                            (validationLoss, validationAccuracy) = Validate(data, label, validation);
                            // (NaN, NaN) means no validation window; a NaN loss beside a real accuracy means the outputs were NaN.
                            if (!double.IsFinite(validationLoss.Value) && !double.IsNaN(validationAccuracy.Value))
                            {
                                throw new NonFiniteTrainingException(TrainerName, epoch, null, "validation loss", validationLoss.Value,
                                    "The weights after this epoch give non-finite outputs on the validation songs.");
                            }

                            if (validationLoss < _bestLoss - 1e-7)
                            {
                                _bestLoss = validationLoss.Value;
                                _sinceBest = 0;
                                isBest = true;
                                DisposeAll(_best);
                                _best = Snapshot();
                            }
                            else
                            {
                                _sinceBest++;
                            }
                        }

                        var progress = new TrainingProgress(epoch, loss, windows, validationLoss, validationAccuracy, rate, isBest, dataShare) { SkippedBatches = _skipped, Plan = plan, Trainer = ComponentName, TotalEpochs = plan.Epochs };
                        _channel.Info(MessageSensitivity.None,
                            $"TimeConvLstm epoch {epoch}: loss {loss:F4}, validation loss {validationLoss?.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) ?? "-"}, "
                            + $"validation accuracy {validationAccuracy?.ToString("F3", System.Globalization.CultureInfo.InvariantCulture) ?? "-"}, {rate:F0} windows/s"
                            + (_skipped > 0 ? $", {_skipped} of {_batches} batch(es) skipped (non-finite loss or gradient)" : string.Empty));
                        if (_skipped > 0)
                        {
                            _channel.Warning(MessageSensitivity.None,
                                $"TimeConvLstm epoch {epoch}: skipped {_skipped} of {_batches} batch(es) whose loss or gradient norm was NaN or infinite (SkipNonFiniteBatches).");
                        }

                        _options.Progress?.Report(progress);
                        if (windows == 0)
                        {
                            throw new InvalidOperationException(
                                $"No training windows: every song in column '{_options.FeatureColumnName}' is empty or held out for validation. "
                                + "Add songs or lower ValidationFraction.");
                        }

                        bool stop = validation.Count > 0 && _sinceBest >= patience;
                        if (_checkpoints is not null && _options.CheckpointEveryEpochs > 0
                            && (stop || epoch == epochs || epoch % _options.CheckpointEveryEpochs == 0))
                        {
                            WriteCheckpoint(optimizer, new Position(epoch, 0, 0, 0, 0, 0, stop), _random.SaveState());
                        }

                        if (stop)
                        {
                            _channel.Info(MessageSensitivity.None, $"TimeConvLstm: stopping early after epoch {epoch}; keeping the best epoch's weights.");
                            break;
                        }
                    }

                    if (_best is not null)
                    {
                        Restore(_best);
                    }
                }
                finally
                {
                    DisposeAll(_best);
                }
            }

            private static long CountRows(IDataView data)
            {
                long n = 0;
                using var cursor = data.GetRowCursor([]);
                while (cursor.MoveNext())
                {
                    n++;
                }

                return n;
            }

            // Decides the automatic options from the number of songs and windows (read once, and kept in memory when
            // small so the epochs do not decode and segment the songs again), logs the decisions and warns.
            private (TrainingPlan Plan, HashSet<long> Validation) MakePlan(IDataView data, DataViewSchema.Column label)
            {
                var automatic = new List<string>();
                var warnings = new List<string>();
                bool read = _options.Epochs is null || _options.TrainingWindowStride is null;
                List<(int Windows, float Label)>? perSong = null;
                long songs;
                if (read)
                {
                    perSong = [];
                    List<(float[] Values, int Windows, float Label, long Position)>? cache = [];
                    long cachedValues = 0;
                    foreach (var (values, count, y, position) in ReadSongs(data, label, _ => true))
                    {
                        perSong.Add((count, y));
                        cachedValues += (long)count * _column.WindowSize;
                        if (cache is not null && cachedValues * sizeof(float) <= TrainingCacheBytes)
                        {
                            cache.Add((values.AsSpan(0, count * _column.WindowSize).ToArray(), count, y, position));
                        }
                        else
                        {
                            cache = null;
                        }
                    }

                    _cache = cache;
                    songs = perSong.Count;
                }
                else
                {
                    songs = data.GetRowCount() ?? CountRows(data);
                }

                double fraction;
                if (_options.ValidationFraction is double explicitFraction)
                {
                    fraction = explicitFraction;
                }
                else
                {
                    automatic.Add(nameof(TimeConvLstmOptions.ValidationFraction));
                    fraction = songs >= TimeConvLstmOptions.Defaults.MinimumSongsToValidate ? TimeConvLstmOptions.Defaults.ValidationFraction : 0;
                }

                var validation = PickValidationSongs(songs, fraction);
                int consecutive = ConsecutiveStride(_column);
                long windowsAllStrides = perSong?.Where((_, i) => !validation.Contains(i)).Sum(s => (long)s.Windows) ?? 0;
                int target = _options.TargetOptimizationSteps;
                if (_options.TrainingWindowStride is int explicitStride)
                {
                    _stride = explicitStride == TimeConvLstmOptions.ConsecutiveWindows ? consecutive : explicitStride;
                }
                else
                {
                    automatic.Add(nameof(TimeConvLstmOptions.TrainingWindowStride));
                    double consecutiveBatches = Math.Ceiling(windowsAllStrides / (double)consecutive / _options.BatchSize);
                    _stride = consecutive > 1 && consecutiveBatches * TimeConvLstmOptions.Defaults.MinimumEpochs >= target ? consecutive : 1;
                }

                double? windowsPerEpoch = perSong is null ? null : windowsAllStrides / (double)_stride;
                int epochs;
                if (_options.Epochs is int explicitEpochs)
                {
                    epochs = explicitEpochs;
                }
                else
                {
                    automatic.Add(nameof(TimeConvLstmOptions.Epochs));
                    double batches = Math.Max(1, Math.Ceiling(windowsPerEpoch!.Value / _options.BatchSize));
                    epochs = (int)Math.Clamp(Math.Ceiling(target / batches), TimeConvLstmOptions.Defaults.MinimumEpochs, TimeConvLstmOptions.Defaults.MaximumEpochs);
                }

                int? patience = null;
                if (validation.Count > 0)
                {
                    if (_options.EarlyStoppingPatience is int explicitPatience)
                    {
                        patience = explicitPatience;
                    }
                    else
                    {
                        automatic.Add(nameof(TimeConvLstmOptions.EarlyStoppingPatience));
                        patience = Math.Max(TimeConvLstmOptions.Defaults.MinimumEarlyStoppingPatience, epochs / 8);
                    }
                }

                long? liked = perSong?.Where((s, i) => !validation.Contains(i) && s.Label > 0.5f).LongCount();
                long trainingSongs = songs - validation.Count;
                if (_options.ValidationFraction is null && fraction == 0 && songs > 0)
                {
                    warnings.Add(
                        $"{songs} song(s) are too few to hold some out for validation (the automatic ValidationFraction needs at least "
                        + $"{TimeConvLstmOptions.Defaults.MinimumSongsToValidate}): training on all of them for {epochs} epochs without early stopping. "
                        + "Check the model on songs it has not seen.");
                }
                else if (validation.Count is > 0 and < TimeConvLstmOptions.Defaults.FewestValidationSongs)
                {
                    warnings.Add(
                        $"ValidationFraction {fraction} holds out only {validation.Count} of {songs} song(s): the validation loss is noisy and may stop "
                        + "training early or keep a poor epoch. With few songs leave ValidationFraction null (automatic) or set it to 0.");
                }

                if (liked is long l && trainingSongs > 0 && (l == 0 || l == trainingSongs))
                {
                    warnings.Add($"All {trainingSongs} training song(s) are {(l == 0 ? "disliked" : "liked")}: there is nothing to tell apart, so every score will drift to one side.");
                }

                var plan = new TrainingPlan(songs, validation.Count, liked, _stride, windowsPerEpoch, epochs, patience, automatic, warnings);
                string Auto(string option) => automatic.Contains(option) ? " (automatic)" : string.Empty;
                _channel.Info(MessageSensitivity.None,
                    $"TimeConvLstm: {songs} songs{(liked is long n ? $" ({n} of {trainingSongs} training songs liked)" : string.Empty)}, "
                    + $"{validation.Count} for validation{Auto(nameof(TimeConvLstmOptions.ValidationFraction))}; "
                    + $"every {_stride}. window for training{Auto(nameof(TimeConvLstmOptions.TrainingWindowStride))}"
                    + (windowsPerEpoch is double wpe ? $", about {wpe:F0} windows ({Math.Ceiling(wpe / _options.BatchSize):F0} batch(es) of {_options.BatchSize}) per epoch" : string.Empty)
                    + $"; at most {epochs} epochs{Auto(nameof(TimeConvLstmOptions.Epochs))}"
                    + (patience is int p ? $", patience {p}{Auto(nameof(TimeConvLstmOptions.EarlyStoppingPatience))}" : ", no early stopping")
                    + $"; windows of {_column.FramesPerWindow} x {_column.Coefficients}, device {_device}, {torch.get_num_threads()} thread(s)"
                    + (_cache is not null ? ", songs kept in memory." : "."));
                foreach (string warning in warnings)
                {
                    _channel.Warning(MessageSensitivity.None, "TimeConvLstm: " + warning);
                }

                return (plan, validation);
            }

            private HashSet<long> PickValidationSongs(long songs, double fraction)
            {
                int count = (int)Math.Round(fraction * songs);
                if (fraction > 0 && songs >= 2)
                {
                    count = Math.Clamp(count, 1, (int)songs - 1);
                }
                else
                {
                    count = 0;
                }

                // A seeded partial Fisher-Yates over row positions: exact count, same split for the same seed.
                var positions = new long[songs];
                for (long i = 0; i < songs; i++)
                {
                    positions[i] = i;
                }

                for (int i = 0; i < count; i++)
                {
                    long j = i + _random.NextInt64(songs - i);
                    (positions[i], positions[j]) = (positions[j], positions[i]);
                }

                return positions.Take(count).ToHashSet();
            }

            // `resume` (a checkpoint written inside this epoch) replays the epoch's first steps' draws without training
            // them, then carries on from the checkpoint's weights and sums.
            private (double Loss, long Windows) TrainEpoch(
                IDataView data, DataViewSchema.Column labelColumn, HashSet<long> validation, RootedAdam optimizer, Tensor positiveWeight, Position? resume)
            {
                _network.train();
                var buffer = new List<(float[] Window, float Label)>();
                double lossSum = resume?.LossSum ?? 0;
                long windows = resume?.Windows ?? 0;
                int emptySongs = 0;
                _batches = resume?.Batches ?? 0;
                _skipped = resume?.Skipped ?? 0;
                _replaySteps = resume?.StepsInEpoch ?? 0;
                _stepsInEpoch = 0;
                _epochStartRandom = _checkpoints is null ? null : _random.SaveState();
                foreach (var (values, count, label, _) in ReadSongs(data, labelColumn, p => !validation.Contains(p)))
                {
                    emptySongs += count == 0 ? 1 : 0;

                    // Copy the picked windows out (into pooled arrays, returned once batched): the song's array is reused.
                    for (int w = _random.Next(_stride); w < count; w += _stride)
                    {
                        var window = System.Buffers.ArrayPool<float>.Shared.Rent(_column.WindowSize);
                        values.AsSpan(w * _column.WindowSize, _column.WindowSize).CopyTo(window);
                        buffer.Add((window, label));
                    }

                    while (buffer.Count >= _options.ShuffleBufferSize)
                    {
                        (lossSum, windows) = Step(buffer, optimizer, positiveWeight, lossSum, windows);
                        AfterStep(optimizer, lossSum, windows);
                    }
                }

                while (buffer.Count > 0)
                {
                    (lossSum, windows) = Step(buffer, optimizer, positiveWeight, lossSum, windows);
                    AfterStep(optimizer, lossSum, windows);
                }

                if (emptySongs > 0 && !_warnedEmpty)
                {
                    _warnedEmpty = true;
                    _channel.Warning(MessageSensitivity.None,
                        $"TimeConvLstm: {emptySongs} training song(s) have no windows in column '{_options.FeatureColumnName}' and cannot teach anything "
                        + "(shorter than one window? let the segmenter pad short songs).");
                }

                if (_batches > 0 && _skipped == _batches)
                {
                    throw NonFiniteTrainingException.AllBatchesSkipped(TrainerName, _epoch, _batches);
                }

                return (windows == 0 ? double.NaN : lossSum / windows, windows);
            }

            private (double, long) Step(
                List<(float[] Window, float Label)> buffer, torch.optim.Optimizer optimizer, Tensor positiveWeight, double lossSum, long windows)
            {
                int b = Math.Min(_options.BatchSize, buffer.Count);
                var (x, y) = TakeRandomBatch(buffer, b);
                _stepsInEpoch++;
                if (_replaySteps > 0)
                {
                    // Trained before the checkpoint this run resumed from: its draws are made again, its effect is loaded.
                    _replaySteps--;
                    _replayed = true;
                    return (lossSum, windows);
                }

                _replayed = false;
                _totalSteps++;
                long started = Stopwatch.GetTimestamp();
                using var scope = torch.NewDisposeScope();
                var inputs = torch.tensor(x, [b, _column.FramesPerWindow, _column.Coefficients]).to(_device);
                var targets = torch.tensor(y).to(_device);
                var logits = _network.Logits(inputs);
                var loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weights: positiveWeight);
                optimizer.zero_grad();
                loss.backward();
                _batches++;

                // Checked before the step, so a NaN never reaches the weights. clip_grad_norm_ returns the norm before
                // clipping; with clipping off, an infinite bound measures it and leaves the gradients as they are.
                double gradientNorm = torch.nn.utils.clip_grad_norm_(
                    _network.parameters(), _options.GradientClipNorm > 0 ? _options.GradientClipNorm : double.PositiveInfinity);
                float value = loss.item<float>();
                if (NonFiniteTrainingException.IsNonFiniteBatch(TrainerName, _epoch, _batches, value, gradientNorm, _options.SkipNonFiniteBatches))
                {
                    _skipped++;
                    _stepSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                    return (lossSum, windows);
                }

                optimizer.step();
                _stepSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                return (lossSum + (value * b), windows + b);
            }

            // Swap-remove random entries: O(batch), and the draw order depends only on the seed.
            private (float[] X, float[] Y) TakeRandomBatch(List<(float[] Window, float Label)> buffer, int b)
            {
                int size = _column.WindowSize;
                var x = b == _options.BatchSize ? (_batch ??= new float[b * size]) : new float[b * size];
                var y = new float[b];
                for (int i = 0; i < b; i++)
                {
                    int j = _random.Next(buffer.Count);
                    var (window, label) = buffer[j];
                    Array.Copy(window, 0, x, i * size, size);
                    System.Buffers.ArrayPool<float>.Shared.Return(window);
                    y[i] = label;
                    buffer[j] = buffer[^1];
                    buffer.RemoveAt(buffer.Count - 1);
                }

                return (x, y);
            }

            private (double Loss, double Accuracy) Validate(IDataView data, DataViewSchema.Column labelColumn, HashSet<long> validation)
            {
                _network.eval();
                using var noGrad = torch.no_grad();
                double lossSum = 0;
                long correct = 0, total = 0;
                int size = _column.WindowSize;
                foreach (var (values, count, label, _) in ReadSongs(data, labelColumn, validation.Contains))
                {
                    var picked = Enumerable.Range(0, count).Where(w => w % _stride == 0).ToArray();
                    for (int start = 0; start < picked.Length; start += _options.BatchSize)
                    {
                        int b = Math.Min(_options.BatchSize, picked.Length - start);
                        var x = new float[b * size];
                        for (int i = 0; i < b; i++)
                        {
                            Array.Copy(values, picked[start + i] * size, x, i * size, size);
                        }

                        using var scope = torch.NewDisposeScope();
                        var inputs = torch.tensor(x, [b, _column.FramesPerWindow, _column.Coefficients]).to(_device);
                        using var labelScalar = label.ToScalar();
                        var targets = torch.full([b], labelScalar, device: _device);
                        var logits = _network.Logits(inputs);
                        lossSum += torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction: torch.nn.Reduction.Sum).item<float>();
                        correct += (logits > TorchScalars.Zero).eq(targets > TorchScalars.HalfSingle).sum().item<long>();
                        total += b;
                    }
                }

                _network.train();
                return total == 0 ? (double.NaN, double.NaN) : (lossSum / total, (double)correct / total);
            }

            // Streams the songs whose row position passes `wanted`; the others' windows are never read. The values
            // array is reused from song to song and may be longer than the song's windows.
            private IEnumerable<(float[] Values, int Windows, float Label, long Position)> ReadSongs(
                IDataView data, DataViewSchema.Column labelColumn, Func<long, bool> wanted)
            {
                if (_cache is not null)
                {
                    foreach (var song in _cache.Where(s => wanted(s.Position)))
                    {
                        yield return song;
                    }

                    yield break;
                }

                var features = data.Schema[_options.FeatureColumnName];
                using var cursor = data.GetRowCursor([features, labelColumn]);
                var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
                Func<float> getLabel;
                if (labelColumn.Type == BooleanDataViewType.Instance)
                {
                    var g = cursor.GetGetter<bool>(labelColumn);
                    getLabel = () =>
                    {
                        bool v = false;
                        g(ref v);
                        return v ? 1f : 0f;
                    };
                }
                else
                {
                    var g = cursor.GetGetter<float>(labelColumn);
                    getLabel = () =>
                    {
                        float v = 0;
                        g(ref v);
                        return v;
                    };
                }

                var buffer = default(VBuffer<float>);
                float[] scratch = [];
                while (cursor.MoveNext())
                {
                    if (!wanted(cursor.Position))
                    {
                        continue;
                    }

                    float label = getLabel();
                    if (!(label >= 0 && label <= 1))
                    {
                        throw new InvalidOperationException(
                            $"Row {cursor.Position}: label column '{labelColumn.Name}' is {label}; labels must be 0..1 (liked = 1).");
                    }

                    getFeatures(ref buffer);
                    // One reused array per pass: callers copy the windows they keep before asking for the next song.
                    int count = _column.DenseInto(buffer, features.Name, cursor.Position, ref scratch);
                    CheckFinite(scratch, count, features.Name, cursor.Position);
                    yield return (scratch, count, label, cursor.Position);
                }
            }

            // A NaN or infinity in the features would only surface later as a NaN loss; name the row and place instead.
            private void CheckFinite(float[] values, int windows, string columnName, long row)
            {
                int n = windows * _column.WindowSize;
                for (int i = 0; i < n; i++)
                {
                    if (!float.IsFinite(values[i]))
                    {
                        int window = i / _column.WindowSize, frame = i % _column.WindowSize / _column.Coefficients, coefficient = i % _column.Coefficients;
                        throw new InvalidOperationException(
                            $"Row {row}: window column '{columnName}' holds {values[i]} at window {window}, frame {frame}, coefficient {coefficient}; "
                            + "features must be finite numbers (check the audio and the feature extraction that filled the column).");
                    }
                }
            }

            private Dictionary<string, Tensor> Snapshot()
            {
                using var noGrad = torch.no_grad();
                return _network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            }

            private void Restore(Dictionary<string, Tensor> state)
            {
                using var noGrad = torch.no_grad();
                foreach (var (name, tensor) in _network.state_dict())
                {
                    tensor.copy_(state[name]);
                }
            }

            private static void DisposeAll(Dictionary<string, Tensor>? state)
            {
                if (state is null)
                {
                    return;
                }

                foreach (var t in state.Values)
                {
                    t.Dispose();
                }

                state.Clear();
            }
        }
    }
}
