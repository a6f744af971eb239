using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using Xunit.Abstractions;
using Xunit.Sdk;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Tests.Scoring;

/// <summary>
/// Checks to run on a machine that has no .NET SDK (the lent GPU machine, another CPU): the test assembly started as
/// a program (<see cref="Data.FreshProcessEntryPoint"/>) with a carried .NET runtime. <c>build/other-machine-check.sh</c>
/// packs and runs them; docs/benchmarks.md and docs/numerics.md hold what they printed.
/// </summary>
internal static class OtherMachineChecks
{
    /// <summary>
    /// Runs every case of <see cref="NumericalReferenceTests"/> (facts, inline and member data) without a test runner
    /// and prints one line per case; returns the number of failed cases.
    /// </summary>
    public static int RunNumericalReference() => RunTests([typeof(NumericalReferenceTests).FullName!]);

    /// <summary>
    /// Runs every case of the named test classes (full names) without a test runner, one line per case as it ends;
    /// a class's constructor may take an <see cref="ITestOutputHelper"/> and fixtures with parameterless
    /// constructors. Returns the number of failed cases. On a machine with CUDA the library's
    /// <see cref="TorchDevice.Auto"/> default trains there, so this runs the scorer's tests on the GPU.
    /// </summary>
    public static int RunTests(IEnumerable<string> classNames)
    {
        int passed = 0, failed = 0;
        var total = Stopwatch.StartNew();
        var types = classNames.Select(n => typeof(OtherMachineChecks).Assembly.GetTypes().SingleOrDefault(t => t.FullName == n || t.Name == n)
            ?? throw new ArgumentException($"No test class {n} in the test assembly.", nameof(classNames))).ToList();
        foreach (var type in types)
        {
            // Class fixtures live as long as the class's tests, as under xunit.
            var constructor = type.GetConstructors().Single();
            var fixtures = constructor.GetParameters().Where(p => p.ParameterType != typeof(ITestOutputHelper))
                .ToDictionary(p => p.ParameterType, p => Activator.CreateInstance(p.ParameterType)!);
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.GetCustomAttributes<FactAttribute>().Any(f => f.Skip is null)))
            {
                var rows = method.GetCustomAttributes<DataAttribute>().SelectMany(a => a.GetData(method)).ToList();
                if (rows.Count == 0)
                {
                    rows.Add([]);
                }

                foreach (object[] row in rows)
                {
                    string name = $"{type.Name}.{method.Name}({string.Join(", ", row)})";
                    var watch = Stopwatch.StartNew();
                    try
                    {
                        object?[] arguments = [.. constructor.GetParameters().Select(p => p.ParameterType == typeof(ITestOutputHelper) ? new SilentOutput() : fixtures[p.ParameterType])];
                        object instance = constructor.Invoke(arguments);
                        try
                        {
                            object? result = method.Invoke(instance, row);
                            if (result is Task task)
                            {
                                task.GetAwaiter().GetResult();
                            }
                        }
                        finally
                        {
                            (instance as IDisposable)?.Dispose();
                        }

                        passed++;
                        Console.WriteLine($"PASS {name} {watch.Elapsed.TotalSeconds:F1} s");
                    }
                    catch (Exception e)
                    {
                        failed++;
                        var inner = e is TargetInvocationException { InnerException: { } i } ? i : e;
                        Console.WriteLine($"FAIL {name} {watch.Elapsed.TotalSeconds:F1} s: {inner.GetType().Name}: {inner.Message}");
                    }
                }
            }

