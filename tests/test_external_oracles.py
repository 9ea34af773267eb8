"""gflab against implementations it did not write (issue 11.4): optax.contrib's Muon, an
independent NumPy SpecGD, SciPy's DOP853 on the SpecGF field, and the balanced end-to-end ODE of
Arora et al. (2018) (Kleinman et al.'s analytical flow) against gflab's factor flow. Stock
torch.optim.Muon is in tests/test_sgf_methods.py (bit-identical over 200 steps in float64).

Each tolerance is stated next to its reason; measured agreements are quoted in docs/sgf.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from scipy.integrate import solve_ivp
from shared_cases import lora_case, relative_errors

from gflab.sims.config import DMFConfig
from gflab.sims.dmf import dmf_problem, solve_dmf_from
from gflab.sims.lora import solve_lora_from
from gflab.sims.methods import Adaptive, Muon, SpecGD
from gflab.theory import lora as T

COEF = (3.4445, -4.7750, 2.0315)


def _final(cfg, prob):
    raw = solve_lora_from(cfg, *prob)
    return [np.asarray(x) for x in raw.final_state]


def _grads(A, B, Y):
    E = A @ B - Y
    return E @ B.T, A.T @ E


# ----------------------------------------------------------------------------- optax.contrib Muon


def _muon_tx(beta, lr=None):
    dims = (optax.contrib.MuonDimensionNumbers(), optax.contrib.MuonDimensionNumbers())
    muon = optax.contrib.scale_by_muon(
        COEF, 5, beta=beta, eps=1e-7, nesterov=True, weight_dimension_numbers=dims
    )
    return muon if lr is None else optax.chain(muon, optax.scale(-lr))


def _optax_update(tx, g, state, params):
    """``tx.update`` with JAX's standard promotion for optax alone: its bias correction
    (optax/tree_utils/_tree_math.py ``tree_bias_correction``) computes ``1 - decay**count`` with a
    Python-float ``decay`` and the int32 step ``count``, which the suite's strict promotion refuses
    (no int → float path). gflab's own side of each comparison stays strict."""
    with jax.numpy_dtype_promotion("standard"):
        return tx.update(g, state, params)


@pytest.mark.parametrize("shape", [(10, 3), (3, 12)])
def test_newton_schulz_matches_optax(shape):
    """optax's Muon update at β = 0 is NS(g) itself (bias correction and Nesterov mix are the
    identity). Same quintic iteration, same normalisation X/(‖X‖_F + eps) (eps set to torch's 1e-7
    on both sides; optax's default is 1e-8): five float64 steps agree to rounding, 1e-13 absolute
    on entries of size ≤ 1.2."""
    G = np.random.default_rng(0).standard_normal(shape) * np.logspace(0, -1, shape[1])
    params = (jnp.asarray(G), jnp.asarray(G))
    tx = _muon_tx(0.0)
    want, _ = _optax_update(tx, params, tx.init(params), params)
    got = T.newton_schulz(jnp.asarray(G), eps=1e-7)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want[0]), rtol=0, atol=1e-13)


def _optax_muon(A, B, Y, lr, steps, beta):
    tx = _muon_tx(beta, lr)
    params = (jnp.asarray(A), jnp.asarray(B))
    state = tx.init(params)

    @jax.jit  # one executable, not one per eager op and step (a full run aborted compiling those)
    def step(g, state, params):
        upd, state = _optax_update(tx, g, state, params)
        return optax.apply_updates(params, upd), state

    for _ in range(steps):
        g = _grads(*(np.asarray(p) for p in params), Y)
        params, state = step(tuple(jnp.asarray(x) for x in g), state, params)
    return [np.asarray(p) for p in params]


def test_muon_without_momentum_matches_optax_200_steps():
    """β = 0: optax's bias correction is the identity and Nesterov's mix is g itself, so optax's
    Muon and gflab's (torch's EMA form) are the same algorithm. 200 float64 steps: agreement to
    1e-12 relative (measured 7.4e-16; rounding of the NS kernels could compound over the run)."""
    cfg, prob = lora_case(method=Muon(lr=0.01, momentum=0.0), steps=200, n_save=201)
    A0, B0, Y, _, _ = prob
    got = _final(cfg, prob)
    want = _optax_muon(A0, B0, Y, 0.01, 200, beta=0.0)
    errors = relative_errors(got, want)
    assert errors.max() <= 1e-12, errors


