"""Benchmarks behind ``gflab bench`` (DESIGN §4): gflab's compiled solvers against SciPy/NumPy.

Every case times gflab and its baseline back to back in one process, best of ``repeats`` (the
machine is shared, so only ratios measured in the same run mean anything), and checks that both
reach the same end state. Cases:

- ``flow_single``: deep matrix completion gradient flow (DESIGN §2.1) to ``t1``, gflab's
  compiled, warm Tsit5 + PID solve (:func:`sims.dmf.solve_dmf_from`, the path ``gflab simulate``
  takes) against ``scipy.integrate.solve_ivp`` RK45 at the same ``rtol``/``atol`` on the
  flattened NumPy field (:func:`theory.dmf.gradient_field` on NumPy arrays).
- ``flow_batch_vmap`` / ``flow_batch_loop``: the same from ``batch`` Gaussian initial conditions,
  gflab's two batch strategies (:func:`sims.engine.solve_flow_batch`) against ``batch`` SciPy
  solves.
- ``flow_vs_gd_jit`` / ``flow_vs_gd_numpy``: the papers' protocol, plain GD with step ``lr`` on the
  mean loss until the observed MSE drops below ``mse_tol``, against the adaptive flow of the same
  loss (time rescaled by 1/|Ω|) stopped at the same MSE: vector-field evaluations and wall time.
- ``compile``: first-call cost per distinct shape, and whether a second call with new values
  (initial factors, mask draw, tolerance) recompiles (counted JAX traces; must be 0).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import scipy
from scipy.integrate import solve_ivp

import sims._jaxsetup as _jaxsetup
from sims import engine
from sims.config import DMFConfig
from sims.dmf import _args, _field, _monitor, _stats_fn, dmf_problem, solve_dmf_from
from theory import dmf as T

__all__ = ["BenchSetup", "QUICK", "FULL", "run_bench", "agreement_tolerance"]


@dataclass(frozen=True)
class BenchSetup:
    """Sizes of one benchmark run (the full run is the brief's problem; quick is a smoke test)."""

    n: int
    t1: float
    batch: int
    compile_sizes: tuple[int, ...]
    depth: int = 3
    alpha: float = 1e-3
    mask: str = "bernoulli:0.3"
    target: str = "lowrank:2"
    rtol: float = 1e-7
    atol: float = 1e-14
    lr: float = 0.2
    mse_tol: float = 1e-5
    gd_max_steps: int = 400_000
    seed: int = 0

    def config(self, **changes) -> DMFConfig:
        base = DMFConfig(
            depth=self.depth,
            n=self.n,
            init="gaussian",
            alpha=self.alpha,
            mask=self.mask,
            target=self.target,
            seed=self.seed,
            t1=self.t1,
            rtol=self.rtol,
            atol=self.atol,
        )
        return base.replace(**changes)


FULL = BenchSetup(n=30, t1=200.0, batch=32, compile_sizes=(10, 20, 30))
QUICK = BenchSetup(n=8, t1=60.0, batch=4, compile_sizes=(8,), gd_max_steps=100_000)


def agreement_tolerance(rtol: float, scale: float) -> float:
    """Allowed max |W_gflab − W_scipy| at the end of a flow solved by both at ``rtol``.

    Both are 5th-order embedded Runge–Kutta pairs controlling the local error per step to about
    rtol·|y|; the flow converges towards a minimiser (errors are damped, not amplified, late in
    the run), so the global error is a modest multiple of rtol times the product's size. We allow
    100·rtol·max(1, max|W|): a real disagreement (wrong field, wrong time scale) is O(max|W|).
    """
    return 100.0 * rtol * max(1.0, scale)


# ----------------------------------------------------------------------------- baselines


def _flat_field(mask: np.ndarray, target: np.ndarray, depth: int, n: int, scale: float = 1.0):
    """The same gradient field (theory.dmf.gradient_field, NumPy) on the flattened factors."""
    size = n * n

    def rhs(t, y):
        fs = [y[i * size : (i + 1) * size].reshape(n, n) for i in range(depth)]
        g = T.gradient_field(fs, mask, target)
        return scale * np.concatenate([x.ravel() for x in g])

    return rhs


def _scipy_solve(factors, mask, target, t1: float, rtol: float, atol: float):
    n, depth = factors[0].shape[0], len(factors)
    y0 = np.concatenate([np.asarray(f).ravel() for f in factors])
    sol = solve_ivp(
        _flat_field(mask, target, depth, n), (0.0, t1), y0, method="RK45", rtol=rtol, atol=atol
    )
    fs = [sol.y[i * n * n : (i + 1) * n * n, -1].reshape(n, n) for i in range(depth)]
    return {"product": T.product(fs), "nfev": int(sol.nfev), "status": int(sol.status)}


@jax.jit
def _gd_until_jit(factors, mask, target, lr, scale, mse_tol, max_steps):
    """GD W_l ← W_l − lr·scale·∇_l ℓ until observed MSE < ``mse_tol`` (tested every 10 steps)."""
    n_obs = jnp.sum(mask)

    def mse(fs):
        R = T.residual(list(fs), mask, target)
        return jnp.sum(R * R) / n_obs

    def ten_steps(fs):
        def one(_, fs):
            g = T.gradient_field(list(fs), mask, target)
            return tuple(f + lr * scale * x for f, x in zip(fs, g, strict=True))

        return jax.lax.fori_loop(0, _CHECK_EVERY, one, fs)

    def cond(c):
        k, _, e = c
        return (e >= mse_tol) & (k < max_steps)

    def body(c):
        k, fs, _ = c
        fs = ten_steps(fs)
        return k + _CHECK_EVERY, fs, mse(fs)

    k, fs, e = jax.lax.while_loop(cond, body, (jnp.asarray(0), factors, mse(factors)))
    return k, fs, e


_CHECK_EVERY = (
    10  # GD baselines test the MSE every 10 steps: at most 9 extra steps, no extra product per step
)


def _gd_until_numpy(factors, mask, target, lr, scale, mse_tol, max_steps):
    fs = [np.array(f) for f in factors]
    n_obs = mask.sum()

    def mse(fs):
        R = T.residual(fs, mask, target)
        return float(np.sum(R * R) / n_obs)

    k, e = 0, mse(fs)
    while e >= mse_tol and k < max_steps:
        for _ in range(_CHECK_EVERY):
            g = T.gradient_field(fs, mask, target)
            for f, x in zip(fs, g, strict=True):
                f += (lr * scale) * x
        k += _CHECK_EVERY
        e = mse(fs)
    return k, fs, e


# ----------------------------------------------------------------------------- timing helpers


class _TraceCounter:
    """Counts JAX traces and XLA compiles through jax.monitoring (a retrace means a recompile)."""

    def __init__(self):
        self.traces = 0
        self.compiles = 0
        self.compile_seconds = 0.0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, name: str, duration: float, **kwargs) -> None:
        if not self.active:
            return
        if name == "/jax/core/compile/jaxpr_trace_duration":
            self.traces += 1
        elif name == "/jax/core/compile/backend_compile_duration":
            self.compiles += 1
            self.compile_seconds += duration

    def __enter__(self):
        self.traces, self.compiles, self.compile_seconds, self.active = 0, 0, 0.0, True
        return self

    def __exit__(self, *exc):
        self.active = False


