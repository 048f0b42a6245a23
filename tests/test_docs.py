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
    "The page nbdev names a notebook: `01_align.ipynb` -> `align.html`."
    from nbdev.config import nbpath2html
    return nbpath2html(Path(nb)).name

def text_of(markup):
    "Visible text of an HTML document, whitespace collapsed (code is split into highlighting spans)."
    markup = re.sub(r'(?is)<(script|style)\b.*?</\1>', ' ', markup)
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', '', markup)).split())

def nb_cells(name): return json.loads((NBS/name).read_text())['cells']

# A same-origin page that loads a docs page in a frame and reports what a reader sees on it: tables laid out with a size,
# images decoded, code blocks wider than their box (cut at the page edge).
PROBE = '''<!doctype html><html><body><pre id="result">pending</pre>
<iframe id="f" src="/PAGE" style="width:1280px;height:1600px;border:0"></iframe>
<script>
const f = document.getElementById('f');
f.addEventListener('load', () => setTimeout(() => {
  const d = f.contentDocument, w = f.contentWindow, main = d.querySelector('article') || d.body;
  const shown = e => { const r = e.getBoundingClientRect(), s = w.getComputedStyle(e);
                       return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const tables = [...main.querySelectorAll('table')], imgs = [...main.querySelectorAll('img')];
  const ok = i => i.complete && i.naturalWidth > 0;
  const right = main.getBoundingClientRect().right;
  const scrolls = e => { for (let a = e.parentElement; a && a !== main; a = a.parentElement)
                           if (['auto', 'scroll'].includes(w.getComputedStyle(a).overflowX)) return true;
                         return false; };
  document.getElementById('result').textContent = JSON.stringify({
    title: d.title, text: main.innerText.length,
    tables: tables.length, shown_tables: tables.filter(t => shown(t) && t.querySelectorAll('td').length > 0).length,
    training_tables: tables.filter(t => shown(t) && t.classList.contains('fastprogress')).length,
    images: imgs.length, broken_images: imgs.filter(i => !ok(i)).map(i => i.getAttribute('src')),
    cut_code: [...main.querySelectorAll('pre > code')].filter(c => shown(c) && c.scrollWidth > c.clientWidth + 2).length,
    cut_tables: tables.filter(t => shown(t) && !scrolls(t) && t.getBoundingClientRect().right > right + 2).length});
}, 300));
</script></body></html>'''

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        if not self.path.startswith('/__probe__/'): return super().do_GET()
        body = PROBE.replace('/PAGE', '/' + self.path.split('/', 2)[2]).encode()
        self.send_response(200); self.send_header('Content-Type', 'text/html'); self.send_header('Content-Length', str(len(body)))
        self.end_headers(); self.wfile.write(body)

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
    srcs = [''.join(c['source']) for c in nb_cells('01_align.ipynb')]
    i = srcs.index('show_doc(s2dtw_pairwise)') + 1
    out = next((''.join(o['data']['text/plain']) for c in nb_cells('01_align.ipynb')[i:i+3]
                for o in c.get('outputs', []) if 'text/plain' in o.get('data', {})), None)
    assert out, 'nbs/01_align.ipynb has no saved output after show_doc(s2dtw_pairwise): run the notebook and save it'
    assert ' '.join(out.splitlines()[0].split()) in text, out

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

def test_no_raw_tex_or_reprs(site):
    "Math is rendered (MathML), never shown as TeX source; no signature shows an object's repr as a default."
    for page in sorted(DOCS.glob('*.html')):
        s = page.read_text()
        assert '\\(' not in s and '\\[' not in text_of(s), f'TeX source on {page.name}'
        assert '<object object at' not in html.unescape(s), f'a sentinel default in a signature on {page.name}'
    assert '<math' in (DOCS/page_of('07_learner.ipynb')).read_text()

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

SHOTS = {'index.html': 'index', 'align.html': 'api', page_of('11_tutorial.pretrain.ipynb'): 'tutorial'}

@pytest.mark.parametrize('page', list(SHOTS))
def test_page_as_rendered(site, chromium, page):
    "What a reader sees in Chromium: a screenshot kept in `_docs/screenshots/`, tables laid out, images loaded, no code cut off."
    from PIL import Image
    dom = chromium('--dump-dom', '--virtual-time-budget=10000', '--window-size=1400,1700', f'{site[0]}/__probe__/{page}')
    res = json.loads(html.unescape(re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)[1]))
    assert res['text'] > 500, res
    assert not res['broken_images'], res
    assert res['shown_tables'] == res['tables'], res  # every table rendered (none hidden, none empty)
    assert res['cut_code'] == 0 and res['cut_tables'] == 0, res  # wide tables scroll inside the page
    if SHOTS[page] == 'api': assert res['shown_tables'] >= 3, res  # show_doc's parameter tables
    if SHOTS[page] == 'tutorial':
        n = sum('<table class="fastprogress"' in ''.join(o.get('data', {}).get('text/html', ''))
                for c in nb_cells('11_tutorial.pretrain.ipynb') for o in c.get('outputs', []))
        assert res['training_tables'] == n > 0 and res['images'] > 0, res
    png = DOCS/'screenshots'/f'{SHOTS[page]}.png'  # build artefacts: look at them
    png.parent.mkdir(exist_ok=True); png.unlink(missing_ok=True)
    chromium(f'--screenshot={png}', '--window-size=1280,1600', '--hide-scrollbars', f'{site[0]}/{page}')
    with Image.open(png) as im:
        assert im.size == (1280, 1600), im.size
        lo, hi = im.convert('L').getextrema()
        assert hi - lo > 100 and len(im.convert('RGB').getcolors(1 << 20) or range(1 << 20)) > 50, 'blank screenshot'

def test_api_pages_like_docs_fast_ai(site):
    "show_doc: a parameter table from the docments and a source link; no import-only or test-only cells; no `<Axes: ...>` reprs."
    page = (DOCS/'align.html').read_text()
    sec = page[page.index('id="s2dtw_pairwise"'):][:20000]
    assert re.search(r'(?s)<table>.*?<th>\s*<strong>Type</strong>.*?<td>video_lengths</td>\s*<td>Tensor \| None</td>', sec), 'no docments table'
    assert re.search(r'class="sd-source" href="https://github.com/[^"]+/blob/\w+/vtlearn/align.py#L\d+"', page[:page.index('id="s2dtw_pairwise"') + 2000])
    srcs = [''.join(c['source']) for c in nb_cells('01_align.ipynb') if c['cell_type'] == 'code']
    hidden = next(s for s in srcs if s.startswith('from fastcore.test import'))  # an import-only cell
    text = text_of(page)
    assert ' '.join(hidden.split()) not in text
    for p in DOCS.glob('*.html'): assert not re.search(r'&lt;(Axes|Figure)\b', p.read_text()), p.name

def test_performance_page(site):
    "The Performance page shows every measured table in bench/results/, and a marked place for the ones not measured yet."
    page = DOCS/'performance.html'
    assert page.exists()
    text = text_of(page.read_text())
    for kind in ('cpu', 'gpu'):
        files = sorted((ROOT/'bench'/'results').glob(f'{kind}_*.md'))
        for f in files:
            first = next(l for l in f.read_text().splitlines() if l.strip() and not l.startswith(('#', '|---', '```')))
            assert ' '.join(first.strip('| ').split()[:3]) in text, (f.name, first)
        if not files: assert f'{kind.upper()} tables: not measured yet' in text
    if (ROOT/'bench'/'results'/'ablation_small_15ep.json').exists(): assert 'Training time of the ablation runs' in text
