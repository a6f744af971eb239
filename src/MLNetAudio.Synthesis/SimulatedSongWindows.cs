using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Recommendation;

/// <summary>
/// <c>AudioSongWindows.Compute</c>: the windows of the listening simulator's songs, rendered by
/// <see cref="AudioSongRenderer"/>, cut with ML.NET's <c>ml.Transforms.SegmentMfcc</c> and cached on disk so that
/// reruns do not recompute them. A static extension of <see cref="AudioSongWindows"/> (MLNetAudio.Recommendation),
/// so <c>AudioSongWindows.Compute(ml, songs, options)</c> reads as before the split into packages.
/// </summary>
/// <remarks>
/// Cache format (one file per song, <c>song-{key}-{hash}.win</c>, the hash covering the song's description and every
/// setting that changes the windows): "MLNAWIN1" (8 bytes), Int32 frames per window, Int32 coefficients, Int32
/// window count, then windows x frames x coefficients Single values, little-endian. A file that does not read back
/// whole is recomputed.
/// </remarks>
public static class SimulatedSongWindows
{
    private static readonly byte[] Magic = "MLNAWIN1"u8.ToArray();

    extension(AudioSongWindows)
    {
        /// <summary>
        /// Renders and segments every song of <paramref name="songs"/> (reading the cache first), in key order.
        /// </summary>
        /// <param name="mlContext">The context the MFCC segmenter runs in.</param>
        /// <param name="songs">The catalog (as <see cref="ListeningSimulator.Songs"/>), song keys 1 to n in order.</param>
        /// <param name="options">Rendering, window and cache settings; null for the defaults.</param>
        /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
        public static AudioSongWindows Compute(MLContext mlContext, IReadOnlyList<SongDescription> songs, AudioSongOptions? options = null)
        {
            ArgumentNullException.ThrowIfNull(mlContext);
            ArgumentNullException.ThrowIfNull(songs);
            options ??= new AudioSongOptions();
            options.Validate();
            var segmenterOptions = new MfccSegmenterOptions
            {
                SampleRate = options.SampleRate,
                FramesPerSecond = options.FramesPerSecond,
                WindowSeconds = options.WindowSeconds,
                WindowHopSeconds = options.WindowHopSeconds,
                Coefficients = options.Coefficients,
                FftSize = 1024,
                MelBands = 64,
            };
            int frames = (int)Math.Round(options.WindowSeconds * options.FramesPerSecond);
            int size = frames * options.Coefficients;
            string? folder = options.UseCache ? options.CacheDirectory ?? Path.Combine(Path.GetTempPath(), "MLNetAudio", "song-windows") : null;
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            string settings = SettingsKey(options) + $";fft{segmenterOptions.FftSize};mel{segmenterOptions.MelBands}";
            var windows = new float[songs.Count][];
            var paths = new string?[songs.Count];
            var missing = new List<int>();
            for (int i = 0; i < songs.Count; i++)
            {
                if (folder is not null)
                {
                    paths[i] = Path.Combine(folder, $"song-{songs[i].Key}-{Hash(settings, songs[i])}.win");
                    windows[i] = TryRead(paths[i]!, frames, options.Coefficients)!;
                }

                if (windows[i] is null)
                {
                    missing.Add(i);
                }
            }

            // Render in parts so a big catalog never holds all its audio at once.
            const int Part = 64;
            var segmenter = mlContext.Transforms.SegmentMfcc("Windows", "Audio", segmenterOptions);
            for (int first = 0; first < missing.Count; first += Part)
            {
                var part = missing.Skip(first).Take(Part).ToArray();
                var rows = new AudioRow[part.Length];
                Parallel.For(0, part.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, j =>
                    rows[j] = new AudioRow { Audio = AudioSongRenderer.Render(songs[part[j]], options) });
                var data = mlContext.Data.LoadFromEnumerable(rows);
                var transformed = segmenter.Fit(data).Transform(data);
                using var cursor = transformed.GetRowCursor([transformed.Schema["Windows"]]);
                var getter = cursor.GetGetter<VBuffer<float>>(transformed.Schema["Windows"]);
                var buffer = default(VBuffer<float>);
                int j = 0;
                while (cursor.MoveNext())
                {
                    getter(ref buffer);
                    var values = buffer.DenseValues().ToArray();
                    if (values.Length % size != 0)
                    {
                        throw new InvalidOperationException($"Song {songs[part[j]].Key}: the segmenter gave {values.Length} values, not a whole number of {frames} x {options.Coefficients} windows.");
                    }

                    windows[part[j]] = values;
                    if (paths[part[j]] is string path)
                    {
                        Write(path, values, frames, options.Coefficients);
                    }

                    j++;
                }
            }

            return AudioSongWindows.FromValues(windows, frames, options.Coefficients, options, missing.Count);
        }
    }

    /// <summary>The settings that change the windows, as one string (the cache key's settings part).</summary>
    private static string SettingsKey(AudioSongOptions o) =>
        FormattableString.Invariant($"v{AudioSongRenderer.Version};sr{o.SampleRate};len{o.RenderSeconds};sec{o.SectionSeconds};win{o.WindowSeconds};hop{o.WindowHopSeconds};c{o.Coefficients};fps{o.FramesPerSecond};seed{o.Seed}");

    private static string Hash(string settings, SongDescription song)
    {
        string text = settings + "|" + song.Key + "|" + string.Join(",", song.Instruments) + "|" + song.Register + "|"
            + FormattableString.Invariant($"{song.TempoBpm}|{song.DurationSeconds}|{song.Motif?.StartSeconds}|{song.Motif?.CarriedBy}")
            + (song.Motif?.Falling == true ? "|falling" : string.Empty); // absent for rising motifs: older caches stay valid
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0, 8);
    }

    private static float[]? TryRead(string path, int frames, int coefficients)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            using var reader = new BinaryReader(File.OpenRead(path));
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic) || reader.ReadInt32() != frames || reader.ReadInt32() != coefficients)
            {
                return null;
            }

            int count = reader.ReadInt32();
            long expected = (long)count * frames * coefficients;
            if (count < 0 || reader.BaseStream.Length - reader.BaseStream.Position != expected * sizeof(float))
            {
                return null;
            }

            var bytes = reader.ReadBytes(checked((int)(expected * sizeof(float))));
            var values = new float[expected];
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            return values;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static void Write(string path, float[] values, int frames, int coefficients)
    {
        // Write to a temporary name first so a reader never sees half a file.
        string temporary = path + "." + Environment.ProcessId + ".tmp";
        using (var writer = new BinaryWriter(File.Create(temporary)))
        {
            writer.Write(Magic);
            writer.Write(frames);
            writer.Write(coefficients);
            writer.Write(values.Length / (frames * coefficients));
            var bytes = new byte[values.Length * sizeof(float)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            writer.Write(bytes);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private sealed class AudioRow
    {
        public float[] Audio { get; set; } = [];
    }
}
