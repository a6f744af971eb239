namespace MLNetAudio.Tests;

/// <summary>The checkout the tests were built from (for committed files outside the test project: samples/data, models/).</summary>
internal static class TestRepository
{
    /// <summary>The folder holding MLNetAudio.sln above the test binaries.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MLNetAudio.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException($"No MLNetAudio.sln above {AppContext.BaseDirectory}: these tests run from a build of this repository.");
        }
    }
}
