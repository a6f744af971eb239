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

    /// <summary>Turns a <see cref="TorchDevice"/> option into a libtorch device, the same way for every trainer.</summary>
    internal static class TorchDevices
    {
        /// <summary>
        /// CPU for <see cref="TorchDevice.Cpu"/>; CUDA for <see cref="TorchDevice.Auto"/> when available, else CPU;
        /// CUDA for <see cref="TorchDevice.Cuda"/>, or an error naming <paramref name="optionName"/> when there is none.
        /// </summary>
        /// <exception cref="InvalidOperationException"><see cref="TorchDevice.Cuda"/> without a CUDA device and backend.</exception>
        public static Device Resolve(TorchDevice option, string optionName)
        {
            bool cuda = torch.cuda.is_available();
            if (option == TorchDevice.Cuda && !cuda)
            {
                throw new InvalidOperationException(
                    $"{optionName} is Cuda, but torch.cuda.is_available() is false: reference a CUDA libtorch backend "
                    + "and run on a machine with an NVIDIA GPU, or set it to Auto or Cpu.");
            }

            return option == TorchDevice.Cpu || !cuda ? torch.CPU : torch.CUDA;
        }
    }
}
