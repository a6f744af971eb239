using Xunit.Abstractions;

[assembly: TestCollectionOrderer("MLNetAudio.Tests.NumericsFirst", "MLNetAudio.Tests")]

namespace MLNetAudio.Tests;

/// <summary>
/// The test collection of the numerical reference checks, and the orderer that runs it before every other
/// collection: when libtorch computes wrong numbers on a CPU, that failure is the first thing a CI log shows, ahead
/// of the training tests it explains.
/// </summary>
[CollectionDefinition(Name)]
public sealed class NumericsFirst : ITestCollectionOrderer
{
    /// <summary>The collection name.</summary>
    public const string Name = "Numerics first";

    /// <summary>The numerics collection first, then the rest in xunit's usual (name) order.</summary>
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(c => c.DisplayName == Name ? 0 : 1).ThenBy(c => c.DisplayName, StringComparer.Ordinal);
}
