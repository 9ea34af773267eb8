"""Figures of AMUSE and Schedule-Free Muon (docs/theory.md §2.4): the river valley of claims AMUSE-1/2 and
the LoRA factorisation's √d_i growth under averaging."""

from __future__ import annotations

import numpy as np

from gflab.figures import style
from gflab.figures.registry import FigureContext, register

__all__ = ["amuse_river", "amuse_lora"]


@register(
    "amuse_river",
    title="AMUSE-1/2: bulk progress and wall oscillation in a river valley",
    paper="AMUSE",
)
def amuse_river(ctx: FigureContext):
    """River valley 4 × 4 (h_bulk = 1e-3, h_wall = 1, σ = 1e-4): bulk progress P_k and wall distance
    ‖(W_k − W*)_wall‖ for GD (step 1/h_wall), Muon, Schedule-Free Muon (β = 0.9) and AMUSE
    (β: 0 → 0.9, τ = 100; reconstructed) at η = 0.01; for the Schedule-Free methods the average x
    (solid) and the gradient point y (dotted)."""

    from gflab.sims.river import RiverConfig, simulate_river

    cfg = RiverConfig(lr=0.01, noise=1e-4, steps=600 if ctx.fast else 1000)
    ctx.configs.append(cfg.to_dict())
    r = simulate_river(cfg)
    style.apply()
    fig, axes = style.subplots(1, 2, width="text", aspect=0.38)
    curves = [
        ("gd", "W", r"GD (step $1/h_\mathrm{wall}$)", "-"),
        ("muon", "W", "Muon", "-"),
        ("sf-muon", "x", "Schedule-Free Muon, $x$", "-"),
        ("amuse", "x", "AMUSE, $x$", "-"),
        ("amuse", "y", "AMUSE, $y$ (gradient point)", ":"),
    ]
    lo = np.inf
    for (m, q, lab, ls), col in zip(curves, style.PALETTE, strict=False):
        s = r[m][q]
        k = np.arange(len(s["wall_series"]))
        wall = np.maximum(np.asarray(s["wall_series"]), 1e-18)
        lo = min(lo, float(wall[1:].min()))
        axes[0].plot(k, s["bulk_progress_series"], ls=ls, color=col, label=lab)
        axes[1].semilogy(k, wall, ls=ls, color=col, lw=0.8)
    axes[0].axhline(0.9, color="0.4", lw=0.8, ls="--")
    axes[0].text(
        0.97,
        0.04,
        r"dashed: arrived, $P_k \geq 0.9$",
        transform=axes[0].transAxes,
        ha="right",
        va="bottom",
        fontsize=style.small(),
    )
    axes[0].set_xlabel("step $k$")
    axes[0].set_ylabel(r"bulk progress $P_k$")
    axes[0].set_title(r"the river: $h_\mathrm{bulk} = 10^{-3}$")
    axes[1].set_xlabel("step $k$")
    axes[1].set_ylabel(r"wall distance $\|(W_k - W^*)_\mathrm{wall}\|_F$")
    axes[1].set_title(r"the walls: $h_\mathrm{wall} = 1$, noise $\sigma = 10^{-4}$")
    axes[1].set_ylim(max(lo / 2, 1e-12), 3)
    style.log_ticks(axes[1].yaxis)
    style.legend_below(fig, ncol=3)
    style.footer(fig, f"{cfg.to_dict()}")
    summary = {
        m: {q: {k: v for k, v in s.items() if "series" not in k} for q, s in d.items()}
        for m, d in r.items()
    }
    return fig, {"summary": summary}


@register(
    "amuse_lora",
    title="Schedule-Free Muon and AMUSE in LoRA: which sequence grows at the equal rate",
    paper="AMUSE",
)
def amuse_lora(ctx: FigureContext):
    """√d_i against the step for Muon, AMUSE (fast z, average x, gradient point y) and
    Schedule-Free AdamW (x); 10 × 12, r = 3, s = (0.5, 2, 8), γ = 1e-3, η = 1.6√8/1200. Dashed:
    the equal-rate line √d_i = η k (SpecGD's prediction, docs/theory.md §2.2)."""

    from gflab.sims.sf_lora import SFLoRAConfig, simulate_sf_lora

    cfg = SFLoRAConfig(steps=800 if ctx.fast else 1200)
    ctx.configs.append(cfg.to_dict())
    r = simulate_sf_lora(cfg)
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    style.apply()
    panels = [
        ("muon", "W", "Muon"),
        ("amuse", "z", "AMUSE $z$"),
        ("amuse", "x", "AMUSE $x$"),
        ("amuse", "y", "AMUSE $y$"),
        ("sf-adamw", "x", "SF-AdamW $x$"),
    ]
    fig, axes = style.subplots(1, len(panels), width="text", aspect=0.3, sharey=True)
    k = np.arange(cfg.steps + 1)
    for ax, (m, q, title) in zip(axes, panels, strict=True):
        d = r[m][q]["proxies"]
        for i, s in enumerate(cfg.target_svals):
            ax.plot(
                k, np.sqrt(np.maximum(d[:, i], 0)), color=style.PALETTE[i], ls=style.LINESTYLES[i]
            )
            ax.axhline(np.sqrt(s), color="0.6", lw=0.6)
        ax.plot(k, cfg.lr * k, "k--", lw=0.8)
        ax.set_ylim(0, 1.15 * np.sqrt(max(cfg.target_svals)))
        spread = r[m][q]["rate_spread"]
        if not np.isfinite(spread):
            sp = r"$\infty$"
        else:
            sp = f"{spread:.2f}" if spread < 100 else f"{spread:.0f}"
        ax.set_title(f"{title}\nrate spread {sp}")
        ax.set_xlabel("step $k$")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    axes[0].set_ylabel(r"$\sqrt{d_i}$")
    handles = [
        Line2D([], [], color=style.PALETTE[i], ls=style.LINESTYLES[i], label=f"$s_{i + 1} = {s:g}$")
        for i, s in enumerate(cfg.target_svals)
    ]
    handles += [
        Line2D([], [], color="k", ls="--", lw=0.8, label=r"equal rate $\sqrt{d_i} = \eta k$"),
        Line2D([], [], color="0.6", lw=0.6, label=r"$\sqrt{s_i}$ (arrived)"),
    ]
    style.legend_below(fig, handles, [h.get_label() for h in handles], ncol=5)
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
