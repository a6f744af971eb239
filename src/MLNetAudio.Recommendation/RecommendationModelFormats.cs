using MLNetAudio.Data;
using MLNetAudio.Recommendation;

[assembly: AudioModelFormats(typeof(RecommendationModelFormats))]

namespace MLNetAudio.Recommendation;

/// <summary>
/// The stage formats of MLNetAudio.Recommendation: every recommendation model that <c>ml.Audio().Model.Save</c> writes.
/// A model file records this assembly's name beside each of these stages, so the core's loader can find this list in a
/// process that has not touched a recommendation type yet.
/// </summary>
internal sealed class RecommendationModelFormats : IAudioModelFormatRegistrar
{
    /// <inheritdoc/>
    public void Register()
    {
        AudioModelFormats.Register(MultiUserAudioModel.FormatName, MultiUserAudioModel.CurrentVersion, MultiUserAudioModel.OldestReadableVersion, MultiUserAudioModel.Load);
        AudioModelFormats.Register(ImplicitMatrixFactorizationModel.FormatName, ImplicitMatrixFactorizationModel.CurrentVersion, ImplicitMatrixFactorizationModel.OldestReadableVersion, ImplicitMatrixFactorizationModel.Load);
        AudioModelFormats.Register(PopularityModel.FormatName, PopularityModel.CurrentVersion, PopularityModel.OldestReadableVersion, PopularityModel.Load);
        AudioModelFormats.Register(FieldAwareFactorizationMachineRecommenderModel.FormatName, FieldAwareFactorizationMachineRecommenderModel.CurrentVersion, FieldAwareFactorizationMachineRecommenderModel.OldestReadableVersion, FieldAwareFactorizationMachineRecommenderModel.Load);
        AudioModelFormats.Register(SeedSongModel.FormatName, SeedSongModel.CurrentVersion, SeedSongModel.OldestReadableVersion, SeedSongModel.Load);
        AudioModelFormats.Register(SongSetModel.FormatName, SongSetModel.CurrentVersion, SongSetModel.OldestReadableVersion, SongSetModel.Load);
        AudioModelFormats.Register(AudioFactorRegressionModel.FormatName, AudioFactorRegressionModel.CurrentVersion, AudioFactorRegressionModel.OldestReadableVersion, AudioFactorRegressionModel.Load);
        AudioModelFormats.Register(PerListenerAudioModel.FormatName, PerListenerAudioModel.CurrentVersion, PerListenerAudioModel.OldestReadableVersion, PerListenerAudioModel.Load);
        AudioModelFormats.Register(ItemBasedCollaborativeFilteringModel.FormatName, ItemBasedCollaborativeFilteringModel.CurrentVersion, ItemBasedCollaborativeFilteringModel.OldestReadableVersion, ItemBasedCollaborativeFilteringModel.Load);
    }
}
