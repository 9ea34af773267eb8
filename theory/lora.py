"""LoRA-style factorisation and spectral gradient flow [SGF] (docs/theory.md §2.2).

ℒ(A, B) = ½‖AB − Y‖_F² + (λ/2)(‖A‖_F² + ‖B‖_F²), A ∈ ℝ^{m×r}, B ∈ ℝ^{r×n}.
Array functions work on NumPy, JAX and torch arrays; constructors return NumPy float64 arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from jaxtyping import Float, PyTree, Real

from gflab.theory._validate import GflabInputError, finite_array, positive_int, positive_real
from gflab.theory._xp import AnyArray, namespace

__all__ = [
    "loss",
    "gradients",
    "gradient_flow_field",
    "specgf_field",
    "polar",
    "polar_rank_rtol",
    "smoothed_polar",
    "newton_schulz",
    "NS_COEFFICIENTS",
    "lora_init",
    "gaussian_init",
    "make_init",
    "INIT_NAMES",
    "spectral_target",
    "TARGET_SVAL_RANGE",
    "lora_mode_solution",
    "lora_mode_arrival_time",
    "lora_mode_b0",
]

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""Quintic Newton–Schulz coefficients (a, b, c) of Keller Jordan's Muon."""


def loss(
    A: Float[AnyArray, "m r"],
    B: Float[AnyArray, "r n"],
    Y: Float[AnyArray, "m n"],
    l2: float | Float[AnyArray, ""] = 0.0,
) -> Float[AnyArray, ""]:
    """ℒ_λ(A, B) = ½‖AB − Y‖_F² + (λ/2)(‖A‖_F² + ‖B‖_F²) (docs/theory.md §2.2).

    Args:
        A: (m, r) factor.
        B: (r, n) factor.
        Y: (m, n) target.
        l2: the ℓ2 weight λ ≥ 0.

    Returns:
        The scalar loss, in the arrays' namespace (NumPy, JAX or torch).
    """
    xp = namespace(A, B, Y)
    E = A @ B - Y
    out = 0.5 * xp.sum(E * E)
    if _nonzero(l2):
        out = out + 0.5 * l2 * (xp.sum(A * A) + xp.sum(B * B))
    return out


def _nonzero(l2: Any) -> bool:
    """True unless ``l2`` is a Python/NumPy zero; traced values always take the general path."""
    try:
        return bool(l2 != 0)
    except Exception:  # a JAX tracer: cannot branch on it, so include the term
        return True


def gradients(
    A: Float[AnyArray, "m r"],
    B: Float[AnyArray, "r n"],
    Y: Float[AnyArray, "m n"],
    l2: float | Float[AnyArray, ""] = 0.0,
) -> tuple[Float[AnyArray, "m r"], Float[AnyArray, "r n"]]:
    """(∇_A, ∇_B) = ((AB − Y)Bᵀ + λA, Aᵀ(AB − Y) + λB), the gradients of :func:`loss`.

    Args:
        A: (m, r) factor.
        B: (r, n) factor.
        Y: (m, n) target.
        l2: the ℓ2 weight λ ≥ 0.

    Returns:
        (∇_A ℒ_λ, ∇_B ℒ_λ), shaped as A and B.
    """
    xp = namespace(A, B, Y)
    E = A @ B - Y
    gA = E @ xp.matrix_transpose(B)
    gB = xp.matrix_transpose(A) @ E
    if _nonzero(l2):
        gA = gA + l2 * A
        gB = gB + l2 * B
    return gA, gB


def polar_rank_rtol(shape) -> float:
    """Relative threshold below which a singular value of a matrix of ``shape`` is numerically 0.

    A backward-stable SVD returns each singular value with absolute error ≲ max(m, n)·ε·σ_max
    (ε = float64's 2.2e-16; Golub & Van Loan §8.6, the rule of ``numpy.linalg.matrix_rank``), so
    σ_i ≤ max(m, n)·ε·σ_max cannot be told from 0 and its singular vectors are noise.

    Args:
        shape (tuple): the matrix's shape (the last two axes are m, n).

    Returns:
        max(m, n)·ε.
    """
    return max(int(shape[-2]), int(shape[-1])) * float(np.finfo(np.float64).eps)


