"""The kernels that pip installs (vtlearn._C) load without compiling anything. The build on first use
(VTLEARN_JIT_KERNELS=1: as where vtlearn was installed without vtlearn._C) needs no OpenMP: it builds with a compiler
that rejects -fopenmp, as Apple's clang does without libomp, and still spreads the pairs over torch's threads. It has
a fixed name in torch's cache, and compiles again when a header changes. Real builds, in fresh processes and empty
caches (CXX and TORCH_EXTENSIONS_DIR are read when an extension is built)."""
import os, shutil, subprocess, sys
from pathlib import Path

CXX = '''#!/bin/sh
echo "$*" >> "$0.log"
for a in "$@"; do
  if [ "$a" = -fopenmp ]; then echo "cxx: error: unsupported option '-fopenmp'" >&2; exit 1; fi
done
exec c++ "$@"
'''

CODE = '''
import torch
from vtlearn.kernels import load_kernel
from vtlearn.align import _reference
k, g = load_kernel('cpu'), torch.Generator().manual_seed(0)
one = torch.tensor([1])
print(k.forward(-torch.tensor([[[0.6]]], dtype=torch.float64), one, one, False, False, 0.1, 0.1, 0.5).item())
cost, vl, tl = torch.randn(9, 5, 7, 4, dtype=torch.float64, generator=g), torch.randint(1, 6, (9,), generator=g), torch.randint(1, 5, (7,), generator=g)
ds = []
for threads in (1, 2):  # torch's threads: the pairs split over 2 give what 1 gives
    torch.set_num_threads(threads)
    ds.append(k.forward(cost, vl, tl, True, False, 0.1, 0.1, 0.5))
print(torch.equal(ds[0], ds[1]), (ds[1] - _reference(cost, vl, tl, True, False, 0.1, 0.1, 0.5)).abs().max().item())
'''


def test_jit_build_without_openmp(tmp_path):
    cxx = tmp_path / 'cxx'
    cxx.write_text(CXX); cxx.chmod(0o755)
    env = dict(os.environ, CXX=str(cxx), TORCH_EXTENSIONS_DIR=str(tmp_path / 'ext'), VTLEARN_JIT_KERNELS='1')
    log = tmp_path / 'cxx.log'
    for run in range(2):  # the second process loads the build from torch's cache
        r = subprocess.run([sys.executable, '-c', CODE], env=env, capture_output=True, text=True, timeout=900,
                           cwd=Path(__file__).resolve().parent.parent)
        assert r.returncode == 0, r.stderr[-3000:]
        value, (same, err) = r.stdout.split()[0], r.stdout.split()[1:]
        assert abs(float(value) - 0.2874615834355262) < 1e-12  # the first worked example of S2DTW
        assert same == 'True' and float(err) < 1e-10, (same, err)
        assert [p.parent.name for p in (tmp_path / 'ext').glob('*/*.so')] == ['vtlearn_cpu']
        compiles = [l for l in log.read_text().splitlines() if ' -c ' in l]  # (torch also asks the compiler its version)
        if run == 0: first = compiles
    assert len(first) == 3 and not any('-fopenmp' in l for l in first)  # the three CPU sources, no OpenMP asked for
    assert compiles == first  # the second process compiled nothing


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
    assert built == '[]', (built, r.stderr[-500:])  # torch's cache untouched


REBUILD = '''
import sys, vtlearn.kernels as K
from pathlib import Path
K.csrc, K._SRCS = Path(sys.argv[1]), {'tiny': ['tiny.cpp']}  # vtlearn's build function on a source of the test's own
print(K._jit_build(('tiny',)))
'''


def test_jit_build_follows_headers(tmp_path):
    "The build on first use keeps one folder in torch's cache, and ninja compiles it again when a header it includes changes."
    src, ext = tmp_path / 'csrc', tmp_path / 'ext'
    src.mkdir()
    (src / 'tiny.h').write_text('inline int tiny() { return 1; }\n')
    (src / 'tiny.cpp').write_text('#include "tiny.h"\nint tiny_entry() { return tiny(); }\n')
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(ext))
    def build():
        r = subprocess.run([sys.executable, '-c', REBUILD, str(src)], env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        so, = ext.glob('*/*.so')  # one build, whatever happened before
        assert r.stdout.strip() == str(so)
        return so.stat().st_mtime_ns
    first = build()
    assert build() == first  # nothing changed: loaded from the cache
    (src / 'tiny.h').write_text('inline int tiny() { return 2; }\n')
    assert build() > first and [p.name for p in ext.iterdir()] == ['vtlearn_tiny']