def _np_newton_schulz(G, eps=1e-7):
    a, b, c = COEF
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (np.linalg.norm(X) + eps)
    for _ in range(5):
        Am = X @ X.T
        X = a * X + (b * Am + c * Am @ Am) @ X
    return X.T if tall else X


def _np_muon_optax_convention(A, B, Y, lr, steps, beta):
    """optax's Nesterov Muon written out: μ_t = β μ_{t−1} + (1 − β) g_t and the update is
    NS(β μ_t/(1 − β^{t+1}) + (1 − β) g_t/(1 − β^t)): bias-corrected, unlike torch's
    NS(β μ_t + (1 − β) g_t), whose two weights are not rescaled."""
    mA, mB = np.zeros_like(A), np.zeros_like(B)
    for t in range(1, steps + 1):
        gA, gB = _grads(A, B, Y)
        mA = beta * mA + (1 - beta) * gA
        mB = beta * mB + (1 - beta) * gB
        hA = beta * mA / (1 - beta ** (t + 1)) + (1 - beta) * gA / (1 - beta**t)
        hB = beta * mB / (1 - beta ** (t + 1)) + (1 - beta) * gB / (1 - beta**t)
        A, B = A - lr * _np_newton_schulz(hA), B - lr * _np_newton_schulz(hB)
    return A, B


def test_muon_with_momentum_differs_from_optax_only_by_its_bias_correction():
    """β = 0.95: gflab (torch's convention) and optax differ; the whole difference is optax's bias
    correction. optax equals the written-out bias-corrected recursion to 1e-12 relative over 200
    steps (measured 1.5e-15), while gflab's run differs from it by far more than rounding
    (measured 6.2e-4 in A, 5.0e-4 in B: the correction reweights g against μ for the first
    ~1/(1 − β) = 20 steps): bound 1e-4, eight decades above rounding."""
    cfg, prob = lora_case(method=Muon(lr=0.01), steps=200, n_save=201)
    A0, B0, Y, _, _ = prob
    opt = _optax_muon(A0, B0, Y, 0.01, 200, beta=0.95)
    ref = _np_muon_optax_convention(A0, B0, Y, 0.01, 200, beta=0.95)
    errors = relative_errors(opt, ref)
    assert errors.max() <= 1e-12, errors
    differences = relative_errors(_final(cfg, prob), opt)
    assert differences.min() > 1e-4, differences


# ----------------------------------------------------------------------------- NumPy SpecGD


def _np_partial_isometry(G):
    """Σ_{σ_i > 1e-12 σ_max} u_i v_iᵀ from NumPy's LAPACK SVD: the polar factor on G's range, 0
    for G = 0 (written here, not taken from theory.lora; an eigh of GᵀG would square the
    condition number and lose 1e-8 on these gradients)."""
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    keep = s > 1e-12 * s.max() if s.max() > 0 else np.zeros_like(s, bool)
    return U[:, keep] @ Vt[keep]


def test_specgd_from_lora_init_matches_independent_numpy():
    """50 SpecGD steps from LoRA init (∇_B = 0 at step one) against a NumPy SpecGD whose polar
    factor is NumPy's thresholded SVD: 1e-12 relative (measured 1.1e-15). A polar factor
    amplifies perturbations by 1/σ_min(∇), small in the early steps from LoRA init, hence three
    decades of room."""
    cfg, prob = lora_case(method=SpecGD(lr=0.02), init="lora", steps=50, n_save=51)
    A, B, Y, _, _ = prob
    for _ in range(50):
        gA, gB = _grads(A, B, Y)
        A, B = A - 0.02 * _np_partial_isometry(gA), B - 0.02 * _np_partial_isometry(gB)
    errors = relative_errors(_final(cfg, prob), (A, B))
    assert errors.max() <= 1e-12, errors


# ----------------------------------------------------------------------------- SciPy DOP853


