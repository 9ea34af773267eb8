"""Closed forms that serve as exact oracles (docs/theory.md §2.1, §2.2).

Deep matrix completion with ``mimic(α, m)`` init, diagonal Ω and target w*·J: every factor stays in
span{I, J}; the product has eigenvalue λ1 on the ones vector and λ2 (multiplicity n−1) elsewhere,
each factor eigenvalue obeys μ̇ = −e μ^{L−1} with the shared diagonal error e = W_ii − w*, hence
λ̇_k = −L e λ_k^{2−2/L}. From this: λ1/λ2 is conserved at L = 2, λ2^{−κ} − λ1^{−κ} (κ = (L−2)/L)
at L ≥ 3, and the limit interpolates: λ1 + (n−1)λ2 = n w*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, PyTree, Real
from scipy.optimize import brentq

from gflab.theory._validate import positive_int, positive_real
from gflab.theory._xp import AnyArray
from gflab.theory.errors import GflabInputError

__all__ = [
    "mimic_eigenvalues",
    "mimic_reduced_field",
    "dmc_conserved",
    "depth2_rho",
    "MimicLimit",
    "mimic_limit",
    "logistic_solution",
    "logistic_arrival_time",
    "specgf_arrival_time",
    "specgd_arrival_step",
    "soft_threshold_limit",
    "best_rank_approximation",
    "lora_min_loss",
]


def _check_mimic(n, depth, alpha, m):
    n = positive_int("n", n)
    depth = positive_int("depth", depth, minimum=2)
    alpha = positive_real("alpha", alpha)
    m = positive_real("m", m, allow_inf=True)
    if not m > 1:
        raise GflabInputError("m", "a real number > 1 (inf for diagonal init)", m)
    return n, depth, alpha, m


def mimic_eigenvalues(n: int, depth: int, alpha: float, m: float) -> tuple[float, float]:
    """(λ1, λ2) of W(0) = product of L ``mimic(α, m)`` factors: ((a e1)^L, (a e2)^L).

    Args:
        n: the matrix size.
        depth: the number of factors L.
        alpha: the init scale α.
        m: the mimic parameter m (``inf`` for diagonal factors).

    Returns:
        (λ1, λ2): W(0)'s eigenvalue along the all-ones vector and its (n − 1)-fold one.
    """
    n, depth, alpha, m = _check_mimic(n, depth, alpha, m)
    a = alpha ** (1.0 / depth) / math.sqrt(n)
    e1 = 1.0 + (n - 1) / m
    e2 = 1.0 - 1.0 / m
    return (a * e1) ** depth, (a * e2) ** depth


def mimic_reduced_field(
    lam: Real[AnyArray, " 2"] | PyTree[float | int], n: int, depth: int, w_star: float
) -> Float[np.ndarray, " 2"]:
    """d(λ1, λ2)/dt = −L e (λ1^{2−2/L}, λ2^{2−2/L}), e = λ2 + (λ1 − λ2)/n − w* (an exact 2-D ODE).

    Args:
        lam: (λ1, λ2), the two eigenvalues of W(t).
        n: the matrix size.
        depth: the number of factors L.
        w_star: the target's scale w*.

    Returns:
        (dλ1/dt, dλ2/dt).
    """
    l1, l2 = float(lam[0]), float(lam[1])
    e = l2 + (l1 - l2) / n - w_star
    p = 2.0 - 2.0 / depth
    return np.array([-depth * e * l1**p, -depth * e * l2**p])


def dmc_conserved(lambda1, lambda2, depth: int):
    """The conserved quantity: ln λ1 − ln λ2 at L = 2, λ2^{−κ} − λ1^{−κ} (κ = (L−2)/L) at L ≥ 3.

    Args:
        lambda1 (float | array): λ1 (a number or an array of them).
        lambda2 (float | array): λ2, of the same shape.
        depth: the number of factors L.

    Returns:
        c (float | array): The conserved quantity, of the shape of the inputs.
    """
    if depth == 2:
        return np.log(lambda1) - np.log(lambda2)
    kappa = (depth - 2) / depth
    return np.power(lambda2, -kappa) - np.power(lambda1, -kappa)


def depth2_rho(n: int, m: float) -> float:
    """Off-diagonal fraction ρ = (n + 2m − 2)/(n + m² − 1) of the depth-2 limit w*[(1−ρ)I + ρJ].

    Args:
        n: the matrix size.
        m: the mimic parameter m (``inf`` gives 0).

    Returns:
        ρ.
    """
    n = positive_int("n", n)
    m = positive_real("m", m, allow_inf=True)
    if math.isinf(m):
        return 0.0
    return (n + 2 * m - 2) / (n + m * m - 1)


@dataclass(frozen=True)
class MimicLimit:
    """Limit of diagonal completion from ``mimic(α, m)``: W∞ = λ2 I + (λ1 − λ2)/n J."""

    lambda1: float
    lambda2: float
    n: int
    w_star: float

    @property
    def diagonal(self) -> float:
        """The diagonal entry of W∞: λ2 + (λ1 − λ2)/n."""
        return self.lambda2 + (self.lambda1 - self.lambda2) / self.n

    @property
    def offdiagonal(self) -> float:
        """The off-diagonal entry of W∞: (λ1 − λ2)/n (docs/theory.md, closed forms)."""
        return (self.lambda1 - self.lambda2) / self.n

    @property
    def rho(self) -> float:
        """Off-diagonal entry over w*."""
        return self.offdiagonal / self.w_star

    @property
    def singular_values(self) -> Float[np.ndarray, " n"]:
        """W∞'s singular values, largest first: |λ1| once and |λ2| n − 1 times."""
        vals = np.abs(np.array([self.lambda1] + [self.lambda2] * (self.n - 1)))
        return np.sort(vals)[::-1]

    @property
    def stable_rank(self) -> float:
        """W∞'s stable rank ‖W∞‖_F² / ‖W∞‖₂² = Σ σ_i² / σ_1²."""
        s = self.singular_values
        return float(np.sum(s**2) / s[0] ** 2)

    def matrix(self) -> Float[np.ndarray, "n n"]:
        """W∞ = λ2 I + (λ1 − λ2)/n J as an n × n array."""
        return self.lambda2 * np.eye(self.n) + self.offdiagonal * np.ones((self.n, self.n))


