"""The error every layer of gflab raises for bad input: :class:`GflabInputError`.

Its message names the parameter, what is allowed and what was given, on one line, so the command
line prints it as is and exits with code 2 (JSON with ``--json``). Catch it as ``ValueError`` or
by name::

    from gflab.theory.errors import GflabInputError

    try:
        LoRAConfig(rows=0, ...)
    except GflabInputError as e:
        print(e.parameter, e.allowed, e.got)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["GflabInputError"]


class GflabInputError(ValueError):
    """Bad input to gflab: the message names the parameter and what is allowed.

    Args:
        parameter: the parameter's name as the user wrote it (a field or ``--flag`` stem).
        allowed: what it may be, as a phrase ("an integer >= 1", "one of a, b").
        got: the value given (shown shortened to one line of at most 120 characters).

    Attributes:
        parameter, allowed, got: the three arguments, for programs that handle the error.
    """

    def __init__(self, parameter: str, allowed: str, got: Any):
        self.parameter = parameter
        self.allowed = allowed
        self.got = got
        super().__init__(f"{parameter}: expected {allowed}, got {_short(got)}")


def _number(x: float) -> str:
    """A number as a person writes it: ``9`` (not ``9.0``), ``0.001``, ``1e-06``, ``inf``."""
    if math.isfinite(x) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _plain(got: Any) -> str:
    """``got`` as text without NumPy reprs (``np.float64(1.0)`` is ``1``), integers as integers."""
    if isinstance(got, np.ndarray):
        return f"an array of shape {got.shape}"
    if isinstance(got, np.generic):
        got = got.item()
    if isinstance(got, bool) or got is None:
        return repr(got)
    if isinstance(got, float):
        return _number(got)
    if isinstance(got, (list, tuple)):
        inner = ", ".join(_plain(v) for v in got)
        return f"[{inner}]" if isinstance(got, list) else f"({inner}{',' if len(got) == 1 else ''})"
    if isinstance(got, dict):
        return "{" + ", ".join(f"{_plain(k)}: {_plain(v)}" for k, v in got.items()) + "}"
    return repr(got)


def _short(got: Any) -> str:
    """One line, at most 120 characters: the CLI prints the message as a single line."""
    text = " ".join(_plain(got).split())
    return text if len(text) <= 120 else text[:117] + "..."
