using MLNetAudio.Data;
using static MLNetAudio.Synthesis.SynthesisDsp;

namespace MLNetAudio.Synthesis;

/// <summary>One note (or glide) inside a synthesized clip: what played, at what pitch, when and how loud.</summary>
/// <param name="Instrument">The voice.</param>
/// <param name="Midi">Pitch as a MIDI note number (at the start, for a glide).</param>
/// <param name="OnsetSeconds">When it starts, in seconds from the clip's start.</param>
/// <param name="DurationSeconds">How long it lasts.</param>
/// <param name="Loudness">Its peak amplitude before mixing, in (0, 1].</param>
/// <param name="EndMidi">Pitch at its end: equal to <paramref name="Midi"/> except for a glide.</param>
public sealed record NoteEvent(Instrument Instrument, double Midi, double OnsetSeconds, double DurationSeconds, float Loudness, double EndMidi)
{
    /// <summary>A note of constant pitch.</summary>
    /// <param name="instrument">The voice.</param>
    /// <param name="midi">Pitch as a MIDI note number.</param>
    /// <param name="onsetSeconds">When it starts.</param>
    /// <param name="durationSeconds">How long it lasts.</param>
    /// <param name="loudness">Its peak amplitude, in (0, 1].</param>
    public NoteEvent(Instrument instrument, double midi, double onsetSeconds, double durationSeconds, float loudness)
        : this(instrument, midi, onsetSeconds, durationSeconds, loudness, midi)
    {
    }
}

/// <summary>A synthesized clip and what is in it.</summary>
/// <param name="Samples">Mono samples in [-1, 1].</param>
/// <param name="SampleRate">Samples per second.</param>
/// <param name="Level">The seed's data level it belongs to (1-7), or 0 for experiment 2's pairs.</param>
/// <param name="Description">A short human-readable account, e.g. "flute C5 then guitar E3, gap 40 frames".</param>
/// <param name="Notes">Every note in it, in start order.</param>
public sealed record SynthesizedAudio(float[] Samples, int SampleRate, int Level, string Description, IReadOnlyList<NoteEvent> Notes)
{
    /// <summary>Length in seconds.</summary>
    public double DurationSeconds => (double)Samples.Length / SampleRate;
}

/// <summary>
/// The arrangements experiment 2 trains and tests on, for two instruments A and B in a <see cref="PairLayout"/>'s
/// two slots. The seed labels <see cref="AThenB"/> 1 and every other arrangement 0.
/// </summary>
public enum PairKind
{
    /// <summary>A in the first slot, B in the second: the seed's positive example.</summary>
    AThenB = 0,

    /// <summary>B in the first slot, A in the second: reversed order.</summary>
    BThenA = 1,

    /// <summary>A in the first slot, silence in the second.</summary>
    AAlone = 2,

    /// <summary>Silence in the first slot, B in the second.</summary>
    BAlone = 3,

    /// <summary>A in both slots (two notes, drawn separately).</summary>
    AThenA = 4,

    /// <summary>B in both slots (two notes, drawn separately).</summary>
    BThenB = 5,
}

/// <summary>Settings of <see cref="SeedCurriculum"/>: clip length, pitch and loudness ranges, and which instruments may play.</summary>
#pragma warning disable CA1051 // ML.NET's options convention: public fields with defaults, set by object initializers.
public sealed class SeedCurriculumOptions
{
    /// <summary>Constants used as defaults.</summary>
    public static class Defaults
    {
        /// <summary>Default <see cref="SampleRate"/>: 22050 Hz.</summary>
        public const int SampleRate = Pitch.DefaultSampleRate;

        /// <summary>Default <see cref="Seconds"/>: 4 s.</summary>
        public const double Seconds = 4.0;

        /// <summary>Default <see cref="LowestNote"/>: MIDI 48 (C3, 131 Hz).</summary>
        public const int LowestNote = 48;

        /// <summary>Default <see cref="HighestNote"/>: MIDI 84 (C6, 1047 Hz).</summary>
        public const int HighestNote = 84;

