#!/usr/bin/env bash
# Install what the tests need and run the whole test suite: kernels' compile check, every notebook's tests and tests/
# (the docs build and its browser test among them). This is the README's test command and what CI runs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
step() { echo; echo "=== $1 ($((SECONDS - t0)) s elapsed)"; }

step "install (torch 2.14.1 + torchvision 0.29.1, vtlearn with its compiled kernels and dev requirements)"
python3 -m pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1 setuptools wheel ninja
python3 -m pip install -q --disable-pip-version-check --no-build-isolation -e ".[dev]"  # builds vtlearn._C against that torch
if ! command -v chromium >/dev/null; then  # the docs' browser test needs Debian's Chromium: installed only when asked
  if [ "${VTLEARN_INSTALL_CHROMIUM:-0}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium with apt-get (VTLEARN_INSTALL_CHROMIUM=1)"
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else echo "note: no chromium: the docs' browser tests will be skipped (VTLEARN_INSTALL_CHROMIUM=1, as root, installs it with apt-get)"; fi
fi

step "CUDA kernel build check (warnings and spills; the installed kernels load; no GPU needed)"
python3 tools/check_cuda_compile.py

step "tests (one per notebook, plus tests/; tests/test_docs.py builds the docs)"
set +e
# One thread a process: the test processes already fill the cores, and torch's threads beyond the cores spin while they wait.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} python3 -m pytest -q -p no:cacheprovider -p no:benchmark --durations=30 -n "${VTLEARN_TEST_WORKERS:-2}" --dist worksteal tests  # 2 processes: one per core here
rc=$?
set -e
step "done (pytest exit $rc)"
exit $rc
