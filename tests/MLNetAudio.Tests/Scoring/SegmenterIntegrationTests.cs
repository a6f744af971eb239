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

        var options = Small(channels: 2, shared: true);
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

    [Theory]
    [InlineData(1.0, true)]   // shared convolution over slices of the frames
    [InlineData(1.0, false)]  // per-window scoring of windows cut from the frames
    [InlineData(0.77, true)]  // a hop of 38.5 frames: window starts are rounded, so no shared convolution
    public void Scores_read_from_the_segmenters_frames_are_bit_identical_to_scores_of_the_windows_column(double hopSeconds, bool shared)
    {
        // When nothing after the scorer reads the windows column, the scorer reads the segmenter's frames instead
        // (an hour of windows is 115 MB; its frames 14 MB). Songs: several parts of windows, one window, padded.
        const int rate = 16000;
        var ml = new MLContext(seed: 1);
        var def = SchemaDefinition.Create(typeof(Row));
        def["Audio"].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        def["Audio"].AddAnnotation("SampleRate", rate, NumberDataViewType.Int32);
        double[] lengths = [95.5, 12, 8, 3];
        var rows = lengths.Select((seconds, i) => new Row { Audio = SongData.Tone(rate, seconds, 180 + (80 * i), seed: i + 1), Label = i % 2 == 0 }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows, def);
        var segmented = ml.Transforms.SegmentMfcc("Windows", "Audio", new MLNetAudio.Features.MfccSegmenterOptions { WindowHopSeconds = hopSeconds }).Fit(data).Transform(data);
        var options = Small(channels: 3, shared);
        using var scorer = ml.Audio().Trainers.TimeConvLstm(options).Fit(segmented);
        var scored = scorer.Transform(segmented);

        long before = scorer.SongsScoredFromFrames;
        var fromFrames = Read(scored, "WindowScores");
        Assert.Equal(lengths.Length, scorer.SongsScoredFromFrames - before);
        var fromWindows = Read(scored, "WindowScores", "Windows");
        Assert.Equal(lengths.Length, scorer.SongsScoredFromFrames - before);
        Assert.Equal([(int)Math.Floor((95.5 - 8) / hopSeconds) + 1, (int)Math.Floor(4 / hopSeconds) + 1, 1, 1], fromFrames.Select(s => s.Length).ToArray());
        Assert.Equal(fromWindows, fromFrames);
    }

    // One quick epoch of a small network on the segmented songs (scores need not be good, only reproducible).
    private static TimeConvLstmOptions Small(int channels, bool shared) => new()
    {
        FeatureColumnName = "Windows",
        Epochs = 1,
        ValidationFraction = 0,
        Seed = 1,
        Threads = 1,
        Device = TorchDevice.Cpu,
        Channels = channels,
        LstmHiddenSize = 8,
        SharedConvolutionScoring = shared,
    };

    private static List<float[]> Read(IDataView view, string column, params string[] alsoRead)
    {
        using var cursor = view.GetRowCursor([view.Schema[column], .. alsoRead.Select(c => view.Schema[c])]);
        var getter = cursor.GetGetter<VBuffer<float>>(view.Schema[column]);
        var others = alsoRead.Select(c => cursor.GetGetter<VBuffer<float>>(view.Schema[c])).ToArray();
        var result = new List<float[]>();
        VBuffer<float> value = default, other = default;
        while (cursor.MoveNext())
        {
            foreach (var g in others)
            {
                g(ref other);
            }

            getter(ref value);
            result.Add(value.DenseValues().ToArray());
        }

        return result;
    }
}
