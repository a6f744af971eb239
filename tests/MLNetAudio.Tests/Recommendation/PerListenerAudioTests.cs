using Microsoft.ML;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The seed's per-user method as a recommender (<c>ml.Audio().Recommendation.Trainers.PerListenerAudio</c>): each
/// listener's own TimeConvLstm learns what only that listener likes, here the order of two events that MFCC statistics
/// cannot see; listeners without enough plays get no model; options are checked, copied and seeded as every trainer's.
/// Synthetic windows (no rendering).
/// </summary>
public sealed class PerListenerAudioTests
{
    private const int Frames = 16, Coefficients = 2, WindowsPerSong = 3;

    // 48 songs: keys 1..36 warm, 37..48 cold; odd keys rise (coefficient 0 low then high in every window), even keys
    // fall (high then low). Both have the same values in another order, so their frame statistics are the same.
    private const int SongCount = 48, WarmCount = 36;

    private static bool Rises(int song) => song % 2 == 0; // 0-based index: key = index + 1 is odd

    private static AudioSongWindows OrderWindows()
    {
        var rng = new Random(11);
        var windows = new float[SongCount][];
        for (int s = 0; s < SongCount; s++)
        {
            windows[s] = new float[WindowsPerSong * Frames * Coefficients];
            for (int w = 0; w < WindowsPerSong; w++)
            {
                int shift = rng.Next(5); // where the step falls varies, symmetrically about the middle
                for (int f = 0; f < Frames; f++)
                {
                    bool late = f >= (Frames / 2) - 2 + shift;
                    float level = late == Rises(s) ? 1f : -1f;
                    int at = ((w * Frames) + f) * Coefficients;
                    windows[s][at] = level + (0.2f * (float)((rng.NextDouble() * 2) - 1));
                    windows[s][at + 1] = 0.3f * (float)((rng.NextDouble() * 2) - 1);
                }
            }
        }

        return AudioSongWindows.FromValues(windows, Frames, Coefficients, new AudioSongOptions());
    }

    // Listeners 1 and 2 play rising warm songs, 3 and 4 falling ones (12 each); listener 5 plays one song.
    private static IDataView OrderPlays(MLContext ml)
    {
        var rows = new List<(uint, uint, float)>();
        for (int u = 0; u < 4; u++)
        {
            bool likesRising = u < 2;
            var songs = Enumerable.Range(0, WarmCount).Where(s => Rises(s) == likesRising).Skip(u % 2 * 6).Take(12);
            rows.AddRange(songs.Select(s => ((uint)u + 1, (uint)s + 1, 1f)));
        }

        rows.Add((5, 2, 1f));
        return PlayLogs.Make(ml, 5, SongCount, [.. rows]);
    }

    private static TimeConvLstmOptions SmallListener() => new()
    {
        Epochs = 12, TrainingWindowStride = 1, ValidationFraction = 0, ConvolutionForm = ConvolutionForm.Conv1dAllCoefficients,
        ConvolutionLayers = 1, Channels = 4, LstmHiddenSize = 8, BatchSize = 8, Device = TorchDevice.Cpu,
    };

    private static float[] AllScores(PerListenerAudioModel scorer)
    {
        var scores = new float[scorer.UserCount * scorer.SongCount];
        scorer.ScoreUsers(0, scorer.UserCount, scores);
        return scores;
    }

    // AUC of the cold songs of the listener's direction against the others, by the model's scores.
    private static double ColdAuc(float[] scores, int user, bool likesRising)
    {
        var row = scores.AsSpan(user * SongCount, SongCount).ToArray();
        var cold = Enumerable.Range(WarmCount, SongCount - WarmCount).ToArray();
        var liked = cold.Where(s => Rises(s) == likesRising).Select(s => row[s]).ToArray();
        var other = cold.Where(s => Rises(s) != likesRising).Select(s => row[s]).ToArray();
        return liked.SelectMany(l => other.Select(o => l > o ? 1.0 : l == o ? 0.5 : 0.0)).Average();
    }

