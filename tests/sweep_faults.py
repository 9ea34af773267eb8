"""Deliberate faults for the sweep's reliability tests (runners usable with ``--allow-import``).

They live under tests/ (not in the installed package). Pool and dask workers import them by name:
pytest puts tests/ on ``sys.path`` (which spawned workers inherit), and the tests that start
subprocesses put it on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sims.sweep import simulate_config

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
    simulate: a worker that dies once, as from the OOM killer."""
    marker = Path(os.environ["GFLAB_DIE_MARKER"])
    if config.seed == FAILING_SEED and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("GFLAB_SWEEP_SLOW", "0")))
    return simulate_config(config)


def hang_on_seed(config):
    """Sleep 10 minutes for seed 13 (a configuration that never ends); simulate the rest."""
    if config.seed == FAILING_SEED:
        time.sleep(600)
    return simulate_config(config)
