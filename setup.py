# Packaging: all metadata comes from settings.ini (the single source of truth).
# VTLEARN_BUILD_KERNELS=1 pip install . (or -e .) also compiles the S2DTW kernels ahead of time, as vtlearn._C_cpu and,
# where nvcc and a CUDA build of torch are found, vtlearn._C_cuda; vtlearn.kernels.load_kernel loads them when their stamp
# (the sources' hash and the torch version) matches, and otherwise compiles on first use, the default. Without the flag
# this file does not import torch.
import hashlib, os
from configparser import ConfigParser
from pathlib import Path
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
reqs = cfg.get('requirements', '').split()
dev_reqs = cfg.get('dev_requirements', '').split()
scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]


def kernel_extensions():
    "The extensions and the build command when VTLEARN_BUILD_KERNELS is set, else nothing (and no torch import)."
    if os.environ.get('VTLEARN_BUILD_KERNELS', '') in ('', '0'): return {}
    import torch
    from torch.utils import cpp_extension as ce
    csrc = Path('vtlearn/csrc')
    srcs = {'cpu': ['s2dtw_cpu.cpp'], 'cuda': ['s2dtw_cuda.cu']}  # as vtlearn.kernels._srcs
    host = ['-O3', '-fopenmp', '-march=native']  # as vtlearn.kernels._cflags' first flag set
    exts = [ce.CppExtension('vtlearn._C_cpu', [str(csrc / s) for s in srcs['cpu']], include_dirs=[str(csrc.resolve())],
                            extra_compile_args=host, extra_link_args=['-fopenmp'])]
    if torch.version.cuda and ce.CUDA_HOME and os.environ['VTLEARN_BUILD_KERNELS'] != 'cpu':  # =cpu: the CPU kernel only
        exts.append(ce.CUDAExtension('vtlearn._C_cuda', [str(csrc / s) for s in srcs['cuda']], include_dirs=[str(csrc.resolve())],
                                     extra_compile_args={'cxx': host, 'nvcc': ['-O3', '-lineinfo']}, extra_link_args=['-fopenmp']))

    def stamp(kind):  # as vtlearn.kernels._aot_stamp
        h = hashlib.sha1()
        for f in sorted(csrc.glob('*.h')) + [csrc / s for s in srcs[kind]]: h.update(f.read_bytes())
        return f'{h.hexdigest()} torch-{torch.__version__}'

    class BuildExt(ce.BuildExtension):
        def run(self):
            super().run()
            for ext in self.extensions:  # next to the module: in build/ (for the wheel), and in the source with --inplace
                kind, out = ext.name.rsplit('_', 1)[1], Path(self.build_lib) / 'vtlearn'
                for d in {out, *([Path('vtlearn')] if self.inplace else [])}: (d / f'_C_{kind}.stamp').write_text(stamp(kind) + '\n')

    return dict(ext_modules=exts, cmdclass={'build_ext': BuildExt.with_options(no_python_abi_suffix=False)})


setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license='Apache-2.0', url=cfg['git_url'],
    keywords=cfg['keywords'].split(), python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=['vtlearn', 'vtlearn.*']),
    package_data={'vtlearn': ['csrc/*']}, include_package_data=True, zip_safe=False,
    install_requires=reqs, extras_require={'dev': dev_reqs},
    entry_points={'console_scripts': scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    **kernel_extensions(),
)
