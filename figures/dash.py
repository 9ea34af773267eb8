"""Figures of DASH (docs/theory.md §2.4): the DMF plasticity map of claim DASH-1, DASH's synthetic
discrete feature-learning model, and the digits warm-start run of the bridge."""

from __future__ import annotations

import math

import numpy as np

from figures import style
from figures.registry import FigureContext, register

__all__ = ["dash_plasticity", "dash_synthetic", "dash_warmstart"]


@register(
    "dash_plasticity",
    title="DASH-1: DASH at the switch of the DMF plasticity protocol",
    paper="DASH",
)
def dash_plasticity(ctx: FigureContext):
    """Stable rank − 1 and test RMSE after phase 2 on Ω2 (superdiagonal), n = 6, flow: resumed,
    from scratch, and resumed after DASH(λ) (α_DASH = 0.3), shrink-and-perturb (0.3, σ = 0.01) and
    a reset of W_L, against DASH's floor λ; depth 2 and 3, m = ∞ and 10, α = 1e-3. Right: the
    DASH-1 margin (≥ 0: restored) over (depth, m, α) × λ."""
    from proofs_checks.dash import dash_map

    floors = (0.3, 1e-2, 1e-4) if ctx.fast else (0.3, 0.1, 1e-2, 1e-3, 1e-4)
    alphas = (1e-3,) if ctx.fast else (1e-2, 1e-3)
    rows = dash_map(alphas=alphas, floors=floors)
    import matplotlib.pyplot as plt

    style.apply()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
    colors = {(2, math.inf): "C0", (2, 10.0): "C1", (3, math.inf): "C2", (3, 10.0): "C3"}
    for (depth, m), col in colors.items():
        sel = [r for r in rows if r["depth"] == depth and r["m"] == m and r["alpha"] == 1e-3]
        d = [r for r in sel if r["kind"] == "dash"]
        if not d:
            continue
        lab = f"L={depth}, m={m:g}"
        lam = [r["floor"] for r in d]
        for ax, key in ((axes[0], "sr_minus_1"), (axes[1], "test_rmse")):
            ax.plot(lam, [r[key]["intervened"] for r in d], "o-", color=col, label=f"DASH, {lab}")
            ax.axhline(d[0][key]["scratch"], color=col, ls="--", lw=1)
            ax.axhline(d[0][key]["resumed"], color=col, ls=":", lw=1)
            for kind, mk in (("shrink-perturb", "s"), ("reset", "^")):
                b = [r for r in sel if r["kind"] == kind]
                if b:
                    ax.plot([0.3], [b[0][key]["intervened"]], mk, color=col, mfc="none", ms=9)
    for ax, name in ((axes[0], "stable rank − 1"), (axes[1], "test RMSE (unobserved)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("DASH floor λ")
        ax.set_ylabel(name)
    axes[0].set_title("-- scratch, : resumed, □ S&P(0.3), △ reset (at λ = 0.3)", fontsize=9)
    axes[0].legend(fontsize=7)
    keys = sorted({(r["depth"], r["m"], r["alpha"]) for r in rows})
    grid = np.full((len(keys), len(floors)), np.nan)
    for r in rows:
        if r["kind"] == "dash":
            grid[keys.index((r["depth"], r["m"], r["alpha"])), floors.index(r["floor"])] = r[
                "margin"
            ]
    lim = np.nanmax(np.abs(grid)) or 1.0
    im = axes[2].imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    axes[2].set_xticks(range(len(floors)), [f"{f:g}" for f in floors])
    axes[2].set_yticks(range(len(keys)), [f"L={k[0]} m={k[1]:g} α={k[2]:g}" for k in keys])
    axes[2].set_xlabel("DASH floor λ")
    axes[2].set_title("DASH-1 margin (decades; ≥ 0 restored)")
    fig.colorbar(im, ax=axes[2])
    style.footer(fig, "Tsit5 + PID rtol 1e-9, n = 6, target ones, Ω1 diagonal → Ω2 superdiagonal")
    return fig, {"rows": rows}


@register(
    "dash_warmstart",
    title="DASH's warm-start protocol on scikit-learn digits (bridge)",
    paper="DASH",
)
def dash_warmstart(ctx: FigureContext):
    """Test accuracy and the first layer's effective rank (Roy–Vetterli, σ¹) against the fraction
    of the training data pretrained on: cold, warm, warm+DASH (λ = α = 0.3), warm+S&P (0.3, 0.01),
    warm + reset of the last layer;
    MLP 64-64-64-10, SGD lr 0.05 momentum 0.9 to 99.9 % train accuracy; mean ± std over seeds."""
    import matplotlib.pyplot as plt

    from sims.bridge.warmstart import WarmStartConfig, run_warmstart

    cfg = (
        WarmStartConfig(fractions=(0.1, 0.5, 0.9), seeds=(0, 1)) if ctx.fast else WarmStartConfig()
    )
    ctx.configs.append(cfg.to_dict())
    out = run_warmstart(cfg)
    summ = out["summary"]
    style.apply()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    fr = [float(f) for f in cfg.fractions]
    for ax, key in ((axes[0], "test_accuracy"), (axes[1], "effective_rank_layer1")):
        c = summ["cold"]["all"]
        ax.axhline(c[f"{key}_mean"], color="k", ls="--", lw=1, label="cold")
        ax.axhspan(
            c[f"{key}_mean"] - c[f"{key}_std"], c[f"{key}_mean"] + c[f"{key}_std"], color="0.9"
        )
        for kind in cfg.kinds:
            rows = [summ[kind][f"{f:g}"] for f in fr]
            ax.errorbar(
                fr,
                [r[f"{key}_mean"] for r in rows],
                yerr=[r[f"{key}_std"] for r in rows],
                marker="o",
                capsize=3,
                label=kind,
            )
        ax.set_xlabel("fraction pretrained")
    axes[0].set_ylabel("test accuracy")
    axes[1].set_ylabel("effective rank of W1 (64 × 64)")
    axes[0].legend()
    style.footer(fig, f"{len(cfg.seeds)} seeds, wall {out['wall_seconds']:.0f} s, {out['device']}")
    return fig, {"summary": summ, "wall_seconds": out["wall_seconds"]}


@register(
    "dash_synthetic",
    title="DASH's discrete feature-learning model: cold vs warm vs forget-noise",
    paper="DASH",
)
def dash_synthetic(ctx: FigureContext):
    """The authors' notebook reproduced (sims.dash_synthetic): expected test accuracy, learned
    features and points with non-zero gradient against the number of experiments, for cold
    (retrain from scratch), warm, and ideal (keep features, forget memorised points: DASH's aim);
    N = 1000 per experiment, 50 features, C = 2, γ = 50, τ = 3; mean ± std over seeds."""
    import matplotlib.pyplot as plt

    from sims.dash_synthetic import METHODS, FeatureLearningConfig, simulate_feature_learning

    cfg = FeatureLearningConfig(J=20, seeds=(0, 1)) if ctx.fast else FeatureLearningConfig()
    ctx.configs.append(cfg.to_dict())
    r = simulate_feature_learning(cfg)
    style.apply()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    j = np.arange(1, cfg.J + 1)
    keys = (
        ("test_accuracy", "test accuracy (expected)"),
        ("learned_features", "learned features"),
        ("nonzero_gradient", "points with non-zero gradient"),
    )
    for ax, (key, lab) in zip(axes, keys, strict=True):
        for m in METHODS:
            v = r[m][key]
            mu, sd = v.mean(0), v.std(0)
            ax.plot(
                j, mu, label={"cold": "cold (Random)", "ideal": "ideal (forget noise)"}.get(m, m)
            )
            ax.fill_between(j, mu - sd, mu + sd, alpha=0.15)
        ax.set_xlabel("experiment j")
        ax.set_ylabel(lab)
    axes[0].legend()
    style.footer(fig, f"{len(cfg.seeds)} seeds; guesses counted at their expected value 1/C")
    meta = {m: {k: v[:, -1].mean() for k, v in d.items()} for m, d in r.items()}
    return fig, {"final_means": meta}
