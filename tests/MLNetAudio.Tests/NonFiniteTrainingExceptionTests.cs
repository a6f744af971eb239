namespace MLNetAudio.Tests;

public sealed class NonFiniteTrainingExceptionTests
{
    [Fact]
    public void MessageNamesTrainerEpochBatchQuantityAndWhatToCheck()
    {
        var e = new NonFiniteTrainingException("TimeConvLstm", 3, 7, "gradient norm", double.PositiveInfinity, "The loss was 0.5.");
        Assert.StartsWith("TimeConvLstm: the gradient norm is Infinity at epoch 3, batch 7 (1-based); training stopped. The loss was 0.5. Check the learning rate", e.Message, StringComparison.Ordinal);
        Assert.Contains("NaN, infinity or huge values", e.Message, StringComparison.Ordinal);
        Assert.Contains("standardised", e.Message, StringComparison.Ordinal);
        Assert.Contains("float64 numerical reference tests", e.Message, StringComparison.Ordinal);
        Assert.Contains("NumericalReferenceTests", e.Message, StringComparison.Ordinal);
        Assert.Equal(("TimeConvLstm", 3, 7, "gradient norm"), (e.Trainer, e.Epoch, e.Batch, e.Quantity));
        Assert.IsAssignableFrom<InvalidOperationException>(e);

        var solve = new NonFiniteTrainingException("AudioFactorRegression", null, null, "regression weight", double.NaN);
        Assert.StartsWith("AudioFactorRegression: the regression weight is NaN; training stopped. Check", solve.Message, StringComparison.Ordinal);
    }
}
