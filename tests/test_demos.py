"""Lecture demos: every demo renders a GIF headless, its numbers agree with the closed forms, the
interactive controller works on any canvas, and ``gflab demo`` fails cleanly without a display."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from gflab.cli import main
from gflab.figures import demos
from gflab.figures.demos import _runner
from gflab.theory import closed_forms as CF
from gflab.theory import measures as M

FRAMES = 3


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Each demo rendered once at its defaults (few frames, low dpi); tests share the results."""
    out = tmp_path_factory.mktemp("demos")
    reports = {}
    for name in demos.DEMO_NAMES:
        reports[name] = demos.render(demos.get(name), out / f"{name}.gif", frames=FRAMES, dpi=40)
    return reports


@pytest.mark.parametrize("name", demos.DEMO_NAMES)
def test_demo_renders_gif(rendered, name):
    rep = rendered[name]
    with Image.open(rep.path) as im:
        assert im.format == "GIF"
        assert im.n_frames == FRAMES
        im.seek(FRAMES - 1)
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 5.0  # something was drawn, not a blank canvas
    assert len(rep.frame_seconds) == FRAMES
    assert set(rep.summary()) >= {"compute_seconds", "mean_frame_seconds", "values"}


@pytest.mark.parametrize(
    ("depth", "alpha", "m", "n"),
    [(2, 1e-3, 3.0, 2), (3, 1e-3, 3.0, 2), (4, 1e-2, 5.0, 3), (3, 1e-5, 1.5, 6), (6, 0.1, 50.0, 8)],
)
def test_depth_demo_limit_is_closed_form(depth, alpha, m, n):
    data = demos.get("depth").compute(depth=depth, alpha=alpha, m=m, n=n)
    for run in data["runs"]:
        lim = CF.mimic_limit(n, run.depth, alpha, m)
        # converged to |e| ≤ 1e-11 with rtol 1e-11: the conserved quantity fixes the rest
        assert run.offdiagonal[-1] == pytest.approx(lim.offdiagonal, rel=1e-7, abs=1e-10)
        assert run.diagonal[-1] == pytest.approx(1.0, abs=1e-9)
    if depth == 2:
        assert data["runs"][0].offdiagonal[-1] == pytest.approx(CF.depth2_rho(n, m), rel=1e-7)


def test_depth_demo_default_gif_limit(rendered):
    v = rendered["depth"].values
    for run in rendered["depth"].data["runs"]:
        expected = CF.mimic_limit(v["n"], run.depth, v["alpha"], v["m"]).offdiagonal
        assert run.offdiagonal[-1] == pytest.approx(expected, rel=1e-7)


def test_depth_reduced_ode_conserves_invariant():
    from gflab.figures.demos.depth import reduced_trajectory

    run = reduced_trajectory(3, 3, 1e-3, 4.0, times=np.geomspace(1e-3, 1e3, 50))
    c = CF.dmc_conserved(run.lambda1, run.lambda2, 3)
    assert np.max(np.abs(c / c[0] - 1.0)) < 1e-8  # LSODA at rtol 1e-11 in log coordinates


@pytest.mark.parametrize("f", [0.5, 0.9], ids=lambda f: f"f={f:g}")
def test_staircase_specgf_equal_rate(rendered, f):
    """SpecGF equal rate: d_i reaches f·s_i at t ≈ √(f s_i) (small β, γ); 2% covers the start-up."""
    data = rendered["staircase"].data
    s = data["s"]
    t = M.arrival_times(data["sgf"].times, data["sgf"].series["proxies"], s, f)
    np.testing.assert_allclose(t, CF.specgf_arrival_time(s, f), rtol=0.02)


def test_staircase_oracles(rendered):
    data = rendered["staircase"].data
    s = data["s"]
    # gradient flow: largest target first
    t_gf = M.arrival_times(data["gf"].times, data["gf"].series["proxies"], s, 0.5)
    assert np.all(np.isfinite(t_gf)) and np.all(np.diff(t_gf) < 0)


def test_muon_oracles(rendered):
    data = rendered["muon"].data
    # exact SpecGD from LoRA init: arrival step ≈ √(f s_i)/η (10%: steps overshoot by ~η)
    np.testing.assert_allclose(data["arrivals"]["specgd"], data["predicted"], rtol=0.1)
    muon = data["arrivals"]["muon"]
    assert np.all(np.isfinite(muon)) and np.all(np.diff(muon) > 0)  # smaller first


