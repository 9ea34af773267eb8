"""Stabilised explicit solvers for gradient flows: RKC2 and the automatic Tsit5 → RKC2 hybrid.

The Jacobian of a gradient flow ẏ = −∇ℓ(y) is minus the Hessian: symmetric, with a real,
non-positive spectrum. Late in a flow (near a minimum, docs/theory.md §4) the largest eigenvalue ρ
limits an explicit solver's step to its real-axis stability bound (h·ρ ≲ 3.5 for Tsit5) long
before accuracy does. Runge–Kutta–Chebyshev methods are explicit methods whose real stability
interval grows *quadratically* with the number of stages s (≈ 0.65 s² for damped second-order
RKC), so a step of size h costs ≈ √(h·ρ/0.65) evaluations instead of h·ρ/3.5 · 6.

- :class:`RKC2`: the damped second-order RKC method of Sommeijer, Shampine & Verwer (1997)
  with damping ε = 2/13, its embedded error estimate (so diffrax's ``PIDController`` adapts
  the step) and the stage count chosen every step from h·ρ, ρ the spectral radius of ∂f/∂y
  estimated by power iteration on JVPs (``jax.jvp``), warm-started from the previous
  eigenvector and multiplied by a safety factor. The stage count is a traced value: the stages
  run in a ``lax.fori_loop`` with a traced bound, so one compiled solve serves every h·ρ.
- :class:`Tsit5RKC`: one diffrax solver that holds both Tsit5 and RKC2 and chooses per step by
  the same measurement: Tsit5 while h·ρ is below ``switch`` (accuracy-limited steps), RKC2 once
  the controller asks for steps near or beyond Tsit5's stability bound.
- :func:`stabilized_solver`: the short entry point for the engine (a name → a solver object).

Both work with ``SaveAt(ts=..., fn=...)`` (cubic Hermite dense output from the stage values
f(y₀), f(y₁) that the error estimate needs anyway) and with diffrax ``Event`` s. ODEs only
(an ``ODETerm``); the vector field must be differentiable for the JVPs (a non-finite JVP, e.g.
``eigh`` at a degenerate point, falls back to a finite-difference directional derivative).

References:
    B. P. Sommeijer, L. F. Shampine, J. G. Verwer, "RKC: an explicit solver for parabolic
    PDEs", J. Comput. Appl. Math. 88 (1997) 315–326.
    J. G. Verwer, W. Hundsdorfer, B. P. Sommeijer, "Convergence properties of the
    Runge–Kutta–Chebyshev method", Numer. Math. 57 (1990) 157–178.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
from diffrax._solver.tsit5 import _Tsit5Interpolation  # Tsit5's dense output (pinned diffrax)

import gflab.sims._jaxsetup  # noqa: F401  (float64 + compilation cache before any compile)
from gflab.theory.errors import GflabInputError

__all__ = [
    "RKC2",
    "Tsit5RKC",
    "SOLVER_NAMES",
    "stabilized_solver",
    "rkc_stability_bound",
    "rkc_stages_for",
    "solver_counts",
    "TSIT5_REAL_STABILITY",
]

TSIT5_REAL_STABILITY = 3.5
"""Tsit5's real-axis stability bound: |R(z)| ≤ 1 on about [−3.5, 0] (measured in tests)."""

_TINY = 1e-300


# ----------------------------------------------------------------------------- PyTree helpers


def _lin(*pairs):
    """Σ cᵢ·xᵢ over (cᵢ, xᵢ) pairs of scalars and PyTrees of one structure."""
    (c0, x0), *rest = pairs
    out = jtu.tree_map(lambda a: c0 * a, x0)
    for c, x in rest:
        out = jtu.tree_map(lambda a, b, c=c: a + c * b, out, x)
    return out


def _norm(tree) -> jax.Array:
    leaves = jtu.tree_leaves(tree)
    return jnp.sqrt(sum(jnp.sum(x * x) for x in leaves))


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jtu.tree_leaves(tree)]))


def _unit_start(y0):
    """A deterministic, generic start vector for the power iteration (no eigenvector is ⊥ it)."""
    leaves, treedef = jtu.tree_flatten(y0)
    keys = jax.random.split(jax.random.PRNGKey(20260), len(leaves))
    v = [
        jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
        for k, x in zip(keys, leaves, strict=True)
    ]
    v = jtu.tree_unflatten(treedef, v)
    return _lin((1.0 / _norm(v), v))


