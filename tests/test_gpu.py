"""CUDA kernel vs CPU kernel of S2DTW / soft-DTW (needs a GPU; skipped otherwise).

Loads both extensions with `vtlearn.kernels.load_kernel` (torch alone, no fastai; the library's own builds, so they
are compiled once for this test, `vtlearn check` and the benchmarks) and compares forward, backward and alignment
on random inputs: CUDA float64 against CPU float64 to 1e-9, CUDA float32 against CPU float64 (on the same float32-rounded costs) to 2e-5 forward, 2e-4 backward, all relative to
the largest magnitude of the reference (looser where the CPU kernel's own float32 error is larger: see compare).
Run by bench/gpu_check.sh.
"""
import functools
import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip('CUDA is not available', allow_module_level=True)

from vtlearn.kernels import load_kernel
from vtlearn.test_utils import dtw_case

F32_FWD, F32_BWD, F64 = 2e-5, 2e-4, 1e-9


@pytest.fixture(scope='module')
def ext():
    return load_kernel('cpu'), load_kernel('cuda')


def rel(a, b):
    "Largest difference relative to the largest magnitude of the reference b."
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item() if b.numel() else 0.


make_case = functools.partial(dtw_case, strided=False)  # contiguous costs unless a case asks for strides


def to_cuda(x):
    "Copy to the GPU keeping the exact strides (.cuda() would make sliced tensors contiguous)."
    return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device='cuda').copy_(x)


def compare(ext, cost, vl, tl, gout, pairwise, plain, gamma, sg=0.1, tau=0.5, dtypes=(torch.float64, torch.float32)):
    """CUDA forward, backward and alignment against the CPU kernel in float64.
    Tolerances: float32 within F32_* or 5x the CPU kernel's own float32 error; float64 within F64 or 10x that float32
    error scaled by 2^-29 (eps64 / eps32): long paths and small gamma amplify rounding (R's rounding enters the
    soft-min weights divided by gamma), and GPU exp/log/FMA round differently from the CPU's."""
    cpu, cuda = ext
    args = (pairwise, plain, gamma, sg, tau)
    names = ('forward', 'backward', 'alignment', 'forward_backward value', 'forward_backward gradient')
    run = lambda k, c, v, t, go: [k.forward(c, v, t, *args), k.backward(c, v, t, go, *args, False),
                                   k.backward(c, v, t, go, *args, True), *k.forward_backward(c, v, t, *args)]
    c32, g32 = cost.float(), gout.float()
    cond = [rel(o, r) for o, r in zip(run(cpu, c32, vl, tl, g32), run(cpu, c32.double(), vl, tl, g32.double()))]
    for dt in dtypes:
        c, go = cost.to(dt), gout.to(dt)  # the float64 reference sees the same (rounded) inputs
        refs = run(cpu, c.double(), vl, tl, go.double())
        outs = run(cuda, to_cuda(c), vl.cuda(), tl.cuda(), go.cuda())
        for name, o, r, e32, base in zip(names, outs, refs, cond, (F32_FWD, F32_BWD, F32_BWD, F32_FWD, F32_BWD)):
            assert o.dtype == dt and o.shape == r.shape and o.is_cuda, name
            tol = max(F64, 10 * 2 ** -29 * e32) if dt == torch.float64 else max(base, 5 * e32)
            err = rel(o, r)
            assert err < tol, f'{name} {dt}: error {err:.3g} >= {tol:.3g}'


@pytest.mark.parametrize('N,M', [(1, 1), (8, 8), (16, 16), (32, 32), (64, 64), (5, 11), (13, 3)])
@pytest.mark.parametrize('gamma', [0.1, 1.0, 0.0])
@pytest.mark.parametrize('plain', [False, True])
@pytest.mark.parametrize('pairwise', [True, False])
def test_random(ext, N, M, gamma, plain, pairwise):
    cost, vl, tl, gout = make_case(3, 4, N, M, pairwise, strided=N % 2 == 1, seed=N * 100 + M)
    compare(ext, cost, vl, tl, gout, pairwise, plain, gamma)


@pytest.mark.parametrize('N,M', [(8, 8), (16, 7)])
@pytest.mark.parametrize('plain', [False, True])
def test_small_gamma_large_costs(ext, N, M, plain):
    # gamma = 1e-3 with costs up to +-50: no overflow to NaN/Inf (rel() asserts finiteness).
    cost, vl, tl, gout = make_case(3, 5, N, M, True, scale=50., seed=7)
    compare(ext, cost, vl, tl, gout, True, plain, 1e-3)


