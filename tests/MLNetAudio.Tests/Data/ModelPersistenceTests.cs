using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// <c>ml.Audio().Model.Save/Load</c>: a pipeline mixing ML.NET transformers and MLNetAudio stages comes back
/// transforming identically, and every kind of bad file fails with <see cref="AudioModelFileException"/>.
/// </summary>
public sealed class ModelPersistenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnetaudio-model-").FullName;
    private readonly MLContext _ml = new(seed: 1);

    public ModelPersistenceTests()
    {
        ScaleTestTransformer.Register();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MixedPipelineRoundTripsWithIdenticalOutputsAndInputSchema()
    {
        var (data, model) = MixedPipeline();
        string path = Path.Combine(_dir, "model.zip");
        _ml.Audio().Model.Save(model, data.Schema, path);

        var loaded = new MLContext(seed: 2).Audio().Model.Load(path, out var schema);

        Assert.Equal(
            data.Schema.Select(c => (c.Name, c.Type.ToString())),
            schema.Select(c => (c.Name, c.Type.ToString())));
        var stages = AudioModelCatalog.Flatten(loaded).ToList();
        Assert.Equal(4, stages.Count); // Concatenate, NormalizeMinMax, Scale, CopyColumns: nested chains are flattened
        Assert.IsType<ScaleTestTransformer>(stages[2]);
        AssertSameOutputs(model.Transform(data), loaded.Transform(data));
    }

    [Fact]
    public void ColumnAnnotationsOfTheInputSchemaSurvive()
    {
        // The window column's frames/coefficients/hop travel as Int32 and Double annotations: they must come back.
        var definition = SchemaDefinition.Create(typeof(Row));
        definition["A"].AddAnnotation("FramesPerWindow", 400, NumberDataViewType.Int32);
        definition["A"].AddAnnotation("HopSeconds", 1.0, NumberDataViewType.Double);
        var data = _ml.Data.LoadFromEnumerable(new[] { new Row { A = 1, B = 2 } }, definition);
        var model = new TransformerChain<ITransformer>(
            new ScaleTestTransformer("Scaled", "A", 2f, 0f), _ml.Transforms.CopyColumns("A2", "A").Fit(data));
        string path = Path.Combine(_dir, "annotated.zip");
        _ml.Audio().Model.Save(model, data.Schema, path);

        _ml.Audio().Model.Load(path, out var schema);

        int frames = 0;
        double hop = 0;
        schema["A"].Annotations.GetValue("FramesPerWindow", ref frames);
        schema["A"].Annotations.GetValue("HopSeconds", ref hop);
        Assert.Equal(400, frames);
        Assert.Equal(1.0, hop);
    }

    [Fact]
    public void RoundTripThroughAStreamAndAPredictionEngine()
    {
        var (data, model) = MixedPipeline();
        using var stream = new MemoryStream();
        _ml.Audio().Model.Save(model, data.Schema, stream);
        stream.Position = 0;
        var loaded = _ml.Audio().Model.Load(stream, out _);

        var before = _ml.Model.CreatePredictionEngine<Row, Scored>(model);
        var after = _ml.Model.CreatePredictionEngine<Row, Scored>(loaded);
        var row = new Row { A = 0.25f, B = -3f };
        Assert.Equal(before.Predict(row).Out, after.Predict(row).Out);
        Assert.Equal((0.25f * 2.5f) + 1f, after.Predict(row).Out);
    }

    [Fact]
    public void AnOlderStageVersionIsStillRead()
    {
        var data = Data();
        var old = new ScaleTestTransformer("Scaled", "A", 3f, offset: 7f, writeVersion: 1);
        string path = Path.Combine(_dir, "v1.zip");
        _ml.Audio().Model.Save(old, data.Schema, path);

        var loaded = (ScaleTestTransformer)AudioModelCatalog.Flatten(_ml.Audio().Model.Load(path, out _)).Single();

        // Version 1 had no offset: it reads back as 0, the factor survives.
        Assert.Equal(3f, loaded.Factor);
        Assert.Equal(0f, loaded.Offset);
    }

    [Fact]
    public void ANewerStageVersionFailsNamingTheFileAndVersions()
    {
        var data = Data();
        string path = Path.Combine(_dir, "future.zip");
        _ml.Audio().Model.Save(new ScaleTestTransformer("Scaled", "A", 3f, 1f, writeVersion: 9), data.Schema, path);

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));

        Assert.Equal(AudioModelFileProblem.NewerFormatVersion, e.Problem);
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("version 9", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AStageVersionOlderThanTheReaderStillAcceptsFailsAsOlder()
    {
        const string Strict = "MLNetAudio.Tests.ScaleReadsOnlyVersion2";
        ScaleTestTransformer.RegisterAs(Strict, currentVersion: 2, oldestReadableVersion: 2);
        string path = Path.Combine(_dir, "old.zip");
        _ml.Audio().Model.Save(new ScaleTestTransformer("Scaled", "A", 3f, 1f, writeVersion: 1, format: Strict), Data().Schema, path);

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));

        Assert.Equal(AudioModelFileProblem.OlderFormatVersion, e.Problem);
        Assert.Contains("version 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownStageFormatFailsNamingTheFormat()
    {
        var data = Data();
        string path = Path.Combine(_dir, "unknown.zip");
        _ml.Audio().Model.Save(new ScaleTestTransformer("Scaled", "A", 3f, 1f, format: "Someone.Elses.Stage"), data.Schema, path);

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));

        Assert.Equal(AudioModelFileProblem.UnknownStageFormat, e.Problem);
        Assert.Contains("Someone.Elses.Stage", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATruncatedFileFailsAsTruncated()
    {
        string path = SaveMixed("whole.zip");
        byte[] bytes = File.ReadAllBytes(path);
        string cut = Path.Combine(_dir, "cut.zip");
        File.WriteAllBytes(cut, bytes[..(bytes.Length * 2 / 3)]);

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(cut, out _));

        Assert.Equal(AudioModelFileProblem.Truncated, e.Problem);
        Assert.Contains(cut, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileOfAnotherTypeFailsAsNotAModelFile()
    {
        string text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "not a model");
        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(text, out _));
        Assert.Equal(AudioModelFileProblem.NotAModelFile, e.Problem);
        Assert.Contains(text, e.Message, StringComparison.Ordinal);

        // A plain ML.NET model is a zip too: the message says how to load it instead.
        var data = Data();
        string mlnet = Path.Combine(_dir, "mlnet.zip");
        _ml.Model.Save(_ml.Transforms.CopyColumns("C", "A").Fit(data), data.Schema, mlnet);
        e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(mlnet, out _));
        Assert.Equal(AudioModelFileProblem.NotAModelFile, e.Problem);
        Assert.Contains("ml.Model.Load", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAlteredEntryFailsItsChecksum()
    {
        string path = SaveMixed("altered.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Single(e => e.FullName.EndsWith(".audio.bin", StringComparison.Ordinal));
            string name = entry.FullName;
            byte[] bytes;
            using (var s = entry.Open())
            using (var m = new MemoryStream())
            {
                s.CopyTo(m);
                bytes = m.ToArray();
            }

            bytes[^1] ^= 0x40; // a bit of the offset's float: loading it would silently change every score
            entry.Delete();
            using var w = zip.CreateEntry(name).Open();
            w.Write(bytes);
        }

        var e = Assert.Throws<AudioModelFileException>(() => _ml.Audio().Model.Load(path, out _));

        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
        Assert.Contains(".audio.bin", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DamageAnywhereInTheFileFailsCleanlyOrLeavesOutputsUnchanged()
    {
        var (data, model) = MixedPipeline();
        string path = Path.Combine(_dir, "damaged.zip");
        _ml.Audio().Model.Save(model, data.Schema, path);
        byte[] original = File.ReadAllBytes(path);
        float[] expected = Outs(model.Transform(data));

        int failures = 0;
        const int Probes = 48;
        for (int p = 0; p < Probes; p++)
        {
            byte[] bytes = (byte[])original.Clone();
            int at = (int)((long)p * (bytes.Length - 1) / (Probes - 1));
            bytes[at] ^= 0xA5;
            using var stream = new MemoryStream(bytes);
            try
            {
                var loaded = _ml.Audio().Model.Load(stream, out _);

                // Damage to bytes the reader never uses (e.g. a local header's copy of a name) may load: then it must be harmless.
                Assert.Equal(expected, Outs(loaded.Transform(data)));
            }
            catch (AudioModelFileException)
            {
                failures++;
            }
        }

        Assert.True(failures > Probes / 2, $"only {failures} of {Probes} damaged files were refused");
    }

    [Fact]
    public void SavingAnMLNetAudioStageWithoutPersistenceFailsNamingIt()
    {
        var e = Assert.Throws<NotSupportedException>(
            () => _ml.Audio().Model.Save(new UnsaveableTestTransformer(), Data().Schema, Path.Combine(_dir, "x.zip")));
        Assert.Contains(nameof(UnsaveableTestTransformer), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ManifestListsStagesInOrderWithKindsVersionsAndLibraryVersion()
    {
        string path = SaveMixed("manifest.zip");
        using var zip = ZipFile.OpenRead(path);
        using var reader = new StreamReader(zip.GetEntry("manifest.json")!.Open());
        string manifest = reader.ReadToEnd();

        Assert.Contains("\"libraryVersion\"", manifest, StringComparison.Ordinal);
        int schemaAt = manifest.IndexOf("input-schema.zip", StringComparison.Ordinal);
        int mlnetAt = manifest.IndexOf("stages/001.mlnet.zip", StringComparison.Ordinal);
        int audioAt = manifest.IndexOf("stages/002.audio.bin", StringComparison.Ordinal);
        int lastAt = manifest.IndexOf("stages/003.mlnet.zip", StringComparison.Ordinal);
        Assert.True(schemaAt >= 0 && schemaAt < mlnetAt && mlnetAt < audioAt && audioAt < lastAt, manifest);
        Assert.Contains($"\"format\": \"{ScaleTestTransformer.Format}\"", manifest, StringComparison.Ordinal);
    }

    internal sealed class Row
    {
        public float A { get; set; }

        public float B { get; set; }
    }

    internal sealed class Scored
    {
        public float Out { get; set; }
    }

    internal static IDataView Data(MLContext? ml = null) =>
        (ml ?? new MLContext(seed: 1)).Data.LoadFromEnumerable(
            Enumerable.Range(0, 12).Select(i => new Row { A = (i * 0.7f) - 3f, B = MathF.Sin(i) }).ToList());

    /// <summary>ML.NET stages with fitted state around the test MLNetAudio stage, nested as Fit and Append make them.</summary>
    internal static (IDataView Data, ITransformer Model) MixedPipeline(MLContext? ml = null)
    {
        ml ??= new MLContext(seed: 1);
        var data = Data(ml);
        var front = ml.Transforms.Concatenate("Features", "A", "B").Append(ml.Transforms.NormalizeMinMax("Features")).Fit(data);
        var scale = new ScaleTestTransformer("Scaled", "A", 2.5f, 1f);
        var afterScale = scale.Transform(front.Transform(data));
        var back = ml.Transforms.CopyColumns("Out", "Scaled").Fit(afterScale);
        return (data, new TransformerChain<ITransformer>(front, new TransformerChain<ITransformer>(scale, back)));
    }

    private string SaveMixed(string name)
    {
        var (data, model) = MixedPipeline(_ml);
        string path = Path.Combine(_dir, name);
        _ml.Audio().Model.Save(model, data.Schema, path);
        return path;
    }

    private static float[] Outs(IDataView scored) => scored.GetColumn<float>("Out").ToArray();

    private static void AssertSameOutputs(IDataView expected, IDataView actual)
    {
        Assert.Equal(expected.Schema.Select(c => c.Name), actual.Schema.Select(c => c.Name));
        Assert.Equal(Outs(expected), Outs(actual));
        Assert.Equal(expected.GetColumn<float>("Scaled").ToArray(), actual.GetColumn<float>("Scaled").ToArray());
        Assert.Equal(
            expected.GetColumn<float[]>("Features").SelectMany(f => f).ToArray(),
            actual.GetColumn<float[]>("Features").SelectMany(f => f).ToArray());
    }
}
