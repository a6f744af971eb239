using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

/// <summary>Crash-safe training for <see cref="MultiUserAudioTrainer"/> (<see cref="MultiUserAudioOptions.CheckpointDirectory"/>).</summary>
public sealed partial class MultiUserAudioTrainer
{
    /// <summary>What training has changed so far: the parameters and the optimiser (the network's and the user vectors' weights live in them).</summary>
    private sealed record TrainingState(TimeConvNetwork Network, TorchSharp.Modules.Parameter Users, TorchSharp.Modules.Parameter Bias, nn.Module? StatisticsHead, nn.Module? Projection, IReadOnlyList<nn.Module> ReadoutHeads, RootedAdam Optimizer);

    /// <summary>
    /// Where training stands: epochs done, batches already drawn in the next epoch (0 at an epoch's end), optimisation
    /// steps in all, the generator at the start of the next epoch, and that epoch's sums so far.
    /// </summary>
    private sealed record CheckpointPosition(int EpochsDone, int StepsInEpoch, long TotalSteps, byte[] EpochStartRandom, double LossSum, int Batches, int Skipped, long Pairs);

    /// <summary>
    /// The checkpoints of one Fit. Everything that decides the final model is in one: the encoder's weights, the user
    /// vectors and bias, the auxiliary read-out, Adam's moments and step counts, the sampling generator at the start of
    /// the epoch in progress, how far that epoch got and its sums, and the skipped-batch counts of the epochs done. Not
    /// stored because they follow from the options, seed and data (which the fingerprint pins): the standardisation, the
    /// positives, the epoch count. libtorch's generator only initialises the weights, which are stored.
    /// </summary>
    /// <remarks>
    /// Payload layout (inside <see cref="TrainingCheckpointDirectory"/>'s checksummed file, format version 1):
    /// <code>
    /// string   options: "Name=value;..." of every option that changes the model, the seed and the device
    /// byte[32] SHA-256 of the training data (plays, then every song's window count and values)
    /// int32    epochs completed E; int32 batches already drawn in epoch E+1 (0 at an epoch's end); int64 optimisation steps in all
    /// byte[232] the sampling generator (<see cref="SavableRandom"/>) at the start of epoch E+1
    /// double   epoch E+1's play-loss sum so far; int32 its batches; int32 its skipped batches; int64 its trained pairs
    /// int32[]  skipped batches per completed epoch (count E, then E values)
    /// float[]  user vectors, then the bias (each: int64 n, n x float32)
    /// weights  <see cref="TorchModuleState"/> block of the encoder, then (when WindowStatisticsWeight > 0) of the read-out,
    ///          then (when ContrastivePretrainingEpochs or ContrastiveWeight > 0) of the contrastive projection,
    ///          then (when RhythmWeight > 0) of the rhythm read-out, then (when DirectionWeight > 0) of the direction read-out
    /// moments  <see cref="RootedAdam.WriteMoments"/> block
    /// </code>
    /// A checkpoint written inside an epoch is resumed by drawing that epoch's pairs, negatives and windows again up to
    /// the checkpoint without training them (their effect is in the stored weights).
    /// </remarks>
    private sealed class CheckpointedRun
    {
        private const int RandomStateBytes = 232;
        private readonly MultiUserAudioOptions _options;
        private readonly IChannel _channel;
        private readonly TrainingState _state;
        private readonly string _description;
        private readonly byte[] _data;
        private readonly TrainingCheckpointDirectory _directory;

        public CheckpointedRun(MultiUserAudioOptions options, IChannel channel, TrainingState state, (string Options, byte[] Data) fingerprint)
        {
            _options = options;
            _channel = channel;
            _state = state;
            (_description, _data) = fingerprint;
            _directory = new TrainingCheckpointDirectory(options.CheckpointDirectory!, TrainerName, options.CheckpointsToKeep);
        }

