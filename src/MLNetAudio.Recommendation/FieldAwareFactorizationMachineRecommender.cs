using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;
using MLNetAudio.Data;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>
/// Options of <see cref="FieldAwareFactorizationMachineRecommenderTrainer"/>. Training settings keep the names and
/// defaults of ML.NET's <c>FieldAwareFactorizationMachineTrainer.Options</c>, except the latent dimension.
/// </summary>
public sealed class FieldAwareFactorizationMachineRecommenderOptions
{
    /// <summary>The user key column (the matrix's columns are users). Must be set.</summary>
    public string? MatrixColumnIndexColumnName;

    /// <summary>The song key column (the matrix's rows are songs). Must be set.</summary>
    public string? MatrixRowIndexColumnName;

    /// <summary>The play-count column (Single); a count > 0 is a play (a positive example). Default "Label".</summary>
    public string LabelColumnName = Defaults.LabelColumnName;

    /// <summary>
    /// Songs the user never played drawn (uniformly among songs with plays) as negative examples per play, since
    /// a binary classifier needs both classes and implicit feedback has only plays. Default 4.
    /// </summary>
    public int NegativeSamplesPerPlay = Defaults.NegativeSamplesPerPlay;

    /// <summary>
    /// Latent dimension; must be a multiple of 8. Default 16, not ML.NET's 20: on a CPU with AVX, ML.NET 5.0.1's FFM
    /// steps through latent vectors 8 floats at a time (k + 8 ≤ d, with d padded only to a multiple of 4), so with
    /// 20 it trains and scores with dimensions 0-15 and silently ignores 16-19 (a test here caught it).
    /// </summary>
    public int LatentDimension = Defaults.LatentDimension;

    /// <summary>Training passes (ML.NET's default 5).</summary>
    public int NumberOfIterations = Defaults.NumberOfIterations;

    /// <summary>Initial learning rate (ML.NET's default 0.1).</summary>
    public float LearningRate = Defaults.LearningRate;

    /// <summary>Regularisation of the latent weights (ML.NET's default 0.0001).</summary>
    public float LambdaLatent = Defaults.Lambda;

    /// <summary>Regularisation of the linear weights (ML.NET's default 0.0001).</summary>
    public float LambdaLinear = Defaults.Lambda;

    /// <summary>
    /// Seed of the negative sampling and of ML.NET's FFM (its initial weights and shuffling). Null (default) draws one
    /// from the MLContext when the trainer is made (the same context seed and the same calls give the same model); a set
    /// seed leaves the context's random stream untouched.
    /// </summary>
    public int? Seed;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default label column.</summary>
        public const string LabelColumnName = "Label";

        /// <summary>Default negatives per play.</summary>
        public const int NegativeSamplesPerPlay = 4;

        /// <summary>Default latent dimension (a multiple of 8; see <see cref="LatentDimension"/>).</summary>
        public const int LatentDimension = 16;

        /// <summary>ML.NET's default number of iterations.</summary>
        public const int NumberOfIterations = 5;

        /// <summary>ML.NET's default learning rate.</summary>
        public const float LearningRate = 0.1f;

        /// <summary>ML.NET's default regularisation.</summary>
        public const float Lambda = 0.0001f;
    }

    /// <summary>A copy: the trainer keeps its own, so changing the options after construction changes nothing.</summary>
    internal FieldAwareFactorizationMachineRecommenderOptions Copy() => (FieldAwareFactorizationMachineRecommenderOptions)MemberwiseClone();

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(FieldAwareFactorizationMachineRecommenderOptions))
            .Check(string.IsNullOrWhiteSpace(MatrixColumnIndexColumnName), nameof(MatrixColumnIndexColumnName), "must name the user key column.")
            .Check(string.IsNullOrWhiteSpace(MatrixRowIndexColumnName), nameof(MatrixRowIndexColumnName), "must name the song key column.")
            .Check(string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the play-count column.")
            .Check(NegativeSamplesPerPlay < 1, nameof(NegativeSamplesPerPlay), $"must be at least 1; found {NegativeSamplesPerPlay}.")
            .Check(LatentDimension < 8 || LatentDimension % 8 != 0, nameof(LatentDimension), $"must be a positive multiple of 8 (ML.NET's AVX code ignores the dimensions past the last multiple of 8); found {LatentDimension}.")
            .Check(NumberOfIterations < 1, nameof(NumberOfIterations), $"must be at least 1; found {NumberOfIterations}.")
            .Check(!(LearningRate > 0) || float.IsInfinity(LearningRate), nameof(LearningRate), $"must be positive and finite; found {LearningRate}.")
            .Check(!(LambdaLatent >= 0) || float.IsInfinity(LambdaLatent), nameof(LambdaLatent), $"must be zero or positive and finite; found {LambdaLatent}.")
            .Check(!(LambdaLinear >= 0) || float.IsInfinity(LambdaLinear), nameof(LambdaLinear), $"must be zero or positive and finite; found {LambdaLinear}.")
            .ThrowIfAny();
}
#pragma warning restore CA1051

