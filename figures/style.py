"""Shared look of gflab figures: readable sizes, colour-blind-safe cycle, labelled units."""

from __future__ import annotations

import matplotlib as mpl

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def apply() -> None:
    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 8.5,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "lines.linewidth": 1.8,
            "savefig.facecolor": "white",
        }
    )


def footer(fig, text: str) -> None:
    """Small provenance line at the bottom (seeds, solver, tolerance)."""
    fig.text(0.01, -0.02, text, fontsize=7, color="0.35", ha="left", va="top")
