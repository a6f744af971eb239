using System.Diagnostics;

namespace MLNetAudio.Tests;

/// <summary>Starts a built .NET tool or sample (its .dll) as a process, as a user would, with its output captured.</summary>
internal static class ToolProcess
{
    /// <summary>
    /// Starts <c>dotnet <paramref name="dll"/> <paramref name="args"/></c> in <paramref name="workingDirectory"/>, with
    /// libtorch's OpenMP threads told not to spin-wait (ENVIRONMENT.md, pitfall 3); read the two streams' tasks after it exits.
    /// </summary>
    public static (Process Process, Task<string> Stdout, Task<string> Stderr) Start(string dll, string workingDirectory, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        var process = Process.Start(start)!;
        return (process, process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
    }

    /// <summary>
    /// The .dll of a project built beside this test run (same configuration), e.g. <c>src/MLNetAudio.Cli</c> and
    /// <c>mlnet-audio</c>; the test project references each such project, so it is built first.
    /// </summary>
    public static string BuiltDll(string projectFolder, string assemblyName)
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0/
        string path = Path.Combine(TestRepository.Root, projectFolder, "bin", configuration, "net10.0", assemblyName + ".dll");
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} was not built; build the solution ({configuration}) first.");
    }
}
