namespace MLNetAudio.Audio;

/// <summary>
/// A cursor's song loader that can hand each row's samples to consumers while the row decodes, instead of holding
/// them whole (the state behind <c>LoadAudio</c>'s samples getter). The segmenter finds it as the target of that
/// getter and subscribes when it is the only reader of the samples column, so an hour-long song goes from decoder to
/// spectrogram without ever being one 300 MB array.
/// </summary>
/// <remarks>
/// Reading the samples column of a row that was streamed still works: the loader decodes that row again, whole.
/// </remarks>
internal interface ISongSampleSource
{
    /// <summary>Registers <paramref name="consumer"/>: every row decoded from now on streams to it and is not held.</summary>
    void Subscribe(ISongSampleConsumer consumer);

    /// <summary>
    /// Decodes the current row unless that is done already, and says how. Throws what the samples getter throws
    /// (under <see cref="AudioErrorPolicy.Throw"/>, an <see cref="AudioLoadException"/> naming the file).
    /// </summary>
    SongSampleLoad Load();
}

/// <summary>A consumer of <see cref="ISongSampleSource"/>'s streamed rows.</summary>
internal interface ISongSampleConsumer : ISampleSink
{
    /// <summary>Row <paramref name="position"/> starts decoding; what came before belongs to another row (or to one that failed).</summary>
    void BeginSong(long position);
}

/// <summary>How <see cref="ISongSampleSource.Load"/> found the current row.</summary>
internal enum SongSampleLoad
{
    /// <summary>Decoded whole before the consumer subscribed (or for another reader): read the samples column.</summary>
    Held,

    /// <summary>Streamed to the subscribers, every sample of it, without an error.</summary>
    Streamed,

    /// <summary>Failed under <see cref="AudioErrorPolicy.Report"/>: the error column says why; the row has no samples.</summary>
    Failed,
}

/// <summary>Hands the same samples to several consumers (two segmenters reading one samples column).</summary>
internal sealed class FanOutSink(IReadOnlyList<ISampleSink> sinks) : ISampleSink
{
    public void Append(ReadOnlySpan<float> samples)
    {
        foreach (var sink in sinks)
        {
            sink.Append(samples);
        }
    }
}
