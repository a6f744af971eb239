using Microsoft.ML;
using MLNetAudio;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;

namespace WebApiSample;

/// <summary>One recommended song, as the API returns it.</summary>
/// <param name="SongId">The song's id in the model's catalog.</param>
/// <param name="Score">The listener's predicted preference for the song (0..1).</param>
/// <param name="BestWindowStartSeconds">Start of the part of the song the listener should like most.</param>
/// <param name="WindowSeconds">Length of that part.</param>
/// <param name="WindowHopSeconds">Hop between the timeline's windows, in seconds.</param>
/// <param name="Cold">True for a song nobody played in the model's training data: recommended from its audio alone.</param>
/// <param name="Timeline">The listener's preference for each window of the song (hop <c>WindowHopSeconds</c>).</param>
public sealed record RecommendedSong(string SongId, float Score, double BestWindowStartSeconds, double WindowSeconds, double WindowHopSeconds, bool Cold, IReadOnlyList<float> Timeline);

/// <summary>
/// A recommender file as <c>mlnet-audio train --plays</c> writes it (user keys, song keys, a
/// <see cref="MultiUserAudioModel"/>): recommends to the model's listeners, and to anyone with recorded plays by
/// fold-in (a user vector solved against the frozen encoder; no retraining).
/// </summary>
public sealed class SongRecommender : IDisposable
{
    private readonly MultiUserAudioModel _model;
    private readonly Dictionary<string, uint> _userKeys;
    private readonly Dictionary<string, uint> _songKeys;
    private readonly string[] _songIds;
    private readonly Dictionary<uint, uint[]> _trainingSongs;
    private readonly HashSet<uint> _coldSongs;

    // Fold-in trains a small vector with libtorch autograd over the model's shared tensors: one at a time.
    private readonly Lock _gate = new();

    private SongRecommender(MultiUserAudioModel model, string[] userIds, string[] songIds)
    {
        _model = model;
        _songIds = songIds;
        _userKeys = userIds.Select((id, i) => (id, key: (uint)(i + 1))).ToDictionary(p => p.id, p => p.key, StringComparer.Ordinal);
        _songKeys = songIds.Select((id, i) => (id, key: (uint)(i + 1))).ToDictionary(p => p.id, p => p.key, StringComparer.Ordinal);

        // The model keeps its training plays private; a user's played songs are the ones Recommend leaves out.
        uint[] all = [.. Enumerable.Range(1, songIds.Length).Select(i => (uint)i)];
        _trainingSongs = _userKeys.Values.ToDictionary(u => u, u =>
        {
            var unplayed = _model.Recommend(u, songIds.Length).Select(r => r.SongKey).ToHashSet();
            return all.Where(s => !unplayed.Contains(s)).ToArray();
        });
        _coldSongs = [.. all.Except(_trainingSongs.Values.SelectMany(s => s))];
    }

    /// <summary>The catalog's song ids, in key order.</summary>
    public IReadOnlyList<string> SongIds => _songIds;

    /// <summary>The model's listeners (those with plays in its training data).</summary>
    public IReadOnlyCollection<string> UserIds => _userKeys.Keys;

    /// <summary>Loads a recommender file.</summary>
    /// <exception cref="InvalidOperationException">The file is missing or is not a recommender.</exception>
    public static SongRecommender Load(MLContext ml, string path)
    {
        ArgumentNullException.ThrowIfNull(ml);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"Recommender model {path} not found: set WebApi:RecommenderModelPath in appsettings.json.");
        }

        var stages = Flatten(ml.Audio().Model.Load(path, out _)).ToList();
        var model = stages.OfType<MultiUserAudioModel>().SingleOrDefault();
        if (model is null || stages.Count != 3)
        {
            throw new InvalidOperationException($"{path}: a recommender file holds the user keys, the song keys and a MultiUserAudioModel (train one with 'mlnet-audio train --plays').");
        }

        var users = stages[0].Transform(ml.Data.LoadFromEnumerable(new[] { new Row() }));
        var songs = stages[1].Transform(ml.Data.LoadFromEnumerable(new[] { new Row() }));
        return new SongRecommender(model, KeyValues(users.Schema[model.UserColumnName]), KeyValues(songs.Schema[model.SongColumnName]));
    }

    /// <summary>Whether the model's catalog holds <paramref name="songId"/>.</summary>
    public bool IsSong(string songId) => _songKeys.ContainsKey(songId);

    /// <summary>Whether <paramref name="userId"/> is one of the model's listeners.</summary>
    public bool IsKnownUser(string userId) => _userKeys.ContainsKey(userId);

    /// <summary>The top <paramref name="k"/> songs for one of the model's listeners, from their trained vector.</summary>
    public IReadOnlyList<RecommendedSong> Recommend(string userId, int k)
    {
        uint user = _userKeys[userId];
        lock (_gate)
        {
            return [.. _model.Recommend(user, k).Select(Describe)];
        }
    }

    /// <summary>
    /// Fold-in: the top <paramref name="k"/> songs for a listener who played <paramref name="playedSongIds"/> (plus, for
    /// one of the model's listeners, the songs they played in training). Played songs are left out.
    /// </summary>
    public IReadOnlyList<RecommendedSong> RecommendForPlays(string userId, IEnumerable<string> playedSongIds, int k)
    {
        var played = playedSongIds.Select(s => _songKeys[s]).ToHashSet();
        if (_userKeys.TryGetValue(userId, out uint user))
        {
            played.UnionWith(_trainingSongs[user]);
        }

        lock (_gate)
        {
            return [.. _model.RecommendForPlays(played.Order(), k).Select(Describe)];
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _model.Dispose();

    private RecommendedSong Describe(AudioRecommendationReason r) =>
        new(_songIds[(int)r.SongKey - 1], r.Score, r.BestWindowStartSeconds, r.WindowSeconds, r.WindowHopSeconds, _coldSongs.Contains(r.SongKey), r.Timeline);

    private static string[] KeyValues(DataViewSchema.Column column)
    {
        var names = default(VBuffer<ReadOnlyMemory<char>>);
        column.GetKeyValues(ref names);
        return [.. names.DenseValues().Select(v => v.ToString())];
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [model];

    private sealed class Row
    {
        public string UserId { get; set; } = string.Empty;

        public string SongId { get; set; } = string.Empty;
    }
}
