"""Deep matrix factorisation and completion [DMC] (docs/theory.md §2.1).

Factors are ordered ``[W_1, …, W_L]`` (W_1 acts first) with product W = W_L ⋯ W_1. Shapes may be
rectangular (W_l is d_l × d_{l−1}); square n×n is the papers' case. Observations are a 0/1 mask
Ω of W's shape and a target W*. The loss is ℓ = ½ Σ_{(i,j)∈Ω} (W_ij − W*_ij)² (a sum, not the
authors' mean: under gradient flow the mean only rescales time by |Ω|).

Array functions here work on NumPy, JAX and torch arrays; constructors (inits, masks, targets)
return NumPy float64 arrays built from an explicit ``seed``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from jaxtyping import Float, Int, PyTree, Real

from gflab.theory._validate import (
    GflabInputError,
    finite_array,
    one_of,
    positive_int,
    positive_real,
    probability,
)
from gflab.theory._xp import AnyArray, as_index, eye_like, namespace

__all__ = [
    "NORMALISATIONS",
    "normalisation_factor",
    "product",
    "partial_products",
    "residual",
    "masked_loss",
    "gradient_field",
    "mimic_init",
    "gaussian_init",
    "identity_init",
    "orthogonal_init",
    "make_init",
    "INIT_NAMES",
    "diagonal_mask",
    "block_diagonal_mask",
    "superdiagonal_mask",
    "bernoulli_mask",
    "make_mask",
    "MASK_NAMES",
    "ones_target",
    "lowrank_target",
    "make_target",
    "TARGET_NAMES",
    "TARGET_SEED_OFFSET",
    "observed_indices",
    "observation_groups",
    "tangent_kernel",
]


# ----------------------------------------------------------------------------- dynamics


def product(factors: PyTree[Float[AnyArray, "*batch _ _"]]) -> Float[AnyArray, "*batch _ _"]:
    """W = W_L ⋯ W_1 (docs/theory.md §2.1).

    Args:
        factors: the L factors W_1, …, W_L (each (…, d_l, d_{l−1}); NumPy, JAX or torch).

    Returns:
        W, (…, d_L, d_0), in the factors' namespace.
    """
    W = factors[0]
    for Wl in factors[1:]:
        W = Wl @ W
    return W


def partial_products(
    factors: PyTree[Float[AnyArray, "*batch _ _"]],
) -> tuple[PyTree[Float[AnyArray, "*batch _ _"]], PyTree[Float[AnyArray, "*batch _ _"]]]:
    """(P_l, Q_l) for l = 1..L with P_l = W_{L:l+1}, Q_l = W_{l−1:1} (empty products are I).

    Args:
        factors: the L factors W_1, …, W_L (each (…, d_l, d_{l−1}); NumPy, JAX or torch).

    Returns:
        (P, Q), two lists of L arrays; ``P[l-1]`` is d_L × d_l and ``Q[l-1]`` is d_{l−1} × d_0.
    """
    L = len(factors)
    namespace(*factors)  # one array library for all factors (raises on a mix)
    d0 = factors[0].shape[-1]
    dL = factors[-1].shape[-2]
    Q = [None] * L
    Q[0] = eye_like(factors[0], d0)
    for l in range(1, L):
        Q[l] = factors[l - 1] @ Q[l - 1]
    P = [None] * L
    P[L - 1] = eye_like(factors[0], dL)
    for l in range(L - 2, -1, -1):
        P[l] = P[l + 1] @ factors[l + 1]
    return P, Q


def residual(
    factors: PyTree[Float[AnyArray, "*batch _ _"]],
    mask: Real[AnyArray, "*batch m n"],
    target: Real[AnyArray, "*batch m n"],
) -> Float[AnyArray, "*batch m n"]:
    """R = P_Ω(W − W*), the observed residual (docs/theory.md §2.1).

    Args:
        factors: the L factors W_1, …, W_L (each (…, d_l, d_{l−1}); NumPy, JAX or torch).
        mask: the 0/1 observation mask of Ω, shaped as W.
        target: the target W*, shaped as W.

    Returns:
        R, shaped as W (zero off Ω).
    """
    return mask * (product(factors) - target)


def masked_loss(
    factors: PyTree[Float[AnyArray, "*batch _ _"]],
    mask: Real[AnyArray, "*batch m n"],
    target: Real[AnyArray, "*batch m n"],
) -> Float[AnyArray, ""]:
    """ℓ = ½ Σ_{(i,j)∈Ω} (W_ij − W*_ij)².

    The ``sum`` normalisation of docs/theory.md §2.1 (:func:`normalisation_factor`).

    Args:
        factors: the L factors W_1, …, W_L (each (…, d_l, d_{l−1}); NumPy, JAX or torch).
        mask: the 0/1 observation mask of Ω, shaped as W.
        target: the target W*, shaped as W.

    Returns:
        The scalar loss, in the factors' namespace.
    """
    xp = namespace(*factors)
    R = residual(factors, mask, target)
    return 0.5 * xp.sum(R * R)


NORMALISATIONS = ("sum", "mean", "full-mean")


def normalisation_factor(name: str, mask: Real[AnyArray, "m n"]) -> float:
    """c such that the normalised loss is c · ½ Σ_Ω R² (and its gradient c times ``gradient_field``'s).

    ``sum``: ½ Σ_Ω R² (c = 1); ``mean``: ½ Σ_Ω R² / |Ω| (Kleinman et al.'s, c = 1/|Ω|);
    ``full-mean``: Σ_Ω R² / n² = ``((mask*W - mask*W*)**2).mean()``, the [DMC] authors' loss
    (baekrok/MC, no ½ and a mean over all n² entries, c = 2/n²).

    Args:
      name: one of :data:`NORMALISATIONS`.
      mask: (n, n) 0/1 observation mask.
    Returns:
      c > 0.
    """
    one_of("normalisation", name, NORMALISATIONS)
    m = np.asarray(mask)
    if name == "mean":
        return 1.0 / float(m.sum())
    if name == "full-mean":
        return 2.0 / float(m.size)
    return 1.0


def gradient_field(
    factors: PyTree[Float[AnyArray, "*batch _ _"]],
    mask: Real[AnyArray, "*batch m n"],
    target: Real[AnyArray, "*batch m n"],
) -> PyTree[Float[AnyArray, "*batch _ _"]]:
    """Gradient-flow velocity dW_l/dt = −W_{L:l+1}ᵀ P_Ω(W − W*) W_{l−1:1}ᵀ, for every l.

    Computed with prefix/suffix products: O(L) matrix products, no autodiff.

    Args:
        factors: the L factors W_1, …, W_L (each (…, d_l, d_{l−1}); NumPy, JAX or torch).
        mask: the 0/1 observation mask of Ω, shaped as W.
        target: the target W*, shaped as W.

    Returns:
        A list of L arrays, dW_l/dt shaped as W_l (the negative gradient of :func:`masked_loss`).
    """
    xp = namespace(*factors)
    L = len(factors)
    # prefix Q_l and the product in one sweep
    Q = [None] * L
    Q[0] = None
    acc = factors[0]
    for l in range(1, L):
        Q[l] = acc
        acc = factors[l] @ acc
    R = mask * (acc - target)
    out = [None] * L
    G = R  # G = P_lᵀ R, built from the top down
    for l in range(L - 1, -1, -1):
        out[l] = -(G if Q[l] is None else G @ xp.matrix_transpose(Q[l]))
        if l > 0:
            G = xp.matrix_transpose(factors[l]) @ G
    return out


# ----------------------------------------------------------------------------- initialisations

INIT_NAMES = ("mimic", "gaussian", "tied-gaussian", "identity", "orthogonal")


def _sizes(n: int, depth: int, alpha: float) -> tuple[int, int, float]:
    """(n, depth, alpha) checked: n and L integers ≥ 1, α > 0 (a bad one raises naming it)."""
    return positive_int("n", n), positive_int("depth", depth), positive_real("alpha", alpha)


def _scale(alpha: float, depth: int) -> float:
    return alpha ** (1.0 / depth)


def mimic_init(n: int, depth: int, alpha: float, m: float) -> PyTree[Float[np.ndarray, "n n"]]:
    """Every factor equals (α^{1/L}/√n)[(1 − 1/m) I + J/m]; ``m = inf`` is diagonal (docs/theory.md §2.1).

    Args:
        n: the size (every factor is n×n).
        depth: L ≥ 1.
        alpha: the scale α > 0 of W(0).
        m: the mixing m > 1, or ``inf``.

    Returns:
        A list of L equal (n, n) float64 arrays.
    """
    n, depth, alpha = _sizes(n, depth, alpha)
    m = positive_real("m", m, allow_inf=True)
    if not m > 1:
        raise GflabInputError("m", "a real number > 1 (inf for diagonal init)", m)
    a = _scale(alpha, depth) / math.sqrt(n)
    F = a * ((1.0 - 1.0 / m) * np.eye(n) + np.ones((n, n)) / m)
    return [F.copy() for _ in range(depth)]


def gaussian_init(
    n: int, depth: int, alpha: float, seed: int, tied: bool = False
) -> PyTree[Float[np.ndarray, "n n"]]:
    """Gaussian factors, entries N(0, (α^{1/L}/√n)²); ``tied`` repeats one draw in every layer.

    Args:
        n: the size (every factor is n×n).
        depth: L ≥ 1.
        alpha: the scale α > 0 of W(0).
        seed: the NumPy generator's seed.
        tied: draw one factor and repeat it.

    Returns:
        A list of L (n, n) float64 arrays.
    """
    n, depth, alpha = _sizes(n, depth, alpha)
    rng = np.random.default_rng(seed)
    std = _scale(alpha, depth) / math.sqrt(n)
    if tied:
        F = std * rng.standard_normal((n, n))
        return [F.copy() for _ in range(depth)]
    return [std * rng.standard_normal((n, n)) for _ in range(depth)]


def identity_init(n: int, depth: int, alpha: float) -> PyTree[Float[np.ndarray, "n n"]]:
    """Every factor α^{1/L} I, so W(0) = α I.

    Args:
        n: the size (every factor is n×n).
        depth: L ≥ 1.
        alpha: the scale α > 0 of W(0).

    Returns:
        A list of L (n, n) float64 arrays.
    """
    n, depth, alpha = _sizes(n, depth, alpha)
    return [_scale(alpha, depth) * np.eye(n) for _ in range(depth)]


def orthogonal_init(
    n: int, depth: int, alpha: float, seed: int
) -> PyTree[Float[np.ndarray, "n n"]]:
    """Independent Haar-orthogonal factors times α^{1/L}, so every σ_i(W(0)) = α.

    Args:
        n: the size (every factor is n×n).
        depth: L ≥ 1.
        alpha: the scale α > 0 of W(0).
        seed: the NumPy generator's seed.

    Returns:
        A list of L (n, n) float64 arrays.
    """
    n, depth, alpha = _sizes(n, depth, alpha)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(depth):
        Qm, Rm = np.linalg.qr(rng.standard_normal((n, n)))
        out.append(_scale(alpha, depth) * Qm * np.sign(np.diag(Rm)))
    return out


def make_init(
    name: str, n: int, depth: int, alpha: float, *, m: float = math.inf, seed: int = 0
) -> PyTree[Float[np.ndarray, "n n"]]:
    """Initial factors by name: one of :data:`INIT_NAMES`.

    Args:
        name: ``mimic``, ``gaussian``, ``tied-gaussian``, ``identity`` or ``orthogonal``.
        n: the size (every factor is n×n).
        depth: L ≥ 1.
        alpha: the scale α > 0 of W(0).
        m: the mixing of ``mimic`` (:func:`mimic_init`).
        seed: the draw of the random inits.

    Returns:
        A list of L (n, n) float64 arrays.

    Raises:
        GflabInputError: an unknown name (parameter ``init``) or a bad size or scale.
    """
    if name == "mimic":
        return mimic_init(n, depth, alpha, m)
    if name == "gaussian":
        return gaussian_init(n, depth, alpha, seed)
    if name == "tied-gaussian":
        return gaussian_init(n, depth, alpha, seed, tied=True)
    if name == "identity":
        return identity_init(n, depth, alpha)
    if name == "orthogonal":
        return orthogonal_init(n, depth, alpha, seed)
    raise GflabInputError("init", "one of " + ", ".join(INIT_NAMES), name)


# ----------------------------------------------------------------------------- masks

MASK_NAMES = ("diagonal", "block:K", "superdiag", "bernoulli:P")


def diagonal_mask(n: int) -> Float[np.ndarray, "n n"]:
    """Ω = the diagonal (the diagonal-completion problem of docs/theory.md §2.1).

    Args:
        n: the size.

    Returns:
        I_n as float64.
    """
    return np.eye(positive_int("n", n))


def block_diagonal_mask(n: int, blocks: int) -> Float[np.ndarray, "n n"]:
    """K fully observed diagonal blocks of size s = n/K (n must be divisible by K).

    Args:
        n: the size.
        blocks: K, a divisor of n.

    Returns:
        The (n, n) 0/1 float64 mask I_K ⊗ J_s.
    """
    n = positive_int("n", n)
    blocks = positive_int("blocks", blocks)
    if n % blocks:
        raise GflabInputError("blocks", f"a divisor of n={n}", blocks)
    s = n // blocks
    return np.kron(np.eye(blocks), np.ones((s, s)))


def superdiagonal_mask(n: int) -> Float[np.ndarray, "n n"]:
    """Diagonal plus superdiagonal: a connected observation pattern.

    Args:
        n: the size.

    Returns:
        The (n, n) 0/1 float64 mask.
    """
    n = positive_int("n", n)
    return np.eye(n) + np.eye(n, k=1)


def bernoulli_mask(
    n: int, p: float, seed: int, cols: int | None = None
) -> Float[np.ndarray, "n cols"]:
    """Each entry observed independently with probability p.

    Args:
        n: the rows.
        p: the probability, in [0, 1].
        seed: the NumPy generator's seed.
        cols: the columns (default n).

    Returns:
        The (n, cols) 0/1 float64 mask (it may be empty; :func:`make_mask` refuses that).
    """
    n = positive_int("n", n)
    p = probability("p", p)
    rng = np.random.default_rng(seed)
    return (rng.random((n, n if cols is None else cols)) < p).astype(np.float64)


def make_mask(spec: Any, n: int, *, seed: int = 0) -> Float[np.ndarray, "rows cols"]:
    """A mask from a name (``diagonal``, ``block:K``, ``superdiag``, ``bernoulli:P``) or an array.

    Args:
        spec: a name of :data:`MASK_NAMES` or a 2-D 0/1 array with at least one 1.
        n: the size of a named mask.
        seed: the draw of ``bernoulli:P``.

    Returns:
        The 0/1 float64 mask.

    Raises:
        GflabInputError: an unknown name, a bad argument, or an empty mask (parameter ``mask``).
    """
    if not isinstance(spec, str):
        arr = np.asarray(finite_array("mask", spec, ndim=2), dtype=np.float64)
        if not np.all((arr == 0) | (arr == 1)):
            raise GflabInputError("mask", "a 0/1 array", "entries other than 0 and 1")
        if arr.sum() == 0:
            raise GflabInputError("mask", "at least one observed entry", "an empty mask")
        return arr
    kind, _, arg = spec.partition(":")
    try:
        if kind == "diagonal" and not arg:
            return diagonal_mask(n)
        if kind == "superdiag" and not arg:
            return superdiagonal_mask(n)
        if kind == "block" and arg:
            return block_diagonal_mask(n, int(arg))
        if kind == "bernoulli" and arg:
            mask = bernoulli_mask(n, float(arg), seed)
            if mask.sum() == 0:
                raise GflabInputError("mask", "a Bernoulli draw with at least one entry", spec)
            return mask
    except ValueError as e:
        if isinstance(e, GflabInputError):
            raise
        raise GflabInputError("mask", "one of " + ", ".join(MASK_NAMES), spec) from None
    raise GflabInputError("mask", "one of " + ", ".join(MASK_NAMES), spec)


# ----------------------------------------------------------------------------- targets

TARGET_NAMES = ("ones", "const:W", "lowrank:R")


def ones_target(n: int, value: float = 1.0) -> Float[np.ndarray, "n n"]:
    """w* J: every entry equals ``value`` (the diagonal-completion target of docs/theory.md §2.1).

    Args:
        n: the size.
        value: w*.

    Returns:
        The (n, n) float64 target.
    """
    return float(value) * np.ones((positive_int("n", n),) * 2)


def lowrank_target(n: int, rank: int, seed: int) -> Float[np.ndarray, "n n"]:
    """Random rank-R target U Vᵀ/√R with standard Gaussian U, V (entries of unit variance).

    Args:
        n: the size.
        rank: R in [1, n].
        seed: the NumPy generator's seed (U drawn first, then V).

    Returns:
        The (n, n) float64 target.
    """
    n = positive_int("n", n)
    rank = positive_int("rank", rank)
    if rank > n:
        raise GflabInputError("rank", f"an integer in [1, n={n}]", rank)
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n, rank))
    V = rng.standard_normal((n, rank))
    return U @ V.T / math.sqrt(rank)


# lowrank:R targets draw from seed + this, so a target never reuses the init's or the mask's draw
# (the PyTorch bridge imports it to build the same target)
TARGET_SEED_OFFSET = 7919


def make_target(spec: Any, n: int, *, seed: int = 0) -> Float[np.ndarray, "rows cols"]:
    """A target from a name (``ones``, ``const:W``, ``lowrank:R``) or an n×n array.

    Args:
        spec: a name of :data:`TARGET_NAMES` or a finite 2-D array.
        n: the size of a named target.
        seed: ``lowrank:R`` draws from ``seed +`` :data:`TARGET_SEED_OFFSET`.

    Returns:
        The float64 target.

    Raises:
        GflabInputError: an unknown name or a bad argument (parameter ``target``).
    """
    if not isinstance(spec, str):
        arr = np.asarray(finite_array("target", spec, ndim=2), dtype=np.float64)
        return arr
    kind, _, arg = spec.partition(":")
    try:
        if kind == "ones" and not arg:
            return ones_target(n)
        if kind == "const" and arg:
            v = float(arg)
            if not math.isfinite(v):
                raise GflabInputError("target", "a finite constant", spec)
            return ones_target(n, v)
        if kind == "lowrank" and arg:
            r = int(arg)
            if not 1 <= r <= n:
                raise GflabInputError("target", f"lowrank:R with R in [1, n={n}]", spec)
            return lowrank_target(n, r, seed + TARGET_SEED_OFFSET)
    except ValueError as e:
        if isinstance(e, GflabInputError):
            raise
        raise GflabInputError("target", "one of " + ", ".join(TARGET_NAMES), spec) from None
    raise GflabInputError("target", "one of " + ", ".join(TARGET_NAMES), spec)


# ----------------------------------------------------------------------------- coupling


def observed_indices(
    mask: Real[AnyArray, "m n"],
) -> tuple[Int[np.ndarray, " k"], Int[np.ndarray, " k"]]:
    """Row and column indices of Ω in row-major order (static NumPy arrays).

    Args:
        mask: the 0/1 observation mask.

    Returns:
        (rows, cols), two (|Ω|,) integer arrays.
    """
    rows, cols = np.nonzero(np.asarray(mask))
    return rows, cols


def observation_groups(mask: Real[AnyArray, "m n"]) -> Int[np.ndarray, " k"]:
    """Label each observed entry by its connected component, entries linked by a shared row or column.

    At depth 2 only entries sharing a row or a column interact (docs/theory.md §2.1), so these are the
    groups whose cross-kernel depth 2 keeps at zero. Labels follow :func:`observed_indices` order.

    Args:
        mask: the 0/1 observation mask.

    Returns:
        (|Ω|,) integer labels 0, 1, … (equal labels: the same component).
    """
    rows, cols = observed_indices(mask)
    k = len(rows)
    parent = list(range(k))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for key in (rows, cols):
        first: dict[int, int] = {}
        for idx, v in enumerate(key):
            v = int(v)
            if v in first:
                ra, rb = find(idx), find(first[v])
                if ra != rb:
                    parent[ra] = rb
            else:
                first[v] = idx
    roots = [find(i) for i in range(k)]
    _, labels = np.unique(roots, return_inverse=True)
    return labels


def tangent_kernel(
    factors: PyTree[Float[AnyArray, "_ _"]],
    rows: Int[AnyArray, " k"],
    cols: Int[AnyArray, " k"],
    layers: Any = None,
) -> Float[AnyArray, "k k"]:
    """K_{(ij),(pq)} = Σ_l (P_l P_lᵀ)_{ip} (Q_lᵀ Q_l)_{jq} between observed entries (docs/theory.md §2.1).

    ``rows``/``cols`` list Ω (see :func:`observed_indices`); returns a |Ω|×|Ω| symmetric matrix.
    ``layers`` (boolean, one per factor) keeps only the terms of the True layers: a solve padded
    with frozen identity factors (sims/buckets.py) counts its real layers only.

    Args:
        factors: the L factors W_1, …, W_L.
        rows: the observed entries' rows.
        cols: their columns.
        layers: one boolean per factor, or ``None`` for all layers.

    Returns:
        K, (|Ω|, |Ω|) symmetric, in the factors' namespace.
    """
    xp = namespace(*factors)
    rows, cols = as_index(rows, factors[0]), as_index(cols, factors[0])
    P, Q = partial_products(factors)
    K = 0.0
    for l, (Pl, Ql) in enumerate(zip(P, Q, strict=True)):
        left = Pl @ xp.matrix_transpose(Pl)
        right = xp.matrix_transpose(Ql) @ Ql
        Lsub = xp.take(xp.take(left, rows, axis=0), rows, axis=1)
        Rsub = xp.take(xp.take(right, cols, axis=0), cols, axis=1)
        term = Lsub * Rsub
        K = K + (term if layers is None else xp.where(layers[l], term, 0.0 * term))
    return K
