"""Figures of AMUSE (docs/dash-amuse.md, docs/theory.md §2.4): the river valley of claims AMUSE-1/2
and the LoRA factorisation's mode growth under AMUSE's averaging. Both are gflab's own figures (the
AMUSE paper's figures are language-model and image runs, not regenerated here)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gflab.figures import style
from gflab.figures.registry import FigureContext, register

__all__ = ["amuse_river", "amuse_lora"]

RIVER_RHOS = (0.0, 0.3, 0.8)  # AMUSE's ρ drawn in amuse_river: β kept at β₁, slow rise, fast rise


@register(
    "amuse_river",
    title="AMUSE-1/2: bulk progress and wall oscillation in a river valley",
    paper="AMUSE",
    regenerates="ours: [AMUSE]'s river-valley picture (bulk progress against wall oscillation) on a "
    "quadratic valley with gradient noise: GD, AMUSE's Muon base step and the published AMUSE "
    "(kjeiun/amuse) at ρ = 0, 0.3, 0.8",
)
def amuse_river(ctx: FigureContext):
    """gflab's own figure (claims AMUSE-1 and AMUSE-2). River valley 4 × 4 (h_bulk = 1e-3,
    h_wall = 1, gradient noise σ = 1e-4), base learning rate η = 0.03, warmup T₀ = 50, β₁ = 0.6.
    (a) bulk progress P_k and (b) wall distance ‖(W_k − W*)_wall‖ of GD (step 1/h_wall), Muon (AMUSE's
    base step alone) and the published AMUSE's output x for ρ = 0 (β kept at β₁: Schedule-Free Muon),
    ρ = 0.3 and ρ = 0.8; (c) the interpolation β_t of the three. The dotted line in (b) is GD's
    noise floor ησ√8; the titles give k90 and the wall amplitude A over the last quarter.

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, its numbers for the sidecar).
    """

    from gflab.proofs_checks.amuse import noise_floor
    from gflab.sims.river import RiverConfig, simulate_river

    base = RiverConfig(
        lr=0.03, noise=1e-4, beta1=0.6, warmup_steps=50, steps=600 if ctx.fast else 1000
    )
    # ρ = 0 is every run's "sf-muon" (AMUSE with β kept at β₁): two runs give the three
    runs = {rho: simulate_river(replace(base, rho=rho)) for rho in RIVER_RHOS[1:]}
    for rho in RIVER_RHOS[1:]:
        ctx.configs.append(replace(base, rho=rho).to_dict())
    ref = runs[RIVER_RHOS[1]]
    runs[0.0] = {"sf-muon": ref["sf-muon"], "amuse": ref["sf-muon"]}
    style.apply()
    fig, axes = style.subplots(1, 3, width="text", aspect=0.36)
    curves = [("GD (step $1/h_\\mathrm{wall}$)", ref["gd"]["W"]), ("Muon", ref["muon"]["W"])]
    for rho in RIVER_RHOS:
        m = "sf-muon" if rho == 0 else "amuse"
        curves.append((f"AMUSE $x$, $\\rho = {rho:g}$", runs[rho][m]["x"]))
    hi, lo = 0.0, np.inf
    for (label, s), col, ls in zip(curves, style.PALETTE, style.LINESTYLES, strict=False):
        k = np.arange(len(s["wall_series"]))
        wall = np.asarray(s["wall_series"])
        hi = max(hi, float(wall.max()))
        lo = min(lo, float(wall[wall > 0].min()))
        axes[0].plot(k, s["bulk_progress_series"], color=col, ls=ls, label=label)
        axes[1].semilogy(k, np.where(wall > 0, wall, np.nan), color=col, ls=ls, lw=0.8)
    floor = noise_floor(base)
    axes[1].axhline(
        floor, color="k", ls=":", lw=0.8, label=r"GD's noise floor $\eta\sigma\sqrt{8}$"
    )
    axes[0].axhline(0.9, color="0.4", lw=0.6, ls="--")
    axes[0].set_ylim(0, 1.05)
    axes[0].set_xlabel("step $k$")
    axes[0].set_ylabel(r"bulk progress $P_k$ (dashed: 0.9)")
    mu = ref["muon"]["W"]
    k90 = {
        rho: runs[rho]["sf-muon" if rho == 0 else "amuse"]["x"]["steps_to_bulk_90"]
        for rho in RIVER_RHOS
    }
    k90s = "/".join(f"{v:.0f}" for v in k90.values())
    rhos = "/".join(f"{v:g}" for v in RIVER_RHOS)
    axes[0].set_title(
        f"(a) bulk: $k_{{90}}$ Muon {mu['steps_to_bulk_90']:.0f}, AMUSE {k90s} ($\\rho$ = {rhos})",
        fontsize=style.small(),
    )
    axes[1].set_ylim(lo / 2, hi * 2)
    axes[1].set_xlabel("step $k$")
    axes[1].set_ylabel(r"$\|(W_k - W^*)_\mathrm{wall}\|_F$")
    amp = {
        rho: runs[rho]["sf-muon" if rho == 0 else "amuse"]["x"]["wall_amplitude"]
        for rho in RIVER_RHOS
    }
    amps = "/".join(f"{v:.0e}" for v in amp.values())
    axes[1].set_title(
        f"(b) walls: $A$ Muon {mu['wall_amplitude']:.0e}, AMUSE {amps}",
        fontsize=style.small(),
    )
    style.log_ticks(axes[1].yaxis)
    for rho, col, ls in zip(RIVER_RHOS, style.PALETTE[2:], style.LINESTYLES[2:], strict=False):
        b = replace(base, rho=rho).amuse().schedule(base.steps)["beta"]
        axes[2].plot(np.arange(1, base.steps + 1), b, color=col, ls=ls)
    axes[2].axvline(base.warmup_steps, color="0.5", lw=0.6)
    axes[2].text(base.warmup_steps * 1.15, 0.62, "end of warmup $T_0$", fontsize=style.small())
    axes[2].set_ylim(0.55, 1.01)
    axes[2].set_xlabel("step $k$")
    axes[2].set_ylabel(r"interpolation $\beta_k$ ($y = (1-\beta) z + \beta x$)")
    axes[2].set_title(
        r"(c) $\beta$: $\beta_1 = 0.6$, rising as $1 - S_k^\rho(1-\beta_1)$", fontsize=style.small()
    )
    style.legend_below(fig, ncol=6)
    style.footer(fig, f"{base.to_dict()} with rho in {RIVER_RHOS}")
    summary = {
        f"rho={rho:g}": {
            m: {q: {k: v for k, v in s.items() if "series" not in k} for q, s in d.items()}
            for m, d in runs[rho].items()
        }
        for rho in RIVER_RHOS[1:]
    }
    return fig, {"summary": summary, "noise_floor": floor}


@register(
    "amuse_lora",
    title="AMUSE in LoRA: do the modes still grow at an equal rate?",
    paper="AMUSE",
    regenerates="ours: [SGF]'s LoRA factorisation (10×12, r = 3) under the published AMUSE, its "
    "Muon base step and Schedule-Free AdamW",
)
def amuse_lora(ctx: FigureContext):
    """gflab's own figure. √d_i (the proxies u_iᵀ A B v_i of the target's modes) against the step
    for Muon (AMUSE's base step alone), the published AMUSE's output x and gradient point y
    (β₁ = 0.6, ρ = 0.8, T₀ = 100), and Schedule-Free AdamW's x; 10 × 12, r = 3, s = (0.5, 2, 8),
    γ = 1e-3, base learning rate η = 3√8/1200. Equal rate ([SGF], docs/theory.md §2.2) means equal
    slopes of √d_i while a mode grows; each title gives the slopes fitted over 10–80 % of each
    mode's target, relative to the largest ("—": the mode did not cross that window).

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, its numbers for the sidecar).
    """

    from gflab.sims.sf_lora import SFLoRAConfig, simulate_sf_lora

    cfg = SFLoRAConfig(steps=800 if ctx.fast else 1200)
    ctx.configs.append(cfg.to_dict())
    r = simulate_sf_lora(cfg)
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    style.apply()
    panels = [
        ("muon", "W", "Muon (base step)"),
        ("amuse", "x", "AMUSE $x$ (output)"),
        ("amuse", "y", "AMUSE $y$ (gradient point)"),
        ("sf-adamw", "x", "SF-AdamW $x$"),
    ]
    fig, axes = style.subplots(1, len(panels), width="text", aspect=0.32, sharey=True)
    k = np.arange(cfg.steps + 1)
    top = np.sqrt(max(cfg.target_svals))
    for m, q, _ in panels:
        top = max(top, float(np.sqrt(np.maximum(r[m][q]["proxies"], 0)).max()))
    for ax, (m, q, title) in zip(axes, panels, strict=True):
        d = r[m][q]["proxies"]
        for i, s in enumerate(cfg.target_svals):
            ax.plot(
                k, np.sqrt(np.maximum(d[:, i], 0)), color=style.PALETTE[i], ls=style.LINESTYLES[i]
            )
            ax.axhline(np.sqrt(s), color="0.6", lw=0.6)
        ax.set_ylim(0, 1.08 * top)
        slopes = np.asarray(r[m][q]["sqrt_slope"], dtype=float)
        ok = np.isfinite(slopes)
        rel = slopes / slopes[ok].max() if ok.any() else slopes
        txt = " : ".join(f"{v:.2g}" if np.isfinite(v) else "—" for v in rel)
        ax.set_title(f"{title}\nslopes {txt}", fontsize=style.small())
        ax.set_xlabel("step $k$")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    axes[0].set_ylabel(r"$\sqrt{d_i}$")
    handles = [
        Line2D([], [], color=style.PALETTE[i], ls=style.LINESTYLES[i], label=f"$s_{i + 1} = {s:g}$")
        for i, s in enumerate(cfg.target_svals)
    ]
    handles.append(Line2D([], [], color="0.6", lw=0.6, label=r"$\sqrt{s_i}$ (arrived)"))
    style.legend_below(fig, handles, [h.get_label() for h in handles], ncol=4)
    style.footer(fig, f"{cfg.to_dict()}")
    meta = {
        m: {
            q: {
                "half_arrival": s["half_arrival"].tolist(),
                "sqrt_slope": s["sqrt_slope"].tolist(),
                "rate_spread": s["rate_spread"],
            }
            for q, s in d.items()
        }
        for m, d in r.items()
    }
    return fig, {"summary": meta}
