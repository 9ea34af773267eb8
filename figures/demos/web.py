"""Zero-install web pages of the lecture demos: ``gflab demo NAME --html FILE``.

One self-contained HTML file: plotly.js inlined (no CDN, no network), a JSON table of the demo's
curves precomputed on a grid of parameter values by the demo's own ``compute`` (the numbers the
window and the GIF show), and a few lines of JavaScript that turn range sliders into a lookup in
that table. It opens from a USB stick on any machine in the lecture hall. A time slider and a
play button reveal the dynamics: every time curve is drawn up to the slider's time, on axes that
keep the whole run's range.

A page's state can be set in the address: ``FILE.html#depth=4&alpha=0.01&u=0.5`` selects the
nearest grid point and the time at half the run (the headless-browser tests use it).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gflab.figures import style
from gflab.figures.demos._base import Demo
from gflab.theory import closed_forms as CF
from gflab.theory.errors import GflabInputError

__all__ = ["GRIDS", "grid_points", "panels", "page_data", "write_html", "MAX_GRID_POINTS"]

MAX_GRID_POINTS = 2000  # each point is one compute: keep a page's build to minutes
SIG = 5  # significant digits kept in the page (curves are drawn, not read off)

# The parameters each page slides over (the others stay at their --set / default values).
# Measured on the shared 2-core machine: depth 1925 points, 8.9 MB, 1–2 min; staircase 45
# points, 5.4 MB, 4 min; plasticity 60 points, 5.3 MB; muon 24 points, 5.0 MB (plotly.js is
# 3.6 MB of each page)
GRIDS: dict[str, dict[str, tuple]] = {
    # every slider of the window (n, m, depth, α): 5 × 7 × 5 × 11 = 1925 points, each a pair of
    # cached reduced-ODE runs (≈ 30 ms per distinct run): about a minute to build
    "depth": {
        "n": (2, 3, 4, 6, 8),
        "m": (1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0),
        "depth": (2, 3, 4, 5, 6),
        "alpha": tuple(float(f"{a:.3g}") for a in np.logspace(-6, -1, 11)),
    },
    "staircase": {
        "beta": (1e-8, 1e-6, 1e-4, 1e-2, 1e-1),
        "gamma": (1e-5, 1e-3, 1e-1),
        "s_max": (4.0, 16.0, 64.0),
    },
    "plasticity": {
        "depth": (2, 3, 4),
        "alpha": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
        "m": (1.5, 3.0, 10.0, 50.0),
    },
    "muon": {
        "init": ("lora", "gaussian"),
        "lr": (0.006, 0.01, 0.02, 0.04),
        "momentum": (0.0, 0.9, 0.95),
    },
}

Progress = Callable[..., Iterable]


def _round(x) -> list:
    a = np.asarray(x, dtype=float)
    out = []
    for v in a.ravel().tolist():
        out.append(None if not math.isfinite(v) else float(f"{v:.{SIG}g}"))
    return out


def _line(
    x, y, name, color, dash="solid", width=2.2, legend=True, group=None, mode="lines", reveal=True
):
    """A plotly trace; ``reveal``: a curve over time that the page's time slider draws up to the
    slider's time (reference lines and non-time plots are drawn whole)."""
    t = {
        "type": "scatter",
        "mode": mode,
        "x": _round(x),
        "y": _round(y),
        "name": name,
        "line": {"color": color, "dash": dash, "width": width},
        "showlegend": legend,
        "reveal": bool(reveal),
    }
    if mode != "lines":
        t["marker"] = {"color": color, "size": 9}
    if group:
        t["legendgroup"] = group
    return t


