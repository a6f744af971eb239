using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051
/// <summary>
/// Options of <see cref="ImplicitMatrixFactorizationTrainer"/>. Names follow ML.NET's
/// <c>MatrixFactorizationTrainer.Options</c> where they mean the same thing; <see cref="Alpha"/> does not (see there).
/// </summary>
public sealed class ImplicitMatrixFactorizationOptions
{
    /// <summary>
    /// The user key column (as in ML.NET's recommendation sample, the matrix's columns are users). Must be set; a
    /// scalar UInt32 key with a known count, as made by MapValueToKey.
    /// </summary>
    public string? MatrixColumnIndexColumnName;

    /// <summary>The song key column (the matrix's rows are songs). Must be set; a scalar UInt32 key with a known count.</summary>
    public string? MatrixRowIndexColumnName;

    /// <summary>The play-count column r (Single). Rows with r ≤ 0 carry no preference; repeated (user, song) rows add up. Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>Number of latent factors f. Default 8 (ML.NET's default); implicit-feedback work often uses 32 to 200.</summary>
    public int ApproximationRank = Defaults.ApproximationRank;

    /// <summary>Alternating rounds (a user half-step then a song half-step each). Default 20 (ML.NET's default).</summary>
    public int NumberOfIterations = Defaults.NumberOfIterations;

    /// <summary>L2 regularisation λ on user and song factors, as in Hu, Koren and Volinsky 2008 (ML.NET's Lambda). Default 0.1.</summary>
    public double Lambda = Defaults.Lambda;

    /// <summary>
    /// Confidence scaling α of Hu, Koren and Volinsky 2008: an observed play count r has confidence c = 1 + α r, an
    /// unobserved pair confidence 1. Default 40 (the value the paper found to work). Not the same as ML.NET's
    /// one-class <c>Alpha</c>, which weights unobserved entries with observed ones at weight 1; ML.NET's Alpha a
    /// corresponds roughly to 1 / (1 + α r) here.
    /// </summary>
    public double Alpha = Defaults.Alpha;

    /// <summary>
    /// 0 (the default) solves each user's and song's system exactly (batched Cholesky). A positive n instead runs n
    /// conjugate-gradient steps per half-step, started from the current factors (Takács, Pilászy and Tikk 2011; the
    /// implicit library's default is 3): cheaper per iteration, approximate, and converging to the exact solve as
    /// n grows (n = ApproximationRank is exact up to rounding). On the CPU the conjugate-gradient solver runs in
    /// managed code over each user's own plays and is the one to use for large play logs (at last.fm-360k scale,
    /// 17.5 M plays, docs/benchmarks.md has its seconds per iteration); the exact solve pads and gathers per batch.
    /// </summary>
    public int ConjugateGradientSteps;

    /// <summary>
    /// Seed of the initial factors (uniform in [0, 0.01)). Null (default) draws one from the MLContext when the trainer
    /// is made (the same context seed and the same calls give the same model); a set seed leaves the context's random
    /// stream untouched. On the CPU the same seed, data and thread count give the same model (CUDA kernels may reorder sums).
    /// </summary>
    public int? Seed;

    /// <summary>
    /// Where to train and recommend: <see cref="TorchDevice.Auto"/> (default) uses CUDA when TorchSharp finds a GPU, else
    /// the CPU; <see cref="TorchDevice.Cpu"/> always the CPU; <see cref="TorchDevice.Cuda"/> fails at Fit without one.
    /// </summary>
    public TorchDevice Device = TorchDevice.Auto;

    /// <summary>Receives one <see cref="TrainingProgress"/> per alternating round, with Hu et al.'s objective as its training loss; null for none.</summary>
    public IProgress<TrainingProgress>? Progress;

    /// <summary>
    /// When set, the CPU threads training uses: libtorch's thread count for the exact solve (restored afterwards;
    /// libtorch's thread count is process-wide) and the parallelism of the managed conjugate-gradient solver. Null
    /// (the default) leaves libtorch's setting alone and lets the conjugate-gradient solver use every core.
    /// </summary>
    public int? NumberOfThreads;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";

        /// <summary>Default number of latent factors.</summary>
        public const int ApproximationRank = 8;

        /// <summary>Default number of alternating rounds.</summary>
        public const int NumberOfIterations = 20;

        /// <summary>Default regularisation.</summary>
        public const double Lambda = 0.1;

        /// <summary>Default confidence scaling.</summary>
        public const double Alpha = 40;
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal ImplicitMatrixFactorizationOptions Copy() => (ImplicitMatrixFactorizationOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate()
    {
        new OptionErrors(nameof(ImplicitMatrixFactorizationOptions))
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(ApproximationRank < 1, nameof(ApproximationRank), $"must be at least 1; found {ApproximationRank}.")
            .Check(NumberOfIterations < 1, nameof(NumberOfIterations), $"must be at least 1; found {NumberOfIterations}.")
            .Check(!(Lambda > 0) || double.IsInfinity(Lambda), nameof(Lambda), $"must be positive and finite (it keeps each solve well posed); found {Lambda}.")
            .Check(!(Alpha >= 0) || double.IsInfinity(Alpha), nameof(Alpha), $"must be zero or positive and finite; found {Alpha}.")
            .Check(ConjugateGradientSteps < 0, nameof(ConjugateGradientSteps), $"must be 0 (exact solves) or positive; found {ConjugateGradientSteps}.")
            .Check(NumberOfThreads is < 1, nameof(NumberOfThreads), $"must be at least 1 when set; found {NumberOfThreads}.")
            .Check(!Enum.IsDefined(Device), nameof(Device), $"unknown value {(int)Device}.")
            .ThrowIfAny();
    }
}
#pragma warning restore CA1051
