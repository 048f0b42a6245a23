#!/usr/bin/env python3
"""Compile-only check of the CUDA kernel (runs without a GPU): nvcc -c vtlearn/csrc/s2dtw_cuda.cu with the
flags torch.utils.cpp_extension uses, for sm_90 and sm_80. Fails on an nvcc error or on a warning in
vtlearn/csrc; exits 0 with a message when nvcc is missing."""
import os, shutil, subprocess, sys, sysconfig, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / 'vtlearn' / 'csrc' / 's2dtw_cuda.cu'


def find_nvcc():
    home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    if home and (Path(home) / 'bin' / 'nvcc').exists(): return str(Path(home) / 'bin' / 'nvcc')
    return shutil.which('nvcc') or next((p for p in ('/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc') if Path(p).exists()), None)


def main():
    nvcc = find_nvcc()
    if nvcc is None:
        print('SKIP: nvcc not found (set CUDA_HOME or put nvcc on PATH); CUDA kernel not compile-checked')
        return 0
    import torch
    from torch.utils.cpp_extension import include_paths
    incs = include_paths(device_type='cuda') + [sysconfig.get_path('include')]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, '-c', str(SRC), '-o', str(Path(tmp) / 's2dtw_cuda.o'),
               *[f'-I{p}' for p in incs], '-DTORCH_EXTENSION_NAME=vt_s2dtw_cuda', '-DTORCH_API_INCLUDE_EXTENSION_H',
               f'-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}',
               '-std=c++20', '-O3', '--expt-relaxed-constexpr', '--compiler-options', '-fPIC',
               '-D__CUDA_NO_HALF_OPERATORS__', '-D__CUDA_NO_HALF_CONVERSIONS__',
               '-D__CUDA_NO_BFLOAT16_CONVERSIONS__', '-D__CUDA_NO_HALF2_OPERATORS__',
               '-gencode=arch=compute_90,code=sm_90', '-gencode=arch=compute_80,code=sm_80',
               '-Xptxas=-warn-spills', '-Xcompiler=-Wall']
        print(' '.join(cmd), flush=True)
        t0 = time.time()
        res = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.time() - t0
        out = (res.stdout + res.stderr).strip()
        if res.returncode != 0:
            print(out, file=sys.stderr)
            print(f'FAILED: nvcc exit {res.returncode} after {dt:.1f} s', file=sys.stderr)
            return 1
        if out: print(out)
        ours = [l for l in out.splitlines() if 'warning' in l.lower() and ('vtlearn/csrc' in l or 'ptxas' in l)]
        if ours:
            print(f'FAILED: {len(ours)} warning(s) in vtlearn/csrc after {dt:.1f} s', file=sys.stderr)
            return 1
        print(f'OK: compiled {SRC.relative_to(ROOT)} in {dt:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
