using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Scoring
{
    /// <summary>Where the network trains and scores.</summary>
    public enum TorchDevice
    {
        /// <summary>CUDA when <c>torch.cuda.is_available()</c>, otherwise CPU.</summary>
        Auto,

        /// <summary>Always the CPU.</summary>
        Cpu,

        /// <summary>Always CUDA; training fails with a clear message when no CUDA device and backend are present.</summary>
        Cuda,
    }
}
