"""The CPU kernel's DP per instruction-set build, and against another build of the operators, in one run.

vtlearn._C holds the CPU kernel built three times (baseline x86-64, AVX2, AVX-512; `s2dtw_cpu_isa.h`) and runs the
widest the CPU has. This times `dtw_forward_backward` (the training step's DP: distances and gradients in one pass) on
(B, N, B, N) pairwise costs with every build, capped with VTLEARN_CPU_ISA, each in a fresh process, the configurations
interleaved over `--rounds` rounds (medians), so that load on the machine hits every column alike. `--so PATH` adds a
column for another build of the operators (for example the kernel of an older commit, built with its own flags); give
it more than once for more columns.
The last row is the floor any exact implementation pays at B=64, N=M=8, D=512: the three GEMMs of the similarity
(forward, and the two of its backward).

    python bench/bench_isa.py                       # baseline, avx2, avx512 (those the CPU has)
    python bench/bench_isa.py --so /tmp/old/old.so  # ... and an older build, for an A/B
"""
import argparse, json, statistics, subprocess, sys, time
from pathlib import Path

SIZES = ((64, 8), (256, 8), (64, 32), (32, 128))

CHILD = r'''
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
if sys.argv[1]: torch.ops.load_library(sys.argv[1])
else: from vtlearn.kernels import load_kernel; load_kernel('cpu')
op = torch.ops.vtlearn.dtw_forward_backward
g, out = torch.Generator().manual_seed(0), {}
for B, N in json.loads(sys.argv[2]):
    cost = torch.randn(B, N, B, N, generator=g)
    vl, tl = torch.full((B,), N), torch.full((B,), N)
    op(cost, vl, tl, True, False, 0.1, 0.1, 0.5)  # warm-up
    reps, ts = max(3, int(2e6 // (B * B * N * N))), []
    for _ in range(min(reps, 20)):
        t = time.perf_counter(); op(cost, vl, tl, True, False, 0.1, 0.1, 0.5); ts.append(time.perf_counter() - t)
    out[f'{B},{N}'] = min(ts)
isa = torch.ops.vtlearn.cpu_isa() if hasattr(torch.ops.vtlearn, 'cpu_isa') else -1
print(json.dumps(dict(times=out, isa=isa)))
'''


def gemm_floor(threads, B=64, N=8, D=512, reps=50):
    "The three GEMMs of the similarity at (B, N, D): forward (B*N, D) @ (D, B*N), and the two of its backward."
    import torch
    torch.set_num_threads(threads)
    v, t, g = torch.randn(B * N, D), torch.randn(B * N, D), torch.randn(B * N, B * N)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); v @ t.T; g @ t; g.T @ v; ts.append(time.perf_counter() - t0)
    return min(ts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--so', action='append', default=[], help='another build of the operators to time beside vtlearn._C (repeatable)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rounds', type=int, default=3)
    a = p.parse_args()
    cols = [('baseline', 'baseline', ''), ('avx2', 'avx2', ''), ('avx512', '', '')] + [(Path(so).name, '', so) for so in a.so]
    runs = {c[0]: [] for c in cols}
    for _ in range(a.rounds):
        for name, cap, so in cols:
            env = {**__import__('os').environ, 'VTLEARN_CPU_ISA': cap}
            r = subprocess.run([sys.executable, '-c', CHILD, so, json.dumps(SIZES), str(a.threads)], env=env,
                               capture_output=True, text=True, check=True)
            runs[name].append(json.loads(r.stdout.strip().splitlines()[-1]))
    ran = {name: ('baseline', 'avx2', 'avx512')[rs[0]['isa']] if rs[0]['isa'] >= 0 else '?' for name, rs in runs.items()}
    print(f"CPU kernel, dtw_forward_backward on (B, N, B, N) float32 costs, {a.threads} threads, ms (median of {a.rounds} rounds "
          f"of the best of up to 20 calls); the build that ran: " + ', '.join(f'{k}={v}' for k, v in ran.items()))
    ref = 'avx512'
    print(f"{'B':>5} {'N=M':>5} " + ' '.join(f'{n:>16}' for n, _, _ in cols))
    for B, N in SIZES:
        med = {n: statistics.median(r['times'][f'{B},{N}'] for r in runs[n]) * 1e3 for n, _, _ in cols}
        print(f"{B:>5} {N:>5} " + ' '.join(f"{med[n]:>9.2f} ({med[n] / med[ref]:4.2f}x)" for n, _, _ in cols))
    floor = gemm_floor(a.threads) * 1e3
    print(f"floor: the three GEMMs at B=64, N=M=8, D=512: {floor:.2f} ms")


if __name__ == '__main__':
    main()
