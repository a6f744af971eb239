using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Data;

/// <summary>
/// Saves a fitted pipeline (MLNetAudio components and any ordinary ML.NET transformers) to one file, and loads
/// it back, in this process or a new one. Reached through <c>ml.Audio().Model</c>.
/// </summary>
/// <remarks>
/// <para>
/// Why not <c>ml.Model.Save</c>: ML.NET keeps the API a third-party transformer needs to save itself internal
/// (DESIGN.md §6), so ML.NET's zip cannot hold MLNetAudio components. This writes one zip whose entries are
/// one per pipeline stage: each ML.NET stage is saved by ML.NET itself (<c>ml.Model.Save</c> with the schema
/// that stage sees), each MLNetAudio stage by its own versioned binary writer. Nested
/// <see cref="TransformerChain{TLastTransformer}"/>s are flattened into their stages; the loaded model is one
/// <see cref="TransformerChain{TLastTransformer}"/> of <see cref="ITransformer"/> that transforms exactly as
/// the saved one (transformer scopes of the saved chains are not kept).
/// </para>
/// <para>File layout (a zip archive):</para>
/// <code>
/// manifest.json           the container: format "MLNetAudio.Model", its version, the library version,
///                         and per entry: name, kind ("MLNet" | "MLNetAudio"), stage format and version, the
///                         assembly (package) that wrote an MLNetAudio stage and registers its format,
///                         byte length and SHA-256 (so damage is reported, never loaded silently)
/// input-schema.zip        ML.NET's zip of an empty chain: carries the pipeline's input schema
/// stages/NNN.mlnet.zip    an ML.NET stage, as ml.Model.Save writes it
/// stages/NNN.audio.bin    an MLNetAudio stage (binary format below)
/// </code>
/// <para>MLNetAudio stage entry (little-endian, <see cref="BinaryWriter"/> encodings):</para>
/// <code>
/// int32   magic 0x414E4C4D ("MLNA")
/// string  stage format name (length-prefixed UTF-8), e.g. "MLNetAudio.TimeConvLstmScorer"
/// int32   stage format version (the writer's current version)
/// ...     payload written by the component (its own commented format block); the reader must
///         consume it exactly: trailing bytes mean the entry is damaged
/// </code>
/// <para>
/// Versions follow ML.NET's discipline: each stage format has a current version and the oldest version its
/// reader still accepts; a newer version than the reader knows fails with
/// <see cref="AudioModelFileProblem.NewerFormatVersion"/> instead of guessing.
/// </para>
/// </remarks>
public sealed class AudioModelCatalog
{
    private readonly MLContext _ml;

    internal AudioModelCatalog(MLContext mlContext)
    {
        _ml = mlContext;
    }

    /// <summary>The context models are loaded into (for the other packages' extension members of this catalog).</summary>
    internal MLContext Context => _ml;

    /// <summary>Saves <paramref name="model"/>, which reads rows of <paramref name="inputSchema"/>, to the file <paramref name="path"/>.</summary>
    /// <param name="model">A fitted pipeline: a chain (possibly nested) of MLNetAudio and ML.NET transformers, or one transformer.</param>
    /// <param name="inputSchema">The schema of the data the model transforms (e.g. <c>data.Schema</c>).</param>
    /// <param name="path">The file to write (overwritten).</param>
    /// <exception cref="NotSupportedException">A stage can be saved neither by MLNetAudio nor by ML.NET; the message names it.</exception>
    public void Save(ITransformer model, DataViewSchema inputSchema, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.Create(path);
        Save(model, inputSchema, file);
    }

    /// <summary>Saves <paramref name="model"/> to <paramref name="stream"/> (left open).</summary>
    /// <param name="model">A fitted pipeline: a chain (possibly nested) of MLNetAudio and ML.NET transformers, or one transformer.</param>
    /// <param name="inputSchema">The schema of the data the model transforms.</param>
    /// <param name="stream">A writable stream.</param>
    /// <exception cref="NotSupportedException">A stage can be saved neither by MLNetAudio nor by ML.NET; the message names it.</exception>
    public void Save(ITransformer model, DataViewSchema inputSchema, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputSchema);
        ArgumentNullException.ThrowIfNull(stream);

