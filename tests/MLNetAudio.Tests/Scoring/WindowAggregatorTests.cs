using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Scoring;

namespace MLNetAudio.Tests.Scoring;

public sealed class WindowAggregatorTests
{
    // Four windows of 8 s at a 1 s hop: they span 3 x 1 + 8 = 11 s; the best (0.9) starts at 3 s.
    private static readonly float[] Song1 = [0.2f, 0.8f, 0.5f, 0.9f];

    // Ties: the first best window (index 1, 2 s at a 2 s hop) wins.
    private static readonly float[] Song2 = [0.1f, 0.7f, 0.7f];

    private static WindowData Data(double? hop = 1, double window = 8) =>
        new(
            [new Song(Song1, true, Duration: 20), new Song(Song2, false, Duration: 12.5), new Song([], false, Duration: 3)],
            frames: 1,
            coefficients: 1,
            framesPerSecond: 1 / window, // one "frame" per window, so each scalar is one window's score
            windowSeconds: window,
            hopSeconds: hop,
            windowColumn: "WindowScores");

    private static (float[] Score, float[] Start) Run(WindowAggregatingEstimator estimator, IDataView data)
    {
        var transformed = estimator.Fit(data).Transform(data);
        var scores = transformed.GetColumn<float>("Score").ToArray();
        var starts = transformed.GetColumn<float>("Score.BestWindowStart").ToArray();
        return (scores, starts);
    }

    [Fact]
    public void SumOverDurationDividesBySpannedSecondsWithoutADurationColumn()
    {
        var ml = new MLContext(seed: 1);
        var (score, start) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores"), Data());
        Assert.Equal(2.4 / 11, score[0], 5); // (0.2 + 0.8 + 0.5 + 0.9) / (3 x 1 + 8)
        Assert.Equal(1.5 / 10, score[1], 5); // (0.1 + 0.7 + 0.7) / (2 x 1 + 8)
        Assert.True(float.IsNaN(score[2]));
        Assert.Equal(new[] { 3f, 1f }, start.Take(2));
        Assert.True(float.IsNaN(start[2]));
    }

    [Fact]
    public void SumOverDurationUsesTheDurationColumnWhenGiven()
    {
        var ml = new MLContext(seed: 1);
        var options = new WindowAggregatorOptions { DurationColumnName = "Duration" };
        var (score, _) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores", options), Data());
        Assert.Equal(2.4 / 20, score[0], 5);
        Assert.Equal(1.5 / 12.5, score[1], 5);
    }

    [Fact]
    public void MeanMaxAndTopKMean()
    {
        var ml = new MLContext(seed: 1);
        var (mean, _) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores", WindowAggregation.Mean), Data());
        Assert.Equal(0.6, mean[0], 5);
        Assert.Equal(0.5, mean[1], 5);

        var (max, start) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores", WindowAggregation.Max), Data(hop: 2));
        Assert.Equal(0.9f, max[0]);
        Assert.Equal(0.7f, max[1]);
        Assert.Equal(new[] { 6f, 2f }, start.Take(2)); // index 3 and 1 at a 2 s hop

        var top2 = new WindowAggregatorOptions { Aggregation = WindowAggregation.TopKMean, TopK = 2 };
        var (topk, _) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores", top2), Data());
        Assert.Equal(0.85, topk[0], 5); // (0.9 + 0.8) / 2
        Assert.Equal(0.7, topk[1], 5);  // (0.7 + 0.7) / 2

        var top9 = new WindowAggregatorOptions { Aggregation = WindowAggregation.TopKMean, TopK = 9 };
        var (all, _) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores", top9), Data());
        Assert.Equal(0.6, all[0], 5); // fewer windows than K: the mean of all
    }

    [Fact]
    public void InputColumnDefaultsToTheOutputName()
    {
        var ml = new MLContext(seed: 1);
        var transformed = ml.Transforms.AggregateWindows("WindowScores", aggregation: WindowAggregation.Max).Fit(Data()).Transform(Data());
        Assert.Equal(0.9f, transformed.GetColumn<float>("WindowScores").First());
        Assert.Equal(3f, transformed.GetColumn<float>("WindowScores.BestWindowStart").First());
    }

    [Fact]
    public void MissingTimingIsAClearError()
    {
        var ml = new MLContext(seed: 1);
        var noHop = Data(hop: null);
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.AggregateWindows("Score", "WindowScores").Fit(noHop));
        Assert.Contains("WindowHopSeconds", e.Message, StringComparison.Ordinal);

        // Given by option instead, it works.
        var (score, start) = Run(ml.Transforms.AggregateWindows("Score", "WindowScores", new WindowAggregatorOptions { WindowHopSeconds = 1 }), noHop);
        Assert.Equal(2.4 / 11, score[0], 5);
        Assert.Equal(3f, start[0]);

        e = Assert.Throws<ArgumentException>(() => ml.Transforms.AggregateWindows("Score", "Nope").Fit(Data()));
        Assert.Contains("'Nope'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadOptionsAreReportedAllAtOnce()
    {
        var ml = new MLContext(seed: 1);
        var options = new WindowAggregatorOptions { TopK = 0, WindowHopSeconds = -1, WindowSeconds = double.PositiveInfinity, DurationColumnName = " " };
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.AggregateWindows("Score", "WindowScores", options));
        foreach (var field in new[] { "TopK:", "WindowHopSeconds:", "WindowSeconds:", "DurationColumnName:" })
        {
            Assert.Contains(field, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void OutputSchemaAddsScoreAndBestWindowStart()
    {
        var ml = new MLContext(seed: 1);
        var transformer = ml.Transforms.AggregateWindows("Score", "WindowScores").Fit(Data());
        var schema = transformer.GetOutputSchema(Data().Schema);
        Assert.Equal(NumberDataViewType.Single, schema["Score"].Type);
        Assert.Equal(NumberDataViewType.Single, schema["Score.BestWindowStart"].Type);
    }
}
