#!/usr/bin/env bash
# MFCC throughput, one thread each, same audio and settings, same run: MLNetAudio vs NWaves vs torchaudio.
# Usage: benchmarks/run-mfcc-peer.sh [rounds] [n_fft]   (rounds alternate the tools to even out load from other processes)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE MKL_NUM_THREADS=1 DOTNET_TieredPGO=1
rounds="${1:-3}"
nfft="${2:-2048}"
audio="${TMPDIR:-/tmp}/mlnetaudio-mfcc-30s.f32"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(getconf _NPROCESSORS_ONLN) cores"
/usr/bin/python3 benchmarks/peer_torchaudio_mfcc.py --write-audio "$audio"
dotnet build -c Release benchmarks/MLNetAudio.Benchmarks -v q -nologo >/dev/null
ours=(); peer=(); nw=(); oc=(); pc=()
for ((r = 1; r <= rounds; r++)); do
  out=$(dotnet benchmarks/MLNetAudio.Benchmarks/bin/Release/net10.0/MLNetAudio.Benchmarks.dll --quick --audio "$audio" --n-fft "$nfft")
  [[ $r == 1 ]] && echo "$out" | head -1
  ours+=("$(echo "$out" | awk '/^mlnetaudio_x_realtime/ {print $2}')")
  nw+=("$(echo "$out" | awk '/^nwaves_x_realtime/ {print $2}')")
  oc+=("$(echo "$out" | awk '/^mlnetaudio_cpu_x_realtime/ {print $2}')")
  pout=$(/usr/bin/python3 benchmarks/peer_torchaudio_mfcc.py --audio "$audio" --n-fft "$nfft")
  [[ $r == 1 ]] && echo "$pout" | head -1
  peer+=("$(echo "$pout" | awk '/^torchaudio_x_realtime/ {print $2}')")
  pc+=("$(echo "$pout" | awk '/^torchaudio_cpu_x_realtime/ {print $2}')")
  echo "round $r: wall: MLNetAudio ${ours[-1]}x, NWaves ${nw[-1]}x, torchaudio ${peer[-1]}x; CPU time: MLNetAudio ${oc[-1]}x, torchaudio ${pc[-1]}x real time"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${ours[@]}"); mp=$(median "${peer[@]}"); mn=$(median "${nw[@]}")
echo "median x real time: MLNetAudio $mo, NWaves $mn, torchaudio $mp"
moc=$(median "${oc[@]}"); mpc=$(median "${pc[@]}")
echo "median x real time by CPU time: MLNetAudio $moc, torchaudio $mpc"
awk -v o="$mo" -v p="$mp" -v n="$mn" -v oc="$moc" -v pc="$mpc" 'BEGIN {printf "ratio MLNetAudio / torchaudio = %.2f (wall), %.2f (CPU time); MLNetAudio / NWaves = %.2f (wall)\n", o / p, oc / pc, o / n}'
