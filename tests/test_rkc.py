"""gflab.sims.rkc: RKC2 and the Tsit5 → RKC2 hybrid as diffrax solvers, against closed forms and SciPy.

Oracles: the closed-form solution of a linear problem with a known real spectrum (order,
stability, dense output, events); the Chebyshev closed form of RKC2's stability interval;
SciPy's DOP853 at rtol 1e-11 on the two models (DMF gradient flow, LoRA SpecGF with β > 0).
"""

from __future__ import annotations

import math

import diffrax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest
from scipy.integrate import solve_ivp

from gflab.sims.rkc import (
    _TSIT5,
    RKC2,
    TSIT5_REAL_STABILITY,
    Tsit5RKC,
    _tsit5_step,
    rkc_stability_bound,
    rkc_stages_for,
    solver_counts,
    stabilized_solver,
)
from gflab.theory.errors import GflabInputError

SOLVERS = {"rkc2": RKC2(), "tsit5-rkc2": Tsit5RKC()}


# ----------------------------------------------------------------------------- a linear problem
# y_i' = −λ_i (y_i − sin t) + cos t, y(0) = 1: y_i(t) = sin t + e^{−λ_i t}. The Jacobian is
# −diag(λ): a real spectrum [−λ_max, −λ_min], like a gradient flow's; t enters the field, so the
# stage times c_j are tested too.


def _linear(lams):
    lam = jnp.asarray(lams)

    def f(t, y, args):
        return -lam * (y - jnp.sin(t)) + jnp.cos(t)

    def exact(t):
        return np.sin(t) + np.exp(-np.asarray(lams) * t)

    return f, exact


def _solve(solver, f, t1, y0, *, controller, args=None, saveat=None, event=None, max_steps=200_000):
    return diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        solver,
        0.0,
        t1,
        None,
        y0,
        args,
        stepsize_controller=controller,
        saveat=saveat or diffrax.SaveAt(t1=True, solver_state=True),
        event=event,
        max_steps=max_steps,
    )


@pytest.mark.parametrize("s", [2, 3, 5, 10, 40, 200], ids=lambda s: f"s={s}")
def test_stability_bound_closed_form(s):
    # β(s) = (2/3)(s² − 1)(1 − 2ε/15) + O(ε²) (Sommeijer et al. 1997 eq. 2.6), ε = 2/13: the
    # neglected O(ε²) term is ≈ ε²·s²/90 ≈ 3e-4 s², i.e. well inside 1 % for every s
    eps = 2.0 / 13.0
    approx = (2.0 / 3.0) * (s * s - 1) * (1 - 2 * eps / 15)
    assert float(rkc_stability_bound(s)) == pytest.approx(approx, rel=1e-2)


@pytest.mark.parametrize("h_rho", [0.0, 0.5, 1.9, 2.0, 5.0, 17.0, 100.0, 1e3, 3.3e4])
def test_stage_rule_is_stable_and_near_minimal(h_rho):
    s = int(rkc_stages_for(h_rho, 1000))
    assert s >= 2
    assert float(rkc_stability_bound(s)) >= h_rho  # stable
    # one stage fewer would be (nearly) enough at most: the rule over-provisions by ≤ 1 stage
    assert s == 2 or float(rkc_stability_bound(s - 2)) < h_rho


@pytest.mark.parametrize("name", list(SOLVERS))
def test_convergence_order_two(name):
    # fixed steps h = 1/50 … 1/400 on a spectrum up to 20 (h·λ ≤ 0.4): RKC2 runs 2 stages, the
    # hybrid (h·ρ < 3) runs Tsit5. The error of an order-p method scales as h^p: RKC2's fitted
    # slope must lie in [1.8, 2.3] (measured 2.0); the hybrid's must be ≥ 1.8 (it is Tsit5 here).
    f, exact = _linear([0.5, 3.0, 20.0])
    y0 = jnp.ones(3)
    hs, errs = [], []
    for k in (50, 100, 200, 400):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(f),
            SOLVERS[name],
            0.0,
            1.0,
            1.0 / k,
            y0,
            stepsize_controller=diffrax.ConstantStepSize(),
            max_steps=1000,
        )
        hs.append(1.0 / k)
        errs.append(float(jnp.max(jnp.abs(sol.ys[-1] - exact(1.0)))))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    if name == "rkc2":
        assert 1.8 <= slope <= 2.3, (slope, errs)
    else:
        assert slope >= 1.8, (slope, errs)


