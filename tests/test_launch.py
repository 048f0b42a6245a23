"""`vtlearn pretrain` launched by `torchrun` and by `accelerate launch`: 2 gloo processes on the CPU, the tiny SynthHowTo.

Checked: only rank 0 prints and writes; the model folder has the same layout as a single process's; the first
epoch's loss is one process's on the same global batch size (2 processes x bs 2 against one process with bs 4; the
batches' samples and dropout differ, so within a tolerance: a rank that used only its own batch of 2 would start near log 2, not
log 4; tests/test_learner_distributed.py checks the first batch's loss and gradients exactly); a run killed after its
first epoch and resumed with `--resume` ends with the same weights as the run that never stopped.
"""
import json, math, os, re, shutil, subprocess, sys, time
import psutil  # (accelerate's dependency) the launcher's worker processes, to kill them all
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file

ARGS = ['pretrain', '--synth', 'tiny', '--epochs', '3']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}

def launch(cmd, cwd, **kw):
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900, **kw)

def torchrun(*args): return ['torchrun', '--nproc_per_node', '2', '--master_port', str(29500 + os.getpid() % 1000), *args]

def epoch_losses(out):
    return [float(x) for x in re.findall(r'pretraining with s2dtw: epoch \d+/\d+, loss ([\d.]+)', out)]

def weights(folder): return load_file(str(Path(folder)/'model.safetensors'))

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    if shutil.which('torchrun') is None: pytest.skip('torchrun is not installed')
    d = tmp_path_factory.mktemp('launch')
    one = launch([sys.executable, '-m', 'vtlearn.cli', *ARGS, '--bs', '4', '--out', 'one'], d)
    two = launch(torchrun('-m', 'vtlearn.cli', *ARGS, '--bs', '2', '--out', 'two'), d)
    return d, one, two

def test_torchrun_trains_on_the_global_batch(runs):
    d, one, two = runs
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    l1, l2 = epoch_losses(one.stdout), epoch_losses(two.stdout)
    assert len(l1) == 3 and len(l2) == 3, two.stdout            # rank 0 alone prints: 3 epoch lines, not 6
    assert two.stdout.count('saved two') == 1
    assert abs(l2[0] - l1[0]) < 0.25 * l1[0], (l1, l2)              # 2 optimizer steps an epoch here: later epochs drift apart
    assert l2[0] > 0.75 * math.log(4), l2                          # the loss of a global batch of 4 (log 4 = 1.39 at the start)
    c1, c2 = (json.loads((d/m/'config.json').read_text()) for m in ('one', 'two'))
    assert {**c1, 'weights_sha256': None, 'sha256': None} == {**c2, 'weights_sha256': None, 'sha256': None}  # the same model; its weights (and so its hash) differ
    w1, w2 = weights(d/'one'), weights(d/'two')
    assert {k: v.shape for k, v in w1.items()} == {k: v.shape for k, v in w2.items()}  # no DDP 'module.' prefix
    assert [p.name for p in (d/'two.checkpoints').iterdir()] == ['checkpoint.pth']

def test_killed_and_resumed_continues_exactly(runs):
    d, _, two = runs
    cmd = torchrun('-m', 'vtlearn.cli', *ARGS, '--bs', '2', '--out', 'killed')
    p = subprocess.Popen(cmd, cwd=d, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, t0 = d/'killed.checkpoints'/'checkpoint.pth', time.time()
    while not ckpt.exists() and p.poll() is None and time.time() - t0 < 600: time.sleep(0.2)
    launcher = psutil.Process(p.pid)
    procs = [launcher, *launcher.children(recursive=True)]  # SIGKILL does not reach torchrun's workers through torchrun
    for q in procs:
        try: q.kill()
        except psutil.NoSuchProcess: pass
    p.wait(); psutil.wait_procs(procs, timeout=30)
    assert ckpt.exists() and not (d/'killed'/'model.safetensors').exists()
    done = torch.load(ckpt, weights_only=True)['epoch']
    assert done < 2, 'the run finished before it could be killed'
    time.sleep(1)  # the killed run's port is free again
    r = launch(torchrun('-m', 'vtlearn.cli', *ARGS, '--bs', '2', '--out', 'killed', '--resume'), d)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(epoch_losses(r.stdout)) == 2 - done               # only the epochs left
    for k, v in weights(d/'two').items(): torch.testing.assert_close(weights(d/'killed')[k], v, rtol=0, atol=1e-6)

def test_accelerate_launch_on_shards(runs):
    "The README's path to many GPUs: the data to tar shards (`vtlearn shard`), then `accelerate launch ... pretrain --shards`."
    if shutil.which('accelerate') is None: pytest.skip('accelerate is not installed')
    from vtlearn.synth import synth_howto, synth_files
    d, f = runs[0], synth_files(synth_howto(size='tiny', features=True))
    r = launch([sys.executable, '-m', 'vtlearn.cli', 'shard', str(f.train_csv), '--captions', str(f.captions), '--features', str(f.features),
                '--out', 'shards', '--shard-size', '4'], d)
    assert r.returncode == 0 and len(list((d/'shards').glob('*.tar'))) > 1, r.stderr[-3000:]
    r = launch(['accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
                '--dynamo_backend', 'no', '--main_process_port', str(29700 + os.getpid() % 1000),
                '-m', 'vtlearn.cli', 'pretrain', '--shards', 'shards', '--epochs', '1', '--bs', '2', '--out', 'acc'], d)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(epoch_losses(r.stdout)) == 1 and (d/'acc'/'model.safetensors').is_file()