def _grid_code(x: list) -> dict | None:
    """``{"lin"|"geom": [first, last, count]}`` when the rounded ``x`` is an evenly (or
    geometrically) spaced grid to its 5 digits, else None: the page rebuilds it."""
    a = np.asarray(x, dtype=float)
    if len(a) < 3 or not np.all(np.isfinite(a)):
        return None
    k = np.arange(len(a)) / (len(a) - 1)
    lin = a[0] + k * (a[-1] - a[0])
    if np.allclose(lin, a, rtol=1e-4, atol=1e-4 * abs(a[-1] - a[0])):
        return {"lin": [a[0], a[-1], len(a)]}
    if a[0] > 0 and a[-1] > 0:
        geom = a[0] * (a[-1] / a[0]) ** k
        if np.allclose(geom, a, rtol=1e-4, atol=0.0):
            return {"geom": [a[0], a[-1], len(a)]}
    return None


def _rank_axis(n: int) -> dict:
    """The stable rank's whole range, from rank one to full rank ``n`` (3 % padding): the effect
    at its true size, the same at every grid point."""
    pad = 0.03 * (n - 1)
    return {"range": [1 - pad, n + pad]}


def _hline(x0, x1, y, color, name, legend=False):
    return _line([x0, x1], [y, y], name, color, dash="dot", width=1.4, legend=legend, reveal=False)


def _depth_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    t0 = min(r.times[0] for r in data["runs"])
    t1 = max(r.times[-1] for r in data["runs"])
    left, right = [], []
    for run, c in zip(data["runs"], (p[0], p[1]), strict=False):
        left.append(_line(run.times, run.offdiagonal, f"L = {run.depth}", c, group=str(run.depth)))
        what = "ρ(m)" if run.depth == 2 else "closed-form limit"
        left.append(_hline(t0, t1, run.limit.offdiagonal, c, f"L = {run.depth}: {what}"))
        right.append(_line(run.times, run.stable_rank, f"L = {run.depth}", c, legend=False))
    v = data["values"]
    n = v["n"]
    lims = ", ".join(
        f"L = {r.depth}: W₁₂(∞) = {r.limit.offdiagonal:.4f}, stable rank {r.limit.stable_rank:.3f}"
        for r in data["runs"]
    )
    caption = f"mimic(α = {v['alpha']:.3g}, m = {v['m']:.3g}), n = {v['n']}; closed forms: {lims}"
    return [left, right], caption, {"yaxis2": _rank_axis(n)}


def _staircase_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    s = data["s"]
    gf, sgf = data["gf"], data["sgf"]
    left, right = [], []
    right.append(
        _line(
            sgf.times,
            sgf.times,
            "√d = t (equal rate)",
            "#000000",
            dash="dash",
            width=1.4,
            reveal=False,
        )
    )
    for run, out, legend in ((gf, left, True), (sgf, right, False)):
        root = np.sqrt(np.maximum(run.series["proxies"], 0.0))
        for i in range(len(s)):
            c = p[i % len(p)]
            g = f"s{i}"
            out.append(_line(run.times, root[:, i], f"s = {s[i]:.3g}", c, legend=legend, group=g))
            out.append(_hline(run.times[0], run.times[-1], np.sqrt(s[i]), c, f"√s = {s[i]:.3g}"))
    arrivals = ", ".join(f"{float(CF.specgf_arrival_time(x)):.3g}" for x in s)
    caption = (
        f"targets s = {', '.join(f'{x:.3g}' for x in s)} (dotted: √s_i); SpecGF predicted "
        f"arrivals t = √s: {arrivals}"
    )
    top = 1.1 * float(np.sqrt(s[-1]))
    axes = {"yaxis": {"range": [-0.03 * top, top]}, "yaxis2": {"range": [-0.03 * top, top]}}
    return [left, right], caption, axes


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
    axes = {"yaxis": _rank_axis(len(data["mask2"]))}
    rmse = np.concatenate([data["curves"][k]["test_rmse"] for k in ("resumed", "scratch")])
    rmse = rmse[np.isfinite(rmse) & (rmse > 0)]
    if rmse.size and rmse.max() < 10 * rmse.min():  # under a decade: label 1, 2, 3 and 5 too
        lo, hi = rmse.min(), rmse.max()
        ticks = [
            k * 10.0**e
            for e in range(-6, 2)
            for k in (1, 2, 3, 5)
            if lo / 1.05 <= k * 10.0**e <= 1.05 * hi
        ]
        axes["yaxis2"] = {"tickvals": ticks, "ticktext": [f"{v:g}" for v in ticks]}
    return [left, right], caption, axes


