"""Demo ``muon``: Newton–Schulz Muon vs exact SpecGD, and what the zero-factor LoRA init does
(docs/theory.md §2.2, SGF-6, SGF-7).

Both run :func:`sims.simulate_lora` on an 8×8 target with singular values (1, 2, 4, 8): exact
SpecGD (polar factor, step η) and Muon (momentum with Nesterov, five quintic Newton–Schulz steps).
Plotted against η·k, SpecGD's √d_i follow the equal-rate line and arrive at step ≈ √s_i/η; Muon's
Newton–Schulz output is not the polar factor (its singular values lie in ≈ [0.7, 1.2], right
panel), yet growth stays near-uniform and smaller-first. The init toggle switches between LoRA's
A(0) = 0 (PEFT's "B = 0": the product starts at exactly zero and the first update of the zero
factor is a full-rank orthogonal push, so every mode starts at once) and both factors Gaussian,
where the smallest mode is delayed.
"""

from __future__ import annotations

import numpy as np

from gflab.figures import style
from gflab.figures.demos._base import LORA_SHAPE, Demo, Param, revealed
from gflab.sims import LoRAConfig, simulate_lora
from gflab.sims.methods import Muon, SpecGD
from gflab.theory import closed_forms as CF
from gflab.theory import lora as TL
from gflab.theory import measures as M

__all__ = ["MuonDemo", "muon_configs", "ns_singular_value_map"]

STEPS, N_SAVE = 600, 121  # fixed, as the problem shape: moving a slider never recompiles
TARGETS = (1.0, 2.0, 4.0, 8.0)
ARRIVAL_FRACTION = 0.9


def muon_configs(
    lr: float, gamma: float, momentum: float, init: str
) -> tuple[LoRAConfig, LoRAConfig]:
    """(exact SpecGD, Muon) configs with the same step η, init and target.

    Args:
        lr: the step η.
        gamma: the init scale γ.
        momentum: Muon's momentum.
        init: ``lora`` or ``gaussian``.
    """
    # the LoRA factorisation's default flow is SpecGF (only Muon's and SpecGD's steps run here)
    common = dict(
        **LORA_SHAPE, target_svals=TARGETS, gamma=gamma, init=init, steps=STEPS, n_save=N_SAVE
    )
    return (
        LoRAConfig(method=SpecGD(lr=lr), **common),
        LoRAConfig(method=Muon(lr=lr, momentum=momentum), **common),
    )


def ns_singular_value_map(x: np.ndarray, steps: int = 5) -> np.ndarray:
    """What Newton–Schulz does to one singular value: x = σ/‖G‖_F (after Muon's Frobenius
    normalisation) goes through x ← a x + b x³ + c x⁵ ``steps`` times, coefficients
    :data:`gflab.theory.lora.NS_COEFFICIENTS` (the iteration acts on each singular value separately).

    Args:
        x: σ/‖G‖_F values.
        steps: Newton–Schulz steps.

    Returns:
        Their images, of the shape of ``x``.
    """
    a, b, c = TL.NS_COEFFICIENTS
    y = np.asarray(x, dtype=float).copy()
    for _ in range(steps):
        y = a * y + b * y**3 + c * y**5
    return y


