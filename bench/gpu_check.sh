#!/usr/bin/env bash
# GPU check, run as is on a CUDA machine (one H100/H200, offline): CUDA kernel vs CPU kernel, then the benchmark.
#   bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"  # build for the H100/H200 only (half the build time)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
time python -m pytest -q tests/test_gpu.py
time python bench/bench_s2dtw.py --device cuda
time python bench/bench_s2dtw.py --device cuda --losses
