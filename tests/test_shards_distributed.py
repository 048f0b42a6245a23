"""`from_shards` under 2 gloo processes: fastai's `DistributedDL` splits the shuffled positions between the ranks, and
each rank reads its own samples from the shards (with 2 DataLoader workers): over an epoch, the union of the ranks'
samples is every training sample, each once, up to the `world_size - 1` samples `DistributedDL` repeats to even out."""
import json, os, pickle, socket, tempfile, warnings
from collections import Counter
from pathlib import Path
import numpy as np
import torch
import torch.multiprocessing as mp

WORLD, N = 2, 23  # an odd number of samples in 5 shards: nothing divides evenly

def make_data(root):
    "Features whose every value is the video's number, so that a batch tells which samples it holds."
    (root/'captions').mkdir(); (root/'feats').mkdir()
    for v in range(N):
        np.save(root/'feats'/f'v{v}.npy', np.full((4, 8), v, dtype=np.float32))
        (root/'captions'/f'v{v}.json').write_text(json.dumps(dict(start=[0, 1], end=[1, 2], text=['a b', 'c d'])))
    (root/'train.csv').write_text('video_path\n' + '\n'.join(f'v{v}.mp4' for v in range(N)) + '\n')

def worker(rank, port, root, q):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    warnings.filterwarnings('ignore')
    mp.set_start_method('fork', force=True)  # DataLoader workers fork from the rank, as under torchrun (not Python anew, as spawn)
    torch.distributed.init_process_group('gloo', rank=rank, world_size=WORLD)
    try:
        from vtlearn.distributed import GlooDistributedDL  # fastai's DistributedDL, broadcasting on the CPU under gloo
        from vtlearn.data.core import VideoTextDataLoaders
        import vtlearn.data.shards  # noqa: F401 (VideoTextDataLoaders.from_shards)
        dls = VideoTextDataLoaders.from_shards(Path(root)/'shards', seed=0, bs=3, valid_pct=0.2, num_workers=2, buffer=4)
        dl = GlooDistributedDL(dls.train.new(drop_last=False), rank, WORLD)
        seen = [int(x[0, 0]) for b in dl for x in b[0]]
        q.put(pickle.dumps((rank, (seen, len(dls.train.dataset), len(dl)))))
    except Exception:  # reported, not a hang
        import traceback; q.put(pickle.dumps((rank, traceback.format_exc())))
    finally: torch.distributed.destroy_process_group()

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_two_ranks_read_every_sample_once():
    from vtlearn.data.shards import write_shards
    root = Path(tempfile.mkdtemp()); make_data(root)
    write_shards(root/'train.csv', root/'captions', features=root/'feats', out=root/'shards', shard_size=5)
    q = mp.get_context('spawn').SimpleQueue()
    procs = mp.start_processes(worker, args=(free_port(), str(root), q), nprocs=WORLD, join=False, start_method='spawn')
    res = {}
    while len(res) < WORLD:  # a worker that dies without a word ends the wait with its exit code, not a hang
        if not q.empty(): r, v = pickle.loads(q.get()); res[r] = v
        elif procs.join(timeout=1): assert len(res) == WORLD or not q.empty(), 'the workers ended without a result'
    while not procs.join(timeout=120): pass
    for r, v in res.items(): assert not isinstance(v, str), f'rank {r} failed:\n{v}'
    n = res[0][1]
    assert n == N - round(0.2 * N) or n == N - int(0.2 * N)
    counts = Counter(res[0][0] + res[1][0])
    assert len(counts) == n                                  # no gap: every training sample is read
    assert sum(counts.values()) == n + (-n % WORLD)          # each once, but the padding of DistributedDL
    assert len(res[0][0]) == len(res[1][0])                  # the ranks get as many samples
    assert not set(res[0][0]) & set(res[1][0]) or n % WORLD  # disjoint when nothing is padded
