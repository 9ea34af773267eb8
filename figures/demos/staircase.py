"""Demo ``staircase``: gradient flow's staircase vs SpecGF's equal rate (docs/theory.md §2.2).

Both flows start from LoRA's init (A = 0, B = γ·Gaussian) on an 8×8 target with four singular
values s_i (geometric between the two target sliders), integrated by :func:`sims.simulate_lora`
(Tsit5 → RKC2 + PID, float64; SpecGF with the smoothed polar T_β). Both panels show the same quantity,
√d_i with d_i = u_iᵀ AB v_i, against its target √s_i. Left: gradient flow learns the largest mode
first, with plateaus. Right: under SpecGF every √d_i climbs the same line √d = t and stops at
√s_i, so the smallest target arrives first (t_i ≈ √s_i).
"""

from __future__ import annotations

import numpy as np

from gflab.figures import style
from gflab.figures.demos._base import LORA_SHAPE, Demo, Param, revealed
from gflab.sims import LoRAConfig, simulate_lora
from gflab.theory import closed_forms as CF

__all__ = ["StaircaseDemo", "staircase_configs", "targets"]

RANK, N_SAVE = LORA_SHAPE["rank"], 400


def targets(s_min: float, s_max: float) -> tuple[float, ...]:
    """Four distinct targets, geometric from s_min to s_max (ascending).

    Args:
        s_min: the smallest target.
        s_max: the largest target.

    Returns:
        The four targets.
    """
    if s_max <= s_min * 1.05:
        s_max = s_min * 1.05
    return tuple(float(x) for x in np.geomspace(s_min, s_max, RANK))


def staircase_configs(
    beta: float, gamma: float, s_min: float, s_max: float
) -> tuple[LoRAConfig, LoRAConfig]:
    """(gradient flow, SpecGF) configs with horizons long enough for every mode to arrive.

    Args:
        beta: SpecGF's smoothing β.
        gamma: the init scale γ.
        s_min: the smallest target.
        s_max: the largest target.
    """
    s = targets(s_min, s_max)
    # GF: the slowest (smallest) mode needs ≈ ln(s/p0)/(2s) with p0 ~ γ²; twice that, generously
    t_gf = 2.0 * float(CF.logistic_arrival_time(min(s), gamma**2, 0.999))
    t_sgf = 1.3 * float(np.sqrt(max(s)))
    common = dict(**LORA_SHAPE, target_svals=s, gamma=gamma, init="lora", n_save=N_SAVE)
    return (
        LoRAConfig(flow="gf", t1=t_gf, **common),
        LoRAConfig(flow="specgf", beta=beta, t1=t_sgf, **common),
    )


class StaircaseDemo(Demo):
    """Gradient flow's staircase (largest mode first) against spectral gradient flow's equal
    rate on LoRA (docs/theory.md §2.2). Sliders: β, γ, s_min, s_max.
    """

    name = "staircase"
    title = "Gradient flow's staircase vs spectral gradient flow's equal rate"
    summary = "GF learns the largest mode first; SpecGF grows every √d_i at rate 1 (smallest first)"
    params = (
        Param("beta", "smoothing β", 1e-8, 1e-1, 1e-6, "log", help="T_β smoothing of SpecGF"),
        Param("gamma", "init scale γ", 1e-6, 1e-1, 1e-3, "log", help="B(0) = γ·Gaussian, A(0) = 0"),
        Param("s_min", "smallest target", 0.25, 4.0, 1.0, "log"),
        Param("s_max", "largest target", 4.0, 64.0, 16.0, "log"),
    )
    figsize = (11.0, 4.8)

    def compute(self, beta, gamma, s_min, s_max):
        """Gradient flow and smoothed spectral gradient flow on the same LoRA problem (the slow
        part: the demo's sliders look it up).

        Args:
            beta: SpecGF's smoothing β.
            gamma: the init scale γ.
            s_min: the smallest target singular value.
            s_max: the largest target singular value.

        Returns:
            ``{"gf", "sgf"}`` (the two runs), ``"s"`` (the targets) and ``"values"``.
        """
        gf_cfg, sgf_cfg = staircase_configs(beta, gamma, s_min, s_max)
        gf, sgf = simulate_lora(gf_cfg), simulate_lora(sgf_cfg)
        return {
            "gf": gf,
            "sgf": sgf,
            "s": np.asarray(gf_cfg.target_svals),
            "values": dict(beta=beta, gamma=gamma, s_min=s_min, s_max=s_max),
        }

    def setup(self, fig, rect):
        left, bottom, width, height = rect
        self.ax_gf = fig.add_axes((left, bottom, width * 0.44, height))
        self.ax_sgf = fig.add_axes((left + width * 0.54, bottom, width * 0.44, height))

    def show(self, data):
        s = data["s"]
        colors = style.PALETTE[: len(s)]
        self.dots = {"gf": [], "sgf": []}
        self.curves = {"gf": [], "sgf": []}
        top = 1.15 * np.sqrt(s[-1])
        for key, ax in (("gf", self.ax_gf), ("sgf", self.ax_sgf)):
            ax.clear()
            res = data[key]
            root = _root(res)
            if key == "sgf":
                t = res.times
                ax.plot(t, t, color="k", ls="--", lw=1, zorder=3, label="√d = t (equal rate)")
            for i, c in enumerate(colors):
                # drawn whole once (the axes fit the run), then revealed frame by frame
                (line,) = ax.plot(res.times, root[:, i], color=c, label=f"s = {s[i]:.3g}")
                self.curves[key].append(line)
                ax.axhline(np.sqrt(s[i]), color=c, ls=":", lw=1)
                self.dots[key].append(ax.plot([], [], "o", color=c, ms=6)[0])
            if key == "sgf":
                for i, c in enumerate(colors):
                    ti = float(CF.specgf_arrival_time(s[i]))
                    ax.plot([ti], [np.sqrt(s[i])], "x", color=c, ms=8)
                ax.plot([], [], "kx", label="predicted arrival (√s_i, √s_i)")
            ax.set_ylim(-0.05 * np.sqrt(s[-1]), top)
            ax.set_xlim(0.0, res.times[-1])
            ax.set_xlabel("flow time t")
            ax.set_ylabel("√d_i   (dotted: target √s_i)")
        self.ax_gf.set_title("gradient flow: largest first, with plateaus", fontsize="medium")
        self.ax_gf.legend(fontsize="small", loc="center right")
        self.ax_sgf.set_title(
            f"spectral GF (β = {data['values']['beta']:.2g}): smallest first", fontsize="medium"
        )
        self.ax_sgf.legend(fontsize="small", loc="lower right")

    def frame(self, data, u):
        self.revealed_now = []
        out = []
        for key in ("gf", "sgf"):
            res = data[key]
            t = float(u) * float(res.times[-1])
            root = _root(res)
            for i, (line, dot) in enumerate(zip(self.curves[key], self.dots[key], strict=True)):
                xs, ys = revealed(res.times, root[:, i], t)
                out.append(self.reveal_curve(line, res.times, root[:, i], t))
                dot.set_data(xs[-1:], ys[-1:])
                out.append(dot)
        return out


def _root(res) -> np.ndarray:
    """√d_i of a run (d_i clipped at 0: a LoRA start has d_i ≈ 0 of either sign)."""
    return np.sqrt(np.maximum(np.asarray(res.series["proxies"]), 0.0))


DEMO = StaircaseDemo()
