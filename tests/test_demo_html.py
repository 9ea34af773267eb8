"""``gflab demo NAME --html FILE``: one self-contained page per demo, rendered by a real headless
browser (Debian's ``chromium``) with every host name unresolvable, so a page that needed the
network would not draw. The browser must be installed (``apt-get install -y chromium``): without
it these tests fail and say so, they are never skipped."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import cdp
import numpy as np
import pytest
from PIL import Image

from gflab.cli import main
from gflab.figures import demos, style
from gflab.figures.demos import web
from gflab.theory import closed_forms as CF

# small grids (each point is a full compute; depth's full grid is 1925 points, about a minute)
TEST_GRIDS = {
    "depth": {"n": (2, 4), "m": (3.0, 50.0), "depth": (2, 4), "alpha": (1e-4, 1e-2)},
    "staircase": {"beta": (1e-6, 1e-2)},
    "plasticity": {"alpha": (1e-3, 1e-2)},
    "muon": {"init": ("lora", "gaussian")},
}
# the address selects the second grid point of each page
SELECT = {
    "depth": ("n=4&m=50&depth=4&alpha=0.01", "1,1,1,1"),
    "staircase": ("beta=0.01", "1"),
    "plasticity": ("alpha=0.01", "1"),
    "muon": ("init=gaussian", "1"),
}
# cdp.FLAGS: headless, no sync or updates, every host name unresolvable (a CDN script would fail)
FLAGS = [*cdp.FLAGS, "--virtual-time-budget=20000"]


def chromium() -> str:
    return cdp.chromium("the demo web-page tests")


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def resolve(table: dict, point: dict) -> list[dict]:
    """A point's traces with their shared parts expanded (``traces`` indices, ``ref`` arrays,
    ``lin``/``geom`` grids), as the page's script expands them."""

    def arr(a):
        if not isinstance(a, dict):
            return a
        if "ref" in a:
            return table["arrays"][a["ref"]]
        x0, x1, n = a.get("lin") or a.get("geom")
        f = np.arange(n) / (n - 1)
        v = x0 + f * (x1 - x0) if "lin" in a else x0 * (x1 / x0) ** f
        v[-1] = x1
        return v.tolist()

    return [
        {**t, "x": arr(t["x"]), "y": arr(t["y"])}
        for t in (table["traces"][i] for i in point["data"])
    ]


def reveal_ends(table: dict, point: dict, u: float) -> list[float]:
    """Where each revealed curve should end at time fraction ``u``: the time at fraction u of its
    axis's span (geometric on a log axis), clipped to the curve's own first and last times."""
    traces = resolve(table, point)
    spans: dict[str, list] = {}
    for t in traces:
        if t["reveal"]:
            ax = "2" if t.get("xaxis") == "x2" else ""
            log = table["layout"]["xaxis" + ax].get("type") == "log"
            x = [v for v in t["x"] if v is not None and (not log or v > 0)]
            lo, hi = spans.get(ax, (np.inf, -np.inf, log))[:2]
            spans[ax] = (min(lo, min(x)), max(hi, max(x)), log)
    ends = []
    for t in traces:
        if t["reveal"]:
            lo, hi, log = spans["2" if t.get("xaxis") == "x2" else ""]
            clock = lo * (hi / lo) ** u if log else lo + u * (hi - lo)
            ends.append(float(np.clip(clock, t["x"][0], t["x"][-1])))
    return ends


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Each demo's page (small grids for the JAX demos) and its precomputed table."""
    out = tmp_path_factory.mktemp("html")
    made = {}
    for name in demos.DEMO_NAMES:
        demo = demos.get(name)
        grid = TEST_GRIDS[name]
        path = out / f"{name}.html"
        rep = web.write_html(demo, path, grid=grid)
        text = path.read_text()
        blob = re.search(
            r'<script id="gflab-data" type="application/json">(.*?)</script>', text, re.S
        )
        made[name] = (path, rep, json.loads(blob.group(1).replace("<\\/", "</")))
    return made


@pytest.mark.parametrize("name", demos.DEMO_NAMES)
def test_page_is_self_contained(pages, name):
    path, rep, table = pages[name]
    text = path.read_text()
    assert rep["bytes"] == path.stat().st_size and rep["grid_points"] == len(table["points"])
    # plotly.js inlined; nothing loaded from elsewhere
    assert "Plotly.react" in text and len(text) > 3_000_000
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)


