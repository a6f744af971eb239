namespace WebApiSample;

/// <summary>
/// The "WebApi" section of appsettings.json. Relative paths are read from the app's own folder
/// (<see cref="AppContext.BaseDirectory"/>), where the build copies the shipped models.
/// </summary>
public sealed class WebApiOptions
{
    /// <summary>The configuration section these options are read from.</summary>
    public const string Section = "WebApi";

    /// <summary>A taste model (a whole LoadAudio -> ... -> AggregateWindows pipeline). Default <c>models/flute-taste.zip</c>.</summary>
    public string TasteModelPath { get; set; } = "models/flute-taste.zip";

    /// <summary>A recommender written by <c>mlnet-audio train --plays</c>. Default <c>models/builtin-recommender.zip</c>.</summary>
    public string RecommenderModelPath { get; set; } = "models/builtin-recommender.zip";

    /// <summary>The SQLite file holding recorded plays; created on first start. Default <c>plays.db</c> beside the app.</summary>
    public string PlaysDatabasePath { get; set; } = "plays.db";

    /// <summary>Largest audio upload accepted by <c>POST /score</c>, in bytes; larger ones get 413. Default 20 MB.</summary>
    public long MaxUploadBytes { get; set; } = 20L << 20;

    /// <summary>A path from the options, made absolute against the app's folder.</summary>
    public static string Resolve(string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, path));
}
