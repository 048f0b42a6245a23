"""When does S2DTW skip? Its hard path on learned embeddings, against SynthHowTo's truth, over the skip cost tau and the cost
scale, beside Drop-DTW's over its drop percentile. Rates on the validation videos of the model's training split (settings
are chosen there, never on the evaluation sets). Prints a table and writes bench/results/s2dtw_skips.json.

    vtlearn pretrain --synth small --epochs 15 --out model-s2dtw
    python bench/s2dtw_skips.py model-s2dtw
"""
import argparse, json, time
from pathlib import Path
from vtlearn.data.core import VideoTextDataLoaders
from vtlearn.experiments import evaluate_alignment
from vtlearn.losses import S2DTWLoss, DropDTWLoss
from vtlearn.pretrained import load_pretrained
from vtlearn.synth import synth_howto, synth_files

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('model', help='a model folder pretrained on SynthHowTo small (default noise, seed 0)')
p.add_argument('--out', default=Path(__file__).parent/'results'/'s2dtw_skips.json')
a = p.parse_args()
root = synth_howto(size='small', features=True, videos=False)
f = synth_files(root)
valid = sorted({it.video_id for it in VideoTextDataLoaders.from_features(f.train_csv, f.captions, f.features, seed=0).valid.items})
model, rows, t0 = load_pretrained(a.model), [], time.time()
for scale in (0.5, 1., 2., 4.):
    for tau in (0.5, 0., -0.5, -1., -2.):
        s = evaluate_alignment(model, root, S2DTWLoss(threshold=tau, scale=scale), videos=valid).summary
        rows.append(dict(loss='s2dtw', scale=scale, threshold=tau, **s))
for q in (0.3, 0.5, 0.7, 0.9, 0.95):
    rows.append(dict(loss='dropdtw', keep_percentile=q, **evaluate_alignment(model, root, DropDTWLoss(keep_percentile=q), videos=valid).summary))
print(f"{len(valid)} validation videos, {rows[0]['fillers']} filler and {rows[0]['step captions']} step captions ({time.time() - t0:.0f} s)")
print('| loss | setting | filler skip % | step keep % | step to clip % |\n|---|---|---|---|---|')
for r in rows:
    what = f"scale {r['scale']}, tau {r['threshold']}" if r['loss'] == 's2dtw' else f"keep_percentile {r['keep_percentile']}"
    print(f"| {r['loss']} | {what} | {r['filler skip']:.1f} | {r['step keep']:.1f} | {r['step to clip']:.1f} |")
Path(a.out).write_text(json.dumps(dict(model=str(a.model), valid_videos=len(valid), rows=rows), indent=1))
