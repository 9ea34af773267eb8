"""The simulation engine and runners against closed forms, scipy and conserved quantities.

Compile cost dominates (a few seconds per distinct shape/static configuration), so the tests share
a handful of shapes: DMF (depth, n) in {(2, 4), (3, 4), (3, 6), (4, 4)}, LoRA 6×7 rank 3, and one
scalar test field of shape (3,). Every DMF/LoRA run keeps the default ``n_save``.
"""

from __future__ import annotations

import json
import math
import re

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from shared_cases import assert_arrays_close

from gflab.sims import DMFConfig, LoRAConfig, simulate_dmf, simulate_lora
from gflab.sims.dmf import dmf_problem, solve_dmf_from
from gflab.sims.engine import iterate, solve_flow, solve_flow_batch
from gflab.sims.lora import lora_problem, solve_lora_from
from gflab.sims.methods import GD, Adaptive, SpecGD
from gflab.theory import closed_forms as CF
from gflab.theory import dmf as D
from gflab.theory import measures as M

DMF_SHAPES = [(2, 4), (3, 4), (3, 6), (4, 4)]


def _eigs(W):
    """(λ1, λ2) of a matrix in span{I, J}: eigenvalue on the ones vector and on its complement."""
    n = W.shape[-1]
    return W.sum(axis=(-2, -1)) / n, W[..., 0, 0] - W[..., 0, 1]


# ----------------------------------------------------------------------------- DMF closed forms


@pytest.mark.parametrize("alpha", [1e-1, 1e-3], ids=lambda a: f"alpha={a:g}")
@pytest.mark.parametrize("m", [1.5, 3.0, 20.0], ids=lambda m: f"m={m:g}")
@pytest.mark.parametrize(("depth", "n"), DMF_SHAPES, ids=[f"L{d}-n{n}" for d, n in DMF_SHAPES])
def test_dmf_limit_matches_closed_form(depth, n, m, alpha):
    """DMC-3 oracle: the integrated flow's limit equals mimic_limit (ρ formula at depth 2)."""
    res = simulate_dmf(DMFConfig(depth=depth, n=n, m=m, alpha=alpha))
    assert res.status == "converged", res.message
    lim = CF.mimic_limit(n, depth, alpha, m)
    # stop at relative loss 1e-16: ‖P_Ω(W − W*)‖ ≤ 2e-8, and the off-diagonal converges at
    # the same rate; rtol 1e-9 adds ~1e-9 drift of the conserved quantity. Measured: 8e-9
    np.testing.assert_allclose(res.final["matrix"], lim.matrix(), atol=1e-7)
    if depth == 2:
        assert res.final["matrix"][0, 1] == pytest.approx(CF.depth2_rho(n, m), abs=1e-7)


@pytest.mark.parametrize(("depth", "n"), DMF_SHAPES, ids=[f"L{d}-n{n}" for d, n in DMF_SHAPES])
def test_dmf_limit_other_targets(depth, n):
    """The same oracle for w* ≠ 1 and for diagonal (m = ∞) factors."""
    # another target value w*: the limit scales with it (λ's interpolate n w*)
    res = simulate_dmf(DMFConfig(depth=depth, n=n, m=3.0, alpha=1e-3, target="const:0.5"))
    assert res.status == "converged"
    lim = CF.mimic_limit(n, depth, 1e-3, 3.0, 0.5)
    np.testing.assert_allclose(res.final["matrix"], lim.matrix(), atol=1e-7)
    # m = ∞: diagonal factors stay diagonal and W∞ = w* I at every depth
    res = simulate_dmf(DMFConfig(depth=depth, n=n, m=math.inf, alpha=1e-2, target="const:2"))
    assert res.status == "converged"
    np.testing.assert_allclose(res.final["matrix"], 2.0 * np.eye(n), atol=1e-7)


