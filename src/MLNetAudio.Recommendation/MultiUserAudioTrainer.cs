using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The audio recommender's multi-user mode (DESIGN.md §4): one shared CNN+LSTM encoder (<see cref="TimeConvNetwork"/>)
/// turns every 8-second window into an embedding, and each user has a learned vector; a window's preference for a
/// user is sigmoid(user · window + b), and a song's score aggregates its windows (<see cref="AudioSongAggregation"/>).
/// Trained on (user, song, played) with sampled unplayed songs as negatives; songs without training plays (cold songs)
/// are never used in training, yet are scored from their audio like any other.
/// </summary>
/// <remarks>
/// <para>Estimator characteristics: trains (TorchSharp, GPU when present); input: user and song key columns and a Single
/// play-count column; output: Single <c>Score</c>; NuGet: MLNetAudio plus a libtorch backend; not ONNX-exportable as a
/// whole (the encoder is the scorer's network, which is).</para>
/// <para>Written by hand: no library trains a shared audio encoder with per-user vectors. A training pair's logit is
/// a soft maximum (log-mean-exp) over <see cref="MultiUserAudioOptions.WindowsPerPair"/> windows drawn from the
/// song, so a song liked for one part can be learned from that part (the seed's multiple-instance view).</para>
/// </remarks>
public sealed partial class MultiUserAudioTrainer : IEstimator<MultiUserAudioModel>
{
    private const string TrainerName = "MultiUserAudio";
    private readonly MultiUserAudioOptions _options;
    private readonly AudioSongWindows _songs;
    private readonly IHost _log;

