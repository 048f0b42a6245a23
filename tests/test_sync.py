"The modules in vtlearn/ are exactly what the notebooks export: a hand edit of a module, or a notebook whose export was not run, fails."
import shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _export(tmp):
    "Export the notebooks into a copy of the project whose library folder holds only the hand-written files."
    for f in ('pyproject.toml', 'settings.ini'): shutil.copy(ROOT/f, tmp/f)
    shutil.copytree(ROOT/'nbs', tmp/'nbs')
    (tmp/'vtlearn').mkdir()
    shutil.copy(ROOT/'vtlearn'/'__init__.py', tmp/'vtlearn'/'__init__.py')
    nbdev_export = Path(sys.executable).parent/'nbdev-export'
    subprocess.run([str(nbdev_export) if nbdev_export.exists() else 'nbdev-export'], cwd=tmp, check=True, capture_output=True)
    return tmp/'vtlearn'

def test_modules_match_notebooks(tmp_path):
    out = _export(tmp_path)
    mods = lambda d: {p.relative_to(d).as_posix() for p in d.rglob('*.py') if '__pycache__' not in p.parts}
    exported, committed = mods(out), mods(ROOT/'vtlearn')
    assert exported - committed == set(), f"exported by the notebooks but missing from vtlearn/: {exported - committed}"
    assert committed - exported == set(), f"modules in vtlearn/ that no notebook exports: {committed - exported}"
    stale = [m for m in sorted(exported) if (out/m).read_text() != (ROOT/'vtlearn'/m).read_text()]
    assert not stale, f"these modules differ from their notebooks (run nbdev-export, never hand-edit): {stale}"
