using MLNetAudio.Data;
using MLNetAudio.Onnx;
using MLNetAudio.Scoring;

// The ONNX package's catalog entry points, in one file as ML.NET gathers each package's: ml.Audio().Model.ExportOnnx,
// extension methods of the core's model catalog.
namespace MLNetAudio
{
    /// <summary>What MLNetAudio.Onnx adds to MLNetAudio's catalog: <c>ml.Audio().Model.ExportOnnx</c>.</summary>
    public static class AudioOnnxCatalogExtensions
    {
        /// <summary>
        /// Writes the scorer's network as an ONNX model (opset 17: Conv, Relu, MaxPool, LSTM, Gemm, Sigmoid, Transpose,
        /// Reshape) to <paramref name="path"/>. It scores windows, one per batch row, as the scorer does window by window
        /// (the scorer's shared convolution computes the same values); run it with ONNX Runtime or through
        /// <c>ml.Transforms.ApplyOnnxModel</c> on a column of fixed-size <c>[frames, coefficients]</c> windows (docs/scoring.md).
        /// </summary>
        /// <param name="catalog">The model catalog, <c>ml.Audio().Model</c>.</param>
        /// <param name="scorer">A fitted (or loaded) scorer.</param>
        /// <param name="path">The .onnx file to write (overwritten).</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public static ScorerOnnxModel ExportOnnx(this AudioModelCatalog catalog, TimeConvLstmScorer scorer, string path)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            ArgumentNullException.ThrowIfNull(scorer);
            return catalog.ExportOnnx(scorer.Network, path);
        }

        /// <summary>Writes the scorer's network as an ONNX model to <paramref name="stream"/> (left open).</summary>
        /// <param name="catalog">The model catalog, <c>ml.Audio().Model</c>.</param>
        /// <param name="scorer">A fitted (or loaded) scorer.</param>
        /// <param name="stream">A writable stream.</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public static ScorerOnnxModel ExportOnnx(this AudioModelCatalog catalog, TimeConvLstmScorer scorer, Stream stream)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            ArgumentNullException.ThrowIfNull(scorer);
            return catalog.ExportOnnx(scorer.Network, stream);
        }

        /// <summary>Writes a <see cref="TimeConvNetwork"/> as an ONNX model to <paramref name="path"/>.</summary>
        /// <param name="catalog">The model catalog, <c>ml.Audio().Model</c>.</param>
        /// <param name="network">The network (e.g. <see cref="TimeConvLstmScorer.Network"/>).</param>
        /// <param name="path">The .onnx file to write (overwritten).</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public static ScorerOnnxModel ExportOnnx(this AudioModelCatalog catalog, TimeConvNetwork network, string path)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            ArgumentException.ThrowIfNullOrEmpty(path);
            using var file = File.Create(path);
            return catalog.ExportOnnx(network, file);
        }

        /// <summary>Writes a <see cref="TimeConvNetwork"/> as an ONNX model to <paramref name="stream"/> (left open).</summary>
        /// <param name="catalog">The model catalog, <c>ml.Audio().Model</c>.</param>
        /// <param name="network">The network (e.g. <see cref="TimeConvLstmScorer.Network"/>).</param>
        /// <param name="stream">A writable stream.</param>
        /// <returns>The model's input and output names and window shape.</returns>
        public static ScorerOnnxModel ExportOnnx(this AudioModelCatalog catalog, TimeConvNetwork network, Stream stream)
        {
            ArgumentNullException.ThrowIfNull(catalog);
            ArgumentNullException.ThrowIfNull(network);
            ArgumentNullException.ThrowIfNull(stream);
            var description = TimeConvNetworkDescription.FromNetwork(network);
            TimeConvOnnxExporter.Export(description, stream);
            return new ScorerOnnxModel(TimeConvOnnxExporter.InputName, TimeConvOnnxExporter.OutputName, description.Frames, description.Coefficients, TimeConvOnnxExporter.Opset);
        }
    }
}