# ----------------------------------------------------------------------------- Chebyshev algebra


def _cheb(s, w0):
    """(T_s, T_s', T_s'') at w0 for a traced integer s ≥ 2 (three-term recurrences)."""

    def body(_, c):
        T1, T0, d1, d0, e1, e0 = c
        T2 = 2 * w0 * T1 - T0
        d2 = 2 * T1 + 2 * w0 * d1 - d0
        e2 = 4 * d1 + 2 * w0 * e1 - e0
        return T2, T1, d2, d1, e2, e1

    one, zero = jnp.ones_like(w0), jnp.zeros_like(w0)
    T1, _, d1, _, e1, _ = jax.lax.fori_loop(1, s, body, (w0, one, one, zero, zero, zero))
    return T1, d1, e1


def _w0(s, damping):
    return 1.0 + damping / (s * s)


def rkc_stability_bound(s, damping: float = 2.0 / 13.0):
    """β(s) = (w₀ + 1)·T_s''(w₀)/T_s'(w₀): RKC2 with s stages is stable for h·ρ ≤ β(s).

    β(s) ≈ (2/3)(s² − 1)(1 − 2ε/15) ≈ 0.653 s² at ε = 2/13 (Sommeijer et al. 1997, eq. 2.6).

    Args:
        s: number of stages (int ≥ 2, or a traced integer scalar).
        damping: ε.

    Returns:
        β(s), a float64 scalar.
    """
    s = jnp.asarray(s)
    w0 = _w0(s.astype(jnp.float64), damping)
    _, d, e = _cheb(s, w0)
    return (w0 + 1.0) * e / d


def rkc_stages_for(h_rho, max_stages: int):
    """Fewest stages with β(s) ≥ h·ρ, by the RKC rule s = 1 + ⌊√(1 + 1.54·h·ρ)⌋, clipped to ≥ 2.

    1.54 ≈ 1/0.653 (with the +1s this over-provisions slightly: β(s) ≥ h·ρ holds for every
    h·ρ ≥ 0, tests/test_rkc.py). Values above ``max_stages`` are returned as computed; the
    caller rejects such a step.

    Args:
        h_rho: h·ρ (with the safety factor already applied), a scalar.
        max_stages: used only for the integer dtype bound.

    Returns:
        s, an int32 scalar.
    """
    s = 1.0 + jnp.floor(jnp.sqrt(1.0 + 1.54 * jnp.maximum(h_rho, 0.0)))
    s = jnp.clip(s, 2.0, 4.0 * max_stages + 8.0)  # finite int even for an absurd h·ρ
    return s.astype(jnp.int32)


def _rkc_step(f, t0, h, y0, F0, s, damping):
    """One damped RKC2 step of s stages (s ≥ 2, traced). Returns (y1, f evaluations = s − 1).

    Y₀ = y₀, Y₁ = y₀ + μ̃₁hF₀,
    Y_j = (1 − μ_j − ν_j)y₀ + μ_jY_{j−1} + ν_jY_{j−2} + μ̃_jhf(t₀ + c_{j−1}h, Y_{j−1}) + γ̃_jhF₀,
    with b_j = T_j''/T_j'² (b₀ = b₁ = b₂), a_j = 1 − b_jT_j, μ_j = 2b_jw₀/b_{j−1},
    ν_j = −b_j/b_{j−2}, μ̃_j = 2b_jw₁/b_{j−1}, γ̃_j = −a_{j−1}μ̃_j, w₀ = 1 + ε/s²,
    w₁ = T_s'(w₀)/T_s''(w₀); c_j follows from the same recurrence applied to ẏ = 1.
    """
    sf = s.astype(jnp.float64)
    w0 = _w0(sf, damping)
    _, ds, es = _cheb(s, w0)
    w1 = ds / es
    b2 = 1.0 / (4.0 * w0 * w0)  # T₂'' / T₂'² = 4 / (4w₀)²
    mu1 = b2 * w1
    Y1 = _lin((1.0, y0), (mu1 * h, F0))
    one, zero = jnp.ones_like(w0), jnp.zeros_like(w0)
    # carry: Y_{j−1}, Y_{j−2}, T, T', T'' at j−1 and j−2, b_{j−1}, b_{j−2}, c_{j−1}, c_{j−2}
    carry = (Y1, y0, w0, one, one, zero, zero, zero, b2, b2, mu1, zero)

    def body(j, c):
        Ym1, Ym2, T1, T0, d1, d0, e1, e0, bm1, bm2, cm1, cm2 = c
        T2 = 2 * w0 * T1 - T0
        d2 = 2 * T1 + 2 * w0 * d1 - d0
        e2 = 4 * d1 + 2 * w0 * e1 - e0
        bj = e2 / (d2 * d2)
        mu = 2 * bj * w0 / bm1
        nu = -bj / bm2
        mut = 2 * bj * w1 / bm1
        gat = -(1.0 - bm1 * T1) * mut
        Fm1 = f(t0 + cm1 * h, Ym1)
        Yj = _lin((1.0 - mu - nu, y0), (mu, Ym1), (nu, Ym2), (mut * h, Fm1), (gat * h, F0))
        cj = mu * cm1 + nu * cm2 + mut + gat
        return Yj, Ym1, T2, T1, d2, d1, e2, e1, bj, bm1, cj, cm1

    out = jax.lax.fori_loop(2, s + 1, body, carry)
    return out[0]


