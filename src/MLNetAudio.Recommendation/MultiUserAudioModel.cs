using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetAudio.Data;
using MLNetAudio.Scoring;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetAudio.Recommendation;

/// <summary>
/// A fitted <see cref="MultiUserAudioTrainer"/>: the shared encoder, one vector per user, and every song's window
/// embeddings computed once, so that scoring every user against every song is one matrix product
/// (<see cref="ScoreUsers"/>). Recommends with reasons (<see cref="Explain"/>) and folds in new users with the encoder
/// frozen (<see cref="FoldInUser"/>).
/// </summary>
/// <remarks>
/// <para>
/// Saved by <c>ml.Audio().Model.Save</c> as stage format "MLNetAudio.MultiUserAudioModel". The file keeps every song's
/// window embeddings, not its MFCC windows: they are all that scoring, recommending, explaining and fold-in read, they
/// are about FramesPerWindow x Coefficients / EmbeddingSize times smaller (250 times at the defaults), and reading
/// them back, instead of re-running the encoder, keeps them exact whatever device or thread count loads the model (the
/// Score column is then bit-identical; it is computed on the CPU in .NET). A loaded model's <see cref="Songs"/> therefore keeps each song's window count and timing but no MFCC values
/// (<see cref="AudioSongWindows.HasWindowValues"/> is false). The encoder's weights are kept too (for inspection and
/// for embedding new audio with <see cref="Encoder"/>). The encoder computes on CUDA after loading only when the model
/// was trained with a <see cref="MultiUserAudioOptions.Device"/> other than <see cref="TorchDevice.Cpu"/> and a GPU is present.
/// </para>
/// <para>Payload (little-endian, encodings of <see cref="RecommenderPersistence"/>):</para>
/// <code>
/// version 1: options: string userColumn, string songColumn, string labelColumn, int32 embeddingSize, int32 channels,
///              int32 convolutionLayers, int32 convolutionForm, int32 epochs, int32 batchSize, double learningRate,
///              int32 negativesPerPlay, bool popularityMatchedNegatives, int32 windowsPerPair, int32 aggregation,
///              int32 seed, bool useGpuWhenAvailable
///            song windows: int32 sampleRate, double renderSeconds, double sectionSeconds, double windowSeconds,
///              double windowHopSeconds, int32 coefficients, double framesPerSecond, int32 seed, bool useCache,
///              int32 framesPerWindow, int[] windowCount (one per song)
///            training plays (play matrix), float[] users (users x embeddingSize), float bias,
///            float[] coefficientMean, float[] coefficientDeviation (coefficients each),
///            float[] windowEmbeddings (sum of window counts x embeddingSize, song by song, window by window),
///            the encoder's weights as a TorchModuleState block
/// version 2: as version 1, with double windowStatisticsWeight right after useGpuWhenAvailable (a version 1 file reads as 0)
/// version 3: as version 2, with int32 device (<see cref="TorchDevice"/>) in place of bool useGpuWhenAvailable (true
///            reads as Auto, false as Cpu); seed is the seed training used (drawn from the MLContext when not set)
/// </code>
/// <para>Not saved: <see cref="MultiUserAudioOptions.Progress"/> and the song windows' cache folder (a path of the
/// saving machine).</para>
/// </remarks>
public sealed class MultiUserAudioModel : RowMappingTransformer, IUserSongScorer, IDisposable, IPersistableAudioTransformer
{
    /// <summary>The score column appended to (user, song) rows.</summary>
    public const string ScoreColumnName = "Score";

    internal const string FormatName = "MLNetAudio.MultiUserAudioModel";
    internal const int CurrentVersion = 3;
    internal const int OldestReadableVersion = 1;

    private readonly MultiUserAudioOptions _options;
    private readonly PlayMatrix _training;
    private readonly float[] _users;
    private readonly float _bias;
    private readonly Device _device;
    private readonly float[][] _windowEmbeddings; // per song, [windows x EmbeddingSize] flattened
    private readonly Tensor _padded;              // [songs, maxWindows, size], zero where a song has fewer windows
    private readonly Tensor _mask;                // [songs, maxWindows], true for a real window
    private bool _disposed;

    internal MultiUserAudioModel(MultiUserAudioOptions options, AudioSongWindows songs, TimeConvNetwork encoder, PlayMatrix training, float[] users, float bias, Device device, float[] mean, float[] std)
        : this(options, songs, encoder, training, users, bias, device, mean, std, Embed(songs, encoder, device, mean, std))
    {
    }