    // Reached through the catalog (ml.Audio().Recommendation.Trainers.MultiUserAudio). The options are validated and
    // copied here, so changing the caller's object later changes nothing; a null Seed is drawn from this trainer's
    // host, which the MLContext seeds.
    internal MultiUserAudioTrainer(MLContext mlContext, MultiUserAudioOptions options, AudioSongWindows songs)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(songs);
        options.Validate();
        _log = ((IHostEnvironment)mlContext).Register(TrainerName);
        _options = options.Copy();
        _options.Seed ??= _log.Rand.Next();
        _songs = songs;
    }

    /// <summary>
    /// Batches skipped in each epoch of the last <see cref="Fit"/> (one count per epoch) because their loss or gradient
    /// norm was not finite; all zero unless <see cref="MultiUserAudioOptions.SkipNonFiniteBatches"/> is on.
    /// </summary>
    public IReadOnlyList<int> SkippedBatches { get; private set; } = [];

    /// <summary>Trains the encoder and the user vectors on the plays of <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">A column is missing or wrong, or the song key count differs from the catalog's.</exception>
    public MultiUserAudioModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, _options.LabelColumnName);
        if (plays.SongCount != _songs.SongCount)
        {
            throw new ArgumentException(
                $"Song column '{_options.MatrixRowIndexColumnName}' is a key of {plays.SongCount} values but the song windows hold {_songs.SongCount} songs; "
                + "compute the windows for the same catalog the keys were made from.",
                nameof(input));
        }

        CheckWindowsFinite();
        var options = _options.Copy();
        options.Epochs ??= AutomaticEpochs(plays.NonZeroCount, options);
        options.ContrastivePretrainingEpochs ??= AutomaticPretrainingEpochs(_songs.SongCount, options);
        options.ContrastiveWeight ??= AutomaticContrastiveWeight(options);
        if (options.ContrastivePretrainingEpochs > 0 && PretrainingStepsPerEpoch(_songs.SongCount, options) == 0)
        {
            // The options already refuse BatchSize 1, so this is a catalog of one song: no other song to tell it apart from.
            throw new ArgumentException(
                $"ContrastivePretrainingEpochs is {options.ContrastivePretrainingEpochs} but the song windows hold {_songs.SongCount} song(s); "
                + "pretraining tells each song's windows apart from other songs' and needs at least two. "
                + "Set ContrastivePretrainingEpochs to 0 or null (automatic: 0 for a single song), or train on more songs.",
                nameof(input));
        }

        using (var plan = _log.Start("Plan"))
        {
            plan.Info(MessageSensitivity.None, _options.Epochs is null
                ? $"MultiUserAudio: epochs (automatic) {options.Epochs}, about {StepsPerEpoch(plays.NonZeroCount, options)} steps each; at least {MultiUserAudioOptions.Defaults.Epochs} and aiming at {MultiUserAudioOptions.Defaults.TargetOptimizationSteps} steps."
                : $"MultiUserAudio: epochs {options.Epochs}.");
            plan.Info(MessageSensitivity.None,
                $"MultiUserAudio: contrastive pretraining {options.ContrastivePretrainingEpochs} epochs{(_options.ContrastivePretrainingEpochs is null ? " (automatic)" : string.Empty)} of about {PretrainingStepsPerEpoch(_songs.SongCount, options)} steps over {_songs.SongCount} songs; contrastive weight {options.ContrastiveWeight.Value.ToString(CultureInfo.InvariantCulture)}{(_options.ContrastiveWeight is null ? " (automatic)" : string.Empty)}.");
        }

        var device = TorchDevices.Resolve(_options.Device, "MultiUserAudioOptions.Device");
        int previousThreads = torch.get_num_threads();
        if (_options.Threads is int threads)
        {
            torch.set_num_threads(threads);
        }

        try
        {
            return TrainModel(options, plays, device);
        }
        finally
        {
            if (_options.Threads is not null)
            {
                torch.set_num_threads(previousThreads);
            }
        }
    }

    private MultiUserAudioModel TrainModel(MultiUserAudioOptions options, PlayMatrix plays, Device device)
    {
        int seed = _options.Seed!.Value;
        torch.random.manual_seed(seed);
        var settings = new TimeConvNetworkSettings(_songs.FramesPerWindow, _songs.Coefficients, _options.ConvolutionForm, NetworkHead.Lstm, _options.ConvolutionLayers, _options.Channels, _options.EmbeddingSize);
        var network = new TimeConvNetwork(settings);
        try
        {
            network.to(device);
            var users = nn.Parameter(randn(plays.UserCount, _options.EmbeddingSize, device: device).mul_(TorchScalars.OneTenthDouble));
            var bias = nn.Parameter(zeros(1, device: device));
            var (mean, std) = Standardization(plays);
            using var meanTensor = tensor(mean, device: device);
            using var stdTensor = tensor(std, device: device);
            Train(options, network, users, bias, plays, device, meanTensor, stdTensor);
            network.eval();
            var userArray = users.detach().cpu().data<float>().ToArray();
            float b = bias.detach().cpu().item<float>();
            users.Dispose();
            bias.Dispose();
            return new MultiUserAudioModel(options, _songs, network, plays, userArray, b, device, mean, std);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Checks the input columns and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        PlayMatrix.ScoreOutputSchema(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName);

    // A NaN or infinity in one window would turn the standardisation, and then every loss, into NaN; name it instead.
    private void CheckWindowsFinite()
    {
        int size = _songs.WindowSize, c = _songs.Coefficients;
        for (int s = 0; s < _songs.SongCount; s++)
        {
            var values = _songs.Windows(s);
            for (int i = 0; i < values.Length; i++)
            {
                if (!float.IsFinite(values[i]))
                {
                    throw new ArgumentException(
                        $"The song windows of song key {s + 1} hold {values[i]} at window {i / size}, frame {i % size / c}, coefficient {i % c}; "
                        + "features must be finite numbers (check the song's audio and the window settings).",
                        nameof(_songs));
                }
            }
        }
    }

    // MFCC coefficients differ in scale by orders of magnitude (c0 is the log energy), which stalls training; each
    // coefficient is standardised with the mean and deviation over the windows of songs with training plays.
    private (float[] Mean, float[] Std) Standardization(PlayMatrix plays)
    {
        int c = _songs.Coefficients;
        var sum = new double[c];
        var squares = new double[c];
        long count = 0;
        var warm = Enumerable.Range(0, plays.SongCount).Where(s => plays.PlayCountOfSong(s) > 0).ToArray();
        int step = Math.Max(1, warm.Length / 500);
        for (int i = 0; i < warm.Length; i += step)
        {
            var values = _songs.Windows(warm[i]);
            for (int j = 0; j < values.Length; j++)
            {
                sum[j % c] += values[j];
                squares[j % c] += (double)values[j] * values[j];
            }

            count += values.Length / c;
        }

        var mean = new float[c];
        var std = new float[c];
        for (int k = 0; k < c; k++)
        {
            double m = sum[k] / Math.Max(1, count);
            mean[k] = (float)m;
            std[k] = (float)Math.Max(Math.Sqrt(Math.Max(0, (squares[k] / Math.Max(1, count)) - (m * m))), 1e-3);
        }

        return (mean, std);
    }

    /// <summary>
    /// The automatic epoch count: enough passes for <see cref="MultiUserAudioOptions.Defaults.TargetOptimizationSteps"/>
    /// steps, between <see cref="MultiUserAudioOptions.Defaults.Epochs"/> and
    /// <see cref="MultiUserAudioOptions.Defaults.MaximumAutomaticEpochs"/>.
    /// </summary>
    internal static int AutomaticEpochs(int trainingPlays, MultiUserAudioOptions options)
    {
        long steps = Math.Max(1, StepsPerEpoch(trainingPlays, options));
        long wanted = (MultiUserAudioOptions.Defaults.TargetOptimizationSteps + steps - 1) / steps;
        return (int)Math.Clamp(wanted, MultiUserAudioOptions.Defaults.Epochs, MultiUserAudioOptions.Defaults.MaximumAutomaticEpochs);
    }

    /// <summary>
    /// The automatic pretraining epoch count: <see cref="MultiUserAudioOptions.Defaults.ContrastivePretrainingEpochs"/>,
    /// fewer when that would exceed <see cref="MultiUserAudioOptions.Defaults.MaximumAutomaticPretrainingSteps"/> steps,
    /// at least one; 0 when there is nothing to contrast (fewer than two songs, or a batch size of 1).
    /// </summary>
    internal static int AutomaticPretrainingEpochs(int songs, MultiUserAudioOptions options)
    {
        long steps = PretrainingStepsPerEpoch(songs, options);
        if (steps == 0)
        {
            return 0; // fewer than two songs, or batches of one: no song has another to be told apart from
        }

        return (int)Math.Clamp(MultiUserAudioOptions.Defaults.MaximumAutomaticPretrainingSteps / steps, 1, MultiUserAudioOptions.Defaults.ContrastivePretrainingEpochs);
    }

    /// <summary>The automatic contrastive weight: the default with two or more windows per pair, else 0 (the term needs two).</summary>
    internal static double AutomaticContrastiveWeight(MultiUserAudioOptions options) =>
        options.WindowsPerPair >= 2 ? MultiUserAudioOptions.Defaults.ContrastiveWeight : 0;

    // Pretraining batches per epoch: every song once, BatchSize songs a batch (a last batch of one song is dropped).
    private static long PretrainingStepsPerEpoch(int songs, MultiUserAudioOptions options) =>
        songs < 2 || options.BatchSize < 2 ? 0 : (songs / options.BatchSize) + (songs % options.BatchSize >= 2 ? 1 : 0);

    // Pairs per epoch: every training play and its negatives, in batches.
    private static long StepsPerEpoch(int trainingPlays, MultiUserAudioOptions options) =>
        ((long)trainingPlays * (1 + options.NegativesPerPlay) + options.BatchSize - 1) / options.BatchSize;

    private void Train(MultiUserAudioOptions o, TimeConvNetwork network, TorchSharp.Modules.Parameter users, TorchSharp.Modules.Parameter bias, PlayMatrix plays, Device device, Tensor mean, Tensor std)
    {
        int epochs = o.Epochs ?? throw new InvalidOperationException("The epoch count is resolved before training.");
        // System.Random(seed)'s draws from a generator whose state a checkpoint can hold (SavableRandom).
        var rng = new SavableRandom(o.Seed!.Value);
        var warm = Enumerable.Range(0, plays.SongCount).Where(s => plays.PlayCountOfSong(s) > 0).ToArray();
        var positives = new List<(int User, int Song)>();
        for (int u = 0; u < plays.UserCount; u++)
        {
            foreach (int s in plays.SongsOf(u))
            {
                positives.Add((u, s));
            }
        }

        // The auxiliary read-out (WindowStatisticsWeight) is made after the network and the user vectors, so that with
        // the weight at 0 every initial weight, and the run, is what it was before the option existed.
        using var statisticsHead = o.WindowStatisticsWeight > 0 ? nn.Linear(o.EmbeddingSize, 2L * _songs.Coefficients) : null;
        statisticsHead?.to(device);
        // The contrastive projection comes after both, for the same reason (with both contrastive options at 0, none).
        using var projection = o.ContrastivePretrainingEpochs > 0 || o.ContrastiveWeight > 0 ? nn.Linear(o.EmbeddingSize, o.EmbeddingSize) : null;
        projection?.to(device);
        // The rhythm read-out after them (with RhythmWeight at 0, none): the window's tempogram, each lag standardised;
        // the direction read-out last of all (with DirectionWeight at 0, none).
        using var rhythm = o.RhythmWeight > 0 ? WindowTempogram.Readout(o, _songs, device, mean, std) : null;
        using var direction = o.DirectionWeight > 0 ? WindowDirection.Readout(o, _songs, device, mean, std) : null;
        WindowReadout[] readouts = [.. new[] { rhythm, direction }.OfType<WindowReadout>()];
        var parameters = network.parameters().Append(users).Append(bias).Concat(statisticsHead?.parameters() ?? [])
            .Concat(o.ContrastiveWeight > 0 ? projection!.parameters() : []).Concat(readouts.SelectMany(r => r.Head.parameters())).ToArray();
        using var optimizer = new RootedAdam(parameters, o.LearningRate);
        int size = _songs.WindowSize;
        int w = o.WindowsPerPair;
        var skippedPerEpoch = new int[epochs];
        SkippedBatches = skippedPerEpoch;
        using var channel = _log.Start("Training");
        using var logWindows = ((float)Math.Log(w)).ToScalar();
        using var statisticsWeight = ((float)o.WindowStatisticsWeight).ToScalar();
        using var contrastiveWeight = ((float)o.ContrastiveWeight!.Value).ToScalar();
        using var temperature = ((float)o.ContrastiveTemperature).ToScalar();
        var checkpoints = o.CheckpointDirectory is null ? null
            : new CheckpointedRun(o, channel, new TrainingState(network, users, bias, statisticsHead, projection, [.. readouts.Select(r => r.Head)], optimizer), Fingerprint(plays, o, device));
        var resume = checkpoints?.Open(rng, skippedPerEpoch, epochs);
        if (resume is null && o.ContrastivePretrainingEpochs > 0)
        {
            Pretrain(o, network, statisticsHead, projection!, readouts, rng, device, mean, std, channel, statisticsWeight, temperature);
        }

        long totalSteps = resume?.TotalSteps ?? 0;
        network.train();
        for (int epoch = resume?.EpochsDone ?? 0; epoch < epochs; epoch++)
        {
            byte[] epochStart = rng.SaveState();
            int replay = resume is not null && epoch == resume.EpochsDone ? resume.StepsInEpoch : 0;
            var pairs = new List<(int User, int Song, float Label)>(positives.Count * (1 + o.NegativesPerPlay));
            foreach (var (u, s) in positives)
            {
                pairs.Add((u, s, 1));
                var played = plays.SongsOf(u);
                for (int n = 0; n < o.NegativesPerPlay; n++)
                {
                    // Negatives come from warm songs only: cold songs never enter training, not even as negatives.
                    for (int attempt = 0; attempt < 20; attempt++)
                    {
                        int candidate = o.PopularityMatchedNegatives ? positives[rng.Next(positives.Count)].Song : warm[rng.Next(warm.Length)];
                        if (played.IndexOf(candidate) < 0)
                        {
                            pairs.Add((u, candidate, 0));
                            break;
                        }
                    }
                }
            }

            Shuffle(pairs, rng);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long batchedPairs = replay > 0 ? resume!.Pairs : 0;
            double total = replay > 0 ? resume!.LossSum : 0;
            int batches = replay > 0 ? resume!.Batches : 0, skipped = replay > 0 ? resume!.Skipped : 0, batchIndex = 0;
            var buffer = new float[o.BatchSize * w * size];
            for (int first = 0; first < pairs.Count; first += o.BatchSize)
            {
                int b = Math.Min(o.BatchSize, pairs.Count - first);
                var userIndex = new long[b];
                var songIndex = new long[b];
                var labels = new float[b];
                for (int i = 0; i < b; i++)
                {
                    var (u, s, label) = pairs[first + i];
                    userIndex[i] = u;
                    songIndex[i] = s;
                    labels[i] = label;
                    var windows = _songs.Windows(s);
                    int count = _songs.WindowCount(s);
                    for (int j = 0; j < w; j++)
                    {
                        windows.Slice(rng.Next(count) * size, size).CopyTo(buffer.AsSpan(((i * w) + j) * size, size));
                    }
                }

                if (++batchIndex <= replay)
                {
                    continue; // resumed inside this epoch: the draws are made again, the step's effect is in the checkpoint
                }

                using var scope = NewDisposeScope();
                var x = tensor(buffer.AsSpan(0, b * w * size).ToArray(), [b * w, _songs.FramesPerWindow, _songs.Coefficients]).to(device).sub(mean).div(std);
                var windowEmbedding = network.Embedding(x);
                var embedding = windowEmbedding.reshape(b, w, -1);
                var u2 = users.index_select(0, tensor(userIndex, device: device));
                var logits = (embedding * u2.unsqueeze(1)).sum(-1).add(bias, TorchScalars.One);
                var pairLogit = logits.logsumexp(1).sub(logWindows);
                var loss = F.binary_cross_entropy_with_logits(pairLogit, tensor(labels, device: device));
                float playLoss = loss.item<float>(); // Progress reports the play loss alone, comparable with and without the auxiliary term
                if (statisticsHead is not null)
                {
                    // The window's own MFCC statistics over time: the embedding must keep what they hold.
                    var statistics = cat([x.mean([1]), x.std(1)], 1).detach();
                    loss = loss.add(F.mse_loss(statisticsHead.call(windowEmbedding), statistics).mul(statisticsWeight), TorchScalars.One);
                }

                foreach (var readout in readouts)
                {
                    loss = loss.add(readout.Loss(x, windowEmbedding), TorchScalars.One);
                }

                if (o.ContrastiveWeight > 0 && b > 1)
                {
                    // Another pair of the same song is no negative.
                    var songs = tensor(songIndex, device: device);
                    var sameSong = songs.unsqueeze(1).eq(songs.unsqueeze(0)).logical_and(eye(b, dtype: ScalarType.Bool, device: device).logical_not());
                    loss = loss.add(ContrastiveLoss(projection!, embedding, temperature, sameSong).mul(contrastiveWeight), TorchScalars.One);
                }

                optimizer.zero_grad();
                loss.backward();

                // Checked before the step, so a NaN never reaches the weights (clip_grad_norm_ returns the norm before clipping).
                double gradientNorm = nn.utils.clip_grad_norm_(parameters, 5);
                float fullLoss = loss.item<float>();
                int batch = batches + skipped + 1;
                string? lossHint = float.IsFinite(playLoss) ? $"The play loss was {playLoss}; the window-statistics term (WindowStatisticsWeight), the rhythm term (RhythmWeight), the direction term (DirectionWeight) or the contrastive term (ContrastiveWeight) was not finite." : null;
                if (NonFiniteTrainingException.IsNonFiniteBatch(TrainerName, epoch + 1, batch, fullLoss, gradientNorm, o.SkipNonFiniteBatches, lossHint))
                {
                    skipped++;
                    continue;
                }

                optimizer.step();
                batchedPairs += b;
                total += playLoss;
                batches++;
                totalSteps++;
                if (checkpoints is not null && o.CheckpointEverySteps > 0 && totalSteps % o.CheckpointEverySteps == 0)
                {
                    checkpoints.Write(new CheckpointPosition(epoch, batchIndex, totalSteps, epochStart, total, batches, skipped, batchedPairs), skippedPerEpoch);
                }
            }

            skippedPerEpoch[epoch] = skipped;
            if (skipped > 0)
            {
                if (batches == 0)
                {
                    throw NonFiniteTrainingException.AllBatchesSkipped(TrainerName, epoch + 1, skipped);
                }

                channel.Warning(MessageSensitivity.None,
                    $"{TrainerName} epoch {epoch + 1}: skipped {skipped} of {skipped + batches} batch(es) whose loss or gradient norm was NaN or infinite (SkipNonFiniteBatches).");
            }

            channel.Info(MessageSensitivity.None, $"{TrainerName} epoch {epoch + 1}: play loss {(batches == 0 ? "n/a (no training pairs)" : (total / batches).ToString("F4", CultureInfo.InvariantCulture))}"
                + (skipped > 0 ? $", {skipped} batch(es) skipped" : string.Empty));
            double seconds = clock.Elapsed.TotalSeconds;
            o.Progress?.Report(new TrainingProgress(epoch + 1, batches == 0 ? double.NaN : total / batches)
            {
                Trainer = TrainerName,
                TotalEpochs = epochs,
                TrainingWindows = (long)batchedPairs * w,
                WindowsPerSecond = seconds > 0 ? batchedPairs * w / seconds : 0,
                SkippedBatches = skipped,
            });
            if (checkpoints is not null && o.CheckpointEveryEpochs > 0 && (epoch + 1 == epochs || (epoch + 1) % o.CheckpointEveryEpochs == 0))
            {
                checkpoints.Write(new CheckpointPosition(epoch + 1, 0, totalSteps, rng.SaveState(), 0, 0, 0, 0), skippedPerEpoch);
            }
        }
    }

    /// <summary>
    /// InfoNCE between the first two windows of each row of <paramref name="windows"/> ([rows, windows, embedding]):
    /// each row's first window must pick its second among every row's second window, and the other way round, through
    /// <paramref name="projection"/> and L2 normalisation, similarities divided by <paramref name="temperature"/>;
    /// <paramref name="exclude"/> (rows x rows, or null) masks pairs that are not negatives. Written by hand: a few
    /// tensor operations (CLMR's loss, Spijkervet and Burgoyne 2021).
    /// </summary>
    internal static Tensor ContrastiveLoss(nn.Module<Tensor, Tensor> projection, Tensor windows, Scalar temperature, Tensor? exclude)
    {
        long rows = windows.shape[0];
        var z0 = F.normalize(projection.call(windows.select(1, 0)), p: 2, dim: -1);
        var z1 = F.normalize(projection.call(windows.select(1, 1)), p: 2, dim: -1);
        var similarity = z0.matmul(z1.t()).div(temperature);
        if (exclude is not null)
        {
            using var masked = (-1e4f).ToScalar();
            similarity = similarity.masked_fill(exclude, masked);
        }

        using var count = rows.ToScalar();
        var targets = arange(count, dtype: ScalarType.Int64, device: windows.device);
        return F.cross_entropy(similarity, targets).add(F.cross_entropy(similarity.t(), targets), TorchScalars.One).div(TorchScalars.Two);
    }

    /// <summary>
    /// <see cref="MultiUserAudioOptions.ContrastivePretrainingEpochs"/>: the encoder (and the statistics read-out and
    /// the projection) trained on every song of the catalog, two different windows of each song per batch row, with
    /// an Adam of its own; the songs' order and windows come from <paramref name="rng"/>.
    /// </summary>
    private void Pretrain(MultiUserAudioOptions o, TimeConvNetwork network, nn.Module<Tensor, Tensor>? statisticsHead, nn.Module<Tensor, Tensor> projection, WindowReadout[] readouts,
        SavableRandom rng, Device device, Tensor mean, Tensor std, IChannel channel, Scalar statisticsWeight, Scalar temperature)
    {
        var parameters = network.parameters().Concat(statisticsHead?.parameters() ?? []).Concat(projection.parameters()).Concat(readouts.SelectMany(r => r.Head.parameters())).ToArray();
        using var optimizer = new RootedAdam(parameters, o.LearningRate);
        int size = _songs.WindowSize;
        var order = Enumerable.Range(0, _songs.SongCount).ToList();
        var buffer = new float[o.BatchSize * 2 * size];
        int epochs = o.ContrastivePretrainingEpochs ?? throw new InvalidOperationException("The pretraining epoch count is resolved before training.");
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Shuffle(order, rng);
            double total = 0;
            int batches = 0, skipped = 0;
            long encoded = 0;
            // At least two songs per batch (BatchSize 1 is refused by the options): a last single song is left out.
            for (int first = 0; first + 1 < order.Count; first += o.BatchSize)
            {
                int b = Math.Min(o.BatchSize, order.Count - first);
                for (int i = 0; i < b; i++)
                {
                    int song = order[first + i], count = _songs.WindowCount(song);
                    int one = rng.Next(count), other = count < 2 ? one : (one + 1 + rng.Next(count - 1)) % count;
                    var windows = _songs.Windows(song);
                    windows.Slice(one * size, size).CopyTo(buffer.AsSpan(2 * i * size, size));
                    windows.Slice(other * size, size).CopyTo(buffer.AsSpan(((2 * i) + 1) * size, size));
                }

                using var scope = NewDisposeScope();
                var x = tensor(buffer.AsSpan(0, 2 * b * size).ToArray(), [2 * b, _songs.FramesPerWindow, _songs.Coefficients]).to(device).sub(mean).div(std);
                var embedding = network.Embedding(x);
                var loss = ContrastiveLoss(projection, embedding.reshape(b, 2, -1), temperature, null);
                float contrastive = loss.item<float>();
                if (statisticsHead is not null)
                {
                    var statistics = cat([x.mean([1]), x.std(1)], 1).detach();
                    loss = loss.add(F.mse_loss(statisticsHead.call(embedding), statistics).mul(statisticsWeight), TorchScalars.One);
                }

                foreach (var readout in readouts)
                {
                    loss = loss.add(readout.Loss(x, embedding), TorchScalars.One);
                }

                optimizer.zero_grad();
                loss.backward();
                double gradientNorm = nn.utils.clip_grad_norm_(parameters, 5);
                if (NonFiniteTrainingException.IsNonFiniteBatch($"{TrainerName} (contrastive pretraining)", epoch + 1, batches + skipped + 1, loss.item<float>(), gradientNorm, o.SkipNonFiniteBatches,
                    float.IsFinite(contrastive) ? $"The contrastive loss was {contrastive}; the window-statistics, rhythm or direction term was not finite." : null))
                {
                    skipped++;
                    continue;
                }

                optimizer.step();
                total += contrastive;
                batches++;
                encoded += 2L * b;
            }

            if (batches == 0 && skipped > 0)
            {
                throw NonFiniteTrainingException.AllBatchesSkipped($"{TrainerName} (contrastive pretraining)", epoch + 1, skipped);
            }

            channel.Info(MessageSensitivity.None, $"{TrainerName} contrastive pretraining epoch {epoch + 1}: loss {(batches == 0 ? "n/a" : (total / batches).ToString("F4", CultureInfo.InvariantCulture))}"
                + (skipped > 0 ? $", {skipped} batch(es) skipped" : string.Empty));
            double seconds = clock.Elapsed.TotalSeconds;
            o.Progress?.Report(new TrainingProgress(epoch + 1, batches == 0 ? double.NaN : total / batches)
            {
                Trainer = TrainerName,
                Pretraining = true,
                TotalEpochs = epochs,
                TrainingWindows = encoded,
                WindowsPerSecond = seconds > 0 ? encoded / seconds : 0,
                SkippedBatches = skipped,
            });
        }
    }

    private static void Shuffle<T>(List<T> list, SavableRandom rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