def polar(
    G: Float[AnyArray, "*batch m n"], rtol: float | Float[AnyArray, ""] | None = None
) -> Float[AnyArray, "*batch m n"]:
    """Exact polar factor T(G) of G = U Σ Vᵀ: the partial isometry Σ_{σ_i > τ} u_i v_iᵀ on G's
    numerical range, τ = :func:`polar_rank_rtol` · σ_max (docs/theory.md §2.2).

    For full-rank G this is U Vᵀ; T(0) = 0 (LAPACK alone would return an arbitrary U Vᵀ of norm
    √k for the zero matrix, so SpecGD's first step from LoRA init, where ∇_B = 0 exactly, would
    move B by η); it is the β → 0 limit of :func:`smoothed_polar` (σ/√(σ² + β) → 1 for σ > 0,
    0 for σ = 0). Discontinuous where a σ_i crosses τ.

    Args:
        G: (..., m, n) array (NumPy, JAX or torch).
        rtol: the relative threshold; default :func:`polar_rank_rtol` of G's shape (a solve on
            zero-padded arrays passes the real shape's, so the padding changes nothing).

    Returns:
        T(G), an (..., m, n) array in G's namespace and dtype.
    """
    xp = namespace(G)
    U, s, Vh = xp.linalg.svd(G, full_matrices=False)
    tau = (polar_rank_rtol(G.shape) if rtol is None else rtol) * s[..., :1]
    keep = xp.astype(s > tau, G.dtype)
    return U @ (keep[..., :, None] * Vh)


def smoothed_polar(
    G: Float[AnyArray, "*batch m n"],
    beta: float | Float[AnyArray, ""],
    real: tuple[Any, Any] | None = None,
) -> Float[AnyArray, "*batch m n"]:
    """T_β(G) = G (GᵀG + βI)^{−1/2} = U diag(σ/√(σ² + β)) Vᵀ, β > 0 (docs/theory.md §2.2).

    Computed from the eigendecomposition of the smaller Gram matrix (r×r for LoRA gradients),
    which is much cheaper than an SVD of G and exact up to rounding.

    Args:
        G: (..., m, n) array.
        beta: β > 0.
        real: for G zero outside a top-left block (a padded solve, sims/buckets.py): boolean
            (m,) and (n,) vectors marking the block's rows and columns. The Gram matrix's pad
            diagonal is then set to the distinct negative values −(1 + ‖S‖)·(1, 2, …) (clipped
            to 0 below, so T_β is unchanged): its eigenvalues stay apart from each other and
            from the real ones, and the derivative of ``eigh`` (1/(w_i − w_j)) stays finite
            where the real problem's is.

    Returns:
        T_β(G), an (..., m, n) array.
    """
    xp = namespace(G)
    m, n = G.shape[-2], G.shape[-1]
    Gt = xp.matrix_transpose(G)
    if n <= m:
        S = Gt @ G
        if real is not None:
            S = _shift_pad(S, real[1], xp)
        w, V = xp.linalg.eigh(S)
        w = xp.where(w > 0, w, 0.0 * w)
        inv = V @ (xp.matrix_transpose(V) / xp.sqrt(w + beta)[..., :, None])
        return G @ inv
    S = G @ Gt
    if real is not None:
        S = _shift_pad(S, real[0], xp)
    w, V = xp.linalg.eigh(S)
    w = xp.where(w > 0, w, 0.0 * w)
    inv = V @ (xp.matrix_transpose(V) / xp.sqrt(w + beta)[..., :, None])
    return inv @ G


def _shift_pad(S, keep, xp):
    """S with its diagonal at the False entries of ``keep`` replaced by −(1 + max|S|)·(1, 2, …)
    (S's pad rows and columns are zero). The shift's derivative moves only the pad eigenvalues,
    which the clip at 0 discards, and leaves the eigenvectors' derivative unchanged."""
    k = S.shape[-1]
    scale = 1.0 + xp.max(xp.abs(S))
    pad = xp.astype(~keep, S.dtype)
    shift = scale * xp.cumsum(pad) * pad
    return S - xp.eye(k, dtype=S.dtype) * shift[None, :]


