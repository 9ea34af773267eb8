"""Running LoRA-style factorisation (DESIGN §2.2): GF / SpecGF flows and GD, SpecGD, Muon steps."""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np

from sims.config import LoRAConfig
from sims.engine import RawSolve, iterate, solve_flow
from sims.lowp import newton_schulz_torch_bf16
from sims.result import SimResult
from theory import closed_forms as CF
from theory import lora as T
from theory import measures as M

__all__ = [
    "lora_problem",
    "simulate_lora",
    "solve_lora_from",
    "product_singular_values",
    "shape_scale",
    "newton_schulz_lowp",
]


def lora_problem(config: LoRAConfig):
    """(A0, B0, Y, U, V) as NumPy float64 arrays; U, V hold Y's singular vectors in target order."""
    Y, U, V = T.spectral_target(
        config.rows,
        config.cols,
        config.target_svals,
        None if config.aligned else config.seed + 104729,
    )
    A0, B0 = T.make_init(
        config.init, config.rows, config.cols, config.rank, config.gamma, config.seed
    )
    return A0, B0, Y, U, V


def product_singular_values(A, B):
    """σ(AB) from the r×r core of two QR factorisations (never forms the big product's SVD)."""
    xp = jnp
    _, Ra = xp.linalg.qr(A)
    _, Rb = xp.linalg.qr(xp.transpose(B))
    return xp.linalg.svd(Ra @ xp.transpose(Rb), compute_uv=False)


# ----------------------------------------------------------------------------- fields


def _gf_field(t, y, args):
    return T.gradient_flow_field(y[0], y[1], args["Y"], args["l2"])


def _specgf_field(t, y, args):
    gA, gB = T.gradients(y[0], y[1], args["Y"], args["l2"])
    return -T.smoothed_polar(gA, args["beta"]), -T.smoothed_polar(gB, args["beta"])


def _polar_field(t, y, args):
    gA, gB = T.gradients(y[0], y[1], args["Y"], args["l2"])
    return -T.polar(gA), -T.polar(gB)


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


def _field_for(config: LoRAConfig):
    kind = config.method_kind
    if config.flow == "gf":
        return _gf_field
    if kind == "euler" and (config.beta or 0.0) == 0.0:
        return _polar_field
    return _specgf_field


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


def _ns(G, dtype, steps):
    if jnp.dtype(dtype).itemsize < 4:
        return newton_schulz_lowp(G, dtype, steps).astype(G.dtype)
    return T.newton_schulz(G.astype(dtype), steps=steps).astype(G.dtype)


def newton_schulz_lowp(G, dtype=jnp.bfloat16, steps: int = 5, eps: float = 1e-7):
    """Newton–Schulz in a 16-bit storage dtype exactly as torch.optim.Muon runs it on bfloat16
    (bit for bit: bf16-rounded Frobenius norm, float32 products summed in torch's order; see
    :mod:`sims.lowp`)."""
    return newton_schulz_torch_bf16(G, steps=steps, eps=eps, dtype=dtype)


def _gd_step(state, args):
    (A, B), extra = state
    gA, gB = T.gradients(A, B, args["Y"], args["l2"])
    return (A - args["lr"] * gA, B - args["lr"] * gB), extra


def _specgd_step(state, args):
    (A, B), extra = state
    gA, gB = T.gradients(A, B, args["Y"], args["l2"])
    return (A - args["lr"] * T.polar(gA), B - args["lr"] * T.polar(gB)), extra


def _specgd_smooth_step(state, args):
    (A, B), extra = state
    gA, gB = T.gradients(A, B, args["Y"], args["l2"])
    b = args["beta"]
    return (
        A - args["lr"] * T.smoothed_polar(gA, b),
        B - args["lr"] * T.smoothed_polar(gB, b),
    ), extra


@functools.cache
def _ns_step(dtype: str, steps: int):
    dt = jnp.dtype(dtype)

    def step(state, args):
        (A, B), extra = state
        gA, gB = T.gradients(A, B, args["Y"], args["l2"])
        return (A - args["lr"] * _ns(gA, dt, steps), B - args["lr"] * _ns(gB, dt, steps)), extra

    return step


@functools.cache
def _muon_step(dtype: str, steps: int, nesterov: bool):
    """Muon, EMA form as in torch.optim.Muon: buf ← μ buf + (1−μ) g; update = lerp(g, buf, μ)
    with Nesterov (else buf); W ← W − η · scale · NS(update)."""
    dt = jnp.dtype(dtype)

    def step(state, args):
        (A, B), extra = state
        gA, gB = T.gradients(A, B, args["Y"], args["l2"])
        mu = args["momentum"]
        bA = mu * extra["bufA"] + (1 - mu) * gA
        bB = mu * extra["bufB"] + (1 - mu) * gB
        uA = gA + mu * (bA - gA) if nesterov else bA
        uB = gB + mu * (bB - gB) if nesterov else bB
        A = A - args["lr"] * args["scaleA"] * _ns(uA, dt, steps)
        B = B - args["lr"] * args["scaleB"] * _ns(uB, dt, steps)
        return (A, B), {"bufA": bA, "bufB": bB}

    return step


