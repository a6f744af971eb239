using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Scoring;

namespace MLNetAudio.Tests.Features;

/// <summary>
/// The one window contract: SegmentMfcc writes where its windows lie (frames, coefficients, frames per second, hop
/// in frames) and every consumer reads it through <see cref="WindowLayout"/>; a scorer given windows of another
/// layout than it was trained on fails naming both.
/// </summary>
public sealed class WindowLayoutTests
{
    private readonly MLContext _ml = new(seed: 1);

    [Fact]
    public void TheSegmentersAnnotationsGiveItsLayoutAndItsWindowStarts()
    {
        var songs = RealClipPipeline.Songs(_ml, "flute-melody.ogg");
        var column = Segment(songs, new MfccSegmenterOptions()).Schema["Windows"];
        var layout = WindowLayout.FromColumn(column);
        Assert.Equal(new WindowLayout(400, 20, 50, 50), layout);
        Assert.Equal(50, layout.WholeHopFrames);
        Assert.Equal(8, layout.WindowSeconds, 12);
        Assert.Equal(1, layout.HopSeconds, 12);
        Assert.Equal("400 frames x 20 coefficients at 50 frames/s (8 s windows every 1 s)", layout.ToString());

        // librosa's framing at 22,050 Hz: 512-sample hops give 43.07 frames/s, so a 1 s hop is a fractional 43.07
        // frames and each window start is rounded, exactly as the segmenter cuts.
        var librosa = MfccSegmenterOptions.Librosa();
        librosa.WindowHopSeconds = 1;
        var fractional = WindowLayout.FromColumn(Segment(songs, librosa, sampleRate: 22050).Schema["Windows"]);
        Assert.Equal(22050.0 / 512, fractional.FramesPerSecond, 9);
        Assert.Null(fractional.WholeHopFrames);
        var grid = new SegmentGrid(22050, 512, librosa.WindowSeconds, librosa.WindowHopSeconds);
        Assert.Equal(grid.FramesPerWindow, fractional.FramesPerWindow);
        Assert.All(Enumerable.Range(0, 40), w => Assert.Equal(grid.WindowStart(w), fractional.WindowStartFrame(w)));
        Assert.Equal(fractional.WindowStartFrame(7) / fractional.FramesPerSecond, fractional.WindowStartSeconds(7), 12);
    }

    [Fact]
    public void AColumnThatDoesNotSayItsTimingIsNamed()
    {
        var rows = _ml.Data.LoadFromEnumerable(new[] { new VectorRow { Windows = new float[40] } });
        var column = rows.Schema["Windows"];
        Assert.Null(WindowLayout.TryFromColumn(column));
        var e = Assert.Throws<ArgumentException>(() => WindowLayout.FromColumn(column));
        Assert.Contains("'Windows'", e.Message, StringComparison.Ordinal);
        Assert.Contains("window shape", e.Message, StringComparison.Ordinal);
        Assert.Contains("SegmentMfcc", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WindowLayout(400, 20, double.NaN, 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WindowLayout(400, 20, 50, 0));
    }

    [Fact]
    public void AScorerGivenWindowsOfAnotherLayoutFailsNamingBothAndKeepsItsLayoutThroughSaveAndLoad()
    {
        var songs = RealClipPipeline.Songs(_ml, RealClipPipeline.TrainingClips);
        using var scorer = RealClipPipeline.Scorer(RealClipPipeline.Pipeline(_ml, ConvolutionForm.Conv1dAllCoefficients, NetworkHead.FullyConnected).Fit(songs));
        var trained = scorer.TrainingLayout;
        Assert.NotNull(trained);
        Assert.True(trained.SameAs(new WindowLayout(400, 20, 50, 50)), $"training layout {trained}");

        // The same 400 x 20 shape, but 16 s windows at 25 frames/s: the network would run and score nonsense.
        var other = Segment(songs, new MfccSegmenterOptions { FramesPerSecond = 25, WindowSeconds = 16, Standardize = true });
        var e = Assert.Throws<ArgumentException>(() => scorer.Transform(other));
        Assert.Contains("at 25 frames/s (16 s windows every 1 s)", e.Message, StringComparison.Ordinal);
        Assert.Contains("at 50 frames/s (8 s windows every 1 s)", e.Message, StringComparison.Ordinal);
        Assert.Contains("'Windows'", e.Message, StringComparison.Ordinal);

        // The same layout scores.
        var same = Segment(songs, new MfccSegmenterOptions { Standardize = true });
        Assert.Equal(RealClipPipeline.TrainingClips.Length, scorer.Transform(same).GetColumn<float[]>(scorer.OutputColumnName).Count());

        string path = Path.Combine(Path.GetTempPath(), $"layout-{Guid.NewGuid():N}.zip");
        try
        {
            _ml.Audio().Model.Save(scorer, same.Schema, path);
            using var loaded = RealClipPipeline.Scorer(_ml.Audio().Model.Load(path, out _));
            Assert.NotNull(loaded.TrainingLayout);
            Assert.True(loaded.TrainingLayout.SameAs(trained));
            Assert.Throws<ArgumentException>(() => loaded.Transform(other));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private IDataView Segment(IDataView songs, MfccSegmenterOptions options, int? sampleRate = null)
    {
        var loader = new AudioLoaderOptions();
        if (sampleRate is int rate)
        {
            loader.TargetSampleRate = rate;
        }

        return _ml.Transforms.LoadAudio("Audio", RealClipPipeline.PathColumn, loader)
            .Append(_ml.Transforms.SegmentMfcc("Windows", "Audio", options))
            .Fit(songs)
            .Transform(songs);
    }

    private sealed class VectorRow
    {
        [VectorType]
        public float[] Windows { get; set; } = [];
    }
}
