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

/// <summary>How a song's per-window preferences become the song's score.</summary>
public enum AudioSongAggregation
{
    /// <summary>The mean window preference: the seed's sum of window outputs / song length, for songs cut into windows at a fixed hop.</summary>
    Mean,

    /// <summary>The best window's preference: a song is as good as its best part.</summary>
    Max,
}

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="MultiUserAudioTrainer"/>.</summary>
public sealed class MultiUserAudioOptions
{
    /// <summary>The user key column (ML.NET's MatrixColumnIndexColumnName). Default "UserId".</summary>
    public string MatrixColumnIndexColumnName = Defaults.UserColumnName;

    /// <summary>The song key column (ML.NET's MatrixRowIndexColumnName). Default "SongId".</summary>
    public string MatrixRowIndexColumnName = Defaults.SongColumnName;

    /// <summary>The play-count column (Single; a count above 0 is a play). Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// The windows column of the songs data view (made by <c>SegmentMfcc</c>), when the trainer is given songs as an
    /// IDataView; their song key column is <see cref="MatrixRowIndexColumnName"/>. Default "Windows".
    /// </summary>
    public string SongWindowsColumnName = Defaults.SongWindowsColumnName;

    /// <summary>Size of the window embedding (the LSTM state) and of each user vector. Default 32.</summary>
    public int EmbeddingSize = Defaults.EmbeddingSize;

    /// <summary>Filters per convolution layer. Default 16.</summary>
    public int Channels = Defaults.Channels;

    /// <summary>Convolution + pooling layers. Default 3.</summary>
    public int ConvolutionLayers = Defaults.ConvolutionLayers;

    /// <summary>The convolution form; default the 1-D form, several times cheaper on CPUs (see docs/benchmarks.md).</summary>
    public ConvolutionForm ConvolutionForm = ConvolutionForm.Conv1dAllCoefficients;

    /// <summary>
    /// Passes over the training plays. Default null: automatic, enough passes for
    /// <see cref="Defaults.TargetOptimizationSteps"/> optimisation steps, at least <see cref="Defaults.Epochs"/> and at
    /// most <see cref="Defaults.MaximumAutomaticEpochs"/>, so a small catalog is not left under-trained (88 real tracks
    /// and 60 listeners: cold-song NDCG@10 0.41 after 4 epochs, 0.65 after 16; docs/recommendation.md, "Real music")
    /// while a large one keeps 4. The fitted model's <see cref="MultiUserAudioModel.Epochs"/> says the number used.
    /// </summary>
    public int? Epochs;

    /// <summary>(user, song) pairs per step. Default 32.</summary>
    public int BatchSize = Defaults.BatchSize;

    /// <summary>Adam learning rate. Default 3e-3.</summary>
    public double LearningRate = Defaults.LearningRate;

    /// <summary>Unplayed songs sampled as negatives per play (from songs with training plays only). Default 2.</summary>
    public int NegativesPerPlay = Defaults.NegativesPerPlay;

    /// <summary>
    /// Draw negatives in proportion to the songs' training plays (popular songs more often) instead of uniformly, so
    /// that popularity, which audio cannot see, does not separate positives from negatives and the encoder learns
    /// taste. Default false: on the small benchmark it made no difference beyond noise (cold NDCG@10 0.131 against
    /// 0.154 uniform, one run each).
    /// </summary>
    public bool PopularityMatchedNegatives;

    /// <summary>Windows drawn from each song of a training pair; the pair's logit is a soft maximum over them. Default 3.</summary>
    public int WindowsPerPair = Defaults.WindowsPerPair;

    /// <summary>How window preferences make a song's score. Default <see cref="AudioSongAggregation.Mean"/>.</summary>
    public AudioSongAggregation Aggregation = AudioSongAggregation.Mean;

    /// <summary>
    /// Weight of a self-supervised auxiliary loss while training: a linear read-out of each window embedding must give
    /// the window's own per-coefficient MFCC mean and standard deviation (after standardisation); the read-out is
    /// dropped after training. Without it the song embeddings spread over only two to three directions for many epochs
    /// and the model learned less than plain MFCC statistics hold (docs/recommendation.md, "Why the audio model learns
    /// little: experiments"). 0 turns it off. Default 1.
    /// </summary>
    public double WindowStatisticsWeight = Defaults.WindowStatisticsWeight;

    /// <summary>
    /// Seed of the weights, the negatives and the window draws. Default 1. On the CPU two fits with one seed give the
    /// same model bit for bit; on CUDA they differ in the last bits (CUDA's backward kernels add with atomics) and the
    /// GPU's random stream is not the CPU's, so a model trained there differs from one trained on the CPU.
    /// </summary>
    public int Seed = 1;

    /// <summary>Compute on CUDA when TorchSharp finds a GPU; otherwise (and when false) on the CPU. Default true.</summary>
    public bool UseGpuWhenAvailable = true;

