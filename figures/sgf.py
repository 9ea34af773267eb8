"""Figures for [SGF] (docs/theory.md §2.2): equal-rate growth under SpecGF / SpecGD / Muon vs the
gradient-flow staircase, arrival times, the effect of β and γ, the ℓ2 limit, and the init.

Every simulation goes through the result store (``ctx.run``; ε and arrivals of ``sgf_beta``
through ``ctx.record``); measurements reuse :mod:`gflab.proofs_checks.sgf` (arrivals interpolated in
√d or logit(d/s), ε over the window W_i).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator

from gflab.figures import style
from gflab.figures.registry import register
from gflab.proofs_checks import sgf as P
from gflab.sims import LoRAConfig, simulate_lora
from gflab.sims.config import config_from_dict
from gflab.sims.lora import lora_problem
from gflab.sims.methods import Muon, SpecGD
from gflab.theory import closed_forms as CF
from gflab.theory import lora as T

S5 = (1.0, 2.0, 4.0, 8.0, 16.0)
BIG = dict(rows=60, cols=70, rank=5, target_svals=S5, gamma=1e-3, init="lora")


def _seeds(ctx, n=3):
    return tuple(range(2 if ctx.fast else n))


def _gf_pred(cfg: LoRAConfig) -> np.ndarray:
    _, B0, _, _, V = lora_problem(cfg)
    s = np.asarray(cfg.target_svals)
    return T.lora_mode_arrival_time(s, T.lora_mode_b0(B0, V, s), P.FRACTION)


def _sci(x: float) -> str:
    """``x`` as mathtext a·10^b with two significant digits (8.9e-04 → 8.9 · 10^{-4})."""
    if not x or not math.isfinite(x):
        return f"{x:g}"
    e = math.floor(math.log10(abs(x)))
    return rf"{x / 10**e:.1f} \cdot 10^{{{e}}}"


def _tex(x: float) -> str:
    """``x`` as mathtext: 1e-06 → 10^{-6}, 0.5 → 0.5."""
    e = math.floor(math.log10(abs(x))) if x else 0
    if x and abs(e) >= 3 and abs(x / 10**e - 1) < 1e-9:
        return f"10^{{{e}}}"
    return f"{x:g}"


@register(
    "sgf_equal_rate",
    title="√d_i(t): SpecGF's parallel unit-slope lines vs the gradient-flow staircase",
    paper="SGF",
    regenerates="[SGF] the matrix-factorisation experiment behind the equal-rate theorem: √d_i(t) under SpecGF (parallel unit-slope lines, smaller first) vs gradient flow's staircase (figure number not checked; settings gflab's: 60×70, r = 5, s = 1…16, γ = 1e-3, β = 1e-6)",
)
def _equal_rate(ctx):
    """√d_i over flow time, s = (1, 2, 4, 8, 16), 60×70, r = 5, γ = 1e-3, LoRA init.

    SpecGF (β = 1e-6): every mode grows at unit rate on the one line √d = t (the modes coincide
    there, which is the claim) and leaves it at √s_i (marks); gradient flow: largest first,
    arrivals predicted by the exact LoRA-init mode solution. √σ_i(AB) is not drawn: it coincides
    with √d_i (the largest gap is in each panel's title).
    """
    style.apply()
    n_save = 160 if ctx.fast else 400
    spec = LoRAConfig(**BIG, flow="specgf", beta=1e-6, t1=5.0, n_save=n_save)
    gf = LoRAConfig(**BIG, flow="gf", t1=10.0, n_save=n_save)
    ctx.prefetch([spec, gf])
    rs, rg = ctx.run(spec, simulate_lora), ctx.run(gf, simulate_lora)
    fig, axes = style.subplots(1, 2, aspect=0.42, sharey=True)
    s = np.asarray(S5)
    gaps = {}
    for ax, res, cfg, name in (
        (axes[0], rs, spec, r"SpecGF, $\beta = 10^{-6}$"),
        (axes[1], rg, gf, "gradient flow"),
    ):
        t = res.times
        d = np.clip(res.series["proxies"], 0, None)
        sig = np.asarray(res.series["singular_values"])[:, ::-1]  # increasing, as s
        gap = float(np.max(np.abs(np.sqrt(np.clip(sig, 0, None)) - np.sqrt(d))))
        gaps[cfg.flow] = gap
        for i in range(len(s)):
            c = style.PALETTE[i]
            ax.plot(t, np.sqrt(d[:, i]), color=c, label=f"$s_{{{i + 1}}} = {s[i]:g}$")
        if cfg.flow == "specgf":
            ax.plot(t, t, color="k", ls=(0, (3, 3)), lw=0.9, zorder=5, label=r"$\sqrt{d} = t$")
            pred = CF.specgf_arrival_time(s)
            ax.plot(pred, np.sqrt(s), "kv", zorder=6, label=r"arrival $t = \sqrt{s_i}$")
            ax.set_xlim(0, 5)
        else:
            pred = _gf_pred(cfg)
            ax.plot(pred, np.sqrt(0.5 * s), "k^", zorder=6, label="GF: $d = s/2$ (exact mode law)")
        ax.set_title(name + "\n" + rf"$\max|\sqrt{{\sigma_i(AB)}} - \sqrt{{d_i}}| = {_sci(gap)}$")
        ax.set_xlabel("flow time $t$")
        ax.set_ylim(0, 4.4)
    axes[0].set_ylabel(r"$\sqrt{d_i(t)}$")
    style.legend_below(fig, ncol=4)
    style.footer(
        fig,
        "60×70, r = 5, LoRA init A(0) = 0, B(0) = 1e-3·N(0,1), seed 0, random target "
        "singular vectors; Tsit5 → RKC2 + PID rtol 1e-8; GF prediction: ḋ = √(4d² + b⁴)(s − d) with "
        "b = Gram–Schmidt of B(0)v_i in decreasing s",
    )
    return fig, {"seeds": [0], "svals": list(S5), "sqrt_sigma_vs_sqrt_d_max_gap": gaps}


@register(
    "sgf_arrivals",
    title="Arrival time vs target singular value: SpecGF/SpecGD/Muon vs gradient flow",
    paper="SGF",
    regenerates="[SGF] smaller-first arrival (t_i ≈ √s_i) vs gradient flow's largest-first, with SpecGD and Muon (figure number not checked; settings gflab's: 60×70, r = 5, s = 1…16, γ = 1e-3)",
)
def _arrivals_vs_s(ctx):
    """Time for d_i to reach s_i/2 against s_i (log–log): SpecGF (flow time), SpecGD and Muon (kη),
    gradient flow; predictions √(s/2) and the logistic law; median over seeds with min–max bands.

    SpecGF and SpecGD agree to the line width (SpecGD is SpecGF's Euler discretisation): SpecGF is
    drawn as large open markers, SpecGD as small filled ones inside them."""
    style.apply()
    seeds = _seeds(ctx)
    s = np.asarray(S5)
    lr = 0.01
    steps = 650
    n_save = 160 if ctx.fast else 400
    # name, config maker, line style kwargs (distinct markers, fill and dashes: no hidden curve)
    runs = (
        (
            r"SpecGF ($\beta = 10^{-6}$)",
            lambda sd: LoRAConfig(**BIG, flow="specgf", beta=1e-6, t1=5.0, n_save=n_save, seed=sd),
            dict(marker="o", ms=9, mfc="none", mew=1.2, ls="-", zorder=3),
        ),
        (
            r"SpecGD ($\eta = 0.01$), $k\eta$",
            lambda sd: LoRAConfig(
                **BIG, flow="specgf", method=SpecGD(lr=lr), steps=steps, n_save=131, seed=sd
            ),
            dict(marker="o", ms=3.5, ls="--", zorder=4),
        ),
        (
            r"Muon ($\eta = 0.01$, $\mu = 0.95$, Nesterov), $k\eta$",
            lambda sd: LoRAConfig(
                **BIG, flow="specgf", method=Muon(lr=lr), steps=steps, n_save=131, seed=sd
            ),
            dict(marker="s", ls="-.", zorder=3),
        ),
        (
            "gradient flow",
            lambda sd: LoRAConfig(**BIG, flow="gf", t1=10.0, n_save=n_save, seed=sd),
            dict(marker="D", ms=7, mfc="none", mew=1.2, ls="-", zorder=3),
        ),
    )
    ctx.prefetch([make(sd) for _, make, _ in runs for sd in seeds])  # independent: all cores
    fig, ax = style.subplots(width="column", aspect=1.15)
    meta = {}
    gf_pred = []
    for j, (name, make, kw) in enumerate(runs):
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
        ax.plot(s, np.median(ts, 0), color=c, label=name, **kw)
        ax.fill_between(s, ts.min(0), ts.max(0), color=c, alpha=0.2, lw=0)
        meta[name] = ts.tolist()
    ax.plot(
        s,
        CF.specgf_arrival_time(s, 0.5),
        "k",
        ls=(0, (1, 1.5)),
        lw=1.2,
        zorder=5,
        label=r"$\sqrt{s/2}$ (equal rate)",
    )
    gp = np.array(gf_pred)
    ax.plot(
        s,
        np.median(gp, 0),
        color="k",
        ls=(0, (4, 2)),
        lw=0.9,
        zorder=5,
        label="exact LoRA-init mode law (GF)",
    )
    b = math.sqrt(BIG["rank"]) * BIG["gamma"]  # E|B(0)v_i|² = rγ²
    ax.plot(
        s,
        CF.logistic_arrival_time(s, b * b / 4, 0.5),
        color="0.55",
        lw=1.6,
        zorder=1,
        label=r"logistic, $p_0 = r\gamma^2/4$",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.log_ticks(ax.xaxis, S5)
    style.log_ticks(ax.yaxis, (0.5, 1, 2, 4, 8))
    ax.set_xlabel(r"target singular value $s_i$")
    ax.set_ylabel(r"arrival time $t_i$ (flow time, or $k\eta$)")
    ax.set_title("smaller first (spectral) vs largest first (GF)")
    style.legend_below(fig, ncol=1)
    style.footer(
        fig,
        f"60×70, r = 5, γ = 1e-3, LoRA init; seeds {list(seeds)} (median, min–max band); "
        "arrival: d_i = s_i/2, interpolated in √d (spectral) or logit(d/s) (GF)",
    )
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
RATES_MODEL = "sgf-rates-dense"  # ε on the dense output (the save-grid records were "sgf-rates")
RATES_RUNNER = "gflab.figures.sgf:rates_record"


def rates_record(**config) -> dict[str, np.ndarray]:
    """ε and the arrivals of one SpecGF run (the runner of ``sgf_beta``'s ``ctx.record``).

    Both are measured as SGF-1 measures them, on the solver's dense output
    (:func:`gflab.proofs_checks.sgf.run_dense`): ε by :func:`~proofs_checks.sgf.dense_equal_rate_deviation`
    (no save grid, which misses the peak at a window's start), arrivals root-found on the
    interpolant. A stored ``SimResult`` keeps neither, so the measurement itself is stored.

    Args:
        **config: the fields of a :class:`sims.LoRAConfig` (without ``model``).

    Returns:
        {"eps": () the equal-rate deviation (inf if the dense solve ran out of steps),
        "arrivals": (r,) times of d_i = s_i/2}.
    """
    cfg = config_from_dict({"model": "lora", **config})
    dense = P.run_dense(cfg)
    s = np.asarray(cfg.target_svals)
    if dense.status == "max_steps":
        return {"eps": np.asarray(np.inf), "arrivals": np.full(s.size, np.inf)}
    eps, _, _ = P.dense_equal_rate_deviation(dense, s)
    return {"eps": np.asarray(eps), "arrivals": P.dense_arrivals(dense, s)}


def _rates_params(cfg: LoRAConfig) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k != "model"}


@register(
    "sgf_beta",
    title="Effect of β and γ on the equal-rate deviation ε and the arrival order",
    paper="SGF",
    regenerates="ours: where [SGF]'s equal rate breaks, ε over β̂ and γ̂ with gflab's worst-case model 51β̂ + 112γ̂² (claims SGF-1, SGF-7)",
)
def _beta_effect(ctx):
    """ε = max_i max_{W_i} |d/dt √d_i − 1| against β̂ = β/s_min³ for several γ̂ = γ/√s_min, with the
    worst-case model of SGF-1 (:func:`gflab.proofs_checks.sgf.predicted_eps`, 51β̂ + 112γ̂²), both measured
    on the dense output; right: arrival time over √(s/2) per mode (order flips)."""
    style.apply()
    seeds = _seeds(ctx)
    s = np.asarray(SMALL["target_svals"])
    bh = np.logspace(-7, 0, 6 if ctx.fast else 11)
    ghs = (1e-4, 1e-2, 1e-1)

    def config(b, gh, sd):
        return LoRAConfig(
            **SMALL,
            beta=float(f"{b * s[0] ** 3:.3g}"),
            gamma=float(f"{gh * math.sqrt(s[0]):.3g}"),
            t1=float(12 * math.sqrt(s[-1]) + 4),
            seed=sd,
        )

    grid = [config(b, gh, sd) for gh in ghs for sd in seeds for b in bh]
    # len(ghs) × len(seeds) × len(bh) independent flows: on all cores first, then from the store
    ctx.prefetch_records(RATES_MODEL, [_rates_params(c) for c in grid], RATES_RUNNER)
    fig, (ax, ax2) = style.subplots(1, 2, aspect=0.55)
    meta = {}
    for j, gh in enumerate(ghs):
        eps = np.zeros((len(seeds), bh.size))
        arr = np.zeros((len(seeds), bh.size, s.size))
        for a, sd in enumerate(seeds):
            for k, b in enumerate(bh):
                res = ctx.record(RATES_MODEL, _rates_params(config(b, gh, sd)), RATES_RUNNER)
                eps[a, k] = res["eps"]
                arr[a, k] = res["arrivals"] / np.sqrt(0.5 * s)
        c = style.PALETTE[j]
        ax.plot(
            bh,
            np.median(eps, 0),
            marker=style.MARKERS[j],
            ls=style.LINESTYLES[j],
            color=c,
            label=rf"$\hat\gamma = {_tex(gh)}$",
            zorder=4,
        )
        ax.fill_between(bh, eps.min(0), eps.max(0), color=c, alpha=0.2, lw=0)
        model = [P.predicted_eps(b * s[0] ** 3, gh * math.sqrt(s[0]), s[0]) for b in bh]
        ax.plot(bh, model, color=c, lw=0.7, alpha=0.8, zorder=3)
        meta[f"gamma_hat={gh:g}"] = {"beta_hat": bh.tolist(), "eps": eps.tolist()}
        if j == 0:
            for i in range(s.size):
                ci = style.PALETTE[i + 3]
                ax2.plot(
                    bh,
                    np.median(arr[:, :, i], 0),
                    marker=style.MARKERS[i + 3],
                    ls=style.LINESTYLES[i],
                    color=ci,
                    label=f"$s_i = {s[i]:g}$",
                    zorder=4,
                )
                ax2.fill_between(
                    bh, arr[:, :, i].min(0), arr[:, :, i].max(0), color=ci, alpha=0.2, lw=0
                )
    # the two tolerances: thin grey rules named in place (no line style of their own)
    for y, text in (
        (0.05, r"$\varepsilon = 0.05$ (SGF-7)"),
        (P.EPS_TOL, r"$\varepsilon = 0.01$ (SGF-1)"),
    ):
        ax.axhline(y, color="0.55", lw=0.7, zorder=1)
        ax.text(bh[-1], y / 1.4, text, fontsize=style.small(), ha="right", va="top", color="0.3")
    _against_beta_hat(
        ax,
        r"equal-rate deviation $\varepsilon$",
        r"$\varepsilon = \max_i \max_{W_i} |\frac{d}{dt}\sqrt{d_i} - 1|$",
    )
    ax.set_ylim(1e-7, 3e2)  # the worst-case model reaches 52 at β̂ = 1, γ̂ = 0.1: all of it shown
    ax.yaxis.set_major_locator(LogLocator(numticks=6))
    grey = "0.35"
    handles, labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color=grey, lw=0.7),
        Patch(color=grey, alpha=0.25, lw=0),
    ]
    labels += [
        rf"thin: worst case ${1 / (2 * P.KAPPA):.0f}\hat\beta + {P.C_GAMMA:.0f}\hat\gamma^2$",
        f"min–max, {len(seeds)} seeds",
    ]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax2.axhline(1.0, color="0.55", lw=0.7, zorder=1)
    ax2.text(
        bh[0],
        0.97,
        r"equal rate: $t_i = \sqrt{s_i/2}$",
        fontsize=style.small(),
        va="top",
        color="0.3",
    )
    ax2.set_ylim(0.72, None)
    _against_beta_hat(
        ax2,
        r"arrival time $t_i \,/\, \sqrt{s_i/2}$",
        r"arrivals of the 3 modes ($\hat\gamma = 10^{-4}$)",
    )
    style.log_ticks(ax2.yaxis, (1, 2, 5, 10))
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    style.footer(
        fig,
        f"SpecGF, 10×12, r = 3, s = (0.5, 2, 8), LoRA init, seeds {list(seeds)} (median, min–max); "
        "ε and arrivals on the solver's dense output (as SGF-1); order flips when the s = 0.5 "
        "curve crosses the others by a factor √(s_j/s_i)",
    )
    return fig, {"seeds": list(seeds), "eps": meta}


L2_MODEL = "sgf-l2-imbalance"
L2_RUNNER = "gflab.figures.sgf:l2_record"


def _against_beta_hat(ax, ylabel: str, title: str) -> None:
    """Log–log axes against β̂ = β/s_min³, a label every few decades (both panels of
    ``sgf_beta``)."""
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$\hat\beta = \beta / s_{min}^3$",
        ylabel=ylabel,
        title=title,
    )
    ax.xaxis.set_major_locator(LogLocator(numticks=5))


def l2_record(**config) -> dict[str, np.ndarray]:
    """One SpecGF + ℓ2 run with the factor imbalance ‖AᵀA − BBᵀ‖_F saved along the flow (the
    runner of ``sgf_l2``'s ``ctx.record``; a stored ``SimResult`` keeps only its final value).

    Args:
        **config: the fields of a :class:`sims.LoRAConfig` (without ``model``), continuous method.

    Returns:
        {"times": (T,) save times reached then the final time, "singular_values": (T, r) of AB,
        "imbalance": (T,) ‖AᵀA − BBᵀ‖_F, "status": () 1.0 if converged else 0.0}.
    """
    import jax.numpy as jnp

    from gflab.sims.engine import solve_flow
    from gflab.sims.lora import flow_parts

    cfg = config_from_dict({"model": "lora", **config})
    A0, B0, Y, U, V = lora_problem(cfg)
    field, stats, monitor, args = flow_parts(cfg, A0, B0, Y, U, V)

    def with_imbalance(t, y, args):
        out = stats(t, y, args)
        A, B = y
        out["imbalance"] = jnp.linalg.norm(A.T @ A - B @ B.T)
        return out

    raw = solve_flow(
        field,
        with_imbalance,
        monitor,
        (jnp.asarray(A0), jnp.asarray(B0)),
        args,
        t1=cfg.t1,
        save_ts=np.linspace(0.0, cfg.t1, cfg.n_save),
        method=cfg.method,
        tol=cfg.converge_tol,
        blowup=1e12,
    )
    A, B = (np.asarray(x) for x in raw.final_state)
    sv = np.asarray(raw.saved["singular_values"])[:, : cfg.rank]
    final_sv = np.linalg.svd(A @ B, compute_uv=False)[: cfg.rank]
    return {
        "times": np.append(raw.times, raw.final_time),
        "singular_values": np.vstack([sv, final_sv[None]]),
        "imbalance": np.append(raw.saved["imbalance"], np.linalg.norm(A.T @ A - B @ B.T)),
        "status": np.asarray(1.0 if raw.status == "converged" else 0.0),
    }


@register(
    "sgf_l2",
    title="ℓ2-regularised SpecGF converges to the soft-thresholded spectrum",
    paper="SGF",
    regenerates="ours: [SGF]'s ℓ2 convergence theorem (limit (s_i − λ)_+, balanced factors) on one run, λ = 1.5",
)
def _l2_limit(ctx):
    """σ_i(AB)(t) under SpecGF with λ = 1.5 (dotted: the limits (s_i − λ)_+); the distance to
    that limit; the factor imbalance ‖AᵀA − BBᵀ‖_F, which SGF-5 says vanishes at the limit
    (balanced factors). Each quantity is measured along the flow and at its final state; the run
    stops at convergence (ℓ − ℓ_min ≤ 1e-12 ℓ_ref)."""
    style.apply()
    lam = 1.5
    # save every 0.01: SpecGF at small β moves each mode at unit speed until it lands, so the
    # last approach (distance 0.3 → 1e-8) takes a few hundredths of a time unit
    cfg = LoRAConfig(**BIG, flow="specgf", beta=1e-6, l2=lam, t1=4.5, n_save=451)
    rec = ctx.record(L2_MODEL, _rates_params(cfg), L2_RUNNER)
    t, sig, imb = rec["times"], rec["singular_values"], rec["imbalance"]
    lim = CF.soft_threshold_limit(S5, lam, 5)
    fig, (ax, ax2, ax3) = style.subplots(1, 3, aspect=0.36)
    for i in range(5):
        c = style.PALETTE[i]
        ax.plot(
            t,
            sig[:, i],
            color=c,
            ls=style.LINESTYLES[i],
            label=rf"$\sigma_{{{i + 1}}}$: $s = {S5[::-1][i]:g} \to {lim[i]:g}$",
        )
        ax.axhline(lim[i], color=c, ls=(0, (1, 2)), lw=0.7)
    ax.set(
        xlabel="flow time $t$",
        ylabel=r"$\sigma_i(AB)$ (dotted: $(s_i - \lambda)_+$)",
        title=rf"SpecGF + $\ell_2$, $\lambda = {lam:g}$, $\beta = 10^{{-6}}$",
    )
    err = np.max(np.abs(sig - lim), axis=1)
    ax2.semilogy(t, err, color=style.PALETTE[0])
    ax2.set(
        xlabel="flow time $t$",
        ylabel=r"$\max_i |\sigma_i - (s_i - \lambda)_+|$",
        title=rf"distance to the limit (final ${_sci(err[-1])}$)",
    )
    ax3.semilogy(t, np.maximum(imb, 1e-17), color=style.PALETTE[1])
    ax3.set(
        xlabel="flow time $t$",
        ylabel=r"$\|A^\top A - BB^\top\|_F$",
        title=rf"factor imbalance (final ${_sci(imb[-1])}$)",
    )
    for a in (ax, ax2, ax3):
        a.set_xlim(0, t[-1] * 1.03)
    for a in (ax2, ax3):
        a.yaxis.set_major_locator(LogLocator(numticks=6))
    style.legend_below(fig, ncol=5)
    style.footer(
        fig,
        f"60×70, r = 5, LoRA init γ = 1e-3 (A(0) = 0, so ‖AᵀA − BBᵀ‖ starts at ‖B(0)B(0)ᵀ‖ = "
        f"{imb[0]:.1e}), seed 0; Tsit5 → RKC2 + PID; converged at t = {t[-1]:.3g} "
        f"({'yes' if rec['status'] else 'NO'}); final |σ − limit| = {err[-1]:.1e}, "
        f"‖AᵀA − BBᵀ‖_F = {imb[-1]:.1e}",
    )
    return fig, {"seeds": [0], "l2": lam, "limit": lim.tolist(), "final_imbalance": float(imb[-1])}


@register(
    "sgf_init",
    title="LoRA init vs both-Gaussian init: the delayed smallest mode",
    paper="SGF",
    regenerates="ours: [SGF]'s remark that a both-Gaussian init delays the smallest mode, against LoRA init at the same γ",
)
def _init_effect(ctx):
    """√d_i(t) under SpecGF from LoRA init (A = 0) and from both-Gaussian init at the same γ; the
    smallest mode starts from a random-sign d_i(0) and is delayed. Median over seeds, bands."""
    style.apply()
    seeds = _seeds(ctx)
    gamma, beta = 0.1, 1e-4
    fig, axes = style.subplots(1, 2, aspect=0.42, sharey=True)
    s = np.asarray(S5)
    meta = {}

    def config(init, sd):
        return LoRAConfig(
            **{**BIG, "gamma": gamma, "init": init},
            flow="specgf",
            beta=beta,
            t1=5.0,
            n_save=160 if ctx.fast else 400,
            seed=sd,
        )

    inits = ("lora", "gaussian")
    ctx.prefetch([config(init, sd) for init in inits for sd in seeds])
    for ax, init in zip(axes, inits, strict=True):
        curves, arr = [], []
        for sd in seeds:
            res = ctx.run(config(init, sd), simulate_lora)
            curves.append(np.sqrt(np.clip(res.series["proxies"], 0, None)))
            arr.append(P.arrivals(res.times, res.series["proxies"], s))
            t = res.times
        n = min(len(c) for c in curves)
        cv = np.array([c[:n] for c in curves])
        for i in range(s.size):
            c = style.PALETTE[i]
            ax.plot(t[:n], np.median(cv[:, :, i], 0), color=c, label=f"$s = {s[i]:g}$")
            ax.fill_between(
                t[:n], cv[:, :, i].min(0), cv[:, :, i].max(0), color=c, alpha=0.25, lw=0
            )
        ax.plot(t[:n], t[:n], color="k", ls=(0, (3, 3)), lw=0.9, zorder=5, label=r"$\sqrt{d} = t$")
        a = np.array(arr)
        meta[init] = a.tolist()
        name = "LoRA init ($A = 0$)" if init == "lora" else "both-Gaussian init"
        ax.set(
            xlabel="flow time $t$",
            title=f"{name}: smallest arrives at $t = {np.median(a[:, 0]):.3f}$\n"
            rf"($\sqrt{{s/2}} = {math.sqrt(0.5):.3f}$)",
        )
    axes[0].set_ylabel(r"$\sqrt{d_i(t)}$")
    style.legend_below(fig, ncol=6)
    style.footer(
        fig,
        f"SpecGF β = {beta:g}, γ = {gamma:g}, 60×70, r = 5, seeds {list(seeds)} (median, min–max)",
    )
    return fig, {"seeds": list(seeds), "arrivals": meta}
