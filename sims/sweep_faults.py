"""Deliberate faults for the sweep's reliability tests (runners usable as ``runner = "..."``).

They live in the package (not in tests/) so that spawned pool workers and dask workers can import
them by name, exactly as they import the default runner.
"""

from __future__ import annotations

import os
import time

from sims.sweep import simulate_config

__all__ = ["fail_on_seed", "slow"]

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