_TSIT5 = diffrax.Tsit5.tableau
# _tsit5_step takes y₁ as the last stage's input: that needs b_sol = (last a_lower row, 0), c = 1
if not (
    len(_TSIT5.b_sol) == len(_TSIT5.a_lower[-1]) + 1
    and all(
        float(b) == float(a) for b, a in zip(_TSIT5.b_sol[:-1], _TSIT5.a_lower[-1], strict=True)
    )
    and float(_TSIT5.b_sol[-1]) == 0.0
    and float(_TSIT5.c[-1]) == 1.0
):
    raise RuntimeError("diffrax.Tsit5.tableau is no longer first-same-as-last; fix _tsit5_step")


def _tsit5_step(f, t0, h, y0, F0, with_stages: bool = False):
    """One Tsit5 step with its stages unrolled in straight-line code: (y₁, error estimate, f(y₁)),
    and with ``with_stages`` also the seven stage derivatives (for Tsit5's own dense output).

    The same tableau (``diffrax.Tsit5.tableau``, Tsitouras 2011) and so the same numbers as
    ``diffrax.Tsit5().step`` (tests/test_rkc.py compares them); diffrax runs the stages in a
    checkpointed while loop over a stage buffer, which on a small state costs ≈ 50 µs a step
    (a linear field on 3×30×30: 120 → 73 µs per adaptive step; the DMF bench solve 3–4 %
    faster, docs/performance.md). The last stage is f(t₀ + h, y₁) (first same as last),
    returned for the next step.
    """
    ks = [F0]
    for a_row, c in zip(_TSIT5.a_lower, _TSIT5.c, strict=True):
        yi = _lin((1.0, y0), *[(float(a) * h, k) for a, k in zip(a_row, ks, strict=True) if a])
        ks.append(f(t0 + float(c) * h, yi))
    y1 = yi  # b_sol = a_lower's last row (checked at import)
    err = _lin(*[(float(b) * h, k) for b, k in zip(_TSIT5.b_error, ks, strict=True) if b])
    if with_stages:
        return y1, err, ks[-1], ks
    return y1, err, ks[-1]


class _HybridInterpolation(diffrax.AbstractLocalInterpolation):
    """Dense output of one :class:`Tsit5RKC` step: Tsit5's own 4th-order interpolant on a Tsit5
    step (the one ``diffrax.Tsit5`` uses, from the seven stage increments ``k``), the cubic
    Hermite interpolant from y₀, y₁, hF₀, hF₁ on an RKC2 step (stored in ``k[0]``, ``k[1]``).

    On the DMF bench case (docs/performance.md) the Hermite interpolant on Tsit5 steps made the
    saved singular values 11× less accurate than Tsit5's (5.7e-8 vs 5.1e-9 at rtol 1e-9).
    """

    t0: Any
    t1: Any
    y0: Any
    y1: Any
    k: Any
    rkc: jax.Array

    def evaluate(self, t0, t1=None, left: bool = True):
        del left
        if t1 is not None:
            return _lin((1.0, self.evaluate(t1)), (-1.0, self.evaluate(t0)))
        th = (t0 - self.t0) / jnp.where(self.t1 == self.t0, 1.0, self.t1 - self.t0)
        tsit = _Tsit5Interpolation(t0=self.t0, t1=self.t1, y0=self.y0, y1=self.y1, k=self.k)
        tsit = tsit.evaluate(t0)
        a, b = th * th * (3.0 - 2.0 * th), th * (1.0 - th)

        def hermite(y0, y1, k):  # y0 + θ²(3 − 2θ)(y1 − y0) + θ(1 − θ)((1 − θ)hF0 − θ·hF1)
            return y0 + a * (y1 - y0) + b * ((1.0 - th) * k[0] - th * k[1])

        herm = jtu.tree_map(hermite, self.y0, self.y1, self.k)
        return jtu.tree_map(lambda p, q: jnp.where(self.rkc, p, q), herm, tsit)


