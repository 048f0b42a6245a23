"tools/nbtables.py: a fit in a notebook executed headless shows one results table, at its end; validate shows none."
from pathlib import Path
from execnb.shell import CaptureShell

TOOLS = Path(__file__).resolve().parents[1]/'tools'

def test_one_table_per_fit():
    sh = CaptureShell()  # a notebook kernel, as the tutorials are executed
    sh.run(f"import sys; sys.path.insert(0, {str(TOOLS)!r})\nfrom nbtables import final_tables\n"
           "from fastai.test_utils import synth_learner\nimport fastai.callback.progress\nfinal_tables()\nlearn = synth_learner()")
    outs = sh.run("learn.fit(2, 1e-3); learn.validate()")
    html = [o['data']['text/html'] for o in outs if 'text/html' in o.get('data', {})]
    html = [''.join(h) if isinstance(h, list) else h for h in html]
    assert sum('<table' in h for h in html) == 1, outs         # one table for the fit, none for validate
    assert 'train_loss' in html[-1] and html[-1].count('<tr>') == 3  # header + 2 epochs
