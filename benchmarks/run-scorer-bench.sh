#!/bin/sh
# Scorer speed, both sides in one run: PyTorch peer vs TorchSharp training step (same network, shapes, one thread,
# same steps), alternated twice so background load hits both alike; then Fit's data path and scoring a 3-minute song
# (TorchSharp per window, shared convolution, ONNX Runtime on one thread; both forms).
# Usage: benchmarks/run-scorer-bench.sh [steps]   (from the repository root)
set -e
STEPS=${1:-20}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
dotnet build -c Release benchmarks/MLNetAudio.ScorerBenchmarks -v q -nologo >/dev/null
BENCH="dotnet benchmarks/MLNetAudio.ScorerBenchmarks/bin/Release/net10.0/MLNetAudio.ScorerBenchmarks.dll"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
OUT=$(mktemp)
for round in 1 2; do
  /usr/bin/python3 benchmarks/peer_torch_train.py "$STEPS" | sed 's/^/pytorch /' | tee -a "$OUT"
  $BENCH train "$STEPS" | sed 's/^/torchsharp /' | tee -a "$OUT"
done
for form in Conv2dTimeOnly Conv1dAllCoefficients; do
  awk -v f="$form" '$3 == f":" { t[$1] = (t[$1] == "" || $5 < t[$1]) ? $5 : t[$1] }
    END { printf "ratio %s: TorchSharp / PyTorch step time = %.2f (best of 2 medians: %.1f ms vs %.1f ms)\n", f, t["torchsharp"] / t["pytorch"], t["torchsharp"], t["pytorch"] }' "$OUT"
done
rm -f "$OUT"
$BENCH fit
$BENCH score
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
