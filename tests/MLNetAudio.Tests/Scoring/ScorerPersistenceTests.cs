using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Data;

namespace MLNetAudio.Tests.Scoring;

/// <summary>The scorer and the aggregator save and load through <c>ml.Audio().Model</c>.</summary>
public sealed class ScorerPersistenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-scorer-").FullName;
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static TimeConvLstmOptions Small(ConvolutionForm form, NetworkHead head) => new()
    {
        Epochs = 2,
        BatchSize = 8,
        ValidationFraction = 0,
        Seed = 3,
        Threads = 1,
        Device = TorchDevice.Cpu,
        ConvolutionLayers = 2,
        Channels = 3,
        LstmHiddenSize = 6,
        ConvolutionForm = form,
        Head = head,
        SharedConvolutionScoring = false,
        OutputColumnName = "Prefs",
    };

    [Theory]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv1dAllCoefficients, NetworkHead.Lstm)]
    [InlineData(ConvolutionForm.Conv2dTimeOnly, NetworkHead.FullyConnected)]
    public void ScorerRoundTripGivesIdenticalScoresAndSettings(ConvolutionForm form, NetworkHead head)
    {
        var data = new WindowData(OrderTask.Songs(12, seed: 2), OrderTask.Frames, OrderTask.Coefficients);
        using var scorer = _ml.Audio().Trainers.TimeConvLstm(Small(form, head)).Fit(data);
        string path = Path.Combine(_dir, "scorer.zip");
        _ml.Audio().Model.Save(scorer, data.Schema, path);

        var loadedModel = new MLContext(seed: 9).Audio().Model.Load(path, out _);
        using var loaded = (TimeConvLstmScorer)AudioModelCatalog.Flatten(loadedModel).Single();

        Assert.Equal(scorer.Network.Settings, loaded.Network.Settings);
        Assert.Equal("Windows", loaded.FeatureColumnName);
        Assert.Equal("Prefs", loaded.OutputColumnName);
        Assert.False(loaded.SharedConvolution);
        Assert.Equal("cpu", loaded.Network.parameters().First().device.ToString(), ignoreCase: true);
        var expected = scorer.Transform(data).GetColumn<float[]>("Prefs").ToArray();
        var actual = loaded.Transform(data).GetColumn<float[]>("Prefs").ToArray();
        Assert.Equal(expected, actual);
        Assert.True(expected.SelectMany(s => s).Distinct().Count() > 1, "scores do not vary, so equality would prove nothing");
    }

    [Fact]
    public void LoadingAScorerLeavesLibtorchsRandomStreamAlone()
    {
        string path = SaveScorer("rng.zip");
        TorchSharp.torch.random.manual_seed(4);
        float[] expected = TorchSharp.torch.rand(5).data<float>().ToArray();

        TorchSharp.torch.random.manual_seed(4);
        using (var loaded = (TimeConvLstmScorer)AudioModelCatalog.Flatten(_ml.Audio().Model.Load(path, out _)).Single())
        {
            Assert.NotNull(loaded.Network);
        }

        Assert.Equal(expected, TorchSharp.torch.rand(5).data<float>().ToArray());
    }

    [Fact]
    public void AggregatorRoundTripKeepsEveryOption()
    {
        var songs = new[] { new Song([0.1f, 0.9f, 0.4f, 0.7f], true, 30), new Song([0.5f, 0.2f], false, 12) };
        var data = _ml.Data.LoadFromEnumerable(songs.Select(s => new ScoresRow { Scores = s.Windows, Length = (float)s.Duration }).ToList());
        var options = new WindowAggregatorOptions
        {
            Aggregation = WindowAggregation.TopKMean,
            TopK = 2,
            DurationColumnName = "Length",
            WindowHopSeconds = 0.5,
            WindowSeconds = 4,
        };
        var aggregator = _ml.Transforms.AggregateWindows("Song", "Scores", options).Fit(data);
        var sum = _ml.Transforms.AggregateWindows("Sum", "Scores", new WindowAggregatorOptions { DurationColumnName = "Length", WindowHopSeconds = 0.5 }).Fit(data);
        var chain = new TransformerChain<ITransformer>(aggregator, sum);
        string path = Path.Combine(_dir, "aggregator.zip");
        _ml.Audio().Model.Save(chain, data.Schema, path);

        var loaded = _ml.Audio().Model.Load(path, out _);
        var stages = AudioModelCatalog.Flatten(loaded).Cast<WindowAggregatingTransformer>().ToList();

        Assert.Equal(WindowAggregation.TopKMean, stages[0].Aggregation);
        Assert.Equal("Song", stages[0].OutputColumnName);
        Assert.Equal("Scores", stages[0].InputColumnName);
        var scored = loaded.Transform(data);
        AssertClose([0.8, 0.35], scored.GetColumn<float>("Song")); // top-2 means, by hand
        Assert.Equal(new[] { 0.5f, 0f }, scored.GetColumn<float>("Song.BestWindowStart").ToArray()); // window 1 x 0.5 s hop
        AssertClose([2.1 / 30, 0.7 / 12], scored.GetColumn<float>("Sum")); // sum / the Length column
        Assert.Equal(
            aggregator.Transform(data).GetColumn<float>("Song").ToArray(),
            scored.GetColumn<float>("Song").ToArray());
    }

    private static void AssertClose(double[] expected, IEnumerable<float> actual)
    {
        var a = actual.ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(expected[i], a[i], 5);
        }
    }

    [Fact]
    public void LoadedAudioPipelineWorksInAPredictionEngine()
    {
        var training = RealClipPipeline.Songs(_ml, RealClipPipeline.TrainingClips);
        var model = RealClipPipeline.Pipeline(_ml).Fit(training);
        try
        {
            string path = Path.Combine(_dir, "pipeline.zip");
            _ml.Audio().Model.Save(model, training.Schema, path);
            var loaded = new MLContext(seed: 5).Audio().Model.Load(path, out _);
            try
            {
                var before = _ml.Model.CreatePredictionEngine<RealClipPipeline.SongInput, RealClipPipeline.SongPrediction>(model);
                var after = _ml.Model.CreatePredictionEngine<RealClipPipeline.SongInput, RealClipPipeline.SongPrediction>(loaded);
                foreach (var clip in new[] { "strings-then-flute.ogg", "piano-chords.ogg" })
                {
                    var song = new RealClipPipeline.SongInput { Path = Path.Combine(RealClipPipeline.ClipFolder, clip) };
                    var a = before.Predict(song);
                    var b = after.Predict(song);
                    Assert.Equal(17, b.WindowScores.Length); // 24 s clip, 8 s windows every 1 s
                    Assert.Equal(a.WindowScores, b.WindowScores);
                    Assert.Equal(a.Score, b.Score);
                    Assert.Equal(a.BestWindowStart, b.BestWindowStart);
                    Assert.Equal(Array.IndexOf(b.WindowScores, b.WindowScores.Max()), b.BestWindowStart); // hop 1 s
                }
            }
            finally
            {
                RealClipPipeline.DisposeScorers(loaded);
            }
        }
        finally
        {
            RealClipPipeline.DisposeScorers(model);
        }
    }

    [Fact]
    public void TruncatedScorerWeightsFailAsCorruptEvenWithAMatchingChecksum()
    {
        string path = SaveScorer("truncated.zip");

        // Cut the weights block short and record the new checksum, so the stage reader itself must notice.
        ModelFiles.RewriteEntry(path, bytes => bytes[..(bytes.Length - 40)]);

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
        Assert.Contains("MLNetAudio.TimeConvLstmScorer", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ScorerSettingsThatDoNotFitTheWeightsFailAsCorrupt()
    {
        string path = SaveScorer("resized.zip");

        // Raise the saved channel count: the weights no longer fit the network the settings describe.
        ModelFiles.RewriteEntry(path, bytes =>
        {
            int at = ChannelsOffset(bytes);
            BitConverter.GetBytes(BitConverter.ToInt32(bytes, at) + 1).CopyTo(bytes, at);
            return bytes;
        });

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
    }

    [Fact]
    public void AnAlteredScorerWeightFailsTheChecksum()
    {
        string path = SaveScorer("altered.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Single(e => e.FullName.EndsWith(".audio.bin", StringComparison.Ordinal));
            byte[] bytes = ModelFiles.ReadEntry(entry);
            bytes[^20] ^= 0x01; // one bit of a weight
            string name = entry.FullName;
            entry.Delete();
            using var w = zip.CreateEntry(name).Open();
            w.Write(bytes);
        }

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));
        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
    }

    private string SaveScorer(string name)
    {
        var data = new WindowData(OrderTask.Songs(6, seed: 2), OrderTask.Frames, OrderTask.Coefficients);
        using var scorer = _ml.Audio().Trainers.TimeConvLstm(Small(ConvolutionForm.Conv2dTimeOnly, NetworkHead.Lstm)).Fit(data);
        string path = Path.Combine(_dir, name);
        _ml.Audio().Model.Save(scorer, data.Schema, path);
        return path;
    }

    // Header: magic, format name, version; payload: feature, output, shared, device, frames, coefficients, form, head, layers, channels.
    private static int ChannelsOffset(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes));
        r.ReadInt32();
        r.ReadString();
        r.ReadInt32();
        r.ReadString();
        r.ReadString();
        r.ReadBoolean();
        for (int i = 0; i < 6; i++)
        {
            r.ReadInt32();
        }

        return (int)r.BaseStream.Position;
    }

    private sealed class ScoresRow
    {
        public float[] Scores { get; set; } = [];

        public float Length { get; set; }
    }
}