@pytest.mark.parametrize(("depth", "n"), [(3, 4), (3, 6), (4, 4)])
def test_dmf_conserved_quantity_and_reduced_ode(depth, n):
    """Along the trajectory λ2^{−κ} − λ1^{−κ} is constant, and (λ1, λ2) follow the reduced 2-D ODE
    integrated independently by scipy (DOP853, rtol 1e-12)."""
    m, alpha = 3.0, 1e-3
    res = simulate_dmf(DMFConfig(depth=depth, n=n, m=m, alpha=alpha))
    assert res.status == "converged"
    W = res.series["matrix"]
    l1, l2 = _eigs(W)
    l1_0, l2_0 = CF.mimic_eigenvalues(n, depth, alpha, m)
    c = CF.dmc_conserved(l1, l2, depth)
    c0 = CF.dmc_conserved(l1_0, l2_0, depth)
    # the PID keeps each entry's local error under rtol·|W_ij| = 1e-9 relative; the conserved value
    # inherits a few times that (measured: ≤ 3e-9 over these shapes) -> 1e-7 relative
    np.testing.assert_allclose(c, c0, rtol=1e-7)
    t = res.times
    sol = solve_ivp(
        lambda _, y: CF.mimic_reduced_field(y, n, depth, 1.0),
        (0.0, t[-1]),
        [l1_0, l2_0],
        method="DOP853",
        rtol=1e-12,
        atol=1e-20,
        t_eval=t,
    )
    assert sol.success
    ref = np.sort(np.abs(sol.y.T), axis=1)[:, ::-1]
    sv = res.series["singular_values"]
    # two solvers at rtol 1e-9 and 1e-12; the fast growth phase of λ1 amplifies the global error
    # (measured: 2.3e-7 relative at depth 4) -> 1e-6
    np.testing.assert_allclose(sv[:, 0], ref[:, 0], rtol=1e-6, atol=1e-12)
    # λ2 has multiplicity n − 1 and moves little (measured: ≤ 1.2e-9 relative) -> 1e-7
    lambda2 = np.broadcast_to(ref[:, 1:2], sv[:, 1:].shape)
    np.testing.assert_allclose(sv[:, 1:], lambda2, rtol=1e-7, atol=1e-12)


def test_coupling_series_matches_theory():
    """The saved tangent-kernel coupling (computed inside the solve) equals theory's
    cross_coupling evaluated eagerly on NumPy factors at the start and at the final state;
    with m = ∞ the factors stay diagonal and the coupling is exactly 0 all along (DMC-1)."""
    n, depth = 4, 3
    mask = D.diagonal_mask(n)
    rows, cols = D.observed_indices(mask)
    groups = D.observation_groups(mask)
    res = simulate_dmf(DMFConfig(depth=depth, n=n, m=3.0, alpha=1e-2, coupling=True))
    c = res.series["coupling"]
    expect0 = M.cross_coupling(
        D.tangent_kernel(D.mimic_init(n, depth, 1e-2, 3.0), rows, cols), groups
    )
    expect1 = M.cross_coupling(D.tangent_kernel(res.final_state, rows, cols), groups)
    # same formula, traced vs eager: rounding only
    assert c[0] == pytest.approx(float(expect0), rel=1e-12)
    # the last saved time precedes the stop time by part of a log-grid interval, over which the
    # nearly converged trajectory still moves by ~1e-9 relative (measured 2e-9) -> 1e-7
    assert c[-1] == pytest.approx(float(expect1), rel=1e-7)
    assert np.all(c > 0.05)
    res = simulate_dmf(DMFConfig(depth=depth, n=n, m=math.inf, alpha=1e-2, coupling=True))
    assert np.all(res.series["coupling"] == 0.0)


def test_depth2_limit_is_alpha_independent():
    W = [simulate_dmf(DMFConfig(depth=2, n=4, m=2.0, alpha=a)).final["matrix"] for a in (0.3, 1e-4)]
    np.testing.assert_allclose(W[0], W[1], atol=1e-7)  # both within 1e-7 of the same limit


# ------------------------------------------------------------------------ DMF: invariants, scipy