def test_convergence_order_two_many_stages():
    # the same with λ_max = 2e3, so that every step uses s ≥ 4 stages: the damped Chebyshev
    # recurrence itself (not just the 2-stage case) is second order
    f, exact = _linear([0.5, 3.0, 2e3])
    y0 = jnp.ones(3)
    hs, errs, stages = [], [], []
    for k in (25, 50, 100, 200):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(f),
            RKC2(),
            0.0,
            1.0,
            1.0 / k,
            y0,
            stepsize_controller=diffrax.ConstantStepSize(),
            saveat=diffrax.SaveAt(t1=True, solver_state=True),
            max_steps=1000,
        )
        hs.append(1.0 / k)
        errs.append(float(jnp.max(jnp.abs(sol.ys[-1] - exact(1.0)))))
        stages.append(solver_counts(sol.solver_state)["max_stages"])
    assert min(stages) >= 4
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert 1.7 <= slope <= 2.4, (slope, errs, stages)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_stable_far_beyond_tsit5_bound(name):
    # 50 eigenvalues log-spaced in [1, 1e4] to t = 5 at rtol 1e-6: Tsit5 needs ≥ 5·1e4/3.5 ≈ 14k
    # steps (stability); the stabilised solvers must take steps with h·λ_max ≫ 3.5 and still be
    # accurate. Error bound 10·rtol·max|y| (max|y| ≈ 1; the flow damps local errors; measured
    # 7e-7).
    lams = np.logspace(0, 4, 50)
    f, exact = _linear(lams)
    rtol = 1e-6
    sol = _solve(
        SOLVERS[name], f, 5.0, jnp.ones(50), controller=diffrax.PIDController(rtol=rtol, atol=1e-9)
    )
    err = float(jnp.max(jnp.abs(sol.ys[-1] - exact(5.0))))
    assert err <= 10 * rtol, err
    steps = int(sol.stats["num_accepted_steps"])
    mean_h_rho = 5.0 / steps * lams.max()
    assert mean_h_rho > 5 * TSIT5_REAL_STABILITY, (steps, mean_h_rho)
    counts = solver_counts(sol.solver_state)
    assert counts["rho"] == pytest.approx(1e4, rel=1e-3)  # power iteration found λ_max
    assert counts["rkc_steps"] > 0.5 * steps
    # ρ̂ refreshed every rho_every = 2 accepted steps (30 JVPs at the start), not every step
    every = SOLVERS[name].rho_every
    assert every == 2
    assert 30 + steps // every <= counts["jvps"] <= 30 + steps // every + 1, (counts, steps)


def test_hybrid_starts_with_tsit5_and_switches_by_measurement():
    # a non-stiff transient (accuracy-limited, h·ρ small) then stiffness: the hybrid must take
    # both kinds of steps; a spectrum in [1, 20] to t = 0.5 at rtol 1e-10 never reaches h·ρ = 3
    f, _ = _linear([1.0, 20.0])
    sol = _solve(
        Tsit5RKC(), f, 0.5, jnp.ones(2), controller=diffrax.PIDController(rtol=1e-10, atol=1e-12)
    )
    c = solver_counts(sol.solver_state)
    assert c["rkc_steps"] == 0 and c["tsit5_steps"] > 0
    f, _ = _linear([1.0, 1e3])
    sol = _solve(
        Tsit5RKC(), f, 20.0, jnp.ones(2), controller=diffrax.PIDController(rtol=1e-6, atol=1e-9)
    )
    c = solver_counts(sol.solver_state)
    assert c["rkc_steps"] > 0 and c["tsit5_steps"] > 0


