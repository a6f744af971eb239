using System.Globalization;
using MLNetAudio.Recommendation;
using ScottPlot;

/// <summary>
/// Reads the rows that <c>--run tastes --tsv FILE</c> appended and prints, per taste focus, each model's cold NDCG@10
/// (mean and standard deviation over simulator seeds, each seed's value first averaged over the model seeds), its share
/// of that seed's taste oracle, and its paired difference (same simulator seed) from the MLP on MFCC statistics and
/// from the best of the three MFCC-statistics baselines on that seed.
/// </summary>
/// <remarks>
/// The criterion of issue 12, item 1, fixed before the runs: a model "beats the MFCC-statistics baselines by more than
/// the spread" on a focus when its mean paired difference from the best baseline of each seed is above zero by more
/// than the larger of the two standard deviations over simulator seeds (the model's and that baseline's), and it is
/// "level" when the mean paired difference is within that spread. Each focus also gets the rule applied to the taste
/// oracle itself: where the oracle would only be "level", the criterion cannot be met at that setting by any model.
/// </remarks>
internal static class TasteSummary
{
    private const string MfccMlp = "MLP on mfcc";

    private static readonly string[] MfccBaselines = [MfccMlp, "content, song set (MFCC stats)", "content, seed song (MFCC stats)"];

    public static void Print(string path, string? plotPath)
    {
        var rows = File.ReadLines(path).Where(l => l.Length > 0).Select(Parse).ToArray();
        var plotData = new List<(string Focus, string Model, int Epochs, double Mean, double Std)>();
        var oracleMeans = new Dictionary<string, double>();
        // Timbre and pitch first, then the time-structure tastes, in TasteFocus order.
        foreach (var focusRows in rows.GroupBy(r => r.Focus).OrderBy(g => Enum.TryParse<TasteFocus>(g.Key.Split(' ')[0], out var f) ? (int)f : int.MaxValue).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            string focus = focusRows.Key;
            var oracle = focusRows.Where(r => r.Model == "taste oracle").GroupBy(r => r.SimSeed).ToDictionary(g => g.Key, g => g.First().Cold);
            // Per model (name and epochs), per simulator seed: the mean over model seeds.
            var perSeed = focusRows.Where(r => r.Model != "taste oracle")
                .GroupBy(r => (r.Model, r.Epochs))
                .ToDictionary(g => g.Key, g => g.GroupBy(r => r.SimSeed).ToDictionary(s => s.Key, s => s.Average(r => r.Cold)));
            var baselineKeys = perSeed.Keys.Where(k => MfccBaselines.Contains(k.Model)).ToArray();
            var simSeeds = oracle.Keys.Order().ToArray();
            double BestBaseline(int seed) => baselineKeys.Where(k => perSeed[k].ContainsKey(seed)).Max(k => perSeed[k][seed]);

            oracleMeans[focus] = Mean(simSeeds.Select(s => oracle[s]));
            Console.WriteLine($"### Taste focus {focus}: simulator seeds {string.Join(", ", simSeeds)}; taste oracle cold NDCG@10 {Mean(simSeeds.Select(s => oracle[s])):0.000} ± {Std(simSeeds.Select(s => oracle[s])):0.000}");
            if (baselineKeys.Length > 0)
            {
                // The ceiling of the criterion: even a model as good as the taste oracle is judged by the same rule.
                var oracleLead = simSeeds.Select(s => oracle[s] - BestBaseline(s)).ToArray();
                double oracleSpread = Math.Max(Std(simSeeds.Select(s => oracle[s])), Std(simSeeds.Select(BestBaseline)));
                Console.WriteLine();
                Console.WriteLine($"Ceiling: the taste oracle − the best MFCC baseline, paired: {Mean(oracleLead):+0.000;−0.000} ± {Std(oracleLead):0.000} against a spread of {oracleSpread:0.000}; "
                    + (Mean(oracleLead) > oracleSpread ? "a win by more than the spread is within reach." : "even the taste oracle would be judged level, so no model can beat the baselines by more than the spread here."));
            }

            Console.WriteLine();
            Console.WriteLine("| model | epochs | seeds | cold NDCG@10, mean ± std | % of taste oracle | − MLP on MFCC stats (paired), mean ± std | − best MFCC baseline (paired) | seeds above best baseline | verdict | per seed |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var (key, values) in perSeed.OrderByDescending(p => Mean(p.Value.Values)))
            {
                var seeds = simSeeds.Where(values.ContainsKey).ToArray();
                var cold = seeds.Select(s => values[s]).ToArray();
                var share = seeds.Select(s => 100 * values[s] / oracle[s]).ToArray();
                string vsMlp = "", vsBest = "", above = "", verdict = "";
                var mlpKey = perSeed.Keys.FirstOrDefault(k => k.Model == MfccMlp);
                if (!MfccBaselines.Contains(key.Model) && key.Model != "random" && perSeed.TryGetValue(mlpKey, out var mlp) && baselineKeys.Length > 0)
                {
                    var paired = seeds.Where(mlp.ContainsKey).Select(s => values[s] - mlp[s]).ToArray();
                    vsMlp = $"{Mean(paired):+0.000;−0.000} ± {Std(paired):0.000}";
                    var best = seeds.Select(s => values[s] - BestBaseline(s)).ToArray();
                    vsBest = $"{Mean(best):+0.000;−0.000} ± {Std(best):0.000}";
                    above = $"{best.Count(d => d > 0)} of {best.Length}";
                    var bestValues = seeds.Select(BestBaseline).ToArray();
                    double spread = Math.Max(Std(cold), Std(bestValues));
                    verdict = Mean(best) > spread ? $"beats by more than the spread ({spread:0.000})"
                        : Math.Abs(Mean(best)) <= spread ? $"level (within {spread:0.000})"
                        : $"below by more than the spread ({spread:0.000})";
                }

                Console.WriteLine($"| {key.Model} | {key.Epochs} | {seeds.Length} | {Mean(cold):0.000} ± {Std(cold):0.000} | {Mean(share):0}% ± {Std(share):0} | {vsMlp} | {vsBest} | {above} | {verdict} | {string.Join(" / ", cold.Select(c => c.ToString("0.000", CultureInfo.InvariantCulture)))} |");
                plotData.Add((focus, key.Model, key.Epochs, Mean(cold), Std(cold)));
            }

            Console.WriteLine();
        }

        if (plotPath is not null)
        {
            Plot(plotData, oracleMeans, plotPath);
        }
    }

    /// <summary>
    /// Cold NDCG@10 per focus: the models trained longest (the paired other-aggregation rows left out), the MFCC
    /// baselines and random as bars with their spread over simulator seeds, the taste oracle as a marker.
    /// </summary>
    private static void Plot(List<(string Focus, string Model, int Epochs, double Mean, double Std)> data, Dictionary<string, double> oracle, string path)
    {
        var focuses = data.Select(d => d.Focus).Distinct().ToArray();
        int longest = data.Where(d => d.Model.StartsWith("cnn", StringComparison.Ordinal)).Select(d => d.Epochs).DefaultIfEmpty(0).Max();
        var models = data
            .Where(d => !d.Model.Contains("(same model)", StringComparison.Ordinal) && (d.Epochs == 0 || d.Epochs == longest))
            .Select(d => d.Model).Distinct()
            .OrderBy(m => m.StartsWith("cnn", StringComparison.Ordinal) ? 0 : m == MfccMlp ? 1 : m.StartsWith("content", StringComparison.Ordinal) ? 2 : m == "random" ? 4 : 3)
            .ToArray();
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double width = 0.8 / models.Length;
        for (int m = 0; m < models.Length; m++)
        {
            var bars = new List<Bar>();
            foreach (var (focus, f) in focuses.Select((f, i) => (f, i)))
            {
                var point = data.FirstOrDefault(d => d.Focus == focus && d.Model == models[m] && (d.Epochs == 0 || d.Epochs == longest));
                if (point.Model is null)
                {
                    continue;
                }

                bars.Add(new Bar
                {
                    Position = f + ((m - ((models.Length - 1) / 2.0)) * width),
                    Value = point.Mean,
                    Error = point.Std,
                    Size = width * 0.95,
                    FillColor = palette.GetColor(m),
                });
            }

            plot.Add.Bars(bars);
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = models[m] + (models[m].StartsWith("cnn", StringComparison.Ordinal) || models[m].StartsWith("MLP", StringComparison.Ordinal) ? $" ({longest} epochs)" : string.Empty), FillColor = palette.GetColor(m) });
        }

