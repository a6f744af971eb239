using NWaves.Transforms;

namespace MLNetAudio.Tests.Synthesis;

/// <summary>
/// Measurements the synthesis tests make on generated audio: fundamental frequency, spectra, spectral flatness and
/// centroid, envelopes and onsets. Independent of the generator's code so the tests check it from outside.
/// </summary>
internal static class SignalAnalysis
{
    /// <summary>Hann-windowed power spectrum of x[from .. from+count), zero-padded to <paramref name="fftSize"/>.</summary>
    public static double[] PowerSpectrum(float[] x, int from, int count, int fftSize)
    {
        var input = new double[fftSize];
        count = Math.Min(count, Math.Min(fftSize, x.Length - from));
        for (int i = 0; i < count; i++)
        {
            double w = 0.5 - 0.5 * Math.Cos(2 * Math.PI * i / (count - 1));
            input[i] = x[from + i] * w;
        }

        var re = new double[fftSize / 2 + 1];
        var im = new double[fftSize / 2 + 1];
        new RealFft64(fftSize).Direct(input, re, im);
        var p = new double[re.Length];
        for (int k = 0; k < p.Length; k++)
        {
            p[k] = re[k] * re[k] + im[k] * im[k];
        }

        return p;
    }

    /// <summary>
    /// Fundamental frequency of the steady part of x: a coarse period from the cumulative mean normalised
    /// difference function (YIN), refined to a fraction of a cent by the power-weighted mean frequency of the
    /// spectrum within ±35 cents of the estimate (repeated until it settles), which is also the mean of a vibrato.
    /// </summary>
    public static double Fundamental(float[] x, int sampleRate, double skipSeconds = 0.25, double minHz = 60, double maxHz = 2000)
    {
        int from = (int)(skipSeconds * sampleRate);
        int count = x.Length - from - (int)(0.1 * sampleRate);
        double coarse = CoarseFundamental(x, from, Math.Min(count, 4096), sampleRate, minHz, maxHz);
        const int fftSize = 1 << 17;
        double[] p = PowerSpectrum(x, from, count, fftSize);
        double binHz = (double)sampleRate / fftSize;
        double f = coarse;
        for (int iteration = 0; iteration < 20; iteration++)
        {
            double lo = f * Math.Pow(2, -35 / 1200.0), hi = f * Math.Pow(2, 35 / 1200.0);
            double sum = 0, weighted = 0;
            for (int k = (int)Math.Ceiling(lo / binHz); k <= (int)Math.Floor(hi / binHz) && k < p.Length; k++)
            {
                sum += p[k];
                weighted += p[k] * k * binHz;
            }

            double next = weighted / sum;
            if (Math.Abs(next - f) < 1e-6)
            {
                break;
            }

            f = next;
        }

        return f;
    }

    /// <summary>YIN's period estimate: the first dip of the normalised difference below 0.15 (else the deepest), in Hz.</summary>
    public static double CoarseFundamental(float[] x, int from, int window, int sampleRate, double minHz, double maxHz)
    {
        int minLag = (int)(sampleRate / maxHz), maxLag = (int)(sampleRate / minHz);
        var d = new double[maxLag + 2];
        for (int lag = 1; lag <= maxLag + 1; lag++)
        {
            double s = 0;
            for (int i = from; i < from + window && i + lag < x.Length; i++)
            {
                double diff = x[i] - x[i + lag];
                s += diff * diff;
            }

            d[lag] = s;
        }

        double running = 0;
        var cmnd = new double[maxLag + 2];
        cmnd[0] = 1;
        for (int lag = 1; lag <= maxLag + 1; lag++)
        {
            running += d[lag];
            cmnd[lag] = running > 0 ? d[lag] * lag / running : 1;
        }

        int best = -1;
        for (int lag = Math.Max(2, minLag); lag <= maxLag; lag++)
        {
            if (cmnd[lag] < 0.15 && cmnd[lag] <= cmnd[lag - 1] && cmnd[lag] <= cmnd[lag + 1])
            {
                best = lag;
                break;
            }
        }

        if (best < 0)
        {
            best = Math.Max(2, minLag);
            for (int lag = best; lag <= maxLag; lag++)
            {
                if (cmnd[lag] < cmnd[best])
                {
                    best = lag;
                }
            }
        }

        return (double)sampleRate / best;
    }

