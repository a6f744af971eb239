using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetAudio.Audio;
using MLNetAudio.Data;
using MLNetAudio.Tests.Audio;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// Issue 13, model files: sizes and counts are checked from the zip's directory and the manifest before anything is
/// decompressed, and every failure is an <see cref="AudioModelFileException"/>. Each hostile file is a saved model
/// with one thing changed, built by streaming so the test itself never holds the big entry.
/// </summary>
public sealed class ModelZipTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _dir.Dispose();

    private string SaveLoaderModel()
    {
        var data = _ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "x.wav" } });
        var model = _ml.Transforms.LoadAudio("Audio", "Path").Fit(data);
        string path = _dir.File("loader.zip");
        _ml.Audio().Model.Save(model, data.Schema, path);
        return path;
    }

    /// <summary>Copies <paramref name="source"/> with its manifest edited and, optionally, an extra entry of
    /// <paramref name="zeros"/> zero bytes named <paramref name="bigEntry"/> (streamed: 1 MiB held at a time).</summary>
    private string Rebuild(string source, string name, Action<JsonNode> editManifest, string? bigEntry = null, long zeros = 0)
    {
        var entries = new List<(string Name, byte[] Bytes)>();
        using (var zip = ZipFile.OpenRead(source))
        {
            foreach (var e in zip.Entries)
            {
                entries.Add((e.FullName, ModelFiles.ReadEntry(e)));
            }
        }

        var manifest = JsonNode.Parse(entries.Single(e => e.Name == "manifest.json").Bytes)!;
        editManifest(manifest);
        string path = _dir.File(name);
        using var file = File.Create(path);
        using var output = new ZipArchive(file, ZipArchiveMode.Create);
        foreach (var (entryName, bytes) in entries)
        {
            using var s = output.CreateEntry(entryName).Open();
            s.Write(entryName == "manifest.json" ? System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()) : bytes);
        }

        if (bigEntry is not null)
        {
            using var s = output.CreateEntry(bigEntry, CompressionLevel.Optimal).Open();
            var block = new byte[1 << 20];
            for (long left = zeros; left > 0; left -= block.Length)
            {
                s.Write(block, 0, (int)Math.Min(block.Length, left));
            }
        }

        return path;
    }

    private static JsonArray Entries(JsonNode manifest) => manifest["entries"]!.AsArray();

    private AudioModelFileException AssertRefused(string path, string reason, double seconds = 3)
    {
        var (error, elapsed, allocated) = HostileInput.Measure(() => _ml.Audio().Model.Load(path, out _));
        var e = Assert.IsType<AudioModelFileException>(error);
        Assert.Equal(path, e.FilePath);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.True(elapsed < seconds, $"refusing took {elapsed:F1} s");
        Assert.True(allocated < HostileInput.MaxAllocatedBytes, $"refusing allocated {allocated >> 20} MB");
        return e;
    }

    [Theory]
    [InlineData(2_000_000_000L)] // before: 6 GB for 21 s, then the typed error
    [InlineData(3_000_000_000L)] // before: an untyped IOException "Stream was too long"
    public void A_small_zip_holding_a_gigabytes_entry_is_refused_from_its_directory(long size)
    {
        string path = Rebuild(SaveLoaderModel(), $"bomb-{size}.zip", m =>
        {
            var extra = JsonNode.Parse(Entries(m).Last()!.ToJsonString())!;
            extra["name"] = "stages/001.audio.bin";
            extra["length"] = size;
            Entries(m).Add(extra);
        }, "stages/001.audio.bin", size);
        Assert.InRange(new FileInfo(path).Length, 1, size / 500);

        var e = AssertRefused(path, $"declares {size} bytes, over the {ModelZip.MaxEntryBytes} bytes an entry may have");

        Assert.Equal(AudioModelFileProblem.Corrupt, e.Problem);
    }

    [Fact]
    public void An_entry_larger_in_the_zip_directory_than_in_the_manifest_is_refused_before_decompressing()
    {
        string path = Rebuild(SaveLoaderModel(), "liar.zip", m => Entries(m).Add(JsonNode.Parse(
            "{\"name\":\"stages/001.audio.bin\",\"kind\":\"MLNetAudio\",\"format\":\"MLNetAudio.AudioLoader\",\"version\":1,\"length\":100,\"sha256\":\"00\"}")),
            "stages/001.audio.bin", 300_000_000);

        AssertRefused(path, "is 300000000 bytes by the zip's directory but 100 by the manifest");
    }

    [Fact]
    public void A_manifest_listing_one_stage_2000_times_is_refused()
    {
        // Before: a 2,004-stage pipeline loaded (the checksums were valid).
        string path = Rebuild(SaveLoaderModel(), "repeated.zip", m =>
        {
            string stage = Entries(m).Last()!.ToJsonString();
            for (int i = 0; i < 2000; i++)
            {
                Entries(m).Add(JsonNode.Parse(stage));
            }
        });

        AssertRefused(path, "lists 2002 entries; a model holds at most 1000 stages");
    }

    [Fact]
    public void A_manifest_listing_a_stage_twice_is_refused()
    {
        string path = Rebuild(SaveLoaderModel(), "twice.zip", m => Entries(m).Add(JsonNode.Parse(Entries(m).Last()!.ToJsonString())));

        AssertRefused(path, "lists 'stages/000.audio.bin' more than once");
    }

    [Fact]
    public void Dev_zero_a_FIFO_and_a_folder_are_refused_without_reading()
    {
        // Before: Load("/dev/zero") ran 228 s to 4.1 GB and OutOfMemoryException; a FIFO hung.
        string fifo = _dir.File("model.fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            mkfifo.WaitForExit();
        }

        Assert.Equal(AudioModelFileProblem.NotAModelFile, AssertRefused("/dev/zero", "not a regular file", 1).Problem);
        AssertRefused(fifo, "not a regular file", 1);
        AssertRefused(_dir.Path, "is a folder", 1);
        Assert.Throws<FileNotFoundException>(() => _ml.Audio().Model.Load(_dir.File("none.zip"), out _));
    }

    [Fact]
    public void A_saved_model_still_loads()
    {
        string path = SaveLoaderModel();

        var model = _ml.Audio().Model.Load(path, out var schema);

        Assert.Single(ModelPersistenceFlatten(model));
        Assert.NotNull(schema.GetColumnOrNull("Path"));
    }

    private static IEnumerable<ITransformer> ModelPersistenceFlatten(ITransformer model) => AudioModelCatalog.Flatten(model);
}
