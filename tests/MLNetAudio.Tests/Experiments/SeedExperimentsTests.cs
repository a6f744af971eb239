using MLNetAudio.Experiments;
using MLNetAudio.Features;
using MLNetAudio.Synthesis;

namespace MLNetAudio.Tests.Experiments;

/// <summary>
/// The seed's experiments on a fast configuration (short clips, few epochs, fixed seeds): the claims our full runs
/// support (docs/experiments.md) hold here too. These call the same code as samples/SeedExperiments.
/// </summary>
public sealed class SeedExperimentsTests
{
    // 4 s clips instead of 8 s: A at frames 20-80, a 20-frame gap, B at 100-160, room to move B by +-10 frames.
    internal static OrderTimingOptions FastOrderTiming(int seed) => new()
    {
        Layout = new PairLayout { TotalFrames = 200, FirstStartFrame = 20, FirstFrames = 60, GapFrames = 20, SecondFrames = 60 },
        PositiveClips = 24,
        NegativeClipsPerKind = 5,
        TestClips = 10,
        GapChanges = [-6],
        Network = new ExperimentNetwork(Epochs: 30),
        Seed = seed,
        Threads = 1,
    };

    internal static FluteGuitarOptions FastFluteGuitar(AudioFeatureKind kind) => new()
    {
        FeatureKind = kind,
        NoteSeconds = 2,
        Network = new ExperimentNetwork(Epochs: 30, BatchSize: 4),
        Seed = 1,
        Threads = 1,
    };

    [Fact]
    public void CnnLstmLikesAThenBAndRejectsBThenA()
    {
        var result = OrderTimingExperiment.Run(FastOrderTiming(seed: 1));

        Assert.True(result.Row(OrderTimingTest.AsTrained).CnnLstm > 0.9, $"A then B: {result.Row(OrderTimingTest.AsTrained).CnnLstm:F3}");
        Assert.True(result.Row(OrderTimingTest.BThenA).CnnLstm < 0.1, $"B then A: {result.Row(OrderTimingTest.BThenA).CnnLstm:F3}");
        Assert.True(result.Row(OrderTimingTest.LabelledZero).CnnLstm < 0.2, $"labelled 0: {result.Row(OrderTimingTest.LabelledZero).CnnLstm:F3}");
        // Both models rank the trained arrangement above its reverse (the CNN-only model's collapse under shifts is not asserted: see the docs).
        Assert.True(result.Row(OrderTimingTest.AsTrained).Cnn > result.Row(OrderTimingTest.BThenA).Cnn);
    }

    [Theory]
    [InlineData(0)] // the head over un-pooled features
    [InlineData(1)]
    public void CnnOnlyPoolingVariantRunsAlone(int poolingLayers)
    {
        // Issue 12, item 4: the CNN-only model with fewer pooling layers, trained without the LSTM model.
        var options = FastOrderTiming(seed: 1);
        options.TrainCnnLstm = false;
        options.Network = options.Network with { PoolingLayers = poolingLayers };

        var result = OrderTimingExperiment.Run(options);

        Assert.Equal(4, result.Rows.Count); // as trained, labelled 0, gap -6, B then A
        Assert.All(result.Rows, r => Assert.InRange(r.Cnn, 0, 1));
        Assert.All(result.Rows, r => Assert.True(double.IsNaN(r.CnnLstm)));
        Assert.True(double.IsNaN(result.LstmTrainingAccuracy));
        Assert.Equal(1.0, result.CnnTrainingAccuracy);
        Assert.True(result.Row(OrderTimingTest.AsTrained).Cnn > result.Row(OrderTimingTest.BThenA).Cnn);
    }

    [Fact]
    public void CnnOnlyNumbersDoNotDependOnTrainingTheLstmModel()
    {
        // The variants study trains the CNN-only model alone and compares with the main run's CNN column.
        var both = OrderTimingExperiment.Run(FastOrderTiming(seed: 2));
        var alone = FastOrderTiming(seed: 2);
        alone.TrainCnnLstm = false;

        Assert.Equal(both.Rows.Select(r => r.Cnn), OrderTimingExperiment.Run(alone).Rows.Select(r => r.Cnn));
    }

    [Fact]
    public void FluteVersusGuitarGeneralisesToUnseenPitchesOnMfcc()
    {
        var result = FluteGuitarExperiment.Run(FastFluteGuitar(AudioFeatureKind.Mfcc));

        Assert.All(result.Scores.Where(s => !s.IsTraining), s => Assert.DoesNotContain(s.Midi, result.Options.TrainingNotes));
        Assert.True(result.TestAccuracy > 0.9, $"accuracy on unseen pitches: {result.TestAccuracy:F2}");
        Assert.Equal(3, result.Layers.Count);
        Assert.Equal([50.0, 25.0, 12.5], result.Layers.Select(l => l.FramesPerSecond));
        Assert.All(result.Layers, l => Assert.Equal(l.Envelope.Length, l.Output.Length));
    }

    [Fact]
    public void PowerSpectrogramRunLearnsItsTrainingNotes()
    {
        var result = FluteGuitarExperiment.Run(FastFluteGuitar(AudioFeatureKind.PowerSpectrogram));

        Assert.Equal(1.0, result.TrainingAccuracy);
        Assert.True(result.TestAccuracy > 0.5, $"accuracy on unseen pitches: {result.TestAccuracy:F2}");
        Assert.Equal(result.Options.Network.Channels, result.Layers[0].Kernels.Length);
        Assert.Equal(3, result.Layers[0].Kernels[0].Length);                                  // one input channel, 1 x 3 taps
        Assert.Equal(3 * result.Options.Network.Channels, result.Layers[1].Kernels[0].Length); // every channel of layer 1, 1 x 3 taps
    }

    [Fact]
    public void OptionsReportEveryBadField()
    {
        var e = Assert.Throws<ArgumentException>(() => OrderTimingExperiment.Run(new OrderTimingOptions
        {
            B = Instrument.Flute,
            PositiveClips = 0,
            GapChanges = [100],
        }));
        Assert.Contains("B:", e.Message, StringComparison.Ordinal);
        Assert.Contains("PositiveClips", e.Message, StringComparison.Ordinal);
        Assert.Contains("gap change of 100", e.Message, StringComparison.Ordinal);

        var f = Assert.Throws<ArgumentException>(() => FluteGuitarExperiment.Run(new FluteGuitarOptions { TestNotes = [48, 50], NoteSeconds = 0 }));
        Assert.Contains("TestNotes", f.Message, StringComparison.Ordinal);
        Assert.Contains("NoteSeconds", f.Message, StringComparison.Ordinal);
    }
}