@pytest.mark.parametrize("name", demos.DEMO_NAMES)
def test_page_renders_in_headless_chromium(pages, name, tmp_path):
    path, _rep, table = pages[name]
    query, key = SELECT[name]
    url = f"{path.as_uri()}#{query}"
    # the DOM at half the run (u = 0.5): the time slider has cut every time curve there
    dom = browse(f"{url}&u=0.5", tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    assert 'data-ready="1"' in body, "Plotly never finished drawing"
    assert f'data-point="{key}"' in body  # the address selected the grid point
    point = table["points"][key]
    assert f'data-traces="{len(point["data"])}"' in body  # every precomputed curve is drawn
    assert point["caption"] in dom.stdout.replace("&amp;", "&")
    # oracle of the reveal: each time curve ends at the time at half its axis's span (computed
    # here from the page's table); 1e-9: the page computes in doubles what NumPy does
    ends = json.loads(re.search(r'data-ends="([^"]*)"', body).group(1).replace("&quot;", '"'))
    np.testing.assert_allclose(ends, reveal_ends(table, point, 0.5), rtol=1e-9)
    assert len(ends) >= 2 and 'id="slider-time"' in dom.stdout and 'id="play"' in dom.stdout
    assert dom.stdout.count('class="main-svg"') >= 2
    for p in table["params"]:
        assert f'id="slider-{p["name"]}"' in dom.stdout

    shot = tmp_path / f"{name}.png"
    res = browse(url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1600,1000")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    ink = np.any(rgb < 235, axis=2).mean()
    assert 0.02 < ink < 0.6, ink  # drawn, and not a blank or black page
    # the first two palette colours (the main curves) are on screen
    for hexcolor in style.PALETTE[:2]:
        c = np.array([int(hexcolor[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - c).sum(axis=2) < 40).sum() > 200, hexcolor


def test_depth_page_data_is_the_closed_form(pages):
    """Oracle: each point's depth-L curve ends at the closed-form limit (5 significant digits)."""
    _path, _rep, table = pages["depth"]
    names = [p["name"] for p in table["params"]]
    got, want = [], []
    for key, point in table["points"].items():
        v = {
            k: table["params"][a]["values"][int(i)]
            for a, (k, i) in enumerate(zip(names, key.split(","), strict=True))
        }
        traces = resolve(table, point)
        for L_shown in sorted({2, v["depth"]}):
            tr = next(t for t in traces if t["name"] == f"L = {L_shown}" and t["showlegend"])
            got.append(tr["y"][-1])
            want.append(CF.mimic_limit(v["n"], L_shown, v["alpha"], v["m"]).offdiagonal)
    # 5 significant digits kept in the page
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "axis"), [("depth", "yaxis2"), ("plasticity", "yaxis")])
def test_stable_rank_axis_spans_rank_one_to_full(pages, name, axis):
    """The stable-rank panel shows the whole range 1 … n at every point (the effect's true size),
    and every stable-rank curve lies in it (1 ≤ sr ≤ n, its definition)."""
    from gflab.figures.demos.plasticity import N

    _path, _rep, table = pages[name]
    # depth slides n (its first slider); the plasticity page is the N × N problem
    n_param = [p["values"] for p in table["params"] if p["name"] == "n"]
    n_values = n_param[0] if n_param else [N]
    on_axis = "y2" if axis == "yaxis2" else "y"
    lo, hi, curves = [], [], []
    for point_key, point in table["points"].items():
        n = n_values[int(point_key.split(",")[0])] if n_param else N
        r = point["axes"][axis]["range"]
        lo.append(r[0] - 1.0)
        hi.append(r[1] - n)
        ranks = [t["y"] for t in resolve(table, point) if t.get("yaxis", "y") == on_axis]
        curves += [(min(y) - r[0], r[1] - max(y)) for y in ranks if len(y) > 2]
    assert max(lo) <= 0 and min(hi) >= 0 and max(hi) < 0.1 * max(n_values)
    assert curves and min(min(c) for c in curves) >= 0  # no curve leaves the axis


def test_panel_titles_fit_the_docs_frame():
    """Each line of a panel title is narrower than its panel in the docs' 658 px wide frame.

    Oracle: the line's width in DejaVu Sans (the page's first font) at the title's size, from
    matplotlib's font metrics; the panel's width is the frame less the body's 2 em margins
    (16 px text), the plot's left and right margins, times the panel's share of the plot."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure = TextToPath()
    widths = []
    for name in demos.DEMO_NAMES:
        layout = web._layout(name)
        plot = 658 - 2 * 2 * 16 - layout["margin"]["l"] - layout["margin"]["r"]
        for note, x in zip(layout["annotations"], ("xaxis", "xaxis2"), strict=True):
            lo, hi = layout[x]["domain"]
            prop = FontProperties(family="DejaVu Sans", size=note["font"]["size"])
            for line in note["text"].split("<br>"):
                w = measure.get_text_width_height_descent(line, prop, ismath=False)[0]
                widths.append((w / ((hi - lo) * plot), name, line))
    assert max(widths)[0] < 1.0, max(widths)


def test_cli_html(capsys, tmp_path):
    # a value given for a slider's parameter pins it: only the depth slider is left (5 values)
    argv = ["--set", "n=3", "--set", "m=3", "--set", "alpha=1e-3"]
    assert main(["demo", "depth", *argv, "--html", str(tmp_path / "d.html")]) == 0
    out = capsys.readouterr().out
    assert "5 precomputed parameter sets" in out
    assert main(["demo", "depth", "--html", str(tmp_path / "d.png")]) == 2
    assert "--html" in capsys.readouterr().err


def test_grid_is_checked():
    with pytest.raises(ValueError, match="grid"):
        web.grid_points(demos.get("depth"), {"nope": (1,)})
    with pytest.raises(ValueError, match="alpha"):
        web.grid_points(demos.get("depth"), {"alpha": (7.0,)})
    with pytest.raises(ValueError, match="at most"):
        web.grid_points(demos.get("depth"), {"alpha": tuple(np.geomspace(1e-6, 0.1, 2001))})