        var oracleMarkers = plot.Add.Markers(focuses.Select((_, i) => (double)i).ToArray(), focuses.Select(f => oracle[f]).ToArray());
        oracleMarkers.MarkerShape = MarkerShape.FilledDiamond;
        oracleMarkers.MarkerSize = 12;
        oracleMarkers.Color = Colors.Black;
        oracleMarkers.LegendText = "taste oracle (ranks by the hidden taste alone)";
        plot.Axes.Bottom.SetTicks(focuses.Select((_, i) => (double)i).ToArray(), focuses);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Edge.Right);
        plot.Title("Cold-song NDCG@10 by kind of taste (mean ± std over simulator seeds; 300 songs x 150 users)");
        plot.YLabel("cold NDCG@10");
        plot.SavePng(path, 1300, 520);
        Console.WriteLine($"Plot: {path}");
    }

    private static (string Focus, int SimSeed, string Model, int Seed, int Epochs, double Cold) Parse(string line)
    {
        var f = line.Split('\t');
        return (f[0], int.Parse(f[1], CultureInfo.InvariantCulture), f[3], int.Parse(f[4], CultureInfo.InvariantCulture), int.Parse(f[5], CultureInfo.InvariantCulture), double.Parse(f[6], CultureInfo.InvariantCulture));
    }

    private static double Mean(IEnumerable<double> values) => values.DefaultIfEmpty(double.NaN).Average();

    private static double Std(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length < 2)
        {
            return 0;
        }

        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1));
    }
}
