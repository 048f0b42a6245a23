"""Small calls of every CUDA S2DTW entry point, for compute-sanitizer (memcheck, racecheck, synccheck):

    compute-sanitizer --tool racecheck --error-exitcode 3 python3 tests/sanitize_cases.py

forward, backward (gradient and alignment) and forward_backward, in float32 and float64, pairwise and paired, S2DTW
and plain soft-DTW, with ragged lengths, under every team size (warp tiles of 8/16/32 lanes and whole blocks of
64/128/256) in shared and in global memory. Sizes are tiny: the sanitizers slow kernels down 10-100x. Values are
checked by tests/test_gpu.py; this only has to run every code path. Not a pytest file (run by bench/gpu_check.sh).
"""
import os, sys, time
import torch

if not torch.cuda.is_available(): sys.exit('CUDA is not available')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from vtlearn.kernels import load_kernel

k = load_kernel('cuda')
g = torch.Generator().manual_seed(0)
t0, calls = time.time(), 0
for team in ('0', '8', '32', '64', '256'):
    for glob in ('0', '1'):
        os.environ['VTLEARN_S2DTW_TEAM'], os.environ['VTLEARN_S2DTW_GLOBAL'] = team, glob  # read at every call
        for dt in (torch.float32, torch.float64):
            for pairwise, (Bv, Bt, N, M) in ((True, (3, 2, 5, 4)), (False, (3, 3, 4, 7))):
                cost = torch.randn((Bv, N, Bt, M) if pairwise else (Bv, N, M), generator=g, dtype=dt).cuda()
                vl = torch.tensor([N, 1, N - 1][:Bv], device='cuda'); tl = torch.tensor([M, 2, 1][:Bt], device='cuda')
                gout = torch.ones((Bv, Bt) if pairwise else (Bv,), dtype=dt, device='cuda')
                for plain in (False, True):
                    args = (pairwise, plain, 0.1, 0.1, 0.5)
                    outs = [k.forward(cost, vl, tl, *args), k.backward(cost, vl, tl, gout, *args, False),
                            k.backward(cost, vl, tl, gout, *args, True), *k.forward_backward(cost, vl, tl, *args)]
                    torch.cuda.synchronize(); calls += 4
                    bad = [i for i, o in enumerate(outs) if not torch.isfinite(o).all()]
                    if bad: sys.exit(f'non-finite output {bad} (team {team}, global {glob}, {dt}, pairwise={pairwise}, plain={plain})')
print(f'sanitize_cases: {calls} kernel calls ok ({time.time() - t0:.1f} s)')
