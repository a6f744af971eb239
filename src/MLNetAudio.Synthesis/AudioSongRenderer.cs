using MLNetAudio.Data;
using MLNetAudio.Synthesis;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Renders a <see cref="SongDescription"/> of the <see cref="ListeningSimulator"/> to audio with the seeded
/// synthesizer (<see cref="Instruments"/>): the song is cut into sections, each played by one of its parts (now and
/// then two) as a phrase of notes in the song's register at its tempo, so in a song of several parts only some
/// sections carry a given instrument; the A-then-B motif is a low then a high long note played by the part named in
/// <see cref="MotifPlacement.CarriedBy"/>, at the motif's relative place in the song (a falling motif,
/// <see cref="MotifPlacement.Falling"/>, plays the same two notes the other way round).
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
            double low = root - 5, high = root + 19;
            Add(mix, Instruments.Play(motif.CarriedBy, motif.Falling ? high : low, motifSeconds / 2, rng, 0.9f, sr), (int)Math.Round(start * sr));
            Add(mix, Instruments.Play(motif.CarriedBy, motif.Falling ? low : high, motifSeconds / 2, rng, 0.9f, sr), (int)Math.Round((start + (motifSeconds / 2)) * sr));
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
