using MLNetAudio.Synthesis;

namespace MLNetAudio.Tests.Synthesis;

public class SeedCurriculumTests
{
    private const int Sr = 22050;
    private const int FftSize = 1 << 17;

    private static readonly SeedCurriculumOptions Short = new() { Seconds = 2.0 };

    public static TheoryData<int> Levels() => [1, 2, 3, 4, 5, 6, 7];

    [Theory]
    [MemberData(nameof(Levels))]
    public void The_same_seed_gives_the_same_clip_and_other_seeds_give_others(int level)
    {
        SynthesizedAudio a = SeedCurriculum.Level(level, new Random(100), Short);
        SynthesizedAudio b = SeedCurriculum.Level(level, new Random(100), Short);

        Assert.Equal(a.Samples, b.Samples);
        Assert.Equal(a.Description, b.Description);
        Assert.Equal(a.Notes, b.Notes);
        for (int seed = 101; seed < 104; seed++)
        {
            Assert.NotEqual(a.Samples, SeedCurriculum.Level(level, new Random(seed), Short).Samples);
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void Every_level_gives_finite_audio_in_range_of_the_requested_length_with_its_notes_inside(int level)
    {
        for (int seed = 0; seed < 6; seed++)
        {
            SynthesizedAudio clip = SeedCurriculum.Level(level, new Random(seed), Short);

            Assert.Equal(level, clip.Level);
            Assert.Equal(Sr, clip.SampleRate);
            Assert.Equal(2 * Sr, clip.Samples.Length);
            Assert.All(clip.Samples, v => Assert.True(float.IsFinite(v) && Math.Abs(v) <= 1f));
            Assert.True(clip.Samples.Max(Math.Abs) > 0.05f, $"level {level} seed {seed} is nearly silent");
            Assert.NotEmpty(clip.Notes);
            Assert.All(clip.Notes, n =>
            {
                Assert.InRange(n.Midi, Short.LowestNote, Short.HighestNote);
                Assert.InRange(n.EndMidi, Short.LowestNote, Short.HighestNote);
                Assert.True(n.OnsetSeconds >= 0 && n.OnsetSeconds + n.DurationSeconds <= 2.0 + 1e-9, $"{n} runs outside the clip");
            });
        }
    }

    [Fact]
    public void Levels_use_the_voices_the_seed_describes()
    {
        for (int seed = 0; seed < 5; seed++)
        {
            Assert.All(SeedCurriculum.Level(1, new Random(seed), Short).Notes, n => Assert.Equal(Instrument.Sine, n.Instrument));
            Assert.InRange(SeedCurriculum.Level(2, new Random(seed), Short).Notes.Count, 3, 4);
            Assert.NotEqual(Instrument.Sine, Assert.Single(SeedCurriculum.Level(3, new Random(seed), Short).Notes).Instrument);
            Assert.InRange(SeedCurriculum.Level(4, new Random(seed), Short).Notes.Select(n => n.Instrument).Distinct().Count(), 2, 3);
            var changing = SeedCurriculum.Level(5, new Random(seed), Short).Notes;
            Assert.True(changing.Count >= 3 || changing[0].EndMidi != changing[0].Midi, "level 5 changes pitch");
            Assert.True(SeedCurriculum.Level(6, new Random(seed), Short).Notes.Select(n => n.OnsetSeconds).Distinct().Count() >= 3, "level 6 changes chord");
            var melody = SeedCurriculum.Level(7, new Random(seed), Short).Notes;
            Assert.Single(melody.Select(n => n.Instrument).Distinct());
            Assert.True(melody.Count >= 3);
        }
    }

    [Fact]
    public void A_level_2_chord_contains_every_fundamental_its_notes_list()
    {
        for (int seed = 0; seed < 4; seed++)
        {
            SynthesizedAudio clip = SeedCurriculum.Level(2, new Random(seed), Short);
            double[] p = SignalAnalysis.PowerSpectrum(clip.Samples, Sr / 4, Sr, FftSize);
            double total = p.Sum();
            foreach (NoteEvent n in clip.Notes)
            {
                double hz = SignalAnalysis.PeakNear(p, Pitch.MidiToHz(n.Midi), 40, Sr, FftSize, out _);
                Assert.InRange(Pitch.Cents(hz, Pitch.MidiToHz(n.Midi)), -3, 3);
                Assert.True(SignalAnalysis.BandPower(p, hz, 30, Sr, FftSize) > 0.1 * total, $"{clip.Description}: {n.Midi} is too weak");
            }
        }
    }

    [Fact]
    public void A_level_7_melody_sounds_each_listed_note_in_its_time()
    {
        var options = new SeedCurriculumOptions { Seconds = 4.0, Instruments = [Instrument.Flute, Instrument.Guitar, Instrument.Clarinet] };
        int checkedNotes = 0;
        for (int seed = 0; seed < 4; seed++)
        {
            SynthesizedAudio clip = SeedCurriculum.Level(7, new Random(seed), options);
            foreach (NoteEvent n in clip.Notes.Where(n => n.DurationSeconds >= 0.4))
            {
                int from = (int)((n.OnsetSeconds + 0.12) * Sr), to = (int)((n.OnsetSeconds + n.DurationSeconds - 0.02) * Sr);
                float[] segment = clip.Samples[from..to];
                double hz = SignalAnalysis.Fundamental(segment, Sr, skipSeconds: 0, minHz: 100, maxHz: 1500);
                Assert.InRange(Pitch.Cents(hz, Pitch.MidiToHz(n.Midi)), -15, 15);
                checkedNotes++;
            }
        }

        Assert.True(checkedNotes >= 8, $"only {checkedNotes} notes were long enough to check");
    }

    [Fact]
    public void Note_plays_one_instrument_at_a_chosen_pitch_for_the_whole_clip()
    {
        SynthesizedAudio clip = SeedCurriculum.Note(Instrument.Flute, 70, new Random(1), Short);

        Assert.Equal(2 * Sr, clip.Samples.Length);
        Assert.InRange(Pitch.Cents(SignalAnalysis.Fundamental(clip.Samples, Sr), Pitch.MidiToHz(70)), -3, 3);
        Assert.Equal(Instrument.Flute, Assert.Single(clip.Notes).Instrument);
    }

    [Fact]
    public void Level_8_points_to_real_music_and_other_levels_are_refused()
    {
        var e8 = Assert.Throws<ArgumentOutOfRangeException>(() => SeedCurriculum.Level(8, new Random(1)));
        Assert.Contains("RealMusic", e8.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => SeedCurriculum.Level(0, new Random(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SeedCurriculum.Level(9, new Random(1)));
    }

    [Fact]
    public void RealMusic_lists_the_audio_files_of_a_folder_sorted_and_skips_the_rest()
    {
        string dir = Directory.CreateTempSubdirectory("mlnetaudio-music-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "album"));
            foreach (string f in new[] { "b.ogg", "a.WAV", "notes.txt", "album/c.mp3", "cover.jpg" })
            {
                File.WriteAllBytes(Path.Combine(dir, f), [0]);
            }

            IReadOnlyList<string> all = SeedCurriculum.RealMusic(dir);
            IReadOnlyList<string> top = SeedCurriculum.RealMusic(dir, recursive: false);

            Assert.Equal(new[] { "a.WAV", "album/c.mp3", "b.ogg" }.Select(f => Path.GetFullPath(Path.Combine(dir, f))), all);
            Assert.Equal(2, top.Count);
            Assert.Throws<DirectoryNotFoundException>(() => SeedCurriculum.RealMusic(Path.Combine(dir, "missing")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Bad_options_are_all_reported_at_once()
    {
        var bad = new SeedCurriculumOptions { SampleRate = 22051, Seconds = -1, LowestNote = 70, HighestNote = 75, MinLoudness = 0, MaxLoudness = 2, Instruments = [] };

        var e = Assert.Throws<ArgumentException>(() => SeedCurriculum.Level(1, new Random(1), bad));

        foreach (string field in new[] { "SampleRate", "Seconds", "HighestNote", "MinLoudness", "MaxLoudness", "Instruments" })
        {
            Assert.Contains(field, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_top_note_too_high_for_the_sample_rate_is_refused_up_front()
    {
        var e = Assert.Throws<ArgumentException>(() => SeedCurriculum.Level(3, new Random(1), new SeedCurriculumOptions { SampleRate = 8000, HighestNote = 100 }));

        Assert.Contains("HighestNote", e.Message, StringComparison.Ordinal);
        Assert.Contains("8000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Level_4_needs_two_different_instruments()
    {
        var one = new SeedCurriculumOptions { Instruments = [Instrument.Flute, Instrument.Flute] };

        var e = Assert.Throws<ArgumentException>(() => SeedCurriculum.Level(4, new Random(1), one));

        Assert.Contains("two different instruments", e.Message, StringComparison.Ordinal);
    }
}
