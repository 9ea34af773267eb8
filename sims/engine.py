"""Generic integrators: adaptive/fixed-step diffrax solves and discrete `lax.scan` iterations.

Both save *statistics* (not trajectories) on a grid through a ``stats(t, y, args)`` function and
stop early on a ``monitor(y, args)`` scalar: converged when it drops to ``tol``, diverged when it
exceeds ``blowup`` or stops being finite. Everything numeric (tolerances, horizon, save grid,
thresholds) is passed as arrays so that changing it never recompiles; only shapes, the model
functions and ``max_steps`` are static. Compiled solves are reused across calls and cached on disk.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

import gflab.sims._jaxsetup  # noqa: F401  (float64 + compilation cache before any compile)
from gflab.sims import _export
from gflab.sims.methods import Adaptive, Euler, Method
from gflab.theory._validate import GflabInputError, one_of

__all__ = [
    "RawSolve",
    "solve_flow",
    "solve_flow_batch",
    "solve_flows",
    "FlowCall",
    "capture_flow",
    "replay_flow",
    "iterate",
    "iterate_config",
    "legacy_method",
    "STATUSES",
]

STATUSES = ("converged", "t1_reached", "max_steps", "diverged")


@dataclass
class RawSolve:
    """What an integrator returns, before model-specific post-processing.

    ``times``/``saved`` hold only the grid points actually reached (an early stop truncates them).
    ``final_state`` is the last finite state and ``final_time`` its time; ``status`` is one of
    :data:`STATUSES`; ``message`` explains failures in words.
    """

    times: np.ndarray
    saved: dict[str, np.ndarray]
    final_state: Any
    final_time: float
    status: str
    steps: int
    rejected_steps: int
    wall_seconds: float
    compile_seconds: float
    message: str = ""
    extra: dict = field(default_factory=dict)

    def solver_stats(self, method) -> dict[str, Any]:
        """A result's ``stats``: the method (``tsit5+pid`` for an adaptive solve, else its name),
        accepted and rejected steps, solve and compile seconds; for a discrete method also
        ``executed_steps``, the updates computed (its cost).

        Args:
          method: the method object that ran the solve (:mod:`gflab.sims.methods`).

        Returns:
          ``{"solver", "steps", "rejected_steps", "wall_seconds", "compile_seconds"}`` and, when
          recorded, ``"executed_steps"``.
        """
        name = method.solver + "+pid" if isinstance(method, Adaptive) else method.name
        out = {
            "solver": name,
            "steps": self.steps,
            "rejected_steps": self.rejected_steps,
            "wall_seconds": self.wall_seconds,
            "compile_seconds": self.compile_seconds,
        }
        if "executed_steps" in self.extra:
            out["executed_steps"] = self.extra["executed_steps"]
        return out


def _signature(tree):
    """Hashable structure + shapes + dtypes: what decides whether a call recompiles."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((np.shape(x), str(_dtype(x))) for x in leaves)


def _dtype(x):
    """``x``'s dtype as JAX (float64 on) would give it, without converting ``x`` (a NumPy-to-JAX
    conversion compiles a staging program)."""
    return x.dtype if hasattr(x, "dtype") else jax.dtypes.canonicalize_dtype(np.asarray(x).dtype)


def put(x, dtype=None) -> jax.Array:
    """A number or NumPy array on the device (``jax.device_put``): unlike ``jnp.asarray``, this
    compiles no program, so building a solve's arguments adds no entry to the persistent cache.

    Args:
        x: a Python number or array-like.
        dtype: the NumPy dtype to give it (default: NumPy's own).
    Returns:
        The device array.
    """
    return jax.device_put(np.asarray(x, dtype=dtype))


@functools.partial(jax.jit, static_argnums=0)
def _monitor_value(monitor, y, args):
    """``monitor(y, args)`` as one small compiled program (per monitor and shapes), instead of
    one eager program per operation inside it."""
    return monitor(y, args)


def monitor_value(monitor, y, args) -> float:
    """The monitor's value at ``y``, as a float (decides whether a solve root-finds its stop).

    Args:
        monitor: ``monitor(y, args)`` -> scalar.
        y, args: the state and arguments (PyTrees; NumPy leaves are put on the device).
    Returns:
        ``float(monitor(y, args))``.
    """
    return float(_monitor_value(monitor, y, args))


def _to_numpy(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x), tree)


def _compile_and_run(prog, pos: tuple, key: tuple, seen: set) -> tuple[Any, float, float]:
    """Run ``prog`` on ``pos``, compiled (or loaded from the persistent cache) first and apart
    the first time ``key`` is seen in this process, so that the wall time is the solve's alone;
    ahead of time, not by a first full solve (that ran every new shape's solve twice).

    Args:
      prog: an :func:`gflab.sims._export.program` (``compile(pos)``, ``prog(pos)``).
      pos: its positional arguments.
      key: what decides its compiled program (shapes, static arguments).
      seen: the keys compiled in this process (updated).

    Returns:
      ``(output as NumPy, solve wall seconds, compile seconds)``.
    """
    t0 = time.perf_counter()
    compile_s = 0.0
    if key not in seen:
        prog.compile(pos)
        compile_s = time.perf_counter() - t0
        seen.add(key)
        t0 = time.perf_counter()
    out = _to_numpy(jax.block_until_ready(prog(pos)))
    return out, time.perf_counter() - t0, compile_s


