using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Tests.Features;

public class MfccSegmenterTests
{
    // A low rate and a small FFT keep these tests fast; the window arithmetic does not depend on them.
    private const int Rate = 4000;

    private static MfccSegmenterOptions Small(double windowHop = 1, ShortSongPolicy policy = ShortSongPolicy.Pad) => new()
    {
        FftSize = 256,
        MelBands = 32,
        Coefficients = 13,
        WindowHopSeconds = windowHop,
        ShortSongPolicy = policy,
    };

    [Theory]
    [InlineData(8.0, 1.0, 1)] // exactly one window
    [InlineData(8.0 + 1.0 - (1.0 / Rate), 1.0, 1)] // one sample short of the second window
    [InlineData(9.0, 1.0, 2)]
    [InlineData(30.0, 1.0, 23)]
    [InlineData(10.25, 0.5, 5)] // floor(2.25 / 0.5) + 1
    [InlineData(8.0 + 3.0 - (1.0 / Rate), 3.0, 1)]
    [InlineData(17.0, 3.0, 4)]
    [InlineData(24.0, 8.0, 3)] // consecutive training windows
    public void Window_count_is_floor_of_duration_minus_window_over_hop_plus_one(double seconds, double hop, int expected)
    {
        var ml = new MLContext(1);
        int samples = (int)Math.Round(seconds * Rate);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, (double)samples / Rate));
        var view = ml.Transforms.SegmentMfcc("W", "X", Small(hop)).Fit(data).Transform(data);
        var windows = SongData.Read(view, "W").Single();
        Assert.Equal(expected * 400 * 13, windows.Length);
    }

    [Fact]
    public void Output_type_and_annotations_describe_the_window_shape()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, 22050, SongData.Tone(22050, 9));
        var view = ml.Transforms.SegmentMfcc("W", "X").Fit(data).Transform(data);
        var col = view.Schema["W"];
        var type = Assert.IsType<VectorDataViewType>(col.Type);
        Assert.Equal(NumberDataViewType.Single, type.ItemType);
        Assert.Equal([0, 400, 20], type.Dimensions.ToArray());
        Assert.False(type.IsKnownSize);
        Assert.Equal(400, Annotation<int>(col, WindowColumns.FramesPerWindowAnnotation));
        Assert.Equal(20, Annotation<int>(col, WindowColumns.CoefficientsAnnotation));
        Assert.Equal(50.0, Annotation<double>(col, WindowColumns.FramesPerSecondAnnotation));
        Assert.Equal(8.0, Annotation<double>(col, WindowColumns.WindowSecondsAnnotation));
        Assert.Equal(1.0, Annotation<double>(col, WindowColumns.WindowHopSecondsAnnotation));
        Assert.Equal("Mfcc", Annotation<ReadOnlyMemory<char>>(col, WindowColumns.FeatureKindAnnotation).ToString());
        Assert.Equal(2 * 400 * 20, SongData.Read(view, "W").Single().Length);
    }

    [Fact]
    public void Window_shape_is_read_back_from_the_annotations_and_missing_ones_are_named()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 8));
        var view = ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data);
        Assert.Equal((400, 13), WindowColumns.GetWindowShape(view.Schema["W"]));
        var e = Assert.Throws<ArgumentException>(() => WindowColumns.GetWindowShape(view.Schema["X"]));
        Assert.Contains("'X'", e.Message);
        Assert.Contains(WindowColumns.FramesPerWindowAnnotation, e.Message);
    }

    [Theory]
    [InlineData(AudioFeatureKind.LogMel, 32)]
    [InlineData(AudioFeatureKind.PowerSpectrogram, 129)]
    [InlineData(AudioFeatureKind.Mfcc, 13)]
    public void Each_feature_kind_has_its_own_coefficient_count(AudioFeatureKind kind, int coefficients)
    {
        var ml = new MLContext(1);
        var options = Small();
        options.FeatureKind = kind;
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 8));
        var view = ml.Transforms.SegmentMfcc("W", "X", options).Fit(data).Transform(data);
        Assert.Equal(coefficients, Annotation<int>(view.Schema["W"], WindowColumns.CoefficientsAnnotation));
        Assert.Equal(kind.ToString(), Annotation<ReadOnlyMemory<char>>(view.Schema["W"], WindowColumns.FeatureKindAnnotation).ToString());
        Assert.Equal(400 * coefficients, SongData.Read(view, "W").Single().Length);
    }

    [Fact]
    public void Windows_are_slices_of_the_song_frames_one_hop_apart()
    {
        var ml = new MLContext(1);
        var song = SongData.Tone(Rate, 10);
        var data = SongData.Load(ml, Rate, song);
        var windows = SongData.Read(ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data), "W").Single();
        var whole = Small();
        whole.WindowSeconds = 10; // one window holding all 500 frames
        var all = SongData.Read(ml.Transforms.SegmentMfcc("W", "X", whole).Fit(data).Transform(data), "W").Single();
        Assert.Equal(500 * 13, all.Length);
        Assert.Equal(3 * 400 * 13, windows.Length);
        for (int w = 0; w < 3; w++)
        {
            Assert.Equal(all.AsSpan(w * 50 * 13, 400 * 13).ToArray(), windows.AsSpan(w * 400 * 13, 400 * 13).ToArray());
        }

        Assert.NotEqual(windows.AsSpan(0, 400 * 13).ToArray(), windows.AsSpan(400 * 13, 400 * 13).ToArray());
    }

    [Fact]
    public void Short_song_under_Pad_gives_one_window_of_the_song_followed_by_silence()
    {
        var ml = new MLContext(1);
        var song = SongData.Tone(Rate, 5);
        var padded = new float[8 * Rate];
        song.CopyTo(padded, 0);
        var data = SongData.Load(ml, Rate, song, padded);
        var rows = SongData.Read(ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data), "W");
        Assert.Equal(400 * 13, rows[0].Length);
        SpectralFeaturesTests.AssertClose(rows[1], rows[0], "short song vs explicitly zero-padded song");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100)]
    public void Songs_of_a_few_samples_are_padded_to_one_window_under_both_pad_modes(int samples)
    {
        var ml = new MLContext(1);
        var song = SongData.Tone(Rate, (double)samples / Rate);
        var data = SongData.Load(ml, Rate, song);
        foreach (var mode in new[] { SpectrogramPadMode.Constant, SpectrogramPadMode.Reflect })
        {
            var options = Small();
            options.PadMode = mode;
            var windows = SongData.Read(ml.Transforms.SegmentMfcc("W", "X", options).Fit(data).Transform(data), "W").Single();
            Assert.Equal(400 * 13, windows.Length);
            Assert.All(windows, v => Assert.True(float.IsFinite(v)));
        }
    }

    [Fact]
    public void Short_song_under_Reject_throws_naming_row_and_column()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 9), SongData.Tone(Rate, 8 - (1.0 / Rate)));
        var view = ml.Transforms.SegmentMfcc("W", "X", Small(policy: ShortSongPolicy.Reject)).Fit(data).Transform(data);
        var e = Assert.Throws<SongTooShortException>(() => SongData.Read(view, "W"));
        Assert.Equal("X", e.Column);
        Assert.Equal(1, e.Row);
        Assert.Contains("'X'", e.Message);
        Assert.Contains("Row 1", e.Message);
    }

    [Fact]
    public void Rows_flagged_by_the_loader_error_column_yield_no_windows()
    {
        var ml = new MLContext(1);
        var data = SongData.LoadWithErrors(
            ml,
            Rate,
            (SongData.Tone(Rate, 9), string.Empty),
            ([], "x.wav: unsupported codec"),
            (SongData.Tone(Rate, 9), "decoder failed"));
        var rows = SongData.Read(ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data), "W");
        Assert.Equal(2 * 400 * 13, rows[0].Length);
        Assert.Empty(rows[1]);
        Assert.Empty(rows[2]);
    }

    [Fact]
    public void Missing_sample_rate_annotation_fails_naming_the_column_unless_the_option_gives_it()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, null, SongData.Tone(8000, 8));
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X").Fit(data));
        Assert.Contains("'X'", e.Message);
        Assert.Contains("SampleRate", e.Message);

        var view = ml.Transforms.SegmentMfcc("W", "X", new MfccSegmenterOptions { SampleRate = 8000 }).Fit(data).Transform(data);
        Assert.Equal(50.0, Annotation<double>(view.Schema["W"], WindowColumns.FramesPerSecondAnnotation));
        Assert.Equal(400 * 20, SongData.Read(view, "W").Single().Length);
    }

    [Fact]
    public void Sample_rate_option_that_contradicts_the_annotation_fails()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, 22050, SongData.Tone(22050, 8));
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X", new MfccSegmenterOptions { SampleRate = 16000 }).Fit(data));
        Assert.Contains("16000", e.Message);
        Assert.Contains("22050", e.Message);
    }

    [Fact]
    public void Wrong_or_missing_input_column_fails_naming_it()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new { X = 1f } });
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X").Fit(data));
        Assert.Contains("'X'", e.Message);
        Assert.Contains("vector of Single", e.Message);
        Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X").GetOutputSchema(ShapeOf(data.Schema)));

        var missing = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "Audio").Fit(data));
        Assert.Contains("'Audio'", missing.Message);
    }

    [Fact]
    public void Estimator_output_shape_declares_the_window_column_and_its_annotations()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 8));
        var shape = ml.Transforms.SegmentMfcc("W", "X").GetOutputSchema(ShapeOf(data.Schema));
        var w = shape.Single(c => c.Name == "W");
        Assert.Equal(SchemaShape.Column.VectorKind.VariableVector, w.Kind);
        Assert.Equal(NumberDataViewType.Single, w.ItemType);
        Assert.Contains(w.Annotations, a => a.Name == WindowColumns.FramesPerWindowAnnotation);
        Assert.Contains(w.Annotations, a => a.Name == WindowColumns.FeatureKindAnnotation);
    }

    [Fact]
    public void Invalid_options_are_all_reported_at_once()
    {
        var ml = new MLContext(1);
        var bad = new MfccSegmenterOptions { WindowSeconds = 0, FftSize = 1, Coefficients = 500, Amin = -1, TopDb = -5 };
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X", bad));
        foreach (var field in new[] { "WindowSeconds", "FftSize", "Coefficients", "Amin", "TopDb" })
        {
            Assert.Contains(field, e.Message);
        }
    }

    [Theory]
    [InlineData(1e6)]  // issue 13: accepted, then OutOfMemoryException on a 24 s clip
    [InlineData(600.001)]
    public void A_window_of_absurd_length_is_refused_naming_the_option(double seconds)
    {
        var ml = new MLContext(1);

        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X", new MfccSegmenterOptions { WindowSeconds = seconds, WindowHopSeconds = seconds }));

        Assert.Contains($"WindowSeconds: must be a positive number of seconds up to 600; got {seconds}", e.Message);
        Assert.Contains("WindowHopSeconds", e.Message);
    }

    [Fact]
    public void A_window_holding_over_2_to_the_24_features_is_refused_at_bind_time()
    {
        // 600 s at one frame per sample of 4 kHz = 2.4 million frames of 20 coefficients: 48 million floats.
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 8));
        var options = new MfccSegmenterOptions { WindowSeconds = 600, HopLength = 1, FftSize = 64, MelBands = 20 };

        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X", options).Fit(data));

        Assert.Contains("MfccSegmenterOptions.WindowSeconds", e.Message);
        Assert.Contains("over the 16777216", e.Message);
    }

    [Fact]
    public void Options_that_only_fail_at_a_sample_rate_name_the_field()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 8));
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.SegmentMfcc("W", "X", new MfccSegmenterOptions { MaxFrequency = 3000, WindowHopSeconds = 0.001 }).Fit(data));
        Assert.Contains("MaxFrequency", e.Message);
        Assert.Contains("WindowHopSeconds", e.Message);
    }

    [Fact]
    public void Non_finite_samples_fail_naming_row_and_column()
    {
        var ml = new MLContext(1);
        var song = SongData.Tone(Rate, 8);
        song[1234] = float.NaN;
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 8), song);
        var view = ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data);
        var e = Assert.Throws<InvalidDataException>(() => SongData.Read(view, "W"));
        Assert.Contains("Row 1", e.Message);
        Assert.Contains("'X'", e.Message);
    }

    [Fact]
    public void Standardize_learns_per_coefficient_mean_and_std_so_training_frames_have_mean_0_and_std_1()
    {
        var ml = new MLContext(1);
        var options = Small(windowHop: 1);
        options.WindowSeconds = 1; // windows tile the songs, so every frame is counted once
        options.Standardize = true;
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 6, 180, 1), SongData.Tone(Rate, 4, 330, 2), SongData.Tone(Rate, 5, 520, 3));
        var transformer = ml.Transforms.SegmentMfcc("W", "X", options).Fit(data);
        Assert.NotNull(transformer.CoefficientMeans);
        Assert.Equal(13, transformer.CoefficientMeans!.Count);
        Assert.True(Math.Abs(transformer.CoefficientMeans[0]) > 1, "raw c0 is far from zero, so the check below is not vacuous");

        var rows = SongData.Read(transformer.Transform(data), "W");
        var values = rows.SelectMany(r => r).ToArray();
        int frames = values.Length / 13;
        for (int c = 0; c < 13; c++)
        {
            double mean = 0;
            double sq = 0;
            for (int f = 0; f < frames; f++)
            {
                mean += values[(f * 13) + c];
            }

            mean /= frames;
            for (int f = 0; f < frames; f++)
            {
                sq += Math.Pow(values[(f * 13) + c] - mean, 2);
            }

            double std = Math.Sqrt(sq / frames);
            Assert.InRange(mean, -0.05, 0.05);
            Assert.InRange(std, 0.95, 1.05);
        }
    }

    [Fact]
    public void Two_cursors_moved_in_turn_give_the_same_windows_as_one()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 9, 200, 1), SongData.Tone(Rate, 10, 400, 2), SongData.Tone(Rate, 8, 300, 3));
        var view = ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data);
        var expected = SongData.Read(view, "W");
        var col = view.Schema["W"];
        using var a = view.GetRowCursor([col]);
        using var b = view.GetRowCursor([col]);
        var ga = a.GetGetter<VBuffer<float>>(col);
        var gb = b.GetGetter<VBuffer<float>>(col);
        VBuffer<float> va = default;
        VBuffer<float> vb = default;
        Assert.True(b.MoveNext());
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(a.MoveNext());
            ga(ref va);
            Assert.Equal(expected[i], va.DenseValues().ToArray());
            if (b.MoveNext())
            {
                gb(ref vb);
                Assert.Equal(expected[i + 1], vb.DenseValues().ToArray());
            }
        }
    }

    [Fact]
    public void Parallel_cursors_on_threads_give_the_same_windows_as_one_cursor()
    {
        var ml = new MLContext(1);
        var songs = Enumerable.Range(0, 8).Select(i => SongData.Tone(Rate, 8 + (i % 3), 150 + (40 * i), i + 1)).ToArray();
        var data = ml.Data.Cache(SongData.Load(ml, Rate, songs));
        var view = ml.Transforms.SegmentMfcc("W", "X", Small()).Fit(data).Transform(data);
        var expected = SongData.Read(view, "W");
        var col = view.Schema["W"];
        var cursors = view.GetRowCursorSet([col], 2);
        Assert.Equal(2, cursors.Length);
        var results = new System.Collections.Concurrent.ConcurrentDictionary<long, float[]>();
        Parallel.ForEach(cursors, new ParallelOptions { MaxDegreeOfParallelism = 2 }, cursor =>
        {
            using (cursor)
            {
                var getter = cursor.GetGetter<VBuffer<float>>(col);
                var id = cursor.GetIdGetter();
                VBuffer<float> windows = default;
                DataViewRowId rowId = default;
                while (cursor.MoveNext())
                {
                    getter(ref windows);
                    id(ref rowId);
                    results[(long)rowId.Low] = windows.DenseValues().ToArray();
                }
            }
        });
        Assert.Equal(expected.Count, results.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i], results[i]);
        }
    }

    [Fact]
    public void Prediction_engine_scores_one_song()
    {
        var ml = new MLContext(1);
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 9));
        var options = Small();
        options.SampleRate = Rate; // a PredictionEngine's input schema comes from the class, without annotations
        var transformer = ml.Transforms.SegmentMfcc("W", "X", options).Fit(data);
        var engine = ml.Model.CreatePredictionEngine<SongData.Row, WindowsRow>(transformer);
        var song = SongData.Tone(Rate, 9);
        Assert.Equal(SongData.Read(transformer.Transform(data), "W").Single(), engine.Predict(new SongData.Row { X = song }).W);
    }

    [Fact]
    public void Saved_and_loaded_segmenter_gives_identical_windows_with_its_options_and_standardisation()
    {
        var ml = new MLContext(1);
        var options = MfccSegmenterOptions.Torchaudio();
        options.WindowSeconds = 2;
        options.WindowHopSeconds = 0.5;
        options.MaxFrequency = 1800;
        options.TopDb = null;
        options.Standardize = true;
        options.ShortSongPolicy = ShortSongPolicy.Reject;
        var data = SongData.Load(ml, Rate, SongData.Tone(Rate, 3, 200, 1), SongData.Tone(Rate, 4, 300, 2));
        var model = ml.Transforms.SegmentMfcc("W", "X", options).Fit(data);
        string path = Path.Combine(Path.GetTempPath(), $"mfcc-segmenter-{Guid.NewGuid():N}.mlnetaudio");
        try
        {
            ml.Audio().Model.Save(model, data.Schema, path);
            var loaded = ml.Audio().Model.Load(path, out _);
            var expected = SongData.Read(model.Transform(data), "W");
            var actual = SongData.Read(loaded.Transform(data), "W");
            Assert.Equal(3, expected[0].Length / (40 * 40)); // floor((3 - 2) / 0.5) + 1 windows of 40 frames x 40 MFCCs
            Assert.Equal(expected, actual);
            var segmenter = Assert.IsType<MfccSegmentingTransformer>(Assert.Single((IEnumerable<ITransformer>)loaded));
            Assert.Equal(model.CoefficientMeans, segmenter.CoefficientMeans);
            Assert.Null(segmenter.Options.TopDb);
            Assert.Equal(ShortSongPolicy.Reject, segmenter.Options.ShortSongPolicy);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static SchemaShape ShapeOf(DataViewSchema schema) =>
        new(schema.Select(c => MLNetAudio.Data.SchemaShapes.MakeColumn(c.Name, c.Type, c.Annotations)));

    private static T Annotation<T>(DataViewSchema.Column column, string name)
    {
        T value = default!;
        column.Annotations.GetValue(name, ref value);
        return value;
    }

    public sealed class WindowsRow
    {
        public float[] W { get; set; } = [];
    }
}