def test_unrolled_tsit5_step_is_diffraxs_tsit5_step():
    # the hybrid's Tsit5 steps are straight-line code over the same tableau: the same y1, error
    # estimate and last stage as diffrax.Tsit5().step, to rounding, on a nonlinear PyTree field
    # with explicit t dependence (so the stage times c_i are checked too)
    def f(t, y, args):
        a, b = y
        return (-(a @ b) @ b.T + jnp.sin(t) * a, -a.T @ (a @ b) + jnp.cos(3.0 * t) * b)

    rng = np.random.default_rng(3)
    y0 = (jnp.asarray(rng.normal(size=(4, 3))), jnp.asarray(rng.normal(size=(3, 5))))
    t0, h = 0.3, 0.07
    F0 = f(t0, y0, None)
    term = diffrax.ODETerm(f)
    y1, err, _, (_, F1), _ = diffrax.Tsit5().step(
        term, t0, t0 + h, y0, None, (jnp.asarray(False), F0), False
    )
    u1, uerr, uF1 = _tsit5_step(lambda t, y: f(t, y, None), t0, h, y0, F0)
    # the two leaves each of y1, the error estimate and the last stage
    steps = ((y1, u1), (err, uerr), (F1, uF1))
    pairs = [(a, b) for ref, got in steps for a, b in zip(ref, got, strict=True)]
    # max |a − b| ≤ 1e-13·max(max |a|, 1) for every leaf
    excess = [
        float(jnp.max(jnp.abs(a - b)) / max(float(jnp.max(jnp.abs(a))), 1.0)) for a, b in pairs
    ]
    assert max(excess) <= 1e-13, excess
    # a wrong tableau entry is seen: the error estimate with the last b_error weight dropped
    assert float(jnp.max(jnp.abs(uerr[0] - err[0]))) < 1e-3 * float(
        jnp.max(jnp.abs(h * _TSIT5.b_error[-1] * F1[0]))
    )


@pytest.mark.parametrize("name", list(SOLVERS))
def test_saveat_fn_and_event(name):
    # dense output at 41 times through SaveAt(ts, fn) against the closed form (cubic Hermite
    # interpolation error O(h⁴) per step, well inside 20·rtol here), and an event y_0 − sin t =
    # e^{−λ₀t} crossing 1e-2, located by Newton on the dense output: t* = ln(100)/λ₀
    lams = [0.5, 50.0, 5e3]
    f, exact = _linear(lams)
    rtol = 1e-7
    ts = np.linspace(0.0, 4.0, 41)
    sol = _solve(
        SOLVERS[name],
        f,
        4.0,
        jnp.ones(3),
        controller=diffrax.PIDController(rtol=rtol, atol=1e-12),
        saveat=diffrax.SaveAt(ts=ts, fn=lambda t, y, args: y[0]),
    )
    want = np.array([exact(t)[0] for t in ts])
    assert np.max(np.abs(np.asarray(sol.ys) - want)) <= 20 * rtol
    t_star = math.log(100.0) / lams[0]
    event = diffrax.Event(
        lambda t, y, args, **kw: y[0] - jnp.sin(t) - 1e-2,
        root_finder=optx.Newton(rtol=1e-10, atol=1e-10),
    )
    sol = _solve(
        SOLVERS[name],
        f,
        20.0,
        jnp.ones(3),
        controller=diffrax.PIDController(rtol=rtol, atol=1e-12),
        saveat=diffrax.SaveAt(t1=True),
        event=event,
    )
    # the located time inherits the state's error (≈ rtol) divided by |d/dt e^{−λ₀t}| = λ₀·1e-2
    assert float(sol.ts[-1]) == pytest.approx(t_star, abs=100 * rtol / (lams[0] * 1e-2))


