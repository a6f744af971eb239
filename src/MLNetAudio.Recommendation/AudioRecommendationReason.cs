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

/// <summary>Why a song is recommended to a user: its score, the best window and the song's preference timeline.</summary>
/// <param name="SongKey">The song's key (1-based).</param>
/// <param name="Score">The song's score for the user (the aggregated window preferences).</param>
/// <param name="BestWindowStartSeconds">Start of the window the user is predicted to like most, in seconds.</param>
/// <param name="WindowSeconds">Length of a window, in seconds.</param>
/// <param name="WindowHopSeconds">Hop between the timeline's windows, in seconds.</param>
/// <param name="Timeline">The user's preference (0..1) for each window of the song, in time order.</param>
public sealed record AudioRecommendationReason(uint SongKey, float Score, double BestWindowStartSeconds, double WindowSeconds, double WindowHopSeconds, IReadOnlyList<float> Timeline);