def _muon_panels(data) -> tuple[list, str]:
    p = style.PALETTE
    s = data["s"]
    lr = data["values"]["lr"]
    left, right = [], []
    t = data["specgd"].times * lr
    left.append(_line(t, t, "√d = ηk (equal rate)", "#000000", dash="dot", width=1.4, reveal=False))
    # one legend entry per target (its colour; the line style, SpecGD or Muon, is in the panel's
    # title): five entries fit two rows of the docs' 658 px frame, nine did not
    for key, dash, label in (("specgd", "solid", ""), ("muon", "dash", "Muon, ")):
        r = data[key]
        root = np.sqrt(np.maximum(r.series["proxies"], 0.0))
        for i in range(len(s)):
            name, shown = f"{label}s = {s[i]:g}", key == "specgd"
            left.append(
                _line(r.times * lr, root[:, i], name, p[i], dash=dash, legend=shown, group=f"s{i}")
            )
    pred = data["predicted"]
    hi = 1.2 * float(np.max(pred))
    right.append(
        _line(
            [0, hi], [0, hi], "arrival = prediction", "0.5", dash="dot", legend=False, reveal=False
        )
    )
    for key, sym in (("specgd", "circle"), ("muon", "square")):
        arr = data["arrivals"][key]
        tr = _line(pred, arr, "SpecGD" if key == "specgd" else "Muon", p[4], mode="markers")
        tr["marker"] = {"color": [p[i] for i in range(len(s))], "size": 11, "symbol": sym}
        tr["showlegend"] = False
        tr["reveal"] = False
        right.append(tr)
    caption = (
        f"step η = {lr:g}, init {data['values']['init']}; predicted arrival steps √(0.9 s_i)/η = "
        + ", ".join(f"{x:.0f}" for x in pred)
    )
    return [left, right], caption, {}


_PANELS = {
    "depth": _depth_panels,
    "staircase": _staircase_panels,
    "plasticity": _plasticity_panels,
    "muon": _muon_panels,
}


class _Panel(NamedTuple):
    """One panel of a page: its title, the x axis's title and both axes' scales."""

    title: str
    xtitle: str
    xscale: str = "linear"
    yscale: str = "linear"


# Shared layout per page: two panels side by side. A panel title takes two lines (<br>): in the
# docs' 658 px frame a panel is about 230 px wide.
_AXES = {
    "depth": (
        _Panel("off-diagonal entry W₁₂(t)<br>(target w* = 1)", "flow time t", "log"),
        _Panel("stable rank of W(t)<br>n: full rank, 1: rank one", "flow time t", "log"),
    ),
    "staircase": (
        _Panel("gradient flow:<br>√d_i, largest first", "flow time t"),
        _Panel("spectral GF:<br>√d_i, smallest first", "flow time t"),
    ),
    "plasticity": (
        _Panel("phase 2:<br>stable rank of W(t)", "phase-2 flow time t", "log"),
        _Panel("phase 2: RMSE<br>on unobserved entries", "phase-2 flow time t", "log", "log"),
    ),
    "muon": (
        _Panel("√d_i: exact SpecGD (solid)<br>vs Muon (dashed)", "η · step k"),
        _Panel("arrival step, d_i = 0.9 s_i<br>● SpecGD, ■ Muon", "predicted step √(0.9 s_i)/η"),
    ),
}
_DOMAINS = ([0.0, 0.46], [0.56, 1.0])  # the two panels' shares of the plot's width