# ----------------------------------------------------------------------------- continuous time

_TINY_LOSS = 1e-300  # floor under log(monitor): the convergence event is root-found in log scale
# Newton on the event time: relative/absolute tolerance on t (the state at the root then carries
# the solver's own interpolation error, ~rtol)
_ROOT_RTOL = 1e-12
_ROOT_ATOL = 1e-14


def flow_solve_impl(
    method, vector_field, stats, monitor, y0, args, t1, save_ts, tol, blowup, root_find
):
    """The traced body of :func:`solve_flow` (jitted with :data:`FLOW_STATIC` static, or exported).

    Args:
      method: a continuous method (its ``diffrax_solver``, ``controller``, ``dt0``, ``max_steps``).
      vector_field: ``vector_field(t, y, args)`` → dy/dt, same PyTree as ``y``.
      stats: ``stats(t, y, args)`` → what is saved at ``save_ts``.
      monitor: ``monitor(y, args)`` → the scalar the stop rules read (the loss).
      y0: the initial state (a PyTree of arrays).
      args: passed to the three callables.
      t1: the horizon (a float64 scalar array).
      save_ts: (k,) save times in [0, t1].
      tol: stop as converged at ``monitor = tol``.
      blowup: stop as diverged when ``monitor > blowup`` or a state entry is not finite.
      root_find: locate the crossing of ``tol`` on the dense output (false when ``y0`` is already
        at or below ``tol``: then the solve stops after one step).

    Returns:
      result (dict): ``ts``/``saved`` (the saved stats), ``ts_final``/``y_final``, the diffrax
      outcome flags (``successful``, ``max_steps_reached``, ``event_occurred``), accepted and
      rejected ``steps``/``rejected``, the events ``converged``/``diverged``, and ``monitor0``.
    """
    term = diffrax.ODETerm(vector_field)
    log_tol = jnp.log(jnp.maximum(tol, _TINY_LOSS))

    def crossing(t, y, args, **kw):
        # real-valued, so the time of the crossing is root-found on the dense output
        return jnp.log(jnp.maximum(monitor(y, args), _TINY_LOSS)) - log_tol

    def converged(t, y, args, **kw):
        return monitor(y, args) <= tol

    def diverged(t, y, args, **kw):
        v = monitor(y, args)
        leaves = jax.tree_util.tree_leaves(y)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
        return (v > blowup) | ~jnp.isfinite(v) | ~finite

    if root_find:
        event = diffrax.Event(
            (crossing, diverged),
            root_finder=optx.Newton(rtol=_ROOT_RTOL, atol=_ROOT_ATOL),
            direction=(False, None),
        )
    else:  # already at or below tol at t = 0 (a resumed, converged state): stop after one step
        event = diffrax.Event((converged, diverged))
    saveat = diffrax.SaveAt(
        subs=[diffrax.SubSaveAt(ts=save_ts, fn=stats), diffrax.SubSaveAt(t1=True)]
    )
    sol = diffrax.diffeqsolve(
        term,
        method.diffrax_solver(),
        jnp.zeros_like(t1),
        t1,
        method.dt0(),
        y0,
        args,
        saveat=saveat,
        stepsize_controller=method.controller(),
        event=event,
        max_steps=method.max_steps,
        throw=False,
    )
    ts, ts_final = sol.ts
    saved, y_final = sol.ys
    conv_flag, div_flag = sol.event_mask if sol.event_mask is not None else (False, False)
    return dict(
        ts=ts,
        saved=saved,
        ts_final=ts_final,
        y_final=y_final,
        successful=sol.result == diffrax.RESULTS.successful,
        max_steps_reached=sol.result == diffrax.RESULTS.max_steps_reached,
        event_occurred=sol.result == diffrax.RESULTS.event_occurred,
        steps=sol.stats["num_accepted_steps"],
        rejected=sol.stats["num_rejected_steps"],
        converged=jnp.asarray(conv_flag),
        diverged=jnp.asarray(div_flag),
        monitor0=monitor(y0, args),
    )


FLOW_STATIC = ("vector_field", "stats", "monitor", "root_find")
_flow_solve = jax.jit(flow_solve_impl, static_argnames=FLOW_STATIC)


def legacy_method(
    rtol: float = 1e-8, atol: float = 1e-12, dt: float | None = None, max_steps: int = 200_000
) -> Method:
    """The method object behind the old keywords of :func:`solve_flow` (``dt`` → Euler).

    Args:
      rtol: the adaptive solve's relative tolerance.
      atol: the adaptive solve's absolute tolerance.
      dt: a fixed step; given, the method is forward Euler and ``rtol``/``atol`` are unused.
      max_steps: the solver's step cap.

    Returns:
      An :class:`gflab.sims.methods.Euler` when ``dt`` is given, else an
      :class:`gflab.sims.methods.Adaptive`.
    """
    if dt is not None:
        return Euler(dt=dt, max_steps=max_steps)
    return Adaptive(rtol=rtol, atol=atol, max_steps=max_steps)


