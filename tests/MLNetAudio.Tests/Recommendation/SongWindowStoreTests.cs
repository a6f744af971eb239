using Microsoft.ML;
using MLNetAudio.Scoring;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// A catalog's windows in the on-disk store (<see cref="AudioSongWindows.FromDataView(IDataView, string, string, AudioSongStoreOptions)"/>):
/// the same windows as in memory, no song decoded twice (the audio files are deleted before a rerun to prove it), a
/// killed run resumed, a torn tail cut back, another layout refused, and the same trained model.
/// </summary>
public sealed class SongWindowStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "store-" + Guid.NewGuid().ToString("N"));
    private readonly MLContext _ml = new(seed: 1);
    private readonly ListeningSimulator _simulator = new(new ListeningSimulatorOptions { SongCount = 12, UserCount = 10, MeanSongsPerUser = 5, TasteStrength = 10, Seed = 7 });
    private readonly AudioSongOptions _options = new() { SampleRate = 8000, RenderSeconds = 5, SectionSeconds = 1, WindowSeconds = 2, WindowHopSeconds = 1, Coefficients = 13, UseCache = false };

    public SongWindowStoreTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "audio"));
        foreach (var song in _simulator.Songs)
        {
            WavWriter.Write(SongPath(song.Key), AudioSongRenderer.Render(song, _options), _options.SampleRate, format: WavSampleFormat.IeeeFloat32);
        }
    }

    private string Store => Path.Combine(_dir, "store");

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
    public void StoredWindowsEqualTheInMemoryOnesAndARerunDecodesNothing()
    {
        var reference = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows");
        var progress = new List<AudioSongStoreProgress>();
        using (var stored = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store, Progress = new Inline(progress.Add) }))
        {
            Assert.True(stored.IsStoredOnDisk);
            Assert.Equal(12, stored.ComputedSongs);
            AssertSame(reference, stored);
            Assert.Equal(Enumerable.Range(1, 12), progress.Select(p => p.SongsDone));
            Assert.All(progress, p => Assert.Equal(12, p.SongsTotal));
            Assert.Equal(12, progress[^1].Decoded);
        }

        // Every audio file gone: a rerun that decoded anything would fail to load it.
        Directory.Delete(Path.Combine(_dir, "audio"), recursive: true);
        using var again = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store });
        Assert.Equal(0, again.ComputedSongs);
        AssertSame(reference, again);
    }

    [Fact]
    public void AKilledRunResumesWithoutDecodingItsSongsAgain()
    {
        var reference = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows");
        var stop = new Inline(p =>
        {
            if (p.SongsDone == 5)
            {
                throw new OperationCanceledException("killed");
            }
        });
        Assert.Throws<OperationCanceledException>(() => AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store, Progress = stop }));

        // The five songs stored before the stop must come from the store: their files are gone.
        for (uint key = 1; key <= 5; key++)
        {
            File.Delete(SongPath(key));
        }

        using var resumed = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store });
        Assert.Equal(7, resumed.ComputedSongs);
        AssertSame(reference, resumed);
    }

    [Fact]
    public void ATornTailIsCutBackAndADamagedEntryIsDecodedAgain()
    {
        var reference = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows");
        AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store }).Dispose();

        // A write killed half-way: bytes past the last whole entry in both files.
        using (var data = File.Open(Path.Combine(Store, "windows.f32"), FileMode.Append))
        {
            data.Write(new byte[10]);
        }

        using (var index = File.Open(Path.Combine(Store, "index.bin"), FileMode.Append))
        {
            index.Write(new byte[20]);
        }

        using (var cut = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store }))
        {
            Assert.Equal(0, cut.ComputedSongs);
            AssertSame(reference, cut);
        }

        // The last entry's checksum broken: that song alone is decoded again.
        string indexPath = Path.Combine(Store, "index.bin");
        byte[] bytes = File.ReadAllBytes(indexPath);
        bytes[^1] ^= 0x5A;
        File.WriteAllBytes(indexPath, bytes);
        using var repaired = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store });
        Assert.Equal(1, repaired.ComputedSongs);
        AssertSame(reference, repaired);
    }

    [Fact]
    public void AStoreOfAnotherLayoutIsRefusedNamingBoth()
    {
        AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store }).Dispose();
        var e = Assert.Throws<ArgumentException>(() => AudioSongWindows.FromDataView(Songs(hopSeconds: 0.5), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store }));
        Assert.Contains("every 1 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("every 0.5 s", e.Message, StringComparison.Ordinal);
        Assert.Contains(Store, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheMultiUserModelTrainedFromTheStoreIsTheInMemoryOne()
    {
        var reference = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows");
        using var stored = AudioSongWindows.FromDataView(Songs(), "SongKey", "Windows", new AudioSongStoreOptions { Directory = Store });
        var plays = _simulator.ToDataView(_ml, _simulator.Training);
        var options = new MultiUserAudioOptions { EmbeddingSize = 4, Channels = 4, Epochs = 2, Seed = 3, Device = TorchDevice.Cpu };
        using var a = _ml.Audio().Recommendation.Trainers.MultiUserAudio(reference, options).Fit(plays);
        using var b = _ml.Audio().Recommendation.Trainers.MultiUserAudio(stored, options).Fit(plays);
        var sa = new float[a.UserCount * a.SongCount];
        var sb = new float[sa.Length];
        a.ScoreUsers(0, a.UserCount, sa);
        b.ScoreUsers(0, b.UserCount, sb);
        Assert.Equal(sa, sb);
    }

    private static void AssertSame(AudioSongWindows expected, AudioSongWindows actual)
    {
        Assert.Equal(expected.SongCount, actual.SongCount);
        Assert.True(expected.Layout.SameAs(actual.Layout));
        for (int s = 0; s < expected.SongCount; s++)
        {
            Assert.True(expected.Windows(s).SequenceEqual(actual.Windows(s)), $"song {s + 1} differs");
        }
    }

    private string SongPath(uint key) => Path.Combine(_dir, "audio", $"song-{key}.wav");

    // The catalog in key order (key k = simulator song k), through LoadAudio + SegmentMfcc.
    private IDataView Songs(double hopSeconds = 1)
    {
        var catalog = _ml.Data.LoadFromEnumerable(_simulator.Songs.Select(s => new CatalogRow { SongId = $"song-{s.Key}", Path = SongPath(s.Key) }).ToList());
        var keyed = _ml.Transforms.Conversion.MapValueToKey("SongKey", "SongId").Fit(catalog).Transform(catalog);
        return _ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { TargetSampleRate = _options.SampleRate })
            .Append(_ml.Transforms.SegmentMfcc("Windows", "Audio", new MfccSegmenterOptions
            {
                SampleRate = _options.SampleRate,
                FramesPerSecond = _options.FramesPerSecond,
                WindowSeconds = _options.WindowSeconds,
                WindowHopSeconds = hopSeconds,
                Coefficients = _options.Coefficients,
                FftSize = 1024,
                MelBands = 64,
            }))
            .Fit(keyed)
            .Transform(keyed);
    }

    private sealed class Inline(Action<AudioSongStoreProgress> report) : IProgress<AudioSongStoreProgress>
    {
        public void Report(AudioSongStoreProgress value) => report(value);
    }

    private sealed class CatalogRow
    {
        public string SongId { get; set; } = string.Empty;

        public string Path { get; set; } = string.Empty;
    }
}
