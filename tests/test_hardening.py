"""Issue 13's attack as regression tests: bad paths, JSON errors, large grids, dying workers.

Every case is a real command (``gflab.cli.main`` in-process, or a subprocess where signals are
involved) and its oracle is the contract: exit code 2 and one line (or one JSON object with
``--json``), no traceback, no hang, no lost result.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared_cases import gflab_in_process

from gflab import sims
from gflab.sims.config import DMFConfig
from gflab.sims.store import ResultStore
from gflab.sims.sweep import ExecutorLost, run_sweep, spec_from_dict
from gflab.theory.errors import GflabInputError

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "tests"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)
SPEC = """model = "dmf"
[base]
depth = 2
n = 2
init = "mimic"
m = 3.0
n_save = 4
[grid]
alpha = [0.01, 0.1]
"""
TINY = [DMFConfig(depth=2, n=2, m=3.0, alpha=a, n_save=4) for a in (0.01, 0.1)]


_run = gflab_in_process


def _one_line_error(argv) -> str:
    code, out, err = _run(argv)
    assert code == 2 and "Traceback" not in err, (code, out, err)
    assert len(err.strip().splitlines()) == 1, err
    return err


def _json_error(argv) -> dict:
    code, out, err = _run([*argv, "--json"])
    assert code == 2 and "Traceback" not in err, (code, out, err)
    doc = json.loads(out)
    assert set(doc["error"]) == {"parameter", "message", "allowed"}
    return doc["error"]


@pytest.fixture
def spec(tmp_path) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SPEC)
    return p


# ----------------------------------------------------------------------------- bad paths


def test_store_that_is_a_file(spec, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert "store" in _one_line_error(["sweep", str(spec), "--store", str(f)])
    assert _json_error(["sweep", str(spec), "--store", str(f)])["parameter"] == "store"


def test_unwritable_store(spec, tmp_path, monkeypatch):
    # chmod 000/555 does not stop root (these tests may run as root): refuse the probe instead
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(sims.store.tempfile, "mkstemp", denied)
    err = _one_line_error(["sweep", str(spec), "--store", str(tmp_path / "s")])
    assert "Permission denied" in err


def test_disk_full_is_a_failure_per_config_and_the_summary_still_prints(
    spec, tmp_path, monkeypatch
):
    """ENOSPC on every write: each config is a recorded failure, the sweep record's own write
    failing is a warning, the summary prints, exit 1 (failures), no traceback."""
    real = sims.store._fsync_write

    def full(path, data):
        if Path(path).name == "data.npz":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(sims.store, "_fsync_write", full)
    code, out, err = _run(["sweep", str(spec), "--store", str(tmp_path / "s"), "--json"])
    doc = json.loads(out)
    assert code == 1 and doc["failed"] == 2 and "Traceback" not in err
    assert all("No space left" in f["error"] for f in doc["failures"])
    assert any("sweep record could not be written" in w for w in doc["warnings"])
    assert not any("results are stored" in w for w in doc["warnings"])  # none was
    assert any("no new result was stored" in w for w in doc["warnings"])


def test_finished_read_only_store_rerun_succeeds(spec, tmp_path, monkeypatch):
    store = tmp_path / "s"
    assert _run(["sweep", str(spec), "--store", str(store)])[0] == 0

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(sims.store.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(sims.store.tempfile, "mkdtemp", read_only)
    code, out, _ = _run(["sweep", str(store.parent / "s.toml"), "--store", str(store), "--json"])
    assert code == 0 and json.loads(out)["skipped"] == 2
    # with something left to run, the same store is refused in one line
    (ResultStore(store).entry_dir(ResultStore(store).key(TINY[0])) / "data.npz").unlink()
    assert "Read-only" in _one_line_error(["sweep", str(spec), "--store", str(store)])


def test_empty_gflab_store_does_not_write_into_the_cwd(spec, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("GFLAB_STORE", "")
    assert _run(["sweep", str(spec)])[0] == 0
    assert [p.name for p in cwd.iterdir()] == [".gflab-cache"]


def test_check_beyond_empty_is_refused():
    assert _json_error(["check", "--beyond", ""])["parameter"] == "beyond"


@pytest.mark.parametrize(
    ("argv", "parameter"),
    [
        (["sweep", "/nonexistent.toml"], "SPEC"),
        (["sweep", "SPEC", "--executor", "local:0"], "executor"),
        (["sweep", "SPEC", "--timeout", "-1"], "timeout"),
        (["sweep", "SPEC", "--executor"], "executor"),
        (["simulate", "dmf", "--depth", "x"], "depth"),
        (["check", "--claim", "NOPE"], None),
        (["nope"], None),
    ],
)
def test_json_errors_are_json(argv, parameter, spec):
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    err = _json_error(argv)
    if parameter is not None:
        assert err["parameter"] == parameter


# ----------------------------------------------------------------------------- sweep inputs


def test_logspace_overflow_is_a_clear_error(tmp_path):
    with pytest.raises(GflabInputError, match="grid.alpha"):
        spec_from_dict(
            {"model": "dmf", "base": {"n": 2}, "grid": {"alpha": {"logspace": [300, 400, 3]}}}
        )


def test_runner_outside_the_registry_needs_allow_import():
    d = {"model": "dmf", "base": {"n": 2, "depth": 2}, "runner": "os:system"}
    with pytest.raises(GflabInputError, match="allow-import"):
        spec_from_dict(d)
    assert spec_from_dict({**d, "runner": "sweep_faults:slow"}, allow_import=True).size == 1


def test_million_point_dry_run_is_fast_and_warns(tmp_path):
    """10^6 configurations: counted (not built) in well under the 123 s of before; a warning with
    the estimated time and size comes first. The store holds one entry of the grid, counted."""
    p = tmp_path / "big.toml"
    p.write_text(
        'model = "dmf"\n[base]\nn = 2\ninit = "mimic"\nn_save = 4\n'
        "[grid]\ndepth = [2, 3, 4, 5]\nalpha = {logspace = [-3, 0, 250]}\n"
        "m = {logspace = [0.1, 3, 1000]}\n"
    )
    store = tmp_path / "s"
    cfg = spec_from_dict(
        {
            "model": "dmf",
            "base": {"n": 2, "init": "mimic", "n_save": 4, "depth": 2},
            "grid": {"alpha": {"logspace": [-3, 0, 250]}, "m": {"logspace": [0.1, 3, 1000]}},
        }
    ).first_config()
    run_sweep([cfg], ResultStore(store))
    t0 = time.perf_counter()
    code, out, err = _run(["sweep", str(p), "--store", str(store), "--dry-run", "--json"])
    seconds = time.perf_counter() - t0
    assert code == 0 and json.loads(out) == {
        "configurations": 1_000_000,
        "stored": 1,
        "to_run": 999_999,
    }
    assert "warning: 1,000,000 configurations" in err and " h serially" in err
    assert seconds < 30, seconds  # measured ~2 s; 30 leaves room for a loaded 2-core machine


def test_per_config_time_limit_is_a_failure(tmp_path):
    configs = spec_from_dict(
        {"model": "dmf", "base": {"n": 2, "depth": 2, "n_save": 4}, "seeds": [0, 13]}
    ).configs()
    t0 = time.perf_counter()
    s = run_sweep(configs, ResultStore(tmp_path), runner="sweep_faults:hang_on_seed", timeout=3)
    assert time.perf_counter() - t0 < 120  # the hanging config sleeps 600 s
    assert (s.done, s.failed) == (1, 1) and "TimeoutError" in s.failures[0]["error"]


# ----------------------------------------------------------------------------- dying workers


def test_killed_pool_worker_is_requeued_not_failed(tmp_path, monkeypatch):
    """A worker SIGKILLed mid-sweep (once): every config still ends stored, none failed, each
    counted done once. The four configs share one compiled program, so local:2 splits them into
    two lanes, [0, 1] and [13, 2] (gflab.sims.sweep._programs). The death is at a fixed point
    (tests/sweep_faults.py): after the other lane's two entries are stored and after its own
    result is written, so the re-queued config is found stored, and counted done (computed by
    this sweep), not skipped, and seed 2, queued behind it, is re-queued and run; no timing
    decides it."""
    store = ResultStore(tmp_path / "s")
    monkeypatch.setenv("GFLAB_DIE_MARKER", str(tmp_path / "died"))
    monkeypatch.setenv("GFLAB_DIE_STORE", str(store.root))
    monkeypatch.setenv("GFLAB_DIE_AFTER", "2")
    configs = spec_from_dict(
        {"model": "dmf", "base": {"n": 2, "depth": 2, "n_save": 4}, "seeds": [0, 1, 13, 2]},
    ).configs()
    s = run_sweep(configs, store, "local:2", runner="sweep_faults:die_once_on_seed")
    assert (tmp_path / "died").exists()  # the worker did die
    assert (s.done, s.skipped, s.failed) == (4, 0, 0) and s.requeued >= 1, s.to_json()
    assert all(store.status(c) == "ok" for c in configs)
    # seed 13's entry is the dead worker's (its re-run found it and did not recompute)
    died = [c for c in configs if c.seed == 13]
    assert store.read(died[0]).meta.get("written_by") == "die_once_on_seed"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_pool_workers_die_with_their_parent(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(
        SPEC.replace("[base]", 'runner = "sweep_faults:slow"\nseeds = [0, 1, 2, 3]\n[base]')
    )
    env = {**os.environ, "GFLAB_SWEEP_SLOW": "5"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gflab", "sweep", str(p), "--store", str(tmp_path / "st")]
        + ["--executor", "local:2", "--allow-import", "--quiet"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            workers = [c for c in _children(proc.pid) if "spawn_main" in _cmd(c)]
        assert len(workers) == 2, "pool workers never started"
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "orphaned pool workers"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_dask_scheduler_without_workers_times_out_with_a_message(tmp_path, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setenv("GFLAB_DASK_WORKER_TIMEOUT", "2")
    with LocalCluster(
        n_workers=0, host="127.0.0.1", dashboard_address=None, silence_logs=50
    ) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        t0 = time.perf_counter()
        with pytest.raises(ExecutorLost, match="none joined"):
            run_sweep(TINY, ResultStore(tmp_path), f"dask://{address}")
        assert time.perf_counter() - t0 < 60


def test_dask_lost_scheduler_is_one_clear_error(tmp_path):
    """The scheduler goes away after the first result: ExecutorLost (one line on the CLI), and
    the finished result is stored."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    )
    address = cluster.scheduler_address.removeprefix("tcp://")
    configs = spec_from_dict(
        {"model": "dmf", "base": {"n": 2, "depth": 2, "n_save": 4}, "seeds": [0, 1, 2, 3]}
    ).configs()
    store = ResultStore(tmp_path)

    def progress(k, n, counts):
        if counts["done"] == 1:
            cluster.close()

    try:
        with pytest.raises(ExecutorLost, match="lost"):
            run_sweep(
                configs, store, f"dask://{address}", progress=progress, runner="sweep_faults:slow"
            )
    finally:
        cluster.close()
    assert sum(store.status(c) == "ok" for c in configs) >= 1