def solve_flow(
    vector_field: Callable,
    stats: Callable,
    monitor: Callable,
    y0: Any,
    args: Any,
    *,
    t1: float,
    save_ts: np.ndarray,
    method: Method | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    dt: float | None = None,
    tol: float = 0.0,
    blowup: float = np.inf,
    max_steps: int = 200_000,
) -> RawSolve:
    """Integrate dy/dt = vector_field(t, y, args) from t = 0 to ``t1`` (or an early stop).

    ``method`` is a continuous method object (:class:`gflab.sims.methods.Adaptive`,
    :class:`gflab.sims.methods.Euler`); without one, the old keywords ``rtol``/``atol``/``dt``/
    ``max_steps`` build it (:func:`legacy_method`). ``stats(t, y, args)`` is saved at ``save_ts``;
    ``monitor(y, args) <= tol`` stops as converged, at the crossing itself (root-found on the
    solver's dense output, so ``final_time``/``final_state`` are at monitor = tol, not one step
    later); ``> blowup`` or non-finite stops as diverged. Hitting the method's ``max_steps`` is
    reported, never silently returned.

    Args:
      y0: initial state (a PyTree of arrays).
      t1: horizon; save_ts: (k,) save times in [0, t1].
    Returns:
      A :class:`RawSolve`.
    """
    method = method if method is not None else legacy_method(rtol, atol, dt, max_steps)
    if method.discrete:
        raise GflabInputError("method", "a continuous method (adaptive, euler:DT)", method.spelling)
    hook = _FLOW_HOOK.get()  # a sweep batching problems of one program (solve_flows)
    if hook is not None:
        got = hook(
            FlowCall(method, vector_field, stats, monitor, y0, args, t1, save_ts, tol, blowup)
        )
        if got is not None:
            return got
    # arguments put on the device as NumPy values: no conversion program is compiled
    t1a = put(float(t1), np.float64)
    save_np = np.asarray(save_ts, dtype=np.float64)
    ts_arr = put(save_np)
    f64 = lambda v: put(float(v), np.float64)
    root_find = bool(monitor_value(monitor, y0, args) > float(tol))
    pos = (method, vector_field, stats, monitor, y0, args, t1a, ts_arr, f64(tol), f64(blowup))
    # saved on disk when it can be (sims/_export.py), else jitted
    prog = _export.program(_flow_solve, flow_solve_impl, FLOW_STATIC, pos, {"root_find": root_find})
    sig = _signature((method, y0, args))
    key = (vector_field, stats, monitor, root_find, len(save_ts), sig)
    out, wall, compile_s = _compile_and_run(prog, pos, key, _seen_flow)
    res = _finish(out, wall, compile_s, float(t1))

    def rerun(t):
        again = (method, vector_field, stats, monitor, y0, args, put(t, np.float64))
        rest = (put(np.minimum(save_np, t)), f64(tol), f64(blowup))
        return _to_numpy(jax.block_until_ready(prog((*again, *rest))))

    return _diagnose(res, vector_field, args, y0, rerun)


def _finite_tree(tree) -> bool:
    return all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(tree))


def _diagnose(res: RawSolve, vector_field, args, y0, rerun) -> RawSolve:
    """Name NaN in the vector field, and never end without the last finite state.

    An adaptive solver rejects steps whose field is NaN until it runs out of steps: that stall is
    reported as ``diverged`` (not ``max_steps``) when the field is non-finite at, or a forward-Euler
    probe of length h ∈ {1e-12, …, 1e-3}·max(1, t) beyond, the last state. A run that ended on
    non-finite values is re-solved (same compiled solve, shorter horizon) to the last saved time
    whose statistics were finite, so ``final_state`` holds the last finite state.
    """
    if res.final_state is not None and res.status in ("max_steps", "diverged"):
        t, y = res.final_time, res.final_state
        f = vector_field(jnp.asarray(t), y, args)
        bad = not _finite_tree(f)
        for h in (1e-12, 1e-9, 1e-6, 1e-3):
            if bad:
                break
            h *= max(1.0, abs(t))
            yh = jax.tree_util.tree_map(lambda a, b, h=h: a + h * b, y, f)
            bad = not _finite_tree(vector_field(jnp.asarray(t + h), yh, args))
        if bad:
            res.status = "diverged"
            res.message = (
                f"vector field non-finite at or just after t = {t:.6g}: the solver"
                " stalled there; the last finite state is kept"
            )
    elif res.final_state is None:
        t_back = float(res.times[-1]) if res.times.size else 0.0
        if t_back > 0:
            back = rerun(t_back)
            y = jax.tree_util.tree_map(
                lambda x: x.reshape(x.shape[1:]) if x.shape[:1] == (1,) else x, back["y_final"]
            )
        else:
            y = _to_numpy(y0)
        if _finite_tree(y):
            res.final_state, res.final_time = y, t_back
            res.message += f"; recovered: final_state is the last finite state, at t = {t_back:.6g}"
    return res


