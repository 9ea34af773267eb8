"""Sweeps (issue 7): spec expansion, resume, failures, corruption, pool and dask executors, kills.

Oracle: the exact limit of diagonal completion from mimic(α, m) (theory.closed_forms.mimic_limit).
Tolerance 1e-6 relative on the stable rank: Tsit5 at rtol 1e-9 run to relative loss 1e-16 lands
within ~5e-8 of it (measured); 1e-6 leaves room without hiding an O(α) error. Results of the same
config on different executors are compared at 1e-9 relative: the same compiled code runs, only the
XLA threading of reductions may differ (a few ulps per step), which moves the tiny singular values
of a near-rank-one limit by up to the solver's absolute accuracy (≈ 1e-9·‖W‖₂): those are compared
at 1e-8·‖W‖₂ absolute.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gflab.cli import main
from gflab.sims.config import DMFConfig
from gflab.sims.store import ResultStore
from gflab.sims.sweep import (
    SweepInterrupted,
    parse_executor,
    run_sweep,
    spec_from_dict,
    sweep_record,
)
from gflab.theory import closed_forms as CF
from gflab.theory.errors import GflabInputError

ROOT = Path(__file__).resolve().parent.parent
# the fault runners (tests/sweep_faults.py) must import in subprocesses and dask workers too
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "tests"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)
SPEC = {
    "model": "dmf",
    "base": {"n": 2, "init": "mimic", "m": 3.0, "mask": "diagonal", "n_save": 8},
    "grid": {"depth": [2, 3], "alpha": [1e-2, 1e-1]},
}


def _toml(d: dict) -> str:
    lines = [f"model = {json.dumps(d['model'])}"]
    if "seeds" in d:
        lines.append(f"seeds = {json.dumps(d['seeds'])}")
    if "runner" in d:
        lines.append(f"runner = {json.dumps(d['runner'])}")
    for table in ("base", "grid"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in d.get(table, {}).items()]
    return "\n".join(lines) + "\n"


def _values(store: ResultStore, configs) -> dict:
    out = {}
    for c in configs:
        assert store.status(c) == "ok", c
        r = store.get(c)
        out[store.key(c)] = (r.status, np.asarray(r.final["singular_values"]), np.asarray(r.times))
    return out


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k][0] == b[k][0]
        # tiny singular values of a near-rank-one limit are only fixed to the solver's absolute
        # accuracy, ~rtol·‖W‖₂, and separate processes may round differently: compare at that
        np.testing.assert_allclose(a[k][1], b[k][1], rtol=1e-9, atol=1e-8 * np.max(np.abs(a[k][1])))
        np.testing.assert_allclose(a[k][2], b[k][2], rtol=1e-9, atol=1e-15)


# ----------------------------------------------------------------------------- spec


def test_spec_expands_grid_list_and_seeds_in_order():
    spec = spec_from_dict(
        {
            **SPEC,
            "seeds": [4, 5],
            "grid": {"depth": [2, 3], "alpha": {"logspace": [-3, -1, 3]}},
            "list": [{"m": 3.0}, {"m": 5.0}],
        }
    )
    cfgs = spec.configs()
    assert len(cfgs) == 2 * 3 * 2 * 2
    first = cfgs[0]
    assert (first.depth, first.alpha, first.m, first.seed) == (2, 1e-3, 3.0, 4)
    assert [c.seed for c in cfgs[:4]] == [4, 5, 4, 5]
    assert [c.m for c in cfgs[:4]] == [3.0, 3.0, 5.0, 5.0]
    assert math.isclose(cfgs[4].alpha, 1e-2, rel_tol=1e-12)
    assert all(isinstance(c, DMFConfig) and c.n == 2 for c in cfgs)


@pytest.mark.parametrize(
    ("spec", "parameter"),
    [
        ({**SPEC, "model": "cnn"}, "model"),
        ({**SPEC, "colour": 1}, "spec"),
        ({**SPEC, "grid": {"depht": [2]}}, "grid.depht"),
        ({**SPEC, "grid": {"depth": []}}, "grid.depth"),
        ({**SPEC, "grid": {"depth": [1]}}, "depth"),
        ({**SPEC, "grid": {"depth": [2], "alpha": [float("nan")]}}, "alpha"),
        ({**SPEC, "grid": {"alpha": [0.1]}}, "depth"),
        ({**SPEC, "grid": {"alpha": {"logspace": [-3, 1]}}}, "grid.alpha"),
        ({**SPEC, "seeds": [-1]}, "seeds"),
        ({**SPEC, "seeds": [1], "grid": {"seed": [1, 2]}}, "seeds"),
        ({**SPEC, "runner": "nocolon"}, "runner"),
        ({**SPEC, "base": {**SPEC["base"], "mask": "bernoulli:2"}}, "p"),
    ],
)
def test_bad_specs_name_the_parameter(spec, parameter):
    with pytest.raises(GflabInputError) as e:
        spec_from_dict(spec)
    assert e.value.parameter == parameter


@pytest.mark.parametrize(
    "text",
    [
        "local:0",
        "local:x",
        "dask-local",
        "dask://",
        "dask://h:0",
        "dask://h:99999",
        "ray:2",
        "local:1:2",
        "local:٣",
    ],
)
def test_bad_executors(text):
    with pytest.raises(GflabInputError) as e:
        parse_executor(text)
    assert e.value.parameter == "executor"


def test_executors_parse():
    assert parse_executor("local:3") == ("local", 3)
    assert parse_executor("dask-local:2") == ("dask-local", 2)
    assert parse_executor("dask://127.0.0.1:8786") == ("dask", "tcp://127.0.0.1:8786")


# ----------------------------------------------------------------------------- method hyper-parameters

# one tiny problem; its method's hyper-parameters (rtol, lr) are the sweep's axes
_BASE = {"n": 2, "depth": 2, "init": "mimic", "m": 3.0, "alpha": 0.1, "n_save": 8}


def _direct(store: ResultStore, c, direct_cfg) -> None:
    """The stored sweep result of ``c`` is the result of ``direct_cfg`` built and run without the
    sweep: same key, and the same compiled solve in this process gives the same numbers (1e-12
    relative leaves room only for summation order)."""
    from gflab.sims import simulate_dmf

    assert store.key(direct_cfg) == store.key(c)
    direct = simulate_dmf(direct_cfg)
    got = store.get(c)
    assert got.status == direct.status
    assert got.stats["steps"] == direct.stats["steps"]
    np.testing.assert_allclose(
        got.final["singular_values"], direct.final["singular_values"], rtol=1e-12
    )


def test_sweep_over_rtol_matches_direct_adaptive_runs(tmp_path):
    """grid.rtol is the adaptive method's tolerance: the two points have different keys, each
    equals a direct run of DMFConfig(method=Adaptive(rtol)), and the loose one takes fewer steps
    (the tolerance reached the controller)."""
    from gflab.sims.methods import Adaptive

    rtols = [1e-10, 1e-5]
    configs = spec_from_dict(
        {"model": "dmf", "base": {**_BASE, "t1": 50.0}, "grid": {"rtol": rtols}}
    ).configs()
    store = ResultStore(tmp_path)
    s = run_sweep(configs, store)
    assert (s.done, s.failed) == (2, 0)
    assert len({store.key(c) for c in configs}) == 2
    for rtol, c in zip(rtols, configs, strict=True):
        _direct(store, c, DMFConfig(**_BASE, t1=50.0, method=Adaptive(rtol=rtol, atol=1e-14)))
    tight, loose = (store.get(c).stats["steps"] for c in configs)
    assert loose < tight, (loose, tight)


def test_sweep_over_lr_matches_direct_gd_runs(tmp_path):
    """grid.lr with a bare ``method = "gd"``: each point is DMFConfig(method=GD(lr=LR))."""
    from gflab.sims.methods import GD

    lrs = [0.05, 0.2]
    base = {**_BASE, "method": "gd", "steps": 40}
    configs = spec_from_dict({"model": "dmf", "base": base, "grid": {"lr": lrs}}).configs()
    store = ResultStore(tmp_path)
    assert run_sweep(configs, store).done == 2
    assert len({store.key(c) for c in configs}) == 2
    for lr, c in zip(lrs, configs, strict=True):
        _direct(store, c, DMFConfig(**{**base, "method": GD(lr=lr)}))


@pytest.mark.parametrize(
    ("spec", "parameter"),
    [
        (
            {"base": {**_BASE, "method": "gd:0.1", "steps": 5}, "grid": {"rtol": [1e-6]}},
            "grid.rtol",
        ),
        ({"base": _BASE, "grid": {"lr": [0.1]}}, "grid.lr"),
        ({"base": _BASE, "grid": {"momentum": [0.5]}}, "grid.momentum"),
        (
            {"base": {**_BASE, "method": "gd:0.1", "steps": 5}, "list": [{"atol": 1e-9}]},
            "list.atol",
        ),
        ({"base": {**_BASE, "method": "gd", "steps": 5}}, "base.lr"),
    ],
)
def test_a_hyper_parameter_the_method_lacks_is_one_line_exit_2(tmp_path, capsys, spec, parameter):
    p = tmp_path / "s.toml"
    lines = ['model = "dmf"']
    for table in ("base", "grid"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in spec.get(table, {}).items()]
    for point in spec.get("list", []):
        lines.append("[[list]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in point.items()]
    p.write_text("\n".join(lines) + "\n")
    assert main(["sweep", str(p), "--dry-run", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["parameter"] == parameter
    assert main(["sweep", str(p), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f" {parameter}: expected " in err and len(err.strip().splitlines()) == 1, err


def test_large_grid_over_rtol_counts_stored_entries_by_the_method(tmp_path):
    """Above FULL_CHECK the stored entries are matched against the axes, rtol inside the method
    included: the sweep's first point is counted, the same config at an rtol off the grid not."""
    from gflab.sims.sweep import FULL_CHECK, count_stored

    spec = spec_from_dict(
        {
            "model": "dmf",
            "base": {**_BASE, "t1": 5.0},
            "grid": {"alpha": {"logspace": [-3, -1, 150]}, "rtol": {"logspace": [-9, -6, 150]}},
        }
    )
    assert spec.size > FULL_CHECK
    store = ResultStore(tmp_path)
    off_grid = spec.first_config().replace(
        method=dataclasses.replace(spec.first_config().method, rtol=1e-4)
    )
    run_sweep([spec.first_config(), off_grid], store)
    assert [store.status(c) for c in (spec.first_config(), off_grid)] == ["ok", "ok"]
    assert count_stored(spec, store) == 1


