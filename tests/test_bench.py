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


def _case(report, name: str) -> dict:
    """The report's one case called ``name``."""
    (c,) = [c for c in report[1]["cases"] if c["name"] == name]
    return c


def _named(*prefixes: str) -> list[str]:
    """The cases whose names start with one of ``prefixes``."""
    return [name for name in CASES if name.startswith(prefixes)]


def test_exit_code_and_cases(report):
    code, rep = report
    assert code == 0
    assert [c["name"] for c in rep["cases"]] == list(CASES)


@pytest.mark.parametrize("name", CASES)
def test_case_has_every_key_and_positive_timings(report, name):
    c = _case(report, name)
    assert [k for k in KEYS if k not in c] == []
    assert isinstance(c["baseline"], str) and c["baseline"]
    timings = {k: c[k] for k in ("gflab_seconds", "baseline_seconds", "speedup")}
    bad = {k: v for k, v in timings.items() if not (isinstance(v, float) and math.isfinite(v))}
    assert bad == {} and min(timings.values()) > 0, timings


@pytest.mark.parametrize("name", _named("flow_single", "flow_default", "flow_batch", "lora_single"))
def test_flows_agree_with_scipy(report, name):
    c = _case(report, name)
    # the flow must have left its O(alpha) start, or agreement would be trivial
    assert c["product_scale"] > 0.5
    assert c["max_abs_diff"] <= c["agreement_tolerance"], c
    assert c["agreement_tolerance"] == pytest.approx(100 * c["rtol"] * max(1.0, c["product_scale"]))


@pytest.mark.parametrize("name", _named("flow_single", "lora_single"))
def test_single_solves_match_dop853(report, name):
    c = _case(report, name)
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


@pytest.mark.parametrize("name", _named("authors_protocol"))
def test_authors_protocol(report, name):
    c = _case(report, name)
    assert c["gflab_status"] == "converged" and c["gd_converged"], c
    assert c["gd_loss"] < c["loss_tol"]
    # the flow stops AT the crossing loss = tol, located by the event's Newton root-find
    # (rtol 1e-12 in t): the loss there is tol up to rounding (measured 3.6e-15 relative
    # above), while a flow stopped a step late would be ≥ 1e-3 relative off
    assert c["flow_loss"] <= c["loss_tol"] * (1 + 1e-10)
    # GD with lr 0.2 on Σ_Ω R²/n² follows the flow of that loss: its stopping step and
    # the flow's stopping time in GD steps agree within 20 % (measured: 0.3 % at n = 20)
    assert c["flow_time_in_gd_steps"] == pytest.approx(c["gd_steps"], rel=0.2)


def test_compilation_accounting(report):
    _, rep = report
    comp = rep["compilation"]
    assert comp["eqx_on_error"] == "nan"
    assert comp["hits"] + comp["misses"] <= comp["requests"] <= comp["backend_compiles"]
    assert comp["compiled"] == comp["backend_compiles"] - comp["hits"] >= 0


@pytest.mark.parametrize("name", _named("flow_vs_gd"))
def test_flow_and_gd_reach_the_target_mse(report, name):
    c = _case(report, name)
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
    assert [name for name in CASES if name not in text] == []
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


# ----------------------------------------------------------------------------- cold cases
# Oracles: the persistent-cache folder itself (JAX writes one ``<key>-cache`` file per program
# it compiled, so the files the test counts must be the programs the probe saw missing), the
# processes' own rusage, and processes built to compile the same program twice.