/// <summary>
/// ML.NET's own <c>FieldAwareFactorizationMachineTrainer</c> as an off-the-shelf collaborative-filtering baseline:
/// two fields (the user as a one-hot vector, the song as a one-hot vector), plays as positives and sampled unplayed
/// songs as negatives.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (through ML.NET's FFM trainer); input: user key, song key, Single play count;
/// output: a Single <c>Score</c> column (the FFM's raw score, before the sigmoid); not exportable to ONNX.
/// </para>
/// <para>
/// With one active feature per field and feature normalisation off, the FFM's score of (u, s) is
/// w_u + w_s + ⟨v_(u, song field), v_(s, user field)⟩: matrix factorization with biases. The model reads those
/// weights from ML.NET's <c>FieldAwareFactorizationMachineModelParameters</c> so that it can score every song for
/// every user as a matrix product instead of running the ML.NET predictor row by row (a test checks both agree).
/// Only the negative sampling and that read-out are written here.
/// </para>
/// </remarks>
public sealed class FieldAwareFactorizationMachineRecommenderTrainer : IEstimator<FieldAwareFactorizationMachineRecommenderModel>
{
    internal const string UserVectorColumn = "FfmUserVector";
    internal const string SongVectorColumn = "FfmSongVector";
    private const string TrainerName = "FieldAwareFactorizationMachineRecommender";

    private readonly MLContext _context;
    private readonly FieldAwareFactorizationMachineRecommenderOptions _options;
    private readonly int _seed;

    // Options validated and copied here; a null Seed is drawn from the MLContext (TrainerSeeds).
    internal FieldAwareFactorizationMachineRecommenderTrainer(MLContext context, FieldAwareFactorizationMachineRecommenderOptions options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _context = context;
        _options = options.Copy();
        _seed = TrainerSeeds.Resolve(context, _options.Seed, TrainerName);
    }

