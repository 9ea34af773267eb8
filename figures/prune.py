"""Figures of dataset pruning from training dynamics (DUAL, SemiPrune; docs/pruning.md): test
accuracy against the pruning ratio per method, and the examples' (mean P, std P) with DUAL's Beta
density and the selected points. Both read ``gflab bridge prune`` runs from the result store."""

from __future__ import annotations

import tempfile

import numpy as np

from gflab.figures import style
from gflab.figures.registry import FigureContext, register

__all__ = ["prune_accuracy", "prune_scatter"]

_LABELS = {
    "dual+hard": "DUAL (hard)",
    "dual+beta": "DUAL + Beta sampling",
    "dynunc+hard": "Dyn-Unc (hard)",
    "el2n+hard": "EL2N (hard)",
    "forgetting+hard": "forgetting (hard)",
    "aum+budget": "AUM (budget window)",
    "random": "random",
}


def _store(ctx: FigureContext):
    from gflab.sims.store import ResultStore

    return ctx.store if ctx.store is not None else ResultStore(tempfile.mkdtemp(prefix="gflab-"))


def _experiment(ctx: FigureContext, store, methods, ratios, seeds, epochs: int, T: int):
    from gflab.sims.bridge.prune_data import DataSpec
    from gflab.sims.bridge.prune_run import (
        MethodSpec,
        PruneConfig,
        TrainSpec,
        config_dict,
        run_prune,
    )

    cfg = PruneConfig(
        data=DataSpec(),
        train=TrainSpec(epochs=epochs),
        methods=tuple(MethodSpec(score=s, select=k, T=T) for s, k in methods),
        ratios=ratios,
        seeds=seeds,
    )
    ctx.configs.append(config_dict(cfg))
    return cfg, run_prune(cfg, store, ctx.executor(), progress=ctx.progress)


@register(
    "prune_accuracy",
    title="Dataset pruning on digits: test accuracy against the pruning ratio",
    paper="DUAL",
    regenerates="[DUAL] the paper's main result plot (test accuracy against the pruning ratio, one line per "
    "score, with random and full data; behaapyy/dual-pruning) at toy scale: digits MLP, E = 100 "
    "(--fast 40), DUAL at T = 15 (10), 3 seeds (2); figure number not checked",
)
def prune_accuracy(ctx: FigureContext):
    """Test accuracy of an MLP (64-128-128-10, SGD, E epochs) retrained from scratch on each
    method's coreset of scikit-learn digits (1300 training examples) against the fraction pruned;
    mean ± sd over seeds (bands), full-data accuracy dashed. The legend gives each score's cost:
    the proxy epochs it reads out of E and their wall seconds.

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, its numbers for the sidecar).
    """
    methods = (
        ("dual", "hard"),
        ("dual", "beta"),
        ("dynunc", "hard"),
        ("el2n", "hard"),
        ("forgetting", "hard"),
        ("aum", "budget"),
        ("random", "hard"),
    )
    seeds, epochs, T = ((0, 1), 40, 10) if ctx.fast else ((0, 1, 2), 100, 15)
    ratios = (0.3, 0.5, 0.7, 0.9)
    cfg, out = _experiment(ctx, _store(ctx), methods, ratios, seeds, epochs, T)
    style.apply()
    import matplotlib.pyplot as plt

    fig, axes = style.subplots(1, 2, width="text", aspect=0.45)
    r = np.asarray(ratios)
    full = out["full"]
    axes[0].axhline(100 * full["test_accuracy_mean"], color="k", ls="--", lw=0.9)
    base = np.array(
        [100 * out["methods"]["random"][f"{x:g}"]["test_accuracy_mean"] for x in ratios]
    )
    for i, (name, rows) in enumerate(out["methods"].items()):
        mean = np.array([100 * rows[f"{x:g}"]["test_accuracy_mean"] for x in ratios])
        sd = np.array([100 * (rows[f"{x:g}"]["test_accuracy_sd"] or 0.0) for x in ratios])
        c = out["cost"][name]
        cost = (
            "no proxy"
            if c["score_epochs"] == 0
            else f"{c['score_epochs']}/{c['full_epochs']} ep, {c['proxy_seconds']:.1f} s"
        )
        kw = dict(
            color=style.PALETTE[i % len(style.PALETTE)],
            marker=style.MARKERS[i % len(style.MARKERS)],
            ls=style.LINESTYLES[i % len(style.LINESTYLES)],
            ms=4,
        )
        if name == "random":
            kw.update(color="0.3", marker="o", ls="-", mfc="white")
        axes[0].plot(r, mean, label=f"{_LABELS.get(name, name)} ({cost})", **kw)
        axes[0].fill_between(r, mean - sd, mean + sd, color=kw["color"], alpha=0.15, lw=0)
        axes[1].plot(r, mean - base, **kw)
        axes[1].fill_between(
            r, mean - base - sd, mean - base + sd, color=kw["color"], alpha=0.12, lw=0
        )
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title("retrained on the coreset")
    from matplotlib.ticker import FuncFormatter, NullLocator

    axes[1].set_yscale("symlog", linthresh=2.0)
    lo, hi = axes[1].get_ylim()
    ticks = [t for t in (-50, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10) if lo <= t <= hi]
    axes[1].set_yticks(ticks)
    axes[1].yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:+g}" if v else "0"))
    axes[1].yaxis.set_minor_locator(NullLocator())
    axes[1].set_ylabel("minus random (points, symlog)")
    axes[1].set_title("difference to random selection (band: that method's sd)")
    for ax in axes:
        ax.set_xlabel("pruning ratio (fraction removed)")
        ax.set_xticks(r)
    handles, labels = axes[0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], color="k", ls="--", lw=0.9))
    labels.append(
        f"full data ({full['epochs']} ep, {full['seconds_mean']:.1f} s): "
        f"{100 * full['test_accuracy_mean']:.1f} %"
    )
    style.legend_below(fig, handles, labels, ncol=2)
    fig.suptitle(
        f"digits, MLP, E = {epochs}, DUAL at T = {T}; mean ± sd over {len(seeds)} seeds",
        fontsize=plt.rcParams["axes.titlesize"],
    )
    style.footer(fig, f"{len(seeds)} seeds, wall {out['wall_seconds']:.0f} s")
    return fig, {
        "full": full,
        "methods": {
            m: {k: v["test_accuracy"] for k, v in rows.items()}
            for m, rows in out["methods"].items()
        },
        "cost": out["cost"],
    }


