using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MLNetAudio.Recommendation;

/// <summary>
/// Exact top-k by inner product for factor models on the CPU: each user's best k songs over the whole catalog, with
/// cold songs and (optionally) the user's played songs left out, without materialising the users x songs score matrix.
/// </summary>
/// <remarks>
/// Written by hand because no served library fuses the product with the selection (FAISS does, but has no .NET
/// package here). The tensor path (a matrix product per block of users, then <c>topk</c>) writes and re-reads every
/// score: at last.fm-360k scale (358,868 users x 160,113 songs) that is 230 GB of scores written and read back, and on a 2-core machine
/// it ran 443 s. Here a register-blocked kernel scores 4 users x 16 songs at a time from songs packed factor by factor
/// (<see cref="Pack"/>), and a score only leaves the registers when it beats the user's current k-th best (4 x 32 with AVX-512). Work
/// is blocked as 256 users x 1,024 songs so the packed songs of a block stay in the L2 cache while every user of the task
/// passes over them; users are independent, so the result does not depend on the thread count. Ties keep the song with
/// the lower key (songs are visited in ascending order and a newcomer must beat the k-th best strictly).
/// </remarks>
internal static class FactorTopK
{
    private const int UsersPerGroup = 4;
    private const int UsersPerTask = 256;
    private const int SongsPerBlock = 1024;

    /// <summary>Song factors packed by <see cref="Pack"/>, in tiles of <paramref name="Tile"/> songs (32: the 512-bit kernel, 16: the 256-bit one).</summary>
    internal sealed record PackedSongs(float[] Values, int Tile);

    /// <summary>
    /// Songs x f factors (by rows) repacked in tiles of T songs (T = 32 with AVX-512, else 16): element (song, j) at
    /// [(song / T × f + j) × T + song % T]; the last tile is padded with zero factors.
    /// </summary>
    /// <param name="songFactors">Songs x f factors by rows.</param>
    /// <param name="songs">Songs.</param>
    /// <param name="f">Factors per song.</param>
    /// <param name="wide">512-bit tiles; null (the default) where the CPU runs them natively (AVX-512), else 256-bit (AVX2; in software elsewhere, still exact).</param>
    public static PackedSongs Pack(float[] songFactors, int songs, int f, bool? wide = null)
    {
        int tile = (wide ?? Vector512.IsHardwareAccelerated) ? 32 : 16;
        int tiles = (songs + tile - 1) / tile;
        var packed = new float[(long)tiles * f * tile];
        for (int s = 0; s < songs; s++)
        {
            long tileBase = (long)(s / tile) * f * tile;
            int lane = s % tile;
            for (int j = 0; j < f; j++)
            {
                packed[tileBase + (j * tile) + lane] = songFactors[((long)s * f) + j];
            }
        }

        return new PackedSongs(packed, tile);
    }

    /// <summary>The top <paramref name="k"/> songs for users firstUser .. firstUser + count − 1, best first.</summary>
    /// <param name="userFactors">Users x f factors by rows.</param>
    /// <param name="f">Factors per user and song.</param>
    /// <param name="packed">The song factors from <see cref="Pack"/>.</param>
    /// <param name="songs">Songs in the catalog.</param>
    /// <param name="firstUser">0-based first user.</param>
    /// <param name="count">Users to recommend to.</param>
    /// <param name="k">List length.</param>
    /// <param name="known">Songs that may be recommended (those with factors).</param>
    /// <param name="played">When not null, each user's songs in it (ascending, as <see cref="PlayMatrix"/> keeps them) are left out.</param>
    /// <param name="threads">Most threads to use.</param>
    public static IReadOnlyList<SongRecommendation>[] Recommend(
        float[] userFactors, int f, PackedSongs packed, int songs, int firstUser, int count, int k, bool[] known, PlayMatrix? played, int threads)
    {
        var result = new IReadOnlyList<SongRecommendation>[count];
        int tasks = (count + UsersPerTask - 1) / UsersPerTask;
        Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, task =>
        {
            int first = task * UsersPerTask;
            int n = Math.Min(UsersPerTask, count - first);
            new Selection(userFactors, f, packed, songs, firstUser + first, n, k, known, played).Run(result.AsSpan(first, n));
        });

