namespace MLNetAudio.Synthesis;

/// <summary>
/// Pitch and time units shared by the synthetic-audio generator: MIDI note numbers (69 = A4 = 440 Hz,
/// 12 per octave, fractional values allowed) and the seed's analysis frames (50 frames per second, 20 ms).
/// </summary>
public static class Pitch
{
    /// <summary>The seed's frame rate: 50 frames per second, so one frame is 20 ms.</summary>
    public const int FramesPerSecond = 50;

    /// <summary>The sample rate every generator uses unless told otherwise: 22050 Hz.</summary>
    public const int DefaultSampleRate = 22050;

    /// <summary>Frequency in hertz of MIDI note <paramref name="midiNote"/> in equal temperament (A4 = 69 = 440 Hz).</summary>
    public static double MidiToHz(double midiNote) => 440.0 * Math.Pow(2.0, (midiNote - 69.0) / 12.0);

    /// <summary>MIDI note number (fractional) of <paramref name="hz"/>; the inverse of <see cref="MidiToHz"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="hz"/> is not positive.</exception>
    public static double HzToMidi(double hz)
    {
        if (!(hz > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(hz), hz, "A frequency must be positive.");
        }

        return 69.0 + 12.0 * Math.Log2(hz / 440.0);
    }

    /// <summary>The distance from <paramref name="referenceHz"/> to <paramref name="hz"/> in cents (100 per semitone).</summary>
    public static double Cents(double hz, double referenceHz) => 1200.0 * Math.Log2(hz / referenceHz);

    /// <summary>
    /// Samples in one 20 ms frame at <paramref name="sampleRate"/> (441 at 22050 Hz). Frame counts convert to
    /// sample counts exactly only when the rate is a multiple of 50, so any other rate is rejected.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">When the rate is not a positive multiple of 50.</exception>
    public static int SamplesPerFrame(int sampleRate)
    {
        if (sampleRate <= 0 || sampleRate % FramesPerSecond != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(sampleRate), sampleRate,
                $"The sample rate must be a positive multiple of {FramesPerSecond} so that one 20 ms frame is a whole number of samples (for example 16000, 22050 or 44100).");
        }

        return sampleRate / FramesPerSecond;
    }

    /// <summary>The number of samples in <paramref name="frames"/> 20 ms frames at <paramref name="sampleRate"/>.</summary>
    public static int FramesToSamples(int frames, int sampleRate) => checked(frames * SamplesPerFrame(sampleRate));

    /// <summary>The number of samples in <paramref name="seconds"/> at <paramref name="sampleRate"/>, rounded to the nearest sample.</summary>
    public static int SecondsToSamples(double seconds, int sampleRate) => checked((int)Math.Round(seconds * sampleRate));
}
