using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;

namespace MLNetAudio.Synthesis;

/// <summary>
/// Renders notes with real sampled instruments: writes a Standard MIDI File and plays it through the
/// <c>fluidsynth</c> command-line synthesizer with a General MIDI soundfont, where both are installed
/// (Debian: <c>apt-get install fluidsynth fluid-soundfont-gm</c>, or the smaller <c>timgm6mb-soundfont</c>).
/// Check <see cref="IsAvailable"/> first; rendering without them throws <see cref="InvalidOperationException"/>.
/// </summary>
/// <remarks>
/// <para>Instruments map to General MIDI programs (0-based): flute 73, guitar 24 (nylon acoustic), violin 40,
/// clarinet 71, marimba 12, and sine 79 (ocarina, the nearest to a pure tone GM offers). Velocity is
/// round(127 * loudness); pitches are rounded to whole notes; glides cannot be rendered.</para>
/// <para>Timing: the file runs at 1 tick = 1 ms, and fluidsynth applies events at its 64-sample block edges, so an
/// onset lands within about 3 ms of where it was asked for (the synthetic instruments in <see cref="Instruments"/>
/// are exact to the sample; use them where the exact gap matters, as in experiment 2).</para>
/// <para>The rendering is deterministic for a given fluidsynth build and soundfont; chorus and reverb are off by
/// default so a gap between notes stays silent.</para>
/// </remarks>
public static class GeneralMidi
{
    /// <summary>Environment variable that names the soundfont to use, ahead of the usual Debian locations.</summary>
    public const string SoundFontVariable = "MLNETAUDIO_SOUNDFONT";

    /// <summary>Gain passed to fluidsynth (<c>-g</c>): 0.4 keeps chords of several notes from clipping.</summary>
    public const float DefaultGain = 0.4f;

    private static readonly string[] SoundFontCandidates =
    [
        "/usr/share/sounds/sf2/FluidR3_GM.sf2",
        "/usr/share/sounds/sf2/default-GM.sf2",
        "/usr/share/sounds/sf2/TimGM6mb.sf2",
        "/usr/share/soundfonts/default.sf2",
        "/usr/share/soundfonts/FluidR3_GM.sf2",
    ];

    /// <summary>Whether both the <c>fluidsynth</c> program and a General MIDI soundfont were found.</summary>
    public static bool IsAvailable => FindFluidSynth() is not null && FindSoundFont() is not null;

    /// <summary>The full path of <c>fluidsynth</c> on the PATH, or null when it is not installed.</summary>
    /// <returns>A path or null.</returns>
    public static string? FindFluidSynth()
    {
        string? path = Environment.GetEnvironmentVariable("PATH");
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        foreach (string dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string name in new[] { "fluidsynth", "fluidsynth.exe" })
            {
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The soundfont to use: the file named by <see cref="SoundFontVariable"/> if set and present, otherwise the
    /// first of FluidR3_GM, the system default GM font and TimGM6mb in the usual Debian folders; null if none.
    /// </summary>
    /// <returns>A path or null.</returns>
    public static string? FindSoundFont()
    {
        string? chosen = Environment.GetEnvironmentVariable(SoundFontVariable);
        if (!string.IsNullOrWhiteSpace(chosen) && File.Exists(chosen))
        {
            return chosen;
        }

        return SoundFontCandidates.FirstOrDefault(File.Exists);
    }

    /// <summary>The General MIDI program (0-based) that plays <paramref name="instrument"/>.</summary>
    /// <param name="instrument">A voice.</param>
    /// <returns>0-127.</returns>
    public static int Program(Instrument instrument) => instrument switch
    {
        Instrument.Sine => 79,
        Instrument.Flute => 73,
        Instrument.Guitar => 24,
        Instrument.Violin => 40,
        Instrument.Clarinet => 71,
        Instrument.Marimba => 12,
        _ => throw new ArgumentOutOfRangeException(nameof(instrument), instrument, "Unknown instrument."),
    };

    /// <summary>
    /// Re-renders a synthesized clip's notes with sampled instruments, keeping its length and notes, and scales the
    /// result to the clip's own peak so it can stand in for the synthetic clip (fluidsynth at gain 0.4 peaks near 0.1).
    /// </summary>
    /// <param name="clip">A clip from <see cref="SeedCurriculum"/> (no glides).</param>
    /// <param name="gain">fluidsynth's output gain.</param>
    /// <returns>A clip of the same length, sample rate, level, notes and peak.</returns>
    public static SynthesizedAudio Render(SynthesizedAudio clip, float gain = DefaultGain)
    {
        ArgumentNullException.ThrowIfNull(clip);
        float[] y = Render(clip.Notes, clip.DurationSeconds, clip.SampleRate, gain);
        float peak = clip.Samples.Length == 0 ? 0 : clip.Samples.Max(Math.Abs);
        if (peak > 0)
        {
            SynthesisDsp.NormalizePeak(y, Math.Min(peak, 0.99f));
        }

        return clip with { Samples = y, Description = clip.Description + " (General MIDI)" };
    }

    /// <summary>
    /// Renders <paramref name="notes"/> with fluidsynth into a mono clip exactly round(seconds * sampleRate) long
    /// (downmixed from fluidsynth's stereo; cut or padded with silence; scaled down only if it would clip).
    /// </summary>
    /// <param name="notes">The notes; each instrument gets its own MIDI channel.</param>
    /// <param name="seconds">Length of the result.</param>
    /// <param name="sampleRate">Samples per second.</param>
    /// <param name="gain">fluidsynth's output gain (<c>-g</c>).</param>
    /// <param name="effects">Whether to keep fluidsynth's chorus and reverb (off by default so gaps stay silent).</param>
    /// <returns>Mono samples.</returns>
    /// <exception cref="InvalidOperationException">When fluidsynth or a soundfont is missing, or fluidsynth fails.</exception>
    public static float[] Render(IReadOnlyList<NoteEvent> notes, double seconds, int sampleRate = Pitch.DefaultSampleRate, float gain = DefaultGain, bool effects = false)
    {
        ArgumentNullException.ThrowIfNull(notes);
        if (!(seconds > 0 && seconds <= 3600))
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "The length must be between 0 and 3600 seconds.");
        }

        if (sampleRate < 8000 || sampleRate > 96000)
        {
            throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "fluidsynth renders at 8000-96000 Hz.");
        }

