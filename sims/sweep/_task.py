"""One configuration, run into the store by a worker (the unit every executor runs)."""

from __future__ import annotations

import contextlib
import importlib
import signal
import time
import traceback
from collections.abc import Callable

from gflab.sims.models import config_from_dict, model_of
from gflab.sims.store import ResultStore
from gflab.sims.sweep._spec import DEFAULT_RUNNER
from gflab.theory.errors import GflabInputError

# ----------------------------------------------------------------------------- one task


def simulate_config(config):
    """The default runner: the run of the config's model (:data:`gflab.sims.models.MODELS`).

    Args:
      config: a config of a registered model.
    Returns:
      The model's result (a :class:`gflab.sims.result.SimResult` for ``dmf`` and ``lora``).
    """
    return model_of(config).run(config)


def is_record_runner(fn: Callable) -> bool:
    """True for a *record runner*: ``fn(config: dict, store) -> (arrays, meta)``, marked by the
    attribute ``gflab_record = True`` (``gflab_compress = True``: its arrays are stored with
    ``np.savez_compressed``). Its config is the dict itself (no ``config_from_dict``); it may read
    other entries of ``store`` (e.g. a run it depends on) and is stored with
    :meth:`~sims.store.ResultStore.put_record`; ``meta["status"]`` is its status."""
    return bool(getattr(fn, "gflab_record", False))


def _run_record(fn, cfg, store, entry, force, timeout, runner, rec, t0) -> dict:
    if entry.state == "ok" and not force:
        return {
            **rec,
            "outcome": "skipped",
            "status": entry.meta.get("status"),
            "seconds": time.perf_counter() - t0,
        }
    with _time_limit(timeout):
        arrays, meta = fn(cfg, store)
    compress = bool(getattr(fn, "gflab_compress", False))
    store.put_record(cfg, arrays, {**meta, "sweep_runner": runner}, compress=compress)
    return {
        **rec,
        "outcome": "done",
        "status": meta.get("status"),
        "corrupt_before": entry.state == "corrupt" or (entry.state == "ok" and not force),
        "seconds": time.perf_counter() - t0,
    }


def resolve_runner(runner: str) -> Callable:
    module, _, name = runner.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise GflabInputError(
            "runner", "an importable module:function", f"{runner} ({e})"
        ) from None


def run_one(
    cfg: dict,
    root: str,
    versions: dict,
    runner: str = DEFAULT_RUNNER,
    force: bool = False,
    code: str | None = None,
    timeout: float | None = None,
    compute: Callable | None = None,
) -> dict:
    """Run one configuration into the store (a worker's task); returns a small status record.

    ``outcome`` is ``done`` (computed and stored now), ``skipped`` (already stored) or ``failed``
    (the run raised: ``error`` holds its type and message, ``traceback`` its last frames). With
    ``timeout`` (seconds) a run still going after that long raises ``TimeoutError`` (a failure);
    the limit needs the main thread (serial and pool executors), dask worker threads ignore it.
    ``compute(fn, config)`` replaces the runner's call ``fn(config)`` (a batched sweep,
    :mod:`gflab.sims.sweep._batch`).
    """
    t0 = time.perf_counter()
    store = ResultStore(root, versions=versions, code=code)
    key = store.key(cfg)
    rec = {"key": key, "config": cfg}
    try:
        entry = store.read(cfg, key=key)
        fn = resolve_runner(runner)
        if is_record_runner(fn):
            return _run_record(fn, cfg, store, entry, force, timeout, runner, rec, t0)
        model = model_of(cfg)
        if entry.state == "ok" and model.holds(entry.meta) and not force:
            return {
                **rec,
                "outcome": "skipped",
                "status": model.stored_status(entry.meta),
                "seconds": time.perf_counter() - t0,
            }
        config = config_from_dict(cfg)
        with _time_limit(timeout):
            call = (lambda c: model.run_into(c, store)) if fn is simulate_config else fn
            result = call(config) if compute is None else compute(call, config)
        if model.storable(result):
            model.put(store, config, result, sweep_runner=runner)
        return {
            **rec,
            "outcome": "done",
            "status": model.status(result),
            "corrupt_before": entry.state == "corrupt" or (entry.state == "ok" and not force),
            "seconds": time.perf_counter() - t0,
            "solve_seconds": model.seconds(result),
        }
    except Exception as e:  # noqa: BLE001  (a failing configuration must not abort the sweep)
        return {
            **rec,
            "outcome": "failed",
            "status": None,
            "error": f"{type(e).__name__}: {one_line(str(e))}",
            "traceback": "".join(traceback.format_exception(e)[-3:])[-2000:],
            "seconds": time.perf_counter() - t0,
        }


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """Raise ``TimeoutError`` in the main thread after ``seconds`` (no-op elsewhere or if None)."""
    import threading

    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise TimeoutError(f"configuration exceeded the time limit of {seconds:g} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"