def _layout(name: str) -> dict:
    """The page's plotly layout: the two panels of :data:`_AXES`, titles above, legend below."""
    font = {"family": "DejaVu Sans, Arial, sans-serif", "size": 15}
    layout = {
        "font": font,
        "margin": {"l": 70, "r": 20, "t": 70, "b": 130},
        "annotations": [],
        # below the panels, never over a curve
        "legend": {"orientation": "h", "x": 0.0, "y": -0.2, "yanchor": "top"},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "hovermode": "closest",
    }
    for k, (panel, domain) in enumerate(zip(_AXES[name], _DOMAINS, strict=True)):
        x, y = ("xaxis2", "yaxis2") if k else ("xaxis", "yaxis")
        layout[x] = {"domain": domain, "title": {"text": panel.xtitle}, "type": panel.xscale}
        layout[y] = {"type": panel.yscale}
        if k:  # the right panel's axes are anchored on each other
            layout[x]["anchor"], layout[y]["anchor"] = "y2", "x2"
        for axis in (x, y):
            if layout[axis]["type"] == "log":  # a label per decade, not 2 3 … 9 in between
                layout[axis]["dtick"] = 1
        layout["annotations"].append(
            {
                "text": panel.title,
                "x": sum(domain) / 2,
                "y": 1.02,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "center",
                "yanchor": "bottom",
                "font": {"size": 15},
            }
        )
    return layout


def panels(demo: Demo, data: Any) -> tuple[list[dict], str, dict]:
    """Plotly traces of one ``compute`` result (left panel on x/y, right on x2/y2), a caption and
    the axis settings that depend on the point (e.g. the stable-rank range 1 … n).

    Args:
      demo: the demo that computed ``data``.
      data: ``demo.compute(...)``.

    Returns:
      (traces, caption, axes): traces as plotly JSON dicts (numbers rounded to 5 significant
      digits; ``reveal`` marks the curves the time slider reveals), axes a layout patch.
    """
    (left, right), caption, axes = _PANELS[demo.name](data)
    for tr in right:
        tr["xaxis"], tr["yaxis"] = "x2", "y2"
    for tr in left + right:
        c = tr["line"]["color"]
        if c[0] != "#" and not c.startswith("rgb"):  # grey levels as in matplotlib ("0.5")
            g = round(255 * float(c))
            tr["line"]["color"] = f"rgb({g},{g},{g})"
    return left + right, caption, axes


def grid_points(demo: Demo, grid: dict[str, tuple] | None = None) -> list[dict[str, Any]]:
    """Every combination of the page's slider values (each checked against its range).

    Args:
        demo: the demo.
        grid: parameter → slider values (default :data:`GRIDS` of the demo).

    Returns:
        One dict of parameter values per grid point.

    Raises:
        GflabInputError: a value out of its range, or more than :data:`MAX_GRID_POINTS` points.
    """
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


class _Interned:
    """A list that stores each distinct value once (compared by JSON text): :meth:`index` adds a
    value not seen before and returns its position."""

    def __init__(self, sort_keys: bool = False):
        self.items: list = []
        self._seen: dict[str, int] = {}
        self._sort_keys = sort_keys

    def index(self, value) -> int:
        text = json.dumps(value, separators=(",", ":"), sort_keys=self._sort_keys)
        if text not in self._seen:
            self._seen[text] = len(self.items)
            self.items.append(value)
        return self._seen[text]