    /// <summary>Samples negatives, trains ML.NET's FFM and reads its weights out.</summary>
    public FieldAwareFactorizationMachineRecommenderModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, _options.LabelColumnName);
        var examples = Examples(plays);
        var schema = SchemaDefinition.Create(typeof(Example));
        schema[nameof(Example.User)].ColumnType = new KeyDataViewType(typeof(uint), plays.UserCount);
        schema[nameof(Example.Song)].ColumnType = new KeyDataViewType(typeof(uint), plays.SongCount);
        // ML.NET's FFM draws its initial weights and shuffles from its host's random, which the MLContext derives from
        // its seed and from how many components registered before; so the same Fit gave other weights depending on what
        // the caller had run on the context first. A context of its own, seeded by the options, makes Fit reproducible;
        // its log goes to the caller's context.
        var ml = new MLContext(_seed);
        using var channel = ((IChannelProvider)_context).Start("FieldAwareFactorizationMachineRecommender");
        ml.Log += (_, e) =>
        {
            switch (e.Kind)
            {
                case ChannelMessageKind.Error: channel.Error(MessageSensitivity.None, e.Message); break;
                case ChannelMessageKind.Warning: channel.Warning(MessageSensitivity.None, e.Message); break;
                case ChannelMessageKind.Info: channel.Info(MessageSensitivity.None, e.Message); break;
                default: channel.Trace(MessageSensitivity.None, e.Message); break;
            }
        };
        var data = ml.Data.LoadFromEnumerable(examples, schema);

        var features = ml.Transforms.Conversion.MapKeyToVector(UserVectorColumn, nameof(Example.User))
            .Append(ml.Transforms.Conversion.MapKeyToVector(SongVectorColumn, nameof(Example.Song)));
        var ffm = ml.BinaryClassification.Trainers.FieldAwareFactorizationMachine(new FieldAwareFactorizationMachineTrainer.Options
        {
            FeatureColumnName = UserVectorColumn,
            ExtraFeatureColumns = [SongVectorColumn],
            LabelColumnName = nameof(Example.Label),
            LatentDimension = _options.LatentDimension,
            NumberOfIterations = _options.NumberOfIterations,
            LearningRate = _options.LearningRate,
            LambdaLatent = _options.LambdaLatent,
            LambdaLinear = _options.LambdaLinear,

            // Off so that each one-hot feature keeps the value 1 and the score is the plain biased dot product.
            NormalizeFeatures = false,
        });
        var pipeline = features.Append(ffm).Fit(data);
        var parameters = pipeline.LastTransformer.Model;

        int users = plays.UserCount, songs = plays.SongCount, d = parameters.LatentDimension, fields = parameters.FieldCount;
        var linear = parameters.GetLinearWeights();
        var latent = parameters.GetLatentWeights().ToArray();
        var userVectors = new float[users * d];
        var songVectors = new float[songs * d];
        for (int u = 0; u < users; u++)
        {
            // User feature u (field 0) meets a song, so its latent vector for the song field (1) is used.
            Array.Copy(latent, (u * fields + 1) * d, userVectors, u * d, d);
        }

        for (int s = 0; s < songs; s++)
        {
            Array.Copy(latent, ((users + s) * fields + 0) * d, songVectors, s * d, d);
        }

        // ML.NET's FFM reports no loss; a diverged run shows as NaN or infinite weights, which would score every pair NaN.
        foreach (var (name, values) in new[] { ("linear weight", linear.ToArray()), ("latent weight", latent) })
        {
            int bad = Array.FindIndex(values, v => !float.IsFinite(v));
            if (bad >= 0)
            {
                throw new NonFiniteTrainingException("FieldAwareFactorizationMachineRecommender", null, null, $"{name} {bad}", values[bad],
                    $"ML.NET's field-aware factorization machine diverged over its {_options.NumberOfIterations} iteration(s) (LearningRate {_options.LearningRate}).");
            }
        }

        return new FieldAwareFactorizationMachineRecommenderModel(
            _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, plays,
            userVectors, songVectors, linear.Take(users).ToArray(), linear.Skip(users).Take(songs).ToArray(), d)
        {
            Reference = pipeline,
        };
    }

    /// <summary>Checks the input columns and describes the output (Score).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        PlayMatrix.ScoreOutputSchema(inputSchema, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!);

    /// <summary>Every play as a positive, and NegativeSamplesPerPlay unplayed songs with plays as negatives.</summary>
    private List<Example> Examples(PlayMatrix plays)
    {
        var random = new Random(_seed);
        var known = Enumerable.Range(0, plays.SongCount).Where(s => plays.PlayCountOfSong(s) > 0).ToArray();
        var examples = new List<Example>(plays.NonZeroCount * (1 + _options.NegativeSamplesPerPlay));
        for (int u = 0; u < plays.UserCount; u++)
        {
            var played = new HashSet<int>(plays.SongsOf(u).ToArray());
            bool canSample = played.Count < known.Length;
            foreach (int s in played)
            {
                // LoadFromEnumerable reads .NET key values as 0-based.
                examples.Add(new Example { User = (uint)u, Song = (uint)s, Label = true });
                for (int n = 0; n < _options.NegativeSamplesPerPlay && canSample; n++)
                {
                    int negative;
                    do
                    {
                        negative = known[random.Next(known.Length)];
                    }
                    while (played.Contains(negative));

                    examples.Add(new Example { User = (uint)u, Song = (uint)negative, Label = false });
                }
            }
        }

        return examples;
    }

    private sealed class Example
    {
        public uint User { get; set; }

        public uint Song { get; set; }

        public bool Label { get; set; }
    }
}

