"Build the docs site with tools/build_docs.py, serve it on 127.0.0.1 and check the rendered pages in headless Chromium."
import functools, html, json, os, re, shutil, subprocess, sys, tempfile, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS, NBS = ROOT/'_docs', ROOT/'nbs'
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic']

def page_of(nb):
    "The page nbdev names a notebook: `00_align.ipynb` -> `align.html`."
    from nbdev.config import nbpath2html
    return nbpath2html(Path(nb)).name

def text_of(markup):
    "Visible text of an HTML document, whitespace collapsed (code is split into highlighting spans)."
    markup = re.sub(r'(?is)<(script|style)\b.*?</\1>', ' ', markup)
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', '', markup)).split())

def nb_cells(name): return json.loads((NBS/name).read_text())['cells']

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@pytest.fixture(scope='module')
def site():
    "Build the docs once, serve `_docs/` on a free port; yields (base url, build output)."
    r = subprocess.run([sys.executable, 'tools/build_docs.py'], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'docs build failed:\n{r.stdout}\n{r.stderr}'
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(DOCS)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}', r.stdout + r.stderr
    srv.shutdown(); srv.server_close()

@pytest.fixture(scope='module')
def chromium():
    "Run headless Chromium with `args` on a throwaway profile; skip (fail on CI) when it is not installed."
    if not Path(CHROMIUM).exists():
        msg = f'chromium not found ({CHROMIUM}): install Debian `chromium` to run the browser checks of the docs'
        if os.environ.get('CI'): pytest.fail(msg)
        pytest.skip(msg)
    def run(*args):
        with tempfile.TemporaryDirectory() as prof:
            r = subprocess.run([CHROMIUM, *FLAGS, f'--user-data-dir={prof}', *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout
    return run

def test_home_page(site, chromium):
    dom = chromium('--dump-dom', site[0] + '/index.html')
    md = '\n'.join(''.join(c['source']) for c in nb_cells('index.ipynb') if c['cell_type'] == 'markdown')
    install = re.search(r'```(?:sh|bash)\n(.+)\n', md)[1]  # the first install command
    text = text_of(dom)
    assert 'vtlearn' in text
    assert install in text, install

def test_align_api_page(site, chromium):
    url = site[0] + '/align.html'
    dom = chromium('--dump-dom', url)
    text = text_of(dom)
    assert 'id="s2dtw_pairwise"' in dom  # show_doc's heading, rendered (anchor for links and the toc)
    for s in ['def s2dtw_pairwise(', 'video_lengths', 'text_lengths', 'backend',
              'S2DTW between every video and every text: the distance matrix of the contrastive loss.']: assert s in text, s
    # the example right after the show_doc: its saved output is on the page
    srcs = [''.join(c['source']) for c in nb_cells('00_align.ipynb')]
    i = srcs.index('show_doc(s2dtw_pairwise)') + 1
    out = next((''.join(o['data']['text/plain']) for c in nb_cells('00_align.ipynb')[i:i+3]
                for o in c.get('outputs', []) if 'text/plain' in o.get('data', {})), None)
    assert out, 'nbs/00_align.ipynb has no saved output after show_doc(s2dtw_pairwise): run the notebook and save it'
    assert ' '.join(out.splitlines()[0].split()) in text, out
    png = DOCS/'screenshot_align.png'
    png.unlink(missing_ok=True)
    chromium(f'--screenshot={png}', '--window-size=1280,1600', '--hide-scrollbars', url)
    assert png.exists() and png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000

def test_every_notebook_has_a_clean_page(site):
    "One page per notebook; no directive or show_doc source leaks into it; mkdocs reported no warnings (broken links...)."
    assert not re.search(r'^(WARNING|ERROR)\b', site[1], re.M), site[1]
    for nb in sorted(NBS.glob('*.ipynb')):
        page = DOCS/page_of(nb)
        assert page.exists(), f'{nb.name} gave no page {page.name}'
        text = text_of(re.sub(r'(?s)<nav\b.*?</nav>', ' ', page.read_text()))  # page body, not the nav
        assert '#|' not in text, f'raw directive on {page.name}'
        assert 'show_doc(' not in text, f'show_doc source instead of rendered docs on {page.name}'
    assert (DOCS/'search'/'search_index.json').exists()

_re_markup = re.compile(r'<(table|thead|tbody|tr|th|td|progress|style)\b[^>]*>|class="fastprogress"|table\.fastprogress')

def raw_markup(page_html):
    "HTML markup shown as text in the code blocks of a built page (an HTML output rendered from its source), or None."
    for block in re.findall(r'(?s)<pre\b.*?</pre>', page_html):
        m = _re_markup.search(html.unescape(re.sub(r'<[^>]+>', '', block)))  # highlighting splits code into spans
        if m: return m[0]

def test_no_raw_markup_in_code_blocks(site):
    "HTML outputs (fastai's training tables) render as HTML: no page shows their source in a code block."
    assert raw_markup('<pre><code><span>&lt;</span><span>table</span> <span>class=&quot;fastprogress&quot;&gt;</span></code></pre>')
    bad = {p.name: m for p in sorted(DOCS.glob('*.html')) if (m := raw_markup(p.read_text()))}
    assert not bad, f'escaped HTML in code blocks: {bad}'
    for nb in sorted(NBS.glob('1*_tutorial*.ipynb')):  # every training table of a tutorial is an HTML table on its page
        n = sum('<table class="fastprogress"' in ''.join(o.get('data', {}).get('text/html', ''))
                for c in nb_cells(nb.name) for o in c.get('outputs', []))
        test_page = (DOCS/page_of(nb)).read_text()
        assert test_page.count('<table class="fastprogress"') == n > 0, (nb.name, n)

def test_api_pages_like_docs_fast_ai(site):
    "show_doc: a parameter table from the docments and a source link; no import-only or test-only cells; no `<Axes: ...>` reprs."
    page = (DOCS/'align.html').read_text()
    sec = page[page.index('id="s2dtw_pairwise"'):][:20000]
    assert re.search(r'(?s)<table>.*?<th>\s*<strong>Type</strong>.*?<td>video_lengths</td>\s*<td>Tensor \| None</td>', sec), 'no docments table'
    assert re.search(r'class="sd-source" href="https://github.com/[^"]+/blob/\w+/vtlearn/align.py#L\d+"', page[:page.index('id="s2dtw_pairwise"') + 2000])
    srcs = [''.join(c['source']) for c in nb_cells('00_align.ipynb') if c['cell_type'] == 'code']
    hidden = next(s for s in srcs if s.startswith('from fastcore.test import'))  # an import-only cell
    text = text_of(page)
    assert ' '.join(hidden.split()) not in text
    for p in DOCS.glob('*.html'): assert not re.search(r'&lt;(Axes|Figure)\b', p.read_text()), p.name