            foreach (var fixture in fixtures.Values.OfType<IDisposable>())
            {
                fixture.Dispose();
            }
        }

        Console.WriteLine($"tests: {passed} passed, {failed} failed, {total.Elapsed.TotalSeconds:F0} s");
        return failed;
    }

    /// <summary>
    /// The control: libtorch's own float32 layers (oneDNN on the CPU) against float64, the measurement that found
    /// the fault of issue 8. Prints the worst relative error per case and how many cases exceed 1e-4.
    /// </summary>
    public static void ProbeLibTorchLayers(int repeats)
    {
        int bad = 0, cases = 0;
        void Report(string what, double error)
        {
            cases++;
            if (error > 1e-4)
            {
                bad++;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(error > 1e-4 ? "WRONG" : "ok   ")} {what}: {error:E2}"));
        }

        foreach (int channels in new[] { 1, 3, 8, 12, 20, 40, 48 })
        {
            foreach (int batch in new[] { 1, 2, 32 })
            {
                double forward = 0, backward = 0, forward2d = 0, backward2d = 0;
                for (int repeat = 0; repeat < repeats; repeat++)
                {
                    using var scope = NewDisposeScope();
                    torch.random.manual_seed(repeat);
                    var w = randn(16, channels, 3) * 0.2;
                    var b = randn(16) * 0.1;
                    var x = randn(batch, 400, channels).transpose(1, 2).requires_grad_();
                    var x64 = x.detach().to(float64).requires_grad_();
                    var y = F.conv1d(x, w, b, padding: 1);
                    var y64 = F.conv1d(x64, w.to(float64), b.to(float64), padding: 1);
                    forward = Math.Max(forward, Relative(y, y64));
                    var g = randn_like(y);
                    (y * g).sum().backward();
                    (y64 * g.to(float64)).sum().backward();
                    backward = Math.Max(backward, Relative(x.grad!, x64.grad!));

                    var w2 = randn(16, 1, 1, 3) * 0.2;
                    var x2 = randn(batch, 1, channels, 400).requires_grad_();
                    var x264 = x2.detach().to(float64).requires_grad_();
                    var y2 = F.conv2d(x2, w2, b, padding: [0, 1]);
                    var y264 = F.conv2d(x264, w2.to(float64), b.to(float64), padding: [0, 1]);
                    forward2d = Math.Max(forward2d, Relative(y2, y264));
                    var g2 = randn_like(y2);
                    (y2 * g2).sum().backward();
                    (y264 * g2.to(float64)).sum().backward();
                    backward2d = Math.Max(backward2d, Relative(x2.grad!, x264.grad!));
                }

                Report($"libtorch conv1d in {channels} batch {batch} forward", forward);
                Report($"libtorch conv1d in {channels} batch {batch} input grad", backward);
                Report($"libtorch conv2d (1, 3) rows {channels} batch {batch} forward", forward2d);
                Report($"libtorch conv2d (1, 3) rows {channels} batch {batch} input grad", backward2d);
            }
        }

        foreach (int input in new[] { 20, 320, 640 })
        {
            double forward = 0;
            for (int repeat = 0; repeat < repeats; repeat++)
            {
                using var scope = NewDisposeScope();
                torch.random.manual_seed(repeat);
                using var lstm = nn.LSTM(input, 20, batchFirst: true);
                using var lstm64 = nn.LSTM(input, 20, batchFirst: true);
                lstm64.load_state_dict(lstm.state_dict());
                lstm64.to(float64);
                var x = randn(32, 50, input);
                forward = Math.Max(forward, Relative(lstm.call(x).Item1, lstm64.call(x.to(float64)).Item1));
            }

            Report($"libtorch LSTM in {input} batch 32 forward", forward);
        }

        Console.WriteLine($"libtorch float32 layers: {bad} of {cases} cases off by more than 1e-4");
    }

    /// <summary>
    /// On CUDA, when TorchSharp finds it: every network form and head in float32 on the GPU against its float64
    /// definition on the CPU (forward and gradients), then the time of a training step (32 windows of 400 frames)
    /// on the GPU and on the CPU.
    /// </summary>
    public static int ProbeCuda()
    {
        bool available = torch.cuda.is_available();
        Console.WriteLine($"torch.cuda.is_available(): {available}");
        if (!available)
        {
            return 1;
        }

        int failed = 0;
        foreach (var form in Enum.GetValues<ConvolutionForm>())
        {
            foreach (var head in Enum.GetValues<NetworkHead>())
            {
                foreach (int coefficients in new[] { 20, 40 })
                {
                    using var scope = NewDisposeScope();
                    torch.random.manual_seed(11);
                    var settings = new TimeConvNetworkSettings(400, coefficients, form, head);
                    using var network = new TimeConvNetwork(settings);
                    using var reference = new TimeConvNetwork(settings, TimeConvLayers.LibTorch);
                    reference.load_state_dict(network.state_dict());
                    reference.to(float64);
                    network.to(CUDA);
                    var x = randn(32, 400, coefficients);
                    var weights = randn(32);
                    using var trace = new PoolingTrace();
                    network.PoolingTrace = reference.PoolingTrace = trace;
                    var logits = network.Logits(x.to(CUDA));
                    trace.Replay();
                    var expected = reference.Logits(x.to(float64));
                    network.PoolingTrace = reference.PoolingTrace = null;
                    (logits * weights.to(CUDA)).sum().backward();
                    (expected * weights.to(float64)).sum().backward();
                    double worst = Relative(logits.cpu(), expected);
                    var grads = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
                    foreach (var (name, parameter) in network.named_parameters())
                    {
                        if (parameter.grad is not null && grads[name] is { } g)
                        {
                            worst = Math.Max(worst, Relative(parameter.grad.cpu(), g));
                        }
                    }

                    // TF32 or reduced-precision reductions on the GPU would show here.
                    bool ok = worst <= 1e-3;
                    failed += ok ? 0 : 1;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(ok ? "ok   " : "WRONG")} cuda {form} {head} {coefficients}: worst relative error {worst:E2}"));
                }
            }
        }

        foreach (var form in Enum.GetValues<ConvolutionForm>())
        {
            foreach (var device in new[] { CUDA, CPU })
            {
                using var scope = NewDisposeScope();
                torch.random.manual_seed(5);
                using var network = new TimeConvNetwork(new TimeConvNetworkSettings(400, 40, form));
                network.to(device);
                using var optimizer = new RootedAdam(network.parameters(), 1e-3);
                var x = randn(32, 400, 40, device: device);
                var y = rand(32, device: device);
                double Step()
                {
                    using var stepScope = NewDisposeScope();
                    optimizer.zero_grad();
                    var loss = F.binary_cross_entropy_with_logits(network.Logits(x), y);
                    loss.backward();
                    optimizer.step();
                    return loss.item<float>();
                }

                for (int i = 0; i < 3; i++)
                {
                    Step();
                }

                int steps = device.type == DeviceType.CUDA ? 50 : 5;
                var watch = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++)
                {
                    Step();
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"training step {form} 32 x 400 x 40 on {device.type}: {watch.Elapsed.TotalMilliseconds / steps:F1} ms"));
            }
        }

        return failed;
    }

    private static double Relative(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var a = actual.detach().to(float64);
        var e = expected.detach().to(float64);
        if (!a.isfinite().all().item<bool>())
        {
            return double.PositiveInfinity;
        }

        return (a - e).abs().max().item<double>() / Math.Max(e.abs().max().item<double>(), 1e-12);
    }

    private sealed class SilentOutput : ITestOutputHelper
    {
        public void WriteLine(string message)
        {
        }

        public void WriteLine(string format, params object[] args)
        {
        }
    }
}
