using MLNetAudio.Data;

namespace MLNetAudio.Tests.Data;

public sealed class SavableRandomTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(21)]
    [InlineData(-7)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    public void Draws_are_those_of_a_seeded_System_Random(int seed)
    {
        // The trainer swapped System.Random for this generator; identical draws mean identical trained weights.
        var expected = new Random(seed);
        var actual = new SavableRandom(seed);
        var bounds = new[] { 1, 2, 3, 7, 8, 100, 1024, 1 << 22, int.MaxValue };
        for (int i = 0; i < 20_000; i++)
        {
            int bound = bounds[i % bounds.Length];
            Assert.Equal(expected.Next(bound), actual.Next(bound));
            long longBound = (i % 4) switch { 0 => 61, 1 => int.MaxValue, 2 => 1, _ => (1L << 40) + 12345 };
            Assert.Equal(expected.NextInt64(longBound), actual.NextInt64(longBound));
        }
    }

    [Fact]
    public void A_saved_state_continues_the_same_sequence()
    {
        var random = new SavableRandom(5);
        for (int i = 0; i < 1000; i++)
        {
            random.Next(17);
        }

        byte[] state = random.SaveState();
        int[] first = [.. Enumerable.Range(0, 500).Select(_ => random.Next(1000))];
        var other = new SavableRandom(99);
        other.Restore(state);
        int[] second = [.. Enumerable.Range(0, 500).Select(_ => other.Next(1000))];
        Assert.Equal(232, state.Length);
        Assert.Equal(first, second);
    }

    [Fact]
    public void A_state_with_impossible_indices_is_refused()
    {
        byte[] state = new SavableRandom(1).SaveState();
        state[0] = 200;
        Assert.Throws<InvalidDataException>(() => new SavableRandom(1).Restore(state));
    }
}
