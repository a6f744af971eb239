namespace MLNetAudio.Onnx;

/// <summary>
/// What an exported scorer model looks like from outside: its input and output names and the window shape it
/// takes. Returned by <c>ml.Audio().Model.ExportOnnx</c>.
/// </summary>
/// <param name="InputName">The graph input: float <c>[batch, FramesPerWindow, Coefficients]</c>, one window per batch row.</param>
/// <param name="OutputName">The graph output: float <c>[batch]</c>, each window's preference in 0..1.</param>
/// <param name="FramesPerWindow">Frames in one window.</param>
/// <param name="Coefficients">Coefficients per frame.</param>
/// <param name="Opset">The ONNX opset of the default domain the graph uses.</param>
public sealed record ScorerOnnxModel(string InputName, string OutputName, int FramesPerWindow, int Coefficients, int Opset)
{
    /// <summary>The graph input's name, <c>"Windows"</c>, for any exported scorer.</summary>
    public const string DefaultInputName = TimeConvOnnxExporter.InputName;

    /// <summary>The graph output's name, <c>"Score"</c>, for any exported scorer.</summary>
    public const string DefaultOutputName = TimeConvOnnxExporter.OutputName;
}
