using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Data;

/// <summary>
/// Base of every MLNetAudio transformer that adds columns to each row (loader, segmenter, scorer, aggregator).
/// </summary>
/// <remarks>
/// Written by hand because ML.NET's own <c>RowToRowTransformerBase</c> has a <c>private protected</c>
/// constructor (see DESIGN.md §6). It keeps ML.NET's discipline: the output schema is the input schema plus
/// the new columns (a new column hides an input column of the same name); cursors are lazy, one row at a
/// time; per-cursor state lives in a <see cref="RowMapper"/> created for each cursor, so parallel cursors from
/// <see cref="IDataView.GetRowCursorSet"/> never share buffers; and the transformer is also an
/// <see cref="IRowToRowMapper"/>, which <see cref="PredictionEngine{TSrc,TDst}"/> needs.
/// </remarks>
public abstract class RowMappingTransformer : ITransformer
{
    private protected RowMappingTransformer()
    {
    }

    /// <summary>Always true: these transformers map one row to one row.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema extended with this transformer's output columns.</summary>
    /// <exception cref="ArgumentException">An input column is missing or of the wrong type; the message names it.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return ExtendSchema(inputSchema, Bind(inputSchema).Outputs);
    }

    /// <summary>Lazily applies the transformer: nothing is computed until a cursor moves.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new MappedDataView(input, Bind(input.Schema));
    }

    /// <summary>Returns a row-to-row mapper over <paramref name="inputSchema"/>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new Mapper(inputSchema, Bind(inputSchema));
    }

    /// <summary>Not supported: ML.NET keeps its model-saving API internal. Use <c>ml.Audio().Model.Save</c>.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException(
            $"{GetType().Name} cannot be saved through ML.NET's internal ModelSaveContext. "
            + "Save pipelines that hold MLNetAudio components with ml.Audio().Model.Save(...).");

    /// <summary>Checks the input schema and describes the output columns; throws naming the bad column.</summary>
    private protected abstract SchemaBinding Bind(DataViewSchema inputSchema);

    internal static DataViewSchema ExtendSchema(DataViewSchema input, IReadOnlyList<OutputColumn> outputs)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        foreach (var o in outputs)
        {
            builder.AddColumn(o.Name, o.Type, o.Annotations);
        }

        return builder.ToSchema();
    }

    private sealed class Mapper : IRowToRowMapper
    {
        private readonly SchemaBinding _binding;

        public Mapper(DataViewSchema input, SchemaBinding binding)
        {
            InputSchema = input;
            _binding = binding;
            OutputSchema = ExtendSchema(input, binding.Outputs);
        }

        public DataViewSchema InputSchema { get; }

        public DataViewSchema OutputSchema { get; }

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            var (inputs, _, _) = MappedDataView.Split(InputSchema.Count, _binding, dependingColumns);
            return inputs.Select(i => InputSchema[i]);
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        {
            var (_, active, passedOn) = MappedDataView.Split(InputSchema.Count, _binding, activeColumns);
            return new MappedRow(input, _binding, OutputSchema, active, passedOn);
        }
    }
}

/// <summary>One output column: its name, type and annotations.</summary>
internal sealed record OutputColumn(string Name, DataViewType Type, DataViewSchema.Annotations? Annotations = null);

/// <summary>What a transformer decided about one input schema: its outputs and how to compute them.</summary>
internal abstract class SchemaBinding
{
    /// <summary>The columns this transformer appends, in order.</summary>
    public abstract IReadOnlyList<OutputColumn> Outputs { get; }

    /// <summary>Indices of the input columns needed to compute the active outputs.</summary>
    public abstract IEnumerable<int> InputsNeeded(bool[] activeOutputs);

    /// <summary>Creates the per-cursor state that computes the active outputs from <paramref name="input"/>.</summary>
    public abstract RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs);

    /// <summary>
    /// Creates the per-cursor state; <paramref name="inputsPassedOn"/> are the input columns that the reader of this
    /// transformer's output reads too (passed through), so a mapper may skip materialising an input only it reads.
    /// </summary>
    public virtual RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs, IReadOnlySet<int> inputsPassedOn) =>
        CreateMapper(input, activeOutputs);
}

/// <summary>Per-cursor state (decoders, buffers, caches). Never shared between cursors.</summary>
internal abstract class RowMapper : IDisposable
{
    /// <summary>Returns a <see cref="ValueGetter{TValue}"/> for output column <paramref name="outputIndex"/>.</summary>
    public abstract Delegate GetGetter(int outputIndex);

    public virtual void Dispose()
    {
    }
}

internal sealed class MappedDataView : IDataView
{
    private readonly IDataView _source;
    private readonly SchemaBinding _binding;

