"""Input validation shared by every layer: each error names the parameter and what is allowed.

Errors raised here are :class:`GflabInputError` (a ``ValueError``) so that the command line can turn
them into one clean line and exit code 2.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from gflab.theory.errors import GflabInputError, _number, _plain, _short  # noqa: F401


class _Text(str):
    """A ``got`` that is already a description (printed as is, without quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _not_integer(x: Any) -> Any:
    """``x`` for a message of an integer parameter: a float says it is one (``9.0, a float``)."""
    if isinstance(x, (float, np.floating)) and not isinstance(x, bool):
        return _Text(f"{float(x)!r} (a float)")
    return x


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def positive_int(name: str, x: Any, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < minimum:
        raise GflabInputError(name, f"an integer >= {minimum}", _not_integer(x))
    return int(x)


def finite_real(name: str, x: Any) -> float:
    if not _is_real(x) or not math.isfinite(float(x)):
        raise GflabInputError(name, "a finite real number", x)
    return float(x)


def positive_real(name: str, x: Any, allow_zero: bool = False, allow_inf: bool = False) -> float:
    ok = _is_real(x) and not math.isnan(float(x))
    if ok:
        v = float(x)
        ok = (v > 0 or (allow_zero and v == 0)) and (allow_inf or math.isfinite(v))
    if not ok:
        what = "a real number >= 0" if allow_zero else "a real number > 0"
        what += "" if not allow_inf else " (inf allowed)"
        what += "" if allow_inf else ", finite"
        raise GflabInputError(name, what, x)
    return float(x)


def probability(name: str, x: Any, open_low: bool = True) -> float:
    if not _is_real(x) or not (0 < float(x) <= 1 if open_low else 0 <= float(x) <= 1):
        raise GflabInputError(
            name, "a probability in (0, 1]" if open_low else "a value in [0, 1]", x
        )
    return float(x)


def one_of(name: str, x: Any, allowed: Iterable) -> str:
    # ``allowed`` holds strings; not ``Iterable[str]``: beartype (the test run's checker) checks one
    # element of a parametrised container chosen with the global ``random`` module, which
    # hypothesis refuses inside strategies, and claims draw their examples through these checks
    allowed = list(allowed)
    if x not in allowed:
        raise GflabInputError(name, "one of " + ", ".join(allowed), x)
    return x


class Choice(enum.StrEnum):
    """An option with a fixed set of spellings (a subclass lists them as members).

    A spelling becomes a member once, where it enters (a config's constructor, the command line,
    the JSON reader); inside, members are compared by identity or carry their behaviour. Members
    are strings, so a config's dict and its store key hold the spelling as before.
    """

    @classmethod
    def parse(cls, value: Any, parameter: str) -> Choice:
        """The member spelled ``value`` (a member passes through).

        Args:
            value: a member or its spelling.
            parameter: the parameter an error names.

        Returns:
            The member.

        Raises:
            GflabInputError: naming ``parameter`` and the spellings, when ``value`` is none of them.
        """
        return cls(one_of(parameter, value, tuple(cls)))


def finite_array(name: str, a: Any, ndim: int | None = None, shape: tuple | None = None):
    """Check that ``a`` is a finite real array of the given rank/shape; returns it unchanged."""
    arr = np.asarray(a)
    if ndim is not None and arr.ndim != ndim:
        raise GflabInputError(name, f"an array with {ndim} dimensions", f"shape {arr.shape}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise GflabInputError(name, f"an array of shape {tuple(shape)}", f"shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise GflabInputError(name, "a real numeric array", f"dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise GflabInputError(name, "finite entries (no NaN or inf)", "non-finite entries")
    return a