_COUNTER: _TraceCounter | None = None


def _counter() -> _TraceCounter:
    global _COUNTER
    if _COUNTER is None:  # one listener per process (listeners cannot be removed)
        _COUNTER = _TraceCounter()
    return _COUNTER


class _Clock:
    """Best-of wall and CPU (this process, all threads) seconds of repeated runs.

    On a shared machine wall time depends on what else runs; CPU time of single-threaded work
    does not, so both are reported (``speedup`` from wall, ``speedup_cpu`` from CPU).
    """

    def __init__(self):
        self.wall = math.inf
        self.cpu = math.inf

    def run(self, fn: Callable):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.wall, self.cpu = min(self.wall, wall), min(self.cpu, cpu)
        return out


def _timed(fn: Callable):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _pair(gflab: Callable, baseline: Callable, repeats: int):
    """Best-of-``repeats`` clocks of gflab and baseline, run back to back in each round."""
    cg, cb = _Clock(), _Clock()
    out_g = out_b = None
    for _ in range(repeats):
        out_g = cg.run(gflab)
        out_b = cb.run(baseline)
    return cg, out_g, cb, out_b


def _case(name: str, gflab: _Clock, baseline: str, base: _Clock, **extra) -> dict:
    return {
        "name": name,
        "gflab_seconds": gflab.wall,
        "baseline": baseline,
        "baseline_seconds": base.wall,
        "speedup": base.wall / gflab.wall,
        "gflab_cpu_seconds": gflab.cpu,
        "baseline_cpu_seconds": base.cpu,
        "speedup_cpu": base.cpu / gflab.cpu,
        **extra,
    }