def _stack_increments(h, ks):
    """The seven stage derivatives as diffrax's Tsit5 dense info: per leaf, h·(k₁, …, k₇)."""
    return jtu.tree_map(lambda *xs: h * jnp.stack(xs), *ks)


def _rkc_error(h, y0, y1, F0, F1):
    """Sommeijer et al.'s estimate of RKC2's local error: (12(y₀ − y₁) + 6h(F₀ + F₁))/15.

    It is O(h³) (the local error of the second-order method), hence ``error_order`` 3.
    """
    return _lin((12.0 / 15.0, y0), (-12.0 / 15.0, y1), (6.0 * h / 15.0, F0), (6.0 * h / 15.0, F1))


def _power(f, t0, y0, F0, v, iterations: int):
    """``iterations`` power-iteration steps v ← Jv/‖Jv‖ with J = ∂f/∂y at y₀ (JVPs).

    ‖Jv‖ for a unit v is a lower bound of ρ(J) that increases to ρ for a symmetric J; the caller
    multiplies it by a safety factor. A non-finite JVP (e.g. ``eigh``'s derivative at a
    degenerate spectrum) is replaced by the finite difference (f(y₀ + δv) − f(y₀))/δ.

    Returns:
        (v, ρ estimate): the new unit vector (structure of y₀) and a scalar.
    """
    fy = lambda y: f(t0, y)
    delta = jnp.sqrt(jnp.finfo(jnp.float64).eps) * (1.0 + _norm(y0))

    def one(_, c):
        v, _ = c
        _, Jv = jax.jvp(fy, (y0,), (v,))
        Jv = jax.lax.cond(
            _all_finite(Jv),
            lambda: Jv,
            lambda: _lin((1.0 / delta, fy(_lin((1.0, y0), (delta, v)))), (-1.0 / delta, F0)),
        )
        nrm = _norm(Jv)
        ok = jnp.isfinite(nrm) & (nrm > _TINY)
        v_new = jtu.tree_map(lambda a, b: jnp.where(ok, a / jnp.where(ok, nrm, 1.0), b), Jv, v)
        return v_new, jnp.where(ok, nrm, 0.0)

    return jax.lax.fori_loop(0, iterations, one, (v, jnp.zeros((), jnp.float64)))


# ----------------------------------------------------------------------------- solver states


class _State(eqx.Module):
    """Carried between accepted steps (diffrax keeps the old state on a rejected step).

    ``f0`` = f(t, y) at the current point (first same as last); ``v`` the power-iteration vector;
    ``rho`` the last spectral-radius estimate (no safety factor); the counters are totals over
    accepted steps: field evaluations spent in the steps, JVPs, steps taken by each method.
    """

    f0: Any
    v: Any
    rho: jax.Array
    evals: jax.Array
    jvps: jax.Array
    rkc_steps: jax.Array
    tsit5_steps: jax.Array
    max_stages_used: jax.Array
    since: jax.Array


def solver_counts(solver_state) -> dict:
    """Counters from a final solver state (``SaveAt(solver_state=True)``), as Python numbers.

    Args:
        solver_state: the final state of :class:`RKC2` or :class:`Tsit5RKC` (``sol.solver_state``).

    Returns:
        ``{"field_evals", "jvps", "rkc_steps", "tsit5_steps", "max_stages", "rho"}`` over the
        accepted steps (rejected steps' work is not included; ``sol.stats`` counts them).
    """
    return {
        "field_evals": int(solver_state.evals),
        "jvps": int(solver_state.jvps),
        "rkc_steps": int(solver_state.rkc_steps),
        "tsit5_steps": int(solver_state.tsit5_steps),
        "max_stages": int(solver_state.max_stages_used),
        "rho": float(solver_state.rho),
    }


def _f_of(terms, args):
    return lambda t, y: terms.vf(t, y, args)


