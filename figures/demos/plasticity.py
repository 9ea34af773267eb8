"""Demo ``plasticity``: resumed vs from-scratch training on more observations (docs/theory.md §2.1, DMC-5).

Phase 1 trains a depth-L factorisation of the 4×4 all-ones matrix on the diagonal Ω1 (decoupled
at depth 2) to convergence from ``mimic(α, m)``; phase 2 adds the superdiagonal (Ω2, connected)
and either resumes from phase 1's factors or starts again from the same init. Depth 2 resumed
keeps the high-rank phase-1 solution (stable rank bounded away from 1, unobserved entries wrong)
while from scratch it finds the rank-one completion; at depth ≥ 3 both end near rank one.
Integrated by :func:`gflab.sims.plasticity.simulate_plasticity` (Tsit5 → RKC2 + PID, float64, until converged).
"""

from __future__ import annotations

import numpy as np

from gflab.figures import style
from gflab.figures.demos._base import Demo, Param, log_cursor, revealed
from gflab.sims.plasticity import PlasticityConfig, simulate_plasticity
from gflab.sims.result import SimResult
from gflab.theory import dmf as T

__all__ = ["PlasticityDemo", "plasticity_runs"]

N, N_SAVE = 4, 200
PHASE1_MASK, PHASE2_MASK = "diagonal", "superdiag"
# the demo's protocol; the sliders replace depth, α and m (init mimic(α, m) and the all-ones
# target are the config's defaults)
PROTOCOL = PlasticityConfig(
    depth=2, n=N, pretrain_mask=PHASE1_MASK, mask=PHASE2_MASK, n_save=N_SAVE
)


def plasticity_runs(depth: int, alpha: float, m: float, n: int = N) -> dict[str, SimResult]:
    """Phase 1 on Ω1; phase 2 on Ω2 resumed from phase 1's final factors, and from scratch.

    The protocol is :func:`gflab.sims.plasticity.simulate_plasticity` (one implementation for the demo,
    ``gflab simulate dmf-plasticity`` and claim DMC-5).

    Args:
      depth: factors L.
      alpha: init scale α of ``mimic(α, m)``.
      m: mimic parameter.
      n: matrix size (n × n all-ones target).

    Returns:
      ``{"phase1", "resumed", "scratch"}`` → :class:`~sims.result.SimResult` (series on
      ``N_SAVE`` saved times each).
    """
    res = simulate_plasticity(PROTOCOL.replace(depth=depth, n=n, m=m, alpha=alpha))
    return {"phase1": res.pretrain, "resumed": res.resumed, "scratch": res.scratch}