def test_newton_schulz_map_matches_theory():
    from gflab.figures.demos.muon import ns_singular_value_map
    from gflab.theory.lora import newton_schulz

    sv = np.array([0.9, 0.3, 0.01])
    out = np.linalg.svd(newton_schulz(np.diag(sv), eps=0.0), compute_uv=False)
    np.testing.assert_allclose(
        np.sort(out), np.sort(ns_singular_value_map(sv / np.linalg.norm(sv))), rtol=1e-12
    )


def test_plasticity_oracles(rendered):
    runs = rendered["plasticity"].data["runs"]
    v = rendered["plasticity"].values
    assert v["depth"] == 2
    lim = CF.mimic_limit(4, 2, v["alpha"], v["m"])
    np.testing.assert_allclose(runs["phase1"].final["matrix"], lim.matrix(), atol=1e-6)
    # DMC-5 at depth 2: resumed keeps a higher stable rank than training from scratch
    assert runs["resumed"].final["stable_rank"] > runs["scratch"].final["stable_rank"] + 0.1
    assert all(runs[k].status == "converged" for k in runs)


def test_plasticity_stable_rank_axis_spans_rank_one_to_full(rendered):
    """The window's stable-rank panel shows 1 … n (n = the matrix size), with both runs in it."""
    data = rendered["plasticity"].data
    n = len(data["mask2"])
    lo, hi = demos.get("plasticity").ax_rank.get_ylim()  # the instance `rendered` drew
    ranks = np.concatenate([c["stable_rank"] for c in data["curves"].values()])
    assert lo <= 1.0 and hi >= n and hi - lo < 1.1 * (n - 1)
    assert lo <= ranks.min() and ranks.max() <= hi


def _clocks(name: str, demo, data, u: float) -> list[float]:
    """The times frame u of each demo is at (one per panel clock): its own definition."""
    from gflab.figures.demos._base import log_cursor

    if name == "depth":
        return [log_cursor(data["times"], u)]
    if name == "plasticity":
        return [log_cursor(data["grid"], u)]
    if name == "staircase":
        return [u * data["gf"].times[-1], u * data["sgf"].times[-1]]
    return [u * demo.ax.get_xlim()[1]]  # muon: η·k across the panel


@pytest.mark.parametrize("u", [0.4, 1.0])
@pytest.mark.parametrize("name", demos.DEMO_NAMES)
def test_frame_reveals_each_curve_up_to_its_time(rendered, name, u):
    """Frame u draws every curve from its start to the frame's time t_u, not a cursor over
    finished curves. Oracle: the curve's own samples, cut at t_u and linearly interpolated there
    (np.interp); at u = 0.4 some curve must be cut short."""
    from matplotlib.figure import Figure

    demo, data = demos.get(name), rendered[name].data
    fig = Figure(figsize=(8, 4), dpi=40)
    demo.setup(fig, (0.07, 0.14, 0.9, 0.72))
    demo.show(data)
    demo.frame(data, u)
    drawn = demo.revealed_now
    clocks = _clocks(name, demo, data, u)
    t = np.array([r[3] for r in drawn])
    # every curve runs on one of the demo's clocks (1e-12: the same arithmetic)
    assert np.min(np.abs(t[:, None] - np.array(clocks)[None, :]), axis=1).max() <= 1e-12 * max(
        clocks
    )
    end = np.array([np.clip(tt, x[0], x[-1]) for (_, x, _, tt) in drawn])
    x_end = np.array([line.get_xdata()[-1] for (line, *_rest) in drawn])
    y_end = np.array([line.get_ydata()[-1] for (line, *_rest) in drawn])
    y_want = np.array([np.interp(e, x, y) for e, (_, x, y, _) in zip(end, drawn, strict=True)])
    np.testing.assert_allclose(x_end, end, rtol=1e-12)
    np.testing.assert_allclose(y_end, y_want, rtol=1e-9, atol=1e-12)
    cut = [len(line.get_xdata()) < len(x) for (line, x, _y, _t) in drawn]
    assert any(cut) if u < 1 else True


def test_revealed_cuts_at_t():
    from gflab.figures.demos._base import revealed

    x, y = np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.0, 10.0, 20.0, 0.0])
    xs, ys = revealed(x, y, 3.0)
    np.testing.assert_array_equal(xs, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ys, [0.0, 10.0, 20.0, 10.0])
    assert revealed(x, y, -1.0)[0].tolist() == [0.0]  # before the start: the first point alone
    assert revealed(x, y, 9.0)[0].tolist() == x.tolist()  # after the end: the whole curve


