"""Array-namespace dispatch: one implementation of each formula for NumPy, JAX and torch arrays."""

from __future__ import annotations

from typing import Any

import array_api_compat

AnyArray = Any
"""The array type in theory's shape annotations: ``Float[AnyArray, "m n"]`` is jaxtyping's escape
hatch for "any object with ``shape`` and ``dtype``", so one annotation covers NumPy, JAX (tracers
included) and torch (without importing torch) and still checks the dtype kind and the shape."""


def namespace(*arrays: Any):
    """The array-API namespace of ``arrays`` (``jax.numpy`` for JAX, a compat layer for torch)."""
    return array_api_compat.array_namespace(*arrays)


def svdvals(x: Any):
    """Singular values, descending, over the last two axes."""
    xp = namespace(x)
    return xp.linalg.svdvals(x)


def eye_like(x: Any, n: int):
    xp = namespace(x)
    return xp.eye(n, dtype=x.dtype, device=array_api_compat.device(x))


def as_index(x: Any, like: Any):
    """Static NumPy indices as an array of ``like``'s namespace and device (torch's ``take`` needs
    a tensor); traced or native index arrays pass through unchanged."""
    import numpy as np

    if not isinstance(x, np.ndarray):
        return x
    xp = namespace(like)
    return xp.asarray(x, device=array_api_compat.device(like))
