using Microsoft.ML;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The audio -> factors recommender as an ML.NET estimator (<c>ml.Audio().Recommendation.Trainers.AudioFactorRegression</c>):
/// the same model as fitting the two models and regressing by hand, cold songs scored, the Score column, clear errors.
/// Synthetic windows and plays (no rendering): 12 users, 10 songs of which 9 and 10 are never played.
/// </summary>
public sealed class AudioFactorRegressionTests
{
    private const int Frames = 16, Coefficients = 3, Users = 12, Songs = 10;
    private static readonly uint[] Cold = [9, 10];

    private static IDataView Plays(MLContext ml, string user = "UserId", string song = "SongId", string label = "Label")
    {
        var plays = PlayLogs.FourPlaysEach(ml, Users, Songs);
        return ml.Transforms.CopyColumns(user, "UserId").Append(ml.Transforms.CopyColumns(song, "SongId")).Append(ml.Transforms.CopyColumns(label, "Label"))
            .Fit(plays).Transform(plays);
    }

    private static AudioSongWindows Windows() => PlayLogs.SyntheticWindows(Songs, Frames, Coefficients);

    private static ImplicitMatrixFactorizationOptions Als(string user = "UserId", string song = "SongId", string label = "Label") => new()
    {
        MatrixColumnIndexColumnName = user, MatrixRowIndexColumnName = song, LabelColumnName = label, ApproximationRank = 3, NumberOfIterations = 4, Device = TorchDevice.Cpu, Seed = 3,
    };

    private static MultiUserAudioOptions Audio(string user = "UserId", string song = "SongId", string label = "Label") => new()
    {
        MatrixColumnIndexColumnName = user, MatrixRowIndexColumnName = song, LabelColumnName = label,
        EmbeddingSize = 4, Channels = 2, ConvolutionLayers = 2, Epochs = 2, BatchSize = 8, Device = TorchDevice.Cpu, Seed = 4,
    };

    private static float[] AllScores(AudioFactorRegressionModel scorer)
    {
        var scores = new float[scorer.UserCount * scorer.SongCount];
        scorer.ScoreUsers(0, scorer.UserCount, scores);
        return scores;
    }

