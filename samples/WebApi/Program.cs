// The listening service (samples/WebApi): `dotnet run --project samples/WebApi -c Release`, then open http://localhost:5000.
// STEP 1: load the taste model and the recommender from models/ (paths in appsettings.json), open the plays database.
// STEP 2: serve POST /score, GET /users/{id}/recommendations, POST /users/{id}/plays and the page in wwwroot.
WebApiSample.WebApiApp.Create(args).Run();

/// <summary>The entry point, public so that WebApplicationFactory&lt;Program&gt; can start the app in tests.</summary>
public partial class Program;