@pytest.mark.parametrize(
    ("only", "cold", "sections", "shown", "hidden", "cold_cases"),
    [
        ((), False, "all", "flow_batch_vmap", None, ()),
        (
            (),
            True,
            "all",
            "compile",
            None,
            ("check_ci", "check_jobs2", "dmc_claims_cold", "figures_cold"),
        ),
        (("flow_single_hybrid",), False, ("flow_single",), "flow_single_hybrid", "flow_single", ()),
        (("flow_single",), False, ("flow_single",), "flow_single", "lora_single", ()),
        (("flow_default_t200",), False, ("flow_default",), "flow_default_t200", "flow_single", ()),
        (
            ("flow_batch_vmap", "check_ci"),
            False,
            ("flow_batch",),
            "flow_batch_vmap",
            "flow_batch_loop",
            ("check_ci",),
        ),
        (("figures_cold",), False, (), None, "flow_single", ("figures_cold",)),
        (
            ("compile", "flow_single_hybrid"),
            True,
            ("flow_single", "compile"),
            "compile",
            "flow_single",
            ("check_ci", "check_jobs2", "dmc_claims_cold", "figures_cold"),
        ),
    ],
)
def test_only_selects_sections_cases_and_cold_cases(
    only, cold, sections, shown, hidden, cold_cases
):
    from gflab.cli.bench import DEFAULT_SECTIONS, plan

    secs, keep, colds = plan(only, cold)
    assert secs == (DEFAULT_SECTIONS if sections == "all" else sections)
    assert colds == cold_cases
    if shown is not None:
        assert keep(shown)
    if hidden is not None and sections != "all":
        assert not keep(hidden)


@pytest.fixture(scope="module")
def cold_check(tmp_path_factory):
    """``gflab bench --only check_ci --quick --json`` (one claim cold, then warm), its caches
    kept in a folder the tests read."""
    work = tmp_path_factory.mktemp("cold")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["bench", "--only", "check_ci", "--quick", "--json", "--work", str(work)])
    return code, json.loads(buf.getvalue()), work


def test_cold_check_fields(cold_check):
    code, rep, _ = cold_check
    assert code == 0 and rep["cases"] == []
    (case,) = rep["cold"]
    assert (case["name"], case["kind"], case["status"], case["problems"]) == (
        "check_ci",
        "cold",
        "ok",
        [],
    )
    assert [r["label"] for r in case["runs"]] == ["cold", "warm"]
    types = {
        "wall_seconds": float,
        "cpu_seconds": float,
        "programs_compiled": int,
        "cache_files": int,
        "cache_hits": int,
        "compiled_by_several": int,
        "processes": int,
        "cpu_share": dict,
        "trace": dict,
    }
    got = {(r["label"], k): type(r[k]) for r in case["runs"] for k in types}
    assert got == {(r["label"], k): t for r in case["runs"] for k, t in types.items()}
    assert all(r["claims"] == {"held": 1} for r in case["runs"])


def test_cold_check_counts_match_the_cache_folder(cold_check):
    _, rep, work = cold_check
    cold, warm = rep["cold"][0]["runs"]
    # the test's own count: JAX's persistent cache holds one file per program compiled (gflab
    # caches every program, whatever its compile time), named after the key the probe logs
    files = sorted(
        p.name.removesuffix("-cache")
        for p in (work / "check_ci" / "jax").iterdir()
        if p.name.endswith("-cache")
    )
    keys = {
        json.loads(line)["key"]
        for f in (work / "check_ci" / "probe-cold").glob("*.jsonl")
        for line in f.read_text().splitlines()
        if '"e": "miss"' in line
    }
    assert files and sorted(keys) == files
    assert cold["programs_compiled"] == cold["cache_files"] == len(files)
    # warm: nothing compiled, every look-up a hit (saved executables may skip some), the folder
    # unchanged
    assert (warm["programs_compiled"], warm["cache_misses"], warm["cache_files"]) == (
        0,
        0,
        len(files),
    )
    assert warm["cache_hits"] > 0
    assert (cold["processes"], warm["processes"]) == (1, 1)


