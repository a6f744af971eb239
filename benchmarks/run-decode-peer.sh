#!/usr/bin/env bash
# Decode + MFCC windows end to end on a real Ogg Vorbis track, one thread each, same run:
# MLNetAudio (LoadAudio + SegmentMfcc through an ML.NET cursor) vs torchaudio (load + resample + MFCC).
# Usage: benchmarks/run-decode-peer.sh [file] [seconds]    (needs Debian's frozen-bubble-data and python3-torchaudio)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE MKL_NUM_THREADS=1
file="${1:-/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg}"
seconds="${2:-60}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet build -c Release benchmarks/MLNetAudio.Benchmarks -v q -nologo >/dev/null
ours=$(dotnet benchmarks/MLNetAudio.Benchmarks/bin/Release/net10.0/MLNetAudio.Benchmarks.dll --decode "$file" --seconds "$seconds")
peer=$(/usr/bin/python3 benchmarks/peer_torchaudio_mfcc.py --decode "$file" --seconds "$seconds")
echo "$ours"; echo "$peer"
o=$(echo "$ours" | awk '/^decode_mfcc_x_realtime/ {print $2}')
p=$(echo "$peer" | awk '/^torchaudio_decode_mfcc_x_realtime/ {print $2}')
awk -v o="$o" -v p="$p" 'BEGIN {printf "ratio MLNetAudio / torchaudio (decode + MFCC, wall) = %.2f\n", o / p}'
