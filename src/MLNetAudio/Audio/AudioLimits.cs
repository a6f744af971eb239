namespace MLNetAudio.Audio;

/// <summary>
/// The limits every decoder checks a file's header claims against before allocating or looping on them. One place,
/// so that every decoder (WAV, Ogg Vorbis, MP3, and any added later) refuses the same claims with the same words.
/// </summary>
/// <remarks>
/// Memory per row: the decoded mono samples at the file's rate and the resampled samples at the target rate are each
/// at most <see cref="MaxSamplesPerSong"/> floats (1 GiB), so one row holds at most 2 GiB of samples plus one growth
/// step of the decode buffer; a file whose claims would exceed that fails with an <see cref="AudioDataException"/>
/// naming the file before anything that size is allocated. <see cref="AudioLoaderOptions.MaxDuration"/> reads part
/// of a longer song. Resampler filter tables are each at most <see cref="MaxResamplerTableFloats"/> floats and at
/// most <see cref="MaxCachedResamplers"/> of them are kept, so the cache is at most 64 MiB whatever files claim.
/// </remarks>
internal static class AudioLimits
{
    /// <summary>Lowest sample rate accepted, in Hz (telephone audio is 8 kHz; nothing musical is below 1 kHz).</summary>
    public const int MinSampleRate = 1_000;

    /// <summary>Highest sample rate accepted, in Hz (the highest PCM rate DACs and DAWs offer).</summary>
    public const int MaxSampleRate = 768_000;

    /// <summary>Most channels accepted (Vorbis stores the count in one byte; 255 covers any speaker or ambisonic layout).</summary>
    public const int MaxChannels = 255;

    /// <summary>
    /// Most mono samples one song may decode to, at its own rate and again after resampling: 2^28 (1 GiB of floats;
    /// 101 min at 44.1 kHz, 93 min at 48 kHz, 46 min at 96 kHz).
    /// </summary>
    public const long MaxSamplesPerSong = 1L << 28;

    /// <summary>Most floats in one resampler filter table (4 MiB); extreme down-sampling ratios use fewer phases.</summary>
    public const int MaxResamplerTableFloats = 1 << 20;

    /// <summary>Resampler filter tables kept for reuse (least recently used dropped first).</summary>
    public const int MaxCachedResamplers = 16;

    /// <summary>
    /// Largest magnitude accepted for a sample of a float WAV: 1000 (60 dB above full scale). Float files may exceed
    /// ±1, but a sample beyond this is not audio; it would overflow the power spectrum (x² beyond float range at
    /// 1.8e19) or drown every other sample.
    /// </summary>
    public const float MaxFloatSampleMagnitude = 1000f;

    /// <summary>
    /// Seconds by which an intact Ogg Vorbis stream may decode shorter than its last granule position says before it
    /// is an error: NVorbis 0.10.5 returns up to 0.17 s less on real files whose granule positions are inconsistent.
    /// </summary>
    public const double VorbisShortfallSeconds = 0.5;

    /// <summary>Throws an <see cref="AudioDataException"/> naming <paramref name="path"/> unless the rate is in range.</summary>
    public static void CheckSampleRate(string path, string format, long rate)
    {
        if (rate is < MinSampleRate or > MaxSampleRate)
        {
            throw new AudioDataException(path,
                $"the {format} header declares a sample rate of {rate} Hz; audio files use {MinSampleRate} to {MaxSampleRate} Hz, so the header is damaged.");
        }
    }

    /// <summary>Throws an <see cref="AudioDataException"/> when <paramref name="samples"/> mono samples exceed <see cref="MaxSamplesPerSong"/>.</summary>
    public static void CheckSongLength(string path, long samples, int rate, string what)
    {
        if (samples > MaxSamplesPerSong)
        {
            throw new AudioDataException(path,
                $"{what} {samples} samples ({(double)samples / rate:F1} s at {rate} Hz), over the {MaxSamplesPerSong} samples (1 GiB) one row may hold. Set AudioLoaderOptions.MaxDuration to read part of the song.");
        }
    }
}
