"""Build the offline docs site (`_docs/`) and `README.md` from the notebooks, without Quarto.

Quarto (what `nbdev-docs`/`nbdev-readme` call) cannot be installed here, so: nbdev's own processing
(`proc_nbs`: directives, frontmatter, show_doc) writes `_proc/*.ipynb`, this script turns those into Markdown
pages using the saved outputs, and mkdocs-material builds the site. Usage: `python tools/build_docs.py [--force]`
from anywhere; the mkdocs config is generated into `_proc/mkdocs/` (ignored by git), never committed."""
import ast, base64, configparser, html, importlib, inspect, json, os, re, shutil, subprocess, sys, time
from pathlib import Path
from fastcore.docments import DocmentTbl
from fastcore.nbio import read_nb
from nbdev.config import get_config, nbpath2html
from nbdev.frontmatter import _fm2dict_md
from nbdev.process import NBProcessor
from nbdev.processors import FilterDefaults, exec_show_docs, insert_warning
from nbdev.serve import proc_nbs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the library of this checkout, for show_doc's objects
SRC = ROOT/'_proc'/'mkdocs'  # mkdocs.yml + docs/: generated, under the already ignored _proc/
_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
# glog-style lines from torch's C++ logger ("W1127 09:09:36.152 7060 file.py:183] ..."): machine-specific noise
_re_log = re.compile(r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ .*\n?', re.M)
_re_tutorial = re.compile(r'^1\d[a-z]?_tutorial')
OUT = '{.text .nb-output}'  # outputs: plain text, styled apart from the source cells by CSS below
CSS = '''.md-typeset .nb-output code { background: none; border-left: .2rem solid var(--md-default-fg-color--lightest); }
.md-typeset pre > code { white-space: pre-wrap; overflow-wrap: anywhere; }  /* long lines wrap, not cut at the page edge */
.md-typeset a.sd-source { float: right; font-size: .75em; }
div.nb-output { overflow-x: auto; }  /* wide HTML outputs (training tables) scroll instead of widening the page */
'''

_re_mpl = re.compile(r'(?s)\[?<(Axes|Figure|matplotlib\.[\w.]+)\b.*>\]?')  # reprs of the objects a plotting call returns

def _lookup():
    "show_doc names -> (module, qualified name, source file) from nbdev's index of the library (`_modidx.py`)."
    from vtlearn._modidx import d
    out = {}
    for mod, syms in d['syms'].items():
        for full, (url, py) in syms.items(): out.setdefault(full[len(mod) + 1:], []).append((mod, url.split('#')[0], py))
    return out

def _src_url(py, obj):
    "Link to the line of `obj` in `py` on the project's repository (settings.ini's `git_url` and `branch`); the file if no line."
    ini = configparser.ConfigParser(); ini.read(ROOT/'settings.ini')
    try: line = f'#L{inspect.getsourcelines(inspect.unwrap(obj))[1]}'
    except (TypeError, OSError): line = ''  # not a function or class (a dispatcher, a property...)
    return f"{ini['DEFAULT']['git_url'].rstrip('/')}/blob/{ini['DEFAULT'].get('branch', 'main')}/{py}{line}"

def showdoc_md(md, page, syms={}):
    "show_doc's markdown as docs.fast.ai shows it: a link to the source, the signature, the docstring, a table of the docments."
    h = re.search(r'^(#+) (\S+)\n', md, re.M)
    if not h: return md
    if not syms: syms.update(_lookup())
    cands = sorted(syms.get(h[2], []), key=lambda c: c[1] != page)  # this page's definition first
    if not cands: return md
    mod, _, py = cands[0]
    obj = importlib.import_module(mod)
    for a in h[2].split('.'): obj = getattr(obj, a, None)
    url = _src_url(py, obj)
    try: tbl = DocmentTbl(obj)._repr_markdown_()
    except Exception: tbl = ''  # not a signature docments can read: the signature block stays as it is
    if tbl:  # the table has the comments: the signature without them
        md = re.sub(r'(?s)```python\n.*?```', lambda m: re.sub(r'(?m)(,|:) # .*$', r'\1', m[0]), md, count=1)
        md = md.rstrip() + '\n\n' + tbl
    return md[:h.start()] + f'[source]({url}){{: .sd-source }}\n\n' + md[h.start():]

def hidden_source(src):
    "Source cells docs.fast.ai does not show: only imports, or only tests (`test_*(...)` calls and asserts)."
    try: body = ast.parse(src).body
    except SyntaxError: return False  # IPython syntax (magics, !commands)
    test = lambda n: isinstance(n, ast.Assert) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                                                   and isinstance(n.value.func, ast.Name) and n.value.func.id.startswith('test_'))
    return bool(body) and (all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body) or all(map(test, body)))

