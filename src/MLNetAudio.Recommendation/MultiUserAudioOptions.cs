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

    /// <summary>
    /// Unplayed songs sampled as negatives per play (from songs with training plays only). Default 2. Four ranked cold
    /// songs a little better on the small benchmark at about the same training time (cold NDCG@10 0.299 ± 0.017 at 20
    /// epochs against 0.278 ± 0.002 for 2 at 30, three simulator seeds; docs/recommendation.md, "Cold songs at the
    /// small size"), but each epoch costs 5/3 as much; not measured at the benchmark size.
    /// </summary>
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

    /// <summary>
    /// How window preferences make a song's score. Default <see cref="AudioSongAggregation.Mean"/>, the seed's.
    /// <see cref="AudioSongAggregation.Max"/> scored the same trained models a little better on cold songs of the small
    /// benchmark (about +0.01 NDCG@10, higher in 8 of 9 comparisons; docs/recommendation.md, "Cold songs at the small size").
    /// </summary>
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
    /// Weight of a second self-supervised read-out, beside <see cref="WindowStatisticsWeight"/>'s: each window
    /// embedding must also give the window's tempogram, the autocorrelation of its onset envelope at beat periods of
    /// 0.1 to 1.5 s (each lag standardised over the catalog's windows), in pretraining and in play training; the
    /// read-out is dropped after training. A tempo then lies along many directions of the embedding, so a user vector
    /// can like a band of tempi. On the simulator's tempo tastes (5 seeds) weight 1 lifted cold-song NDCG@10 from the
    /// MFCC baselines' level to above them by more than the seed spread while staying level with them on timbre and
    /// pitch tastes; weight 4 lifted tempo further but fell below them on timbre (docs/recommendation.md, "Tempo from
    /// plays: a rhythm read-out"). Not yet measured on real recordings or at the benchmark size, so off by default.
    /// 0 (default) turns it off and leaves the model exactly as without the option; the window must hold more than
    /// 1.5 s of frames at <see cref="AudioSongOptions.FramesPerSecond"/> for lags to exist.
    /// </summary>
    public double RhythmWeight = Defaults.RhythmWeight;

    /// <summary>
    /// Weight of a third self-supervised read-out: each window embedding must also give statistics of the window that
    /// change sign when it is played backwards (the skewness of each coefficient's change over 1 to 8 frames, and the
    /// antisymmetric lagged cross-covariances of the first 8 coefficients at 0.5 to 1.5 s; each standardised over the
    /// catalog's windows), in pretraining and in play training; the read-out is dropped after training. Which way time
    /// runs in a window (sharp attacks and slow decays, which sound comes first) then lies along directions of the
    /// embedding, where MFCC statistics, equal forwards and backwards, cannot hold it. The read-out is slow to learn:
    /// on the real-music sample's order taste (listeners who like tracks forwards or backwards, six plays each),
    /// weight 50 with 600 <see cref="ContrastivePretrainingEpochs"/> lifted cold NDCG@10 from chance (0.50) to 0.665
    /// on the mean of five seeds, above the MFCC baselines on every seed (audio -> MF factors 0.760); with 300 epochs
    /// it was learned on three seeds of five, and weights 1 and 5 at the automatic 100 epochs left the embedding
    /// without the direction. It costs the soundtrack (timbre) taste: about 0.08 to 0.1 cold NDCG@10 there
    /// (docs/recommendation.md, "Which way time runs: a direction read-out"). So off by default. 0 (default) turns it
    /// off and leaves the model exactly as without the option.
    /// </summary>
    public double DirectionWeight = Defaults.DirectionWeight;

    /// <summary>
    /// Epochs of contrastive pretraining of the encoder before any play is seen (CLMR, Spijkervet and Burgoyne 2021):
    /// every song of the catalog given to the trainer, cold songs included (their audio, never their plays), in batches
    /// of <see cref="BatchSize"/> songs; two different windows of a song must find each other among the batch's other
    /// songs' windows (InfoNCE in both directions through a linear projection, temperature
    /// <see cref="ContrastiveTemperature"/>), with the <see cref="WindowStatisticsWeight"/> term beside it; Adam at
    /// <see cref="LearningRate"/>. The encoder then starts the play training knowing which windows belong together. It
    /// costs about (songs / BatchSize) steps of 2 x BatchSize windows per epoch, reports each epoch through
    /// <see cref="Progress"/> (<see cref="TrainingProgress.Pretraining"/> true) and is not checkpointed (a resumed run
    /// finds its weights in the checkpoint). 0 turns it off.
    /// <para>
    /// Default null: automatic, <see cref="Defaults.ContrastivePretrainingEpochs"/> epochs, fewer when that would be more
    /// than <see cref="Defaults.MaximumAutomaticPretrainingSteps"/> steps (at least one epoch; none with fewer than two
    /// songs or a <see cref="BatchSize"/> of 1, where nothing can be contrasted), so a catalog of 5,000
    /// songs gets 100 epochs (about 15,700 steps; 3 to 6 minutes on two CPU cores) and one of 100,000 songs 5.
    /// </para>
    /// <para>
    /// Measured (docs/recommendation.md, "Contrastive pretraining"), 100 epochs with <see cref="ContrastiveWeight"/> 0.5:
    /// cold-song NDCG@10 55% of the taste oracle's against 44% without at 300 songs x 150 listeners with 20 plays each
    /// (every one of 3 simulator seeds, 30 epochs), 57% against 34% at 5,000 songs x 2,000 listeners (5 epochs), level
    /// where plays are plentiful (40 per listener, four negatives each), and a mean +0.06 over 3 seeds on real game
    /// soundtracks (two seeds up, one down). It costs what a listener hears in only part of a song: where the taste is a
    /// short motif, cold NDCG@10 fell from 0.341 to 0.293 (five simulator seeds; positives drawn from one section instead
    /// of the whole song did not help). Set 0 (and <see cref="ContrastiveWeight"/> 0) for such tastes, or for
    /// the model of releases before it was the default.
    /// </para>
    /// </summary>
    public int? ContrastivePretrainingEpochs;

    /// <summary>
    /// Weight of the same contrastive term during the play training: the first two windows of every pair's song against
    /// the other pairs' songs in the batch (other pairs of the same song are not counted as negatives). Needs
    /// <see cref="WindowsPerPair"/> of 2 or more. 0 turns it off. Default null: automatic,
    /// <see cref="Defaults.ContrastiveWeight"/> when <see cref="WindowsPerPair"/> is 2 or more, else 0.
    /// </summary>
    public double? ContrastiveWeight;

    /// <summary>Temperature of the contrastive terms (their cosine similarities are divided by it). Default 0.1.</summary>
    public double ContrastiveTemperature = Defaults.ContrastiveTemperature;

    /// <summary>
    /// Seed of the weights, the negatives and the window draws. Null (default) draws one from the MLContext when the
    /// trainer is made (ML.NET's convention: the same context seed and the same calls give the same model; the fitted
    /// model's <see cref="MultiUserAudioModel.Seed"/> says which). On the CPU two fits with one seed give the same model
    /// bit for bit; on CUDA they differ in the last bits (CUDA's backward kernels add with atomics) and the GPU's random
    /// stream is not the CPU's, so a model trained there differs from one trained on the CPU.
    /// </summary>
    public int? Seed;

    /// <summary>
    /// Where to train and compute: <see cref="TorchDevice.Auto"/> (default) uses CUDA when TorchSharp finds a GPU, else
    /// the CPU; <see cref="TorchDevice.Cpu"/> always the CPU; <see cref="TorchDevice.Cuda"/> fails at Fit without one.
    /// </summary>
    public TorchDevice Device = TorchDevice.Auto;

    /// <summary>
    /// libtorch's intra-op threads while <see cref="MultiUserAudioTrainer.Fit"/> runs (process-wide; restored
    /// afterwards); null (default) leaves libtorch's own setting (<c>OMP_NUM_THREADS</c>, else the core count). The
    /// thread count is part of what makes a CPU model reproducible: libtorch splits its sums between threads, so
    /// another count adds in another order, and training carries the last-bit differences into a different model. On
    /// the real-music sample (soundtrack taste, seed 1) one thread gave cold NDCG@10 0.554 and two threads 0.528; one
    /// thread gave the same figures to the last printed digit on an Intel Xeon (AVX-512, AMX) and an AMD EPYC (Zen 5). Set it when
    /// runs must be compared across machines. Not part of a checkpoint's identity: a run may resume on another count.
    /// </summary>
    public int? Threads;

    /// <summary>
    /// Receives one <see cref="TrainingProgress"/> per epoch: <see cref="TrainingProgress.TrainingLoss"/> is the mean
    /// loss on the play pairs (without the auxiliary term of <see cref="WindowStatisticsWeight"/>), with the windows
    /// encoded, windows per second and skipped batches; null for none. Contrastive pretraining epochs
    /// (<see cref="ContrastivePretrainingEpochs"/>) report first, with <see cref="TrainingProgress.Pretraining"/> true
    /// and their contrastive loss; the training epochs after them count from 1.
    /// </summary>
    public IProgress<TrainingProgress>? Progress;

    /// <summary>
    /// Skip a batch whose loss or gradient norm is NaN or infinite (no optimiser step) and count it, instead of stopping
    /// with <see cref="NonFiniteTrainingException"/>; the count goes to ML.NET's log (a warning per epoch with skips) and
    /// <see cref="MultiUserAudioTrainer.SkippedBatches"/>. An epoch whose every batch is skipped still stops training.
    /// Default false.
    /// </summary>
    public bool SkipNonFiniteBatches;

    /// <summary>
    /// Folder for crash-safe training; null (default) writes no checkpoints. When set, Fit writes checkpoints there
    /// (every <see cref="CheckpointEverySteps"/> optimisation steps and every <see cref="CheckpointEveryEpochs"/>
    /// epochs), and a later Fit with the same options, seed and data resumes from the newest readable one and ends
    /// with the same model, bit for bit on the CPU, as a run that was never stopped.
    /// <list type="bullet">
    /// <item>A checkpoint holds the encoder's weights, the user vectors and bias, the auxiliary read-out, Adam's moments
    /// and step counts, the sampling generator's state at the start of the epoch in progress, the epoch and batch
    /// reached with that epoch's loss sums, and a fingerprint (options, seed, device, SHA-256 of the plays and the songs'
    /// windows).</item>
    /// <item>Writes are atomic (a temporary file, flushed to disk, renamed over the final name) and checksummed; a
    /// process killed at any moment leaves the previous checkpoints intact.</item>
    /// <item>A truncated or damaged checkpoint is logged as a warning, renamed to <c>*.checkpoint.corrupt</c>, and the
    /// previous one is used; with none readable, training starts over (logged).</item>
    /// <item>A checkpoint of another run (different options, seed or data) stops Fit with an
    /// <see cref="InvalidOperationException"/> naming the folder, the file and what differs.</item>
    /// <item>Fingerprinting reads every song's windows once more. One run per folder at a time. Checkpoints are kept
    /// after Fit: a Fit of a finished run returns its model at once.</item>
    /// </list>
    /// Not part of the fingerprint: column names, <see cref="Aggregation"/> (scoring only), <see cref="Progress"/> and
    /// the checkpoint options. A seed left null is drawn from the MLContext, so a resumed run must make its trainer
    /// the same way (same context seed, same calls before it), or set <see cref="Seed"/>.
    /// </summary>
    public string? CheckpointDirectory;

    /// <summary>
    /// With <see cref="CheckpointDirectory"/>: write a checkpoint every this many optimisation steps (batches), in the
    /// middle of epochs too; 0 writes only at epoch ends. A resume from the middle of an epoch draws that epoch's pairs
    /// and windows again up to the checkpoint (no training). Default 0.
    /// </summary>
    public int CheckpointEverySteps;

    /// <summary>
    /// With <see cref="CheckpointDirectory"/>: write a checkpoint at the end of every this many epochs and at the end of
    /// training; 0 writes only every <see cref="CheckpointEverySteps"/> steps. Default 1.
    /// </summary>
    public int CheckpointEveryEpochs = Defaults.CheckpointEveryEpochs;

    /// <summary>
    /// With <see cref="CheckpointDirectory"/>: how many of the newest checkpoints to keep (older ones are deleted after
    /// each write); more than one lets a damaged newest file fall back to the one before. Default 2.
    /// </summary>
    public int CheckpointsToKeep = Defaults.CheckpointsToKeep;

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

        /// <summary>Default weight of the rhythm read-out: off.</summary>
        public const double RhythmWeight = 0;

        /// <summary>Default weight of the direction read-out: off.</summary>
        public const double DirectionWeight = 0;

        /// <summary>Epochs of contrastive pretraining the automatic count aims for.</summary>
        public const int ContrastivePretrainingEpochs = 100;

        /// <summary>The most pretraining steps the automatic count chooses (it keeps at least one epoch).</summary>
        public const int MaximumAutomaticPretrainingSteps = 16_000;

        /// <summary>Default weight of the contrastive term during the play training (with two or more windows per pair).</summary>
        public const double ContrastiveWeight = 0.5;

        /// <summary>Default temperature of the contrastive terms.</summary>
        public const double ContrastiveTemperature = 0.1;

        /// <summary>Default epochs between checkpoints.</summary>
        public const int CheckpointEveryEpochs = 1;

        /// <summary>Default number of checkpoints kept.</summary>
        public const int CheckpointsToKeep = 2;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        TrainingCheckpointDirectory.CheckOptions(new OptionErrors(nameof(MultiUserAudioOptions)), CheckpointDirectory, CheckpointEverySteps, CheckpointEveryEpochs, CheckpointsToKeep)
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(string.IsNullOrWhiteSpace(SongWindowsColumnName), nameof(SongWindowsColumnName), "must name the songs' windows column.")
            .Check(EmbeddingSize is < 1 or > 4096, nameof(EmbeddingSize), $"must be 1 to 4096; found {EmbeddingSize}.")
            .Check(Threads is < 1, nameof(Threads), $"must be at least 1 or null (libtorch's own setting); found {Threads}.")
            .Check(Channels is < 1 or > 4096, nameof(Channels), $"must be 1 to 4096; found {Channels}.")
            .Check(ConvolutionLayers is < 1 or > 10, nameof(ConvolutionLayers), $"must be 1 to 10; found {ConvolutionLayers}.")
            .Check(Epochs < 0, nameof(Epochs), $"must be 0 or more; found {Epochs}.")
            .Check(BatchSize < 1, nameof(BatchSize), $"must be at least 1; found {BatchSize}.")
            .Check(!(LearningRate > 0 && LearningRate <= 1e30), nameof(LearningRate), $"must be positive and at most 1e30 (Adam's step is computed in float32); found {LearningRate}.")
            .Check(NegativesPerPlay < 0, nameof(NegativesPerPlay), $"must be 0 or more; found {NegativesPerPlay}.")
            .Check(WindowsPerPair < 1, nameof(WindowsPerPair), $"must be at least 1; found {WindowsPerPair}.")
            .Check(!Enum.IsDefined(Aggregation), nameof(Aggregation), $"unknown value {(int)Aggregation}.")
            .Check(!Enum.IsDefined(Device), nameof(Device), $"unknown value {(int)Device}.")
            .Check(!(WindowStatisticsWeight >= 0) || double.IsInfinity(WindowStatisticsWeight), nameof(WindowStatisticsWeight), $"must be 0 or more and finite; found {WindowStatisticsWeight}.")
            .Check(!(RhythmWeight >= 0) || double.IsInfinity(RhythmWeight), nameof(RhythmWeight), $"must be 0 or more and finite; found {RhythmWeight}.")
            .Check(!(DirectionWeight >= 0) || double.IsInfinity(DirectionWeight), nameof(DirectionWeight), $"must be 0 or more and finite; found {DirectionWeight}.")
            .Check(ContrastivePretrainingEpochs > 0 && BatchSize < 2, nameof(ContrastivePretrainingEpochs), $"needs BatchSize of 2 or more (a song's windows are told apart from the other songs' in its batch); BatchSize is {BatchSize}. Set ContrastivePretrainingEpochs to 0 or null (automatic: 0 with batches of one), or BatchSize to 2 or more.")
            .Check(ContrastivePretrainingEpochs < 0, nameof(ContrastivePretrainingEpochs), $"must be null (automatic) or 0 or more; found {ContrastivePretrainingEpochs}.")
            .Check(ContrastiveWeight is double weight && (!(weight >= 0) || double.IsInfinity(weight)), nameof(ContrastiveWeight), $"must be null (automatic), 0 or more and finite; found {ContrastiveWeight}.")
            .Check(ContrastiveWeight > 0 && WindowsPerPair < 2, nameof(ContrastiveWeight), $"needs WindowsPerPair of 2 or more (two windows of a song to match); WindowsPerPair is {WindowsPerPair}. Set ContrastiveWeight to 0 or null (automatic: 0 with one window per pair), or WindowsPerPair to 2 or more.")
            .Check(!(ContrastiveTemperature > 0) || double.IsInfinity(ContrastiveTemperature), nameof(ContrastiveTemperature), $"must be positive and finite; found {ContrastiveTemperature}.")
            .ThrowIfAny();
}
#pragma warning restore CA1051
