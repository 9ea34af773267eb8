"""The same sweep on each executor: speed-ups and per-configuration overhead (docs/sweeps.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gflab.sims.config import DMFConfig
from gflab.sims.store import ResultStore
from gflab.sims.sweep._executors import parse_executor
from gflab.sims.sweep._run import run_sweep


def bench_configs(n_configs: int = 200) -> list:
    """``n_configs`` tiny DMF configs (depth 2, n = 2, distinct α): per-config cost is overhead."""
    return [
        DMFConfig(
            depth=2,
            n=2,
            init="mimic",
            m=3.0,
            alpha=10.0 ** (-3 + 2 * i / max(n_configs - 1, 1)),
            t1=5.0,
            n_save=8,
        )
        for i in range(n_configs)
    ]


def bench_sweep(
    n_configs: int = 200, executors: tuple = ("local:1", "local:2", "dask-local:2")
) -> dict:
    """The same ``n_configs``-configuration sweep on each executor, each into a fresh store.

    Returns, per executor: wall ``seconds`` (including pool/cluster start-up), ``startup_seconds``,
    ``speedup`` (first executor's seconds / this one's), ``overhead_per_config`` (seconds of worker
    time per configuration not spent in the solver: (seconds × workers − Σ solve time) / n) and
    ``per_config`` (seconds / n). The persistent compilation cache is warmed first.
    """
    import tempfile

    configs = bench_configs(n_configs)
    with tempfile.TemporaryDirectory(prefix="gflab-bench-") as tmp:
        run_sweep(configs[:1], ResultStore(Path(tmp) / "warm"), "local:1")  # warm the JIT cache
        out: dict[str, Any] = {"n_configs": n_configs, "cpu_count": os.cpu_count(), "executors": {}}
        base = None
        for ex in executors:
            kind, arg = parse_executor(ex)
            workers = arg if isinstance(arg, int) else 1
            s = run_sweep(
                configs, ResultStore(Path(tmp) / ex.replace(":", "_").replace("/", "_")), ex
            )
            if s.failed:
                raise RuntimeError(
                    f"bench sweep on {ex} had {s.failed} failures: {s.failures[0]['error']}"
                )
            base = base or s.seconds
            out["executors"][ex] = {
                "seconds": s.seconds,
                "startup_seconds": s.startup_seconds,
                "speedup": base / s.seconds,
                "per_config": s.seconds / n_configs,
                "overhead_per_config": (s.seconds * workers - s.solve_seconds) / n_configs,
                "solve_seconds": s.solve_seconds,
                "workers": workers,
            }
    return out
