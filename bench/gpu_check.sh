#!/usr/bin/env bash
# GPU check, run as is on a CUDA machine (one H100/H200, offline): CUDA kernel vs CPU kernel, then the benchmarks.
#   bash bench/gpu_check.sh
# Every step runs even if an earlier one fails; the exit status is that of the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"  # build for the H100/H200 only (half the build time)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-$(command -v python3 || command -v python)}"  # images often have python3 only
rc=0
step() {
  echo; echo "=== $*"; local t=$SECONDS s
  "$@"; s=$?
  if [ $s != 0 ]; then echo "FAILED (exit $s): $*"; [ $rc = 0 ] && rc=$s; fi
  echo "($((SECONDS - t)) s)"
}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
step "$PY" -m pytest -q -x tests/test_gpu.py
step "$PY" bench/bench_s2dtw.py --device cuda --teams
step "$PY" bench/bench_s2dtw.py --device cuda
step "$PY" bench/bench_s2dtw.py --device cuda --losses
exit $rc
