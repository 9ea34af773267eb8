"""Phase diagrams from sweeps [DMC] (docs/theory.md §2.1, claims DMC-3/DMC-4): stable rank of the limit."""

from __future__ import annotations

import tempfile

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from gflab.figures import style
from gflab.figures.registry import register
from gflab.sims.config import DMFConfig
from gflab.sims.methods import Adaptive
from gflab.sims.store import ResultStore
from gflab.sims.sweep import run_sweep
from gflab.theory import closed_forms as CF


def _grids(fast: bool):
    if fast:
        return (2, 3, 4), np.logspace(-3, 2, 6), (2, 3, 4), np.logspace(-1, 1, 3), (0,)
    return (
        (2, 3, 4, 5, 6),
        np.logspace(-4, 2, 13),
        (2, 3, 4, 5),
        np.logspace(-1.5, 1.5, 7),
        (0, 1, 2),
    )


def _configs(fast: bool):
    d1, a1, d2, a2, seeds = _grids(fast)
    n, m = 8, 200.0
    mimic = [
        DMFConfig(
            depth=L,
            n=n,
            init="mimic",
            m=m,
            alpha=float(a),
            mask="diagonal",
            target="ones",
            n_save=20,
            converge_tol=1e-14,
        )
        for L in d1
        for a in a1
    ]
    # relative loss 1e-10 pins the limit's stable rank to ~1e-5; tighter tolerances cost 10-100x
    # more steps at small alpha and depth >= 3 (the saddle escape is slow). Solver: Tsit5 → RKC2
    # (sims.rkc): the tails are stability-limited plateaus. With Tsit5 four of the 84 flows ended
    # at max_steps (depth 5, α = 10^-1.5, 95k steps by t ≈ 5e3; α ≥ 10 at depths 4-5, every
    # step rejected at t = 0) and the rest took 72 s; the hybrid converges in all 84, ≈ 10× fewer
    # steps, stable ranks within 2e-9 of Tsit5's where both converge and within 3e-5 of SciPy
    # LSODA at rtol 1e-11 on the four Tsit5 could not finish (docs/performance.md).
    gauss = [
        DMFConfig(
            depth=L,
            n=n,
            init="gaussian",
            alpha=float(a),
            mask="bernoulli:0.5",
            target="ones",
            seed=s,
            n_save=20,
            converge_tol=1e-10,
            t_max=1e6,
            method=Adaptive(rtol=1e-9, atol=1e-14, max_steps=100_000, solver="tsit5-rkc2"),
        )
        for L in d2
        for a in a2
        for s in seeds
    ]
    return mimic, gauss


def _run_sweep(ctx, configs):
    """Run ``configs`` through the result store (all cores) and return ``(results, summary)``.

    Args:
        ctx: the figure's context (its store, executor and the sidecar's config list).
        configs: the DMF configs of both panels.

    Returns:
        ({config: stored SimResult or None}, the sweep summary); raises RuntimeError on failures.
    """
    with tempfile.TemporaryDirectory(prefix="gflab-fig-") as tmp:
        store = ctx.store or ResultStore(tmp)
        # independent flows: on all cores (the figure executor, default local:2)
        summary = run_sweep(configs, store, ctx.executor())
        ctx.configs.extend(c.to_dict() for c in configs)
        res = {c: store.get(c) for c in configs}
    if summary.failed:
        raise RuntimeError(
            f"phase-diagram sweep: {summary.failed} failures, first: {summary.failures[0]['error']}"
        )
    return res, summary


def _stable_rank(r) -> float:
    """The limit's stable rank of a stored result, NaN when the run or its final state is missing."""
    return r.final["stable_rank"] if r is not None and r.final else np.nan


def _stable_rank_grids(res, mimic, gauss, grids):
    """Both panels' values: the mimic grid (depth × α), the Gaussian grid averaged over seeds, and
    the (depth, α) cells with a seed that did not converge.

    Args:
        res: {config: stored result} of the sweep.
        mimic: the left panel's configs, α fastest.
        gauss: the right panel's configs.
        grids: :func:`_grids`' (depths, alphas, depths, alphas, seeds).

    Returns:
        (Z1 (len(d1), len(a1)), Z2 (len(d2), len(a2)), [(depth, α) not converged, once per seed]).
    """
    d1, a1, d2, a2, _ = grids
    Z1 = np.array(
        [
            [_stable_rank(res[c]) for c in mimic[i * len(a1) : (i + 1) * len(a1)]]
            for i in range(len(d1))
        ]
    )
    Z2 = np.full((len(d2), len(a2)), np.nan)
    not_conv = []
    for i, L in enumerate(d2):
        for j, a in enumerate(a2):
            rs = [res[c] for c in gauss if c.depth == L and c.alpha == float(a)]
            Z2[i, j] = np.nanmean([_stable_rank(r) for r in rs])
            not_conv += [(L, a) for r in rs if r.status != "converged"]
    return Z1, Z2, not_conv