        /// <summary>Default <see cref="MinLoudness"/>: 0.3.</summary>
        public const float MinLoudness = 0.3f;

        /// <summary>Default <see cref="MaxLoudness"/>: 0.9.</summary>
        public const float MaxLoudness = 0.9f;
    }

    /// <summary>Samples per second of every clip; a multiple of 50 so frames are whole samples. Default 22050.</summary>
    public int SampleRate = Defaults.SampleRate;

    /// <summary>Length of each clip in seconds (levels 1-7). Default 4.</summary>
    public double Seconds = Defaults.Seconds;

    /// <summary>Lowest MIDI note drawn (inclusive). Default 48 (C3).</summary>
    public int LowestNote = Defaults.LowestNote;

    /// <summary>Highest MIDI note drawn (inclusive). Default 84 (C6); must leave at least an octave above <see cref="LowestNote"/>.</summary>
    public int HighestNote = Defaults.HighestNote;

    /// <summary>Smallest peak amplitude drawn for a clip. Default 0.3.</summary>
    public float MinLoudness = Defaults.MinLoudness;

    /// <summary>Largest peak amplitude drawn for a clip. Default 0.9.</summary>
    public float MaxLoudness = Defaults.MaxLoudness;

    /// <summary>
    /// The instruments levels 3, 4 and 7 choose from. Default: flute, guitar, violin, clarinet and marimba.
    /// Level 4 needs at least two.
    /// </summary>
    public Instrument[] Instruments = [Instrument.Flute, Instrument.Guitar, Instrument.Violin, Instrument.Clarinet, Instrument.Marimba];

    /// <summary>Throws one <see cref="ArgumentException"/> listing every invalid field.</summary>
    public void Validate()
    {
        var errors = new OptionErrors(nameof(SeedCurriculumOptions));
        errors.Check(SampleRate < 8000 || SampleRate % Pitch.FramesPerSecond != 0, nameof(SampleRate), $"must be a multiple of 50 of at least 8000 (22050 is usual); it is {SampleRate}.")
              .Check(!(Seconds >= 0.5 && Seconds <= 600), nameof(Seconds), $"must be between 0.5 and 600; it is {Seconds}.")
              .Check(LowestNote < 21, nameof(LowestNote), $"must be at least 21 (A0); it is {LowestNote}.")
              .Check(HighestNote - LowestNote < 12, nameof(HighestNote), $"must be at least an octave above LowestNote ({LowestNote}); it is {HighestNote}.")
              .Check(HighestNote > 127, nameof(HighestNote), $"must be at most 127, MIDI's highest note; it is {HighestNote}.")
              .Check(SampleRate >= 8000 && Pitch.MidiToHz(HighestNote) * 1.6 >= SampleRate * 0.45, nameof(HighestNote), $"MIDI {HighestNote} is too high for {SampleRate} Hz audio (the guitar's string model needs 1.6 f0 below 0.45 x SampleRate); lower it or raise SampleRate.")
              .Check(!(MinLoudness > 0 && MinLoudness <= MaxLoudness), nameof(MinLoudness), $"must be positive and at most MaxLoudness ({MaxLoudness}); it is {MinLoudness}.")
              .Check(!(MaxLoudness <= 1), nameof(MaxLoudness), $"must be at most 1; it is {MaxLoudness}.")
              .Check(Instruments is null || Instruments.Length == 0, nameof(Instruments), "must name at least one instrument.")
              .Check(Instruments is not null && Instruments.Any(i => !Enum.IsDefined(i)), nameof(Instruments), "holds a value that is not an Instrument.");
        errors.ThrowIfAny();
    }
}
#pragma warning restore CA1051

