"""Figures of DASH (docs/theory.md §2.4): the DMF plasticity map of claim DASH-1, DASH's synthetic
discrete feature-learning model, and the digits warm-start run of the bridge."""

from __future__ import annotations

import json
import math

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from gflab.figures import style
from gflab.figures.registry import FigureContext, register

__all__ = ["dash_plasticity", "dash_synthetic", "dash_warmstart"]


@register(
    "dash_plasticity",
    title="DASH-1: DASH at the switch of the DMF plasticity protocol",
    paper="DASH",
    regenerates="ours: DASH (the authors' shrinking rule) applied at the switch of [DMC]'s plasticity protocol (claim DASH-1)",
)
def dash_plasticity(ctx: FigureContext):
    """Stable rank − 1 (top row) and test RMSE (bottom row) after phase 2 on Ω2 (superdiagonal),
    n = 6, flow, one column per (depth, m), against DASH's floor λ (α_DASH = 0.3).

    In every panel: DASH(λ) resumed (black, filled marker where DASH-1 counts it restored, i.e.
    both sr − 1 and RMSE within the shaded bounds 1.1·scratch + slack), and the λ-free
    baselines as horizontal rules: from scratch, resumed without intervention, shrink-and-perturb
    (0.3, σ = 0.01) and a reset of W_L. Full run: a pair of rows per α ∈ {1e-2, 1e-3}.

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, its rows for the sidecar).
    """
    from gflab.proofs_checks.dash import REL_TOL, RMSE_FLOOR, SR_FLOOR, dash_map

    floors = (0.3, 1e-2, 1e-4) if ctx.fast else (0.3, 0.1, 1e-2, 1e-3, 1e-4)
    alphas = (1e-3,) if ctx.fast else (1e-2, 1e-3)
    rows = dash_map(alphas=alphas, floors=floors)
    style.apply()
    configs = [(2, math.inf), (2, 10.0), (3, math.inf), (3, 10.0)]
    quantities = (
        ("sr_minus_1", "stable rank $-$ 1", SR_FLOOR),
        ("test_rmse", "test RMSE", RMSE_FLOOR),
    )
    fig, axes = style.subplots(
        2 * len(alphas), len(configs), aspect=0.5 * len(alphas), sharex=True, squeeze=False
    )
    lam_lim = (min(floors) / 2, max(floors) * 2)
    for ia, alpha in enumerate(alphas):
        for col, (depth, m) in enumerate(configs):
            sel = [r for r in rows if (r["depth"], r["m"], r["alpha"]) == (depth, m, alpha)]
            if not any(r["kind"] == "dash" for r in sel):
                continue
            for iq, (key, label, floor) in enumerate(quantities):
                ax = axes[2 * ia + iq][col]
                _draw_dash_panel(ax, sel, key, (1 + REL_TOL, floor), lam_lim)
                if col == 0:
                    a_txt = rf"$\alpha = 10^{{{np.log10(alpha):.0f}}}$" + "\n"
                    ax.set_ylabel((a_txt if len(alphas) > 1 else "") + label)
                if ia == 0 and iq == 0:
                    mm = r"\infty" if math.isinf(m) else f"{m:g}"
                    ax.set_title(rf"$L = {depth}$, $m = {mm}$")
    for ax in axes[-1]:
        ax.set_xlabel(r"DASH floor $\lambda$")
        ax.xaxis.set_major_locator(FixedLocator(sorted(floors)))
        ax.xaxis.set_major_formatter(FuncFormatter(_floor_label(floors)))
        ax.xaxis.set_minor_locator(NullLocator())
    _dash_legend(fig)
    style.footer(
        fig,
        "Tsit5 → RKC2 + PID rtol 1e-9, n = 6, target ones, Ω1 diagonal → Ω2 superdiagonal, mimic(α, m); "
        f"restored iff sr − 1 ≤ {1 + REL_TOL:g}·scratch + {SR_FLOOR:g} and RMSE ≤ "
        f"{1 + REL_TOL:g}·scratch + {RMSE_FLOOR:g} (claim DASH-1)",
    )
    return fig, {"rows": rows}


#: the λ-free baselines of ``dash_plasticity``, drawn as horizontal rules: (row kind, key in the
#: measurement, label, colour, dash)
_BASELINES = (
    ("dash", "scratch", "from scratch", style.PALETTE[0], "--"),
    ("dash", "resumed", "resumed, no intervention", style.PALETTE[1], ":"),
    ("shrink-perturb", "intervened", "shrink-and-perturb(0.3)", style.PALETTE[2], "-."),
    ("reset", "intervened", "reset of $W_L$", style.PALETTE[3], (0, (5, 1, 1, 1))),
)