def test_staircase_shows_one_quantity_on_both_sides(rendered):
    """Both panels plot √d_i (targets √s_i), not d_i on one side and √d_i on the other."""
    from matplotlib.figure import Figure

    demo, data = demos.get("staircase"), rendered["staircase"].data
    fig = Figure(figsize=(8, 4), dpi=40)
    demo.setup(fig, (0.07, 0.14, 0.9, 0.72))
    demo.show(data)
    ends = [line.get_ydata()[-1] for key in ("gf", "sgf") for line in demo.curves[key]]
    roots = [np.sqrt(max(v, 0.0)) for key in ("gf", "sgf") for v in data[key].series["proxies"][-1]]
    np.testing.assert_allclose(ends, roots, rtol=1e-12)


# ----------------------------------------------------------------------------- interactive


def test_controller_drives_depth_demo_under_agg():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    ctl = demos.Controller(demos.get("depth"), fig, {"depth": 3})
    assert {r.depth for r in ctl.data["runs"]} == {2, 3}
    assert ctl.playing and ctl.u == 0.0
    ctl.tick()
    assert ctl.u == pytest.approx(1.0 / ctl.loop_frames)
    ctl.toggle()
    ctl.tick()
    assert not ctl.playing and ctl.u == pytest.approx(1.0 / ctl.loop_frames)
    ctl.toggle()
    ctl.time_slider.set_val(0.5)  # grabbing the cursor pauses
    assert not ctl.playing and ctl.u == 0.5
    ctl.set("depth", 5)
    ctl.set("alpha", 1e-4)
    assert ctl.values["depth"] == 5 and ctl.values["alpha"] == pytest.approx(1e-4)
    ctl.recompute()
    assert {r.depth for r in ctl.data["runs"]} == {2, 5}
    last = ctl.data["runs"][-1]
    assert last.offdiagonal[-1] == pytest.approx(
        CF.mimic_limit(ctl.values["n"], 5, 1e-4, ctl.values["m"]).offdiagonal, rel=1e-7
    )
    assert ctl.sliders["alpha"].valtext.get_text() == "0.0001"
    fig.canvas.draw()


def test_controller_choice_control():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    ctl = demos.Controller(demos.get("muon"), fig)
    ctl.set("init", "gaussian")
    assert ctl.values["init"] == "gaussian"


@pytest.mark.parametrize("bad", ["nan", "1.5", "99", "x"])
def test_bad_depth_is_refused(bad):
    p = {q.name: q for q in demos.get("depth").params}
    with pytest.raises(ValueError, match="depth"):
        p["depth"].parse(bad)


def test_param_parsing_and_ranges():
    d = demos.get("depth")
    p = {q.name: q for q in d.params}
    assert p["depth"].parse("4") == 4
    assert p["alpha"].from_slider(p["alpha"].to_slider(1e-3)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="init"):
        {q.name: q for q in demos.get("muon").params}["init"].parse("orthogonal")


# ----------------------------------------------------------------------------- command line


def test_cli_list(capsys):
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert [name for name in demos.DEMO_NAMES if name not in out] == []
    assert "alpha=0.001" in out


def test_cli_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--save staircase.gif" in out and "gflab demo --list" in out


def test_cli_without_display_exits_2(capsys, monkeypatch):
    monkeypatch.setattr(_runner, "_startup_env", lambda name: "Agg")
    assert main(["demo", "depth"]) == 2
    err = capsys.readouterr().err
    assert "--save" in err and "interactive" in err and err.count("\n") == 1