        if (!(gain > 0 && gain <= 10))
        {
            throw new ArgumentOutOfRangeException(nameof(gain), gain, "fluidsynth's gain must be in (0, 10]; 0.4 is usual.");
        }

        string fluidsynth = FindFluidSynth() ?? throw new InvalidOperationException(
            "General MIDI rendering needs the fluidsynth program on the PATH (Debian: apt-get install fluidsynth). Check GeneralMidi.IsAvailable first, or use the synthetic Instruments.");
        string font = FindSoundFont() ?? throw new InvalidOperationException(
            $"General MIDI rendering needs a GM soundfont (Debian: apt-get install fluid-soundfont-gm or timgm6mb-soundfont), or set {SoundFontVariable} to an .sf2 file.");

        string dir = Path.Combine(Path.GetTempPath(), "mlnetaudio-gm-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string midiPath = Path.Combine(dir, "in.mid");
            string wavPath = Path.Combine(dir, "out.wav");
            using (var file = File.Create(midiPath))
            {
                WriteMidiFile(notes, seconds, file);
            }

            RunFluidSynth(fluidsynth, font, midiPath, wavPath, sampleRate, gain, effects);
            if (!File.Exists(wavPath))
            {
                throw new InvalidOperationException($"fluidsynth finished but wrote no audio to '{wavPath}'.");
            }

            var decoded = MLNetAudio.Audio.AudioDecoder.Decode(wavPath, default);
            (float[] mono, int rate) = (decoded.Samples, decoded.SampleRate);
            if (rate != sampleRate)
            {
                throw new InvalidOperationException($"fluidsynth wrote {rate} Hz audio although {sampleRate} Hz was asked for.");
            }

            var y = new float[Pitch.SecondsToSamples(seconds, sampleRate)];
            Array.Copy(mono, y, Math.Min(y.Length, mono.Length));
            float peak = y.Length == 0 ? 0 : y.Max(Math.Abs);
            if (peak > 1)
            {
                SynthesisDsp.NormalizePeak(y, 0.99f);
            }

            return y;
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary folder is harmless; the rendered clip is what matters.
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="notes"/> as a format-0 Standard MIDI File at 1 tick = 1 ms (tempo 500000 us per
    /// quarter note, 500 ticks per quarter), with one channel per instrument (skipping drum channel 10), a program
    /// change at the start of each, and the end of track at <paramref name="seconds"/> so a player renders that long.
    /// Written by hand because no MIDI library is among the packages this project can use, and the format needs only
    /// a header, variable-length delta times and three kinds of event.
    /// </summary>
    /// <param name="notes">The notes (no glides; pitches rounded to whole notes).</param>
    /// <param name="seconds">Where the track ends.</param>
    /// <param name="output">Where the file's bytes go.</param>
    public static void WriteMidiFile(IReadOnlyList<NoteEvent> notes, double seconds, Stream output)
    {
        ArgumentNullException.ThrowIfNull(notes);
        ArgumentNullException.ThrowIfNull(output);
        Instrument[] instruments = notes.Select(n => n.Instrument).Distinct().OrderBy(i => i).ToArray();
        if (instruments.Length > 15)
        {
            throw new ArgumentException("A MIDI file has 15 melodic channels; use at most 15 instruments.", nameof(notes));
        }

        int Channel(Instrument i)
        {
            int c = Array.IndexOf(instruments, i);
            return c >= 9 ? c + 1 : c;
        }

        // (tick, order, bytes): at the same tick, note-offs (order 0) go before note-ons (order 1) so repeated
        // notes restart instead of being cut.
        var events = new List<(long Tick, int Order, byte[] Bytes)>();
        foreach (Instrument i in instruments)
        {
            events.Add((0, -1, [(byte)(0xC0 | Channel(i)), (byte)Program(i)]));
        }

        for (int k = 0; k < notes.Count; k++)
        {
            NoteEvent n = notes[k] ?? throw new ArgumentException($"Note {k} is null.", nameof(notes));
            if (Math.Abs(n.EndMidi - n.Midi) > 1e-9)
            {
                throw new ArgumentException($"Note {k} glides from {n.Midi} to {n.EndMidi}; General MIDI rendering plays fixed pitches only.", nameof(notes));
            }

            int key = (int)Math.Round(n.Midi);
            if (key is < 0 or > 127 || !(n.OnsetSeconds >= 0) || !(n.DurationSeconds > 0))
            {
                throw new ArgumentException($"Note {k} ({n}) needs a MIDI note 0-127, an onset of at least 0 and a positive duration.", nameof(notes));
            }

            byte velocity = (byte)Math.Clamp((int)Math.Round(127 * n.Loudness), 1, 127);
            long on = (long)Math.Round(n.OnsetSeconds * 1000);
            long off = Math.Max(on + 1, (long)Math.Round((n.OnsetSeconds + n.DurationSeconds) * 1000));
            int ch = Channel(n.Instrument);
            events.Add((on, 1, [(byte)(0x90 | ch), (byte)key, velocity]));
            events.Add((off, 0, [(byte)(0x80 | ch), (byte)key, 64]));
        }

        long end = Math.Max((long)Math.Round(seconds * 1000), events.Max(e => e.Tick));
        var track = new MemoryStream();
        track.Write([0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20]); // tempo 500000 us per quarter
        long now = 0;
        foreach (var e in events.OrderBy(e => e.Tick).ThenBy(e => e.Order))
        {
            WriteVariableLength(track, e.Tick - now);
            track.Write(e.Bytes);
            now = e.Tick;
        }

        WriteVariableLength(track, end - now);
        track.Write([0xFF, 0x2F, 0x00]); // end of track

        Span<byte> word = stackalloc byte[4];
        output.Write("MThd"u8);
        BinaryPrimitives.WriteInt32BigEndian(word, 6);
        output.Write(word);
        output.Write([0x00, 0x00, 0x00, 0x01, 0x01, 0xF4]); // format 0, one track, 500 ticks per quarter
        output.Write("MTrk"u8);
        BinaryPrimitives.WriteInt32BigEndian(word, checked((int)track.Length));
        output.Write(word);
        track.Position = 0;
        track.CopyTo(output);
    }

    private static void WriteVariableLength(Stream s, long value)
    {
        if (value is < 0 or > 0x0FFFFFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "A MIDI delta time must be 0 to 2^28 - 1 ticks.");
        }

        Span<byte> buffer = stackalloc byte[4];
        int count = 0;
        buffer[count++] = (byte)(value & 0x7F);
        while ((value >>= 7) > 0)
        {
            buffer[count++] = (byte)(0x80 | (value & 0x7F));
        }

        for (int i = count - 1; i >= 0; i--)
        {
            s.WriteByte(buffer[i]);
        }
    }

    private static void RunFluidSynth(string fluidsynth, string font, string midiPath, string wavPath, int sampleRate, float gain, bool effects)
    {
        var start = new ProcessStartInfo(fluidsynth)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] args =
        [
            "-ni", "-q", "-g", gain.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-r", sampleRate.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-R", effects ? "1" : "0", "-C", effects ? "1" : "0",
            "-F", wavPath, font, midiPath,
        ];
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start '{fluidsynth}'.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"fluidsynth did not finish rendering '{midiPath}' within 2 minutes and was stopped.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"fluidsynth failed (exit code {process.ExitCode}): {stderr.Result.Trim()} {stdout.Result.Trim()}");
        }
    }

}
