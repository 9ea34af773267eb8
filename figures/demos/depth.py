"""Demo ``depth``: diagonal completion of the all-ones matrix at depth 2 vs depth L (docs/theory.md §2.1).

From ``mimic(α, m)`` init with only the diagonal observed, the product stays in span{I, J}, so the
whole flow is the exact 2-D ODE of its eigenvalues (λ1, λ2)
(:func:`gflab.theory.closed_forms.mimic_reduced_field`), integrated here with scipy in log coordinates
(milliseconds, so the sliders feel live). Depth 2 keeps λ1/λ2 and settles at W₁₂ = ρ(m) w*; depth
L ≥ 3 conserves λ2^{−κ} − λ1^{−κ} and the off-diagonal entry goes to ≈ w* (rank one) as α → 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from gflab.figures import style
from gflab.figures.demos._base import Demo, Param, log_cursor, revealed
from gflab.theory import closed_forms as CF

__all__ = ["DepthDemo", "reduced_trajectory", "DepthRun", "depth_run", "RUN_POINTS"]

CONVERGED = 1e-11  # |e| = |W_ii − w*| at which a run counts as converged (relative to w*)
RUN_POINTS = 80  # saved points per run, log-spaced over its own time span (≈ 18 a decade)
SPAN = (1e-2, 3.0)  # a run is shown from 1e-2 to 3 times its convergence time (before: flat)


@dataclass
class DepthRun:
    """One depth's trajectory on a time grid: eigenvalues, entries, stable rank, and the limit."""

    depth: int
    times: np.ndarray
    lambda1: np.ndarray
    lambda2: np.ndarray
    n: int
    t_converged: float
    limit: CF.MimicLimit

    @property
    def offdiagonal(self) -> np.ndarray:
        """The off-diagonal entry (λ1 − λ2)/n at each saved time."""
        return (self.lambda1 - self.lambda2) / self.n

    @property
    def diagonal(self) -> np.ndarray:
        """The diagonal entry λ2 + (λ1 − λ2)/n at each saved time."""
        return self.lambda2 + self.offdiagonal

    @property
    def stable_rank(self) -> np.ndarray:
        """The stable rank (λ1² + (n − 1) λ2²) / max(|λ1|, |λ2|)² at each saved time."""
        l1, l2 = np.abs(self.lambda1), np.abs(self.lambda2)
        top = np.maximum(l1, l2)
        return (l1**2 + (self.n - 1) * l2**2) / top**2

    def matrix(self, k: int) -> np.ndarray:
        """The end-to-end matrix λ2 I + (λ1 − λ2)/n J at saved time ``k``.

        Args:
            k: index into :attr:`times`.

        Returns:
            The n × n matrix.
        """
        return self.lambda2[k] * np.eye(self.n) + self.offdiagonal[k] * np.ones((self.n, self.n))


def reduced_trajectory(
    n: int, depth: int, alpha: float, m: float, w_star: float = 1.0, times: np.ndarray | None = None
) -> DepthRun:
    """Integrate d(λ1, λ2)/dt of docs/theory.md §2.1 to convergence; sample it on ``times`` (default: the
    solver's own steps). Works in y = ln λ: ẏ_k = −L e λ_k^{1−2/L}, so tiny λ(0) ~ α is harmless.

    Args:
        n: the matrix size.
        depth: the number of factors L.
        alpha: the init scale α.
        m: the mimic parameter m.
        w_star: the target's scale w*.
        times: the sample times (default: see above).

    Returns:
        The trajectory and its limit.
    """
    l1_0, l2_0 = CF.mimic_eigenvalues(n, depth, alpha, m)
    p = 1.0 - 2.0 / depth

    def field(t, y):
        l1, l2 = np.exp(y)
        e = l2 + (l1 - l2) / n - w_star
        return [-depth * e * l1**p, -depth * e * l2**p]

    def converged(t, y):
        l1, l2 = np.exp(y)
        return abs(l2 + (l1 - l2) / n - w_star) - CONVERGED * w_star

    converged.terminal = True
    sol = solve_ivp(
        field,
        (0.0, 1e15),
        np.log([l1_0, l2_0]),
        method="LSODA",
        rtol=1e-11,
        atol=1e-12,
        dense_output=True,
        events=converged,
    )
    t_end = float(sol.t[-1])
    if times is None:
        times = sol.t
    tt = np.clip(np.asarray(times, dtype=float), 0.0, t_end)
    y = sol.sol(tt)
    lam = np.exp(y)
    return DepthRun(
        depth,
        np.asarray(times, dtype=float),
        lam[0],
        lam[1],
        n,
        t_end,
        CF.mimic_limit(n, depth, alpha, m, w_star),
    )


@functools.lru_cache(maxsize=4096)
def depth_run(n: int, depth: int, alpha: float, m: float, points: int = RUN_POINTS) -> DepthRun:
    """One depth's trajectory on its own log grid, SPAN × its convergence time (cached: the
    depth-2 run of a page is shared by every depth it is compared with).

    Args:
        n: size; depth: L; alpha: init scale; m: mimic parameter.
        points: saved points.

    Returns:
        The :class:`DepthRun` sampled on ``points`` times from 1e-2·t_conv to 3·t_conv.
    """
    first = reduced_trajectory(n, depth, alpha, m)
    grid = np.geomspace(SPAN[0] * first.t_converged, SPAN[1] * first.t_converged, points)
    return reduced_trajectory(n, depth, alpha, m, times=grid)


