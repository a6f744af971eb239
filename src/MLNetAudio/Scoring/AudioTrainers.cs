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
    /// <summary>MLNetAudio's trainers, reached through <c>ml.Audio().Trainers</c>.</summary>
    public sealed class AudioTrainers
    {
        private readonly MLContext _mlContext;

        internal AudioTrainers(MLContext mlContext) => _mlContext = mlContext;

        /// <summary>
        /// The seed's time-convolution + LSTM preference scorer: learns from songs' windows and their like/not labels.
        /// </summary>
        /// <exception cref="ArgumentException">An option is invalid; every bad one is listed.</exception>
        public TimeConvLstmTrainer TimeConvLstm(TimeConvLstmOptions options) => new(_mlContext, options);

        /// <summary>The same with default options and the given column names.</summary>
        public TimeConvLstmTrainer TimeConvLstm(
            string labelColumnName = TimeConvLstmOptions.Defaults.LabelColumnName,
            string featureColumnName = TimeConvLstmOptions.Defaults.FeatureColumnName,
            string outputColumnName = TimeConvLstmOptions.Defaults.OutputColumnName) =>
            new(_mlContext, new TimeConvLstmOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, OutputColumnName = outputColumnName });
    }
}

namespace MLNetAudio
{
    /// <summary>The trainers part of <c>ml.Audio()</c>.</summary>
    public sealed partial class AudioCatalog
    {
        /// <summary>MLNetAudio's trainers (<see cref="AudioTrainers.TimeConvLstm(TimeConvLstmOptions)"/>).</summary>
        public AudioTrainers Trainers => new(Context);
    }
}
