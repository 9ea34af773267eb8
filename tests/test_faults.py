"""Solver failures surface as a status with the time and the last finite state (issue 7).

Never a crash, never a silent NaN: max steps, finite-time blow-up, NaN in a vector field (adaptive
and fixed-step), and a discrete run that explodes. Oracles: y' = y² from y(0) = 1 blows up at
t = 1 exactly; y' = −y is finite until a NaN is injected at a known time or state.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from gflab.sims.config import DMFConfig, LoRAConfig
from gflab.sims.dmf import simulate_dmf
from gflab.sims.engine import solve_flow
from gflab.sims.lora import simulate_lora
from gflab.sims.methods import GD, Adaptive
from gflab.sims.store import ResultStore
from gflab.sims.sweep import run_sweep

TS = np.linspace(0.0, 3.0, 7)


def _stats(t, y, args):
    return {"y": y}


def _monitor(y, args):
    return jnp.sum(y * y)


def _blowup(t, y, args):
    return y * y


def _nan_after_t1(t, y, args):
    return jnp.where(t > 1.0, jnp.nan, -y)


def _nan_below_half(t, y, args):
    return jnp.where(y < 0.5, jnp.nan, -y)


def _solve(field, dt, max_steps: int):
    """``field`` from y(0) = (1, 1) to t = 3 (adaptive for ``dt=None``, else Euler), saved on TS."""
    return solve_flow(
        field,
        _stats,
        _monitor,
        jnp.ones(2),
        {},
        t1=3.0,
        save_ts=TS,
        dt=dt,
        blowup=1e12,
        max_steps=max_steps,
    )


def _finite(state) -> bool:
    return state is not None and all(
        np.all(np.isfinite(np.asarray(x)))
        for x in (state if isinstance(state, (list, tuple)) else [state])
    )


@pytest.mark.parametrize("dt", [None, 0.01], ids=["adaptive", "euler"])
def test_finite_time_blowup_is_diverged_with_finite_state(dt):
    r = _solve(_blowup, dt, max_steps=5000)
    assert r.status == "diverged" and "diverged" in r.message
    # the exact solution 1/(1 − t) leaves every bound just before t = 1 (Euler lags: ≤ 0.1 late)
    assert 0.9 < r.final_time < 1.1
    assert _finite(r.final_state)


@pytest.mark.parametrize("dt", [None, 0.01], ids=["adaptive", "euler"])
@pytest.mark.parametrize(("field", "t_bad"), [(_nan_after_t1, 1.0), (_nan_below_half, math.log(2))])
def test_nan_in_vector_field_is_diverged_with_last_finite_state(field, t_bad, dt):
    r = _solve(field, dt, max_steps=2000)
    assert r.status == "diverged"
    assert _finite(r.final_state)
    assert r.final_time <= t_bad + 1e-9  # the last finite state is before the NaN region
    # y' = −y up to there: the kept state is the exact solution at the kept time (Euler: O(dt))
    np.testing.assert_allclose(
        r.final_state, math.exp(-r.final_time), rtol=1e-6 if dt is None else 0.02
    )
    assert all(np.all(np.isfinite(v)) for v in r.saved.values())


# DMF's default flow with a budget of 20 steps: it ends with status max_steps
SHORT_FLOW = Adaptive(rtol=1e-9, atol=1e-14, max_steps=20)


def test_max_steps_reports_time_and_state():
    cfg = DMFConfig(depth=3, n=4, m=3.0, alpha=1e-3, method=SHORT_FLOW, n_save=10)
    r = simulate_dmf(cfg)
    assert r.status == "max_steps"
    assert 0 < r.final["time"] < cfg.t_max and f"t = {r.final['time']:.6g}" in r.message
    assert _finite(r.final_state) and math.isfinite(r.final["loss"])


# GD with step 5 on a 6×7 LoRA problem from a large Gaussian init: it overflows within 200 steps
EXPLODING_GD = LoRAConfig(
    rows=6,
    cols=7,
    rank=2,
    target_svals=(1.0, 2.0),
    flow="gf",
    method=GD(lr=5.0),
    steps=200,
    gamma=0.5,
    init="gaussian",
    n_save=20,
)


def test_discrete_explosion_keeps_last_finite_step():
    r = simulate_lora(EXPLODING_GD)
    assert r.status == "diverged"
    assert 0 < r.final["time"] < 200 and _finite(r.final_state)
    assert all(np.all(np.isfinite(v)) for v in r.series.values())


def test_sweep_stores_solver_failures_as_results_not_failures(tmp_path):
    configs = [
        DMFConfig(depth=3, n=4, m=3.0, alpha=1e-3, method=SHORT_FLOW, n_save=10),
        EXPLODING_GD,
    ]
    store = ResultStore(tmp_path)
    s = run_sweep(configs, store)
    assert (s.done, s.failed) == (2, 0)
    assert s.statuses == {"max_steps": 1, "diverged": 1}
    stored = [store.get(c) for c in configs]
    assert all(r.message and _finite(r.final_state) for r in stored)