/// <summary>
/// The seed's synthetic data levels, growing in complexity (see <c>../shared/seed/METHOD.md</c>):
/// 1 a single tone; 2 a chord; 3 one instrument; 4 several instruments; 5 a single tone changing pitch over time
/// (a glide or steps); 6 chords changing over time (a progression); 7 one instrument changing over time (a melody);
/// 8 real music (<see cref="RealMusic"/>). Plus experiment 2's "instrument A, then instrument B after a gap"
/// (<see cref="Pair(PairKind, Instrument, Instrument, PairLayout?, Random, SeedCurriculumOptions?)"/>).
/// </summary>
/// <remarks>
/// Every draw comes from the <see cref="Random"/> passed in: the same seed gives the same clip, sample for sample.
/// Ranges (uniform draws, with the default options): pitches are whole MIDI notes in [LowestNote, HighestNote]
/// (48-84, C3-C6); a clip's loudness (peak) in [MinLoudness, MaxLoudness] (0.3-0.9); levels 1 and 3 start the
/// note 0-10 % into the clip and end it 0-10 % before the end; level 2 plays a triad or seventh chord (major, minor,
/// diminished, suspended, major 7, minor 7, dominant 7) on a root at most an octave below HighestNote; level 4
/// plays 2-3 different instruments, each at its own pitch and loudness share, entering within the first 25 % of
/// the clip; level 5 glides 2-12 semitones up or down, or holds 3-8 pitches in equal steps; level 6 plays 3-6
/// diatonic triads of a random major key in equal lengths; level 7 plays a melody of at least 4 notes from a major
/// or pentatonic scale within the octave above a random tonic on one instrument, each 0.2-0.8 s (shorter in clips
/// under about a second), back to back to the end of the clip (the last takes what is left, at most 1 s).
/// </remarks>
public static class SeedCurriculum
{
    /// <summary>The number of synthetic levels (1-7); level 8 is real music.</summary>
    public const int SyntheticLevels = 7;

    private static readonly int[][] ChordShapes =
    [
        [0, 4, 7], [0, 3, 7], [0, 3, 6], [0, 5, 7], [0, 4, 7, 11], [0, 3, 7, 10], [0, 4, 7, 10],
    ];

    private static readonly string[] ChordNames = ["major", "minor", "diminished", "sus4", "major 7", "minor 7", "dominant 7"];

    private static readonly int[] MajorScale = [0, 2, 4, 5, 7, 9, 11];

    private static readonly int[] Pentatonic = [0, 2, 4, 7, 9];

    private static readonly int[] TriadSteps = [0, 2, 4];

    /// <summary>File extensions <see cref="RealMusic"/> lists (the formats the audio loader decodes).</summary>
    public static IReadOnlyList<string> AudioExtensions { get; } = [".wav", ".ogg", ".mp3"];

    /// <summary>One clip of data level <paramref name="level"/> (1-7).</summary>
    /// <param name="level">The seed's data level, 1-7 (level 8 is real music: use <see cref="RealMusic"/>).</param>
    /// <param name="rng">Source of every random choice; seed it for reproducible data.</param>
    /// <param name="options">Clip length, ranges and instruments; null for the defaults.</param>
    /// <returns>The clip with its notes.</returns>
    public static SynthesizedAudio Level(int level, Random rng, SeedCurriculumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        options ??= new SeedCurriculumOptions();
        options.Validate();
        return level switch
        {
            1 => SingleTone(rng, options),
            2 => Chord(rng, options),
            3 => OneInstrument(rng, options),
            4 => SeveralInstruments(rng, options),
            5 => rng.Next(2) == 0 ? Glide(rng, options) : Steps(rng, options),
            6 => ChordProgression(rng, options),
            7 => Melody(rng, options),
            8 => throw new ArgumentOutOfRangeException(nameof(level), level, "Level 8 is real music, which is not synthesized: list a folder of audio files with SeedCurriculum.RealMusic(folder) and load them with LoadAudio."),
            _ => throw new ArgumentOutOfRangeException(nameof(level), level, "The seed's synthetic data levels are 1-7."),
        };
    }