def mimic_limit(n: int, depth: int, alpha: float, m: float, w_star: float = 1.0) -> MimicLimit:
    """The exact t → ∞ limit of diagonal completion from ``mimic(α, m)`` towards w*·J.

    L = 2: λ1/λ2 is conserved (gives :func:`depth2_rho`, independent of α). L ≥ 3: λ2 solves
    λ2^{−κ} − (n w* − (n−1)λ2)^{−κ} = λ2(0)^{−κ} − λ1(0)^{−κ} on (0, w*), a unique root.
    m = ∞: W∞ = w* I. Requires w* > 0 (the eigenvalues start positive and cannot cross 0).

    Args:
        n: the matrix size.
        depth: the number of factors L.
        alpha: the init scale α.
        m: the mimic parameter m (``inf`` for diagonal factors).
        w_star: the target's scale w* > 0.

    Returns:
        The limit's eigenvalues, entries, singular values and stable rank (:class:`MimicLimit`).
    """
    n, depth, alpha, m = _check_mimic(n, depth, alpha, m)
    w_star = positive_real("w_star", w_star)
    if math.isinf(m) or n == 1:
        return MimicLimit(w_star, w_star, n, w_star)
    l1_0, l2_0 = mimic_eigenvalues(n, depth, alpha, m)
    if depth == 2:
        c = l1_0 / l2_0
        l2 = n * w_star / (c + n - 1)
        return MimicLimit(c * l2, l2, n, w_star)
    kappa = (depth - 2) / depth
    # work in logs: λ2(0)^{−κ} can reach 1e30 at small α
    C = l2_0**-kappa - l1_0**-kappa

    def f(log_l2: float) -> float:
        l2 = math.exp(log_l2)
        l1 = n * w_star - (n - 1) * l2
        return l2**-kappa - l1**-kappa - C

    lo = -math.log(C + w_star**-kappa) / kappa
    hi = min(-math.log(C) / kappa, math.log(w_star)) if C > 0 else math.log(w_star)
    lo -= 1e-9
    if f(hi) > 0:  # the root sits at the top end within rounding
        hi = math.log(w_star)
    log_l2 = brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    l2 = math.exp(log_l2)
    return MimicLimit(n * w_star - (n - 1) * l2, l2, n, w_star)


# ----------------------------------------------------------------------------- LoRA / SGF