    /// <summary>Reports each epoch's mean loss on the plays (without the auxiliary term of <see cref="WindowStatisticsWeight"/>); null for none.</summary>
    public IProgress<(int Epoch, double Loss)>? Progress;

    /// <summary>
    /// Skip a batch whose loss or gradient norm is NaN or infinite (no optimiser step) and count it, instead of stopping
    /// with <see cref="NonFiniteTrainingException"/>; the count goes to ML.NET's log (a warning per epoch with skips) and
    /// <see cref="MultiUserAudioTrainer.SkippedBatches"/>. An epoch whose every batch is skipped still stops training.
    /// Default false.
    /// </summary>
    public bool SkipNonFiniteBatches;

    /// <summary>A copy: trainers keep their own, so changing the options after construction changes nothing.</summary>
    internal MultiUserAudioOptions Copy() => (MultiUserAudioOptions)MemberwiseClone();

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default user column.</summary>
        public const string UserColumnName = "UserId";

        /// <summary>Default song column.</summary>
        public const string SongColumnName = "SongId";

        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";

        /// <summary>Default windows column of the songs data view.</summary>
        public const string SongWindowsColumnName = "Windows";

        /// <summary>Default embedding size.</summary>
        public const int EmbeddingSize = 32;

        /// <summary>Default channels.</summary>
        public const int Channels = 16;

        /// <summary>Default layers.</summary>
        public const int ConvolutionLayers = 3;

        /// <summary>The fewest epochs the automatic count chooses (and the count before it existed).</summary>
        public const int Epochs = 4;

        /// <summary>Optimisation steps the automatic epoch count aims for.</summary>
        public const int TargetOptimizationSteps = 500;

        /// <summary>The most epochs the automatic count chooses.</summary>
        public const int MaximumAutomaticEpochs = 50;

        /// <summary>Default batch size.</summary>
        public const int BatchSize = 32;

        /// <summary>Default learning rate.</summary>
        public const double LearningRate = 3e-3;

        /// <summary>Default negatives per play.</summary>
        public const int NegativesPerPlay = 2;

        /// <summary>Default windows per pair.</summary>
        public const int WindowsPerPair = 3;

