using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Recommendation;

/// <summary>How a song's per-window preferences become the song's score.</summary>
public enum AudioSongAggregation
{
    /// <summary>The mean window preference: the seed's sum of window outputs / song length, for songs cut into windows at a fixed hop.</summary>
    Mean,

    /// <summary>The best window's preference: a song is as good as its best part.</summary>
    Max,
}
