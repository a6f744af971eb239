namespace MLNetAudio.Tests.Audio;

/// <summary>
/// A test on Debian's frozen-bubble-data music (GPL, so installed, never committed). On a developer machine
/// without the package it is reported as skipped with the install command; under CI (<c>CI=true</c>, where
/// <c>.ci/run</c> installs the package) it always runs, so a missing install step fails loudly.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RealMusicFactAttribute : FactAttribute
{
    public RealMusicFactAttribute()
    {
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!ci && !Directory.Exists(AudioLoaderTests.FrozenBubbleDir))
        {
            Skip = $"{AudioLoaderTests.FrozenBubbleDir} is missing: run `apt-get install frozen-bubble-data` (bash .ci/run does).";
        }
    }
}
