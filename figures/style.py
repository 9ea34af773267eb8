"""Shared look of gflab figures: three styles, sizes for a paper's column or text width,
a colour-blind-safe cycle, provenance kept out of the image except in drafts.

Styles (``gflab figures --style``):

- ``paper``: drawn at the printed size, a column (3.25 in) or the text width (6.75 in), with
  8 pt text (the smallest a journal accepts), thinner lines, TrueType (Type 42) fonts in PDFs;
- ``default``: the same layouts 1.6× larger with 10 pt text, for reading on a screen;
- ``draft``: ``default`` plus the provenance footer (seeds, solver, tolerance) inside the image.

In every style the provenance text goes into the PDF/PNG metadata and the JSON sidecar
(:func:`footer` records it on the figure; :mod:`gflab.figures.registry` writes it out).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from gflab.theory.errors import GflabInputError

__all__ = [
    "PALETTE",
    "MARKERS",
    "LINESTYLES",
    "STYLES",
    "COLUMN_IN",
    "TEXT_IN",
    "MIN_POINTS",
    "use",
    "current",
    "apply",
    "size",
    "subplots",
    "small",
    "footer",
    "provenance",
    "legend_below",
    "legend_right",
    "log_ticks",
]

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
# a marker and a dash per series index, so curves stay apart in grey print and where they overlap
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)), (0, (1, 1)), "-"]
STYLES = ("paper", "default", "draft")
COLUMN_IN = 3.25  # one column of a two-column paper
TEXT_IN = 6.75  # the text width
MIN_POINTS = 8.0  # smallest text in the paper style, at the printed size
_SCALE = {"paper": 1.0, "default": 1.6, "draft": 1.6}
_current = "default"


def use(name: str) -> None:
    """Select the style the next :func:`apply` / :func:`size` calls use.

    Args:
        name: one of :data:`STYLES`.
    """
    global _current
    if name not in STYLES:
        raise GflabInputError("style", "one of " + ", ".join(STYLES), name)
    _current = name


def current() -> str:
    """The selected style's name."""
    return _current


def apply() -> None:
    """Set matplotlib's rcParams for the selected style (called at the start of each figure)."""
    paper = _current == "paper"
    base = MIN_POINTS if paper else 10.0
    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "font.size": base,
            "axes.titlesize": base,
            "axes.labelsize": base,
            "xtick.labelsize": base,
            "ytick.labelsize": base,
            "legend.fontsize": base if paper else 8.5,
            "legend.handlelength": 2.2,
            "legend.borderaxespad": 0.3,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "lines.linewidth": 1.2 if paper else 1.8,
            "lines.markersize": 3.5 if paper else 5.5,
            "axes.linewidth": 0.6 if paper else 0.8,
            "savefig.facecolor": "white",
            "pdf.fonttype": 42,  # TrueType, not Type 3: text stays text in the PDF
            "ps.fonttype": 42,
            "mathtext.fontset": "dejavusans",
        }
    )


def size(width: str = "text", aspect: float = 0.42) -> tuple[float, float]:
    """Figure size in inches for the selected style.

    Args:
        width: ``"column"`` (3.25 in printed) or ``"text"`` (6.75 in printed).
        aspect: height / width.

    Returns:
        (width, height) in inches; the ``default`` and ``draft`` styles are 1.6× the print size.
    """
    w = {"column": COLUMN_IN, "text": TEXT_IN}[width] * _SCALE[_current]
    return (w, w * aspect)


def subplots(nrows: int = 1, ncols: int = 1, *, width: str = "text", aspect: float = 0.42, **kw):
    """``plt.subplots`` at :func:`size` with constrained layout (room for outside legends).

    Args:
        nrows, ncols: the grid.
        width: ``"column"`` or ``"text"``.
        aspect: height / width of the whole figure.
        **kw: passed to ``plt.subplots`` (sharex, sharey, squeeze, ...).

    Returns:
        (figure, axes) as ``plt.subplots`` returns them.
    """
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=size(width, aspect), layout="constrained", **kw)


def small() -> float:
    """Font size (points) for annotations inside the axes: the paper minimum, or 8.5 on screen."""
    return MIN_POINTS if _current == "paper" else 8.5


def footer(fig, text: str) -> None:
    """Record the provenance line (seeds, solver, tolerance) of ``fig``; drawn only in ``draft``.

    The registry writes it into the PDF/PNG metadata and the JSON sidecar in every style.

    Args:
        fig: the matplotlib figure.
        text: the provenance line.
    """
    notes = list(getattr(fig, "gflab_provenance", []))
    notes.append(text)
    fig.gflab_provenance = notes
    if _current == "draft":
        fig.text(0.01, 0.0, text, fontsize=7, color="0.35", ha="left", va="top", wrap=True)


def provenance(fig) -> str:
    """The provenance text recorded on ``fig`` by :func:`footer` ('' if none).

    Args:
        fig: the matplotlib figure.

    Returns:
        The text.
    """
    return " | ".join(getattr(fig, "gflab_provenance", []))


def legend_below(fig, handles=None, labels=None, ncol: int = 4, **kw):
    """A figure legend below the axes (outside the data), laid out by constrained layout.

    Args:
        fig: the matplotlib figure.
        handles: the legend's artists (default: every axes' labelled artists, once each).
        labels: their labels.
        ncol: columns.
        **kw: passed to ``fig.legend``.

    Returns:
        The legend.
    """
    if handles is None:
        handles, labels = _collect(fig)
    return fig.legend(
        handles, labels, loc="outside lower center", ncol=min(ncol, len(handles)), **kw
    )


def legend_right(fig, handles=None, labels=None, **kw):
    """A figure legend right of the axes (outside the data).

    Args:
        fig: the matplotlib figure.
        handles: the legend's artists (default: every axes' labelled artists, once each).
        labels: their labels.
        **kw: passed to ``fig.legend``.

    Returns:
        The legend.
    """
    if handles is None:
        handles, labels = _collect(fig)
    return fig.legend(handles, labels, loc="outside right upper", **kw)


def _collect(fig):
    seen: dict[str, object] = {}
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen)


def _plain(x: float, _pos=None) -> str:
    return f"{x:g}"


def log_ticks(axis, values: Sequence[float] | None = None) -> None:
    """Readable ticks on a log axis: ``values`` as plain numbers (e.g. 1, 2, 4, 8, 16), or powers of
    ten as 10^k when the axis spans decades and 1-2-5 plain numbers when it spans about one.

    Args:
        axis: ``ax.xaxis`` or ``ax.yaxis`` of a log-scaled axes.
        values: explicit tick positions, or None for the automatic choice.
    """
    axis.set_minor_formatter(NullFormatter())
    if values is not None:
        axis.set_major_locator(FixedLocator(list(values)))
        axis.set_major_formatter(FuncFormatter(_plain))
        return
    lo, hi = sorted(axis.get_view_interval())
    if lo > 0 and np.log10(hi / lo) < 2.5:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(_plain))
    else:
        axis.set_major_locator(LogLocator(base=10, numticks=6))
