using TorchSharp;

namespace MLNetAudio.Data;

/// <summary>
/// Writes a TorchSharp module's weights (its state dict, through TorchSharp's own <c>Module.save</c>/<c>load</c>)
/// inside a stage payload of <see cref="AudioModelCatalog"/>.
/// </summary>
/// <remarks>
/// Binary format (little-endian):
/// <code>
/// int64   byte count N of the state dict
/// byte[N] the state dict as TorchSharp's Module.save(BinaryWriter) writes it
/// </code>
/// The length prefix keeps the state dict's reader from running past its block into the next field, and
/// lets a truncated entry fail here with a clear message instead of inside libtorch.
/// </remarks>
internal static class TorchModuleState
{
    /// <summary>Writes <paramref name="module"/>'s parameters and buffers (moved to the CPU copy TorchSharp writes).</summary>
    public static void Write(BinaryWriter writer, torch.nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(module);
        using var buffer = new MemoryStream();
        using (var inner = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            module.save(inner);
        }

        writer.Write(buffer.Length);
        writer.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>
    /// Loads the weights written by <see cref="Write"/> into <paramref name="module"/>, which must have the same
    /// architecture (same parameter names and shapes); every parameter must be present.
    /// </summary>
    /// <exception cref="InvalidDataException">The block is truncated or does not match the module's parameters.</exception>
    public static void Read(BinaryReader reader, torch.nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(module);
        long length = reader.ReadInt64();
        long left = reader.BaseStream.CanSeek ? reader.BaseStream.Length - reader.BaseStream.Position : long.MaxValue;
        if (length < 0 || length > left || length > int.MaxValue)
        {
            throw new InvalidDataException($"the weights block claims {length} bytes but {left} remain");
        }

        byte[] bytes = reader.ReadBytes((int)length);
        if (bytes.Length != length)
        {
            throw new EndOfStreamException($"the weights block ends after {bytes.Length} of {length} bytes");
        }

        using var inner = new BinaryReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8);
        try
        {
            module.load(inner, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or FormatException)
        {
            throw new InvalidDataException($"the weights do not fit the network ({e.Message})", e);
        }

        if (inner.BaseStream.Position != inner.BaseStream.Length)
        {
            throw new InvalidDataException("the weights block holds more than the network's parameters");
        }
    }
}
