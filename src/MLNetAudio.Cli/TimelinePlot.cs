using ScottPlot;

namespace MLNetAudio.Cli;

/// <summary>A song's per-window preference over time (ScottPlot), its best window shaded.</summary>
internal static class TimelinePlot
{
    public static string FileName(string songId) =>
        string.Concat(songId.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')) + ".png";

    public static void Save(string path, string songId, float[] timeline, double hopSeconds, double windowSeconds, float bestStart, float score)
    {
        var plot = new Plot();
        double[] starts = [.. Enumerable.Range(0, timeline.Length).Select(i => i * hopSeconds)];
        var span = plot.Add.HorizontalSpan(bestStart, bestStart + windowSeconds);
        span.FillStyle.Color = Colors.Orange.WithAlpha(0.25);
        span.LegendText = $"best window {bestStart:0.#}-{bestStart + windowSeconds:0.#} s";
        var line = plot.Add.Scatter(starts, [.. timeline.Select(v => (double)v)]);
        line.LegendText = "window preference";
        plot.Axes.SetLimitsY(0, 1);
        plot.Title($"{songId}: score {score:0.000}");
        plot.XLabel("window start (s)");
        plot.YLabel("preference");
        plot.ShowLegend();
        plot.SavePng(path, 900, 360);
    }
}
