"One test per notebook: runs its cells (tests included) with execnb, as `nbdev-test` does, skipping `#| slow` cells."
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb  # renamed: pytest would collect a name starting with test_

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT/'nbs').glob('*.ipynb'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(nb.parent)  # notebooks run from nbs/, as in Jupyter
    flags = get_config(ROOT).tst_flags
    ok, secs = run_nb(nb, skip_flags=flags.split() if isinstance(flags, str) else flags)
    assert ok, f"{nb.name} failed (see the traceback above)"

def test_found_notebooks(): assert {'index', '00_kernels', '01_align'} <= {p.stem for p in NBS}
