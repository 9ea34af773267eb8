"""Zero-install web pages of the lecture demos: ``gflab demo NAME --html FILE``.

One self-contained HTML file: plotly.js inlined (no CDN, no network), a JSON table of the demo's
curves precomputed on a grid of parameter values by the demo's own ``compute`` (the numbers the
window and the GIF show), and a few lines of JavaScript that turn range sliders into a lookup in
that table. It opens from a USB stick on any machine in the lecture hall.

A page's state can be set in the address: ``FILE.html#depth=4&alpha=0.01`` selects the nearest
grid point (the headless-browser tests use it).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gflab.figures import style
from gflab.figures.demos._base import Demo
from gflab.theory import closed_forms as CF
from gflab.theory._validate import GflabInputError

__all__ = ["GRIDS", "grid_points", "panels", "page_data", "write_html", "MAX_GRID_POINTS"]

MAX_GRID_POINTS = 200  # each point is one full compute: keep a page's build to minutes
SIG = 5  # significant digits kept in the page (curves are drawn, not read off)

# The parameters each page slides over (the others stay at their --set / default values)
GRIDS: dict[str, dict[str, tuple]] = {
    "depth": {"depth": (2, 3, 4, 5, 6), "alpha": (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)},
    "staircase": {"beta": (1e-8, 1e-6, 1e-4, 1e-2, 1e-1), "s_max": (4.0, 16.0, 64.0)},
    "plasticity": {"depth": (2, 3, 4), "alpha": (1e-4, 1e-3, 1e-2)},
    "muon": {"init": ("lora", "gaussian"), "lr": (0.006, 0.01, 0.02, 0.04)},
}

Progress = Callable[..., Iterable]


def _round(x) -> list:
    a = np.asarray(x, dtype=float)
    out = []
    for v in a.ravel().tolist():
        out.append(None if not math.isfinite(v) else float(f"{v:.{SIG}g}"))
    return out


def _line(x, y, name, color, dash="solid", width=2.2, legend=True, group=None, mode="lines"):
    t = {
        "type": "scatter",
        "mode": mode,
        "x": _round(x),
        "y": _round(y),
        "name": name,
        "line": {"color": color, "dash": dash, "width": width},
        "showlegend": legend,
    }
    if mode != "lines":
        t["marker"] = {"color": color, "size": 9}
    if group:
        t["legendgroup"] = group
    return t


def _hline(x0, x1, y, color, name, legend=False):
    return _line([x0, x1], [y, y], name, color, dash="dot", width=1.4, legend=legend)


def _depth_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    t = data["times"]
    left, right = [], []
    for run, c in zip(data["runs"], (p[0], p[1]), strict=False):
        left.append(_line(t, run.offdiagonal, f"L = {run.depth}", c, group=str(run.depth)))
        what = "ρ(m)" if run.depth == 2 else "closed-form limit"
        left.append(_hline(t[0], t[-1], run.limit.offdiagonal, c, f"L = {run.depth}: {what}"))
        right.append(_line(t, run.stable_rank, f"L = {run.depth}", c, legend=False))
    v = data["values"]
    lims = ", ".join(
        f"L = {r.depth}: W₁₂(∞) = {r.limit.offdiagonal:.4f}, stable rank {r.limit.stable_rank:.3f}"
        for r in data["runs"]
    )
    caption = f"mimic(α = {v['alpha']:.3g}, m = {v['m']:.3g}), n = {v['n']}; closed forms: {lims}"
    return [left, right], caption


def _staircase_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    s = data["s"]
    gf, sgf = data["gf"], data["sgf"]
    left, right = [], []
    root = np.sqrt(np.maximum(sgf.series["proxies"], 0.0))
    right.append(
        _line(sgf.times, sgf.times, "√d = t (equal rate)", "#000000", dash="dash", width=1.4)
    )
    for i in range(len(s)):
        c = p[i % len(p)]
        g = f"s{i}"
        left.append(_line(gf.times, gf.series["proxies"][:, i], f"s = {s[i]:.3g}", c, group=g))
        left.append(_hline(gf.times[0], gf.times[-1], s[i], c, f"s = {s[i]:.3g}"))
        right.append(_line(sgf.times, root[:, i], f"s = {s[i]:.3g}", c, legend=False, group=g))
    arrivals = ", ".join(f"{float(CF.specgf_arrival_time(x)):.3g}" for x in s)
    caption = (
        f"targets s = {', '.join(f'{x:.3g}' for x in s)}; SpecGF predicted arrivals t = √s: "
        f"{arrivals}"
    )
    return [left, right], caption


def _plasticity_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    grid = data["grid"]
    left, right = [], []
    for run, c, dash in (("resumed", p[1], "solid"), ("scratch", p[0], "dash")):
        cur = data["curves"][run]
        left.append(_line(grid, cur["stable_rank"], run, c, dash=dash, group=run))
        right.append(_line(grid, cur["test_rmse"], run, c, dash=dash, legend=False, group=run))
    f = {k: data["runs"][k].final for k in ("phase1", "resumed", "scratch")}
    caption = (
        f"phase 1 (diagonal) ended at stable rank {f['phase1']['stable_rank']:.3f}; phase 2 "
        f"final stable rank: resumed {f['resumed']['stable_rank']:.3f}, scratch "
        f"{f['scratch']['stable_rank']:.3f}"
    )
    return [left, right], caption


def _muon_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    s = data["s"]
    lr = data["values"]["lr"]
    left, right = [], []
    t = data["specgd"].times * lr
    left.append(_line(t, t, "√d = ηk (equal rate)", "#000000", dash="dot", width=1.4))
    for key, dash, label in (("specgd", "solid", "SpecGD"), ("muon", "dash", "Muon")):
        r = data[key]
        root = np.sqrt(np.maximum(r.series["proxies"], 0.0))
        for i in range(len(s)):
            name = f"{label}, s = {s[i]:g}"
            left.append(_line(r.times * lr, root[:, i], name, p[i], dash=dash, group=key))
    pred = data["predicted"]
    hi = 1.2 * float(np.max(pred))
    right.append(_line([0, hi], [0, hi], "arrival = prediction", "0.5", dash="dot", legend=False))
    for key, sym in (("specgd", "circle"), ("muon", "square")):
        arr = data["arrivals"][key]
        tr = _line(pred, arr, "SpecGD" if key == "specgd" else "Muon", p[4], mode="markers")
        tr["marker"] = {"color": [p[i] for i in range(len(s))], "size": 11, "symbol": sym}
        tr["showlegend"] = False
        right.append(tr)
    caption = (
        f"step η = {lr:g}, init {data['values']['init']}; predicted arrival steps √(0.9 s_i)/η = "
        + ", ".join(f"{x:.0f}" for x in pred)
    )
    return [left, right], caption


_PANELS = {
    "depth": _depth_panels,
    "staircase": _staircase_panels,
    "plasticity": _plasticity_panels,
    "muon": _muon_panels,
}

# Shared layout per page: two panels side by side (axis titles, scales)
_AXES = {
    "depth": (
        ("off-diagonal entry W₁₂(t)  (target w* = 1)", "flow time t", "log", "linear"),
        ("stable rank of W(t)", "flow time t", "log", "linear"),
    ),
    "staircase": (
        ("gradient flow: d_i = u_iᵀ AB v_i, largest first", "flow time t", "linear", "linear"),
        ("spectral GF: √d_i, smallest first", "flow time t", "linear", "linear"),
    ),
    "plasticity": (
        ("phase 2: stable rank of W(t)", "phase-2 flow time t", "log", "linear"),
        ("phase 2: RMSE on unobserved entries", "phase-2 flow time t", "log", "log"),
    ),
    "muon": (
        ("√d_i: exact SpecGD (solid) vs Muon (dashed)", "η · step k", "linear", "linear"),
        ("arrival step where d_i = 0.9 s_i", "predicted step √(0.9 s_i)/η", "linear", "linear"),
    ),
}


def _layout(name: str) -> dict:
    (t1, x1, xs1, ys1), (t2, x2, xs2, ys2) = _AXES[name]
    font = {"family": "DejaVu Sans, Arial, sans-serif", "size": 15}
    return {
        "font": font,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
        "xaxis": {"domain": [0.0, 0.46], "title": {"text": x1}, "type": xs1},
        "yaxis": {"title": {"text": ""}, "type": ys1},
        "xaxis2": {"domain": [0.56, 1.0], "title": {"text": x2}, "type": xs2, "anchor": "y2"},
        "yaxis2": {"anchor": "x2", "type": ys2},
        "annotations": [
            {
                "text": t1,
                "x": 0.23,
                "y": 1.06,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "center",
                "font": {"size": 16},
            },
            {
                "text": t2,
                "x": 0.78,
                "y": 1.06,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "center",
                "font": {"size": 16},
            },
        ],
        "legend": {"x": 0.01, "y": 0.5, "yanchor": "middle", "bgcolor": "rgba(255,255,255,0.8)"},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "hovermode": "closest",
    }


def panels(demo: Demo, data: Any) -> tuple[list[dict], str]:
    """Plotly traces of one ``compute`` result (left panel on x/y, right on x2/y2) and a caption.

    Args:
      demo: the demo that computed ``data``.
      data: ``demo.compute(...)``.

    Returns:
      (traces, caption): traces as plotly JSON dicts (numbers rounded to 5 significant digits).
    """
    (left, right), caption = _PANELS[demo.name](data)
    for tr in right:
        tr["xaxis"], tr["yaxis"] = "x2", "y2"
    for tr in left + right:
        c = tr["line"]["color"]
        if c[0] != "#" and not c.startswith("rgb"):  # grey levels as in matplotlib ("0.5")
            g = round(255 * float(c))
            tr["line"]["color"] = f"rgb({g},{g},{g})"
    return left + right, caption


def grid_points(demo: Demo, grid: dict[str, tuple] | None = None) -> list[dict[str, Any]]:
    """Every combination of the page's slider values (each checked against its range)."""
    grid = GRIDS[demo.name] if grid is None else grid
    known = {p.name: p for p in demo.params}
    for k, vals in grid.items():
        if k not in known:
            raise GflabInputError("grid", "parameters of demo " + demo.name, k)
        if not vals:
            raise GflabInputError("grid", f"at least one value of {k}", vals)
        for v in vals:
            known[k].check(v)
    n = math.prod(len(v) for v in grid.values())
    if n > MAX_GRID_POINTS:
        raise GflabInputError("grid", f"at most {MAX_GRID_POINTS} parameter sets", n)
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def page_data(
    demo: Demo,
    values: dict[str, Any] | None = None,
    grid: dict[str, tuple] | None = None,
    progress: Progress | None = None,
    quiet: bool = False,
) -> dict:
    """Compute the demo on every grid point: the JSON table the page's sliders look up.

    Args:
      demo: the demo.
      values: values of the parameters that do not slide (defaults for the rest).
      grid: parameter → the values its slider steps through (default :data:`GRIDS`).
      progress: a ``progress(iterable, total, desc, quiet)`` wrapper.
      quiet: passed to ``progress``.

    Returns:
      ``{"demo", "title", "params": [...], "points": {"i,j": {"data", "caption"}}, "layout",
      "fixed", "compute_seconds"}``.
    """
    grid = GRIDS[demo.name] if grid is None else grid
    points = grid_points(demo, grid)
    base = demo.resolve(values)
    known = {p.name: p for p in demo.params}
    params = []
    for k, vals in grid.items():
        p = known[k]
        default = base[k]
        if p.choices is None:
            dist = [abs(p.to_slider(v) - p.to_slider(default)) for v in vals]
            start = int(np.argmin(dist))
        else:
            start = list(vals).index(default) if default in vals else 0
        params.append(
            {
                "name": k,
                "label": p.label,
                "values": list(vals),
                "labels": [p.format(v) for v in vals],
                "start": start,
            }
        )
    table = {}
    wrap = progress or (lambda it, **kw: it)
    t0 = time.perf_counter()
    for point in wrap(points, total=len(points), desc=f"html {demo.name}", quiet=quiet):
        vals = demo.resolve({**base, **point})
        traces, caption = panels(demo, demo.compute(**vals))
        key = ",".join(str(list(grid[k]).index(point[k])) for k in grid)
        table[key] = {"data": traces, "caption": caption}
    fixed = {k: v for k, v in base.items() if k not in grid}
    return {
        "demo": demo.name,
        "title": demo.title,
        "params": params,
        "points": table,
        "layout": _layout(demo.name),
        "fixed": ", ".join(f"{known[k].label} = {known[k].format(v)}" for k, v in fixed.items()),
        "compute_seconds": time.perf_counter() - t0,
    }


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.2em 2em; color: #222; }}
h1 {{ font-size: 1.5em; margin: 0 0 .3em 0; }}
#controls {{ display: flex; flex-wrap: wrap; gap: .6em 2.5em; margin: .6em 0; font-size: 1.1em; }}
#controls label {{ display: flex; align-items: center; gap: .6em; }}
#controls input {{ width: 16em; }}
#controls output {{ min-width: 4.5em; font-weight: bold; }}
#plot {{ width: 100%; height: 70vh; min-height: 420px; }}
#caption, #fixed {{ font-size: 1.05em; color: #333; margin: .3em 0; }}
footer {{ color: #666; font-size: .9em; margin-top: .8em; }}
</style>
<script>{plotly}</script>
</head><body>
<h1>{title}</h1>
<div id="fixed"></div>
<div id="controls"></div>
<div id="plot"></div>
<div id="caption"></div>
<footer>{summary} Precomputed by <code>gflab demo {name} --html</code> on {n} parameter sets;
live version with a time cursor: <code>gflab demo {name}</code>.</footer>
<script id="gflab-data" type="application/json">{data}</script>
<script>
(function () {{
  const G = JSON.parse(document.getElementById("gflab-data").textContent);
  const idx = {{}};
  G.params.forEach(p => {{ idx[p.name] = p.start; }});
  // the address can select a point: #depth=4&alpha=0.01 (nearest grid value)
  new URLSearchParams(location.hash.slice(1)).forEach((v, k) => {{
    const p = G.params.find(q => q.name === k);
    if (!p) return;
    let best = 0, dist = Infinity;
    p.values.forEach((x, i) => {{
      const d = (typeof x === "number") ? Math.abs(Math.log(x) - Math.log(parseFloat(v)))
                                        : (String(x) === v ? 0 : Infinity);
      if (d < dist) {{ dist = d; best = i; }}
    }});
    if (dist < Infinity) idx[k] = best;
  }});
  const controls = document.getElementById("controls");
  G.params.forEach(p => {{
    const label = document.createElement("label");
    label.textContent = p.label;
    const input = document.createElement("input");
    Object.assign(input, {{ type: "range", min: 0, max: p.values.length - 1, step: 1,
                           value: idx[p.name], id: "slider-" + p.name }});
    const out = document.createElement("output");
    out.id = "value-" + p.name;
    out.textContent = p.labels[idx[p.name]];
    input.addEventListener("input", () => {{
      idx[p.name] = parseInt(input.value, 10);
      out.textContent = p.labels[idx[p.name]];
      draw();
    }});
    label.append(input, out);
    controls.append(label);
  }});
  document.getElementById("fixed").textContent = G.fixed ? "fixed: " + G.fixed : "";
  const plot = document.getElementById("plot");
  const config = {{ displaylogo: false, responsive: true }};
  function draw() {{
    const key = G.params.map(p => idx[p.name]).join(",");
    const point = G.points[key];
    document.getElementById("caption").textContent = point.caption;
    document.body.dataset.point = key;
    return Plotly.react(plot, point.data, G.layout, config).then(() => {{
      document.body.dataset.ready = "1";
      document.body.dataset.traces = String(plot.querySelectorAll(".scatterlayer .trace").length);
    }});
  }}
  draw();
}})();
</script>
</body></html>
"""


def write_html(
    demo: Demo,
    path: str | Path,
    *,
    values: dict[str, Any] | None = None,
    grid: dict[str, tuple] | None = None,
    progress: Progress | None = None,
    quiet: bool = False,
) -> dict:
    """Write the demo's self-contained HTML page (see the module docstring).

    Args:
      demo: the demo.
      path: the ``.html`` file to write.
      values: values of the parameters that do not slide.
      grid: parameter → slider values (default :data:`GRIDS`).
      progress: a ``progress(iterable, total, desc, quiet)`` wrapper.
      quiet: passed to ``progress``.

    Returns:
      ``{"path", "bytes", "grid_points", "compute_seconds"}``.
    """
    import plotly.offline

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise GflabInputError("--html", "a file name ending in .html", str(path))
    data = page_data(demo, values, grid, progress=progress, quiet=quiet)
    blob = json.dumps(
        {k: v for k, v in data.items() if k != "compute_seconds"}, separators=(",", ":")
    )
    page = _PAGE.format(
        title=html.escape(demo.title),
        summary=html.escape(demo.summary[:1].upper() + demo.summary[1:] + "."),
        name=demo.name,
        n=len(data["points"]),
        plotly=plotly.offline.get_plotlyjs(),
        data=blob.replace("</", "<\\/"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "grid_points": len(data["points"]),
        "compute_seconds": round(data["compute_seconds"], 3),
    }
