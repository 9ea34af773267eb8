"""Figures at paper size: what can be checked mechanically (issue 14 item 1, issue 12 item 3).

Each figure is rendered once (``--fast`` sizes, a temporary store) and shared by the asserts:

- the PDF embeds TrueType (Type 42) fonts and no Type 3 font;
- at the printed width (3.25 or 6.75 in) every drawn text is at least 8 pt;
- no legend box covers a plotted data point;
- the provenance text is in the PNG/PDF metadata and the sidecar, and not drawn (paper style);
  ``draft`` draws it.

The default suite renders two cheap figures (a column and a text-width one); the whole set is
``slow`` (cold it is minutes of simulation on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import zlib

import matplotlib
import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from gflab.figures import style
from gflab.figures.registry import FigureContext, registry, save_figure
from gflab.sims.store import ResultStore

matplotlib.use("Agg")

FAST_SUBSET = ("dmc_offdiag_2x2", "sgf_l2")
ALL = tuple(registry())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # $GFLAB_FIGURE_TEST_STORE: reuse a warm store (the checks are on the drawing, not the runs)
    root = os.environ.get("GFLAB_FIGURE_TEST_STORE")
    return ResultStore(root or tmp_path_factory.mktemp("figstore"))


@pytest.fixture(scope="module")
def rendered(store, tmp_path_factory):
    """name, style -> (figure, meta, png, pdf, sidecar), rendered on first use, kept for the module."""
    import matplotlib.pyplot as plt

    cache: dict = {}
    out = tmp_path_factory.mktemp("figout")

    def get(name: str, style_name: str = "paper"):
        key = (name, style_name)
        if key not in cache:
            style.use(style_name)
            spec = registry()[name]
            ctx = FigureContext(fast=True, store=store, style=style_name)
            fig, meta = spec.func(ctx)
            d = out / style_name
            d.mkdir(exist_ok=True)
            png, pdf, side = save_figure(fig, spec, d, meta)
            fig.canvas.draw()
            cache[key] = (fig, meta, png, pdf, side)
        return cache[key]

    yield get
    style.use("default")
    for fig, *_ in cache.values():
        plt.close(fig)


def _texts(fig) -> list[Text]:
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None
    ]


def _pdf_bytes(pdf) -> bytes:
    """The PDF with its Flate streams inflated (font dictionaries may sit in object streams)."""
    raw = pdf.read_bytes()
    parts = [raw]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", raw, re.S):
        try:
            parts.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    return b"\n".join(parts)


def check_fonts(pdf) -> None:
    data = _pdf_bytes(pdf)
    assert b"/FontFile2" in data or b"/Subtype /TrueType" in data, "no TrueType font embedded"
    assert b"/Type3" not in data and b"/Subtype /Type3" not in data, "a Type 3 font in the PDF"


def check_text_size(fig) -> None:
    w = fig.get_size_inches()[0]
    assert min(abs(w - style.COLUMN_IN), abs(w - style.TEXT_IN)) < 1e-9, w
    small = [(t.get_text()[:40], t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 8]
    assert not small, f"text below 8 pt at {w} in: {small}"


def check_legends(fig) -> None:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends, "no legend to check"
    renderer = fig.canvas.get_renderer()
    for leg in legends:
        box = leg.get_window_extent(renderer)
        handles = set(map(id, leg.legend_handles))
        for ax in fig.axes:
            abox = ax.get_window_extent(renderer)
            for line in ax.get_lines():
                if id(line) in handles or not line.get_visible():
                    continue
                xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
                xy = xy[np.all(np.isfinite(xy), axis=1)]
                if not xy.size:
                    continue
                pts = line.get_transform().transform(xy)  # data (or blended, axhline) → pixels
                inside_axes = (
                    (pts[:, 0] >= abox.x0)
                    & (pts[:, 0] <= abox.x1)
                    & (pts[:, 1] >= abox.y0)
                    & (pts[:, 1] <= abox.y1)
                )
                pts = pts[inside_axes]
                hit = (
                    (pts[:, 0] > box.x0)
                    & (pts[:, 0] < box.x1)
                    & (pts[:, 1] > box.y0)
                    & (pts[:, 1] < box.y1)
                )
                assert not hit.any(), f"legend covers {hit.sum()} points of {line.get_label()!r}"


def check_provenance(fig, png, side, drawn: bool) -> None:
    prov = style.provenance(fig)
    assert prov, "the figure records no provenance"
    with Image.open(png) as im:
        assert im.text.get("Description") == prov
    assert json.loads(side.read_text())["provenance"] == prov
    # the drawn footer is the first recorded line (one per style.footer call)
    first = fig.gflab_provenance[0]
    on_image = any(first in t.get_text() for t in _texts(fig))
    assert on_image == drawn


def _check_all(get, name: str) -> None:
    fig, meta, png, pdf, side = get(name, "paper")
    check_fonts(pdf)
    check_text_size(fig)
    check_legends(fig)
    check_provenance(fig, png, side, drawn=False)


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_paper_figure(rendered, name):
    _check_all(rendered, name)


def test_draft_draws_the_footer_and_default_is_larger(rendered):
    fig, _, png, _, side = rendered("dmc_offdiag_2x2", "draft")
    check_provenance(fig, png, side, drawn=True)
    # default/draft are the paper layout 1.6x larger, with 10 pt body text
    paper = rendered("dmc_offdiag_2x2", "paper")[0]
    np.testing.assert_allclose(fig.get_size_inches(), 1.6 * paper.get_size_inches(), rtol=1e-12)
    assert fig.axes[0].xaxis.label.get_fontsize() == 10.0


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL if n not in FAST_SUBSET])
def test_paper_figure_whole_set(rendered, name):
    _check_all(rendered, name)


def test_legend_check_catches_a_legend_over_data(tmp_path):
    """The legend check fails on a legend drawn over the curve (it can fail)."""
    import matplotlib.pyplot as plt

    style.use("paper")
    style.apply()
    fig, ax = style.subplots(width="column")
    x = np.linspace(0, 1, 200)
    ax.plot(x, 0.5 + 0 * x, label="flat")
    ax.legend(loc="center")
    fig.canvas.draw()
    with pytest.raises(AssertionError, match="legend covers"):
        check_legends(fig)
    plt.close(fig)
    style.use("default")


def test_record_goes_through_the_store(store):
    """ctx.record computes once and reads back; prefetch_records fills the store on a pool."""
    ctx = FigureContext(fast=True, store=store)
    params = [{"a": 1.0, "b": float(k)} for k in range(2)]
    ctx.prefetch_records("test-record", params, "builtins:dict", executor="local:2")
    from gflab.figures.registry import _record_key

    assert [store.status(_record_key("test-record", p, "builtins:dict")) for p in params] == [
        "ok",
        "ok",
    ]
    hits = store.hits
    got = ctx.record("test-record", params[1], "builtins:dict")
    assert store.hits == hits + 1
    assert {k: float(v) for k, v in got.items()} == params[1]


def test_size_check_catches_small_text():
    """The text-size check fails on a 7 pt label at the printed width (it can fail)."""
    import matplotlib.pyplot as plt

    style.use("paper")
    style.apply()
    fig, ax = style.subplots(width="column")
    ax.plot([0, 1], [0, 1])
    check_text_size(fig)  # the paper style itself passes
    ax.set_xlabel("too small", fontsize=7)
    with pytest.raises(AssertionError, match="below 8 pt"):
        check_text_size(fig)
    plt.close(fig)
    style.use("default")


def test_dash_synthetic_record_equals_a_direct_run(store):
    """The figure's stored record is the simulation's output, array for array (the oracle: a
    direct sims.dash_synthetic run), and a second context reads it back instead of recomputing."""
    from gflab.figures.dash import _record_args
    from gflab.sims.dash_synthetic import FeatureLearningConfig, simulate_feature_learning

    cfg = FeatureLearningConfig(J=4, seeds=(0,), N=100, n_test=200)
    args = _record_args(cfg, "gflab.figures.dash:feature_learning_arrays")
    got = FigureContext(fast=True, store=store).record(*args)
    direct = simulate_feature_learning(cfg)
    # every array equal, and no other (assert_equal compares dicts key by key, arrays exactly)
    np.testing.assert_equal(
        dict(got), {f"{m}/{k}": v for m, d in direct.items() for k, v in d.items()}
    )
    hits = store.hits
    FigureContext(fast=True, store=store).record(*args)
    assert store.hits == hits + 1


def test_a_current_figure_is_kept_and_any_change_redraws_it(tmp_path):
    """With a store, a figure whose files carry the current render key (code, versions, fast,
    style) is kept, byte for byte; another style, --force, or an edited sidecar key redraws it."""
    from gflab.figures.registry import render, render_key
    from gflab.sims.store import ResultStore

    out, st = tmp_path / "out", ResultStore(tmp_path / "st")

    def once(**kw):
        (s,) = render(["amuse_river"], out, fast=True, store=st, **kw)
        return s["current"]

    assert once() is False
    png = (out / "amuse_river.png").read_bytes()
    assert once() is True and (out / "amuse_river.png").read_bytes() == png
    assert once(force=True) is False
    assert once(style="draft") is False  # the files now hold the draft style's key
    side = out / "amuse_river.json"
    doc = json.loads(side.read_text())
    assert doc["render_key"] == render_key("amuse_river", True, "draft")
    assert render_key("amuse_river", True, "draft") != render_key("amuse_river", False, "draft")
    side.write_text(json.dumps({**doc, "render_key": "stale"}))
    assert once(style="draft") is False
    (s,) = render(["amuse_river"], out, fast=True, store=None, style="draft")
    assert s["current"] is False  # without a store everything is computed and drawn
