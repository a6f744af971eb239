namespace MLNetAudio.Features;

/// <summary>
/// The segmenter's per-cursor state as a scorer may read it instead of the windows column: the current row's feature
/// frames once, with where each window starts. The windows column repeats every frame WindowSeconds /
/// WindowHopSeconds times (8 at the defaults: an hour of windows is 115 MB, its frames 14 MB). The scorer finds it
/// as the target of the windows getter and uses it only when nothing after the scorer reads the windows column.
/// </summary>
internal interface ISongFrameSource
{
    /// <summary>
    /// Computes the current row unless done and returns its frames (frame-major, coefficients per frame); the
    /// windows are <paramref name="windows"/> runs of FramesPerWindow frames, window w starting at frame
    /// <paramref name="windowStart"/>(w). A row that failed under the loader's Report policy has no windows.
    /// </summary>
    ReadOnlyMemory<float> CurrentFrames(out int windows, out Func<int, int> windowStart);
}
