"""One results table per fit in notebooks executed headless and saved (the tutorials): `final_tables()`.

In a live notebook fastai redraws its progress bar and table as training goes; a notebook executed headless and saved
would keep every redraw as a separate output. After `final_tables()`, each fit shows its table once, when it ends, and
`validate`/`get_preds` show no bar. A docs-build helper, not part of the library.
"""
import fastai.callback.progress as _progress
from fastprogress.fastprogress import NBMasterBar, NBProgressBar, show_styles, Div

class _FinalTable(NBMasterBar):
    "fastai's training table, displayed once at the end of the fit."
    def on_iter_begin(self): self.main_bar._parent_show = lambda *a: None
    def show(self): pass
    def on_iter_end(self):
        from IPython.display import display
        show_styles(); display(Div(*self.text_parts))

class _NoBar(NBProgressBar):
    "A progress bar that shows nothing (`validate`, `get_preds`)."
    def on_iter_begin(self): pass
    def on_update(self, val, text): pass
    def on_iter_end(self): pass

def final_tables():
    "Make fastai show each fit's results table once, at its end, and no progress bars."
    _progress.master_bar, _progress.progress_bar = _FinalTable, _NoBar
