"""Running deep matrix completion (docs/theory.md §2.1): gradient flow (diffrax) and plain GD (`lax.scan`)."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from gflab.sims import buckets as B
from gflab.sims.config import DMFConfig, dmf_factor_shapes, load_factors, load_npy
from gflab.sims.engine import RawSolve, iterate_config, solve_flow
from gflab.sims.result import SimResult
from gflab.theory import dmf as T
from gflab.theory import measures as M

__all__ = [
    "dmf_problem",
    "flow_parts",
    "simulate_dmf",
    "solve_dmf_from",
    "save_grid",
    "stop_tolerance",
]

MATRIX_SAVE_MAX_N = 16  # save the whole product per time only for small n


def dmf_problem(config: DMFConfig):
    """(initial factors, mask, target) as NumPy float64 arrays, from the config and its seed.

    Args:
      config: the run's config (docs/theory.md §2.1: ``n``, ``depth``, ``init``, ``alpha``,
        ``mask``, ``target``, ``seed`` and the ``*_file`` fields).

    Returns:
      problem (tuple): (list of L (n, n) factors, (n, n) 0/1 mask, (n, n) target); the factors,
        mask and target come from ``init_file``/``mask_file``/``target_file`` when the config
        names them.
    """
    if config.init_file is not None:
        shapes = dmf_factor_shapes(config.n, config.depth)
        factors = load_factors("init_file", config.init_file, shapes)
    else:
        factors = T.make_init(
            config.init, config.n, config.depth, config.alpha, m=config.m, seed=config.seed
        )
    if config.mask_file is not None:
        mask = T.make_mask(load_npy("mask_file", config.mask_file, config.n), config.n)
    else:
        mask = T.make_mask(config.mask, config.n, seed=config.seed)
    if config.target_file is not None:
        target = load_npy("target_file", config.target_file, config.n)
    else:
        target = T.make_target(config.target, config.n, seed=config.seed)
    return factors, mask, target


def _field(t, y, args):
    g = T.gradient_field(list(y), args["mask"], args["target"])
    return tuple(args["scale"] * x for x in g)


def _monitor(y, args):
    return T.masked_loss(list(y), args["mask"], args["target"]) / args["loss_ref"]


@functools.cache
def _stats_fn(with_matrix: bool, with_kernel: bool, padded: bool = False):
    """The saved statistics; ``padded``: on bucket shapes (sims/buckets.py), with the test RMSE
    over the real hidden entries (pads count as observed: their error is 0 and they are not
    counted) and the kernel rows of padded observed entries zeroed (they enter neither the
    cross coupling's maximum nor the diagonal's)."""

    def stats(t, y, args):
        fs = list(y)
        W = T.product(fs)
        sig = jnp.linalg.svd(W, compute_uv=False)
        R = args["mask"] * (W - args["target"])
        seen = args["mask"]
        if padded:
            seen = jnp.where(args["region"][0], args["mask"], 1.0)
        if padded:
            # M.balancedness_residual over the pairs of real layers (frozen identity layers
            # appended by the depth bucket are left out)
            D, D0 = M.balancedness(fs), M.balancedness(list(args["y0"]))
            vals = jnp.stack(
                [jnp.sqrt(jnp.sum((d - d0) ** 2)) for d, d0 in zip(D, D0, strict=True)]
            )
            drift = jnp.max(jnp.where(args["pairs"], vals, 0.0))
        else:
            drift = M.balancedness_residual(fs, list(args["y0"]))
        out = {
            "singular_values": sig,
            "loss": 0.5 * jnp.sum(R * R),
            "balancedness_drift": drift,
            "test_rmse": M.test_rmse(W, seen, args["target"]),
        }
        if with_matrix:
            out["matrix"] = W
        if with_kernel:
            K = T.tangent_kernel(fs, args["rows"], args["cols"], args.get("layers"))
            if padded:
                K = jnp.where(args["valid"][:, None] & args["valid"][None, :], K, 0.0)
            out["coupling"] = M.cross_coupling(K, args["groups"])
            out["kernel_scale"] = jnp.max(jnp.abs(jnp.diagonal(K)))
        return out

    return stats


def _gradient(fs, args):
    """∇ of the normalised loss: −scale · the flow field."""
    g = T.gradient_field(list(fs), args["mask"], args["target"])
    return tuple(-args["scale"] * x for x in g)


def save_grid(horizon: float, n_save: int, grid: str) -> np.ndarray:
    """Save times on [0, horizon]: linear, or 0 followed by a geometric grid from horizon·1e-9.

    Args:
      horizon: the last save time.
      n_save: the number of save times (≥ 2).
      grid: ``"linear"``, or anything else for the geometric grid.

    Returns:
      (n_save,) increasing times, the first 0 and the last ``horizon``.
    """
    if grid == "linear":
        return np.linspace(0.0, horizon, n_save)
    return np.concatenate([[0.0], np.geomspace(horizon * 1e-9, horizon, n_save - 1)])


def _args(config: DMFConfig, factors, mask, target):
    rows, cols = T.observed_indices(mask)
    groups = T.observation_groups(mask)
    scale = T.normalisation_factor(config.normalisation, mask)
    loss_ref = max(0.5 * float(np.sum((mask * target) ** 2)), 1e-300)
    # put on the device as NumPy values: jnp.asarray would compile a conversion program each
    args = {
        "mask": B.put(mask),
        "target": B.put(target),
        "scale": B.put(scale),
        "loss_ref": B.put(loss_ref),
        "y0": tuple(B.put(f) for f in factors),
    }
    if config.coupling:
        args.update(rows=B.put(rows), cols=B.put(cols), groups=B.put(groups))
    return args


def stop_tolerance(config: DMFConfig, mask, target) -> float:
    """The monitor's threshold: ``converge_tol`` on ½Σ_Ω R² / ½Σ_Ω W*², or ``stop_loss`` (in the
    config's normalisation) translated to that relative scale.

    Args:
      config: the run's config (``converge_tol``, ``stop_loss``, ``normalisation``).
      mask (numpy.ndarray): the (n, n) 0/1 observation mask Ω.
      target (numpy.ndarray): the (n, n) target W*.

    Returns:
      The threshold on the relative loss that the solve's monitor compares with.
    """
    if config.stop_loss is None:
        return config.converge_tol
    c = T.normalisation_factor(config.normalisation, mask)
    loss_ref = max(0.5 * float(np.sum((mask * target) ** 2)), 1e-300)
    return config.stop_loss / (c * loss_ref)


def flow_parts(config: DMFConfig, factors, mask, target):
    """What the engine integrates for ``config`` from ``factors``: ``(field, stats, monitor, args)``
    with ``field(t, y, args)`` the gradient flow of docs/theory.md §2.1 on the factor tuple ``y``,
    ``stats``/``monitor`` what is saved and stopped on; for other integrators of the same problem
    (benchmarks/bench.py's hybrid solver).

    Args:
      config: a continuous-method config.
      factors (list): the L initial (n, n) factors.
      mask (numpy.ndarray): the (n, n) 0/1 observation mask Ω.
      target (numpy.ndarray): the (n, n) target W*.

    Returns:
      parts (tuple): ``(field, stats, monitor, args)`` as :func:`gflab.sims.engine.solve_flow`
        takes them.
    """
    stats = _stats_fn(config.n <= MATRIX_SAVE_MAX_N, config.coupling)
    return _field, stats, _monitor, _args(config, factors, mask, target)


def _padded_parts(config: DMFConfig, factors, mask, target):
    """``flow_parts`` on bucket shapes: n → N = bucket(n) and |Ω| → bucket(|Ω|) (coupling),
    factors, mask and target zero outside the real block (sims/buckets.py proves the solve
    equal to the unpadded one). Returns (field, gradient, stats, args, y0, method, n)."""
    n = int(np.shape(mask)[0])
    N = B.bucket(n)
    L = len(factors)
    Lp = B.depth_bucket(L)
    args = _args(config, factors, mask, target)  # scale, loss_ref and Ω from the real problem
    pad = lambda a: B.put(B.pad_to(a, (N, N)))
    region = B.put(B.region_mask((n, n), (N, N)))
    frozen = B.put(np.zeros((N, N), bool))
    # depth bucket: Lp − L identity factors after W_L (W = I⋯I W_L⋯W_1 exactly), frozen by the
    # masked field (their region is empty), so every real layer's field is unchanged
    eye = B.put(np.eye(N))
    args.update(
        mask=pad(mask),
        target=pad(target),
        y0=tuple(pad(f) for f in factors) + (eye,) * (Lp - L),
        region=(region,) * L + (frozen,) * (Lp - L),
        layers=B.put(np.arange(Lp) < L),
        pairs=B.put(np.arange(Lp - 1) < L - 1),
    )
    if config.coupling:
        k = int(np.size(args["rows"]))
        K = B.bucket(k)
        idx = lambda a: B.put(np.concatenate([np.asarray(a), np.zeros(K - k, int)]))
        groups = np.concatenate([np.asarray(args["groups"]), np.full(K - k, -1)])
        args.update(
            rows=idx(args["rows"]),
            cols=idx(args["cols"]),
            groups=B.put(groups),
            valid=B.put(np.arange(K) < k),
        )
    stats = _stats_fn(n <= MATRIX_SAVE_MAX_N, config.coupling, True)
    real = [(n, n)] * L + [(0, 0)] * (Lp - L)
    method = B.padded_method(config.method, real, [(N, N)] * Lp)
    field, gradient = B.masked_field(_field), B.masked_gradient(_gradient)
    return field, gradient, stats, args, args["y0"], method, n


def _unpad(raw: RawSolve, n: int, depth: int) -> RawSolve:
    """The real layers and blocks of a padded solve's final state and saved statistics."""
    if raw.final_state is not None:
        raw.final_state = tuple(B.unpad(f, (n, n)) for f in raw.final_state[:depth])
    if "singular_values" in raw.saved:
        raw.saved["singular_values"] = B.unpad(raw.saved["singular_values"], (n,))
    if "matrix" in raw.saved:
        raw.saved["matrix"] = B.unpad(raw.saved["matrix"], (n, n))
    return raw


def solve_dmf_from(
    config: DMFConfig, factors, mask, target, *, buckets: bool | None = None
) -> RawSolve:
    """Integrate (or iterate) from given factors; the config supplies everything else.

    Args:
      factors: L (n, n) initial factors; mask, target: (n, n).
      buckets: solve on bucket shapes (sims/buckets.py; the same result, fewer compiled
        programs); default: on unless ``GFLAB_BUCKETS=0``.
    Returns:
      The engine's :class:`RawSolve` (``extra["factors0"]`` holds the start).
    """
    n = None
    square = {np.shape(mask), np.shape(target)} | {np.shape(f) for f in factors}
    if (
        B.use_buckets(buckets)
        and B.paddable(config.method)
        and len(square) == 1
        and len(set(np.shape(mask))) == 1  # n×n throughout (rectangular factors: real shapes)
    ):
        field, gradient, stats, args, y0, method, n = _padded_parts(config, factors, mask, target)
        monitor = _monitor
    else:
        field, stats, monitor, args = flow_parts(config, factors, mask, target)
        gradient, method = _gradient, config.method
        y0 = tuple(B.put(f) for f in factors)
    tol = stop_tolerance(config, mask, target)
    if config.method.discrete:
        raw = iterate_config(config, gradient, stats, monitor, y0, args, tol, method=method)
    else:
        grid = config.grid or ("linear" if config.t1 is not None else "log")
        ts = save_grid(config.horizon, config.n_save, grid)
        # a fixed horizon runs to t1 unless a stop loss was asked for
        if config.t1 is not None and config.stop_loss is None:
            tol = 0.0
        raw = solve_flow(
            field,
            stats,
            monitor,
            y0,
            args,
            t1=config.horizon,
            save_ts=ts,
            method=method,
            tol=tol,
            blowup=1e12,
        )
    if n is not None:
        raw = _unpad(raw, n, len(factors))
    # the start the invariant's drift is measured from (not necessarily the config's own init:
    # a resumed phase starts from pretrained factors)
    raw.extra["factors0"] = [np.asarray(f) for f in factors]
    return raw


def simulate_dmf(config: DMFConfig) -> SimResult:
    """Run one deep-matrix-completion configuration and measure it (docs/theory.md §2.1).

    Args:
      config: the run's config.

    Returns:
      The result of :func:`package_dmf`.
    """
    factors, mask, target = dmf_problem(config)
    raw = solve_dmf_from(config, factors, mask, target)
    return package_dmf(config, raw, mask, target)


def _start(config: DMFConfig, raw: RawSolve):
    f0 = raw.extra.get("factors0")
    return list(f0) if f0 is not None else list(dmf_problem(config)[0])


def package_dmf(config: DMFConfig, raw: RawSolve, mask, target) -> SimResult:
    """A DMF solve as a :class:`gflab.sims.result.SimResult`: the saved series, and measured at the
    final state W = W_L ⋯ W_1 its singular values, stable and effective rank, the loss (plain
    and in the run's normalisation), the test RMSE off Ω, the balancedness drift from the start
    (docs/theory.md §2.1) and, for n ≤ 64, W itself.

    Args:
      config: the run's config.
      raw: the solve.
      mask (numpy.ndarray): the (n, n) 0/1 observation mask Ω.
      target (numpy.ndarray): the (n, n) target W*.

    Returns:
      The result; a discrete run that stops at ``stop_loss`` and used up the default step cap
      is reported as ``max_steps`` with a message.
    """
    final = {}
    state = None
    if raw.final_state is not None:
        state = [np.asarray(f) for f in raw.final_state]
        W = np.asarray(T.product(state))
        sig = np.linalg.svd(W, compute_uv=False)
        R = mask * (W - target)
        c = T.normalisation_factor(config.normalisation, mask)
        final = {
            "singular_values": sig,
            "stable_rank": float(M.stable_rank(W, sigma=sig)),
            "effective_rank": float(M.effective_rank(W, sigma=sig)),
            "loss": float(0.5 * np.sum(R * R)),
            # the loss in the run's own normalisation (what stop_loss is compared with)
            "normalised_loss": float(c * 0.5 * np.sum(R * R)),
            "test_rmse": float(M.test_rmse(W, mask, target)),
            "balancedness_drift": float(M.balancedness_residual(state, _start(config, raw))),
            "time": raw.final_time,
        }
        if W.shape[0] <= 64:
            final["matrix"] = W
    series = dict(raw.saved)
    status, message = raw.status, raw.message
    if config.method.discrete and config.steps is None and status == "t1_reached":
        status = "max_steps"
        message = (
            f"the loss did not fall to stop_loss {config.stop_loss:g} within the default cap of"
            f" {config.step_budget} steps (--steps sets another budget)"
        )
    return SimResult(
        config=config.to_dict(),
        times=raw.times,
        series=series,
        final=final,
        status=status,
        stats={**raw.solver_stats(config.method), "loss_normalisation": config.normalisation},
        final_state=state,
        message=message,
        time_unit="k" if config.method.discrete else "t",
    )
