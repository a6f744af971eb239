using Microsoft.ML;
using MLNetAudio.Recommendation;

namespace MLNetAudio.Tests.Synthesis;

public sealed class ListeningSimulatorTests
{
    private static IEnumerable<(uint, uint, float)> Rows(IEnumerable<ListeningEvent> log) => log.Select(e => (e.UserId, e.SongId, e.Label));

    [Fact]
    public void SameSeedGivesTheSameDataAndAnotherSeedDoesNot()
    {
        var a = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 11 });
        var b = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 11 });
        var c = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 12 });

        Assert.Equal(Rows(a.Training), Rows(b.Training));
        Assert.Equal(Rows(a.WarmTest), Rows(b.WarmTest));
        Assert.Equal(Rows(a.ColdTest), Rows(b.ColdTest));
        Assert.Equal(a.Songs.Select(s => (s.TempoBpm, s.Register, s.Motif, string.Join(",", s.Instruments))), b.Songs.Select(s => (s.TempoBpm, s.Register, s.Motif, string.Join(",", s.Instruments))));
        Assert.Equal(a.Users, b.Users);
        Assert.NotEqual(Rows(a.Training), Rows(c.Training));
    }

    [Fact]
    public void PlaysAndRenderedSongsAreTheSameInANewProcess()
    {
        // A per-process random hash (HashCode.Combine) once seeded the renderer: each run heard other songs.
        string[] here = Tests.Data.FreshProcessEntryPoint.SimulationFingerprint(4).ToArray();
        string[] there = Tests.Data.FreshProcessLoadTests.RunFreshProcess(Tests.Data.FreshProcessEntryPoint.SimulateCommand, "4");
        Assert.Equal(13, here.Length);
        Assert.Equal(here, there);
        Assert.Equal(here.Length, here.Distinct().Count());
        Assert.NotEqual(here, Tests.Data.FreshProcessEntryPoint.SimulationFingerprint(5).ToArray());
    }

    [Fact]
    public void ColdSongsHaveNoTrainingPlaysAndAreAtLeastAFifthOfTheCatalog()
    {
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { ColdSongFraction = 0.2 });
        var cold = sim.ColdSongKeys.ToHashSet();
        Assert.True(cold.Count >= 0.2 * sim.SongCount);
        Assert.DoesNotContain(sim.Training, e => cold.Contains(e.SongId));
        Assert.DoesNotContain(sim.WarmTest, e => cold.Contains(e.SongId));
        Assert.All(sim.ColdTest, e => Assert.Contains(e.SongId, cold));
        Assert.NotEmpty(sim.ColdTest);
        Assert.Equal(sim.SongCount, cold.Count + sim.WarmSongKeys.Count);
    }

    [Fact]
    public void ColdSongsNeverReachMatrixFactorizationTraining()
    {
        var ml = new MLContext(seed: 1);
        var sim = new ListeningSimulator();
        var model = ml.Audio().Recommendation.Trainers.ImplicitMatrixFactorization("Label", "UserId", "SongId", 4, 3).Fit(sim.ToDataView(ml, sim.Training));
        Assert.All(sim.ColdSongKeys, k => Assert.False(model.IsSongKnown(k)));
        Assert.All(sim.ColdSongKeys, k => Assert.All(model.GetSongFactors(k), v => Assert.Equal(0f, v)));
        Assert.Contains(sim.WarmSongKeys, model.IsSongKnown);
    }

    [Fact]
    public void WarmTestPairsAreNeverTrainingPairs()
    {
        var sim = new ListeningSimulator();
        var training = sim.Training.Select(e => (e.UserId, e.SongId)).ToHashSet();
        Assert.NotEmpty(sim.WarmTest);
        Assert.DoesNotContain(sim.WarmTest, e => training.Contains((e.UserId, e.SongId)));
        Assert.All(sim.Training.Concat(sim.WarmTest).Concat(sim.ColdTest), e => Assert.True(e.Label >= 1));
    }

    [Fact]
    public void TheMostPopularTenthOfSongsGetsAPluralityOfPlays()
    {
        var sim = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 300, UserCount = 200 });
        var byPopularity = Enumerable.Range(0, sim.SongCount).OrderByDescending(s => sim.Popularity[s]).ToArray();
        var decile = new int[sim.SongCount];
        for (int rank = 0; rank < byPopularity.Length; rank++)
        {
            decile[byPopularity[rank]] = rank * 10 / sim.SongCount;
        }

        var plays = new double[10];
        foreach (var e in sim.Training.Concat(sim.WarmTest).Concat(sim.ColdTest))
        {
            plays[decile[e.SongId - 1]] += e.Label;
        }

        Assert.True(plays[0] > plays.Skip(1).Max(), $"plays by popularity decile: {string.Join(", ", plays)}");
        Assert.True(plays[0] > 2 * plays.Sum() / 10, $"plays by popularity decile: {string.Join(", ", plays)}");

        // Without popularity bias the top decile has no such lead.
        var flat = new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 300, UserCount = 200, PopularityExponent = 0 });
        Assert.True(flat.Popularity.All(p => p == 1));
    }

    [Fact]
    public void TasteOracleRanksByHiddenUtility()
    {
        var sim = new ListeningSimulator();
        var user = sim.Users[3];
        var scores = new float[sim.SongCount];
        sim.TasteOracle.ScoreUsers(3, 1, scores);
        var ranking = TopKMetrics.TopK(scores, sim.SongCount);
        Assert.Equal(sim.SongCount, ranking.Length);
        var utilities = ranking.Select(s => (float)user.Utility(sim.Songs[s])).ToArray();
        Assert.True(utilities.Zip(utilities.Skip(1)).All(p => p.First >= p.Second));
    }

    [Fact]
    public void OracleRanksByTasteWithinEqualPopularityAndByPopularityWithinEqualTaste()
    {
        var sim = new ListeningSimulator();
        var user = sim.Users[5];
        var position = sim.OracleRanking(user.Key).Select((key, rank) => (key, rank)).ToDictionary(p => (int)p.key - 1, p => p.rank);
        for (int a = 0; a < sim.SongCount; a++)
        {
            for (int b = 0; b < sim.SongCount; b++)
            {
                double ua = user.Utility(sim.Songs[a]), ub = user.Utility(sim.Songs[b]);
                if (ua > ub + 1e-6 && sim.Popularity[a] >= sim.Popularity[b])
                {
                    Assert.True(position[a] < position[b], $"song {a + 1} (utility {ua:F3}, popularity {sim.Popularity[a]:F4}) ranked below song {b + 1} ({ub:F3}, {sim.Popularity[b]:F4})");
                }
            }
        }
    }

    [Fact]
    public void PlaysFollowTaste()
    {
        // Users play songs they like more than songs at random: mean utility of played songs beats the catalog mean.
        var sim = new ListeningSimulator();
        double played = sim.Training.Average(e => sim.Users[(int)e.UserId - 1].Utility(sim.Songs[(int)e.SongId - 1]));
        double all = sim.Users.Average(u => sim.Songs.Average(u.Utility));
        Assert.True(played > all + 0.1, $"played {played:F3} vs catalog {all:F3}");
    }

    [Fact]
    public void AttributeVectorEncodesInstrumentsRegisterTempoAndMotif()
    {
        var sim = new ListeningSimulator();
        foreach (var song in sim.Songs.Take(20))
        {
            var v = sim.AttributeVector(song.Key);
            Assert.Equal(10, v.Length);
            Assert.Equal(song.Instruments.Count, v[..5].Sum());
            Assert.Equal(1f, v[5 + (int)song.Register]);
            Assert.Equal(1f, v[5..8].Sum());
            Assert.Equal((float)((song.TempoBpm - 60) / 120), v[8], 6);
            Assert.Equal(song.Motif is null ? 0f : song.Motif.Falling ? -1f : 1f, v[9]);
            Assert.DoesNotContain(MLNetAudio.Synthesis.Instrument.Sine, song.Instruments);
        }
    }

    [Fact]
    public void OptionsShapeTheData()
    {
        var noMotif = new ListeningSimulator(new ListeningSimulatorOptions { MotifProbability = 0 });
        Assert.All(noMotif.Songs, s => Assert.Null(s.Motif));
        Assert.Empty(new ListeningSimulator(new ListeningSimulatorOptions { WarmTestFraction = 0 }).WarmTest);

        var few = new ListeningSimulator(new ListeningSimulatorOptions { MeanSongsPerUser = 5 });
        var many = new ListeningSimulator(new ListeningSimulatorOptions { MeanSongsPerUser = 40 });
        Assert.True(many.Training.Count > 4 * few.Training.Count);

        // All noise: what users play no longer follows their taste.
        var noise = new ListeningSimulator(new ListeningSimulatorOptions { NoiseFraction = 1 });
        double played = noise.Training.Average(e => noise.Users[(int)e.UserId - 1].Utility(noise.Songs[(int)e.SongId - 1]));
        double all = noise.Users.Average(u => noise.Songs.Average(u.Utility));
        Assert.InRange(played - all, -0.03, 0.03);
    }

    [Fact]
    public void BadOptionsAreAllReported()
    {
        var e = Assert.Throws<ArgumentException>(() => new ListeningSimulator(new ListeningSimulatorOptions { SongCount = 3, ColdSongFraction = 0.1, NoiseFraction = 2 }));
        Assert.Contains("SongCount", e.Message);
        Assert.Contains("ColdSongFraction", e.Message);
        Assert.Contains("NoiseFraction", e.Message);
    }

    [Theory]
    [InlineData(TasteFocus.Instrument)]
    [InlineData(TasteFocus.Register)]
    [InlineData(TasteFocus.Tempo)]
    [InlineData(TasteFocus.Motif)]
    public void A_taste_focus_keeps_the_catalog_and_gives_every_user_that_one_attribute(TasteFocus focus)
    {
        var all = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 7 });
        var focused = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 7, TasteFocus = focus });

        // Same songs, popularity, cold split and favourites: only the weights (so the logs) change.
        Assert.Equal(all.Songs.Select(Describe), focused.Songs.Select(Describe));
        Assert.Equal(all.Popularity, focused.Popularity);
        Assert.Equal(all.ColdSongKeys, focused.ColdSongKeys);
        Assert.Equal(all.Users.Select(u => (u.FavoriteInstrument, u.FavoriteRegister, u.PreferredTempoBpm)), focused.Users.Select(u => (u.FavoriteInstrument, u.FavoriteRegister, u.PreferredTempoBpm)));
        Assert.NotEqual(Rows(all.Training), Rows(focused.Training));

        foreach (var user in focused.Users)
        {
            double[] weights = [user.InstrumentWeight, user.RegisterWeight, user.TempoWeight, user.MotifWeight];
            Assert.Equal(1.0, weights.Sum(), 12);
            Assert.Equal(1.0, weights[focus switch { TasteFocus.Instrument => 0, TasteFocus.Register => 1, TasteFocus.Tempo => 2, _ => 3 }]);
            foreach (var song in focused.Songs.Take(40))
            {
                double expected = focus switch
                {
                    TasteFocus.Instrument => song.Instruments.Contains(user.FavoriteInstrument) ? 1 : 0,
                    TasteFocus.Register => song.Register == user.FavoriteRegister ? 1 : 0,
                    TasteFocus.Tempo => Math.Exp(-Math.Pow((song.TempoBpm - user.PreferredTempoBpm) / 20, 2)),
                    _ => song.Motif is null ? 0 : 1,
                };
                Assert.Equal(expected, user.Utility(song), 12);
            }
        }

        // The logs follow the focused taste: played songs are liked more than the catalog on average.
        double played = focused.Training.Average(e => focused.Users[(int)e.UserId - 1].Utility(focused.Songs[(int)e.SongId - 1]));
        double catalog = focused.Users.Average(u => focused.Songs.Average(u.Utility));
        Assert.True(played > catalog + 0.1, $"{focus}: played {played:F3} vs catalog {catalog:F3}");
    }

    [Fact]
    public void Falling_motifs_change_only_the_motif_order_and_motif_order_tastes_split_users_by_it()
    {
        var rising = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 3, MotifProbability = 0.6 });
        var options = new ListeningSimulatorOptions { Seed = 3, MotifProbability = 0.6, FallingMotifShare = 0.5, TasteFocus = TasteFocus.MotifOrder };
        var order = new ListeningSimulator(options);

        Assert.All(rising.Songs, s => Assert.False(s.Motif?.Falling ?? false));
        Assert.Equal(rising.Songs.Select(Describe), order.Songs.Select(s => s with { Motif = s.Motif is null ? null : s.Motif with { Falling = false } }).Select(Describe));
        var motifs = order.Songs.Where(s => s.Motif is not null).ToArray();
        Assert.InRange(motifs.Count(s => s.Motif!.Falling) / (double)motifs.Length, 0.35, 0.65);
        Assert.InRange(order.Users.Count(u => u.PrefersFallingMotif) / (double)order.UserCount, 0.35, 0.65);

        foreach (var user in order.Users.Take(20))
        {
            Assert.Equal(1.0, user.MotifWeight);
            foreach (var song in order.Songs)
            {
                bool liked = song.Motif is { } m && m.Falling == user.PrefersFallingMotif;
                Assert.Equal(liked ? 1.0 : 0.0, user.Utility(song));
            }

            // The attribute vector tells the orders apart (+1 rising, -1 falling), so the attribute ceiling can too.
            foreach (var song in motifs.Take(10))
            {
                Assert.Equal(song.Motif!.Falling ? -1f : 1f, order.AttributeVector(song.Key)[9]);
            }
        }

        // Users who like falling motifs play falling ones more than rising ones, and the other way round.
        double Share(bool prefersFalling, bool falling) => order.Training
            .Where(e => order.Users[(int)e.UserId - 1].PrefersFallingMotif == prefersFalling)
            .Average(e => order.Songs[(int)e.SongId - 1].Motif is { } m && m.Falling == falling ? 1.0 : 0.0);
        Assert.True(Share(true, true) > 2 * Share(true, false), $"{Share(true, true):F3} vs {Share(true, false):F3}");
        Assert.True(Share(false, false) > 2 * Share(false, true), $"{Share(false, false):F3} vs {Share(false, true):F3}");
    }

    [Fact]
    public void A_falling_motif_renders_the_same_notes_in_the_other_order()
    {
        var song = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 3, MotifProbability = 1 }).Songs[0];
        var falling = song with { Motif = song.Motif! with { Falling = true } };
        var render = new AudioSongOptions { RenderSeconds = 8, SectionSeconds = 4 };
        var up = AudioSongRenderer.Render(song, render);
        var down = AudioSongRenderer.Render(falling, render);
        Assert.NotEqual(up, down);

        // The motif is 3 s: its notes' energy below and above the song's register sits in opposite halves.
        int sr = render.SampleRate;
        double motifSeconds = 3;
        double start = Math.Clamp(song.Motif!.StartSeconds / Math.Max(song.DurationSeconds - 8, 1), 0, 1) * (render.RenderSeconds - motifSeconds);
        var difference = up.Zip(down, (a, b) => (double)a - b).ToArray();
        double inside = difference.Skip((int)(start * sr)).Take((int)((motifSeconds + 0.5) * sr)).Sum(d => d * d);
        double total = difference.Sum(d => d * d);
        // Outside the motif only the peak normalisation's gain can differ, so most of the difference is inside.
        Assert.True(inside > 0.9 * total, $"inside {inside:F2} of {total:F2}");
    }

    [Fact]
    public void Frame_statistics_hardly_tell_the_motif_orders_apart_while_the_windows_do()
    {
        // What makes TasteFocus.MotifOrder a test of time structure: a song with its motif reversed has nearly the same
        // MFCC mean and deviation (the same notes for the same time), while the windows holding the motif differ.
        var simulator = new ListeningSimulator(new ListeningSimulatorOptions { Seed = 3, MotifProbability = 1 });
        var rising = simulator.Songs[0];
        var falling = rising with { Key = 2, Motif = rising.Motif! with { Falling = true } };
        var other = simulator.Songs[1] with { Key = 3 };
        var options = new AudioSongOptions { RenderSeconds = 8, UseCache = false };
        var songs = AudioSongWindows.Compute(new Microsoft.ML.MLContext(1), [rising, falling, other], options);
        var stats = ContentSongFeatures.MfccStatistics(songs, standardize: false);
        double Distance(float[] a, float[] b) => Math.Sqrt(a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum());

        double orders = Distance(stats[0], stats[1]), songsApart = Distance(stats[0], stats[2]);
        Assert.True(orders < 0.25 * songsApart, $"statistics: reversed motif {orders:F2}, another song {songsApart:F2}");

        // Window by window the two orders are far apart where the motif plays: the largest window difference is
        // several times the difference of the statistics.
        double windows = Enumerable.Range(0, songs.WindowCount(0)).Max(w => Distance(
            songs.Windows(0).Slice(w * songs.WindowSize, songs.WindowSize).ToArray(), songs.Windows(1).Slice(w * songs.WindowSize, songs.WindowSize).ToArray()));
        double perFrame = windows / Math.Sqrt(songs.FramesPerWindow);
        Assert.True(perFrame > 3 * orders, $"largest window difference per frame {perFrame:F2}, statistics {orders:F2}");
    }

    [Fact]
    public void Motif_order_without_both_orders_is_refused_naming_the_option()
    {
        var e = Assert.Throws<ArgumentException>(() => new ListeningSimulator(new ListeningSimulatorOptions { TasteFocus = TasteFocus.MotifOrder }));
        Assert.Contains("FallingMotifShare", e.Message);
        Assert.Contains("MotifOrder", e.Message);
        e = Assert.Throws<ArgumentException>(() => new ListeningSimulator(new ListeningSimulatorOptions { FallingMotifShare = 1.5, TasteFocus = (TasteFocus)42 }));
        Assert.Contains("FallingMotifShare", e.Message);
        Assert.Contains("TasteFocus", e.Message);
    }

    private static string Describe(SongDescription s) =>
        FormattableString.Invariant($"{s.Key}|{string.Join(",", s.Instruments)}|{s.Register}|{s.TempoBpm}|{s.DurationSeconds}|{s.Motif?.StartSeconds}|{s.Motif?.CarriedBy}|{s.Motif?.Falling}");
}
