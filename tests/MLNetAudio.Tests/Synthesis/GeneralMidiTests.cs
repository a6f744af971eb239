using MLNetAudio.Synthesis;

namespace MLNetAudio.Tests.Synthesis;

/// <summary>
/// A fact that runs only where fluidsynth and a General MIDI soundfont are installed, and says so when skipped.
/// Under CI (<c>CI=true</c>, where <c>.ci/run</c> installs both) it always runs, so a missing install step fails loudly.
/// </summary>
public sealed class FluidSynthFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when <see cref="GeneralMidi.IsAvailable"/> is false.</summary>
    public FluidSynthFactAttribute()
    {
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ci && !GeneralMidi.IsAvailable)
        {
            Skip = "fluidsynth or a General MIDI soundfont is not installed (apt-get install fluidsynth fluid-soundfont-gm).";
        }
    }
}

public class GeneralMidiTests
{
    private const int Sr = 22050;

    [Fact]
    public void The_MIDI_file_has_a_valid_header_one_ms_ticks_and_the_notes_in_time_order()
    {
        NoteEvent[] notes =
        [
            new(Instrument.Guitar, 64, 0.25, 0.5, 0.5f),
            new(Instrument.Flute, 72, 0.0, 1.0, 1.0f),
        ];
        using var stream = new MemoryStream();

        GeneralMidi.WriteMidiFile(notes, 2.0, stream);
        byte[] b = stream.ToArray();

        Assert.Equal("MThd"u8.ToArray(), b[..4]);
        Assert.Equal(new byte[] { 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xF4 }, b[4..14]); // format 0, 1 track, 500 ticks/quarter
        Assert.Equal("MTrk"u8.ToArray(), b[14..18]);
        int length = (b[18] << 24) | (b[19] << 16) | (b[20] << 8) | b[21];
        Assert.Equal(b.Length - 22, length);
        byte[] track = b[22..];
        byte[] expected =
        [
            0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, // tempo 500000 us per quarter: 1 tick = 1 ms
            0x00, 0xC0, 73,                           // flute (channel 1) program 73
            0x00, 0xC1, 24,                           // guitar (channel 2) program 24
            0x00, 0x90, 72, 127,                      // flute on at 0 ms
            0x81, 0x7A, 0x91, 64, 64,                 // 250 ticks later: guitar on, velocity round(127 * 0.5)
            0x83, 0x74, 0x81, 64, 64,                 // 500 ticks later (750 ms): guitar off
            0x81, 0x7A, 0x80, 72, 64,                 // 250 later (1000 ms): flute off
            0x87, 0x68, 0xFF, 0x2F, 0x00,             // 1000 later (2000 ms): end of track
        ];
        Assert.Equal(expected, track);
    }

    [Fact]
    public void Glides_cannot_be_written_as_General_MIDI()
    {
        using var stream = new MemoryStream();
        NoteEvent glide = new(Instrument.Sine, 60, 0, 1, 0.5f, 67);

        var e = Assert.Throws<ArgumentException>(() => GeneralMidi.WriteMidiFile([glide], 1.0, stream));

        Assert.Contains("glides", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rendering_without_fluidsynth_fails_with_a_clear_message_and_with_it_gives_audio()
    {
        NoteEvent[] notes = [new(Instrument.Flute, 69, 0.1, 0.8, 0.8f)];
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ci && !GeneralMidi.IsAvailable)
        {
            var e = Assert.Throws<InvalidOperationException>(() => GeneralMidi.Render(notes, 1.0, Sr));
            Assert.Contains("apt-get install", e.Message, StringComparison.Ordinal);
            return;
        }

        float[] y = GeneralMidi.Render(notes, 1.0, Sr);
        Assert.Equal(Sr, y.Length);
        Assert.True(y.Max(Math.Abs) > 0.01f);
    }

    [FluidSynthFact]
    public void A_rendered_flute_and_guitar_are_in_tune_and_start_when_asked()
    {
        foreach (var (instrument, midi) in new[] { (Instrument.Flute, 72), (Instrument.Guitar, 52), (Instrument.Guitar, 64) })
        {
            NoteEvent[] notes = [new(instrument, midi, 0.5, 1.5, 0.8f)];

            float[] y = GeneralMidi.Render(notes, 2.5, Sr);

            Assert.Equal((int)(2.5 * Sr), y.Length);
            Assert.All(y, v => Assert.True(float.IsFinite(v) && Math.Abs(v) <= 1f));

            // Silent before the onset; sound within 10 ms after it (fluidsynth works in 64-sample blocks).
            Assert.True(y.Take((int)(0.49 * Sr)).All(v => Math.Abs(v) < 1e-4f), $"{instrument} sounds before its onset");
            int onset = SignalAnalysis.FirstAbove(y, 0, 1e-3f * y.Max(Math.Abs));
            Assert.InRange(onset, (int)(0.49 * Sr), (int)(0.51 * Sr));

            // Soundfont samples are tuned by hand; allow 15 cents.
            float[] held = y[(int)(0.5 * Sr)..(int)(2.0 * Sr)];
            double hz = SignalAnalysis.Fundamental(held, Sr, skipSeconds: 0.15);
            Assert.InRange(Pitch.Cents(hz, Pitch.MidiToHz(midi)), -15, 15);
        }
    }

    [FluidSynthFact]
    public void Rendering_is_repeatable_and_keeps_a_clips_notes()
    {
        SynthesizedAudio clip = SeedCurriculum.Level(3, new Random(3), new SeedCurriculumOptions { Seconds = 1.5 });

        SynthesizedAudio a = GeneralMidi.Render(clip);
        SynthesizedAudio b = GeneralMidi.Render(clip);

        Assert.Equal(a.Samples, b.Samples);
        Assert.Equal(clip.Notes, a.Notes);
        Assert.Equal(clip.Samples.Length, a.Samples.Length);
        Assert.NotEqual(clip.Samples, a.Samples);
        Assert.EndsWith("(General MIDI)", a.Description, StringComparison.Ordinal);
        Assert.Equal(clip.Samples.Max(Math.Abs), a.Samples.Max(Math.Abs), 4);
    }
}
