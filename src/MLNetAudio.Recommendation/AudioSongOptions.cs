using MLNetAudio.Data;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>
/// Window settings of <see cref="AudioSongWindows"/>, and the rendering and cache settings of the simulator's songs
/// (<c>AudioSongRenderer</c> and <c>AudioSongWindows.Compute</c> in MLNetAudio.Synthesis).
/// </summary>
public sealed class AudioSongOptions
{
    /// <summary>Sample rate of the rendered audio in Hz. Default 16000.</summary>
    public int SampleRate = Defaults.SampleRate;

    /// <summary>
    /// Length every song is rendered to, in seconds: the simulator's 60-240 s songs are compressed in time (sections
    /// and the motif keep their relative place) so a catalog of thousands renders in minutes. Default 16.
    /// </summary>
    public double RenderSeconds = Defaults.RenderSeconds;

    /// <summary>Length of one section; each section is played by one part (sometimes two). Default 4.</summary>
    public double SectionSeconds = Defaults.SectionSeconds;

    /// <summary>Window length for the MFCC windows, in seconds. Default 8 (the seed's).</summary>
    public double WindowSeconds = Defaults.WindowSeconds;

    /// <summary>Hop between windows in seconds. Default 1 (the seed's scoring hop).</summary>
    public double WindowHopSeconds = Defaults.WindowHopSeconds;

    /// <summary>MFCC coefficients per frame. Default 20.</summary>
    public int Coefficients = Defaults.Coefficients;

    /// <summary>Frames per second. Default 50 (the seed's 20 ms hop).</summary>
    public double FramesPerSecond = Defaults.FramesPerSecond;

    /// <summary>Seed of the performance details (note choice, instrument noise). Default 1.</summary>
    public int Seed = 1;

    /// <summary>
    /// Folder of the binary window cache (one file per song and settings); null (the default) means
    /// <c>{system temp}/MLNetAudio/song-windows</c>. Set <see cref="UseCache"/> false to skip it.
    /// </summary>
    public string? CacheDirectory;

    /// <summary>Whether windows are read from and written to <see cref="CacheDirectory"/>. Default true.</summary>
    public bool UseCache = true;

    /// <summary>Default values.</summary>
    public static class Defaults
    {
        /// <summary>Default sample rate.</summary>
        public const int SampleRate = 16000;

        /// <summary>Default rendered length.</summary>
        public const double RenderSeconds = 16;

        /// <summary>Default section length.</summary>
        public const double SectionSeconds = 4;

        /// <summary>Default window length.</summary>
        public const double WindowSeconds = 8;

        /// <summary>Default window hop.</summary>
        public const double WindowHopSeconds = 1;

        /// <summary>Default coefficients.</summary>
        public const int Coefficients = 20;

        /// <summary>Default frame rate.</summary>
        public const double FramesPerSecond = 50;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate() =>
        new OptionErrors(nameof(AudioSongOptions))
            .Check(SampleRate is < 4000 or > 96000, nameof(SampleRate), $"must be 4000 to 96000 Hz; found {SampleRate}.")
            .Check(!(SectionSeconds >= 0.5), nameof(SectionSeconds), $"must be at least 0.5 s; found {SectionSeconds}.")
            .Check(!(WindowSeconds > 0), nameof(WindowSeconds), $"must be positive; found {WindowSeconds}.")
            .Check(!(RenderSeconds >= WindowSeconds) || double.IsInfinity(RenderSeconds), nameof(RenderSeconds), $"must be finite and at least WindowSeconds ({WindowSeconds}); found {RenderSeconds}.")
            .Check(!(WindowHopSeconds > 0), nameof(WindowHopSeconds), $"must be positive; found {WindowHopSeconds}.")
            .Check(Coefficients is < 2 or > 128, nameof(Coefficients), $"must be 2 to 128; found {Coefficients}.")
            .Check(!(FramesPerSecond is >= 10 and <= 1000), nameof(FramesPerSecond), $"must be 10 to 1000; found {FramesPerSecond}.")
            .ThrowIfAny();

    /// <summary>The window settings of windows made elsewhere (real files through SegmentMfcc): nothing to render or cache.</summary>
    internal static AudioSongOptions FromLayout(Features.WindowLayout layout)
    {
        var options = new AudioSongOptions
        {
            FramesPerSecond = layout.FramesPerSecond,
            WindowSeconds = layout.WindowSeconds,
            WindowHopSeconds = layout.HopSeconds,
            Coefficients = layout.Coefficients,
            RenderSeconds = Math.Max(Defaults.RenderSeconds, layout.WindowSeconds),
            UseCache = false,
        };
        options.Validate();
        return options;
    }
}
#pragma warning restore CA1051
