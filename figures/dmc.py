"""Figures for [DMC] (DESIGN §2.1)."""

from __future__ import annotations


import matplotlib.pyplot as plt

from figures import style
from figures.registry import register
from sims import DMFConfig, simulate_dmf
from theory import closed_forms as CF


@register(
    "dmc_offdiag_2x2",
    title="Diagonal completion of a 2×2 all-ones matrix: the off-diagonal entry over time",
    paper="DMC",
)
def offdiag_2x2(ctx):
    """W_12(t) for depths 2–5 from mimic(α, m) init, diagonal Ω, target J; dashed: closed-form limits.

    Depth 2 settles at ρ(m) (no low-rank bias); depth ≥ 3 goes to ≈ 1 (rank one).
    """
    style.apply()
    n, alpha = 2, 1e-3
    ms = (2.0, 5.0) if not ctx.fast else (3.0,)
    depths = (2, 3, 4, 5)
    fig, axes = plt.subplots(1, len(ms), figsize=(5.2 * len(ms), 3.8), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], ms, strict=True):
        for i, L in enumerate(depths):
            cfg = DMFConfig(depth=L, n=n, init="mimic", m=m, alpha=alpha, mask="diagonal",
                            target="ones", n_save=300 if not ctx.fast else 120)
            res = ctx.run(cfg, simulate_dmf)
            t = res.times[1:]
            W12 = res.series["matrix"][1:, 0, 1]
            color = style.PALETTE[i]
            ax.plot(t, W12, color=color, label=f"L = {L}")
            lim = CF.mimic_limit(n, L, alpha, m).offdiagonal
            ax.axhline(lim, color=color, ls="--", lw=1, alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("flow time t (log scale)")
        ax.set_title(f"m = {m:g}, α = {alpha:g}, n = {n}")
        ax.set_ylim(-0.05, 1.08)
    axes[0][0].set_ylabel("off-diagonal entry W₁₂(t)  (target 1)")
    axes[0][-1].plot([], [], "k--", lw=1, label="closed-form limit")
    axes[0][-1].legend(loc="upper left", frameon=True)
    style.footer(fig, "gradient flow, Tsit5 + PID (rtol 1e-9), mimic init (deterministic: no seed); "
                      "depth-2 limit ρ = (n+2m−2)/(n+m²−1); depth ≥ 3 from the conserved λ2^−κ − λ1^−κ")
    fig.tight_layout()
    return fig, {"seeds": [], "alpha": alpha, "n": n, "m": list(ms), "depths": list(depths)}


