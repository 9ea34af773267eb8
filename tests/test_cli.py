"""`gflab simulate` in-process: the JSON contract and one-line errors with exit code 2.

Runs reuse the shapes of tests/test_sims.py (DMF depth 3, n = 4; LoRA 6×7 rank 3) so that the JIT
cache serves them when the files run together.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gflab.cli import main
from gflab.theory import closed_forms as CF


def _run(argv):
    """Exit code of ``gflab argv`` (argparse errors raise SystemExit; GflabInputError returns 2)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


FINAL_KEYS = {"matrix", "singular_values", "stable_rank", "effective_rank", "loss"}


def test_simulate_dmf_json(capsys):
    code = _run(
        [
            "simulate",
            "dmf",
            "--depth",
            "3",
            "--n",
            "4",
            "--init",
            "mimic",
            "--m",
            "3",
            "--alpha",
            "1e-2",
            "--mask",
            "diagonal",
            "--target",
            "ones",
            "--until-converged",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    doc = json.loads(out.out)
    assert {"config", "times", "singular_values", "final", "status", "stats"} <= set(doc)
    assert FINAL_KEYS <= set(doc["final"])
    assert doc["status"] == "converged" and doc["config"]["model"] == "dmf"
    assert doc["config"]["m"] == 3.0 and doc["config"]["t1"] is None
    assert len(doc["times"]) == len(doc["singular_values"]) and len(doc["singular_values"][0]) == 4
    lim = CF.mimic_limit(4, 3, 1e-2, 3.0)
    # same tolerance as tests/test_sims.py::test_dmf_limit_matches_closed_form
    np.testing.assert_allclose(doc["final"]["matrix"], lim.matrix(), atol=1e-6)
    assert doc["final"]["stable_rank"] == pytest.approx(lim.stable_rank, rel=1e-5)
    assert doc["stats"]["solver"] == "tsit5-rkc2+pid" and doc["stats"]["steps"] > 0


# the 6×7, rank-3 LoRA problem with targets s = 1, 4, 9 the simulate-lora tests share
LORA_ARGV = [
    "simulate",
    "lora",
    "--rows",
    "6",
    "--cols",
    "7",
    "--rank",
    "3",
    "--target-svals",
    "1,4,9",
]


def test_simulate_lora_json(capsys):
    code = _run([*LORA_ARGV, "--flow", "gf", "--gamma", "1e-2", "--t1", "8", "--json"])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    doc = json.loads(out.out)
    assert {"config", "times", "singular_values", "proxies", "final", "status", "stats"} <= set(doc)
    assert FINAL_KEYS <= set(doc["final"])
    assert doc["status"] in ("converged", "t1_reached")
    assert np.shape(doc["proxies"]) == (len(doc["times"]), 3)
    # the proxies are d_i = u_iᵀ(AB)v_i, so their last row equals the final proxies
    np.testing.assert_allclose(doc["proxies"][-1], doc["final"]["proxies"], rtol=1e-9)
    # gradient flow from a generic small init converges to the best rank-3 approximation: s_i;
    # by t = 8 the slowest mode (s = 1, ~ln(1/p0)/2 ≈ 4.6 to arrive) is within 1 % of its target
    np.testing.assert_allclose(doc["final"]["singular_values"], [9.0, 4.0, 1.0], rtol=1e-2)


def test_simulate_lora_defaults_are_recorded(capsys):
    """SpecGF with the adaptive solver and no --beta/--t1: β = 1e-6 and t1 = 2.5√max(s) + 2 are
    filled in and recorded in the config (the run is reproducible from its JSON alone)."""
    code = _run([*LORA_ARGV, "--gamma", "1e-3", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["status"] == "converged"
    assert doc["config"]["beta"] == 1e-6 and doc["config"]["t1"] == 2.5 * 3.0 + 2.0
    assert doc["config"]["flow"] == "specgf" and doc["config"]["method"]["name"] == "adaptive"
    np.testing.assert_allclose(doc["final"]["singular_values"], [9.0, 4.0, 1.0], atol=1e-6)


def test_simulate_lora_discrete_json(capsys):
    argv = ["--flow", "specgf", "--gamma", "1e-3", "--method", "specgd:0.01", "--steps", "800"]
    code = _run([*LORA_ARGV, *argv, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["time_unit"] == "k" and doc["stats"]["solver"] == "specgd"
    assert doc["times"][-1] == 800 and doc["config"]["beta"] is None


def test_human_readable_summary(capsys):
    assert _run(["simulate", "dmf", "--depth", "3", "--n", "4", "--m", "3", "--alpha", "1e-2"]) == 0
    out = capsys.readouterr().out
    assert "status     converged" in out and "stable rank" in out


BAD = [
    (["dmf", "--depth", "1", "--n", "4"], "depth"),
    (["dmf", "--depth", "3", "--n", "4", "--alpha", "nan"], "--alpha"),
    (["dmf", "--depth", "3", "--n", "4", "--alpha", "inf"], "alpha"),
    (["dmf", "--depth", "3", "--n", "4", "--alpha", "-1e-3"], "alpha"),
    (["dmf", "--depth", "3", "--n", "4", "--m", "-inf"], "m"),
    (["lora", "--gamma", "-.5e-2"], "gamma"),
    (["dmf", "--depth", "3", "--n", "4", "--m", "1"], "m"),
    (["dmf", "--depth", "3", "--n", "4", "--mask", "stripes"], "mask"),
    (["dmf", "--depth", "3", "--n", "4", "--mask", "block:3"], "blocks"),
    (["dmf", "--depth", "3", "--n", "4", "--mask", "bernoulli:1.5"], "p"),
    (["dmf", "--depth", "3", "--n", "4", "--target", "lowrank:9"], "target"),
    (["dmf", "--depth", "3", "--n", "4", "--init", "zeros"], "init"),
    (["dmf", "--depth", "3", "--n", "4", "--method", "gd:0.1"], "steps"),
    (["dmf", "--depth", "3", "--n", "4", "--method", "gd:0.1", "--steps", "10", "--t1", "5"], "t1"),
    (["dmf", "--depth", "3", "--n", "4", "--steps", "10"], "steps"),
    (["dmf", "--depth", "3", "--n", "4", "--normalisation", "max"], "normalisation"),
    (["lora", "--flow", "specgf", "--beta", "0", "--t1", "4"], "beta"),
    (["lora", "--gamma", "-1"], "gamma"),
    (["lora", "--rows", "3", "--cols", "7", "--rank", "5"], "rank"),
    (["lora", "--rank", "3", "--target-svals", "1,1,2"], "target_svals"),
    (["lora", "--rank", "2", "--target-svals", "1,-2"], "target_svals"),
    (["lora", "--method", "specgd:0.01", "--t1", "4"], "t1"),
    (["lora", "--flow", "gf", "--method", "gd:0.01", "--t1", "4"], "t1"),
    (["lora", "--flow", "gf", "--method", "muon:0.01", "--steps", "4"], "flow"),
    (["lora", "--method", "euler:0", "--t1", "1"], "method"),
    (["lora", "--method", "rk4", "--t1", "1"], "method"),
    (["lora", "--l2", "-0.5", "--t1", "1"], "l2"),
    (["lora", "--momentum", "1.0", "--method", "muon:0.01", "--steps", "5"], "momentum"),
]


@pytest.mark.parametrize(("argv", "parameter"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2(capsys, argv, parameter):
    code = _run(["simulate", *argv])
    out = capsys.readouterr()
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert "Traceback" not in out.err and out.out == ""
    assert lines[0].startswith("gflab simulate")
    # the message names the offending parameter first ("<name>: expected ...") or as argparse does
    assert f"error: {parameter}: expected" in lines[0] or f"argument {parameter}" in lines[0], (
        lines[0]
    )


@pytest.mark.parametrize(
    ("argv", "parameter"),
    [
        (["dmf", "--depth", "3", "--n", "100000"], "n"),
        (["dmf", "--depth", "1000000", "--n", "4"], "depth"),
        (["dmf", "--depth", "3", "--n", "4", "--n-save", "1000000000"], "n_save"),
        (
            ["dmf", "--depth", "3", "--n", "4", "--method", "gd:0.1", "--steps", "1000000000000"],
            "steps",
        ),
        (["lora", "--rows", "100000000", "--cols", "100000", "--rank", "1"], "rows"),
        (["lora", "--flow", "gf", "--beta", "0.1", "--t1", "1"], "beta"),
        (
            ["lora", "--method", "gd:0.1", "--flow", "gf", "--steps", "3", "--momentum", "0.5"],
            "momentum",
        ),
        (
            [
                "dmf",
                "--depth",
                "3",
                "--n",
                "4",
                "--method",
                "gd:0.1",
                "--steps",
                "3",
                "--rtol",
                "1e-3",
            ],
            "rtol",
        ),
    ],
)
def test_sizes_and_foreign_flags_are_refused_at_once(argv, parameter, capsys):
    """Sizes that cannot fit (sims.limits) and flags the chosen model/method does not have are
    refused before anything is allocated or compiled: one line, exit 2, naming the parameter."""
    import time

    t0 = time.perf_counter()
    code = _run(["simulate", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"error: {parameter}:" in err, err
    assert time.perf_counter() - t0 < 1.0  # validation only: no allocation, no compile


def test_version_is_the_package_metadata_of_pyproject(capsys):
    """``gflab --version`` prints the one literal, pyproject.toml's, through the metadata."""
    import tomllib
    from importlib import metadata

    pyproject = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    )
    assert _run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gflab {metadata.version('gflab')}"
    assert metadata.version("gflab") == pyproject["project"]["version"]


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`gflab ... --json | head -c 100`: the reader goes away mid-output; gflab stops with the
    shell's closed-pipe status and prints no traceback."""
    import subprocess
    import sys

    cmd = (
        f"{sys.executable} -m gflab simulate lora --rows 6 --cols 7 --rank 2 --target-svals 1,4 "
        "--flow gf --t1 1 --n-save 400 --json | head -c 100"
    )
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=tmp_path
    )
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr
    assert len(out.stdout) == 100 and out.returncode == 141
