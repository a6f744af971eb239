using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051
/// <summary>Options of <see cref="ItemBasedCollaborativeFilteringTrainer"/>; column names as in ML.NET's MatrixFactorizationTrainer.</summary>
public sealed class ItemBasedCollaborativeFilteringOptions
{
    /// <summary>The user key column (the matrix's columns are users). Must be set.</summary>
    public string? MatrixColumnIndexColumnName;

    /// <summary>The song key column (the matrix's rows are songs). Must be set.</summary>
    public string? MatrixRowIndexColumnName;

    /// <summary>The play-count column (Single); a count > 0 is a play. Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// Neighbours kept per song (its most similar songs; Sarwar et al. 2001's model size). 0 keeps every song.
    /// Default 50.
    /// </summary>
    public int NumberOfNeighbors = Defaults.NumberOfNeighbors;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";

        /// <summary>Default neighbourhood size.</summary>
        public const int NumberOfNeighbors = 50;
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal ItemBasedCollaborativeFilteringOptions Copy() => (ItemBasedCollaborativeFilteringOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(ItemBasedCollaborativeFilteringOptions))
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(NumberOfNeighbors < 0, nameof(NumberOfNeighbors), $"must be 0 (all songs) or positive; found {NumberOfNeighbors}.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>
/// Item-based collaborative filtering (Sarwar, Karypis, Konstan and Riedl, "Item-based collaborative filtering
/// recommendation algorithms", WWW 2001): songs are similar when the same users play them.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (one pass over the data); input: user key, song key, Single play count; output:
/// a Single <c>Score</c> column; not exportable to ONNX. Written by hand: ML.NET has no neighbourhood recommender.
/// </para>
/// <para>
/// Similarity is Sarwar et al.'s cosine between songs' binary listener vectors (played or not),
/// sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|), pruned to each song's <see cref="ItemBasedCollaborativeFilteringOptions.NumberOfNeighbors"/>
/// most similar songs. A user's score for song i is the sum of sim(i, j) over the songs j the user played — the
/// top-N form of Deshpande and Karypis 2004; Sarwar's weighted average (divided by the sum of similarities) is
/// uninformative with binary feedback, where every played neighbour has rating 1. Training counts co-plays in time
/// linear in Σ (plays per user)² into a dense songs² matrix (100 MB for 5,000 songs; the limit on catalog size),
/// then keeps only the pruned similarities, stored sparse; recommending adds about NumberOfNeighbors entries per play.
/// </para>
/// </remarks>
public sealed class ItemBasedCollaborativeFilteringTrainer : IEstimator<ItemBasedCollaborativeFilteringModel>
{
    private readonly ItemBasedCollaborativeFilteringOptions _options;

    internal ItemBasedCollaborativeFilteringTrainer(ItemBasedCollaborativeFilteringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Copy(); // deterministic: no seed, no device
    }

    /// <summary>Computes song-song similarities from <paramref name="input"/>.</summary>
    public ItemBasedCollaborativeFilteringModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, _options.LabelColumnName);
        int n = plays.SongCount;
        var similarity = new float[(long)n * n];
        for (int u = 0; u < plays.UserCount; u++)
        {
            var songs = plays.SongsOf(u);
            foreach (int a in songs)
            {
                foreach (int b in songs)
                {
                    if (a != b)
                    {
                        similarity[(long)a * n + b]++;
                    }
                }
            }
        }

        for (int a = 0; a < n; a++)
        {
            int la = plays.PlayCountOfSong(a);
            for (int b = 0; b < n; b++)
            {
                long at = (long)a * n + b;
                if (similarity[at] != 0)
                {
                    similarity[at] /= (float)Math.Sqrt(la * (double)plays.PlayCountOfSong(b));
                }
            }
        }

        int keep = _options.NumberOfNeighbors;
        if (keep > 0 && keep < n - 1)
        {
            for (int a = 0; a < n; a++)
            {
                var row = similarity.AsSpan((int)((long)a * n), n);
                var best = new HashSet<int>(TopKMetrics.TopK(row, keep));
                for (int b = 0; b < n; b++)
                {
                    if (!best.Contains(b))
                    {
                        row[b] = 0;
                    }
                }
            }
        }

        // Stored sparse and by neighbour: entry list j holds (i, sim(i, j)) for every song i that keeps j as a
        // neighbour, so scoring a user adds the lists of the songs they played (about NumberOfNeighbors entries
        // per play) instead of multiplying dense matrices.
        var start = new int[n + 1];
        for (int a = 0; a < n; a++)
        {
            for (int b = 0; b < n; b++)
            {
                if (similarity[(long)a * n + b] != 0)
                {
                    start[b + 1]++;
                }
            }
        }

        for (int b = 0; b < n; b++)
        {
            start[b + 1] += start[b];
        }

        var target = new int[start[n]];
        var weight = new float[start[n]];
        var next = (int[])start.Clone();
        for (int a = 0; a < n; a++)
        {
            for (int b = 0; b < n; b++)
            {
                float w = similarity[(long)a * n + b];
                if (w != 0)
                {
                    target[next[b]] = a;
                    weight[next[b]++] = w;
                }
            }
        }

        return new ItemBasedCollaborativeFilteringModel(_options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, plays, start, target, weight);
    }

