using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Tests.Scoring;

/// <summary>One song for the hand-built data views: its windows (flattened [window, frame, coefficient]), label and length.</summary>
internal sealed record Song(float[] Windows, bool Label, double Duration = 0);

/// <summary>
/// An in-memory IDataView shaped like MfccSegmenter's output (the input contract of the scorer), built by hand so
/// these tests do not depend on the audio front end.
/// </summary>
internal sealed class WindowData : IDataView
{
    private readonly IReadOnlyList<Song> _songs;
    private readonly bool _floatLabel;

    public WindowData(
        IReadOnlyList<Song> songs,
        int frames,
        int coefficients,
        double framesPerSecond = 50,
        double? windowSeconds = null,
        double? hopSeconds = null,
        bool floatLabel = false,
        bool dimensionsInType = true,
        string windowColumn = "Windows")
    {
        _songs = songs;
        _floatLabel = floatLabel;
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add("FramesPerWindow", NumberDataViewType.Int32, (ref int v) => v = frames);
        annotations.Add("Coefficients", NumberDataViewType.Int32, (ref int v) => v = coefficients);
        annotations.Add("FramesPerSecond", NumberDataViewType.Double, (ref double v) => v = framesPerSecond);
        annotations.Add("WindowSeconds", NumberDataViewType.Double, (ref double v) => v = windowSeconds ?? frames / framesPerSecond);
        if (hopSeconds is double hop)
        {
            annotations.Add("WindowHopSeconds", NumberDataViewType.Double, (ref double v) => v = hop);
        }

        annotations.Add("FeatureKind", TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = "Mfcc".AsMemory());
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(windowColumn, dimensionsInType
            ? new VectorDataViewType(NumberDataViewType.Single, 0, frames, coefficients)
            : new VectorDataViewType(NumberDataViewType.Single), annotations.ToAnnotations());
        builder.AddColumn("Label", floatLabel ? NumberDataViewType.Single : BooleanDataViewType.Instance);
        builder.AddColumn("Duration", NumberDataViewType.Double);
        Schema = builder.ToSchema();
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _songs.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(this)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly WindowData _data;
        private int _row = -1;

        public Cursor(WindowData data) => _data = data;

        public override long Position => _row;

        public override long Batch => 0;

        public override DataViewSchema Schema => _data.Schema;

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext() => ++_row < _data._songs.Count;

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId v) => v = new DataViewRowId((ulong)_row, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            Delegate getter = column.Index switch
            {
                0 => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) => v = new VBuffer<float>(_data._songs[_row].Windows.Length, _data._songs[_row].Windows)),
                1 when _data._floatLabel => (ValueGetter<float>)((ref float v) => v = _data._songs[_row].Label ? 1 : 0),
                1 => (ValueGetter<bool>)((ref bool v) => v = _data._songs[_row].Label),
                _ => (ValueGetter<double>)((ref double v) => v = _data._songs[_row].Duration),
            };
            return (ValueGetter<TValue>)getter;
        }
    }
}

/// <summary>Synthetic MFCC-like songs: two "sounds" (bursts with distinct coefficient patterns) in one order or the other.</summary>
internal static class OrderTask
{
    public const int Frames = 64;
    public const int Coefficients = 4;

    /// <summary>A window with sound A then B (label true) or B then A, at random times, in noise.</summary>
    public static float[] Window(Random rng, bool aFirst, bool shuffleTime = false)
    {
        var w = new float[Frames * Coefficients];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() - 0.5) * 0.3f;
        }

        const int burst = 6;
        int first = rng.Next(0, 20);
        int second = rng.Next(first + burst + 4, Frames - burst);
        Burst(w, aFirst ? 0 : 1, first, burst);
        Burst(w, aFirst ? 1 : 0, second, burst);
        if (shuffleTime)
        {
            var order = Enumerable.Range(0, Frames).OrderBy(_ => rng.Next()).ToArray();
            var copy = (float[])w.Clone();
            for (int t = 0; t < Frames; t++)
            {
                Array.Copy(copy, order[t] * Coefficients, w, t * Coefficients, Coefficients);
            }
        }

        return w;
    }

    public static List<Song> Songs(int count, int seed, bool shuffleTime = false)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i => new Song(Window(rng, i % 2 == 0, shuffleTime), i % 2 == 0)).ToList();
    }

    // Sound A lights coefficients 0 and 2, sound B 1 and 3: same energy, different "timbre".
    private static void Burst(float[] w, int sound, int start, int length)
    {
        for (int t = start; t < start + length; t++)
        {
            for (int c = sound; c < Coefficients; c += 2)
            {
                w[(t * Coefficients) + c] += 2f;
            }
        }
    }
}
