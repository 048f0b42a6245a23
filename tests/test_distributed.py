"""Data-parallel exactness of the contrastive losses, for real: 2 processes with the gloo backend on CPU.

Each rank holds half of a global batch; the loss it returns must equal the single-process loss on the whole batch,
and the gradients of its own embeddings must equal the matching rows of the single-process gradients.
"""
import pickle, socket
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from vtlearn.losses import S2DTWLoss, SoftDTWLoss, DTWLoss, InfoNCELoss, MILNCELoss

WORLD, B, N, M, D = 2, 6, 5, 4, 8
LOSSES = {'s2dtw_t2v': lambda: S2DTWLoss(), 's2dtw_both': lambda: S2DTWLoss(direction='both'),
          's2dtw_v2t': lambda: S2DTWLoss(direction='v2t'), 'softdtw': lambda: SoftDTWLoss(gamma=0.5),
          'dtw': lambda: DTWLoss(), 'infonce': lambda: InfoNCELoss(0.2), 'milnce': lambda: MILNCELoss(window=1)}

def batch():
    g = torch.Generator().manual_seed(0)
    V, T = torch.randn(B, N, D, generator=g, dtype=torch.float64), torch.randn(B, M, D, generator=g, dtype=torch.float64)
    return V, T, torch.randint(1, N + 1, (B,), generator=g), torch.randint(1, M + 1, (B,), generator=g)

def run(name, V, T, vl, tl):
    "Loss, embedding gradients and parameter gradients of one loss on (a shard of) the batch."
    loss_fn = LOSSES[name]().double()
    V, T = V.clone().requires_grad_(), T.clone().requires_grad_()
    loss = loss_fn(V, T, vl, tl)
    loss.backward()
    return loss.item(), V.grad, T.grad, [p.grad.clone() for p in loss_fn.parameters()]

def worker(rank, port, q):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=WORLD)
    try:
        V, T, vl, tl = batch()
        s = slice(rank * B // WORLD, (rank + 1) * B // WORLD)
        # pickled by value: a queued tensor travels as a file descriptor that the parent can take only while this process lives
        q.put(pickle.dumps((rank, {k: run(k, V[s], T[s], vl[s], tl[s]) for k in LOSSES})))
        dist.barrier()
    finally: dist.destroy_process_group()

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def results():
    ctx = mp.get_context('spawn')
    q = ctx.SimpleQueue()
    procs = mp.start_processes(worker, args=(free_port(), q), nprocs=WORLD, join=False, start_method='spawn')
    out = dict(pickle.loads(q.get()) for _ in range(WORLD))
    while not procs.join(timeout=60): pass
    return out

@pytest.mark.parametrize('name', list(LOSSES))
def test_two_ranks_equal_one_process(results, name):
    V, T, vl, tl = batch()
    loss, gV, gT, gP = run(name, V, T, vl, tl)
    for rank in range(WORLD):
        l, gv, gt, gp = results[rank][name]
        s = slice(rank * B // WORLD, (rank + 1) * B // WORLD)
        assert abs(l - loss) < 1e-10 * max(1, abs(loss)), (rank, l, loss)
        # WORLD x the single-process gradient: data-parallel training averages the ranks' gradients
        torch.testing.assert_close(gv / WORLD, gV[s], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(gt / WORLD, gT[s], rtol=1e-9, atol=1e-12)
    for i, g in enumerate(gP):  # parameters (InfoNCE's temperature): the ranks' average is the whole
        torch.testing.assert_close(sum(results[r][name][3][i] for r in range(WORLD)) / WORLD, g, rtol=1e-9, atol=1e-12)

def test_unequal_shards_are_refused():
    "all_gather needs one shard size on every rank: a clear error, not a hang or a crash."
    ctx = mp.get_context('spawn')
    q = ctx.SimpleQueue()
    procs = mp.start_processes(_unequal, args=(free_port(), q), nprocs=WORLD, join=False, start_method='spawn')
    msgs = [q.get() for _ in range(3 * WORLD)]
    while not procs.join(timeout=60): pass
    assert all('same batch size' in m for m in msgs[:WORLD]), msgs
    # other shapes or dtypes (here: sequence lengths, then dtypes) would abort gloo: a clear error on every rank too
    assert all('same shape and dtype' in m for m in msgs[WORLD:]), msgs

def _unequal(rank, port, q):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=WORLD)
    try:
        V, T, vl, tl = batch()
        b = 2 + rank
        for v, t in ((V[:b], T[:b]), (V[:2, :N - rank], T[:2]), (V[:2].to(torch.float32 if rank else torch.float64), T[:2])):
            try: S2DTWLoss()(v, t.to(v.dtype)); q.put('no error')
            except ValueError as e: q.put(str(e))
    finally: dist.destroy_process_group()
