"""What a person sees (issue 14 item 5): progress with rate and ETA, ``--help``, error messages.

Progress: :class:`gflab.cli._progress.Reporter` is driven by a fake clock, so which lines appear
is decided by counts and seconds, never by how fast the machine is. The command-line checks run a
real (tiny) sweep in-process, where stderr is pytest's capture (not a terminal): with
``GFLAB_PROGRESS_INTERVAL=0`` every finished point prints a plain line, and ``--json``/``--quiet``
must keep stdout parseable and stderr empty. Messages: bad values typed as integers must come back
as integers, and no NumPy repr (``np.float64(1.0)``) may reach a user.
"""

from __future__ import annotations

import argparse
import io
import json
import re

import numpy as np
import pytest
from shared_cases import toy_claim

from gflab.cli import _parsers, build_parser, main
from gflab.cli._progress import Reporter, progress
from gflab.proofs_checks.registry import Evidence
from gflab.proofs_checks.runner import run_claim
from gflab.sims.progress import notify
from gflab.theory._validate import positive_int
from gflab.theory.errors import GflabInputError

RATE = re.compile(r"(\d+\.\d+\s*(point|example|run|it)/s|\d+\.\d+s/(point|example|run|it))")


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# ----------------------------------------------------------------------------- the reporter


def test_plain_lines_every_interval_and_every_tenth():
    clock, out = _Clock(), _Stream(False)
    rep = Reporter("sweep", "point", stream=out, interval=10.0, clock=clock)
    for k in range(1, 101):  # 100 points, 0.5 s each: 50 s in all
        clock.t = 0.5 * k
        rep(k, 100, {"failed": 0})
    rep.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    counts = [int(re.match(r"sweep: (\d+)/100 ", ln).group(1)) for ln in lines]
    # a tenth is crossed every 5 s (> the 1 s gap): one line per tenth, the last one at 100/100
    assert counts == list(range(10, 101, 10))
    assert all(RATE.search(ln) and "failed 0" in ln for ln in lines)
    assert "2.00point/s" in lines[0] and "<00:45" in lines[0]  # rate and ETA: 90 left at 2/s


def test_plain_lines_without_a_total_every_interval():
    clock, out = _Clock(), _Stream(False)
    rep = Reporter("fig", "run", stream=out, interval=10.0, clock=clock)
    rep(0, None)  # the unit starts at t = 0
    for k in range(1, 8):  # a run every 4 s, total unknown: lines at 12 s, 24 s, and the end
        clock.t = 4.0 * k
        rep(k, None)
    rep.close()
    lines = out.getvalue().splitlines()
    assert [ln.split(" run finished")[0] for ln in lines] == ["fig: 3", "fig: 6", "fig: 7"]
    assert all("s/run" in ln for ln in lines)  # 4 s per run


def test_a_new_unit_ends_the_last_one_and_a_fast_unit_prints_once():
    clock, out = _Clock(), _Stream(False)
    rep = Reporter(stream=out, clock=clock, interval=10.0)
    for k in range(1, 4):
        clock.t += 0.01
        rep(k, 3, {"unit": "A", "item": "example"})
    clock.t += 0.01
    rep(1, 2, {"unit": "B", "item": "example"})
    rep.close()
    assert [ln.split(" [")[0] for ln in out.getvalue().splitlines()] == ["A: 3/3", "B: 1/2"]


def test_resumed_points_do_not_count_in_the_rate():
    clock, out = _Clock(), _Stream(False)
    rep = Reporter("sweep", "point", stream=out, clock=clock)
    rep(90, 100)  # 90 stored points skipped at once
    clock.t = 20.0
    rep(100, 100)
    rep.close()
    assert "2.00s/point" in out.getvalue()  # 10 fresh points in 20 s, not 100 in 20 s


def test_terminal_bar_and_quiet():
    tty = _Stream(True)
    with Reporter("demo", "frame", stream=tty) as rep:
        for k in range(4):
            rep(k, 3 if k < 4 else None, {"loss": np.float64(0.25)})
    text = tty.getvalue()
    assert text.startswith("\rdemo:") and "3/3" in text and text.endswith("\n")
    assert "loss 0.25" in text and "np." not in text
    quiet = _Stream(True)
    with Reporter("x", stream=quiet, quiet=True) as rep:
        rep(1, 2, {})
    assert quiet.getvalue() == ""


def test_progress_wrapper_yields_everything_and_reports():
    """A bar redrawn with \r on a terminal, one plain line elsewhere, nothing when quiet."""
    pipe = _Stream(False)  # a pipe or a log: plain lines (here the final one), never \r redraws
    assert list(progress(range(3), desc="x", stream=pipe)) == [0, 1, 2]
    assert pipe.getvalue().startswith("x: 3/3 [") and "\r" not in pipe.getvalue()
    quiet = _Stream(True)
    assert list(progress(range(3), quiet=True, stream=quiet)) == [0, 1, 2]
    assert quiet.getvalue() == ""
    tty = _Stream(True)
    assert list(progress(iter(range(3)), total=3, desc="demo", stream=tty)) == [0, 1, 2]
    text = tty.getvalue()
    assert text.startswith("\rdemo:") and "3/3" in text and text.endswith("\n")
    unknown = _Stream(True)
    assert list(progress(iter("ab"), stream=unknown)) == ["a", "b"]
    assert unknown.getvalue().endswith("\n")