_seen_flow: set = set()


def _finish(out, wall, compile_s, t1) -> RawSolve:
    ts = out["ts"]
    keep = np.isfinite(ts)
    saved = {k: v[keep] for k, v in out["saved"].items()}
    # early-stop grids: diffrax pads unreached save times with inf; drop non-finite rows too
    ok = np.ones(int(keep.sum()), dtype=bool)
    for v in saved.values():
        ok &= np.all(
            np.isfinite(v.reshape(v.shape[0], int(np.prod(v.shape[1:])))), axis=1
        )  # -1 fails on 0 rows
    saved = {k: v[ok] for k, v in saved.items()}
    times = ts[keep][ok]
    y_final = out["y_final"]
    t_final = float(np.asarray(out["ts_final"]).reshape(-1)[0])
    y_final = jax.tree_util.tree_map(
        lambda x: x.reshape(x.shape[1:]) if x.shape[:1] == (1,) else x, y_final
    )
    finite_final = all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(y_final))
    message = ""
    if bool(out["diverged"]) or not finite_final:
        status = "diverged"
        if finite_final:
            message = f"diverged at t ≈ {t_final:.6g}: the monitor exceeded its bound or became non-finite"
        else:
            last = float(times[-1]) if times.size else 0.0
            message = (
                f"diverged at t ≈ {t_final:.6g}: the state became non-finite (NaN/inf); "
                f"last finite saved point at t = {last:.6g}"
            )
    elif bool(out["converged"]):
        status = "converged"
    elif bool(out["max_steps_reached"]):
        status = "max_steps"
        n_acc, n_rej = int(out["steps"]), int(out.get("rejected", 0))
        message = (
            f"max_steps reached at t = {t_final:.6g} before t1 = {t1:.6g} ({n_acc} accepted,"
            f" {n_rej} rejected steps; if t barely advanced, the field is singular or"
            " non-finite there)"
        )
    elif bool(out["successful"]) or bool(out["event_occurred"]):
        status = "t1_reached"
    else:
        status = "diverged"
        message = f"solver stopped at t = {t_final:.6g} (step size collapsed or non-finite values)"
    if not finite_final:
        # never hand back NaN: fall back to the last finite saved point's time and no state
        y_final = None
        t_final = float(times[-1]) if times.size else 0.0
    return RawSolve(
        times=times,
        saved=saved,
        final_state=y_final,
        final_time=t_final,
        status=status,
        steps=int(out["steps"]),
        rejected_steps=int(out.get("rejected", 0)),
        wall_seconds=wall,
        compile_seconds=compile_s,
        message=message,
        extra={"monitor0": float(out["monitor0"])},
    )


# ----------------------------------------------------------------------------- discrete time


def iterate_impl(
    method, gradient, stats, monitor, params0, args, tol, blowup, max_k, n_blocks, block
):
    """The traced body of :func:`iterate` (jitted with :data:`ITERATE_STATIC` static, or exported).

    Args:
      method: a discrete method (``init``/``update``).
      gradient: ``gradient(params, args)`` → the loss gradient, same PyTree as ``params``.
      stats: ``stats(k, params, args)`` → what is saved after each block.
      monitor: ``monitor(params, args)`` → the scalar the stop rules read (the loss).
      params0: the initial parameters (a PyTree of arrays).
      args: passed to the three callables.
      tol: stop as converged once ``monitor <= tol`` (checked before each step).
      blowup: stop as diverged when ``monitor > blowup`` or an entry is not finite (the last
        finite state is kept).
      max_k: the step budget (an int64 scalar array).
      n_blocks: the number of save blocks (static).
      block: steps per block, i.e. ``save_every`` (static).

    Returns:
      result (dict): ``first`` (stats and k at k = 0), ``saved``/``ks`` (per block), the final
      ``state``, the flags ``done``/``bad``, the step count ``k`` and ``executed`` (updates
      computed).
    """

    def one(carry):
        params, opt, done, bad, k, executed = carry
        updates, new_opt = method.update(gradient(params, args), opt, params)
        new = jax.tree_util.tree_map(lambda x, u: x + u, params, updates)
        v = monitor(new, args)
        leaves = jax.tree_util.tree_leaves(new)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
        newbad = (v > blowup) | ~jnp.isfinite(v) | ~finite
        keep = lambda a, b: jnp.where(newbad, a, b)
        params = jax.tree_util.tree_map(keep, params, new)
        opt = jax.tree_util.tree_map(keep, opt, new_opt)
        k = k + jnp.where(newbad, 0, 1)
        # the stop rule is checked on the loss before the next step (the [DMC] authors' loop)
        done = (v <= tol) & ~newbad
        return params, opt, done, newbad, k, executed + 1

    def run_block(carry):
        # steps until the block's last step, the requested count, or a stop (converged,
        # diverged): a stopped run executes no further step in any save layout
        end = jnp.minimum(carry[4] + block, max_k)
        going = lambda c: ~c[2] & ~c[3] & (c[4] < end)
        return jax.lax.while_loop(going, one, carry)

    def blk(carry, _):
        carry = run_block(carry)
        params, _, _, _, k, _ = carry
        return carry, (stats(k, params, args), k)

    done0 = monitor(params0, args) <= tol  # already there: no step at all
    opt0 = method.init(params0)
    zero = jnp.asarray(0, dtype=jnp.int64)
    init = (params0, opt0, done0, jnp.asarray(False), zero, zero)
    first = (stats(jnp.asarray(0), params0, args), zero)
    carry, (saved, ks) = jax.lax.scan(blk, init, None, length=n_blocks)
    params, _, done, bad, k, executed = carry
    return dict(
        first=first, saved=saved, ks=ks, state=params, done=done, bad=bad, k=k, executed=executed
    )


