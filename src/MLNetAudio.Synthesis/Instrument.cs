namespace MLNetAudio.Synthesis;

/// <summary>The voices the synthetic-audio generator can play (see <see cref="Instruments"/> for how each is made).</summary>
public enum Instrument
{
    /// <summary>A pure sine tone: one frequency, no timbre (data levels 1, 2, 5 and 6).</summary>
    Sine = 0,

    /// <summary>Flute: additive harmonics falling off fast, band-passed breath noise, slow attack, delayed vibrato.</summary>
    Flute = 1,

    /// <summary>Guitar: Karplus-Strong plucked string with a damping filter, pluck brightness and pluck position.</summary>
    Guitar = 2,

    /// <summary>Violin: bowed string, sawtooth-like harmonics shaped by body resonances, wide vibrato, bow noise.</summary>
    Violin = 3,

    /// <summary>Clarinet: odd harmonics strong, even ones weak in the low register, quick attack, no vibrato.</summary>
    Clarinet = 4,

    /// <summary>Marimba: struck bar, inharmonic modes near 1, 4 and 10 times the fundamental decaying at different rates.</summary>
    Marimba = 5,
}
