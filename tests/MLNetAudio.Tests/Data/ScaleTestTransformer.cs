using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// A test-only MLNetAudio-style stage: <c>output = input * Factor + Offset</c> on a float column. It carries fitted
/// state, so a save/load round trip that dropped or misread the state would change the outputs.
/// </summary>
/// <remarks>
/// Payload format (after the container's stage header):
/// <code>
/// version 1: string outputColumn, string inputColumn, float factor          (offset is 0)
/// version 2: string outputColumn, string inputColumn, float factor, float offset
/// </code>
/// </remarks>
internal sealed class ScaleTestTransformer : RowMappingTransformer, IPersistableAudioTransformer
{
    public const string Format = "MLNetAudio.Tests.Scale";
    public const int CurrentVersion = 2;
    public const int OldestReadableVersion = 1;

    private readonly int _writeVersion;

    public ScaleTestTransformer(string output, string input, float factor, float offset, int writeVersion = CurrentVersion, string format = Format)
    {
        Output = output;
        Input = input;
        Factor = factor;
        Offset = offset;
        _writeVersion = writeVersion;
        FormatName = format;
    }

    public string Output { get; }

    public string Input { get; }

    public float Factor { get; }

    public float Offset { get; }

    public string FormatName { get; }

    public int FormatVersion => _writeVersion;

    /// <summary>Registers the loader; idempotent. Call before loading a model that holds this stage.</summary>
    public static void Register() => AudioModelFormats.Register(Format, CurrentVersion, OldestReadableVersion, Load);

    /// <summary>Registers this loader under another name and version range (to test the version checks).</summary>
    public static void RegisterAs(string format, int currentVersion, int oldestReadableVersion) =>
        AudioModelFormats.Register(format, currentVersion, oldestReadableVersion, Load);

    public void Save(BinaryWriter writer)
    {
        writer.Write(Output);
        writer.Write(Input);
        writer.Write(Factor);

        // A newer version than the reader knows may carry anything; this one just adds the offset.
        if (_writeVersion >= 2)
        {
            writer.Write(Offset);
        }
    }

    private static ScaleTestTransformer Load(AudioStageReader stage)
    {
        var r = stage.Reader;
        string output = r.ReadString();
        string input = r.ReadString();
        float factor = r.ReadSingle();
        float offset = stage.Version >= 2 ? r.ReadSingle() : 0f;
        return new ScaleTestTransformer(output, input, factor, offset);
    }

    private protected override SchemaBinding Bind(DataViewSchema inputSchema)
    {
        var column = inputSchema.GetColumnOrNull(Input)
            ?? throw new ArgumentException($"Input column '{Input}' was not found.", nameof(inputSchema));
        if (column.Type != NumberDataViewType.Single)
        {
            throw new ArgumentException($"Input column '{Input}' must be Single; found {column.Type}.", nameof(inputSchema));
        }

        return new Binding(this, column.Index);
    }

    private sealed class Binding(ScaleTestTransformer parent, int inputIndex) : SchemaBinding
    {
        public override IReadOnlyList<OutputColumn> Outputs { get; } = [new OutputColumn(parent.Output, NumberDataViewType.Single)];

        public override IEnumerable<int> InputsNeeded(bool[] activeOutputs) => activeOutputs[0] ? [inputIndex] : [];

        public override RowMapper CreateMapper(DataViewRow input, bool[] activeOutputs) => new Mapper(parent, input, inputIndex);
    }

    private sealed class Mapper(ScaleTestTransformer parent, DataViewRow input, int inputIndex) : RowMapper
    {
        public override Delegate GetGetter(int outputIndex)
        {
            var source = input.GetGetter<float>(input.Schema[inputIndex]);
            ValueGetter<float> getter = (ref float value) =>
            {
                float x = 0;
                source(ref x);
                value = (x * parent.Factor) + parent.Offset;
            };
            return getter;
        }
    }
}

/// <summary>An MLNetAudio transformer that does not implement saving: saving it must fail, naming it.</summary>
internal sealed class UnsaveableTestTransformer : RowMappingTransformer
{
    private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
        throw new NotSupportedException("never bound in these tests");
}