    private MultiUserAudioModel(
        MultiUserAudioOptions options, AudioSongWindows songs, TimeConvNetwork encoder, PlayMatrix training, float[] users, float bias, Device device, float[] mean, float[] std, float[][] windowEmbeddings)
    {
        CoefficientMean = mean;
        CoefficientDeviation = std;
        _options = options;
        Songs = songs;
        Encoder = encoder;
        _training = training;
        _users = users;
        _bias = bias;
        _device = device;
        EmbeddingSize = options.EmbeddingSize;
        _windowEmbeddings = windowEmbeddings;

        int max = Enumerable.Range(0, songs.SongCount).Max(songs.WindowCount);
        var padded = new float[songs.SongCount * max * EmbeddingSize];
        var mask = new bool[songs.SongCount * max];
        for (int s = 0; s < songs.SongCount; s++)
        {
            _windowEmbeddings[s].CopyTo(padded, s * max * EmbeddingSize);
            for (int w = 0; w < songs.WindowCount(s); w++)
            {
                mask[(s * max) + w] = true;
            }
        }

        // tensor(float[]) wraps the pinned managed array, whose alignment varies from run to run, and libtorch's
        // vectorised reductions (fold-in's matrix-vector products) then round differently; a clone lives in libtorch's
        // aligned memory, so scores and fold-in are the same in every process, and after Load.
        using (var host = tensor(padded, [songs.SongCount, max, EmbeddingSize]))
        {
            _padded = host.clone().to(device);
        }

        _mask = tensor(mask, [songs.SongCount, max]).to(device);
    }

    // Every song's window embeddings through the frozen encoder, computed once.
    private static float[][] Embed(AudioSongWindows songs, TimeConvNetwork encoder, Device device, float[] mean, float[] std)
    {
        var embeddings = new float[songs.SongCount][];
        using (no_grad())
        {
            using var meanTensor = tensor(mean, device: device);
            using var stdTensor = tensor(std, device: device);
            for (int s = 0; s < songs.SongCount; s++)
            {
                using var scope = NewDisposeScope();
                int n = songs.WindowCount(s);
                var x = tensor(songs.Windows(s).ToArray(), [n, songs.FramesPerWindow, songs.Coefficients]).to(device).sub(meanTensor).div(stdTensor);
                embeddings[s] = encoder.Embedding(x).cpu().data<float>().ToArray();
            }
        }

        return embeddings;
    }

    string IPersistableAudioTransformer.FormatName => FormatName;

    int IPersistableAudioTransformer.FormatVersion => CurrentVersion;

    void IPersistableAudioTransformer.Save(BinaryWriter writer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var o = _options;
        writer.Write(o.MatrixColumnIndexColumnName);
        writer.Write(o.MatrixRowIndexColumnName);
        writer.Write(o.LabelColumnName);
        writer.Write(o.EmbeddingSize);
        writer.Write(o.Channels);
        writer.Write(o.ConvolutionLayers);
        writer.Write((int)o.ConvolutionForm);
        writer.Write(o.Epochs ?? -1);
        writer.Write(o.BatchSize);
        writer.Write(o.LearningRate);
        writer.Write(o.NegativesPerPlay);
        writer.Write(o.PopularityMatchedNegatives);
        writer.Write(o.WindowsPerPair);
        writer.Write((int)o.Aggregation);
        writer.Write(Seed);
        writer.Write((int)o.Device);
        writer.Write(o.WindowStatisticsWeight);

        var w = Songs.Options;
        writer.Write(w.SampleRate);
        writer.Write(w.RenderSeconds);
        writer.Write(w.SectionSeconds);
        writer.Write(w.WindowSeconds);
        writer.Write(w.WindowHopSeconds);
        writer.Write(w.Coefficients);
        writer.Write(w.FramesPerSecond);
        writer.Write(w.Seed);
        writer.Write(w.UseCache);
        writer.Write(Songs.FramesPerWindow);
        RecommenderPersistence.WriteInts(writer, Enumerable.Range(0, SongCount).Select(Songs.WindowCount).ToArray());

        RecommenderPersistence.WritePlays(writer, _training);
        RecommenderPersistence.WriteFloats(writer, _users);
        writer.Write(_bias);
        RecommenderPersistence.WriteFloats(writer, CoefficientMean.ToArray());
        RecommenderPersistence.WriteFloats(writer, CoefficientDeviation.ToArray());
        RecommenderPersistence.WriteFloats(writer, _windowEmbeddings.SelectMany(e => e).ToArray());
        TorchModuleState.Write(writer, Encoder);
    }

