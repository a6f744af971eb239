using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetAudio.Data;
using MLNetAudio.Features;

namespace MLNetAudio.Features
{
    /// <summary>A song is shorter than one window and <see cref="ShortSongPolicy.Reject"/> is in force.</summary>
    public sealed class SongTooShortException : Exception
    {
        /// <summary>Creates the exception.</summary>
        public SongTooShortException(string column, long row, double durationSeconds, double windowSeconds)
            : base($"Row {row} of column '{column}' holds {durationSeconds:0.###} s of audio, shorter than one {windowSeconds:0.###} s window. "
                + "Set MfccSegmenterOptions.ShortSongPolicy = Pad to pad it with silence, or use a shorter WindowSeconds.")
        {
            Column = column;
            Row = row;
            DurationSeconds = durationSeconds;
            WindowSeconds = windowSeconds;
        }

        /// <summary>Creates the exception with a message.</summary>
        public SongTooShortException(string message)
            : base(message)
        {
            Column = string.Empty;
        }

        /// <summary>Creates the exception with a message and an inner exception.</summary>
        public SongTooShortException(string message, Exception innerException)
            : base(message, innerException)
        {
            Column = string.Empty;
        }

        /// <summary>Creates the exception with a default message.</summary>
        public SongTooShortException()
        {
            Column = string.Empty;
        }

        /// <summary>The input audio column.</summary>
        public string Column { get; }

        /// <summary>The row's position in the data view.</summary>
        public long Row { get; }

        /// <summary>The song's duration in seconds.</summary>
        public double DurationSeconds { get; }

        /// <summary>The window length in seconds.</summary>
        public double WindowSeconds { get; }
    }
}
