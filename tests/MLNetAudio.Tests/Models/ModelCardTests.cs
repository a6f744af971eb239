using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Tests.Scoring;

namespace MLNetAudio.Tests.Models;

/// <summary>
/// The models shipped in models/ load out of the box and reproduce the table of their model card (models/*.md).
/// </summary>
public sealed class ModelCardTests
{
    [Fact]
    public void FluteTasteModelReproducesItsCard()
    {
        string folder = ModelsFolder();
        string model = Path.Combine(folder, "flute-taste.zip");
        Assert.True(new FileInfo(model).Length <= 20 << 20, "a shipped model is at most 20 MB");

        // The card's table: clip | in training | score | best window "a-b s".
        var card = File.ReadAllLines(Path.Combine(folder, "flute-taste.md"))
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| clip", StringComparison.Ordinal) && !l.StartsWith("|---", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .ToDictionary(f => f[1], f => (Score: float.Parse(f[3], CultureInfo.InvariantCulture), Best: int.Parse(f[4].Trim('*').Split('-')[0], CultureInfo.InvariantCulture)));
        Assert.Equal(6, card.Count);

        var ml = new MLContext(seed: 1);
        var loaded = ml.Audio().Model.Load(model, out _);
        var songs = ml.Data.LoadFromEnumerable(card.Keys.Select(c => new Song { Path = Path.Combine(RealClipPipeline.ClipFolder, c + ".ogg") }).ToList());
        var scored = loaded.Transform(songs);
        var scores = scored.GetColumn<float>("Score").ToArray();
        var best = scored.GetColumn<float>("Score.BestWindowStart").ToArray();
        int i = 0;
        foreach (var (clip, expected) in card)
        {
            Assert.True(Math.Abs(scores[i] - expected.Score) <= 1e-3, $"{clip}: score {scores[i]:0.0000}, the card says {expected.Score}");
            Assert.True(best[i] == expected.Best, $"{clip}: best window starts at {best[i]} s, the card says {expected.Best} s");
            i++;
        }
    }

    private static string ModelsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            // The repository's models/, with the cards: samples/WebApi copies the zips alone into build outputs.
            if (File.Exists(Path.Combine(dir.FullName, "models", "flute-taste.zip")) && File.Exists(Path.Combine(dir.FullName, "models", "flute-taste.md")))
            {
                return Path.Combine(dir.FullName, "models");
            }
        }

        throw new InvalidOperationException($"No models/flute-taste.zip with its card above {AppContext.BaseDirectory}.");
    }

    private sealed class Song
    {
        public string Path { get; set; } = string.Empty;
    }
}