def fence(text, lang=''):
    "A fenced block longer than any backtick run inside `text`."
    ticks = '`' * max(3, 1 + max((len(m) for m in re.findall('`+', text)), default=0))
    return f'{ticks}{lang}\n{text.rstrip()}\n{ticks}'

def clean_md(md, pages):
    "Drop the Quarto-only syntax Python-Markdown would print literally; point notebook links at their pages."
    md = re.sub(r'^[ \t]*(:::|#\|).*\n?', '', md, flags=re.M)      # fenced divs (`::: {.callout-note}`), stray directives
    md = re.sub(r'\[([^\]\n]*)\]\{[^}\n]*\}', r'\1', md)        # bracketed spans `[text]{.class}`
    link = lambda m: f'](./{pages[m[1]]}{m[2] or ""})' if m[1] in pages else m[0]
    return re.sub(r'\]\((?:\./)?([\w.-]+?)\.(?:ipynb|html)(#[^)\s]*)?\)', link, md)  # relative links only

def out_md(o, pages, img, readme, page=None):
    "Markdown for one output: rich (markdown, html, images) on the site, text only in the README."
    if o.output_type == 'stream':
        text = _re_log.sub('', _re_ansi.sub('', o.text))
        return '' if readme and o.name == 'stderr' or not text.strip() else fence(text, '' if readme else OUT)
    if o.output_type == 'error': return '' if readme else fence(_re_ansi.sub('', '\n'.join(o.traceback)), OUT)
    d = {k: ''.join(v) if isinstance(v, list) else v for k, v in o.get('data', {}).items()}
    # show_doc's markdown (signature, docments, docstring); not the fenced-HTML markdown form of an HTML output (fastai's
    # training tables), which would print the table's source: those render from their HTML below
    if 'text/markdown' in d and not ('text/html' in d and re.match(r'\s*```html\n', d['text/markdown'])):
        return clean_md(d['text/markdown'] if readme or page is None else showdoc_md(d['text/markdown'], page), pages)
    if set(d) == {'text/plain'} and _re_mpl.fullmatch(d['text/plain'].strip()): return ''  # `<Axes: ...>` under a plot
    if readme: return '' if any(k.startswith('image/') for k in d) else fence(d.get('text/plain', ''))
    if 'text/html' in d: return f'<div class="nb-output" markdown="0">\n{d["text/html"].strip()}\n</div>'
    for mime, ext in (('image/png', 'png'), ('image/jpeg', 'jpg'), ('image/svg+xml', 'svg')):
        if mime in d:
            raw = d[mime].encode() if ext == 'svg' else base64.b64decode(d[mime])
            return f'![output]({img(ext, raw)})'
    return fence(d.get('text/plain', ''), OUT)

def nb_md(nb, pages, img=None, readme=False, page=None):
    "Markdown page of a processed notebook: title and description, then each cell's source and outputs."
    fm = _fm2dict_md(nb.cells[0].source) if nb.cells and nb.cells[0].cell_type == 'raw' else {}
    parts = [f'# {fm["title"]}'] if fm.get('title') else []
    if fm.get('description'): parts.append(f'> {fm["description"]}')
    for c in nb.cells:
        if c.cell_type == 'markdown': parts.append(clean_md(c.source, pages))
        if c.cell_type != 'code': continue
        dirs = {k: str(v).lower() for k, v in c.directives_.items()}  # nbdev's parse; sources are stripped of them
        if dirs.get('include') == 'false': continue
        outs = c.get('outputs', []) if dirs.get('output') != 'false' else []
        if c.source.strip() and dirs.get('echo') != 'false' and not (not readme and not outs and hidden_source(c.source)):
            parts.append(fence(c.source, 'python'))
        parts += [out_md(o, pages, img, readme, page) for o in outs]
    return '\n\n'.join(p.strip('\n') for p in parts if p.strip()) + '\n'

