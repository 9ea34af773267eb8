"""The one progress protocol of gflab's long units (claims, figures, sweeps, bridge runs).

A long unit takes an optional plain callable ``progress(done, total, info)`` and calls it after
each finished step: ``done`` steps of ``total`` (``None`` when not known in advance), and ``info``
a mapping with an optional ``"unit"`` (what is running, e.g. ``"DMC-1"``; a new value starts a new
unit), an optional ``"item"`` (what is counted: ``"example"``, ``"run"``, ``"point"``) and any
status worth showing (``{"worst margin": 0.31}``, a sweep's ``Counter`` of outcomes). The callee
knows nothing about terminals: drawing bars or printing lines is the command line's business
(``gflab.cli._progress``). :func:`notify` is the guarded call every unit uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Progress", "notify"]


class Progress(Protocol):
    """What a long unit calls after each finished step (see the module docstring).

    Args:
        done: steps finished so far.
        total: steps in all, or None when not known in advance.
        info: the unit (``"unit"``), what is counted (``"item"``) and any status worth showing.
    """

    def __call__(self, done: int, total: int | None, info: Mapping[str, Any]) -> None: ...


def notify(progress: Progress | None, done: int, total: int | None = None, /, **info: Any) -> None:
    """``progress(done, total, info)`` if ``progress`` is given (a no-op otherwise).

    Args:
        progress: the callee, or None.
        done: steps finished.
        total: steps in all, or None.
        **info: the unit, the item and any status.
    """
    if progress is not None:
        progress(done, total, info)