# ----------------------------------------------------------------------------- the units


def test_claim_reports_each_example_and_its_verdict():
    from hypothesis import strategies as st

    claim = toy_claim(
        lambda: st.integers(0, 100), lambda x: Evidence(1.0 + x, {"x": x}), examples=5, id="T-1"
    )
    calls = []
    rep = run_claim(claim, "ci", progress=lambda d, t, info: calls.append((d, t, dict(info))))
    assert rep.verdict == "held" and rep.examples == len(calls) - 2
    assert [c[0] for c in calls[:-1]] == list(range(rep.examples + 1))  # 0: the start
    assert all(c[1] is None or c[0] < c[1] for c in calls[:-1])  # finished only at the verdict
    assert all(c[2]["unit"] == "T-1" and c[2]["item"] == "example" for c in calls)
    assert calls[-1][0] == calls[-1][1] == rep.examples and calls[-1][2]["verdict"] == "held"
    assert calls[-1][2]["worst margin"] == rep.worst_margin


def test_figure_runs_count_against_the_prefetched_total():
    from gflab.figures.registry import FigureContext

    calls = []
    ctx = FigureContext(progress=lambda d, t, info: calls.append((d, t)), label="f (1/1)")
    ctx.prefetch(["a", "b", "c"])  # no store: nothing computed ahead, the total is announced
    assert [ctx.run(c, str.upper) for c in "abc"] == ["A", "B", "C"]
    ctx.run("d", str.upper)  # one more than announced: the total follows
    assert calls == [(0, 3), (1, 3), (2, 3), (3, None), (4, None)]  # render ends the unit


def test_notify_is_a_no_op_without_a_hook():
    notify(None, 1, 2, unit="x")  # must not raise
    got = []
    notify(lambda d, t, info: got.append((d, t, info)), 1, 2, unit="x")
    assert got == [(1, 2, {"unit": "x"})]


# ----------------------------------------------------------------------------- the commands

SPEC = """model = "dmf"
seeds = [0]
[base]
n = 2
depth = 2
init = "mimic"
m = 3.0
mask = "diagonal"
n_save = 8
[grid]
alpha = [0.01, 0.02, 0.05, 0.1]
"""


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("GFLAB_PROGRESS_INTERVAL", "0")  # a line per point: no timing involved
    path = tmp_path / "s.toml"
    path.write_text(SPEC)
    return path


