using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051
/// <summary>Options of <see cref="PopularityTrainer"/>; column names as in ML.NET's MatrixFactorizationTrainer.</summary>
public sealed class PopularityOptions
{
    /// <summary>The user key column (the matrix's columns are users). Must be set.</summary>
    public string? MatrixColumnIndexColumnName;

    /// <summary>The song key column (the matrix's rows are songs). Must be set.</summary>
    public string? MatrixRowIndexColumnName;

    /// <summary>The play-count column (Single); rows with a count ≤ 0 are not plays. Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// When false (the default) a song's popularity is the number of distinct users who played it, so one user
    /// replaying a song many times does not make it popular; when true it is the total play count.
    /// </summary>
    public bool WeightByPlayCount;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal PopularityOptions Copy() => (PopularityOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(PopularityOptions))
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>
/// The popularity baseline: every user gets the most played songs they have not played yet.
/// </summary>
/// <remarks>
/// Estimator characteristics: trains (one pass over the data); input: user key, song key, Single play count; output:
/// a Single <c>Score</c> column (the song's popularity, the same for every user); not exportable to ONNX.
/// Written by hand: a count per song, which ML.NET has no trainer for.
/// </remarks>
public sealed class PopularityTrainer : IEstimator<PopularityModel>
{
    private readonly PopularityOptions _options;

    internal PopularityTrainer(PopularityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Copy(); // deterministic: no seed, no device
    }

    /// <summary>Counts each song's listeners (or plays) in <paramref name="input"/>.</summary>
    public PopularityModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, _options.LabelColumnName);
        var popularity = new float[plays.SongCount];
        for (int s = 0; s < plays.SongCount; s++)
        {
            popularity[s] = _options.WeightByPlayCount
                ? plays.SongPlays.AsSpan(plays.SongStart[s], plays.SongStart[s + 1] - plays.SongStart[s]).ToArray().Sum()
                : plays.PlayCountOfSong(s);
        }

        return new PopularityModel(_options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, plays, popularity);
    }

    /// <summary>Checks the input columns and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        PlayMatrix.ScoreOutputSchema(inputSchema, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!);
}

/// <summary>A fitted popularity baseline: Score is the song's number of listeners (or plays) in training.</summary>
/// <remarks>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.PopularityModel". Payload (little-endian,
/// encodings of <see cref="RecommenderPersistence"/>):
/// <code>
/// version 1: recommender header (userColumn, songColumn, training plays), float[] popularity (one per song)
/// </code>
/// </remarks>
public sealed class PopularityModel : SongRecommenderModel, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.PopularityModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;

    private readonly float[] _popularity;

    internal PopularityModel(string userColumnName, string songColumnName, PlayMatrix training, float[] popularity)
        : base(userColumnName, songColumnName, training)
    {
        _popularity = popularity;
    }

    /// <summary>The popularity of a song (its Score for every user).</summary>
    public float GetPopularity(uint songKey) =>
        songKey >= 1 && songKey <= SongCount ? _popularity[songKey - 1] : throw new ArgumentOutOfRangeException(nameof(songKey), songKey, $"Song keys run from 1 to {SongCount}.");

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        RecommenderPersistence.WriteHeader(writer, UserColumnName, SongColumnName, Training);
        RecommenderPersistence.WriteFloats(writer, _popularity);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static PopularityModel Load(AudioStageReader stage)
    {
        var (user, song, training) = RecommenderPersistence.ReadHeader(stage.Reader);
        var popularity = RecommenderPersistence.ReadFloats(stage.Reader, "the song popularities", training.SongCount);
        if (popularity.Any(p => !float.IsFinite(p)))
        {
            throw new InvalidDataException("a song popularity is not a finite number");
        }

        return new PopularityModel(user, song, training, popularity);
    }

    private protected override float ScorePair(int user, int song) => _popularity[song];

    private protected override Tensor ScoreBlock(int firstUser, int count) =>
        tensor(_popularity).unsqueeze(0).expand(count, SongCount);
}