class _Stabilized(diffrax.AbstractAdaptiveSolver):
    """Shared fields and the spectral-radius machinery of :class:`RKC2` and :class:`Tsit5RKC`."""

    damping: float = 2.0 / 13.0
    safety: float = 1.2
    max_stages: int = eqx.field(static=True, default=1000)
    power_iterations: int = eqx.field(static=True, default=1)
    init_power_iterations: int = eqx.field(static=True, default=30)
    rho_every: int = eqx.field(static=True, default=2)

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.AbstractLocalInterpolation]] = (
        diffrax.ThirdOrderHermitePolynomialInterpolation
    )

    def __check_init__(self):
        if not isinstance(self.max_stages, int) or self.max_stages < 2:
            raise GflabInputError("max_stages", "an integer >= 2", self.max_stages)

    def init(self, terms, t0, t1, y0, args) -> _State:
        f = _f_of(terms, args)
        F0 = f(t0, y0)
        v, rho = _power(f, t0, y0, F0, _unit_start(y0), self.init_power_iterations)
        i32 = lambda k: jnp.asarray(k, jnp.int32)
        n0 = i32(self.init_power_iterations)
        return _State(F0, v, rho, i32(1), n0, i32(0), i32(0), i32(0), i32(0))

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def _begin(self, terms, t0, y0, args, state: _State, made_jump):
        """F0, and ρ̂ refreshed by ``power_iterations`` JVPs every ``rho_every`` accepted steps
        (and after a jump); returns (f, F0, v, ρ̂, evaluations outside the step, JVPs, since)."""
        f = _f_of(terms, args)
        F0 = jax.lax.cond(made_jump, lambda: f(t0, y0), lambda: state.f0)
        due = made_jump | (state.since + 1 >= self.rho_every)
        if self.rho_every == 1:
            v, rho = _power(f, t0, y0, F0, state.v, self.power_iterations)
        else:
            v, rho = jax.lax.cond(
                due,
                lambda: _power(f, t0, y0, F0, state.v, self.power_iterations),
                lambda: (state.v, state.rho),
            )
        # keep the previous estimate if this one failed (a zero Jacobian gives ρ = 0 honestly)
        rho = jnp.where(jnp.isfinite(rho), rho, state.rho)
        extra = jnp.where(made_jump, 1, 0).astype(jnp.int32)
        jvps = jnp.where(due, self.power_iterations, 0).astype(jnp.int32)
        since = jnp.where(due, 0, state.since + 1).astype(jnp.int32)
        return f, F0, v, rho, extra, jvps, since

    def order(self, terms):
        """The method's order (diffrax's solver interface).

        Args:
            terms (diffrax.AbstractTerm): the solve's term (unused).

        Returns:
            order (int): 2 (RKC2 is second order; for :class:`Tsit5RKC` the lower of its two).
        """
        return 2

    def step(self, terms, t0, t1, y0, args, solver_state: _State, made_jump):
        """One step of size h = t1 − t0 (:meth:`_advance` says which method takes it).

        Args:
            terms (diffrax.AbstractTerm): the solve's term (its vector field).
            t0 (jax.Array): the step's start time.
            t1 (jax.Array): its end time (h = t1 − t0).
            y0 (PyTree): the state at ``t0``.
            args (Any): the vector field's arguments.
            solver_state: the carried :class:`_State` (f(y₀), the power-iteration vector, ρ̂,
                the counters).
            made_jump (bool): the previous step ended at a discontinuity (f(y₀) is recomputed and ρ̂
                refreshed).

        Returns:
            step (tuple): (y1, error estimate, dense-output info, new solver state, diffrax
                ``RESULTS.successful``).
        """
        f, F0, v, rho, extra, jvps, since = self._begin(
            terms, t0, y0, args, solver_state, made_jump
        )
        y1, err, F1, s, used_rkc, dense = self._advance(f, t0, t1 - t0, y0, F0, rho)
        st = solver_state
        is_rkc = used_rkc.astype(jnp.int32)
        new = _State(
            F1,
            v,
            rho,
            st.evals + s + extra,
            st.jvps + jvps,
            st.rkc_steps + is_rkc,
            st.tsit5_steps + (1 - is_rkc),
            jnp.maximum(st.max_stages_used, jnp.where(used_rkc, s, 0)),
            since,
        )
        return y1, err, dense, new, diffrax.RESULTS.successful

    def _advance(self, f, t0, h, y0, F0, rho):
        """The step itself, from y0 with f(y0) = F0 and the estimate ρ̂ (the subclass's method).

        Args:
            f: the vector field ``f(t, y)``.
            t0 (jax.Array): the step's start time.
            h (jax.Array): its size.
            y0 (PyTree): the state at ``t0``.
            F0 (PyTree): f(t0, y0).
            rho (jax.Array): ρ̂, the spectral-radius estimate.

        Returns:
            (y1, error estimate, f(t0 + h, y1), stages used (int32), whether an RKC2 step was
            taken (bool array), dense-output info for :attr:`interpolation_cls`).
        """
        raise NotImplementedError

    def _rkc_branch(self, f, t0, h, y0, F0, rho):
        s_need = rkc_stages_for(h * self.safety * rho, self.max_stages)
        s = jnp.minimum(s_need, self.max_stages)
        y1 = _rkc_step(f, t0, h, y0, F0, s, self.damping)
        F1 = f(t0 + h, y1)
        err = _rkc_error(h, y0, y1, F0, F1)
        # a step that would need more than max_stages is not stable: reject it (the controller
        # then shrinks h by its factormin)
        too_big = s_need > self.max_stages
        err = jtu.tree_map(lambda e: jnp.where(too_big, jnp.inf, e), err)
        return y1, err, F1, s


