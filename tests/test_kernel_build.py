"""The kernels that pip installs (vtlearn._C) load without compiling anything. The build on first use
(VTLEARN_JIT_KERNELS=1: as where vtlearn was installed without vtlearn._C) runs with a compiler that rejects -fopenmp,
as Apple's clang does without libomp: `load_kernel` falls back to a build without OpenMP and warns. Real builds, in
fresh processes and empty caches (CXX and TORCH_EXTENSIONS_DIR are read when an extension is built)."""
import os, subprocess, sys
from pathlib import Path

CXX = '''#!/bin/sh
echo "$*" >> "$0.log"
for a in "$@"; do
  if [ "$a" = -fopenmp ]; then echo "cxx: error: unsupported option '-fopenmp'" >&2; exit 1; fi
done
exec c++ "$@"
'''

CODE = '''
import warnings, torch
from vtlearn.kernels import load_kernel
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter('always')
    k = load_kernel('cpu')
one = torch.tensor([1])
print(k.forward(-torch.tensor([[[0.6]]], dtype=torch.float64), one, one, False, False, 0.1, 0.1, 0.5).item())
print([str(x.message) for x in w if 'rejects' in str(x.message)])
'''


def test_cpu_kernel_without_openmp(tmp_path):
    cxx = tmp_path / 'cxx'
    cxx.write_text(CXX); cxx.chmod(0o755)
    env = dict(os.environ, CXX=str(cxx), TORCH_EXTENSIONS_DIR=str(tmp_path / 'ext'), VTLEARN_JIT_KERNELS='1')
    log = tmp_path / 'cxx.log'
    for run in range(2):  # the second process loads the fallback build from torch's cache
        r = subprocess.run([sys.executable, '-c', CODE], env=env, capture_output=True, text=True, timeout=900,
                           cwd=Path(__file__).resolve().parent.parent)
        assert r.returncode == 0, r.stderr[-3000:]
        value, warned = r.stdout.strip().splitlines()[-2:]
        assert abs(float(value) - 0.2874615834355262) < 1e-12  # the first worked example of S2DTW
        assert 'rejects -fopenmp, so the S2DTW kernel is built without it' in warned and 'one core' in warned, warned
        built = [p.parent.name for p in (tmp_path / 'ext').glob('*/*.so')]
        assert len(built) == 1 and built[0].endswith('_1'), built  # the OpenMP build failed; the first fallback was built
        compiles = [l for l in log.read_text().splitlines() if ' -c ' in l]  # (torch also asks the compiler its version)
        if run == 0: first = compiles
    assert any('-fopenmp' not in l for l in first)  # the first process built the fallback
    assert compiles[len(first):] and all('-fopenmp' in l for l in compiles[len(first):])  # the second only retried OpenMP


INSTALLED = '''
import os, torch
from vtlearn.kernels import load_kernel, cpu_isa
k = load_kernel('cpu')
one = torch.tensor([1])
print(k.path.name, cpu_isa(), k.forward(-torch.tensor([[[0.6]]], dtype=torch.float64), one, one, False, False, 0.1, 0.1, 0.5).item())
print(sorted(os.listdir(os.environ['TORCH_EXTENSIONS_DIR'])))
'''


def test_installed_kernels_need_no_compile(tmp_path):
    "As the README installs vtlearn (pip install), the operators come from vtlearn._C: nothing compiles at first use."
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path))
    env.pop('VTLEARN_JIT_KERNELS', None)
    r = subprocess.run([sys.executable, '-c', INSTALLED], env=env, capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    (name, isa, value), built = r.stdout.split('\n')[0].split(), r.stdout.strip().splitlines()[-1]
    assert name.startswith('_C.') and name.endswith('.so'), name  # the installed extension (_C.abi3.so)
    assert isa in ('baseline', 'avx2', 'avx512') and abs(float(value) - 0.2874615834355262) < 1e-12
    assert built == '[]' and 'compiled' not in r.stderr, (built, r.stderr[-500:])  # torch's cache untouched
