"""Smoke test of ``gflab bench --quick --json`` (run in-process through ``gflab.cli.main``).

The oracles are agreement of end states: gflab's Tsit5 and Tsit5 → RKC2 solves and SciPy's RK45
solve of the same field must reach the same product (tolerance
:func:`benchmarks.bench.agreement_tolerance`, 100·rtol·max(1, max|W|), see its docstring), and each
single solve's end state must be that close to SciPy DOP853 at rtol 1e-11; GD and the flow of
the same loss stop at the same loss; JAX's compile events add up. Speeds are reported, never
asserted.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from gflab.cli import main
from gflab.cli.bench import format_table

CASES = (
    "flow_single",
    "flow_single_hybrid",
    "flow_default_t60",
    "lora_single",
    "lora_single_hybrid",
    "flow_batch_vmap",
    "flow_batch_loop",
    "flow_batch_hybrid_loop",
    "flow_vs_gd_jit",
    "flow_vs_gd_numpy",
    "flow_vs_gd_hybrid",
    "authors_protocol_tsit5",
    "authors_protocol_hybrid",
    "compile",
)
KEYS = ("name", "gflab_seconds", "baseline", "baseline_seconds", "speedup")


@pytest.fixture(scope="module")
def report():
    # run the (compile-heavy) bench once for the module; JSON goes to stdout, progress to stderr
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["bench", "--quick", "--json", "--repeats", "1"])
    return code, json.loads(buf.getvalue())


def test_exit_code_and_cases(report):
    code, rep = report
    assert code == 0
    assert [c["name"] for c in rep["cases"]] == list(CASES)
    for c in rep["cases"]:
        for k in KEYS:
            assert k in c, (c["name"], k)
        assert isinstance(c["baseline"], str) and c["baseline"]
        for k in ("gflab_seconds", "baseline_seconds", "speedup"):
            v = c[k]
            assert isinstance(v, float) and math.isfinite(v) and v > 0, (c["name"], k, v)


def test_flows_agree_with_scipy(report):
    _, rep = report
    for c in rep["cases"]:
        if not c["name"].startswith(("flow_single", "flow_default", "flow_batch", "lora_single")):
            continue
        # the flow must have left its O(alpha) start, or agreement would be trivial
        assert c["product_scale"] > 0.5
        assert c["max_abs_diff"] <= c["agreement_tolerance"], c
        assert c["agreement_tolerance"] == pytest.approx(
            100 * c["rtol"] * max(1.0, c["product_scale"])
        )


def test_single_solves_match_dop853(report):
    _, rep = report
    singles = [c for c in rep["cases"] if c["name"].startswith(("flow_single", "lora_single"))]
    assert len(singles) == 4
    for c in singles:
        assert c["gflab_status"] == "t1_reached"
        # the reference is 4 orders tighter than any solver here: each error is that solver's own
        tol = 100 * c["rtol"] * max(1.0, c["product_scale"])
        assert c["gflab_end_error"] <= tol, c
        assert c["baseline_end_error"] <= tol, c
        assert c["gflab_field_evals"] > 0 and c["baseline_field_evals"] > 0


def test_default_path_is_the_default_method_and_matches_dop853(report):
    """flow_default times what `gflab simulate dmf` runs with no method option: the default
    solver at the DMF defaults (rtol 1e-9, atol 1e-14); both end errors are resolved by the
    DOP853 reference at rtol 1e-13 and within 100·rtol·max(1, max|W|) (as for the single solves)."""
    from gflab.sims.config import DMFConfig
    from gflab.sims.methods import Adaptive

    _, rep = report
    (c,) = [c for c in rep["cases"] if c["name"].startswith("flow_default")]
    assert c["solver"] == Adaptive().solver
    assert (c["rtol"], c["atol"]) == (
        DMFConfig.ADAPTIVE_DEFAULTS["rtol"],
        DMFConfig.ADAPTIVE_DEFAULTS["atol"],
    )
    assert c["gflab_status"] == "t1_reached"
    tol = 100 * c["rtol"] * max(1.0, c["product_scale"])
    assert 0 < c["gflab_end_error"] <= tol and 0 < c["baseline_end_error"] <= tol, c


def test_authors_protocol(report):
    _, rep = report
    for c in rep["cases"]:
        if c["name"].startswith("authors_protocol"):
            assert c["gflab_status"] == "converged" and c["gd_converged"], c
            assert c["flow_loss"] < c["loss_tol"] and c["gd_loss"] < c["loss_tol"]
            # GD with lr 0.2 on Σ_Ω R²/n² follows the flow of that loss: its stopping step and
            # the flow's stopping time in GD steps agree within 20 % (measured: 0.3 % at n = 20)
            assert c["flow_time_in_gd_steps"] == pytest.approx(c["gd_steps"], rel=0.2)


def test_compilation_accounting(report):
    _, rep = report
    comp = rep["compilation"]
    assert comp["eqx_on_error"] == "nan"
    assert comp["hits"] + comp["misses"] <= comp["requests"] <= comp["backend_compiles"]
    assert comp["compiled"] == comp["backend_compiles"] - comp["hits"] >= 0


def test_flow_and_gd_reach_the_target_mse(report):
    _, rep = report
    for c in rep["cases"]:
        if c["name"].startswith("flow_vs_gd"):
            assert c["gflab_status"] == "converged"
            assert c["gd_converged"]
            assert c["flow_mse"] < c["mse_tol"] and c["gd_mse"] < c["mse_tol"]
            # the papers' GD and the time-rescaled flow: flow time / lr ≈ GD steps (within 20%)
            assert c["flow_time_in_gd_steps"] == pytest.approx(c["gd_steps"], rel=0.2)


def test_no_recompile(report):
    _, rep = report
    (c,) = [c for c in rep["cases"] if c["name"] == "compile"]
    assert c["recompiled"] == "no"
    assert c["second_call_traces"] == 0
    # the counter behind "no" sees traces at all: a first call of a shape traced and compiled
    assert all(p["traces"] > 0 and p["xla_compiles"] > 0 for p in c["per_shape"]), c["per_shape"]


@pytest.mark.parametrize("as_json", [False, True])
def test_without_the_checkout_is_bad_input(monkeypatch, tmp_path, capsys, as_json):
    # the benchmarks live in the source checkout (benchmarks/), not in the installed package: a
    # gflab whose files have no benchmarks/ beside them says so in one line, exit 2
    import gflab.cli.bench as cli_bench

    monkeypatch.setattr(cli_bench, "__file__", str(tmp_path / "gflab" / "cli" / "bench.py"))
    code = main(["bench", "--quick"] + (["--json"] if as_json else []))
    out, err = capsys.readouterr()
    assert code == 2
    if as_json:
        e = json.loads(out)["error"]
        assert e["parameter"] == "benchmarks" and "checkout" in e["allowed"], e
    else:
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith("gflab bench: error: benchmarks:") and "pip install -e ." in err


def test_table(report):
    _, rep = report
    text = format_table(rep)
    for name in CASES:
        assert name in text
    assert "recompiled: no" in text


def test_only_runs_the_sections_named(report):
    """`--only lora_single` runs that section's cases and no other (the same names as in the full
    quick run), and says so in its setup."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["bench", "--quick", "--json", "--repeats", "1", "--only", "lora_single"])
    rep = json.loads(buf.getvalue())
    names = [c["name"] for c in rep["cases"]]
    assert code == 0 and names and all(n.startswith("lora_single") for n in names)
    assert names == [c["name"] for c in report[1]["cases"] if c["name"].startswith("lora_single")]
    assert rep["setup"]["only"] == ["lora_single"]


@pytest.mark.parametrize("bad", ["lora", "lora_single,lora_single", ""])
def test_only_refuses_unknown_or_repeated_sections(bad, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--quick", "--only", bad])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "--only" in err[-1]