    [Theory]
    [InlineData(1024)] // every window of a listener's songs fits the shuffle buffer
    [InlineData(6)] // two songs' windows: the songs must reach the trainer in a shuffled order, not liked ones first
    public void EachListenersModelLearnsTheOrderTheyLikeOnColdSongs(int shuffleBufferSize)
    {
        var ml = new MLContext(1);
        var songs = OrderWindows();
        // The two directions have the same window statistics: an order-blind model cannot tell them apart.
        var stats = ContentSongFeatures.MfccStatistics(songs, standardize: false);
        double meanGap = Math.Abs(stats.Where((_, s) => Rises(s)).Average(v => v[0]) - stats.Where((_, s) => !Rises(s)).Average(v => v[0]));
        Assert.True(meanGap < 0.1, $"mean of coefficient 0, rising - falling: {meanGap:0.000}");

        var listener = SmallListener();
        listener.ShuffleBufferSize = shuffleBufferSize;
        var model = ml.Audio().Recommendation.Trainers.PerListenerAudio(songs, new PerListenerAudioOptions { Seed = 3, Listener = listener }).Fit(OrderPlays(ml));
        var scores = AllScores(model);

        Assert.All(new[] { (0, true), (1, true), (2, false), (3, false) }, p =>
            Assert.True(ColdAuc(scores, p.Item1, p.Item2) >= 0.9, $"listener {p.Item1 + 1}: cold AUC {ColdAuc(scores, p.Item1, p.Item2):0.00}"));
        Assert.All(scores, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(5, model.ListenersWithModel);
    }

    [Fact]
    public void ListenerSongsReachTheTrainerShuffledNotLikedOnesFirst()
    {
        // TimeConvLstm streams songs in row order through a shuffle buffer of ShuffleBufferSize windows: with whole real
        // tracks (about 47 windows each) a listener's 24 liked songs alone fill it, so rows of liked songs first would
        // train every epoch on liked windows, then on unliked ones (on real recordings the per-listener AUC fell from
        // 0.56 to 0.50 that way).
        var liked = Enumerable.Range(0, 12).ToHashSet();
        int[] unliked = [.. Enumerable.Range(100, 48)];
        var rows = PerListenerAudioTrainer.TrainingRows(liked, unliked, new Random(5));

        Assert.Equal(liked.Order(), rows.Where(r => r.Label).Select(r => r.Song).Order());
        Assert.Equal(unliked, rows.Where(r => !r.Label).Select(r => r.Song).Order());
        int likedInFirstQuarter = rows.Take(rows.Length / 4).Count(r => r.Label);
        int likedInLastQuarter = rows.Skip(3 * rows.Length / 4).Count(r => r.Label);
        Assert.InRange(likedInFirstQuarter, 1, 8);
        Assert.InRange(likedInLastQuarter, 1, 8);
        Assert.NotEqual(rows, PerListenerAudioTrainer.TrainingRows(liked, unliked, new Random(6)));
    }

    [Fact]
    public void ListenersBelowTheMinimumGetNoModelAndScoreZero()
    {
        var ml = new MLContext(1);
        var listener = SmallListener();
        listener.Epochs = 1;
        var model = ml.Audio().Recommendation.Trainers.PerListenerAudio(OrderWindows(), new PerListenerAudioOptions { Seed = 3, MinimumPlays = 2, Listener = listener })
            .Fit(OrderPlays(ml));

        Assert.False(model.HasListenerModel(5));
        Assert.True(model.HasListenerModel(1));
        Assert.Equal(4, model.ListenersWithModel);
        var scores = AllScores(model);
        Assert.All(scores.AsSpan(4 * SongCount, SongCount).ToArray(), v => Assert.Equal(0f, v));
        Assert.Contains(scores.AsSpan(0, SongCount).ToArray(), v => v != 0f);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.HasListenerModel(6));
    }

    [Fact]
    public void ScoreColumnEqualsScoreUsersAndProgressCountsListeners()
    {
        var ml = new MLContext(1);
        var listener = SmallListener();
        listener.Epochs = 2;
        var epochs = new List<TrainingProgress>();
        listener.Progress = new SyncProgress(epochs.Add);
        var reports = new List<TrainingProgress>();
        var model = ml.Audio().Recommendation.Trainers.PerListenerAudio(OrderWindows(), new PerListenerAudioOptions
        {
            Seed = 3, Listener = listener, Progress = new SyncProgress(reports.Add),
        }).Fit(OrderPlays(ml));

        Assert.Equal([1, 2, 3, 4, 5], reports.Select(r => r.Epoch));
        Assert.All(reports, r => Assert.Equal((5, "PerListenerAudio"), (r.TotalEpochs!.Value, r.Trainer)));
        Assert.All(reports, r => Assert.True(double.IsFinite(r.TrainingLoss)));
        Assert.Equal(5 * 2, epochs.Count); // every listener's epochs reach the listener options' receiver
        var pairs = MultiUserAudioPersistenceTests.AllPairs(ml, 5, SongCount);
        Assert.Equal(AllScores(model), PlayLogs.Floats(model.Transform(pairs), "Score"));
    }

    [Fact]
    public void OptionsAreCheckedTogetherAndCopied()
    {
        var ml = new MLContext(1);
        var listener = SmallListener();
        listener.Seed = 4;
        listener.CheckpointDirectory = "ckpt";
        listener.BatchSize = 0;
        var e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.PerListenerAudio(OrderWindows(), new PerListenerAudioOptions
        {
            NegativesPerPlay = 0, MinimumPlays = 0, SongWindowsColumnName = " ", Listener = listener,
        }));
        foreach (string field in new[] { "NegativesPerPlay", "MinimumPlays", "SongWindowsColumnName", "Listener.Seed", "Listener.CheckpointDirectory", "BatchSize" })
        {
            Assert.Contains(field, e.Message, StringComparison.Ordinal);
        }

        // Changing the options after the trainer is made changes nothing.
        var small = SmallListener();
        small.Epochs = 1;
        var options = new PerListenerAudioOptions { Seed = 3, Listener = small };
        var trainer = ml.Audio().Recommendation.Trainers.PerListenerAudio(OrderWindows(), options);
        var before = AllScores(trainer.Fit(OrderPlays(ml)));
        options.NegativesPerPlay = 1;
        options.Seed = 9;
        small.Epochs = 3;
        Assert.Equal(before, AllScores(trainer.Fit(OrderPlays(ml))));
        Assert.NotEqual(before, AllScores(ml.Audio().Recommendation.Trainers.PerListenerAudio(OrderWindows(), options).Fit(OrderPlays(ml))));
    }

    [Fact]
    public void SongKeysOfAnotherCountAreRefusedNamingTheColumn()
    {
        var ml = new MLContext(1);
        var trainer = ml.Audio().Recommendation.Trainers.PerListenerAudio(OrderWindows(), new PerListenerAudioOptions { Seed = 3, Listener = SmallListener() });

        var e = Assert.Throws<ArgumentException>(() => trainer.Fit(PlayLogs.Make(ml, 2, SongCount - 1, (1, 1, 1), (2, 2, 1))));

        Assert.Contains("'SongId'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{SongCount}", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>Reports progress synchronously (Progress&lt;T&gt; posts to the thread pool, so values could arrive late).</summary>
internal sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