def test_hybrid_on_tsit5_steps_is_diffraxs_tsit5_dense_output_included():
    # a non-stiff problem (ρ = 1: h·ρ stays below the switch, every step is a Tsit5 step): the
    # hybrid takes diffrax.Tsit5's steps (same tableau, same error order 5) and its dense output
    # on them is Tsit5's own interpolant, so SaveAt(ts) values equal diffrax.Tsit5's to rounding
    # (1e-13; the cubic Hermite interpolant it replaced differs here by ≈ rtol = 1e-6, measured)
    f, exact = _linear([0.5, 1.0])
    ts = np.linspace(0.0, 6.0, 37)
    ctrl = diffrax.PIDController(rtol=1e-6, atol=1e-9)
    save = diffrax.SaveAt(ts=ts, solver_state=True)
    hyb = _solve(Tsit5RKC(), f, 6.0, jnp.ones(2), controller=ctrl, saveat=save)
    ref = _solve(
        diffrax.Tsit5(), f, 6.0, jnp.ones(2), controller=ctrl, saveat=diffrax.SaveAt(ts=ts)
    )
    assert solver_counts(hyb.solver_state)["rkc_steps"] == 0
    assert int(hyb.stats["num_accepted_steps"]) == int(ref.stats["num_accepted_steps"])
    assert float(jnp.max(jnp.abs(hyb.ys - ref.ys))) <= 1e-13
    # and both are the solution (the oracle): the interpolant's error is O(rtol)
    want = np.stack([exact(t) for t in ts])
    assert float(np.max(np.abs(np.asarray(hyb.ys) - want))) <= 20 * 1e-6


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, float("nan")])
def test_rkc_tolerance_ratio_is_validated(bad):
    with pytest.raises(GflabInputError, match="rkc_tolerance_ratio"):
        Tsit5RKC(rkc_tolerance_ratio=bad)


def test_registry_names():
    assert isinstance(stabilized_solver("tsit5"), diffrax.Tsit5)
    assert isinstance(stabilized_solver("rkc2", safety=1.5), RKC2)
    assert stabilized_solver("tsit5-rkc2", switch=2.5).switch == 2.5
    with pytest.raises(GflabInputError, match="solver"):
        stabilized_solver("rkc4")
    # solvers are hashable (static jit arguments in the engine) and compare by value
    assert hash(RKC2()) == hash(RKC2()) and RKC2() == RKC2()


@pytest.mark.parametrize(
    ("name", "field"), [("tsit5", "safety"), ("rkc2", "switch"), ("tsit5-rkc2", "bogus")]
)
def test_a_field_the_solver_lacks_is_refused_naming_it(name, field):
    """Each solver takes its own fields only (diffrax's Tsit5 has no ``safety``, RKC2 no
    ``switch``): the error names the solver's fields, never a TypeError."""
    with pytest.raises(GflabInputError, match=f"solver fields.*for {name}"):
        stabilized_solver(name, **{field: 1.0})


# ----------------------------------------------------------------------------- the two models


def _dop853(rhs, y0, t1):
    sol = solve_ivp(rhs, (0.0, t1), y0, method="DOP853", rtol=1e-11, atol=1e-16)
    assert sol.status == 0
    return sol.y[:, -1]


def test_dmf_agrees_with_dop853():
    # DMF gradient flow, bench-like (depth 3, Gaussian α = 1e-3, Bernoulli(0.3), rank-2 target)
    # at n = 8 to t = 200, past the transient into the stability-limited plateau (276 of 971
    # steps are RKC2 steps there, measured). The hybrid at
    # rtol 1e-8 vs DOP853 at 1e-11: allowed 100·rtol·max(1, max|W|) (the flow contracts errors near
    # its minimum, so the global error is a modest multiple of the local tolerance; the bench
    # case at n = 30 measured 2.7e-9 = 0.27·rtol·max|W|)
    from gflab.sims.config import DMFConfig
    from gflab.sims.dmf import _args, _field, dmf_problem
    from gflab.theory import dmf as T

    cfg = DMFConfig(
        depth=3, n=8, init="gaussian", alpha=1e-3, mask="bernoulli:0.3", target="lowrank:2"
    )
    factors, mask, target = dmf_problem(cfg)
    n, depth, t1, rtol = cfg.n, cfg.depth, 200.0, 1e-8

    def rhs(t, y):  # theory.dmf.gradient_field on NumPy arrays, flattened
        g = T.gradient_field(
            [y[i * n * n : (i + 1) * n * n].reshape(n, n) for i in range(depth)], mask, target
        )
        return np.concatenate([x.ravel() for x in g])

    y_ref = _dop853(rhs, np.concatenate([f.ravel() for f in factors]), t1)
    W_ref = T.product([y_ref[i * n * n : (i + 1) * n * n].reshape(n, n) for i in range(depth)])
    sol = _solve(
        Tsit5RKC(),
        _field,
        t1,
        tuple(jnp.asarray(f) for f in factors),
        args=_args(cfg, factors, mask, target),
        controller=diffrax.PIDController(rtol=rtol, atol=1e-14, pcoeff=0.4, icoeff=0.3),
    )
    W = T.product([np.asarray(x[-1]) for x in sol.ys])
    scale = float(np.max(np.abs(W_ref)))
    assert scale > 0.5  # the flow left its O(α) start: agreement is not trivial
    assert float(np.max(np.abs(W - W_ref))) <= 100 * rtol * max(1.0, scale)
    assert solver_counts(sol.solver_state)["rkc_steps"] > 0  # the stabilised part was exercised