def test_display_problem_reasons(monkeypatch):
    assert "not an interactive backend" in _runner.display_problem("agg")
    monkeypatch.setattr(_runner.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in _runner.display_problem("tkagg")
    monkeypatch.setenv("DISPLAY", ":0")
    assert _runner.display_problem("tkagg") is None


def test_cli_mp4_without_ffmpeg(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(_runner, "ffmpeg_available", lambda: False)
    assert main(["demo", "depth", "--save", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert "--save" in err and "ffmpeg" in err and ".gif" in err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "nope"],
        ["demo"],
        ["demo", "depth", "--set", "alpha=7"],
        ["demo", "depth", "--set", "beta=1"],
        ["demo", "depth", "--save", "x.png"],
        ["demo", "depth", "--save", "x.gif", "--frames", "0"],
        ["demo", "depth", "--save", "x.gif", "--frames", "1000000000"],
        ["demo", "depth", "--save", "x.gif", "--fps", "0"],
        ["demo", "depth", "--save", "x.gif", "--dpi", "0"],
        ["demo", "depth", "--fps", "0"],
        ["demo", "depth", "--html", "x.html", "--save", "x.gif"],
    ],
)
def test_cli_bad_input_exits_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gflab demo: error:") and err.count("\n") == 1


def test_cli_save_gif_json(capsys, tmp_path):
    import json

    path = tmp_path / "d.gif"
    assert (
        main(
            [
                "demo",
                "depth",
                "--set",
                "depth=4",
                "--set",
                "n=3",
                "--save",
                str(path),
                "--frames",
                "2",
                "--dpi",
                "30",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 2 and summary["values"]["depth"] == 4
    assert math.isfinite(summary["mean_frame_seconds"])
    with Image.open(path) as im:
        assert im.n_frames == 2


def test_open_window_path_with_show_stubbed(monkeypatch):
    """The interactive entry point end to end, with plt.show replaced by one draw (no display)."""
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_runner, "_startup_env", lambda name: "agg")
    started = {}
    real_start = _runner.Controller.start

    def start(self):
        assert self.computing  # the window is up before the first computation has finished
        started["ctl"] = self
        return real_start(self)

    monkeypatch.setattr(_runner.Controller, "start", start)
    # plt.show: the GUI loop would poll the worker; here wait for it, then draw once
    monkeypatch.setattr(plt, "show", lambda: (started["ctl"].wait(60), plt.gcf().canvas.draw()))
    try:
        ctl = demos.open_window(demos.get("depth"), {"n": 3})
        assert ctl._play is not None and ctl.values["n"] == 3
        assert ctl.data["runs"][0].n == 3 and not ctl.banner.get_visible()
    finally:
        plt.close("all")
        plt.switch_backend("agg")


def test_open_window_without_any_backend(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_runner, "_startup_env", lambda name: None)
    monkeypatch.setattr(_runner, "INTERACTIVE_BACKENDS", ("no_such_backend",))
    try:
        with pytest.raises(ValueError, match="--save FILE.gif"):
            demos.open_window(demos.get("depth"))
    finally:
        plt.switch_backend("agg")


# ----------------------------------------------------------------------------- lecture-ready


@pytest.mark.parametrize("name", demos.DEMO_NAMES)
def test_blitted_playback_equals_a_full_redraw(rendered, name):
    """Playback redraws only the artists ``frame`` returns. Oracle: a full redraw of the same
    state. Move the cursor from u = 0.1 to 0.7 by blitting, then redraw everything at 0.7: an
    artist that ``frame`` changes but does not return would still show its u = 0.1 state in the
    blitted image (it sits in the background captured at 0.1), so the two must match exactly
    (Agg is deterministic and both draw in the same order)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rep = rendered[name]
    fig = Figure(figsize=(8, 6), dpi=50)
    canvas = FigureCanvasAgg(fig)
    ctl = demos.Controller(demos.get(name), fig, rep.values, compute_now=False)
    ctl._moving_cursor = True
    ctl.time_slider.set_val(0.1)
    ctl._apply(rep.data, 0.0)  # full draw at u = 0.1
    ctl.time_slider.set_val(0.7)  # blitted
    blitted = np.asarray(canvas.buffer_rgba()).copy()
    canvas.draw()
    full = np.asarray(canvas.buffer_rgba()).copy()
    assert ctl.u == 0.7 and len(ctl.frame_seconds) == 1
    assert np.array_equal(blitted, full)
    canvas.draw()  # and the frame did change something: the cursor moved between 0.1 and 0.7
    ctl.time_slider.set_val(0.1)
    assert not np.array_equal(np.asarray(canvas.buffer_rgba()), full)
    ctl.close()


class _GatedDepth(type(demos.get("depth"))):
    """The depth demo whose compute waits for a gate: a computation that is visibly in flight."""

    def __init__(self):
        import threading

        self.gate = threading.Event()
        self.computed: list[int] = []

    def compute(self, **values):
        assert self.gate.wait(60)
        self.computed.append(values["depth"])
        return super().compute(**values)


def test_controller_computes_in_a_worker_thread():
    from matplotlib.figure import Figure

    demo = _GatedDepth()
    fig = Figure(figsize=(8, 6))
    ctl = demos.Controller(demo, fig, {"depth": 3}, compute_now=False)
    ctl.request()  # returns at once: the GUI thread is free while the worker waits at the gate
    assert ctl.computing and ctl.banner.get_visible()
    assert "computing" in ctl.banner.get_text()
    assert ctl.poll() is False and ctl.data is None
    ctl.values["depth"] = 5  # the lecturer moves on before the first result
    ctl.request()
    demo.gate.set()
    ctl.wait(timeout=60)
    # depth 3 finished first but was superseded: only depth 5 is shown
    assert demo.computed == [3, 5] and len(ctl.compute_seconds) == 1
    assert {r.depth for r in ctl.data["runs"]} == {2, 5}
    assert ctl.data["runs"][-1].offdiagonal[-1] == pytest.approx(
        CF.mimic_limit(ctl.values["n"], 5, 1e-3, ctl.values["m"]).offdiagonal, rel=1e-7
    )
    assert not ctl.banner.get_visible() and not ctl.computing
    ctl.close()


def test_controller_reports_a_failed_compute_in_the_window():
    from matplotlib.figure import Figure

    demo = _GatedDepth()
    demo.gate.set()
    fig = Figure(figsize=(8, 6))
    ctl = demos.Controller(demo, fig, compute_now=False)
    ctl.demo = type("Broken", (), {"compute": lambda self, **v: 1 / 0, "params": demo.params})()
    ctl.request()
    ctl._future.exception(timeout=30)
    assert ctl.poll() is False
    assert ctl.banner.get_visible() and "could not compute" in ctl.banner.get_text()
    ctl.close()


def test_warm_covers_every_plasticity_depth(monkeypatch):
    import gflab.figures.demos.plasticity as P

    seen = []
    monkeypatch.setattr(P.PlasticityDemo, "compute", lambda self, **v: seen.append(v["depth"]))
    done = demos.warm(demos.get("plasticity"))
    assert seen == [2, 3, 4] and [d["values"]["depth"] for d in done] == [2, 3, 4]
    assert demos.get("staircase").warm_values() == [demos.get("staircase").defaults()]


def test_plasticity_demo_runs_the_sims_protocol(monkeypatch):
    """No second implementation: the demo's phases are sims.plasticity.simulate_plasticity's."""
    import gflab.figures.demos.plasticity as P
    import gflab.sims.plasticity as SP

    calls = []
    real = SP.simulate_plasticity

    def spy(cfg, run=None):
        calls.append(cfg)
        return real(cfg, run)

    monkeypatch.setattr(P, "simulate_plasticity", spy)
    runs = P.plasticity_runs(2, 1e-2, 3.0)
    assert len(calls) == 1 and calls[0].pretrain_mask == "diagonal" and calls[0].mask == "superdiag"
    lim = CF.mimic_limit(4, 2, 1e-2, 3.0)
    np.testing.assert_allclose(runs["phase1"].final["matrix"], lim.matrix(), atol=1e-6)


def test_default_gif_is_projector_resolution(tmp_path):
    rep = demos.render(demos.get("depth"), tmp_path / "d.gif", frames=1)
    with Image.open(rep.path) as im:
        assert im.size == (1920, 1080) == tuple(rep.size_px)


def test_presentation_text_is_projector_sized():
    from gflab.figures.demos._runner import PRESENT_DPI, PRESENT_FIGSIZE, demo_style

    px = demo_style(PRESENT_FIGSIZE)["font.size"] * PRESENT_DPI / 72
    # ≥ 24 px body text on a 1920 px wide frame (1/80 of the width: readable from the back)
    assert round(PRESENT_FIGSIZE[0] * PRESENT_DPI) == 1920 and px >= 23.9
    assert demo_style((11.0, 7.0))["font.size"] == pytest.approx(9.9)  # the window as before


def test_gif_frames_that_cannot_fit_are_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GFLAB_MAX_MEMORY", "64M")  # 100 frames of 1920x1080 RGBA need ~800 MiB
    assert main(["demo", "depth", "--save", str(tmp_path / "x.gif"), "--frames", "100"]) == 2
    err = capsys.readouterr().err
    assert "--frames" in err and "GFLAB_MAX_MEMORY" in err and err.count("\n") == 1
    assert not (tmp_path / "x.gif").exists()


def test_cli_warm_json(capsys):
    import json

    assert main(["demo", "depth", "--warm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["demo"] == "depth" and len(out["computed"]) == 1