class MuonDemo(Demo):
    """Muon (Newton–Schulz, momentum) against exact SpecGD on LoRA, from the zero-factor init
    A(0) = 0 or a Gaussian one (docs/theory.md §2.2). Sliders: η, γ, momentum, init.
    """

    name = "muon"
    title = "Muon (Newton–Schulz) vs exact SpecGD, and the zero-factor LoRA init"
    summary = "Newton–Schulz Muon vs exact SpecGD; LoRA's A(0) = 0 (PEFT B = 0) vs Gaussian init"
    params = (
        Param("lr", "step η", 0.006, 0.05, 0.01, "log"),
        Param("gamma", "init scale γ", 1e-6, 1e-1, 1e-3, "log"),
        Param("momentum", "Muon momentum", 0.0, 0.98, 0.95),
        Param(
            "init",
            "init",
            default="lora",
            choices=("lora", "gaussian"),
            help="lora: A(0)=0, B(0)=γ·Gaussian; gaussian: both γ·Gaussian",
        ),
    )
    figsize = (12.0, 4.8)

    def compute(self, lr, gamma, momentum, init):
        """Exact SpecGD and Muon on the same LoRA problem, with each mode's arrival step (the slow
        part: the demo's sliders look it up).

        Args:
            lr: the step η.
            gamma: the init scale γ.
            momentum: Muon's momentum.
            init: ``lora`` (A(0) = 0) or ``gaussian``.

        Returns:
            ``{"specgd", "muon"}`` (the two runs), ``"s"`` (targets), ``"arrivals"`` (measured
                steps), ``"predicted"`` (√(f s_i)/η), ``"values"``.
        """
        spec_cfg, muon_cfg = muon_configs(lr, gamma, momentum, init)
        spec, muon = simulate_lora(spec_cfg), simulate_lora(muon_cfg)
        s = np.asarray(TARGETS)
        arrivals = {
            k: M.arrival_times(r.times, r.series["proxies"], s, ARRIVAL_FRACTION)
            for k, r in (("specgd", spec), ("muon", muon))
        }
        return {
            "specgd": spec,
            "muon": muon,
            "s": s,
            "arrivals": arrivals,
            "predicted": CF.specgd_arrival_step(s, lr, ARRIVAL_FRACTION),
            "values": dict(lr=lr, gamma=gamma, momentum=momentum, init=init),
        }

    def setup(self, fig, rect):
        left, bottom, width, height = rect
        self.ax = fig.add_axes((left, bottom, width * 0.44, height))
        self.ax_arr = fig.add_axes((left + width * 0.53, bottom, width * 0.2, height))
        self.ax_ns = fig.add_axes((left + width * 0.8, bottom, width * 0.2, height))

    def show(self, data):
        v = data["values"]
        s = data["s"]
        lr = v["lr"]
        colors = style.PALETTE[: len(s)]
        ax = self.ax
        ax.clear()
        self.dots, self.curves = [], []
        t_spec = data["specgd"].times * lr
        ax.plot(t_spec, t_spec, color="0.5", ls=":", lw=1, label="√d = ηk (equal rate)")
        for key, ls in (("specgd", "-"), ("muon", "--")):
            r = data[key]
            root = np.sqrt(np.maximum(r.series["proxies"], 0.0))
            for i, c in enumerate(colors):
                # drawn whole once (the axes fit the run), then revealed frame by frame
                (line,) = ax.plot(r.times * lr, root[:, i], color=c, ls=ls, lw=1.6)
                self.curves.append((line, key, i))
            self.dots.append([ax.plot([], [], "o", color=c, ms=5)[0] for c in colors])
        ax.plot([], [], "k-", label="exact SpecGD (polar)")
        ax.plot([], [], "k--", label=f"Muon (NS5, momentum {v['momentum']:.2f})")
        ax.set_ylim(-0.1, 1.2 * np.sqrt(s[-1]))
        ax.set_xlim(0, min(t_spec[-1], 2.2 * np.sqrt(s[-1])))
        ax.set_xlabel("η · step k  (≈ flow time)")
        ax.set_ylabel("√d_i")
        init = "LoRA: A(0) = 0 (PEFT's B = 0)" if v["init"] == "lora" else "both factors Gaussian"
        ax.set_title(f"{init}, γ = {v['gamma']:.2g}, η = {lr:.3g}", fontsize="medium")
        ax.legend(fontsize="small", loc="lower right")

        ax = self.ax_arr
        ax.clear()
        pred = data["predicted"]
        hi = 1.3 * max(float(np.max(pred)), 1.0)
        ax.plot([0, hi], [0, hi], color="0.5", lw=1, ls=":")
        for key, mk in (("specgd", "o"), ("muon", "s")):
            arr = data["arrivals"][key]
            ok = np.isfinite(arr)
            ax.scatter(
                pred[ok],
                arr[ok],
                c=[colors[i] for i in np.nonzero(ok)[0]],
                marker=mk,
                label="SpecGD" if key == "specgd" else "Muon",
                s=28,
            )
        ax.set_xlabel(f"predicted step √({ARRIVAL_FRACTION:g}·s_i)/η", fontsize="small")
        ax.set_ylabel(f"step where d_i = {ARRIVAL_FRACTION:g} s_i", fontsize="small")
        ax.set_title("arrival: smaller first", fontsize="medium")
        ax.legend(fontsize="x-small")

        ax = self.ax_ns
        ax.clear()
        x = np.geomspace(1e-5, 1.0, 200)
        ax.plot(x, ns_singular_value_map(x), color="k", lw=1.4, label="Newton–Schulz (5 steps)")
        ax.axhspan(0.7, 1.2, color=style.PALETTE[2], alpha=0.15, label="[0.7, 1.2]")
        ax.axhline(1.0, color="0.5", lw=1, ls=":", label="polar factor")
        ax.set_xscale("log")
        ax.set_xlabel("σ / ‖G‖_F", fontsize="small")
        ax.set_ylabel("output singular value", fontsize="small")
        ax.set_title("NS is not the polar factor", fontsize="medium")
        ax.legend(fontsize="x-small", loc="lower right")

    def frame(self, data, u):
        self.revealed_now = []
        lr = data["values"]["lr"]
        t = float(u) * self.ax.get_xlim()[1]  # η·k of this frame
        out = []
        for line, key, i in self.curves:
            r = data[key]
            out.append(self.reveal_curve(line, r.times * lr, _root(r)[:, i], t))
        for key, dots in zip(("specgd", "muon"), self.dots, strict=True):
            r = data[key]
            for i, dot in enumerate(dots):
                xs, ys = revealed(r.times * lr, _root(r)[:, i], t)
                dot.set_data(xs[-1:], ys[-1:])  # the head of the revealed curve
            out += dots
        return out


def _root(r) -> np.ndarray:
    """√d_i of a run (d_i clipped at 0)."""
    return np.sqrt(np.maximum(np.asarray(r.series["proxies"]), 0.0))


DEMO = MuonDemo()
