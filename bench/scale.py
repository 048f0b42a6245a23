"""The measurements behind the docs page "Pretraining at scale: the cost on paper" (nbs/13_scale.ipynb).

Runs, on this machine's CPU, at small sizes, and writes every number with the machine's load when it was taken to
`bench/results/scale_cpu.json` (the notebook only reads that file and computes the projections):

1. `vt_learner` training steps (one thread throughout: per-core numbers) on batches made in memory (`bench_train.synthetic_step`): a timm video backbone on raw
   frames and the features tower, ms per step and the S2DTW loss's share;
2. the S2DTW contrastive path alone (`s2dtw_pairwise`, forward + backward) at B = 64..256, N = 8, 16, D = 512, and the
   full losses (S2DTW, InfoNCE, MIL-NCE) at B = 256, N = 8;
3. S3D-G (the MIL-NCE/VT-TWINS video network): FLOPs per clip counted at 32 x 224 x 224 and 16 x 112 x 112 (torch's
   FLOP counter on the meta device: exact for the model's convolutions and matmuls, nothing is run), its parameter
   count, and the measured forward + backward time of one 16 x 112 x 112 clip on the CPU (the CPU's effective FLOP/s);
4. PyAV decoding with `decode_clip`: 32 frames at 10 fps (MIL-NCE's clips) and 16 frames at 5 fps, resized to a
   224-px short side, from synthetic 320x240 and 640x360 H.264 videos, in one process with one thread: clips per
   second of wall time and per CPU-second (= per core).

    python bench/scale.py [--out bench/results/scale_cpu.json] [--quick]

Takes about 5-10 minutes on 2 cores (more on a loaded machine).
"""
import argparse, json, os, platform, random, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load() -> dict:
    "The load averages (1, 5, 15 min) now, from the OS (`uptime`'s numbers)."
    return dict(zip(('1min', '5min', '15min'), (round(x, 2) for x in os.getloadavg())))


def machine() -> dict:
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')), platform.processor())
    import av
    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__, pyav=av.__version__,
                python=platform.python_version(), date_utc=time.strftime('%Y-%m-%d %H:%M', time.gmtime()))


