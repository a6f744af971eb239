namespace MLNetAudio;

/// <summary>
/// MLNetAudio's <c>ml.Transforms.*</c> extension methods (LoadAudio, SegmentMfcc, AggregateWindows, ...).
/// Each component declares its own methods in its own file as a part of this class.
/// </summary>
public static partial class AudioTransformsCatalog
{
}
