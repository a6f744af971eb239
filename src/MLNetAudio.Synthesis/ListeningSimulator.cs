using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Synthesis;

namespace MLNetAudio.Recommendation;

/// <summary>The pitch register a song mostly sits in.</summary>
public enum PitchRegister
{
    /// <summary>Low.</summary>
    Low,

    /// <summary>Middle.</summary>
    Middle,

    /// <summary>High.</summary>
    High,
}

/// <summary>
/// Which attributes simulated users' tastes are built from (<see cref="ListeningSimulatorOptions.TasteFocus"/>): all of
/// them with random weights (the benchmark's setting), or one alone, so that a model can be measured per kind of taste.
/// </summary>
public enum TasteFocus
{
    /// <summary>Every user weighs instrument, register, tempo and (40% of users) the motif at random weights.</summary>
    All,

    /// <summary>Timbre: each user likes songs in which their favourite instrument plays, and nothing else.</summary>
    Instrument,

    /// <summary>Pitch: each user likes songs in their favourite register, and nothing else.</summary>
    Register,

    /// <summary>Time structure: each user likes songs near their preferred tempo (a Gaussian of width 20 bpm).</summary>
    Tempo,

    /// <summary>Time structure: every user likes songs holding the rising (low-then-high) motif.</summary>
    Motif,

    /// <summary>
    /// Time structure alone: half of the users like songs whose motif rises (low then high note), the other half songs
    /// whose motif falls (the same two notes, high then low). Needs <see cref="ListeningSimulatorOptions.FallingMotifShare"/>
    /// strictly between 0 and 1. The two orders have the same notes for the same time, so statistics over a song's
    /// frames (MFCC mean and deviation) cannot tell them apart; only the order of frames can.
    /// </summary>
    MotifOrder,
}

/// <summary>Where a song's A-then-B motif sits: its start time and the instrument (part) that carries it.</summary>
/// <param name="StartSeconds">Start of the motif in the song, in seconds.</param>
/// <param name="CarriedBy">The part that plays the motif; the song's other parts do not.</param>
public sealed record MotifPlacement(double StartSeconds, Instrument CarriedBy)
{
    /// <summary>
    /// True when the motif is played the other way round, the high note first (B then A): the same notes for the
    /// same time, in the opposite order. False (the default) for the rising A-then-B motif.
    /// </summary>
    public bool Falling { get; init; }
}

/// <summary>
/// An abstract description of a simulated song: what an audio renderer needs to synthesise it, and what users'
/// hidden tastes are defined on. Kept apart from any audio so that rendering can change without changing the
/// listening data.
/// </summary>
/// <param name="Key">The song's key (1-based, as in the SongId key column).</param>
/// <param name="Instruments">The parts present: instruments the synthesis generator can play (never <see cref="Instrument.Sine"/>).</param>
/// <param name="Register">The pitch register the song mostly sits in.</param>
/// <param name="TempoBpm">Tempo in beats per minute.</param>
/// <param name="DurationSeconds">Length of the song.</param>
/// <param name="Motif">The A-then-B motif, or null when the song has none.</param>
public sealed record SongDescription(uint Key, IReadOnlyList<Instrument> Instruments, PitchRegister Register, double TempoBpm, double DurationSeconds, MotifPlacement? Motif);

