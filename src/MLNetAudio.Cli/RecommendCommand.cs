using System.ComponentModel;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Recommendation;
using Spectre.Console;
using Spectre.Console.Cli;

namespace MLNetAudio.Cli;

/// <summary><c>recommend</c>: the top songs for listeners of a recommender model, cold songs included.</summary>
internal sealed class RecommendCommand : Command<RecommendCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <ZIP>")]
        [Description("A recommender written by 'train --plays'.")]
        public string? Model { get; set; }

        [CommandOption("--user <ID>")]
        [Description("A listener of the training play log (repeat for several).")]
        public string[] Users { get; set; } = [];

        [CommandOption("-k|--top <N>")]
        [Description("Songs per listener. Default 10.")]
        [DefaultValue(10)]
        public int K { get; set; } = 10;

        [CommandOption("--out <CSV>")]
        [Description("Where to write UserId,Rank,SongId,Score,BestWindowStartSeconds.")]
        public string? Out { get; set; }

        public override ValidationResult Validate() =>
            Model is null ? ValidationResult.Error("--model is required.")
            : Users.Length == 0 ? ValidationResult.Error("give at least one --user.")
            : K < 1 ? ValidationResult.Error("--k must be at least 1.")
            : Out is null ? ValidationResult.Error("--out is required.")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(seed: 1);
        var (userKeys, songNames, model) = Recommender.Load(ml, settings.Model!);
        using (model)
        {
            var rows = new List<object?[]>();
            foreach (string user in settings.Users)
            {
                cancellationToken.ThrowIfCancellationRequested();
                uint key = userKeys(user);
                if (key == 0)
                {
                    throw new CliInputException($"--user {user}: this listener has no plays in the model's training data.");
                }

                int rank = 1;
                foreach (var r in model.Recommend(key, settings.K))
                {
                    rows.Add([user, rank++, songNames[(int)r.SongKey - 1], r.Score, r.BestWindowStartSeconds]);
                }
            }

            Csv.Write(settings.Out!, "UserId,Rank,SongId,Score,BestWindowStartSeconds", rows);
            Ui.Info($"{rows.Count} recommendations for {settings.Users.Length} listeners in {Path.GetFullPath(settings.Out!)}");
        }

        return Cli.Ok;
    }
}

/// <summary>A recommender file as 'train --plays' writes it: user keys, song keys, the multi-user audio model.</summary>
internal static class Recommender
{
    public static (Func<string, uint> UserKey, string[] SongNames, MultiUserAudioModel Model) Load(MLContext ml, string path)
    {
        var stages = Models.Flatten(Models.Load(ml, path)).ToList();
        var model = stages.OfType<MultiUserAudioModel>().SingleOrDefault()
            ?? throw new CliInputException($"{path}: this is not a recommender (train one with 'mlnet-audio train --plays').");
        if (stages.Count != 3)
        {
            throw new CliInputException($"{path}: a recommender file holds the user keys, the song keys and the model; this one has {stages.Count} stages.");
        }

        var users = stages[0];
        var songs = stages[1];
        var songView = songs.Transform(ml.Data.LoadFromEnumerable(new[] { new SongIdRow() }));
        var names = default(VBuffer<ReadOnlyMemory<char>>);
        songView.Schema["SongKey"].GetKeyValues(ref names);
        string[] songNames = [.. names.DenseValues().Select(v => v.ToString())];
        uint UserKey(string id)
        {
            var view = users.Transform(ml.Data.LoadFromEnumerable(new[] { new UserIdRow { UserId = id } }));
            return view.GetColumn<uint>("UserKey").Single();
        }

        return (UserKey, songNames, model);
    }

    private sealed class SongIdRow
    {
        public string SongId { get; set; } = string.Empty;
    }

    private sealed class UserIdRow
    {
        public string UserId { get; set; } = string.Empty;
    }
}
