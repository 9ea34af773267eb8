"""Measurements of a matrix or a factorisation (docs/theory.md §2.1, §2.2).

Every function here works unchanged on NumPy, JAX and torch arrays (through the array API), so the
simulations and the PyTorch bridge measure with the same code. Batched inputs (``..., m, n``) are
allowed wherever a single matrix is.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, PyTree, Real

from gflab.theory._validate import Choice
from gflab.theory._xp import AnyArray, as_index, namespace, svdvals

__all__ = [
    "singular_values",
    "stable_rank",
    "effective_rank",
    "proxies",
    "balancedness",
    "balancedness_residual",
    "stable_rank_tail",
    "test_rmse",
    "cross_coupling",
    "arrival_times",
    "ArrivalTransform",
]


def singular_values(W: Float[AnyArray, "*batch m n"]) -> Float[AnyArray, "*batch k"]:
    """σ_1 ≥ σ_2 ≥ … of ``W`` (over the last two axes).

    Args:
        W: a matrix or a batch of them (NumPy, JAX or torch).

    Returns:
        The singular values, descending, in ``W``'s library.
    """
    return svdvals(W)


def stable_rank(
    W: Float[AnyArray, "*batch m n"] | None, *, sigma: Float[AnyArray, "*batch k"] | None = None
) -> Float[AnyArray, "*batch"]:
    """Stable rank ‖W‖_F² / ‖W‖_2² = Σσ_i² / σ_1² (1 for rank one, ≤ rank(W)).

    A zero matrix has stable rank 0 by convention. Pass ``sigma`` to reuse singular values.

    Args:
        W: a matrix or a batch of them (None when ``sigma`` is given).
        sigma: their singular values, instead of ``W``.

    Returns:
        The stable rank per matrix.
    """
    s = singular_values(W) if sigma is None else sigma
    xp = namespace(s)
    s2 = s * s
    top = s2[..., 0]
    return xp.where(top > 0, xp.sum(s2, axis=-1) / xp.where(top > 0, top, 1.0), 0.0 * top)


def effective_rank(
    W: Float[AnyArray, "*batch m n"] | None,
    *,
    sigma: Float[AnyArray, "*batch k"] | None = None,
    power: int = 1,
) -> Float[AnyArray, "*batch"]:
    """Effective rank exp(H(p)) of Roy and Vetterli, p_i = σ_i^power / Σ σ_j^power.

    ``power=1`` is Roy and Vetterli's definition (our default); ``power=2`` is the variant used by
    the [DMC] authors' CIFAR code. Figures say which one they show. A zero matrix has effective
    rank 0 by convention.

    Args:
        W: a matrix or a batch of them (None when ``sigma`` is given).
        sigma: their singular values, instead of ``W``.
        power: 1 (Roy and Vetterli) or 2 (the [DMC] code's variant).

    Returns:
        The effective rank per matrix.
    """
    s = singular_values(W) if sigma is None else sigma
    xp = namespace(s)
    sp = s**power
    total = xp.sum(sp, axis=-1, keepdims=True)
    p = sp / xp.where(total > 0, total, 1.0)
    plogp = xp.where(p > 0, p * xp.log(xp.where(p > 0, p, 1.0)), 0.0 * p)
    erank = xp.exp(-xp.sum(plogp, axis=-1))
    # a zero matrix has effective rank 0, like its stable rank (p is undefined there)
    return xp.where(total[..., 0] > 0, erank, 0.0 * erank)


def proxies(
    product: Float[AnyArray, "*batch m n"], U: Float[AnyArray, "m k"], V: Float[AnyArray, "n k"]
) -> Float[AnyArray, "*batch k"]:
    """d_i = u_iᵀ (A B) v_i for the target's singular pairs (docs/theory.md §2.2), in the targets' order.

    ``U`` is m×k and ``V`` is n×k with the target's left/right singular vectors as columns.

    Args:
        product: the product A B (or a batch of products).
        U: the target's left singular vectors, m × k.
        V: the target's right singular vectors, n × k.

    Returns:
        d_1, …, d_k per product.
    """
    xp = namespace(product, U, V)
    return xp.sum(U * (product @ V), axis=-2)


def balancedness(
    factors: PyTree[Float[AnyArray, "*batch _ _"]],
) -> PyTree[Float[AnyArray, "*batch _ _"]]:
    """D_l = W_{l+1}ᵀ W_{l+1} − W_l W_lᵀ for l = 1..L−1 (conserved by gradient flow, docs/theory.md §2.1).

    ``factors`` is ordered W_1, …, W_L (W_1 acts first). For LoRA's (A, B) with product A B, pass
    ``[B, A]``: D = AᵀA − B Bᵀ.

    Args:
        factors: W_1, …, W_L (W_1 acts first), each possibly batched.

    Returns:
        [D_1, …, D_{L−1}].
    """
    out = []
    for lo, hi in zip(factors[:-1], factors[1:], strict=True):
        xp = namespace(lo, hi)
        out.append(xp.matrix_transpose(hi) @ hi - lo @ xp.matrix_transpose(lo))
    return out


def balancedness_residual(
    factors: PyTree[Float[AnyArray, "*batch _ _"]],
    reference: PyTree[Float[AnyArray, "*batch _ _"]] | None = None,
) -> Float[AnyArray, "*batch"]:
    """max_l ‖D_l − D_l^ref‖_F: drift of the balancedness invariant (0 for exact gradient flow).

    Args:
        factors: W_1, …, W_L now.
        reference: the factors the invariant is compared with (default: D_l^ref = 0).

    Returns:
        max_l ‖D_l − D_l^ref‖_F (per batch entry).
    """
    D = balancedness(factors)
    D0 = [0.0 * d for d in D] if reference is None else balancedness(reference)
    vals = []
    for d, d0 in zip(D, D0, strict=True):
        xp = namespace(d)
        vals.append(xp.sqrt(xp.sum((d - d0) ** 2, axis=(-2, -1))))
    xp = namespace(vals[0])
    return xp.max(xp.stack(vals), axis=0)


def stable_rank_tail(sigma: Real[AnyArray, "*k"] | PyTree[float | int]) -> float:
    """Σ_{i≥2} σ_i² / σ_1² = stable rank − 1, without the cancellation of computing sr − 1.

    ``sigma`` holds the singular values (any order, signs ignored). ``nan`` for a zero matrix,
    whose stable rank is 0 by convention, so that no "rank one" test passes on it. NumPy only.

    Args:
        sigma: singular values.

    Returns:
        Σ_{i≥2} σ_i² / σ_1², or ``nan`` when σ_1 = 0.
    """
    s = np.sort(np.abs(np.asarray(sigma, dtype=float)))[::-1]
    if s.size == 0 or s[0] == 0:
        return float("nan")
    return float(np.sum(s[1:] ** 2) / s[0] ** 2)


def test_rmse(
    W: Float[AnyArray, "*batch m n"], mask: Real[AnyArray, "m n"], target: Float[AnyArray, "m n"]
) -> Float[AnyArray, "*batch"]:
    """Root-mean-square error of ``W`` on the unobserved entries (mask 0): √(Σ_{Ωᶜ}(W − W*)² / |Ωᶜ|),
    0 when every entry is observed.

    Args:
        W: the end-to-end matrix (or a batch of them).
        mask: the observed entries (1) and the hidden ones (0).
        target: the matrix being completed, W*.

    Returns:
        The RMSE on the hidden entries, per matrix.
    """
    xp = namespace(W)
    hidden = 1 - mask
    total = xp.sum(hidden * (W - target) ** 2, axis=(-2, -1))
    count = xp.sum(hidden * xp.ones_like(W), axis=(-2, -1))
    return xp.sqrt(total / xp.where(count > 1.0, count, 1.0))


test_rmse.__test__ = False  # a measurement, not a pytest test


def cross_coupling(K: Float[AnyArray, "k k"], groups: Real[AnyArray, " k"]) -> Float[AnyArray, ""]:
    """max |K_ab| over entries a, b in different groups, divided by max_a K_aa.

    0 when the dynamics is decoupled along ``groups`` (docs/theory.md §2.1); a scale-free number
    otherwise. With a single group there is no cross term and the result is 0. ``K`` is the
    tangent kernel of the observed entries (:func:`gflab.theory.dmf.tangent_kernel`); ``groups`` their
    group labels (NumPy, or an array of ``K``'s library: traced under ``jax.jit``).

    Args:
        K: the tangent kernel of the observed entries, k × k.
        groups: each observed entry's group label, length k.

    Returns:
        The normalised largest cross-group entry (a scalar).
    """
    xp = namespace(K)
    g = as_index(groups, K)
    cross = xp.astype(g[:, None] != g[None, :], K.dtype)
    diag = xp.max(xp.abs(xp.linalg.diagonal(K)))
    num = xp.max(xp.abs(K) * cross)
    return num / xp.where(diag > 0, diag, 1.0)


class ArrivalTransform(Choice):
    """The transform :func:`arrival_times` interpolates in: ``linear`` (the value d itself),
    ``sqrt`` (√d: SpecGF's proxies grow with unit slope in √d) or ``logit`` (logit(d/s):
    gradient flow's logistic law)."""

    LINEAR = "linear"
    SQRT = "sqrt"
    LOGIT = "logit"

    def apply(self, x: float, s: float) -> float:
        """The transformed value of ``x`` for a mode of target ``s``.

        Args:
            x: a value of the trajectory.
            s: the mode's target (the scale of ``logit``).

        Returns:
            The transformed value.
        """
        return _ARRIVAL_TRANSFORMS[self](x, s)


def _logit(x: float, s: float) -> float:
    x = np.clip(x / s, 1e-300, 1 - 1e-16)
    return np.log(x / (1 - x))


_ARRIVAL_TRANSFORMS = {
    ArrivalTransform.LINEAR: lambda x, s: x,
    ArrivalTransform.SQRT: lambda x, s: np.sqrt(max(x, 0.0)),
    ArrivalTransform.LOGIT: _logit,
}


def arrival_times(
    times: Real[AnyArray, " T"] | PyTree[float | int],
    values: Real[AnyArray, "T k"] | PyTree[float | int],
    targets: Real[AnyArray, " k"] | PyTree[float | int],
    fraction: float = 0.5,
    transform: ArrivalTransform | str = ArrivalTransform.LINEAR,
) -> Float[np.ndarray, " k"]:
    """First time each column of ``values`` (shape T×k) reaches ``fraction`` × its target.

    Interpolation between saved times is linear in a transform of the value under which the
    expected curve is straight, so that a coarse save grid costs no accuracy
    (:class:`ArrivalTransform`). ``inf`` where a mode never arrives. NumPy only: it
    post-processes saved trajectories.

    Args:
        times: the saved times, increasing.
        values: the trajectory, one column per mode (T × k).
        targets: each mode's target s_i.
        fraction: the fraction f of its target a mode must reach.
        transform: an :class:`ArrivalTransform` or its spelling (``linear``, ``sqrt``, ``logit``).

    Returns:
        One first-passage time per mode (``inf`` where never reached).
    """
    transform = ArrivalTransform.parse(transform, "transform")
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape[1], np.inf)
    for i, s in enumerate(np.asarray(targets, dtype=float)):
        hit = np.nonzero(v[:, i] >= fraction * s)[0]
        if hit.size == 0:
            continue
        k = hit[0]
        if k == 0:
            out[i] = t[0]
            continue
        f = transform.apply
        y0, y1, g = f(v[k - 1, i], s), f(v[k, i], s), f(fraction * s, s)
        w = (g - y0) / (y1 - y0) if y1 != y0 else 1.0
        out[i] = t[k - 1] + w * (t[k] - t[k - 1])
    return out