# ----------------------------------------------------------------------------- serial sweeps


def _assert_closed_form_limits(store, configs) -> None:
    """Every config's stored run converged to the stable rank of its mimic limit
    (docs/theory.md §2.1) within 1e-6 relative."""
    runs = [store.get(c) for c in configs]
    assert [r.status for r in runs] == ["converged"] * len(configs)
    exact = [CF.mimic_limit(c.n, c.depth, c.alpha, c.m).stable_rank for c in configs]
    got = [r.final["stable_rank"] for r in runs]
    assert got == pytest.approx(exact, rel=1e-6)


def test_serial_sweep_matches_closed_form_resumes_and_records_failures(tmp_path):
    spec = spec_from_dict(
        {**SPEC, "seeds": [0, 13], "runner": "sweep_faults:fail_on_seed"}, allow_import=True
    )
    configs = spec.configs()
    store = ResultStore(tmp_path)
    s = run_sweep(configs, store, "local:1", runner=spec.runner)
    assert (s.total, s.done, s.skipped, s.failed) == (8, 4, 0, 4)
    assert s.statuses == {"converged": 4}
    failed = [c for c in configs if c.seed == 13]
    assert [store.status(c) for c in failed] == ["missing"] * 4
    _assert_closed_form_limits(store, [c for c in configs if c.seed != 13])
    rec = sweep_record(store, configs)
    assert len(rec["failures"]) == 4
    assert all("deliberate failure for seed 13" in f["error"] for f in rec["failures"])
    assert all(
        f["config"]["seed"] == 13 and "RuntimeError" in f["traceback"] for f in rec["failures"]
    )
    # resume: finished entries are skipped, failed ones are retried (and fail again)
    s2 = run_sweep(configs, store, "local:1", runner=spec.runner)
    assert (s2.done, s2.skipped, s2.failed) == (0, 4, 4)
    assert s2.statuses == {"converged": 4}


