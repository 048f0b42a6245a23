#!/usr/bin/env python3
"""Build check of the CUDA kernel, without a GPU:
1. nvcc -c vtlearn/csrc/s2dtw_cuda.cu with the flags torch.utils.cpp_extension uses, for sm_90 and sm_80: fails on an
   nvcc error, on a warning in vtlearn/csrc, or on a register spill in a float32 kernel (the float64 kernels serve the
   parity tests; a few spilled bytes there are reported, not failed);
2. the extension built, linked and loaded the way vtlearn loads it (`load_kernel('cuda')`, sm_90 only, in a temporary
   cache): its CUDA kernels must be registered for the three operators, and called (through the dispatcher's CUDA key)
   with the arguments vtlearn passes they must get as far as the kernel's own argument check ("cost must be a CUDA
   tensor"), which catches link errors and schema mismatches.
The two run at once, each on its own core. Exits 0 with a message when nvcc is missing."""
import os, shutil, subprocess, sys, sysconfig, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / 'vtlearn' / 'csrc' / 's2dtw_cuda.cu'

CALLS = r'''
import torch
from vtlearn.kernels import load_kernel
m = load_kernel('cuda')
ops = ('dtw_forward', 'dtw_backward', 'dtw_forward_backward')
missing = [n for n in ops if not torch._C._dispatch_has_kernel_for_dispatch_key(f'vtlearn::{n}', 'CUDA')]
if missing: raise SystemExit(f'no CUDA kernel registered for {missing}')
cost, vl, tl = torch.zeros(1, 2, 3), torch.tensor([2]), torch.tensor([3])
cuda = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)  # the CUDA kernel itself, although the tensors are on the CPU
for name, args in (('dtw_forward', (cost, vl, tl, False, False, 0.1, 0.1, 0.5)),
                   ('dtw_backward', (cost, vl, tl, torch.ones(1), False, False, 0.1, 0.1, 0.5, False)),
                   ('dtw_forward_backward', (cost, vl, tl, False, False, 0.1, 0.1, 0.5))):
    try: getattr(torch.ops.vtlearn, name).default.redispatch(cuda, *args); raise SystemExit(f'{name}: no error for CPU tensors')
    except RuntimeError as e: assert 'cost must be a CUDA tensor' in str(e), f'{name}: {e}'
print('OK: the CUDA extension links, loads, registers its CUDA kernels, and they take vtlearn\'s arguments')
'''


def find_nvcc():
    home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    if home and (Path(home) / 'bin' / 'nvcc').exists(): return str(Path(home) / 'bin' / 'nvcc')
    return shutil.which('nvcc') or next((p for p in ('/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc') if Path(p).exists()), None)


def compile_check(nvcc, tmp):
    import torch
    from torch.utils.cpp_extension import include_paths
    incs = include_paths(device_type='cuda') + [sysconfig.get_path('include')]
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


def start_link_check(tmp):
    "Start building and importing through vtlearn, in a process of its own; give the linker a libcudart.so when the toolkit has none (pip's CUDA runtime)."
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(Path(tmp) / 'ext'), TORCH_CUDA_ARCH_LIST='9.0')
    try:
        import nvidia
        rt = next(p for d in nvidia.__path__ for p in sorted(Path(d).glob('cu*/lib/libcudart.so*')) + sorted(Path(d).glob('cuda_runtime/lib/libcudart.so*')))
        (Path(tmp) / 'lib').mkdir(); (Path(tmp) / 'lib' / 'libcudart.so').symlink_to(rt)
        env['LIBRARY_PATH'] = os.pathsep.join(filter(None, [str(Path(tmp) / 'lib'), env.get('LIBRARY_PATH')]))
    except (ImportError, StopIteration): pass
    return subprocess.Popen([sys.executable, '-c', CALLS], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT), time.time()


def finish_link_check(started):
    "Wait for the build and import started by `start_link_check`, and report it."
    proc, t0 = started
    out = '\n'.join(l for l in proc.communicate()[0].strip().splitlines() if 'No CUDA runtime is found' not in l)
    print(out)
    if proc.returncode != 0:
        print(f'FAILED: building or calling the CUDA extension (exit {proc.returncode}, {time.time() - t0:.1f} s)', file=sys.stderr)
        return 1
    print(f'   ({time.time() - t0:.1f} s)')
    return 0


def main():
    nvcc = find_nvcc()
    if nvcc is None:
        print('SKIP: nvcc not found (set CUDA_HOME or put nvcc on PATH); CUDA kernel not compile-checked')
        return 0
    with tempfile.TemporaryDirectory() as tmp:  # the two builds are independent: each on its own core
        link = start_link_check(tmp)
        compiled = compile_check(nvcc, tmp)
        return finish_link_check(link) or compiled


if __name__ == '__main__':
    sys.exit(main())
