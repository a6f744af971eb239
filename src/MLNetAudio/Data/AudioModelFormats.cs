using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.ML;

namespace MLNetAudio.Data;

/// <summary>
/// An MLNetAudio transformer that <see cref="AudioModelCatalog"/> can save. Its assembly registers a loader for
/// <see cref="FormatName"/> in its <see cref="AudioModelFormatsAttribute"/> registrar.
/// </summary>
internal interface IPersistableAudioTransformer
{
    /// <summary>A stable name of this stage's binary format, e.g. "MLNetAudio.WindowAggregator" (never the CLR type name).</summary>
    string FormatName { get; }

    /// <summary>The version <see cref="Save"/> writes; bump it whenever the payload changes, and keep reading the old ones.</summary>
    int FormatVersion { get; }

    /// <summary>Writes everything needed to rebuild this transformer (column names, options, weights).</summary>
    void Save(BinaryWriter writer);
}

/// <summary>What a stage loader gets: the reader positioned at its payload, and the version that wrote it.</summary>
/// <param name="Context">The loading context.</param>
/// <param name="Reader">Positioned at the payload; the loader must read it to its end.</param>
/// <param name="Version">The format version the payload was written in (between the registered oldest and current).</param>
/// <param name="FormatName">The stage format.</param>
/// <param name="EntryName">The zip entry, for error messages.</param>
internal sealed record AudioStageReader(MLContext Context, BinaryReader Reader, int Version, string FormatName, string EntryName);

/// <summary>Rebuilds a transformer from its saved payload.</summary>
internal delegate ITransformer AudioStageLoader(AudioStageReader stage);

/// <summary>
/// Names a class that registers an assembly's stage formats (<see cref="IAudioModelFormatRegistrar"/>). Every
/// MLNetAudio assembly that has persistable stages carries one: a model file records, per stage, the assembly that
/// wrote it, and <see cref="AudioModelFormats"/> loads that assembly by name and runs its registrar when the format is
/// not registered yet, so a model loads in a fresh process before any type of that assembly was touched.
/// </summary>
/// <param name="registrar">A class with a public parameterless constructor implementing <see cref="IAudioModelFormatRegistrar"/>.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
internal sealed class AudioModelFormatsAttribute(Type registrar) : Attribute
{
    /// <summary>The registrar class.</summary>
    public Type Registrar { get; } = registrar;
}

/// <summary>Registers one assembly's stage formats with <see cref="AudioModelFormats.Register"/>.</summary>
internal interface IAudioModelFormatRegistrar
{
    /// <summary>Registers every stage format of the assembly (called once per process).</summary>
    void Register();
}

/// <summary>
/// The stage formats this process can load, by format name. The core never names another assembly's types: each
/// assembly registers its own formats (<see cref="AudioModelFormatsAttribute"/>), and a format that is not registered
/// yet is found through the assembly name the model file records for it.
/// </summary>
internal static class AudioModelFormats
{
    /// <summary>The assembly of this package.</summary>
    public const string CoreAssembly = "MLNetAudio";

    private static readonly ConcurrentDictionary<string, Registration> Formats = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, bool> RegisteredAssemblies = new(StringComparer.Ordinal);
    private static readonly Lock RegistrationLock = new();

    /// <summary>
    /// The assembly of each stage format written before the split into packages (model files of MLNetAudio 0.1.0
    /// record no assembly): every format then lived in the one MLNetAudio assembly; the recommendation models now live
    /// in MLNetAudio.Recommendation. Format names only, so the core still names no type of another assembly.
    /// </summary>
    private static readonly Dictionary<string, string> FormatsBeforeAssemblyNames = new(StringComparer.Ordinal)
    {
        ["MLNetAudio.AudioLoader"] = CoreAssembly,
        ["MLNetAudio.MfccSegmenter"] = CoreAssembly,
        ["MLNetAudio.TimeConvLstmScorer"] = CoreAssembly,
        ["MLNetAudio.WindowAggregator"] = CoreAssembly,
        ["MLNetAudio.MultiUserAudioModel"] = "MLNetAudio.Recommendation",
        ["MLNetAudio.ImplicitMatrixFactorizationModel"] = "MLNetAudio.Recommendation",
        ["MLNetAudio.PopularityModel"] = "MLNetAudio.Recommendation",
        ["MLNetAudio.FieldAwareFactorizationMachineRecommenderModel"] = "MLNetAudio.Recommendation",
        ["MLNetAudio.SeedSongModel"] = "MLNetAudio.Recommendation",
        ["MLNetAudio.SongSetModel"] = "MLNetAudio.Recommendation",
        ["MLNetAudio.ItemBasedCollaborativeFilteringModel"] = "MLNetAudio.Recommendation",
    };