        var entries = new List<(ManifestEntry Entry, byte[] Bytes)>();
        entries.Add(Entry(ModelFile.InputSchemaEntry, ModelFile.KindSchema, null, null, SaveMLNet(new TransformerChain<ITransformer>(), inputSchema)));

        var schema = inputSchema;
        var stages = Flatten(model).ToList();
        if (stages.Count > ModelFile.MaxStages)
        {
            throw new NotSupportedException($"The pipeline has {stages.Count} stages; a model file holds at most {ModelFile.MaxStages}.");
        }

        for (int i = 0; i < stages.Count; i++)
        {
            var stage = stages[i];
            string index = i.ToString("D3", CultureInfo.InvariantCulture);
            if (stage is IPersistableAudioTransformer audio)
            {
                entries.Add(Entry($"stages/{index}.audio.bin", ModelFile.KindAudio, audio.FormatName, audio.FormatVersion, SaveAudio(audio), AudioModelFormats.AssemblyNameOf(audio)));
            }
            else if (stage is RowMappingTransformer)
            {
                throw new NotSupportedException(
                    $"Stage {i} ({stage.GetType().Name}) is an MLNetAudio transformer that does not support saving yet.");
            }
            else
            {
                byte[] bytes;
                try
                {
                    bytes = SaveMLNet(stage, schema);
                }
                catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException)
                {
                    throw new NotSupportedException(
                        $"Stage {i} ({stage.GetType().Name}) could not be saved by ML.NET: {e.Message}", e);
                }

                entries.Add(Entry($"stages/{index}.mlnet.zip", ModelFile.KindMLNet, null, null, bytes));
            }