def newton_schulz(
    G: Float[AnyArray, "*batch m n"],
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
) -> Float[AnyArray, "*batch m n"]:
    """Muon's quintic Newton–Schulz iteration after Frobenius normalisation.

    Not the polar factor: each singular value is mapped by φ⁵(σ/‖G‖_F), φ(x) = a x + b x³ + c x⁵,
    which lands in [0.68, 1.21] only for σ ≥ 1.6e-3 ‖G‖_F (guaranteed when κ√k ≤ 600, κ the
    condition number, k the number of singular values); smaller ones come out smaller
    (docs/theory.md §2.2's "roughly [0.7, 1.2]"; tests/test_theory.py::test_newton_schulz_band).
    Works on the wide orientation (transposes tall inputs), as Keller Jordan's and torch's Muon do.

    Args:
        G: (..., m, n) array (NumPy, JAX or torch).
        steps: the number of iterations.
        coefficients: the quintic's (a, b, c).
        eps: added to ‖G‖_F before dividing (keeps G = 0 finite).

    Returns:
        The iterate after ``steps`` iterations, shaped as G, in G's namespace and dtype.
    """
    xp = namespace(G)
    a, b, c = coefficients
    tall = G.shape[-2] > G.shape[-1]
    X = xp.matrix_transpose(G) if tall else G
    norm = xp.sqrt(xp.sum(X * X, axis=(-2, -1), keepdims=True))
    X = X / (norm + eps)
    for _ in range(steps):
        Am = X @ xp.matrix_transpose(X)
        Bm = b * Am + c * (Am @ Am)
        X = a * X + Bm @ X
    return xp.matrix_transpose(X) if tall else X


def gradient_flow_field(
    A: Float[AnyArray, "m r"],
    B: Float[AnyArray, "r n"],
    Y: Float[AnyArray, "m n"],
    l2: float | Float[AnyArray, ""] = 0.0,
) -> tuple[Float[AnyArray, "m r"], Float[AnyArray, "r n"]]:
    """The gradient flow (Ȧ, Ḃ) = (−∇_A, −∇_B) of :func:`loss` (docs/theory.md §2.2).

    Args:
        A: (m, r) factor.
        B: (r, n) factor.
        Y: (m, n) target.
        l2: the ℓ2 weight λ ≥ 0.

    Returns:
        (Ȧ, Ḃ), shaped as A and B.
    """
    gA, gB = gradients(A, B, Y, l2)
    return -gA, -gB


def specgf_field(
    A: Float[AnyArray, "m r"],
    B: Float[AnyArray, "r n"],
    Y: Float[AnyArray, "m n"],
    beta: float,
    l2: float | Float[AnyArray, ""] = 0.0,
) -> tuple[Float[AnyArray, "m r"], Float[AnyArray, "r n"]]:
    """Spectral gradient flow (Ȧ, Ḃ) = (−T_β(∇_A), −T_β(∇_B)); β = 0 uses the exact polar factor
    (docs/theory.md §2.2).

    Args:
        A: (m, r) factor.
        B: (r, n) factor.
        Y: (m, n) target.
        beta: the smoothing β ≥ 0 of :func:`smoothed_polar` (0: :func:`polar`).
        l2: the ℓ2 weight λ ≥ 0.

    Returns:
        (Ȧ, Ḃ), shaped as A and B.
    """
    gA, gB = gradients(A, B, Y, l2)
    if beta == 0:
        return -polar(gA), -polar(gB)
    return -smoothed_polar(gA, beta), -smoothed_polar(gB, beta)


# ----------------------------------------------------------------------------- inits, targets

INIT_NAMES = ("lora", "gaussian")


def make_init(
    name: str, rows: int, cols: int, rank: int, gamma: float, seed: int
) -> tuple[Float[np.ndarray, "rows rank"], Float[np.ndarray, "rank cols"]]:
    """``lora``: A(0) = 0, B(0) = γ·N(0, 1) entries (LoRA's zero-product start); ``gaussian``: A(0)
    and B(0) both with γ·N(0, 1) entries (A drawn first, from the same generator).

    Args:
        name: ``"lora"`` or ``"gaussian"`` (:data:`INIT_NAMES`).
        rows: m, the rows of A.
        cols: n, the columns of B.
        rank: r ≤ min(m, n).
        gamma: the scale γ > 0.
        seed: the NumPy generator's seed.

    Returns:
        (A(0), B(0)), float64 arrays (m, r) and (r, n).

    Raises:
        GflabInputError: an unknown ``name``, sizes that are not positive integers, rank >
            min(rows, cols), or γ ≤ 0.
    """
    if name not in INIT_NAMES:
        raise GflabInputError("init", "one of " + ", ".join(INIT_NAMES), name)
    rows, cols, rank = _sizes(rows, cols, rank)
    gamma = positive_real("gamma", gamma)
    rng = np.random.default_rng(seed)
    A = gamma * rng.standard_normal((rows, rank)) if name == "gaussian" else np.zeros((rows, rank))
    return A, gamma * rng.standard_normal((rank, cols))


