using MLNetAudio.Experiments;
using ScottPlot;

namespace SeedExperiments;

/// <summary>The PNG figures of docs/experiments.md (ScottPlot, headless).</summary>
internal static class Plots
{
    /// <summary>Waveform of the example note, one filter's output per layer (with the note's envelope), learned kernels.</summary>
    public static void Experiment1(FluteGuitarResult result, string folder, string prefix)
    {
        string what = result.Options.FeatureKind == MLNetAudio.Features.AudioFeatureKind.Mfcc ? "MFCC input" : "power-spectrogram input";

        var waveform = new Plot();
        var signal = waveform.Add.Signal(result.ExampleWaveform.Select(v => (double)v).ToArray(), 1.0 / result.SampleRate);
        signal.LegendText = result.ExampleDescription;
        waveform.Title($"Training example (label 1): {result.ExampleDescription}");
        waveform.XLabel("time (s)");
        waveform.YLabel("amplitude");
        waveform.SavePng(Path.Combine(folder, $"{prefix}-waveform.png"), 900, 320);

        // 50 ms from the sustained part: the whole-note plot is too dense to show single periods.
        int from = result.SampleRate / 2, count = result.SampleRate / 20;
        var zoom = new Plot();
        var part = zoom.Add.Scatter(
            Enumerable.Range(from, count).Select(i => (double)i / result.SampleRate).ToArray(),
            result.ExampleWaveform.Skip(from).Take(count).Select(v => (double)v).ToArray());
        part.MarkerSize = 0;
        zoom.Title($"{result.ExampleDescription}, 0.50-0.55 s");
        zoom.XLabel("time (s)");
        zoom.YLabel("amplitude");
        zoom.SavePng(Path.Combine(folder, $"{prefix}-waveform-zoom.png"), 900, 320);

        foreach (var layer in result.Layers)
        {
            var plot = new Plot();
            double period = 1.0 / layer.FramesPerSecond;
            var output = plot.Add.Signal(Scaled(layer.Output), period);
            output.LegendText = $"filter {layer.Filter} output (scaled to 0-1)";
            output.LineWidth = 2;
            var envelope = plot.Add.Signal(Scaled(layer.Envelope), period);
            envelope.LegendText = "note's RMS envelope (scaled to 0-1)";
            envelope.LinePattern = LinePattern.Dashed;
            plot.ShowLegend(Alignment.UpperRight);
            plot.Title($"Conv layer {layer.Layer}, filter {layer.Filter}, {what}: correlation with envelope {layer.EnvelopeCorrelation:F2}");
            plot.XLabel($"time (s), {layer.FramesPerSecond:0.##} steps per second");
            plot.YLabel("value (scaled)");
            plot.SavePng(Path.Combine(folder, $"{prefix}-layer{layer.Layer}.png"), 900, 320);
        }

        // Layer 1: each filter's three taps as a line. Deeper layers: filter x (input channel, tap) as a heat map.
        var kernels = new Plot();
        var first = result.Layers[0];
        for (int f = 0; f < first.Kernels.Length; f++)
        {
            var line = kernels.Add.Scatter(new double[] { -1, 0, 1 }, first.Kernels[f].Take(3).Select(v => (double)v).ToArray());
            line.LegendText = $"filter {f}";
        }

        kernels.ShowLegend(Alignment.UpperRight);
        kernels.Title($"Conv layer 1 kernels (1 x 3 taps), {what}");
        kernels.XLabel("tap (frame offset)");
        kernels.YLabel("weight");
        kernels.SavePng(Path.Combine(folder, $"{prefix}-kernels-layer1.png"), 900, 360);

        foreach (var layer in result.Layers.Skip(1))
        {
            int rows = layer.Kernels.Length, columns = layer.Kernels[0].Length;
            var values = new double[rows, columns];
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < columns; c++)
                {
                    values[r, c] = layer.Kernels[r][c];
                }
            }