            schema = stage.GetOutputSchema(schema);
        }

        var manifest = new Manifest
        {
            Format = ModelFile.ContainerFormat,
            FormatVersion = ModelFile.ContainerVersion,
            LibraryVersion = ModelFile.LibraryVersion,
            Entries = entries.Select(e => e.Entry).ToList(),
        };

        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        Write(zip, ModelFile.ManifestEntry, JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJson.Default.Manifest));
        foreach (var (entry, bytes) in entries)
        {
            Write(zip, entry.Name, bytes);
        }
    }

    /// <summary>Loads a model written by <see cref="Save(ITransformer, DataViewSchema, string)"/>.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="inputSchema">The schema of the data the model was saved for.</param>
    /// <returns>The pipeline as one chain of its stages.</returns>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="AudioModelFileException">The file is not an MLNetAudio model, is truncated or damaged, or holds a stage this version cannot read; <see cref="AudioModelFileException.Problem"/> says which.</exception>
    public ITransformer Load(string path, out DataViewSchema inputSchema)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = ModelZip.OpenModelFile(path);
        return Load(file, path, out inputSchema);
    }

    /// <summary>Loads a model from <paramref name="stream"/> (left open).</summary>
    /// <param name="stream">A readable stream positioned at the model's start.</param>
    /// <param name="inputSchema">The schema of the data the model was saved for.</param>
    /// <returns>The pipeline as one chain of its stages.</returns>
    /// <exception cref="AudioModelFileException">The stream holds no MLNetAudio model, a truncated or damaged one, or a stage this version cannot read.</exception>
    public ITransformer Load(Stream stream, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return Load(stream, null, out inputSchema);
    }

    private TransformerChain<ITransformer> Load(Stream stream, string? path, out DataViewSchema inputSchema)
    {
        try
        {
            return LoadChecked(stream, path, out inputSchema);
        }
        catch (AudioModelFileException)
        {
            throw;
        }
        catch (Exception e)
        {
            // Whatever a damaged or hostile file triggers (out of memory included) is reported as this file's problem.
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"it could not be read ({e.GetType().Name}: {e.Message})", e);
        }
    }

    private TransformerChain<ITransformer> LoadChecked(Stream stream, string? path, out DataViewSchema inputSchema)
    {
        var source = ModelZip.Seekable(stream, path);
        if (!ModelZip.StartsAsZip(source))
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                "it is not a zip archive, so not an MLNetAudio model (those are written by ml.Audio().Model.Save)");
        }

        ZipArchive zip;
        try
        {
            zip = new ZipArchive(source, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Truncated,
                $"it starts as a zip archive but its end (the zip's directory) is missing or damaged: the file was cut short or overwritten ({e.Message})", e);
        }

        using (zip)
        {
            var manifestEntry = zip.GetEntry(ModelFile.ManifestEntry)
                ?? throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                    $"it is a zip archive without MLNetAudio's '{ModelFile.ManifestEntry}'"
                    + (zip.Entries.Any(e => e.FullName.EndsWith("Model.key", StringComparison.Ordinal))
                        ? "; it looks like a plain ML.NET model: load it with ml.Model.Load"
                        : string.Empty));
            var manifest = ReadManifest(path, ModelZip.ReadEntry(path, manifestEntry, null, null, ModelZip.MaxManifestBytes));
            if (manifest.FormatVersion > ModelFile.ContainerVersion)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.NewerFormatVersion,
                    $"it was written by MLNetAudio {manifest.LibraryVersion} in container version {manifest.FormatVersion}; "
                    + $"this MLNetAudio ({ModelFile.LibraryVersion}) reads up to version {ModelFile.ContainerVersion}: update MLNetAudio");
            }

            var zipEntries = CheckEntries(path, zip, manifest);
            var stages = new List<ITransformer>();
            DataViewSchema? schema = null;
            for (int i = 0; i < manifest.Entries.Count; i++)
            {
                var entry = manifest.Entries[i];
                byte[] data = ModelZip.ReadEntry(path, zipEntries[i], entry.Length, entry.Sha256, ModelZip.MaxEntryBytes);
                switch (entry.Kind)
                {
                    case ModelFile.KindSchema:
                        LoadMLNet(path, entry, data, out schema);
                        break;
                    case ModelFile.KindMLNet:
                        stages.AddRange(Flatten(LoadMLNet(path, entry, data, out _)));
                        break;
                    case ModelFile.KindAudio:
                        stages.Add(LoadAudio(path, entry, data, manifest.LibraryVersion));
                        break;
                    default:
                        throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"entry '{entry.Name}' has an unknown kind '{entry.Kind}'");
                }
            }

            inputSchema = schema
                ?? throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"the manifest lists no '{ModelFile.InputSchemaEntry}'");
            return new TransformerChain<ITransformer>(stages.ToArray());
        }
    }

    /// <summary>
    /// The stages of <paramref name="model"/> in order, nested chains flattened: find a loaded model's parts with
    /// <c>AudioModelCatalog.Flatten(model).OfType&lt;TimeConvLstmScorer&gt;()</c>.
    /// </summary>
    /// <param name="model">A model as <c>Load</c> returns it (a chain or a single transformer).</param>
    public static IEnumerable<ITransformer> Flatten(ITransformer model)
    {
        if (model is IEnumerable<ITransformer> chain)
        {
            foreach (var inner in chain)
            {
                foreach (var stage in Flatten(inner))
                {
                    yield return stage;
                }
            }
        }
        else
        {
            yield return model;
        }
    }

    private byte[] SaveMLNet(ITransformer stage, DataViewSchema schema)
    {
        using var buffer = new MemoryStream();
        _ml.Model.Save(stage, schema, buffer);
        return buffer.ToArray();
    }

    private static byte[] SaveAudio(IPersistableAudioTransformer stage)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(ModelFile.StageMagic);
            writer.Write(stage.FormatName);
            writer.Write(stage.FormatVersion);
            stage.Save(writer);
        }

        return buffer.ToArray();
    }

    private ITransformer LoadMLNet(string? path, ManifestEntry entry, byte[] data, out DataViewSchema schema)
    {
        try
        {
            using var stream = new MemoryStream(data, writable: false);
            return _ml.Model.Load(stream, out schema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The bytes passed their checksum, so they are as saved: what is missing is on this side, usually the
            // package of an ML.NET component (e.g. Microsoft.ML.OnnxTransformer) that this process does not reference.
            throw new AudioModelFileException(path, AudioModelFileProblem.UnknownStageFormat,
                $"ML.NET could not load entry '{entry.Name}' although it is intact; reference the NuGet package of every "
                + $"ML.NET component in the pipeline ({e.Message})", e);
        }
    }

    private ITransformer LoadAudio(string? path, ManifestEntry entry, byte[] data, string writtenBy)
    {
        string format = entry.Format ?? string.Empty;
        int version = entry.Version ?? 0;
        string? assembly = entry.Assembly ?? AudioModelFormats.AssemblyOfOlderFormat(format);
        AudioModelFormats.Registration? found;
        try
        {
            found = AudioModelFormats.Find(format, entry.Assembly);
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            // The stage's package is not part of this application: say which one to add.
            throw new AudioModelFileException(path, AudioModelFileProblem.MissingPackage,
                $"entry '{entry.Name}' holds a stage of format '{format}' from the assembly '{assembly}', which this application does not reference; "
                + $"add the NuGet package '{assembly}' (dotnet add package {assembly})", e);
        }

        if (found is not { } registration)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.UnknownStageFormat,
                $"entry '{entry.Name}' holds a stage of format '{format}'{(assembly is null ? string.Empty : $" from '{assembly}'")}, which this MLNetAudio ({ModelFile.LibraryVersion}) does not know; "
                + "it was written by a newer MLNetAudio or by a library that is not loaded");
        }

        if (version > registration.CurrentVersion)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.NewerFormatVersion,
                $"entry '{entry.Name}' holds '{format}' version {version}, written by MLNetAudio {writtenBy}; "
                + $"this MLNetAudio ({ModelFile.LibraryVersion}) reads versions {registration.OldestReadableVersion} to {registration.CurrentVersion}: update MLNetAudio");
        }

        if (version < registration.OldestReadableVersion)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.OlderFormatVersion,
                $"entry '{entry.Name}' holds '{format}' version {version}; this MLNetAudio reads versions "
                + $"{registration.OldestReadableVersion} to {registration.CurrentVersion}: load it with an older MLNetAudio and save it again");
        }

        using var reader = new BinaryReader(new MemoryStream(data, writable: false), System.Text.Encoding.UTF8);
        try
        {
            if (reader.ReadInt32() != ModelFile.StageMagic || reader.ReadString() != format || reader.ReadInt32() != version)
            {
                throw new InvalidDataException("its header disagrees with the manifest");
            }

            var stage = registration.Loader(new AudioStageReader(_ml, reader, version, format, entry.Name));
            if (reader.BaseStream.Position != reader.BaseStream.Length)
            {
                throw new InvalidDataException(
                    $"{reader.BaseStream.Length - reader.BaseStream.Position} bytes were left unread after the stage");
            }

            return stage;
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or IOException or FormatException or ArgumentException)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                $"entry '{entry.Name}' ('{format}' version {version}) is damaged: {e.Message}", e);
        }
    }

    private static (ManifestEntry Entry, byte[] Bytes) Entry(string name, string kind, string? format, int? version, byte[] bytes, string? assembly = null) =>
        (new ManifestEntry { Name = name, Kind = kind, Format = format, Version = version, Assembly = assembly, Length = bytes.Length, Sha256 = Convert.ToHexString(SHA256.HashData(bytes)) }, bytes);

    private static void Write(ZipArchive zip, string name, byte[] bytes)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
        s.Write(bytes);
    }

    /// <summary>
    /// Checks what the manifest lists against the zip's directory before anything is decompressed: at most one
    /// schema entry and <see cref="ModelFile.MaxStages"/> stage entries (the writer numbers stages with three
    /// digits), each stage named by its position as the writer names it, no entry listed twice, every entry
    /// present, each within <see cref="ModelZip.MaxEntryBytes"/> and all together within <see cref="ModelZip.MaxTotalBytes"/>.
    /// </summary>
    private static List<ZipArchiveEntry> CheckEntries(string? path, ZipArchive zip, Manifest manifest)
    {
        if (manifest.Entries.Count > ModelFile.MaxStages + 1)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                $"its manifest lists {manifest.Entries.Count} entries; a model holds at most {ModelFile.MaxStages} stages and its input schema");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<ZipArchiveEntry>(manifest.Entries.Count);
        long total = 0;
        int stage = 0;
        foreach (var entry in manifest.Entries)
        {
            if (!seen.Add(entry.Name))
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"its manifest lists '{entry.Name}' more than once");
            }

            if (entry.Kind is ModelFile.KindMLNet or ModelFile.KindAudio)
            {
                string expected = $"stages/{stage.ToString("D3", CultureInfo.InvariantCulture)}.{(entry.Kind == ModelFile.KindMLNet ? "mlnet.zip" : "audio.bin")}";
                if (entry.Name != expected)
                {
                    throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                        $"its manifest lists stage {stage} as '{entry.Name}'; the writer names it '{expected}'");
                }

                stage++;
            }

            var zipEntry = zip.GetEntry(entry.Name)
                ?? throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"the manifest lists '{entry.Name}' but the archive lacks it");
            if (zipEntry.Length > ModelZip.MaxEntryBytes || entry.Length != zipEntry.Length)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, zipEntry.Length > ModelZip.MaxEntryBytes
                    ? $"entry '{entry.Name}' declares {zipEntry.Length} bytes, over the {ModelZip.MaxEntryBytes} bytes an entry may have"
                    : $"entry '{entry.Name}' is {zipEntry.Length} bytes by the zip's directory but {entry.Length} by the manifest");
            }

            total += zipEntry.Length;
            if (total > ModelZip.MaxTotalBytes)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                    $"its entries declare more than the {ModelZip.MaxTotalBytes} bytes a model may hold decompressed");
            }

            result.Add(zipEntry);
        }

        return result;
    }

    private static Manifest ReadManifest(string? path, byte[] json)
    {
        Manifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, ManifestJson.Default.Manifest);
        }
        catch (JsonException e)
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"its manifest is not valid ({e.Message})", e);
        }

        if (manifest is null || manifest.Format != ModelFile.ContainerFormat || manifest.Entries is null
            || manifest.Entries.Any(e => e is null || string.IsNullOrEmpty(e.Name) || string.IsNullOrEmpty(e.Kind) || string.IsNullOrEmpty(e.Sha256)))
        {
            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                $"its manifest is not an '{ModelFile.ContainerFormat}' manifest or lacks fields");
        }

        return manifest;
    }
}