    /// <summary>Rebuilds a model from the payload written by <see cref="IPersistableAudioTransformer.Save"/>.</summary>
    internal static MultiUserAudioModel Load(AudioStageReader stage)
    {
        var r = stage.Reader;
        var options = new MultiUserAudioOptions
        {
            MatrixColumnIndexColumnName = r.ReadString(),
            MatrixRowIndexColumnName = r.ReadString(),
            LabelColumnName = r.ReadString(),
            EmbeddingSize = r.ReadInt32(),
            Channels = r.ReadInt32(),
            ConvolutionLayers = r.ReadInt32(),
            ConvolutionForm = (ConvolutionForm)r.ReadInt32(),
            Epochs = r.ReadInt32() is int epochs and >= 0 ? epochs : null,
            BatchSize = r.ReadInt32(),
            LearningRate = r.ReadDouble(),
            NegativesPerPlay = r.ReadInt32(),
            PopularityMatchedNegatives = r.ReadBoolean(),
            WindowsPerPair = r.ReadInt32(),
            Aggregation = (AudioSongAggregation)r.ReadInt32(),
            Seed = r.ReadInt32(),
        };

        // Version 3 stores the device option; versions 1 and 2 stored UseGpuWhenAvailable (true: Auto, false: Cpu).
        options.Device = stage.Version >= 3 ? (TorchDevice)r.ReadInt32() : r.ReadBoolean() ? TorchDevice.Auto : TorchDevice.Cpu;

        // Version 1 files were trained before the auxiliary loss existed.
        options.WindowStatisticsWeight = stage.Version >= 2 ? r.ReadDouble() : 0;
        options.Validate();
        var songOptions = new AudioSongOptions
        {
            SampleRate = r.ReadInt32(),
            RenderSeconds = r.ReadDouble(),
            SectionSeconds = r.ReadDouble(),
            WindowSeconds = r.ReadDouble(),
            WindowHopSeconds = r.ReadDouble(),
            Coefficients = r.ReadInt32(),
            FramesPerSecond = r.ReadDouble(),
            Seed = r.ReadInt32(),
            UseCache = r.ReadBoolean(),
        };
        songOptions.Validate();
        int frames = r.ReadInt32();
        var counts = RecommenderPersistence.ReadInts(r, "the songs' window counts");
        var training = RecommenderPersistence.ReadPlays(r);
        int e = options.EmbeddingSize;
        int c = songOptions.Coefficients;
        if (counts.Length != training.SongCount || counts.Any(n => n < 0) || frames != (int)Math.Round(songOptions.WindowSeconds * songOptions.FramesPerSecond))
        {
            throw new InvalidDataException(
                $"its catalog does not add up: {counts.Length} window counts for {training.SongCount} songs, {frames} frames per window for "
                + $"{songOptions.WindowSeconds} s windows at {songOptions.FramesPerSecond} frames per second");
        }

        var users = RecommenderPersistence.ReadFloats(r, "the user vectors", (long)training.UserCount * e);
        float bias = r.ReadSingle();
        var mean = RecommenderPersistence.ReadFloats(r, "the coefficient means", c);
        var std = RecommenderPersistence.ReadFloats(r, "the coefficient deviations", c);
        var flat = RecommenderPersistence.ReadFloats(r, "the window embeddings", counts.Sum(n => (long)n) * e);
        if (!float.IsFinite(bias) || users.Any(v => !float.IsFinite(v)) || flat.Any(v => !float.IsFinite(v)) || std.Any(v => !(v > 0)))
        {
            throw new InvalidDataException("a user vector, the bias, a window embedding or a coefficient deviation is not a valid number");
        }

        var embeddings = new float[counts.Length][];
        int at = 0;
        for (int s = 0; s < counts.Length; s++)
        {
            embeddings[s] = flat.AsSpan(at, counts[s] * e).ToArray();
            at += counts[s] * e;
        }

        var settings = new TimeConvNetworkSettings(frames, c, options.ConvolutionForm, NetworkHead.Lstm, options.ConvolutionLayers, options.Channels, e);
        long left = r.BaseStream.Length - r.BaseStream.Position;
        if (TimeConvLstmScorer.ParameterCount(settings) * sizeof(float) > left)
        {
            throw new InvalidDataException($"the encoder's settings need {TimeConvLstmScorer.ParameterCount(settings)} weights but only {left} bytes remain");
        }

        // Building the network draws initial weights from libtorch's global generator; put its state back so that
        // loading a model does not change what a later seeded run in this process computes.
        TimeConvNetwork encoder;
        using (var rngState = torch.random.get_rng_state())
        {
            encoder = new TimeConvNetwork(settings);
            torch.random.set_rng_state(rngState);
        }

        try
        {
            TorchModuleState.Read(r, encoder);
            // A model trained on CUDA loads on a machine without one: Cuda falls back as Auto does.
            var device = TorchDevices.Resolve(options.Device == TorchDevice.Cpu ? TorchDevice.Cpu : TorchDevice.Auto, "MultiUserAudioOptions.Device");
            encoder.to(device);
            encoder.eval();
            var songs = AudioSongWindows.LayoutOnly(counts, frames, c, songOptions);
            return new MultiUserAudioModel(options, songs, encoder, training, users, bias, device, mean, std, embeddings);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    /// <summary>Per-coefficient mean subtracted from the windows before the encoder (learned from songs with training plays).</summary>
    public IReadOnlyList<float> CoefficientMean { get; }

    /// <summary>Per-coefficient deviation the windows are divided by before the encoder.</summary>
    public IReadOnlyList<float> CoefficientDeviation { get; }

    /// <summary>
    /// The shared encoder (frozen after training). Its weights live on <see cref="ComputeDevice"/>: tensors passed to it
    /// must be there too (<c>tensor(..., device: model.ComputeDevice)</c>).
    /// </summary>
    public TimeConvNetwork Encoder { get; }

    /// <summary>
    /// Where this model computes: CUDA when it was trained with a <see cref="MultiUserAudioOptions.Device"/> other than
    /// <see cref="TorchDevice.Cpu"/> and a GPU is present (also after loading), else the CPU.
    /// </summary>
    public Device ComputeDevice => _device;

    /// <summary>The songs' windows the model scores.</summary>
    public AudioSongWindows Songs { get; }

    /// <summary>Size of window embeddings and user vectors.</summary>
    public int EmbeddingSize { get; }

    /// <summary>How window preferences make a song's score.</summary>
    public AudioSongAggregation Aggregation => _options.Aggregation;

    /// <summary>The seed training used: <see cref="MultiUserAudioOptions.Seed"/>, or the one drawn from the MLContext when it was null.</summary>
    public int Seed => _options.Seed ?? 0;

    /// <summary>The passes over the plays that training made (the automatic count when the options left it null).</summary>
    public int Epochs => _options.Epochs ?? 0;

    /// <summary>The user key column (ML.NET's MatrixColumnIndexColumnName).</summary>
    public string UserColumnName => _options.MatrixColumnIndexColumnName;

    /// <summary>The song key column (ML.NET's MatrixRowIndexColumnName).</summary>
    public string SongColumnName => _options.MatrixRowIndexColumnName;

    /// <inheritdoc/>
    public int UserCount => _training.UserCount;

    /// <inheritdoc/>
    public int SongCount => Songs.SongCount;

    /// <summary>The learned vector of a user (1-based key).</summary>
    public float[] GetUserVector(uint userKey) => _users.AsSpan(UserIndex(userKey) * EmbeddingSize, EmbeddingSize).ToArray();

    /// <summary>A song's embedding: the mean of its window embeddings (for diversity, similar-song search and factor regression).</summary>
    public float[] GetSongEmbedding(uint songKey)
    {
        int s = SongIndex(songKey);
        var result = new float[EmbeddingSize];
        int n = Songs.WindowCount(s);
        for (int w = 0; w < n; w++)
        {
            for (int d = 0; d < EmbeddingSize; d++)
            {
                result[d] += _windowEmbeddings[s][(w * EmbeddingSize) + d] / n;
            }
        }

        return result;
    }

    /// <summary>
    /// Scores users against every song: one matrix product of the users' vectors with all window embeddings, a
    /// sigmoid, and the aggregation over each song's windows. Cold songs are scored like any other.
    /// </summary>
    public void ScoreUsers(int firstUser, int userCount, Span<float> destination)
    {
        UserSongBlocks.Check(this, firstUser, userCount, destination.Length);

        var vectors = _users.AsSpan(firstUser * EmbeddingSize, userCount * EmbeddingSize).ToArray();
        ScoreVectors(vectors, userCount).AsSpan().CopyTo(destination);
    }

    /// <summary>The score of one (user, song) pair computed on its own, window by window (what the matrix product must equal).</summary>
    public float ScorePair(uint userKey, uint songKey) =>
        Aggregate(Timeline(_users.AsSpan(UserIndex(userKey) * EmbeddingSize, EmbeddingSize), SongIndex(songKey)));

    /// <summary>Why <paramref name="songKey"/> scores as it does for <paramref name="userKey"/>: the best window and the timeline.</summary>
    public AudioRecommendationReason Explain(uint userKey, uint songKey) =>
        Reason(_users.AsSpan(UserIndex(userKey) * EmbeddingSize, EmbeddingSize), SongIndex(songKey));

    /// <summary>
    /// The <paramref name="k"/> best songs of the whole catalog (cold songs included) for a user, each with its reason;
    /// songs the user played in training are left out unless <paramref name="excludeAlreadyPlayed"/> is false.
    /// </summary>
    public IReadOnlyList<AudioRecommendationReason> Recommend(uint userKey, int k = 10, bool excludeAlreadyPlayed = true)
    {
        int u = UserIndex(userKey);
        var exclude = excludeAlreadyPlayed ? _training.SongsOf(u).ToArray() : [];
        return RecommendFor(_users.AsSpan(u * EmbeddingSize, EmbeddingSize).ToArray(), exclude, k);
    }

    /// <summary>
    /// Fold-in: a vector for a new user who played <paramref name="playedSongKeys"/>, solved with the encoder frozen
    /// (logistic regression of the played songs against the rest of the catalog on the stored window embeddings,
    /// with the training's soft maximum over windows and a small L2 penalty). No retraining of the encoder.
    /// </summary>
    /// <param name="playedSongKeys">Songs the new user played (1-based keys); at least one.</param>
    /// <param name="steps">Adam steps. Default 300.</param>
    /// <exception cref="ArgumentException">No song given, or a key outside the catalog.</exception>
    public float[] FoldInUser(IEnumerable<uint> playedSongKeys, int steps = 300)
    {
        ArgumentNullException.ThrowIfNull(playedSongKeys);
        var played = playedSongKeys.Select(SongIndex).Distinct().ToArray();
        if (played.Length == 0)
        {
            throw new ArgumentException("A new user needs at least one played song to fold in.", nameof(playedSongKeys));
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        var labels = new float[SongCount];
        foreach (int s in played)
        {
            labels[s] = 1;
        }

        var y = tensor(labels, device: _device);
        // Balance the classes: the few played songs weigh as much as the whole rest of the catalog.
        var weight = where(y > TorchScalars.HalfSingle, tensor(0.5f / played.Length, device: _device), tensor(0.5f / Math.Max(1, SongCount - played.Length), device: _device));
        var user = nn.Parameter(zeros(EmbeddingSize, device: _device));
        using var optimizer = new RootedAdam([user], 0.05);
        var windowsPerSong = _mask.sum(1).to(float32).log();

        // Explicit Scalars kept alive through the calls (see SongRecommenderModel.MaskedScores for why).
        using var negativeInfinity = float.NegativeInfinity.ToScalar();
        using var bias = _bias.ToScalar();
        for (int i = 0; i < steps; i++)
        {
            using var step = NewDisposeScope();
            var logits = _padded.matmul(user).add(bias, TorchScalars.One).masked_fill(_mask.logical_not(), negativeInfinity);
            var songLogit = logits.logsumexp(1) - windowsPerSong;
            var loss = (F.binary_cross_entropy_with_logits(songLogit, y, reduction: nn.Reduction.None) * weight).sum().add(user.pow(TorchScalars.Two).sum().mul(TorchScalars.OneThousandthSingle), TorchScalars.One);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }

        var vector = user.detach().cpu().data<float>().ToArray();
        int bad = Array.FindIndex(vector, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw new NonFiniteTrainingException("MultiUserAudio fold-in", null, null, "fold-in user vector", vector[bad],
                $"Component {bad} of the new user's vector after {steps} steps; the model's song windows or bias may hold non-finite values.");
        }

        return vector;
    }

    /// <summary>Fold-in and recommend: the top <paramref name="k"/> songs with reasons for a new user (played songs left out).</summary>
    public IReadOnlyList<AudioRecommendationReason> RecommendForPlays(IEnumerable<uint> playedSongKeys, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(playedSongKeys);
        var keys = playedSongKeys.ToArray();
        var vector = FoldInUser(keys);
        return RecommendFor(vector, keys.Select(SongIndex).ToArray(), k);
    }

    /// <summary>Scores a user vector (from <see cref="FoldInUser"/>) against every song.</summary>
    public float[] ScoreVector(float[] userVector)
    {
        ArgumentNullException.ThrowIfNull(userVector);
        if (userVector.Length != EmbeddingSize)
        {
            throw new ArgumentException($"A user vector has {EmbeddingSize} values; got {userVector.Length}.", nameof(userVector));
        }

        return ScoreVectors(userVector, 1);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _padded.Dispose();
            _mask.Dispose();
            Encoder.Dispose();
        }
    }

    private float[] ScoreVectors(float[] vectors, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var u = tensor(vectors, [count, EmbeddingSize]).clone().to(_device); // aligned copy: see the constructor
        int songs = SongCount;
        long max = _padded.shape[1];
        // [count, songs * max]: every user against every window, one product.
        using var bias = _bias.ToScalar();
        var logits = u.matmul(_padded.reshape(songs * max, EmbeddingSize).t()).add(bias, TorchScalars.One).reshape(count, songs, max);
        var probabilities = logits.sigmoid();
        var mask = _mask.unsqueeze(0);
        using var fill = (_options.Aggregation == AudioSongAggregation.Max ? -1f : 0f).ToScalar();
        Tensor scores = _options.Aggregation == AudioSongAggregation.Max
            ? probabilities.masked_fill(mask.logical_not(), fill).amax([2])
            : probabilities.masked_fill(mask.logical_not(), fill).sum(2) / _mask.sum(1).to(float32).unsqueeze(0);
        return scores.cpu().data<float>().ToArray();
    }

    private AudioRecommendationReason[] RecommendFor(float[] vector, int[] exclude, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var scores = TopKMetrics.ExcludeAlreadyPlayed(ScoreVectors(vector, 1), exclude);
        return TopKMetrics.TopK(scores, Math.Min(k, SongCount))
            .Where(s => !float.IsNegativeInfinity(scores[s]))
            .Select(s => Reason(vector, s)).ToArray();
    }

    private float[] Timeline(ReadOnlySpan<float> user, int song)
    {
        int n = Songs.WindowCount(song);
        var timeline = new float[n];
        var e = _windowEmbeddings[song];
        for (int w = 0; w < n; w++)
        {
            double dot = _bias;
            for (int d = 0; d < EmbeddingSize; d++)
            {
                dot += user[d] * e[(w * EmbeddingSize) + d];
            }

            timeline[w] = (float)(1 / (1 + Math.Exp(-dot)));
        }

        return timeline;
    }

    private float Aggregate(float[] timeline) =>
        _options.Aggregation == AudioSongAggregation.Max ? timeline.Max() : timeline.Average();

    private AudioRecommendationReason Reason(ReadOnlySpan<float> user, int song)
    {
        var timeline = Timeline(user, song);
        int best = 0;
        for (int w = 1; w < timeline.Length; w++)
        {
            if (timeline[w] > timeline[best])
            {
                best = w;
            }
        }

        return new AudioRecommendationReason((uint)song + 1, Aggregate(timeline), Songs.WindowStartSeconds(best), Songs.Options.WindowSeconds, Songs.Options.WindowHopSeconds, timeline);
    }

    private int UserIndex(uint userKey) =>
        userKey >= 1 && userKey <= UserCount
            ? (int)userKey - 1
            : throw new ArgumentOutOfRangeException(nameof(userKey), userKey, $"User keys run from 1 to {UserCount}; fold in a new user with FoldInUser.");

    private int SongIndex(uint songKey) =>
        songKey >= 1 && songKey <= SongCount
            ? (int)songKey - 1
            : throw new ArgumentOutOfRangeException(nameof(songKey), songKey, $"Song keys run from 1 to {SongCount}.");

    private protected override SchemaBinding Bind(DataViewSchema inputSchema) =>
        // A missing key scores 0, never NaN, so a downstream ranker needs no special case.
        UserSongScoreBinding.Create(inputSchema, _options.MatrixColumnIndexColumnName, _options.MatrixRowIndexColumnName, UserCount, SongCount, (u, s) => u == 0 || s == 0 ? 0f : ScorePair(u, s));
}
