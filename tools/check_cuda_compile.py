#!/usr/bin/env python3
"""Build check of the CUDA kernel, without a GPU:
1. nvcc -c vtlearn/csrc/s2dtw_cuda.cu with the flags torch.utils.cpp_extension uses, for sm_90 and sm_80: fails on an
   nvcc error, on a warning in vtlearn/csrc, or on a register spill in a float32 kernel (the float64 kernels serve the
   parity tests; a few spilled bytes there are reported, not failed);
2. the installed extension vtlearn._C (built by `pip install`, which links it) loaded the way vtlearn loads it: its CUDA
   kernels must be registered for the three operators, and called (through the dispatcher's CUDA key) with the
   arguments vtlearn passes they must get as far as the kernel's own argument check ("cost must be a CUDA tensor"),
   which catches link errors and schema mismatches.
Exits 0 with a message when nvcc is missing."""
import os, shutil, subprocess, sys, sysconfig, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / 'vtlearn' / 'csrc' / 's2dtw_cuda.cu'

CALLS = r'''
import torch
from vtlearn.kernels import load_kernel
m = load_kernel('cpu')  # vtlearn._C: on a machine without a GPU, load_kernel('cuda') is not asked for
ops = ('dtw_forward', 'dtw_backward', 'dtw_forward_backward')
missing = [n for n in ops if not getattr(torch.ops.vtlearn, n).default.has_kernel_for_dispatch_key('CUDA')]
if missing: raise SystemExit(f'no CUDA kernel registered for {missing}')
cost, vl, tl = torch.zeros(1, 2, 3), torch.tensor([2]), torch.tensor([3])
cuda = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)  # the CUDA kernel itself, although the tensors are on the CPU
for name, args in (('dtw_forward', (cost, vl, tl, False, False, 0.1, 0.1, 0.5)),
                   ('dtw_backward', (cost, vl, tl, torch.ones(1), False, False, 0.1, 0.1, 0.5, False)),
                   ('dtw_forward_backward', (cost, vl, tl, False, False, 0.1, 0.1, 0.5))):
    try: getattr(torch.ops.vtlearn, name).default.redispatch(cuda, *args); raise SystemExit(f'{name}: no error for CPU tensors')
    except RuntimeError as e: assert 'cost must be a CUDA tensor' in str(e), f'{name}: {e}'
print(f'OK: {m.path.name} loads, registers its CUDA kernels, and they take vtlearn\'s arguments')
'''


def find_nvcc():
    home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    if home and (Path(home) / 'bin' / 'nvcc').exists(): return str(Path(home) / 'bin' / 'nvcc')
    return shutil.which('nvcc') or next((p for p in ('/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc') if Path(p).exists()), None)


def compile_check(nvcc, tmp):
    import torch
    from torch.utils.cpp_extension import include_paths
    from vtlearn.kernels import _FLOOR  # the torch floor the builds target
    incs = include_paths(device_type='cuda') + [sysconfig.get_path('include')]
    cmd = [nvcc, '-c', str(SRC), '-o', str(Path(tmp) / 's2dtw_cuda.o'),
           *[f'-I{p}' for p in incs], _FLOOR,
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
    if out: print(out)
    if res.returncode != 0:
        print(f'FAILED: nvcc exit {res.returncode} after {dt:.1f} s', file=sys.stderr)
        return 1
    warn = [l for l in out.splitlines() if 'warning' in l.lower() and ('vtlearn/csrc' in l or 'ptxas' in l)]
    bad = [l for l in warn if 'dtw_kernelId' not in l]  # dtw_kernel<double, ...>: the float64 kernels
    if bad:
        print(f'FAILED: {len(bad)} warning(s) in vtlearn/csrc after {dt:.1f} s', file=sys.stderr)
        return 1
    print(f'OK: compiled {SRC.relative_to(ROOT)} in {dt:.1f} s' + (f' ({len(warn)} spill warning(s) in float64 kernels)' if warn else ''))
    return 0


def link_check():
    "Load the installed vtlearn._C and call its CUDA kernels' argument checks, in a process of its own."
    t0 = time.time()
    r = subprocess.run([sys.executable, '-c', CALLS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    print('\n'.join(l for l in r.stdout.strip().splitlines() if 'No CUDA runtime is found' not in l))
    if r.returncode != 0:
        print(f'FAILED: loading or calling the CUDA kernels of vtlearn._C (exit {r.returncode}, {time.time() - t0:.1f} s)', file=sys.stderr)
        return 1
    return 0


def main():
    nvcc = find_nvcc()
    if nvcc is None:
        print('SKIP: nvcc not found (set CUDA_HOME or put nvcc on PATH); CUDA kernel not compile-checked')
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        return compile_check(nvcc, tmp) or link_check()


if __name__ == '__main__':
    sys.exit(main())