    /// <summary>Checks the input columns and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        PlayMatrix.ScoreOutputSchema(inputSchema, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!);
}

/// <summary>A fitted item-based CF model: Score(u, i) = Σ over songs j that u played of sim(i, j).</summary>
/// <remarks>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.ItemBasedCollaborativeFilteringModel". Payload
/// (little-endian, encodings of <see cref="RecommenderPersistence"/>):
/// <code>
/// version 1: recommender header (userColumn, songColumn, training plays),
///            int[] start (songs + 1), int[] target, float[] weight: the pruned similarities, neighbour by neighbour
///            (song j's are target/weight[start[j] .. start[j + 1]), targets ascending)
/// </code>
/// </remarks>
public sealed class ItemBasedCollaborativeFilteringModel : SongRecommenderModel, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.ItemBasedCollaborativeFilteringModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;

    // Neighbour j's entries are _target/_weight[_start[j] .. _start[j + 1]): songs i (ascending) and sim(i, j).
    private readonly int[] _start;
    private readonly int[] _target;
    private readonly float[] _weight;

    internal ItemBasedCollaborativeFilteringModel(string userColumnName, string songColumnName, PlayMatrix training, int[] start, int[] target, float[] weight)
        : base(userColumnName, songColumnName, training)
    {
        _start = start;
        _target = target;
        _weight = weight;
    }

    /// <summary>The (pruned) cosine similarity of two songs: the weight song <paramref name="songKey"/> gets from a play of <paramref name="neighborKey"/>.</summary>
    public float GetSimilarity(uint songKey, uint neighborKey)
    {
        if (songKey < 1 || songKey > SongCount || neighborKey < 1 || neighborKey > SongCount)
        {
            throw new ArgumentOutOfRangeException(nameof(songKey), $"Song keys run from 1 to {SongCount}; got {songKey} and {neighborKey}.");
        }

        return Similarity((int)songKey - 1, (int)neighborKey - 1);
    }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        RecommenderPersistence.WriteHeader(writer, UserColumnName, SongColumnName, Training);
        RecommenderPersistence.WriteInts(writer, _start);
        RecommenderPersistence.WriteInts(writer, _target);
        RecommenderPersistence.WriteFloats(writer, _weight);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static ItemBasedCollaborativeFilteringModel Load(AudioStageReader stage)
    {
        var r = stage.Reader;
        var (user, song, training) = RecommenderPersistence.ReadHeader(r);
        int songs = training.SongCount;
        var start = RecommenderPersistence.ReadInts(r, "the similarity offsets", (long)songs + 1);
        var target = RecommenderPersistence.ReadInts(r, "the similarity targets");
        var weight = RecommenderPersistence.ReadFloats(r, "the similarities", target.Length);
        if (start[0] != 0 || start[songs] != target.Length)
        {
            throw new InvalidDataException($"the similarity offsets run from {start[0]} to {start[songs]}, not from 0 to {target.Length}");
        }

        for (int j = 0; j < songs; j++)
        {
            if (start[j + 1] < start[j])
            {
                throw new InvalidDataException($"the similarity offsets decrease at song {j}");
            }

            // Lookups binary-search each neighbour's targets, so they must be in range and ascending.
            for (int p = start[j]; p < start[j + 1]; p++)
            {
                if ((uint)target[p] >= (uint)songs || (p > start[j] && target[p] <= target[p - 1]) || !float.IsFinite(weight[p]))
                {
                    throw new InvalidDataException($"the similarities of song {j} hold target {target[p]} (weight {weight[p]}), out of order, outside 0 .. {songs - 1} or not finite");
                }
            }
        }

        return new ItemBasedCollaborativeFilteringModel(user, song, training, start, target, weight);
    }

    private float Similarity(int song, int neighbor)
    {
        int at = Array.BinarySearch(_target, _start[neighbor], _start[neighbor + 1] - _start[neighbor], song);
        return at >= 0 ? _weight[at] : 0f;
    }

    private protected override float ScorePair(int user, int song)
    {
        float sum = 0;
        foreach (int j in Training.SongsOf(user))
        {
            sum += Similarity(song, j);
        }

        return sum;
    }

    private protected override Tensor ScoreBlock(int firstUser, int count)
    {
        int n = SongCount;
        var scores = new float[count * (long)n];
        for (int r = 0; r < count; r++)
        {
            long row = r * (long)n;
            foreach (int j in Training.SongsOf(firstUser + r))
            {
                for (int p = _start[j]; p < _start[j + 1]; p++)
                {
                    scores[row + _target[p]] += _weight[p];
                }
            }
        }

        return tensor(scores, [count, n]);
    }
}
