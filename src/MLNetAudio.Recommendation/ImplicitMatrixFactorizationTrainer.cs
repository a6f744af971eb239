using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Trains implicit-feedback matrix factorization by weighted alternating least squares (Hu, Koren and Volinsky,
/// "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008) on TorchSharp tensors.
/// </summary>
/// <remarks>
/// <para>
/// Estimator characteristics: trains (needs no caching; reads the data once); input: a user key column, a song key
/// column and a Single play-count column; output: a Single <c>Score</c> column and a Boolean <c>HasFactors</c>
/// column; NuGet: MLNetAudio (plus a libtorch backend); not exportable to ONNX.
/// </para>
/// <para>
/// Written by hand because Microsoft.ML.Recommender (LIBMF) is not available to this project and its one-class mode
/// is not Hu et al.'s confidence-weighted model. Each half-step solves every user (then every song) exactly:
/// x_u = (YᵀY + Yᵀ(C_u − I)Y + λI)⁻¹ Yᵀ C_u p(u), where YᵀY is computed once per half-step and Yᵀ(C_u − I)Y only
/// over the songs u played (c − 1 = α r), so the cost is linear in the number of plays. The per-user systems are
/// built by batched matrix products over users grouped by play count and solved by a batched Cholesky
/// factorisation, on CUDA when available; <see cref="ImplicitMatrixFactorizationOptions.ConjugateGradientSteps"/>
/// switches to a few warm-started conjugate-gradient steps instead, as the <c>implicit</c> library does: on the CPU
/// those run in managed code one user at a time over its own plays, in parallel (no padding, no gathered copies; the
/// path for large play logs, docs/benchmarks.md), on CUDA as batched tensor products.
/// </para>
/// <para>
/// Cold songs: a song with no positive play in the training data gets no factors (its solve has a zero right-hand
/// side). The model scores it 0 with <c>HasFactors</c> false and never recommends it; the same holds for a user or
/// song key of 0 (missing from the key mapping).
/// </para>
/// </remarks>
public sealed class ImplicitMatrixFactorizationTrainer : IEstimator<ImplicitMatrixFactorizationModel>
{
    private readonly ImplicitMatrixFactorizationOptions _options;
    private readonly int _seed;

    // Options validated and copied here; a null Seed is drawn from the MLContext (TrainerSeeds).
    internal ImplicitMatrixFactorizationTrainer(MLContext mlContext, ImplicitMatrixFactorizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options.Copy();
        _seed = TrainerSeeds.Resolve(mlContext, _options.Seed, ImplicitAls.TrainerName);
    }

    /// <summary>Trains the factors on <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">A column is missing or of the wrong type; the message names it.</exception>
    public ImplicitMatrixFactorizationModel Fit(IDataView input)
    {
        var plays = PlayMatrix.ReadTraining(input, _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, _options.LabelColumnName);
        float largest = plays.NonZeroCount == 0 ? 0 : plays.Plays.Max();
        if (!float.IsFinite(1 + ((float)_options.Alpha * largest)))
        {
            throw new ArgumentException(
                $"Play count column '{_options.LabelColumnName}' holds {largest}, which times Alpha ({_options.Alpha}) overflows a Single confidence; "
                + "scale the counts down (log1p, or cap them) or lower Alpha.",
                nameof(input));
        }

        int previousThreads = torch.get_num_threads();
        if (_options.NumberOfThreads is int threads)
        {
            torch.set_num_threads(threads);
        }

        try
        {
            using var als = CreateSolver(plays);
            var losses = new List<double>(_options.NumberOfIterations);
            for (int i = 0; i < _options.NumberOfIterations; i++)
            {
                als.SolveUsers(i + 1);
                als.SolveSongs(i + 1);
                double loss = als.Loss();
                if (!double.IsFinite(loss))
                {
                    throw new NonFiniteTrainingException(ImplicitAls.TrainerName, i + 1, null, "training loss", loss,
                        "The factors are finite but Hu et al.'s objective overflows: the play counts times Alpha are too large.");
                }

                losses.Add(loss);
                _options.Progress?.Report(new TrainingProgress(i + 1, loss) { Trainer = ImplicitAls.TrainerName, TotalEpochs = _options.NumberOfIterations });
            }

            return new ImplicitMatrixFactorizationModel(
                _options.MatrixColumnIndexColumnName!, _options.MatrixRowIndexColumnName!, plays,
                als.UserFactorsArray(), als.SongFactorsArray(), _options.ApproximationRank, als.Device.type, losses)
            {
                Lambda = _options.Lambda,
                Alpha = _options.Alpha,
            };
        }
        finally
        {
            if (_options.NumberOfThreads is not null)
            {
                torch.set_num_threads(previousThreads);
            }
        }
    }

    /// <summary>Checks the input columns and describes the output (Score and HasFactors).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        PlayMatrix.RequireKey(inputSchema, _options.MatrixColumnIndexColumnName!, "User (MatrixColumnIndexColumnName)");
        PlayMatrix.RequireKey(inputSchema, _options.MatrixRowIndexColumnName!, "Song (MatrixRowIndexColumnName)");
        return SchemaShapes.Append(inputSchema, ImplicitMatrixFactorizationModel.Outputs);
    }

    /// <summary>
    /// The managed conjugate-gradient solver on the CPU (linear in the plays, no padding); the tensor solver for exact
    /// solves and on CUDA.
    /// </summary>
    internal IAlsSolver CreateSolver(PlayMatrix plays)
    {
        var device = TorchDevices.Resolve(_options.Device, "ImplicitMatrixFactorizationOptions.Device");
        float lambda = (float)_options.Lambda, alpha = (float)_options.Alpha;
        return device.type == DeviceType.CPU && _options.ConjugateGradientSteps > 0
            ? new ConjugateGradientAls(plays, _options.ApproximationRank, lambda, alpha, _seed, _options.ConjugateGradientSteps, _options.NumberOfThreads)
            : new ImplicitAls(plays, _options.ApproximationRank, lambda, alpha, _seed, device) { ConjugateGradientSteps = _options.ConjugateGradientSteps };
    }

    internal static Device PickDevice(bool useGpu) => useGpu && cuda.is_available() ? CUDA : CPU;
}