# ----------------------------------------------------------------------------- hypothesis


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


class _NoTraining(Exception):
    pass


@_FUZZ
@given(executor=_TEXT, timeout=_TEXT)
def test_fuzz_sweep_flags_exit_0_or_json_error(executor, timeout, spec):
    code, out, err = _run(
        ["sweep", str(spec), "--executor", executor, "--timeout", timeout, "--dry-run", "--json"]
    )
    assert "Traceback" not in err
    doc = json.loads(out)
    assert (code, "configurations" in doc) == (0, True) or (code == 2 and "error" in doc)


@_FUZZ
@given(
    depth=st.integers(-3, 4) | _TEXT,
    seeds=_TEXT,
    mask=st.sampled_from(["diagonal", "bernoulli:0.5", "block:2", "superdiag", "x"]),
)
def test_fuzz_bridge_dmf_inputs_refused_or_accepted_before_training(depth, seeds, mask, spec):
    """Either a JSON error (exit 2) or the inputs reach training (stopped here by a marker):
    nothing in between, and the accepted ones are valid (depth >= 2, distinct seeds >= 0)."""
    from gflab.sims.bridge import dmf_run

    real = dmf_run.import_torch
    dmf_run.import_torch = lambda: (_ for _ in ()).throw(_NoTraining())
    try:
        argv = ["bridge", "dmf", "--n", "6", "--depth", str(depth), "--seeds", seeds, "--json"]
        code, out, err = _run([*argv, "--mask", mask, "--no-store"])
        accepted = False
    except _NoTraining:
        accepted = True
    finally:
        dmf_run.import_torch = real
    if accepted:
        vals = [int(x) for x in seeds.split(",") if x.strip()]
        assert int(depth) >= 2 and len(set(vals)) == len(vals) and min(vals) >= 0
        assert mask in ("diagonal", "block:2", "superdiag")
    else:
        assert code == 2 and "Traceback" not in err and "error" in json.loads(out)
