# Packaging: all metadata comes from settings.ini (the single source of truth).
# `pip install .` (or -e .) compiles the S2DTW kernels ahead of time into one extension, vtlearn._C, as PyTorch's
# extension example does (torch is a build requirement: pyproject.toml): the CPU kernel always, the CUDA kernel too where
# nvcc and a CUDA build of torch are found (VTLEARN_CUDA=0 skips it; GPUs then run the Triton kernels). It uses LibTorch's
# stable ABI only (Python's limited API: an abi3 file), so one build serves every torch from vtlearn.kernels' floor
# (2.10) on. A failed build leaves no extension, and vtlearn compiles the kernels on first use instead.
import os, sys
from configparser import ConfigParser
from pathlib import Path
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
reqs = cfg.get('requirements', '').split()
dev_reqs = cfg.get('dev_requirements', '').split()
scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]


def kernel_extension():
    "The vtlearn._C extension and its build command: the CPU kernel, and the CUDA kernel where a CUDA toolkit and a CUDA build of torch are found."
    import torch
    from torch.utils import cpp_extension as ce
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from vtlearn.kernels import _SRCS, _FLOOR  # the sources and the torch floor of the build on first use: one list
    cuda = bool(torch.version.cuda and ce.CUDA_HOME and os.environ.get('VTLEARN_CUDA', '1') != '0')
    if cuda and not os.environ.get('TORCH_CUDA_ARCH_LIST') and not torch.cuda.is_available():
        os.environ['TORCH_CUDA_ARCH_LIST'] = '8.0;9.0+PTX'  # no GPU to ask: A100, H100/H200, and PTX for newer ones
    # the CUDA runtime to link: where the toolkit keeps it (some installs put nvcc and the libraries apart)
    cudart = [str(d) for d in (Path(ce.CUDA_HOME or '.') / s for s in ('lib64', 'lib', 'cuda/lib64')) if (d / 'libcudart.so').exists()]
    ext = (ce.CUDAExtension if cuda else ce.CppExtension)(  # a failed build (optional): compiled on first use instead
        'vtlearn._C', [f'vtlearn/csrc/{f}' for f in _SRCS['cpu'] + (_SRCS['cuda'] if cuda else [])], py_limited_api=True, optional=True,
        library_dirs=cudart if cuda else [], extra_compile_args={'cxx': ['-O3', _FLOOR, '-DPy_LIMITED_API=0x030A0000'], 'nvcc': ['-O3', '-lineinfo', _FLOOR]})
    return dict(ext_modules=[ext], cmdclass={'build_ext': ce.BuildExtension}, options={'bdist_wheel': {'py_limited_api': 'cp310'}})


setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license='Apache-2.0', url=cfg['git_url'],
    keywords=cfg['keywords'].split(), python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=['vtlearn', 'vtlearn.*']),
    package_data={'vtlearn': ['csrc/*']}, include_package_data=True, zip_safe=False,
    install_requires=reqs, extras_require={'dev': dev_reqs},
    entry_points={'console_scripts': scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    **kernel_extension(),
)
