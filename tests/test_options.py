"""Every documented option works for every documented value, and bad values are refused up front.

Each CLI case runs ``gflab.cli.main`` in-process; the oracle is either an independent computation
(another integrator of the same flow) or the contract for bad input: exit code 2 and one line
naming the parameter, before anything the size of the input is allocated.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from shared_cases import gflab_in_process

from gflab.sims import methods as M
from gflab.sims.schema import command_args, config_from_args

# each solver compiles for 2-6 s on a shared CPU: the default suite runs the default solver (the
# Tsit5 → RKC2 hybrid) and one other against Tsit5
FAST_SOLVERS = ("tsit5-rkc2", "dopri5")


_run = gflab_in_process


def _one_line(argv) -> str:
    """The single error line of a refused command (asserting exit 2, one line, no traceback)."""
    code, out, err = _run(argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert (code, len(lines)) == (2, 1), (argv, code, out, err)
    assert "Traceback" not in err
    return lines[0]


def _solver_params(fast=FAST_SOLVERS):
    return [s if s in fast else pytest.param(s, marks=pytest.mark.slow) for s in sorted(M.SOLVERS)]


@pytest.mark.parametrize("model", ["dmf", "lora", "dmf-plasticity", "dmf-dash"])
@pytest.mark.parametrize("solver", sorted(M.SOLVERS))
def test_solver_flag_reaches_the_method_and_the_reproducing_command(model, solver):
    """``--solver S`` builds a config whose adaptive method uses S, and the command written for
    that config parses back to the same config (the same store key)."""
    base = {"dmf": {"depth": 2, "n": 3, "t1": 2.0}, "lora": {"t1": 2.0}}.get(
        model, {"depth": 2, "n": 3}
    )
    cfg = config_from_args(model, {**base, "solver": solver})
    assert cfg.method.solver == solver
    args = command_args(cfg)
    # the command spells the solver unless it is the default
    assert (solver == M.Adaptive().solver) == ("--solver" not in args)


def _final_singular_values(argv: list[str], solver: str) -> tuple[list, list]:
    """Final singular values of ``gflab ARGV --solver SOLVER`` and of ``gflab ARGV --solver
    tsit5``, asserting both ran and the first used SOLVER."""
    code, out, _ = _run(argv + ["--solver", solver])
    ref_code, ref_out, _ = _run(argv + ["--solver", "tsit5"])
    assert (code, ref_code) == (0, 0)
    got, ref = json.loads(out), json.loads(ref_out)
    assert got["stats"]["solver"] == f"{solver}+pid"
    return got["final"]["singular_values"], ref["final"]["singular_values"]


@pytest.mark.parametrize("solver", _solver_params())
def test_simulate_dmf_solver_agrees_with_tsit5(solver):
    """Every ``--solver`` value integrates the same flow: the final singular values match Tsit5's.

    Both run at the default rtol 1e-9 (atol 1e-14). The local tolerance does not bound the global
    error; the second-order RKC2 was measured 2.2e-6 relative from Tsit5 here, so 1e-5 relative
    leaves a margin of 4 while a wrong field (errors of order one) would fail."""
    argv = ["simulate", "dmf", "--depth", "2", "--n", "3", "--t1", "2", "--n-save", "4", "--json"]
    sv, ref_sv = _final_singular_values(argv, solver)
    np.testing.assert_allclose(sv, ref_sv, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("solver", _solver_params(fast=()))
def test_simulate_lora_solver_agrees_with_tsit5(solver):
    """``simulate lora --solver``: as for dmf (rtol 1e-8, atol 1e-12 by default: the O(1) final
    singular values agree to 1e-4, a wrong field to order one)."""
    argv = ["simulate", "lora", "--rows", "4", "--cols", "5", "--rank", "2"]
    argv += ["--target-svals", "1,4", "--t1", "2", "--n-save", "4", "--json"]
    sv, ref_sv = _final_singular_values(argv, solver)
    np.testing.assert_allclose(sv, ref_sv, rtol=1e-4, atol=1e-8)


def test_solver_with_a_fixed_step_method_is_refused():
    line = _one_line(
        ["simulate", "lora", "--method", "euler:0.1", "--t1", "1", "--solver", "bosh3"]
    )
    assert line.startswith("gflab simulate: error: solver:") and "euler" in line


# ----------------------------------------------------------------------------- sizes and budgets

# the issue's allocation-before-check and runaway commands: each refused at once, naming the
# parameter, with less than 64 MiB allocated by Python and NumPy (tracemalloc sees both)
BUDGET_CASES = [
    (
        ["simulate", "river", "--steps", "1000000000000"],
        "steps: expected a value whose run fits in memory",
    ),
    (["simulate", "river", "--steps", "100000000"], "steps: expected a value whose run fits"),
    (["simulate", "river", "--rows", "100000", "--cols", "100000"], "rows: expected an integer in"),
    (["simulate", "river", "--steps", "40", "--rows", "1000000"], "rows: expected an integer in"),
    (
        ["simulate", "river", "--steps", "2000000"],
        "steps: expected a value whose run fits the time",
    ),
    (["bridge", "dmf", "--depth", "1000000"], "depth: expected an integer in [2, 256]"),
    (["bridge", "warmstart", "--width", "1000000000"], "width: expected a value whose run fits"),
    (["bridge", "warmstart", "--kinds", "warm,warm"], "kinds: expected distinct values"),
    (["bridge", "warmstart", "--seeds", "0,0"], "seeds: expected distinct"),
]


@pytest.mark.parametrize(
    ("argv", "start"), BUDGET_CASES, ids=[" ".join(a) for a, _ in BUDGET_CASES]
)
def test_sizes_are_refused_before_allocation(argv, start, monkeypatch):
    import tracemalloc

    monkeypatch.setenv("GFLAB_MAX_MEMORY", "4G")  # the budget does not depend on the machine
    tracemalloc.start()
    try:
        line = _one_line(argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert line.split("error: ", 1)[1].startswith(start), line
    assert peak < 64 * 2**20


def test_lora_aligned_target_with_a_million_rows_allocates_no_identity():
    """The aligned LoRA target of a 10⁶×7 problem (the issue's 7.28 TiB ``np.eye(rows)``) needs
    its own 56 MB and two thin bases, no more: the columns are the coordinate vectors."""
    import tracemalloc

    from gflab.theory.lora import spectral_target

    tracemalloc.start()
    try:
        Y, U, V = spectral_target(10**6, 7, [1.0, 4.0], None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert Y[0, 0] == 1.0 and Y[1, 1] == 4.0 and U.shape == (10**6, 2)
    assert peak < 3 * 8 * 7 * 10**6  # Y plus the product's temporaries, far below rows²


def _npy(tmp_path, kind):
    p = tmp_path / f"{kind}.npy"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "strings":
        np.save(p, np.array([["a", "b"], ["c", "d"]]))
    elif kind == "complex":
        np.save(p, np.eye(2) * 1j)
    elif kind == "npz":
        with open(p, "wb") as f:
            np.savez(f, x=np.eye(2))
    elif kind == "fifo":
        import os

        os.mkfifo(p)
    elif kind == "devzero":
        p.symlink_to("/dev/zero")
    elif kind == "folder":
        p.mkdir()
    elif kind == "huge-sparse":
        with open(p, "wb") as f:
            f.truncate(2**33)
    return str(p)


@pytest.mark.parametrize(
    "kind", ["empty", "strings", "complex", "npz", "fifo", "devzero", "folder", "huge-sparse"]
)
@pytest.mark.parametrize("flag", ["--mask-file", "--target-file"])
def test_bad_npy_files_are_one_line(kind, flag, tmp_path):
    line = _one_line(
        ["simulate", "dmf", "--depth", "2", "--n", "2", "--t1", "1", flag, _npy(tmp_path, kind)]
    )
    assert line.startswith(f"gflab simulate: error: {flag[2:].replace('-', '_')}: expected"), line


# ----------------------------------------------------------------------------- results are numbers


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--h-bulk", "1e308"), ("--h-wall", "1e-320"), ("--noise", "1e308"), ("--lr", "1e300")],
)
def test_river_values_that_overflow_float64_are_refused(flag, value):
    line = _one_line(["simulate", "river", "--steps", "40", flag, value])
    assert line.startswith(
        f"gflab simulate: error: {flag[2:].replace('-', '_')}: expected a number"
    )


def test_river_run_that_overflows_is_diverged_and_not_stored(tmp_path, monkeypatch):
    """GD with lr_gd·h_wall = 1e6 multiplies the wall distance by |1 − 1e6| per step: past
    308/6 ≈ 52 steps it overflows float64. 64 steps must end ``diverged`` (exit 1, nothing
    stored); 16 steps stay finite (1e96) and are stored."""
    from gflab.sims.river import RiverConfig
    from gflab.sims.store import ResultStore

    monkeypatch.setenv("GFLAB_STORE", str(tmp_path))
    code, out, _ = _run(["simulate", "river", "--steps", "64", "--lr-gd", "1e6", "--json"])
    doc = json.loads(out)
    assert (code, doc["status"], doc["store"]) == (1, "diverged", "diverged")
    assert ResultStore(tmp_path).read(RiverConfig(steps=64, lr_gd=1e6)).state == "missing"
    code, out, _ = _run(["simulate", "river", "--steps", "16", "--lr-gd", "1e6", "--json"])
    assert (code, json.loads(out)["status"]) == (0, "finished")
    assert ResultStore(tmp_path).read(RiverConfig(steps=16, lr_gd=1e6)).state == "ok"


# ----------------------------------------------------------------------------- contradictions

SPEC_STEP_TWICE = (
    'model = "dmf"\n[base]\ndepth = 2\nn = 2\nmethod = "gd:0.1"\nsteps = 5\nlr = 0.2\n'
)

# the smallest problems of the two models whose contradictions are checked
DASH = ["simulate", "dmf-dash", "--depth", "2", "--n", "4"]
DMF = ["simulate", "dmf", "--depth", "2", "--n", "3"]

CONTRADICTIONS = [
    (
        [*DASH, "--intervention", "none", "--floor", "0.5"],
        "floor: expected no --floor with --intervention none",
    ),
    (
        [*DASH, "--intervention", "reset", "--noise-std", "0.1"],
        "noise_std: expected no --noise-std",
    ),
    (
        [*DASH, "--intervention", "dash", "--intervention-seed", "3"],
        "intervention_seed: expected no",
    ),
    (
        [*DMF, "--stop-loss", "1e-3", "--converge-tol", "1e-5"],
        "converge_tol: expected no --converge-tol with --stop-loss",
    ),
    (
        [*DMF, "--method", "gd:0.1", "--steps", "5", "--grid", "log"],
        "grid: expected no --grid with the discrete --method gd",
    ),
    (
        ["bridge", "lora", "--optimizer", "adamw", "--momentum", "0.5"],
        "momentum: expected no --momentum with --optimizer adamw",
    ),
    (
        ["bridge", "lora", "--optimizer", "sf-adamw", "--no-nesterov"],
        "no_nesterov: expected no --no-nesterov",
    ),
    (
        ["bridge", "lora", "--optimizer", "adamw", "--adjust-lr-fn", "original"],
        "adjust_lr_fn: expected no",
    ),
    (
        ["bridge", "lora", "--store", "x", "--no-store"],
        "argument --no-store: not allowed with argument --store",
    ),
    (
        ["figures", "--store", "x", "--no-store"],
        "argument --no-store: not allowed with argument --store",
    ),
    (["check", "--list", "--claim", "NOSUCH"], "claim: expected one of"),
    (["check", "--claim", "DMC-1", "--claim", "DMC-1"], "claim: expected distinct claim ids"),
    (["check", "--profile", ""], "profile: expected one of ci, dev, thorough, got ''"),
    (
        ["sweep", "SPEC", "--executor", "dask-local:2", "--timeout", "5"],
        "timeout: expected no --timeout with --executor dask-local:2",
    ),
    (["sweep", "SPEC"], "base.lr: expected one step: either in method 'gd:0.1' or as lr"),
]


@pytest.mark.parametrize(
    ("argv", "start"), CONTRADICTIONS, ids=[" ".join(a) for a, _ in CONTRADICTIONS]
)
def test_contradictory_options_are_refused_naming_both(argv, start, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC_STEP_TWICE)
    line = _one_line([str(spec) if a == "SPEC" else a for a in argv])
    assert line.split("error: ", 1)[1].startswith(start), line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GFLAB_PROGRESS_INTERVAL", "junk"),
        ("GFLAB_PROGRESS_INTERVAL", "-1"),
        ("GFLAB_XLA_THREADS", "junk"),
        ("GFLAB_XLA_FUSION_EMITTERS", "yes"),
        ("GFLAB_DASK_WORKER_TIMEOUT", "junk"),
        ("GFLAB_DASK_WORKER_TIMEOUT", "0"),
        ("GFLAB_MAX_MEMORY", "lots"),
        ("GFLAB_MAX_SECONDS", "nan"),
        ("GFLAB_PROFILE", "fast"),
    ],
)
def test_junk_environment_values_are_one_line(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    line = _one_line(["results", "--store", "/nonexistent/gflab-test"])
    assert line.startswith(f"gflab results: error: {name}: expected"), line
    code, out, _ = _run(["simulate", "dmf", "--json"])
    assert code == 2 and json.loads(out)["error"]["parameter"] == name


# ----------------------------------------------------------------------------- fail early


@pytest.mark.parametrize(("flag", "name"), [("--save", "x.gif"), ("--html", "x.html")])
def test_missing_parent_folders_are_not_created(tmp_path, flag, name):
    line = _one_line(["demo", "depth", flag, str(tmp_path / "not" / "here" / name)])
    assert f"error: {flag[2:]}: expected a file in an existing folder" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "parameter"),
    [
        (["demo", "depth", "--save", "OUT/x.gif"], "save"),
        (["demo", "depth", "--html", "OUT/x.html"], "html"),
        (["figures", "--fast", "--out", "OUT/figs", "--no-store"], "out"),
        (["sweep", "SPEC", "--store", "OUT/store"], "store"),
    ],
)
def test_a_full_disk_is_refused_before_the_work(argv, parameter, tmp_path, monkeypatch):
    """``statvfs`` reporting 4 KiB free (a full disk, emulated): each command refuses before its
    first progress line or computation, naming the output and the estimate."""
    import os

    spec = tmp_path / "spec.toml"
    spec.write_text('model = "dmf"\n[base]\ndepth = 2\nn = 2\nt1 = 1.0\n')
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda p: _Full(real(p)))
    args = [str(spec) if a == "SPEC" else a.replace("OUT", str(tmp_path)) for a in argv]
    line = _one_line(args)
    assert f"error: {parameter}: expected a location with" in line and "free" in line


class _Full:
    """A ``statvfs`` result with one free 4 KiB block."""

    def __init__(self, st):
        self.f_frsize, self.f_bavail = 4096, 1


def test_dask_logs_are_silenced_during_a_dask_sweep():
    """A lost scheduler made dask's client log a 31-line CancelledError traceback next to gflab's
    one-line error: while a sweep runs on dask its loggers (children with their own level too)
    emit nothing, and they are restored after a normal end."""
    import logging

    from gflab.sims.sweep._executors import _quiet_dask_logs

    child = logging.getLogger("distributed.client")
    child.setLevel(logging.WARNING)  # as dask's logging config does
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    child.addHandler(handler)
    try:
        with _quiet_dask_logs():
            child.error("Traceback (most recent call last): ...")
        silenced = stream.getvalue()
        child.error("after")
    finally:
        child.removeHandler(handler)
    assert (silenced, stream.getvalue(), child.level) == ("", "after\n", logging.WARNING)