    /// <summary>Total power of the spectrum within ±<paramref name="cents"/> of <paramref name="hz"/>.</summary>
    public static double BandPower(double[] p, double hz, double cents, int sampleRate, int fftSize)
    {
        double binHz = (double)sampleRate / fftSize;
        double lo = hz * Math.Pow(2, -cents / 1200), hi = hz * Math.Pow(2, cents / 1200);
        double s = 0;
        for (int k = (int)Math.Ceiling(lo / binHz); k <= (int)Math.Floor(hi / binHz) && k < p.Length; k++)
        {
            s += p[k];
        }

        return s;
    }

    /// <summary>The frequency of the largest spectral value within ±<paramref name="cents"/> of <paramref name="hz"/>.</summary>
    public static double PeakNear(double[] p, double hz, double cents, int sampleRate, int fftSize, out double power)
    {
        double binHz = (double)sampleRate / fftSize;
        int lo = (int)Math.Ceiling(hz * Math.Pow(2, -cents / 1200) / binHz), hi = (int)Math.Floor(hz * Math.Pow(2, cents / 1200) / binHz);
        int best = lo;
        for (int k = lo; k <= hi; k++)
        {
            if (p[k] > p[best])
            {
                best = k;
            }
        }

        // Parabolic interpolation on log power around the peak bin.
        double a = Math.Log(p[best - 1] + 1e-30), b = Math.Log(p[best] + 1e-30), c = Math.Log(p[best + 1] + 1e-30);
        double offset = 0.5 * (a - c) / (a - 2 * b + c);
        power = p[best];
        return (best + offset) * binHz;
    }

    /// <summary>Geometric over arithmetic mean of the power spectrum between the two frequencies (0 tonal, 1 white noise).</summary>
    public static double SpectralFlatness(double[] p, int sampleRate, int fftSize, double loHz, double hiHz)
    {
        double binHz = (double)sampleRate / fftSize;
        double logSum = 0, sum = 0;
        int n = 0;
        for (int k = (int)(loHz / binHz); k <= (int)(hiHz / binHz); k++)
        {
            logSum += Math.Log(p[k] + 1e-30);
            sum += p[k];
            n++;
        }

        return Math.Exp(logSum / n) / (sum / n);
    }

    /// <summary>Power-weighted mean frequency of the spectrum up to <paramref name="hiHz"/>.</summary>
    public static double SpectralCentroid(double[] p, int sampleRate, int fftSize, double hiHz)
    {
        double binHz = (double)sampleRate / fftSize;
        double s = 0, w = 0;
        for (int k = 1; k * binHz <= hiHz && k < p.Length; k++)
        {
            s += p[k];
            w += p[k] * k * binHz;
        }

        return w / s;
    }

    /// <summary>RMS of x in consecutive blocks of <paramref name="block"/> samples.</summary>
    public static double[] BlockRms(float[] x, int block)
    {
        var r = new double[x.Length / block];
        for (int b = 0; b < r.Length; b++)
        {
            double s = 0;
            for (int i = b * block; i < (b + 1) * block; i++)
            {
                s += (double)x[i] * x[i];
            }

            r[b] = Math.Sqrt(s / block);
        }

        return r;
    }

    /// <summary>
    /// Energy onset detector: the first block at or after <paramref name="fromBlock"/> whose RMS rises above
    /// <paramref name="threshold"/> times the loudest block's, following one below it; -1 if none.
    /// </summary>
    public static int OnsetBlock(float[] x, int block, int fromBlock, double threshold = 0.01)
    {
        double[] r = BlockRms(x, block);
        double max = r.Max();
        for (int b = Math.Max(1, fromBlock); b < r.Length; b++)
        {
            if (r[b] > threshold * max && r[b - 1] <= threshold * max)
            {
                return b;
            }
        }

        return -1;
    }

    /// <summary>Index of the first sample at or after <paramref name="from"/> whose magnitude exceeds <paramref name="level"/>; -1 if none.</summary>
    public static int FirstAbove(float[] x, int from, float level)
    {
        for (int i = Math.Max(0, from); i < x.Length; i++)
        {
            if (Math.Abs(x[i]) > level)
            {
                return i;
            }
        }

        return -1;
    }
}
