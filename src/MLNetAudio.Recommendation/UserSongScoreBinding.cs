using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

/// <summary>
/// The Score column of a recommendation model whose only output is one Single per (user key, song key) row: checks
/// both key columns and their counts against the model, and reads the keys only when Score is read.
/// </summary>
internal sealed class UserSongScoreBinding : SchemaBinding
{
    private readonly int _user;
    private readonly int _song;
    private readonly Func<Func<uint, uint, float>> _scorerPerCursor;

    private UserSongScoreBinding(int user, int song, Func<Func<uint, uint, float>> scorerPerCursor)
    {
        _user = user;
        _song = song;
        _scorerPerCursor = scorerPerCursor;
    }

    public override IReadOnlyList<OutputColumn> Outputs { get; } = [new OutputColumn(SongRecommenderModel.ScoreColumnName, NumberDataViewType.Single)];

    /// <summary>Binds <paramref name="score"/> (called with the raw 1-based keys, 0 for a missing one) to the schema.</summary>
    /// <exception cref="ArgumentException">A key column is missing, not a UInt32 key, or has another count than the model's.</exception>
    public static UserSongScoreBinding Create(DataViewSchema inputSchema, string userColumnName, string songColumnName, int userCount, int songCount, Func<uint, uint, float> score) =>
        Create(inputSchema, userColumnName, songColumnName, userCount, songCount, () => score);

    /// <summary>
    /// As <see cref="Create(DataViewSchema, string, string, int, int, Func{uint, uint, float})"/>, with a scorer made per
    /// cursor by <paramref name="scorerPerCursor"/> (for a model whose scores keep per-cursor state, such as a cache).
    /// </summary>
    public static UserSongScoreBinding Create(DataViewSchema inputSchema, string userColumnName, string songColumnName, int userCount, int songCount, Func<Func<uint, uint, float>> scorerPerCursor)
    {
        var user = PlayMatrix.RequireKey(inputSchema, userColumnName, "User (MatrixColumnIndexColumnName)");
        var song = PlayMatrix.RequireKey(inputSchema, songColumnName, "Song (MatrixRowIndexColumnName)");
        PlayMatrix.RequireKeyCount(user, userCount, "users");
        PlayMatrix.RequireKeyCount(song, songCount, "songs");
        return new UserSongScoreBinding(user.Index, song.Index, scorerPerCursor);
    }

    public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) => activeOutputs[0] ? [_user, _song] : [];

    public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(this, input);

    private sealed class Mapper(UserSongScoreBinding binding, DataViewRow input) : RowMapper
    {
        private readonly Func<uint, uint, float> _score = binding._scorerPerCursor();
        private ValueGetter<uint>? _user;
        private ValueGetter<uint>? _song;

        public override Delegate GetGetter(int outputIndex) => (ValueGetter<float>)((ref float value) =>
        {
            // The key getters are made on first use: a cursor with no active output never asks for the key columns.
            _user ??= input.GetGetter<uint>(input.Schema[binding._user]);
            _song ??= input.GetGetter<uint>(input.Schema[binding._song]);
            uint u = 0, s = 0;
            _user(ref u);
            _song(ref s);
            value = _score(u, s);
        });
    }
}