def shape_scale(kind: str, rows: int, cols: int) -> float:
    """Muon's learning-rate adjustment for a rows×cols matrix (torch's ``adjust_lr_fn``)."""
    if kind == "original":
        return math.sqrt(max(1.0, rows / cols))
    if kind == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


# ----------------------------------------------------------------------------- driver


def _args(config: LoRAConfig, A0, B0, Y, U, V):
    loss_min = CF.lora_min_loss(config.target_svals, config.rank, config.l2)
    loss_ref = max(0.5 * float(np.sum(np.asarray(config.target_svals) ** 2)), 1e-300)
    return {
        "Y": jnp.asarray(Y),
        "U": jnp.asarray(U),
        "V": jnp.asarray(V),
        "A0": jnp.asarray(A0),
        "B0": jnp.asarray(B0),
        "l2": jnp.asarray(config.l2),
        "beta": jnp.asarray(config.beta or 0.0),
        "loss_min": jnp.asarray(loss_min),
        "loss_ref": jnp.asarray(loss_ref),
    }


def solve_lora_from(config: LoRAConfig, A0, B0, Y, U, V, *, rates: bool = False) -> RawSolve:
    """Run ``config`` from the given initial factors and target (Y = U diag(s) Vᵀ).

    ``rates=True`` (continuous methods only) also saves ``proxy_rates`` = ḋ_i from the field.
    """
    args = _args(config, A0, B0, Y, U, V)
    y0 = (jnp.asarray(A0), jnp.asarray(B0))
    kind, value = config.method_kind, config.method_value
    if kind in ("adaptive", "euler"):
        field = _field_for(config)
        ts = np.linspace(0.0, config.t1, config.n_save)
        return solve_flow(
            field,
            _stats_with_rates(field) if rates else _stats,
            _monitor,
            y0,
            args,
            t1=config.t1,
            save_ts=ts,
            rtol=config.rtol,
            atol=config.atol,
            dt=value if kind == "euler" else None,
            tol=config.converge_tol,
            blowup=1e12,
            max_steps=config.max_steps,
        )
    args["lr"] = jnp.asarray(value)
    extra: dict = {}
    if kind == "gd":
        step = _gd_step
    elif kind == "specgd":
        step = _specgd_step
    elif kind == "specgd-smooth":
        step = _specgd_smooth_step
    elif kind == "ns":
        step = _ns_step(config.ns_dtype, config.ns_steps)
    else:
        step = _muon_step(config.ns_dtype, config.ns_steps, config.nesterov)
        extra = {"bufA": jnp.zeros_like(y0[0]), "bufB": jnp.zeros_like(y0[1])}
        args["momentum"] = jnp.asarray(config.momentum)
        args["scaleA"] = jnp.asarray(shape_scale(config.shape_scale, config.rows, config.rank))
        args["scaleB"] = jnp.asarray(shape_scale(config.shape_scale, config.rank, config.cols))
    every = max(1, config.steps // (config.n_save - 1))
    return iterate(
        step,
        _discrete_stats,
        _monitor,
        (y0, extra),
        args,
        steps=config.steps,
        save_every=every,
        tol=config.converge_tol,
        blowup=1e12,
    )


def _discrete_stats(k, y, args):
    return _stats(k, y, args)


def simulate_lora(config: LoRAConfig) -> SimResult:
    """Run one LoRA configuration and measure it."""
    A0, B0, Y, U, V = lora_problem(config)
    raw = solve_lora_from(config, A0, B0, Y, U, V)
    return package_lora(config, raw, Y, U, V)


def package_lora(config: LoRAConfig, raw: RawSolve, Y, U, V) -> SimResult:
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
    discrete = config.method_kind not in ("adaptive", "euler")
    solver = {"adaptive": "tsit5+pid", "euler": "euler"}.get(config.method_kind, config.method_kind)
    return SimResult(
        config=config.to_dict(),
        times=raw.times,
        series=dict(raw.saved),
        final=final,
        status=raw.status,
        stats={
            "solver": solver,
            "steps": raw.steps,
            "rejected_steps": raw.rejected_steps,
            "wall_seconds": raw.wall_seconds,
            "compile_seconds": raw.compile_seconds,
        },
        final_state=state,
        message=raw.message,
        time_unit="k" if discrete else "t",
    )
