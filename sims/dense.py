"""Dense output of a LoRA flow: the solver's own interpolant, evaluable at any t (docs/theory.md §2.2).

``gflab.sims.engine`` saves statistics on a grid; a quantity that peaks between grid points (SGF-1's
slope deviation at the start of a mode's window) is then under-measured. Here the same problem is
integrated with the config's own method object (its solver, controller and tolerances: by default
the Tsit5 → RKC2 hybrid + PID, pcoeff 0.4, icoeff 0.3) and the config's flow term
(:mod:`gflab.sims.terms`), with the same convergence stop, keeping the solver's dense interpolant
(Tsit5's 4th-order interpolation on Tsit5 steps, cubic Hermite on RKC2 steps, each accurate to
the step's local error) and the accepted step times, so a
measurement can sample every step and refine its extremum between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from gflab.sims.config import LoRAConfig
from gflab.sims.limits import require_fits
from gflab.sims.terms import term_field
from gflab.theory import closed_forms as CF
from gflab.theory import lora as T
from gflab.theory.errors import GflabInputError

__all__ = ["DenseLoRA", "solve_lora_dense", "DENSE_MAX_STEPS", "MODES_CHUNK"]

DENSE_MAX_STEPS = 20_000
"""Step budget of a dense solve: the interpolant stores 7 Tsit5 stages per step, so memory grows
with it; SGF-1's hypotheses need ≤ 6e3 accepted steps (measured)."""


@eqx.filter_jit
def _solve(y0, args, t1, method, tol, max_steps: int):
    def converged(t, y, args, **kw):
        gap = (T.loss(y[0], y[1], args["Y"], args["l2"]) - args["loss_min"]) / args["loss_ref"]
        return gap <= tol

    def windows_done(t, y, args, **kw):
        d = jnp.sum(args["U"] * ((y[0] @ y[1]) @ args["V"]), axis=0)
        return jnp.all(d > args["stop_fraction"] * args["s"])

    return diffrax.diffeqsolve(
        diffrax.ODETerm(term_field),
        method.diffrax_solver(),
        0.0,
        t1,
        method.dt0(),
        y0,
        args,
        saveat=diffrax.SaveAt(steps=True, dense=True),
        stepsize_controller=method.controller(),
        event=diffrax.Event((converged, windows_done)),
        max_steps=max_steps,
        throw=False,
    )


def _put(v) -> jax.Array:
    """``v`` (a number or NumPy array) on the device, floats as float64; ``jax.device_put``
    compiles nothing, unlike ``jnp.asarray`` (a conversion program per new shape)."""
    a = np.asarray(v)
    return jax.device_put(a.astype(np.float64) if a.dtype.kind == "f" else a)


def _traced(tree):
    """``tree`` with its float leaves as float64 arrays: ``filter_jit`` traces arrays and keeps
    Python numbers static, so a new tolerance or β would otherwise compile a new solve."""
    return jax.tree_util.tree_map(lambda v: _put(v) if isinstance(v, float) else v, tree)


MODES_CHUNK = 1024
"""Points per compiled evaluation of the interpolant: :meth:`DenseLoRA.modes` pads and splits
every request into chunks of this one length, so the evaluation compiles once per problem shape
(not once per request size: each compile of the vmapped interpolant costs seconds)."""


@eqx.filter_jit
def _modes(sol, args, ts):
    def one(t):
        y = sol.evaluate(t)
        A, B = y
        dA, dB = term_field(t, y, args)
        d = jnp.sum(args["U"] * ((A @ B) @ args["V"]), axis=0)
        dd = jnp.sum(args["U"] * ((dA @ B + A @ dB) @ args["V"]), axis=0)
        return d, dd

    return jax.vmap(one)(ts)


