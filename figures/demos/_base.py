"""What a lecture demo is: parameters (sliders), a precomputation, and a time cursor.

A :class:`Demo` computes everything for one set of parameter values at once (``compute``: the
slow part, run again only when a slider moves), sets up the axes of that result (``show``), and
then draws frame ``u`` ∈ [0, 1] (``frame(data, u)``): every curve from its start up to the
frame's time (:func:`revealed`), so playback reveals the dynamics; cheap enough to animate. The same three methods serve the interactive window and the headless GIF/MP4
writer (:mod:`gflab.figures.demos._runner`), so what a lecturer sees live is what the GIF shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gflab.theory.errors import GflabInputError

__all__ = ["Param", "Demo", "log_cursor", "revealed", "reveal"]


@dataclass(frozen=True)
class Param:
    """One control of a demo.

    ``scale`` is ``linear``, ``log`` (the slider moves log₁₀ of the value) or ``int``; ``choices``
    turns the control into radio buttons (then ``default`` is one of them, ``lo``/``hi`` unused).
    """

    name: str
    label: str
    lo: float = 0.0
    hi: float = 1.0
    default: Any = 0.0
    scale: str = "linear"
    choices: tuple[str, ...] | None = None
    help: str = ""

    def parse(self, text: str) -> Any:
        """A value from command-line text (``--set name=text``), checked against the range."""
        if self.choices is not None:
            if text not in self.choices:
                raise GflabInputError(self.name, "one of " + ", ".join(self.choices), text)
            return text
        try:
            v = float(text)
        except ValueError:
            raise GflabInputError(self.name, self.describe_range(), text) from None
        return self.check(v)

    def check(self, v: Any) -> Any:
        if self.choices is not None:
            if v not in self.choices:
                raise GflabInputError(self.name, "one of " + ", ".join(self.choices), v)
            return v
        if not (isinstance(v, (int, float)) and math.isfinite(v) and self.lo <= v <= self.hi):
            raise GflabInputError(self.name, self.describe_range(), v)
        if self.scale == "int":
            if v != int(v):
                raise GflabInputError(self.name, self.describe_range(), v)
            return int(v)
        return float(v)

    def describe_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        kind = "an integer" if self.scale == "int" else "a number"
        return f"{kind} in [{self.lo:g}, {self.hi:g}]"

    # slider coordinates: log parameters slide in log10
    def to_slider(self, v: float) -> float:
        return math.log10(v) if self.scale == "log" else float(v)

    def from_slider(self, s: float) -> Any:
        if self.scale == "log":
            return float(10.0**s)
        if self.scale == "int":
            return int(round(s))
        return float(s)

    def format(self, v: Any) -> str:
        if self.choices is not None:
            return str(v)
        if self.scale == "int":
            return f"{int(v)}"
        return f"{v:.3g}"


# the LoRA demos' problem: an 8×8 target, rank 4, seed 0; fixed, so moving a slider changes only
# values and never recompiles
LORA_SHAPE = dict(rows=8, cols=8, rank=4, seed=0)


class Demo:
    """Base class of a lecture demo (see the module docstring); subclasses set the attributes."""

    name: str = ""
    title: str = ""
    summary: str = ""
    params: tuple[Param, ...] = ()
    figsize: tuple[float, float] = (11.0, 5.0)
    revealed_now: list = []  # (line, x, y, t) of the last frame (each frame starts a new list)

    def defaults(self) -> dict[str, Any]:
        """Each parameter's default value, by name."""
        return {p.name: p.default for p in self.params}

    def resolve(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Default values updated with ``overrides`` (each checked against its range).

        Args:
            overrides: parameter name → value; None for the defaults alone.

        Returns:
            Every parameter's value, by name.

        Raises:
            GflabInputError: an unknown name (``set``) or a value out of its range.
        """
        values = self.defaults()
        known = {p.name: p for p in self.params}
        for k, v in (overrides or {}).items():
            if k not in known:
                raise GflabInputError(
                    "set", "one of " + ", ".join(known) + f" for demo {self.name}", k
                )
            values[k] = known[k].check(v)
        return values

    def compute(self, **values: Any) -> Any:  # pragma: no cover - abstract
        """Everything the figure needs for these parameter values (the slow part: the page made by
        ``gflab demo --html`` precomputes it on a grid of values).

        Args:
            **values: one value per parameter in :attr:`params`, by name.

        Returns:
            What :meth:`show` and :meth:`frame` draw from (each demo documents its own).
        """
        raise NotImplementedError

    def setup(self, fig, rect: tuple[float, float, float, float]) -> None:  # pragma: no cover
        """Create the demo's axes.

        Args:
            fig: the matplotlib figure.
            rect: (left, bottom, width, height) of the demo's area, in figure coordinates.
        """
        raise NotImplementedError

    def show(self, data: Any) -> None:  # pragma: no cover - abstract
        """Draw the static parts of a new :meth:`compute` result (limits, targets, legends).

        Args:
            data: what :meth:`compute` returned.
        """
        raise NotImplementedError

    def frame(self, data: Any, u: float) -> list:  # pragma: no cover - abstract
        """Move the time cursor: every time curve drawn up to the time at fraction ``u`` of the run.

        Args:
            data: what :meth:`compute` returned.
            u: the fraction of the run in [0, 1] (on a log time axis, a fraction of the decades).

        Returns:
            The matplotlib artists that changed (for blitting).
        """
        raise NotImplementedError

    def reveal_curve(self, line, x, y, t: float):
        """:func:`reveal` ``line`` up to ``t`` and note ``(line, x, y, t)`` in
        ``self.revealed_now`` (reset by each :meth:`frame`): what was drawn, for checking."""
        self.revealed_now.append((line, np.asarray(x), np.asarray(y), float(t)))
        return reveal(line, x, y, t)

    def warm_values(self) -> list[dict[str, Any]]:
        """Parameter sets that between them use every compiled shape of ``compute`` (what
        ``gflab demo NAME --warm`` computes once): by default the defaults alone, for demos
        whose shapes never change with the sliders."""
        return [self.defaults()]

    def caption(self, values: dict[str, Any]) -> str:
        """One line naming the parameter values (the headless render has no sliders)."""
        parts = [f"{p.label} = {p.format(values[p.name])}" for p in self.params]
        return ",  ".join(parts) + f"    (gflab demo {self.name})"


def log_cursor(times, u: float) -> float:
    """The time at fraction ``u`` of a log axis from ``times[0] > 0`` to ``times[-1]``."""
    t0, t1 = float(times[0]), float(times[-1])
    return t0 * (t1 / t0) ** float(u)


def revealed(x, y, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The part of the curve (x, y) (x increasing) up to time ``t``, ending exactly at ``t``.

    A frame at time t_k draws each curve from its start to t_k (the dynamics is revealed, not
    traced by a cursor over a finished curve): the saved points with x ≤ t plus the point at t
    itself, linearly interpolated between its two neighbours. Before the first saved point it is
    that point alone; after the last, the whole curve.

    Args:
        x: the curve's times (increasing).
        y: its values, same length.
        t: the frame's time.

    Returns:
        (x, y) of the drawn part.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    k = int(np.searchsorted(x, t, side="right"))
    if k == 0:
        return x[:1], y[:1]
    if k >= len(x) or t <= x[k - 1]:
        return x[:k], y[:k]
    w = (t - x[k - 1]) / (x[k] - x[k - 1])
    yt = y[k - 1] + w * (y[k] - y[k - 1])
    return np.append(x[:k], t), np.append(y[:k], yt)


def reveal(line, x, y, t: float):
    """Set a matplotlib ``line`` to :func:`revealed` ``(x, y, t)``; returns the line."""
    line.set_data(*revealed(x, y, t))
    return line
