namespace MLNetAudio.Data;

/// <summary>
/// Collects every invalid field of an options object so that one exception reports them all
/// (the NWaves habit: users fix everything in one go instead of one field per run).
/// </summary>
internal sealed class OptionErrors
{
    private readonly List<string> _errors = [];
    private readonly string _optionsName;

    public OptionErrors(string optionsName) => _optionsName = optionsName;

    /// <summary>Records <paramref name="message"/> against <paramref name="field"/> when <paramref name="bad"/> holds.</summary>
    public OptionErrors Check(bool bad, string field, string message)
    {
        if (bad)
        {
            _errors.Add($"{field}: {message}");
        }

        return this;
    }

    /// <summary>The messages recorded so far, each starting with the field's name.</summary>
    public IReadOnlyList<string> Errors => _errors;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every recorded error, if any.</summary>
    public void ThrowIfAny()
    {
        if (_errors.Count > 0)
        {
            throw new ArgumentException(
                $"{_optionsName} has {_errors.Count} invalid value(s):{Environment.NewLine}  - "
                + string.Join(Environment.NewLine + "  - ", _errors));
        }
    }
}