class RKC2(_Stabilized):
    """Damped second-order Runge–Kutta–Chebyshev (Sommeijer, Shampine & Verwer 1997), adaptive.

    Every ``rho_every`` steps one power-iteration JVP at y₀ (warm-started) refreshes
    ρ̂ ≈ ρ(∂f/∂y); the stage count is the fewest s with β(s) ≥ ``safety``·h·ρ̂ (β(s) ≈ 0.653 s², :func:`rkc_stability_bound`);
    s − 1 field evaluations advance the step and one more, f(y₁), serves the error estimate,
    the Hermite dense output and (first same as last) the next step. A step that would need more
    than ``max_stages`` is rejected. Use with ``diffrax.PIDController``; ``error_order`` is 3
    (the estimate is the local error of the order-2 method).

    Args (fields):
        damping: ε, the damping of the Chebyshev polynomial (2/13: the RKC code's choice).
        safety: factor on the estimated spectral radius (power iteration bounds ρ from below).
        max_stages: largest stage count per step (static).
        power_iterations: JVPs per estimate (static; 1 with the warm start tracks ρ closely).
        init_power_iterations: JVPs at the first step from a random start (static).
        rho_every: accepted steps between estimates (static; 2: on the DMF bench case 532
            JVPs instead of 1 035 at the same steps and end error; at 5, 231, but on a LoRA
            SpecGF run whose ρ grows as modes arrive the warm-started estimate then lagged
            (194 vs 253) and the hybrid never switched). A rejected step does not advance it.
    """

    def error_order(self, terms):
        """The order the step-size controller's exponent uses (diffrax's solver interface).

        Args:
            terms (diffrax.AbstractTerm): the solve's term (unused).

        Returns:
            order (int): 3, the local error's order of a second-order method.
        """
        return 3

    def _advance(self, f, t0, h, y0, F0, rho):
        """An RKC2 step with the stage count ρ̂ asks for (a step needing more than
        ``max_stages`` returns an infinite error, so the controller rejects it).

        Returns:
            (y1, error estimate, f(y1), stages, True, dense-output info): see
            :meth:`_Stabilized._advance`.
        """
        y1, err, F1, s = self._rkc_branch(f, t0, h, y0, F0, rho)
        dense = dict(y0=y0, y1=y1, k0=_lin((h, F0)), k1=_lin((h, F1)))
        return y1, err, F1, s, jnp.asarray(True), dense