def test_cold_check_cpu_is_the_processes_own(cold_check):
    """The CPU seconds from ``os.wait4`` against the process's own rusage at its last ``atexit``
    handler (the probe's last line): never less, and more only by the shut-down that follows
    (Python's and XLA's teardown: measured 0.7 s for these runs of 5-11 CPU s under load, up to
    3.8 s, 4-9 %, for full ``check --profile ci`` runs), allowed 2 s."""
    _, rep, work = cold_check
    gaps, shares = {}, {}
    for run in rep["cold"][0]["runs"]:
        (f,) = (work / "check_ci" / f"probe-{run['label']}").glob("*.jsonl")
        ex = [json.loads(x) for x in f.read_text().splitlines() if '"e": "exit"' in x][-1]
        gaps[run["label"]] = run["cpu_seconds"] - (ex["user"] + ex["sys"])
        shares[run["label"]] = run["cpu_share"]
    assert all(0 <= g <= 2.0 for g in gaps.values()), gaps
    assert all(0 <= v <= 1 for sh in shares.values() for v in sh.values()), shares


_TWICE = """
import os, subprocess, sys
if len(sys.argv) > 1:  # a child: compile one program; cache it only if it took argv[1] s or more
    import jax
    jax.config.update("jax_compilation_cache_dir", os.environ["CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(sys.argv[1]))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.jit(lambda x: x * 3.0 + 1.0)(2.0)
else:
    for t in os.environ["MIN_SECONDS"].split(","):
        subprocess.run([sys.executable, "-P", __file__, t], check=True)
"""


@pytest.mark.parametrize(("min_seconds", "several"), [("1e9,0", 1), ("0,0", 0)])
def test_probe_counts_programs_compiled_in_two_processes(tmp_path, min_seconds, several):
    """Two processes compile the same program in turn, sharing one cache folder: when the first
    does not write it to the cache, the second compiles it again (the case a figure must never
    show); when it does, the second loads it."""
    from gflab.cli.bench import load_benchmarks

    load_benchmarks()  # puts the checkout holding benchmarks/ on sys.path
    from benchmarks.cold import cold_env, probe_summary, run_command

    script = tmp_path / "twice.py"
    script.write_text(_TWICE)
    env = cold_env(tmp_path / "w", {"MIN_SECONDS": min_seconds, "CACHE": str(tmp_path / "c")})
    rec = run_command([str(script)], env, tmp_path / "probe", cwd=tmp_path)
    assert rec["status"] == "ok", rec["stderr_tail"]
    assert rec["processes"] == 3 and rec["jax_processes"] == 2
    assert rec["compiled_by_several"] == several
    assert rec["duplicated"] == (["jit__lambda"] if several else [])
    assert (rec["cache_misses"], rec["cache_hits"]) == (1 + several, 1 - several)
    assert probe_summary(tmp_path / "probe")["programs_compiled"] == 1


@pytest.mark.slow
def test_figures_cold_fast_counts(tmp_path):
    """The three figures cold in their --fast form, each with two workers: the programs counted
    are the cache folder's files, and the case's status is "fail" exactly when a program was
    compiled by more than one process (the goal is none; whether it holds is the bench's
    verdict, docs/performance.md)."""
    from gflab.cli.bench import load_benchmarks

    load_benchmarks()
    from benchmarks.cold import FIGURES

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(
            ["bench", "--only", "figures_cold", "--quick", "--json", "--work", str(tmp_path)]
        )
    (case,) = json.loads(buf.getvalue())["cold"]
    runs = {r["label"]: r for r in case["runs"]}
    assert sorted(runs) == sorted(FIGURES)
    files = {n: len(list((tmp_path / "figures_cold" / n / "jax").glob("*-cache"))) for n in runs}
    assert {n: (r["programs_compiled"], r["cache_files"]) for n, r in runs.items()} == {
        n: (f, f) for n, f in files.items()
    }
    assert all(r["status"] == "ok" for r in runs.values()), case["problems"]
    several = sum(r["compiled_by_several"] for r in runs.values())
    assert (case["status"], code) == (("fail", 1) if several else ("ok", 0)), case["problems"]
    assert (several > 0) == any("more than one process" in p for p in case["problems"])