def _draw_heatmap(ax, Z, alphas, depths, title, norm):
    """One panel: the stable-rank grid over (log α, depth) with its value in every cell.

    Args:
        ax: the panel.
        Z: (len(depths), len(alphas)) stable ranks (NaN cells stay unlabelled).
        alphas: the init scales (log-spaced), depths: the depths.
        title: the panel title.
        norm: the colour normalisation both panels share.

    Returns:
        The image (for the colorbar).
    """
    la = np.log10(alphas)
    step = la[1] - la[0]
    im = ax.imshow(
        Z,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        norm=norm,
        extent=(la[0] - step / 2, la[-1] + step / 2, depths[0] - 0.5, depths[-1] + 0.5),
    )
    for i, L in enumerate(depths):
        for j, x in enumerate(la):
            if np.isfinite(Z[i, j]):
                ax.text(
                    x,
                    L,
                    f"{Z[i, j]:.1f}",
                    ha="center",
                    va="center",
                    fontsize=style.small(),
                    color="white" if Z[i, j] < 3 else "black",
                )
    ax.set_xlabel(r"$\log_{10}\alpha$ (initialisation scale)")
    ax.set_ylabel("depth $L$")
    ax.set_yticks(depths)
    ax.set_xticks(np.arange(np.ceil(la[0]), np.floor(la[-1]) + 1))  # integer powers of ten
    ax.set_title(title)
    ax.grid(False)
    return im


def _draw_level_edges(ax, exact, depths, alphas):
    """The closed form's stable-rank levels 1.5 (dashed) and 4 (dotted) in white, drawn along the
    cell edges where the level is crossed, never across the value labels."""
    la = np.log10(alphas)
    half = (la[1] - la[0]) / 2
    for level, ls in ((1.5, "--"), (4.0, ":")):
        above = exact > level
        for i, L in enumerate(depths):
            for j in range(len(alphas)):
                if j + 1 < len(alphas) and above[i, j] != above[i, j + 1]:
                    x = la[j] + half
                    ax.plot([x, x], [L - 0.5, L + 0.5], color="white", ls=ls, lw=1.4)
                if i + 1 < len(depths) and above[i, j] != above[i + 1, j]:
                    x = la[j]
                    ax.plot([x - half, x + half], [L + 0.5, L + 0.5], color="white", ls=ls, lw=1.4)
    ax.set_xlim(la[0] - half, la[-1] + half)
    ax.set_ylim(depths[0] - 0.5, depths[-1] + 0.5)


@register(
    "sweep_phase_diagram",
    title="Stable rank of the limit over (depth, log α): mimic on diagonal, Gaussian on Bernoulli",
    paper="DMC",
    regenerates="ours: [DMC]'s depth and init-scale dependence as a phase diagram of the limit's stable rank over (depth, log α)",
)
def _phase_diagram(ctx):
    """Left: mimic(α, m = 200) init, diagonal Ω, target J, n = 8, with the closed-form limit's
    contour (white dashed). Right: Gaussian init on Bernoulli(0.5) masks, mean over seeds.

    Depth 2 keeps the rank independent of α; depth ≥ 3 drives it to 1 as α → 0, faster when deeper.
    Both panels run their own small sweep through the result store.
    """
    style.apply()
    grids = _grids(ctx.fast)
    d1, a1, d2, a2, seeds = grids
    mimic, gauss = _configs(ctx.fast)
    res, summary = _run_sweep(ctx, mimic + gauss)
    Z1, Z2, not_conv = _stable_rank_grids(res, mimic, gauss, grids)
    exact = np.array([[CF.mimic_limit(8, L, float(a), 200.0).stable_rank for a in a1] for L in d1])
    err = float(np.nanmax(np.abs(Z1 - exact) / exact))

    fig, axes = style.subplots(
        1, 2, aspect=0.4, gridspec_kw={"width_ratios": [len(a1), max(len(a2), len(a1) * 0.6)]}
    )
    norm = LogNorm(vmin=1.0, vmax=8.0)
    _draw_heatmap(axes[0], Z1, a1, d1, r"mimic($\alpha$, $m = 200$), diagonal $\Omega$", norm)
    im = _draw_heatmap(
        axes[1],
        Z2,
        a2,
        d2,
        rf"Gaussian init, Bernoulli(0.5) $\Omega$" "\n" f"mean of {len(seeds)} seed(s)",
        norm,
    )
    _draw_level_edges(axes[0], exact, d1, a1)
    cb = fig.colorbar(im, ax=axes, shrink=0.9, ticks=[1, 1.5, 2, 3, 4, 6, 8])
    cb.ax.yaxis.set_major_formatter(ScalarFormatter())
    cb.ax.yaxis.set_minor_formatter(NullFormatter())
    cb.set_label(r"stable rank $\|W_\infty\|_F^2 / \|W_\infty\|_2^2$ ($n = 8$)")
    style.legend_below(
        fig,
        [Line2D([], [], color="0.3", ls="--", lw=1.4), Line2D([], [], color="0.3", ls=":", lw=1.4)],
        ["closed form: stable rank 1.5", "closed form: stable rank 4 (cell edges, left)"],
        ncol=2,
    )
    style.footer(
        fig,
        "gradient flow, Tsit5 → RKC2 + PID (rtol 1e-9), run to relative loss 1e-14 (left) / 1e-10 "
        f"(right); target J (n = 8); white edges: closed-form stable rank 1.5 and 4; "
        f"max relative error vs closed form {err:.1e}; seeds {list(seeds)} (right)",
    )
    return fig, {
        "seeds": list(seeds),
        "n": 8,
        "m": 200.0,
        "max_rel_error_closed_form": err,
        "not_converged": [[int(L), float(a)] for L, a in not_conv],
        "sweep": {k: v for k, v in summary.to_json().items() if k != "failures"},
    }
