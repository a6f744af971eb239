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
    /// <summary>One epoch's figures, reported through <see cref="TimeConvLstmOptions.Progress"/> and ML.NET's log.</summary>
    /// <param name="Epoch">1-based epoch number.</param>
    /// <param name="TrainingLoss">Mean weighted binary cross-entropy over the epoch's training windows.</param>
    /// <param name="TrainingWindows">Training windows used this epoch (after <see cref="TimeConvLstmOptions.TrainingWindowStride"/>).</param>
    /// <param name="ValidationLoss">Mean (unweighted) binary cross-entropy over the validation songs' windows; null without validation.</param>
    /// <param name="ValidationAccuracy">Share of validation windows on the right side of 0.5; null without validation.</param>
    /// <param name="WindowsPerSecond">Training windows processed per second of wall time this epoch (data reading included).</param>
    /// <param name="IsBest">Whether this epoch's weights are the best so far (lowest validation loss) and were kept.</param>
    /// <param name="DataPathShare">
    /// Share (0..1) of the epoch's training wall time spent outside the optimisation steps: reading rows, densifying,
    /// shuffling and copying windows into batches. Measured inside one epoch, so background load affects both parts alike.
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
        /// <summary>What Fit decided before the first epoch (the same object in every report of one Fit).</summary>
        public TrainingPlan? Plan { get; init; }

        /// <summary>
        /// Batches skipped this epoch because their loss or gradient norm was NaN or infinite (only with
        /// <see cref="TimeConvLstmOptions.SkipNonFiniteBatches"/>; otherwise such a batch stops training).
        /// </summary>
        public int SkippedBatches { get; init; }
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
