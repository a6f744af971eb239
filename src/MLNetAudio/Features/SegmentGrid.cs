using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
    /// <summary>Where windows fall in a song, in frames, for one sample rate.</summary>
    internal sealed class SegmentGrid
    {
        public SegmentGrid(int sampleRate, int hopLength, double windowSeconds, double windowHopSeconds)
        {
            SampleRate = sampleRate;
            HopLength = hopLength;
            WindowSeconds = windowSeconds;
            WindowHopSeconds = windowHopSeconds;
            FramesPerSecond = (double)sampleRate / hopLength;
            FramesPerWindow = (int)Math.Round(windowSeconds * FramesPerSecond);
            HopFrames = windowHopSeconds * FramesPerSecond;
        }

        public int SampleRate { get; }

        public int HopLength { get; }

        public double WindowSeconds { get; }

        public double WindowHopSeconds { get; }

        public double FramesPerSecond { get; }

        public int FramesPerWindow { get; }

        /// <summary>Distance between window starts in frames (may be fractional; each start is rounded).</summary>
        public double HopFrames { get; }

        /// <summary>
        /// floor((d - window) / hop) + 1 windows for a song of d = samples / sampleRate seconds, or 0 when the song is
        /// shorter than one window. The 1e-9 tolerance absorbs rounding in d - window (so d = 8 exactly gives 1).
        /// </summary>
        public int WindowCount(long samples)
        {
            double d = (double)samples / SampleRate;
            double x = (d - WindowSeconds) / WindowHopSeconds;
            return x < -1e-9 ? 0 : (int)Math.Floor(x + 1e-9) + 1;
        }

        public int WindowStart(int window) => (int)Math.Round(window * HopFrames);
    }
}
