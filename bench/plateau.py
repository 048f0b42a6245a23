"""The S2DTW plateau and its cure, measured: pretraining on SynthHowTo 'small' (features) with the ablation's settings
(15 epochs of fit_one_cycle at lr 3e-3, batches of 16 windows of 8 captions, S2DTW at tau = 0.5, gamma = 0.1) with and
without the centring of the towers' embeddings, recording `HealthCallback`'s history per epoch and the zero-shot
YouCook2-style R@1. Writes bench/results/plateau_small_15ep.json (plotted in the learner notebook's "Training health").

    python bench/plateau.py                    # 4 runs: (default noise, seed 2) and (2x noise, seed 0), each both ways
    python bench/plateau.py --runs default:0 2x:1
"""
import argparse, json, time, warnings
from pathlib import Path
from fastai.torch_core import set_seed
from vtlearn.experiments import evaluate_synth, SYNTH_MODEL
from vtlearn.synth import NOISE_LEVELS
from vtlearn.synth import synth_howto
from vtlearn.data.core import VideoTextDataLoaders
from vtlearn.learner import vt_learner
from vtlearn.losses import S2DTWLoss
from vtlearn.models.core import FeatureEncoder, VideoTextModel
from vtlearn.models.text import create_text_encoder

def run(noise, seed, center, epochs=15):
    root = synth_howto(size='small', features=True, videos=False, **NOISE_LEVELS[noise])
    set_seed(seed, reproducible=True)
    dls = VideoTextDataLoaders.from_features(root/'train.csv', root/'captions', root/'features', bs=16, n_segments=8, seed=seed)
    # the model vt_learner builds, with the centring on or off
    model = VideoTextModel(FeatureEncoder(dls.one_batch()[0].shape[-1], 64),
                           create_text_encoder('wordpool', vocab_size=dls.tokenizer.vocab_size, out_dim=SYNTH_MODEL['out_dim'], **SYNTH_MODEL['text_kwargs']), dls.tokenizer, center=center)
    learn = vt_learner(dls, loss_func=S2DTWLoss(), model=model, metrics=[])
    t0 = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 3e-3)
    res = evaluate_synth(learn.model, root)
    return dict(noise=noise, seed=seed, center=center, seconds=round(time.time() - t0), r1=round(res['YouCook2 t2v R@1'], 1),
                health=[{k: round(v, 4) for k, v in h.items()} for h in learn.health.history])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', nargs='+', default=['default:2', '2x:0'], help='noise:seed pairs')
    p.add_argument('--out', type=Path, default=Path(__file__).parent/'results'/'plateau_small_15ep.json')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    rows = []
    for r in a.runs:
        noise, seed = r.split(':')
        for center in (False, True):
            rows.append(run(noise, int(seed), center))
            h = rows[-1]['health']
            print(f"{noise:>8} seed {seed} center={center!s:5} R@1 {rows[-1]['r1']:5.1f}  real share by epoch: "
                  + ' '.join(f"{x['captions_kept']:.2f}" for x in h), flush=True)
    a.out.write_text(json.dumps(rows, indent=1) + '\n')

if __name__ == '__main__': main()
