#!/usr/bin/env bash
# Coverage-guided fuzzing of the audio decoders or the model loader with AFL++ and SharpFuzz, for a bounded time.
# Usage: fuzz/run.sh audio|model|stage [seconds=300]
# Needs: apt-get install afl++; dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0
# Findings (inputs that crashed = escaped the typed errors, ran out of 512 MB, or hung past 5 s) land in
# fuzz/findings/<target>/default/{crashes,hangs}; each one becomes a regression test.
set -euo pipefail
target=${1:-audio}
seconds=${2:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/fuzz/out
rm -rf "$out" # a fresh build each run: sharpfuzz instruments in place and refuses an instrumented assembly
dotnet build -c Release "$root/fuzz/MLNetAudio.Fuzz" -o "$out" -v q
# The recommendation models' stage readers live in MLNetAudio.Recommendation.dll since the split into packages.
for dll in MLNetAudio.dll MLNetAudio.Recommendation.dll NVorbis.dll NLayer.dll; do
  "${HOME}/.dotnet/tools/sharpfuzz" "$out/$dll"
done
findings=$root/fuzz/findings/$target
if [ -d "$findings" ]; then mv "$findings" "$findings.$(date +%Y%m%dT%H%M%S)"; fi
seeds=$root/fuzz/findings/$target-seeds
mkdir -p "$seeds"
if [ "$target" = audio ]; then
  cp "$root/tests/MLNetAudio.Tests/Fixtures/"*.ogg "$root/tests/MLNetAudio.Tests/Fixtures/"*.mp3 "$seeds/"
  python3 - "$seeds" <<'PY'
import math, struct, sys
n = 2205
data = b''.join(struct.pack('<h', int(12000 * math.sin(2 * math.pi * 440 * i / 22050))) for i in range(n))
fmt = struct.pack('<IHHIIHH', 16, 1, 1, 22050, 44100, 2, 16)
open(sys.argv[1] + '/tone.wav', 'wb').write(b'RIFF' + struct.pack('<I', 36 + len(data)) + b'WAVE' + b'fmt ' + fmt + b'data' + struct.pack('<I', len(data)) + data)
PY
elif [ "$target" = stage ]; then
  # One seed per stage format: its index byte and, for the audio loader, a real payload.
  for k in 0 1 2 3 4 5 6 7; do printf "\\x0$k" > "$seeds/format-$k"; done
  python3 - "$seeds" <<'PY'
import struct, sys
s = lambda t: bytes([len(t)]) + t.encode()
payload = s('Audio') + s('Path') + struct.pack('<id?i??', 22050, 0.0, False, 0, False, False)
open(sys.argv[1] + '/loader', 'wb').write(b'\x00' + payload)
PY
else
  test -n "$(ls "$seeds")" || { echo "put a small saved model (ml.Audio().Model.Save) in $seeds"; exit 1; }
fi
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export DOTNET_GCHeapHardLimit=0x20000000 OMP_WAIT_POLICY=PASSIVE
timeout --preserve-status "$seconds" afl-fuzz -i "$seeds" -o "$findings" -t 5000 -m none \
  -- dotnet "$out/MLNetAudio.Fuzz.dll" "$target" || true
stats=$findings/default/fuzzer_stats
grep -E '^(execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg|run_time)' "$stats" || true