def test_worked_examples(ext):
    _, cuda = ext
    v = torch.tensor([[1., 0]], dtype=torch.float64); t = torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    v2 = torch.tensor([[1., 0], [0, 1]], dtype=torch.float64)
    t2 = torch.tensor([[0.6, 0.8], [0.8, -0.6], [0, 1]], dtype=torch.float64)
    for vv, tt, want in ((v, t, 0.2874615834355262), (v2, t2, -2.21862576545991)):
        cost = (-(vv @ tt.T))[None].cuda()
        one = lambda n: torch.tensor([n], device='cuda')
        d = cuda.forward(cost, one(len(vv)), one(len(tt)), False, False, 0.1, 0.1, 0.5)
        assert abs(d.item() - want) < 1e-12


@pytest.mark.parametrize('team', [8, 16, 32, 64, 128, 256])
@pytest.mark.parametrize('glob', ['0', '1'])
def test_forced_schedules(ext, monkeypatch, team, glob):
    # Every team size, in shared and in global memory (the planner picks one per shape; force the others).
    monkeypatch.setenv('VTLEARN_S2DTW_TEAM', str(team)); monkeypatch.setenv('VTLEARN_S2DTW_GLOBAL', glob)
    for plain in (False, True):
        cost, vl, tl, gout = make_case(3, 5, 12, 9, True, seed=team)
        compare(ext, cost, vl, tl, gout, True, plain, 0.1)
        cost, vl, tl, gout = make_case(7, 0, 6, 21, False, strided=True, seed=team + 1)
        compare(ext, cost, vl, tl, gout, False, plain, 0.0)


@pytest.mark.parametrize('plain', [False, True])
def test_fallback_global_memory(ext, plain):
    # Grids too large for one team's workspace in shared memory.
    cost, vl, tl, gout = make_case(2, 3, 300, 257, True, seed=3)
    compare(ext, cost, vl, tl, gout, True, plain, 0.1)


def test_fallback_1024(ext):
    cost, vl, tl, gout = make_case(2, 0, 1024, 1024, False, full=True, seed=4)
    vl[1], tl[1] = 1000, 777
    compare(ext, cost, vl, tl, gout, False, False, 0.1)


def test_large_batch(ext):
    cost, vl, tl, gout = make_case(256, 256, 8, 8, True, seed=5)
    compare(ext, cost, vl, tl, gout, True, False, 0.1)


def test_full_lengths_and_zero_padding(ext):
    # Padding cells of the gradient are zero (written by the kernel, not a memset).
    _, cuda = ext
    cost, vl, tl, gout = make_case(4, 3, 10, 6, True, seed=6)
    vl[1], tl[0] = 2, 1
    g = cuda.backward(cost.cuda(), vl.cuda(), tl.cuda(), gout.cuda(), True, False, 0.1, 0.1, 0.5, False).cpu()
    assert (g[1, 2:] == 0).all() and (g[:, :, 0, 1:] == 0).all() and (g[0, :, 0, 0] != 0).all()


def test_argument_checks(ext):
    _, cuda = ext
    cost, vl, tl, gout = make_case(2, 3, 4, 5, True)
    with pytest.raises(RuntimeError):
        cuda.forward(cost, vl, tl, True, False, 0.1, 0.1, 0.5)  # CPU tensor
    with pytest.raises(RuntimeError):
        cuda.forward(cost.cuda(), vl, tl, True, False, 0.1, 0.1, 0.5)  # lengths on the CPU
    with pytest.raises(RuntimeError):
        cuda.forward(cost.cuda(), vl.cuda(), tl.cuda(), False, False, 0.1, 0.1, 0.5)  # 4-d cost, paired
    with pytest.raises(RuntimeError):
        cuda.forward(cost.cuda().half(), vl.cuda(), tl.cuda(), True, False, 0.1, 0.1, 0.5)
    empty = cuda.forward(torch.zeros(0, 4, 3, 5, device='cuda'), vl[:0].cuda(), tl.cuda(), True, False, 0.1, 0.1, 0.5)
    assert empty.shape == (0, 3)
