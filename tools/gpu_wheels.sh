#!/usr/bin/env bash
# Download into ./.whl the wheels that bench/gpu_check.sh installs on an offline CUDA machine whose image already has
# torch, timm, tokenizers, rich, safetensors, accelerate, numpy, pandas, matplotlib and scikit-learn (Python 3.12,
# x86-64), but not fastai, its helpers or PyAV. The versions are the ones installed here, so both machines run the same
# library code. About 40 MB, 80% of it PyAV.
#   bash tools/gpu_wheels.sh            # then copy .whl/ next to the checkout on the GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="fastai fastcore fastprogress fasttransform fastdownload plum-dispatch beartype av
      python-fasthtml starlette uvicorn itsdangerous oauthlib python-multipart beautifulsoup4 soupsieve
      httpx2 httpcore2 truststore trio outcome sniffio"  # fastprogress imports fasthtml, which imports the rest
pins=$(for p in $PKGS; do python3 -m pip show "$p" 2>/dev/null | awk -v p="$p" '/^Version:/ {print p "==" $2}'; done)
[ -n "$pins" ] || { echo "install vtlearn first (pip install -e .): the versions are read from this environment"; exit 1; }
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: -d .whl --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 $pins
ls .whl | wc -l | xargs echo "wheels in .whl:"; du -sh .whl
