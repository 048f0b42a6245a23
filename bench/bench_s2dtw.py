"""Benchmark of the contrastive S2DTW path: `s2dtw_pairwise` forward + backward over all B x B pairs.

Prints one table row per (backend, GEMM precision, B, N = M) with D = 512: forward (inference, no gradient) and
forward+backward (a training step: distances and gradients in one kernel pass, then the GEMMs' backward) times (median),
the DP throughput (weak-grid cells B*B*(2N+1)^2 per second of forward + backward), and the peak extra memory measured against the size of
the (B*N, B*M) similarity matrix. CPU peak memory is the growth of the process's peak RSS, measured in a fresh
subprocess per configuration; CUDA peak memory is `torch.cuda.max_memory_allocated` above the inputs.

    python bench/bench_s2dtw.py                  # CPU, sizes that finish in a few minutes on 2 cores
    python bench/bench_s2dtw.py --device cuda    # GPU: every size, float32 / TF32 / bfloat16 GEMMs
    python bench/bench_s2dtw.py --device cuda --backend triton   # the same rows on the Triton kernels
    python bench/bench_s2dtw.py --losses         # the full losses of vtlearn.losses, forward + backward
    python bench/bench_s2dtw.py --device cuda --teams   # the DP kernel alone, per team size, against the SFU bound
    python bench/bench_s2dtw.py --floors         # CPU: the loss against its GEMMs, and hard DTW against a peer
"""
import argparse, json, os, resource, subprocess, sys, time
import torch

BS, NS, D = (16, 64, 256, 1024, 2048), (8, 16, 32), 512


def run_one(device, precision, B, N, reps, backend=None):
    "Time one configuration in this process (`backend`: a kernel of vtlearn.align, default the device's); returns a dict of measurements."
    from vtlearn.check import time_loss
    from vtlearn.kernels import load_kernel
    backend = backend or device
    load_kernel(backend)
    if device == 'cuda': torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated() + 2 * B * N * D * 4  # the inputs
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = {name: time_loss(B, N, D, device, reps, backward=bw, backend=backend, precision=precision)
           for name, bw in (('fwd', False), ('fwd_bwd', True))}
    if device == 'cuda': res['peak_mb'] = (torch.cuda.max_memory_allocated() - base) / 2**20
    else: res['peak_mb'] = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return res