/// <summary>
/// A simulated user's hidden taste: weights (summing to 1) on a favourite instrument, a register, a tempo and the
/// A-then-B motif. The simulator draws plays from it; models never see it.
/// </summary>
/// <param name="Key">The user's key (1-based, as in the UserId key column).</param>
/// <param name="FavoriteInstrument">The instrument the user likes.</param>
/// <param name="InstrumentWeight">Weight of the instrument being present.</param>
/// <param name="FavoriteRegister">The register the user likes.</param>
/// <param name="RegisterWeight">Weight of the register matching.</param>
/// <param name="PreferredTempoBpm">The tempo the user likes.</param>
/// <param name="TempoWeight">Weight of the tempo's closeness (a Gaussian of width 20 bpm).</param>
/// <param name="MotifWeight">Weight of the motif being present in the order the user likes (0 for users indifferent to it).</param>
public sealed record UserTaste(
    uint Key, Instrument FavoriteInstrument, double InstrumentWeight, PitchRegister FavoriteRegister, double RegisterWeight,
    double PreferredTempoBpm, double TempoWeight, double MotifWeight)
{
    /// <summary>
    /// True when the motif the user likes is the falling one (<see cref="MotifPlacement.Falling"/>); false (the default)
    /// for the rising one. A motif in the other order counts as no motif.
    /// </summary>
    public bool PrefersFallingMotif { get; init; }

    /// <summary>How much the user likes <paramref name="song"/>, from 0 to 1: the taste oracle's score.</summary>
    public double Utility(SongDescription song)
    {
        ArgumentNullException.ThrowIfNull(song);
        double tempo = (song.TempoBpm - PreferredTempoBpm) / 20;
        return InstrumentWeight * (song.Instruments.Contains(FavoriteInstrument) ? 1 : 0)
            + RegisterWeight * (song.Register == FavoriteRegister ? 1 : 0)
            + TempoWeight * Math.Exp(-tempo * tempo)
            + MotifWeight * (song.Motif is { } motif && motif.Falling == PrefersFallingMotif ? 1 : 0);
    }
}

/// <summary>One row of a listening log: a user played a song some number of times.</summary>
public sealed class ListeningEvent
{
    /// <summary>The user's key (1-based).</summary>
    public uint UserId { get; set; }

    /// <summary>The song's key (1-based).</summary>
    public uint SongId { get; set; }

    /// <summary>How many times the user played the song.</summary>
    public float Label { get; set; }
}

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="ListeningSimulator"/>. The defaults make a small set for tests and demos.</summary>
public sealed class ListeningSimulatorOptions
{
    /// <summary>Songs in the catalog. Default 200 (the benchmark size is at least 5,000).</summary>
    public int SongCount = 200;

    /// <summary>Users. Default 100 (the benchmark size is at least 2,000).</summary>
    public int UserCount = 100;

    /// <summary>Seed of every random choice; the same options give the same data. Default 1.</summary>
    public int Seed = 1;

    /// <summary>Mean number of distinct songs a user plays (log-normally spread). Default 20.</summary>
    public double MeanSongsPerUser = 20;

    /// <summary>Zipf exponent s of the songs' hidden popularity, 1 / rank^s. 0 turns popularity bias off. Default 1.</summary>
    public double PopularityExponent = 1;

    /// <summary>How strongly taste drives choice: a song's weight is popularity x exp(TasteStrength x utility). Default 6.</summary>
    public double TasteStrength = 6;

    /// <summary>Share of plays drawn uniformly at random, regardless of taste and popularity. Default 0.1.</summary>
    public double NoiseFraction = 0.1;

    /// <summary>Share of songs held out of training entirely (the cold split); at least 0.2. Default 0.25.</summary>
    public double ColdSongFraction = 0.25;

    /// <summary>Share of each user's plays of warm songs held out as the warm test split. Default 0.2.</summary>
    public double WarmTestFraction = 0.2;

    /// <summary>Probability that a song holds an A-then-B motif. Default 0.3.</summary>
    public double MotifProbability = 0.3;

    /// <summary>
    /// Share of the motifs that fall (<see cref="MotifPlacement.Falling"/>: the high note first) instead of rising.
    /// Drawn from a generator of its own, so the catalog, popularity and splits are otherwise those of the same seed
    /// with the default 0 (no falling motifs: the benchmark's setting).
    /// </summary>
    public double FallingMotifShare;