/// <summary>Names and versions of the container.</summary>
internal static class ModelFile
{
    public const string ContainerFormat = "MLNetAudio.Model";

    // Version 1: manifest.json + input-schema.zip + one entry per stage, each with length and SHA-256.
    public const int ContainerVersion = 1;
    public const string ManifestEntry = "manifest.json";
    public const string InputSchemaEntry = "input-schema.zip";
    public const string KindSchema = "InputSchema";
    public const string KindMLNet = "MLNet";
    public const string KindAudio = "MLNetAudio";
    public const int StageMagic = 0x414E4C4D; // "MLNA" little-endian

    // Stage entries are named stages/NNN: three digits.
    public const int MaxStages = 1000;

    public static string LibraryVersion { get; } =
        typeof(ModelFile).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ModelFile).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}

/// <summary>The manifest entry's JSON shape.</summary>
internal sealed class Manifest
{
    public string Format { get; set; } = string.Empty;

    public int FormatVersion { get; set; }

    public string LibraryVersion { get; set; } = string.Empty;

    public List<ManifestEntry> Entries { get; set; } = [];
}

/// <summary>One zip entry listed by the manifest, in load order.</summary>
internal sealed class ManifestEntry
{
    public string Name { get; set; } = string.Empty;

    public string Kind { get; set; } = string.Empty;

    public string? Format { get; set; }

    public int? Version { get; set; }

    /// <summary>
    /// The assembly that wrote an MLNetAudio stage and registers its format (e.g. "MLNetAudio.Recommendation"); absent in
    /// files written before the split into packages. Older readers ignore it, so the container version stays 1.
    /// </summary>
    public string? Assembly { get; set; }

    public long Length { get; set; }

    public string Sha256 { get; set; } = string.Empty;
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(Manifest))]
internal sealed partial class ManifestJson : JsonSerializerContext
{
}
