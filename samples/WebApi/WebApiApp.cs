using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.ML;
using MLNetAudio.Audio;

namespace WebApiSample;

/// <summary>
/// The listening service: <c>POST /score</c> (an uploaded song through the taste model), recommendations and plays of
/// users (SQLite, fold-in without retraining), and the page in wwwroot.
/// </summary>
public static class WebApiApp
{
    /// <summary>Builds the app (models loaded, database created); <paramref name="configure"/> may change the builder first.</summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // The page and the models are copied into the app's folder at build time, so the app serves them wherever it
        // is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot"),
        });
        configure?.Invoke(builder);

        // Options and models are read from the final configuration (a test host may add settings after this method).
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IConfiguration>().GetSection(WebApiOptions.Section).Get<WebApiOptions>() ?? new WebApiOptions());
        builder.Services.AddSingleton(_ => new MLContext(seed: 1));
        builder.Services.AddSingleton(sp => WebApi.TasteModel.Load(sp.GetRequiredService<MLContext>(), WebApiOptions.Resolve(sp.GetRequiredService<WebApiOptions>().TasteModelPath)));
        builder.Services.AddSingleton(sp => SongRecommender.Load(sp.GetRequiredService<MLContext>(), WebApiOptions.Resolve(sp.GetRequiredService<WebApiOptions>().RecommenderModelPath)));
        builder.Services.AddSingleton(sp => new PlayStore(WebApiOptions.Resolve(sp.GetRequiredService<WebApiOptions>().PlaysDatabasePath)));

        // Room for the multipart framing around a file of the largest size; the endpoint checks the file itself.
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
            kestrel.Limits.MaxRequestBodySize = BodyLimit(context.Configuration.GetSection(WebApiOptions.Section).Get<WebApiOptions>() ?? new WebApiOptions()));
        builder.Services.AddOptions<FormOptions>().Configure<WebApiOptions>((form, options) => form.MultipartBodyLengthLimit = BodyLimit(options));

        var app = builder.Build();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapPost("/score", ScoreAsync);
        app.MapGet("/users/{id}/recommendations", RecommendationsAsync);
        app.MapPost("/users/{id}/plays", AddPlaysAsync);
        app.MapGet("/users/{id}/plays", async (string id, PlayStore store, CancellationToken ct) =>
            Results.Ok(new { userId = id, plays = await store.GetAsync(id, ct) }));

        // Load the models and create the database now, so a bad path fails at start rather than at the first request.
        app.Services.GetRequiredService<WebApi.TasteModel>();
        app.Services.GetRequiredService<SongRecommender>();
        app.Services.GetRequiredService<PlayStore>();
        return app;
    }

    // Bounds that keep the database's sums far from overflow and its keys short.
    private const long MaxPlaysPerItem = 1_000_000;
    private const int MaxUserIdLength = 200;

    private static long BodyLimit(WebApiOptions options) => options.MaxUploadBytes + (64 << 10);

    /// <summary>An error as every endpoint reports it: a status code and one sentence saying what to fix.</summary>
    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    private static async Task<IResult> ScoreAsync(HttpRequest request, WebApi.TasteModel taste, MLContext ml, WebApiOptions options, CancellationToken ct)
    {
        string limit = $"{options.MaxUploadBytes / (1024.0 * 1024.0):0.#} MB";
        if (!request.HasFormContentType)
        {
            return Error(StatusCodes.Status400BadRequest, "Send the song as multipart/form-data with the audio file in the field 'file'.");
        }

        if (request.ContentLength > BodyLimit(options))
        {
            return Error(StatusCodes.Status413PayloadTooLarge, $"The upload is {request.ContentLength} bytes; the limit is {limit} (WebApi:MaxUploadBytes).");
        }

        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(ct);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            return Error(StatusCodes.Status413PayloadTooLarge, $"The upload is larger than {limit} (WebApi:MaxUploadBytes).");
        }
        catch (Exception e) when (e is BadHttpRequestException or IOException)
        {
            return Error(StatusCodes.Status400BadRequest, $"The form could not be read: {e.Message}");
        }

        var file = form.Files.GetFile("file");
        if (file is null)
        {
            return Error(StatusCodes.Status400BadRequest, "No file: put the audio file in the form field 'file'.");
        }

        if (file.Length == 0)
        {
            return Error(StatusCodes.Status400BadRequest, $"'{file.FileName}' is empty.");
        }

        if (file.Length > options.MaxUploadBytes)
        {
            return Error(StatusCodes.Status413PayloadTooLarge, $"'{file.FileName}' is {file.Length} bytes; the limit is {limit} (WebApi:MaxUploadBytes).");
        }

        // The loader reads files by path and detects the format from the bytes, so the name's extension does not matter.
        string path = Path.Combine(Path.GetTempPath(), "mlnetaudio-upload-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var target = File.Create(path))
            {
                await file.CopyToAsync(target, ct);
            }

            WebApi.ModelOutput song;
            try
            {
                song = taste.Predict(path);
            }
            catch (InvalidOperationException) when (taste.DecodedSeconds(ml, path) == 0)
            {
                // Bytes that a decoder accepts but that hold no samples (random bytes can look like MP3 frames).
                return Error(StatusCodes.Status400BadRequest, $"'{file.FileName}' holds no audio samples: upload a WAV, Ogg Vorbis or MP3 song.");
            }

            if (song.WindowScores.Length == 0 || !float.IsFinite(song.Score))
            {
                return Error(StatusCodes.Status400BadRequest, $"'{file.FileName}' ({song.DurationSeconds:0.##} s) is too short to score: a song needs at least one {taste.WindowSeconds:0.#} s window.");
            }

            return Results.Ok(new
            {
                fileName = file.FileName,
                score = song.Score,
                durationSeconds = song.DurationSeconds,
                windowSeconds = taste.WindowSeconds,
                hopSeconds = taste.HopSeconds,
                timeline = song.WindowScores,
                bestWindowStartSeconds = song.BestWindowStart,
            });
        }
        catch (AudioLoadException e)
        {
            // The message names our temporary file; the user knows the file by the name they uploaded.
            return Error(StatusCodes.Status400BadRequest, e.Message.Replace(path, file.FileName, StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<IResult> RecommendationsAsync(string id, string? k, SongRecommender recommender, PlayStore store, CancellationToken ct)
    {
        int top = 10;
        if (k is not null && (!int.TryParse(k, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out top) || top is < 1 or > 1000))
        {
            return Error(StatusCodes.Status400BadRequest, $"k must be a whole number from 1 to 1000; got '{k}'.");
        }

        var plays = await store.GetAsync(id, ct);
        if (plays.Count > 0)
        {
            return Results.Ok(new { userId = id, source = "fold-in", recordedSongs = plays.Count, recommendations = recommender.RecommendForPlays(id, plays.Select(p => p.SongId), top) });
        }

        if (recommender.IsKnownUser(id))
        {
            return Results.Ok(new { userId = id, source = "model", recordedSongs = 0, recommendations = recommender.Recommend(id, top) });
        }

        return Error(StatusCodes.Status404NotFound, $"User '{id}' is not in the model and has no recorded plays: POST /users/{id}/plays first.");
    }

    private static async Task<IResult> AddPlaysAsync(string id, HttpRequest request, SongRecommender recommender, PlayStore store, CancellationToken ct)
    {
        if (id.Length > MaxUserIdLength)
        {
            return Error(StatusCodes.Status400BadRequest, $"A user id has at most {MaxUserIdLength} characters; this one has {id.Length}.");
        }

        List<PlayRequest>? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<List<PlayRequest>>(request.Body, JsonSerializerOptions.Web, ct);
        }
        catch (JsonException e)
        {
            return Error(StatusCodes.Status400BadRequest, $"The body must be a JSON array like [{{\"songId\": \"flute-melody\", \"plays\": 3}}]: {e.Message}");
        }

        if (body is null || body.Count == 0)
        {
            return Error(StatusCodes.Status400BadRequest, "The body must be a non-empty JSON array like [{\"songId\": \"flute-melody\", \"plays\": 3}].");
        }

        var problems = body.Select((p, i) =>
            p is null ? $"item {i} is null"
            : string.IsNullOrEmpty(p.SongId) ? $"item {i} has no songId"
            : !recommender.IsSong(p.SongId) ? $"item {i}: no song '{p.SongId}' in the catalog"
            : p.Plays is < 1 or > MaxPlaysPerItem ? $"item {i} ('{p.SongId}'): plays must be from 1 to {MaxPlaysPerItem}, got {p.Plays}"
            : null).OfType<string>().ToList();
        if (problems.Count > 0)
        {
            return Error(StatusCodes.Status400BadRequest, string.Join("; ", problems) + $". Songs: {string.Join(", ", recommender.SongIds)}.");
        }

        await store.AddAsync(id, [.. body.Select(p => new PlayCount(p!.SongId!, p.Plays))], ct);
        var recorded = await store.GetAsync(id, ct);
        return Results.Created($"/users/{Uri.EscapeDataString(id)}/plays", new { userId = id, recordedSongs = recorded.Count, plays = recorded });
    }

    /// <summary>One item of the <c>POST /users/{id}/plays</c> body.</summary>
    private sealed record PlayRequest(string? SongId, long Plays);
}
