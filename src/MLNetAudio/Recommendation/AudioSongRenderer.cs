using MLNetAudio.Data;
using MLNetAudio.Synthesis;

namespace MLNetAudio.Recommendation;

// ML.NET convention: options are public fields (STYLE.md), so CA1051 is off for this class only.
#pragma warning disable CA1051

/// <summary>Options of <see cref="AudioSongRenderer"/> and of the song-window cache (<see cref="AudioSongWindows"/>).</summary>
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

    /// <summary>The settings that change the windows, as one string (the cache key's settings part).</summary>
    internal string SettingsKey() =>
        FormattableString.Invariant($"v{AudioSongRenderer.Version};sr{SampleRate};len{RenderSeconds};sec{SectionSeconds};win{WindowSeconds};hop{WindowHopSeconds};c{Coefficients};fps{FramesPerSecond};seed{Seed}");
}
#pragma warning restore CA1051

/// <summary>
/// Renders a <see cref="SongDescription"/> of the <see cref="ListeningSimulator"/> to audio with the seeded
/// synthesizer (<see cref="Instruments"/>): the song is cut into sections, each played by one of its parts (now and
/// then two) as a phrase of notes in the song's register at its tempo, so in a song of several parts only some
/// sections carry a given instrument; the A-then-B motif is a low then a high long note played by the part named in
/// <see cref="MotifPlacement.CarriedBy"/>, at the motif's relative place in the song.
/// </summary>
/// <remarks>Written by hand: the benchmark's songs are this project's own.</remarks>
public static class AudioSongRenderer
{
    /// <summary>Rendering version; part of the cache key, so a change of the renderer invalidates cached windows.</summary>
    internal const int Version = 2;

    /// <summary>
    /// The seed of one song's performance details: a fixed mix (SplitMix64's finaliser) of the options' seed and the
    /// song key, the same in every process and on every machine.
    /// </summary>
    internal static int SongSeed(int seed, uint songKey)
    {
        ulong z = unchecked(((ulong)(uint)seed << 32) + songKey + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (int)(z & int.MaxValue);
    }

    // Major pentatonic degrees: consonant phrases whatever notes are drawn.
    private static readonly int[] Scale = [0, 2, 4, 7, 9, 12, 14, 16];

    /// <summary>Renders <paramref name="song"/> to mono samples at <see cref="AudioSongOptions.SampleRate"/>.</summary>
    public static float[] Render(SongDescription song, AudioSongOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(song);
        options ??= new AudioSongOptions();
        options.Validate();
        int sr = options.SampleRate;
        int total = (int)Math.Round(options.RenderSeconds * sr);
        var mix = new float[total];
        // Not HashCode.Combine: its seed is random per process, so the same song rendered differently in every run
        // (and a disk cache filled by one run disagreed with a fresh render in the next).
        var rng = new Random(SongSeed(options.Seed, song.Key));
        double root = song.Register switch { PitchRegister.Low => 45, PitchRegister.Middle => 57, _ => 69 };
        double beat = 60.0 / song.TempoBpm;
        int sections = Math.Max(1, (int)Math.Round(options.RenderSeconds / options.SectionSeconds));
        double sectionSeconds = options.RenderSeconds / sections;
        var parts = song.Instruments;
        int offset = rng.Next(parts.Count);
        for (int s = 0; s < sections; s++)
        {
            var players = new List<Instrument> { parts[(s + offset) % parts.Count] };
            if (parts.Count > 2 && rng.NextDouble() < 0.25)
            {
                players.Add(parts[(s + offset + 1) % parts.Count]);
            }

            foreach (var instrument in players)
            {
                for (double t = 0; t < sectionSeconds - 0.05; t += beat)
                {
                    double length = Math.Min(beat * (rng.NextDouble() < 0.3 ? 2 : 1), sectionSeconds - t);
                    double note = root + Scale[rng.Next(Scale.Length)];
                    Add(mix, Instruments.Play(instrument, note, length, rng, 0.5f, sr), (int)Math.Round((s * sectionSeconds + t) * sr));
                    if (length > beat)
                    {
                        t += beat;
                    }
                }
            }
        }

        if (song.Motif is { } motif)
        {
            // The motif keeps its relative place when the song is compressed to RenderSeconds.
            double motifSeconds = Math.Min(3, options.RenderSeconds / 2);
            double start = Math.Clamp(motif.StartSeconds / Math.Max(song.DurationSeconds - 8, 1), 0, 1) * (options.RenderSeconds - motifSeconds);
            Add(mix, Instruments.Play(motif.CarriedBy, root - 5, motifSeconds / 2, rng, 0.9f, sr), (int)Math.Round(start * sr));
            Add(mix, Instruments.Play(motif.CarriedBy, root + 19, motifSeconds / 2, rng, 0.9f, sr), (int)Math.Round((start + (motifSeconds / 2)) * sr));
        }

        float peak = 0;
        foreach (float v in mix)
        {
            peak = Math.Max(peak, Math.Abs(v));
        }

        if (peak > 0)
        {
            float gain = 0.8f / peak;
            for (int i = 0; i < mix.Length; i++)
            {
                mix[i] *= gain;
            }
        }

        return mix;
    }

    private static void Add(float[] mix, float[] clip, int at)
    {
        int n = Math.Min(clip.Length, mix.Length - at);
        for (int i = 0; i < n; i++)
        {
            mix[at + i] += clip[i];
        }
    }
}
