"""Figures of DASH (docs/theory.md §2.4): the DMF plasticity map of claim DASH-1, DASH's synthetic
discrete feature-learning model, and the digits warm-start run of the bridge."""

from __future__ import annotations

import json
import math

import numpy as np

from gflab.figures import style
from gflab.figures.registry import FigureContext, register

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
    from gflab.proofs_checks.dash import dash_map

    floors = (0.3, 1e-2, 1e-4) if ctx.fast else (0.3, 0.1, 1e-2, 1e-3, 1e-4)
    alphas = (1e-3,) if ctx.fast else (1e-2, 1e-3)
    rows = dash_map(alphas=alphas, floors=floors)
    from matplotlib.lines import Line2D

    style.apply()
    import matplotlib.pyplot as plt

    # the two line panels on top, the margin map below at full width (its cells need the room)
    fig = plt.figure(figsize=style.size("text", 0.62 + 0.05 * len(alphas)), layout="constrained")
    mosaic = fig.subplot_mosaic(
        [["a", "b"], ["c", "c"]], height_ratios=[1, 0.5 + 0.25 * len(alphas)]
    )
    axes = [mosaic["a"], mosaic["b"], mosaic["c"]]
    configs = [(2, math.inf), (2, 10.0), (3, math.inf), (3, 10.0)]

    def name(depth, m):
        mm = r"\infty" if math.isinf(m) else f"{m:g}"
        return rf"$L = {depth}$, $m = {mm}$"

    handles = []
    for i, (depth, m) in enumerate(configs):
        col = style.PALETTE[i]
        sel = [r for r in rows if r["depth"] == depth and r["m"] == m and r["alpha"] == 1e-3]
        d = [r for r in sel if r["kind"] == "dash"]
        if not d:
            continue
        handles.append(Line2D([], [], color=col, marker="o", label=name(depth, m)))
        lam = [r["floor"] for r in d]
        for ax, key in ((axes[0], "sr_minus_1"), (axes[1], "test_rmse")):
            ax.plot(lam, [r[key]["intervened"] for r in d], "o-", color=col, zorder=3)
            ax.axhline(d[0][key]["scratch"], color=col, ls="--", lw=0.9)
            ax.axhline(d[0][key]["resumed"], color=col, ls=":", lw=1.1)
            for kind, mk in (("shrink-perturb", "s"), ("reset", "^")):
                b = [r for r in sel if r["kind"] == kind]
                if b:
                    ax.plot([0.3], [b[0][key]["intervened"]], mk, color=col, mfc="none", ms=6)
    grey = "0.35"
    handles += [
        Line2D([], [], color=grey, marker="o", label=r"DASH($\lambda$), resumed"),
        Line2D([], [], color=grey, ls="--", label="from scratch"),
        Line2D([], [], color=grey, ls=":", label="resumed, no intervention"),
        Line2D([], [], color=grey, marker="s", mfc="none", ls="none", label="shrink-perturb(0.3)"),
        Line2D([], [], color=grey, marker="^", mfc="none", ls="none", label=r"reset $W_L$"),
    ]
    for ax, ylabel in ((axes[0], "stable rank $-$ 1"), (axes[1], "test RMSE (unobserved)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"DASH floor $\lambda$")
        ax.set_ylabel(ylabel)
        style.log_ticks(ax.xaxis)
        style.log_ticks(ax.yaxis)
    axes[0].set_title(r"after phase 2, $\alpha = 10^{-3}$")
    axes[1].set_title(r"after phase 2, $\alpha = 10^{-3}$")
    keys = sorted({(r["depth"], r["m"], r["alpha"]) for r in rows})
    floors = tuple(sorted(floors))  # λ grows to the right, as in the line panels
    grid = np.full((len(keys), len(floors)), np.nan)
    for r in rows:
        if r["kind"] == "dash":
            grid[keys.index((r["depth"], r["m"], r["alpha"])), floors.index(r["floor"])] = r[
                "margin"
            ]
    lim = float(np.nanmax(np.abs(grid))) or 1.0
    im = axes[2].imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for (yi, xi), v in np.ndenumerate(grid):
        if np.isfinite(v):
            axes[2].text(
                xi,
                yi,
                f"{v:+.1f}" if abs(v) >= 0.05 else "0.0",
                ha="center",
                va="center",
                fontsize=style.small(),
                color="white" if abs(v) > 0.6 * lim else "black",
            )
    axes[2].set_xticks(
        range(len(floors)),
        [f"{f:g}" if f >= 0.1 else rf"$10^{{{np.log10(f):.0f}}}$" for f in floors],
    )
    alpha_txt = len({k[2] for k in keys}) > 1
    axes[2].set_yticks(
        range(len(keys)),
        [
            name(k[0], k[1]) + (rf", $\alpha = 10^{{{np.log10(k[2]):.0f}}}$" if alpha_txt else "")
            for k in keys
        ],
    )
    axes[2].grid(False)
    axes[2].set_xlabel(r"DASH floor $\lambda$")
    axes[2].set_title(r"DASH-1 margin ($\geq 0$: restored)")
    fig.colorbar(im, ax=axes[2], label="decades", aspect=10)
    style.legend_below(fig, handles, [h.get_label() for h in handles], ncol=5)
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

    from gflab.sims.bridge.warmstart import WarmStartConfig

    cfg = (
        WarmStartConfig(fractions=(0.1, 0.5, 0.9), seeds=(0, 1)) if ctx.fast else WarmStartConfig()
    )
    out = json.loads(
        str(ctx.record(*_record_args(cfg, "gflab.figures.dash:warmstart_arrays"))["json"])
    )
    summ = out["summary"]
    style.apply()
    fig, axes = style.subplots(1, 2, width="text", aspect=0.4)
    fr = np.asarray([float(f) for f in cfg.fractions])
    labels = {
        "warm": "warm",
        "warm+dash": r"warm + DASH ($\lambda = \alpha = 0.3$)",
        "warm+sp": "warm + shrink-perturb",
        "warm+reset": "warm + reset last layer",
        "warm+l2init": "warm + L2 to init",
    }
    width = 0.012 * (fr.max() - fr.min() if fr.size > 1 else 1.0) / 0.8
    for ax, key in ((axes[0], "test_accuracy"), (axes[1], "effective_rank_layer1")):
        c = summ["cold"]["all"]
        ax.axhline(c[f"{key}_mean"], color="k", ls="--", lw=0.9, label="cold (band: ± 1 std)")
        ax.axhspan(
            c[f"{key}_mean"] - c[f"{key}_std"], c[f"{key}_mean"] + c[f"{key}_std"], color="0.9"
        )
        n = len(cfg.kinds)
        for i, kind in enumerate(cfg.kinds):
            rows = [summ[kind][f"{f:g}"] for f in fr]
            ax.errorbar(
                fr + (i - (n - 1) / 2) * width,  # side by side: no bar hides another
                [r[f"{key}_mean"] for r in rows],
                yerr=[r[f"{key}_std"] for r in rows],
                marker=style.MARKERS[i],
                ls=style.LINESTYLES[i],
                color=style.PALETTE[i],
                capsize=2,
                label=labels.get(kind, kind),
            )
        ax.set_xlabel("fraction of the training set pretrained on")
        ax.set_xticks(fr)
    axes[0].set_ylabel("test accuracy")
    axes[1].set_ylabel(r"effective rank of $W_1$ ($64 \times 64$)")
    axes[0].set_title(f"digits MLP, mean ± std over {len(cfg.seeds)} seeds")
    axes[1].set_title(r"first layer, Roy–Vetterli ($\sigma$)")
    style.legend_below(fig, ncol=3)
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

    from gflab.sims.dash_synthetic import METHODS, FeatureLearningConfig

    cfg = FeatureLearningConfig(J=20, seeds=(0, 1)) if ctx.fast else FeatureLearningConfig()
    flat = ctx.record(*_record_args(cfg, "gflab.figures.dash:feature_learning_arrays"))
    r = {
        m: {k.partition("/")[2]: v for k, v in flat.items() if k.startswith(m + "/")}
        for m in METHODS
    }
    from matplotlib.ticker import MaxNLocator

    style.apply()
    fig, axes = style.subplots(1, 3, width="text", aspect=0.34)
    j = np.arange(1, cfg.J + 1)
    keys = (
        ("test_accuracy", "test accuracy (expected)"),
        ("learned_features", "learned features"),
        ("nonzero_gradient", "points with non-zero gradient"),
    )
    names = {"cold": "cold (retrain from scratch)", "warm": "warm", "ideal": "ideal (forget noise)"}
    every = max(1, cfg.J // 8)
    for ax, (key, lab) in zip(axes, keys, strict=True):
        for i, m in enumerate(METHODS):
            v = r[m][key]
            mu, sd = v.mean(0), v.std(0)
            ax.plot(
                j,
                mu,
                color=style.PALETTE[i],
                ls=style.LINESTYLES[i],
                marker=style.MARKERS[i],
                markevery=(i * every // 3, every),  # cold and ideal coincide: markers apart
                label=names.get(m, m),
            )
            ax.fill_between(j, mu - sd, mu + sd, color=style.PALETTE[i], alpha=0.15, lw=0)
        ax.set_xlabel("experiment $j$")
        ax.set_ylabel(lab)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes[2].set_yscale("log")  # cold grows linearly, the others stay near N
    style.legend_below(fig, ncol=3)
    style.footer(fig, f"{len(cfg.seeds)} seeds; guesses counted at their expected value 1/C")
    meta = {m: {k: v[:, -1].mean() for k, v in d.items()} for m, d in r.items()}
    return fig, {"final_means": meta}


# The two figures' runs through the result store (``FigureContext.record``: key = the config and
# the code), so a warm rerun of ``gflab figures`` reads them instead of training again.


def _record_args(cfg, runner: str) -> tuple[str, dict, str]:
    params = cfg.to_dict()
    return params.pop("model"), params, runner


def warmstart_arrays(**params) -> dict[str, np.ndarray]:
    """:func:`gflab.sims.bridge.warmstart.run_warmstart` of ``WarmStartConfig(**params)``, its result as
    one JSON string array (``"json"``) for the store."""
    from gflab.sims.bridge.warmstart import WarmStartConfig, run_warmstart

    cfg = WarmStartConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    out = run_warmstart(cfg)  # NumPy numbers as Python ones; NaN stays NaN (Python's json reads it)
    return {
        "json": np.asarray(json.dumps(out, default=lambda o: getattr(o, "tolist", o.__str__)()))
    }


def feature_learning_arrays(**params) -> dict[str, np.ndarray]:
    """:func:`gflab.sims.dash_synthetic.simulate_feature_learning` of ``FeatureLearningConfig(**params)``
    as arrays ``"method/measure"`` (seeds × J) for the store."""
    from gflab.sims.dash_synthetic import FeatureLearningConfig, simulate_feature_learning

    cfg = FeatureLearningConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    )
    r = simulate_feature_learning(cfg)
    return {f"{m}/{k}": np.asarray(v) for m, d in r.items() for k, v in d.items()}
