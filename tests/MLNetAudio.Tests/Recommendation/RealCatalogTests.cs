using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Scoring;
using MLNetAudio.Audio;
using MLNetAudio.Features;
using MLNetAudio.Recommendation;
using MLNetAudio.Tests.Scoring;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// A catalog of audio files on disk and a play log with string ids, through ML.NET as DESIGN.md §8 shows it:
/// <c>MapValueToKey</c> on the catalog, <c>LoadAudio</c> + <c>SegmentMfcc</c>, then the recommenders fitted on
/// IDataViews. The files are the simulator's songs written as float WAVs, so the IDataView route can be held to the
/// synthesizer route (<see cref="AudioSongWindows.Compute"/>) value for value; real recordings (the built-in clips)
/// go through the same route.
/// </summary>
public sealed class RealCatalogTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", "real-catalog-" + Guid.NewGuid().ToString("N"));
    private readonly MLContext _ml = new(seed: 1);
    private readonly ListeningSimulator _simulator = new(new ListeningSimulatorOptions { SongCount = 24, UserCount = 16, MeanSongsPerUser = 6, TasteStrength = 10, Seed = 5 });
    private readonly AudioSongOptions _options;

    public RealCatalogTests()
    {
        Directory.CreateDirectory(_dir);
        _options = new AudioSongOptions { SampleRate = 8000, RenderSeconds = 5, SectionSeconds = 1, WindowSeconds = 2, WindowHopSeconds = 1, Coefficients = 13, UseCache = false };
        foreach (var song in _simulator.Songs)
        {
            WavWriter.Write(SongPath(song.Key), AudioSongRenderer.Render(song, _options), _options.SampleRate, format: WavSampleFormat.IeeeFloat32);
        }
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
    public void FilesThroughLoadAudioAndSegmentMfccGiveTheSynthesizerRoutesWindows()
    {
        var songs = SongsView(out _);
        var fromFiles = AudioSongWindows.FromDataView(songs, "SongKey", "Windows");
        var rendered = AudioSongWindows.Compute(_ml, _simulator.Songs, _options);

        Assert.Equal(rendered.SongCount, fromFiles.SongCount);
        Assert.Equal(rendered.FramesPerWindow, fromFiles.FramesPerWindow);
        Assert.Equal(rendered.Coefficients, fromFiles.Coefficients);
        Assert.Equal(rendered.HopFrames, fromFiles.HopFrames);
        Assert.Equal(_options.WindowHopSeconds, fromFiles.Options.WindowHopSeconds);
        for (int s = 0; s < rendered.SongCount; s++)
        {
            Assert.Equal(rendered.WindowCount(s), fromFiles.WindowCount(s));
            Assert.True(rendered.Windows(s).SequenceEqual(fromFiles.Windows(s)), $"song {s + 1}: the windows differ between the two routes");
        }
    }

    [Fact]
    public void EveryAudioRecommenderFitsOnSongAndPlayDataViewsAndRecommendsColdSongs()
    {
        var songs = SongsView(out var keys);
        var plays = PlaysView(keys, _simulator.Training);
        var options = new MultiUserAudioOptions
        {
            MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays",
            EmbeddingSize = 8, Channels = 4, Epochs = 2, Seed = 3, Device = TorchDevice.Cpu,
        };
        using var model = _ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, options).Fit(plays);

        // The same trainer on the synthesizer's windows and the same plays: the same model, value for value.
        var rendered = AudioSongWindows.Compute(_ml, _simulator.Songs, _options);
        using var reference = _ml.Audio().Recommendation.Trainers.MultiUserAudio(rendered, options).Fit(plays);
        var scores = new float[model.UserCount * model.SongCount];
        var expected = new float[scores.Length];
        model.ScoreUsers(0, model.UserCount, scores);
        reference.ScoreUsers(0, reference.UserCount, expected);
        Assert.Equal(expected, scores);

        // Cold songs (no training play) are scored and recommended from their audio.
        var cold = _simulator.ColdSongKeys.ToHashSet();
        Assert.NotEmpty(cold);
        Assert.All(scores, v => Assert.True(float.IsFinite(v)));
        var recommended = Enumerable.Range(1, model.UserCount).SelectMany(u => model.Recommend((uint)u, 5)).Select(r => r.SongKey).ToHashSet();
        Assert.Contains(recommended, cold.Contains);

        // The content baselines take the same songs view and score every (user, song) pair through ML.NET (one seed for
        // both: two trainers left to draw from one MLContext get two seeds, and break ties differently).
        var seedSong = _ml.Audio().Recommendation.Trainers.SeedSong(songs, new SeedSongOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays", Seed = 1 }).Fit(plays);
        var songSet = _ml.Audio().Recommendation.Trainers.SongSet(songs, new SongSetOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays" }).Fit(plays);
        var viaFeatures = _ml.Audio().Recommendation.Trainers.SeedSong(ContentSongFeatures.MfccStatistics(rendered), new SeedSongOptions { MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays", Seed = 1 }).Fit(plays);
        var seedScores = PlayLogs.Floats(seedSong.Transform(plays), "Score");
        Assert.Equal(PlayLogs.Floats(viaFeatures.Transform(plays), "Score"), seedScores);
        Assert.All(PlayLogs.Floats(songSet.Transform(plays), "Score"), v => Assert.True(float.IsFinite(v)));

        // Audio -> factors fitted on the same two views (training weighted ALS and the audio model itself) is the model the
        // synthesizer's windows give, and scores the cold songs through the Score column of every (user, song) row.
        var regressionOptions = new AudioFactorRegressionOptions
        {
            MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays",
            Factorization = new ImplicitMatrixFactorizationOptions { ApproximationRank = 4, NumberOfIterations = 3, Seed = 3, Device = TorchDevice.Cpu },
            Audio = options,
        };
        var regression = _ml.Audio().Recommendation.Trainers.AudioFactorRegression(songs, regressionOptions).Fit(plays);
        var regressionReference = _ml.Audio().Recommendation.Trainers.AudioFactorRegression(rendered, regressionOptions).Fit(plays);
        var regressed = new float[regression.UserCount * regression.SongCount];
        var regressedReference = new float[regressed.Length];
        regression.ScoreUsers(0, regression.UserCount, regressed);
        regressionReference.ScoreUsers(0, regressionReference.UserCount, regressedReference);
        Assert.Equal(regressedReference, regressed);
        var coldRows = _ml.Data.LoadFromEnumerable(_simulator.ColdSongKeys.Select(k => new KeyPair { UserKey = 0, SongKey = k - 1 }).ToArray(), KeyPair.Schema(regression.UserCount, regression.SongCount));
        var coldScores = PlayLogs.Floats(regression.Transform(coldRows), "Score");
        // The Score column's float64 dot product against ScoreUsers' float32 matrix product: equal within rounding.
        Assert.All(_simulator.ColdSongKeys.Zip(coldScores), p => Assert.Equal(regressed[p.First - 1], p.Second, 1e-5f));
        Assert.True(coldScores.Distinct().Count() > 1, "the cold songs get scores of their own");

        // The hybrid fitting its own feature models on the plays view (audio on the songs view, and popularity) stacks by
        // itself and scores every song, the cold ones included.
        using var hybrid = _ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions
        {
            UserColumnName = "UserKey", SongColumnName = "SongKey", LabelColumnName = "Plays",
            FeatureTrainers =
            [
                new("Audio", _ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, options)),
                new("Popularity", _ml.Audio().Recommendation.Trainers.Popularity("Plays", "UserKey", "SongKey")),
            ],
            RandomNegativesPerUser = 5, TopCandidatesPerFeature = 3, MinimumExampleCountPerLeaf = 2, NumberOfIterations = 5, Seed = 1,
        }).Fit(plays);
        var hybridScores = new float[hybrid.UserCount * hybrid.SongCount];
        hybrid.ScoreUsers(0, hybrid.UserCount, hybridScores);
        Assert.All(hybridScores, v => Assert.True(float.IsFinite(v)));
        Assert.True(_simulator.ColdSongKeys.Select(k => hybridScores[k - 1]).Distinct().Count() > 1, "the hybrid tells cold songs apart by their audio");
    }

    private sealed class KeyPair
    {
        public uint UserKey { get; set; }

        public uint SongKey { get; set; }

        // LoadFromEnumerable reads a .NET key value v as key v + 1.
        public static SchemaDefinition Schema(int users, int songs)
        {
            var schema = SchemaDefinition.Create(typeof(KeyPair));
            schema[nameof(UserKey)].ColumnType = new KeyDataViewType(typeof(uint), users);
            schema[nameof(SongKey)].ColumnType = new KeyDataViewType(typeof(uint), songs);
            return schema;
        }
    }

    [Fact]
    public void ABrokenCatalogIsRefusedNamingTheSongsAndTheLoadersError()
    {
        // An unreadable file under the loader's Report policy: its row has no windows, and the message says why.
        File.WriteAllText(SongPath(3), "not audio");
        var report = SongsView(out _, AudioErrorPolicy.Report);
        var e = Assert.Throws<ArgumentException>(() => AudioSongWindows.FromDataView(report, "SongKey", "Windows"));
        Assert.Contains("key 3", e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(SongPath(3)), e.Message, StringComparison.Ordinal);

        // A key with no row: a catalog must hold every song its keys name.
        var rows = Enumerable.Range(1, 4).Select(k => new CatalogRow { SongId = $"song-{k}", Path = SongPath(1) }).ToList();
        var keyer = _ml.Transforms.Conversion.MapValueToKey("SongKey", "SongId").Fit(_ml.Data.LoadFromEnumerable(rows));
        var partial = Segment(keyer.Transform(_ml.Data.LoadFromEnumerable(rows.Take(3))), AudioErrorPolicy.Throw);
        e = Assert.Throws<ArgumentException>(() => AudioSongWindows.FromDataView(partial, "SongKey", "Windows"));
        Assert.Contains("keys 4", e.Message, StringComparison.Ordinal);

        // The same song twice.
        var twice = Segment(keyer.Transform(_ml.Data.LoadFromEnumerable(rows.Concat(rows.Take(1)))), AudioErrorPolicy.Throw);
        e = Assert.Throws<ArgumentException>(() => AudioSongWindows.FromDataView(twice, "SongKey", "Windows"));
        Assert.Contains("Song key 1", e.Message, StringComparison.Ordinal);

        // Not a key column, or no windows column: named, with what would fix it.
        e = Assert.Throws<ArgumentException>(() => AudioSongWindows.FromDataView(_ml.Data.LoadFromEnumerable(rows), "SongId", "Windows"));
        Assert.Contains("'SongId'", e.Message, StringComparison.Ordinal);
        Assert.Contains("MapValueToKey", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => AudioSongWindows.FromDataView(keyer.Transform(_ml.Data.LoadFromEnumerable(rows)), "SongKey", "Windows"));
        Assert.Contains("'Windows'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RealRecordingsGoThroughTheSameRoute()
    {
        // The built-in clips (real instruments, Ogg Vorbis): three listeners, each liking one of them; the other
        // clips have no plays and are cold songs the audio model must still score.
        string[] clips = [.. Directory.GetFiles(RealClipPipeline.ClipFolder, "*.ogg").Select(Path.GetFileName).Order()!];
        Assert.True(clips.Length >= 6, $"expected the six built-in clips in {RealClipPipeline.ClipFolder}");
        var catalog = _ml.Data.LoadFromEnumerable(clips.Select(c => new CatalogRow { SongId = c, Path = Path.Combine(RealClipPipeline.ClipFolder, c) }).ToList());
        var keyer = _ml.Transforms.Conversion.MapValueToKey("SongKey", "SongId").Fit(catalog);
        var songs = _ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { TargetSampleRate = 16000 })
            .Append(_ml.Transforms.SegmentMfcc("Windows", "Audio", new MfccSegmenterOptions { WindowSeconds = 4, WindowHopSeconds = 2 }))
            .Fit(keyer.Transform(catalog)).Transform(keyer.Transform(catalog));
        var playRows = new[]
        {
            new PlayRow { UserId = "ana", SongId = clips[0], Plays = 3 },
            new PlayRow { UserId = "ben", SongId = clips[1], Plays = 2 },
            new PlayRow { UserId = "ana", SongId = clips[2], Plays = 1 },
            new PlayRow { UserId = "cem", SongId = clips[3], Plays = 5 },
        };
        var plays = _ml.Transforms.Conversion.MapValueToKey("UserKey", "UserId")
            .Fit(_ml.Data.LoadFromEnumerable(playRows))
            .Append(keyer)
            .Transform(_ml.Data.LoadFromEnumerable(playRows));
        using var model = _ml.Audio().Recommendation.Trainers.MultiUserAudio(songs, new MultiUserAudioOptions
        {
            MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays",
            EmbeddingSize = 4, Channels = 4, Epochs = 2, Seed = 1, Device = TorchDevice.Cpu,
        }).Fit(plays);

        Assert.Equal(clips.Length, model.SongCount);
        var top = model.Recommend(1, clips.Length);
        Assert.DoesNotContain(top, r => r.SongKey is 1 or 3); // ana's own plays are left out
        Assert.Contains(top, r => r.SongKey > 4); // clips nobody played are recommended
        Assert.All(top, r => Assert.True(float.IsFinite(r.Score)));
    }

    private string SongPath(uint key) => Path.Combine(_dir, $"song-{key}.wav");

    private IDataView SongsView(out ITransformer keys, AudioErrorPolicy policy = AudioErrorPolicy.Throw)
    {
        var catalog = _ml.Data.LoadFromEnumerable(_simulator.Songs.Select(s => new CatalogRow { SongId = $"song-{s.Key}", Path = SongPath(s.Key) }).ToList());
        keys = _ml.Transforms.Conversion.MapValueToKey("SongKey", "SongId").Fit(catalog);
        return Segment(keys.Transform(catalog), policy);
    }

    private IDataView Segment(IDataView keyed, AudioErrorPolicy policy) =>
        _ml.Transforms.LoadAudio("Audio", "Path", new AudioLoaderOptions { TargetSampleRate = _options.SampleRate, ErrorPolicy = policy })
            .Append(_ml.Transforms.SegmentMfcc("Windows", "Audio", new MfccSegmenterOptions
            {
                SampleRate = _options.SampleRate,
                FramesPerSecond = _options.FramesPerSecond,
                WindowSeconds = _options.WindowSeconds,
                WindowHopSeconds = _options.WindowHopSeconds,
                Coefficients = _options.Coefficients,
                FftSize = 1024,
                MelBands = 64,
            }))
            .Fit(keyed)
            .Transform(keyed);

    // The play log as a user has it: string ids, mapped with the catalog's fitted key transformer (songs) and a key
    // transformer fitted on the plays (users).
    private IDataView PlaysView(ITransformer songKeys, IEnumerable<ListeningEvent> events)
    {
        var rows = _ml.Data.LoadFromEnumerable(events.Select(e => new PlayRow { UserId = $"user-{e.UserId}", SongId = $"song-{e.SongId}", Plays = e.Label }).ToList());
        var users = _ml.Transforms.Conversion.MapValueToKey("UserKey", "UserId").Fit(rows);
        return songKeys.Transform(users.Transform(rows));
    }

    private sealed class CatalogRow
    {
        public string SongId { get; set; } = string.Empty;

        public string Path { get; set; } = string.Empty;
    }

    private sealed class PlayRow
    {
        public string UserId { get; set; } = string.Empty;

        public string SongId { get; set; } = string.Empty;

        public float Plays { get; set; }
    }
}
