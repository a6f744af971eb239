namespace MLNetAudio.Data;

/// <summary>What is wrong with a model file that <see cref="AudioModelCatalog"/> refused to load.</summary>
public enum AudioModelFileProblem
{
    /// <summary>The file is not an MLNetAudio model (not a zip, or a zip without MLNetAudio's manifest).</summary>
    NotAModelFile,

    /// <summary>The file ends early: its zip directory is missing.</summary>
    Truncated,

    /// <summary>An entry is damaged: a checksum, a header or a stage's contents do not read back.</summary>
    Corrupt,

    /// <summary>
    /// A stage's format is not known here: an MLNetAudio stage written by a newer library or one not loaded, or an
    /// intact ML.NET stage whose component's package this process does not reference.
    /// </summary>
    UnknownStageFormat,

    /// <summary>The container or a stage was written in a newer format version than this library reads.</summary>
    NewerFormatVersion,

    /// <summary>A stage was written in a format version older than this library still reads.</summary>
    OlderFormatVersion,

    /// <summary>
    /// A stage belongs to an MLNetAudio package that this application does not reference (e.g. a recommendation model
    /// without MLNetAudio.Recommendation); the message names the package to add.
    /// </summary>
    MissingPackage,
}

/// <summary>A model file could not be loaded; the message names the file and what is wrong.</summary>
public sealed class AudioModelFileException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="filePath">The file, or null when the model came from a stream.</param>
    /// <param name="problem">What is wrong.</param>
    /// <param name="detail">A sentence saying what was found, without the file name.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public AudioModelFileException(string? filePath, AudioModelFileProblem problem, string detail, Exception? inner = null)
        : base($"Cannot load the model {(filePath is null ? "stream" : $"file '{filePath}'")}: {detail}.", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that failed to load, or null when the model came from a stream.</summary>
    public string? FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public AudioModelFileProblem Problem { get; }
}