def test_sweep_off_a_terminal_prints_lines_with_rate(spec, tmp_path, capsys):
    assert main(["sweep", str(spec), "--store", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.startswith("sweep: ")]
    counts = [ln.split(" [")[0] for ln in lines]  # a slow point may repeat its line (heartbeat)
    assert list(dict.fromkeys(counts)) == [f"sweep: {k}/4" for k in range(5)]
    assert all(RATE.search(ln) for ln in lines if not ln.startswith("sweep: 0/4"))  # no rate yet
    assert "\r" not in err
    assert "done 4" in lines[-1] and "done" in out  # the table still goes to stdout


def test_sweep_json_stdout_parses_and_stderr_is_empty(spec, tmp_path, capsys):
    assert main(["sweep", str(spec), "--store", str(tmp_path / "b"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["done"] == 4 and err == ""


def test_sweep_quiet_prints_nothing_on_stderr(spec, tmp_path, capsys):
    assert main(["sweep", str(spec), "--store", str(tmp_path / "c"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- --help

SKIP = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def _options():
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            if not isinstance(action, SKIP) and action.option_strings:
                yield parser, action


def test_every_option_has_help_and_shows_its_default():
    missing, no_default = [], []
    for parser, action in _options():
        name = f"{parser.prog} {action.option_strings[-1]}"
        if not action.help:
            missing.append(name)
        text = parser.formatter_class(parser.prog)._get_help_string(action) % {
            "default": action.default
        }
        shown = action.default not in (None, False, (), [], argparse.SUPPRESS)  # SUPPRESS: unset
        if shown and "default" not in text.lower():
            no_default.append(name)
    assert not missing, missing
    assert not no_default, no_default


@pytest.mark.parametrize(
    "argv, option, default",
    [
        (["simulate", "lora"], "--rank", "5"),
        (["simulate", "lora"], "--rtol", "1e-08"),
        (["bridge", "lora"], "--rank", "8"),
        (["bridge", "dmf"], "--steps", "2000"),
        (["sweep"], "--executor", "local:1"),
    ],
)
def test_help_text_names_defaults_and_keeps_example_lines(argv, option, default, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    text = capsys.readouterr().out
    block = text.split("\n  " + option, 1)[1].split("\n  --", 1)[0]
    assert "default" in block and default in block, block
    examples = text.split("examples:", 1)[1].splitlines()[1:]
    assert examples[0].startswith("  gflab ") and examples[1].startswith("  gflab ")


# ----------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    "argv, parameter, shown",
    [
        (["simulate", "lora", "--target-svals", "1,1,2,3,4"], "target_svals", "[1, 1, 2, 3, 4]"),
        (["simulate", "lora", "--target-svals", "0,1,2,3,4"], "target_svals", "[0, 1, 2, 3, 4]"),
        (["simulate", "lora", "--gamma", "-1"], "gamma", "got -1"),
        (["simulate", "dmf", "--depth", "3", "--n", "4", "--m", "1"], "m", "got 1"),
        (["simulate", "lora", "--rows", "5", "--cols", "5", "--rank", "9"], "rank", "got 9"),
    ],
)
def test_bad_values_one_line_without_numpy_reprs(argv, parameter, shown, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"{parameter}: expected" in err and shown in err, err
    assert "np." not in err and not re.search(r"\b\d+\.0\b", err), err
    assert main([*argv, "--json"]) == 2
    msg = json.loads(capsys.readouterr().out)["error"]["message"]
    assert "np." not in msg and shown in msg


def test_messages_of_numpy_values():
    with pytest.raises(GflabInputError) as e:
        positive_int("depth", np.float64(9.0))
    assert str(e.value) == "depth: expected an integer >= 1, got 9.0 (a float)"  # not hidden
    err = GflabInputError("alpha", "x", [np.float64(1.0), np.int64(2), np.float32(0.5), 1e-6])
    assert str(err) == "alpha: expected x, got [1, 2, 0.5, 1e-06]"
    assert (
        str(GflabInputError("grid", "x", {"m": np.float64(3.0)}))
        == "grid: expected x, got {'m': 3}"
    )


def test_a_real_pseudo_terminal_gets_a_live_bar(tmp_path):
    """Through a pty (no size set, as in some CI runners): redrawn in place, counts and rate."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "bar.py"
    script.write_text(
        "from gflab.cli._progress import Reporter\n"
        "with Reporter(item='example') as rep:\n"
        "    for k in range(6):\n"
        "        rep(k, 5, {'unit': 'DMC-1', 'worst margin': 0.5})\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    leader, follower = pty.openpty()  # not pty.fork: this process may run threads (JAX)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "PYTHONPATH": root},
    )
    os.close(follower)
    buf = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        buf += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, buf.decode()
    text = buf.decode()
    final = text.replace("\r\n", "\n").split("\n")[0].split("\r")[-1]
    assert text.count("\r") >= 2  # redrawn in place
    assert final.startswith("DMC-1: 100%|") and "5/5" in final and "worst margin 0.5" in final
    assert RATE.search(final)


def test_a_finished_unit_prints_its_line_at_once():
    clock, out = _Clock(), _Stream(False)
    rep = Reporter(stream=out, clock=clock, interval=10.0)
    rep(0, None, {"unit": "fig A", "item": "run"})
    clock.t = 2.0
    rep(3, 3, {"unit": "fig A", "item": "run", "seconds": 2})
    assert out.getvalue().startswith("fig A: 3/3 [00:02<")  # now, not when the next unit starts
    clock.t = 90.0
    rep(1, 2, {"unit": "fig B", "item": "run"})
    rep.close()
    assert len(out.getvalue().splitlines()) == 2


def test_a_long_unit_is_never_silent():
    """Off a terminal, a unit with nothing new to count repeats its line (elapsed time moving)
    once HEARTBEAT seconds passed without one, and not before; a count of unknown total reads as
    what is finished and for how long it has run, not as a bare 0."""
    from gflab.cli._progress import HEARTBEAT

    clock, out = _Clock(), _Stream(False)
    rep = Reporter(stream=out, clock=clock, interval=10.0, heartbeat=None)
    rep(0, None, {"unit": "sweep_phase_diagram (13/18)", "item": "run"})
    clock.t = HEARTBEAT - 1
    rep.beat()
    assert out.getvalue() == ""
    clock.t = HEARTBEAT + 1
    rep.beat()
    clock.t = HEARTBEAT + 5
    rep.beat()  # 4 s after the last line: nothing
    lines = out.getvalue().splitlines()
    assert lines == ["sweep_phase_diagram (13/18): 0 run finished, running for 00:21"]
    clock.t = 2 * HEARTBEAT + 2
    rep.beat()
    assert out.getvalue().splitlines()[-1].endswith("running for 00:42")
    rep.close()


def test_the_heartbeat_thread_speaks_within_its_period():
    """With the real clock and a short heartbeat, the thread prints without any call."""
    import time

    out = _Stream(False)
    rep = Reporter(stream=out, interval=10.0, heartbeat=0.2)
    rep(0, None, {"unit": "solve", "item": "run"})
    deadline = time.monotonic() + 10
    while "solve: 0 run finished" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    rep.close()
    assert "solve: 0 run finished" in out.getvalue()