def test_hybrid_is_as_accurate_as_tsit5_at_the_same_tolerance():
    # The default solver's promise (docs/performance.md): at the same rtol its end error is within
    # 2× of Tsit5's. Its RKC2 steps use their error budget where Tsit5's stability-limited steps do
    # not, so they are held to rkc_tolerance_ratio = 0.3 of it. DMF n = 8 as above, rtol 1e-9
    # (the DMF default), oracle DOP853 at rtol 1e-12 (its own error ≪ 1e-10). Measured: Tsit5
    # 8.6e-10, the hybrid 1.3e-9 (1.5×); the false variant with RKC2 steps at the full tolerance
    # (ratio 1) 2.6e-9 (3.0×) fails the same bound.
    from gflab.sims.config import DMFConfig
    from gflab.sims.dmf import _args, _field, dmf_problem
    from gflab.theory import dmf as T

    cfg = DMFConfig(
        depth=3, n=8, init="gaussian", alpha=1e-3, mask="bernoulli:0.3", target="lowrank:2"
    )
    factors, mask, target = dmf_problem(cfg)
    n, depth, t1 = cfg.n, cfg.depth, 200.0

    def rhs(t, y):
        g = T.gradient_field(
            [y[i * n * n : (i + 1) * n * n].reshape(n, n) for i in range(depth)], mask, target
        )
        return np.concatenate([x.ravel() for x in g])

    y0 = np.concatenate([f.ravel() for f in factors])
    y_ref = solve_ivp(rhs, (0.0, t1), y0, method="DOP853", rtol=1e-12, atol=1e-18).y[:, -1]
    W_ref = T.product([y_ref[i * n * n : (i + 1) * n * n].reshape(n, n) for i in range(depth)])

    def end_error(solver):
        sol = _solve(
            solver,
            _field,
            t1,
            tuple(jnp.asarray(f) for f in factors),
            args=_args(cfg, factors, mask, target),
            controller=diffrax.PIDController(rtol=1e-9, atol=1e-14, pcoeff=0.4, icoeff=0.3),
            saveat=diffrax.SaveAt(t1=True),
        )
        return float(np.max(np.abs(T.product([np.asarray(x[-1]) for x in sol.ys]) - W_ref)))

    tsit5 = end_error(diffrax.Tsit5())
    assert end_error(Tsit5RKC()) <= 2.0 * tsit5
    assert end_error(Tsit5RKC(rkc_tolerance_ratio=1.0)) > 2.0 * tsit5  # the check can fail