        return result;
    }

    /// <summary>The k best of one task's users: a min-heap per user whose root is the score to beat.</summary>
    private sealed class Selection
    {
        private readonly float[] _packed;
        private readonly int _tile;
        private readonly int _f;
        private readonly int _songs;
        private readonly int _firstUser;
        private readonly int _users;
        private readonly int _k;
        private readonly bool[] _known;
        private readonly PlayMatrix? _played;
        private readonly float[] _x;
        private readonly float[] _heapScore;
        private readonly int[] _heapSong;
        private readonly int[] _size;
        private readonly float[] _threshold;
        private readonly int[] _playedNext;

        public Selection(float[] userFactors, int f, PackedSongs packed, int songs, int firstUser, int users, int k, bool[] known, PlayMatrix? played)
        {
            _packed = packed.Values;
            _tile = packed.Tile;
            _f = f;
            _songs = songs;
            _firstUser = firstUser;
            _users = users;
            _k = k;
            _known = known;
            _played = played;

            // The users' factors, padded with zero users to whole groups of 4.
            int padded = (users + UsersPerGroup - 1) / UsersPerGroup * UsersPerGroup;
            _x = new float[padded * f];
            Array.Copy(userFactors, (long)firstUser * f, _x, 0, (long)users * f);
            _heapScore = new float[users * k];
            _heapSong = new int[users * k];
            _size = new int[users];
            _threshold = new float[users];
            Array.Fill(_threshold, float.NegativeInfinity);
            _playedNext = new int[users];
            if (played is not null)
            {
                for (int u = 0; u < users; u++)
                {
                    _playedNext[u] = played.UserStart[firstUser + u];
                }
            }
        }

        public void Run(Span<IReadOnlyList<SongRecommendation>> output)
        {
            int tiles = (_songs + _tile - 1) / _tile;
            int tilesPerBlock = SongsPerBlock / _tile;
            Span<float> scores = stackalloc float[_tile];
            for (int blockStart = 0; blockStart < tiles; blockStart += tilesPerBlock)
            {
                int blockEnd = Math.Min(tiles, blockStart + tilesPerBlock);
                for (int group = 0; group < _users; group += UsersPerGroup)
                {
                    for (int tile = blockStart; tile < blockEnd; tile++)
                    {
                        if (_tile == 32)
                        {
                            Kernel512(group, tile, scores);
                        }
                        else
                        {
                            Kernel(group, tile, scores);
                        }
                    }
                }
            }

            for (int u = 0; u < _users; u++)
            {
                int size = _size[u];
                var list = new SongRecommendation[size];
                for (int i = 0; i < size; i++)
                {
                    list[i] = new SongRecommendation((uint)_heapSong[(u * _k) + i] + 1, _heapScore[(u * _k) + i]);
                }

                Array.Sort(list, static (a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.SongKey.CompareTo(b.SongKey));
                output[u] = list;
            }
        }

        /// <summary>Scores users group .. group + 3 against the 16 songs of one tile (256-bit vectors), then offers what beats each user's threshold.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Kernel(int group, int tile, Span<float> scores)
        {
            int f = _f;
            ref float y = ref _packed[(long)tile * f * _tile];
            ref float x0 = ref _x[group * f];
            ref float x1 = ref Unsafe.Add(ref x0, f);
            ref float x2 = ref Unsafe.Add(ref x1, f);
            ref float x3 = ref Unsafe.Add(ref x2, f);
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
            Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
            for (int j = 0; j < f; j++)
            {
                var y0 = Vector256.LoadUnsafe(ref y, (nuint)(j * 16));
                var y1 = Vector256.LoadUnsafe(ref y, (nuint)((j * 16) + 8));
                var b = Vector256.Create(Unsafe.Add(ref x0, j));
                a00 = Vector256.FusedMultiplyAdd(b, y0, a00);
                a01 = Vector256.FusedMultiplyAdd(b, y1, a01);
                b = Vector256.Create(Unsafe.Add(ref x1, j));
                a10 = Vector256.FusedMultiplyAdd(b, y0, a10);
                a11 = Vector256.FusedMultiplyAdd(b, y1, a11);
                b = Vector256.Create(Unsafe.Add(ref x2, j));
                a20 = Vector256.FusedMultiplyAdd(b, y0, a20);
                a21 = Vector256.FusedMultiplyAdd(b, y1, a21);
                b = Vector256.Create(Unsafe.Add(ref x3, j));
                a30 = Vector256.FusedMultiplyAdd(b, y0, a30);
                a31 = Vector256.FusedMultiplyAdd(b, y1, a31);
            }

            int firstSong = tile * 16;
            Offer(group, firstSong, a00, a01, scores);
            Offer(group + 1, firstSong, a10, a11, scores);
            Offer(group + 2, firstSong, a20, a21, scores);
            Offer(group + 3, firstSong, a30, a31, scores);
        }

        /// <summary><see cref="Kernel"/> with 512-bit vectors: 4 users x 32 songs.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Kernel512(int group, int tile, Span<float> scores)
        {
            int f = _f;
            ref float y = ref _packed[(long)tile * f * _tile];
            ref float x0 = ref _x[group * f];
            ref float x1 = ref Unsafe.Add(ref x0, f);
            ref float x2 = ref Unsafe.Add(ref x1, f);
            ref float x3 = ref Unsafe.Add(ref x2, f);
            Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default;
            Vector512<float> a20 = default, a21 = default, a30 = default, a31 = default;
            for (int j = 0; j < f; j++)
            {
                var y0 = Vector512.LoadUnsafe(ref y, (nuint)(j * 32));
                var y1 = Vector512.LoadUnsafe(ref y, (nuint)((j * 32) + 16));
                var b = Vector512.Create(Unsafe.Add(ref x0, j));
                a00 = Vector512.FusedMultiplyAdd(b, y0, a00);
                a01 = Vector512.FusedMultiplyAdd(b, y1, a01);
                b = Vector512.Create(Unsafe.Add(ref x1, j));
                a10 = Vector512.FusedMultiplyAdd(b, y0, a10);
                a11 = Vector512.FusedMultiplyAdd(b, y1, a11);
                b = Vector512.Create(Unsafe.Add(ref x2, j));
                a20 = Vector512.FusedMultiplyAdd(b, y0, a20);
                a21 = Vector512.FusedMultiplyAdd(b, y1, a21);
                b = Vector512.Create(Unsafe.Add(ref x3, j));
                a30 = Vector512.FusedMultiplyAdd(b, y0, a30);
                a31 = Vector512.FusedMultiplyAdd(b, y1, a31);
            }

            int firstSong = tile * 32;
            Offer512(group, firstSong, a00, a01, scores);
            Offer512(group + 1, firstSong, a10, a11, scores);
            Offer512(group + 2, firstSong, a20, a21, scores);
            Offer512(group + 3, firstSong, a30, a31, scores);
        }

        private void Offer512(int u, int firstSong, Vector512<float> low, Vector512<float> high, Span<float> scores)
        {
            if (u >= _users)
            {
                return;
            }

            var threshold = Vector512.Create(_threshold[u]);
            ulong beats = Vector512.GreaterThan(low, threshold).ExtractMostSignificantBits()
                | (Vector512.GreaterThan(high, threshold).ExtractMostSignificantBits() << 16);
            if (beats != 0)
            {
                low.CopyTo(scores);
                high.CopyTo(scores[16..]);
                Take(u, firstSong, beats, scores);
            }
        }

        private void Offer(int u, int firstSong, Vector256<float> low, Vector256<float> high, Span<float> scores)
        {
            if (u >= _users)
            {
                return;
            }

            var threshold = Vector256.Create(_threshold[u]);
            ulong beats = Vector256.GreaterThan(low, threshold).ExtractMostSignificantBits()
                | (Vector256.GreaterThan(high, threshold).ExtractMostSignificantBits() << 8);
            if (beats == 0)
            {
                return;
            }

            low.CopyTo(scores);
            high.CopyTo(scores[8..]);
            Take(u, firstSong, beats, scores);
        }

        /// <summary>Inserts the songs of a tile whose bit is set in <paramref name="beats"/> (those above the threshold).</summary>
        private void Take(int u, int firstSong, ulong beats, Span<float> scores)
        {
            while (beats != 0)
            {
                int lane = BitOperations.TrailingZeroCount(beats);
                beats &= beats - 1;
                int song = firstSong + lane;
                if (song >= _songs || !_known[song] || IsPlayed(u, song))
                {
                    continue;
                }

                Insert(u, song, scores[lane]);
            }
        }

        /// <summary>Whether user u played the song; songs arrive in ascending order per user, so one cursor per user suffices.</summary>
        private bool IsPlayed(int u, int song)
        {
            if (_played is null)
            {
                return false;
            }

            int end = _played.UserStart[_firstUser + u + 1];
            int next = _playedNext[u];
            while (next < end && _played.SongIndex[next] < song)
            {
                next++;
            }

            _playedNext[u] = next;
            return next < end && _played.SongIndex[next] == song;
        }

        private void Insert(int u, int song, float score)
        {
            // The threshold test used the vector compare; a later insert in the same tile may have raised it.
            if (score <= _threshold[u])
            {
                return;
            }

            var heapScore = _heapScore.AsSpan(u * _k, _k);
            var heapSong = _heapSong.AsSpan(u * _k, _k);
            int size = _size[u];
            if (size < _k)
            {
                // Sift up.
                int i = size++;
                while (i > 0 && heapScore[(i - 1) / 2] > score)
                {
                    heapScore[i] = heapScore[(i - 1) / 2];
                    heapSong[i] = heapSong[(i - 1) / 2];
                    i = (i - 1) / 2;
                }

                heapScore[i] = score;
                heapSong[i] = song;
                _size[u] = size;
            }
            else
            {
                // Replace the root (the k-th best) and sift down.
                int i = 0;
                while (true)
                {
                    int child = (2 * i) + 1;
                    if (child >= size)
                    {
                        break;
                    }

                    if (child + 1 < size && heapScore[child + 1] < heapScore[child])
                    {
                        child++;
                    }

                    if (heapScore[child] >= score)
                    {
                        break;
                    }

                    heapScore[i] = heapScore[child];
                    heapSong[i] = heapSong[child];
                    i = child;
                }

                heapScore[i] = score;
                heapSong[i] = song;
            }

            if (size == _k)
            {
                _threshold[u] = heapScore[0];
            }
        }
    }
}