def test_corrupted_and_truncated_entries_are_recomputed(tmp_path):
    configs = spec_from_dict(SPEC).configs()
    store = ResultStore(tmp_path)
    run_sweep(configs, store)
    before = _values(store, configs)
    npz0, _ = store.paths(store.key(configs[0]))
    npz1, _ = store.paths(store.key(configs[1]))
    _, side2 = store.paths(store.key(configs[2]))
    data = bytearray(npz0.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: caught by the sidecar's sha256
    npz0.write_bytes(bytes(data))
    npz1.write_bytes(npz1.read_bytes()[:100])  # truncated archive
    side2.write_text(side2.read_text()[:50])  # truncated sidecar
    assert [store.status(c) for c in configs] == ["corrupt", "corrupt", "corrupt", "ok"]
    s = run_sweep(configs, store)
    assert (s.done, s.skipped, s.failed, s.recomputed_corrupt) == (3, 1, 0, 3)
    _same(before, _values(store, configs))


def test_cli_sweep_json_dry_run_and_failure_exit(tmp_path, capsys):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(_toml({**SPEC, "seeds": [0, 13], "runner": "sweep_faults:fail_on_seed"}))
    store = str(tmp_path / "store")
    argv = ["sweep", str(spec_file), "--store", store, "--allow-import"]
    assert main([*argv[:4], "--json"]) == 2  # a runner outside the registry needs the flag
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["parameter"] == "runner" and "--allow-import" in err["allowed"]
    assert main([*argv, "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"configurations": 8, "stored": 0, "to_run": 8}
    assert main([*argv, "--json"]) == 1  # failures → exit 1
    out = json.loads(capsys.readouterr().out)
    assert (out["done"], out["failed"], out["statuses"]) == (4, 4, {"converged": 4})
    assert main(argv) == 1
    table = capsys.readouterr().out
    assert "skipped (stored)   4" in table and "status converged   4" in table
    assert "deliberate failure" in table


# ----------------------------------------------------------------------------- parallel executors


def test_dask_executor_matches_serial(tmp_path):
    # (the process pool, local:2, is covered by the SIGTERM test below)
    from distributed import LocalCluster

    spec = {**SPEC, "grid": {"depth": [3], "alpha": [1e-2, 1e-1]}}
    configs = spec_from_dict(
        {**spec, "seeds": [0, 13], "runner": "sweep_faults:fail_on_seed"}, allow_import=True
    ).configs()
    serial = ResultStore(tmp_path / "serial")
    run_sweep(configs, serial, "local:1", runner="sweep_faults:fail_on_seed")
    expect = _values(serial, [c for c in configs if c.seed != 13])

    # a real cluster on loopback, reached through dask://HOST:PORT; workers write the store
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        remote = ResultStore(tmp_path / "dask")
        s = run_sweep(configs, remote, f"dask://{address}", runner="sweep_faults:fail_on_seed")
        assert (s.done, s.failed) == (2, 2)
        assert len(sweep_record(remote, configs)["failures"]) == 2
    _same(expect, _values(remote, [c for c in configs if c.seed != 13]))


def test_dask_local_cluster_via_cli(tmp_path, capsys):
    spec = {
        **SPEC,
        "grid": {"depth": [3], "alpha": [1e-2, 1e-1]},
    }  # one depth: one compile per worker
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(_toml(spec))
    store = tmp_path / "store"
    assert (
        main(
            ["sweep", str(spec_file), "--store", str(store), "--executor", "dask-local:2", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["done"], out["failed"], out["statuses"]) == (2, 0, {"converged": 2})
    _assert_closed_form_limits(ResultStore(store), spec_from_dict(spec).configs())


# ----------------------------------------------------------------------------- kills


def _start(spec_file: Path, store: Path, executor: str) -> subprocess.Popen:
    env = {**os.environ, "GFLAB_SWEEP_SLOW": "0.4"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gflab",
            "sweep",
            str(spec_file),
            "--store",
            str(store),
            "--executor",
            executor,
            "--quiet",
            "--allow-import",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for_entries(store: Path, k: int, proc: subprocess.Popen) -> None:
    """Until ``k`` entries are published (pathlib's glob also matches the hidden ``.tmp.*`` folder
    of an entry still being written, which a kill then leaves unpublished: ResultStore.keys()
    lists only published ones)."""
    deadline = time.monotonic() + 300  # a guard against hanging, not a timed assertion
    published = ResultStore(store)
    while len(published.keys()) < k:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "sweep made no progress"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("sig", "executor"), [(signal.SIGTERM, "local:2"), (signal.SIGKILL, "local:1")]
)
def test_killed_sweep_resumes_without_lost_duplicated_or_corrupt_results(tmp_path, sig, executor):
    spec = {**SPEC, "seeds": [0, 1, 2], "runner": "sweep_faults:slow"}
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(_toml(spec))
    configs = spec_from_dict(spec, allow_import=True).configs()
    clean = ResultStore(tmp_path / "clean")
    run_sweep(configs, clean)  # default runner: same results, no sleeping
    expect = _values(clean, configs)

    store = tmp_path / "killed"
    proc = _start(spec_file, store, executor)
    try:
        _wait_for_entries(store, 2, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    finally:
        try:  # orphaned pool workers of a SIGKILLed parent: end the group we started
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        assert b"interrupted" in err and b"Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    partial = ResultStore(store)
    stored = [c for c in configs if partial.status(c) == "ok"]
    assert 2 <= len(stored) < len(configs)
    assert all(partial.status(c) in ("ok", "missing") for c in configs)  # nothing half-written
    s = run_sweep(configs, partial)
    assert s.skipped == len(stored) and s.done == len(configs) - len(stored) and s.failed == 0
    assert sorted(partial.keys()) == sorted(
        list(expect) + [partial.key({"sweep": _sweep_key(configs)})]
    )
    _same(expect, _values(partial, configs))


def _sweep_key(configs):
    from gflab.sims.sweep import sweep_key

    return sweep_key(configs)


def test_sigterm_in_process_raises_sweep_interrupted(tmp_path):
    configs = spec_from_dict(SPEC).configs()

    def progress(k, n, counts):
        if counts["done"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SweepInterrupted) as e:
        run_sweep(configs, ResultStore(tmp_path), progress=progress)
    assert e.value.summary.done == 1 and e.value.summary.interrupted
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )


def test_bench_sweep_reports_speedups_and_overheads():
    from gflab.sims.sweep import bench_sweep

    out = bench_sweep(n_configs=4, executors=("local:1",))
    row = out["executors"]["local:1"]
    assert out["n_configs"] == 4 and row["speedup"] == 1.0 and row["workers"] == 1
    assert row["seconds"] > 0 and row["overhead_per_config"] >= 0 and row["solve_seconds"] > 0
    assert math.isclose(row["per_config"], row["seconds"] / 4)