def lora_init(rows: int, cols: int, rank: int, gamma: float, seed: int):
    """A(0) = 0, B(0) = γ·N(0, 1) entries: :func:`make_init` ``("lora", ...)``.

    Args:
        rows: m, the rows of A.
        cols: n, the columns of B.
        rank: r ≤ min(m, n).
        gamma: the scale γ > 0.
        seed: the NumPy generator's seed.

    Returns:
        init (tuple): (A(0), B(0)), float64 arrays (m, r) and (r, n).
    """
    return make_init("lora", rows, cols, rank, gamma, seed)


def gaussian_init(rows: int, cols: int, rank: int, gamma: float, seed: int):
    """A(0), B(0) both with γ·N(0, 1) entries: :func:`make_init` ``("gaussian", ...)``.

    Args:
        rows: m, the rows of A.
        cols: n, the columns of B.
        rank: r ≤ min(m, n).
        gamma: the scale γ > 0.
        seed: the NumPy generator's seed.

    Returns:
        init (tuple): (A(0), B(0)), float64 arrays (m, r) and (r, n).
    """
    return make_init("gaussian", rows, cols, rank, gamma, seed)


def _sizes(rows, cols, rank):
    rows = positive_int("rows", rows)
    cols = positive_int("cols", cols)
    rank = positive_int("rank", rank)
    if rank > min(rows, cols):
        raise GflabInputError("rank", f"an integer in [1, min(rows, cols)={min(rows, cols)}]", rank)
    return rows, cols, rank


TARGET_SVAL_RANGE = (
    math.sqrt(float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)),
    math.sqrt(float(np.finfo(np.float64).max)),
)
"""Target singular values float64 can run: s_min² ≥ tiny/ε ≈ 1e-292 (tiny = 2.2e-308 the smallest
normal), so even a loss gap ε·s_min² is a normal number (below it the loss and the gradients of
that mode underflow and a run "converges" at step 0 having learned nothing), and s_max ≤
√(max/k) so ½Σs² stays finite (above it the loss is inf at step 0). ``hi`` is √max; the bound
on s_max is hi/√k."""


def spectral_target(
    rows: int, cols: int, svals: Real[AnyArray, " k"] | PyTree[float | int], seed: int | None = None
) -> tuple[
    Float[np.ndarray, "rows cols"], Float[np.ndarray, "rows k"], Float[np.ndarray, "cols k"]
]:
    """Y = U diag(s) Vᵀ with prescribed singular values; random orthonormal U, V (``seed=None``:
    aligned, U and V the leading coordinate vectors).

    Args:
        rows: m.
        cols: n.
        svals: the k target singular values, each in :data:`TARGET_SVAL_RANGE` (1 ≤ k ≤
            min(m, n)).
        seed: the generator's seed for U and V; ``None`` for the aligned target.

    Returns:
        The tuple (Y, U, V) with Y (m, n), U (m, k), V (n, k), columns in ``svals`` order.
    """
    rows = positive_int("rows", rows)
    cols = positive_int("cols", cols)
    s = np.asarray(finite_array("target_svals", np.asarray(svals, dtype=float), ndim=1), float)
    k = s.size
    if k == 0 or k > min(rows, cols):
        raise GflabInputError(
            "target_svals", f"1 to min(rows, cols)={min(rows, cols)} values", list(s)
        )
    if np.any(s <= 0):
        raise GflabInputError("target_svals", "positive values", list(s))
    if len(set(s.tolist())) != k:
        raise GflabInputError("target_svals", "distinct values", list(s))
    lo, hi = TARGET_SVAL_RANGE
    if s.min() < lo or s.max() > hi / math.sqrt(k):
        raise GflabInputError(
            "target_svals",
            f"values in [{lo:.3g}, {hi / math.sqrt(k):.3g}] (float64: ε·s_min² must be a normal "
            "number and the initial loss ½Σs² finite; rescale Y, the flows are scale-free)",
            s.tolist(),
        )
    if seed is None:
        U = np.eye(rows, k)  # the leading coordinate vectors: never a rows×rows identity
        V = np.eye(cols, k)
    else:
        rng = np.random.default_rng(seed)
        U = _orthonormal(rng, rows, k)
        V = _orthonormal(rng, cols, k)
    Y = (U * s) @ V.T
    return Y, U, V


