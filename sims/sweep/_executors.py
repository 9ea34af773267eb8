"""Executors: the executor spelling, the spawn process pool (re-queue on a dead worker), dask."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from typing import Any

from gflab.sims.store import ResultStore
from gflab.sims.sweep import _task
from gflab.sims.sweep._task import one_line
from gflab.theory.errors import GflabInputError

MAX_LOCAL_WORKERS = 256


def parse_executor(text: Any) -> tuple[str, Any]:
    """``local`` / ``local:N`` / ``dask-local:N`` / ``dask://HOST:PORT`` → (kind, N or address)."""
    allowed = "local, local:N, dask-local:N or dask://HOST:PORT (N an integer in [1, 256])"
    if not isinstance(text, str):
        raise GflabInputError("executor", allowed, text)
    if text == "local":
        return "local", max(1, min(os.cpu_count() or 1, MAX_LOCAL_WORKERS))
    if text.startswith("dask://"):
        host, sep, port = text[len("dask://") :].rpartition(":")
        ok = bool(sep and host and port.isdigit() and port.isascii() and 0 < int(port) < 65536)
        ok = ok and all(c.isalnum() or c in ".-_[]:" for c in host) and host.isascii()
        if not ok:
            raise GflabInputError("executor", allowed, text)
        return "dask", f"tcp://{host}:{int(port)}"
    kind, sep, n = text.partition(":")
    if kind in ("local", "dask-local") and sep and n.isascii() and n.isdigit():
        if 1 <= int(n) <= MAX_LOCAL_WORKERS:
            return kind, int(n)
    raise GflabInputError("executor", allowed, text)


def _worker_init(parent_pid: int | None = None) -> None:
    """Pool worker set-up: ignore Ctrl-C (the parent shuts the pool down) and die with the parent.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill the worker when its parent
    dies (even by SIGKILL); elsewhere, or if that call fails, a daemon thread polls the parent
    and exits the worker once it is gone. (XLA flags are left alone: they are part of the
    persistent compilation cache's key, and changing them would recompile every solve.)
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is None:
        return
    ok = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            ok = False
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    if not ok:
        import threading

        def watch():
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="gflab-parent-watch").start()


def _lost(d: dict, job: tuple, exc: BaseException, attempts: int = 1) -> dict:
    root, versions, _, _, code, _ = job
    key = ResultStore(root, versions=versions, code=code).key(d)
    return {
        "key": key,
        "config": d,
        "outcome": "failed",
        "status": None,
        "error": f"{type(exc).__name__}: worker lost {attempts}x ({one_line(str(exc))})",
        "traceback": "",
    }


MAX_ATTEMPTS = 3  # tries per configuration when its worker dies (pool re-queue)


def run_pool(todo, job, workers, collect, summary, batch: str = "loop") -> None:
    """``local:N``: N single-process spawn pools, one compiled program per worker
    (:func:`gflab.sims.sweep._programs.assign_programs`: every configuration of one program goes
    to the same worker, so no two workers compile it); when a worker dies, its unfinished configs
    go to fresh pools. ``batch="vmap"``: each worker gets a program's configurations as one task
    (:func:`gflab.sims.sweep._batch.run_group`)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from gflab.sims.sweep._batch import group_programs, run_group
    from gflab.sims.sweep._programs import assign_programs, warm_shared_programs

    # programs several workers share: compiled here, loaded from the cache there
    planned = assign_programs(todo, workers)
    warm_shared_programs(todo if job[2] == _task.DEFAULT_RUNNER else (), planned[0])
    attempts = {i: 0 for i in range(len(todo))}
    queue = list(range(len(todo)))
    first = True
    while queue:
        t0 = time.perf_counter()
        lanes, stats = planned if first else assign_programs([todo[i] for i in queue], workers)
        if first:
            summary.programs, summary.programs_split = stats["programs"], stats["programs_split"]
        # spawn, never fork: JAX is multithreaded and forking it can deadlock
        pools = [
            ProcessPoolExecutor(
                max_workers=1,
                mp_context=mp.get_context("spawn"),
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
            for _ in lanes
        ]
        if first:
            summary.startup_seconds = time.perf_counter() - t0
            first = False
        broken: BaseException | None = None
        requeue = []
        try:
            pending = {}
            for pool, lane in zip(pools, lanes, strict=True):
                lane = [queue[j] for j in lane]
                units = group_programs(lane, todo) if batch == "vmap" else [[i] for i in lane]
                for unit in units:
                    try:
                        if batch == "vmap":
                            fut = pool.submit(run_group, [todo[i] for i in unit], *job)
                        else:
                            fut = pool.submit(_task.run_one, todo[unit[0]], *job)
                        pending[fut] = unit
                    except BrokenProcessPool as e:  # a worker died before everything was queued
                        broken = e
                        requeue.extend(unit)
                        for i in unit:
                            attempts[i] -= 1  # never tried
                    for i in unit:
                        attempts[i] += 1
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    unit = pending.pop(fut)
                    try:
                        got = fut.result()
                    except BrokenProcessPool as e:
                        broken = e
                        requeue.extend(unit)
                        continue
                    for i, rec in zip(unit, got if batch == "vmap" else [got], strict=True):
                        if rec["outcome"] == "skipped" and attempts[i] > 1:
                            # stored by this sweep's earlier try, whose report died with its pool
                            rec = {**rec, "outcome": "done"}
                        collect(rec)
        finally:
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)
        queue = []
        for i in sorted(requeue):
            if attempts[i] < MAX_ATTEMPTS:
                queue.append(i)
            else:
                collect(_lost(todo[i], job, broken, attempts[i]))
        if queue:
            summary.requeued += len(queue)