def _on_grid(res: SimResult, grid: np.ndarray, key: str) -> np.ndarray:
    """Series ``key`` interpolated in log t onto ``grid``; held at its last value after the end."""
    t = res.times[1:]  # times[0] = 0 has no logarithm; the first saved time is tiny
    v = res.series[key][1:]
    flat = v.reshape(len(t), -1)
    lt, lg = np.log(t), np.log(np.clip(grid, t[0], t[-1]))
    out = np.stack([np.interp(lg, lt, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape((len(grid),) + v.shape[1:])


class PlasticityDemo(Demo):
    """Loss of plasticity: training resumed after more entries are revealed against training
    from scratch (docs/theory.md §2.1, plasticity protocol). Sliders: depth, α, m.
    """

    name = "plasticity"
    title = "Loss of plasticity: resumed vs from scratch after more entries are revealed"
    summary = "phase 1 on the diagonal, phase 2 adds the superdiagonal: resumed vs scratch"
    params = (
        Param("depth", "depth L", 2, 4, 2, "int"),
        Param("alpha", "init scale α", 1e-5, 0.1, 1e-3, "log"),
        Param("m", "mimic m", 1.5, 50.0, 10.0, "log"),
    )
    figsize = (11.0, 4.8)

    def warm_values(self):
        """One parameter set per depth: the factor count is the only shape the sliders change."""
        d = {p.name: p for p in self.params}["depth"]
        return [{**self.defaults(), "depth": L} for L in range(int(d.lo), int(d.hi) + 1)]

    def compute(self, depth, alpha, m):
        """The resumed and the from-scratch runs of the plasticity protocol, on one time grid (the
        slow part: the demo's sliders look it up).

        Args:
            depth: the number of factors L.
            alpha: the init scale α.
            m: the mimic parameter m.

        Returns:
            ``{"runs", "grid", "curves"}`` (stable rank, test RMSE and matrix of each run on the
                grid), the two masks ``"mask1"``, ``"mask2"``, and ``"values"``.
        """
        runs = plasticity_runs(depth, alpha, m)
        ends = [runs[k].times[-1] for k in ("resumed", "scratch")]
        starts = [runs[k].times[1] for k in ("resumed", "scratch")]
        grid = np.geomspace(min(starts), 2.0 * max(ends), 300)
        curves = {}
        for key in ("resumed", "scratch"):
            sig = _on_grid(runs[key], grid, "singular_values")
            curves[key] = {
                "stable_rank": np.sum(sig**2, axis=1) / sig[:, 0] ** 2,
                "test_rmse": _on_grid(runs[key], grid, "test_rmse"),
                "matrix": _on_grid(runs[key], grid, "matrix"),
            }
        return {
            "runs": runs,
            "grid": grid,
            "curves": curves,
            "mask1": T.make_mask(PHASE1_MASK, N),
            "mask2": T.make_mask(PHASE2_MASK, N),
            "values": dict(depth=depth, alpha=alpha, m=m),
        }

    def setup(self, fig, rect):
        left, bottom, width, height = rect
        self.ax_rank = fig.add_axes((left, bottom + height * 0.53, width * 0.55, height * 0.45))
        self.ax_err = fig.add_axes((left, bottom, width * 0.55, height * 0.45), sharex=self.ax_rank)
        self.ax_m = [
            fig.add_axes(
                (left + width * 0.64, bottom + height * 0.52, width * 0.33, height * 0.44)
            ),
            fig.add_axes((left + width * 0.64, bottom, width * 0.33, height * 0.44)),
        ]

    def show(self, data):
        grid = data["grid"]
        styles = {"resumed": (style.PALETTE[1], "-"), "scratch": (style.PALETTE[0], "--")}
        self.dots, self.images, self.curves = [], [], []
        for ax, key, label in (
            (self.ax_rank, "stable_rank", "stable rank of W"),
            (self.ax_err, "test_rmse", "RMSE on unobserved entries"),
        ):
            ax.clear()
            for run in ("resumed", "scratch"):
                c, ls = styles[run]
                # drawn whole once (the axes fit the run), then revealed frame by frame
                (line,) = ax.plot(grid, data["curves"][run][key], color=c, ls=ls, label=run)
                self.curves.append((line, run, key))
                self.dots.append((ax, run, key, ax.plot([], [], "o", color=c, ms=6)[0]))
            ax.set_ylabel(label, fontsize="small")
            ax.set_xscale("log")
        p1 = data["runs"]["phase1"].final
        self.ax_rank.axhline(1.0, color="0.6", lw=0.8)
        pad = 0.03 * (N - 1)  # the stable rank's whole range, rank one to full rank n
        self.ax_rank.set_ylim(1 - pad, N + pad)
        self.ax_rank.set_title(
            f"phase 2 on Ω2 = diag + superdiag; phase 1 (Ω1 = diag) ended at stable rank "
            f"{p1['stable_rank']:.2f}",
            fontsize="medium",
        )
        self.ax_rank.legend(fontsize="small", loc="upper right")
        self.ax_err.set_xlabel("phase-2 flow time t (log scale)")
        self.ax_rank.tick_params(labelbottom=False)
        self.ax_rank.set_xlim(grid[0], grid[-1])
        obs = data["mask2"]
        vmax = max(1.0, float(np.max(np.abs(data["curves"]["resumed"]["matrix"]))))
        for axm, run in zip(self.ax_m, ("resumed", "scratch"), strict=True):
            axm.clear()
            axm.set_xticks([])
            axm.set_yticks([])
            axm.grid(False)
            im = axm.imshow(data["curves"][run]["matrix"][0], vmin=0, vmax=vmax, cmap="viridis")
            cells = [
                axm.text(
                    j,
                    i,
                    "",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    fontweight="bold" if obs[i, j] else "normal",
                )
                for i in range(N)
                for j in range(N)
            ]
            self.images.append((axm, run, im, cells))

    def frame(self, data, u):
        self.revealed_now = []
        grid = data["grid"]
        t = log_cursor(grid, u)
        k = int(np.searchsorted(grid, t).clip(0, len(grid) - 1))
        out = []
        for line, run, key in self.curves:
            out.append(self.reveal_curve(line, grid, data["curves"][run][key], t))
        for _ax, run, key, dot in self.dots:
            xs, ys = revealed(grid, data["curves"][run][key], t)
            dot.set_data(xs[-1:], ys[-1:])  # the head of the revealed curve
            out.append(dot)
        for axm, run, im, cells in self.images:
            W = data["curves"][run]["matrix"][k]
            im.set_data(W)
            for c, w in zip(cells, W.ravel(), strict=True):
                c.set_text(f"{w:.2f}")
                c.set_color("k" if w > 0.6 * im.norm.vmax else "w")
            sr = data["curves"][run]["stable_rank"][k]
            axm.set_title(f"{run}: W(t), stable rank {sr:.2f} (bold: observed)", fontsize="small")
            out += [im, *cells, axm.title]
        return out


DEMO = PlasticityDemo()