        // Loads the newest readable checkpoint of this run (refusing one of another run) into the state, the generator
        // and the skipped-batch counts; returns its position, or null to start from the first epoch.
        public CheckpointPosition? Open(SavableRandom random, int[] skippedPerEpoch, int epochs)
        {
            int unfinished = _directory.DeleteUnfinished();
            if (unfinished > 0)
            {
                _channel.Warning(MessageSensitivity.None,
                    $"{TrainerName}: deleted {unfinished} unfinished checkpoint write(s) in '{_directory.Directory}' (a run stopped while writing).");
            }

            foreach (string path in _directory.Newest())
            {
                byte[] payload;
                string options;
                byte[] data;
                try
                {
                    payload = _directory.ReadPayload(path);
                    using var probe = new BinaryReader(new MemoryStream(payload, writable: false));
                    options = probe.ReadString();
                    data = probe.ReadBytes(32);
                    if (data.Length != 32)
                    {
                        throw new InvalidDataException("it ends inside its data fingerprint");
                    }
                }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or UnauthorizedAccessException)
                {
                    string aside = e is InvalidDataException or EndOfStreamException ? TrainingCheckpointDirectory.SetAside(path) : path;
                    _channel.Warning(MessageSensitivity.None,
                        $"{TrainerName}: checkpoint '{path}' is unreadable: {e.Message}. {(aside != path ? $"Renamed to '{Path.GetFileName(aside)}'; " : string.Empty)}trying the previous checkpoint.");
                    continue;
                }

                var refusal = _directory.RefuseOtherRun(path, options, _description, data, _data, "plays and windows", "MultiUserAudioOptions.CheckpointDirectory");
                if (refusal is not null)
                {
                    throw refusal;
                }

                CheckpointPosition position;
                try
                {
                    using var reader = new BinaryReader(new MemoryStream(payload, writable: false));
                    reader.ReadString();
                    reader.ReadBytes(32);
                    position = ReadState(reader, skippedPerEpoch, epochs);
                }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ArgumentException)
                {
                    // The checksum held and the fingerprints match, so this is not damage: never train on half-loaded state.
                    throw new InvalidOperationException(
                        $"Checkpoint '{path}' passed its checksum and matches this run, but its state does not load into the model: {e.Message}. "
                        + "Delete the checkpoints in that folder to start over.", e);
                }

                random.Restore(position.EpochStartRandom);
                _channel.Info(MessageSensitivity.None,
                    position.EpochsDone >= epochs
                        ? $"{TrainerName}: checkpoint '{path}' is of a finished run ({position.EpochsDone} epochs, {position.TotalSteps} optimisation steps); returning its model."
                        : $"{TrainerName}: resuming from checkpoint '{path}': {position.EpochsDone} epoch(s) done, {position.StepsInEpoch} batch(es) into epoch {position.EpochsDone + 1}, {position.TotalSteps} optimisation steps in all.");
                return position;
            }

