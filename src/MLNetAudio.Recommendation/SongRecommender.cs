using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Anything that scores every song of a catalog for a user: the recommendation models of this package, the oracle of
/// <c>ListeningSimulator</c> (MLNetAudio.Synthesis), and any other model a caller wants to evaluate with
/// <see cref="RecommendationCatalog.Evaluate"/>. Users and songs are 0-based indices (a key value minus one).
/// </summary>
public interface IUserSongScorer
{
    /// <summary>Number of users (the user key's count).</summary>
    int UserCount { get; }

    /// <summary>Number of songs in the catalog (the song key's count).</summary>
    int SongCount { get; }

    /// <summary>
    /// Writes the scores of users <paramref name="firstUser"/> .. <paramref name="firstUser"/> + <paramref name="userCount"/> - 1
    /// for every song into <paramref name="destination"/>, row-major (user by user, SongCount scores each). Higher is
    /// better; songs the scorer knows nothing about score negative infinity (never recommended).
    /// </summary>
    void ScoreUsers(int firstUser, int userCount, Span<float> destination);
}

/// <summary>One recommended song: its key (as in the song key column) and its score.</summary>
/// <param name="SongKey">The song's key value (1-based, as made by MapValueToKey).</param>
/// <param name="Score">The model's score; higher is better.</param>
public readonly record struct SongRecommendation(uint SongKey, float Score);

/// <summary>
/// Base of the fitted recommendation models (matrix factorization, item-based CF, popularity): scores (user, song)
/// rows into a <c>Score</c> column, recommends the top k songs of the whole catalog to a user or to every user, and
/// remembers which songs each user played in training so that they are filtered out of recommendations.
/// </summary>
public abstract class SongRecommenderModel : RowMappingTransformer, IUserSongScorer
{
    /// <summary>The name of the score column every recommendation model appends.</summary>
    public const string ScoreColumnName = "Score";

    private readonly bool[] _songKnown;
    private readonly bool[] _songUnknown; // its negation, the mask of the score-matrix path

    private protected SongRecommenderModel(string userColumnName, string songColumnName, PlayMatrix training)
    {
        UserColumnName = userColumnName;
        SongColumnName = songColumnName;
        Training = training;
        _songKnown = new bool[training.SongCount];
        for (int s = 0; s < training.SongCount; s++)
        {
            _songKnown[s] = training.PlayCountOfSong(s) > 0;
        }

        _songUnknown = Array.ConvertAll(_songKnown, k => !k);
    }

    /// <summary>The user key column (ML.NET's MatrixColumnIndexColumnName).</summary>
    public string UserColumnName { get; }

    /// <summary>The song key column (ML.NET's MatrixRowIndexColumnName).</summary>
    public string SongColumnName { get; }

    /// <inheritdoc/>
    public int UserCount => Training.UserCount;

    /// <inheritdoc/>
    public int SongCount => Training.SongCount;

    private protected PlayMatrix Training { get; }

    /// <summary>
    /// True when the song was played in the training data. Songs never played (cold songs) are unknown to these
    /// collaborative models: they score 0 in the <c>Score</c> column and are never recommended.
    /// </summary>
    public bool IsSongKnown(uint songKey) => _songKnown[SongIndex(songKey)];

    /// <summary>The keys of the songs <paramref name="userKey"/> played in the training data (filtered out of recommendations).</summary>
    public IReadOnlyList<uint> GetPlayedSongs(uint userKey)
    {
        var songs = Training.SongsOf(UserIndex(userKey));
        var keys = new uint[songs.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = (uint)songs[i] + 1;
        }

        return keys;
    }

    /// <summary>
    /// The <paramref name="k"/> best songs of the whole catalog for one user, best first. Songs the user played in
    /// training are filtered out unless <paramref name="excludeAlreadyPlayed"/> is false; songs unknown to the model
    /// are never returned, so the list can be shorter than k.
    /// </summary>
    public IReadOnlyList<SongRecommendation> Recommend(uint userKey, int k = 10, bool excludeAlreadyPlayed = true) =>
        RecommendRange(UserIndex(userKey), 1, k, excludeAlreadyPlayed)[0];

    /// <summary>
    /// The top <paramref name="k"/> songs for every user (index = user key - 1), computed as batched matrix products
    /// on the model's device with already-played filtering as in <see cref="Recommend"/>.
    /// </summary>
    public IReadOnlyList<SongRecommendation>[] RecommendAll(int k = 10, bool excludeAlreadyPlayed = true) =>
        RecommendRange(0, UserCount, k, excludeAlreadyPlayed);