/// <summary>
/// A fitted FFM baseline: Score(u, s) = w_u + w_s + ⟨user vector, song vector⟩ read from ML.NET's FFM weights.
/// </summary>
/// <remarks>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.FieldAwareFactorizationMachineRecommenderModel";
/// the weights read out of ML.NET's model are all it scores with, so they are what the file keeps (not ML.NET's FFM
/// model itself). Payload, version 1 (encodings of <see cref="RecommenderPersistence"/>): the recommender header (key
/// columns, training plays), int32 dimension, float[] userVectors (users x dimension), float[] songVectors
/// (songs x dimension), float[] userBias (users), float[] songBias (songs).
/// </remarks>
public sealed class FieldAwareFactorizationMachineRecommenderModel : SongRecommenderModel, IPersistableAudioTransformer
{
    internal const string FormatName = "MLNetAudio.FieldAwareFactorizationMachineRecommenderModel";
    internal const int CurrentVersion = 1;
    internal const int OldestReadableVersion = 1;

    private readonly float[] _userVectors;
    private readonly float[] _songVectors;
    private readonly float[] _userBias;
    private readonly float[] _songBias;
    private readonly int _dimension;

    internal FieldAwareFactorizationMachineRecommenderModel(
        string userColumnName, string songColumnName, PlayMatrix training, float[] userVectors, float[] songVectors, float[] userBias, float[] songBias, int dimension)
        : base(userColumnName, songColumnName, training)
    {
        _userVectors = userVectors;
        _songVectors = songVectors;
        _userBias = userBias;
        _songBias = songBias;
        _dimension = dimension;
    }

    /// <summary>The fitted ML.NET pipeline (one-hot vectors, then FFM) over the internal example columns; tests compare with it.</summary>
    internal TransformerChain<FieldAwareFactorizationMachinePredictionTransformer>? Reference { get; init; }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        RecommenderPersistence.WriteHeader(writer, UserColumnName, SongColumnName, Training);
        writer.Write(_dimension);
        RecommenderPersistence.WriteFloats(writer, _userVectors);
        RecommenderPersistence.WriteFloats(writer, _songVectors);
        RecommenderPersistence.WriteFloats(writer, _userBias);
        RecommenderPersistence.WriteFloats(writer, _songBias);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static FieldAwareFactorizationMachineRecommenderModel Load(AudioStageReader stage)
    {
        var r = stage.Reader;
        var (user, song, training) = RecommenderPersistence.ReadHeader(r);
        int dimension = r.ReadInt32();
        if (dimension < 1)
        {
            throw new InvalidDataException($"the latent dimension is {dimension}");
        }

        var userVectors = RecommenderPersistence.ReadFloats(r, "the user vectors", (long)training.UserCount * dimension);
        var songVectors = RecommenderPersistence.ReadFloats(r, "the song vectors", (long)training.SongCount * dimension);
        var userBias = RecommenderPersistence.ReadFloats(r, "the user biases", training.UserCount);
        var songBias = RecommenderPersistence.ReadFloats(r, "the song biases", training.SongCount);
        if (new[] { userVectors, songVectors, userBias, songBias }.Any(a => a.Any(v => !float.IsFinite(v))))
        {
            throw new InvalidDataException("a weight is not a finite number");
        }

        return new FieldAwareFactorizationMachineRecommenderModel(user, song, training, userVectors, songVectors, userBias, songBias, dimension);
    }

    private protected override float ScorePair(int user, int song)
    {
        float dot = _userBias[user] + _songBias[song];
        for (int k = 0; k < _dimension; k++)
        {
            dot += _userVectors[user * _dimension + k] * _songVectors[song * _dimension + k];
        }

        return dot;
    }

    private protected override Tensor ScoreBlock(int firstUser, int count)
    {
        // Clones live in libtorch's aligned memory: a product over pinned managed arrays rounds by their alignment,
        // which varies from process to process.
        var users = tensor(_userVectors.AsSpan(firstUser * _dimension, count * _dimension).ToArray(), [count, _dimension]).clone();
        var songs = tensor(_songVectors, [SongCount, _dimension]).clone();
        var userBias = tensor(_userBias.AsSpan(firstUser, count).ToArray(), [count, 1]);
        var songBias = tensor(_songBias, [1, SongCount]);
        return users.matmul(songs.t()).add(userBias, TorchScalars.One).add(songBias, TorchScalars.One);
    }
}