def _final_product(raw) -> np.ndarray:
    return np.asarray(T.product([np.asarray(f) for f in raw.final_state]))


def _test_rmse(W, mask, target) -> float:
    unobs = 1.0 - mask
    return float(np.sqrt(np.sum(unobs * (W - target) ** 2) / max(unobs.sum(), 1.0)))


def _evals(raw) -> int:
    """Vector-field evaluations of a Tsit5 solve: 6 per attempted step (FSAL) plus the first."""
    return 6 * (raw.steps + raw.rejected_steps) + 1


# ----------------------------------------------------------------------------- cases


def _flow_single(setup: BenchSetup, repeats: int) -> tuple[dict, dict]:
    cfg = setup.config()
    factors, mask, target = dmf_problem(cfg)
    counter = _counter()
    clock = _Clock()
    with counter:
        clock.run(lambda: solve_dmf_from(cfg, factors, mask, target))
    first = {"clock": clock, "traces": counter.traces, "xla_compiles": counter.compiles}
    g_s, raw, b_s, ref = _pair(
        lambda: solve_dmf_from(cfg, factors, mask, target),
        lambda: _scipy_solve(factors, mask, target, setup.t1, setup.rtol, setup.atol),
        repeats,
    )
    W = _final_product(raw)
    scale = float(np.max(np.abs(W)))
    diff = float(np.max(np.abs(W - ref["product"])))
    case = _case(
        "flow_single",
        g_s,
        "scipy solve_ivp RK45 (NumPy field)",
        b_s,
        n=setup.n,
        depth=setup.depth,
        t1=setup.t1,
        rtol=setup.rtol,
        atol=setup.atol,
        compile_seconds=max(clock.wall - g_s.wall, 0.0),
        first_call_seconds=clock.wall,
        gflab_status=raw.status,
        baseline_status=ref["status"],
        gflab_steps=raw.steps,
        gflab_rejected_steps=raw.rejected_steps,
        gflab_field_evals=_evals(raw),
        baseline_field_evals=ref["nfev"],
        max_abs_diff=diff,
        product_scale=scale,
        agreement_tolerance=agreement_tolerance(setup.rtol, scale),
    )
    return case, first


def _batch_inits(setup: BenchSetup):
    """``batch`` independent Gaussian inits (seeds 1000+i) for one mask and target."""
    inits = [
        T.gaussian_init(setup.n, setup.depth, setup.alpha, seed=1000 + i)
        for i in range(setup.batch)
    ]
    stacked = tuple(jnp.asarray(np.stack([f[l] for f in inits])) for l in range(setup.depth))
    return inits, stacked