def test_specgf_matches_scipy_dop853():
    """SpecGF (β = 1e-3) to t = 1.5 from a Gaussian init: gflab's Tsit5 at rtol 1e-10 against
    SciPy's DOP853 at rtol 1e-12 on a NumPy field (smoothed polar from an SVD). Both are
    accurate to ~10·rtol globally on this smooth, non-stiff stretch: 1e-9 relative (measured
    5.7e-12)."""
    beta, t1 = 1e-3, 1.5
    cfg, prob = lora_case(beta=beta, method=Adaptive(rtol=1e-10, atol=1e-14), t1=t1, n_save=2)
    A0, B0, Y, _, _ = prob
    r, c, k = A0.shape[0], B0.shape[1], A0.shape[1]

    def sp(G):
        U, s, Vt = np.linalg.svd(G, full_matrices=False)
        return (U * (s / np.sqrt(s * s + beta))) @ Vt

    def f(t, y):
        A, B = y[: r * k].reshape(r, k), y[r * k :].reshape(k, c)
        gA, gB = _grads(A, B, Y)
        return np.concatenate([-sp(gA).ravel(), -sp(gB).ravel()])

    sol = solve_ivp(
        f, (0, t1), np.concatenate([A0.ravel(), B0.ravel()]), "DOP853", rtol=1e-12, atol=1e-14
    )
    A, B = sol.y[: r * k, -1].reshape(r, k), sol.y[r * k :, -1].reshape(k, c)
    got = _final(cfg, prob)
    assert abs(sol.t[-1] - t1) < 1e-12
    errors = relative_errors(got, (A, B))
    assert errors.max() <= 1e-9, errors


# ----------------------------------------------------------------------------- Arora et al.


def _psd_power(S, p):
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    return (V * np.maximum(w, 0.0) ** p) @ V.T


@pytest.mark.parametrize("depth", [2, 3])
def test_factor_flow_matches_arora_end_to_end_ode(depth):
    """Balanced factors (mimic init: every W_l the same symmetric matrix, so W_{l+1}ᵀW_{l+1} =
    W_l W_lᵀ) make the product obey Arora et al.'s end-to-end ODE
    Ẇ = −Σ_{j=1}^{L} (WWᵀ)^{(L−j)/L} ∇ℓ(W) (WᵀW)^{(j−1)/L}, ∇ℓ = P_Ω(W − W*), which we integrate
    with SciPy DOP853 (rtol 1e-12) from W(0) = ∏ W_l(0), against gflab's factor flow (Tsit5, rtol
    1e-10) on diagonal Ω, target J, n = 4, m = 3, α = 0.1, to t = 20 (past the learning of the
    top mode). Both integrate the same trajectory to ~10·rtol; the fractional powers are exact
    eigendecompositions: 1e-9 relative (measured 6.5e-13 at depth 2, 1.9e-11 at depth 3)."""
    n, t1 = 4, 20.0
    cfg = DMFConfig(
        depth=depth,
        n=n,
        init="mimic",
        m=3.0,
        alpha=0.1,
        t1=t1,
        method=Adaptive(rtol=1e-10, atol=1e-14),
        n_save=2,
    )
    factors, mask, target = dmf_problem(cfg)
    raw = solve_dmf_from(cfg, factors, mask, target)
    assert raw.final_time == pytest.approx(t1)
    W_flow = np.linalg.multi_dot([np.asarray(F) for F in raw.final_state][::-1])
    M, Ystar = np.asarray(mask, float), np.asarray(target, float)
    L = depth

    def f(t, y):
        W = y.reshape(n, n)
        G = M * (W - Ystar)
        WWt, WtW = W @ W.T, W.T @ W
        out = sum(
            _psd_power(WWt, (L - j) / L) @ G @ _psd_power(WtW, (j - 1) / L) for j in range(1, L + 1)
        )
        return -out.ravel()

    W0 = np.linalg.multi_dot([np.asarray(F) for F in factors][::-1]) if L > 1 else factors[0]
    sol = solve_ivp(f, (0, t1), W0.ravel(), "DOP853", rtol=1e-12, atol=1e-14)
    W_arora = sol.y[:, -1].reshape(n, n)
    err = np.linalg.norm(W_flow - W_arora) / np.linalg.norm(W_arora)
    assert err <= 1e-9, err
