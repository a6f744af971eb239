namespace MLNetAudio.Audio;

/// <summary>
/// Receives a song's mono samples, at the loader's target rate, in order, while the song decodes (see
/// <see cref="DecodeRequest.Sink"/>): the decoder then keeps no more of the song than its working window, so a
/// consumer that needs only something computed from the samples (the segmenter's spectrogram) never holds them all.
/// </summary>
internal interface ISampleSink
{
    /// <summary>The next samples of the song. The span is only valid during the call.</summary>
    void Append(ReadOnlySpan<float> samples);
}
