"""Training throughput of `vt_learner`: ms per step and the share of each step spent in the S2DTW loss.

Default (CPU, end to end): writes a small dataset of real H.264 videos (64x64, 10 fps) in the HowTo100M format, trains a timm `test_convnext`
video tower and the word-pool text tower with `S2DTWLoss` (the demo settings: N = 8 segments, T = 4 frames at 32 px),
and prints one row per setting. The loss share is measured by re-running the loss, forward and backward, on detached
copies of each step's embeddings (the same shapes, on the same kernel).

    python bench/bench_train.py

`--synthetic` (the GPU benchmark; it runs on the CPU at small sizes): batches made on the device, no decoding, so the
step is the model and the loss alone. Two rows: a timm video backbone on raw frames (default 64 windows x 8 clips x
8 frames of 112x112, resnet18, bf16 autocast on CUDA) and the pre-extracted features tower at a large batch
(default 1024 windows x 8 clips of 512-d features). The loss's share is measured as in the default mode.

    python bench/bench_train.py --synthetic --device cuda
"""
import argparse, json, tempfile, time, types, warnings
from pathlib import Path
import numpy as np, torch
from fastai.callback.core import Callback
import fastai.callback.progress  # Learner.no_bar
from vtlearn.data.core import VideoTextDataLoaders
from vtlearn.data.video import write_video
from vtlearn.learner import vt_learner
from vtlearn.models.core import TimmVideoEncoder, FeatureEncoder, VideoTextModel
from vtlearn.models.text import create_text_encoder

class StepTimer(Callback):
    "Wall time of each training step and of the loss alone (forward + backward on detached embeddings)."
    order = 100
    def __init__(self, sync=lambda: None): self.sync = sync  # CUDA: wait for the GPU before reading the clock
    def before_fit(self): self.steps, self.losses, self.n = [], [], 0
    def before_train(self): self.train_t0 = time.perf_counter()
    def after_train(self): self.train_s = time.perf_counter() - self.train_t0 - sum(self.losses)
    def before_batch(self): self.sync(); self.t0 = time.perf_counter()
    def after_pred(self):
        if not self.training: return
        v, t = (x.detach().requires_grad_() for x in self.pred)
        self.sync(); t0 = time.perf_counter()
        with torch.autocast(v.device.type, enabled=False): self.loss_func((v, t), self.yb[0]).backward()
        self.sync(); self.losses.append(time.perf_counter() - t0)
        self._extra = self.losses[-1]
    def after_step(self): self.sync(); self.steps.append(time.perf_counter() - self.t0 - self._extra); self.n += len(self.yb[0])

class DeviceBatches:
    "`n` copies of one batch made on the device: a stand-in for a DataLoader that costs nothing, so a step is the model and the loss."
    def __init__(self, batch, n): self.batch, self.n, self.device, self.bs = batch, n, batch[0].device, len(batch[0])  # bs: read by HealthCallback
    def __iter__(self): return iter([self.batch] * self.n)
    def __len__(self): return self.n
    def one_batch(self): return self.batch
    def to(self, device): return self

def synthetic_step(device, video, bs, n_clips, frames, px, arch, feat_dim, steps, bf16):
    "ms per training step of `vt_learner` and the loss's share, on batches made on `device`."
    from fastai.data.core import DataLoaders
    from vtlearn.data.core import ClipSeq, FeatureSeq, SeqLengths
    g = torch.Generator(device).manual_seed(0)
    x = (ClipSeq(torch.rand(bs, n_clips, frames, 3, px, px, device=device, generator=g)) if video else
         FeatureSeq(torch.randn(bs, n_clips, feat_dim, device=device, generator=g)))
    text = torch.randint(1, 5000, (bs, n_clips, 16), device=device, generator=g)
    lens = SeqLengths(torch.full((bs, 2), n_clips, device=device))
    batch = (x, text, lens)
    venc = TimmVideoEncoder(arch, 512) if video else FeatureEncoder(feat_dim, 512)
    model = VideoTextModel(venc, create_text_encoder('wordpool', vocab_size=5000, out_dim=512))
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    dls = DataLoaders(DeviceBatches(batch, steps), DeviceBatches(batch, 1), device=device)
    learn = vt_learner(dls, model=model, metrics=[], cbs=StepTimer(sync))
    if bf16: learn.to_bf16()
    learn.model.to(device)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4)
    st = learn.cbs.filter(lambda c: isinstance(c, StepTimer))[0]
    skip = min(3, len(st.steps) - 1)  # warm-up steps (cuDNN autotuning, allocator growth)
    step, loss = np.median(st.steps[skip:]), np.median(st.losses[skip:])
    return 1e3 * step, 1e3 * loss, loss / step

def main_synthetic(a):
    torch.backends.cudnn.benchmark = True
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else f'{torch.get_num_threads()} CPU threads'
    bf16 = a.device == 'cuda'
    print(f"# vt_learner training step on batches made on the device (no decoding), {dev}, torch {torch.__version__}, "
          f"{'bf16 autocast' if bf16 else 'float32'}, S2DTW loss (float32 DP), D = 512, wordpool text tower")
    print("ms/step: model + loss, forward + backward + optimizer step (median); loss ms: S2DTWLoss forward + backward alone")
    print(f"{'tower':>22} {'bs':>5} {'clips':>5} {'frames':>6} {'px':>4} {'ms/step':>9} {'loss ms':>8} {'loss share':>10}")
    for video, bs in ((True, a.bs), (False, a.feature_bs)):
        ms, lms, share = synthetic_step(a.device, video, bs, a.clips, a.frames, a.px, a.arch, 512, a.steps, bf16)
        name = a.arch if video else 'features (512-d, MLP)'
        print(f"{name:>22} {bs:>5} {a.clips:>5} {a.frames if video else '':>6} {a.px if video else '':>4} {ms:>9.2f} {lms:>8.2f} "
              f"{share:>10.1%}", flush=True)

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
    p.add_argument('--synthetic', action='store_true', help='batches made on the device (no decoding): the GPU benchmark')
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'], help='with --synthetic')
    p.add_argument('--arch', default='resnet18', help='with --synthetic: timm video backbone')
    p.add_argument('--bs', type=int, help='with --synthetic: windows per batch, video tower (default 64 on cuda, 4 on cpu)')
    p.add_argument('--feature-bs', type=int, help='with --synthetic: windows per batch, features tower (default 1024 on cuda, 64 on cpu)')
    p.add_argument('--clips', type=int, default=8, help='with --synthetic: clips (and captions) per window')
    p.add_argument('--frames', type=int, help='with --synthetic: frames per clip (default 8 on cuda, 2 on cpu)')
    p.add_argument('--px', type=int, help='with --synthetic: frame size (default 112 on cuda, 32 on cpu)')
    p.add_argument('--steps', type=int, default=12, help='with --synthetic: training steps timed (the first 3 are warm-up)')
    a = p.parse_args()
    if a.synthetic:
        cuda = a.device == 'cuda'
        if cuda and not torch.cuda.is_available(): p.error('--device cuda: CUDA is not available')
        a.bs, a.feature_bs = a.bs or (64 if cuda else 4), a.feature_bs or (1024 if cuda else 64)
        a.frames, a.px = a.frames or (8 if cuda else 2), a.px or (112 if cuda else 32)
        warnings.filterwarnings('ignore')
        return main_synthetic(a)
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
