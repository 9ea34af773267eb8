"""Every documented option works for every documented value, and bad values are refused up front.

Each CLI case runs ``gflab.cli.main`` in-process; the oracle is either an independent computation
(another integrator of the same flow) or the contract for bad input: exit code 2 and one line
naming the parameter, before anything the size of the input is allocated.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from gflab.cli import main
from sims import methods as M
from sims.schema import command_args, config_from_args

# each solver compiles for 2-6 s on a shared CPU: the default suite runs one besides Tsit5
FAST_SOLVERS = ("tsit5", "dopri5")


def _run(argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gflab argv`` in-process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


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
    assert (solver == "tsit5") == ("--solver" not in args)


@pytest.mark.parametrize("solver", _solver_params())
def test_simulate_dmf_solver_agrees_with_tsit5(solver):
    """Every ``--solver`` value integrates the same flow: the final singular values match Tsit5's.

    Both run at the default rtol 1e-9 (atol 1e-14). The local tolerance does not bound the global
    error; the second-order RKC2 was measured 2.2e-6 relative from Tsit5 here, so 1e-5 relative
    leaves a margin of 4 while a wrong field (errors of order one) would fail."""
    argv = ["simulate", "dmf", "--depth", "2", "--n", "3", "--t1", "2", "--n-save", "4", "--json"]
    code, out, _ = _run(argv + ["--solver", solver])
    ref_code, ref_out, _ = _run(argv)
    assert (code, ref_code) == (0, 0)
    got, ref = json.loads(out), json.loads(ref_out)
    assert got["stats"]["solver"] == f"{solver}+pid"
    sv, ref_sv = got["final"]["singular_values"], ref["final"]["singular_values"]
    np.testing.assert_allclose(sv, ref_sv, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("solver", _solver_params(fast=()))
def test_simulate_lora_solver_agrees_with_tsit5(solver):
    """``simulate lora --solver``: as for dmf (rtol 1e-8, atol 1e-12 by default: the O(1) final
    singular values agree to 1e-4, a wrong field to order one)."""
    argv = ["simulate", "lora", "--rows", "4", "--cols", "5", "--rank", "2"]
    argv += ["--target-svals", "1,4", "--t1", "2", "--n-save", "4", "--json"]
    code, out, _ = _run(argv + ["--solver", solver])
    ref_code, ref_out, _ = _run(argv)
    assert (code, ref_code) == (0, 0)
    got, ref = json.loads(out), json.loads(ref_out)
    assert got["stats"]["solver"] == f"{solver}+pid"
    sv, ref_sv = got["final"]["singular_values"], ref["final"]["singular_values"]
    np.testing.assert_allclose(sv, ref_sv, rtol=1e-4, atol=1e-8)


def test_solver_with_a_fixed_step_method_is_refused():
    line = _one_line(
        ["simulate", "lora", "--method", "euler:0.1", "--t1", "1", "--solver", "bosh3"]
    )
    assert line.startswith("gflab simulate: error: solver:") and "euler" in line