def _flow_batch(setup: BenchSetup, repeats: int) -> list[dict]:
    cfg = setup.config()
    factors, mask, target = dmf_problem(cfg)
    inits, y0_batch = _batch_inits(setup)
    args = _args(cfg, factors, mask, target)
    stats = _stats_fn(False, False)
    ts = np.linspace(0.0, setup.t1, cfg.n_save)

    def gflab(strategy):
        return engine.solve_flow_batch(
            _field,
            stats,
            _monitor,
            y0_batch,
            args,
            strategy=strategy,
            t1=setup.t1,
            save_ts=ts,
            rtol=setup.rtol,
            atol=setup.atol,
            blowup=1e12,
            max_steps=cfg.max_steps,
        )

    def scipy_all():
        return [_scipy_solve(f, mask, target, setup.t1, setup.rtol, setup.atol) for f in inits]

    # first calls: compile (vmap), warm-up (loop reuses the single solve's compiled function)
    first = {strategy: _timed(lambda s=strategy: gflab(s))[0] for strategy in ("vmap", "loop")}
    best = {"vmap": _Clock(), "loop": _Clock(), "scipy": _Clock()}
    raws = {}
    for _ in range(repeats):  # one round: both strategies, then the SciPy batch, back to back
        for strategy in ("vmap", "loop"):
            raws[strategy] = best[strategy].run(lambda s=strategy: gflab(s))
        refs = best["scipy"].run(scipy_all)
    cases = []
    for strategy in ("vmap", "loop"):
        rs = raws[strategy]
        Ws = [_final_product(r) for r in rs]
        diffs = [float(np.max(np.abs(W - ref["product"]))) for W, ref in zip(Ws, refs, strict=True)]
        scale = max(float(np.max(np.abs(W))) for W in Ws)
        steps = [r.steps + r.rejected_steps for r in rs]
        cases.append(
            _case(
                f"flow_batch_{strategy}",
                best[strategy],
                f"{setup.batch} x scipy solve_ivp RK45",
                best["scipy"],
                batch=setup.batch,
                n=setup.n,
                t1=setup.t1,
                rtol=setup.rtol,
                compile_seconds=max(first[strategy] - best[strategy].wall, 0.0)
                if strategy == "vmap"
                else 0.0,
                gflab_statuses=sorted({r.status for r in rs}),
                gflab_attempted_steps_min=min(steps),
                gflab_attempted_steps_max=max(steps),
                max_abs_diff=max(diffs),
                product_scale=scale,
                agreement_tolerance=agreement_tolerance(setup.rtol, scale),
            )
        )
    return cases


def _flow_vs_gd(setup: BenchSetup, repeats: int) -> list[dict]:
    base = setup.config()
    factors, mask, target = dmf_problem(base)
    n_obs = float(mask.sum())
    loss_ref = max(0.5 * float(np.sum((mask * target) ** 2)), 1e-300)
    # MSE = 2ℓ/|Ω| < mse_tol  ⇔  ℓ/loss_ref < mse_tol·|Ω|/(2·loss_ref) (the engine's monitor)
    rel_tol = setup.mse_tol * n_obs / (2.0 * loss_ref)
    horizon = setup.lr * setup.gd_max_steps  # GD step k ≈ flow time k·lr on the mean loss
    cfg = base.replace(t1=None, t_max=horizon, normalisation="mean", converge_tol=rel_tol)
    y0 = tuple(jnp.asarray(f) for f in factors)
    mj, tj = jnp.asarray(mask), jnp.asarray(target)
    scale = 1.0 / n_obs

    def flow():
        return solve_dmf_from(cfg, factors, mask, target)

    def gd_jit():
        k, fs, e = _gd_until_jit(
            y0,
            mj,
            tj,
            jnp.asarray(setup.lr),
            jnp.asarray(scale),
            jnp.asarray(setup.mse_tol),
            jnp.asarray(setup.gd_max_steps),
        )
        return int(k), [np.asarray(f) for f in jax.block_until_ready(fs)], float(e)

    def gd_numpy():
        return _gd_until_numpy(
            factors, mask, target, setup.lr, scale, setup.mse_tol, setup.gd_max_steps
        )

    first_s, _ = _timed(flow)
    _timed(gd_jit)
    cases = []
    for name, baseline, label in (
        ("flow_vs_gd_jit", gd_jit, "GD lr %g, jitted lax.while_loop"),
        ("flow_vs_gd_numpy", gd_numpy, "GD lr %g, NumPy loop"),
    ):
        g_s, raw, b_s, (k, fs, e) = _pair(flow, baseline, repeats)
        W = _final_product(raw)
        R = mask * (W - target)
        flow_mse = float(np.sum(R * R) / n_obs)
        cases.append(
            _case(
                name,
                g_s,
                label % setup.lr,
                b_s,
                n=setup.n,
                mse_tol=setup.mse_tol,
                lr=setup.lr,
                gflab_status=raw.status,
                flow_time=raw.final_time,
                flow_time_in_gd_steps=raw.final_time / setup.lr,
                flow_mse=flow_mse,
                gflab_field_evals=_evals(raw),
                gd_steps=k,
                baseline_field_evals=k,
                gd_mse=e,
                gd_converged=bool(e < setup.mse_tol),
                eval_ratio=k / _evals(raw),
                max_abs_diff_flow_vs_gd=float(np.max(np.abs(W - T.product(fs)))),
                flow_test_rmse=_test_rmse(W, mask, target),
                gd_test_rmse=_test_rmse(T.product(fs), mask, target),
                product_scale=float(np.max(np.abs(W))),
                compile_seconds=max(first_s - g_s.wall, 0.0),
            )
        )
    return cases


