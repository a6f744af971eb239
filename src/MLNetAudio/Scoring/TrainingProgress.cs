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
    /// One epoch's figures, reported by every iterative trainer through its options' <c>Progress</c>: once per epoch by
    /// <see cref="TimeConvLstmTrainer"/> (<see cref="TimeConvLstmOptions.Progress"/>) and the multi-user audio
    /// recommender, once per alternating round by implicit matrix factorization (MLNetAudio.Recommendation). Every
    /// report has <see cref="Epoch"/>, <see cref="TrainingLoss"/>, <see cref="Trainer"/> and <see cref="TotalEpochs"/>;
    /// the other figures are filled by the trainers they apply to and are otherwise 0, null or false (each says which).
    /// </summary>
    /// <param name="Epoch">1-based epoch (or alternating round) number.</param>
    /// <param name="TrainingLoss">
    /// The epoch's training loss, as the trainer defines it: TimeConvLstm, mean weighted binary cross-entropy over the
    /// epoch's training windows; multi-user audio, mean binary cross-entropy of the play pairs (without the auxiliary
    /// term); implicit matrix factorization, Hu et al.'s weighted objective after the round.
    /// </param>
    /// <param name="TrainingWindows">Training windows used this epoch (TimeConvLstm: after <see cref="TimeConvLstmOptions.TrainingWindowStride"/>; multi-user audio: windows encoded); 0 for trainers that do not read windows.</param>
    /// <param name="ValidationLoss">Mean (unweighted) binary cross-entropy over the validation songs' windows; null without validation (and for trainers that do not validate).</param>
    /// <param name="ValidationAccuracy">Share of validation windows on the right side of 0.5; null without validation.</param>
    /// <param name="WindowsPerSecond">Training windows processed per second of wall time this epoch (data reading included); 0 for trainers that do not read windows.</param>
    /// <param name="IsBest">Whether this epoch's weights are the best so far (lowest validation loss) and were kept; false without validation.</param>
    /// <param name="DataPathShare">
    /// Share (0..1) of the epoch's training wall time spent outside the optimisation steps: reading rows, densifying,
    /// shuffling and copying windows into batches. Measured inside one epoch, so background load affects both parts alike.
    /// TimeConvLstm only; 0 otherwise.
    /// </param>
    public sealed record TrainingProgress(
        int Epoch,
        double TrainingLoss,
        long TrainingWindows,
        double? ValidationLoss,
        double? ValidationAccuracy,
        double WindowsPerSecond,
        bool IsBest,
        double DataPathShare)
    {
        /// <summary>A report with the figures every iterative trainer has; the others are 0, null or false.</summary>
        /// <param name="epoch">1-based epoch (or alternating round) number.</param>
        /// <param name="trainingLoss">The epoch's training loss.</param>
        public TrainingProgress(int epoch, double trainingLoss)
            : this(epoch, trainingLoss, 0, null, null, 0, false, 0)
        {
        }

        /// <summary>The trainer that reported ("TimeConvLstm", "MultiUserAudio", "ImplicitMatrixFactorization"), so one receiver can serve several.</summary>
        public string Trainer { get; init; } = string.Empty;

        /// <summary>The most epochs (rounds) this Fit runs; training may stop earlier (early stopping). Null when not known.</summary>
        public int? TotalEpochs { get; init; }

        /// <summary>What TimeConvLstm's Fit decided before the first epoch (the same object in every report of one Fit); null for other trainers.</summary>
        public TrainingPlan? Plan { get; init; }

        /// <summary>
        /// Batches skipped this epoch because their loss or gradient norm was NaN or infinite (only with the trainer's
        /// <c>SkipNonFiniteBatches</c>, e.g. <see cref="TimeConvLstmOptions.SkipNonFiniteBatches"/>; otherwise such a batch
        /// stops training).
        /// </summary>
        public int SkippedBatches { get; init; }

        /// <summary>
        /// True for a report of an epoch of self-supervised pretraining that runs before the training epochs (the
        /// multi-user audio recommender's contrastive pretraining, <c>MultiUserAudioOptions.ContrastivePretrainingEpochs</c>):
        /// <see cref="Epoch"/> and <see cref="TotalEpochs"/> count pretraining epochs and <see cref="TrainingLoss"/> is the
        /// contrastive loss. The training epochs that follow report false and count from 1 again.
        /// </summary>
        public bool Pretraining { get; init; }
    }

    /// <summary>
    /// What <see cref="TimeConvLstmTrainer.Fit"/> decided before training, from the options and, for the automatic
    /// ones, the number of songs and windows. Logged to ML.NET's channel and carried by every <see cref="TrainingProgress"/>.
    /// </summary>
    /// <param name="Songs">Rows (songs) in the training data.</param>
    /// <param name="ValidationSongs">Songs held out to pick the best epoch and stop early; 0 trains on all.</param>
    /// <param name="LikedSongs">Training songs (validation songs excluded) with label above 0.5; null when the songs were not read before training (every automatic option set).</param>
    /// <param name="TrainingWindowStride">Every how many windows training takes (1: all).</param>
    /// <param name="TrainingWindowsPerEpoch">Training windows per epoch (expected, with the random offsets); null when the songs were not read before training.</param>
    /// <param name="Epochs">Most epochs training runs.</param>
    /// <param name="EarlyStoppingPatience">Epochs without improvement before stopping; null without validation.</param>
    /// <param name="Automatic">The options decided at Fit (a subset of "Epochs", "TrainingWindowStride", "ValidationFraction", "EarlyStoppingPatience").</param>
    /// <param name="Warnings">What Fit warned about (also written to ML.NET's log as warnings).</param>
    public sealed record TrainingPlan(
        long Songs,
        int ValidationSongs,
        long? LikedSongs,
        int TrainingWindowStride,
        double? TrainingWindowsPerEpoch,
        int Epochs,
        int? EarlyStoppingPatience,
        IReadOnlyList<string> Automatic,
        IReadOnlyList<string> Warnings);
}
