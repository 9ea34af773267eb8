"""Figures for [DMC] (docs/theory.md §2.1)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from gflab.figures import style
from gflab.figures.registry import register
from gflab.sims import DMFConfig, simulate_dmf
from gflab.sims.methods import Adaptive
from gflab.sims.plasticity import PlasticityConfig, simulate_plasticity
from gflab.theory import closed_forms as CF
from gflab.theory import measures as M

# flow time that covers each m's convergence (measured: the depth-5 flow converges at t = 20.2,
# 27.7, 37.1 for m = 2, 3, 5, α = 1e-3, n = 2); a linear save grid to it puts ≥ 40 points in
# every rise (the log grid of an open-ended run left 2-3 per rise)
OFFDIAG_T1 = {2.0: 24.0, 3.0: 32.0, 5.0: 42.0}


def _mimic_ones(L: int, n: int, m: float, alpha: float, mask: str = "diagonal", **kw) -> DMFConfig:
    """The [DMC] setting of these figures: depth L, mimic(α, m) init, target J (all ones) on Ω."""
    return DMFConfig(depth=L, n=n, init="mimic", m=m, alpha=alpha, mask=mask, target="ones", **kw)


def _panel_row(k: int, aspect_one: float):
    """One row of ``k`` panels sharing y (axes as a 1×k array): a column-wide figure of aspect
    ``aspect_one`` for a single panel (the fast profile), text-wide at 0.4 for more."""
    return style.subplots(
        1,
        k,
        width="column" if k == 1 else "text",
        aspect=aspect_one if k == 1 else 0.4,
        squeeze=False,
        sharey=True,
    )


@register(
    "dmc_offdiag_2x2",
    title="Diagonal completion of a 2×2 all-ones matrix: the off-diagonal entry over time",
    paper="DMC",
    regenerates="ours: the smallest case of [DMC]'s diagonal-observation theorems (n = 2, target J, mimic(α = 1e-3, m ∈ {2, 3, 5}), depths 2–5) with the closed-form limits of docs/theory.md §2.1",
)
def _offdiag_2x2(ctx):
    """W_12(t) for depths 2–5 from mimic(α, m) init, diagonal Ω, target J; dashed: closed-form limits.

    Depth 2 settles at ρ(m) (no low-rank bias); depth ≥ 3 goes to ≈ 1 (rank one).
    """
    style.apply()
    n, alpha = 2, 1e-3
    ms = (2.0, 5.0) if not ctx.fast else (3.0,)
    depths = (2, 3, 4, 5)
    n_save = 200 if ctx.fast else 400
    fig, axes = _panel_row(len(ms), aspect_one=0.78)

    def config(m, L):
        return _mimic_ones(L, n, m, alpha, t1=OFFDIAG_T1[m], grid="linear", n_save=n_save)

    ctx.prefetch([config(m, L) for m in ms for L in depths])  # independent flows: all cores
    for ax, m in zip(axes[0], ms, strict=True):
        for i, L in enumerate(depths):
            res = ctx.run(config(m, L), simulate_dmf)
            W12 = res.series["matrix"][:, 0, 1]
            ax.plot(
                res.times,
                W12,
                color=style.PALETTE[i],
                ls=style.LINESTYLES[i],
                marker=style.MARKERS[i],
                markevery=(i * n_save // 40, n_save // 10),
                label=f"$L = {L}$",
                zorder=3 + len(depths) - i,
            )
        rho = CF.mimic_limit(n, 2, alpha, m).offdiagonal
        deep = [CF.mimic_limit(n, L, alpha, m).offdiagonal for L in depths[1:]]
        gap = 1 - min(deep)
        e = int(np.floor(np.log10(gap)))
        ax.axhline(
            rho,
            color="0.3",
            ls=(0, (2, 2)),
            lw=0.8,
            zorder=1,
            label=r"$L = 2$ limit $\rho(m)$",
        )
        ax.axhline(
            max(deep),
            color="0.3",
            ls=(0, (1, 1.5)),
            lw=0.8,
            zorder=1,
            label=r"$L \geq 3$ limits ($\approx 1$)",
        )
        ax.set_xlim(0, OFFDIAG_T1[m])
        ax.set_xlabel("flow time $t$")
        ax.set_title(
            rf"$m = {m:g}$, $\alpha = 10^{{{np.log10(alpha):.0f}}}$, $n = {n}$"
            "\n"
            rf"$\rho(m) = {rho:.3g}$, $1 - W_{{12}}(\infty) \leq {gap / 10**e:.1f} \cdot 10^{{{e}}}$"
        )
        ax.set_ylim(-0.04, 1.12)
    axes[0][0].set_ylabel(r"off-diagonal entry $W_{12}(t)$ (target 1)")
    style.legend_below(fig, ncol=3 if len(ms) == 1 else 6)
    style.footer(
        fig,
        "gradient flow, Tsit5 → RKC2 + PID (rtol 1e-9), mimic init (deterministic: no seed); "
        "depth-2 limit ρ = (n+2m−2)/(n+m²−1); depth ≥ 3 from the conserved λ2^(−κ) − λ1^(−κ)",
    )
    return fig, {"seeds": [], "alpha": alpha, "n": n, "m": list(ms), "depths": list(depths)}


@register(
    "dmc_stable_rank_vs_alpha",
    title="Stable rank of the limit vs init scale α: depth 2 keeps it, depth ≥ 3 drives it to 1",
    paper="DMC",
    regenerates="ours: [DMC]'s rank-one limit as α → 0 (coupled ⇔ rank one) drawn as sr(W∞) − 1 against α, closed forms and integrated flow, depths 2–5",
)
def _stable_rank_vs_alpha(ctx):
    """sr(W∞) − 1 vs α for depths 2–5 (diagonal Ω, target J, mimic(α, m)); curves: closed forms,
    markers: integrated gradient flow. m = ∞ gives W∞ = I (sr − 1 = n − 1) at every depth."""
    style.apply()
    n = 4
    ms = (3.0, 10.0)
    depths = (2, 3, 4, 5)
    a_sim = (1e-1, 1e-2, 1e-3, 1e-4) if not ctx.fast else (1e-1, 1e-3)
    a_dense = np.geomspace(1e-6, 1, 61)

    def config(m, L, a):
        return _mimic_ones(L, n, m, a, n_save=32)

    ctx.prefetch([config(m, L, a) for m in ms for L in depths for a in a_sim])
    fig, axes = style.subplots(1, len(ms), aspect=0.45, squeeze=False, sharey=True)
    for ax, m in zip(axes[0], ms, strict=True):
        for i, L in enumerate(depths):
            color = style.PALETTE[i]
            cf = [M.stable_rank_tail(CF.mimic_limit(n, L, a, m).singular_values) for a in a_dense]
            ax.plot(a_dense, cf, color=color, ls=style.LINESTYLES[i], label=f"$L = {L}$")
            sims_y = []
            for a in a_sim:
                res = ctx.run(config(m, L, a), simulate_dmf)
                sims_y.append(M.stable_rank_tail(res.final["singular_values"]))
            ax.plot(a_sim, sims_y, style.MARKERS[i], color=color, mfc="none", mew=1.2, zorder=4)
        # m = ∞ (W∞ = I): drawn well inside the frame, labelled on the line
        ax.axhline(n - 1, color="k", ls=(0, (1, 1.2)), lw=1.2)
        ax.text(
            1.5e-6,
            (n - 1) * 2.2,
            rf"$m = \infty$: $W_\infty = I$, $n - 1 = {n - 1}$ at every $L$",
            fontsize=style.small(),
            va="bottom",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-16, 1e4)
        ax.yaxis.set_major_locator(LogLocator(numticks=6))
        ax.set_xlabel(r"init scale $\alpha$")
        ax.set_title(rf"mimic($\alpha$, $m = {m:g}$), $n = {n}$, diagonal $\Omega$, target $J$")
    axes[0][0].set_ylabel(r"$\mathrm{sr}(W_\infty) - 1 = \sum_{i\geq2}\sigma_i^2/\sigma_1^2$")
    handles, labels = axes[0][0].get_legend_handles_labels()
    (mark,) = axes[0][0].plot([], [], "ko", mfc="none", label="gradient flow")
    style.legend_below(fig, handles + [mark], labels + ["gradient flow (markers)"], ncol=5)
    style.footer(
        fig,
        "gradient flow, Tsit5 → RKC2 + PID (rtol 1e-9) until ℓ/ℓ_ref ≤ 1e-16; deterministic init "
        "(no seed). sr − 1 = Σ_{i≥2}σ_i²/σ_1², computed without cancellation; values below "
        "~1e-15 are at float64 resolution; curves: closed forms.",
    )
    return fig, {
        "seeds": [],
        "n": n,
        "m": list(ms),
        "depths": list(depths),
        "alpha_sim": list(a_sim),
    }


@register(
    "dmc_coupling_time",
    title="Tangent-kernel coupling between observation groups over time, and what it does to the rank",
    paper="DMC",
    regenerates="ours: [DMC]'s coupling condition (cross-group tangent kernel) measured along the flow, with the stable rank it leads to",
)
def _coupling_time(ctx):
    """Left: max cross-group |K| / max diag K along the flow; right: stable rank − 1 of W(t) of
    the same runs. Colour: depth; solid: diagonal Ω (6 groups), dashed: Ω = 2 full diagonal
    blocks.

    Depth 2 is exactly 0 (drawn at the axis floor 1e-8, below both thresholds) and its stable
    rank − 1 stays where the init put it (λ1/λ2 is conserved, docs/theory.md §2.1); depth ≥ 3 is
    coupled from t = 0 (the ratio is set by the mimic init's structure and barely moves) and its
    stable rank − 1 falls by decades while the product grows. The grey rules are the thresholds of claims
    DMC-1/DMC-2 (τ_dec = 1e-6, τ_cpl = 1e-3)."""
    style.apply()
    n, m, alpha = 6, 3.0, 1e-2
    depths = (2, 3, 4) if ctx.fast else (2, 3, 4, 5)
    masks = (("diagonal", "-", r"diagonal $\Omega$"), ("block:2", "--", r"2 diagonal blocks"))
    floor = 1e-8  # where the exact zeros of depth 2 are drawn: the O(0.1) curves keep their room
    fig, (ax, ax2) = style.subplots(1, 2, aspect=0.42)

    def config(mask, L):
        return _mimic_ones(L, n, m, alpha, mask, coupling=True, n_save=256, t1=200.0, grid="log")

    # compile-bound independent flows (one shape per depth and mask): all cores
    ctx.prefetch([config(mask, L) for mask, *_ in masks for L in depths])
    meta = {}
    for mask, ls, _ in masks:
        for i, L in enumerate(depths):
            res = ctx.run(config(mask, L), simulate_dmf)
            t = res.times[1:]
            c = np.maximum(np.asarray(res.series["coupling"])[1:], floor)
            S = np.asarray(res.series["singular_values"])[1:]
            sr = np.sum(S[:, 1:] ** 2, axis=1) / S[:, 0] ** 2  # stable rank − 1, no cancellation
            kw = dict(color=style.PALETTE[i], ls=ls, lw=None if ls == "-" else 1.0)
            ax.plot(t, c, **kw)
            ax2.plot(t, sr, **kw)
            meta[f"{mask}_L{L}"] = {"coupling_max": float(np.max(c)), "sr_minus_1": float(sr[-1])}
    for y, text in (
        (1e-6, r"$\tau_\mathrm{dec} = 10^{-6}$: decoupled below"),
        (1e-3, r"$\tau_\mathrm{cpl} = 10^{-3}$: coupled above"),
    ):
        ax.axhline(y, color="0.55", lw=0.7, zorder=1)
        ax.text(0.02, y * 2, text, fontsize=style.small(), transform=ax.get_yaxis_transform())
    ax.text(
        0.02,
        floor * 2,
        "$L = 2$: exactly 0 (drawn at the floor)",
        fontsize=style.small(),
        color=style.PALETTE[0],
        transform=ax.get_yaxis_transform(),
    )
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 3)
    ax.yaxis.set_major_locator(LogLocator(numticks=6))
    ax.set_ylabel(r"coupling $\max_\mathrm{cross}|K| \,/\, \max_\mathrm{diag} K$")
    ax.set_title("coupling between observation groups")
    ax2.set_ylabel(r"stable rank $- 1$ $= \sum_{i \geq 2} \sigma_i^2 / \sigma_1^2$")
    ax2.set_yscale("log")
    ax2.yaxis.set_major_locator(LogLocator(numticks=6))
    ax2.set_title("distance of $W(t)$ from rank one")
    for a in (ax, ax2):
        a.set_xscale("log")
        a.xaxis.set_major_locator(LogLocator(numticks=6))
        a.set_xlabel("flow time $t$")
    handles = [Line2D([], [], color=style.PALETTE[i]) for i in range(len(depths))]
    labels = [f"$L = {L}$" for L in depths]
    handles += [Line2D([], [], color="0.3", ls=ls, lw=1.2) for _, ls, _ in masks]
    labels += [lab for *_, lab in masks]
    style.legend_below(fig, handles, labels, ncol=len(handles))
    style.footer(
        fig,
        f"n = {n}, mimic(α = {alpha:g}, m = {m:g}), target J; tangent kernel K_(ij),(pq) = "
        "Σ_l (P_l P_lᵀ)_ip (Q_lᵀ Q_l)_jq at saved times; gradient flow, Tsit5 → RKC2 + PID (rtol 1e-9); "
        "runs stop at t = 200 (learning ends by t ≈ 10); deterministic init (no seed).",
    )
    return fig, {"seeds": [], "n": n, "m": m, "alpha": alpha, "depths": list(depths), **meta}


def _coincident(S: np.ndarray, rtol: float = 1e-6) -> list[list[int]]:
    """Groups of columns of ``S`` (T×k) whose traces agree to ``rtol`` of the largest value:
    drawn as one line with one label, so no curve hides exactly under another."""
    scale = float(np.max(np.abs(S))) or 1.0
    groups: list[list[int]] = []
    for i in range(S.shape[1]):
        for g in groups:
            if np.max(np.abs(S[:, i] - S[:, g[0]])) <= rtol * scale:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def _sigma_label(g: list[int]) -> str:
    if len(g) == 1:
        return rf"$\sigma_{{{g[0] + 1}}}$"
    return rf"$\sigma_{{{g[0] + 1}}} = \ldots = \sigma_{{{g[-1] + 1}}}$"


@register(
    "dmc_plasticity_svals",
    title="Loss of plasticity: singular values over time, resumed vs from scratch",
    paper="DMC",
    regenerates="[DMC] the loss-of-plasticity experiment: depth 2 pretrained on a decoupled (diagonal) Ω1 and resumed on a connected Ω2 keeps its rank, from scratch and depth 3 do not (figure number not checked; settings gflab's: n = 6, target J, mimic(1e-3, 10), gradient flow)",
)
def _plasticity_svals(ctx):
    """σ_i(W(t)) for Ω1 = diagonal → Ω2 = diagonal + superdiagonal, target J, mimic(α, m = 10).

    Columns: phase 1 on Ω1; phase 2 resumed from phase 1's end (time since the switch); phase 2
    from the same init (scratch). Rows: depth 2 and 3. Every panel has the same time axis; each
    phase stops at convergence (ℓ/ℓ_ref ≤ 1e-16), after which W is stationary and its σ_i are
    drawn constant to the right edge. Singular values whose traces coincide (the mimic init is
    degenerate) are one line, named in the panel. Depth 2 resumed keeps several large σ_i (no
    low-rank bias left); scratch and depth 3 are rank one."""
    style.apply()
    n, m, alpha = 6, 10.0, 1e-3
    depths = (2, 3)
    # a log save grid of 1500 points from t_max·1e-9: ≈ 170 per decade, so the steep depth-3
    # rise (3 decades of σ_1 within Δt ≈ 3 near t ≈ 17) is drawn from ≥ 10 points, not 2
    runs = {
        L: simulate_plasticity(
            PlasticityConfig(depth=L, n=n, m=m, alpha=alpha, n_save=1500, t_max=400.0), run=ctx.run
        )
        for L in depths
    }
    columns = (
        ("pretrain", r"phase 1 on $\Omega_1$ (diagonal)", "flow time $t$"),
        ("resumed", r"phase 2 on $\Omega_2$, resumed", r"time since the switch $t - t_s$"),
        ("scratch", r"phase 2 on $\Omega_2$, from scratch", "flow time $t$"),
    )
    t_lim = (1e-2, 1.5 * max(getattr(p, k).times[-1] for p in runs.values() for k, *_ in columns))
    fig, axes = style.subplots(len(depths), 3, aspect=0.56, sharex=True, sharey=True)
    meta = {}
    for row, L in enumerate(depths):
        p = runs[L]
        for col, (ax, (key, title, xlabel)) in enumerate(zip(axes[row], columns, strict=True)):
            _draw_svals_panel(ax, getattr(p, key), t_lim, n)
            if row == 0:
                ax.set_title(title)
            if row == len(depths) - 1:
                ax.set_xlabel(xlabel)
            if col == 0:
                ax.set_ylabel(rf"depth $L = {L}$" + "\n" + r"$\sigma_i(W)$")
        meta[f"L{L}"] = {
            "switch_time": p.switch_time,
            "resumed_stable_rank": p.resumed.final["stable_rank"],
            "scratch_stable_rank": p.scratch.final["stable_rank"],
        }
    style.legend_below(fig, ncol=n)
    style.footer(
        fig,
        f"n = {n}, mimic(α = {alpha:g}, m = {m:g}) (deterministic: no seed), target J, "
        "Ω1 = diagonal, Ω2 = diagonal + superdiagonal; gradient flow Tsit5 → RKC2 + PID (rtol 1e-9), "
        "each phase until ℓ/ℓ_ref ≤ 1e-16, then drawn constant; switch times "
        + ", ".join(f"L = {L}: t_s = {meta[f'L{L}']['switch_time']:.3g}" for L in depths),
    )
    return fig, {"seeds": [], "n": n, "m": m, "alpha": alpha, **meta}


def _draw_svals_panel(ax, res, t_lim: tuple[float, float], n: int) -> None:
    """One panel of ``dmc_plasticity_svals``: σ_i(W(t)) of one phase on log–log axes, each trace
    held at its last value up to the right edge (W is stationary after convergence), coincident
    traces drawn once and named, and the final stable rank in the corner.

    Args:
        ax: the panel.
        res: the phase's stored result (its "singular_values" series and final stable rank).
        t_lim: (left, right) edge of the time axis.
        n: the matrix size (number of σ_i).
    """
    t_lo, t_hi = t_lim
    t = np.append(res.times[1:], t_hi)  # stationary after convergence: flat to the edge
    S = np.asarray(res.series["singular_values"])[1:]
    S = np.vstack([S, S[-1:]])
    for g in _coincident(S):
        i = g[0]
        c = style.PALETTE[i % len(style.PALETTE)]
        ax.plot(
            t,
            S[:, i],
            color=c,
            ls=style.LINESTYLES[i % len(style.LINESTYLES)],
            zorder=3 + n - i,
            label=rf"$\sigma_{{{i + 1}}}$",
        )
        if len(g) > 1:  # coincident traces: one line, named below its left end
            ax.annotate(
                _sigma_label(g),
                (t_lo, S[np.searchsorted(t, t_lo), i]),
                xytext=(3, -2),
                textcoords="offset points",
                va="top",
                fontsize=style.small(),
                color=c,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(t_lo, t_hi)
    ax.set_ylim(4e-6, 30)  # room below the smallest σ_i for its label
    ax.xaxis.set_major_locator(LogLocator(numticks=5))
    ax.yaxis.set_major_locator(LogLocator(numticks=6))
    ax.text(  # where no panel has a curve: bottom right, below every σ_i's plateau
        0.97,
        0.04,
        f"stable rank {res.final['stable_rank']:.2f}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=style.small(),
        bbox=dict(fc="white", ec="none", alpha=0.8, pad=1),
    )


KLEINMAN_MODEL = "dmf-kleinman"


def kleinman_record(depth: int, seed: int, **scale) -> dict[str, np.ndarray]:
    """One (depth, seed) of Kleinman's protocol as arrays: ``t_c``, ``err_{N2}`` per N2 (test error
    after phase 2 for each T_c) and ``wall_seconds``; the runner of ``ctx.record``.

    Args:
        depth: number of factors (1 = a single matrix).
        seed: problem and init seed.
        **scale: the fields of :class:`gflab.sims.kleinman.KleinmanScale` (lists become tuples).

    Returns:
        {"t_c": (k,), "err_N2": (k,) for each N2, "wall_seconds": ()}.
    """
    from gflab.sims.kleinman import KleinmanScale, run_kleinman

    sc = KleinmanScale(**{k: tuple(v) if isinstance(v, list) else v for k, v in scale.items()})
    run = run_kleinman(sc, depth, seed)
    tcs = sorted(sc.t_c)
    arrays = {"t_c": np.asarray(tcs, dtype=float)}
    for n2 in sc.n2:
        arrays[f"err_{n2}"] = np.asarray([run.test_error[n2][tc] for tc in tcs])
    arrays["wall_seconds"] = np.asarray(run.wall_seconds)
    return arrays


@register(
    "dmc_plasticity_tc",
    title="Critical period: final test error vs switch step T_c, per depth (Kleinman's protocol)",
    paper="DMC",
    regenerates="[Kleinman] matrixcompletion/plot_depth_subset.py, 'Effect of Depth (Subset Obs.)': test error after the switch against the switch epoch, their depths 1–3 (gflab adds 4; the protocol is revisited in [DMC]); GFLAB_KLEINMAN_FULL=1 runs their scale (n = 100, rank 5, N1 = 1000 → N2 ∈ {1250, …, 2000}, lr 0.2, init 1e-3, 30 000 steps after), the default a reduced one (n = 60, rank 3, N1 = 540 → N2 = 1080); 3 seeds instead of their 1",
)
def _plasticity_tc(ctx):
    """Test error mean_{all entries}(W − W*)² after phase 2, vs the step T_c at which Ω1 → Ω2.

    GD on the mean loss, lr 0.2, Gaussian init 1e-3, rank-r truth with ‖W*‖_F = n; median over
    seeds with the min–max band (the legend says so). Depth 1 is a single matrix (Kleinman's convex
    baseline). T_c on a symmetric-log axis: logarithmic from the first nonzero switch, with
    T_c = 0 set apart at the left (the grid is roughly geometric; Kleinman's own plot uses a
    linear axis, which crowds the early switches where the critical period is)."""
    import os
    from dataclasses import asdict

    from gflab.sims.kleinman import KleinmanScale, kleinman_scale

    style.apply()
    if ctx.fast:
        scale = kleinman_scale(fast=True)
    elif os.environ.get("GFLAB_KLEINMAN_FULL"):
        scale = kleinman_scale(fast=False)
    else:  # medium: what a figure run can afford on a CPU; the full scale is a long run
        scale = KleinmanScale(
            n=60,
            rank=3,
            n1=540,
            n2=(1080,),
            t_c=(0, 2000, 5000, 10_000, 20_000, 40_000),
            post_steps=20_000,
            seeds=(0, 1, 2),
            chunk=1000,
        )
    runner = "gflab.figures.dmc:kleinman_record"
    params = {
        L: [{"depth": L, "seed": s, **asdict(scale)} for s in scale.seeds] for L in scale.depths
    }
    # depths × seeds independent GD runs: on all cores first
    ctx.prefetch_records(KLEINMAN_MODEL, [p for ps in params.values() for p in ps], runner)
    n2s = scale.n2
    fig, axes = _panel_row(len(n2s), aspect_one=0.8)
    for i, L in enumerate(scale.depths):
        recs = [ctx.record(KLEINMAN_MODEL, p, runner) for p in params[L]]
        x = recs[0]["t_c"] / 1e3
        for ax, n2 in zip(axes[0], n2s, strict=True):
            errs = np.stack([r[f"err_{n2}"] for r in recs])
            c = style.PALETTE[i]
            lab = f"depth {L}" + (" (one matrix)" if L == 1 else "")
            ax.plot(
                x,
                np.median(errs, 0),
                marker=style.MARKERS[i],
                ls=style.LINESTYLES[i],
                color=c,
                label=lab,
                zorder=3 + i,
            )
            ax.fill_between(x, errs.min(0), errs.max(0), color=c, alpha=0.18, lw=0)
    for ax, n2 in zip(axes[0], n2s, strict=True):
        ax.set_yscale("log")
        # T_c = 0 at 0, the rest logarithmic from the first nonzero switch: no jump from 1 to 10³
        tc = np.asarray(sorted(scale.t_c)) / 1e3
        ax.set_xscale("symlog", linthresh=float(min(tc[tc > 0])), linscale=0.6)
        ax.set_xticks(tc)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlim(-0.15 * float(min(tc[tc > 0])), tc[-1] * 1.15)
        ax.set_xlabel(
            r"switch step $T_c$ ($10^3$ GD steps on $\Omega_1$)"
            + "\n"
            + r"(log axis; $T_c = 0$ set apart)"
        )
        ax.set_title(
            f"$n = {scale.n}$, rank {scale.rank}: $N_1 = {scale.n1} \\to N_2 = {n2}$ observed"
        )
    axes[0][0].set_ylabel(
        f"test error after {scale.post_steps:,} more steps\n(mean squared, all entries; median)"
    )
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(Patch(color="0.5", alpha=0.25, lw=0))
    labels.append(f"band: min–max, {len(scale.seeds)} seeds")
    style.legend_below(fig, handles, labels, ncol=2)
    style.footer(
        fig,
        f"GD lr {scale.lr} on ½·mean loss, Gaussian init std init^(1/L)/√n with init = "
        f"{scale.init_scale:g}; seeds {list(scale.seeds)} median, band = min–max over seeds.",
    )
    return fig, {"seeds": list(scale.seeds), "scale": {k: v for k, v in vars(scale).items()}}


# effrank_depth's solver settings (measured on seed 0, docs/dmc.md "Figure runtimes")
EFFRANK_RTOL = 1e-6  # vs the claims' 1e-9: effective ranks agree to ~1e-6, ≈ 2.7× fewer steps
EFFRANK_STOP = 1e-6  # ℓ/ℓ_ref stop, unchanged: see _effrank_depth for how settled that is
# Tsit5 → RKC2 where steps are stability-limited (the α = 1e-2 flows' stiff plateaus): the 40
# flows took 399 s wall instead of 761 s (fresh store, 2 workers, load ≈ 3), effective ranks
# within 3.8e-7 of Tsit5's (docs/dmc.md "Figure runtimes")
EFFRANK_SOLVER = "tsit5-rkc2"


@register(
    "dmc_effrank_depth",
    title="Random-mask completion: effective rank at convergence vs depth",
    paper="DMC",
    regenerates="[DMC] authors' experiments/matrix_completion.py (baekrok/MC): effective rank of the completed matrix against depth, n = 100, rank-5 target, Bernoulli(0.2) mask, α ∈ {1e-2, 1e-4}; differs in the init (independent Gaussian factors, theirs tied), the solver (gradient flow, theirs SGD lr 0.2) and the seeds (0–4, theirs 80–99)",
)
def _effrank_depth(ctx):
    """Effective rank exp(H(σ/Σσ)) (Roy–Vetterli, σ not σ²) of the limit, Bernoulli Ω, low-rank W*.

    Init: gflab's ``gaussian``, *independent* Gaussian factors per layer, entries
    N(0, (α^{1/L}/√n)²) (not the authors' tied init, ``tied-gaussian``). Gradient flow until
    ℓ/ℓ_ref ≤ 1e-6; mean ± std over seeds (band). The reference line is the effective rank of
    the target W* itself (mean over the seeds' targets), the value a perfect completion has.

    Solver: Tsit5 switching to RKC2 where a step is stability-limited (``tsit5-rkc2``), rtol 1e-6,
    not the claims' 1e-9. The α = 1e-4 flows are accuracy-limited (depth 5, α = 1e-4, seed 0:
    rtol 1e-6 takes 2165 Tsit5 steps instead of 5803, the limit's effective rank moves by 1.4e-6;
    the hybrid takes 2256), the α = 1e-2 ones stability-limited on long plateaus (depth 3, seed 0:
    640 hybrid steps against 2007 Tsit5 steps).
    Stop: at ℓ/ℓ_ref = 1e-6 the effective rank is settled to 2.4e-4 at depth 5 but not at depth
    2–3: it still grows by 9.6e-3 (depth 2, α = 1e-2, seed 0, run on to 1e-12) and a depth-3 seed
    moved 0.016 by 1e-8 — below the seed spread, invisible in the plot; stopping at 1e-8 would
    settle it (< 1e-3) but the depth-3 tail is stiff and slow (≈ 6× the steps), so the stop
    stays at 1e-6."""
    style.apply()
    setting = _effrank_setting(ctx.fast)
    n, rank, p, seeds, depths = setting
    alphas = (1e-2, 1e-4)
    # 40 independent flows of up to a minute each: compute them on all cores first, the longest
    # first (the pool takes them in order; deeper and smaller α is slower: depth 5, α = 1e-4
    # 16-36 s, depth 2 about 1 s), so that no long flow starts last while the other core idles
    ctx.prefetch(
        [
            _effrank_config(setting, a, L, s)
            for L in depths[::-1]
            for a in sorted(alphas)
            for s in seeds
        ]
    )
    fig, ax = style.subplots(width="column", aspect=0.85)
    out = {}
    for i, a in enumerate(alphas):
        v = _effective_ranks(ctx, setting, a)
        _draw_effrank(ax, depths, v, a, i)
        out[f"alpha_{a:g}"] = v.tolist()
    target_er = _target_effective_ranks(setting)
    er_star = float(np.mean(target_er))
    ax.axhline(
        er_star, color="0.3", ls="--", lw=0.9, label=rf"effective rank of $W^*$ ({er_star:.2f})"
    )
    ax.set_xticks(depths)
    ax.set_xlabel("depth $L$")
    ax.set_ylabel(r"effective rank of $W_\infty$ (Roy–Vetterli, $\sigma$)")
    ax.set_title(
        f"$n = {n}$, rank-{rank} $W^*$, {int(p * 100)}% observed (Bernoulli);\n"
        "independent Gaussian init per layer (untied)"
    )
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("effective"))
    # the two α on the first row, the reference below them
    style.legend_below(fig, [handles[i] for i in order], [labels[i] for i in order], ncol=2)
    style.footer(
        fig,
        f"seeds {list(seeds)} (mask, target, init); error bars ± 1 std; gflab 'gaussian' init "
        "(independent factors, not the authors' tied init); gradient flow Tsit5→RKC2 + PID "
        f"(rtol {EFFRANK_RTOL:g}) until ℓ/ℓ_ref ≤ {EFFRANK_STOP:g} or t = 1e5.",
    )
    return fig, {
        "seeds": list(seeds),
        "n": n,
        "rank": rank,
        "p": p,
        "depths": list(depths),
        "init": "gaussian (independent factors, untied)",
        "target_effective_rank": target_er,
        **out,
    }


class _EffrankSetting(NamedTuple):
    """The problem of ``dmc_effrank_depth``: size, target rank, observed fraction, seeds, depths."""

    n: int
    rank: int
    p: float
    seeds: tuple[int, ...]
    depths: tuple[int, ...]


def _effrank_setting(fast: bool) -> _EffrankSetting:
    """n = 100, rank 5, 20 % observed, depths 2–5, seeds 0–4; a smaller problem when ``fast``."""
    if fast:
        return _EffrankSetting(20, 2, 0.3, (0, 1, 2), (2, 3, 4))
    return _EffrankSetting(100, 5, 0.2, (0, 1, 2, 3, 4), (2, 3, 4, 5))


def _effrank_config(setting: _EffrankSetting, alpha: float, depth: int, seed: int) -> DMFConfig:
    """One flow of ``dmc_effrank_depth``: Gaussian init of scale ``alpha`` on a Bernoulli mask and
    a low-rank target, run until ℓ/ℓ_ref ≤ EFFRANK_STOP with the solver settings above."""
    return DMFConfig(
        depth=depth,
        n=setting.n,
        init="gaussian",
        alpha=alpha,
        mask=f"bernoulli:{setting.p}",
        target=f"lowrank:{setting.rank}",
        seed=seed,
        converge_tol=EFFRANK_STOP,
        t_max=1e5,
        n_save=16,
        method=Adaptive(rtol=EFFRANK_RTOL, atol=1e-14, max_steps=100_000, solver=EFFRANK_SOLVER),
    )


def _effective_ranks(ctx, setting: _EffrankSetting, alpha: float) -> np.ndarray:
    """The limits' effective ranks at init scale ``alpha``, (depth, seed) as in ``setting``, from
    the store."""
    return np.asarray(
        [
            [
                ctx.run(_effrank_config(setting, alpha, L, s), simulate_dmf).final["effective_rank"]
                for s in setting.seeds
            ]
            for L in setting.depths
        ]
    )


def _draw_effrank(ax, depths, v: np.ndarray, alpha: float, i: int) -> None:
    """One α's effective ranks (depth × seed) as mean ± std error bars in style ``i``, shifted
    sideways by ``i`` so that the bands of the two α stay visible."""
    mu, sd = v.mean(1), v.std(1)
    x = np.asarray(depths) + (i - 0.5) * 0.06
    ax.errorbar(
        x,
        mu,
        yerr=sd,
        fmt=style.MARKERS[i],
        ls=style.LINESTYLES[i],
        color=style.PALETTE[i],
        capsize=2,
        label=rf"$\alpha = 10^{{{np.log10(alpha):.0f}}}$",
    )


def _target_effective_ranks(setting: _EffrankSetting) -> list[float]:
    """The effective rank of each seed's target W* (the value a perfect completion has)."""
    from gflab.theory import dmf as TD
    from gflab.theory.measures import effective_rank

    return [
        float(effective_rank(TD.make_target(f"lowrank:{setting.rank}", setting.n, seed=s)))
        for s in setting.seeds
    ]
