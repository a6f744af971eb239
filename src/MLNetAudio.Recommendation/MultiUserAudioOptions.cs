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