def _dmf_rhs(mask, target, shapes):
    sizes = [a * b for a, b in shapes]

    def rhs(_, y):
        fs, k = [], 0
        for (a, b), s in zip(shapes, sizes, strict=True):
            fs.append(y[k : k + s].reshape(a, b))
            k += s
        return np.concatenate([v.ravel() for v in D.gradient_field(fs, mask, target)])

    return rhs


# depth 3, n = 6, Gaussian init of scale 1, Bernoulli(0.6) Ω, rank-2 target: the product moves
# by O(1) within t1 = 10 (the tests below change the mask, seed, t1 or tolerances)
GAUSSIAN_DMF = DMFConfig(
    depth=3,
    n=6,
    init="gaussian",
    alpha=1.0,
    mask="bernoulli:0.6",
    target="lowrank:2",
    seed=0,
    t1=10.0,
)


def test_dmf_matches_scipy_dop853_on_random_mask():
    """diffrax Tsit5 against scipy DOP853 (rtol 1e-10, atol 1e-12): depth 3, n = 6, Bernoulli Ω,
    Gaussian init, low-rank target; products compared at several times."""
    cfg = GAUSSIAN_DMF.replace(
        mask="bernoulli:0.5", seed=3, t1=4.0, method=Adaptive(rtol=1e-10, atol=1e-12)
    )
    factors, mask, target = dmf_problem(cfg)
    res = simulate_dmf(cfg)
    assert res.status == "t1_reached"
    t = res.times
    pick = [0, 20, 60, 120, len(t) - 1]
    shapes = [f.shape for f in factors]
    sol = solve_ivp(
        _dmf_rhs(mask, target, shapes),
        (0.0, t[-1]),
        np.concatenate([f.ravel() for f in factors]),
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
        t_eval=t[pick],
    )
    assert sol.success
    factors_at = [[y[k * 36 : (k + 1) * 36].reshape(6, 6) for k in range(3)] for y in sol.y.T]
    want = np.stack([D.product(fs) for fs in factors_at])
    # two independent 1e-10-tolerance solvers: global errors ~1e-9 on entries of size ~1
    np.testing.assert_allclose(res.series["matrix"][pick], want, atol=1e-7)
    # the product has actually moved (the comparison is not of two constant trajectories)
    assert np.abs(res.series["matrix"][-1] - res.series["matrix"][0]).max() > 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balancedness_is_conserved_to_solver_tolerance(seed):
    """W_{l+1}ᵀW_{l+1} − W_l W_lᵀ is conserved by gradient flow: its drift is rounding plus the
    solver's local error, ~rtol × ‖W_l‖² summed over steps."""
    res = simulate_dmf(GAUSSIAN_DMF.replace(seed=seed))
    drift = res.series["balancedness_drift"]
    assert drift[0] == 0.0
    scale = max(np.linalg.norm(f) ** 2 for f in res.final_state)
    # measured: 5.5e-10 with ‖W_l‖² ≈ 8 (rtol 1e-9): 1e-8·scale leaves a margin of ~15
    assert drift.max() <= 1e-8 * scale, drift.max()
    assert res.final["balancedness_drift"] == pytest.approx(drift[-1], rel=1e-6, abs=1e-15)


def test_drift_is_measured_from_the_actual_start():
    """A run started from other factors than the config's init (a resumed phase) measures the
    invariant's drift from those factors: the final value matches the saved series."""
    from gflab.sims.dmf import package_dmf

    cfg = GAUSSIAN_DMF
    _, mask, target = dmf_problem(cfg)
    start = D.gaussian_init(6, 3, 2.0, seed=99)
    res = package_dmf(cfg, solve_dmf_from(cfg, start, mask, target), mask, target)
    drift = res.series["balancedness_drift"]
    # same final state measured twice (saved at t1 inside the solve, and after it): rounding only
    assert res.final["balancedness_drift"] == pytest.approx(drift[-1], rel=1e-6, abs=1e-13)
    assert drift.max() < 1e-6  # conserved from the actual start, not from the config's init


