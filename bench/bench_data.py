"""Throughput of `vtlearn.data.video.decode_clip` on synthetic 30 s 320x240 30 fps videos (H.264 and VP9).

Clips of T=8 frames at 10 fps from random 1-3 s segments, at the video's size and at 112x112: in one process, and
through a `DataLoader` with 0 and 2 workers. Then a profile of the one-process run: where the time goes.
Usage: `python bench/bench_data.py [--clips 200] [--no-vp9]`."""
import argparse, random, shutil, tempfile, time
from pathlib import Path
import av, numpy as np, torch
from torch.utils.data import DataLoader, Dataset
from vtlearn.data.video import decode_clip, video_info, write_video

def synth(T=900, H=240, W=320, seed=0):
    "A panning texture, a moving square and noise: about 0.25 Mb/s in H.264 at crf 23, like 240p web video."
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:2 * W]
    tex = np.stack([128 + 60 * np.sin(xx / 17 + k) * np.cos(yy / (23 + 5 * k)) for k in range(3)], -1)
    noise = rng.normal(0, 6, (8, H, W, 3))
    out = np.empty((T, H, W, 3), np.uint8)
    for t in range(T):
        f = tex[:, (2 * t) % W:(2 * t) % W + W] + noise[t % 8]
        x0, y0 = (4 * t) % (W - 48), (3 * t) % (H - 48)
        f[y0:y0 + 48, x0:x0 + 48] = (230, 40, 40)
        out[t] = np.clip(f, 0, 255)
    return out

def gop_s(path):
    "Mean keyframe interval (s) of a video, from its packets (no decoding)."
    with av.open(str(path)) as c:
        keys = [float(p.pts * p.time_base) for p in c.demux(video=0) if p.is_keyframe and p.pts is not None]
    return 30 / len(keys)

class Clips(Dataset):
    def __init__(self, segs, size): self.segs, self.size = segs, size
    def __len__(self): return len(self.segs)
    def __getitem__(self, i): return decode_clip(*self.segs[i], n_frames=8, fps=10, size=self.size)

def segments(paths, n, seed=0):
    rng = random.Random(seed)
    return [(p, s, s + l) for p, l in ((rng.choice(paths), rng.uniform(1, 3)) for _ in range(n)) for s in [rng.uniform(0, 30 - l)]]

def run(segs, size, workers=None, stats=None):
    "Seconds to decode all `segs`: in this process (`workers=None`) or through a DataLoader (batches of 8)."
    tic = time.perf_counter()
    if workers is None:
        for p, s, e in segs:
            st = {}
            decode_clip(p, s, e, n_frames=8, fps=10, size=size, stats=st)
            if stats is not None:
                for k in ('open_s', 'decode_s', 'convert_s', 'decoded'): stats[k] = stats.get(k, 0) + st[k]
    else:
        for _ in DataLoader(Clips(segs, size), batch_size=8, num_workers=workers): pass
    return time.perf_counter() - tic

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--clips', type=int, default=200); ap.add_argument('--no-vp9', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix='bench_data_'))
    tic = time.perf_counter()
    h264 = [write_video(tmp/f'v{i}.mp4', synth(seed=i), fps=30, options={'crf': 23}) for i in range(3)]
    vp9 = [] if args.no_vp9 else [write_video(tmp/'v0.webm', synth(seed=0), fps=30)]
    print(f"wrote {len(h264) + len(vp9)} videos in {time.perf_counter() - tic:.0f} s: " + ', '.join(
        f"{p.name} ({video_info(p)['codec']}) {p.stat().st_size * 8 / 30e6:.2f} Mb/s, keyframe every {gop_s(p):.1f} s" for p in h264 + vp9))
    run(segments(h264, 8, seed=99), None)  # warm-up
    rows, prof = [], {}
    for name, paths in [('H.264', h264)] + ([('VP9', vp9)] if vp9 else []):
        segs = segments(paths, args.clips)
        for size in (None, (112, 112)):
            for workers in ((None, 0, 2) if name == 'H.264' else (None,)):
                el = run(segs, size, workers, prof.setdefault(name, {}) if workers is None and size is None else None)
                setting = f"{name} size={'320x240' if size is None else '112x112'} " + ('1 process' if workers is None else f'DataLoader w={workers}')
                rows.append((setting, len(segs) / el, 8 * len(segs) / el, 1000 * el / len(segs)))
    print(f"\n| {'setting':<40} | clips/s | frames/s | ms/clip |\n|{'-' * 42}|---------|----------|---------|")
    for r in rows: print(f"| {r[0]:<40} | {r[1]:7.1f} | {r[2]:8.0f} | {r[3]:7.1f} |")
    for name, st in prof.items():
        parts = {'seek+decode': st['decode_s'], 'RGB conversion': st['convert_s'], 'open+probe': st['open_s']}
        tot, top = sum(parts.values()), max(parts, key=parts.get)
        print(f"\n{name}, 1 process, 320x240: " + ', '.join(f"{k} {100 * v / tot:.0f}%" for k, v in parts.items()) +
              f" of decode_clip; {st['decoded'] / args.clips:.0f} frames decoded per clip of 8 kept -> bound by {top}" +
              (" (the frames from the keyframe before the segment up to it: the GOP length)" if top == 'seek+decode' else ''))
    shutil.rmtree(tmp)