def _slider_params(demo: Demo, grid: dict[str, tuple], base: dict[str, Any]) -> list[dict]:
    """The page's sliders: name, label, values with their labels, and the start index (the grid
    value nearest the default, on the slider's scale)."""
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
    return params


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
      values: parameter values that do not slide (defaults for the rest); a parameter given
        here is pinned even if :data:`GRIDS` has a slider for it.
      grid: parameter → the values its slider steps through (default :data:`GRIDS` less the
        parameters in ``values``).
      progress: a ``progress(iterable, total, desc, quiet)`` wrapper.
      quiet: passed to ``progress``.

    Returns:
      ``{"demo", "title", "params": [...], "points": {"i,j": {"data", "caption", "axes"}},
      "traces", "arrays", "layout", "fixed", "compute_seconds"}``. Shared parts are stored once:
      a point's ``data`` lists indices into ``traces``; a trace's ``y`` (and ``x``) longer than
      two points is ``{"ref": k}``, the k-th entry of ``arrays``; an evenly spaced ``x`` is
      ``{"lin": [first, last, count]}``, a geometric one ``{"geom": [first, last, count]}``.
    """
    if grid is None:  # a value given for a slider's parameter pins it: one value, no slider
        grid = {k: v for k, v in GRIDS[demo.name].items() if k not in (values or {})}
    points = grid_points(demo, grid)
    base = demo.resolve(values)
    known = {p.name: p for p in demo.params}
    table = {}
    wrap = progress or (lambda it, **kw: it)
    t0 = time.perf_counter()
    # a curve shown at several points (depth 2 beside every L) is stored once, and whole traces
    # too: depth 2's three curves are the same beside every L
    arrays, traces_ = _Interned(), _Interned(sort_keys=True)
    for point in wrap(points, total=len(points), desc=f"html {demo.name}", quiet=quiet):
        vals = demo.resolve({**base, **point})
        traces, caption, axes = panels(demo, demo.compute(**vals))
        for tr in traces:
            if len(tr["x"]) > 2:
                tr["x"] = _grid_code(tr["x"]) or {"ref": arrays.index(tr["x"])}
                tr["y"] = {"ref": arrays.index(tr["y"])}
        key = ",".join(str(list(grid[k]).index(point[k])) for k in grid)
        data = [traces_.index(t) for t in traces]
        table[key] = {"data": data, "caption": caption, "axes": axes}
    fixed = {k: v for k, v in base.items() if k not in grid}
    return {
        "demo": demo.name,
        "title": demo.title,
        "params": _slider_params(demo, grid, base),
        "points": table,
        "traces": traces_.items,
        "arrays": arrays.items,
        "layout": _layout(demo.name),
        "fixed": ", ".join(f"{known[k].label} = {known[k].format(v)}" for k, v in fixed.items()),
        "compute_seconds": time.perf_counter() - t0,
    }


# The page's script: it lays out the controls and the plot (the sliders, the time slider and play
# button) and draws from the JSON table.
# Inlined into every `gflab demo --html` page; the docs site loads it once, as demos/player.js
# (docs/_build/demo_pages.py, docs/_build/hooks.py).
PLAYER_JS = """(function () {
  // the page's controls and plot, between its title and its footer
  document.querySelector("footer").insertAdjacentHTML("beforebegin", `
<div id="fixed"></div>
<div id="controls"></div>
<div id="clock"><button id="play" type="button">&#9654; play</button>
<label>time <input type="range" id="slider-time" min="0" max="1000" step="1" value="1000">
<output id="value-time"></output></label></div>
<div id="plot"></div>
<div id="caption"></div>
`);
  const G = JSON.parse(document.getElementById("gflab-data").textContent);
  const idx = {};
  G.params.forEach(p => { idx[p.name] = p.start; });
  let u = 1;  // fraction of the run shown: 0 = the start, 1 = everything
  // the address can select a point and a time: #depth=4&alpha=0.01&u=0.5 (nearest grid value)
  new URLSearchParams(location.hash.slice(1)).forEach((v, k) => {
    if (k === "u") { u = Math.min(1, Math.max(0, parseFloat(v))); return; }
    const p = G.params.find(q => q.name === k);
    if (!p) return;
    let best = 0, dist = Infinity;
    p.values.forEach((x, i) => {
      const d = (typeof x === "number") ? Math.abs(Math.log(x) - Math.log(parseFloat(v)))
                                        : (String(x) === v ? 0 : Infinity);
      if (d < dist) { dist = d; best = i; }
    });
    if (dist < Infinity) idx[k] = best;
  });
  const controls = document.getElementById("controls");
  G.params.forEach(p => {
    const label = document.createElement("label");
    label.textContent = p.label;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: 0, max: p.values.length - 1, step: 1,
                           value: idx[p.name], id: "slider-" + p.name });
    const out = document.createElement("output");
    out.id = "value-" + p.name;
    out.textContent = p.labels[idx[p.name]];
    input.addEventListener("input", () => {
      idx[p.name] = parseInt(input.value, 10);
      out.textContent = p.labels[idx[p.name]];
      draw();
    });
    label.append(input, out);
    controls.append(label);
  });
  document.getElementById("fixed").textContent = G.fixed ? "fixed: " + G.fixed : "";
  const plot = document.getElementById("plot");
  const config = { displaylogo: false, responsive: true };
  const timeSlider = document.getElementById("slider-time");
  const timeOut = document.getElementById("value-time");
  const playButton = document.getElementById("play");

  const axis = tr => (tr.xaxis === "x2" ? "2" : "");
  const isLog = name => (G.layout[name] || {}).type === "log";
  function arr(a) {
    if (a && a.ref !== undefined) return G.arrays[a.ref];
    const g = a && (a.lin || a.geom);
    if (!g) return a;
    const [x0, x1, n] = g, out = new Array(n);
    for (let i = 0; i < n; i++) {
      const f = i / (n - 1);
      out[i] = a.lin ? x0 + f * (x1 - x0) : x0 * Math.pow(x1 / x0, f);
    }
    out[n - 1] = x1;
    return out;
  }
  function extent(values, log) {
    let lo = Infinity, hi = -Infinity;
    values.forEach(v => {
      if (v === null || !isFinite(v) || (log && v <= 0)) return;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    });
    return [lo, hi];
  }
  function widen(a, b) { return [Math.min(a[0], b[0]), Math.max(a[1], b[1])]; }
  function range(lohi, log, pad) {
    let [lo, hi] = lohi;
    if (log) { lo = Math.log10(lo); hi = Math.log10(hi); }
    const d = hi > lo ? (hi - lo) * pad : 0.5;  // a flat curve still gets a visible range
    return [lo - d, hi + d];
  }
  // one frame: every curve marked "reveal" drawn up to the time at fraction u of its axis
  function cut(x, y, t) {
    let k = 0;
    while (k < x.length && x[k] <= t) k++;
    if (k === 0) return [x.slice(0, 1), y.slice(0, 1)];
    if (k >= x.length || t <= x[k - 1]) return [x.slice(0, k), y.slice(0, k)];
    const w = (t - x[k - 1]) / (x[k] - x[k - 1]);
    const yt = (y[k - 1] === null || y[k] === null) ? null : y[k - 1] + w * (y[k] - y[k - 1]);
    return [x.slice(0, k).concat([t]), y.slice(0, k).concat([yt])];
  }
  function draw() {
    const key = G.params.map(p => idx[p.name]).join(",");
    const point = G.points[key];
    document.getElementById("caption").textContent = point.caption;
    document.body.dataset.point = key;
    const full = point.data.map(i => G.traces[i])
      .map(tr => Object.assign({}, tr, { x: arr(tr.x), y: arr(tr.y) }));
    const layout = JSON.parse(JSON.stringify(G.layout));
    const span = {}, xs = {}, ys = {};
    full.forEach(tr => {
      const a = axis(tr), lx = isLog("xaxis" + a), ly = isLog("yaxis" + a);
      xs[a] = widen(xs[a] || [Infinity, -Infinity], extent(tr.x, lx));
      ys[a] = widen(ys[a] || [Infinity, -Infinity], extent(tr.y, ly));
      if (tr.reveal) span[a] = widen(span[a] || [Infinity, -Infinity], extent(tr.x, lx));
    });
    // the axes keep the whole run's range while the curves grow into it
    Object.keys(xs).forEach(a => {
      layout["xaxis" + a].range = range(xs[a], isLog("xaxis" + a), 0.0);
      layout["yaxis" + a].range = range(ys[a], isLog("yaxis" + a), 0.04);
    });
    Object.entries(point.axes || {}).forEach(([name, patch]) => {
      layout[name] = Object.assign(layout[name] || {}, patch);
    });
    const clock = {};
    Object.keys(span).forEach(a => {
      const [lo, hi] = span[a];
      clock[a] = isLog("xaxis" + a) ? lo * Math.pow(hi / lo, u) : lo + u * (hi - lo);
    });
    const ends = [];
    const shown = full.map(tr => {
      if (!tr.reveal) return tr;
      const [x, y] = cut(tr.x, tr.y, clock[axis(tr)]);
      ends.push(x[x.length - 1]);
      return Object.assign({}, tr, { x: x, y: y });
    });
    timeSlider.value = String(Math.round(u * 1000));
    const t = clock[""] !== undefined ? clock[""] : clock["2"];
    timeOut.textContent = t === undefined ? "" : "t = " + Number(t).toPrecision(3);
    document.body.dataset.u = String(u);
    return Plotly.react(plot, shown, layout, config).then(() => {
      document.body.dataset.ends = JSON.stringify(ends);
      document.body.dataset.ready = "1";
      document.body.dataset.traces = String(plot.querySelectorAll(".scatterlayer .trace").length);
    });
  }
  timeSlider.addEventListener("input", () => {
    stop();
    u = parseInt(timeSlider.value, 10) / 1000;
    draw();
  });
  let timer = null;
  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    playButton.innerHTML = "&#9654; play";
  }
  playButton.addEventListener("click", () => {
    if (timer !== null) { stop(); return; }
    if (u >= 1) u = 0;
    playButton.innerHTML = "&#10074;&#10074; pause";
    timer = setInterval(() => {  // one pass in about 6 s
      u = Math.min(1, u + 1 / 150);
      draw();
      if (u >= 1) stop();
    }, 40);
  });
  draw();
})();
"""

# The page's style sheet: inlined into every `gflab demo --html` page; the docs site loads it once, as
# demos/player.css.
PAGE_CSS = """body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.2em 2em; color: #222; }
h1 { font-size: 1.5em; margin: 0 0 .3em 0; }
#controls, #clock { display: flex; flex-wrap: wrap; gap: .6em 2.5em; margin: .6em 0;
  font-size: 1.1em; }
