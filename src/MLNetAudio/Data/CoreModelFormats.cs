using MLNetAudio.Audio;
using MLNetAudio.Data;
using MLNetAudio.Features;
using MLNetAudio.Scoring;

[assembly: AudioModelFormats(typeof(CoreModelFormats))]

namespace MLNetAudio.Data;

/// <summary>The stage formats of the core package (MLNetAudio): the audio pipeline's four components.</summary>
internal sealed class CoreModelFormats : IAudioModelFormatRegistrar
{
    /// <inheritdoc/>
    public void Register()
    {
        AudioModelFormats.Register(AudioLoadingTransformer.PersistedFormatName, AudioLoadingTransformer.CurrentFormatVersion, AudioLoadingTransformer.OldestReadableFormatVersion, AudioLoadingTransformer.Load);
        AudioModelFormats.Register(MfccSegmentingTransformer.FormatName, MfccSegmentingTransformer.CurrentVersion, MfccSegmentingTransformer.OldestReadableVersion, MfccSegmentingTransformer.Load);
        AudioModelFormats.Register(TimeConvLstmScorer.FormatName, TimeConvLstmScorer.CurrentVersion, TimeConvLstmScorer.OldestReadableVersion, TimeConvLstmScorer.Load);
        AudioModelFormats.Register(WindowAggregatingTransformer.FormatName, WindowAggregatingTransformer.CurrentVersion, WindowAggregatingTransformer.OldestReadableVersion, WindowAggregatingTransformer.Load);
    }
}
