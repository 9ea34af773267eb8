"""The test run's own checks are on: theory/'s shape annotations (jaxtyping + beartype, installed by
pyproject's ``--jaxtyping-packages``) and JAX's strict dtype and rank promotion (tests/conftest.py).
Each test feeds an input that NumPy or JAX would otherwise accept silently."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from gflab.theory import dmf as D
from gflab.theory import measures as M


def test_wrong_shaped_mask_is_caught():
    """A (4, 1) mask (one column meant) broadcasts against the (4, 4) product in NumPy: every
    column counts as observed and no error is raised. The annotation ``mask: "m n"`` with
    ``target: "m n"`` rejects it, and a full mask still gives ½·12 off-diagonal residuals of 1."""
    factors = D.identity_init(4, 2, 1.0)
    target = D.ones_target(4)
    assert float(D.masked_loss(factors, np.ones((4, 4)), target)) == pytest.approx(6.0, rel=1e-15)
    with pytest.raises(TypeCheckError, match="mask"):
        D.masked_loss(factors, np.ones((4, 1)), target)


def test_wrong_dtype_is_caught():
    """An integer matrix is not ``Float``: its singular values would come back as float64 anyway."""
    with pytest.raises(TypeCheckError, match="W"):
        M.singular_values(np.eye(3, dtype=np.int64))


def test_wrong_shaped_proxy_directions_are_caught():
    """U (m×k) and V (n×k) must share k; a V with one more column would fail only at the product
    (here: a shape error from NumPy naming no parameter), the annotation names ``V``."""
    W = np.eye(3)
    with pytest.raises(TypeCheckError, match="V"):
        M.proxies(W, np.eye(3)[:, :2], np.eye(3))


def test_strict_dtype_promotion_is_on():
    """int32 + float32 would promote silently to float32 under JAX's default rules."""
    with pytest.raises(Exception, match="promot"):
        jnp.ones(3, dtype=jnp.int32) + jnp.ones(3, dtype=jnp.float32)


def test_rank_promotion_raises():
    """(2, 3) + (3,) would broadcast silently under JAX's default rules."""
    with pytest.raises(ValueError, match="jax_numpy_rank_promotion='raise'"):
        jnp.ones((2, 3)) + jnp.ones(3)
