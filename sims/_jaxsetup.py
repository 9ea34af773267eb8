"""JAX configuration for gflab: float64 everywhere and the persistent compilation cache.

Imported by :mod:`sims` before anything is compiled. The cache lives in ``$GFLAB_JAX_CACHE``
(default ``~/.cache/gflab/jax``); set ``GFLAB_JAX_CACHE=off`` to disable it.
"""

from __future__ import annotations

import os
from pathlib import Path

# gflab's matrices are small: XLA's multi-threaded Eigen pool adds only synchronisation, and on a
# shared 2-core machine it made solves slower in wall time (docs/performance.md). Must be set
# before the CPU backend starts; a user's own XLA_FLAGS setting wins; GFLAB_XLA_THREADS=multi
# keeps XLA's default.
_flags = os.environ.get("XLA_FLAGS", "")
if os.environ.get("GFLAB_XLA_THREADS", "single") != "multi" and "multi_thread_eigen" not in _flags:
    _single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = f"{_flags} {_single}".strip()

import jax  # noqa: E402

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