    /// <inheritdoc/>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        CheckRange(firstUser, userCount);
        if (destination.Length < userCount * (long)SongCount)
        {
            throw new ArgumentException($"The destination holds {destination.Length} scores; {userCount} users x {SongCount} songs need {userCount * (long)SongCount}.", nameof(destination));
        }

        using var scope = NewDisposeScope();
        using var scores = MaskedScores(firstUser, userCount, excludeAlreadyPlayed: false).cpu();
        scores.data<float>().CopyTo(destination[..(userCount * SongCount)]);
    }

    /// <summary>Scores of <paramref name="count"/> users from <paramref name="firstUser"/> for every song, as a (count x SongCount) tensor.</summary>
    private protected abstract Tensor ScoreBlock(int firstUser, int count);

    /// <summary>
    /// A model that can select each user's top k without a users x songs score matrix (matrix factorization on the
    /// CPU: <see cref="FactorTopK"/>) returns the lists here, with the same rules as the matrix path (unknown songs never,
    /// played songs only when not excluded); null (the default) takes the score-matrix path.
    /// </summary>
    private protected virtual IReadOnlyList<SongRecommendation>[]? RecommendWithoutScoreMatrix(int firstUser, int userCount, int k, bool excludeAlreadyPlayed, bool[] songKnown) => null;

    /// <summary>
    /// True when <see cref="ScoreBlock"/> returns a new contiguous tensor that the caller may overwrite in place (a matrix
    /// product); false (the default) when it may be a view or wrap managed memory, so masking works on a copy.
    /// </summary>
    private protected virtual bool ScoreBlockIsWritable => false;

    /// <summary>The score of one (user, song) pair, for the Score column.</summary>
    private protected abstract float ScorePair(int user, int song);

    /// <summary>The device the model computes on.</summary>
    private protected virtual Device ComputeDevice => CPU;

    private IReadOnlyList<SongRecommendation>[] RecommendRange(int firstUser, int userCount, int k, bool excludeAlreadyPlayed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        CheckRange(firstUser, userCount);
        if (RecommendWithoutScoreMatrix(firstUser, userCount, k, excludeAlreadyPlayed, _songKnown) is { } direct)
        {
            return direct;
        }

        var result = new IReadOnlyList<SongRecommendation>[userCount];
        int block = Math.Max(1, Math.Min(userCount, (int)(16_000_000 / Math.Max(1, SongCount))));
        for (int start = 0; start < userCount; start += block)
        {
            int count = Math.Min(block, userCount - start);
            using var scope = NewDisposeScope();
            var scores = MaskedScores(firstUser + start, count, excludeAlreadyPlayed);
            var (values, indices) = scores.topk(Math.Min(k, SongCount), dim: 1);
            var v = values.cpu().data<float>().ToArray();
            var idx = indices.cpu().data<long>().ToArray();
            int width = (int)values.shape[1];
            for (int r = 0; r < count; r++)
            {
                var list = new List<SongRecommendation>(width);
                for (int j = 0; j < width; j++)
                {
                    float score = v[r * width + j];
                    if (!float.IsNegativeInfinity(score) && !float.IsNaN(score))
                    {
                        list.Add(new SongRecommendation((uint)idx[r * width + j] + 1, score));
                    }
                }

                result[start + r] = list;
            }
        }

        return result;
    }

    /// <summary>The score block with unknown songs (and, when asked, already-played songs) set to negative infinity.</summary>
    private Tensor MaskedScores(int firstUser, int count, bool excludeAlreadyPlayed)
    {
        var block = ScoreBlock(firstUser, count).to(ComputeDevice);
        var scores = ScoreBlockIsWritable ? block : block.clone();

        // An explicit Scalar held to the end of the method, not float's implicit conversion: the temporary Scalar of an
        // implicit conversion can be finalised by the GC while libtorch still reads it, and long runs failed
        // intermittently in masked_fill_ with "Expected false to be true ... toFloat" (a garbage value out of float range).
        using var negativeInfinity = float.NegativeInfinity.ToScalar();
        using (var mask = tensor(_songUnknown, device: ComputeDevice))
        {
            scores.masked_fill_(mask.unsqueeze(0), negativeInfinity);
        }

        if (excludeAlreadyPlayed)
        {
            var flat = new List<long>();
            for (int r = 0; r < count; r++)
            {
                foreach (int s in Training.SongsOf(firstUser + r))
                {
                    flat.Add(r * (long)SongCount + s);
                }
            }

            if (flat.Count > 0)
            {
                using var positions = tensor(flat.ToArray(), device: ComputeDevice);
                scores.view(-1).index_fill_(0, positions, negativeInfinity);
            }
        }

        return scores;
    }

    private void CheckRange(int firstUser, int userCount)
    {
        if (firstUser < 0 || userCount < 0 || firstUser + (long)userCount > UserCount)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUser), $"Users {firstUser} .. {firstUser + userCount - 1} are outside the model's {UserCount} users.");
        }
    }

    private int UserIndex(uint userKey) =>
        userKey >= 1 && userKey <= UserCount
            ? (int)userKey - 1
            : throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}; key 0 means a user missing from the key mapping.");

    private int SongIndex(uint songKey) =>
        songKey >= 1 && songKey <= SongCount
            ? (int)songKey - 1
            : throw new ArgumentOutOfRangeException(nameof(songKey), songKey, $"Song keys run from 1 to {SongCount}; key 0 means a song missing from the key mapping.");

    /// <summary>Extra output columns after Score (matrix factorization adds its HasFactors flag).</summary>
    private protected virtual IReadOnlyList<OutputColumn> ExtraOutputs => [];

    /// <summary>Value of extra output <paramref name="extra"/> (0-based after Score) for a pair; null when a key is missing.</summary>
    private protected virtual bool ExtraFlag(int extra, int user, int song) => false;

    private protected sealed override SchemaBinding Bind(DataViewSchema inputSchema)
    {
        var user = PlayMatrix.RequireKey(inputSchema, UserColumnName, "User (MatrixColumnIndexColumnName)");
        var song = PlayMatrix.RequireKey(inputSchema, SongColumnName, "Song (MatrixRowIndexColumnName)");
        PlayMatrix.RequireKeyCount(user, UserCount, "users");
        PlayMatrix.RequireKeyCount(song, SongCount, "songs");
        return new Binding(this, user.Index, song.Index);
    }

    private sealed class Binding : SchemaBinding
    {
        private readonly SongRecommenderModel _model;
        private readonly int _user;
        private readonly int _song;

        public Binding(SongRecommenderModel model, int user, int song)
        {
            _model = model;
            _user = user;
            _song = song;
            Outputs = [new OutputColumn(ScoreColumnName, NumberDataViewType.Single), .. model.ExtraOutputs];
        }

        public override IReadOnlyList<OutputColumn> Outputs { get; }

        public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) =>
            activeOutputs.Any(a => a) ? [_user, _song] : [];

        public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(_model, input, _user, _song);
    }

    private sealed class Mapper : RowMapper
    {
        private readonly SongRecommenderModel _model;
        private readonly DataViewRow _input;
        private readonly int _user;
        private readonly int _song;
        private ValueGetter<uint>? _userGetter;
        private ValueGetter<uint>? _songGetter;

        public Mapper(SongRecommenderModel model, DataViewRow input, int user, int song)
        {
            _model = model;
            _input = input;
            _user = user;
            _song = song;
        }

        public override Delegate GetGetter(int outputIndex)
        {
            if (outputIndex == 0)
            {
                return (ValueGetter<float>)((ref float value) =>
                {
                    var (u, s) = Read();
                    // A missing key (0: a user or song MapValueToKey never saw) or a song without training plays
                    // scores 0, never NaN, so downstream learners (a ranking stage) need no special case.
                    value = u < 0 || s < 0 || !_model._songKnown[s] ? 0f : _model.ScorePair(u, s);
                });
            }

            int extra = outputIndex - 1;
            return (ValueGetter<bool>)((ref bool value) =>
            {
                var (u, s) = Read();
                value = u >= 0 && s >= 0 && _model.ExtraFlag(extra, u, s);
            });
        }

        private (int User, int Song) Read()
        {
            // The key getters are made on first use: a cursor with no active output never asks for the key columns.
            _userGetter ??= _input.GetGetter<uint>(_input.Schema[_user]);
            _songGetter ??= _input.GetGetter<uint>(_input.Schema[_song]);
            uint u = 0, s = 0;
            _userGetter(ref u);
            _songGetter(ref s);
            return ((int)u - 1, (int)s - 1);
        }
    }
}