    public MappedDataView(IDataView source, SchemaBinding binding)
    {
        _source = source;
        _binding = binding;
        Schema = RowMappingTransformer.ExtendSchema(source.Schema, binding.Outputs);
    }

    public bool CanShuffle => _source.CanShuffle;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var (inputs, active, passedOn) = Split(_source.Schema.Count, _binding, columnsNeeded);
        var cursor = _source.GetRowCursor(inputs.Select(i => _source.Schema[i]), rand);
        return new MappedCursor(cursor, _binding, Schema, active, passedOn);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
    {
        var (inputs, active, passedOn) = Split(_source.Schema.Count, _binding, columnsNeeded);
        var cursors = _source.GetRowCursorSet(inputs.Select(i => _source.Schema[i]), n, rand);
        return cursors.Select(c => (DataViewRowCursor)new MappedCursor(c, _binding, Schema, active, passedOn)).ToArray();
    }

    /// <summary>
    /// Splits the columns a reader asks for into the inputs to request upstream (those passed through plus those the
    /// active outputs need), the active outputs, and the inputs passed through (read by the reader itself).
    /// </summary>
    internal static (HashSet<int> Inputs, bool[] ActiveOutputs, HashSet<int> PassedOn) Split(
        int inputCount, SchemaBinding binding, IEnumerable<DataViewSchema.Column> columns)
    {
        var passedOn = new HashSet<int>();
        var active = new bool[binding.Outputs.Count];
        foreach (var c in columns)
        {
            if (c.Index < inputCount)
            {
                passedOn.Add(c.Index);
            }
            else
            {
                active[c.Index - inputCount] = true;
            }
        }

        var inputs = new HashSet<int>(passedOn);
        inputs.UnionWith(binding.InputsNeeded(active));
        return (inputs, active, passedOn);
    }
}

internal sealed class MappedRow : DataViewRow
{
    private readonly DataViewRow _input;
    private readonly SchemaBinding _binding;
    private readonly bool[] _active;
    private RowMapper? _mapper;
    private readonly Delegate?[] _getters;
    private readonly int _inputCount;
    private readonly IReadOnlySet<int> _passedOn;

    public MappedRow(DataViewRow input, SchemaBinding binding, DataViewSchema schema, bool[] active, IReadOnlySet<int> passedOn)
    {
        _input = input;
        _active = active;
        _passedOn = passedOn;
        _inputCount = input.Schema.Count;
        Schema = schema;
        _binding = binding;
        _getters = new Delegate?[active.Length];
    }

    public override long Position => _input.Position;

    public override long Batch => _input.Batch;

    public override DataViewSchema Schema { get; }

    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) =>
        column.Index < _inputCount ? _input.IsColumnActive(_input.Schema[column.Index]) : _active[column.Index - _inputCount];

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) =>
        RowGetters.Get<TValue>(column, _input, _inputCount, _active, _getters, () => _mapper ??= _binding.CreateMapper(_input, _active, _passedOn), Schema);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _mapper?.Dispose();
        }

        base.Dispose(disposing);
    }
}

internal sealed class MappedCursor : DataViewRowCursor
{
    private readonly DataViewRowCursor _input;
    private readonly MappedRow _row;

    public MappedCursor(DataViewRowCursor input, SchemaBinding binding, DataViewSchema schema, bool[] active, IReadOnlySet<int> passedOn)
    {
        _input = input;
        _row = new MappedRow(input, binding, schema, active, passedOn);
    }

    public override long Position => _input.Position;

    public override long Batch => _input.Batch;

    public override DataViewSchema Schema => _row.Schema;

    public override bool MoveNext() => _input.MoveNext();

    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) => _row.IsColumnActive(column);

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _row.GetGetter<TValue>(column);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _row.Dispose();
            _input.Dispose();
        }

        base.Dispose(disposing);
    }
}

internal static class RowGetters
{
    public static ValueGetter<TValue> Get<TValue>(
        DataViewSchema.Column column, DataViewRow input, int inputCount, bool[] active, Delegate?[] getters, Func<RowMapper> mapper, DataViewSchema schema)
    {
        if (column.Index < inputCount)
        {
            return input.GetGetter<TValue>(input.Schema[column.Index]);
        }

        int o = column.Index - inputCount;
        if (o >= active.Length || !active[o])
        {
            throw new InvalidOperationException($"Column '{column.Name}' was not requested when this cursor was created.");
        }

        // The mapper is made on the first request for one of our columns: a cursor that only reads
        // pass-through columns never builds decoders or asks for inputs it did not request.
        getters[o] ??= mapper().GetGetter(o);
        return getters[o] as ValueGetter<TValue>
            ?? throw new InvalidOperationException(
                $"Column '{column.Name}' is of type {schema[column.Index].Type}; it cannot be read as {typeof(TValue).Name}.");
    }
}