# ------------------------------------------------------------------------ engine on a test field


def _field(t, y, a):
    """y' = a y + b y² (+ NaN after t_nan): logistic (a = 2s, b = −2), decay, finite-time blowup."""
    return a["a"] * y + a["b"] * y * y + jnp.where(t > a["t_nan"], jnp.nan, 0.0)


def _stats(t, y, a):
    return {"y": y}


def _monitor(y, a):
    return jnp.max(jnp.abs(y - a["goal"]))


SAVE = np.linspace(0.0, 1.0, 11)
S = np.array([1.0, 2.0, 3.0])
P0 = np.array([0.1, 0.05, 0.2])


def _targs(a, b, goal=0.0, t_nan=np.inf):
    bc = lambda v: jnp.asarray(np.broadcast_to(np.asarray(v, float), (3,)).copy())
    return {"a": bc(a), "b": bc(b), "goal": bc(goal), "t_nan": jnp.asarray(float(t_nan))}


def test_euler_has_order_one_and_tsit5_matches_logistic():
    args = _targs(2 * S, -2.0, goal=S)
    exact = CF.logistic_solution(1.0, S, P0)
    errs = []
    dts = np.array([1 / 50, 1 / 100, 1 / 200, 1 / 400, 1 / 800])
    runs = []
    for dt in dts:
        r = solve_flow(_field, _stats, _monitor, jnp.asarray(P0), args, t1=1.0, save_ts=SAVE, dt=dt)
        runs.append((r.status, r.steps))
        errs.append(np.max(np.abs(r.final_state - exact)))
    assert runs == [("t1_reached", round(1 / dt)) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 0.9 <= slope <= 1.1, slope
    r = solve_flow(
        _field,
        _stats,
        _monitor,
        jnp.asarray(P0),
        args,
        t1=1.0,
        save_ts=SAVE,
        rtol=1e-12,
        atol=1e-14,
    )
    # PID at rtol 1e-12: global error a few times rtol · |p| ≤ 3
    np.testing.assert_allclose(r.saved["y"], CF.logistic_solution(SAVE[:, None], S, P0), atol=1e-10)
    np.testing.assert_allclose(r.final_state, exact, atol=1e-10)


def test_engine_statuses():
    y0 = jnp.ones(3)
    # converged: decay to 0, stopped by the monitor before t1
    r = solve_flow(_field, _stats, _monitor, y0, _targs(-1.0, 0.0), t1=50.0, save_ts=SAVE, tol=1e-6)
    assert r.status == "converged" and r.message == ""
    # the crossing monitor = tol is root-found on the dense output: y = exp(−t) reaches 1e-6 at
    # t = ln(1e6); Tsit5's interpolant at the default rtol 1e-8 puts the state within ~1e-8
    # relative of exp(−t) (measured: 1e-15 here, the field is linear), so both to 1e-7
    np.testing.assert_allclose(r.final_time, math.log(1e6), rtol=1e-7)
    np.testing.assert_allclose(r.final_state, 1e-6, rtol=1e-7)
    np.testing.assert_allclose(r.final_state, math.exp(-r.final_time), rtol=1e-7)
    # t1 reached
    r = solve_flow(_field, _stats, _monitor, y0, _targs(-1.0, 0.0), t1=1.0, save_ts=SAVE)
    assert r.status == "t1_reached" and r.final_time == 1.0
    np.testing.assert_allclose(r.final_state, math.exp(-1.0), rtol=1e-7)
    # diverged: y' = y² blows up at t = 1; the bound 1e6 is hit at t = 1 − 1e-6
    r = solve_flow(_field, _stats, _monitor, y0, _targs(0.0, 1.0), t1=2.0, save_ts=SAVE, blowup=1e6)
    assert r.status == "diverged" and _time_in(r.message) == pytest.approx(1.0, abs=1e-4)
    assert r.final_time == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.isfinite(r.final_state))
    assert np.all(np.isfinite(r.saved["y"])) and r.times[-1] <= 1.0
    # diverged: the field turns NaN after t = 0.5 (fixed steps carry the NaN into the state)
    r = solve_flow(
        _field, _stats, _monitor, y0, _targs(-1.0, 0.0, t_nan=0.5), t1=1.0, save_ts=SAVE, dt=0.01
    )
    assert r.status == "diverged" and 0.5 < _time_in(r.message) <= 0.52
    assert np.all(np.isfinite(r.saved["y"])) and r.times[-1] <= 0.5
    # the last finite state is kept (re-solved to the last finite saved time): Euler's (1 − dt)^k
    assert r.final_time == 0.5
    np.testing.assert_allclose(r.final_state, 0.99**50, rtol=1e-12)
    # the same field under the adaptive solver: NaN trial steps are rejected until the step size
    # collapses at t = 0.5; reported as diverged (not max_steps), with the exact state exp(−0.5)
    r = solve_flow(_field, _stats, _monitor, y0, _targs(-1.0, 0.0, t_nan=0.5), t1=1.0, save_ts=SAVE)
    assert r.status == "diverged" and _time_in(r.message) == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(r.final_state, math.exp(-r.final_time), rtol=1e-7)
    # max_steps: reported, with the time reached
    r = solve_flow(
        _field, _stats, _monitor, y0, _targs(-1.0, 0.0), t1=1.0, save_ts=SAVE, max_steps=3
    )
    assert r.status == "max_steps" and r.final_time < 1.0
    assert _time_in(r.message) == pytest.approx(r.final_time, rel=1e-5)
    assert r.steps + r.rejected_steps == 3