@dataclass(frozen=True)
class DenseLoRA:
    """A LoRA flow's dense solution: ``nodes`` (accepted step times, from 0 to ``t_end``),
    ``status`` ("converged", "windows_done", "t1_reached" or "max_steps"), and :meth:`modes`.

    ``config`` is the exact configuration that was integrated.
    """

    config: LoRAConfig
    nodes: np.ndarray
    t_end: float
    status: str
    _sol: Any
    _args: Any

    def modes(self, ts) -> tuple[np.ndarray, np.ndarray]:
        """Mode proxies d_i(t) = u_iᵀ A B v_i and their rates ḋ_i (from the vector field).

        Args:
            ts: (n,) times in [0, t_end].

        Returns:
            (d, ḋ), each (n, k) for the k targets in ``config.target_svals`` order.
        """
        ts = np.clip(np.asarray(ts, float).ravel(), 0.0, self.t_end)
        n = ts.size
        padded = np.concatenate([ts, np.full(-n % MODES_CHUNK, self.t_end)])
        parts = [
            _modes(self._sol, self._args, _put(chunk)) for chunk in padded.reshape(-1, MODES_CHUNK)
        ]
        k = len(self.config.target_svals)
        if not parts:
            return np.zeros((0, k)), np.zeros((0, k))
        d = np.concatenate([np.asarray(p[0]) for p in parts])
        dd = np.concatenate([np.asarray(p[1]) for p in parts])
        return d[:n], dd[:n]


def solve_lora_dense(
    config: LoRAConfig,
    A0,
    B0,
    Y,
    U,
    V,
    max_steps: int = DENSE_MAX_STEPS,
    stop_fraction: float = math.inf,
) -> DenseLoRA:
    """Integrate ``config`` (a continuous method: its flow term, GF, SpecGF or the polar flow with
    fixed steps) keeping the dense interpolant.

    Args:
        config: the run (its method object, flow term, converge_tol, t1 and λ are used; the step
            budget is ``max_steps``, not the method's).
        A0, B0: (rows, rank), (rank, cols) initial factors.
        Y: (rows, cols) target; U (rows, k), V (cols, k) its singular vectors in target order.
        max_steps: step budget (the interpolant's memory grows with it).
        stop_fraction: also stop ("windows_done") once every mode proxy d_i = u_iᵀ A B v_i
            exceeds stop_fraction·s_i (a measurement that ends there need not pay for the slow
            approach to the minimum); inf: never.

    Returns:
        A :class:`DenseLoRA`.
    """
    if config.method.discrete:
        raise GflabInputError(
            "method", "a continuous method (a dense solve needs a flow)", config.method.spelling
        )
    state = (np.asarray(A0).size + np.asarray(B0).size) * 8
    require_fits("max_steps", 9 * state * max_steps, max_steps)
    args = {  # the term goes in traced (β a float64 leaf): one compile per shape and flow
        "Y": _put(Y),
        "U": _put(U),
        "V": _put(V),
        "l2": _put(config.l2),
        "term": _traced(config.term),
        "s": _put(config.target_svals),
        "stop_fraction": _put(float(stop_fraction)),
        "loss_min": _put(CF.lora_min_loss(config.target_svals, config.rank, config.l2)),
        "loss_ref": _put(max(0.5 * float(np.sum(np.asarray(config.target_svals) ** 2)), 1e-300)),
    }
    sol = _solve(
        (_put(A0), _put(B0)),
        args,
        _put(float(config.t1)),
        _traced(config.method),
        _put(config.converge_tol),
        int(max_steps),
    )
    ts = np.asarray(sol.ts)
    nodes = np.concatenate([[0.0], ts[np.isfinite(ts)]])
    # compared in NumPy: ``==`` on the result would compile a program
    if int(np.asarray(sol.result._value)) == int(diffrax.RESULTS.max_steps_reached._value):
        status = "max_steps"
    elif sol.event_mask is not None and bool(np.asarray(sol.event_mask[0])):
        status = "converged"
    elif sol.event_mask is not None and bool(np.asarray(sol.event_mask[1])):
        status = "windows_done"
    else:
        status = "t1_reached"
    return DenseLoRA(config, nodes, float(nodes[-1]), status, sol, args)
