"""What `HealthCallback` costs: the time spent in it, as a share of a training epoch (training and validation).

SynthHowTo 'small' features, the default `vt_learner` (S2DTW, feature tower, word-pool text tower), batch size 16.
The callback's own time is clocked around each of its calls (it runs on validation batches and at the end of an
epoch; on the CPU its work is done when it returns); epochs with and without it also alternate, as a check, though
that difference is within the noise of a shared machine.

    python bench/bench_health.py [--epochs 6] [--size small]
"""
import argparse, json, statistics, time, warnings
from pathlib import Path
import torch
import fastai.callback.progress  # Learner.no_bar
from vtlearn.synth import synth_howto
from vtlearn.data.core import VideoTextDataLoaders
from vtlearn.learner import vt_learner, HealthCallback

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--epochs', type=int, default=6, help='epochs of each kind'); p.add_argument('--size', default='small')
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'results'/'health_cost.json')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    root = synth_howto(size=a.size, features=True, videos=False)
    dls = VideoTextDataLoaders.from_features(root/'train.csv', root/'captions', root/'features', bs=16, seed=0)
    torch.manual_seed(0)
    learn = vt_learner(dls)
    health = learn.cbs.filter(lambda c: isinstance(c, HealthCallback))[0]
    spent = []
    for ev in ('before_epoch', 'after_batch', 'after_epoch'):  # clock the callback's own calls
        def timed(f=getattr(health, ev)):
            t0 = time.perf_counter(); f(); spent.append(time.perf_counter() - t0)
        setattr(health, ev, timed)
    times, own = {True: [], False: []}, []
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)  # warm-up: kernel load, first allocations
        for _ in range(a.epochs):
            for on in (True, False):
                if not on: learn.remove_cb(health)
                if on: spent.clear()
                t0 = time.perf_counter(); learn.fit(1, 1e-3); times[on].append(time.perf_counter() - t0)
                if on: own.append(sum(spent) / times[on][-1])
                if not on: learn.add_cb(health)
    w, wo, share = statistics.median(times[True]), statistics.median(times[False]), statistics.median(own)
    res = dict(size=a.size, epochs=a.epochs, train_batches=len(dls.train), valid_batches=len(dls.valid), callback_share=share,
               callback_share_max=max(own), epoch_s_with=w, epoch_s_without=wo, threads=torch.get_num_threads())
    print(f"| SynthHowTo {a.size} features, bs 16 | HealthCallback's own time, share of an epoch (median, max) | epoch with it | without |\n"
          f"|---|---|---|---|\n| {len(dls.train)} training + {len(dls.valid)} validation batches | {100 * share:.1f}%, {100 * max(own):.1f}% "
          f"| {w:.2f} s | {wo:.2f} s |")
    a.out.parent.mkdir(parents=True, exist_ok=True); a.out.write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