#controls label, #clock label { display: flex; align-items: center; gap: .6em; }
#controls input { width: 16em; }
#clock input { width: 36em; max-width: 70vw; }
#controls output, #clock output { min-width: 4.5em; font-weight: bold; }
#play { font-size: 1em; min-width: 5.5em; padding: .25em .8em; }
#plot { width: 100%; height: 66vh; min-height: 420px; }
#caption, #fixed { font-size: 1.05em; color: #333; margin: .3em 0; }
footer { color: #666; font-size: .9em; margin-top: .8em; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}</style>
<script>{plotly}</script>
</head><body>
<h1>{title}</h1>
<footer>{summary} Precomputed by <code>gflab demo {name} --html</code> on {n} parameter sets;
the time slider (or play) draws every curve up to that time. Live version:
<code>gflab demo {name}</code>.</footer>
<script id="gflab-data" type="application/json">{data}</script>
<script>
{player}</script>
</body></html>
"""


def write_html(demo: Demo, path: str | Path, **page_options: Any) -> dict:
    """Write the demo's self-contained HTML page (see the module docstring).

    Args:
      demo: the demo.
      path: the ``.html`` file to write.
      **page_options: ``values``, ``grid``, ``progress``, ``quiet`` of :func:`page_data`.

    Returns:
      ``{"path", "bytes", "grid_points", "compute_seconds"}``.
    """
    import plotly.offline

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise GflabInputError("--html", "a file name ending in .html", str(path))
    data = page_data(demo, **page_options)
    blob = json.dumps(
        {k: v for k, v in data.items() if k != "compute_seconds"}, separators=(",", ":")
    )
    page = _PAGE.format(
        title=html.escape(demo.title),
        summary=html.escape(demo.summary[:1].upper() + demo.summary[1:] + "."),
        name=demo.name,
        n=len(data["points"]),
        plotly=plotly.offline.get_plotlyjs(),
        css=PAGE_CSS,
        player=PLAYER_JS,
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