@register(
    "prune_scatter",
    title="DUAL's Beta sampling: examples by (mean P, std P) and the coresets at 30/70/90 %",
    paper="DUAL",
    regenerates="[DUAL] the picture of examples by (mean, std) of the true-label probability with the "
    "ratio-adaptive Beta density (c_d = 4) and the kept examples, at toy scale on digits; figure "
    "number not checked",
)
def prune_scatter(ctx: FigureContext):
    """Each digits training example at (mean, sd) of its true-label probability P over the first
    T proxy epochs (seed 0), grey; coloured: the examples DUAL+Beta keeps at pruning ratio 30, 70
    and 90 %; line (right axis): the Beta density Beta(μ; a, b) the sampling weights with, its
    mode moving to easy examples (μ → 1) as the ratio grows. Hard DUAL's kept set at 90 % is
    outlined for comparison.

    Args:
        ctx: the figure's context (store, ``fast``, provenance).

    Returns:
        (the figure, its numbers for the sidecar).
    """
    from scipy.stats import beta as beta_dist

    from gflab.sims.bridge.prune_run import proxy_key
    from gflab.theory import pruning as PR

    seeds, epochs, T = ((0,), 40, 10) if ctx.fast else ((0,), 100, 15)
    ratios = (0.3, 0.7, 0.9)
    store = _store(ctx)
    methods = (("dual", "beta"), ("dual", "hard"))
    cfg, out = _experiment(ctx, store, methods, ratios, seeds, epochs, T)
    arrays, _ = store.get_record(proxy_key(cfg, 0))
    P = PR.true_label_probs(arrays["logits"], arrays["labels"])
    mu = P[:T].mean(0)
    sd = P[:T].std(0, ddof=1)
    scores = PR.dual_scores(P, T, 10)
    top = np.argsort(scores, kind="stable")[-10:]
    anchor = float(mu[top].mean())
    from gflab.sims.bridge.prune_run import coreset_key

    style.apply()
    fig, axes = style.subplots(1, 3, width="text", aspect=0.36, sharey=True)
    grid = np.linspace(0.0, 1.0, 400)[1:-1]
    for i, (ax, r) in enumerate(zip(axes, ratios, strict=True)):
        beta_m = cfg.methods[0]
        idx = store.get_record(coreset_key(proxy_key(cfg, 0), beta_m, r))[0]["indices"]
        ax.scatter(mu, sd, s=3, color="0.78", lw=0, rasterized=True, label="all examples")
        ax.scatter(
            mu[idx], sd[idx], s=5, color=style.PALETTE[0], lw=0, rasterized=True,
            label="kept by DUAL + Beta",
        )  # fmt: skip
        if r == 0.9:
            h = store.get_record(coreset_key(proxy_key(cfg, 0), cfg.methods[1], r))[0]["indices"]
            ax.scatter(
                mu[h], sd[h], s=12, facecolors="none", edgecolors="k", lw=0.5,
                label="kept by hard DUAL",
            )  # fmt: skip
        a, b = PR.beta_params(r, 4.0, anchor, "c_d")
        tw = ax.twinx()
        tw.plot(grid, beta_dist.pdf(grid, a, b), color="k", lw=1.0, label="Beta density")
        tw.set_ylim(bottom=0)
        tw.grid(False)
        tw.tick_params(axis="y", labelsize=style.small())
        if i == 2:
            tw.set_ylabel(r"Beta$(\mu; a, b)$")
        ax.set_title(f"r = {100 * r:.0f} %: keep {len(idx)}, a = {a:.1f}, b = {b:.1f}")
        ax.set_xlabel(rf"mean $P$ over epochs 1–{T}")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel(rf"sd of $P$ over epochs 1–{T}")
    handles, labels = [], []
    for ax in (axes[2], axes[2].figure.axes[-1]):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    style.legend_below(fig, handles, labels, ncol=4, markerscale=2.5)
    style.footer(fig, f"digits, seed 0, E = {epochs}, T = {T}, anchor μ = {anchor:.2f}")
    return fig, {"anchor": anchor, "T": T, "epochs": epochs}
