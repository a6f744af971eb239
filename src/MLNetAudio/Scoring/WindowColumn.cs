using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Scoring;

/// <summary>
/// What a window column (MfccSegmenter's output) says about itself: a variable-length Single vector, flattened
/// row-major <c>[window, frame, coefficient]</c>, with its shape and timing in the type's dimensions and annotations.
/// </summary>
internal sealed record WindowColumn(
    int FramesPerWindow,
    int Coefficients,
    double? FramesPerSecond,
    double? WindowSeconds,
    double? WindowHopSeconds)
{
    /// <summary>Annotation names the segmenter writes (defined once, in <see cref="Features.WindowColumns"/>).</summary>
    internal const string FramesPerWindowKind = Features.WindowColumns.FramesPerWindowAnnotation;
    internal const string CoefficientsKind = Features.WindowColumns.CoefficientsAnnotation;
    internal const string FramesPerSecondKind = Features.WindowColumns.FramesPerSecondAnnotation;
    internal const string WindowSecondsKind = Features.WindowColumns.WindowSecondsAnnotation;
    internal const string WindowHopSecondsKind = Features.WindowColumns.WindowHopSecondsAnnotation;

    /// <summary>Values in one window.</summary>
    public int WindowSize => FramesPerWindow * Coefficients;

    /// <summary>The hop between windows in frames, when the annotations give it as a whole number of frames.</summary>
    public int? HopFrames
    {
        get
        {
            if (FramesPerSecond is not double fps || WindowHopSeconds is not double hop)
            {
                return null;
            }

            double frames = fps * hop;
            long rounded = (long)Math.Round(frames);
            return rounded >= 1 && rounded <= int.MaxValue && Math.Abs(frames - rounded) < 1e-6 * Math.Max(1, frames) ? (int)rounded : null;
        }
    }

    /// <summary>Reads and checks the column; throws naming it and saying what was expected.</summary>
    public static WindowColumn Read(DataViewSchema schema, string name)
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentException(
                $"Window column '{name}' was not found. The data has: {string.Join(", ", schema.Select(c => $"'{c.Name}'"))}. "
                + "Produce it with ml.Transforms.SegmentMfcc or set FeatureColumnName.",
                nameof(schema));
        if (column.Type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException(
                $"Window column '{name}' must be a vector of Single ([windows x frames x coefficients], flattened); found {column.Type}.",
                nameof(schema));
        }

        int frames = 0, coefficients = 0;
        var dims = vector.Dimensions;
        if (dims.Length == 3 && dims[1] > 0 && dims[2] > 0)
        {
            frames = dims[1];
            coefficients = dims[2];
        }

        var annotations = column.Annotations;
        frames = frames > 0 ? frames : GetInt(annotations, FramesPerWindowKind) ?? 0;
        coefficients = coefficients > 0 ? coefficients : GetInt(annotations, CoefficientsKind) ?? 0;
        if (frames <= 0 || coefficients <= 0)
        {
            throw new ArgumentException(
                $"Window column '{name}' does not say its window shape: give its type the dimensions [0, frames, coefficients] "
                + $"or the Int32 annotations '{FramesPerWindowKind}' and '{CoefficientsKind}' (ml.Transforms.SegmentMfcc does both).",
                nameof(schema));
        }

        return new WindowColumn(
            frames,
            coefficients,
            GetDouble(annotations, FramesPerSecondKind),
            GetDouble(annotations, WindowSecondsKind),
            GetDouble(annotations, WindowHopSecondsKind));
    }

    internal static int? GetInt(DataViewSchema.Annotations annotations, string kind)
    {
        var column = annotations.Schema.GetColumnOrNull(kind);
        if (column?.Type != NumberDataViewType.Int32)
        {
            return null;
        }

        int value = 0;
        annotations.GetValue(kind, ref value);
        return value;
    }

    internal static double? GetDouble(DataViewSchema.Annotations annotations, string kind)
    {
        var column = annotations.Schema.GetColumnOrNull(kind);
        if (column?.Type == NumberDataViewType.Double)
        {
            double value = 0;
            annotations.GetValue(kind, ref value);
            return value;
        }

        if (column?.Type == NumberDataViewType.Single)
        {
            float value = 0;
            annotations.GetValue(kind, ref value);
            return value;
        }

        return null;
    }

    /// <summary>The timing annotations (<c>FramesPerSecond</c>, <c>WindowSeconds</c>, <c>WindowHopSeconds</c>) that are known.</summary>
    public DataViewSchema.Annotations TimingAnnotations()
    {
        var builder = new DataViewSchema.Annotations.Builder();
        Add(builder, FramesPerSecondKind, FramesPerSecond);
        Add(builder, WindowSecondsKind, WindowSeconds);
        Add(builder, WindowHopSecondsKind, WindowHopSeconds);
        return builder.ToAnnotations();

        static void Add(DataViewSchema.Annotations.Builder b, string kind, double? value)
        {
            if (value is double v)
            {
                b.Add(kind, NumberDataViewType.Double, (ref double dst) => dst = v);
            }
        }
    }

    /// <summary>
    /// Copies one row's windows into <paramref name="scratch"/> (grown when too short, never shrunk) and returns the
    /// window count; throws naming the column when the length does not divide.
    /// </summary>
    public int DenseInto(in VBuffer<float> value, string columnName, long row, ref float[] scratch)
    {
        int length = value.Length;
        if (length % WindowSize != 0)
        {
            throw new InvalidOperationException(
                $"Row {row}: window column '{columnName}' holds {length} values, not a whole number of {FramesPerWindow} x {Coefficients} windows.");
        }

        if (scratch.Length < length)
        {
            scratch = new float[length];
        }

        if (value.IsDense)
        {
            value.GetValues().CopyTo(scratch);
        }
        else
        {
            int i = 0;
            foreach (var v in value.DenseValues())
            {
                scratch[i++] = v;
            }
        }

        return length / WindowSize;
    }

    /// <summary>
    /// One row's windows as dense values: the vector's own values when it is dense (no copy: an hour of windows at a
    /// 1 s hop is 115 MB), else a new array. Throws naming the column when the length does not divide.
    /// </summary>
    public ReadOnlySpan<float> Dense(in VBuffer<float> value, string columnName, long row, out int windows)
    {
        int length = value.Length;
        if (length % WindowSize != 0)
        {
            throw new InvalidOperationException(
                $"Row {row}: window column '{columnName}' holds {length} values, not a whole number of {FramesPerWindow} x {Coefficients} windows.");
        }

        windows = length / WindowSize;
        if (value.IsDense)
        {
            return value.GetValues();
        }

        var dense = new float[length];
        int i = 0;
        foreach (var v in value.DenseValues())
        {
            dense[i++] = v;
        }

        return dense;
    }
}
