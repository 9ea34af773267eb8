"""Test configuration: float64 JAX with strict dtype and rank promotion, headless matplotlib, offline
hub, hypothesis profile printed. Shapes of theory/'s functions are checked by jaxtyping + beartype
(``--jaxtyping-packages`` in pyproject's addopts, installed before this file is imported)."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
# diffrax's test habits (test/conftest.py there): no implicit dtype promotion (an int or weak
# float silently widened, a float32 mixed into float64) and no implicit rank promotion (an
# (n,) array broadcast against (m, n) without saying so). The code must say what it means with
# explicit dtypes and broadcasts; subprocesses the tests start run with JAX's defaults.
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# The test process itself runs without the persistent compilation cache: in a full run (torch,
# optax and many shapes in one process) reading an entry back segfaulted inside
# jax's compilation_cache.get_executable_and_time (seen twice, each time in
# tests/test_external_oracles.py; a fresh cache and that file alone passed). Subprocesses the
# tests start keep the cache (the variable is restored), and tests/test_compile_cache.py checks
# the cache across processes with a directory of its own.
_cache_env = os.environ.get("GFLAB_JAX_CACHE")
os.environ["GFLAB_JAX_CACHE"] = "off"
import sims  # noqa: E402,F401  (float64, EQX_ON_ERROR)

if _cache_env is None:
    del os.environ["GFLAB_JAX_CACHE"]
else:
    os.environ["GFLAB_JAX_CACHE"] = _cache_env


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_executables():
    """Drop JAX's in-memory executables after each test module: one process runs the whole suite,
    and thousands of live executables (each with its own code mappings) made a late XLA compile
    abort in a full run; modules share few shapes, so little is recompiled."""
    yield
    jax.clear_caches()


def pytest_report_header(config):
    from proofs_checks.runner import current_profile

    return f"gflab: hypothesis profile {current_profile()} (set GFLAB_PROFILE=ci|dev|thorough)"