ITERATE_STATIC = ("gradient", "stats", "monitor", "n_blocks", "block")
_iterate = jax.jit(iterate_impl, static_argnames=ITERATE_STATIC)


def iterate_config(
    config: Any,
    gradient: Callable,
    stats: Callable,
    monitor: Callable,
    params0: Any,
    args: Any,
    tol: float,
    method: Method | None = None,
) -> RawSolve:
    """:func:`iterate` as a model config (``DMFConfig``, ``LoRAConfig``) asks for it: its discrete
    ``method`` for ``steps`` steps, ``n_save`` saved iterates (every ⌊steps/(n_save − 1)⌋ steps,
    at least every step), stopped at ``tol``, diverged past 1e12. ``steps`` is the config's
    ``step_budget`` (its ``steps``, or the default cap of a run that stops at a loss).
    ``method`` replaces the config's (a padded solve's wrapper, sims/buckets.py).

    Args:
      config: a model config with ``method``, ``step_budget`` and ``n_save``.
      gradient: ``gradient(params, args)`` → the loss gradient.
      stats: ``stats(k, params, args)`` → what is saved.
      monitor: ``monitor(params, args)`` → the loss the stop rules read.
      params0: the initial parameters (a PyTree of arrays).
      args: passed to the three callables.
      tol: stop as converged once the loss is ≤ ``tol``.
      method: a discrete method to run instead of ``config.method``.

    Returns:
      The :class:`RawSolve` of :func:`iterate`.
    """
    steps = config.step_budget
    save_every = max(1, steps // (config.n_save - 1))
    kw = dict(steps=steps, save_every=save_every, tol=tol, blowup=1e12)
    method = config.method if method is None else method
    return iterate(method, gradient, stats, monitor, params0, args, **kw)


def iterate(
    method: Method,
    gradient: Callable,
    stats: Callable,
    monitor: Callable,
    params0: Any,
    args: Any,
    *,
    steps: int,
    save_every: int,
    tol: float = 0.0,
    blowup: float = np.inf,
) -> RawSolve:
    """Run a discrete method: ``updates, s = method.update(gradient(params), s, params)``,
    ``params += updates``, for ``steps`` steps (GD, SpecGD, Muon...).

    ``stats(k, params, args)`` is saved every ``save_every`` steps (and at k = 0). Before each step
    the run stops as converged once ``monitor(params, args) <= tol`` (so k counts the steps taken,
    and a start already at tol takes none), or as diverged when it blows up (last finite state
    kept).

    Args:
      method: a discrete method object (``init``/``update``).
      gradient: ``gradient(params, args)`` -> the loss gradient, same PyTree as ``params``.
      params0: initial parameters (a PyTree of arrays).
    Returns:
      A :class:`RawSolve` whose times are step counts; ``extra["executed_steps"]`` counts the
      updates computed (the run's cost: after a stop none is, whatever ``save_every``).
    """
    if not method.discrete:
        raise GflabInputError("method", "a discrete method (gd, specgd, muon...)", method.spelling)
    n_blocks = max(1, -(-int(steps) // int(save_every)))
    f64 = lambda v: put(float(v), np.float64)
    max_k = put(int(steps), np.int64)
    pos = (method, gradient, stats, monitor, params0, args, f64(tol), f64(blowup), max_k)
    kw = dict(n_blocks=n_blocks, block=int(save_every))
    prog = _export.program(_iterate, iterate_impl, ITERATE_STATIC, pos, kw)
    key = (gradient, stats, monitor, n_blocks, int(save_every), _signature((method, params0, args)))
    out, wall, compile_s = _compile_and_run(prog, pos, key, _seen_iter)
    first_stats, _ = out["first"]
    ks = np.concatenate([[0], out["ks"]]).astype(float)
    saved = {k: np.concatenate([v[None], out["saved"][k]]) for k, v in first_stats.items()}
    # drop repeated rows once the run has frozen (converged or diverged)
    _, uniq = np.unique(ks, return_index=True)
    ks = ks[uniq]
    saved = {k: v[uniq] for k, v in saved.items()}
    k_final = int(out["k"])
    if bool(out["bad"]):
        status = "diverged"
        message = (
            f"diverged at step {k_final + 1}: the monitor exceeded its bound or became"
            f" non-finite; the state after step {k_final} (the last finite one) is kept"
        )
    elif bool(out["done"]):
        status, message = "converged", ""
    else:
        status, message = "t1_reached", ""
    return RawSolve(
        times=ks,
        saved=saved,
        final_state=out["state"],
        final_time=float(k_final),
        status=status,
        steps=k_final,
        rejected_steps=0,
        wall_seconds=wall,
        compile_seconds=compile_s,
        message=message,
        extra={"executed_steps": int(out["executed"])},
    )


_seen_iter: set = set()


# ----------------------------------------------------------------------------- batches


def flow_solve_vmap_impl(
    method, vector_field, stats, monitor, y0_batch, args, t1, save_ts, tol, blowup, root_find
):
    """The traced body of :func:`solve_flow_batch`'s ``"vmap"`` strategy: :func:`flow_solve_impl`
    vectorised over the leading axis of ``y0_batch``.

    Args:
      method: as :func:`flow_solve_impl`.
      vector_field: as :func:`flow_solve_impl`.
      stats: as :func:`flow_solve_impl`.
      monitor: as :func:`flow_solve_impl`.
      y0_batch: initial states, every leaf with the batch as leading axis.
      args: shared by all members.
      t1: as :func:`flow_solve_impl`.
      save_ts: as :func:`flow_solve_impl`.
      tol: as :func:`flow_solve_impl`.
      blowup: as :func:`flow_solve_impl`.
      root_find: as :func:`flow_solve_impl` (one value for the whole batch).

    Returns:
      result (dict): :func:`flow_solve_impl`'s dict with a leading batch axis on every entry.
    """
    one = lambda y0: _flow_solve(
        method, vector_field, stats, monitor, y0, args, t1, save_ts, tol, blowup, root_find
    )
    return jax.vmap(one)(y0_batch)


_flow_solve_vmap = jax.jit(flow_solve_vmap_impl, static_argnames=FLOW_STATIC)


def solve_flow_batch(
    vector_field: Callable,
    stats: Callable,
    monitor: Callable,
    y0_batch: Any,
    args: Any,
    *,
    strategy: str = "loop",
    t1: float,
    save_ts: np.ndarray,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    tol: float = 0.0,
    blowup: float = np.inf,
    max_steps: int = 200_000,
) -> list[RawSolve]:
    """Solve from a batch of initial conditions (leading axis of every leaf of ``y0_batch``).

    ``strategy="vmap"`` runs one vectorised solve (all members step together until the slowest
    ends); ``"loop"`` reuses one compiled single solve. docs/theory.md §4: on 2 CPU cores the loop often
    wins; ``gflab bench`` measures both. Per-member wall time is the batch time divided evenly.

    Args:
      vector_field: ``vector_field(t, y, args)`` → dy/dt.
      stats: ``stats(t, y, args)`` → what is saved at ``save_ts``.
      monitor: ``monitor(y, args)`` → the scalar the stop rules read.
      y0_batch: initial states, every leaf with the batch as leading axis.
      args: shared by all members.
      strategy: ``"loop"`` or ``"vmap"``.
      t1: the horizon.
      save_ts: (k,) save times in [0, t1].
      rtol: the adaptive solve's relative tolerance.
      atol: the adaptive solve's absolute tolerance.
      tol: stop a member as converged at ``monitor = tol``.
      blowup: stop a member as diverged past it.
      max_steps: the solver's step cap per member.

    Returns:
      One :class:`RawSolve` per member, in batch order.
    """
    one_of("strategy", strategy, ("vmap", "loop"))
    method = Adaptive(rtol=rtol, atol=atol, max_steps=max_steps)
    leaves = jax.tree_util.tree_leaves(y0_batch)
    size = int(np.shape(leaves[0])[0])
    if strategy == "loop":
        out = []
        for i in range(size):
            yi = jax.tree_util.tree_map(lambda x, i=i: x[i], y0_batch)
            out.append(
                solve_flow(
                    vector_field,
                    stats,
                    monitor,
                    yi,
                    args,
                    t1=t1,
                    save_ts=save_ts,
                    method=method,
                    tol=tol,
                    blowup=blowup,
                )
            )
        return out
    f64 = lambda v: put(float(v), np.float64)
    # members already at tol cannot be root-found: the batch root-finds when every member can
    # (members sliced in NumPy: slicing a device array compiles a program)
    y0_np = _to_numpy(y0_batch)
    root_find = all(
        monitor_value(monitor, jax.tree_util.tree_map(lambda x, i=i: x[i], y0_np), args)
        > float(tol)
        for i in range(size)
    )
    pos = (method, vector_field, stats, monitor, y0_batch, args, put(float(t1), np.float64))
    pos += (put(np.asarray(save_ts, dtype=np.float64)), f64(tol), f64(blowup))
    prog = _export.program(
        _flow_solve_vmap, flow_solve_vmap_impl, FLOW_STATIC, pos, {"root_find": root_find}
    )
    sig = _signature((method, y0_batch, args))
    key = ("vmap", vector_field, stats, monitor, root_find, len(save_ts), sig)
    out, wall, compile_s = _compile_and_run(prog, pos, key, _seen_flow)
    results = []
    for i in range(size):
        oi = jax.tree_util.tree_map(lambda x, i=i: x[i], out)
        results.append(_finish(oi, wall / size, compile_s / size, float(t1)))
    return results


# ----------------------------------------------------------------------------- batched problems


def flow_solve_stacked_impl(
    method, vector_field, stats, monitor, y0, args, t1, save_ts, tol, blowup, root_find
):
    """:func:`flow_solve_impl` vectorised over the leading axis of *every* array argument: member
    i solves its own problem (method leaves, state, arguments, horizon, save grid, thresholds).

    Args:
      method: a continuous method whose array leaves have the batch as leading axis.
      vector_field: as :func:`flow_solve_impl` (shared: one compiled program).
      stats: as :func:`flow_solve_impl`.
      monitor: as :func:`flow_solve_impl`.
      y0: initial states, every leaf with the batch as leading axis.
      args: the members' arguments, every leaf with the batch as leading axis.
      t1: (batch,) horizons.
      save_ts: (batch, k) save times.
      tol: (batch,) convergence thresholds.
      blowup: (batch,) divergence thresholds.
      root_find: as :func:`flow_solve_impl` (one value for the whole batch).

    Returns:
      result (dict): :func:`flow_solve_impl`'s dict with a leading batch axis on every entry.
    """

    def one(m, y, a, t, s, lo, hi):
        return flow_solve_impl(m, vector_field, stats, monitor, y, a, t, s, lo, hi, root_find)

    return jax.vmap(one)(method, y0, args, t1, save_ts, tol, blowup)


_flow_solve_stacked = jax.jit(flow_solve_stacked_impl, static_argnames=FLOW_STATIC)


@dataclass
class FlowCall:
    """One flow problem exactly as :func:`solve_flow` received it (its method already built), so
    that problems of one compiled program can be solved together (:func:`solve_flows`)."""

    method: Method
    vector_field: Callable
    stats: Callable
    monitor: Callable
    y0: Any
    args: Any
    t1: float
    save_ts: np.ndarray
    tol: float
    blowup: float

    def root_find(self) -> bool:
        """Whether the solve root-finds its stop (the start is above ``tol``)."""
        return bool(monitor_value(self.monitor, self.y0, self.args) > float(self.tol))

    def program(self, root_find: bool) -> tuple:
        """What decides the compiled program: the functions, the save-grid length and the
        structure, shapes and dtypes of the method, state and arguments.

        Args:
          root_find: whether the solve root-finds its stop (:meth:`root_find`).
        Returns:
          A hashable tuple; problems with equal tuples share one compiled program.
        """
        sig = _signature((self.method, self.y0, self.args))
        return (self.vector_field, self.stats, self.monitor, root_find, len(self.save_ts), sig)

    def solve(self) -> RawSolve:
        """The single solve (:func:`solve_flow`)."""
        return _solve_flow_now(self)


_FLOW_HOOK: contextvars.ContextVar = contextvars.ContextVar("gflab_flow_hook", default=None)


class FlowCaptured(BaseException):  # noqa: N818  (control flow, not an error: never caught as one)
    """Raised by :func:`solve_flow` under :func:`capture_flow`: carries the :class:`FlowCall`."""

    def __init__(self, call: FlowCall):
        super().__init__("flow solve captured")
        self.call = call


@contextlib.contextmanager
def capture_flow():
    """Within the block, the first :func:`solve_flow` call raises :class:`FlowCaptured` with its
    problem instead of solving it (a sweep collects the problems of one compiled program)."""

    def hook(call):
        raise FlowCaptured(call)

    token = _FLOW_HOOK.set(hook)
    try:
        yield
    finally:
        _FLOW_HOOK.reset(token)


@contextlib.contextmanager
def replay_flow(call: FlowCall, raw: RawSolve):
    """Within the block, the first :func:`solve_flow` call returns ``raw`` (solved already, with
    others, by :func:`solve_flows`) when its problem is ``call``'s (same program, equal start);
    every other call solves as usual.

    Args:
      call: the problem captured by :func:`capture_flow` on an earlier run of the same code.
      raw: its solution.
    """
    used = []

    def hook(again: FlowCall):
        if used or not _same_problem(call, again):
            return None
        used.append(True)
        return raw

    token = _FLOW_HOOK.set(hook)
    try:
        yield
    finally:
        _FLOW_HOOK.reset(token)


def _same_problem(a: FlowCall, b: FlowCall) -> bool:
    if a.program(True) != b.program(True):
        return False
    pairs = zip(jax.tree_util.tree_leaves(a.y0), jax.tree_util.tree_leaves(b.y0), strict=True)
    same = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in pairs)
    nums = (a.t1, a.tol, a.blowup) == (b.t1, b.tol, b.blowup)
    return same and nums and np.array_equal(np.asarray(a.save_ts), np.asarray(b.save_ts))


def _solve_flow_now(c: FlowCall) -> RawSolve:
    token = _FLOW_HOOK.set(None)  # solve it, whatever hook is set
    try:
        return solve_flow(
            c.vector_field, c.stats, c.monitor, c.y0, c.args, t1=c.t1, save_ts=c.save_ts,
            method=c.method, tol=c.tol, blowup=c.blowup,
        )  # fmt: skip
    finally:
        _FLOW_HOOK.reset(token)


def _stack(trees: list) -> Any:
    """The leaves of same-structure PyTrees stacked on a new leading axis, on the device."""
    leaves = [jax.tree_util.tree_flatten(t) for t in trees]
    treedef = leaves[0][1]
    cols = zip(*(lv for lv, _ in leaves), strict=True)
    stacked = [put(np.stack([np.asarray(x, dtype=_dtype(x)) for x in col])) for col in cols]
    return jax.tree_util.tree_unflatten(treedef, stacked)


def solve_flows(calls: list[FlowCall]) -> list[RawSolve]:
    """Solve independent flow problems, those of one compiled program as one vectorised solve.

    Problems share a program when :meth:`FlowCall.program` is equal (the same field, statistics,
    monitor and save-grid length, and the same structure, shapes and dtypes: a shape bucket,
    :mod:`gflab.sims.buckets`); each such group of two or more runs as one ``jax.vmap`` of the
    single solve over every array argument (:func:`flow_solve_stacked_impl`), the others as
    :func:`solve_flow`. Under ``vmap`` each member keeps its own step size, controller and stop
    events (the loop runs until the last member stops; stopped members are frozen), so each
    result is the member's own solve, computed in another summation order; a member that
    diverges stops with its own status and leaves the others' results unchanged. The wall and
    compile seconds of a group are divided evenly among its members.

    Args:
      calls: the problems (from :func:`capture_flow`).

    Returns:
      One :class:`RawSolve` per problem, in order, each as :func:`solve_flow` builds it (status,
      message, last finite state).
    """
    out: list[RawSolve | None] = [None] * len(calls)
    groups: dict = {}
    for i, c in enumerate(calls):
        rf = c.root_find()
        groups.setdefault(c.program(rf), (rf, []))[1].append(i)
    for rf, idx in groups.values():
        if len(idx) == 1:
            out[idx[0]] = calls[idx[0]].solve()
            continue
        for i, raw in zip(idx, _solve_stacked([calls[i] for i in idx], rf), strict=True):
            out[i] = raw
    return out


def _solve_stacked(calls: list[FlowCall], root_find: bool) -> list[RawSolve]:
    from gflab.sims.buckets import bucket

    real = len(calls)
    # the batch size is a shape too: padded to a bucket size with copies of the first member
    # (solved and discarded), so batches of 2..8, 9..16, ... share one compiled program
    calls = calls + [calls[0]] * (bucket(real) - real)
    c0, size = calls[0], len(calls)
    f64 = lambda xs: put(np.asarray(xs, dtype=np.float64))
    pos = (
        _stack([c.method for c in calls]), c0.vector_field, c0.stats, c0.monitor,
        _stack([c.y0 for c in calls]), _stack([c.args for c in calls]),
        f64([c.t1 for c in calls]), f64([np.asarray(c.save_ts, np.float64) for c in calls]),
        f64([c.tol for c in calls]), f64([c.blowup for c in calls]),
    )  # fmt: skip
    prog = _export.program(
        _flow_solve_stacked, flow_solve_stacked_impl, FLOW_STATIC, pos, {"root_find": root_find}
    )
    key = ("stacked", size, *c0.program(root_find))
    out, wall, compile_s = _compile_and_run(prog, pos, key, _seen_flow)
    results = []
    for i, c in enumerate(calls[:real]):
        oi = jax.tree_util.tree_map(lambda x, i=i: x[i], out)
        res = _finish(oi, wall / real, compile_s / real, float(c.t1))
        results.append(_diagnose(res, c.vector_field, c.args, c.y0, _rerun_one(c, root_find)))
    return results


def _rerun_one(c: FlowCall, root_find: bool) -> Callable:
    """A member's re-solve to a shorter horizon (:func:`_diagnose`), on the single program."""

    def rerun(t):
        f64 = lambda v: put(float(v), np.float64)
        save = put(np.minimum(np.asarray(c.save_ts, np.float64), t))
        pos = (c.method, c.vector_field, c.stats, c.monitor, c.y0, c.args, f64(t), save)
        pos += (f64(c.tol), f64(c.blowup))
        prog = _export.program(
            _flow_solve, flow_solve_impl, FLOW_STATIC, pos, {"root_find": root_find}
        )
        return _to_numpy(jax.block_until_ready(prog(pos)))

    return rerun
