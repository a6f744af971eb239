using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace MLNetAudio.Tests.Data;

/// <summary>Edits a saved model file the way a buggy writer or a damaged disk would.</summary>
internal static class ModelFiles
{
    /// <summary>
    /// Replaces the file's one MLNetAudio stage entry (header included) by <paramref name="change"/> of its bytes and
    /// updates the manifest's length and checksum, so that only the stage's own reader can notice.
    /// </summary>
    /// <param name="path">The model file.</param>
    /// <param name="change">The new bytes of the entry from its old bytes.</param>
    /// <param name="version">When given, the stage format version the manifest lists for the entry (as a writer of that version would).</param>
    public static void RewriteEntry(string path, Func<byte[], byte[]> change, int? version = null)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(".audio.bin", StringComparison.Ordinal));
        string name = entry.FullName;
        byte[] changed = change(ReadEntry(entry));
        entry.Delete();
        using (var w = zip.CreateEntry(name).Open())
        {
            w.Write(changed);
        }

        var manifestEntry = zip.GetEntry("manifest.json")!;
        var manifest = JsonNode.Parse(ReadEntry(manifestEntry))!;
        var listed = manifest["entries"]!.AsArray().Single(e => (string?)e!["name"] == name)!;
        listed["length"] = changed.Length;
        listed["sha256"] = Convert.ToHexString(SHA256.HashData(changed));
        if (version is int v)
        {
            listed["version"] = v;
        }

        manifestEntry.Delete();
        using var m = zip.CreateEntry("manifest.json").Open();
        m.Write(System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    /// <summary>As <see cref="RewriteEntry"/>, on the stage's payload only (the bytes after its format header).</summary>
    public static void RewriteStage(string path, Func<byte[], byte[]> change) =>
        RewriteEntry(path, bytes =>
        {
            int header;
            using (var reader = new BinaryReader(new MemoryStream(bytes)))
            {
                reader.ReadInt32();
                reader.ReadString();
                reader.ReadInt32();
                header = (int)reader.BaseStream.Position;
            }

            return [.. bytes.AsSpan(0, header), .. change(bytes[header..])];
        });

    public static byte[] ReadEntry(ZipArchiveEntry entry)
    {
        using var s = entry.Open();
        using var buffer = new MemoryStream();
        s.CopyTo(buffer);
        return buffer.ToArray();
    }
}
