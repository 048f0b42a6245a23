# Packaging: all metadata comes from settings.ini (the single source of truth).
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
reqs = cfg.get('requirements', '').split()
dev_reqs = cfg.get('dev_requirements', '').split()
scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license='Apache-2.0', url=cfg['git_url'],
    keywords=cfg['keywords'].split(), python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=['vtlearn', 'vtlearn.*']),
    package_data={'vtlearn': ['csrc/*']}, include_package_data=True, zip_safe=False,
    install_requires=reqs, extras_require={'dev': dev_reqs},
    entry_points={'console_scripts': scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
