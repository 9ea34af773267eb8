"""Lecture demos (``gflab demo``): live matplotlib windows and headless GIF/MP4 renders.

Each demo module defines ``DEMO``, an instance of :class:`gflab.figures.demos._base.Demo`. They reuse
``theory`` and ``sims`` for every number they show.
"""

from __future__ import annotations

import importlib

from gflab.figures.demos._base import Demo, Param
from gflab.figures.demos._runner import (
    Controller,
    RenderReport,
    check_playback,
    display_problem,
    open_window,
    render,
    warm,
)
from gflab.theory.errors import GflabInputError

__all__ = [
    "DEMO_NAMES",
    "get",
    "Demo",
    "Param",
    "Controller",
    "RenderReport",
    "render",
    "check_playback",
    "warm",
    "open_window",
    "display_problem",
]

DEMO_NAMES = ("depth", "staircase", "plasticity", "muon")


def get(name: str) -> Demo:
    """The demo called ``name`` (one of :data:`DEMO_NAMES`).

    Args:
        name: the demo's name.

    Returns:
        Its :class:`Demo` instance.

    Raises:
        GflabInputError: an unknown name (parameter ``NAME``).
    """
    if name not in DEMO_NAMES:
        raise GflabInputError("NAME", "one of " + ", ".join(DEMO_NAMES), name)
    return importlib.import_module(f"gflab.figures.demos.{name}").DEMO
