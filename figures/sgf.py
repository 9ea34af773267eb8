"""Figures for [SGF] (DESIGN §2.2): equal-rate growth under SpecGF / SpecGD / Muon vs the
gradient-flow staircase, arrival times, the effect of β and γ, the ℓ2 limit, and the init.

Every simulation goes through ``ctx.run`` (the result store); measurements reuse
:mod:`proofs_checks.sgf` (arrivals interpolated in √d or logit(d/s), ε over the window W_i).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from figures import style
from figures.registry import register
from proofs_checks import sgf as P
from sims import LoRAConfig, simulate_lora
from sims.lora import lora_problem
from theory import closed_forms as CF
from theory import lora as T

S5 = (1.0, 2.0, 4.0, 8.0, 16.0)
BIG = dict(rows=60, cols=70, rank=5, target_svals=S5, gamma=1e-3, init="lora")


def _seeds(ctx, n=3):
    return tuple(range(2 if ctx.fast else n))


def _gf_pred(cfg: LoRAConfig) -> np.ndarray:
    _, B0, _, _, V = lora_problem(cfg)
    s = np.asarray(cfg.target_svals)
    return T.lora_mode_arrival_time(s, T.lora_mode_b0(B0, V, s), P.FRACTION)


@register(
    "sgf_equal_rate",
    title="√d_i(t): SpecGF's parallel unit-slope lines vs the gradient-flow staircase",
    paper="SGF",
)
def equal_rate(ctx):
    """√d_i and σ_i(AB) over flow time, s = (1, 2, 4, 8, 16), 60×70, r = 5, γ = 1e-3, LoRA init.

    SpecGF (β = 1e-6): every mode grows at unit rate (dashed: √d = t) and arrives at √s_i (marks);
    gradient flow: largest first, arrivals predicted by the exact LoRA-init mode solution.
    """
    style.apply()
    n_save = 160 if ctx.fast else 400
    spec = LoRAConfig(**BIG, flow="specgf", beta=1e-6, t1=5.0, n_save=n_save)
    gf = LoRAConfig(**BIG, flow="gf", t1=10.0, n_save=n_save)
    rs, rg = ctx.run(spec, simulate_lora), ctx.run(gf, simulate_lora)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True)
    s = np.asarray(S5)
    for ax, res, cfg, name in (
        (axes[0], rs, spec, "SpecGF, β = 1e-6"),
        (axes[1], rg, gf, "gradient flow"),
    ):
        t = res.times
        d = np.clip(res.series["proxies"], 0, None)
        sig = res.series["singular_values"]
        for i in range(len(s)):
            c = style.PALETTE[i]
            ax.plot(t, np.sqrt(d[:, i]), color=c, label=f"√d_{i + 1}, s = {s[i]:g}")
            ax.plot(t, np.sqrt(sig[:, len(s) - 1 - i]), color=c, ls=":", lw=1.2)
            ax.axhline(math.sqrt(s[i]), color=c, lw=0.6, alpha=0.4)
        if cfg.flow == "specgf":
            ax.plot(t, t, "k--", lw=1, label="unit slope √d = t")
            pred = CF.specgf_arrival_time(s)
            ax.plot(pred, np.sqrt(s), "kv", ms=6, label="predicted arrival t = √s_i")
        else:
            pred = _gf_pred(cfg)
            ax.plot(pred, np.sqrt(0.5 * s), "kv", ms=6, label="predicted d = s/2 (exact mode law)")
        ax.set_title(name)
        ax.set_xlabel("flow time t")
        ax.set_ylim(0, 4.4)
    axes[0].set_xlim(0, 5)
    axes[0].set_ylabel("√d_i (solid), √σ_i(AB) (dotted)")
    axes[0].plot([], [], "k:", lw=1.2, label="√σ_i(AB)")
    axes[0].legend(loc="upper left", fontsize=7.5)
    axes[1].legend(loc="center right", fontsize=7.5, framealpha=0.95)
    style.footer(
        fig,
        "60×70, r = 5, LoRA init A(0) = 0, B(0) = 1e-3·N(0,1), seed 0, random target "
        "singular vectors; Tsit5 + PID rtol 1e-8; GF prediction: ḋ = √(4d² + b⁴)(s − d) with "
        "b = Gram–Schmidt of B(0)v_i in decreasing s",
    )
    fig.tight_layout()
    return fig, {"seeds": [0], "svals": list(S5)}


@register(
    "sgf_arrivals",
    title="Arrival time vs target singular value: SpecGF/SpecGD/Muon vs gradient flow",
    paper="SGF",
)
def arrivals_vs_s(ctx):
    """Time for d_i to reach s_i/2 against s_i (log–log): SpecGF (flow time), SpecGD and Muon (kη),
    gradient flow; predictions √(s/2) and the logistic law; median over seeds with min–max bands."""
    style.apply()
    seeds = _seeds(ctx)
    s = np.asarray(S5)
    lr = 0.01
    steps = 650
    n_save = 160 if ctx.fast else 400
    runs = {
        "SpecGF (β = 1e-6)": lambda sd: LoRAConfig(
            **BIG, flow="specgf", beta=1e-6, t1=5.0, n_save=n_save, seed=sd
        ),
        "SpecGD (η = 0.01), kη": lambda sd: LoRAConfig(
            **BIG, flow="specgf", method=f"specgd:{lr}", steps=steps, n_save=131, seed=sd
        ),
        "Muon (η = 0.01, μ = 0.95, Nesterov), kη": lambda sd: LoRAConfig(
            **BIG, flow="specgf", method=f"muon:{lr}", steps=steps, n_save=131, seed=sd
        ),
        "gradient flow": lambda sd: LoRAConfig(**BIG, flow="gf", t1=10.0, n_save=n_save, seed=sd),
    }
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    meta = {}
    gf_pred = []
    for j, (name, make) in enumerate(runs.items()):
        ts = []
        for sd in seeds:
            cfg = make(sd)
            res = ctx.run(cfg, simulate_lora)
            tr = "logit" if cfg.flow == "gf" else "sqrt"
            t = P.arrivals(res.times, res.series["proxies"], s, transform=tr)
            ts.append(t * (lr if res.time_unit == "k" else 1.0))
            if cfg.flow == "gf":
                gf_pred.append(_gf_pred(cfg))
        ts = np.array(ts)
        c = style.PALETTE[j]
        ax.plot(s, np.median(ts, 0), "o-", color=c, label=name, ms=4)
        ax.fill_between(s, ts.min(0), ts.max(0), color=c, alpha=0.25, lw=0)
        meta[name] = ts.tolist()
    ax.plot(s, CF.specgf_arrival_time(s, 0.5), "k--", lw=1, label="√(s/2) (equal rate)")
    gp = np.array(gf_pred)
    ax.plot(s, np.median(gp, 0), "k:", lw=1.4, label="exact LoRA-init mode law (GF)")
    b = math.sqrt(BIG["rank"]) * BIG["gamma"]  # E|B(0)v_i|² = rγ²
    ax.plot(
        s,
        CF.logistic_arrival_time(s, b * b / 4, 0.5),
        color="0.5",
        lw=1,
        label="logistic, p0 = rγ²/4",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("target singular value s_i")
    ax.set_ylabel("arrival time t_i (flow time t, or kη for steps)")
    ax.set_title("smaller first (spectral) vs largest first (GF)")
    ax.legend(fontsize=7, loc="upper right")
    style.footer(
        fig,
        f"60×70, r = 5, γ = 1e-3, LoRA init; seeds {list(seeds)} (median, min–max band); "
        "arrival: d_i = s_i/2, interpolated in √d (spectral) or logit(d/s) (GF)",
    )
    fig.tight_layout()
    return fig, {"seeds": list(seeds), "arrivals": meta}


SMALL = dict(
    rows=P.ROWS,
    cols=P.COLS,
    rank=3,
    target_svals=(0.5, 2.0, 8.0),
    flow="specgf",
    init="lora",
    n_save=P.N_SAVE,
)


@register(
    "sgf_beta",
    title="Effect of β and γ on the equal-rate deviation ε and the arrival order",
    paper="SGF",
)
def beta_effect(ctx):
    """ε = max_i max_{W_i} |d/dt √d_i − 1| against β̂ = β/s_min³ for several γ̂ = γ/√s_min, with the
    leading-order prediction 51β̂ + 5γ̂²; right: arrival time over √(s/2) per mode (order flips)."""
    style.apply()
    seeds = _seeds(ctx)
    s = np.asarray(SMALL["target_svals"])
    bh = np.logspace(-7, 0, 6 if ctx.fast else 11)
    ghs = (1e-4, 1e-2, 1e-1)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    meta = {}
    for j, gh in enumerate(ghs):
        eps = np.zeros((len(seeds), bh.size))
        arr = np.zeros((len(seeds), bh.size, s.size))
        for a, sd in enumerate(seeds):
            for k, b in enumerate(bh):
                cfg = LoRAConfig(
                    **SMALL,
                    beta=float(f"{b * s[0] ** 3:.3g}"),
                    gamma=float(f"{gh * math.sqrt(s[0]):.3g}"),
                    t1=float(12 * math.sqrt(s[-1]) + 4),
                    seed=sd,
                )
                res = _rates_result(ctx, cfg)
                eps[a, k] = res["eps"]
                arr[a, k] = res["arrivals"] / np.sqrt(0.5 * s)
        c = style.PALETTE[j]
        ax.plot(bh, np.median(eps, 0), "o-", color=c, ms=4, label=f"γ̂ = {gh:g}")
        ax.fill_between(bh, eps.min(0), eps.max(0), color=c, alpha=0.25, lw=0)
        ax.plot(bh, 51 * bh + 5 * gh**2, "--", color=c, lw=1)
        meta[f"gamma_hat={gh:g}"] = {"beta_hat": bh.tolist(), "eps": eps.tolist()}
        if j == 0:
            for i in range(s.size):
                ax2.plot(
                    bh,
                    np.median(arr[:, :, i], 0),
                    "o-",
                    ms=4,
                    color=style.PALETTE[i + 3],
                    label=f"s = {s[i]:g}",
                )
                ax2.fill_between(
                    bh,
                    arr[:, :, i].min(0),
                    arr[:, :, i].max(0),
                    color=style.PALETTE[i + 3],
                    alpha=0.25,
                    lw=0,
                )
    ax.axhline(0.05, color="k", lw=0.8, ls=":", label="ε = 0.05 (SGF-7 threshold)")
    ax.axhline(P.EPS_TOL, color="0.4", lw=0.8, ls="-.", label="ε = 0.01 (SGF-1 bound)")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="β̂ = β / s_min³",
        ylabel="ε (slope units)",
        title="equal-rate deviation (dashed: 51β̂ + 5γ̂²)",
    )
    ax.set_ylim(1e-7, 2)
    ax.legend(fontsize=7.5)
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="β̂ = β / s_min³",
        ylabel="t_i / √(s_i/2)",
        title="arrival over the equal-rate prediction (γ̂ = 1e-4)",
    )
    ax2.legend(fontsize=7.5)
    style.footer(
        fig,
        f"SpecGF, 10×12, r = 3, s = (0.5, 2, 8), LoRA init, seeds {list(seeds)} (median, min–max); "
        "order flips when the s = 0.5 curve crosses the others by a factor √(s_j/s_i)",
    )
    fig.tight_layout()
    return fig, {"seeds": list(seeds), "eps": meta}


def _rates_result(ctx, cfg: LoRAConfig):
    """ε and arrivals of one SpecGF run; needs the exact proxy rates, which the store's SimResult
    does not keep, so it runs (memoised in-process) and only records the config."""
    ctx.configs.append(cfg.to_dict())
    raw, _ = P.run(cfg)
    s = np.asarray(cfg.target_svals)
    eps, _, _ = P.equal_rate_deviation(raw, s)
    return {"eps": eps, "arrivals": P.arrivals(raw.times, raw.saved["proxies"], s)}


@register(
    "sgf_l2", title="ℓ2-regularised SpecGF converges to the soft-thresholded spectrum", paper="SGF"
)
def l2_limit(ctx):
    """σ_i(AB)(t) under SpecGF with λ = 1.5 (dashed: (s_i − λ)_+), and the distance to that limit
    and the balancedness drift ‖AᵀA − BBᵀ − D(0)‖_F over time (log)."""
    style.apply()
    lam = 1.5
    cfg = LoRAConfig(
        **BIG, flow="specgf", beta=1e-6, l2=lam, t1=8.0, n_save=160 if ctx.fast else 400
    )
    res = ctx.run(cfg, simulate_lora)
    # the run stops at convergence between save points: append the final state
    t = np.append(res.times, res.final["time"])
    sig = np.vstack([res.series["singular_values"], res.final["singular_values"][None]])
    drift = np.append(res.series["balancedness_drift"], res.series["balancedness_drift"][-1])
    lim = CF.soft_threshold_limit(S5, lam, 5)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.0))
    for i in range(5):
        c = style.PALETTE[i]
        ax.plot(t, sig[:, i], color=c, label=f"σ_{i + 1}, s = {S5[::-1][i]:g} → {lim[i]:g}")
        ax.axhline(lim[i], color=c, ls="--", lw=1)
    ax.set(xlabel="flow time t", ylabel="σ_i(AB)", title=f"SpecGF with ℓ2, λ = {lam:g}, β = 1e-6")
    ax.legend(fontsize=7.5)
    err = np.max(np.abs(sig - lim), axis=1)
    ax2.semilogy(t, err, label="max_i |σ_i − (s_i − λ)_+|")
    ax2.semilogy(t[:-1], np.maximum(drift[:-1], 1e-17), label="‖AᵀA − BBᵀ − D(0)‖_F (saved)")
    ax2.plot(t[-1], res.final["balance"], "k*", ms=8, label="final ‖AᵀA − BBᵀ‖_F")
    ax2.set(xlabel="flow time t", ylabel="distance (log)", title="convergence and balance")
    ax2.legend(fontsize=7.5)
    f = res.final
    style.footer(
        fig,
        f"60×70, r = 5, LoRA init γ = 1e-3, seed 0; final |σ − limit| = {err[-1]:.1e}, "
        f"‖AᵀA − BBᵀ‖_F = {f.get('balance', float('nan')):.1e}; status {res.status}",
    )
    fig.tight_layout()
    return fig, {"seeds": [0], "l2": lam, "limit": lim.tolist()}


@register(
    "sgf_init", title="LoRA init vs both-Gaussian init: the delayed smallest mode", paper="SGF"
)
def init_effect(ctx):
    """√d_i(t) under SpecGF from LoRA init (A = 0) and from both-Gaussian init at the same γ; the
    smallest mode starts from a random-sign d_i(0) and is delayed. Median over seeds, bands."""
    style.apply()
    seeds = _seeds(ctx)
    gamma, beta = 0.1, 1e-4
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True)
    s = np.asarray(S5)
    meta = {}
    for ax, init in zip(axes, ("lora", "gaussian"), strict=True):
        curves, arr = [], []
        for sd in seeds:
            cfg = LoRAConfig(
                **{**BIG, "gamma": gamma, "init": init},
                flow="specgf",
                beta=beta,
                t1=5.0,
                n_save=160 if ctx.fast else 400,
                seed=sd,
            )
            res = ctx.run(cfg, simulate_lora)
            curves.append(np.sqrt(np.clip(res.series["proxies"], 0, None)))
            arr.append(P.arrivals(res.times, res.series["proxies"], s))
            t = res.times
        n = min(len(c) for c in curves)
        cv = np.array([c[:n] for c in curves])
        for i in range(s.size):
            c = style.PALETTE[i]
            ax.plot(t[:n], np.median(cv[:, :, i], 0), color=c, label=f"s = {s[i]:g}")
            ax.fill_between(
                t[:n], cv[:, :, i].min(0), cv[:, :, i].max(0), color=c, alpha=0.25, lw=0
            )
        ax.plot(t[:n], t[:n], "k--", lw=1, label="√d = t")
        a = np.array(arr)
        meta[init] = a.tolist()
        ax.set(
            xlabel="flow time t",
            title=f"{init} init: smallest arrives at t = {np.median(a[:, 0]):.3f} "
            f"(√(s/2) = {math.sqrt(0.5):.3f})",
        )
    axes[0].set_ylabel("√d_i")
    axes[0].legend(fontsize=7.5, loc="upper left")
    style.footer(
        fig,
        f"SpecGF β = {beta:g}, γ = {gamma:g}, 60×70, r = 5, seeds {list(seeds)} (median, min–max)",
    )
    fig.tight_layout()
    return fig, {"seeds": list(seeds), "arrivals": meta}
