using System.Globalization;
using System.Security.Cryptography;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Scoring
{
    /// <summary>Crash-safe training for <see cref="TimeConvLstmTrainer"/>: checkpoints written during Fit and read back by a later Fit.</summary>
    public sealed partial class TimeConvLstmTrainer
    {
        /// <summary>
        /// Checkpoints (<see cref="TimeConvLstmOptions.CheckpointDirectory"/>). Everything that decides the final
        /// weights is in one: the weights, Adam's moments and step counts, the shuffling generator's state at the
        /// start of the epoch in progress, how far that epoch got, its loss sums, the best epoch's weights and loss,
        /// and the early-stopping count. The validation split, plan and song cache are not stored: they follow from
        /// the options, seed and data, which the checkpoint's fingerprint pins. libtorch's generator only initialises
        /// the weights (the network has no dropout), and the weights are stored, so its state is not needed.
        /// </summary>
        /// <remarks>
        /// Payload layout (inside <see cref="TrainingCheckpointDirectory"/>'s checksummed file, format version 1):
        /// <code>
        /// string   options: "Name=value;..." of every option that changes the weights, the seed and the device
        /// byte[32] SHA-256 of the training data (window layout, then per song: row, window count, label, window values)
        /// int32    epochs completed E
        /// int32    optimisation steps already taken in epoch E+1 (0 at an epoch's end)
        /// int64    optimisation steps taken in all (skipped non-finite batches included)
        /// bool     stopped: early stopping ended training after epoch E
        /// byte[232] the shuffling generator (<see cref="SavableRandom"/>) at the start of epoch E+1
        /// double   epoch E+1's loss sum so far; int64 its windows; int32 its batches; int32 its skipped batches
        /// double   best validation loss (+infinity before the first); int32 epochs since the best
        /// bool     has best weights; if so: int32 count, then per tensor (state-dict order): string name, int64 n, n x float32
        /// weights  <see cref="TorchModuleState"/> block of the network
        /// moments  <see cref="RootedAdam.WriteMoments"/> block
        /// </code>
        /// A checkpoint written inside an epoch is resumed by reading that epoch's songs again and making the same
        /// random draws for its first steps without training them (their effect is in the stored weights), so it
        /// costs the resumed run up to one epoch of data reading and no optimisation.
        /// </remarks>
        private sealed partial class TrainingRun
        {
            private const int RandomStateBytes = 232;
            private TrainingCheckpointDirectory? _checkpoints;
            private string _optionsDescription = string.Empty;
            private byte[] _dataFingerprint = [];
            private byte[]? _epochStartRandom;
            private Dictionary<string, Tensor>? _best;
            private double _bestLoss = double.PositiveInfinity;
            private int _sinceBest;
            private int _replaySteps;
            private bool _replayed;
            private int _stepsInEpoch;
            private long _totalSteps;

            /// <summary>Where training stands at a checkpoint: epochs done, steps into the next one and that epoch's sums.</summary>
            private sealed record Position(int EpochsDone, int StepsInEpoch, double LossSum, long Windows, int Batches, int Skipped, bool Stopped);

            private sealed record Header(string Options, byte[] Data, Position Position, long TotalSteps, byte[] Random, double BestLoss, int SinceBest);

            // Opens the checkpoint folder and loads the newest readable checkpoint of this run (refusing one of another
            // run); returns its position, or null to start from the first epoch.
            private Position? OpenCheckpoints(IDataView data, DataViewSchema.Column label, RootedAdam optimizer, int epochs)
            {
                var checkpoints = new TrainingCheckpointDirectory(_options.CheckpointDirectory!, TrainerName, _options.CheckpointsToKeep);
                _checkpoints = checkpoints;
                _optionsDescription = DescribeOptions();
                _dataFingerprint = FingerprintData(data, label);
                int unfinished = checkpoints.DeleteUnfinished();
                if (unfinished > 0)
                {
                    _channel.Warning(MessageSensitivity.None,
                        $"TimeConvLstm: deleted {unfinished} unfinished checkpoint write(s) in '{checkpoints.Directory}' (a run stopped while writing).");
                }

                foreach (string path in checkpoints.Newest())
                {
                    Header header;
                    byte[] payload;
                    try
                    {
                        payload = checkpoints.ReadPayload(path);
                        using var probe = new BinaryReader(new MemoryStream(payload, writable: false));
                        header = ReadHeader(probe);
                    }
                    catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or UnauthorizedAccessException)
                    {
                        string aside = e is InvalidDataException or EndOfStreamException ? TrainingCheckpointDirectory.SetAside(path) : path;
                        _channel.Warning(MessageSensitivity.None,
                            $"TimeConvLstm: checkpoint '{path}' is unreadable: {e.Message}. {(aside != path ? $"Renamed to '{Path.GetFileName(aside)}'; " : string.Empty)}trying the previous checkpoint.");
                        continue;
                    }

                    RefuseOtherRun(path, header);
                    using (var reader = new BinaryReader(new MemoryStream(payload, writable: false)))
                    {
                        ReadHeader(reader);
                        try
                        {
                            ReadState(reader, optimizer);
                        }
                        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
                        {
                            // The checksum held and the fingerprints match, so this is not damage: never train on half-loaded state.
                            throw new InvalidOperationException(
                                $"Checkpoint '{path}' passed its checksum and matches this run, but its state does not load into the network: {e.Message}. "
                                + "Delete the checkpoints in that folder to start over.", e);
                        }
                    }

                    _random.Restore(header.Random);
                    _totalSteps = header.TotalSteps;
                    _bestLoss = header.BestLoss;
                    _sinceBest = header.SinceBest;
                    var p = header.Position;
                    _channel.Info(MessageSensitivity.None,
                        p.Stopped || (p.EpochsDone >= epochs && p.StepsInEpoch == 0)
                            ? $"TimeConvLstm: checkpoint '{path}' is of a finished run ({p.EpochsDone} epochs, {header.TotalSteps} optimisation steps); returning its weights."
                            : $"TimeConvLstm: resuming from checkpoint '{path}': {p.EpochsDone} epoch(s) done, {p.StepsInEpoch} step(s) into epoch {p.EpochsDone + 1}, {header.TotalSteps} optimisation steps in all.");
                    return p;
                }

                _channel.Info(MessageSensitivity.None, $"TimeConvLstm: no usable checkpoint in '{checkpoints.Directory}'; training from the start.");
                return null;
            }

            // After each step: a checkpoint every CheckpointEverySteps optimisation steps (not for replayed steps).
            private void AfterStep(RootedAdam optimizer, double lossSum, long windows)
            {
                if (_checkpoints is null || _replayed || _options.CheckpointEverySteps <= 0 || _totalSteps % _options.CheckpointEverySteps != 0)
                {
                    return;
                }

                WriteCheckpoint(optimizer, new Position(_epoch - 1, _stepsInEpoch, lossSum, windows, _batches, _skipped, false), _epochStartRandom!);
            }

            private void WriteCheckpoint(RootedAdam optimizer, Position position, byte[] randomState)
            {
                string name = string.Create(CultureInfo.InvariantCulture, $"epoch-{position.EpochsDone:D6}-step-{position.StepsInEpoch:D9}");
                var (path, bytes, elapsed) = _checkpoints!.Write(name, writer =>
                {
                    writer.Write(_optionsDescription);
                    writer.Write(_dataFingerprint);
                    writer.Write(position.EpochsDone);
                    writer.Write(position.StepsInEpoch);
                    writer.Write(_totalSteps);
                    writer.Write(position.Stopped);
                    writer.Write(randomState);
                    writer.Write(position.LossSum);
                    writer.Write(position.Windows);
                    writer.Write(position.Batches);
                    writer.Write(position.Skipped);
                    writer.Write(_bestLoss);
                    writer.Write(_sinceBest);
                    writer.Write(_best is not null);
                    if (_best is not null)
                    {
                        writer.Write(_best.Count);
                        foreach (var (tensorName, tensor) in _best)
                        {
                            writer.Write(tensorName);
                            using var cpu = tensor.detach().cpu().contiguous();
                            float[] values = cpu.data<float>().ToArray();
                            writer.Write((long)values.Length);
                            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                        }
                    }

                    TorchModuleState.Write(writer, _network);
                    optimizer.WriteMoments(writer);
                });
                _channel.Info(MessageSensitivity.None,
                    $"TimeConvLstm: checkpoint '{path}' written ({bytes} bytes in {elapsed.TotalMilliseconds:F1} ms; {_totalSteps} optimisation steps).");
            }

            private static Header ReadHeader(BinaryReader reader)
            {
                string options = reader.ReadString();
                byte[] data = reader.ReadBytes(32);
                int epochs = reader.ReadInt32(), steps = reader.ReadInt32();
                long total = reader.ReadInt64();
                bool stopped = reader.ReadBoolean();
                byte[] random = reader.ReadBytes(RandomStateBytes);
                double lossSum = reader.ReadDouble();
                long windows = reader.ReadInt64();
                int batches = reader.ReadInt32(), skipped = reader.ReadInt32();
                double bestLoss = reader.ReadDouble();
                int sinceBest = reader.ReadInt32();
                if (data.Length != 32 || random.Length != RandomStateBytes || epochs < 0 || steps < 0 || total < 0 || sinceBest < 0)
                {
                    throw new InvalidDataException($"its position is impossible (epoch {epochs}, step {steps}, {total} steps in all)");
                }

                return new Header(options, data, new Position(epochs, steps, lossSum, windows, batches, skipped, stopped), total, random, bestLoss, sinceBest);
            }

            private void ReadState(BinaryReader reader, RootedAdam optimizer)
            {
                DisposeAll(_best);
                _best = null;
                if (reader.ReadBoolean())
                {
                    var best = new Dictionary<string, Tensor>();
                    var shapes = _network.state_dict();
                    int count = reader.ReadInt32();
                    if (count != shapes.Count)
                    {
                        throw new InvalidDataException($"the best weights hold {count} tensors; the network has {shapes.Count}");
                    }

                    try
                    {
                        for (int i = 0; i < count; i++)
                        {
                            string name = reader.ReadString();
                            long n = reader.ReadInt64();
                            if (!shapes.TryGetValue(name, out var like) || like.numel() != n)
                            {
                                throw new InvalidDataException($"the best weights' tensor '{name}' ({n} values) is not in the network");
                            }

                            var values = new float[n];
                            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
                            if (reader.Read(bytes) != bytes.Length)
                            {
                                throw new EndOfStreamException($"the best weights' tensor '{name}' is cut short");
                            }

                            using var cpu = torch.tensor(values, like.shape);
                            best[name] = cpu.to(_device).detach().clone();
                        }
                    }
                    catch
                    {
                        DisposeAll(best);
                        throw;
                    }

                    _best = best;
                }

                TorchModuleState.Read(reader, _network);
                optimizer.ReadMoments(reader);
                if (reader.BaseStream.Position != reader.BaseStream.Length)
                {
                    throw new InvalidDataException("it holds more than this network's state");
                }
            }

            private void RefuseOtherRun(string path, Header header)
            {
                var refusal = _checkpoints!.RefuseOtherRun(path, header.Options, _optionsDescription, header.Data, _dataFingerprint, "windows and labels", "TimeConvLstmOptions.CheckpointDirectory");
                if (refusal is not null)
                {
                    throw refusal;
                }
            }

            // Every option that changes the trained weights, with the seed in use and the device; not the column
            // names, Threads, Progress, scoring options or the checkpoint cadence.
            private string DescribeOptions()
            {
                var o = _options;
                static string Auto<T>(T? v)
                    where T : struct, IFormattable => v is T x ? x.ToString(null, CultureInfo.InvariantCulture) : "automatic";
                return string.Join(";",
                    $"Seed={_seed.ToString(CultureInfo.InvariantCulture)}",
                    $"Device={_device.type}",
                    $"Epochs={Auto(o.Epochs)}",
                    $"TargetOptimizationSteps={o.TargetOptimizationSteps.ToString(CultureInfo.InvariantCulture)}",
                    $"BatchSize={o.BatchSize.ToString(CultureInfo.InvariantCulture)}",
                    $"LearningRate={o.LearningRate.ToString("R", CultureInfo.InvariantCulture)}",
                    $"ValidationFraction={(o.ValidationFraction is double v ? v.ToString("R", CultureInfo.InvariantCulture) : "automatic")}",
                    $"EarlyStoppingPatience={Auto(o.EarlyStoppingPatience)}",
                    $"PositiveClassWeight={o.PositiveClassWeight.ToString("R", CultureInfo.InvariantCulture)}",
                    $"TrainingWindowStride={Auto(o.TrainingWindowStride)}",
                    $"ShuffleBufferSize={o.ShuffleBufferSize.ToString(CultureInfo.InvariantCulture)}",
                    $"GradientClipNorm={o.GradientClipNorm.ToString("R", CultureInfo.InvariantCulture)}",
                    $"ConvolutionForm={o.ConvolutionForm}",
                    $"Head={o.Head}",
                    $"ConvolutionLayers={o.ConvolutionLayers.ToString(CultureInfo.InvariantCulture)}",
                    $"Channels={o.Channels.ToString(CultureInfo.InvariantCulture)}",
                    $"LstmHiddenSize={o.LstmHiddenSize.ToString(CultureInfo.InvariantCulture)}",
                    $"SkipNonFiniteBatches={o.SkipNonFiniteBatches}")
                    + (o.PoolingLayers is null && o.PoolingSize == TimeConvLstmOptions.Defaults.PoolingSize
                        ? string.Empty // the seed's pooling adds nothing, so checkpoints written before these options still match
                        : string.Create(CultureInfo.InvariantCulture, $";PoolingLayers={o.PoolingLayers?.ToString(CultureInfo.InvariantCulture) ?? "all"};PoolingSize={o.PoolingSize}"));
            }

            // One pass over the songs (none when they are cached in memory): the window layout, then every row's
            // position, window count, label and window values.
            private byte[] FingerprintData(IDataView data, DataViewSchema.Column label)
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                hash.AppendData(System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                    $"{_column.FramesPerWindow}x{_column.Coefficients};window {_column.WindowSeconds:R};hop {_column.WindowHopSeconds:R};label {label.Type};")));
                Span<byte> scalars = stackalloc byte[16];
                foreach (var (values, count, y, position) in ReadSongs(data, label, _ => true))
                {
                    BitConverter.TryWriteBytes(scalars, position);
                    BitConverter.TryWriteBytes(scalars[8..], count);
                    BitConverter.TryWriteBytes(scalars[12..], y);
                    hash.AppendData(scalars);
                    hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan(0, count * _column.WindowSize)));
                }

                return hash.GetHashAndReset();
            }
        }
    }
}