def _time_in(message: str) -> float:
    """The first time a status message names ("t ≈ 0.51" / "t = 0.51")."""
    match = re.search(r"\bt [≈=] ([-+0-9.eE]+)", message)
    assert match, message
    return float(match.group(1))


def test_batch_vmap_equals_loop():
    y0 = jnp.asarray(np.array([P0, 2 * P0, 0.5 * P0]))
    args = _targs(2 * S, -2.0, goal=S)
    kw = dict(t1=1.0, save_ts=SAVE, rtol=1e-10, atol=1e-12)
    loop = solve_flow_batch(_field, _stats, _monitor, y0, args, strategy="loop", **kw)
    vmap = solve_flow_batch(_field, _stats, _monitor, y0, args, strategy="vmap", **kw)
    assert [(a.status, b.status) for a, b in zip(loop, vmap, strict=True)] == [
        ("t1_reached", "t1_reached")
    ] * 3
    # same compiled arithmetic per member, batched: identical up to reassociation
    saved = [r.saved["y"] for r in vmap], [r.saved["y"] for r in loop]
    assert_arrays_close(*saved, rtol=1e-13, atol=1e-15)
    final = [r.final_state for r in loop]
    assert_arrays_close([r.final_state for r in vmap], final, rtol=1e-13)
    assert_arrays_close(
        final, [CF.logistic_solution(1.0, S, p0) for p0 in np.asarray(y0)], atol=1e-8
    )
    # early stop per member: one converges, the others run to t1
    y0 = jnp.asarray(np.array([[1.0, 1, 1], [1e3, 1e3, 1e3]]))
    kw["t1"] = 30.0
    out = solve_flow_batch(
        _field, _stats, _monitor, y0, _targs(-1.0, 0.0), strategy="vmap", tol=1e-6, **kw
    )
    assert [o.status for o in out] == ["converged", "converged"]
    assert out[1].final_time > out[0].final_time


def _descent(y, a):
    """A "gradient" whose GD step is forward Euler of ``_field``: −lr·(−f) = lr·f exactly."""
    return -_field(0.0, y, a)


def _kstats(k, y, a):
    return {"y": y}