class ExecutorLost(GflabInputError):
    """The dask scheduler went away or never had workers (one line on the command line)."""


# dask's own loggers: on a lost scheduler its client logs each failed reconnection with a traceback
# (a CancelledError from its retry loop) next to gflab's one-line error
_DASK_LOGGERS = ("distributed", "tornado", "asyncio")


@contextlib.contextmanager
def _quiet_dask_logs():
    """Silence dask's loggers while a sweep runs on it; kept silent after a failure (the process
    ends with gflab's own one-line error, and dask's threads may still log while it does)."""
    import logging

    names = set(_DASK_LOGGERS) | {  # dask's config gives some children their own level
        n for n in logging.root.manager.loggerDict if n.split(".")[0] in _DASK_LOGGERS
    }
    loggers = [logging.getLogger(n) for n in sorted(names)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    yield
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)


def run_dask(kind, arg, todo, job, collect, summary, batch: str = "loop") -> None:
    import logging

    from distributed import Client, LocalCluster, as_completed

    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_dask_logs())
        if kind == "dask-local":
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=min(arg, len(todo)),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    worker_class="distributed.Nanny",
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(arg, timeout="10s"))
            except (OSError, TimeoutError) as e:
                raise GflabInputError(
                    "executor", "a reachable dask scheduler", f"{arg} ({e})"
                ) from None
            text = os.environ.get("GFLAB_DASK_WORKER_TIMEOUT") or "60"
            try:
                wait_s = float(text)
            except ValueError:
                wait_s = math.nan
            if not 0 < wait_s < 1e9:
                raise GflabInputError("GFLAB_DASK_WORKER_TIMEOUT", "a number of seconds > 0", text)
            try:
                client.wait_for_workers(1, timeout=wait_s)
            except (TimeoutError, OSError) as e:
                raise ExecutorLost(
                    "executor",
                    f"a dask scheduler with workers (none joined {arg} within {wait_s:g} s; "
                    "set GFLAB_DASK_WORKER_TIMEOUT to wait longer)",
                    type(e).__name__,
                ) from None
        summary.startup_seconds = time.perf_counter() - t0
        futures = {}
        if batch == "vmap":
            from gflab.sims.sweep._batch import group_programs, run_group

            for g in group_programs(list(range(len(todo))), todo):
                futures[client.submit(run_group, [todo[i] for i in g], *job, pure=False)] = g
        else:
            for i, d in enumerate(todo):
                futures[client.submit(_task.run_one, d, *job, pure=False)] = [i]
        lost = ExecutorLost(
            "executor",
            "a dask scheduler that stays reachable (finished results are stored; rerun to resume)",
            f"{arg} lost",
        )
        try:
            for fut in as_completed(futures):
                try:
                    got = fut.result()
                    for rec in got if batch == "vmap" else [got]:
                        collect(rec)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as e:  # noqa: BLE001  (KilledWorker, lost connection, ...)
                    if client.status not in ("running", "connecting") or _is_comm_loss(e):
                        raise lost from None
                    for i in futures[fut]:
                        collect(_lost(todo[i], job, e))
                fut.release()
        except (KeyboardInterrupt, SystemExit, ExecutorLost):
            with contextlib.suppress(BaseException):
                client.cancel(list(futures))
            raise
        except BaseException as e:  # the scheduler went away under as_completed itself
            if _is_comm_loss(e) or client.status not in ("running", "connecting"):
                raise lost from None
            raise


def _is_comm_loss(e: BaseException) -> bool:
    import asyncio
    from concurrent.futures import CancelledError

    try:
        from distributed.comm.core import CommClosedError
    except ImportError:  # pragma: no cover
        CommClosedError = OSError  # noqa: N806
    return isinstance(e, (CancelledError, asyncio.CancelledError, CommClosedError, OSError))
