"""Training throughput of `vt_learner` on CPU: samples/s and the share of each step spent in the S2DTW loss.

Writes a small dataset of real H.264 videos (64x64, 10 fps) in the HowTo100M format, trains a timm `test_convnext`
video tower and the word-pool text tower with `S2DTWLoss` (the demo settings: N = 8 segments, T = 4 frames at 32 px),
and prints one row per setting. The loss share is measured by re-running the loss, forward and backward, on detached
copies of each step's embeddings (the same shapes, on the same kernel).

    python bench/bench_train.py
"""
import argparse, json, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
from fastai.callback.core import Callback
import fastai.callback.progress  # Learner.no_bar
from vtlearn.data.core import VideoTextDataLoaders
from vtlearn.data.video import write_video
from vtlearn.learner import vt_learner

class StepTimer(Callback):
    "Wall time of each training step and of the loss alone (forward + backward on detached embeddings)."
    order = 100
    def before_fit(self): self.steps, self.losses, self.n = [], [], 0
    def before_train(self): self.train_t0 = time.perf_counter()
    def after_train(self): self.train_s = time.perf_counter() - self.train_t0 - sum(self.losses)
    def before_batch(self): self.t0 = time.perf_counter()
    def after_pred(self):
        if not self.training: return
        v, t = (x.detach().requires_grad_() for x in self.pred)
        t0 = time.perf_counter()
        self.loss_func((v, t), self.yb[0]).backward()
        self.losses.append(time.perf_counter() - t0)
        self._extra = self.losses[-1]
    def after_step(self): self.steps.append(time.perf_counter() - self.t0 - self._extra); self.n += len(self.yb[0])

def make_data(root, n_videos, n_seg, rng):
    (root/'videos').mkdir(); (root/'captions').mkdir()
    rows = []
    for v in range(n_videos):
        fr = rng.integers(0, 255, (10 * n_seg, 64, 64, 3), dtype=np.uint8)
        write_video(root/'videos'/f'v{v}.mp4', fr, fps=10)
        (root/'captions'/f'v{v}.json').write_text(json.dumps(dict(start=list(range(n_seg)), end=[k + 1 for k in range(n_seg)],
                                                                 text=[f'step {k} of video {v}' for k in range(n_seg)])))
        rows.append(f'videos/v{v}.mp4')
    (root/'train.csv').write_text('video_path\n' + '\n'.join(rows) + '\n')

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--videos', type=int, default=96)
    p.add_argument('--workers', type=int, default=0)
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    root = Path(tempfile.mkdtemp())
    make_data(root, a.videos, 10, np.random.default_rng(0))
    print(f"# vt_learner training throughput, {torch.get_num_threads()} threads, {a.videos} videos, num_workers={a.workers}")
    print("samples/s: end to end (decoding included); ms/step: model + loss, forward + backward + optimizer step")
    print(f"{'bs':>4} {'N':>3} {'T':>3} {'px':>4} {'samples/s':>10} {'ms/step':>8} {'loss ms':>8} {'loss share':>10}")
    for bs in (8, 16, 32):
        dls = VideoTextDataLoaders.from_howto100m(root/'train.csv', root/'captions', root, n_segments=8, n_frames=4, fps=4,
                                                  decode_size=(40, 40), crop=32, bs=bs, valid_pct=0.1, seed=0, num_workers=a.workers)
        learn = vt_learner(dls, video_arch='test_convnext', text_arch='wordpool', out_dim=128, metrics=[], cbs=StepTimer())
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
        st = learn.cbs.filter(lambda c: isinstance(c, StepTimer))[0]
        steps, losses = np.array(st.steps[1:]), np.array(st.losses[1:])  # the first step includes warm-up
        ms = 1e3 * np.median(steps)
        print(f"{bs:>4} {8:>3} {4:>3} {32:>4} {st.n / st.train_s:>10.1f} {ms:>8.1f} {1e3 * np.median(losses):>8.1f} "
              f"{np.median(losses) / np.median(steps):>10.1%}", flush=True)

if __name__ == '__main__': main()
