using System.Globalization;

namespace MLNetAudio;

/// <summary>
/// Training met a NaN or infinite number (a loss, a gradient norm, or a solved factor) and stopped instead of going on
/// with garbage. The message names the trainer, the 1-based epoch and batch where they apply, the quantity and its
/// value, and what to check.
/// </summary>
/// <remarks>
/// Thrown by every trainer that runs an optimisation loop or a solver: <c>TimeConvLstmTrainer</c>,
/// <c>MultiUserAudioTrainer</c>, <c>ImplicitMatrixFactorizationTrainer</c>, <c>AudioFactorRegressionModel.Fit</c> and
/// <c>FieldAwareFactorizationMachineRecommenderTrainer</c>. Input values that are themselves NaN or infinite are
/// rejected earlier with an <see cref="ArgumentException"/> or <see cref="InvalidOperationException"/> naming the column.
/// </remarks>
public sealed class NonFiniteTrainingException : InvalidOperationException
{
    /// <summary>What the message tells the user to check, after the trainer's own hint.</summary>
    internal const string Advice =
        "Check the learning rate (try a smaller one), the input features for NaN, infinity or huge values, and that they are "
        + "standardised. If inputs and settings look sane, the numeric library may be computing wrong numbers on this machine: "
        + "run MLNetAudio's float64 numerical reference tests (tests/MLNetAudio.Tests, e.g. "
        + "dotnet test --filter \"FullyQualifiedName~NumericalReferenceTests\").";

    /// <summary>Creates the exception for <paramref name="trainer"/> with a message built from the other arguments.</summary>
    /// <param name="trainer">The trainer's name, as its log channel spells it.</param>
    /// <param name="epoch">1-based epoch (or alternating round); null for a one-shot solve.</param>
    /// <param name="batch">1-based batch within the epoch; null where the trainer has no batches or the whole epoch is meant.</param>
    /// <param name="quantity">What was not finite, in the user's words ("loss", "gradient norm", "user factors").</param>
    /// <param name="value">The offending value (NaN or ±infinity), when there is one number.</param>
    /// <param name="hint">A trainer-specific sentence placed before the general advice, or null.</param>
    public NonFiniteTrainingException(string trainer, int? epoch, int? batch, string quantity, double value, string? hint = null)
        : base(Format(trainer, epoch, batch, quantity, value, hint))
    {
        Trainer = trainer;
        Epoch = epoch;
        Batch = batch;
        Quantity = quantity;
        Value = value;
    }

    /// <summary>Creates an exception with a default message (for serializers and tooling).</summary>
    public NonFiniteTrainingException()
        : this("unknown trainer", null, null, "a training quantity", double.NaN)
    {
    }

    /// <summary>Creates an exception with a message only (for serializers and tooling).</summary>
    public NonFiniteTrainingException(string message)
        : base(message)
    {
        Trainer = string.Empty;
        Quantity = string.Empty;
        Value = double.NaN;
    }

    /// <summary>Creates an exception with a message and inner exception (for serializers and tooling).</summary>
    public NonFiniteTrainingException(string message, Exception innerException)
        : base(message, innerException)
    {
        Trainer = string.Empty;
        Quantity = string.Empty;
        Value = double.NaN;
    }

    /// <summary>The trainer that stopped ("TimeConvLstm", "MultiUserAudio", ...).</summary>
    public string Trainer { get; }

    /// <summary>1-based epoch (or alternating round); null for a one-shot solve.</summary>
    public int? Epoch { get; }

    /// <summary>1-based batch within <see cref="Epoch"/>; null where there are no batches.</summary>
    public int? Batch { get; }

    /// <summary>What was not finite: "loss", "gradient norm", "user factors", ...</summary>
    public string Quantity { get; }

    /// <summary>The offending value: NaN or an infinity.</summary>
    public double Value { get; }

    /// <summary>
    /// The one check every mini-batch trainer makes before its optimiser step: false when <paramref name="loss"/> and
    /// <paramref name="gradientNorm"/> are finite; otherwise true when <paramref name="skip"/> allows skipping the batch,
    /// and an exception naming the trainer, epoch and batch when it does not.
    /// </summary>
    /// <param name="trainer">The trainer's name.</param>
    /// <param name="epoch">1-based epoch.</param>
    /// <param name="batch">1-based batch within the epoch.</param>
    /// <param name="loss">The batch's loss.</param>
    /// <param name="gradientNorm">The total gradient norm before clipping.</param>
    /// <param name="skip">Whether the options allow skipping the batch (SkipNonFiniteBatches).</param>
    /// <param name="lossHint">Sentence added when the loss itself is not finite, or null.</param>
    internal static bool IsNonFiniteBatch(string trainer, int epoch, int batch, double loss, double gradientNorm, bool skip, string? lossHint = null)
    {
        if (double.IsFinite(loss) && double.IsFinite(gradientNorm))
        {
            return false;
        }

        if (skip)
        {
            return true;
        }

        throw double.IsFinite(loss)
            ? new NonFiniteTrainingException(trainer, epoch, batch, "gradient norm", gradientNorm, $"The loss was {loss.ToString(CultureInfo.InvariantCulture)}.")
            : new NonFiniteTrainingException(trainer, epoch, batch, "loss", loss, lossHint);
    }

    /// <summary>The exception for an epoch whose every batch was skipped as non-finite (nothing was learned).</summary>
    internal static NonFiniteTrainingException AllBatchesSkipped(string trainer, int epoch, int skipped) =>
        new(trainer, epoch, null, "loss or gradient norm of every batch", double.NaN,
            $"All {skipped} batch(es) of the epoch were non-finite and skipped (SkipNonFiniteBatches), so nothing was learned.");

    private static string Format(string trainer, int? epoch, int? batch, string quantity, double value, string? hint)
    {
        string where = (epoch, batch) switch
        {
            (int e, int b) => $" at epoch {e}, batch {b} (1-based)",
            (int e, null) => $" at epoch {e} (1-based)",
            (null, int b) => $" at batch {b} (1-based)",
            _ => string.Empty,
        };
        string shown = double.IsNaN(value) ? "NaN" : value.ToString(CultureInfo.InvariantCulture);
        return $"{trainer}: the {quantity} is {shown}{where}; training stopped. {(hint is null ? string.Empty : hint + " ")}{Advice}";
    }
}
