"""``gflab demo NAME --html FILE``: one self-contained page per demo, rendered by a real headless
browser (Debian's ``chromium``) with every host name unresolvable, so a page that needed the
network would not draw. The browser must be installed (``apt-get install -y chromium``): without
it these tests fail and say so, they are never skipped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gflab.cli import main
from gflab.figures import demos, style
from gflab.figures.demos import web
from gflab.theory import closed_forms as CF

# small grids for the JAX demos (each point is a full compute); depth (SciPy) gets its full grid
TEST_GRIDS = {
    "depth": None,
    "staircase": {"beta": (1e-6, 1e-2)},
    "plasticity": {"alpha": (1e-3, 1e-2)},
    "muon": {"init": ("lora", "gaussian")},
}
# the address selects the second grid point of each page
SELECT = {
    "depth": ("depth=4&alpha=0.0001", "2,2"),
    "staircase": ("beta=0.01", "1"),
    "plasticity": ("alpha=0.01", "1"),
    "muon": ("init=gaussian", "1"),
}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: a CDN script would fail to load
    "--virtual-time-budget=20000",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "headless Chromium is required for the demo web-page tests and was not found: "
        "install Debian's package with `apt-get install -y chromium`"
    )


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


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
    dom = browse(url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    assert 'data-ready="1"' in body, "Plotly never finished drawing"
    assert f'data-point="{key}"' in body  # the address selected the grid point
    point = table["points"][key]
    assert f'data-traces="{len(point["data"])}"' in body  # every precomputed curve is drawn
    assert point["caption"] in dom.stdout.replace("&amp;", "&")
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
    by_name = {p["name"]: p for p in table["params"]}
    for key, point in table["points"].items():
        i, j = (int(x) for x in key.split(","))
        L, alpha = by_name["depth"]["values"][i], by_name["alpha"]["values"][j]
        for L_shown in {2, L}:
            tr = next(t for t in point["data"] if t["name"] == f"L = {L_shown}" and t["showlegend"])
            lim = CF.mimic_limit(2, L_shown, alpha, 3.0).offdiagonal
            assert tr["y"][-1] == pytest.approx(lim, rel=2e-5, abs=1e-6)


def test_cli_html(capsys, tmp_path):
    assert main(["demo", "depth", "--set", "n=3", "--html", str(tmp_path / "d.html")]) == 0
    out = capsys.readouterr().out
    assert "30 precomputed parameter sets" in out
    assert main(["demo", "depth", "--html", str(tmp_path / "d.png")]) == 2
    assert "--html" in capsys.readouterr().err


def test_grid_is_checked():
    with pytest.raises(ValueError, match="grid"):
        web.grid_points(demos.get("depth"), {"nope": (1,)})
    with pytest.raises(ValueError, match="alpha"):
        web.grid_points(demos.get("depth"), {"alpha": (7.0,)})
    with pytest.raises(ValueError, match="at most"):
        web.grid_points(demos.get("depth"), {"alpha": tuple(np.geomspace(1e-6, 0.1, 300))})
