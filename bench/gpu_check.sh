#!/usr/bin/env bash
# GPU check, run as is on a CUDA machine (one H100/H200, offline), in one call of a few minutes:
#   bash bench/gpu_check.sh [OUTDIR]      (default: $OUT, else bench/results/gpu_run)
# 1. tests/test_gpu.py and tests/test_triton_gpu.py: the CUDA and Triton kernels against the CPU kernel (values,
#    gradients, alignments, every schedule), with compute-sanitizer's memcheck, racecheck and synccheck on
#    tests/sanitize_cases.py running beside them;
# 2. the benchmarks: bench_s2dtw.py (the contrastive path on each kernel, every size and GEMM precision; the DP alone
#    against the special-function bound; the losses) and bench_train.py --synthetic (a vt_learner training step);
# 3. `vtlearn check` on the GPU.
# Packages the machine lacks (fastai, PyAV...) are installed from ./.whl when it exists (`bash tools/gpu_wheels.sh`
# downloads them; carry .whl with the checkout). Without a GPU every GPU step is skipped and the script says so.
# Every step runs even if an earlier one fails; the exit status is that of the first failure. Each step's output goes
# to OUTDIR/<step>.txt as well (8 files at most, with the console's log).
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR="${1:-${OUT:-bench/results/gpu_run}}"; mkdir -p "$OUTDIR"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"  # build for the H100/H200 only (half the build time)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
PY="${PYTHON:-$(command -v python3 || command -v python)}"  # images often have python3 only
rc=0 t0=$SECONDS
step() {  # step NAME TIMEOUT_S COMMAND...: output to the console and to OUTDIR/NAME.txt
  local name=$1 limit=$2 t=$SECONDS s; shift 2
  echo; echo "=== $name: $* ($((SECONDS - t0)) s elapsed)"
  timeout -k 5 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.txt"; s=${PIPESTATUS[0]}
  [ "$name" = build ] && rm -f "$OUTDIR/$name.txt"  # few files come back from a GPU machine: the build's is in the log
  [ $s = 124 ] && echo "TIMED OUT after $limit s: $name"
  if [ $s != 0 ]; then echo "FAILED (exit $s): $name"; [ $rc = 0 ] && rc=$s; fi
  echo "($name: $((SECONDS - t)) s)"
}

date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
nvcc --version | tail -n 1 || true
if [ -d .whl ] && ! "$PY" -c "import fastai, av" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/vtlearn-site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/vtlearn-site"
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
"$PY" -c "import vtlearn.all, vtlearn.cli" || { echo "FAILED: vtlearn does not import"; rc=1; }
if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "No CUDA device: the GPU steps are skipped."; exit $rc
fi

# Both kernels built at once (about a minute for CUDA); every later step loads these builds.
step build 180 "$PY" -c "import subprocess as sp, sys
ps = [sp.Popen([sys.executable, '-c', f'from vtlearn.kernels import load_kernel; load_kernel({k!r})']) for k in ('cuda', 'cpu')]
sys.exit(max(p.wait() for p in ps))"

# Correctness: the parity tests and the three sanitizers side by side (the sanitizers only need the GPU to be there).
san_pids=()
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck synccheck; do
    (timeout -k 5 240 compute-sanitizer --tool $tool --error-exitcode 3 --print-limit 20 "$PY" tests/sanitize_cases.py \
       > "$OUTDIR/sanitizer_$tool.log" 2>&1; echo "exit $?" >> "$OUTDIR/sanitizer_$tool.log") &
    san_pids+=($!)
  done
else echo "compute-sanitizer not found: the sanitizer step is skipped"; fi
step test_gpu 180 "$PY" -m pytest -q -p no:cacheprovider --tb=short --maxfail=30 -rf --durations=5 tests/test_gpu.py tests/test_triton_gpu.py
[ ${#san_pids[@]} -gt 0 ] && wait "${san_pids[@]}"
if [ ${#san_pids[@]} -gt 0 ]; then
  echo; echo "=== sanitizers"
  for tool in memcheck racecheck synccheck; do
    f="$OUTDIR/sanitizer_$tool.log"; echo "--- $tool: $(tail -n 1 "$f")"; grep -E "ERROR SUMMARY|sanitize_cases:|Error|error" "$f" | head -n 15
    tail -n 1 "$f" | grep -q "exit 0" || echo "FAILED: $tool"
  done 2>&1 | tee "$OUTDIR/sanitizer.txt"
  grep -q FAILED "$OUTDIR/sanitizer.txt" && [ $rc = 0 ] && rc=1
  for tool in memcheck racecheck synccheck; do echo "=== $tool, full output"; cat "$OUTDIR/sanitizer_$tool.log"; done >> "$OUTDIR/sanitizer.txt"
  rm -f "$OUTDIR"/sanitizer_{memcheck,racecheck,synccheck}.log
fi

# Speed, one benchmark at a time (timings must not overlap).
step bench_s2dtw 200 bash -c "\"$PY\" bench/bench_s2dtw.py --device cuda --reps 5 --max-seconds 3; \"$PY\" bench/bench_s2dtw.py --device cuda --backend triton --reps 5 --max-seconds 3"
step bench_teams 45 "$PY" bench/bench_s2dtw.py --device cuda --teams
step bench_train 90 "$PY" bench/bench_train.py --synthetic --device cuda
step bench_losses 60 "$PY" bench/bench_s2dtw.py --device cuda --losses
step vtlearn_check 60 "$PY" -c "import sys; from vtlearn.cli import main; main(['check'])"
echo; echo "=== gpu_check done in $((SECONDS - t0)) s, exit $rc; outputs in $OUTDIR"
exit $rc
