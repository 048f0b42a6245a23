"""`vt_learner` under fastai's `distrib_ctx` (Accelerate), for real: 2 processes with the gloo backend on CPU, started once for both checks.

fastai's `DistributedDL` gives each rank its own contiguous share of the epoch's samples; the contrastive loss
all-gathers the embeddings, so the loss of the first batch on every rank, and the parameters' gradients once DDP has
averaged them, must equal the single-process loss and gradients on the union of the ranks' first batches (computed
here directly with the same initial weights); the retrieval metrics must cover the whole validation set.
"""
import json, os, pickle, socket, tempfile, warnings
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from fastai.optimizer import SGD

WORLD, BS = 2, 8

def make_data(root, n_videos=24):
    rng = np.random.default_rng(0)
    (root/'captions').mkdir(); (root/'feats').mkdir()
    rows = []
    for v in range(n_videos):
        n = int(rng.integers(4, 9))
        np.save(root/'feats'/f'v{v}.npy', rng.normal(size=(n, 16)).astype(np.float32))
        (root/'captions'/f'v{v}.json').write_text(json.dumps(dict(start=list(range(n)), end=[k + 1 for k in range(n)],
                                                                 text=[f'step {k} of video {v}' for k in range(n)])))
        rows.append(f'v{v}.mp4')
    (root/'train.csv').write_text('video_path\n' + '\n'.join(rows) + '\n')

class FirstLoss:
    "A callback recording the loss and the parameters' gradients of the first training batch, before any step."
    def __new__(cls):
        from fastai.callback.core import Callback
        class _FirstLoss(Callback):
            order = 50
            def before_fit(self): self.first = self.grads = None
            def after_loss(self):
                if self.training and self.first is None: self.first = self.loss.item()
            def after_backward(self):  # DDP has averaged the gradients over the ranks by now
                if self.grads is None: self.grads = [p.grad.clone() for p in self.learn.model.parameters()]
        return _FirstLoss()

def learner(root, **kwargs):
    from vtlearn.data.core import VideoTextDataLoaders
    from vtlearn.data.text import CaptionTokenizer, word_tokenizer
    from vtlearn.learner import vt_learner
    from vtlearn.metrics import retrieval_metrics_for
    import fastai.callback.progress  # noqa: F401 (Learner.no_bar)
    tok = CaptionTokenizer(word_tokenizer(['step', 'of', 'video'] + [str(i) for i in range(80)]), max_tokens=6)
    dls = VideoTextDataLoaders.from_features(root/'train.csv', root/'captions', root/'feats', n_segments=8, bs=BS,
                                             seed=0, tokenizer=tok, valid_pct=0.25, shuffle=False,
                                             num_workers=0)  # in a spawned rank, each worker would start Python anew, every epoch
    torch.manual_seed(0)
    learn = vt_learner(dls, out_dim=16, metrics=retrieval_metrics_for('mean', ks=(1, 5)), cbs=FirstLoss(), **kwargs)
    for m in learn.model.modules():  # no dropout: the runs must compute the same function
        if isinstance(m, torch.nn.Dropout): m.p = 0.
    return learn

def first_batch(root):
    "Rank side of `check_first_batch`: the metrics of the initial weights, then the first batch's loss and averaged gradients."
    learn = learner(Path(root))
    with learn.distrib_ctx(cpu=True), learn.no_bar(), learn.no_logging():
        valid = learn.validate()  # the initial weights: the metrics over the whole validation set
        learn.fit(1, 1e-3)
    cb = learn.cbs.filter(lambda c: hasattr(c, 'first'))[0]
    return cb.first, cb.grads, valid

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def check_first_batch(root, res):
    "`distrib_ctx`: each rank's first loss and averaged gradients, and the metrics, as in one process on the union of the batches."
    learn = learner(root)
    dl = learn.dls.train
    n = len(dl.dataset); half = (n + WORLD - 1) // WORLD  # DistributedDL: rank r reads samples [r*half, (r+1)*half)
    idxs = [i for r in range(WORLD) for i in range(r * half, min(n, r * half + BS))]
    valid = learn.validate()
    b = dl.after_batch(dl.create_batch([dl.do_item(i) for i in idxs]))
    learn.model.train()
    loss = learn.loss_func(learn.model(*b), b[-1]); loss.backward()
    single, grads = loss.item(), [p.grad for p in learn.model.parameters()]
    for r in range(WORLD):
        first, g, v = res[r]
        assert abs(first - single) < 1e-5 * max(1, abs(single)), (r, first, single)
        # float32 sums in another order (the centring's statistics are all-reduced): a few elements differ by ~2e-6
        for a, e in zip(g, grads): torch.testing.assert_close(a, e, rtol=1e-4, atol=5e-6)
        # the metrics (R@1, R@5, median rank both ways) as in one process on the whole validation set
        np.testing.assert_allclose(v[1:], valid[1:], rtol=1e-5)