    // A context, its plays, and weighted ALS and the multi-user audio model fitted on them (the audio model is the caller's to dispose).
    private static (MLContext Ml, IDataView Plays, ImplicitMatrixFactorizationModel Mf, MultiUserAudioModel Audio) FittedPair()
    {
        var ml = new MLContext(1);
        var plays = Plays(ml);
        return (ml, plays, ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(Als()).Fit(plays), ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), Audio()).Fit(plays));
    }

    [Fact]
    public void FittedModelsFormGivesTheStaticFitsModelBitForBit()
    {
        var (ml, plays, mf, audio) = FittedPair();
        using var _ = audio;

        var expected = AudioFactorRegressionModel.Fit(mf, audio, ridge: 0.5);
        var model = ml.Audio().Recommendation.Trainers.AudioFactorRegression(mf, audio, new AudioFactorRegressionOptions { Ridge = 0.5 }).Fit(plays);

        Assert.Equal(AllScores(expected), AllScores(model));
        Assert.All(Enumerable.Range(1, Songs), s => Assert.Equal(expected.GetPredictedSongFactors((uint)s), model.GetPredictedSongFactors((uint)s)));
        Assert.NotEqual(AllScores(expected), AllScores(AudioFactorRegressionModel.Fit(mf, audio, ridge: 50)));
    }

    [Fact]
    public void TrainingFormEqualsFittingBothModelsThenRegressingOnColumnsOfItsOwn()
    {
        // Plays under other column names: the options' names reach both nested trainers (theirs are not read).
        var ml = new MLContext(1);
        var plays = Plays(ml, "UserKey", "SongKey", "Plays");
        var model = ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), new AudioFactorRegressionOptions
        {
            MatrixColumnIndexColumnName = "UserKey", MatrixRowIndexColumnName = "SongKey", LabelColumnName = "Plays",
            Factorization = Als(), Audio = Audio(),
        }).Fit(plays);

        var mf = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(Als("UserKey", "SongKey", "Plays")).Fit(plays);
        using var audio = ml.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), Audio("UserKey", "SongKey", "Plays")).Fit(plays);
        var expected = AudioFactorRegressionModel.Fit(mf, audio);

        Assert.Equal(AllScores(expected), AllScores(model));
        Assert.Equal(("UserKey", "SongKey"), (model.UserColumnName, model.SongColumnName));
    }

    [Fact]
    public void NullNestedSeedsAreDrawnFromTheContextFactorizationFirst()
    {
        var als = Als();
        als.Seed = null;
        var audioOptions = Audio();
        audioOptions.Seed = null;
        var ml = new MLContext(8);
        var model = ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), new AudioFactorRegressionOptions { Factorization = als, Audio = audioOptions }).Fit(Plays(ml));

        var byHand = new MLContext(8);
        var mfTrainer = byHand.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(als);
        var audioTrainer = byHand.Audio().Recommendation.Trainers.MultiUserAudio(Windows(), audioOptions);
        using var audio = audioTrainer.Fit(Plays(byHand));
        Assert.Equal(AllScores(AudioFactorRegressionModel.Fit(mfTrainer.Fit(Plays(byHand)), audio)), AllScores(model));
    }

    [Fact]
    public void ColdSongsGetPredictedFactorsAndScoresInTheScoreColumn()
    {
        var ml = new MLContext(1);
        var plays = Plays(ml);
        var model = ml.Audio().Recommendation.Trainers.AudioFactorRegression(Windows(), new AudioFactorRegressionOptions { Factorization = Als(), Audio = Audio() }).Fit(plays);
        var all = AllScores(model);
        Assert.All(all, v => Assert.True(float.IsFinite(v)));
        foreach (uint cold in Cold)
        {
            Assert.Contains(model.GetPredictedSongFactors(cold), v => v != 0);
        }

        Assert.True(Cold.Select(k => all[k - 1]).Distinct().Count() > 1, "audio tells the cold songs apart");

        // The Score column of every (user, song) pair, cold songs included, is ScoreUsers' number (a float64 dot product
        // against a float32 matrix product: equal within rounding); a missing key scores 0.
        var pairs = MultiUserAudioPersistenceTests.AllPairs(ml, Users, Songs);
        var column = PlayLogs.Floats(model.Transform(pairs), "Score");
        Assert.Equal(all.Length, column.Length);
        for (int i = 0; i < all.Length; i++)
        {
            Assert.Equal(all[i], column[i], 1e-5f);
        }

        var missing = PlayLogs.MakeZeroBased(ml, Users, Songs, (Users + 5, 1, 1));
        Assert.Equal([0f], PlayLogs.Floats(model.Transform(missing), "Score"));
    }

    [Fact]
    public void BadColumnsAndMismatchedInputsAreNamed()
    {
        var (ml, plays, mf, audio) = FittedPair();
        using var _ = audio;
        var trainers = ml.Audio().Recommendation.Trainers;

        // A plays column that is not there, at Fit and at GetOutputSchema.
        var trainer = trainers.AudioFactorRegression(mf, audio, new AudioFactorRegressionOptions { MatrixColumnIndexColumnName = "UserKey" });
        var e = Assert.Throws<ArgumentException>(() => trainer.Fit(plays));
        Assert.Contains("'UserKey'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => trainer.GetOutputSchema(PlayLogs.KeyedPlaysShape(ml)));
        Assert.Contains("'UserKey'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => trainers.AudioFactorRegression(mf, audio, new AudioFactorRegressionOptions { LabelColumnName = "Plays" }).Fit(plays));
        Assert.Contains("'Plays'", e.Message, StringComparison.Ordinal);

        // Keys of another count than the fitted models': both columns named, and the fix.
        var fewerSongs = PlayLogs.Make(ml, Users, Songs - 1, (1, 1, 1));
        e = Assert.Throws<ArgumentException>(() => trainers.AudioFactorRegression(mf, audio).Fit(fewerSongs));
        Assert.Contains("'SongId'", e.Message, StringComparison.Ordinal);
        Assert.Contains("MapValueToKey", e.Message, StringComparison.Ordinal);

        // Settings for models it will not train.
        e = Assert.Throws<ArgumentException>(() => trainers.AudioFactorRegression(mf, audio, new AudioFactorRegressionOptions { Audio = Audio() }));
        Assert.Contains("AudioFactorRegressionOptions.Audio", e.Message, StringComparison.Ordinal);

        // The songs as a data view without the windows column.
        e = Assert.Throws<ArgumentException>(() => trainers.AudioFactorRegression(plays, new AudioFactorRegressionOptions()));
        Assert.Contains("'Windows'", e.Message, StringComparison.Ordinal);

        // The output schema of good columns: the input plus Score.
        var shape = trainers.AudioFactorRegression(mf, audio).GetOutputSchema(PlayLogs.KeyedPlaysShape(ml));
        Assert.Contains(shape, c => c.Name == "Score");
    }

    [Fact]
    public void WarmSongsAreThosePlayedInTheInput()
    {
        // Regressing over fewer warm songs (only the first users' plays) gives another map than over all of them.
        var (ml, plays, mf, audio) = FittedPair();
        using var _ = audio;
        var some = PlayLogs.Make(ml, Users, Songs, (1, 2, 1), (1, 3, 1), (2, 4, 1), (2, 5, 1), (3, 6, 1));
        var all = ml.Audio().Recommendation.Trainers.AudioFactorRegression(mf, audio).Fit(plays);
        var fewer = ml.Audio().Recommendation.Trainers.AudioFactorRegression(mf, audio).Fit(some);
        Assert.NotEqual(AllScores(all), AllScores(fewer));
        Assert.Equal(AllScores(AudioFactorRegressionModel.Fit(mf, audio)), AllScores(all));
    }
}
