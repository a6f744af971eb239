using Microsoft.ML;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Recommendation;

public class HybridRankerTests
{
    /// <summary>
    /// A catalog large beside the random negatives (20 of about 780 unplayed songs per user, as 200 of 5,000 at the
    /// sample's benchmark size), stacked as the sample does: 80% of each user's plays are "already played", the other 20%
    /// the ranker's labels. The features are the simulator's own play probabilities (the oracle) and popularity, so a
    /// ranker that learned the sampled data's true ordering ranks as well as the oracle alone.
    /// </summary>
    private static (double Hybrid, double Oracle) WarmNdcg(bool weightRandomNegatives)
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 800, UserCount = 150, MeanSongsPerUser = 20, PopularityExponent = 0.7, TasteStrength = 10, Seed = 1 });
        var split = new Random(2);
        var held = sim.Training.GroupBy(e => e.UserId).SelectMany(g => g.Skip(1).Where(_ => split.NextDouble() < 0.2)).ToHashSet();
        var basePlays = sim.Training.Where(e => !held.Contains(e)).ToArray();
        var training = sim.ToDataView(ml, sim.Training);
        var popularity = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(sim.ToDataView(ml, basePlays));
        var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions
            {
                Features = [new HybridFeature("Oracle", sim), new HybridFeature("Popularity", popularity)],
                RandomNegativesPerUser = 20, TopCandidatesPerFeature = 10, WeightRandomNegatives = weightRandomNegatives, Seed = 1,
            })
            .Fit(sim.ToDataView(ml, held), sim.ToDataView(ml, basePlays));
        var options = new RecommendationEvaluationOptions { CandidateSongKeys = sim.WarmSongKeys.ToArray() };
        var test = sim.ToDataView(ml, sim.WarmTest);
        return (ml.Audio().Recommendation.Evaluate(hybrid, test, training, options).NdcgAtK, ml.Audio().Recommendation.Evaluate(sim, test, training, options).NdcgAtK);
    }

    [Fact]
    public void WeightedRandomNegativesKeepTheRankerAtTheTopOfItsBestFeature()
    {
        var (weighted, oracle) = WarmNdcg(weightRandomNegatives: true);
        var (unweighted, _) = WarmNdcg(weightRandomNegatives: false);

        // Measured: oracle 0.308, weighted 0.271, unweighted 0.084 (the held-out plays outside the top lists, all kept
        // while other songs are sampled at 1 in 39, taught the unweighted ranker to push songs out of the oracle's top).
        Assert.True(weighted >= 0.75 * oracle, $"weighted hybrid NDCG@10 {weighted:0.000} against the oracle's {oracle:0.000}");
        Assert.True(unweighted < 0.6 * weighted, $"unweighted {unweighted:0.000} against weighted {weighted:0.000}");
    }

    private static readonly ListeningSimulatorOptions Small = new() { SongCount = 120, UserCount = 40, MeanSongsPerUser = 10, Seed = 1 };

    private static HybridRankerOptions SmallRanker() => new() { RandomNegativesPerUser = 10, TopCandidatesPerFeature = 5, MinimumExampleCountPerLeaf = 5, NumberOfIterations = 5, Seed = 3 };

    private static float[] AllScores(HybridRankerModel scorer)
    {
        var scores = new float[scorer.UserCount * scorer.SongCount];
        scorer.ScoreUsers(0, scorer.UserCount, scores);
        return scores;
    }

    private static HybridFeatureTrainer[] CollaborativeTrainers(MLContext ml) =>
    [
        new("MF", ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization(new ImplicitMatrixFactorizationOptions
            { MatrixColumnIndexColumnName = "UserId", MatrixRowIndexColumnName = "SongId", ApproximationRank = 4, NumberOfIterations = 3, Seed = 2 })),
        new("ItemCF", ml.Audio().Recommendation.Trainers.ItemBasedCollaborativeFiltering("Label", "UserId", "SongId", numberOfNeighbors: 10)),
        new("Popularity", ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId")),
    ];

    [Fact]
    public void FeatureTrainersStackAsFittingTheFeaturesByHandDoes()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(Small);
        var plays = sim.ToDataView(ml, sim.Training);
        var trainers = CollaborativeTrainers(ml);
        var options = SmallRanker();
        options.FeatureTrainers = trainers;
        using var stacked = ml.Audio().Recommendation.Trainers.HybridRanker(options).Fit(plays);

        // By hand: the same split, the feature models fitted on the base plays, the ranker on the held-out plays (base
        // plays left out of its candidates), then the features refitted on every play.
        var (basePlays, heldOut) = HybridRankerTrainer.SplitForStacking(PlayMatrix.Read(plays, "UserId", "SongId", "Label"), HybridRankerOptions.Defaults.HeldOutFraction, 3);
        var baseView = HybridRankerTrainer.PlaysToDataView(ml, basePlays, "UserId", "SongId", "Label");
        var heldView = HybridRankerTrainer.PlaysToDataView(ml, heldOut, "UserId", "SongId", "Label");
        var byHandOptions = SmallRanker();
        byHandOptions.Features = trainers.Select(t => new HybridFeature(t.Name, (IUserSongScorer)t.Trainer.Fit(baseView))).ToArray();
        var byHand = ml.Audio().Recommendation.Trainers.HybridRanker(byHandOptions).Fit(heldView, baseView)
            .WithFeatures(trainers.Select(t => new HybridFeature(t.Name, (IUserSongScorer)t.Trainer.Fit(plays))).ToArray());

        var expected = AllScores(byHand);
        Assert.True(expected.Distinct().Count() > 10, "scores must vary for the comparison to mean anything");
        Assert.Equal(expected, AllScores(stacked));
        Assert.Equal(["MF", "ItemCF", "Popularity"], stacked.FeatureNames);

        // Fit(heldOut, alreadyPlayed) is for fitted features only.
        var e = Assert.Throws<InvalidOperationException>(() => ml.Audio().Recommendation.Trainers.HybridRanker(options).Fit(heldView, baseView));
        Assert.Contains("FeatureTrainers", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StackingHoldsOutAboutTheFractionAndKeepsEachUsersFirstPlay()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(Small);
        var plays = PlayMatrix.Read(sim.ToDataView(ml, sim.Training), "UserId", "SongId", "Label");
        var (basePlays, heldOut) = HybridRankerTrainer.SplitForStacking(plays, 0.3, 7);
        Assert.InRange(heldOut.NonZeroCount, 0.2 * plays.NonZeroCount, 0.35 * plays.NonZeroCount);
        Assert.Equal(plays.NonZeroCount, basePlays.NonZeroCount + heldOut.NonZeroCount);
        for (int u = 0; u < plays.UserCount; u++)
        {
            var songs = plays.SongsOf(u).ToArray();
            Assert.Equal(songs, basePlays.SongsOf(u).ToArray().Concat(heldOut.SongsOf(u).ToArray()).Order());
            if (songs.Length > 0)
            {
                Assert.Equal(songs[0], basePlays.SongsOf(u)[0]);
            }
        }

        Assert.NotEqual(heldOut.SongIndex, HybridRankerTrainer.SplitForStacking(plays, 0.3, 8).HeldOut.SongIndex);
    }

    /// <summary>A feature trainer that keeps a copy of every play log it is fitted on, then fits the trainer it wraps.</summary>
    private sealed class RecordingTrainer(IEstimator<ITransformer> inner) : IEstimator<ITransformer>
    {
        public List<PlayMatrix> Seen { get; } = [];

        public ITransformer Fit(IDataView input)
        {
            Seen.Add(PlayMatrix.Read(input, "UserId", "SongId", "Label"));
            return inner.Fit(input);
        }

        public SchemaShape GetOutputSchema(SchemaShape inputSchema) => inner.GetOutputSchema(inputSchema);
    }

    [Fact]
    public void ColdLikeSongsArePlayedOnlyInTheRankersLabels()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(Small);
        var plays = sim.ToDataView(ml, sim.Training);
        var all = PlayMatrix.Read(plays, "UserId", "SongId", "Label");
        var recorder = new RecordingTrainer(ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId"));
        var options = SmallRanker();
        options.FeatureTrainers = [new("MF", CollaborativeTrainers(ml)[0].Trainer), new("Popularity", recorder)];
        options.ColdLikeSongFraction = 0.3;
        using var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(options).Fit(plays);

        // The trainer's split (seed 3, the ranker's): 30% of the played songs, rounded, lose every play to the labels.
        var (basePlays, heldOut, coldLike) = HybridRankerTrainer.SplitForStacking(all, HybridRankerOptions.Defaults.HeldOutFraction, 3, 0.3);
        int played = Enumerable.Range(0, all.SongCount).Count(s => all.PlayCountOfSong(s) > 0);
        Assert.Equal((int)Math.Round(0.3 * played, MidpointRounding.AwayFromZero), coldLike.Length);
        Assert.All(coldLike, s => Assert.True(all.PlayCountOfSong(s) > 0));

        // What the feature trainer saw: first the base plays, without a single play of a cold-like song, then every play.
        Assert.Equal(2, recorder.Seen.Count);
        Assert.Equal(basePlays.SongIndex, recorder.Seen[0].SongIndex);
        Assert.All(coldLike, s => Assert.Equal(0, recorder.Seen[0].PlayCountOfSong(s)));
        Assert.Equal(all.SongIndex, recorder.Seen[1].SongIndex);
        Assert.Equal(all.NonZeroCount, basePlays.NonZeroCount + heldOut.NonZeroCount);
        Assert.All(coldLike, s => Assert.Equal(all.PlayCountOfSong(s), heldOut.PlayCountOfSong(s)));

        // The ranker's rows hold every play of a cold-like song as a positive, and cold-like songs as negatives too.
        var rows = ml.Data.CreateEnumerable<CandidateRow>(hybrid.TrainingData, reuseRowObject: false).ToArray();
        var coldLikeSet = coldLike.ToHashSet();
        int coldPlays = coldLike.Sum(all.PlayCountOfSong);
        Assert.Equal(coldPlays, rows.Count(r => r.Label == 1 && coldLikeSet.Contains(r.SongIndex)));
        int coldNegatives = rows.Count(r => r.Label == 0 && coldLikeSet.Contains(r.SongIndex));
        Assert.True(coldNegatives >= coldLike.Length, $"cold-like songs are negatives too (random or top songs of users who did not play them): {coldNegatives} rows");

        // No cold-like songs: the split of the three-argument overload, draw for draw.
        var (plainBase, plainHeld) = HybridRankerTrainer.SplitForStacking(all, 0.2, 3);
        var zero = HybridRankerTrainer.SplitForStacking(all, 0.2, 3, 0);
        Assert.Empty(zero.ColdLikeSongs);
        Assert.Equal(plainBase.SongIndex, zero.Base.SongIndex);
        Assert.Equal(plainHeld.SongIndex, zero.HeldOut.SongIndex);
    }

    private sealed class CandidateRow
    {
        public int SongIndex { get; set; }

        public float Label { get; set; }
    }

    /// <summary>
    /// Cold-split NDCG@10 and AUC of the hybrid stacked over a content model (song set over the simulator's attribute
    /// vectors, standing in for audio: it scores cold songs), MF and popularity (missing on cold songs), and of the
    /// content model alone on every training play. 300 songs x 150 users, the sample's small size and simulator settings.
    /// </summary>
    private static (RecommendationMetrics Hybrid, RecommendationMetrics Content) ColdRanking(double coldLikeSongFraction, int simulatorSeed)
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 300, UserCount = 150, MeanSongsPerUser = 20, PopularityExponent = 0.7, TasteStrength = 10, Seed = simulatorSeed });
        var attributes = Enumerable.Range(1, sim.SongCount).Select(k => sim.AttributeVector((uint)k)).ToArray();
        var training = sim.ToDataView(ml, sim.Training);
        var content = ml.Audio().Recommendation.Trainers.SongSet(attributes);
        var collaborative = CollaborativeTrainers(ml);
        using var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(new HybridRankerOptions
        {
            FeatureTrainers = [new("Content", content), collaborative[0], collaborative[2]],
            ColdLikeSongFraction = coldLikeSongFraction,
            TopCandidatesPerFeature = 10,
            Seed = 1,
        }).Fit(training);
        var options = new RecommendationEvaluationOptions { CandidateSongKeys = sim.ColdSongKeys.ToArray() };
        var test = sim.ToDataView(ml, sim.ColdTest);
        return (ml.Audio().Recommendation.Evaluate(hybrid, test, training, options), ml.Audio().Recommendation.Evaluate(content.Fit(training), test, training, options));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void ColdLikePositivesTeachTheRankerToRankColdSongsByTheFeatureThatScoresThem(int simulatorSeed)
    {
        var (withColdLike, content) = ColdRanking(0.2, simulatorSeed);
        var (without, _) = ColdRanking(0, simulatorSeed);

        // Measured (NDCG@10 / AUC): seed 1: content 0.334 / 0.748, cold-like 0.2 0.292 / 0.736, none 0.041 / 0.365;
        // seed 3: 0.317 / 0.733, 0.298 / 0.728, 0.154 / 0.436. Without cold-like songs the only songs with missing MF
        // and popularity the ranker meets are negatives, among them the content model's favourites: it learns to rank
        // cold songs against the content model (AUC below 0.5). With them it ranks cold songs nearly as the content
        // model does (trees give ties and coarse steps, hence the tolerance).
        Assert.True(withColdLike.Auc >= content.Auc - 0.02, $"cold AUC with cold-like songs {withColdLike.Auc:0.000} against the content model's {content.Auc:0.000}");
        Assert.True(withColdLike.NdcgAtK >= content.NdcgAtK - 0.05, $"cold NDCG@10 with cold-like songs {withColdLike.NdcgAtK:0.000} against the content model's {content.NdcgAtK:0.000}");
        Assert.True(without.Auc < withColdLike.Auc - 0.2, $"cold AUC without cold-like songs {without.Auc:0.000} against {withColdLike.Auc:0.000} with");
        Assert.True(without.NdcgAtK < 0.6 * withColdLike.NdcgAtK, $"cold NDCG@10 without cold-like songs {without.NdcgAtK:0.000} against {withColdLike.NdcgAtK:0.000} with");
    }

    [Fact]
    public void TheScoreColumnIsScoreUsersAndColdSongsAreScored()
    {
        // The oracle scores cold songs (as an audio model does); popularity cannot (negative infinity, a missing feature).
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(Small);
        var held = sim.Training.Where((_, i) => i % 4 == 0).ToHashSet();
        var basePlays = sim.ToDataView(ml, sim.Training.Where(e => !held.Contains(e)).ToArray());
        var options = SmallRanker();
        options.Features = [new HybridFeature("Oracle", sim), new HybridFeature("Popularity", ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(basePlays))];
        var trainer = ml.Audio().Recommendation.Trainers.HybridRanker(options);
        var hybrid = trainer.Fit(sim.ToDataView(ml, held), basePlays);

        var all = AllScores(hybrid);
        var cold = sim.ColdSongKeys;
        Assert.NotEmpty(cold);
        Assert.All(all, v => Assert.True(float.IsFinite(v)));
        Assert.True(cold.Select(k => all[k - 1]).Distinct().Count() > 1, "cold songs are told apart by the feature that scores them");

        // Rows in an order that switches users back and forth (each cursor caches one user's scores).
        var rows = Enumerable.Range(0, 300).Select(i => ((uint)((i * 7 % sim.UserCount) + 1), (uint)((i * 13 % sim.SongCount) + 1), 1f)).ToArray();
        var column = PlayLogs.Floats(hybrid.Transform(PlayLogs.Make(ml, sim.UserCount, sim.SongCount, rows)), "Score");
        Assert.Equal(rows.Select(r => all[((r.Item1 - 1) * sim.SongCount) + r.Item2 - 1]), column);
        Assert.Equal([0f], PlayLogs.Floats(hybrid.Transform(PlayLogs.MakeZeroBased(ml, sim.UserCount, sim.SongCount, (1, (uint)sim.SongCount + 3, 1))), "Score"));

        // Fit(plays) with fitted features is Fit(plays, null): nothing left out of the candidates.
        Assert.Equal(AllScores(trainer.Fit(sim.ToDataView(ml, held), null)), AllScores(trainer.Fit(sim.ToDataView(ml, held))));
    }

    [Fact]
    public void BadColumnsKeysAndFeaturesAreNamed()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator(Small);
        var plays = sim.ToDataView(ml, sim.Training);
        var options = SmallRanker();
        options.Features = [new HybridFeature("Oracle", sim)];
        options.UserColumnName = "UserKey";
        var trainer = ml.Audio().Recommendation.Trainers.HybridRanker(options);
        var e = Assert.Throws<ArgumentException>(() => trainer.Fit(plays));
        Assert.Contains("'UserKey'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => trainer.GetOutputSchema(PlayLogs.KeyedPlaysShape(ml)));
        Assert.Contains("'UserKey'", e.Message, StringComparison.Ordinal);

        // Plays keyed over another catalog than the feature models score.
        options.UserColumnName = "UserId";
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.HybridRanker(options).Fit(PlayLogs.Make(ml, sim.UserCount, sim.SongCount - 1, (1, 1, 1))));
        Assert.Contains("'SongId'", e.Message, StringComparison.Ordinal);
        Assert.Contains("MapValueToKey", e.Message, StringComparison.Ordinal);

        // Feature lists: both kinds, a repeated name, models of other shapes, a trainer whose model is not a scorer.
        void Refused(HybridRankerOptions bad, string field, string text)
        {
            var error = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.HybridRanker(bad));
            Assert.Contains(field + ":", error.Message, StringComparison.Ordinal);
            Assert.Contains(text, error.Message, StringComparison.Ordinal);
        }

        Refused(new HybridRankerOptions { Features = [new("Oracle", sim)], FeatureTrainers = CollaborativeTrainers(ml) }, "Features", "not both");
        Refused(new HybridRankerOptions { Features = [new("Oracle", sim), new("Oracle", sim.TasteOracle)] }, "Features", "'Oracle' twice");
        Refused(new HybridRankerOptions { Features = [new("Oracle", sim), new("Random", new RandomScorer(3, sim.SongCount, 1))] }, "Features", "'Random' scores 3 users");
        Refused(new HybridRankerOptions { FeatureTrainers = [], HeldOutFraction = 1 }, "HeldOutFraction", "below 1");
        Refused(new HybridRankerOptions { FeatureTrainers = CollaborativeTrainers(ml), ColdLikeSongFraction = 1 }, "ColdLikeSongFraction", "below 1; found 1");
        Refused(new HybridRankerOptions { FeatureTrainers = CollaborativeTrainers(ml), ColdLikeSongFraction = -0.1 }, "ColdLikeSongFraction", "0 or more");
        Refused(new HybridRankerOptions { FeatureTrainers = CollaborativeTrainers(ml), ColdLikeSongFraction = double.NaN }, "ColdLikeSongFraction", "found NaN");
        Refused(new HybridRankerOptions { Features = [new("Oracle", sim)], ColdLikeSongFraction = 0.2 }, "ColdLikeSongFraction", "FeatureTrainers");
        var notAScorer = new HybridRankerOptions { FeatureTrainers = [new("Copy", ml.Transforms.CopyColumns("Plays2", "Label"))] };
        e = Assert.Throws<ArgumentException>(() => ml.Audio().Recommendation.Trainers.HybridRanker(notAScorer).Fit(plays));
        Assert.Contains("'Copy'", e.Message, StringComparison.Ordinal);
        Assert.Contains("IUserSongScorer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AVersion1FileWithAnAudioFactorsBlockStillLoads()
    {
        // A ranker over audio -> factors and popularity, saved, then rewritten as hybrid format 1 wrote it: no key
        // columns in the manifest and the audio -> factors feature as its bare factors block (kind "audio-factors").
        var ml = new MLContext(seed: 1);
        var plays = PlayLogs.FourPlaysEach(ml, 12, 10);
        var factors = ml.Audio().Recommendation.Trainers.AudioFactorRegression(PlayLogs.SyntheticWindows(10), new AudioFactorRegressionOptions
        {
            Factorization = new ImplicitMatrixFactorizationOptions { ApproximationRank = 3, NumberOfIterations = 3, Seed = 1 },
            Audio = new MultiUserAudioOptions { EmbeddingSize = 4, Channels = 2, ConvolutionLayers = 2, Epochs = 1, BatchSize = 8, Seed = 1 },
        }).Fit(plays);
        var popularity = ml.Audio().Recommendation.Trainers.Popularity("Label", "UserId", "SongId").Fit(plays);
        var options = SmallRanker();
        options.Features = [new HybridFeature("AudioFactors", factors), new HybridFeature("Popularity", popularity)];
        options.MinimumExampleCountPerLeaf = 2;
        var hybrid = ml.Audio().Recommendation.Trainers.HybridRanker(options).Fit(plays);
        string path = Path.Combine(Path.GetTempPath(), "MLNetAudio.Tests", $"hybrid-v1-{Guid.NewGuid():N}.zip");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            ml.Audio().Model.SaveHybridRanker(hybrid, path);
            using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Update))
            {
                var manifestEntry = zip.GetEntry("hybrid.json")!;
                System.Text.Json.Nodes.JsonObject manifest;
                using (var reader = new StreamReader(manifestEntry.Open()))
                {
                    manifest = System.Text.Json.Nodes.JsonNode.Parse(reader.ReadToEnd())!.AsObject();
                }

                Assert.Equal(2, (int)manifest["formatVersion"]!);
                Assert.Equal("UserId", (string?)manifest["userColumn"]);
                manifest["formatVersion"] = 1;
                manifest.Remove("userColumn");
                manifest.Remove("songColumn");
                using var buffer = new MemoryStream();
                using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    factors.SaveFactors(writer);
                }

                var block = buffer.ToArray();
                var part = manifest["parts"]!.AsArray()[1]!.AsObject();
                Assert.Equal("AudioFactors", (string?)part["name"]);
                zip.GetEntry((string)part["entry"]!)!.Delete();
                part["kind"] = "audio-factors";
                part["entry"] = "features/000.bin";
                part["length"] = block.Length;
                part["sha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(block));
                using (var s = zip.CreateEntry("features/000.bin").Open())
                {
                    s.Write(block);
                }

                manifestEntry.Delete();
                using var m = new StreamWriter(zip.CreateEntry("hybrid.json").Open());
                m.Write(manifest.ToJsonString());
            }

            using var loaded = new MLContext(seed: 2).Audio().Model.LoadHybridRanker(path);
            Assert.IsType<AudioFactorRegressionModel>(loaded.Features[0].Scorer);
            Assert.Equal(("UserId", "SongId"), (loaded.UserColumnName, loaded.SongColumnName));
            var expected = AllScores(hybrid);
            Assert.True(expected.Distinct().Count() > 3, "scores must vary for the comparison to mean anything");
            Assert.Equal(expected, AllScores(loaded));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