        /// <summary>Default weight of the window-statistics auxiliary loss.</summary>
        public const double WindowStatisticsWeight = 1;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(MultiUserAudioOptions))
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(string.IsNullOrWhiteSpace(SongWindowsColumnName), nameof(SongWindowsColumnName), "must name the songs' windows column.")
            .Check(EmbeddingSize is < 1 or > 4096, nameof(EmbeddingSize), $"must be 1 to 4096; found {EmbeddingSize}.")
            .Check(Channels is < 1 or > 4096, nameof(Channels), $"must be 1 to 4096; found {Channels}.")
            .Check(ConvolutionLayers is < 1 or > 10, nameof(ConvolutionLayers), $"must be 1 to 10; found {ConvolutionLayers}.")
            .Check(Epochs < 0, nameof(Epochs), $"must be 0 or more; found {Epochs}.")
            .Check(BatchSize < 1, nameof(BatchSize), $"must be at least 1; found {BatchSize}.")
            .Check(!(LearningRate > 0 && LearningRate <= 1e30), nameof(LearningRate), $"must be positive and at most 1e30 (Adam's step is computed in float32); found {LearningRate}.")
            .Check(NegativesPerPlay < 0, nameof(NegativesPerPlay), $"must be 0 or more; found {NegativesPerPlay}.")
            .Check(WindowsPerPair < 1, nameof(WindowsPerPair), $"must be at least 1; found {WindowsPerPair}.")
            .Check(!Enum.IsDefined(Aggregation), nameof(Aggregation), $"unknown value {(int)Aggregation}.")
            .Check(!(WindowStatisticsWeight >= 0) || double.IsInfinity(WindowStatisticsWeight), nameof(WindowStatisticsWeight), $"must be 0 or more and finite; found {WindowStatisticsWeight}.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

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
public sealed class MultiUserAudioTrainer : IEstimator<MultiUserAudioModel>
{
    private const string TrainerName = "MultiUserAudio";
    private readonly MultiUserAudioOptions _options;
    private readonly AudioSongWindows _songs;
    private readonly IHost? _log;

    /// <summary>Creates the trainer over the catalog's song windows (index = song key - 1).</summary>
    /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
    public MultiUserAudioTrainer(MultiUserAudioOptions options, AudioSongWindows songs)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(songs);
        options.Validate();
        _options = options.Copy();
        _songs = songs;
    }

    // The catalog's way in: the same trainer, logging each epoch to the context's log.
    internal MultiUserAudioTrainer(MLContext mlContext, MultiUserAudioOptions options, AudioSongWindows songs)
        : this(options, songs)
    {
        _log = ((IHostEnvironment)mlContext).Register(TrainerName);
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
        using (var plan = _log?.Start("Plan"))
        {
            plan?.Info(MessageSensitivity.None, _options.Epochs is null
                ? $"MultiUserAudio: epochs (automatic) {options.Epochs}, about {StepsPerEpoch(plays.NonZeroCount, options)} steps each; at least {MultiUserAudioOptions.Defaults.Epochs} and aiming at {MultiUserAudioOptions.Defaults.TargetOptimizationSteps} steps."
                : $"MultiUserAudio: epochs {options.Epochs}.");
        }

        var device = _options.UseGpuWhenAvailable && cuda.is_available() ? CUDA : CPU;
        torch.random.manual_seed(_options.Seed);
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

    // Pairs per epoch: every training play and its negatives, in batches.
    private static long StepsPerEpoch(int trainingPlays, MultiUserAudioOptions options) =>
        ((long)trainingPlays * (1 + options.NegativesPerPlay) + options.BatchSize - 1) / options.BatchSize;

    private void Train(MultiUserAudioOptions o, TimeConvNetwork network, TorchSharp.Modules.Parameter users, TorchSharp.Modules.Parameter bias, PlayMatrix plays, Device device, Tensor mean, Tensor std)
    {
        int epochs = o.Epochs ?? throw new InvalidOperationException("The epoch count is resolved before training.");
        var rng = new Random(o.Seed);
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
        var parameters = network.parameters().Append(users).Append(bias).Concat(statisticsHead?.parameters() ?? []).ToArray();
        using var optimizer = new RootedAdam(parameters, o.LearningRate);
        int size = _songs.WindowSize;
        int w = o.WindowsPerPair;
        var skippedPerEpoch = new int[epochs];
        SkippedBatches = skippedPerEpoch;
        using var channel = _log?.Start("Training");
        using var logWindows = ((float)Math.Log(w)).ToScalar();
        using var statisticsWeight = ((float)o.WindowStatisticsWeight).ToScalar();
        network.train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
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
            double total = 0;
            int batches = 0, skipped = 0;
            var buffer = new float[o.BatchSize * w * size];
            for (int first = 0; first < pairs.Count; first += o.BatchSize)
            {
                int b = Math.Min(o.BatchSize, pairs.Count - first);
                var userIndex = new long[b];
                var labels = new float[b];
                for (int i = 0; i < b; i++)
                {
                    var (u, s, label) = pairs[first + i];
                    userIndex[i] = u;
                    labels[i] = label;
                    var windows = _songs.Windows(s);
                    int count = _songs.WindowCount(s);
                    for (int j = 0; j < w; j++)
                    {
                        windows.Slice(rng.Next(count) * size, size).CopyTo(buffer.AsSpan(((i * w) + j) * size, size));
                    }
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

                optimizer.zero_grad();
                loss.backward();

                // Checked before the step, so a NaN never reaches the weights (clip_grad_norm_ returns the norm before clipping).
                double gradientNorm = nn.utils.clip_grad_norm_(parameters, 5);
                float fullLoss = loss.item<float>();
                int batch = batches + skipped + 1;
                string? lossHint = float.IsFinite(playLoss) ? $"The play loss was {playLoss}; the window-statistics term (WindowStatisticsWeight) was not finite." : null;
                if (NonFiniteTrainingException.IsNonFiniteBatch(TrainerName, epoch + 1, batch, fullLoss, gradientNorm, o.SkipNonFiniteBatches, lossHint))
                {
                    skipped++;
                    continue;
                }

                optimizer.step();
                total += playLoss;
                batches++;
            }

            skippedPerEpoch[epoch] = skipped;
            if (skipped > 0)
            {
                if (batches == 0)
                {
                    throw NonFiniteTrainingException.AllBatchesSkipped(TrainerName, epoch + 1, skipped);
                }

                channel?.Warning(MessageSensitivity.None,
                    $"{TrainerName} epoch {epoch + 1}: skipped {skipped} of {skipped + batches} batch(es) whose loss or gradient norm was NaN or infinite (SkipNonFiniteBatches).");
            }

            channel?.Info(MessageSensitivity.None, $"{TrainerName} epoch {epoch + 1}: play loss {(batches == 0 ? "n/a (no training pairs)" : (total / batches).ToString("F4", CultureInfo.InvariantCulture))}"
                + (skipped > 0 ? $", {skipped} batch(es) skipped" : string.Empty));
            o.Progress?.Report((epoch + 1, batches == 0 ? double.NaN : total / batches));
        }
    }

    private static void Shuffle<T>(List<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}

/// <summary>Why a song is recommended to a user: its score, the best window and the song's preference timeline.</summary>
/// <param name="SongKey">The song's key (1-based).</param>
/// <param name="Score">The song's score for the user (the aggregated window preferences).</param>
/// <param name="BestWindowStartSeconds">Start of the window the user is predicted to like most, in seconds.</param>
/// <param name="WindowSeconds">Length of a window, in seconds.</param>
/// <param name="WindowHopSeconds">Hop between the timeline's windows, in seconds.</param>
/// <param name="Timeline">The user's preference (0..1) for each window of the song, in time order.</param>
public sealed record AudioRecommendationReason(uint SongKey, float Score, double BestWindowStartSeconds, double WindowSeconds, double WindowHopSeconds, IReadOnlyList<float> Timeline);

/// <summary>
/// A fitted <see cref="MultiUserAudioTrainer"/>: the shared encoder, one vector per user, and every song's window
/// embeddings computed once, so that scoring every user against every song is one matrix product
/// (<see cref="ScoreUsers"/>). Recommends with reasons (<see cref="Explain"/>) and folds in new users with the encoder
/// frozen (<see cref="FoldInUser"/>).
/// </summary>
/// <remarks>
/// <para>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.MultiUserAudioModel". The file keeps every song's
/// window embeddings, not its MFCC windows: they are all that scoring, recommending, explaining and fold-in read, they
/// are about FramesPerWindow x Coefficients / EmbeddingSize times smaller (250 times at the defaults), and reading
/// them back, instead of re-running the encoder, keeps them exact whatever device or thread count loads the model (the
/// Score column is then bit-identical; it is computed on the CPU in .NET). A loaded model's <see cref="Songs"/> therefore keeps each song's window count and timing but no MFCC values
/// (<see cref="AudioSongWindows.HasWindowValues"/> is false). The encoder's weights are kept too (for inspection and
/// for embedding new audio with <see cref="Encoder"/>). The encoder computes on CUDA after loading only when the model
/// was trained with <see cref="MultiUserAudioOptions.UseGpuWhenAvailable"/> and a GPU is present.
/// </para>
/// <para>Payload (little-endian, encodings of <see cref="RecommenderPersistence"/>):</para>
/// <code>
/// version 1: options: string userColumn, string songColumn, string labelColumn, int32 embeddingSize, int32 channels,
///              int32 convolutionLayers, int32 convolutionForm, int32 epochs, int32 batchSize, double learningRate,
///              int32 negativesPerPlay, bool popularityMatchedNegatives, int32 windowsPerPair, int32 aggregation,
///              int32 seed, bool useGpuWhenAvailable
///            song windows: int32 sampleRate, double renderSeconds, double sectionSeconds, double windowSeconds,
///              double windowHopSeconds, int32 coefficients, double framesPerSecond, int32 seed, bool useCache,
///              int32 framesPerWindow, int[] windowCount (one per song)
///            training plays (play matrix), float[] users (users x embeddingSize), float bias,
///            float[] coefficientMean, float[] coefficientDeviation (coefficients each),
///            float[] windowEmbeddings (sum of window counts x embeddingSize, song by song, window by window),
///            the encoder's weights as a TorchModuleState block
/// version 2: as version 1, with double windowStatisticsWeight right after useGpuWhenAvailable (a version 1 file reads as 0)
/// </code>
/// <para>Not saved: <see cref="MultiUserAudioOptions.Progress"/> and the song windows' cache folder (a path of the
/// saving machine).</para>
/// </remarks>
public sealed class MultiUserAudioModel : RowMappingTransformer, IUserSongScorer, IDisposable, IPersistableAudioTransformer
{
    /// <summary>The score column appended to (user, song) rows.</summary>
    public const string ScoreColumnName = "Score";

    internal const string FormatName = "MLNetAudio.MultiUserAudioModel";
    internal const int CurrentVersion = 2;
    internal const int OldestReadableVersion = 1;

    private readonly MultiUserAudioOptions _options;
    private readonly PlayMatrix _training;
    private readonly float[] _users;
    private readonly float _bias;
    private readonly Device _device;
    private readonly float[][] _windowEmbeddings; // per song, [windows x EmbeddingSize] flattened
    private readonly Tensor _padded;              // [songs, maxWindows, size], zero where a song has fewer windows
    private readonly Tensor _mask;                // [songs, maxWindows], true for a real window
    private bool _disposed;

    internal MultiUserAudioModel(MultiUserAudioOptions options, AudioSongWindows songs, TimeConvNetwork encoder, PlayMatrix training, float[] users, float bias, Device device, float[] mean, float[] std)
        : this(options, songs, encoder, training, users, bias, device, mean, std, Embed(songs, encoder, device, mean, std))
    {
    }

    private MultiUserAudioModel(
        MultiUserAudioOptions options, AudioSongWindows songs, TimeConvNetwork encoder, PlayMatrix training, float[] users, float bias, Device device, float[] mean, float[] std, float[][] windowEmbeddings)
    {
        CoefficientMean = mean;
        CoefficientDeviation = std;
        _options = options;
        Songs = songs;
        Encoder = encoder;
        _training = training;
        _users = users;
        _bias = bias;
        _device = device;
        EmbeddingSize = options.EmbeddingSize;
        _windowEmbeddings = windowEmbeddings;

        int max = Enumerable.Range(0, songs.SongCount).Max(songs.WindowCount);
        var padded = new float[songs.SongCount * max * EmbeddingSize];
        var mask = new bool[songs.SongCount * max];
        for (int s = 0; s < songs.SongCount; s++)
        {
            _windowEmbeddings[s].CopyTo(padded, s * max * EmbeddingSize);
            for (int w = 0; w < songs.WindowCount(s); w++)
            {
                mask[(s * max) + w] = true;
            }
        }

        // tensor(float[]) wraps the pinned managed array, whose alignment varies from run to run, and libtorch's
        // vectorised reductions (fold-in's matrix-vector products) then round differently; a clone lives in libtorch's
        // aligned memory, so scores and fold-in are the same in every process, and after Load.
        using (var host = tensor(padded, [songs.SongCount, max, EmbeddingSize]))
        {
            _padded = host.clone().to(device);
        }

        _mask = tensor(mask, [songs.SongCount, max]).to(device);
    }

    // Every song's window embeddings through the frozen encoder, computed once.
    private static float[][] Embed(AudioSongWindows songs, TimeConvNetwork encoder, Device device, float[] mean, float[] std)
    {
        var embeddings = new float[songs.SongCount][];
        using (no_grad())
        {
            using var meanTensor = tensor(mean, device: device);
            using var stdTensor = tensor(std, device: device);
            for (int s = 0; s < songs.SongCount; s++)
            {
                using var scope = NewDisposeScope();
                int n = songs.WindowCount(s);
                var x = tensor(songs.Windows(s).ToArray(), [n, songs.FramesPerWindow, songs.Coefficients]).to(device).sub(meanTensor).div(stdTensor);
                embeddings[s] = encoder.Embedding(x).cpu().data<float>().ToArray();
            }
        }

        return embeddings;
    }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var o = _options;
        writer.Write(o.MatrixColumnIndexColumnName);
        writer.Write(o.MatrixRowIndexColumnName);
        writer.Write(o.LabelColumnName);
        writer.Write(o.EmbeddingSize);
        writer.Write(o.Channels);
        writer.Write(o.ConvolutionLayers);
        writer.Write((int)o.ConvolutionForm);
        writer.Write(o.Epochs ?? -1);
        writer.Write(o.BatchSize);
        writer.Write(o.LearningRate);
        writer.Write(o.NegativesPerPlay);
        writer.Write(o.PopularityMatchedNegatives);
        writer.Write(o.WindowsPerPair);
        writer.Write((int)o.Aggregation);
        writer.Write(o.Seed);
        writer.Write(o.UseGpuWhenAvailable);
        writer.Write(o.WindowStatisticsWeight);

        var w = Songs.Options;
        writer.Write(w.SampleRate);
        writer.Write(w.RenderSeconds);
        writer.Write(w.SectionSeconds);
        writer.Write(w.WindowSeconds);
        writer.Write(w.WindowHopSeconds);
        writer.Write(w.Coefficients);
        writer.Write(w.FramesPerSecond);
        writer.Write(w.Seed);
        writer.Write(w.UseCache);
        writer.Write(Songs.FramesPerWindow);
        RecommenderPersistence.WriteInts(writer, Enumerable.Range(0, SongCount).Select(Songs.WindowCount).ToArray());

        RecommenderPersistence.WritePlays(writer, _training);
        RecommenderPersistence.WriteFloats(writer, _users);
        writer.Write(_bias);
        RecommenderPersistence.WriteFloats(writer, CoefficientMean.ToArray());
        RecommenderPersistence.WriteFloats(writer, CoefficientDeviation.ToArray());
        RecommenderPersistence.WriteFloats(writer, _windowEmbeddings.SelectMany(e => e).ToArray());
        TorchModuleState.Write(writer, Encoder);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static MultiUserAudioModel Load(AudioStageReader stage)
    {
        var r = stage.Reader;
        var options = new MultiUserAudioOptions
        {
            MatrixColumnIndexColumnName = r.ReadString(),
            MatrixRowIndexColumnName = r.ReadString(),
            LabelColumnName = r.ReadString(),
            EmbeddingSize = r.ReadInt32(),
            Channels = r.ReadInt32(),
            ConvolutionLayers = r.ReadInt32(),
            ConvolutionForm = (ConvolutionForm)r.ReadInt32(),
            Epochs = r.ReadInt32() is int epochs and >= 0 ? epochs : null,
            BatchSize = r.ReadInt32(),
            LearningRate = r.ReadDouble(),
            NegativesPerPlay = r.ReadInt32(),
            PopularityMatchedNegatives = r.ReadBoolean(),
            WindowsPerPair = r.ReadInt32(),
            Aggregation = (AudioSongAggregation)r.ReadInt32(),
            Seed = r.ReadInt32(),
            UseGpuWhenAvailable = r.ReadBoolean(),
        };

        // Version 1 files were trained before the auxiliary loss existed.
        options.WindowStatisticsWeight = stage.Version >= 2 ? r.ReadDouble() : 0;
        options.Validate();
        var songOptions = new AudioSongOptions
        {
            SampleRate = r.ReadInt32(),
            RenderSeconds = r.ReadDouble(),
            SectionSeconds = r.ReadDouble(),
            WindowSeconds = r.ReadDouble(),
            WindowHopSeconds = r.ReadDouble(),
            Coefficients = r.ReadInt32(),
            FramesPerSecond = r.ReadDouble(),
            Seed = r.ReadInt32(),
            UseCache = r.ReadBoolean(),
        };
        songOptions.Validate();
        int frames = r.ReadInt32();
        var counts = RecommenderPersistence.ReadInts(r, "the songs' window counts");
        var training = RecommenderPersistence.ReadPlays(r);
        int e = options.EmbeddingSize;
        int c = songOptions.Coefficients;
        if (counts.Length != training.SongCount || counts.Any(n => n < 0) || frames != (int)Math.Round(songOptions.WindowSeconds * songOptions.FramesPerSecond))
        {
            throw new InvalidDataException(
                $"its catalog does not add up: {counts.Length} window counts for {training.SongCount} songs, {frames} frames per window for "
                + $"{songOptions.WindowSeconds} s windows at {songOptions.FramesPerSecond} frames per second");
        }

        var users = RecommenderPersistence.ReadFloats(r, "the user vectors", (long)training.UserCount * e);
        float bias = r.ReadSingle();
        var mean = RecommenderPersistence.ReadFloats(r, "the coefficient means", c);
        var std = RecommenderPersistence.ReadFloats(r, "the coefficient deviations", c);
        var flat = RecommenderPersistence.ReadFloats(r, "the window embeddings", counts.Sum(n => (long)n) * e);
        if (!float.IsFinite(bias) || users.Any(v => !float.IsFinite(v)) || flat.Any(v => !float.IsFinite(v)) || std.Any(v => !(v > 0)))
        {
            throw new InvalidDataException("a user vector, the bias, a window embedding or a coefficient deviation is not a valid number");
        }

        var embeddings = new float[counts.Length][];
        int at = 0;
        for (int s = 0; s < counts.Length; s++)
        {
            embeddings[s] = flat.AsSpan(at, counts[s] * e).ToArray();
            at += counts[s] * e;
        }

        var settings = new TimeConvNetworkSettings(frames, c, options.ConvolutionForm, NetworkHead.Lstm, options.ConvolutionLayers, options.Channels, e);
        long left = r.BaseStream.Length - r.BaseStream.Position;
        if (TimeConvLstmScorer.ParameterCount(settings) * sizeof(float) > left)
        {
            throw new InvalidDataException($"the encoder's settings need {TimeConvLstmScorer.ParameterCount(settings)} weights but only {left} bytes remain");
        }

        // Building the network draws initial weights from libtorch's global generator; put its state back so that
        // loading a model does not change what a later seeded run in this process computes.
        TimeConvNetwork encoder;
        using (var rngState = torch.random.get_rng_state())
        {
            encoder = new TimeConvNetwork(settings);
            torch.random.set_rng_state(rngState);
        }

        try
        {
            TorchModuleState.Read(r, encoder);
            var device = options.UseGpuWhenAvailable && cuda.is_available() ? CUDA : CPU;
            encoder.to(device);
            encoder.eval();
            var songs = AudioSongWindows.LayoutOnly(counts, frames, c, songOptions);
            return new MultiUserAudioModel(options, songs, encoder, training, users, bias, device, mean, std, embeddings);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    /// <summary>Per-coefficient mean subtracted from the windows before the encoder (learned from songs with training plays).</summary>
    public IReadOnlyList<float> CoefficientMean { get; }

    /// <summary>Per-coefficient deviation the windows are divided by before the encoder.</summary>
    public IReadOnlyList<float> CoefficientDeviation { get; }

    /// <summary>
    /// The shared encoder (frozen after training). Its weights live on <see cref="ComputeDevice"/>: tensors passed to it
    /// must be there too (<c>tensor(..., device: model.ComputeDevice)</c>).
    /// </summary>
    public TimeConvNetwork Encoder { get; }

    /// <summary>
    /// Where this model computes: CUDA when it was trained with <see cref="MultiUserAudioOptions.UseGpuWhenAvailable"/>
    /// and a GPU is present (also after loading), else the CPU.
    /// </summary>
    public Device ComputeDevice => _device;

    /// <summary>The songs' windows the model scores.</summary>
    public AudioSongWindows Songs { get; }

    /// <summary>Size of window embeddings and user vectors.</summary>
    public int EmbeddingSize { get; }

    /// <summary>How window preferences make a song's score.</summary>
    public AudioSongAggregation Aggregation => _options.Aggregation;

    /// <summary>The passes over the plays that training made (the automatic count when the options left it null).</summary>
    public int Epochs => _options.Epochs ?? 0;

    /// <summary>The user key column (ML.NET's MatrixColumnIndexColumnName).</summary>
    public string UserColumnName => _options.MatrixColumnIndexColumnName;

    /// <summary>The song key column (ML.NET's MatrixRowIndexColumnName).</summary>
    public string SongColumnName => _options.MatrixRowIndexColumnName;

    /// <inheritdoc/>
    public int UserCount => _training.UserCount;

    /// <inheritdoc/>
    public int SongCount => Songs.SongCount;

    /// <summary>The learned vector of a user (1-based key).</summary>
    public float[] GetUserVector(uint userKey) => _users.AsSpan(UserIndex(userKey) * EmbeddingSize, EmbeddingSize).ToArray();

    /// <summary>A song's embedding: the mean of its window embeddings (for diversity, similar-song search and factor regression).</summary>
    public float[] GetSongEmbedding(uint songKey)
    {
        int s = SongIndex(songKey);
        var result = new float[EmbeddingSize];
        int n = Songs.WindowCount(s);
        for (int w = 0; w < n; w++)
        {
            for (int d = 0; d < EmbeddingSize; d++)
            {
                result[d] += _windowEmbeddings[s][(w * EmbeddingSize) + d] / n;
            }
        }

        return result;
    }

    /// <summary>
    /// Scores users against every song: one matrix product of the users' vectors with all window embeddings, a
    /// sigmoid, and the aggregation over each song's windows. Cold songs are scored like any other.
    /// </summary>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > UserCount || destination.Length < userCount * (long)SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} (x {SongCount} songs) do not fit {UserCount} users or a destination of {destination.Length}.");
        }

        var vectors = _users.AsSpan(firstUser * EmbeddingSize, userCount * EmbeddingSize).ToArray();
        ScoreVectors(vectors, userCount).AsSpan().CopyTo(destination);
    }

    /// <summary>The score of one (user, song) pair computed on its own, window by window (what the matrix product must equal).</summary>
    public float ScorePair(uint userKey, uint songKey) =>
        Aggregate(Timeline(_users.AsSpan(UserIndex(userKey) * EmbeddingSize, EmbeddingSize), SongIndex(songKey)));

    /// <summary>Why <paramref name="songKey"/> scores as it does for <paramref name="userKey"/>: the best window and the timeline.</summary>
    public AudioRecommendationReason Explain(uint userKey, uint songKey) =>
        Reason(_users.AsSpan(UserIndex(userKey) * EmbeddingSize, EmbeddingSize), SongIndex(songKey));

    /// <summary>
    /// The <paramref name="k"/> best songs of the whole catalog (cold songs included) for a user, each with its reason;
    /// songs the user played in training are left out unless <paramref name="excludeAlreadyPlayed"/> is false.
    /// </summary>
    public IReadOnlyList<AudioRecommendationReason> Recommend(uint userKey, int k = 10, bool excludeAlreadyPlayed = true)
    {
        int u = UserIndex(userKey);
        var exclude = excludeAlreadyPlayed ? _training.SongsOf(u).ToArray() : [];
        return RecommendFor(_users.AsSpan(u * EmbeddingSize, EmbeddingSize).ToArray(), exclude, k);
    }

    /// <summary>
    /// Fold-in: a vector for a new user who played <paramref name="playedSongKeys"/>, solved with the encoder frozen
    /// (logistic regression of the played songs against the rest of the catalog on the stored window embeddings,
    /// with the training's soft maximum over windows and a small L2 penalty). No retraining of the encoder.
    /// </summary>
    /// <param name="playedSongKeys">Songs the new user played (1-based keys); at least one.</param>
    /// <param name="steps">Adam steps. Default 300.</param>
    /// <exception cref="ArgumentException">No song given, or a key outside the catalog.</exception>
    public float[] FoldInUser(IEnumerable<uint> playedSongKeys, int steps = 300)
    {
        ArgumentNullException.ThrowIfNull(playedSongKeys);
        var played = playedSongKeys.Select(SongIndex).Distinct().ToArray();
        if (played.Length == 0)
        {
            throw new ArgumentException("A new user needs at least one played song to fold in.", nameof(playedSongKeys));
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        var labels = new float[SongCount];
        foreach (int s in played)
        {
            labels[s] = 1;
        }

        var y = tensor(labels, device: _device);
        // Balance the classes: the few played songs weigh as much as the whole rest of the catalog.
        var weight = where(y > TorchScalars.HalfSingle, tensor(0.5f / played.Length, device: _device), tensor(0.5f / Math.Max(1, SongCount - played.Length), device: _device));
        var user = nn.Parameter(zeros(EmbeddingSize, device: _device));
        using var optimizer = new RootedAdam([user], 0.05);
        var windowsPerSong = _mask.sum(1).to(float32).log();

        // Explicit Scalars kept alive through the calls (see SongRecommenderModel.MaskedScores for why).
        using var negativeInfinity = float.NegativeInfinity.ToScalar();
        using var bias = _bias.ToScalar();
        for (int i = 0; i < steps; i++)
        {
            using var step = NewDisposeScope();
            var logits = _padded.matmul(user).add(bias, TorchScalars.One).masked_fill(_mask.logical_not(), negativeInfinity);
            var songLogit = logits.logsumexp(1) - windowsPerSong;
            var loss = (F.binary_cross_entropy_with_logits(songLogit, y, reduction: nn.Reduction.None) * weight).sum().add(user.pow(TorchScalars.Two).sum().mul(TorchScalars.OneThousandthSingle), TorchScalars.One);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }

        var vector = user.detach().cpu().data<float>().ToArray();
        int bad = Array.FindIndex(vector, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new NonFiniteTrainingException("MultiUserAudio fold-in", null, null, "fold-in user vector", vector[bad],
                $"Component {bad} of the new user's vector after {steps} steps; the model's song windows or bias may hold non-finite values.");
        }

        return vector;
    }

    /// <summary>Fold-in and recommend: the top <paramref name="k"/> songs with reasons for a new user (played songs left out).</summary>
    public IReadOnlyList<AudioRecommendationReason> RecommendForPlays(IEnumerable<uint> playedSongKeys, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(playedSongKeys);
        var keys = playedSongKeys.ToArray();
        var vector = FoldInUser(keys);
        return RecommendFor(vector, keys.Select(SongIndex).ToArray(), k);
    }

    /// <summary>Scores a user vector (from <see cref="FoldInUser"/>) against every song.</summary>
    public float[] ScoreVector(float[] userVector)
    {
        ArgumentNullException.ThrowIfNull(userVector);
        if (userVector.Length != EmbeddingSize)
        {
            throw new ArgumentException($"A user vector has {EmbeddingSize} values; got {userVector.Length}.", nameof(userVector));
        }

        return ScoreVectors(userVector, 1);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _padded.Dispose();
            _mask.Dispose();
            Encoder.Dispose();
        }
    }

    private float[] ScoreVectors(float[] vectors, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var u = tensor(vectors, [count, EmbeddingSize]).clone().to(_device); // aligned copy: see the constructor
        int songs = SongCount;
        long max = _padded.shape[1];
        // [count, songs * max]: every user against every window, one product.
        using var bias = _bias.ToScalar();
        var logits = u.matmul(_padded.reshape(songs * max, EmbeddingSize).t()).add(bias, TorchScalars.One).reshape(count, songs, max);
        var probabilities = logits.sigmoid();
        var mask = _mask.unsqueeze(0);
        using var fill = (_options.Aggregation == AudioSongAggregation.Max ? -1f : 0f).ToScalar();
        Tensor scores = _options.Aggregation == AudioSongAggregation.Max
            ? probabilities.masked_fill(mask.logical_not(), fill).amax([2])
            : probabilities.masked_fill(mask.logical_not(), fill).sum(2) / _mask.sum(1).to(float32).unsqueeze(0);
        return scores.cpu().data<float>().ToArray();
    }

    private AudioRecommendationReason[] RecommendFor(float[] vector, int[] exclude, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var scores = TopKMetrics.ExcludeAlreadyPlayed(ScoreVectors(vector, 1), exclude);
        return TopKMetrics.TopK(scores, Math.Min(k, SongCount))
            .Where(s => !float.IsNegativeInfinity(scores[s]))
            .Select(s => Reason(vector, s)).ToArray();
    }

    private float[] Timeline(ReadOnlySpan<float> user, int song)
    {
        int n = Songs.WindowCount(song);
        var timeline = new float[n];
        var e = _windowEmbeddings[song];
        for (int w = 0; w < n; w++)
        {
            double dot = _bias;
            for (int d = 0; d < EmbeddingSize; d++)
            {
                dot += user[d] * e[(w * EmbeddingSize) + d];
            }

            timeline[w] = (float)(1 / (1 + Math.Exp(-dot)));
        }

        return timeline;
    }

    private float Aggregate(float[] timeline) =>
        _options.Aggregation == AudioSongAggregation.Max ? timeline.Max() : timeline.Average();

    private AudioRecommendationReason Reason(ReadOnlySpan<float> user, int song)
    {
        var timeline = Timeline(user, song);
        int best = 0;
        for (int w = 1; w < timeline.Length; w++)
        {
            if (timeline[w] > timeline[best])
            {
                best = w;
            }
        }

        return new AudioRecommendationReason((uint)song + 1, Aggregate(timeline), Songs.WindowStartSeconds(best), Songs.Options.WindowSeconds, Songs.Options.WindowHopSeconds, timeline);
    }

    private int UserIndex(uint userKey) =>
        userKey >= 1 && userKey <= UserCount
            ? (int)userKey - 1
            : throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}; fold in a new user with FoldInUser.");

    private int SongIndex(uint songKey) =>
        songKey >= 1 && songKey <= SongCount
            ? (int)songKey - 1
            : throw new ArgumentOutOfRangeException(nameof(songKey), songKey, $"Song keys run from 1 to {SongCount}.");

    private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
        // A missing key scores 0, never NaN, so a downstream ranker needs no special case.
        UserSongScoreBinding.Create(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, UserCount, SongCount, (u, s) => u == 0 || s == 0 ? 0f : ScorePair(u, s));
}
