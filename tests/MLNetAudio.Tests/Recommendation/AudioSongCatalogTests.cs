using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// <see cref="AudioSongCatalog.Build"/>: a catalog of files with a corrupt and a missing one among them, read in one
/// pass: the bad songs listed (or the build refused, naming them), keys over the good ones in catalog order, windows
/// equal to the IDataView route's, and with a store no good song decoded again on a rerun.
/// </summary>
public sealed class AudioSongCatalogTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "catalog-" + Guid.NewGuid().ToString("N"));
    private readonly MLContext _ml = new(seed: 1);
    private readonly ListeningSimulator _simulator = new(new ListeningSimulatorOptions { SongCount = 12, UserCount = 10, MeanSongsPerUser = 5, TasteStrength = 10, Seed = 9 });
    private readonly AudioSongOptions _options = new() { SampleRate = 8000, RenderSeconds = 5, SectionSeconds = 1, WindowSeconds = 2, WindowHopSeconds = 1, Coefficients = 13, UseCache = false };

    public AudioSongCatalogTests()
    {
        Directory.CreateDirectory(_dir);
        foreach (var song in _simulator.Songs)
        {
            WavWriter.Write(SongPath($"song-{song.Key}"), AudioSongRenderer.Render(song, _options), _options.SampleRate, format: WavSampleFormat.IeeeFloat32);
        }

        File.WriteAllBytes(SongPath("corrupt"), [.. "RIFF"u8, 1, 2, 3, 4, .. "WAVEjunk"u8]);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover folder in the temp dir does no harm.
        }
    }

    [Fact]
    public void UnreadableSongsAreListedAndLeftOutAndTheRestKeyedInCatalogOrder()
    {
        using var catalog = AudioSongCatalog.Build(_ml, Catalog(), Options(store: null, skip: true));
        Assert.Equal(["corrupt", "missing"], catalog.Unreadable.Select(u => u.SongId));
        Assert.Equal([3L, 6L], catalog.Unreadable.Select(u => u.Row));
        Assert.Contains("corrupt.wav", catalog.Unreadable[0].Reason, StringComparison.Ordinal);
        Assert.Contains("missing.wav", catalog.Unreadable[1].Reason, StringComparison.Ordinal);

        // Keys: the good songs in catalog order; windows: the same as the IDataView route over the good songs alone.
        string[] good = [.. Ids().Where(i => i is not ("corrupt" or "missing"))];
        Assert.Equal(good, catalog.Songs.GetColumn<string>("SongId"));
        Assert.Equal(Enumerable.Range(1, good.Length).Select(k => (uint)k), catalog.Songs.GetColumn<uint>("SongKey"));
        var reference = AudioSongWindows.FromDataView(Segment(good), "SongKey", "Windows");
        Assert.Equal(good.Length, catalog.Windows.SongCount);
        Assert.Equal(good.Length, catalog.Windows.ComputedSongs);
        for (int s = 0; s < good.Length; s++)
        {
            Assert.True(reference.Windows(s).SequenceEqual(catalog.Windows.Windows(s)), $"{good[s]} differs");
        }

        // The play log maps through the catalog's keys.
        var plays = _ml.Data.LoadFromEnumerable(new[] { new PlayRow { SongId = good[2] } });
        Assert.Equal(3u, catalog.SongKeys.Transform(plays).GetColumn<uint>("SongKey").Single());
    }

    [Fact]
    public void WithoutSkipTheBuildNamesEveryUnreadableSong()
    {
        var e = Assert.Throws<ArgumentException>(() => AudioSongCatalog.Build(_ml, Catalog(), Options(store: null, skip: false)));
        Assert.Contains("2 songs", e.Message, StringComparison.Ordinal);
        Assert.Contains("'corrupt' (row 3)", e.Message, StringComparison.Ordinal);
        Assert.Contains("'missing' (row 6)", e.Message, StringComparison.Ordinal);
        Assert.Contains("SkipUnreadableSongs", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WithAStoreARerunDecodesNoGoodSongAgain()
    {
        string store = Path.Combine(_dir, "store");
        float[][] first;
        using (var catalog = AudioSongCatalog.Build(_ml, Catalog(), Options(store, skip: true)))
        {
            Assert.True(catalog.Windows.IsStoredOnDisk);
            Assert.Equal(12, catalog.Windows.ComputedSongs);
            first = [.. Enumerable.Range(0, catalog.Windows.SongCount).Select(s => catalog.Windows.Windows(s).ToArray())];
        }

        foreach (var song in _simulator.Songs)
        {
            File.Delete(SongPath($"song-{song.Key}"));
        }

        using var again = AudioSongCatalog.Build(_ml, Catalog(), Options(store, skip: true));
        Assert.Equal(0, again.Windows.ComputedSongs);
        Assert.Equal(2, again.Unreadable.Count);
        Assert.All(Enumerable.Range(0, first.Length), s => Assert.True(first[s].AsSpan().SequenceEqual(again.Windows.Windows(s))));
    }

    private string SongPath(string id) => Path.Combine(_dir, id + ".wav");

    // Twelve rendered songs with a corrupt file at row 3 and a missing one at row 6.
    private string[] Ids()
    {
        var ids = _simulator.Songs.Select(s => $"song-{s.Key}").ToList();
        ids.Insert(3, "corrupt");
        ids.Insert(6, "missing");
        return [.. ids];
    }

    private IDataView Catalog() => _ml.Data.LoadFromEnumerable(Ids().Select(i => new CatalogRow { SongId = i, Path = SongPath(i) }).ToList());

    private AudioSongCatalogOptions Options(string? store, bool skip) => new()
    {
        Loader = new AudioLoaderOptions { TargetSampleRate = _options.SampleRate },
        Segmenter = Segmenter(),
        Store = store is null ? null : new AudioSongStoreOptions { Directory = store },
        SkipUnreadableSongs = skip,
    };

    private MfccSegmenterOptions Segmenter() => new()
    {
        SampleRate = _options.SampleRate,
        FramesPerSecond = _options.FramesPerSecond,
        WindowSeconds = _options.WindowSeconds,
        WindowHopSeconds = _options.WindowHopSeconds,
        Coefficients = _options.Coefficients,
        FftSize = 1024,
        MelBands = 64,
    };

    private IDataView Segment(string[] ids)
    {
        var view = _ml.Data.LoadFromEnumerable(ids.Select(i => new CatalogRow { SongId = i, Path = SongPath(i) }).ToList());
        var keyed = _ml.Transforms.Conversion.MapValueToKey("SongKey", "SongId").Fit(view).Transform(view);
        return _ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { TargetSampleRate = _options.SampleRate })
            .Append(_ml.Transforms.SegmentMfcc("Windows", "Audio", Segmenter()))
            .Fit(keyed)
            .Transform(keyed);
    }

    private sealed class CatalogRow
    {
        public string SongId { get; set; } = string.Empty;

        public string Path { get; set; } = string.Empty;
    }

    private sealed class PlayRow
    {
        public string SongId { get; set; } = string.Empty;
    }
}
