using System.Globalization;
using Microsoft.VisualBasic.FileIO;

namespace MLNetAudio.Cli;

/// <summary>One data row of a CSV file: its 1-based line number and its fields by column name.</summary>
internal sealed record CsvRow(string Path, long Line, IReadOnlyDictionary<string, (string Value, int Column)> Fields)
{
    public string Text(string column)
    {
        var (value, index) = Fields[column];
        if (value.Length == 0)
        {
            throw new CliInputException($"{Path}:{Line}:{index}: '{column}' is empty.");
        }

        return value;
    }

    public (string Value, int Column) Raw(string column) => Fields[column];
}

/// <summary>
/// Reads the CSV files of DESIGN.md §9 (header row; RFC 4180 quoting) with .NET's <see cref="TextFieldParser"/>, and
/// reports any problem as <c>file:line:column: what</c>.
/// </summary>
internal static class Csv
{
    public static List<CsvRow> Read(string path, params string[] required)
    {
        if (!File.Exists(path))
        {
            throw new CliInputException($"{path}: no such file.");
        }

        using var parser = new TextFieldParser(path) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = true };
        parser.SetDelimiters(",");
        string[] header;
        try
        {
            header = parser.ReadFields() ?? throw new CliInputException($"{path}:1:1: the file is empty; its first line must be the header {string.Join(',', required)}.");
        }
        catch (MalformedLineException e)
        {
            throw new CliInputException($"{path}:{e.LineNumber}:1: {e.Message}");
        }

        header = [.. header.Select(h => h.Trim().TrimStart('\uFEFF'))];
        var columns = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < header.Length; i++)
        {
            if (!columns.TryAdd(header[i], i))
            {
                throw new CliInputException($"{path}:1:{i + 1}: the column '{header[i]}' appears twice in the header.");
            }
        }

        foreach (string name in required)
        {
            if (!columns.ContainsKey(name))
            {
                throw new CliInputException($"{path}:1:1: the header has no '{name}' column; it needs {string.Join(", ", required)} (found: {string.Join(", ", header)}).");
            }
        }

        var rows = new List<CsvRow>();
        while (!parser.EndOfData)
        {
            long line = parser.LineNumber;
            string[]? fields;
            try
            {
                fields = parser.ReadFields();
            }
            catch (MalformedLineException e)
            {
                throw new CliInputException($"{path}:{e.LineNumber}:1: malformed line ({e.Message}).");
            }

            if (fields is null || (fields.Length == 1 && fields[0].Length == 0))
            {
                continue;
            }

            if (fields.Length != header.Length)
            {
                throw new CliInputException($"{path}:{line}:{Math.Min(fields.Length, header.Length) + 1}: {fields.Length} fields, but the header has {header.Length}.");
            }

            rows.Add(new CsvRow(path, line, required.ToDictionary(n => n, n => (fields[columns[n]], columns[n] + 1), StringComparer.OrdinalIgnoreCase)));
        }

        return rows;
    }

    public static float Number(CsvRow row, string column, Func<float, bool> valid, string expected)
    {
        var (text, index) = row.Raw(column);
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !float.IsFinite(value) || !valid(value))
        {
            throw new CliInputException($"{row.Path}:{row.Line}:{index}: '{column}' is '{text}'; expected {expected}.");
        }

        return value;
    }

    /// <summary>Writes a CSV file whole or not at all (a temporary file renamed into place).</summary>
    public static void Write(string path, string header, IEnumerable<IEnumerable<object?>> rows)
    {
        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        string temporary = full + ".tmp-" + Environment.ProcessId;
        using (var writer = new StreamWriter(temporary))
        {
            writer.WriteLine(header);
            foreach (var row in rows)
            {
                writer.WriteLine(string.Join(',', row.Select(Field)));
            }
        }

        File.Move(temporary, full, overwrite: true);
    }

    private static string Field(object? value)
    {
        string text = value switch
        {
            null => string.Empty,
            float f => float.IsFinite(f) ? f.ToString("0.######", CultureInfo.InvariantCulture) : string.Empty,
            double d => double.IsFinite(d) ? d.ToString("0.###", CultureInfo.InvariantCulture) : string.Empty,
            IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? string.Empty,
        };
        return text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }
}

/// <summary>A catalog (SongId,Path) with paths resolved against the CSV's folder.</summary>
internal sealed class Catalog
{
    private Catalog(List<CatalogSong> songs) => Songs = songs;

    public IReadOnlyList<CatalogSong> Songs { get; }

    public static Catalog Read(string path)
    {
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var songs = new List<CatalogSong>();
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var row in Csv.Read(path, "SongId", "Path"))
        {
            string id = row.Text("SongId");
            if (!seen.TryAdd(id, row.Line))
            {
                throw new CliInputException($"{path}:{row.Line}:{row.Raw("SongId").Column}: SongId '{id}' is already on line {seen[id]}.");
            }

            string file = row.Text("Path");
            songs.Add(new CatalogSong { SongId = id, Path = System.IO.Path.IsPathRooted(file) ? file : System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, file)), Line = row.Line });
        }

        if (songs.Count == 0)
        {
            throw new CliInputException($"{path}:2:1: the catalog has no songs.");
        }

        return new Catalog(songs);
    }

    public CatalogSong? Find(string songId) => Songs.FirstOrDefault(s => s.SongId == songId);
}

/// <summary>One catalog row, as the pipelines read it.</summary>
internal sealed class CatalogSong
{
    public string SongId { get; set; } = string.Empty;

    public string Path { get; set; } = string.Empty;

    public bool Label { get; set; }

    [Microsoft.ML.Data.NoColumn]
    public long Line { get; set; }
}

/// <summary>One play-log row with string ids, as ML.NET's matrix factorization sample has them.</summary>
internal sealed class PlayRow
{
    public string UserId { get; set; } = string.Empty;

    public string SongId { get; set; } = string.Empty;

    public float Plays { get; set; }

    public static List<PlayRow> Read(string path, Catalog catalog)
    {
        var ids = catalog.Songs.Select(s => s.SongId).ToHashSet(StringComparer.Ordinal);
        var rows = new List<PlayRow>();
        foreach (var row in Csv.Read(path, "UserId", "SongId", "Plays"))
        {
            string song = row.Text("SongId");
            if (!ids.Contains(song))
            {
                throw new CliInputException($"{path}:{row.Line}:{row.Raw("SongId").Column}: SongId '{song}' is not in the catalog.");
            }

            rows.Add(new PlayRow { UserId = row.Text("UserId"), SongId = song, Plays = Csv.Number(row, "Plays", v => v >= 0, "a play count of 0 or more") });
        }

        if (rows.Count == 0)
        {
            throw new CliInputException($"{path}:2:1: the play log has no rows.");
        }

        return rows;
    }
}
