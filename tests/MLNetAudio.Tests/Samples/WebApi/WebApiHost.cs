using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace MLNetAudio.Tests.Samples.WebApi;

/// <summary>
/// samples/WebApi in the in-memory test server, with its plays database in a fresh temporary folder (or a given file,
/// to restart over the same database) and a 4 MB upload limit (so the oversized upload stays small).
/// </summary>
internal sealed class WebApiHost : WebApplicationFactory<Program>
{
    public const long MaxUploadBytes = 4L << 20;

    private readonly string? _ownFolder;

    public WebApiHost(string? databasePath = null)
    {
        if (databasePath is null)
        {
            _ownFolder = Path.Combine(Path.GetTempPath(), "mlnetaudio-webapi-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(_ownFolder);
            databasePath = Path.Combine(_ownFolder, "plays.db");
        }

        DatabasePath = databasePath;
    }

    public string DatabasePath { get; }

    public static string Clip(string name) => Path.Combine(AppContext.BaseDirectory, "SampleClips", name);

    /// <summary>A multipart form with <paramref name="bytes"/> as the field <paramref name="field"/>.</summary>
    public static MultipartFormDataContent Upload(byte[] bytes, string fileName, string field = "file")
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return new MultipartFormDataContent { { file, field, fileName } };
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>16-bit mono PCM WAV of a 440 Hz tone (no samples when <paramref name="seconds"/> is 0).</summary>
    public static byte[] ToneWav(double seconds, int rate = 22050)
    {
        int n = (int)(seconds * rate);
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream);
        w.Write("RIFF"u8);
        w.Write(36 + (n * 2));
        w.Write("WAVEfmt "u8);
        w.Write(16);
        w.Write((short)1);
        w.Write((short)1);
        w.Write(rate);
        w.Write(rate * 2);
        w.Write((short)2);
        w.Write((short)16);
        w.Write("data"u8);
        w.Write(n * 2);
        for (int i = 0; i < n; i++)
        {
            w.Write((short)(8000 * Math.Sin(2 * Math.PI * 440 * i / rate)));
        }

        w.Flush();
        return stream.ToArray();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("WebApi:PlaysDatabasePath", DatabasePath);
        builder.UseSetting("WebApi:MaxUploadBytes", MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && _ownFolder is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_ownFolder, recursive: true);
            }
            catch (IOException)
            {
                // A pooled handle still open: the folder is in the temporary directory anyway.
            }
        }
    }
}
