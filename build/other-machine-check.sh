#!/usr/bin/env bash
# Numerical checks on a machine without the .NET SDK (the lent GPU machine of ENVIRONMENT.md, or any other x86-64
# CPU): carries a .NET runtime and the test assembly, and uses the machine's own PyTorch libraries (libtorch) for
# TorchSharp, since libtorch 2.10 (78 MB compressed) does not fit the 64 MiB a device call may carry.
#
#   build/other-machine-check.sh pack     # here: builds tests (Release) and writes .other-machine/*.tar.zst
#   build/other-machine-check.sh run      # there: CPU flags, PyTorch's float32 layers vs float64 (default ISA and
#                                         # AVX2), then the library's numerical reference (all 52 cases), libtorch's
#                                         # own layers through TorchSharp, CUDA if TorchSharp finds it, the
#                                         # training-step benchmark against PyTorch, and the GPU test classes
#   CHECKS="reference gputests" build/other-machine-check.sh run    # only some sections (names below)
#
# Exit status of `run`: non-zero when the library's numerical reference has a failing case.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
bundle=.other-machine

case "$mode" in
pack)
  grep -qx "/$bundle/" .git/info/exclude 2>/dev/null || echo "/$bundle/" >> .git/info/exclude
  dotnet build -c Release tests/MLNetAudio.Tests -v q -nologo
  dotnet build -c Release benchmarks/MLNetAudio.ScorerBenchmarks -v q -nologo
  rm -rf "$bundle" && mkdir -p "$bundle"
  root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  runtime=$(ls "$root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
  aspnet=$(ls "$root/shared/Microsoft.AspNetCore.App" | sort -V | tail -1)
  tar -C "$root" -cf - dotnet host "shared/Microsoft.NETCore.App/$runtime" "shared/Microsoft.AspNetCore.App/$aspnet" | xz -9 -T0 > "$bundle/dotnet.tar.xz"
  bin=tests/MLNetAudio.Tests/bin/Release/net10.0
  # libtorch and the other large native libraries stay behind; Roslyn serves only the source-guard test.
  tar -C "$bin" -cf - --exclude='runtimes/linux-x64/native/libtorch*' --exclude='runtimes/linux-x64/native/libc10*' \
      --exclude='runtimes/linux-x64/native/libgomp*' --exclude='runtimes/linux-x64/native/*backend*' \
      --exclude='runtimes/linux-x64/native/libjit*' --exclude='runtimes/linux-x64/native/libaoti*' \
      --exclude='runtimes/linux-x64/native/libshm*' --exclude='runtimes/linux-x64/native/*.dbg' \
      --exclude='runtimes/linux-x64/native/libonnxruntime*' \
      --exclude='Microsoft.CodeAnalysis*' --exclude='./.playwright' --exclude='./refs' \
      --exclude='runtimes/win*' --exclude='runtimes/osx*' --exclude='runtimes/ios' --exclude='runtimes/android' \
      --exclude='runtimes/linux-arm*' --exclude='runtimes/linux-musl*' . | xz -9 -T0 > "$bundle/tests.tar.xz"
  tar -C benchmarks/MLNetAudio.ScorerBenchmarks/bin/Release/net10.0 -cf - --exclude='runtimes' . | xz -9 -T0 > "$bundle/bench.tar.xz"
  du -sh "$bundle"/*
  ;;
run)
  out=${OUT:-/tmp/other-machine-out}
  mkdir -p "$out"
  work=/tmp/other-machine && rm -rf "$work" && mkdir -p "$work/dotnet" "$work/tests" "$work/bench"
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle/dotnet.tar.xz" "$work/dotnet"
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle/tests.tar.xz" "$work/tests"
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle/bench.tar.xz" "$work/bench"
  cp -r "$work/tests/runtimes" "$work/bench/"
  repo=$PWD
  checks=${CHECKS:-pytorch reference libtorch cuda bench gputests}
  want() { [[ " $checks " == *" $1 "* ]]; }
  {
    echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo
    grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|amx|fma)' | tr '\n' ' '; echo
  } | tee "$out/machine.txt"
  if want pytorch; then
  echo "== PyTorch float32 layers vs float64"
  PYTHONUNBUFFERED=1 python3 benchmarks/onednn_fault_probe.py > "$out/pytorch-probe.txt" 2>&1 || true
  DNNL_MAX_CPU_ISA=AVX2 PYTHONUNBUFFERED=1 python3 benchmarks/onednn_fault_probe.py > "$out/pytorch-probe-avx2.txt" 2>&1 || true
  grep -hE 'torch |WRONG|cases off' "$out"/pytorch-probe*.txt | head -60 || true
  fi
  torchlib=${TORCH_LIB:-}; [ -n "$torchlib" ] || torchlib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  echo "== libLibTorchSharp (TorchSharp 0.107, built for libtorch 2.10) against $torchlib"
  nm -D --undefined-only "$work/tests/runtimes/linux-x64/native/libLibTorchSharp.so" | awk '{print $2}' | grep -v '@' | sort -u > "$work/needed"
  for f in "$torchlib"/libtorch_cpu.so "$torchlib"/libc10.so "$torchlib"/libtorch.so; do nm -D --defined-only "$f" | awk '{print $3}'; done | sort -u > "$work/have"
  comm -23 "$work/needed" "$work/have" > "$out/missing-symbols.txt" || true
  echo "symbols libLibTorchSharp needs that libtorch there lacks: $(wc -l < "$out/missing-symbols.txt")"
  head -5 "$out/missing-symbols.txt" | c++filt || true
  export DOTNET_ROOT=$work/dotnet PATH=$work/dotnet:$PATH LD_LIBRARY_PATH=$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  cd "$work/tests"
  status=0
  if want reference; then
  echo "== the library's numerical reference (Scoring/NumericalReferenceTests, all cases)"
  "$work/dotnet/dotnet" MLNetAudio.Tests.dll other-machine reference > "$out/reference.txt" 2>&1 || status=$?
  grep -E 'FAIL|numerical reference' "$out/reference.txt" | head -40 || true; tail -3 "$out/reference.txt"
  fi
  if want libtorch; then
  echo "== libtorch's own float32 layers through TorchSharp"
  "$work/dotnet/dotnet" MLNetAudio.Tests.dll other-machine libtorch-layers > "$out/libtorch-layers.txt" 2>&1 || true
  grep -E 'WRONG|cases off' "$out/libtorch-layers.txt" | head -30 || true; tail -2 "$out/libtorch-layers.txt"
  fi
  if want cuda; then
  echo "== CUDA"
  timeout 240 "$work/dotnet/dotnet" MLNetAudio.Tests.dll other-machine cuda > "$out/cuda.txt" 2>&1 || true
  tail -20 "$out/cuda.txt"
  fi
  if want gputests; then
  echo "== test classes whose code trains on CUDA when TorchSharp finds it (Device Auto / UseGpuWhenAvailable)"
  timeout "${GPU_TESTS_SECONDS:-330}" "$work/dotnet/dotnet" MLNetAudio.Tests.dll other-machine tests \
    TimeConvLstmTests ScorerPersistenceTests TimeConvNetworkTests TemporaryScalarStressTests \
    ImplicitMatrixFactorizationTests MultiUserAudioPersistenceTests PlayLogModelPersistenceTests \
    AudioRecommenderTests AudioRecommenderNonFiniteTests PipelineTests TimeConvLstmDefaultsTests ${GPU_TESTS_MORE:-} > "$out/gpu-tests.txt" 2>&1 || status=$?
  grep -E 'FAIL|^tests:' "$out/gpu-tests.txt" || true; tail -2 "$out/gpu-tests.txt"
  fi
  if want bench; then
  echo "== training step, one thread: PyTorch (its own layers) vs the library (libtorch's layers, then its own)"
  export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
  steps=${BENCH_STEPS:-10}
  { timeout 200 python3 "$repo/benchmarks/peer_torch_train.py" "$steps" | sed 's/^/pytorch /'
    timeout 300 "$work/dotnet/dotnet" "$work/bench/MLNetAudio.ScorerBenchmarks.dll" train "$steps" | sed 's/^/torchsharp /'; } > "$out/train-bench.txt" 2>&1 || true
  cat "$out/train-bench.txt"
  fi
  exit $status
  ;;
*)
  echo "usage: $0 pack|run" >&2; exit 2 ;;
esac
