"""Test configuration: float64 JAX with strict dtype and rank promotion, headless matplotlib, offline
hub, hypothesis profile printed. Shapes of theory/'s functions are checked by jaxtyping + beartype
(``--jaxtyping-packages`` in pyproject's addopts, installed before this file is imported)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# `gflab simulate` stores every run: the suite writes into a store of its own, never into the
# checkout's .gflab-cache (a test that needs an empty store still sets its own)
if not os.environ.get("GFLAB_STORE"):
    os.environ["GFLAB_STORE"] = tempfile.mkdtemp(prefix="gflab-test-store-")
    atexit.register(shutil.rmtree, os.environ["GFLAB_STORE"], True)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
# diffrax's test habits (test/conftest.py there): no implicit dtype promotion (an int or weak
# float silently widened, a float32 mixed into float64) and no implicit rank promotion (an
# (n,) array broadcast against (m, n) without saying so). The code must say what it means with
# explicit dtypes and broadcasts; subprocesses the tests start run with JAX's defaults.
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# The persistent compilation cache is on in the test process too (``$GFLAB_JAX_CACHE``, as
# everywhere): xdist workers and the CLI subprocesses the tests start share compiled solves, and
# a module re-loads what an earlier one compiled after the per-module cache clearing below.
from gflab import sims  # noqa: E402,F401  (float64, EQX_ON_ERROR, the compilation cache)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_executables():
    """Drop JAX's in-memory executables after each test module: one process runs the whole suite,
    and thousands of live executables (each with its own code mappings) made a late XLA compile
    abort in a full run; modules share few shapes, so little is recompiled."""
    yield
    jax.clear_caches()


def pytest_report_header(config):
    from gflab.proofs_checks.runner import current_profile

    return f"gflab: hypothesis profile {current_profile()} (set GFLAB_PROFILE=ci|dev|thorough)"