    /// <summary>
    /// A single note of <paramref name="instrument"/> filling the whole clip (no random timing), for data sets that
    /// must control pitch themselves, such as experiment 1's flute and guitar notes at chosen pitches.
    /// </summary>
    /// <param name="instrument">The voice.</param>
    /// <param name="midiNote">Pitch as a MIDI note number.</param>
    /// <param name="rng">Source of the loudness and the performance details.</param>
    /// <param name="options">Clip length, loudness range and sample rate; null for the defaults.</param>
    /// <returns>The clip with its note.</returns>
    public static SynthesizedAudio Note(Instrument instrument, double midiNote, Random rng, SeedCurriculumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        options ??= new SeedCurriculumOptions();
        options.Validate();
        float loudness = Loudness(rng, options);
        float[] y = Instruments.Play(instrument, midiNote, options.Seconds, rng, loudness, options.SampleRate);
        return new SynthesizedAudio(
            y, options.SampleRate, instrument == Instrument.Sine ? 1 : 3, $"{Name(instrument)} {NoteName(midiNote)}",
            [new NoteEvent(instrument, midiNote, 0, options.Seconds, loudness)]);
    }

    /// <summary>
    /// Experiment 2's clip: one note of <paramref name="first"/>, then after <paramref name="layout"/>'s gap one
    /// note of <paramref name="second"/>, each at a random pitch in the options' range and a random loudness.
    /// Either instrument may be null ("B alone"); pass the same instrument twice for "A then A". Only the options'
    /// SampleRate, note and loudness ranges are used (the layout sets the length).
    /// </summary>
    /// <param name="first">The first event's instrument, or null for silence.</param>
    /// <param name="second">The second event's instrument, or null for silence.</param>
    /// <param name="layout">Frame positions; null for the default 400-frame layout.</param>
    /// <param name="rng">Source of pitches, loudness and performance details.</param>
    /// <param name="options">Ranges and sample rate; null for the defaults.</param>
    /// <returns>The clip, with the second note starting exactly at sample layout.SecondStartFrame * sampleRate / 50.</returns>
    public static SynthesizedAudio Pair(Instrument? first, Instrument? second, PairLayout? layout, Random rng, SeedCurriculumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        options ??= new SeedCurriculumOptions();
        options.Validate();
        layout ??= new PairLayout();
        layout.Validate();
        int sr = options.SampleRate;
        var notes = new List<NoteEvent>(2);
        float[]? a = null, b = null;
        if (first is { } fa)
        {
            (a, var note) = PairNote(fa, layout.FirstStartFrame, layout.FirstFrames, rng, options);
            notes.Add(note);
        }

        if (second is { } sb)
        {
            (b, var note) = PairNote(sb, layout.SecondStartFrame, layout.SecondFrames, rng, options);
            notes.Add(note);
        }

        string what = (first, second) switch
        {
            (null, null) => "silence",
            ({ } x, null) => $"{Name(x)} alone",
            (null, { } y) => $"{Name(y)} alone (second slot)",
            ({ } x, { } y) => $"{Name(x)} then {Name(y)}, gap {layout.GapFrames} frames",
        };
        return new SynthesizedAudio(Sequence.Pair(a, b, layout, sr), sr, 0, what, notes);
    }