@pytest.mark.parametrize("steps", [23, 25], ids=lambda k: f"steps={k}")
def test_iterate_steps_statuses_and_save_grid(steps):
    """lax.scan iterations: exactly ``steps`` steps even when the save grid (every 5) does not
    divide them, and the same numbers as the same recursion in NumPy (identical arithmetic: 1e-14)."""
    args = _targs(2 * S, -2.0, goal=S)
    y0 = jnp.asarray(P0)
    r = iterate(GD(0.01), _descent, _kstats, _monitor, y0, args, steps=steps, save_every=5)
    assert r.status == "t1_reached" and r.steps == steps and r.final_time == steps
    assert r.times[-1] == steps and list(r.times[:3]) == [0.0, 5.0, 10.0]
    y = P0.copy()
    ys = [y]
    for _ in range(steps):
        y = y + 0.01 * (2 * S * y - 2 * y * y)
        ys.append(y)
    np.testing.assert_allclose(r.final_state, y, rtol=1e-14)
    np.testing.assert_allclose(r.saved["y"], np.array(ys)[r.times.astype(int)], rtol=1e-14)


def test_iterate_stop_statuses():
    """Diverged, converged and already-converged runs stop where the rules say."""
    # diverged: y ← 2y passes the bound 1e3 at step 10; the state after step 9 (512) is kept
    args = _targs(1.0, 0.0)
    r = iterate(
        GD(1.0), _descent, _kstats, _monitor, jnp.ones(3), args, steps=23, save_every=5, blowup=1e3
    )
    assert r.status == "diverged" and "step 10" in r.message
    assert r.steps == 9 and np.all(r.final_state == 512.0)
    # converged: y ← y/2 reaches the tolerance 1e-3 after 10 steps and freezes there
    args = _targs(-0.5, 0.0)
    r = iterate(
        GD(1.0), _descent, _kstats, _monitor, jnp.ones(3), args, steps=23, save_every=5, tol=1e-3
    )
    assert r.status == "converged" and r.steps == 10 and np.all(r.final_state == 0.5**10)
    assert r.times[-1] == 10 and r.saved["y"][-1][0] == 0.5**10
    # a start already at the tolerance takes no step (the stop rule is checked before each step)
    r = iterate(
        GD(1.0), _descent, _kstats, _monitor, jnp.ones(3), args, steps=23, save_every=5, tol=2.0
    )
    assert r.status == "converged" and r.steps == 0 and np.all(r.final_state == 1.0)


def test_dmf_batch_vmap_equals_loop():
    """Depth-2 completion from mimic inits at three scales: each member stops at its own time,
    both strategies agree, and all reach the α-independent limit w*[(1−ρ)I + ρJ]."""
    from gflab.sims.dmf import _args, _field, _monitor, _stats_fn, save_grid

    cfg = DMFConfig(depth=2, n=4, m=3.0)
    _, mask, target = dmf_problem(cfg)
    inits = [D.mimic_init(4, 2, a, 3.0) for a in (1e-1, 1e-2, 1e-3)]
    y0 = tuple(jnp.asarray(np.stack([f[layer] for f in inits])) for layer in range(2))
    args = _args(cfg, inits[0], mask, target)
    kw = dict(
        t1=cfg.t_max,
        save_ts=save_grid(cfg.t_max, cfg.n_save, "log"),
        rtol=cfg.method.rtol,
        atol=cfg.method.atol,
        tol=cfg.converge_tol,
        blowup=1e12,
        max_steps=cfg.method.max_steps,
    )
    stats = _stats_fn(True, False)
    loop = solve_flow_batch(_field, stats, _monitor, y0, args, strategy="loop", **kw)
    vmap = solve_flow_batch(_field, stats, _monitor, y0, args, strategy="vmap", **kw)
    limit = CF.mimic_limit(4, 2, 1e-2, 3.0).matrix()
    assert [(a.status, b.status) for a, b in zip(loop, vmap, strict=True)] == [
        ("converged", "converged")
    ] * 3
    # the same per-member arithmetic (vmap batches the same operations): the same steps, and
    # states equal to rounding (measured 1.6e-15)
    assert [(b.steps, b.rejected_steps) for b in vmap] == [
        (a.steps, a.rejected_steps) for a in loop
    ]
    # The stop is root-found where the relative loss crosses 1e-16: there R ≈ 1e-8·|W*|, so
    # the loss itself carries ≈ u/1e-8 ≈ 1e-8 relative rounding (vmap's batched products
    # round differently from the loop's under the default hybrid's branch selects), and the
    # crossing time moves by ≈ 1e-8 / (d log ℓ/dt ≈ 1.7) ≈ 6e-9 at t ≈ 12, ≈ 5e-10
    # relative (measured 8.3e-10): 1e-8 relative allows 12× that, while a different stop
    # (another step, another member's time) is off by ≥ 1e-3.
    assert [b.final_time for b in vmap] == pytest.approx([a.final_time for a in loop], rel=1e-8)
    assert_arrays_close(
        [b.saved["matrix"] for b in vmap], [a.saved["matrix"] for a in loop], rtol=1e-10, atol=1e-14
    )
    products = [D.product(list(b.final_state)) for b in vmap]
    assert_arrays_close(products, [limit] * len(products), atol=1e-6)
    # smaller α has a longer plateau: later stops
    assert loop[0].final_time < loop[1].final_time < loop[2].final_time