    /// <summary>
    /// Which attributes users' tastes are built from. Default <see cref="TasteFocus.All"/> (the benchmark's setting).
    /// Each user's favourite instrument, register and tempo are drawn as under <see cref="TasteFocus.All"/>; a focus
    /// sets the weight of its attribute to 1 and the others to 0. The catalog and popularity do not change with it.
    /// </summary>
    public TasteFocus TasteFocus = TasteFocus.All;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(ListeningSimulatorOptions))
            .Check(SongCount < 10, nameof(SongCount), $"must be at least 10; found {SongCount}.")
            .Check(UserCount < 1, nameof(UserCount), $"must be at least 1; found {UserCount}.")
            .Check(!(MeanSongsPerUser >= 1), nameof(MeanSongsPerUser), $"must be at least 1; found {MeanSongsPerUser}.")
            .Check(!(PopularityExponent >= 0) || double.IsInfinity(PopularityExponent), nameof(PopularityExponent), $"must be zero or positive and finite; found {PopularityExponent}.")
            .Check(!(TasteStrength >= 0) || double.IsInfinity(TasteStrength), nameof(TasteStrength), $"must be zero or positive and finite; found {TasteStrength}.")
            .Check(!(NoiseFraction is >= 0 and <= 1), nameof(NoiseFraction), $"must be between 0 and 1; found {NoiseFraction}.")
            .Check(!(ColdSongFraction is >= 0.2 and < 1), nameof(ColdSongFraction), $"must be at least 0.2 and below 1; found {ColdSongFraction}.")
            .Check(!(WarmTestFraction is >= 0 and < 1), nameof(WarmTestFraction), $"must be at least 0 and below 1; found {WarmTestFraction}.")
            .Check(!(MotifProbability is >= 0 and <= 1), nameof(MotifProbability), $"must be between 0 and 1; found {MotifProbability}.")
            .Check(!(FallingMotifShare is >= 0 and <= 1), nameof(FallingMotifShare), $"must be between 0 and 1; found {FallingMotifShare}.")
            .Check(!Enum.IsDefined(TasteFocus), nameof(TasteFocus), $"must be one of {string.Join(", ", Enum.GetNames<TasteFocus>())}; found {(int)TasteFocus}.")
            .Check(TasteFocus == TasteFocus.MotifOrder && !(FallingMotifShare is > 0 and < 1 && MotifProbability > 0), nameof(FallingMotifShare),
                $"must be strictly between 0 and 1 (and MotifProbability above 0) when TasteFocus is MotifOrder, so that both orders occur; found FallingMotifShare {FallingMotifShare}, MotifProbability {MotifProbability}. Try FallingMotifShare = 0.5.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>
/// A seeded listening benchmark: a catalog of described songs, users with hidden tastes over the songs' attributes,
/// implicit-feedback logs drawn from those tastes with popularity bias and noise, warm and cold splits, and the
/// oracles that rank by the hidden tastes: the simulator itself (an <see cref="IUserSongScorer"/>) ranks by the true
/// probability that the user plays each song, taste and popularity together, which no model of the logs can beat in
/// expectation (the upper bound every model is measured against); <see cref="TasteOracle"/> ranks by taste alone,
/// the most that a model of the songs' content could know.
/// </summary>
/// <remarks>
/// Written by hand: the benchmark is this project's own. Each user plays a log-normally distributed number of
/// distinct songs, drawn without replacement (Gumbel top-k) with weight proportional to
/// (1 − noise) · popularity · exp(strength · utility) / Σ + noise / songs, and plays each 1 + ⌊Exp(3 · utility)⌋
/// times. Cold songs (a random <see cref="ListeningSimulatorOptions.ColdSongFraction"/> of the catalog) have all
/// their plays in <see cref="ColdTest"/>; of the other plays, each user's <see cref="ListeningSimulatorOptions.WarmTestFraction"/>
/// goes to <see cref="WarmTest"/> (every user with plays keeps at least one in training).
/// </remarks>
public sealed class ListeningSimulator : IUserSongScorer
{
    // The synthesis generator's instruments (MLNetAudio.Synthesis), so that a song description can be rendered;
    // a pure sine is not a part of a song.
    private static readonly Instrument[] SongInstruments = [Instrument.Flute, Instrument.Guitar, Instrument.Violin, Instrument.Clarinet, Instrument.Marimba];

    private readonly bool[] _cold;

    /// <summary>Simulates a listening data set.</summary>
    public ListeningSimulator(ListeningSimulatorOptions? options = null)
    {
        Options = options ?? new ListeningSimulatorOptions();
        Options.Validate();
        var random = new Random(Options.Seed);

        // Motif orders and taste focus draw from a generator of their own, so that with them at their defaults every
        // other draw is the one of earlier versions (the same catalog, tastes and logs for the same seed).
        var orderRandom = new Random(unchecked((Options.Seed * 7919) + 104729));
        Songs = Enumerable.Range(0, Options.SongCount).Select(i => MakeSong(random, orderRandom, (uint)i + 1)).ToArray();
        Users = Enumerable.Range(0, Options.UserCount).Select(i => MakeUser(random, orderRandom, (uint)i + 1)).ToArray();

        // Hidden popularity: Zipf over a random order of the catalog, independent of the songs' attributes.
        var order = Enumerable.Range(0, Options.SongCount).OrderBy(_ => random.Next()).ToArray();
        var popularity = new double[Options.SongCount];
        for (int rank = 0; rank < order.Length; rank++)
        {
            popularity[order[rank]] = 1 / Math.Pow(rank + 1, Options.PopularityExponent);
        }

        Popularity = popularity;

        _cold = new bool[Options.SongCount];
        int coldCount = (int)Math.Ceiling(Options.ColdSongFraction * Options.SongCount);
        foreach (int s in Enumerable.Range(0, Options.SongCount).OrderBy(_ => random.Next()).Take(coldCount))
        {
            _cold[s] = true;
        }

        var training = new List<ListeningEvent>();
        var warm = new List<ListeningEvent>();
        var coldTest = new List<ListeningEvent>();
        foreach (var user in Users)
        {
            var userWarm = new List<ListeningEvent>();
            foreach (var e in DrawPlays(random, user))
            {
                if (_cold[e.SongId - 1])
                {
                    coldTest.Add(e);
                }
                else
                {
                    userWarm.Add(e);
                }
            }

            var held = userWarm.Select(_ => random.NextDouble() < Options.WarmTestFraction).ToArray();
            if (userWarm.Count > 0 && held.All(h => h))
            {
                held[0] = false;
            }

            for (int i = 0; i < userWarm.Count; i++)
            {
                (held[i] ? warm : training).Add(userWarm[i]);
            }
        }

        Training = training;
        WarmTest = warm;
        ColdTest = coldTest;
    }

    /// <summary>The options used.</summary>
    public ListeningSimulatorOptions Options { get; }

    /// <summary>The catalog, index = song key - 1.</summary>
    public IReadOnlyList<SongDescription> Songs { get; }

    /// <summary>The users' hidden tastes, index = user key - 1.</summary>
    public IReadOnlyList<UserTaste> Users { get; }

    /// <summary>Each song's hidden popularity (1 for the most popular), index = song key - 1.</summary>
    public IReadOnlyList<double> Popularity { get; }

    /// <summary>The training log: plays of warm songs only.</summary>
    public IReadOnlyList<ListeningEvent> Training { get; }

    /// <summary>Held-out plays of warm songs (songs that have plays in training), never a (user, song) pair of the training log.</summary>
    public IReadOnlyList<ListeningEvent> WarmTest { get; }

    /// <summary>Every play of a cold song: these songs never appear in <see cref="Training"/>.</summary>
    public IReadOnlyList<ListeningEvent> ColdTest { get; }

    /// <summary>Keys of the cold songs (never played in training).</summary>
    public IReadOnlyList<uint> ColdSongKeys => Enumerable.Range(0, _cold.Length).Where(s => _cold[s]).Select(s => (uint)s + 1).ToArray();

    /// <summary>Keys of the warm songs (the rest of the catalog).</summary>
    public IReadOnlyList<uint> WarmSongKeys => Enumerable.Range(0, _cold.Length).Where(s => !_cold[s]).Select(s => (uint)s + 1).ToArray();

    /// <inheritdoc/>
    public int UserCount => Users.Count;

    /// <inheritdoc/>
    public int SongCount => Songs.Count;

    /// <summary>Scores every song by taste alone (<see cref="UserTaste.Utility"/>), ignoring popularity.</summary>
    public IUserSongScorer TasteOracle => new TasteScorer(this);

    /// <summary>
    /// The oracle's scores: the log of the probability weight with which the simulator draws each song for each user
    /// (taste, popularity and noise together), so the ranking orders songs by how likely the user is to play them.
    /// </summary>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        MLNetAudio.Recommendation.UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

        for (int r = 0; r < userCount; r++)
        {
            var weights = PlayWeights(Users[firstUser + r]);
            for (int s = 0; s < SongCount; s++)
            {
                destination[r * SongCount + s] = (float)Math.Log(weights[s]);
            }
        }
    }

    /// <summary>
    /// A song's attributes as a vector, for diversity measures and as a stand-in for a content embedding: one slot per
    /// instrument (1 when present), one per register, the tempo scaled to about 0..1, and 1 when the rising motif is
    /// present (−1 when the falling one is, 0 without a motif).
    /// </summary>
    public float[] AttributeVector(uint songKey)
    {
        if (songKey < 1 || songKey > SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(songKey), songKey, $"Song keys run from 1 to {SongCount}.");
        }

        var song = Songs[(int)songKey - 1];
        var v = new float[SongInstruments.Length + 3 + 2];
        for (int i = 0; i < SongInstruments.Length; i++)
        {
            v[i] = song.Instruments.Contains(SongInstruments[i]) ? 1 : 0;
        }

        v[SongInstruments.Length + (int)song.Register] = 1;
        v[^2] = (float)((song.TempoBpm - 60) / 120);
        v[^1] = song.Motif is null ? 0 : song.Motif.Falling ? -1 : 1;
        return v;
    }

    /// <summary>The oracle ranking of the whole catalog for a user: song keys by play probability, best first.</summary>
    public IReadOnlyList<uint> OracleRanking(uint userKey)
    {
        if (userKey < 1 || userKey > UserCount)
        {
            throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}.");
        }

        var scores = new float[SongCount];
        ScoreUsers((int)userKey - 1, 1, scores);
        return TopKMetrics.TopK(scores, SongCount).Select(s => (uint)s + 1).ToArray();
    }

    /// <summary>The probability with which each song is drawn for <paramref name="user"/> (summing to 1).</summary>
    private double[] PlayWeights(UserTaste user)
    {
        int n = SongCount;
        var weight = new double[n];
        for (int s = 0; s < n; s++)
        {
            weight[s] = Popularity[s] * Math.Exp(Options.TasteStrength * user.Utility(Songs[s]));
        }

        double total = weight.Sum();
        for (int s = 0; s < n; s++)
        {
            weight[s] = (1 - Options.NoiseFraction) * weight[s] / total + Options.NoiseFraction / n;
        }

        return weight;
    }

    /// <summary>
    /// Loads a log as an IDataView whose UserId and SongId columns are keys over the whole catalog (so cold songs,
    /// absent from training, still have keys) and whose Label column holds the play counts.
    /// </summary>
    public IDataView ToDataView(MLContext mlContext, IEnumerable<ListeningEvent> events) => ToDataView(mlContext, events, UserCount, SongCount);

    /// <summary>
    /// Loads a log as an IDataView with UserId and SongId key columns of <paramref name="userCount"/> and
    /// <paramref name="songCount"/> values and a Single Label column.
    /// </summary>
    /// <remarks>
    /// ML.NET's LoadFromEnumerable reads a .NET value v of a key column as key v + 1 (0-based in .NET, 1-based in the
    /// data view, 0 meaning missing), so the 1-based keys of <see cref="ListeningEvent"/> are shifted down here.
    /// </remarks>
    /// <exception cref="ArgumentException">An event's key is 0 or above the count.</exception>
    public static IDataView ToDataView(MLContext mlContext, IEnumerable<ListeningEvent> events, int userCount, int songCount)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(events);
        var rows = events.Select(e =>
            e.UserId < 1 || e.UserId > userCount || e.SongId < 1 || e.SongId > songCount
                ? throw new ArgumentException($"Event (user {e.UserId}, song {e.SongId}) is outside keys 1..{userCount} x 1..{songCount}.", nameof(events))
                : new KeyRow { UserId = e.UserId - 1, SongId = e.SongId - 1, Label = e.Label }).ToArray();
        var schema = SchemaDefinition.Create(typeof(KeyRow));
        schema[nameof(KeyRow.UserId)].ColumnType = new KeyDataViewType(typeof(uint), userCount);
        schema[nameof(KeyRow.SongId)].ColumnType = new KeyDataViewType(typeof(uint), songCount);
        return mlContext.Data.LoadFromEnumerable(rows, schema);
    }

    private SongDescription MakeSong(Random random, Random orderRandom, uint key)
    {
        var all = SongInstruments;
        int parts = 1 + random.Next(3);
        var instruments = all.OrderBy(_ => random.Next()).Take(parts).OrderBy(i => i).ToArray();
        var register = (PitchRegister)random.Next(3);
        double tempo = 60 + random.NextDouble() * 120;
        double duration = 60 + random.NextDouble() * 180;
        MotifPlacement? motif = null;
        if (random.NextDouble() < Options.MotifProbability)
        {
            motif = new MotifPlacement(Math.Round(random.NextDouble() * (duration - 8), 1), instruments[random.Next(instruments.Length)])
            {
                Falling = Options.FallingMotifShare > 0 && orderRandom.NextDouble() < Options.FallingMotifShare,
            };
        }

        return new SongDescription(key, instruments, register, Math.Round(tempo), Math.Round(duration), motif);
    }

    private UserTaste MakeUser(Random random, Random orderRandom, uint key)
    {
        var instrument = SongInstruments[random.Next(SongInstruments.Length)];
        var register = (PitchRegister)random.Next(3);
        double tempo = 60 + random.NextDouble() * 120;
        bool likesMotif = random.NextDouble() < 0.4;
        double wi = random.NextDouble() + 0.5, wr = random.NextDouble(), wt = random.NextDouble(), wm = likesMotif ? random.NextDouble() + 0.5 : 0;
        double sum = wi + wr + wt + wm;
        bool prefersFalling = Options.FallingMotifShare > 0 && orderRandom.NextDouble() < 0.5;
        (double Instrument, double Register, double Tempo, double Motif) taste = Options.TasteFocus switch
        {
            TasteFocus.Instrument => (1.0, 0.0, 0.0, 0.0),
            TasteFocus.Register => (0.0, 1.0, 0.0, 0.0),
            TasteFocus.Tempo => (0.0, 0.0, 1.0, 0.0),
            TasteFocus.Motif or TasteFocus.MotifOrder => (0.0, 0.0, 0.0, 1.0),
            _ => (wi / sum, wr / sum, wt / sum, wm / sum),
        };
        return new UserTaste(key, instrument, taste.Instrument, register, taste.Register, tempo, taste.Tempo, taste.Motif)
        {
            PrefersFallingMotif = Options.TasteFocus != TasteFocus.Motif && prefersFalling,
        };
    }

    private IEnumerable<ListeningEvent> DrawPlays(Random random, UserTaste user)
    {
        int n = SongCount;
        double sigma = 0.5;
        double normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        int count = (int)Math.Clamp(Math.Round(Options.MeanSongsPerUser * Math.Exp(sigma * normal - sigma * sigma / 2)), 1, n / 2);

        var utility = Songs.Select(user.Utility).ToArray();
        var weight = PlayWeights(user);
        var keys = new float[n];
        for (int s = 0; s < n; s++)
        {
            double gumbel = -Math.Log(-Math.Log(Math.Clamp(random.NextDouble(), 1e-12, 1 - 1e-12)));
            keys[s] = (float)(Math.Log(weight[s]) + gumbel);
        }

        foreach (int s in TopKMetrics.TopK(keys, count).Order())
        {
            double exponential = -Math.Log(1 - random.NextDouble());
            yield return new ListeningEvent { UserId = user.Key, SongId = (uint)s + 1, Label = 1 + (float)Math.Floor(exponential * 3 * utility[s]) };
        }
    }

    /// <summary>A row as LoadFromEnumerable wants it: key columns hold 0-based values.</summary>
    private sealed class KeyRow
    {
        public uint UserId { get; set; }

        public uint SongId { get; set; }

        public float Label { get; set; }
    }

    private sealed class TasteScorer(ListeningSimulator simulator) : IUserSongScorer
    {
        public int UserCount => simulator.UserCount;

        public int SongCount => simulator.SongCount;

        public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
        {
            for (int r = 0; r < userCount; r++)
            {
                for (int s = 0; s < SongCount; s++)
                {
                    destination[r * SongCount + s] = (float)simulator.Users[firstUser + r].Utility(simulator.Songs[s]);
                }
            }
        }
    }
}
