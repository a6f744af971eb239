using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Playwright;
using WebApiSample;

namespace MLNetAudio.Tests.Samples.WebApi;

/// <summary>
/// samples/WebApi end to end: Kestrel on a real port, Debian's Chromium (headless, driven by Playwright) opens the page,
/// uploads a clip and the test reads the best window off the page. Needs <c>apt-get install chromium</c>
/// (<c>.ci/run</c> installs it); without it the test fails and says so.
/// </summary>
public sealed class WebApiBrowserTests
{
    /// <summary>Where Debian puts Chromium; MLNETAUDIO_CHROMIUM overrides it.</summary>
    private static string ChromiumPath => Environment.GetEnvironmentVariable("MLNETAUDIO_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    [Fact]
    public async Task Uploading_a_clip_in_chromium_shows_the_best_window_on_the_page()
    {
        Assert.True(File.Exists(ChromiumPath),
            $"This end-to-end test needs Debian's Chromium at {ChromiumPath}: run 'apt-get install chromium' (.ci/run installs it), or set MLNETAUDIO_CHROMIUM to a Chromium binary.");

        string folder = Path.Combine(Path.GetTempPath(), "mlnetaudio-webapi-browser-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var app = WebApiApp.Create(["--urls", "http://127.0.0.1:0"], builder =>
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["WebApi:PlaysDatabasePath"] = Path.Combine(folder, "plays.db") }));
        await using (app)
        {
            await app.StartAsync();
            string url = app.Urls.Single();
            Assert.StartsWith("http://127.0.0.1:", url, StringComparison.Ordinal);

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true });
            var page = await browser.NewPageAsync();
            await page.GotoAsync(url + "/");
            await page.SetInputFilesAsync("#file", WebApiHost.Clip("strings-then-flute.ogg"));
            await page.ClickAsync("#score-button");
            await page.WaitForSelectorAsync("#score-result:not([hidden])", new PageWaitForSelectorOptions { Timeout = 60_000 });

            Assert.Equal("13", await page.InnerTextAsync("#best-window"));
            Assert.Equal("21", await page.InnerTextAsync("#best-window-end"));
            Assert.Equal("0.336", await page.InnerTextAsync("#score"));
            // The chart: one bar per window, exactly one highlighted, the one starting at 13 s.
            Assert.Equal(17, await page.Locator("#timeline-chart rect.window").CountAsync());
            Assert.Equal("13", await page.Locator("#timeline-chart rect.best").GetAttributeAsync("data-start"));

            // A listener's recommendations, in the table.
            await page.FillAsync("#user", "ana");
            await page.ClickAsync("#recommend-button");
            await page.WaitForSelectorAsync("#recommendations:not([hidden])");
            Assert.Equal(4, await page.Locator("#recommendations tbody tr").CountAsync());
            Assert.Contains("strings-then-flute", await page.InnerTextAsync("#recommendations"), StringComparison.Ordinal);

            // "I played this" on the first song records a play; the list is then folded in and leaves that song out.
            string first = await page.InnerTextAsync("#recommendations tbody tr:first-child td:first-child");
            await page.ClickAsync("#recommendations tbody tr:first-child button");
            await page.WaitForSelectorAsync("#user-status:has-text('fold-in')");
            Assert.Equal(3, await page.Locator("#recommendations tbody tr").CountAsync());
            Assert.DoesNotContain(first, await page.InnerTextAsync("#recommendations"), StringComparison.Ordinal);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "webapi-page.png"), FullPage = true });

            await app.StopAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(folder, recursive: true);
    }
}
