using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetAudio.Features;

/// <summary>
/// Where a window column's windows lie in their songs, the one description every stage reads: frames per window,
/// coefficients per frame, frames per second and the hop between window starts in frames. <c>SegmentMfcc</c> writes
/// it as annotations of its output column (<see cref="WindowColumns"/>); the scorer, the
/// aggregator and the recommenders read it through <see cref="FromColumn"/> and never convert between seconds and
/// frames on their own, and a stage given windows of another layout than it was made for fails naming both.
/// </summary>
public sealed record WindowLayout
{
    /// <summary>Creates a layout.</summary>
    /// <param name="framesPerWindow">Frames in one window.</param>
    /// <param name="coefficients">Values per frame.</param>
    /// <param name="framesPerSecond">Feature frames per second of audio (sample rate / hop length).</param>
    /// <param name="hopFrames">Frames between window starts; may be fractional (each start is rounded to a frame).</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is not positive and finite.</exception>
    public WindowLayout(int framesPerWindow, int coefficients, double framesPerSecond, double hopFrames)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(framesPerWindow);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(coefficients);
        if (!(framesPerSecond > 0 && double.IsFinite(framesPerSecond)))
        {
            throw new ArgumentOutOfRangeException(nameof(framesPerSecond), framesPerSecond, "Frames per second must be positive and finite.");
        }

        if (!(hopFrames > 0 && double.IsFinite(hopFrames)))
        {
            throw new ArgumentOutOfRangeException(nameof(hopFrames), hopFrames, "The hop must be a positive, finite number of frames.");
        }

        FramesPerWindow = framesPerWindow;
        Coefficients = coefficients;
        FramesPerSecond = framesPerSecond;
        HopFrames = hopFrames;
    }

    /// <summary>Frames in one window.</summary>
    public int FramesPerWindow { get; }

    /// <summary>Values per frame (MFCC coefficients, mel bands or spectrogram bins).</summary>
    public int Coefficients { get; }

    /// <summary>Feature frames per second of audio.</summary>
    public double FramesPerSecond { get; }

    /// <summary>Frames between window starts (may be fractional; <see cref="WindowStartFrame"/> rounds each start).</summary>
    public double HopFrames { get; }

    /// <summary>Values in one window: <see cref="FramesPerWindow"/> x <see cref="Coefficients"/>.</summary>
    public int WindowSize => FramesPerWindow * Coefficients;

    /// <summary>A window's length in seconds.</summary>
    public double WindowSeconds => FramesPerWindow / FramesPerSecond;

    /// <summary>Seconds between window starts.</summary>
    public double HopSeconds => HopFrames / FramesPerSecond;

    /// <summary>The hop as a whole number of frames, or null when it is fractional.</summary>
    public int? WholeHopFrames
    {
        get
        {
            double rounded = Math.Round(HopFrames);
            return Math.Abs(HopFrames - rounded) < 1e-6 * Math.Max(1, HopFrames) && rounded <= int.MaxValue ? (int)rounded : null;
        }
    }

    /// <summary>The first frame of window <paramref name="window"/> (0-based), as the segmenter cuts it.</summary>
    public int WindowStartFrame(int window) => (int)Math.Round(window * HopFrames);

    /// <summary>The start time in seconds of window <paramref name="window"/> (0-based).</summary>
    public double WindowStartSeconds(int window) => WindowStartFrame(window) / FramesPerSecond;

    /// <summary>
    /// Reads the layout of a window column from its type and annotations (as <c>SegmentMfcc</c> writes them).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The column is not a vector of Single or lacks an annotation the layout needs; the message names the column and
    /// what is missing.
    /// </exception>
    public static WindowLayout FromColumn(DataViewSchema.Column column) =>
        Read(column, out string? missing) ?? throw new ArgumentException(
            $"Window column '{column.Name}' does not say {missing}: produce it with ml.Transforms.SegmentMfcc, which writes the "
            + $"annotations '{WindowColumns.FramesPerWindowAnnotation}', '{WindowColumns.CoefficientsAnnotation}', "
            + $"'{WindowColumns.FramesPerSecondAnnotation}' and '{WindowColumns.HopFramesAnnotation}'.",
            nameof(column));

    /// <summary>The layout of a window column, or null when its annotations do not give one (see <see cref="FromColumn"/>).</summary>
    public static WindowLayout? TryFromColumn(DataViewSchema.Column column) => Read(column, out _);

    /// <summary>
    /// True when <paramref name="other"/> cuts windows the same way: the same frames per window and coefficients, and
    /// the same frames per second and hop up to rounding.
    /// </summary>
    public bool SameAs(WindowLayout other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return FramesPerWindow == other.FramesPerWindow
            && Coefficients == other.Coefficients
            && Math.Abs(FramesPerSecond - other.FramesPerSecond) <= 1e-9 * FramesPerSecond
            && Math.Abs(HopFrames - other.HopFrames) <= 1e-6 * HopFrames;
    }

    /// <summary>
    /// Throws when this layout, that of <paramref name="stage"/>'s input, differs from <paramref name="expected"/>, the
    /// layout <paramref name="expectedStage"/> was made for; the message names both stages and both layouts.
    /// </summary>
    /// <exception cref="ArgumentException">The layouts differ.</exception>
    public void EnsureSameAs(WindowLayout expected, string stage, string expectedStage)
    {
        ArgumentNullException.ThrowIfNull(expected);
        if (!SameAs(expected))
        {
            throw new ArgumentException(
                $"{stage} has windows of {this}, but {expectedStage} was made for windows of {expected}. "
                + "Segment with the same MfccSegmenterOptions (sample rate, hop length or frames per second, window and hop seconds, coefficients) as for training.");
        }
    }

    /// <summary>For example "400 frames x 20 coefficients at 50 frames/s (8 s windows every 1 s)".</summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{FramesPerWindow} frames x {Coefficients} coefficients at {FramesPerSecond:0.###} frames/s ({WindowSeconds:0.###} s windows every {HopSeconds:0.###} s)");

    private static WindowLayout? Read(DataViewSchema.Column column, out string? missing)
    {
        if (column.Type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"Window column '{column.Name}' must be a vector of Single ([windows x frames x coefficients], flattened); found {column.Type}.", nameof(column));
        }

        var dims = vector.Dimensions;
        var annotations = column.Annotations;
        int frames = dims.Length == 3 && dims[1] > 0 ? dims[1] : Int(annotations, WindowColumns.FramesPerWindowAnnotation) ?? 0;
        int coefficients = dims.Length == 3 && dims[2] > 0 ? dims[2] : Int(annotations, WindowColumns.CoefficientsAnnotation) ?? 0;
        double? fps = Real(annotations, WindowColumns.FramesPerSecondAnnotation);
        double? hop = Real(annotations, WindowColumns.HopFramesAnnotation)
            ?? (Real(annotations, WindowColumns.WindowHopSecondsAnnotation) is double seconds && fps is double f ? seconds * f : null);
        missing = frames <= 0 || coefficients <= 0 ? "its window shape (frames per window and coefficients)"
            : fps is not > 0 ? "its frames per second"
            : hop is not > 0 ? "the hop between its windows"
            : null;
        return missing is null ? new WindowLayout(frames, coefficients, fps!.Value, hop!.Value) : null;
    }

    private static int? Int(DataViewSchema.Annotations annotations, string kind) => Scoring.WindowColumn.GetInt(annotations, kind);

    private static double? Real(DataViewSchema.Annotations annotations, string kind) =>
        Scoring.WindowColumn.GetDouble(annotations, kind) is double value && double.IsFinite(value) ? value : null;
}