    /// <summary>Registers (or replaces) the loader of <paramref name="formatName"/>.</summary>
    /// <param name="formatName">The name the transformer writes as <see cref="IPersistableAudioTransformer.FormatName"/>.</param>
    /// <param name="currentVersion">The version the transformer writes now.</param>
    /// <param name="oldestReadableVersion">The oldest version <paramref name="loader"/> still reads.</param>
    /// <param name="loader">Reads a payload of any version in that range.</param>
    public static void Register(string formatName, int currentVersion, int oldestReadableVersion, AudioStageLoader loader)
    {
        ArgumentException.ThrowIfNullOrEmpty(formatName);
        ArgumentNullException.ThrowIfNull(loader);
        if (oldestReadableVersion < 1 || currentVersion < oldestReadableVersion)
        {
            throw new ArgumentException($"Versions of '{formatName}' must satisfy 1 <= oldest ({oldestReadableVersion}) <= current ({currentVersion}).");
        }

        Formats[formatName] = new Registration(currentVersion, oldestReadableVersion, loader);
    }

    /// <summary>Finds the loader of <paramref name="formatName"/> among the formats registered so far (the core's always are).</summary>
    public static bool TryGet(string formatName, out Registration registration)
    {
        EnsureAssembly(typeof(AudioModelFormats).Assembly);
        return Formats.TryGetValue(formatName, out registration!);
    }

    /// <summary>
    /// Finds the loader of <paramref name="formatName"/>, registering the formats of <paramref name="assemblyName"/> (the
    /// assembly the model file says wrote the stage; null for files written before assemblies were recorded) first
    /// when the format is not registered yet.
    /// </summary>
    /// <returns>The registration; null when the format is unknown to that assembly (or no assembly is known for it).</returns>
    /// <exception cref="FileNotFoundException">The assembly is not part of this application (its package is not referenced).</exception>
    public static Registration? Find(string formatName, string? assemblyName)
    {
        if (TryGet(formatName, out var registration))
        {
            return registration;
        }

        assemblyName ??= AssemblyOfOlderFormat(formatName);
        if (assemblyName is null || !IsProjectAssembly(assemblyName))
        {
            return null;
        }

        EnsureAssembly(Assembly.Load(new AssemblyName(assemblyName)));
        return Formats.TryGetValue(formatName, out registration) ? registration : null;
    }

    /// <summary>The assembly that held <paramref name="formatName"/> before model files recorded assemblies, if it is one of those.</summary>
    public static string? AssemblyOfOlderFormat(string formatName) =>
        FormatsBeforeAssemblyNames.TryGetValue(formatName, out var assembly) ? assembly : null;

    /// <summary>
    /// Only MLNetAudio's own assemblies are loaded by the name a model file gives: a file must not make the process load
    /// (and initialise) an arbitrary assembly.
    /// </summary>
    public static bool IsProjectAssembly(string assemblyName) =>
        assemblyName == CoreAssembly
        || (assemblyName.StartsWith(CoreAssembly + ".", StringComparison.Ordinal) && assemblyName.Length > CoreAssembly.Length + 1
            && assemblyName.All(c => char.IsAsciiLetterOrDigit(c) || c == '.' || c == '_'));

    /// <summary>The name a model file records for the assembly of <paramref name="stage"/>.</summary>
    public static string AssemblyNameOf(IPersistableAudioTransformer stage) =>
        stage.GetType().Assembly.GetName().Name ?? CoreAssembly;

    /// <summary>Runs the registrar that <paramref name="assembly"/> names in its <see cref="AudioModelFormatsAttribute"/>, once per process.</summary>
    private static void EnsureAssembly(Assembly assembly)
    {
        string name = assembly.GetName().Name ?? string.Empty;
        if (RegisteredAssemblies.ContainsKey(name))
        {
            return;
        }

        lock (RegistrationLock)
        {
            if (RegisteredAssemblies.ContainsKey(name))
            {
                return;
            }

            foreach (var attribute in assembly.GetCustomAttributes<AudioModelFormatsAttribute>())
            {
                if (Activator.CreateInstance(attribute.Registrar) is IAudioModelFormatRegistrar registrar)
                {
                    registrar.Register();
                }
            }

            RegisteredAssemblies[name] = true;
        }
    }

    /// <summary>One registered format.</summary>
    internal sealed record Registration(int CurrentVersion, int OldestReadableVersion, AudioStageLoader Loader);
}