# ----------------------------------------------------------------------------- discrete DMF


def test_dmf_gd_statuses_and_no_nan():
    base = dict(depth=3, n=4, init="gaussian", alpha=1.0, mask="superdiag", target="lowrank:1")
    res = simulate_dmf(DMFConfig(**base, method=GD(lr=50.0), steps=400))
    assert res.status == "diverged" and "step" in res.message
    assert res.final_state is not None and all(np.all(np.isfinite(f)) for f in res.final_state)
    text = json.dumps(res.to_json(), allow_nan=False)  # raises on NaN/inf floats
    assert "NaN" not in text
    # a small step converges along GD and tracks gradient flow: GD at step η is the Euler scheme
    res = simulate_dmf(DMFConfig(**base, method=GD(lr=0.05), steps=400))
    assert res.status in ("t1_reached", "converged")
    assert res.series["loss"][-1] < res.series["loss"][0]


# ----------------------------------------------------------------------------- LoRA

LORA = dict(rows=6, cols=7, rank=3, target_svals=(1.0, 4.0, 9.0), gamma=1e-3)


def test_specgd_arrival_steps():
    """SGF-2 discrete: SpecGD (step η) reaches f·s_i at step ≈ √(f s_i)/η, smaller targets first."""
    eta, f = 0.01, 0.5
    res = simulate_lora(LoRAConfig(**LORA, flow="specgf", method=SpecGD(lr=0.01), steps=800))
    arr = __import__("gflab.theory.measures").theory.measures.arrival_times(
        res.times, res.series["proxies"], LORA["target_svals"], f
    )
    pred = CF.specgd_arrival_step(LORA["target_svals"], eta, f)
    # the equal-rate law is exact up to the first O(1) steps (B(0) = γ noise, A(0) = 0) and the
    # save grid (every 4 steps, linear interpolation of d ~ k²): 2 steps + 1 %
    assert np.all(np.abs(arr - pred) <= 2 + 0.01 * pred), (arr, pred)
    assert np.all(np.diff(arr) > 0)


@pytest.fixture(scope="module")
def specgf_run():
    """One SpecGF run (β = 1e-6, the CLI default) shared by the arrival-time cases."""
    return simulate_lora(LoRAConfig(**LORA, flow="specgf", beta=1e-6, t1=4.0))


