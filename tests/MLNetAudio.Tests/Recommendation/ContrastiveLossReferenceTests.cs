using MLNetAudio.Recommendation;
using MLNetAudio.Tests.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetAudio.Tests.Recommendation;

/// <summary>
/// The contrastive loss of the multi-user audio model (<see cref="MultiUserAudioTrainer.ContrastiveLoss"/>; the
/// projection, L2 normalisation, similarities over the temperature, masked pairs, cross-entropy both ways), on by
/// default since contrastive pretraining is: in float32 as it runs, against the same InfoNCE written out in managed
/// float64 (forward), and against libtorch's float64 path (gradients of the windows and of the projection). Several
/// batch shapes, with and without masked pairs, each repeated on fresh inputs.
/// </summary>
[Collection(NumericsFirst.Name)]
public sealed class ContrastiveLossReferenceTests
{
    private const double Tolerance = 1e-4;
    private const int Repeats = 3;

    [Theory]
    [InlineData(2, 8, 0.1, false)]
    [InlineData(5, 32, 0.1, true)]
    [InlineData(32, 32, 0.1, false)]
    [InlineData(33, 16, 0.5, true)]
    [InlineData(64, 32, 0.05, true)]
    public void LossAndGradientsMatchFloat64(int rows, int size, double temperature, bool masked)
    {
        for (int repeat = 0; repeat < Repeats; repeat++)
        {
            using var scope = NewDisposeScope();
            torch.random.manual_seed(7000 + (31 * rows) + repeat);
            using var projection = nn.Linear(size, size);
            var windows = randn(rows, 3, size); // the loss reads the first two windows of each row
            // Rows of the same "song" (every third row shares one) are masked as in the play loop's contrastive term.
            var songs = arange(rows).div(3, rounding_mode: RoundingMode.floor);
            Tensor? exclude = masked ? songs.unsqueeze(1).eq(songs.unsqueeze(0)).logical_and(eye(rows, dtype: ScalarType.Bool).logical_not()) : null;

            var x32 = windows.clone().requires_grad_(true);
            using var t32 = ((float)temperature).ToScalar();
            var loss32 = MultiUserAudioTrainer.ContrastiveLoss(projection, x32, t32, exclude);
            loss32.backward();

            double expected = ManagedInfoNce(windows, projection.weight!, projection.bias!, temperature, exclude);
            double actual = loss32.item<float>();
            Assert.True(Math.Abs(actual - expected) <= Tolerance * Math.Max(1, Math.Abs(expected)),
                $"rows {rows}, size {size}, repeat {repeat}: float32 loss {actual} against managed float64 {expected}");

            using var projection64 = nn.Linear(size, size, dtype: float64);
            using (no_grad())
            {
                projection64.weight!.copy_(projection.weight!.to(float64));
                projection64.bias!.copy_(projection.bias!.to(float64));
            }

            var x64 = windows.to(float64).requires_grad_(true);
            using var t64 = temperature.ToScalar();
            MultiUserAudioTrainer.ContrastiveLoss(projection64, x64, t64, exclude).backward();
            AssertClose($"d loss / d windows, rows {rows}", x32.grad!, x64.grad!);
            AssertClose($"d loss / d projection weight, rows {rows}", projection.weight!.grad!, projection64.weight!.grad!);
            AssertClose($"d loss / d projection bias, rows {rows}", projection.bias!.grad!, projection64.bias!.grad!);
            Assert.Equal(0, x32.grad!.select(1, 2).abs().sum().item<float>()); // the third window plays no part
        }
    }

    // InfoNCE in both directions, every operation in double: z = normalise(W v + b) of each row's first and second
    // window, s[i, j] = z0[i] . z1[j] / temperature (masked pairs -1e4), loss = mean over rows of the cross-entropy of
    // row i's similarities with target i, averaged with the same over columns.
    private static double ManagedInfoNce(Tensor windows, Tensor weight, Tensor bias, double temperature, Tensor? exclude)
    {
        int rows = (int)windows.shape[0], size = (int)windows.shape[2];
        var v = windows.to(float64).data<double>().ToArray();
        var w = weight.to(float64).data<double>().ToArray();
        var b = bias.to(float64).data<double>().ToArray();
        var mask = exclude?.data<bool>().ToArray();
        double[][] Project(int window) => Enumerable.Range(0, rows).Select(i =>
        {
            var z = new double[size];
            for (int o = 0; o < size; o++)
            {
                double sum = b[o];
                for (int k = 0; k < size; k++)
                {
                    sum += w[(o * size) + k] * v[(((i * 3) + window) * size) + k];
                }

                z[o] = sum;
            }

            double norm = Math.Max(Math.Sqrt(z.Sum(e => e * e)), 1e-12);
            return z.Select(e => e / norm).ToArray();
        }).ToArray();

        var z0 = Project(0);
        var z1 = Project(1);
        var s = new double[rows, rows];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < rows; j++)
            {
                s[i, j] = mask is not null && mask[(i * rows) + j] ? -1e4 : z0[i].Zip(z1[j]).Sum(p => p.First * p.Second) / temperature;
            }
        }

        double CrossEntropy(Func<int, int, double> at) => Enumerable.Range(0, rows).Average(i =>
        {
            double max = Enumerable.Range(0, rows).Max(j => at(i, j));
            double logSum = max + Math.Log(Enumerable.Range(0, rows).Sum(j => Math.Exp(at(i, j) - max)));
            return logSum - at(i, i);
        });

        return (CrossEntropy((i, j) => s[i, j]) + CrossEntropy((i, j) => s[j, i])) / 2;
    }

    private static void AssertClose(string what, Tensor float32, Tensor float64)
    {
        double scale = Math.Max(float64.abs().max().item<double>(), 1e-12);
        double error = float32.to(ScalarType.Float64).sub(float64).abs().max().item<double>() / scale;
        Assert.True(error <= Tolerance, $"{what}: max |float32 - float64| / max |float64| = {error:E2}");
    }
}