def logistic_solution(
    t: float | Real[AnyArray, " ..."],
    s: float | Real[AnyArray, " ..."],
    p0: float | Real[AnyArray, " ..."],
) -> Float[AnyArray, " ..."]:
    """p(t) of the balanced aligned gradient-flow mode ṗ = 2p(s − p), p(0) = p0 (NumPy
    broadcasting: one mode per entry of ``s`` and ``p0``, e.g. ``t`` of shape (T, 1)).

    Args:
        t: times.
        s: the target singular value(s).
        p0: the initial value(s) p(0) > 0.

    Returns:
        p(t), broadcast over the three inputs.
    """
    t = np.asarray(t, dtype=float)
    return s / (1.0 + (s / p0 - 1.0) * np.exp(-2.0 * s * t))


def logistic_arrival_time(s, p0, fraction: float = 0.5):
    """Time for ṗ = 2p(s − p) to reach p = f·s: (1/2s) ln((s/p0 − 1) f/(1 − f)).

    Args:
        s (float | array): the target singular value(s).
        p0 (float | array): the initial value(s) p(0), 0 < p0 < f·s.
        fraction: f in (0, 1).

    Returns:
        t (float | array): The arrival time(s), broadcast over ``s`` and ``p0``.
    """
    s = np.asarray(s, dtype=float)
    if not 0 < fraction < 1:
        raise GflabInputError("fraction", "a number in (0, 1)", fraction)
    return np.log((s / p0 - 1.0) * fraction / (1.0 - fraction)) / (2.0 * s)


def specgf_arrival_time(s, fraction: float = 1.0):
    """SpecGF equal-rate prediction: √d_i grows at unit rate, so d_i = f s_i at t ≈ √(f s_i).

    Args:
        s (float | array): the target singular value(s).
        fraction: f (d_i = f s_i).

    Returns:
        t (float | array): √(f s), of the shape of ``s``.
    """
    return np.sqrt(fraction * np.asarray(s, dtype=float))


def specgd_arrival_step(s, lr: float, fraction: float = 1.0):
    """SpecGD (step η) prediction: step k_i ≈ √(f s_i)/η.

    Args:
        s (float | array): the target singular value(s).
        lr: the step η.
        fraction: f (d_i = f s_i).

    Returns:
        k (float | array): √(f s)/η (fractional steps), of the shape of ``s``.
    """
    return specgf_arrival_time(s, fraction) / lr


def soft_threshold_limit(
    svals: Real[AnyArray, " k"] | PyTree[float | int], l2: float, rank: int
) -> Float[np.ndarray, " rank"]:
    """Singular values of the ℓ2-regularised limit: the r largest of (s_i − λ)_+, descending.

    Args:
        svals: the target's singular values s_i.
        l2: the ℓ2 strength λ ≥ 0.
        rank: the factorisation's rank r.

    Returns:
        r values (s_i − λ)_+ of the r largest s_i, descending.
    """
    s = np.sort(np.asarray(svals, dtype=float))[::-1]
    out = np.maximum(s - l2, 0.0)[:rank]
    return np.pad(out, (0, max(0, rank - out.size)))


def best_rank_approximation(Y: Real[AnyArray, "m n"], rank: int) -> Float[np.ndarray, "m n"]:
    """Eckart–Young: the best rank-r approximation of Y (the global minimum of ℒ without ℓ2).

    Args:
        Y: the target.
        rank: r.

    Returns:
        U_r Σ_r V_rᵀ from the SVD of Y.
    """
    U, s, Vt = np.linalg.svd(np.asarray(Y, dtype=float), full_matrices=False)
    return (U[:, :rank] * s[:rank]) @ Vt[:rank]


def lora_min_loss(
    svals: Real[AnyArray, " k"] | PyTree[float | int], rank: int, l2: float = 0.0
) -> float:
    """Global minimum of ℒ_λ over rank-r factorisations (Eckart–Young with soft-thresholding).

    min_X ½‖X − Y‖² + λ‖X‖_* over rank ≤ r: keep the r largest s_i shrunk to (s_i − λ)_+, so the
    value is Σ_{i≤r} [½ min(s_i, λ)² + λ (s_i − λ)_+] + ½ Σ_{i>r} s_i². (½(‖A‖² + ‖B‖²) ≥ ‖AB‖_*
    with equality for balanced factors.)

    Args:
        svals: the target's singular values s_i.
        rank: the factorisation's rank r.
        l2: the ℓ2 strength λ ≥ 0.

    Returns:
        The minimum value of ℒ_λ.
    """
    s = np.sort(np.asarray(svals, dtype=float))[::-1]
    top, rest = s[:rank], s[rank:]
    kept = 0.5 * np.minimum(top, l2) ** 2 + l2 * np.maximum(top - l2, 0.0)
    return float(np.sum(kept) + 0.5 * np.sum(rest**2))