def clock(f, reps: int) -> dict:
    """Run `f` once (warm-up), then `reps` times: median wall ms, median CPU ms (this process's CPU time: the time on a core,
    robust to being descheduled by other jobs) and the fastest wall ms."""
    f(); w, c = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time(); f()
        w.append(time.perf_counter() - w0); c.append(time.process_time() - c0)
    med = lambda x: 1e3 * sorted(x)[len(x) // 2]
    return dict(wall_ms=round(med(w), 2), cpu_ms=round(med(c), 2), min_wall_ms=round(1e3 * min(w), 2))


def timed(section: str, f, *args, **kw) -> dict:
    "Run `f`, and return its result dict with the section name, the wall time and the load before and after."
    l0, t0 = load(), time.perf_counter()
    r = f(*args, **kw)
    print(f"[{section}] {time.perf_counter() - t0:.0f} s, load {l0['1min']} -> {load()['1min']}", flush=True)
    return dict(r, load_before=l0, load_after=load(), wall_s=round(time.perf_counter() - t0, 1))


def train_steps(steps: int) -> dict:
    "bench_train --synthetic at its CPU defaults: resnet18 on 4 windows x 8 clips x 2 frames x 32 px; features at 64 windows x 8 clips."
    from bench_train import synthetic_step
    rows = []
    for video, bs in ((True, 4), (False, 64)):
        ms, lms, share = synthetic_step('cpu', video, bs, 8, 2, 32, 'resnet18', 512, steps, False)
        rows.append(dict(tower='resnet18 on frames' if video else 'features (512-d MLP)', bs=bs, clips=8,
                         frames=2 if video else None, px=32 if video else None, ms_step=round(ms, 2), loss_ms=round(lms, 2),
                         loss_share=round(share, 4)))
    return dict(command=f'synthetic_step (bench/bench_train.py --synthetic, CPU defaults, --steps {steps})', rows=rows)


def s2dtw_path(sizes, reps: int) -> dict:
    "s2dtw_pairwise over all B x B pairs, D = 512, float32: forward + backward (a training step's loss), timed with `clock`."
    from vtlearn.align import s2dtw_pairwise
    rows = []
    for B, N in sizes:
        g = torch.Generator().manual_seed(0)
        V, T = (torch.nn.functional.normalize(torch.randn(B, N, 512, generator=g), dim=-1).requires_grad_() for _ in range(2))
        r = clock(lambda: s2dtw_pairwise(V, T).sum().backward(), reps)
        rows.append(dict(B=B, N=N, D=512, cells=B * B * (2 * N + 1) ** 2, **r))
        print(f"  S2DTW B={B} N={N}: fwd+bwd {r['cpu_ms']:.1f} CPU ms, {r['wall_ms']:.1f} wall ms", flush=True)
    return dict(command=f's2dtw_pairwise(V, T).sum().backward() on (B, N, 512) float32, 1 thread, median of {reps}', rows=rows)


def losses(B: int, N: int, reps: int) -> dict:
    "Full losses forward + backward (ms) on (B, N, 512) embeddings."
    from vtlearn.losses import S2DTWLoss, InfoNCELoss, MILNCELoss
    g = torch.Generator().manual_seed(0)
    V = torch.nn.functional.normalize(torch.randn(B, N, 512, generator=g), dim=-1).requires_grad_()
    T = torch.nn.functional.normalize(torch.randn(B, N, 512, generator=g), dim=-1).requires_grad_()
    out = {name: clock(lambda: lf(V, T).backward(), reps) for name, lf in dict(S2DTW=S2DTWLoss(), InfoNCE=InfoNCELoss(), MILNCE=MILNCELoss()).items()}
    return dict(command=f'vtlearn.losses.*Loss()(V, T).backward(), B={B}, N={N}, D=512, 1 thread, median of {reps}', B=B, N=N, fwd_bwd=out)


def s3d(reps: int) -> dict:
    "S3D-G: parameters, FLOPs per clip (counted on the meta device), CPU forward + backward of one small clip."
    from torch.utils.flop_counter import FlopCounterMode
    from vtlearn.models.s3d import S3D
    flops = {}
    for T, px in ((32, 224), (16, 112), (32, 200)):
        with torch.device('meta'):
            m, x = S3D(), torch.empty(1, 3, T, px, px)
        with FlopCounterMode(display=False) as fc: m(x)
        flops[f'{T}x{px}x{px}'] = fc.get_total_flops()  # forward, multiply-add counted as 2
    from vtlearn.models.text import create_text_encoder
    from vtlearn.models.core import FeatureEncoder
    tw = {}  # the other towers, per caption of 16 tokens and per clip feature (real tensors: they are small)
    for name, mod, args in (('wordpool text tower, one caption of 16 tokens', create_text_encoder('wordpool', vocab_size=66250, out_dim=512),
                             (torch.randint(1, 66250, (1, 1, 16)),)),
                            ('features tower (MLP 512-1024-512), one clip', FeatureEncoder(512, 512), (torch.randn(1, 1, 512),))):
        with FlopCounterMode(display=False) as fc: mod(*args)
        tw[name] = fc.get_total_flops()
    flops.update(tw)
    m = S3D()
    params = sum(p.numel() for p in m.parameters())
    x = torch.rand(1, 3, 16, 112, 112)
    r = clock(lambda: (m.zero_grad(), m(x).sum().backward()), reps)
    return dict(command='vtlearn.models.s3d.S3D(); FlopCounterMode on meta tensors; CPU fwd+bwd of (1, 3, 16, 112, 112), train mode, 1 thread',
                params=params, fwd_flops=flops, cpu_fwd_bwd_16x112=r,
                cpu_effective_gflops=round(3 * flops['16x112x112'] / (r['cpu_ms'] / 1e3) / 1e9, 2))


def decoding(n_clips: int) -> dict:
    "decode_clip in one process, one thread: clips/s of wall time and per CPU-second, for the clip shapes of MIL-NCE and its PyTorch code."
    from bench_data import synth, gop_s
    from vtlearn.data.video import decode_clip, write_video
    tmp = Path(tempfile.mkdtemp(prefix='scale_dec_'))
    vids = {'320x240': [write_video(tmp/f'a{i}.mp4', synth(T=600, seed=i), fps=30, options={'crf': 23}) for i in range(2)],
            '640x360': [write_video(tmp/'b0.mp4', synth(T=600, H=360, W=640, seed=5), fps=30, options={'crf': 23})]}
    rows = []
    for res, paths in vids.items():
        for n_frames, fps in ((32, 10), (16, 5)):
            rng = random.Random(0)
            span = n_frames / fps
            segs = [(rng.choice(paths), s, s + span) for s in (rng.uniform(0, 20 - span - 0.1) for _ in range(n_clips))]
            decode_clip(*segs[0], n_frames=n_frames, fps=fps, size=224)  # warm-up
            w0, c0 = time.perf_counter(), time.process_time()
            for p, s, e in segs: decode_clip(p, s, e, n_frames=n_frames, fps=fps, size=224)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            rows.append(dict(video=f'H.264 {res} 30 fps crf 23, keyframe every {gop_s(paths[0]) * 20 / 30:.1f} s', clip=f'{n_frames} frames at {fps} fps',
                             out='224 short side', clips=n_clips, clips_per_s_wall=round(n_clips / wall, 2),
                             clips_per_cpu_s=round(n_clips / cpu, 2)))
            print(f"  decode {res} {n_frames}@{fps}: {n_clips / wall:.1f} clips/s wall, {n_clips / cpu:.1f} per CPU-s", flush=True)
    for f in tmp.iterdir(): f.unlink()
    tmp.rmdir()
    return dict(command='vtlearn.data.video.decode_clip(path, s, e, n_frames, fps, size=224), one process, torch threads 1, random segments', rows=rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(HERE/'results'/'scale_cpu.json'))
    p.add_argument('--quick', action='store_true', help='fewer repetitions and sizes (a smoke test, not for the results file)')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)  # per-core numbers: on a shared machine 2 threads are slower and noisier than 1
    q = a.quick
    res = dict(machine=machine(), load_start=load(), script='python bench/scale.py')
    res['train'] = timed('train', train_steps, 5 if q else 12)
    res['s2dtw'] = timed('s2dtw', s2dtw_path, [(64, 8)] if q else [(64, 8), (128, 8), (256, 8), (64, 16), (128, 16), (256, 16)], 2 if q else 3)
    res['losses'] = timed('losses', losses, 64 if q else 256, 8, 2 if q else 3)
    res['s3d'] = timed('s3d', s3d, 1 if q else 3)
    res['decode'] = timed('decode', decoding, 4 if q else 24)
    res['load_end'] = load()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
    print(f"\n# {res['machine']['cpu']}, {res['machine']['cores']} cores, load {res['load_start']} -> {res['load_end']}")
    print(f"{'measurement':<52} {'value':>12}")
    for r in res['train']['rows']: print(f"{'train step, ' + r['tower'] + ', bs ' + str(r['bs']):<52} {r['ms_step']:>9.1f} ms  (loss {r['loss_share']:.0%})")
    for r in res['s2dtw']['rows']: print(f"{'S2DTW fwd+bwd B=%d N=%d' % (r['B'], r['N']):<52} {r['cpu_ms']:>9.1f} CPU ms")
    for k, v in res['losses']['fwd_bwd'].items(): print(f"{k + ' loss fwd+bwd B=%d N=8' % res['losses']['B']:<52} {v['cpu_ms']:>9.1f} CPU ms")
    s = res['s3d']
    print(f"{'S3D-G params':<52} {s['params'] / 1e6:>9.2f} M")
    for k, v in s['fwd_flops'].items(): print(f"{'forward GFLOPs, ' + ('S3D-G one clip ' if 'x' in k[:6] else '') + k:<52} {v / 1e9:>9.3f}")
    print(f"{'S3D-G fwd+bwd, one 16x112x112 clip, CPU':<52} {s['cpu_fwd_bwd_16x112']['cpu_ms']:>9.0f} CPU ms")
    for r in res['decode']['rows']: print(f"{'decode ' + r['video'][:13] + ', ' + r['clip']:<52} {r['clips_per_cpu_s']:>9.2f} clips/CPU-s")
    print(f"wrote {a.out}")


if __name__ == '__main__': main()
