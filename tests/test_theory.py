"""Theory layer against independent oracles: closed forms, autodiff, SVDs, scalar maps (no solver).

Every comparison states its oracle and why its tolerance is what it is. Float64 throughout:
"rounding" tolerances are a few hundred ulps of the quantities compared.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from shared_cases import assert_arrays_close

from gflab.theory import closed_forms as CF
from gflab.theory import dmf as D
from gflab.theory import lora as LR
from gflab.theory import measures as M

RNG = np.random.default_rng(20260301)


def _rand_factors(widths, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal((widths[i + 1], widths[i])) for i in range(len(widths) - 1)]


# ----------------------------------------------------------------------------- DMF dynamics


@pytest.mark.parametrize("widths", [(4, 4, 4, 4), (3, 5, 2, 4), (4, 4)])
def test_gradient_field_is_minus_autodiff_gradient(widths):
    # oracle: jax.grad of the masked loss; same float64 products in a different order -> 1e-12
    fs = _rand_factors(widths, seed=1)
    rng = np.random.default_rng(2)
    mask = (rng.random((widths[-1], widths[0])) < 0.6).astype(float)
    target = rng.standard_normal(mask.shape)
    field = D.gradient_field(fs, mask, target)
    grads = jax.grad(lambda f: D.masked_loss(f, mask, target))([jnp.asarray(f) for f in fs])
    assert_arrays_close(field, [-np.asarray(g) for g in grads], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("n", "depth", "m"), [(4, 2, 3.0), (5, 3, 2.5), (3, 4, 7.0)])
def test_mimic_eigenvalues_and_reduced_field(n, depth, m):
    """W(0) of mimic(α, m) has eigenvalues (λ1, λ2); dW/dt from the full field projects onto the
    reduced 2-D ODE of closed_forms.mimic_reduced_field (exact identity, so rounding tolerance)."""
    alpha, w_star = 0.3, 1.0
    fs = D.mimic_init(n, depth, alpha, m)
    W = D.product(fs)
    l1, l2 = CF.mimic_eigenvalues(n, depth, alpha, m)
    ones = np.ones(n) / math.sqrt(n)
    np.testing.assert_allclose(ones @ W @ ones, l1, rtol=1e-13)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(W))[:-1], l2, rtol=1e-12)
    mask, target = D.diagonal_mask(n), D.ones_target(n, w_star)
    V = D.gradient_field(fs, mask, target)
    # chain rule: dW/dt = Σ_l P_l (dW_l/dt) Q_l
    P, Q = D.partial_products(fs)
    dW = sum(Pl @ Vl @ Ql for Pl, Vl, Ql in zip(P, V, Q, strict=True))
    d1 = ones @ dW @ ones
    d2 = dW[0, 0] - dW[0, 1]  # λ2-eigenvalue of an element of span{I, J}
    np.testing.assert_allclose(
        [d1, d2], CF.mimic_reduced_field([l1, l2], n, depth, w_star), rtol=1e-11, atol=1e-15
    )
    # the conserved quantity has zero derivative along the reduced field
    f = CF.mimic_reduced_field([l1, l2], n, depth, w_star)
    if depth == 2:
        dc = f[0] / l1 - f[1] / l2
        scale = abs(f[0] / l1)
    else:
        k = (depth - 2) / depth
        dc = -k * l2 ** (-k - 1) * f[1] + k * l1 ** (-k - 1) * f[0]
        scale = abs(k * l1 ** (-k - 1) * f[0])
    assert abs(dc) <= 1e-12 * scale


@pytest.mark.parametrize("depth", [2, 3, 4, 6])
@pytest.mark.parametrize("alpha", [1e-1, 1e-3, 1e-6])
@pytest.mark.parametrize(("n", "m"), [(4, 3.0), (10, 1.5), (3, 50.0)])
def test_mimic_limit_satisfies_its_defining_equations(depth, alpha, n, m):
    """Interpolation λ1 + (n−1)λ2 = n w* and conservation (docs/theory.md §2.1), checked on the root."""
    w_star = 0.7
    lim = CF.mimic_limit(n, depth, alpha, m, w_star)
    np.testing.assert_allclose(lim.lambda1 + (n - 1) * lim.lambda2, n * w_star, rtol=1e-12)
    np.testing.assert_allclose(np.diag(lim.matrix()), w_star, rtol=1e-12)
    l1_0, l2_0 = CF.mimic_eigenvalues(n, depth, alpha, m)
    c0 = CF.dmc_conserved(l1_0, l2_0, depth)
    c_inf = CF.dmc_conserved(lim.lambda1, lim.lambda2, depth)
    # brentq at xtol 1e-15 in log λ2; the conserved value is ~λ2^{-κ}: relative 1e-10 is generous
    np.testing.assert_allclose(c_inf, c0, rtol=1e-10)
    if depth == 2:
        assert lim.rho == pytest.approx(CF.depth2_rho(n, m), rel=1e-12)


def test_depth2_limit_is_alpha_independent_and_depth3_goes_rank_one():
    n, m = 5, 3.0
    rhos = [CF.mimic_limit(n, 2, a, m).rho for a in (1e-1, 1e-4, 1e-8)]
    np.testing.assert_allclose(rhos, CF.depth2_rho(n, m), rtol=1e-12)
    srs = [CF.mimic_limit(n, 3, a, m).stable_rank for a in (1e-1, 1e-3, 1e-6)]
    assert srs[0] > srs[1] > srs[2] and srs[2] - 1 < 1e-3
    # deeper is closer to rank one at the same α (DMC-4)
    assert CF.mimic_limit(n, 4, 1e-3, m).stable_rank < CF.mimic_limit(n, 3, 1e-3, m).stable_rank
    inf = CF.mimic_limit(n, 3, 1e-3, math.inf, 2.0)
    np.testing.assert_array_equal(inf.matrix(), 2.0 * np.eye(n))


# ----------------------------------------------------------------------------- LoRA closed forms


def test_logistic_solution_solves_its_ode():
    s, p0 = 3.0, 1e-4
    t = np.linspace(0.0, 4.0, 41)
    p = CF.logistic_solution(t, s, p0)
    h = 1e-5
    dp = (CF.logistic_solution(t + h, s, p0) - CF.logistic_solution(t - h, s, p0)) / (2 * h)
    # central difference error ~ h² p''' ≈ 1e-10 · O(s³) -> 1e-7 absolute is safe
    np.testing.assert_allclose(dp, 2 * p * (s - p), atol=1e-7)
    assert p[0] == pytest.approx(p0, rel=1e-14)


@pytest.mark.parametrize("f", [0.1, 0.5, 0.9])
def test_logistic_arrival_time_inverts_the_solution(f):
    s, p0 = 3.0, 1e-4
    ta = CF.logistic_arrival_time(s, p0, f)
    # a closed form composed with its inverse: rounding only
    assert CF.logistic_solution(ta, s, p0) == pytest.approx(f * s, rel=1e-12)


@pytest.mark.parametrize(("rank", "l2"), [(2, 0.0), (3, 0.0), (3, 1.0), (4, 2.5)])
def test_lora_min_loss_matches_the_balanced_minimiser(rank, l2):
    """lora_min_loss equals ℒ_λ at A = U√(s−λ)_+, B = √(s−λ)_+ Vᵀ (the soft-threshold limit)."""
    svals = np.array([5.0, 3.0, 2.0, 0.5])
    Y, U, V = LR.spectral_target(6, 7, svals, seed=3)
    d = CF.soft_threshold_limit(svals, l2, rank)
    order = np.argsort(-svals)[:rank]
    A = U[:, order] * np.sqrt(d)
    B = (V[:, order] * np.sqrt(d)).T
    assert float(LR.loss(A, B, Y, l2)) == pytest.approx(
        CF.lora_min_loss(svals, rank, l2), rel=1e-12
    )
    if l2 == 0:
        np.testing.assert_allclose(A @ B, CF.best_rank_approximation(Y, rank), atol=1e-12)


# ----------------------------------------------------------------------------- orthogonalisation


def _matrix_with_svals(rows, cols, s, seed):
    rng = np.random.default_rng(seed)
    Uq, _ = np.linalg.qr(rng.standard_normal((rows, len(s))))
    Vq, _ = np.linalg.qr(rng.standard_normal((cols, len(s))))
    return (Uq * s) @ Vq.T


@pytest.mark.parametrize("beta", [1e-1, 1e-4])
@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5)])
def test_smoothed_polar_equals_svd_formula(shape, beta):
    G = _matrix_with_svals(*shape, s=np.geomspace(3.0, 0.01, min(shape)), seed=4)
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    expect = (U * (s / np.sqrt(s * s + beta))) @ Vt
    # eigh of the Gram squares the condition number (300² ≈ 1e5): 1e-10 absolute
    np.testing.assert_allclose(LR.smoothed_polar(G, beta), expect, atol=1e-10)
    np.testing.assert_allclose(LR.smoothed_polar(jnp.asarray(G), beta), expect, atol=1e-10)


def test_smoothed_polar_tends_to_polar_as_beta_vanishes():
    G = _matrix_with_svals(6, 4, s=np.array([2.0, 1.0, 0.5, 0.1]), seed=5)
    exact = LR.polar(G)
    np.testing.assert_allclose(exact.T @ exact, np.eye(4), atol=1e-13)
    s_min = 0.1
    betas = np.array([1e-2, 1e-4, 1e-6, 1e-8])
    err = np.array([np.linalg.norm(LR.smoothed_polar(G, b) - exact, 2) for b in betas])
    # spectral error = max_i 1 − σ_i/√(σ_i² + β) ≤ β/(2σ_min²), exact to first order
    bound = betas / (2 * s_min**2) * (1 + 1e-6) + 1e-12
    assert (err <= bound).all(), (err, bound)
    assert (np.diff(err) < 0).all(), err  # and it shrinks with β


NS_A, NS_B, NS_C = LR.NS_COEFFICIENTS


def _ns_scalar(x, steps=5):
    for _ in range(steps):
        x = NS_A * x + NS_B * x**3 + NS_C * x**5
    return x


@pytest.mark.parametrize("shape", [(8, 5), (5, 8)])
def test_newton_schulz_acts_on_singular_values_by_the_scalar_map(shape):
    """NS(G) = U φ⁵(Σ/‖G‖_F) Vᵀ with φ(x) = a x + b x³ + c x⁵ (the oracle: the scalar map)."""
    s = np.geomspace(1.0, 1e-2, min(shape))
    G = _matrix_with_svals(*shape, s=s, seed=6)
    out = LR.newton_schulz(G)
    x0 = s / (np.linalg.norm(G) + 1e-7)
    # φ⁵ has slope ≤ a⁵ ≈ 490: rounding of 1e-16 grows to ~1e-13
    np.testing.assert_allclose(
        np.linalg.svd(out, compute_uv=False), np.sort(_ns_scalar(x0))[::-1], atol=1e-12
    )


def test_newton_schulz_band():
    """The honest band: φ⁵ maps [1.6e-3, 1] into [0.681, 1.203] (a fine grid; the lower edge
    0.6818 is a local minimum of φ⁵ and 1.5e-3 is where φ⁵ first climbs back to 0.68), so NS(G)
    has singular values in [0.68, 1.21] when σ_min/‖G‖_F ≥ 1.6e-3; since ‖G‖_F ≤ √k σ_max this
    holds whenever κ√k ≤ 600 (κ the condition number, k the number of singular values).
    Condition number 1e3 alone is NOT enough: σ_min/‖G‖_F ≈ 1e-3/√k maps below 0.5."""
    x = np.geomspace(1.6e-3, 1.0, 100_001)
    y = _ns_scalar(x)
    assert 0.68 < y.min() and y.max() < 1.21
    # beyond the band's hypothesis: κ = 1e3 with 8 singular values drops well below 0.68
    s = np.geomspace(1.0, 1e-3, 8)
    sv = np.linalg.svd(LR.newton_schulz(_matrix_with_svals(10, 8, s=s, seed=11)), compute_uv=False)
    assert sv.min() < 0.5


@pytest.mark.parametrize("tall", [True, False])
@pytest.mark.parametrize(
    ("k", "kappa", "seed"), [(4, 300.0, 7), (8, 200.0, 8), (16, 100.0, 9), (3, 1.0, 10)]
)
def test_newton_schulz_stays_in_the_band_when_kappa_root_k_is_small(k, kappa, seed, tall):
    """Inside the band's hypothesis (κ√k ≤ 600, see test_newton_schulz_band): σ(NS(G)) ⊂
    [0.68, 1.21], on tall and wide matrices."""
    s = np.geomspace(1.0, 1.0 / kappa, k)
    shape = (k + 3, k) if tall else (k, k + 5)
    G = _matrix_with_svals(*shape, s=s, seed=seed)
    sv = np.linalg.svd(LR.newton_schulz(G), compute_uv=False)
    assert 0.68 <= sv.min() and sv.max() <= 1.21, sv


# ----------------------------------------------------------------------------- measures


def test_rank_measures_of_known_spectra():
    W = np.diag([3.0, 2.0, 1.0])
    assert M.stable_rank(W) == pytest.approx(14 / 9, rel=1e-14)
    p = np.array([3, 2, 1]) / 6
    assert M.effective_rank(W) == pytest.approx(math.exp(-np.sum(p * np.log(p))), rel=1e-14)
    q = np.array([9, 4, 1]) / 14
    assert M.effective_rank(W, power=2) == pytest.approx(
        math.exp(-np.sum(q * np.log(q))), rel=1e-14
    )
    assert M.stable_rank(np.eye(5)) == pytest.approx(5.0, rel=1e-14)
    assert M.effective_rank(np.eye(5)) == pytest.approx(5.0, rel=1e-14)
    r1 = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 0.5, 2.0])
    # a rank-1 matrix: the other singular values are rounding (1e-16 relative), entropy ~1e-15
    assert M.stable_rank(r1) == pytest.approx(1.0, abs=1e-12)
    assert M.effective_rank(r1) == pytest.approx(1.0, abs=1e-12)
    assert float(M.stable_rank(np.zeros((3, 3)))) == 0.0
    assert float(M.effective_rank(np.zeros((3, 3)))) == 0.0  # same convention as stable rank
    # batched input measures each matrix
    batch = np.stack([W, np.eye(3)])
    np.testing.assert_allclose(M.stable_rank(batch), [14 / 9, 3.0], rtol=1e-14)


def _measure_all(xp_asarray, fs, mask, U, V):
    fs = [xp_asarray(f) for f in fs]
    W = D.product(fs)
    rows, cols = D.observed_indices(mask)
    K = D.tangent_kernel(fs, rows, cols)
    groups = D.observation_groups(mask)
    return {
        "sv": M.singular_values(W),
        "stable": M.stable_rank(W),
        "eff": M.effective_rank(W),
        "eff2": M.effective_rank(W, power=2),
        "proxies": M.proxies(W, xp_asarray(U), xp_asarray(V)),
        "bal": M.balancedness_residual(fs),
        "bal_ref": M.balancedness_residual(fs, [2.0 * f for f in fs]),
        "kernel": K,
        "cross": M.cross_coupling(K, groups),
        "loss": D.masked_loss(fs, xp_asarray(mask), xp_asarray(np.ones((4, 4)))),
    }


MEASURED = ("sv", "stable", "eff", "eff2", "proxies", "bal", "bal_ref", "kernel", "cross", "loss")


@pytest.fixture(scope="module")
def measured_on_numpy_and_jax():
    fs = _rand_factors((4, 4, 4, 4), seed=12)
    mask = D.superdiagonal_mask(4) + np.eye(4, k=-3)
    _, U, V = LR.spectral_target(4, 4, [3.0, 1.0], seed=1)
    return _measure_all(np.asarray, fs, mask, U, V), _measure_all(jnp.asarray, fs, mask, U, V)


def test_every_measurement_is_compared(measured_on_numpy_and_jax):
    a, b = measured_on_numpy_and_jax
    assert sorted(a) == sorted(b) == sorted(MEASURED)


@pytest.mark.parametrize("key", MEASURED)
def test_measurements_agree_on_numpy_and_jax(measured_on_numpy_and_jax, key):
    a, b = measured_on_numpy_and_jax
    assert isinstance(b[key], jax.Array)
    # different LAPACK paths for the SVD: agreement to 1e-12 relative
    np.testing.assert_allclose(np.asarray(b[key]), np.asarray(a[key]), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("widths", [(4, 4, 4, 4), (3, 5, 2, 4), (4, 4)])
def test_tangent_kernel_is_jacobian_gram(widths):
    """K = J Jᵀ, J = ∂(W_ij for (i,j) ∈ Ω)/∂(all factor entries) by jax.jacobian (the oracle)."""
    fs = [jnp.asarray(f) for f in _rand_factors(widths, seed=13)]
    mask = (np.random.default_rng(14).random((widths[-1], widths[0])) < 0.5).astype(float)
    mask[0, 0] = 1.0
    rows, cols = D.observed_indices(mask)
    J = jax.jacobian(lambda f: D.product(f)[rows, cols])(fs)
    Jm = jnp.concatenate([j.reshape(len(rows), -1) for j in J], axis=1)
    np.testing.assert_allclose(D.tangent_kernel(fs, rows, cols), Jm @ Jm.T, rtol=1e-12, atol=1e-13)


def test_observation_groups():
    n = 6
    g = D.observation_groups(D.diagonal_mask(n))
    assert sorted(g.tolist()) == list(range(n))
    g = D.observation_groups(D.block_diagonal_mask(n, 3))
    rows, _ = D.observed_indices(D.block_diagonal_mask(n, 3))
    assert len(set(g.tolist())) == 3
    # two entries share a group iff their rows lie in the same 2-row block
    np.testing.assert_array_equal(
        g[:, None] == g[None, :], rows[:, None] // 2 == rows[None, :] // 2
    )
    assert set(D.observation_groups(D.superdiagonal_mask(n)).tolist()) == {0}
    # two entries linked only through a chain row -> column -> row
    chain = np.zeros((3, 3))
    chain[0, 0] = chain[0, 2] = chain[2, 2] = chain[1, 1] = 1
    assert len(set(D.observation_groups(chain).tolist())) == 2


COUPLING_MASKS = {"diagonal": D.diagonal_mask(5), "two blocks": D.block_diagonal_mask(6, 2)}


@pytest.mark.parametrize("mask_name", sorted(COUPLING_MASKS))
def test_cross_coupling_depth2_zero_depth3_positive(mask_name):
    mask = COUPLING_MASKS[mask_name]
    k = mask.shape[0]
    rows, cols = D.observed_indices(mask)
    groups = D.observation_groups(mask)

    def coupling(fs) -> float:
        return float(M.cross_coupling(D.tangent_kernel(fs, rows, cols), groups))

    # DMC-2: at depth 2 the cross terms contain an identity factor's off-diagonal: exactly 0
    depth2 = [coupling(D.gaussian_init(k, 2, 1.0, seed=3)), coupling(D.mimic_init(k, 2, 0.5, 2.0))]
    assert depth2 == [0.0, 0.0]
    # DMC-1: depth 3 mimic with m < ∞ couples the groups; m = ∞ (diagonal factors) does not
    assert coupling(D.mimic_init(k, 3, 0.5, 2.0)) > 1e-3
    # diagonal factors: (P_l P_lᵀ)_{ip} (Q_lᵀQ_l)_{jq} ≠ 0 only for the same entry
    assert coupling(D.mimic_init(k, 3, 0.5, math.inf)) == 0.0


def test_arrival_times_interpolates_linearly():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    v = np.array([[0.0, 0.0, 5.0], [1.0, 0.1, 5.0], [2.0, 0.2, 5.0], [3.0, 0.3, 5.0]])
    out = M.arrival_times(t, v, [2.0, 10.0, 1.0], fraction=0.75)
    np.testing.assert_allclose(out, [1.5, np.inf, 0.0])


@pytest.mark.parametrize(
    ("transform", "curve", "exact"),
    [
        # d = t²: straight in √d, so √-interpolation on a coarse grid is exact: d = 4 at t = 2
        ("sqrt", lambda t: t**2, 2.0),
        # d = 16 σ(t − 3): straight in logit(d/16); d = 4 at σ = 1/4, t = 3 − ln 3
        ("logit", lambda t: 16.0 / (1.0 + np.exp(-(t - 3.0))), 3.0 - math.log(3.0)),
    ],
)
def test_arrival_times_transform_is_exact_on_its_own_law(transform, curve, exact):
    """On a curve straight in the transform the interpolated arrival is exact (to rounding), while
    plain linear interpolation on the same coarse grid is off by more than 1e-3."""
    t = np.linspace(0.0, 6.0, 6)  # step 1.2: far too coarse for linear interpolation
    v = curve(t)[:, None]
    got = M.arrival_times(t, v, [16.0], fraction=0.25, transform=transform)[0]
    assert abs(got - exact) <= 1e-12 * exact
    assert abs(M.arrival_times(t, v, [16.0], fraction=0.25)[0] - exact) > 1e-3


def test_stable_rank_tail_is_stable_rank_minus_one_without_cancellation():
    W = np.random.default_rng(0).standard_normal((6, 4))
    sig = np.linalg.svd(W, compute_uv=False)
    # order and signs do not matter; equals sr − 1 where that has no cancellation
    assert M.stable_rank_tail(-sig[::-1]) == pytest.approx(float(M.stable_rank(W)) - 1, rel=1e-12)
    # a near-rank-one spectrum: sr − 1 = 1e-20 is lost in sr = 1 + 1e-20, the tail keeps it
    assert M.stable_rank_tail([1.0, 1e-10]) == pytest.approx(1e-20, rel=1e-12)
    assert math.isnan(M.stable_rank_tail([0.0, 0.0]))  # a zero matrix is not "rank one"


def test_test_rmse_is_the_error_on_unobserved_entries():
    """By hand: a diagonal mask hides the two off-diagonal entries, errors 3 and 4 there (and an
    error on the observed diagonal that must not count): √((9 + 16) / 2)."""
    mask = np.eye(2)
    target = np.ones((2, 2))
    W = target + np.array([[7.0, 3.0], [4.0, 0.0]])
    expect = math.sqrt((9 + 16) / 2)
    assert float(M.test_rmse(W, mask, target)) == pytest.approx(expect, rel=1e-15)
    assert float(M.test_rmse(jnp.asarray(W), jnp.asarray(mask), jnp.asarray(target))) == (
        pytest.approx(expect, rel=1e-15)
    )
    assert float(M.test_rmse(W, np.ones((2, 2)), target)) == 0.0  # nothing hidden


def _deprecated_measure_aliases() -> tuple[str, ...]:
    from gflab import theory

    return theory._MEASURES


@pytest.mark.parametrize("name", _deprecated_measure_aliases())
def test_top_level_measure_aliases_are_theory_measures_with_a_warning(name):
    """theory.stable_rank etc. (the first release's re-exports) stay as aliases of theory.measures."""
    from gflab import theory
    from gflab.theory import measures

    with pytest.warns(DeprecationWarning, match=f"gflab.theory.measures.{name}"):
        assert getattr(theory, name) is getattr(measures, name)
    assert name not in theory.__all__


def test_theory_has_no_other_attribute():
    from gflab import theory

    with pytest.raises(AttributeError):
        theory.rank  # noqa: B018  (never a name of theory)
