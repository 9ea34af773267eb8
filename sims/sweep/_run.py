"""``run_sweep``: configurations into the store on an executor, with resume and a summary."""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from gflab.sims.models import model_of
from gflab.sims.store import ResultStore
from gflab.sims.sweep import _batch, _task
from gflab.sims.sweep._executors import parse_executor, run_dask, run_pool
from gflab.sims.sweep._results import SweepInterrupted, SweepSummary, collect_record, sweep_key
from gflab.sims.sweep._spec import DEFAULT_RUNNER
from gflab.theory.errors import GflabInputError


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM → :class:`SweepInterrupted` in the main thread, so pools and clusters shut down."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SweepInterrupted(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(
    configs: list,
    store: ResultStore,
    executor: str = "local:1",
    *,
    runner: str = DEFAULT_RUNNER,
    force: bool = False,
    progress: Callable[[int, int, Counter], None] | None = None,
    timeout: float | None = None,
    batch: str = "auto",
) -> SweepSummary:
    """Run ``configs`` into ``store`` on ``executor``; returns the summary (also stored).

    ``configs`` are config objects (``to_dict()``) or, for a record runner
    (:func:`gflab.sims.sweep._task.is_record_runner`), plain dicts.

    Already stored entries are skipped (unless ``force``); corrupt ones are recomputed. Failures
    are collected, never raised. ``progress(done, total, counts)`` (:class:`gflab.sims.progress.Progress`,
    ``counts`` a Counter of outcomes) hears of each finished point. ``timeout`` (seconds) limits each configuration (serial and pool
    executors). A ``local:N`` worker that dies re-queues the unfinished configurations on a fresh
    pool (at most :data:`MAX_ATTEMPTS` tries each). SIGTERM or Ctrl-C raise
    :class:`SweepInterrupted` (carrying the partial summary) after the executor has been shut
    down cleanly. A store that cannot be written is refused (``GflabInputError``) only if there
    is something to run; a finished read-only store reruns fine (nothing is written).

    ``batch`` (:data:`gflab.sims.sweep._batch.BATCHES`): ``"vmap"`` solves the configurations
    of one compiled program together, one vectorised flow solve per program and worker
    (:mod:`gflab.sims.sweep._batch`); ``"loop"`` one after the other; ``"auto"`` (default)
    ``"loop"`` on the CPU backend, ``"vmap"`` on a GPU. The stored results are the same.
    """
    kind, arg = parse_executor(executor)
    batch = _batch.resolve_batch(batch)
    # fail early, in the parent, on a bad runner path
    record = _task.is_record_runner(_task.resolve_runner(runner))
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < 1e9):
        raise GflabInputError("timeout", "a number of seconds > 0", timeout)
    t0 = time.perf_counter()
    root = str(Path(store.root).resolve())
    # duplicates (e.g. a grid listing 1 and 1.0) are one entry: run once
    unique = {store.key(c): c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in configs}
    dicts = list(unique.values())
    summary = SweepSummary(total=len(dicts), executor=executor, store=root, batch=batch)
    counts: Counter = Counter()
    todo = []
    for key, d in unique.items():
        summary.keys.append(key)
        entry = store.read(d, key=key)
        model = None if record else model_of(d)
        if entry.state == "ok" and (record or model.holds(entry.meta)) and not force:
            status = entry.meta.get("status") if record else model.stored_status(entry.meta)
            collect_record(
                summary,
                counts,
                {"key": key, "config": d, "outcome": "skipped", "status": status},
            )
        else:
            todo.append(d)
    if todo:
        store.require_writable()
        store.clean_orphans()
    if progress:
        progress(len(dicts) - len(todo), len(dicts), counts)

    def collect(rec):
        collect_record(summary, counts, rec)
        if progress:
            progress(summary.done + summary.skipped + summary.failed, len(dicts), counts)

    job = (root, store.versions, runner, force, store.code, timeout)
    try:
        with _sigterm_raises():
            if todo:
                if kind == "local" and arg == 1 and batch == "vmap":
                    for g in _batch.group_programs(list(range(len(todo))), todo):
                        for rec in _batch.run_group([todo[i] for i in g], *job):
                            collect(rec)
                elif kind == "local" and arg == 1:
                    for d in todo:
                        collect(_task.run_one(d, *job))
                elif kind == "local":
                    run_pool(todo, job, arg, collect, summary, batch)
                else:
                    run_dask(kind, arg, todo, job, collect, summary, batch)
    except KeyboardInterrupt as e:
        summary.interrupted = True
        summary.seconds = time.perf_counter() - t0
        raise SweepInterrupted(getattr(e, "signum", signal.SIGINT), summary) from None
    summary.seconds = time.perf_counter() - t0
    record = {"summary": summary.to_json(), "failures": summary.failures}
    rkey = {"sweep": sweep_key(dicts)}
    if todo or not store.contains(rkey):
        try:
            store.put_record(rkey, {}, record)
        except OSError as e:  # disk full, read-only: say what was stored, not more
            stored = summary.done  # failed runs are counted apart
            kept = (
                f"{stored} finished results are stored"
                if stored > 0
                else "no new result was stored"
            )
            summary.warnings.append(
                f"the sweep record could not be written ({e.strerror or type(e).__name__}); "
                f"{kept}, rerun to retry"
            )
    return summary