class DepthDemo(Demo):
    """Depth promotes low rank: diagonal completion of the all-ones matrix from ``mimic(α, m)``
    at depth 2 and at depth L (docs/theory.md §2.1, closed forms). Sliders: depth, α, m, n.
    """

    name = "depth"
    title = "Depth promotes low rank: diagonal completion of the all-ones matrix"
    summary = "depth 2 vs depth L: the off-diagonal entry settles at ρ(m) vs goes to ≈ 1"
    params = (
        Param("depth", "depth L", 2, 6, 3, "int", help="depth compared with depth 2"),
        Param("alpha", "init scale α", 1e-6, 0.3, 1e-3, "log"),
        # start where the effect is large: n = 4, m = 10 gives stable rank 1.69 at depth 2
        # against 1.00 at depth 3 (n = 2, m = 3 gave 1.06 against 1.00)
        Param("m", "mimic m", 1.2, 50.0, 10.0, "log", help="init (1−1/m)I + J/m per factor"),
        Param("n", "size n", 2, 8, 4, "int"),
    )
    figsize = (11.0, 4.8)

    def compute(self, depth, alpha, m, n):
        """The reduced (two-eigenvalue) trajectories at depth 2 and at depth L, on one time grid
        (the slow part: the demo's sliders look it up).

        Args:
            depth: L, compared with depth 2.
            alpha: the init scale α.
            m: the mimic parameter m.
            n: the matrix size n.

        Returns:
            ``{"runs": [DepthRun, ...], "times": the frames' clock, "values": the parameters}``.
        """
        depths = (2,) if depth == 2 else (2, depth)
        runs = [depth_run(int(n), int(L), float(alpha), float(m)) for L in depths]
        # the frames' clock: from the earliest to the latest saved time of the runs shown
        grid = np.geomspace(min(r.times[0] for r in runs), max(r.times[-1] for r in runs), 400)
        return {"runs": runs, "times": grid, "values": dict(depth=depth, alpha=alpha, m=m, n=n)}

    def setup(self, fig, rect):
        left, bottom, width, height = rect
        self.ax = fig.add_axes((left, bottom, width * 0.58, height))
        self.ax_m = [
            fig.add_axes((left + width * 0.66, bottom + height * 0.52, width * 0.3, height * 0.45)),
            fig.add_axes((left + width * 0.66, bottom, width * 0.3, height * 0.45)),
        ]
        self.fig = fig

    def show(self, data):
        ax = self.ax
        ax.clear()
        self.curves, self.dots, self.images = [], [], []
        colors = [style.PALETTE[0], style.PALETTE[1]]
        for run, c in zip(data["runs"], colors, strict=False):
            # drawn whole once (so the axes fit the whole run), then revealed frame by frame
            (line,) = ax.plot(run.times, run.offdiagonal, color=c, label=f"L = {run.depth}")
            self.curves.append(line)
            lim = run.limit.offdiagonal
            name = "ρ(m)" if run.depth == 2 else "closed-form limit"
            ax.axhline(lim, color=c, ls="--", lw=1)
            ax.annotate(
                f"{name} = {lim:.3f}",
                (data["times"][0], lim),
                color=c,
                fontsize="small",
                xytext=(2, 3),
                textcoords="offset points",
            )
            (dot,) = ax.plot([], [], "o", color=c, ms=7)
            self.dots.append(dot)
        ax.set_xscale("log")
        ax.set_xlim(data["times"][0], data["times"][-1])
        ax.set_ylim(-0.05, 1.1)
        ax.set_xlabel("flow time t (log scale)")
        ax.set_ylabel("off-diagonal entry W₁₂(t)   (target w* = 1)")
        v = data["values"]
        ax.set_title(
            f"mimic(α = {v['alpha']:.2g}, m = {v['m']:.3g}), n = {v['n']}, diagonal Ω",
            fontsize="medium",
        )
        ax.legend(loc="lower right", fontsize="small")
        for k, axm in enumerate(self.ax_m):
            axm.clear()
            axm.set_xticks([])
            axm.set_yticks([])
            axm.grid(False)
            if k < len(data["runs"]):
                axm.set_visible(True)
                run = data["runs"][k]
                im = axm.imshow(run.matrix(0), vmin=0, vmax=1, cmap="viridis")
                cells = []
                if run.n <= 4:  # entries readable only for small n
                    for i in range(run.n):
                        for j in range(run.n):
                            cells.append(
                                axm.text(
                                    j, i, "", ha="center", va="center", fontsize="small", color="w"
                                )
                            )
                self.images.append((im, cells))
            else:
                axm.set_visible(False)

    def frame(self, data, u):
        self.revealed_now = []
        t = log_cursor(data["times"], u)
        out = []
        for run, line, dot, (im, cells), axm in zip(
            data["runs"], self.curves, self.dots, self.images, self.ax_m, strict=False
        ):
            xs, ys = revealed(run.times, run.offdiagonal, t)
            out.append(self.reveal_curve(line, run.times, run.offdiagonal, t))
            dot.set_data(xs[-1:], ys[-1:])  # the head of the revealed curve
            k = int(np.searchsorted(run.times, t).clip(0, len(run.times) - 1))
            W = run.matrix(k)
            im.set_data(W)
            for c, w in zip(cells, W.ravel(), strict=False):
                c.set_text(f"{w:.2f}")
                c.set_color("k" if w > 0.6 else "w")
            axm.set_title(
                f"W(t), L = {run.depth}: stable rank {run.stable_rank[k]:.2f}", fontsize="small"
            )
            out += [dot, im, *cells, axm.title]
        return out


DEMO = DepthDemo()