BENCH = ROOT/'bench'/'results'

def performance_md():
    "The Performance page: the measured tables of `bench/results/` (`cpu_*.md`, `gpu_*.md`, the ablation's run times)."
    parts = ['# Performance', '> Measured numbers: the S2DTW loss, training and data loading, on CPU and GPU. Each table comes from a file in '
             '`bench/results/`, written by the command it names; the docs build includes every such file.']
    for kind, name, how in (('cpu', 'CPU', '`python bench/bench_s2dtw.py > bench/results/cpu_s2dtw.md` (likewise `bench_train.py`, '
                             '`bench_data.py`)'), ('gpu', 'GPU', '`python bench/bench_s2dtw.py --device cuda > bench/results/gpu_s2dtw.md` '
                             'on the GPU machine')):
        parts.append(f'## {name}')
        files = sorted(BENCH.glob(f'{kind}_*.md'))
        for f in files:
            text = f.read_text().strip()
            parts.append(text if text.lstrip().startswith(('#', '|')) else fence(text))  # Markdown as is, a bench script's text fenced
        if not files:
            parts.append(f'!!! note "{name} tables: not measured yet"\n    This place is kept for them: {how} adds a '
                         f'`bench/results/{kind}_*.md` file, and the next docs build shows it here.')
    runs = BENCH/'ablation_small_15ep.json'
    if runs.exists():  # `vtlearn ablate`'s log: one pretraining + evaluation per run, timed
        rows, groups = json.loads(runs.read_text()), {}
        for r in rows: groups.setdefault((r['loss'], r['tda']), []).append(r['seconds'])
        parts.append('## Training time of the ablation runs (CPU)')
        parts.append(f'`vtlearn ablate` (`{runs.relative_to(ROOT)}`, {len(rows)} runs): SynthHowTo small, 15 epochs of pretraining and '
                     'the zero-shot evaluation per run, on CPU (the `seconds` the log recorded; the machine and its load are not recorded); seconds per run, mean and range over noise levels and seeds.')
        tbl = ['| loss | TDA | runs | seconds per run | min - max |', '|---|---|---:|---:|---:|']
        tbl += [f"| {l} | {'yes' if t else 'no'} | {len(v)} | {sum(v) / len(v):.0f} | {min(v):.0f} - {max(v):.0f} |" for (l, t), v in groups.items()]
        parts.append('\n'.join(tbl))
    return '\n\n'.join(parts) + '\n'

def check_title_cell(path):
    "nbdev 3 drops the whole markdown cell it takes the title from: warn when that cell holds more than the frontmatter."
    cell = next((c for c in read_nb(path).cells if c.cell_type == 'markdown' and re.search(r'^#\s', c.source, re.M)), None)
    rest = cell and re.sub(r'^(#|>|-\s+\S.*:).*$', '', cell.source, flags=re.M).strip()
    if rest: print(f'WARNING: nbs/{path.name}: the docs and README lose the text after the title and description '
                   f'({rest[:40]!r}...): move it to a cell of its own')

class _NoExec(FilterDefaults):
    "nbdev's doc processing without re-running any cell, for a deterministic README from the saved outputs."
    def base_procs(self): return [p for p in super().base_procs() if p not in (exec_show_docs, insert_warning)]

def readme(cfg):
    "README.md from the saved outputs of the readme notebook, as `nbdev-readme` would (it needs Quarto)."
    nb = read_nb(cfg.nbs_path/cfg.readme_nb)
    _NoExec()(nb)
    nb = NBProcessor(nb=nb, procs=[], rm_directives=True).nb
    note = f'<!-- Generated from nbs/{cfg.readme_nb} by tools/build_docs.py: edit the notebook, not this file. -->\n'
    (ROOT/'README.md').write_text(nb_md(nb, {}, readme=True) + '\n' + note)

