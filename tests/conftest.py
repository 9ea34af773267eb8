"""Test configuration: float64 JAX, headless matplotlib, offline hub, hypothesis profile printed."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import sims  # noqa: E402,F401  (compilation cache)


def pytest_report_header(config):
    from proofs_checks.runner import current_profile

    return f"gflab: hypothesis profile {current_profile()} (set GFLAB_PROFILE=ci|dev|thorough)"
