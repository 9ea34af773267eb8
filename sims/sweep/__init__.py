"""Sweeps: many configurations through the result store, in one process, a pool, or on dask.

A sweep is a list of configs (the product of a ``[grid]``, an optional ``[[list]]`` of points and
``seeds`` over a ``[base]`` config, see :func:`spec_from_dict`). Each config is run at most once:
its result is stored under its content key (:class:`gflab.sims.store.ResultStore`), so a rerun skips
finished entries (resume) and recomputes missing or corrupt ones. The *workers* write results to
the store themselves (atomic writes make concurrent writers safe); the parent only collects small
status records. A configuration whose run raises is recorded as a failure (error type, message,
traceback tail) in the sweep's record in the store and does not abort the sweep.

Executors (:func:`parse_executor`):

- ``local:1``: serial, in this process (no start-up cost; the default for one core);
- ``local:N`` / ``local``: a spawn-based process pool of N (default: CPU count) workers;
- ``dask-local:N``: a dask ``LocalCluster`` on loopback, N worker processes with 1 thread each;
- ``dask://HOST:PORT``: an existing dask scheduler (its workers must see the store folder).

The package's modules, by concept: ``_spec`` (the TOML spec, counting, estimates), ``_task``
(one configuration into the store), ``_executors`` (pool and dask), ``_run`` (:func:`run_sweep`),
``_results`` (summary, record) and ``_bench``.

Solver outcomes (``converged``, ``t1_reached``, ``max_steps``, ``diverged``) are results, stored
like any other; only exceptions are failures.
"""

from gflab.sims.sweep._bench import bench_sweep
from gflab.sims.sweep._executors import ExecutorLost as ExecutorLost
from gflab.sims.sweep._executors import parse_executor
from gflab.sims.sweep._results import SweepInterrupted, SweepSummary, sweep_record
from gflab.sims.sweep._results import sweep_key as sweep_key
from gflab.sims.sweep._run import run_sweep
from gflab.sims.sweep._spec import (
    DEFAULT_RUNNER,
    RUNNERS,
    SweepSpec,
    count_stored,
    estimate,
    load_spec,
    spec_from_dict,
)
from gflab.sims.sweep._spec import FULL_CHECK as FULL_CHECK
from gflab.sims.sweep._spec import WARN_CONFIGS as WARN_CONFIGS
from gflab.sims.sweep._task import simulate_config

__all__ = [
    "SweepSpec",
    "SweepSummary",
    "SweepInterrupted",
    "load_spec",
    "spec_from_dict",
    "parse_executor",
    "run_sweep",
    "simulate_config",
    "sweep_record",
    "bench_sweep",
    "DEFAULT_RUNNER",
    "RUNNERS",
    "estimate",
    "count_stored",
]