def measure(device, precision, B, N, reps, backend=None):
    "CPU: run in a fresh subprocess so that its peak RSS belongs to this configuration alone."
    if device == 'cuda': return run_one(device, precision, B, N, reps, backend)
    out = subprocess.run([sys.executable, __file__, '--_one', json.dumps([device, precision, B, N, reps])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_losses(device, reps):
    "Forward + backward time of each loss of `vtlearn.losses` on (B, 8, 512) float32 embeddings."
    from vtlearn.losses import S2DTWLoss, SoftDTWLoss, DTWLoss, MILNCELoss, InfoNCELoss
    losses = dict(S2DTW=S2DTWLoss(), SoftDTW=SoftDTWLoss(), DTW=DTWLoss(), MILNCE=MILNCELoss(), InfoNCE=InfoNCELoss())
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    print(f"# losses of vtlearn.losses, forward + backward (ms), N = M = 8, D = {D}, float32, {device}")
    print(f"{'B':>5} " + ' '.join(f'{k:>9}' for k in losses))
    for B in ((16, 64, 256, 1024, 2048) if device == 'cuda' else (16, 64, 256)):
        g = torch.Generator(device).manual_seed(0)
        V = torch.nn.functional.normalize(torch.randn(B, 8, D, device=device, generator=g), dim=-1).requires_grad_()
        T = torch.nn.functional.normalize(torch.randn(B, 8, D, device=device, generator=g), dim=-1).requires_grad_()
        row = []
        for name, lf in losses.items():
            lf = lf.to(device)
            lf(V, T).backward(); ts = []
            for _ in range(reps):
                sync(); t0 = time.perf_counter(); lf(V, T).backward(); sync(); ts.append(time.perf_counter() - t0)
            row.append(1e3 * sorted(ts)[len(ts) // 2])
        print(f"{B:>5} " + ' '.join(f'{t:>9.2f}' for t in row), flush=True)


def sm_clock_ghz():
    "The GPU's maximum SM clock (nvidia-smi), or None."
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=clocks.max.sm', '--format=csv,noheader,nounits', '-i', '0'],
                             capture_output=True, text=True, check=True).stdout
        return float(out.split()[0]) / 1e3
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError): return None


def bench_teams(reps):
    """CUDA: the DP kernel alone on precomputed (B, N, B, N) costs, float32, for the planner's team size (auto) and
    every forced one. The bound is the special-function unit's: 3 exp + 1 log per weak-grid cell forward, at 16
    operations per SM per cycle (sm_80/sm_90) and the maximum SM clock."""
    from vtlearn.kernels import load_kernel
    k = load_kernel('cuda')
    ghz, sms = sm_clock_ghz(), torch.cuda.get_device_properties(0).multi_processor_count
    sfu = 16 * sms * (ghz or 1.98) * 1e9
    print(f"# S2DTW DP kernel alone, float32, {torch.cuda.get_device_name()}, {sms} SMs, "
          f"{'%.2f GHz' % ghz if ghz else 'clock unknown, 1.98 GHz assumed'}")
    hdr = f"{'B':>5} {'N=M':>4} {'team':>5} {'fwd ms':>8} {'bwd ms':>8} {'SFU bound ms':>13} {'fwd/bound':>9}"
    print(hdr); print('-' * len(hdr))
    for B, N in ((256, 8), (2048, 16)):
        g = torch.Generator('cuda').manual_seed(0)
        cost = -torch.randn(B * N, B * N, device='cuda', generator=g).view(B, N, B, N) * 0.2
        lens, gout = torch.full((B,), N, device='cuda'), torch.ones(B, B, device='cuda')
        args = (True, False, 0.1, 0.1, 0.5)
        bound = B * B * (2 * N + 1) ** 2 * 4 / sfu * 1e3
        for team in (0, 8, 16, 32, 64, 128, 256):
            os.environ['VTLEARN_S2DTW_TEAM'] = str(team)  # read by the kernel at each call; 0 = the planner's choice
            ts = {}
            for name, f in (('fwd', lambda: k.forward(cost, lens, lens, *args)),
                            ('bwd', lambda: k.backward(cost, lens, lens, gout, *args, False))):
                f(); torch.cuda.synchronize(); t = []
                for _ in range(reps):
                    t0 = time.perf_counter(); f(); torch.cuda.synchronize(); t.append(time.perf_counter() - t0)
                ts[name] = 1e3 * sorted(t)[len(t) // 2]
            print(f"{B:>5} {N:>4} {team or 'auto':>5} {ts['fwd']:>8.3f} {ts['bwd']:>8.3f} {bound:>13.3f} {ts['fwd'] / bound:>9.1f}", flush=True)
        os.environ.pop('VTLEARN_S2DTW_TEAM')


def _best_ms(f, reps):
    "The best of `reps` timed calls of `f` (after one warm-up), in ms."
    f(); ts = []
    for _ in range(reps): t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return 1e3 * min(ts)


def _peer():
    """The hard-DTW peer: its name, how it wants the (B, N, B, N) costs laid out (done before timing), and its call on
    (costs, lengths, lengths). torchdtw.dtw_batch where it is installed (costs (Bv, Bt, N, M); its cost is divided by
    n + m), else the textbook C++ loop of dtw_peer.cpp (built once)."""
    try:
        import torchdtw
        return ('torchdtw.dtw_batch', lambda c: c.permute(0, 2, 1, 3).contiguous(),
                lambda c, vl, tl: torchdtw.dtw_batch(c, vl, tl, symmetric=False))
    except ImportError:
        from pathlib import Path
        from torch.utils.cpp_extension import load
        ext = load('vtlearn_bench_dtw_peer', [str(Path(__file__).with_name('dtw_peer.cpp'))], extra_cflags=['-O3'])
        return 'textbook C++ DTW', (lambda c: c), ext.dtw_pairwise


def bench_floors(reps, rounds=3):
    """CPU, float32, in one run (median over `rounds` interleaved rounds of the best of `reps` calls):
    1. the S2DTW loss (`S2DTWLoss`, forward + backward) at D = 512 against the three GEMMs any exact implementation
       does: the (B*N, D) x (D, B*N) similarity, and the two of its backward. Called alone the loss checks its inputs'
       and outputs' values (NaN, overflow); in a learner's step those checks ran where the batch entered (`unchecked`);
    2. the hard DTW forward (plain DTW, gamma 0: `dtw_from_costs`) on (B, N, B, N) costs against a peer."""
    from vtlearn.align import dtw_from_costs, unchecked
    from vtlearn.losses import S2DTWLoss
    def _in_step(f):
        with unchecked(): f()
    name, layout, peer = _peer()
    g = torch.Generator().manual_seed(0)
    rows = {}
    for _ in range(rounds):
        for B, N in ((64, 8), (256, 8)):
            V, T = (torch.nn.functional.normalize(torch.randn(B, N, D, generator=g), dim=-1).requires_grad_() for _ in range(2))
            v, t, go = V.detach().reshape(B * N, D), T.detach().reshape(B * N, D), torch.randn(B * N, B * N, generator=g)
            gemms = _best_ms(lambda: (v @ t.T, go @ t, go.T @ v), reps)
            rows.setdefault(('checked', B, N), []).append((_best_ms(lambda: S2DTWLoss()(V, T).backward(), reps), gemms))
            rows.setdefault(('step', B, N), []).append((_best_ms(lambda: _in_step(lambda: S2DTWLoss()(V, T).backward()), reps), gemms))
        for B, N in ((64, 8), (256, 8), (64, 32), (32, 128)):
            cost, lens = torch.randn(B, N, B, N, generator=g), torch.full((B,), N)
            ours = lambda: dtw_from_costs(cost, lens, lens, True, True, 0., 1., 0., 'cpu')
            theirs_cost = layout(cost)
            mine, theirs = ours(), peer(theirs_cost, lens, lens)
            assert torch.allclose(mine, theirs, atol=1e-4) or torch.allclose(mine / (2 * N), theirs, atol=1e-4), 'the peer disagrees'
            rows.setdefault(('dtw', B, N), []).append((_best_ms(ours, reps), _best_ms(lambda: peer(theirs_cost, lens, lens), reps)))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"# CPU floors, float32, torch {torch.__version__}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} threads; "
          f"ms, median of {rounds} rounds of the best of {reps}")
    print(f"{'':>26} {'B':>5} {'N=M':>4} {'vtlearn ms':>11} {'floor ms':>9} {'ratio':>6}")
    for (kind, B, N), xs in rows.items():
        a, b = med([x[0] for x in xs]), med([x[1] for x in xs])
        what = {'checked': 'S2DTW loss / 3 GEMMs', 'step': 'loss in a step / 3 GEMMs'}.get(kind, f'hard DTW / {name}')
        print(f"{what:>26} {B:>5} {N:>4} {a:>11.2f} {b:>9.2f} {a / b:>5.2f}x", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--backend', choices=['cuda', 'triton'], help="GPU kernel to time (default: the CUDA kernel); needs --device cuda")
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--max-seconds', type=float, default=20., help='skip configurations estimated to take longer per step')
    p.add_argument('--losses', action='store_true', help='time the full losses instead of the S2DTW path')
    p.add_argument('--teams', action='store_true', help='CUDA: time the DP kernel alone for each team size')
    p.add_argument('--floors', action='store_true', help='CPU: the loss against its three GEMMs, hard DTW against a peer')
    p.add_argument('--_one', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._one: print(json.dumps(run_one(*json.loads(a._one)))); return
    if a.backend and a.device != 'cuda': p.error('--backend picks a GPU kernel: add --device cuda')
    if a.losses: return bench_losses(a.device, a.reps)
    if a.floors: return bench_floors(max(a.reps, 10))
    if a.teams:
        if a.device != 'cuda': p.error('--teams times the CUDA kernel: add --device cuda')
        return bench_teams(a.reps)
    precisions = ('fp32', 'tf32', 'bf16') if a.device == 'cuda' else ('fp32',)
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else f'{os.cpu_count()} CPU cores, {torch.get_num_threads()} threads'
    name = a.backend or a.device  # the table's backend column
    print(f'# S2DTW contrastive path, D = {D}, torch {torch.__version__}, {dev}')
    hdr = f"{'backend':>7} {'gemm':>5} {'B':>5} {'N=M':>4} {'pairs':>8} {'fwd ms':>9} {'fwd+bwd ms':>11} {'Gcells/s':>9} {'peak MB':>9} {'sim MB':>8} {'peak/sim':>8}"
    print(hdr); print('-' * len(hdr))
    rate = None  # DP cells per second seen so far, to skip configurations that would take too long
    for prec in precisions:
        for N in NS:
            for B in BS:
                cells = B * B * (2 * N + 1) ** 2
                sim_mb = (B * N) ** 2 * 4 / 2**20
                if rate and cells / rate > a.max_seconds:
                    print(f"{name:>7} {prec:>5} {B:>5} {N:>4} {B*B:>8} {'skipped: est. %.0f s per step' % (cells / rate):>40}")
                    continue
                r = measure(a.device, prec, B, N, a.reps, a.backend)
                rate = max(rate or 0, cells / (r['fwd_bwd'] / 1e3))  # grid cells per second of forward + backward
                print(f"{name:>7} {prec:>5} {B:>5} {N:>4} {B*B:>8} {r['fwd']:>9.2f} {r['fwd_bwd']:>11.2f} "
                      f"{cells / r['fwd_bwd'] / 1e6:>9.3f} {r['peak_mb']:>9.1f} {sim_mb:>8.1f} {r['peak_mb'] / sim_mb:>8.1f}", flush=True)


if __name__ == '__main__': main()
