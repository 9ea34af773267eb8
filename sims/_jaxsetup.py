"""JAX configuration for gflab: float64 everywhere and a persistent compilation cache that works.

Imported by :mod:`sims` before anything is compiled (and before equinox is imported). The cache
lives in ``$GFLAB_JAX_CACHE`` (default ``~/.cache/gflab/jax``); ``GFLAB_JAX_CACHE=off`` disables it.

Why ``EQX_ON_ERROR=nan``: JAX never caches an executable that contains a host callback (its
pointer differs in every process), and equinox's runtime checks (``eqx.error_if``, with the
default ``EQX_ON_ERROR=raise``) are host callbacks. In gflab's compiled flow solve the only such
checks are diffrax's two save-grid checks (``saveat.ts`` increasing and inside [t0, t1]): gflab
solves with ``throw=False`` and reports every solver outcome as a status from ``sol.result``,
which the setting does not touch. With ``nan`` those two checks return NaN instead of raising
(the engine builds its grids itself), the executable has no callback, and a second process loads
it from the cache (tests/test_compile_cache.py counts the hits). A user's own ``EQX_ON_ERROR``
wins; so does importing equinox before :mod:`sims` (then :data:`EQX_MODE` says what is in force).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

# gflab's matrices are small: XLA's multi-threaded Eigen pool adds only synchronisation, and on a
# shared 2-core machine it made solves slower in wall time (docs/performance.md). Must be set
# before the CPU backend starts; a user's own XLA_FLAGS setting wins; GFLAB_XLA_THREADS=multi
# keeps XLA's default.
_flags = os.environ.get("XLA_FLAGS", "")
if os.environ.get("GFLAB_XLA_THREADS", "single") != "multi" and "multi_thread_eigen" not in _flags:
    _flags = f"{_flags} --xla_cpu_multi_thread_eigen=false".strip()
# XLA:CPU's newer MLIR fusion emitters made the small-matrix solves slower: the hybrid DMF bench
# solve took 0.44/0.38 s CPU without them against 0.50/0.48 s with them (wall 0.36/0.34 against
# 0.57/0.47, one process per setting, docs/performance.md); compile times were the same. A user's
# own setting of the flag wins; GFLAB_XLA_FUSION_EMITTERS=on keeps XLA's default.
if os.environ.get("GFLAB_XLA_FUSION_EMITTERS", "off") != "on" and "fusion_emitters" not in _flags:
    _flags = f"{_flags} --xla_cpu_use_fusion_emitters=false".strip()
os.environ["XLA_FLAGS"] = _flags

_EQX_ALREADY_IMPORTED = "equinox" in sys.modules
os.environ.setdefault("EQX_ON_ERROR", "nan")
EQX_MODE = (
    "unknown (equinox was imported before sims)"
    if _EQX_ALREADY_IMPORTED
    else os.environ["EQX_ON_ERROR"]
)
"""The equinox runtime-error mode in force: ``nan`` makes the flow solves cacheable."""

import jax  # noqa: E402
import jax.monitoring  # noqa: E402

jax.config.update("jax_enable_x64", True)


def _cache_dir() -> str | None:
    env = os.environ.get("GFLAB_JAX_CACHE")
    if env is not None:
        return None if env.lower() in ("", "off", "0", "none") else env
    return str(Path.home() / ".cache" / "gflab" / "jax")


CACHE_DIR = _cache_dir()
if CACHE_DIR is not None:
    try:
        Path(CACHE_DIR).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
        # small CPU programs compile in ~1 s: cache every one of them
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except OSError:  # read-only home: run without the cache rather than fail
        CACHE_DIR = None


def _atomic_cache_put(self, key: str, value: bytes) -> None:
    """jax's LRUCache.put without a lock writes the entry in place, so a second process (a figure
    or sweep worker) could read it half-written and warn "Error reading persistent compilation
    cache entry ... incomplete or truncated stream" (seen on a cold `make figures`). Written to a
    private temporary name and renamed (atomic on POSIX): a reader sees no entry or all of it."""
    if self.eviction_enabled:  # jax's own file lock already serialises readers and writers
        return _jax_cache_put(self, key, value)
    if not key:
        raise ValueError("key cannot be empty")
    final = self.path / f"{key}-cache"
    if final.exists():
        return None
    write_atomic(final, value)
    return None


def write_atomic(path: Path, blob: bytes) -> None:
    """``blob`` written under a private temporary name beside ``path`` and renamed onto it
    (atomic on POSIX): a reader sees the old file, none, or all of the new one.

    Args:
        path: the file to write.
        blob: its bytes.

    Returns:
        None. An ``OSError`` of the write or the rename propagates (the temporary is removed).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


from jax._src import lru_cache as _lru_cache  # noqa: E402

if getattr(_lru_cache, "_CACHE_SUFFIX", None) == "-cache":  # the layout this was written for
    _jax_cache_put = _lru_cache.LRUCache.put
    _lru_cache.LRUCache.put = _atomic_cache_put


# ----------------------------------------------------------------------------- cache accounting

_CACHE_EVENTS = {
    "/jax/compilation_cache/compile_requests_use_cache": "requests",
    "/jax/compilation_cache/cache_hits": "hits",
    "/jax/compilation_cache/cache_misses": "misses",
}
_counts = {
    "requests": 0,
    "hits": 0,
    "misses": 0,
    "backend_compiles": 0,
    "compile_seconds": 0.0,
    "traces": 0,
    "trace_seconds": 0.0,
    "lowerings": 0,
    "lower_seconds": 0.0,
}
# jax's duration events: tracing a jit (outermost only), lowering it to MLIR, compile-or-load
_DURATIONS = {
    "/jax/core/compile/jaxpr_trace_duration": ("traces", "trace_seconds"),
    "/jax/core/compile/jaxpr_to_mlir_module_duration": ("lowerings", "lower_seconds"),
    "/jax/core/compile/backend_compile_duration": ("backend_compiles", "compile_seconds"),
}
_lock = threading.Lock()


def _on_event(name: str, **kwargs) -> None:
    key = _CACHE_EVENTS.get(name)
    if key is not None:
        with _lock:
            _counts[key] += 1


def _on_duration(name: str, duration: float, **kwargs) -> None:
    # compile-or-load is recorded around every backend compile (a cache hit included): its time
    # is what a process pays for compiling; minus the hits it counts what was really compiled
    keys = _DURATIONS.get(name)
    if keys is not None:
        with _lock:
            _counts[keys[0]] += 1
            _counts[keys[1]] += duration


jax.monitoring.register_event_listener(_on_event)
jax.monitoring.register_event_duration_secs_listener(_on_duration)


def compile_counts() -> dict:
    """This process's compilations so far, counted from jax.monitoring events.

    Returns:
        ``{"requests", "hits", "misses", "backend_compiles", "compiled", "compile_seconds",
        "traces", "trace_seconds", "lowerings", "lower_seconds"}``: cache look-ups,
        persistent-cache hits and misses, compile-or-load calls of the backend, ``compiled`` =
        backend_compiles − hits (executables actually built here, cache misses and uncacheable
        ones alike), the seconds spent in compile-or-load, jit tracings (outermost only) and
        lowerings to MLIR with their seconds (JAX's own duration events), and the saved
        executables' counts (:func:`gflab.sims._export.counts`: ``export_hits`` ...).
    """
    from gflab.sims import _export  # imports this module: not at the top

    with _lock:
        out = dict(_counts)
    out["compiled"] = out["backend_compiles"] - out["hits"]
    out.update(_export.counts())
    return out
