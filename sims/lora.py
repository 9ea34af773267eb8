"""Running LoRA-style factorisation (docs/theory.md §2.2): GF / SpecGF flows and GD, SpecGD, Muon steps."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from gflab.sims import buckets as B
from gflab.sims import methods as _methods
from gflab.sims.config import LoRAConfig, load_factors
from gflab.sims.engine import RawSolve, iterate_config, solve_flow
from gflab.sims.result import SimResult
from gflab.sims.terms import PolarFlow, SpecGF, term_field
from gflab.theory import closed_forms as CF
from gflab.theory import lora as T
from gflab.theory import measures as M

__all__ = [
    "flow_parts",
    "lora_problem",
    "simulate_lora",
    "solve_lora_from",
    "product_singular_values",
    "shape_scale",
    "newton_schulz_lowp",
]

# re-exported: the Muon pieces live with the methods now
shape_scale = _methods.shape_scale
newton_schulz_lowp = _methods.newton_schulz_lowp


def lora_problem(config: LoRAConfig):
    """(A0, B0, Y, U, V) as NumPy float64 arrays; U, V hold Y's singular vectors in target order;
    A0, B0 from the config's ``init_file`` when it names one (docs/theory.md §2.2).

    Args:
      config: the run's config (shapes, ``target_svals``, ``aligned``, ``init``, ``gamma``,
        ``seed``).

    Returns:
      problem (tuple): A0 (rows, rank), B0 (rank, cols), the target Y (rows, cols), and U
        (rows, k), V (cols, k) its singular vectors, k = len(target_svals).
    """
    Y, U, V = T.spectral_target(
        config.rows,
        config.cols,
        config.target_svals,
        None if config.aligned else config.seed + 104729,
    )
    if config.init_file is not None:
        A0, B0 = load_factors("init_file", config.init_file, config.factor_shapes())
    else:
        A0, B0 = T.make_init(
            config.init, config.rows, config.cols, config.rank, config.gamma, config.seed
        )
    return A0, B0, Y, U, V


def product_singular_values(A, B):
    """σ(AB) from the r×r core of two QR factorisations (never forms the big product's SVD).

    Args:
      A (jax.Array): (m, r).
      B (jax.Array): (r, n).

    Returns:
      sigma (jax.Array): the r singular values of AB, descending.
    """
    xp = jnp
    _, Ra = xp.linalg.qr(A)
    _, Rb = xp.linalg.qr(xp.transpose(B))
    return xp.linalg.svd(Ra @ xp.transpose(Rb), compute_uv=False)


# ----------------------------------------------------------------------------- fields


def _padded_term_field(t, y, args):
    """The config's term on bucket shapes (sims/buckets.py): T_β with each Gram matrix's pad block
    shifted apart, the polar factor thresholded at the real shapes' rank tolerance, and GF as is."""
    term = args["term"]
    gA, gB = T.gradients(y[0], y[1], args["Y"], args["l2"])
    if isinstance(term, SpecGF):
        dA = T.smoothed_polar(gA, term.beta, real=args["real_A"])
        return -dA, -T.smoothed_polar(gB, term.beta, real=args["real_B"])
    if isinstance(term, PolarFlow):
        return -T.polar(gA, rtol=args["rtol_A"]), -T.polar(gB, rtol=args["rtol_B"])
    return -term.direction(gA), -term.direction(gB)


def _loss(A, B, args):
    E = A @ B - args["Y"]
    return 0.5 * jnp.sum(E * E) + 0.5 * args["l2"] * (jnp.sum(A * A) + jnp.sum(B * B))


def _monitor(y, args):
    return (_loss(y[0], y[1], args) - args["loss_min"]) / args["loss_ref"]


def _stats(t, y, args):
    A, B = y
    P = A @ B
    return {
        "singular_values": product_singular_values(A, B),
        "proxies": jnp.sum(args["U"] * (P @ args["V"]), axis=0),
        "loss": _loss(A, B, args),
        "balancedness_drift": M.balancedness_residual([B, A], [args["B0"], args["A0"]]),
    }


@functools.cache
def _stats_with_rates(field):
    """``_stats`` plus ``proxy_rates``: ḋ_i = u_iᵀ(ȦB + AḂ)v_i evaluated from the vector field
    itself (exact, no finite differences), so d/dt √d_i = ḋ_i / (2√d_i) can be measured."""

    def stats(t, y, args):
        out = _stats(t, y, args)
        A, B = y
        dA, dB = field(t, y, args)
        Pdot = dA @ B + A @ dB
        out["proxy_rates"] = jnp.sum(args["U"] * (Pdot @ args["V"]), axis=0)
        return out

    return stats


# ----------------------------------------------------------------------------- discrete steps


def _gradient(params, args):
    """(∇_A, ∇_B) of ℒ_λ: what the discrete methods of :mod:`gflab.sims.methods` step on."""
    return T.gradients(params[0], params[1], args["Y"], args["l2"])


# ----------------------------------------------------------------------------- driver


def _args(config: LoRAConfig, A0, B0, Y, U, V):
    loss_min = CF.lora_min_loss(config.target_svals, config.rank, config.l2)
    loss_ref = max(0.5 * float(np.sum(np.asarray(config.target_svals) ** 2)), 1e-300)
    return {
        # put on the device as NumPy values: jnp.asarray would compile a conversion program each
        "Y": B.put(Y),
        "U": B.put(U),
        "V": B.put(V),
        "A0": B.put(A0),
        "B0": B.put(B0),
        "l2": B.put(config.l2),
        "term": config.term,  # the flow's term (β is its leaf): read by terms.term_field
        "loss_min": B.put(loss_min),
        "loss_ref": B.put(loss_ref),
    }


def flow_parts(config: LoRAConfig, A0, B0, Y, U, V, *, rates: bool = False):
    """What the engine integrates for a continuous ``config``: ``(field, stats, monitor, args)``,
    ``field(t, (A, B), args)`` its flow (the config's term, :mod:`gflab.sims.terms`, in
    ``args["term"]``: GF, SpecGF or the polar flow), ``stats`` with
    ``proxy_rates`` if ``rates``; for other integrators of the same problem (benchmarks/bench.py).

    Args:
      config: a continuous-method config.
      A0 (numpy.ndarray): (rows, rank) initial factor.
      B0 (numpy.ndarray): (rank, cols) initial factor.
      Y (numpy.ndarray): the target.
      U (numpy.ndarray): the target's left singular vectors (the proxies' directions).
      V (numpy.ndarray): its right singular vectors.
      rates: add the proxies' rates of change to the saved stats.

    Returns:
      parts (tuple): ``(field, stats, monitor, args)`` as :func:`gflab.sims.engine.solve_flow`
        takes them.
    """
    field = term_field
    stats = _stats_with_rates(field) if rates else _stats
    return field, stats, _monitor, _args(config, A0, B0, Y, U, V)


def _solve_padded(config: LoRAConfig, A0, B0, Y, U, V, rates: bool) -> RawSolve:
    """:func:`solve_lora_from` on bucket shapes (rows, cols, rank and the number k of target
    singular vectors each padded to :func:`gflab.sims.buckets.bucket`); sims/buckets.py proves
    the solve equal to the unpadded one. Returns the RawSolve sliced back to the real shapes."""
    m, r = np.shape(A0)
    n = np.shape(B0)[1]
    k = np.shape(U)[1]
    M, R, N, K = B.bucket(m), B.bucket(r), B.bucket(n), B.bucket(k)
    args = _args(config, A0, B0, Y, U, V)  # loss_min, loss_ref from the real problem
    pad = lambda a, shape: B.put(B.pad_to(a, shape))
    rows_m, rank_r, cols_n = (np.arange(P) < p for P, p in ((M, m), (R, r), (N, n)))
    args.update(
        Y=pad(Y, (M, N)),
        U=pad(U, (M, K)),
        V=pad(V, (N, K)),
        A0=pad(A0, (M, R)),
        B0=pad(B0, (R, N)),
        region=(
            B.put(B.region_mask((m, r), (M, R))),
            B.put(B.region_mask((r, n), (R, N))),
        ),
        real_A=(B.put(rows_m), B.put(rank_r)),
        real_B=(B.put(rank_r), B.put(cols_n)),
        rtol_A=B.put(T.polar_rank_rtol((m, r))),
        rtol_B=B.put(T.polar_rank_rtol((r, n))),
    )
    y0 = (args["A0"], args["B0"])
    method = B.padded_method(config.method, [(m, r), (r, n)], [(M, R), (R, N)])
    if not config.method.discrete:
        field = B.masked_field(_padded_term_field)
        stats = _stats_with_rates(field) if rates else _stats
        raw = _solve_to_t1(config, field, stats, _monitor, y0, args, method)
    else:
        gradient = B.masked_gradient(_gradient)
        raw = iterate_config(
            config, gradient, _stats, _monitor, y0, args, config.converge_tol, method=method
        )
    if raw.final_state is not None:
        A, Bf = raw.final_state
        raw.final_state = (B.unpad(A, (m, r)), B.unpad(Bf, (r, n)))
    for key, size in (("singular_values", r), ("proxies", k), ("proxy_rates", k)):
        if key in raw.saved:
            raw.saved[key] = B.unpad(raw.saved[key], (size,))
    return raw


def _solve_to_t1(config: LoRAConfig, field, stats, monitor, y0, args, method) -> RawSolve:
    """The flow of a continuous ``method`` to ``config.t1`` (``n_save`` points, stopping early at
    ``converge_tol``), padded or not."""
    ts = np.linspace(0.0, config.t1, config.n_save)
    return solve_flow(
        field,
        stats,
        monitor,
        y0,
        args,
        t1=config.t1,
        save_ts=ts,
        method=method,
        tol=config.converge_tol,
        blowup=1e12,
    )


def solve_lora_from(
    config: LoRAConfig,
    A0,
    B0,
    Y,
    U,
    V,
    *,
    rates: bool = False,
    buckets: bool | None = None,
) -> RawSolve:
    """Run ``config`` from the given initial factors and target (Y = U diag(s) Vᵀ).

    ``rates=True`` (continuous methods only) also saves ``proxy_rates`` = ḋ_i from the field.

    Args:
      A0: (rows, rank); B0: (rank, cols); Y: (rows, cols); U: (rows, k); V: (cols, k), k the
        number of target singular values.
      buckets: solve on bucket shapes (sims/buckets.py; the same result, fewer compiled
        programs); default: on unless ``GFLAB_BUCKETS=0``.
    Returns:
      The engine's :class:`RawSolve`.
    """
    if B.use_buckets(buckets) and B.paddable(config.method):
        return _solve_padded(config, A0, B0, Y, U, V, rates)
    y0 = (B.put(A0), B.put(B0))
    if not config.method.discrete:
        field, stats, monitor, args = flow_parts(config, A0, B0, Y, U, V, rates=rates)
        return _solve_to_t1(config, field, stats, monitor, y0, args, config.method)
    args = _args(config, A0, B0, Y, U, V)
    return iterate_config(config, _gradient, _stats, _monitor, y0, args, config.converge_tol)


def simulate_lora(config: LoRAConfig) -> SimResult:
    """Run one LoRA configuration and measure it (docs/theory.md §2.2).

    Args:
      config: the run's config.

    Returns:
      The saved series (singular values of AB, the proxies, the loss), final measurements
      (singular values, stable and effective rank, loss and its gap to the minimum), status
      and solver stats.
    """
    A0, B0, Y, U, V = lora_problem(config)
    raw = solve_lora_from(config, A0, B0, Y, U, V)
    return _package_lora(config, raw, Y, U, V)


def _package_lora(config: LoRAConfig, raw: RawSolve, Y, U, V) -> SimResult:
    final = {}
    state = None
    if raw.final_state is not None:
        A, B = (np.asarray(x) for x in raw.final_state)
        state = [A, B]
        P = A @ B
        sig = np.linalg.svd(P, compute_uv=False)
        final = {
            "singular_values": sig[: config.rank],
            "stable_rank": float(M.stable_rank(P, sigma=sig)),
            "effective_rank": float(M.effective_rank(P, sigma=sig[: config.rank])),
            "loss": float(T.loss(A, B, Y, config.l2)),
            "loss_gap": float(
                T.loss(A, B, Y, config.l2)
                - CF.lora_min_loss(config.target_svals, config.rank, config.l2)
            ),
            "proxies": np.asarray(M.proxies(P, U, V)),
            "balance": float(np.linalg.norm(A.T @ A - B @ B.T)),
            "time": raw.final_time,
        }
        if P.shape[0] <= 64:
            final["matrix"] = P
    discrete = config.method.discrete
    return SimResult(
        config=config.to_dict(),
        times=raw.times,
        series=dict(raw.saved),
        final=final,
        status=raw.status,
        stats=raw.solver_stats(config.method),
        final_state=state,
        message=raw.message,
        time_unit="k" if discrete else "t",
    )
