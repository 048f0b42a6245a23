"""Triton kernels vs the CPU kernel of S2DTW / soft-DTW on a GPU (needs CUDA and Triton; skipped otherwise).

Loads `vtlearn.triton_kernels` and the CPU kernel with `vtlearn.kernels.load_kernel` (nothing that needs fastai) and compares
forward, backward and alignment on random inputs, with the tolerances and cases of tests/test_gpu.py (a smaller set):
float64 to 1e-9, float32 to 2e-5 forward and 2e-4 backward, relative to the largest magnitude of the reference.
"""
import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip('CUDA is not available', allow_module_level=True)
pytest.importorskip('triton')

from test_gpu import make_case, compare  # noqa: E402  (the CUDA parity test's cases and comparison)
from vtlearn.kernels import load_kernel  # noqa: E402
import vtlearn.triton_kernels as tk  # noqa: E402


@pytest.fixture(scope='module')
def ext():
    return load_kernel('cpu'), tk


@pytest.mark.parametrize('N,M,pairwise,plain,gamma', [
    (1, 1, True, False, 0.1), (8, 8, True, False, 0.1), (8, 8, False, True, 1.0), (5, 11, True, False, 0.0),
    (13, 3, False, False, 0.1), (16, 16, False, True, 0.0), (32, 32, True, True, 0.1), (64, 64, False, False, 0.1)])
def test_random(ext, N, M, pairwise, plain, gamma):
    cost, vl, tl, gout = make_case(3, 4, N, M, pairwise, strided=N % 2 == 1, seed=N * 100 + M)
    compare(ext, cost, vl, tl, gout, pairwise, plain, gamma)


def test_small_gamma_large_costs(ext):
    cost, vl, tl, gout = make_case(3, 5, 8, 8, True, scale=50., seed=7)
    compare(ext, cost, vl, tl, gout, True, False, 1e-3)


def test_schedules(ext):
    # Groups of pairs that loop over programs, and anti-diagonals done in chunks: the same bits as the default launch.
    cost, vl, tl, gout = make_case(3, 5, 12, 9, True, seed=1)
    a = (cost.cuda(), vl.cuda(), tl.cuda(), True, False, 0.1, 0.1, 0.5, gout.cuda())
    base = tk._run(*a)
    for kw in (dict(pairs=2, programs=3), dict(pairs=4, programs=1, block=16)):
        assert all(torch.equal(o, b) for o, b in zip(tk._run(*a, **kw), base)), kw


def test_1024(ext):
    cost, vl, tl, gout = make_case(2, 0, 1024, 1024, False, full=True, seed=4)
    vl[1], tl[1] = 1000, 777
    compare(ext, cost, vl, tl, gout, False, False, 0.1)


def test_large_batch(ext):
    cost, vl, tl, gout = make_case(256, 256, 8, 8, True, seed=5)
    compare(ext, cost, vl, tl, gout, True, False, 0.1)


def test_worked_example_and_zero_padding(ext):
    one = torch.tensor([1], device='cuda')
    d = tk.forward(-torch.tensor([[[0.6]]], dtype=torch.float64, device='cuda'), one, one, False, False, 0.1, 0.1, 0.5)
    assert abs(d.item() - 0.2874615834355262) < 1e-12
    cost, vl, tl, gout = make_case(4, 3, 10, 6, True, seed=6)
    vl[1], tl[0] = 2, 1
    g = tk.backward(cost.cuda(), vl.cuda(), tl.cuda(), gout.cuda(), True, False, 0.1, 0.1, 0.5, False).cpu()
    assert (g[1, 2:] == 0).all() and (g[:, :, 0, 1:] == 0).all() and (g[0, :, 0, 0] != 0).all()


def test_align_backend(ext):
    # Through vtlearn.align: backend='triton' on CUDA tensors, values and gradients, against the CPU kernel.
    from vtlearn.align import s2dtw_pairwise
    V, T = torch.randn(4, 6, 16, dtype=torch.float64), torch.randn(3, 5, 16, dtype=torch.float64)
    res = []
    for b, dev in (('triton', 'cuda'), ('cpu', 'cpu')):
        v, t = V.to(dev).requires_grad_(), T.to(dev).requires_grad_()
        D = s2dtw_pairwise(v, t, video_lengths=[6, 2, 4, 5], text_lengths=[5, 3, 1], backend=b)
        res.append([x.detach().cpu() for x in (D, *torch.autograd.grad(D.sum(), (v, t)))])
    for o, r in zip(*res): assert ((o - r).abs().max() / r.abs().max()).item() < 1e-9
