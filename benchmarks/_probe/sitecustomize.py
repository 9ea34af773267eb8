"""Compile probe for ``gflab bench``'s cold cases (benchmarks/cold.py), loaded by every process.

``benchmarks/cold.py`` puts this folder first on ``PYTHONPATH`` of the command it measures and
sets ``GFLAB_BENCH_PROBE`` to an empty folder; Python's ``site`` then imports this module at
start-up in that process and in every process it spawns (figure and sweep workers, pytest
workers), since they inherit the environment. Without ``GFLAB_BENCH_PROBE`` it does nothing.

It imports nothing heavy. When (and if) the process imports JAX, it listens to JAX's own
compile-path events and records, one JSON line each, into ``$GFLAB_BENCH_PROBE/<pid>.jsonl``:

- ``trace`` / ``lower`` / ``compile``: JAX's duration events around tracing an outermost jit to
  a jaxpr, lowering it to an MLIR module, and the backend's compile-or-load (a persistent-cache
  hit included), with the wall seconds JAX reports and this process's CPU seconds over the same
  interval (``time.process_time``, all threads: XLA's compiler threads count);
- ``miss`` / ``hit``: a persistent-compilation-cache miss (the program is compiled here) or hit,
  with the program's name and its cache key, which identifies the program across processes;
- ``plan``: the ``{"programs", "programs_split"}`` statistics of every call of gflab's
  one-worker-per-program scheduler (``gflab.sims.sweep._programs.assign_programs``);
- ``start`` and ``exit`` (this process's rusage CPU seconds), which bracket the rest.

Lines are appended as they happen, so a worker killed mid-run still leaves what it did.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import threading
import time

_DIR = os.environ.get("GFLAB_BENCH_PROBE")

_PHASES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
_lock = threading.Lock()
_starts: dict = {}


def _emit(rec: dict) -> None:
    line = json.dumps(rec) + "\n"
    with _lock:
        try:
            with open(os.path.join(_DIR, f"{os.getpid()}.jsonl"), "a") as f:
                f.write(line)
        except OSError:  # the probe must never break the program it measures
            pass


def _on_scalar(event: str, value, **kwargs) -> None:
    # JAX records the start time of each timed phase as a scalar event when the phase begins
    if event in _PHASES:
        _starts.setdefault((threading.get_ident(), event), []).append(time.process_time())


def _on_duration(event: str, duration: float, **kwargs) -> None:
    phase = _PHASES.get(event)
    if phase is None:
        return
    stack = _starts.get((threading.get_ident(), event)) or [None]
    cpu0 = stack.pop()
    cpu = None if cpu0 is None else time.process_time() - cpu0
    # depth > 0: inside another phase of the same kind (counted in the outer one's seconds)
    _emit(
        {
            "e": phase,
            "wall": duration,
            "cpu": cpu,
            "depth": len(stack),
            "name": str(kwargs.get("fun_name", "")),
        }
    )


def _hook_monitoring(mod) -> None:
    mod.register_scalar_listener(_on_scalar)
    mod.register_event_duration_secs_listener(_on_duration)


def _hook_compiler(mod) -> None:
    # jax calls these module functions by name on every persistent-cache look-up's outcome
    for fn_name, kind in (
        ("log_persistent_cache_miss", "miss"),
        ("log_persistent_cache_hit", "hit"),
    ):
        orig = getattr(mod, fn_name, None)
        if orig is None:
            _emit({"e": "note", "text": f"jax._src.compiler.{fn_name} not found: no cache keys"})
            continue

        def wrapped(module_name, cache_key, *a, _orig=orig, _kind=kind, **k):
            _emit({"e": _kind, "name": str(module_name), "key": str(cache_key)})
            return _orig(module_name, cache_key, *a, **k)

        setattr(mod, fn_name, wrapped)


def _hook_programs(mod) -> None:
    orig = getattr(mod, "assign_programs", None)
    if orig is None:
        return

    def assign_programs(*a, **k):
        lanes, stats = orig(*a, **k)
        _emit({"e": "plan", "workers": len(lanes), **stats})
        return lanes, stats

    mod.assign_programs = assign_programs


_HOOKS = {
    "jax._src.monitoring": _hook_monitoring,
    "jax._src.compiler": _hook_compiler,
    "gflab.sims.sweep._programs": _hook_programs,
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for the modules in ``_HOOKS`` it asks the other finders for the
    spec and runs the hook right after the module body has executed."""

    def find_spec(self, name, path, target=None):
        hook = _HOOKS.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        orig_exec = loader.exec_module

        def exec_module(module):
            orig_exec(module)
            try:
                hook(module)
            except Exception as exc:  # noqa: BLE001 - report, never break the measured program
                _emit({"e": "note", "text": f"hook {name}: {type(exc).__name__}: {exc}"})

        loader.exec_module = exec_module
        return spec


def _at_exit() -> None:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    _emit({"e": "exit", "user": ru.ru_utime, "sys": ru.ru_stime})


if _DIR:
    import atexit

    sys.meta_path.insert(0, _AfterImport())
    _emit({"e": "start", "ppid": os.getppid(), "argv": sys.argv[:6], "t": time.time()})
    atexit.register(_at_exit)
