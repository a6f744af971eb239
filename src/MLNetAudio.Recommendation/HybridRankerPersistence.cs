using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Data
{
    /// <summary>
    /// The hybrid ranker's file, behind <c>ml.Audio().Model.SaveHybridRanker</c> / <c>LoadHybridRanker</c>
    /// (<see cref="AudioRecommendationCatalogExtensions"/>).
    /// </summary>
    /// <remarks>
    /// A <see cref="HybridRankerModel"/> is not one pipeline but an ML.NET ranking model over the scores of several
    /// feature models, so it has its own file: a zip archive of
    /// <code>
    /// hybrid.json          format "MLNetAudio.HybridRanker", its version, the library version, users, songs, the
    ///                      user and song key columns the ranker scores (userColumn, songColumn; version 2), and
    ///                      per part (the ranker, then each feature in slot order): name, kind, entry, length, SHA-256
    /// ranker.zip           the ML.NET ranking model, as ml.Audio().Model.Save writes it (ML.NET saves its stages)
    /// features/NNN.zip     a feature that is an MLNetAudio model (kind "model"), as ml.Audio().Model.Save writes it
    /// features/NNN.bin     version 1 only: an AudioFactorRegressionModel (kind "audio-factors"), its factors block
    ///                      without key columns (version 2 saves it as kind "model")
    /// </code>
    /// Version 1 files load with key columns "UserId" and "SongId" (the options' defaults), which they did not record.
    /// Feature models that can be saved: implicit matrix factorization, item-based CF, popularity, the field-aware
    /// factorization machine, the content models
    /// (seed song, song set), the multi-user audio model and the audio factor regression. The ranker's candidate rows (<see cref="HybridRankerModel.TrainingData"/>)
    /// are not saved: a loaded model's is empty.
    /// </remarks>
    internal static class HybridRankerPersistence
    {
        private const string HybridFormat = "MLNetAudio.HybridRanker";
        private const int HybridVersion = 2;
        private const string HybridManifest = "hybrid.json";
        private const string KindModel = "model";
        private const string KindAudioFactors = "audio-factors";
        private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

        /// <summary>Saves a fitted hybrid ranker and every feature model it reads to the file <paramref name="path"/>.</summary>
        /// <param name="catalog">The model catalog that saves the ranker's parts.</param>
        /// <param name="model">The fitted hybrid ranker.</param>
        /// <param name="path">The file to write (overwritten).</param>
        /// <exception cref="NotSupportedException">A feature model cannot be saved; the message names it.</exception>
        public static void SaveHybridRanker(AudioModelCatalog catalog, HybridRankerModel model, string path)
        {
            ArgumentNullException.ThrowIfNull(model);
            ArgumentException.ThrowIfNullOrEmpty(path);

            // Every part is made before the file is opened, so an unsaveable feature leaves no half-written file.
            var parts = new List<(string Name, string Kind, string Entry, byte[] Bytes)>();
            var rankerSchema = HybridRankerModel.ToDataView(catalog.Context, [], model.UserCount, model.FeatureNames.Count).Schema;
            parts.Add(("ranker", KindModel, "ranker.zip", ToBytes(s => catalog.Save(model.Model, rankerSchema, s))));
            for (int i = 0; i < model.Features.Count; i++)
            {
                var feature = model.Features[i];
                string index = i.ToString("D3", CultureInfo.InvariantCulture);
                switch (feature.Scorer)
                {
                    case ITransformer transformer and IPersistableAudioTransformer when KeyColumns(feature.Scorer) is (string user, string song):
                        var builder = new DataViewSchema.Builder();
                        builder.AddColumn(user, new KeyDataViewType(typeof(uint), feature.Scorer.UserCount));
                        builder.AddColumn(song, new KeyDataViewType(typeof(uint), feature.Scorer.SongCount));
                        var schema = builder.ToSchema();
                        parts.Add((feature.Name, KindModel, $"features/{index}.zip", ToBytes(s => catalog.Save(transformer, schema, s))));
                        break;
                    default:
                        throw new NotSupportedException(
                            $"Feature '{feature.Name}' ({feature.Scorer.GetType().Name}) cannot be saved: a hybrid ranker saves features that are "
                            + "implicit matrix factorization, item-based CF, popularity, field-aware factorization machine, content (seed song, song set), "
                            + "multi-user audio or audio factor regression models.");
                }
            }

            var manifest = new JsonObject
            {
                ["format"] = HybridFormat,
                ["formatVersion"] = HybridVersion,
                ["libraryVersion"] = ModelFile.LibraryVersion,
                ["users"] = model.UserCount,
                ["songs"] = model.SongCount,
                ["userColumn"] = model.UserColumnName,
                ["songColumn"] = model.SongColumnName,
                ["parts"] = new JsonArray(parts.Select(p => (JsonNode)new JsonObject
                {
                    ["name"] = p.Name,
                    ["kind"] = p.Kind,
                    ["entry"] = p.Entry,
                    ["length"] = p.Bytes.Length,
                    ["sha256"] = Convert.ToHexString(SHA256.HashData(p.Bytes)),
                }).ToArray()),
            };

            using var file = File.Create(path);
            using var zip = new ZipArchive(file, ZipArchiveMode.Create);
            WriteEntry(zip, HybridManifest, System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString(IndentedJson)));
            foreach (var part in parts)
            {
                WriteEntry(zip, part.Entry, part.Bytes);
            }
        }

        /// <summary>Loads a hybrid ranker written by <see cref="SaveHybridRanker"/>, with its feature models.</summary>
        /// <param name="catalog">The model catalog that loads the ranker's parts.</param>
        /// <param name="path">The file.</param>
        /// <returns>The ranker, scoring as the saved one did; its <see cref="HybridRankerModel.TrainingData"/> is empty.</returns>
        /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
        /// <exception cref="AudioModelFileException">The file is not a hybrid ranker, is truncated or damaged, or holds a part this version cannot read.</exception>
        public static HybridRankerModel LoadHybridRanker(AudioModelCatalog catalog, string path)
        {
            ArgumentException.ThrowIfNullOrEmpty(path);
            try
            {
                return LoadHybridRankerChecked(catalog, path);
            }
            catch (Exception e) when (e is not (AudioModelFileException or FileNotFoundException))
            {
                // Whatever a damaged or hostile file triggers (out of memory included) is reported as this file's problem.
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"it could not be read ({e.GetType().Name}: {e.Message})", e);
            }
        }

        private static HybridRankerModel LoadHybridRankerChecked(AudioModelCatalog catalog, string path)
        {
            using var file = ModelZip.OpenModelFile(path);
            ZipArchive zip;
            try
            {
                zip = new ZipArchive(file, ZipArchiveMode.Read);
            }
            catch (InvalidDataException e)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Truncated,
                    $"it is not a whole zip archive, so not a whole hybrid ranker file: cut short or overwritten ({e.Message})", e);
            }

            using (zip)
            {
                var manifestEntry = zip.GetEntry(HybridManifest)
                    ?? throw new AudioModelFileException(path, AudioModelFileProblem.NotAModelFile,
                        $"it has no '{HybridManifest}', so it is not a hybrid ranker file"
                        + (zip.GetEntry(ModelFile.ManifestEntry) is null ? string.Empty : "; it is a pipeline: load it with ml.Audio().Model.Load"));
                var (users, songs, columns, parts) = ReadHybridManifest(path, ModelZip.ReadEntry(path, manifestEntry, null, null, ModelZip.MaxManifestBytes));
                if (parts.Count > ModelFile.MaxStages || parts.Select(p => p.Entry).Distinct(StringComparer.Ordinal).Count() != parts.Count)
                {
                    throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                        $"its manifest lists {parts.Count} parts, some more than once or over {ModelFile.MaxStages}");
                }

                var loaded = new List<(string Name, object Part)>();
                long total = 0;
                try
                {
                    foreach (var (name, kind, entryName, length, sha) in parts)
                    {
                        var entry = zip.GetEntry(entryName)
                            ?? throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"the manifest lists '{entryName}' but the archive lacks it");
                        total += entry.Length;
                        if (total > ModelZip.MaxTotalBytes)
                        {
                            throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                                $"its entries declare more than the {ModelZip.MaxTotalBytes} bytes a model may hold decompressed");
                        }

                        byte[] bytes = ModelZip.ReadEntry(path, entry, length, sha, ModelZip.MaxEntryBytes);

                        loaded.Add((name, LoadPart(catalog, path, kind, entryName, bytes, columns)));
                    }

                    return Assemble(catalog.Context, path, users, songs, columns, loaded);
                }
                catch
                {
                    foreach (var (_, part) in loaded)
                    {
                        foreach (var stage in part is ITransformer t ? AudioModelCatalog.Flatten(t) : [])
                        {
                            (stage as IDisposable)?.Dispose();
                        }
                    }

                    throw;
                }
            }
        }

        private static HybridRankerModel Assemble(MLContext ml, string path, int users, int songs, (string User, string Song) columns, List<(string Name, object Part)> loaded)
        {
            if (loaded.Count < 2 || loaded[0].Part is not ITransformer ranker)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, "it lists no ranker or no feature");
            }

            var features = new List<HybridFeature>();
            foreach (var (name, part) in loaded.Skip(1))
            {
                var scorer = part switch
                {
                    IUserSongScorer s => s,
                    ITransformer t when AudioModelCatalog.Flatten(t).ToList() is [IUserSongScorer single] => single,
                    _ => throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"feature '{name}' does not hold one recommendation model"),
                };
                if (scorer.UserCount != users || scorer.SongCount != songs)
                {
                    throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt,
                        $"feature '{name}' scores {scorer.UserCount} users x {scorer.SongCount} songs; the ranker was saved for {users} x {songs}");
                }

                features.Add(new HybridFeature(name, scorer));
            }

            return new HybridRankerModel(ml, columns.User, columns.Song, ranker, features, HybridRankerModel.ToDataView(ml, [], users, features.Count)) { OwnsFeatures = true };
        }

        private static object LoadPart(AudioModelCatalog catalog, string path, string kind, string entryName, byte[] bytes, (string User, string Song) columns)
        {
            using var stream = new MemoryStream(bytes, writable: false);
            try
            {
                switch (kind)
                {
                    case KindModel:
                        return catalog.Load(stream, out _);
                    case KindAudioFactors:
                        using (var reader = new BinaryReader(stream))
                        {
                            var model = AudioFactorRegressionModel.LoadFactors(reader, columns.User, columns.Song);
                            if (stream.Position != stream.Length)
                            {
                                throw new InvalidDataException($"{stream.Length - stream.Position} bytes were left unread");
                            }

                            return model;
                        }

                    default:
                        throw new AudioModelFileException(path, AudioModelFileProblem.UnknownStageFormat,
                            $"entry '{entryName}' holds a part of kind '{kind}', which this MLNetAudio ({ModelFile.LibraryVersion}) does not know");
                }
            }
            catch (AudioModelFileException e) when (e.FilePath is null)
            {
                // The part was read from memory: say which file and which entry it came from.
                throw new AudioModelFileException(path, e.Problem, $"entry '{entryName}': {e.Message.TrimEnd('.')}", e);
            }
            catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"entry '{entryName}' is damaged: {e.Message}", e);
            }
        }

        private static (int Users, int Songs, (string User, string Song) Columns, List<(string Name, string Kind, string Entry, long Length, string Sha)> Parts) ReadHybridManifest(string path, byte[] json)
        {
            try
            {
                var manifest = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidDataException("it is empty");
                if ((string?)manifest["format"] != HybridFormat)
                {
                    throw new InvalidDataException($"its format is not '{HybridFormat}'");
                }

                int version = (int?)manifest["formatVersion"] ?? 0;
                if (version > HybridVersion)
                {
                    throw new AudioModelFileException(path, AudioModelFileProblem.NewerFormatVersion,
                        $"it was written by MLNetAudio {(string?)manifest["libraryVersion"]} in hybrid format version {version}; "
                        + $"this MLNetAudio ({ModelFile.LibraryVersion}) reads up to version {HybridVersion}: update MLNetAudio");
                }

                var parts = (manifest["parts"]?.AsArray() ?? throw new InvalidDataException("it lists no parts"))
                    .Select(p => ((string?)p!["name"] ?? string.Empty, (string?)p["kind"] ?? string.Empty, (string?)p["entry"] ?? string.Empty, (long?)p["length"] ?? -1, (string?)p["sha256"] ?? string.Empty))
                    .ToList();
                var columns = ((string?)manifest["userColumn"] ?? RecommendationEvaluationOptions.Defaults.UserColumnName, (string?)manifest["songColumn"] ?? RecommendationEvaluationOptions.Defaults.SongColumnName);
                if (string.IsNullOrWhiteSpace(columns.Item1) || string.IsNullOrWhiteSpace(columns.Item2))
                {
                    throw new InvalidDataException("its key column names are empty");
                }

                return ((int?)manifest["users"] ?? 0, (int?)manifest["songs"] ?? 0, columns, parts);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException or FormatException)
            {
                throw new AudioModelFileException(path, AudioModelFileProblem.Corrupt, $"its '{HybridManifest}' is not valid ({e.Message})", e);
            }
        }

        /// <summary>The key columns of a feature model that is an ML.NET transformer over (user, song) keys.</summary>
        private static (string User, string Song)? KeyColumns(IUserSongScorer scorer) => scorer switch
        {
            SongRecommenderModel m => (m.UserColumnName, m.SongColumnName),
            MultiUserAudioModel m => (m.UserColumnName, m.SongColumnName),
            ContentSongModel m => (m.UserColumnName, m.SongColumnName),
            AudioFactorRegressionModel m => (m.UserColumnName, m.SongColumnName),
            _ => null,
        };

        private static byte[] ToBytes(Action<Stream> write)
        {
            using var buffer = new MemoryStream();
            write(buffer);
            return buffer.ToArray();
        }

        private static void WriteEntry(ZipArchive zip, string name, byte[] bytes)
        {
            using var s = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
            s.Write(bytes);
        }
    }
}