@pytest.mark.parametrize("f", [0.25, 0.5, 0.9], ids=lambda f: f"f={f:g}")
def test_specgf_arrival_times(specgf_run, f):
    """SGF-2: SpecGF (β = 1e-6, the CLI default) reaches f·s_i at t ≈ √(f s_i)."""
    from gflab.theory.measures import arrival_times

    res = specgf_run
    assert res.status == "converged"
    arr = arrival_times(res.times, res.series["proxies"], LORA["target_svals"], f)
    pred = CF.specgf_arrival_time(LORA["target_svals"], f)
    # deviation from the unit rate: the start √d(0) ~ γ, the β/σ² smoothing, and the save
    # grid (spacing 0.02; interpolation of d ~ t² errs by ≤ h²/(8t)). Measured: 1.0e-3
    np.testing.assert_allclose(arr, pred, atol=3e-3)


def test_specgf_run_converges_to_the_target(specgf_run):
    assert specgf_run.status == "converged"
    np.testing.assert_allclose(specgf_run.final["singular_values"], [9.0, 4.0, 1.0], atol=1e-6)


def test_gradient_flow_logistic_law():
    """SGF-3: an aligned balanced start A = U√p0, B = √p0 Vᵀ keeps the modes decoupled, and each
    proxy follows ṗ = 2p(s − p) exactly."""
    cfg = LoRAConfig(
        **{**LORA, "gamma": 1.0}, flow="gf", t1=4.0, method=Adaptive(rtol=1e-11, atol=1e-13)
    )
    _, _, Y, U, V = lora_problem(cfg)
    p0 = np.array([1e-3, 1e-4, 1e-5])
    A0 = U * np.sqrt(p0)
    B0 = (V * np.sqrt(p0)).T
    raw = solve_lora_from(cfg, A0, B0, Y, U, V)
    assert raw.status == "t1_reached"
    exact = CF.logistic_solution(raw.times[:, None], np.array(LORA["target_svals"]), p0)
    # PID at rtol 1e-11: global relative error a few × rtol (measured: 6e-11) -> 1e-9
    np.testing.assert_allclose(raw.saved["proxies"], exact, rtol=1e-9, atol=1e-15)
    # largest first
    from gflab.theory.measures import arrival_times

    arr = arrival_times(raw.times, raw.saved["proxies"], LORA["target_svals"], 0.5)
    assert np.all(np.diff(arr) < 0)
    np.testing.assert_allclose(
        arr, CF.logistic_arrival_time(np.array(LORA["target_svals"]), p0), rtol=1e-3
    )  # save grid spacing 0.02 with linear interpolation


def test_l2_soft_threshold_limit_and_balance():
    """SGF-5: with ℓ2 = λ the limit has singular values (s_i − λ)_+ and AᵀA = BBᵀ."""
    lam = 0.5
    res = simulate_lora(
        LoRAConfig(**{**LORA, "gamma": 0.1}, flow="gf", init="gaussian", l2=lam, t1=60.0)
    )
    assert res.status == "converged", res.message
    np.testing.assert_allclose(
        res.final["singular_values"],
        CF.soft_threshold_limit(LORA["target_svals"], lam, 3),
        atol=1e-5,
    )
    A, B = res.final_state
    # stationary points of ℒ_λ with λ > 0 are balanced: AᵀA − BBᵀ = 0 up to the stopping residual
    np.testing.assert_allclose(A.T @ A, B @ B.T, atol=1e-5)


@pytest.mark.parametrize("solver", ["rkc2", "tsit5-rkc2"])
def test_stabilized_solvers_through_the_engine_match_the_closed_form(solver):
    """The engine runs sims/rkc.py's solvers by name (Adaptive(solver=...)): same DMC-3 oracle as
    Tsit5 (mimic_limit), same stop rule. rtol 1e-9 on an order-2 method: measured error ~1e-9."""

    method = Adaptive(rtol=1e-9, atol=1e-14, solver=solver)
    res = simulate_dmf(DMFConfig(depth=3, n=4, m=3.0, alpha=1e-3, method=method))
    assert res.status == "converged", res.message
    lim = CF.mimic_limit(4, 3, 1e-3, 3.0)
    np.testing.assert_allclose(res.final["matrix"], lim.matrix(), atol=1e-7)