# A whole epoch: the loss curve of 2 processes is the loss curve of one process on the same global batches, and no step
# makes a pickled collective (`all_gather_object`).
N_EPOCH_VIDEOS, LR = 72, 0.1  # 54 training windows: 27 per rank, in batches of 8, 8, 8 and 3

class BatchLosses:
    "A callback recording the loss of every training batch."
    def __new__(cls):
        from fastai.callback.core import Callback
        class _BatchLosses(Callback):
            order = 50
            def before_fit(self): self.losses = []
            def after_loss(self):
                if self.training: self.losses.append(self.loss.item())
        return _BatchLosses()

def one_epoch(root):
    "Rank side of `check_epoch`: every training batch's loss, the weights after the epoch, and the pickled collectives."
    learn = learner(Path(root), opt_func=SGD); cb = BatchLosses(); learn.add_cb(cb)
    pickled, gather_object = [], torch.distributed.all_gather_object  # count the pickled collectives of the epoch
    torch.distributed.all_gather_object = lambda *a, **k: (pickled.append(1), gather_object(*a, **k))[1]
    try:
        with learn.distrib_ctx(cpu=True), learn.no_bar(), learn.no_logging(): learn.fit(1, LR)
    finally: torch.distributed.all_gather_object = gather_object
    return cb.losses, [p.detach().clone() for p in learn.model.parameters()], len(pickled)

def worker(rank, port, roots, q):
    "One rank: both runs in one process group (starting the 2 processes costs more than the runs)."
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    warnings.filterwarnings('ignore')
    torch.distributed.init_process_group('gloo', rank=rank, world_size=WORLD)
    try:
        import fastai.distributed  # noqa: F401 (Learner.distrib_ctx)
        q.put(pickle.dumps((rank, dict(first=first_batch(roots['first']), epoch=one_epoch(roots['epoch'])))))  # by value: tensors would travel as file descriptors
    except Exception:
        import traceback; q.put(pickle.dumps((rank, traceback.format_exc())))
    finally: torch.distributed.destroy_process_group()

def test_two_ranks_match_single_process():
    "Both runs on 2 gloo processes started once, each checked against one process."
    pytest.importorskip('accelerate')
    roots = dict(first=Path(tempfile.mkdtemp()), epoch=Path(tempfile.mkdtemp()))
    make_data(roots['first']); make_data(roots['epoch'], N_EPOCH_VIDEOS)
    q = mp.get_context('spawn').SimpleQueue()
    procs = mp.start_processes(worker, args=(free_port(), {k: str(v) for k, v in roots.items()}, q), nprocs=WORLD, join=False,
                               start_method='spawn')
    res = {}
    while len(res) < WORLD:  # a worker that raises ends the wait with its traceback, not a hang
        if not q.empty(): r, v = pickle.loads(q.get()); res[r] = v
        elif procs.join(timeout=1): assert len(res) == WORLD or not q.empty(), 'the workers ended without a result'
    while not procs.join(timeout=120): pass
    for r, v in res.items(): assert not isinstance(v, str), f'rank {r} failed:\n{v}'
    for k, check in (('first', check_first_batch), ('epoch', check_epoch)): check(roots[k], {r: v[k] for r, v in res.items()})

def check_epoch(root, res):
    "A whole epoch: the loss of every batch and the final weights as in one process, with no pickled collective."
    # One process, the same initial weights, each batch the union of the ranks' batches (rank r reads the r-th contiguous share)
    learn = learner(root, opt_func=SGD); cb = BatchLosses(); learn.add_cb(cb)
    dl = learn.dls.train
    n = len(dl.dataset); share = n // WORLD; nb = -(-share // BS)  # the last batch of each rank is partial (no drop_last here)
    order = [i for k in range(nb) for r in range(WORLD) for i in range(r * share + k * BS, r * share + min((k + 1) * BS, share))]
    union = dl.new(bs=WORLD * BS, shuffle=False, drop_last=False)
    union.get_idxs = lambda: order
    learn.dls.loaders[0] = union
    start = [p.detach().clone() for p in learn.model.parameters()]
    with learn.no_bar(), learn.no_logging(): learn.fit(1, LR)
    assert max((p.detach() - q).abs().max() for p, q in zip(learn.model.parameters(), start)) > 1e-2  # the steps moved them (0.13)
    assert len(cb.losses) == nb > 1
    for r in range(WORLD):
        losses, params, pickled = res[r]
        assert pickled == 0, f'rank {r}: {pickled} all_gather_object calls in the epoch (a pickled collective per step stalls it)'
        np.testing.assert_allclose(losses, cb.losses, rtol=1e-4)   # the loss curve, batch by batch (float32 sums in another order)
        # the weights after 4 SGD steps: float32 sums in another order (Adam would turn a rounding difference in a gradient near
        # 0 into a step of about lr either way; plain SGD keeps the comparison of the weights tight: 2.4e-7 at most, measured)
        for a, e in zip(params, learn.model.parameters()): torch.testing.assert_close(a, e.detach(), rtol=1e-5, atol=1e-6)
