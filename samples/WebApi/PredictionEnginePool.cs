using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;

namespace WebApiSample;

/// <summary>
/// Prediction engines over one shared model, pooled: what <c>Microsoft.Extensions.ML</c>'s
/// <c>PredictionEnginePool</c> does (that package is not served here). A <see cref="PredictionEngine{TSrc,TDst}"/> is
/// not thread-safe, the model is: each request borrows an engine of its own and gives it back.
/// </summary>
/// <typeparam name="TInput">The model input class.</typeparam>
/// <typeparam name="TOutput">The model output class.</typeparam>
public sealed class PredictionEnginePool<TInput, TOutput>
    where TInput : class
    where TOutput : class, new()
{
    private readonly ObjectPool<PredictionEngine<TInput, TOutput>> _pool;

    /// <summary>Pools engines created from <paramref name="model"/>; keeps at most twice the processor count idle, as ML.NET's pool does.</summary>
    public PredictionEnginePool(MLContext ml, ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        _pool = new DefaultObjectPool<PredictionEngine<TInput, TOutput>>(new Policy(ml, model), Environment.ProcessorCount * 2);
    }

    /// <summary>The shared model the engines run.</summary>
    public ITransformer Model { get; }

    /// <summary>Borrows an engine; give it back with <see cref="ReturnPredictionEngine"/>.</summary>
    public PredictionEngine<TInput, TOutput> GetPredictionEngine() => _pool.Get();

    /// <summary>Gives a borrowed engine back to the pool.</summary>
    public void ReturnPredictionEngine(PredictionEngine<TInput, TOutput> engine) => _pool.Return(engine);

    /// <summary>Predicts one example with a borrowed engine.</summary>
    public TOutput Predict(TInput example)
    {
        var engine = _pool.Get();
        try
        {
            return engine.Predict(example);
        }
        finally
        {
            _pool.Return(engine);
        }
    }

    private sealed class Policy(MLContext ml, ITransformer model) : PooledObjectPolicy<PredictionEngine<TInput, TOutput>>
    {
        public override PredictionEngine<TInput, TOutput> Create() => ml.Model.CreatePredictionEngine<TInput, TOutput>(model);

        public override bool Return(PredictionEngine<TInput, TOutput> obj) => true;
    }
}
