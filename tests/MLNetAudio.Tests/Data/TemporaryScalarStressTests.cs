using Microsoft.ML;
using MLNetAudio.Recommendation;
using MLNetAudio.Scoring;
using MLNetAudio.Tests.Recommendation;
using MLNetAudio.Tests.Scoring;
using TorchSharp;

namespace MLNetAudio.Tests.Data;

/// <summary>
/// Training while another thread collects garbage and runs finalizers as fast as it can, and churns the native heap
/// with Scalars of other values: a temporary Scalar freed under libtorch (issue 8, item 4) would be read back as one
/// of those values, so the weights would differ from a quiet run with the same seed (or a run would crash).
/// </summary>
public sealed class TemporaryScalarStressTests(TinyAudioCatalog catalog) : IClassFixture<TinyAudioCatalog>
{
    private const int Runs = 3;

    [Fact]
    public void TimeConvLstmTrainsBitIdenticallyWhileAnotherThreadCollects()
    {
        var data = new WindowData(OrderTask.Songs(40, seed: 3), OrderTask.Frames, OrderTask.Coefficients);
        float[] Train()
        {
            var options = new TimeConvLstmOptions
            {
                Epochs = 3, BatchSize = 16, LearningRate = 0.01, ValidationFraction = 0.2, Seed = 11, Threads = 1,
                Device = TorchDevice.Cpu, ConvolutionLayers = 2, Channels = 4, LstmHiddenSize = 16,
            };
            using var scorer = new MLContext(seed: 1).Audio().Trainers.TimeConvLstm(options).Fit(data);
            return scorer.Network.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.data<float>().ToArray()).ToArray();
        }

        var quiet = Train();
        Assert.All(quiet, v => Assert.True(float.IsFinite(v)));
        for (int run = 0; run < Runs; run++)
        {
            AssertBitIdentical(quiet, UnderCollection(Train), $"TimeConvLstm run {run}");
        }
    }

    [Fact]
    public void MultiUserAudioFitAndFoldInAreBitIdenticalWhileAnotherThreadCollects()
    {
        var played = catalog.Simulator.Songs.Take(4).Select(s => s.Key).ToArray();
        float[] Train()
        {
            // On the CPU: CUDA's backward kernels add with atomics, so two GPU runs differ in the last bits anyway.
            // Two pretraining epochs keep the contrastive path (its Scalars too) under the collector without its default 200 steps.
            var options = new MultiUserAudioOptions { EmbeddingSize = 8, Channels = 8, Epochs = 1, Seed = 2, Device = TorchDevice.Cpu, ContrastivePretrainingEpochs = 2 };
            using var model = catalog.Ml.Audio().Recommendation.Trainers.MultiUserAudio(catalog.Windows, options).Fit(catalog.Training);
            // Fold-in is the masking path: masked_fill with −∞, a Scalar bias, Adam, 300 steps.
            var vector = model.FoldInUser(played);
            return vector.Concat(model.ScoreVector(vector)).ToArray();
        }

        var quiet = Train();
        Assert.All(quiet, v => Assert.True(float.IsFinite(v)));
        for (int run = 0; run < Runs; run++)
        {
            AssertBitIdentical(quiet, UnderCollection(Train), $"multi-user audio run {run}");
        }
    }

    private static void AssertBitIdentical(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int differing = expected.Zip(actual).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
        Assert.True(differing == 0, $"{what}: {differing} of {expected.Length} values differ from the quiet run with the same seed.");
    }

    /// <summary>Runs <paramref name="train"/> while a second thread collects, finalises and churns Scalars.</summary>
    private static T UnderCollection<T>(Func<T> train)
    {
        using var stop = new CancellationTokenSource();
        long collections = 0;
        var collector = new Thread(() =>
        {
            var garbage = new List<object>();
            while (!stop.IsCancellationRequested)
            {
                // Scalars freed by their finalizers and by Dispose refill the native heap's small blocks with values
                // no training step uses.
                for (int i = 0; i < 64; i++)
                {
                    _ = (1e6 + i).ToScalar();
                    using var held = (-1e6f - i).ToScalar();
                    garbage.Add(new byte[256]);
                }

                garbage.Clear();
                GC.Collect();
                GC.WaitForPendingFinalizers();
                collections++;
            }
        }) { IsBackground = true, Name = "GC stress" };
        collector.Start();
        try
        {
            return train();
        }
        finally
        {
            stop.Cancel();
            collector.Join();
            Assert.True(collections > 0, "The collecting thread never completed a collection.");
        }
    }
}