def _orthonormal(rng, n, k):
    Qm, Rm = np.linalg.qr(rng.standard_normal((n, k)))
    return Qm * np.sign(np.diag(Rm))


# ----------------------------------------------------------------------------- LoRA-init GF modes


def _mode_constants(s, b0):
    s = np.asarray(s, dtype=float)
    c = 0.5 * np.asarray(b0, dtype=float) ** 2
    R = np.sqrt(s * s + c * c)
    return s, c, R, (s + R) / c, (s - R) / c


def lora_mode_solution(t, s, b0):
    """d(t) of one decoupled gradient-flow mode from LoRA init: a(0) = 0, b(0) = b0 > 0.

    ȧ = b(s − ab), ḃ = a(s − ab) conserve b² − a² = b0²; with a = b0 sinh θ, b = b0 cosh θ,
    θ̇ = s − d and x = e^{2θ} obeys the Riccati equation ẋ = −c x² + 2 s x + c (c = b0²/2), so
    (x − x₊)/(x − x₋) = K e^{−2Rt}, R = √(s² + c²), x± = (s ± R)/c, K = (1 − x₊)/(1 − x₋), and
    d = (c/2)(x − 1/x) solves ḋ = √(4d² + b0⁴)(s − d) exactly (the balanced logistic law
    ṗ = 2p(s − p) is its d ≫ b0² limit).

    Args:
        t (float | numpy.ndarray): time(s) ≥ 0.
        s (float | numpy.ndarray): the target singular value(s) s > 0.
        b0 (float | numpy.ndarray): the start b(0) > 0 (see :func:`lora_mode_b0`).

    Returns:
        d (numpy.ndarray): d(t) = a(t)·b(t), broadcast over the inputs.
    """
    t = np.asarray(t, dtype=float)
    s, c, R, xp_, xm_ = _mode_constants(s, b0)
    K = (1.0 - xp_) / (1.0 - xm_)
    q = K * np.exp(-2.0 * R * t)
    x = (xp_ - q * xm_) / (1.0 - q)
    return 0.5 * c * (x - 1.0 / x)


def lora_mode_arrival_time(s, b0, fraction: float = 0.5):
    """Exact time for :func:`lora_mode_solution` to reach d = f·s (0 < f < 1).

    Args:
        s (float | numpy.ndarray): the target singular value(s) s > 0.
        b0 (float | numpy.ndarray): the start b(0) > 0.
        fraction: f.

    Returns:
        t (numpy.ndarray): the arrival time(s), broadcast over ``s`` and ``b0``.
    """
    if not 0 < fraction < 1:
        raise GflabInputError("fraction", "a number in (0, 1)", fraction)
    s, c, R, xp_, xm_ = _mode_constants(s, b0)
    d = fraction * s
    x = (d + np.sqrt(d * d + c * c)) / c
    K = (1.0 - xp_) / (1.0 - xm_)
    return np.log(K * (x - xm_) / (x - xp_)) / (2.0 * R)


def lora_mode_b0(
    B0: Real[AnyArray, "r n"],
    V: Real[AnyArray, "n k"],
    svals: Real[AnyArray, " k"] | PyTree[float | int],
) -> Float[np.ndarray, " k"]:
    """Effective start |b_i| of each gradient-flow mode from LoRA init, coupling included.

    In the linear phase mode i grows along b_i = B0 v_i ∈ ℝ^r. Once a larger mode j has been
    learned, the component of b_i along b_j is damped at rate s_j (the cross term a_j·b_i of the
    product is penalised), so only the part of b_i orthogonal to the earlier (larger) modes'
    directions reaches the target: |b_i| after Gram–Schmidt of B0 V's columns in decreasing
    order of s. Without coupling (the first mode, or orthogonal b's) this is |B0 v_i|.

    Args:
        B0: (r, n) the initial B.
        V: (n, k) the target's right singular vectors.
        svals: the k target singular values (they set the order).

    Returns:
        (k,) the effective |b_i|, in ``svals`` order.
    """
    M = np.asarray(B0, dtype=float) @ np.asarray(V, dtype=float)
    s = np.asarray(svals, dtype=float)
    order = np.argsort(-s, kind="stable")
    out = np.zeros(s.size)
    basis: list[np.ndarray] = []
    for j in order:
        v = M[:, j].copy()
        for q in basis:
            v -= q * (q @ v)
        n = float(np.linalg.norm(v))
        out[j] = n
        if n > 0:
            basis.append(v / n)
    return out