def _compile_case(setup: BenchSetup, first_single: dict) -> dict:
    """First-call cost per distinct shape, and a recompile check on the last shape."""
    counter = _counter()
    per_shape = []
    for n in setup.compile_sizes:
        cfg = setup.config(n=n)
        factors, mask, target = dmf_problem(cfg)
        solve = lambda c=cfg, f=factors, m=mask, t=target: solve_dmf_from(c, f, m, t)
        if n == setup.n:  # already compiled by flow_single: reuse its first-call numbers
            first = first_single
        else:
            clock = _Clock()
            with counter:
                clock.run(solve)
            first = {"clock": clock, "traces": counter.traces, "xla_compiles": counter.compiles}
        warm = _Clock()
        warm.run(solve)
        per_shape.append(
            {
                "n": n,
                "first_call_seconds": first["clock"].wall,
                "first_call_cpu_seconds": first["clock"].cpu,
                "warm_seconds": warm.wall,
                "compile_seconds": max(first["clock"].wall - warm.wall, 0.0),
                "traces": first["traces"],
                "xla_compiles": first["xla_compiles"],
            }
        )
    # second call, new values everywhere a value may change: init seed, mask draw, tolerances
    cfg = setup.config(
        n=setup.compile_sizes[-1], seed=setup.seed + 1, rtol=setup.rtol * 2, atol=setup.atol * 2
    )
    factors, mask, target = dmf_problem(cfg)
    size0 = engine._flow_solve._cache_size()
    second = _Clock()
    with counter:
        second.run(lambda: solve_dmf_from(cfg, factors, mask, target))
    recompiled = (
        counter.traces > 0 or counter.compiles > 0 or engine._flow_solve._cache_size() != size0
    )
    first = _Clock()
    first.wall = per_shape[-1]["first_call_seconds"]
    first.cpu = per_shape[-1]["first_call_cpu_seconds"]
    return _case(
        "compile",
        second,
        "first call (trace + compile)",
        first,
        per_shape=per_shape,
        second_call_traces=counter.traces,
        second_call_xla_compiles=counter.compiles,
        recompiled="yes" if recompiled else "no",
        persistent_cache=_jaxsetup.CACHE_DIR is not None,
    )


# ----------------------------------------------------------------------------- entry point


def run_bench(
    quick: bool = False, repeats: int = 3, progress: Callable[[str], None] | None = None
) -> dict:
    """Run every case; returns ``{"setup", "machine", "cases": [...]}`` (JSON-ready).

    Each case has ``name``, ``gflab_seconds``, ``baseline``, ``baseline_seconds``, ``speedup``
    (baseline/gflab, > 1 when gflab is faster) and case-specific details.
    """
    setup = QUICK if quick else FULL
    say = progress or (lambda s: None)
    say(f"flow_single (n={setup.n}, depth={setup.depth}, t1={setup.t1:g})")
    single, first = _flow_single(setup, repeats)
    cases = [single]
    say(f"flow_batch (batch={setup.batch})")
    cases += _flow_batch(setup, 1 if not quick else repeats)
    say(f"flow_vs_gd (mse < {setup.mse_tol:g}, lr {setup.lr:g})")
    cases += _flow_vs_gd(setup, repeats)
    say("compile")
    cases.append(_compile_case(setup, first))
    return {
        "setup": {**asdict(setup), "quick": quick, "repeats": repeats},
        "machine": machine(),
        "cases": cases,
    }


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "jax_backend": jax.default_backend(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
