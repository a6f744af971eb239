using MLNetAudio.Onnx;
using MLNetAudio.Scoring;

namespace MLNetAudio.Onnx
{
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
}

namespace MLNetAudio.Data
{
    /// <summary>The ONNX export part of <c>ml.Audio().Model</c>.</summary>
    public sealed partial class AudioModelCatalog
    {
        /// <summary>
        /// Writes the scorer's network as an ONNX model (opset 17: Conv, Relu, MaxPool, LSTM, Gemm, Sigmoid, Transpose,
        /// Reshape) to <paramref name="path"/>. It scores windows, one per batch row, as the scorer does window by window
        /// (the scorer's shared convolution computes the same values); run it with ONNX Runtime or through
        /// <c>ml.Transforms.ApplyOnnxModel</c> on a column of fixed-size <c>[frames, coefficients]</c> windows (docs/scoring.md).
        /// </summary>
        /// <param name="scorer">A fitted (or loaded) scorer.</param>
        /// <param name="path">The .onnx file to write (overwritten).</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public ScorerOnnxModel ExportOnnx(TimeConvLstmScorer scorer, string path)
        {
            ArgumentNullException.ThrowIfNull(scorer);
            return ExportOnnx(scorer.Network, path);
        }

        /// <summary>Writes the scorer's network as an ONNX model to <paramref name="stream"/> (left open).</summary>
        /// <param name="scorer">A fitted (or loaded) scorer.</param>
        /// <param name="stream">A writable stream.</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public ScorerOnnxModel ExportOnnx(TimeConvLstmScorer scorer, Stream stream)
        {
            ArgumentNullException.ThrowIfNull(scorer);
            return ExportOnnx(scorer.Network, stream);
        }

        /// <summary>Writes a <see cref="TimeConvNetwork"/> as an ONNX model to <paramref name="path"/>.</summary>
        /// <param name="network">The network (e.g. <see cref="TimeConvLstmScorer.Network"/>).</param>
        /// <param name="path">The .onnx file to write (overwritten).</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public ScorerOnnxModel ExportOnnx(TimeConvNetwork network, string path)
        {
            ArgumentException.ThrowIfNullOrEmpty(path);
            using var file = File.Create(path);
            return ExportOnnx(network, file);
        }

        /// <summary>Writes a <see cref="TimeConvNetwork"/> as an ONNX model to <paramref name="stream"/> (left open).</summary>
        /// <param name="network">The network (e.g. <see cref="TimeConvLstmScorer.Network"/>).</param>
        /// <param name="stream">A writable stream.</param>
        /// <returns>The model's input and output names and window shape.</returns>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "A catalog member, reached as ml.Audio().Model.ExportOnnx like the other overloads.")]
        public ScorerOnnxModel ExportOnnx(TimeConvNetwork network, Stream stream)
        {
            ArgumentNullException.ThrowIfNull(network);
            ArgumentNullException.ThrowIfNull(stream);
            var description = TimeConvNetworkDescription.FromNetwork(network);
            TimeConvOnnxExporter.Export(description, stream);
            return new ScorerOnnxModel(TimeConvOnnxExporter.InputName, TimeConvOnnxExporter.OutputName, description.Frames, description.Coefficients, TimeConvOnnxExporter.Opset);
        }
    }
}
