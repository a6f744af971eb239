using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Features;

namespace MLNetAudio.Tests.Scoring;

/// <summary>The scorer and aggregator on the real MfccSegmenter's output (the input contract, end to end).</summary>
public sealed class SegmenterIntegrationTests
{
    private sealed class Row
    {
        public float[] Audio { get; set; } = [];

        public bool Label { get; set; }
    }

    [Fact]
    public void SegmentedSongsTrainScoreAndAggregate()
    {
        const int rate = 16000;
        var ml = new MLContext(seed: 1);
        var def = SchemaDefinition.Create(typeof(Row));
        def["Audio"].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        def["Audio"].AddAnnotation("SampleRate", rate, NumberDataViewType.Int32);
        var rows = Enumerable.Range(0, 4).Select(i => new Row { Audio = SongData.Tone(rate, 12, 180 + (80 * i), seed: i + 1), Label = i % 2 == 0 }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows, def);

        var options = new TimeConvLstmOptions
        {
            FeatureColumnName = "Windows",
            Epochs = 1,
            ValidationFraction = 0,
            Seed = 1,
            Threads = 1,
            Device = TorchDevice.Cpu,
            Channels = 2,
            LstmHiddenSize = 8,
        };
        var segmented = ml.Transforms.SegmentMfcc("Windows", "Audio").Fit(data).Transform(data);
        using var shared = ml.Audio().Trainers.TimeConvLstm(options).Fit(segmented);
        options.SharedConvolutionScoring = false;
        using var naive = ml.Audio().Trainers.TimeConvLstm(options).Fit(segmented);

        var scored = shared.Transform(segmented);
        var a = scored.GetColumn<float[]>("WindowScores").ToArray();
        var b = naive.Transform(segmented).GetColumn<float[]>("WindowScores").ToArray();
        Assert.All(a, s => Assert.Equal(5, s.Length)); // 12 s, 8 s windows, 1 s hop
        Assert.Equal(4, shared.SharedConvolutionParts); // the segmenter's windows are slices of one sequence
        Assert.Equal(0, naive.SharedConvolutionParts);
        for (int song = 0; song < a.Length; song++)
        {
            for (int w = 0; w < a[song].Length; w++)
            {
                Assert.True(Math.Abs(a[song][w] - b[song][w]) < 1e-5, $"song {song} window {w}: shared {a[song][w]} vs per-window {b[song][w]}");
            }
        }

        // The aggregator reads the timing the segmenter wrote and the scorer carried over: 4 x 1 s + 8 s = 12 s.
        var aggregated = ml.Transforms.AggregateWindows("Score", "WindowScores").Fit(scored).Transform(scored);
        var score = aggregated.GetColumn<float>("Score").ToArray();
        var start = aggregated.GetColumn<float>("Score.BestWindowStart").ToArray();
        for (int song = 0; song < a.Length; song++)
        {
            Assert.Equal(a[song].Sum() / 12.0, score[song], 5);
            Assert.Equal(Array.IndexOf(a[song], a[song].Max()) * 1f, start[song]);
        }
    }
}