class Tsit5RKC(_Stabilized):
    """Tsit5 while steps are accuracy-limited, RKC2 once they are stability-limited, per step.

    Every step uses ρ̂ (refreshed as in :class:`RKC2`) and takes a Tsit5 step when
    h·ρ̂ < ``switch``, an RKC2 step otherwise. Tsit5's real stability interval is ≈ [−3.5, 0]
    (:data:`TSIT5_REAL_STABILITY`); ``switch`` = 3.0 hands over before Tsit5's controller starts
    oscillating at its bound. The step-size controller sees one error estimate per step from
    whichever method ran; its exponent uses ``hybrid_error_order`` (default 5, Tsit5's: for RKC2
    steps, whose error is O(h³), the correction is then 3/5 of the optimal one: slower but
    never oscillating; on the DMF bench case 5 rejected fewer steps than 4 or 3 and needed the
    fewest evaluations, docs/performance.md). Dense output: Tsit5's own interpolant on Tsit5
    steps, the cubic Hermite interpolant on RKC2 steps. This is the default solver of
    :class:`gflab.sims.methods.Adaptive`.

    Args (fields): those of :class:`RKC2`, plus
        switch: h·ρ̂ at and above which RKC2 steps.
        hybrid_error_order: the exponent order passed to the step-size controller.
        rkc_tolerance_ratio: RKC2 steps are accepted at this fraction of the controller's
            tolerance (their error estimate is divided by it), in (0, 1]. Stability-limited
            Tsit5 steps end far below their error budget while RKC2 steps use it, so at the full
            tolerance the hybrid's end error was 2× Tsit5's at the same rtol; at 0.3 it equals
            Tsit5's on the DMF bench case (3.3e-10 at rtol 1e-9) for 23 % more steps
            (docs/performance.md).
    """

    switch: float = 3.0
    hybrid_error_order: float = 5.0
    rkc_tolerance_ratio: float = 0.3

    interpolation_cls: ClassVar[Callable[..., diffrax.AbstractLocalInterpolation]] = (
        _HybridInterpolation
    )

    def __check_init__(self):
        r = self.rkc_tolerance_ratio
        if not (isinstance(r, (int, float)) and 0.0 < r <= 1.0):
            raise GflabInputError("rkc_tolerance_ratio", "a number in (0, 1]", r)

    def error_order(self, terms):
        """The order the step-size controller's exponent uses (diffrax's solver interface).

        Args:
            terms (diffrax.AbstractTerm): the solve's term (unused).

        Returns:
            order (float): ``hybrid_error_order`` (see the class docstring).
        """
        return self.hybrid_error_order

    def _advance(self, f, t0, h, y0, F0, rho):
        """RKC2 when h·ρ̂ ≥ ``switch``, else Tsit5.

        Returns:
            (y1, error estimate, f(y1), stages, whether RKC2 stepped, dense-output info): see
            :meth:`_Stabilized._advance`.
        """
        use_rkc = h * rho >= self.switch

        def rkc():
            y1, err, F1, s = self._rkc_branch(f, t0, h, y0, F0, rho)
            err = _lin((1.0 / self.rkc_tolerance_ratio, err))
            zero = jtu.tree_map(jnp.zeros_like, y0)
            k = _stack_increments(h, [F0, F1] + [zero] * 5)
            return y1, err, F1, s, k

        def tsit():
            y1, err, F1, ks = _tsit5_step(f, t0, h, y0, F0, with_stages=True)
            return y1, err, F1, jnp.asarray(6, jnp.int32), _stack_increments(h, ks)

        y1, err, F1, s, k = jax.lax.cond(use_rkc, rkc, tsit)
        return y1, err, F1, s, use_rkc, dict(y0=y0, y1=y1, k=k, rkc=use_rkc)


SOLVER_NAMES = ("tsit5", "rkc2", "tsit5-rkc2")


def stabilized_solver(name: str, **fields) -> diffrax.AbstractSolver:
    """A diffrax solver by name, for the engine's solver registry.

    ``"tsit5"``: ``diffrax.Tsit5()``; ``"rkc2"``: :class:`RKC2`; ``"tsit5-rkc2"``: the automatic
    hybrid :class:`Tsit5RKC` (the choice for gradient flows that run into a stiff plateau or a
    minimum, docs/performance.md). Use with ``diffrax.PIDController`` (PI coefficients as the
    engine's); the final ``SaveAt(solver_state=True)`` state gives :func:`solver_counts`.

    Args:
        name: one of :data:`SOLVER_NAMES`.
        **fields: solver fields (``safety``, ``switch``, ``max_stages``, ...).

    Returns:
        The solver object (an ``eqx.Module``, hashable: safe as a static jit argument).
    """
    if name == "tsit5":
        if fields:
            raise GflabInputError("solver fields", "none for tsit5", sorted(fields))
        return diffrax.Tsit5()
    classes = {"rkc2": RKC2, "tsit5-rkc2": Tsit5RKC}
    if name not in classes:
        raise GflabInputError("solver", " | ".join(SOLVER_NAMES), name)
    return classes[name](**fields)