            _channel.Info(MessageSensitivity.None, $"{TrainerName}: no usable checkpoint in '{_directory.Directory}'; training from the start.");
            return null;
        }

        public void Write(CheckpointPosition position, int[] skippedPerEpoch)
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"epoch-{position.EpochsDone:D6}-step-{position.StepsInEpoch:D9}");
            var (path, bytes, elapsed) = _directory.Write(name, writer =>
            {
                writer.Write(_description);
                writer.Write(_data);
                writer.Write(position.EpochsDone);
                writer.Write(position.StepsInEpoch);
                writer.Write(position.TotalSteps);
                writer.Write(position.EpochStartRandom);
                writer.Write(position.LossSum);
                writer.Write(position.Batches);
                writer.Write(position.Skipped);
                writer.Write(position.Pairs);
                writer.Write(position.EpochsDone);
                for (int e = 0; e < position.EpochsDone; e++)
                {
                    writer.Write(skippedPerEpoch[e]);
                }

                WriteValues(writer, _state.Users);
                WriteValues(writer, _state.Bias);
                TorchModuleState.Write(writer, _state.Network);
                if (_state.StatisticsHead is not null)
                {
                    TorchModuleState.Write(writer, _state.StatisticsHead);
                }

                if (_state.Projection is not null)
                {
                    TorchModuleState.Write(writer, _state.Projection);
                }

                foreach (var head in _state.ReadoutHeads)
                {
                    TorchModuleState.Write(writer, head);
                }

                _state.Optimizer.WriteMoments(writer);
            });
            _channel.Info(MessageSensitivity.None,
                $"{TrainerName}: checkpoint '{path}' written ({bytes} bytes in {elapsed.TotalMilliseconds:F1} ms; {position.TotalSteps} optimisation steps).");
        }

        private CheckpointPosition ReadState(BinaryReader reader, int[] skippedPerEpoch, int epochs)
        {
            int epochsDone = reader.ReadInt32(), steps = reader.ReadInt32();
            long total = reader.ReadInt64();
            byte[] random = reader.ReadBytes(RandomStateBytes);
            double lossSum = reader.ReadDouble();
            int batches = reader.ReadInt32(), skipped = reader.ReadInt32();
            long pairs = reader.ReadInt64();
            int counted = reader.ReadInt32();
            if (random.Length != RandomStateBytes || epochsDone < 0 || epochsDone > epochs || steps < 0 || total < 0 || counted != epochsDone)
            {
                throw new InvalidDataException($"its position is impossible (epoch {epochsDone} of {epochs}, batch {steps}, {total} steps in all)");
            }

            for (int e = 0; e < epochsDone; e++)
            {
                skippedPerEpoch[e] = reader.ReadInt32();
            }

            ReadValues(reader, _state.Users, "the user vectors");
            ReadValues(reader, _state.Bias, "the bias");
            TorchModuleState.Read(reader, _state.Network);
            if (_state.StatisticsHead is not null)
            {
                TorchModuleState.Read(reader, _state.StatisticsHead);
            }

            if (_state.Projection is not null)
            {
                TorchModuleState.Read(reader, _state.Projection);
            }

            foreach (var head in _state.ReadoutHeads)
            {
                TorchModuleState.Read(reader, head);
            }

            _state.Optimizer.ReadMoments(reader);
            if (reader.BaseStream.Position != reader.BaseStream.Length)
            {
                throw new InvalidDataException("it holds more than this model's state");
            }

            return new CheckpointPosition(epochsDone, steps, total, random, lossSum, batches, skipped, pairs);
        }

        private static void WriteValues(BinaryWriter writer, Tensor parameter)
        {
            using var cpu = parameter.detach().cpu().contiguous();
            float[] values = cpu.data<float>().ToArray();
            writer.Write((long)values.Length);
            writer.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        }

        private static void ReadValues(BinaryReader reader, Tensor parameter, string what)
        {
            long n = reader.ReadInt64();
            if (n != parameter.numel())
            {
                throw new InvalidDataException($"{what} hold {n} values; the model has {parameter.numel()}");
            }

            var values = new float[n];
            var bytes = MemoryMarshal.AsBytes(values.AsSpan());
            if (reader.Read(bytes) != bytes.Length)
            {
                throw new EndOfStreamException($"{what} are cut short");
            }

            using var noGrad = no_grad();
            using var loaded = torch.tensor(values, parameter.shape);
            parameter.copy_(loaded);
        }
    }

    /// <summary>
    /// A run's identity: every option that changes the model, with the seed and device in use (not column names,
    /// Aggregation, Progress or the checkpoint options), and a SHA-256 of the plays and of every song's windows.
    /// </summary>
    private (string Options, byte[] Data) Fingerprint(PlayMatrix plays, MultiUserAudioOptions o, Device device)
    {
        string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string description = string.Join(";",
            $"Seed={o.Seed!.Value.ToString(CultureInfo.InvariantCulture)}",
            $"Device={device.type}",
            $"Epochs={o.Epochs!.Value.ToString(CultureInfo.InvariantCulture)}",
            $"EmbeddingSize={o.EmbeddingSize.ToString(CultureInfo.InvariantCulture)}",
            $"Channels={o.Channels.ToString(CultureInfo.InvariantCulture)}",
            $"ConvolutionLayers={o.ConvolutionLayers.ToString(CultureInfo.InvariantCulture)}",
            $"ConvolutionForm={o.ConvolutionForm}",
            $"BatchSize={o.BatchSize.ToString(CultureInfo.InvariantCulture)}",
            $"LearningRate={Number(o.LearningRate)}",
            $"NegativesPerPlay={o.NegativesPerPlay.ToString(CultureInfo.InvariantCulture)}",
            $"PopularityMatchedNegatives={o.PopularityMatchedNegatives}",
            $"WindowsPerPair={o.WindowsPerPair.ToString(CultureInfo.InvariantCulture)}",
            $"WindowStatisticsWeight={Number(o.WindowStatisticsWeight)}",
            $"SkipNonFiniteBatches={o.SkipNonFiniteBatches}")
            // Only when set, so that checkpoints written before these options existed still resume.
            + (o.ContrastivePretrainingEpochs > 0 || o.ContrastiveWeight > 0
                ? string.Create(CultureInfo.InvariantCulture, $";ContrastivePretrainingEpochs={o.ContrastivePretrainingEpochs};ContrastiveWeight={Number(o.ContrastiveWeight!.Value)};ContrastiveTemperature={Number(o.ContrastiveTemperature)}")
                : string.Empty)
            + (o.RhythmWeight > 0 ? $";RhythmWeight={Number(o.RhythmWeight)}" : string.Empty)
            + (o.DirectionWeight > 0 ? $";DirectionWeight={Number(o.DirectionWeight)}" : string.Empty);

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"plays {plays.UserCount}x{plays.SongCount};windows {_songs.SongCount} of {_songs.FramesPerWindow}x{_songs.Coefficients};")));
        hash.AppendData(MemoryMarshal.AsBytes(plays.UserStart.AsSpan()));
        hash.AppendData(MemoryMarshal.AsBytes(plays.SongIndex.AsSpan()));
        hash.AppendData(MemoryMarshal.AsBytes(plays.Plays.AsSpan()));
        Span<byte> count = stackalloc byte[4];
        for (int s = 0; s < _songs.SongCount; s++)
        {
            BitConverter.TryWriteBytes(count, _songs.WindowCount(s));
            hash.AppendData(count);
            hash.AppendData(MemoryMarshal.AsBytes(_songs.Windows(s)));
        }

        return (description, hash.GetHashAndReset());
    }
}