            var plot = new Plot();
            var heatmap = plot.Add.Heatmap(values);
            heatmap.Colormap = new ScottPlot.Colormaps.MellowRainbow();
            heatmap.FlipVertically = true; // row r (filter r) at y = r, as the tick labels say
            plot.Add.ColorBar(heatmap);
            plot.Title($"Conv layer {layer.Layer} kernels, {what}");
            plot.XLabel("input channel x 3 + tap (3 columns per input channel)");
            plot.YLabel("filter");
            plot.SavePng(Path.Combine(folder, $"{prefix}-kernels-layer{layer.Layer}.png"), 900, 360);
        }
    }

    /// <summary>Mean score against the gap change, both models, with the spread over seeds; the seed's numbers where it gave them.</summary>
    public static void Experiment2(IReadOnlyList<OrderTimingResult> runs, string folder, string prefix, string pair, bool withSeed)
    {
        var changes = runs[0].Rows.Where(r => r.Test is OrderTimingTest.GapChanged or OrderTimingTest.AsTrained).Select(r => r.GapChange).Order().ToArray();
        OrderTimingRow RowOf(OrderTimingResult r, int g) => g == 0 ? r.Row(OrderTimingTest.AsTrained) : r.Row(OrderTimingTest.GapChanged, g);

        var plot = new Plot();
        foreach (var (name, pick) in new (string, Func<OrderTimingRow, double>)[] { ("CNN only (fully connected head)", r => r.Cnn), ("CNN + LSTM", r => r.CnnLstm) })
        {
            double[] xs = changes.Select(g => (double)g).ToArray();
            double[] means = changes.Select(g => runs.Select(r => pick(RowOf(r, g))).Average()).ToArray();
            double[] spread = changes.Select(g => Statistics.Std(runs.Select(r => pick(RowOf(r, g))))).ToArray();
            var line = plot.Add.Scatter(xs, means);
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = 8;
            var bars = plot.Add.ErrorBar(xs, means, spread);
            bars.Color = line.Color;
        }

        if (withSeed)
        {
            double[] xs = [0, -2, -6, -10, -50];
            var cnn = plot.Add.Markers(xs, [0.999, 0.910, 0.323, 0.119, 0.000]);
            cnn.LegendText = "seed: CNN";
            cnn.MarkerShape = MarkerShape.OpenSquare;
            cnn.MarkerSize = 10;
            var lstm = plot.Add.Markers(xs, [0.999, 0.999, 0.998, 0.993, 0.014]);
            lstm.LegendText = "seed: CNN + LSTM";
            lstm.MarkerShape = MarkerShape.OpenTriangleUp;
            lstm.MarkerSize = 10;
        }

        plot.ShowLegend(Alignment.LowerCenter);
        plot.Title($"Experiment 2, {pair}: mean score vs change of the gap (mean +- std over {runs.Count} seeds)");
        plot.XLabel("gap change (frames of 20 ms; negative = B earlier)");
        plot.YLabel("mean output (1 = liked)");
        plot.Axes.SetLimitsY(-0.05, 1.05);
        plot.SavePng(Path.Combine(folder, $"{prefix}-gap.png"), 900, 420);
    }

    /// <summary>Experiment 2 variants: the CNN-only model's mean score per gap change, one line per variant, the seed's CNN beside them.</summary>
    public static void Variants(List<VariantRow> rows, string folder, string name)
    {
        // Evenly spaced categories: on a true frame axis the small shifts the seed is about would overlap.
        int[] gaps = [-50, -10, -6, -2, 0, 2, 6, 10, 50];
        double[] xs = gaps.Select((_, i) => (double)i).ToArray();
        double Mean(string key, int g) => rows.Where(r => r.Variant == key && (g == 0 ? r.Test == OrderTimingTest.AsTrained : r.Test == OrderTimingTest.GapChanged && r.GapChange == g)).Average(r => r.Cnn);

        var plot = new Plot();
        foreach (var v in SeedExperiments.Variants.All.Where(v => rows.Any(r => r.Variant == v.Key)))
        {
            var line = plot.Add.Scatter(xs, gaps.Select(g => Mean(v.Key, g)).ToArray());
            line.LegendText = v.Key;
            line.LineWidth = v.Key == "default" ? 3 : 1.5f;
            line.MarkerSize = 6;
        }

        var seedGaps = gaps.Select((g, i) => (g, i)).Where(p => Report.SeedCnn(p.g == 0 ? OrderTimingTest.AsTrained : OrderTimingTest.GapChanged, p.g) is not null).ToArray();
        var seed = plot.Add.Scatter(
            seedGaps.Select(p => (double)p.i).ToArray(),
            seedGaps.Select(p => Report.SeedCnn(p.g == 0 ? OrderTimingTest.AsTrained : OrderTimingTest.GapChanged, p.g)!.Value).ToArray());
        seed.LegendText = "seed: CNN";
        seed.LineWidth = 2;
        seed.LinePattern = LinePattern.Dashed;
        seed.Color = Colors.Black;
        seed.MarkerShape = MarkerShape.OpenSquare;
        seed.MarkerSize = 10;

        plot.Axes.Bottom.SetTicks(xs, gaps.Select(g => g == 0 ? "0 (as trained)" : g.ToString("+0;-0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        plot.ShowLegend(Edge.Right); // outside the data: every corner holds points
        int seeds = rows.Select(r => r.Seed).Distinct().Count();
        plot.Title($"Experiment 2 variants, flute then guitar: CNN-only mean score (mean over up to {seeds} seeds)");
        plot.XLabel("gap change (frames of 20 ms; negative = B earlier; evenly spaced categories)");
        plot.YLabel("mean output (1 = liked)");
        plot.Axes.SetLimitsY(-0.05, 1.05);
        plot.SavePng(Path.Combine(folder, $"{name}.png"), 1100, 480);
    }

    private static double[] Scaled(float[] values)
    {
        float min = values.Min(), max = values.Max();
        return values.Select(v => max > min ? (double)(v - min) / (max - min) : 0).ToArray();
    }
}

/// <summary>Mean and spread over seeds.</summary>
internal static class Statistics
{
    public static double Std(IEnumerable<double> values)
    {
        var list = values.ToList();
        double mean = list.Average();
        return list.Count < 2 ? 0 : Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1));
    }

    public static string MeanStd(IEnumerable<double> values)
    {
        var list = values.ToList();
        return $"{list.Average():F3} ± {Std(list):F3}";
    }

    public static string MinMax(IEnumerable<double> values)
    {
        var list = values.ToList();
        return $"{list.Min():F3}-{list.Max():F3}";
    }
}