    /// <summary>
    /// Experiment 2's clip for one arrangement of instruments <paramref name="a"/> and <paramref name="b"/>
    /// (see <see cref="PairKind"/>); the same as <see cref="Pair(Instrument?, Instrument?, PairLayout?, Random, SeedCurriculumOptions?)"/>
    /// with the slots filled accordingly.
    /// </summary>
    /// <param name="kind">Which arrangement.</param>
    /// <param name="a">Instrument A.</param>
    /// <param name="b">Instrument B.</param>
    /// <param name="layout">Frame positions; null for the default 400-frame layout.</param>
    /// <param name="rng">Source of pitches, loudness and performance details.</param>
    /// <param name="options">Ranges and sample rate; null for the defaults.</param>
    /// <returns>The clip.</returns>
    public static SynthesizedAudio Pair(PairKind kind, Instrument a, Instrument b, PairLayout? layout, Random rng, SeedCurriculumOptions? options = null)
    {
        (Instrument? first, Instrument? second) = kind switch
        {
            PairKind.AThenB => ((Instrument?)a, (Instrument?)b),
            PairKind.BThenA => (b, a),
            PairKind.AAlone => (a, null),
            PairKind.BAlone => (null, b),
            PairKind.AThenA => (a, a),
            PairKind.BThenB => (b, b),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"Unknown arrangement; use one of {string.Join(", ", Enum.GetNames<PairKind>())}."),
        };
        return Pair(first, second, layout, rng, options);
    }

    /// <summary>
    /// Level 8, real music: the audio files (<see cref="AudioExtensions"/>, any case) under <paramref name="folder"/>,
    /// sorted by path so the order is the same on every machine. Load them with the audio loader.
    /// </summary>
    /// <param name="folder">A folder holding music.</param>
    /// <param name="recursive">Whether to look in sub-folders too. Default true.</param>
    /// <returns>Full paths, sorted ordinally.</returns>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    public static IReadOnlyList<string> RealMusic(string folder, bool recursive = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"The music folder '{folder}' does not exist; pass a folder holding .wav, .ogg or .mp3 files.");
        }

        var files = Directory
            .EnumerateFiles(folder, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(f => AudioExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Select(Path.GetFullPath)
            .ToList();
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    /// <summary>A note name such as "C4" or "F#5" for a MIDI note number (rounded).</summary>
    /// <param name="midiNote">A MIDI note number.</param>
    /// <returns>The name, with octave numbers where 60 is C4.</returns>
    public static string NoteName(double midiNote)
    {
        string[] names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
        int m = (int)Math.Round(midiNote);
        return $"{names[((m % 12) + 12) % 12]}{(m / 12) - 1}";
    }

    private static (float[] Samples, NoteEvent Note) PairNote(Instrument instrument, int startFrame, int frames, Random rng, SeedCurriculumOptions o)
    {
        int midi = rng.Next(o.LowestNote, o.HighestNote + 1);
        float loudness = Loudness(rng, o);
        double seconds = (double)frames / Pitch.FramesPerSecond;
        float[] y = Instruments.Play(instrument, midi, seconds, rng, loudness, o.SampleRate);
        return (y, new NoteEvent(instrument, midi, (double)startFrame / Pitch.FramesPerSecond, seconds, loudness));
    }

    private static float Loudness(Random rng, SeedCurriculumOptions o) => (float)Uniform(rng, o.MinLoudness, o.MaxLoudness);

    private static string Name(Instrument i) => i.ToString().ToLowerInvariant();

    /// <summary>Start and length (seconds) of a single note that leaves 0-10 % of the clip free at each end.</summary>
    private static (double Onset, double Duration) LooseTiming(Random rng, double seconds)
    {
        double onset = Uniform(rng, 0, 0.1) * seconds;
        double tail = Uniform(rng, 0, 0.1) * seconds;
        return (onset, seconds - onset - tail);
    }

    private static float[] Place(float[] clip, double onsetSeconds, SeedCurriculumOptions o, float[]? into = null)
    {
        var y = into ?? new float[Pitch.SecondsToSamples(o.Seconds, o.SampleRate)];
        int start = Pitch.SecondsToSamples(onsetSeconds, o.SampleRate);
        for (int i = 0; i < clip.Length && start + i < y.Length; i++)
        {
            y[start + i] += clip[i];
        }

        return y;
    }

    private static SynthesizedAudio SingleTone(Random rng, SeedCurriculumOptions o)
    {
        int midi = rng.Next(o.LowestNote, o.HighestNote + 1);
        float loudness = Loudness(rng, o);
        var (onset, duration) = LooseTiming(rng, o.Seconds);
        float[] y = Place(Tones.Sine(midi, duration, loudness, o.SampleRate), onset, o);
        return new SynthesizedAudio(y, o.SampleRate, 1, $"sine {NoteName(midi)}", [new NoteEvent(Instrument.Sine, midi, onset, duration, loudness)]);
    }

    private static SynthesizedAudio Chord(Random rng, SeedCurriculumOptions o)
    {
        int shape = rng.Next(ChordShapes.Length);
        int root = rng.Next(o.LowestNote, o.HighestNote - 11);
        float loudness = Loudness(rng, o);
        var (onset, duration) = LooseTiming(rng, o.Seconds);
        double[] midis = ChordShapes[shape].Select(s => (double)(root + s)).ToArray();
        float[] y = Place(Tones.Chord(midis, duration, loudness, o.SampleRate), onset, o);
        var notes = midis.Select(m => new NoteEvent(Instrument.Sine, m, onset, duration, loudness / midis.Length)).ToList();
        return new SynthesizedAudio(y, o.SampleRate, 2, $"{NoteName(root)} {ChordNames[shape]} chord", notes);
    }

    private static SynthesizedAudio OneInstrument(Random rng, SeedCurriculumOptions o)
    {
        Instrument instrument = o.Instruments[rng.Next(o.Instruments.Length)];
        int midi = rng.Next(o.LowestNote, o.HighestNote + 1);
        float loudness = Loudness(rng, o);
        var (onset, duration) = LooseTiming(rng, o.Seconds);
        float[] y = Place(Instruments.Play(instrument, midi, duration, rng, loudness, o.SampleRate), onset, o);
        return new SynthesizedAudio(y, o.SampleRate, 3, $"{Name(instrument)} {NoteName(midi)}", [new NoteEvent(instrument, midi, onset, duration, loudness)]);
    }

    private static SynthesizedAudio SeveralInstruments(Random rng, SeedCurriculumOptions o)
    {
        if (o.Instruments.Distinct().Count() < 2)
        {
            throw new ArgumentException("Level 4 (several instruments) needs at least two different instruments in SeedCurriculumOptions.Instruments.", nameof(o));
        }

        int count = Math.Min(rng.Next(2, 4), o.Instruments.Distinct().Count());
        Instrument[] chosen = o.Instruments.Distinct().OrderBy(_ => rng.Next()).Take(count).ToArray();
        float loudness = Loudness(rng, o);
        var notes = new List<NoteEvent>();
        float[]? y = null;
        foreach (Instrument instrument in chosen)
        {
            int midi = rng.Next(o.LowestNote, o.HighestNote + 1);
            double onset = Uniform(rng, 0, 0.25) * o.Seconds;
            double duration = o.Seconds - onset - Uniform(rng, 0, 0.1) * o.Seconds;
            float share = loudness / count * (float)Uniform(rng, 0.7, 1.0);
            y = Place(Instruments.Play(instrument, midi, duration, rng, share, o.SampleRate), onset, o, y);
            notes.Add(new NoteEvent(instrument, midi, onset, duration, share));
        }

        notes.Sort((p, q) => p.OnsetSeconds.CompareTo(q.OnsetSeconds));
        return new SynthesizedAudio(y!, o.SampleRate, 4, string.Join(" + ", notes.Select(n => $"{Name(n.Instrument)} {NoteName(n.Midi)}")), notes);
    }

    private static SynthesizedAudio Glide(Random rng, SeedCurriculumOptions o)
    {
        int span = rng.Next(2, 13) * (rng.Next(2) == 0 ? 1 : -1);
        int start = rng.Next(o.LowestNote + Math.Max(0, -span), o.HighestNote - Math.Max(0, span) + 1);
        float loudness = Loudness(rng, o);
        float[] y = Tones.Glide(start, start + span, o.Seconds, loudness, o.SampleRate);
        return new SynthesizedAudio(
            y, o.SampleRate, 5, $"sine glide {NoteName(start)} to {NoteName(start + span)}",
            [new NoteEvent(Instrument.Sine, start, 0, o.Seconds, loudness, start + span)]);
    }

    private static SynthesizedAudio Steps(Random rng, SeedCurriculumOptions o)
    {
        int count = rng.Next(3, 9);
        double step = o.Seconds / count;
        double[] midis = Enumerable.Range(0, count).Select(_ => (double)rng.Next(o.LowestNote, o.HighestNote + 1)).ToArray();
        float loudness = Loudness(rng, o);
        float[] y = Fit(Tones.Steps(midis, step, loudness, o.SampleRate), o);
        var notes = midis.Select((m, j) => new NoteEvent(Instrument.Sine, m, j * step, step, loudness)).ToList();
        return new SynthesizedAudio(y, o.SampleRate, 5, "sine steps " + string.Join(" ", midis.Select(NoteName)), notes);
    }

    private static SynthesizedAudio ChordProgression(Random rng, SeedCurriculumOptions o)
    {
        int count = rng.Next(3, 7);
        int key = rng.Next(o.LowestNote, o.HighestNote - 23);
        double length = o.Seconds / count;
        float loudness = Loudness(rng, o);
        var chords = new List<IReadOnlyList<double>>();
        var notes = new List<NoteEvent>();
        var names = new List<string>();
        string[] roman = ["I", "ii", "iii", "IV", "V", "vi"];
        for (int j = 0; j < count; j++)
        {
            int degree = j == 0 ? 0 : rng.Next(6);
            double[] chord = [.. TriadSteps.Select(s => (double)(key + MajorScale[(degree + s) % 7] + 12 * ((degree + s) / 7)))];
            chords.Add(chord);
            notes.AddRange(chord.Select(m => new NoteEvent(Instrument.Sine, m, j * length, length, loudness / 3)));
            names.Add(roman[degree]);
        }

        float[] y = Fit(Tones.Progression(chords, length, loudness, o.SampleRate), o);
        return new SynthesizedAudio(y, o.SampleRate, 6, $"progression in {NoteName(key)} major: {string.Join(" ", names)}", notes);
    }

    private static SynthesizedAudio Melody(Random rng, SeedCurriculumOptions o)
    {
        Instrument instrument = o.Instruments[rng.Next(o.Instruments.Length)];
        int[] scale = rng.Next(2) == 0 ? MajorScale : Pentatonic;
        int tonic = rng.Next(o.LowestNote, o.HighestNote - 11);
        float loudness = Loudness(rng, o);
        var notes = new List<NoteEvent>();
        float[]? y = null;
        double at = 0;
        int degree = rng.Next(scale.Length);
        while (true)
        {
            // Keep room for at least four notes; the last one takes what is left (at most 1 s).
            double left = o.Seconds - at;
            double duration = Math.Min(Math.Round(Uniform(rng, 0.2, 0.8), 2), left / Math.Max(1, 4 - notes.Count));
            bool last = notes.Count >= 3 && duration + 0.2 > left;
            if (last)
            {
                duration = left;
            }

            // A melody mostly moves by step and sometimes leaps, between the tonic and the octave above it.
            degree = Math.Clamp(degree + rng.Next(-2, 3) + (rng.Next(5) == 0 ? rng.Next(-3, 4) : 0), 0, scale.Length);
            int midi = tonic + scale[degree % scale.Length] + 12 * (degree / scale.Length);
            float[] note = Instruments.Play(instrument, midi, duration, rng, loudness, o.SampleRate);
            y = Place(note, at, o, y);
            notes.Add(new NoteEvent(instrument, midi, at, duration, loudness));
            at += duration;
            if (last)
            {
                break;
            }
        }

        return new SynthesizedAudio(
            y!, o.SampleRate, 7, $"{Name(instrument)} melody " + string.Join(" ", notes.Select(n => NoteName(n.Midi))), notes);
    }

    /// <summary>Pads or cuts a clip to the options' length (equal steps may round a sample short or long).</summary>
    private static float[] Fit(float[] clip, SeedCurriculumOptions o)
    {
        int n = Pitch.SecondsToSamples(o.Seconds, o.SampleRate);
        if (clip.Length == n)
        {
            return clip;
        }

        var y = new float[n];
        Array.Copy(clip, y, Math.Min(n, clip.Length));
        return y;
    }
}
