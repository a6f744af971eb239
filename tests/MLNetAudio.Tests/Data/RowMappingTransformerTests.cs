using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Tests.Data;

public sealed class RowMappingTransformerTests
{
    private readonly MLContext _ml = new(seed: 1);

    /// <summary>A test transformer: the length of a text column, counting how often it computes.</summary>
    private sealed class TextLengthTransformer(string output, string input) : RowMappingTransformer
    {
        public int Computations;

        private protected override SchemaBinding Bind(DataViewSchema inputSchema)
        {
            var col = SchemaShapes.Require(inputSchema, input, "Text");
            if (col.Type is not TextDataViewType)
            {
                throw new ArgumentException($"Column '{input}' must be Text; found {col.Type}.");
            }

            return new Binding(this, output, col.Index);
        }

        private sealed class Binding(TextLengthTransformer owner, string output, int inputIndex) : SchemaBinding
        {
            public override IReadOnlyList<OutputColumn> Outputs { get; } = [new OutputColumn(output, NumberDataViewType.Int32)];

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) => activeOutputs[0] ? [inputIndex] : [];

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(owner, input, inputIndex);
        }

        private sealed class Mapper(TextLengthTransformer owner, DataViewRow input, int inputIndex) : RowMapper
        {
            public override Delegate GetGetter(int outputIndex)
            {
                var text = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[inputIndex]);
                ReadOnlyMemory<char> buffer = default;
                return (ValueGetter<int>)((ref int value) =>
                {
                    Interlocked.Increment(ref owner.Computations);
                    text(ref buffer);
                    value = buffer.Length;
                });
            }
        }
    }

    private sealed class Row
    {
        public string Text { get; set; } = "";

        public float Other { get; set; }
    }

    private sealed class Output
    {
        public int Length { get; set; }
    }

    private IDataView Data(int n) =>
        _ml.Data.LoadFromEnumerable(Enumerable.Range(0, n).Select(i => new Row { Text = new string('x', i), Other = i }));

    [Fact]
    public void AddsColumnAndKeepsInputColumns()
    {
        var t = new TextLengthTransformer("Length", "Text");
        var output = t.Transform(Data(5));

        Assert.Equal(new[] { "Text", "Other", "Length" }, output.Schema.Select(c => c.Name));
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, output.GetColumn<int>("Length").ToArray());
        Assert.Equal(new[] { 0f, 1, 2, 3, 4 }, output.GetColumn<float>("Other").ToArray());
    }

    [Fact]
    public void ComputesNothingForColumnsNobodyReads()
    {
        var t = new TextLengthTransformer("Length", "Text");
        var output = t.Transform(Data(5));
        _ = output.GetColumn<float>("Other").ToArray();
        Assert.Equal(0, t.Computations);
    }

    [Fact]
    public void ChainedTransformerThatNobodyReadsAsksNothingOfTheOneBefore()
    {
        // The second transformer's input ("Length") is not requested when only "Other" is read; building its
        // per-cursor state anyway would ask for a getter the cursor does not have.
        var first = new TextLengthTransformer("Length", "Text");
        var second = new EagerTransformer("Doubled", "Length");
        var output = second.Transform(first.Transform(Data(3)));
        Assert.Equal(new[] { 0f, 1, 2 }, output.GetColumn<float>("Other").ToArray());
        Assert.Equal(new[] { 0, 2, 4 }, output.GetColumn<int>("Doubled").ToArray());
    }

    /// <summary>Takes its input getter when the mapper is made, as the real components do.</summary>
    private sealed class EagerTransformer(string output, string input) : RowMappingTransformer
    {
        private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
            new Binding(output, SchemaShapes.Require(inputSchema, input, "Int32").Index);

        private sealed class Binding(string output, int inputIndex) : SchemaBinding
        {
            public override IReadOnlyList<OutputColumn> Outputs { get; } = [new OutputColumn(output, NumberDataViewType.Int32)];

            public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) => activeOutputs[0] ? [inputIndex] : [];

            public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) =>
                new Mapper(input.GetGetter<int>(input.Schema[inputIndex]));
        }

        private sealed class Mapper(ValueGetter<int> source) : RowMapper
        {
            public override Delegate GetGetter(int outputIndex)
            {
                int v = 0;
                return (ValueGetter<int>)((ref int value) =>
                {
                    source(ref v);
                    value = 2 * v;
                });
            }
        }
    }

    [Fact]
    public void NewColumnHidesInputColumnOfSameName()
    {
        var t = new TextLengthTransformer("Other", "Text");
        var output = t.Transform(Data(3));
        Assert.Equal(new[] { 0, 1, 2 }, output.GetColumn<int>("Other").ToArray());
    }

    [Fact]
    public void ParallelCursorsSeeEveryRowOnce()
    {
        var t = new TextLengthTransformer("Length", "Text");
        var output = t.Transform(_ml.Data.Cache(Data(200)));
        var cursors = output.GetRowCursorSet(output.Schema, 4);
        var seen = new System.Collections.Concurrent.ConcurrentBag<int>();
        Parallel.ForEach(cursors, c =>
        {
            using (c)
            {
                var getter = c.GetGetter<int>(c.Schema["Length"]);
                int v = 0;
                while (c.MoveNext())
                {
                    getter(ref v);
                    seen.Add(v);
                }
            }
        });
        Assert.Equal(Enumerable.Range(0, 200), seen.OrderBy(v => v));
    }

    [Fact]
    public void WorksInPredictionEngine()
    {
        var t = new TextLengthTransformer("Length", "Text");
        var engine = _ml.Model.CreatePredictionEngine<Row, Output>(t);
        Assert.Equal(7, engine.Predict(new Row { Text = "seventy" }).Length);
    }

    [Fact]
    public void MissingInputColumnIsNamedWithWhatTheDataHas()
    {
        var t = new TextLengthTransformer("Length", "Lyrics");
        var e = Assert.Throws<ArgumentException>(() => t.Transform(Data(1)));
        Assert.Contains("'Lyrics'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'Text'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SchemaShapeAppendDescribesVariableVectorsAndAnnotations()
    {
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add("FramesPerWindow", NumberDataViewType.Int32, (ref int v) => v = 400);
        var shape = new SchemaShape(Data(1).Schema.Select(c => SchemaShapes.MakeColumn(c.Name, c.Type)));
        var result = SchemaShapes.Append(shape, [
            new OutputColumn("Windows", new VectorDataViewType(NumberDataViewType.Single, 0, 400, 40), annotations.ToAnnotations()),
            new OutputColumn("Other", BooleanDataViewType.Instance)]);

        var windows = result.Single(c => c.Name == "Windows");
        Assert.Equal(SchemaShape.Column.VectorKind.VariableVector, windows.Kind);
        Assert.Equal(NumberDataViewType.Single, windows.ItemType);
        Assert.Contains(windows.Annotations, a => a.Name == "FramesPerWindow");
        Assert.Equal(BooleanDataViewType.Instance, result.Single(c => c.Name == "Other").ItemType);
        Assert.Equal(3, result.Count);
    }

    [Fact]
    public void OptionErrorsListsEveryBadField()
    {
        var errors = new OptionErrors("TestOptions")
            .Check(true, "A", "must be positive")
            .Check(false, "B", "never shown")
            .Check(true, "C", "must be set");
        var e = Assert.Throws<ArgumentException>(errors.ThrowIfAny);
        Assert.Contains("A: must be positive", e.Message, StringComparison.Ordinal);
        Assert.Contains("C: must be set", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("B:", e.Message, StringComparison.Ordinal);
        Assert.Contains("2 invalid", e.Message, StringComparison.Ordinal);
    }
}
