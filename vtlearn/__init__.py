import warnings as _warnings
# fastai.layers, which every fastai import loads, decorates functions with `torch.jit.script`: torch >= 2.10 warns that it is
# deprecated (a FutureWarning each time). Filter that one message, before any vtlearn module imports fastai, so that what
# vtlearn prints is its own. (Not a generated module: nbdev writes nothing here, `put_version_in_init = false`.)
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning, module=r'torch\.jit\._script')
del _warnings