def mathml(page:str) -> str:
    "The TeX that arithmatex marked, `\\(...\\)` and `\\[...\\]`, as MathML: browsers render it natively, with no script and offline."
    from latex2mathml.converter import convert
    tex = lambda m, display: convert(html.unescape(m[1]), display=display)
    page = re.sub(r'(?s)<span class="arithmatex">\\\((.*?)\\\)</span>', lambda m: tex(m, 'inline'), page)
    return re.sub(r'(?s)<div class="arithmatex">\\\[(.*?)\\\]</div>', lambda m: tex(m, 'block'), page)

def main(force='--force' in sys.argv):
    t0 = time.time()
    os.chdir(ROOT)  # nbdev finds its config from the cwd
    cfg = get_config()
    for p in sorted(cfg.nbs_path.glob('*.ipynb')): check_title_cell(p)
    readme(cfg)
    # nbdev's processing into _proc/ (re-executes only show_doc and import cells), in this process: nbdev's default pool of
    # spawned workers imports the library anew in each and took 58 s where one process takes 14 s
    cache = proc_nbs(force=force, n_workers=0)
    nbs = sorted(cache.glob('*.ipynb'), key=lambda p: (p.stem != 'index', p.name))
    procd = {p: NBProcessor(p, procs=[], rm_directives=True).nb for p in nbs}
    fms = {p: _fm2dict_md(nb.cells[0].source) if nb.cells and nb.cells[0].cell_type == 'raw' else {}
           for p, nb in procd.items()}
    slug = {p: Path(fms[p].get('output-file', nbpath2html(p).name)).stem for p in nbs}  # nbdev's name: 01_align -> align
    pages = {k: slug[p] + '.md' for p in nbs for k in (p.stem, slug[p])}
    shutil.rmtree(SRC, ignore_errors=True)
    (SRC/'docs').mkdir(parents=True)
    nav, tutorials = [], []
    for p, nb in procd.items():
        def img(ext, raw, n=[0], s=slug[p]):  # figures go next to the page, in <page>_files/
            n[0] += 1
            f = SRC/'docs'/f'{s}_files'/f'fig{n[0]}.{ext}'
            f.parent.mkdir(exist_ok=True)
            f.write_bytes(raw)
            return f'{s}_files/{f.name}'
        (SRC/'docs'/pages[p.stem]).write_text(nb_md(nb, pages, img, page=slug[p] + '.html'))
        entry = {('Home' if p.stem == 'index' else fms[p].get('title', slug[p])): pages[p.stem]}
        (tutorials if _re_tutorial.match(p.stem) else nav).append(entry)
    if tutorials: nav.append({'Tutorials': tutorials})
    (SRC/'docs'/'performance.md').write_text(performance_md())
    nav.append({'Performance': 'performance.md'})
    mk = dict(site_name=cfg.get('title', cfg.lib_name), docs_dir='docs', use_directory_urls=False, nav=nav, extra_css=['nb.css'],
              theme=dict(name='material', font=False, features=['content.code.copy', 'navigation.top']),  # no Google fonts
              plugins=['search', 'offline'],  # both bundled: search works from file:// too, nothing fetched online
              markdown_extensions=['attr_list', 'md_in_html', 'tables', 'admonition', 'pymdownx.superfences',
                                   {'toc': {'permalink': True}}, {'pymdownx.highlight': {'use_pygments': True}},
                                   {'pymdownx.arithmatex': {'generic': True}}])  # marks the TeX; `mathml` renders it
    (SRC/'docs'/'nb.css').write_text(CSS)
    (SRC/'mkdocs.yml').write_text(json.dumps(mk, indent=2))  # JSON is YAML
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(SRC/'mkdocs.yml'),
                        '-d', str(ROOT/'_docs')], capture_output=True, text=True,
                       env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'})  # mute material's end-of-life banner
    if r.stdout or r.stderr: print(r.stdout + r.stderr, end='')
    if r.returncode: sys.exit(f'mkdocs build failed ({r.returncode})')
    for page in (ROOT/'_docs').glob('*.html'): page.write_text(mathml(page.read_text()))
    print('README.md  <- nbs/' + cfg.readme_nb)
    for p in nbs: print(f'_docs/{slug[p]}.html  <- nbs/{p.name}')
    print(f'built {len(nbs)} pages into _docs/ in {time.time() - t0:.1f} s')

if __name__ == '__main__': main()
