using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Tests.Features;

/// <summary>Hand-built data views in the shape LoadAudio produces: column X of mono samples annotated with SampleRate.</summary>
internal static class SongData
{
    public sealed class Row
    {
        public float[] X { get; set; } = [];
    }

    public sealed class RowWithError
    {
        public float[] X { get; set; } = [];

        [ColumnName("X.Error")]
        public string Error { get; set; } = string.Empty;
    }

    public static IDataView Load(MLContext ml, int? sampleRate, params float[][] songs)
    {
        var def = SchemaDefinition.Create(typeof(Row));
        def["X"].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        if (sampleRate is int sr)
        {
            def["X"].AddAnnotation("SampleRate", sr, NumberDataViewType.Int32);
        }

        return ml.Data.LoadFromEnumerable(songs.Select(s => new Row { X = s }).ToList(), def);
    }

    public static IDataView LoadWithErrors(MLContext ml, int sampleRate, params (float[] Samples, string Error)[] songs)
    {
        var def = SchemaDefinition.Create(typeof(RowWithError));
        def["X"].ColumnType = new VectorDataViewType(NumberDataViewType.Single);
        def["X"].AddAnnotation("SampleRate", sampleRate, NumberDataViewType.Int32);
        return ml.Data.LoadFromEnumerable(songs.Select(s => new RowWithError { X = s.Samples, Error = s.Error }).ToList(), def);
    }

    /// <summary>A deterministic song: a few partials whose pitch and loudness drift, plus faint noise.</summary>
    public static float[] Tone(int sampleRate, double seconds, double baseHz = 220, int seed = 1)
    {
        int n = (int)Math.Round(seconds * sampleRate);
        var x = new float[n];
        var rng = new Random(seed);
        for (int i = 0; i < n; i++)
        {
            double t = (double)i / sampleRate;
            double f = baseHz * (1 + (0.3 * Math.Sin(2 * Math.PI * 0.21 * t)));
            double env = 0.6 + (0.4 * Math.Sin(2 * Math.PI * 0.7 * t * seed));
            double v = (Math.Sin(2 * Math.PI * f * t) + (0.5 * Math.Sin(2 * Math.PI * 2.5 * f * t)) + (0.02 * (rng.NextDouble() - 0.5))) * env;
            x[i] = (float)(0.4 * v);
        }

        return x;
    }

    public static List<float[]> Read(IDataView view, string column)
    {
        var col = view.Schema[column];
        var result = new List<float[]>();
        using var cursor = view.GetRowCursor([col]);
        var getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            result.Add(buffer.DenseValues().ToArray());
        }

        return result;
    }
}
