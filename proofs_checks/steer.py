"""Steering hypothesis's search towards a claim's weakest examples.

The ``thorough`` profile runs hypothesis's target phase, which mutates the examples that scored
highest on :func:`hypothesis.target`. A check wrapped by :func:`steered` reports −margin (so the
search climbs towards violations); outside a hypothesis test (a ``beyond`` map, a unit test) the
wrapper only forwards the call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from hypothesis import target
from hypothesis.control import currently_in_test_context

from gflab.proofs_checks.registry import Evidence

__all__ = ["steered"]


def steered(label: str, check: Callable[..., Evidence]) -> Callable[..., Evidence]:
    """``check`` that also calls ``hypothesis.target(−margin, label)`` inside a hypothesis test.

    Args:
        label: the claim id (one target per claim).
        check: example -> Evidence.

    Returns:
        A check with the same signature and result.
    """

    @functools.wraps(check)
    def run(example: Any, *args: Any, **kwargs: Any) -> Evidence:
        ev = check(example, *args, **kwargs)
        if currently_in_test_context() and math.isfinite(ev.margin):
            target(-float(ev.margin), label=label)
        return ev

    return run