def test_lora_specgf_agrees_with_dop853():
    # LoRA SpecGF (β = 1e-3 > 0, analytic field) from the LoRA init A(0) = 0, where ∇_B = 0 and
    # the JVP of eigh at the degenerate Gram matrix is not finite (the finite-difference fallback
    # of the power iteration is exercised). 12×10, r = 3, targets (1, 2, 4) to t = 3 (all modes
    # arrive by t ≈ √s ≤ 2). Hybrid at rtol 1e-9 vs DOP853 at 1e-11 on the NumPy field
    # (theory.lora.specgf_field): allowed 100·rtol·max(1, max|AB|), the reasoning of the DMF case.
    from gflab.sims.config import LoRAConfig
    from gflab.sims.lora import _args, lora_problem
    from gflab.sims.terms import term_field
    from gflab.theory import lora as L

    cfg = LoRAConfig(rows=12, cols=10, rank=3, target_svals=(1.0, 2.0, 4.0), beta=1e-3, t1=3.0)
    A0, B0, Y, U, V = lora_problem(cfg)
    m, n, r, t1, rtol = cfg.rows, cfg.cols, cfg.rank, 3.0, 1e-9

    def rhs(t, y):
        A, B = y[: m * r].reshape(m, r), y[m * r :].reshape(r, n)
        dA, dB = L.specgf_field(A, B, Y, cfg.beta)
        return np.concatenate([dA.ravel(), dB.ravel()])

    y_ref = _dop853(rhs, np.concatenate([A0.ravel(), B0.ravel()]), t1)
    P_ref = y_ref[: m * r].reshape(m, r) @ y_ref[m * r :].reshape(r, n)
    sol = _solve(
        Tsit5RKC(),
        term_field,
        t1,
        (jnp.asarray(A0), jnp.asarray(B0)),
        args=_args(cfg, A0, B0, Y, U, V),
        controller=diffrax.PIDController(rtol=rtol, atol=1e-12, pcoeff=0.4, icoeff=0.3),
    )
    P = np.asarray(sol.ys[0][-1] @ sol.ys[1][-1])
    scale = float(np.max(np.abs(P_ref)))
    assert scale > 0.5
    assert float(np.max(np.abs(P - P_ref))) <= 100 * rtol * max(1.0, scale)
    c = solver_counts(sol.solver_state)
    assert c["rkc_steps"] > 0 and math.isfinite(c["rho"]) and c["rho"] > 0


def test_large_init_cell_of_the_phase_diagram_converges_and_matches_dop853():
    # sweep_phase_diagram's Gaussian cell depth 5, α = 10, seed 0: with Tsit5 and diffrax's
    # automatic first step every one of 100 000 steps was rejected at t = 0 (status max_steps);
    # the figure's Tsit5 → RKC2 method converges. Oracle: SciPy DOP853 at rtol 1e-11, the same
    # flow from the same init to the time the hybrid stopped: the products agree to the solvers'
    # tolerance, allowed 1e-6 relative (1000× the hybrid's rtol 1e-9; measured 6e-10), and so
    # do the stable ranks.
    from gflab.figures.sweep import _configs
    from gflab.sims.dmf import dmf_problem, simulate_dmf
    from gflab.theory import dmf as T
    from gflab.theory.measures import stable_rank

    _, gauss = _configs(False)
    (cfg,) = [c for c in gauss if c.depth == 5 and c.alpha == 10.0 and c.seed == 0]
    assert cfg.method.solver == "tsit5-rkc2"
    res = simulate_dmf(cfg)
    assert res.status == "converged"
    fs, mask, target = dmf_problem(cfg)
    n, depth = cfg.n, cfg.depth

    def rhs(t, y):
        g = T.gradient_field(
            [y[i * n * n : (i + 1) * n * n].reshape(n, n) for i in range(depth)], mask, target
        )
        return np.concatenate([np.asarray(x).ravel() for x in g])

    y0 = np.concatenate([f.ravel() for f in fs])
    sol = solve_ivp(rhs, (0.0, res.final["time"]), y0, method="DOP853", rtol=1e-11, atol=1e-14)
    assert sol.status == 0
    W_ref = T.product([sol.y[i * n * n : (i + 1) * n * n, -1].reshape(n, n) for i in range(depth)])
    W = np.asarray(res.final["matrix"])
    scale = float(np.max(np.abs(W_ref)))
    assert float(np.max(np.abs(W - W_ref))) <= 1e-6 * scale
    assert float(res.final["stable_rank"]) == pytest.approx(float(stable_rank(W_ref)), rel=1e-6)


@pytest.mark.parametrize("bad", [0, 1, 2.5])
def test_max_stages_below_two_is_refused(bad):
    # RKC2's smallest step has 2 stages: a smaller bound cannot be honoured
    with pytest.raises(GflabInputError, match="max_stages"):
        RKC2(max_stages=bad)
