"""The documentation site as a reader meets it: built once here (`mkdocs build --strict`, as
`make docs` does, notebooks not executed), then opened from disk (``file://``, as the README says)
in headless Chromium with every host name unresolvable, driven over the DevTools protocol
(tests/cdp.py). Checked: the home page's quick start, search, the sims API page's table of config
fields, the notebooks' typeset math, and the embedded demos with their sliders.

The browser must be installed (``apt-get install -y chromium``, `make browser`): without it these
tests fail and say so, they are never skipped. Set GFLAB_DOCS_SCREENSHOTS=DIR to keep the
screenshots the tests take (home page, a notebook page, an embedded demo) for a look.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cdp
import numpy as np
import pytest
from cdp import Browser
from PIL import Image

from gflab.figures.demos import DEMO_NAMES
from gflab.figures.registry import registry
from gflab.sims.config import DMFConfig
from gflab.sims.models import MODELS as REGISTRY

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = {"depth": "01_depth", "staircase": "02_staircase", "plasticity": "03_plasticity"}
NOTEBOOKS["muon"] = "04_muon"


def chromium() -> str:
    return cdp.chromium("the documentation-site tests")


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The site, built once for this module: strict, notebooks rendered without executing them
    (tests/test_notebooks.py executes them; the executed build, `make docs`, took 79 s on the
    shared 2-core machine, this one 10-35 s)."""
    tmp = tmp_path_factory.mktemp("docs")
    env = {
        **os.environ,
        "GFLAB_DOCS_EXECUTE": "false",
        # its own notebook cache: sharing .cache/ would evict `make docs`'s executed notebooks
        "GFLAB_DOCS_CACHE": str(tmp / "nbcache"),
        "NO_MKDOCS_2_WARNING": "1",
        # this checkout's gflab.* (its folders as the installed package's subpackages)
        "PYTHONPATH": os.pathsep.join(
            [str(DOCS / "_build" / "namespace"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    site = tmp / "site"
    out = subprocess.run(
        [sys.executable, "-P", "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return site, out


@pytest.fixture(scope="module")
def site(build) -> Path:
    path, out = build
    assert out.returncode == 0, out.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium(), tmp_path_factory.mktemp("chromium-profile"), width=1280, height=900)
    yield b
    b.close()


def screenshot(browser: Browser, tmp_path: Path, name: str) -> np.ndarray:
    """A viewport screenshot as an RGB array (kept in $GFLAB_DOCS_SCREENSHOTS when set)."""
    keep = os.environ.get("GFLAB_DOCS_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = browser.screenshot(folder / f"{name}.png")
    return np.asarray(Image.open(path).convert("RGB"), dtype=int)


def ink(rgb: np.ndarray) -> float:
    """The fraction of pixels that are not (near) white."""
    return float(np.any(rgb < 235, axis=2).mean())


# ------------------------------------------------------------------------------------ the build


def test_site_builds_strict(build):
    site, out = build
    assert out.returncode == 0, out.stderr[-3000:]
    assert "WARNING" not in out.stderr
    api = (site / "api" / "theory.html").read_text()
    assert ":func:" not in api and ":mod:" not in api
    home = (site / "index.html").read_text()
    assert home.count('src="img/') == len(registry()) + len(DEMO_NAMES)


@pytest.mark.parametrize(
    "anchor",
    ["DMFConfig.depth", "DMFConfig.normalisation", "LoRAConfig.gamma", "methods.Muon.momentum"],
)
def test_api_class_pages_give_each_field_its_meaning(site, anchor):
    """On the sims API page each config field and method hyper-parameter has its meaning
    (docs/_build/griffe_fields.py, from gflab.sims.schema.HELP: the oracle) under its heading."""
    import html

    from gflab.sims.schema import HELP

    page = (site / "api" / "sims.html").read_text()
    start = page.index(f'id="gflab.sims.{anchor}"')
    end = page.find('class="doc doc-heading"', page.index("</h", start))  # the next heading
    text = html.unescape(re.sub(r"<[^>]+>", "", page[start:end]))
    assert HELP[anchor.rsplit(".", 1)[1]] in " ".join(text.split())


# what would make a page load something from the network: a script, style sheet, font, frame or
# image whose address has a scheme and a host (the w3.org namespaces of inline SVG are not loaded)
REMOTE = re.compile(r"<(?:script|link|iframe|img|source)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//")


@pytest.mark.parametrize(
    "page", ["index.html", "theory.html", "results.html", "notebooks/01_depth.html"]
)
def test_site_has_page(site, page):
    assert (site / page).is_file()


# the API page documents the public functions, with their docstrings' Args sections (the measures
# are documented where they live, theory.measures: theory.stable_rank etc. are compatibility
# aliases outside theory.__all__)
@pytest.mark.parametrize(
    "anchor", ["measures.stable_rank", "measures.effective_rank", "closed_forms.mimic_limit"]
)
def test_api_page_documents(site, anchor):
    assert f'id="gflab.theory.{anchor}"' in (site / "api" / "theory.html").read_text()


def remote_loads(html: str) -> list[str]:
    """The tags of ``html`` that load something from another host."""
    return [m.group(0) for m in REMOTE.finditer(html)]


def test_remote_load_detector_catches_a_cdn():
    """The false variants: what Material's offline plugin, Google Fonts and nbconvert's widget
    manager put into a page when nothing is configured (each is caught)."""
    assert remote_loads('<script src="https://unpkg.com/iframe-worker/shim"></script>')
    assert remote_loads('<link rel="stylesheet" href="https://fonts.googleapis.com/css?x">')
    assert remote_loads('<script src="//cdn.example/x.js">')
    assert not remote_loads('<script src="../js/mathjax/tex-svg.js"></script><svg xmlns="http://')


def test_no_page_loads_anything_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    found = {str(p.relative_to(site)): remote_loads(p.read_text()) for p in pages}
    assert {k: v for k, v in found.items() if v} == {}


def test_embedded_demos_are_the_demo_pages():
    assert sorted(p.stem for p in (DOCS / "demos").glob("*.html")) == sorted(DEMO_NAMES)


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_embedded_demo_page_shares_plotly_and_the_player(site, name):
    """Each demo's page (docs/demos/NAME.html, `make thumbnails`) is in the site and loads the one
    plotly.js and the one player script the build writes beside it: the installed plotly's and
    gflab's, the same that `gflab demo --html` inlines."""
    import plotly.offline

    page = (site / "demos" / f"{name}.html").read_text()
    assert page.count('<script src="plotly.min.js"></script>') == 1
    assert page.count('<script src="player.js"></script>') == 1
    assert page.count('<link rel="stylesheet" href="player.css">') == 1
    assert 'id="gflab-data"' in page
    assert plotly.offline.get_plotlyjs()[1000:3000] not in page  # the data only: no plotly.js
    assert "Plotly.react" not in page and "<style>" not in page  # nor the player and its style


def test_site_has_one_plotly_and_one_player(site):
    """The demo pages' shared files, as `gflab demo --html` inlines them."""
    import plotly.offline

    from gflab.figures.demos.web import PAGE_CSS, PLAYER_JS

    assert (site / "demos" / "plotly.min.js").read_text() == plotly.offline.get_plotlyjs()
    assert (site / "demos" / "player.js").read_text() == PLAYER_JS
    assert (site / "demos" / "player.css").read_text() == PAGE_CSS
    assert "Plotly.react" in PLAYER_JS


def _demo_pages_module():
    sys.path.insert(0, str(DOCS / "_build"))
    try:
        import demo_pages
    finally:
        sys.path.remove(str(DOCS / "_build"))
    return demo_pages


def test_share_plotly_refuses_a_foreign_page():
    dp = _demo_pages_module()
    js = "var Plotly = {};"
    assert (
        dp.share_plotly(f"<head><script>{js}</script></head>", js)
        == f"<head>{dp.PLOTLY_TAG}</head>"
    )
    with pytest.raises(ValueError, match="exactly once"):
        dp.share_plotly("<head><script>var Plotly = {v: 2};</script></head>", js)


def test_share_player_refuses_a_foreign_page():
    dp = _demo_pages_module()
    js, css = "(function () { draw(); })();\n", "body { margin: 0; }\n"
    page = f"<head><style>\n{css}</style></head><body><script>\n{js}</script></body>"
    shared = f"<head>{dp.CSS_TAG}</head><body>{dp.PLAYER_TAG}</body>"
    assert dp.share_player(page, js, css) == shared
    with pytest.raises(ValueError, match="exactly once"):
        dp.share_player(page.replace("draw", "plot"), js, css)
    with pytest.raises(ValueError, match="exactly once"):
        dp.share_player(page.replace("margin", "padding"), js, css)


# ----------------------------------------------------------------------------- in the browser


def test_home_page_shows_the_quick_start(site, browser, tmp_path):
    """The home page has a "Quick start" heading followed by the quick start of docs/index.md
    (the code tests/test_docs.py runs), drawn as highlighted code, not as raw Markdown."""
    source = (DOCS / "index.md").read_text()
    block = re.search(r"## Quick start.*?```python\n(.*?)```", source, flags=re.S).group(1)
    browser.open((site / "index.html").as_uri())
    blocks = browser.js(
        """(() => {
        const h = document.getElementById("quick-start");
        const out = [];
        for (let el = h && h.nextElementSibling; el && el.tagName !== "H2"; el = el.nextElementSibling)
          el.querySelectorAll(".highlight code").forEach(c => out.push(c.innerText));
        return h ? out : null;
      })()"""
    )
    assert blocks is not None, "no Quick start heading"
    assert block.split() in [b.split() for b in blocks], blocks
    rgb = screenshot(browser, tmp_path, "home")
    assert 0.03 < ink(rgb) < 0.6


@pytest.mark.parametrize(
    ("query", "page"),
    [("plasticity", "notebooks/03_plasticity.html"), ("normalisation", "theory.html")],
)
def test_search_works_from_disk(site, browser, query, page):
    """Typing into the search box lists matching pages, with the site opened from file:// and no
    network: the index is inlined (Material's offline plugin) and the search worker runs through
    the vendored iframe-worker shim."""
    browser.open((site / "index.html").as_uri())
    browser.js("document.querySelector('input[data-md-component=search-query]').focus()")
    browser.type_text(query)
    n = browser.wait_for("document.querySelectorAll('.md-search-result__item').length", 20)
    assert n >= 1
    links = browser.js(
        "Array.from(document.querySelectorAll('.md-search-result__item a')).map(a => a.href)"
    )
    assert any(href.split("#")[0].endswith(page) for href in links), links
    meta = browser.js("document.querySelector('.md-search-result__meta').textContent")
    assert re.fullmatch(r"\d+ matching documents?", meta.strip()), meta


def _kind_of(field: dataclasses.Field) -> str:
    """The kind a reader needs, from the field's annotation alone (independent of sims.schema)."""
    a = str(field.type)
    if a == "Any":  # a spelling or an object (DMFConfig.method): the kind of its default
        return type(field.default).__name__
    for kind in ("bool", "int", "float", "str"):
        if a.startswith(kind):
            return kind
    return "floats" if a.startswith("tuple") else a


def test_sims_api_page_tabulates_every_dmf_config_field(site, browser):
    """Every field of DMFConfig (dataclasses.fields: the oracle) is a row of the rendered table
    on the sims API page, with its kind, its default (repr, or "required") and its meaning
    (gflab.sims.schema.HELP, what `gflab simulate dmf --help` prints)."""
    from gflab.sims.schema import HELP

    browser.open((site / "api" / "sims.html").as_uri())
    rows = browser.js(
        """(() => {
        const h = Array.from(document.querySelectorAll("h3"))
          .find(e => e.textContent.trim().startsWith("DMFConfig"));
        if (!h) return null;
        let el = h.nextElementSibling;
        while (el && !el.querySelector("table") && el.tagName !== "TABLE") el = el.nextElementSibling;
        const table = el.tagName === "TABLE" ? el : el.querySelector("table");
        const head = Array.from(table.querySelectorAll("thead th")).map(th => th.innerText.trim());
        return Array.from(table.querySelectorAll("tbody tr")).map(tr => {
          const cells = Array.from(tr.children).map(td => td.innerText.trim());
          return Object.fromEntries(head.map((k, i) => [k, cells[i]]));
        });
      })()"""
    )
    assert rows, "no table after a DMFConfig heading"
    table = {r["field"]: r for r in rows}
    missing, wrong = [], []
    for f in dataclasses.fields(DMFConfig):
        row = table.get(f.name)
        if row is None:
            missing.append(f.name)
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = "required" if required else repr(f.default)
        if (row["kind"], row["default"]) != (_kind_of(f), default):
            wrong.append((f.name, row["kind"], row["default"], _kind_of(f), default))
        # the meaning as the CLI's --help gives it, rendered as text (no Markdown read into it)
        if " ".join(row["meaning"].split()) != " ".join(HELP[f.name].split()):
            wrong.append((f.name, row["meaning"], HELP[f.name]))
    assert missing == [] and wrong == []
    assert len(dataclasses.fields(DMFConfig)) >= 15


def math_segments(markdown: str) -> int:
    """The number of $...$ and $$...$$ formulas in Markdown (code spans and \\$ not counted)."""
    text = re.sub(r"`[^`]*`", "", markdown).replace(r"\$", "")
    display = len(re.findall(r"\$\$.+?\$\$", text, flags=re.S))
    text = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
    inline = text.count("$")
    assert inline % 2 == 0, "an unbalanced $"
    return display + inline // 2


def test_math_segments_counts_formulas():
    assert math_segments(r"a $x$ and `$HOME` and $$\int f$$ and \$5 and $y_1$") == 3
    with pytest.raises(AssertionError, match="unbalanced"):
        math_segments("a $x$ and $y")


@pytest.mark.parametrize("demo", DEMO_NAMES)
def test_notebook_page_math_and_embedded_demo(site, browser, tmp_path, demo):
    """A notebook page: every formula of its Markdown cells is typeset by MathJax (one
    mjx-container per $...$ of the source), no `$` is left in the text; its demo is embedded,
    loads (plotly drew), has the sliders of its precomputed table, and a slider moves the plot."""
    import jupytext

    stem = NOTEBOOKS[demo]
    nb = jupytext.read(ROOT / "notebooks" / f"{stem}.py")
    expected = sum(math_segments(c.source) for c in nb.cells if c.cell_type == "markdown")
    assert expected >= 3  # the notebook does write its math as LaTeX
    browser.open((site / "notebooks" / f"{stem}.html").as_uri())
    count = "document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length"
    browser.wait_for(f"{count} >= {expected}", timeout=30)
    assert browser.js(count) == expected
    text = browser.js(
        """Array.from(document.querySelectorAll('.jp-RenderedMarkdown')).map(e => {
          const c = e.cloneNode(true);
          c.querySelectorAll('code, pre, mjx-container').forEach(x => x.remove());
          return c.innerText; }).join('\\n')"""
    )
    assert "$" not in text and "\\frac" not in text
    if demo == "depth":
        rgb = screenshot(browser, tmp_path, "notebook_math")
        assert 0.03 < ink(rgb) < 0.6

    # the embedded demo
    src = browser.js("Array.from(document.querySelectorAll('iframe.gflab-demo')).map(f => f.src)")
    assert [s.split("/")[-1] for s in src] == [f"{demo}.html"]
    browser.js("document.querySelector('iframe.gflab-demo').scrollIntoView({block: 'end'})")
    frame = browser.frame_context(f"demos/{demo}.html")
    check_demo_frame(browser, frame, demo)
    if demo == "depth":
        rgb = screenshot(browser, tmp_path, "notebook_demo")
        assert 0.03 < ink(rgb) < 0.6


def demo_table(demo: str) -> dict:
    """The precomputed table of the committed page docs/demos/NAME.html."""
    text = (DOCS / "demos" / f"{demo}.html").read_text()
    blob = re.search(r'<script id="gflab-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(blob.group(1).replace("<\\/", "</"))


def check_demo_frame(browser: Browser, frame: int, demo: str) -> None:
    """In the demo's frame: plotly drew the start point, every slider of the table is there, and
    moving the last slider to its other end draws that grid point (its caption shown)."""
    table = demo_table(demo)
    browser.wait_for("document.body.dataset.ready === '1'", timeout=30, context=frame)
    start = ",".join(str(p["start"]) for p in table["params"])
    assert browser.js("document.body.dataset.point", frame) == start
    sliders = browser.js(
        "Array.from(document.querySelectorAll('input[type=range]')).map(e => e.id)", frame
    )
    # one slider per parameter of the table, in its order (and the time slider, where there is one)
    assert [s for s in sliders if s != "slider-time"] == [
        f"slider-{p['name']}" for p in table["params"]
    ]
    last = table["params"][-1]
    to = 0 if last["start"] else len(last["values"]) - 1
    browser.js(
        f"""(() => {{ const s = document.getElementById('slider-{last["name"]}');
        s.value = {to}; s.dispatchEvent(new Event('input')); }})()""",
        frame,
    )
    key = ",".join([str(p["start"]) for p in table["params"][:-1]] + [str(to)])
    browser.wait_for(f"document.body.dataset.point === '{key}'", timeout=10, context=frame)
    caption = browser.js("document.getElementById('caption').textContent", frame)
    assert caption == table["points"][key]["caption"]
    assert browser.js("document.querySelectorAll('.main-svg').length", frame) >= 2


def test_gallery_embeds_every_demo(site, browser, tmp_path):
    """The home page's demo section: one tab per demo, each with its page; the first loads."""
    browser.open((site / "index.html").as_uri())
    src = browser.js("Array.from(document.querySelectorAll('iframe.gflab-demo')).map(f => f.src)")
    assert [s.split("/")[-1] for s in src] == [f"{d}.html" for d in DEMO_NAMES]
    browser.js("document.querySelector('iframe.gflab-demo').scrollIntoView({block: 'end'})")
    frame = browser.frame_context(f"demos/{DEMO_NAMES[0]}.html")
    check_demo_frame(browser, frame, DEMO_NAMES[0])
    rgb = screenshot(browser, tmp_path, "gallery_demo")
    assert 0.03 < ink(rgb) < 0.6


# ------------------------------------------------------------------- the executed build's kernels

KERNEL_RUN = """
import sys
sys.path.insert(0, {build!r})
import hooks
if {configured}:
    hooks.on_config(None)  # what mkdocs does with the site's hooks before rendering notebooks
from mkdocs_jupyter import nbconvert2
html = nbconvert2.nb2html({notebook!r}, execute=True, kernel_name="python3")
print("executed" if "6 * 7 = 42" in html else "no output")
"""


@pytest.mark.parametrize("configured", [True, False])
def test_docs_kernels_are_encrypted(tmp_path, configured):
    """`make docs` executes the notebooks as mkdocs-jupyter does (nbconvert2.nb2html): with the
    site's hook, jupyter_client provisions CurveZMQ keys (docs/_build/jupyter) and ipykernel says
    nothing; without it (the false variant) ipykernel warns that it runs over TCP without
    encryption, the four warnings `make docs` printed."""
    notebook = tmp_path / "tiny.py"
    notebook.write_text("# %%\nprint('6 * 7 =', 6 * 7)\n")
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    code = KERNEL_RUN.format(
        build=str(DOCS / "_build"), configured=configured, notebook=str(notebook)
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "executed", out.stderr[-2000:]
    warned = "without encryption" in out.stderr
    assert warned is not configured, out.stderr[-2000:]


# ------------------------------------------------------------------------------ API reference


def documented_args(cls) -> dict[str, tuple[str, str]]:
    """``name → (type, description)`` of the Args section of ``cls``'s Google-style docstring."""
    import inspect

    import griffe

    doc = griffe.Docstring(inspect.getdoc(cls), lineno=1)
    sections = doc.parse("google", warnings=False)
    params = next((s for s in sections if s.kind.value == "parameters"), None)
    if params is None:
        return {}
    return {p.name: (str(p.annotation or ""), p.description) for p in params.value}


def arg_gaps(cls) -> list[str]:
    """What ``cls``'s Args section lacks for a reader: every dataclass field documented, with the
    field's type, and its default stated ("Default ``x``." with x == the field's default) or
    "Required." for a field without one."""
    import ast

    args = documented_args(cls)
    gaps = []
    for f in dataclasses.fields(cls):
        if f.name not in args:
            gaps.append(f"{f.name}: not in Args")
            continue
        kind, text = args[f.name]
        if kind != (f.type if isinstance(f.type, str) else f.type.__name__):
            gaps.append(f"{f.name}: type {kind!r}, field {f.type!r}")
        said = re.search(r"Default ``(.+?)``", text)
        if f.default is dataclasses.MISSING:
            if "Required." not in text:
                gaps.append(f"{f.name}: not said to be required")
        elif said is None or ast.literal_eval(said.group(1).replace("_", "")) != f.default:
            gaps.append(f"{f.name}: default {f.default!r} not stated")
    return gaps


def _method_classes():
    from gflab.sims import methods as M

    return list(M.METHODS.values())


@pytest.mark.parametrize("cls", _method_classes(), ids=lambda c: c.__name__)
def test_every_method_argument_has_type_default_and_meaning(cls):
    assert arg_gaps(cls) == []


def test_arg_gaps_catch_an_undocumented_or_wrong_default():
    """False variants: a field missing from Args, a wrong default, an unstated requirement."""

    @dataclasses.dataclass
    class Bad:
        """A bad docstring.

        Args:
          lr (float): the step.
          momentum (float): μ. Default ``0.9``.
        """

        lr: float
        momentum: float = 0.95
        steps: int = 5

    assert arg_gaps(Bad) == [
        "lr: not said to be required",
        "momentum: default 0.95 not stated",
        "steps: not in Args",
    ]


@pytest.mark.parametrize("model", list(REGISTRY))
def test_every_config_field_has_a_meaning(model):
    """The API page's tables and the class pages' field docstrings (docs/_build/griffe_fields.py)
    come from gflab.sims.schema: every field and hyper-parameter of every model has a meaning."""
    from gflab.sims.schema import MODELS, params

    assert model in MODELS
    assert [p.name for p in params(model) if len(p.help) < 4] == []
