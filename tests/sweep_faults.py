"""Deliberate faults for the sweep's reliability tests (runners usable with ``--allow-import``).

They live under tests/ (not in the installed package). Pool and dask workers import them by name:
pytest puts tests/ on ``sys.path`` (which spawned workers inherit), and the tests that start
subprocesses put it on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from gflab.sims.store import ResultStore
from gflab.sims.sweep import simulate_config

__all__ = ["fail_on_seed", "slow", "die_once_on_seed", "hang_on_seed"]

FAILING_SEED = 13


def fail_on_seed(config):
    """Raise for seed 13 (a stand-in for any failing configuration); simulate the rest."""
    if config.seed == FAILING_SEED:
        raise RuntimeError(f"deliberate failure for seed {FAILING_SEED}")
    return simulate_config(config)


def slow(config):
    """Sleep ``$GFLAB_SWEEP_SLOW`` s (default 0.3), then simulate: time to kill a sweep mid-way."""
    time.sleep(float(os.environ.get("GFLAB_SWEEP_SLOW", "0.3")))
    return simulate_config(config)


def die_once_on_seed(config):
    """SIGKILL the worker the first time seed 13 runs (marker ``$GFLAB_DIE_MARKER``), then
    simulate: a worker that dies once, as from the OOM killer.

    With ``$GFLAB_DIE_STORE`` (the sweep's store folder) the death comes at a known point, not at
    one set by the machine's load: the worker first waits until ``$GFLAB_DIE_AFTER`` entries are
    in the store (the other configurations: nothing else is running then), stores its own result
    (marked ``written_by``) and only then kills itself, so its report is lost after its result was
    written, the case a re-queue must count as done, not as skipped.
    """
    marker = Path(os.environ["GFLAB_DIE_MARKER"])
    if config.seed == FAILING_SEED and not marker.exists():
        marker.write_text(str(os.getpid()))
        root = os.environ.get("GFLAB_DIE_STORE")
        if root:
            wanted = int(os.environ.get("GFLAB_DIE_AFTER", "1"))
            _wait_until(lambda: len(ResultStore(root).keys()) >= wanted, f"{wanted} entries")
            # key it as the sweep does: with the versions and code hash its entries carry
            found = ResultStore(root)
            meta = json.loads(found.paths(found.keys()[0])[1].read_text())
            store = ResultStore(root, versions=meta["versions"], code=meta["code"])
            store.put(config, simulate_config(config), written_by="die_once_on_seed")
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("GFLAB_SWEEP_SLOW", "0")))
    return simulate_config(config)


def _wait_until(condition, what: str, timeout: float = 600.0) -> None:
    """Poll ``condition`` (a file-system event) until it holds; raise after ``timeout`` s, so a
    broken test fails instead of hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(0.02)


def hang_on_seed(config):
    """Sleep 10 minutes for seed 13 (a configuration that never ends); simulate the rest."""
    if config.seed == FAILING_SEED:
        time.sleep(600)
    return simulate_config(config)