def _draw_dash_panel(ax, sel: list[dict], key: str, bound_rule: tuple, lam_lim: tuple) -> None:
    """One panel of ``dash_plasticity``: the restored region, the baselines and DASH(λ) over λ.

    Args:
        ax: the panel.
        sel: the rows of :func:`gflab.proofs_checks.dash.dash_map` for this (depth, m, α).
        key: the quantity drawn ("sr_minus_1" or "test_rmse").
        bound_rule: (factor, slack): restored means at most factor·scratch + slack.
        lam_lim: the x-limits (λ).
    """
    d = sorted((r for r in sel if r["kind"] == "dash"), key=lambda r: r["floor"])
    factor, slack = bound_rule
    bound = factor * d[0][key]["scratch"] + slack
    ax.axhspan(1e-30, bound, color=style.PALETTE[2], alpha=0.12, lw=0, zorder=0)
    for kind, which, _, c, ls in _BASELINES:
        b = [r for r in sel if r["kind"] == kind]
        if b:
            ax.axhline(b[0][key][which], color=c, ls=ls, lw=1.0, zorder=2)
    lam = [r["floor"] for r in d]
    ax.plot(lam, [r[key]["intervened"] for r in d], "k-", lw=1.0, zorder=3)
    for r in d:
        ax.plot(
            [r["floor"]],
            [r[key]["intervened"]],
            "o",
            color="k",
            mfc="k" if r["restored"] else "white",
            zorder=4,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    vals = [r[key][w] for r in sel for w in ("intervened", "scratch", "resumed")]
    vals = [v for v in vals if v > 0]
    ax.set_ylim(min(vals) / 10, max(max(vals), bound) * 10)
    ax.set_xlim(*lam_lim)
    style.log_ticks(ax.yaxis)
    ax.yaxis.set_major_locator(LogLocator(numticks=4))


def _dash_legend(fig) -> None:
    """The legend below ``dash_plasticity``: DASH restored or not, the baselines, the region."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color="k", marker="o", mfc="k", label=r"DASH($\lambda$), resumed"),
        *(Line2D([], [], color=c, ls=ls, lw=1.0) for _, _, _, c, ls in _BASELINES),
        Line2D([], [], color="k", marker="o", mfc="white", ls="none"),
        Patch(color=style.PALETTE[2], alpha=0.12, lw=0),
    ]
    labels = [
        r"DASH($\lambda$) resumed (filled: restored)",
        *(lab for _, _, lab, _, _ in _BASELINES),
        "DASH not restored",
        "restored region (≤ 1.1·scratch + slack)",
    ]
    style.legend_below(fig, handles, labels, ncol=3)


def _floor_label(floors):
    """Tick labels for λ (10^k, or 0.3 as a plain number) on ticks at least a factor 25 apart,
    from the smallest up: the narrow panels of the paper style have no room for more."""
    shown: list[float] = []
    for f in sorted(floors):
        if not shown or f / shown[-1] >= 25:
            shown.append(f)

    def label(x, _pos=None):
        if not any(abs(x / f - 1) < 1e-9 for f in shown):
            return ""
        return f"{x:g}" if x >= 0.1 else rf"$10^{{{np.log10(x):.0f}}}$"

    return label


@register(
    "dash_warmstart",
    title="DASH's warm-start protocol on scikit-learn digits (bridge)",
    paper="DASH",
    regenerates="[DASH] the warm-start comparison of the authors' main.py (cold, warm, DASH, shrink-and-perturb, reset) at toy scale: a 64-64-64 MLP on scikit-learn digits instead of ResNet-18/VGG on CIFAR and Tiny-ImageNet; not the paper's settings",
)
def dash_warmstart(ctx: FigureContext):
    """Test accuracy and the first layer's effective rank (Roy–Vetterli, σ¹) against the fraction
    of the training data pretrained on: cold, warm, warm+DASH (λ = α = 0.3), warm+S&P (0.3, 0.01),
    warm + reset of the last layer;
    MLP 64-64-64-10, SGD lr 0.05 momentum 0.9 to 99.9 % train accuracy; mean ± std over seeds.

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, the summary and the wall seconds).
    """

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
    regenerates="[DASH] authors' notebook Discrete_Feature_Learning.ipynb, the plotting cell (cell 5): test accuracy, learned features and points with non-zero gradient against the number of experiments, cold / warm / ideal; same model and settings (N = 1000 per experiment, 50 experiments, 50 features, C = 2, γ = 50, τ = 3, 10 seeds); --fast: 20 experiments, 2 seeds",
)
def dash_synthetic(ctx: FigureContext):
    """The authors' notebook reproduced (sims.dash_synthetic): expected test accuracy, learned
    features and points with non-zero gradient against the number of experiments, for cold
    (retrain from scratch), warm, and ideal (keep features, forget memorised points: DASH's aim);
    N = 1000 per experiment, 50 features, C = 2, γ = 50, τ = 3; mean ± std over seeds.

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, the final means).
    """

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
    one JSON string array (``"json"``) for the store.

    Args:
        **params: the fields of a :class:`gflab.sims.bridge.warmstart.WarmStartConfig`.

    Returns:
        ``{"json": the run as a JSON string}``.
    """
    from gflab.sims.bridge.warmstart import WarmStartConfig, run_warmstart

    cfg = WarmStartConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    out = run_warmstart(cfg)  # NumPy numbers as Python ones; NaN stays NaN (Python's json reads it)
    return {
        "json": np.asarray(json.dumps(out, default=lambda o: getattr(o, "tolist", o.__str__)()))
    }


def feature_learning_arrays(**params) -> dict[str, np.ndarray]:
    """:func:`gflab.sims.dash_synthetic.simulate_feature_learning` of ``FeatureLearningConfig(**params)``
    as arrays ``"method/measure"`` (seeds × J) for the store.

    Args:
        **params: the fields of a :class:`gflab.sims.dash_synthetic.FeatureLearningConfig`.

    Returns:
        ``method/measure`` → array (seeds × J).
    """
    from gflab.sims.dash_synthetic import FeatureLearningConfig, simulate_feature_learning

    cfg = FeatureLearningConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    )
    r = simulate_feature_learning(cfg)
    return {f"{m}/{k}": np.asarray(v) for m, d in r.items() for k, v in d.items()}
