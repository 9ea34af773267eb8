"""A tiny progress bar for long commands: drawn on stderr, only on a terminal, never in pipes.

``progress(iterable, total=None, desc="", quiet=False)`` yields the items of ``iterable`` and, when
stderr is a TTY and ``quiet`` is false, redraws one line ``desc  k/N [#####·····] 3.2 s`` at most
ten times a second, ending with a newline. In pipes, logs and CI it prints nothing, so JSON on
stdout and captured stderr stay clean. No dependency.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

__all__ = ["progress", "enabled"]

T = TypeVar("T")

_WIDTH = 24
_MIN_INTERVAL = 0.1  # seconds between redraws: cheap even for fast loops


def enabled(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """True when a bar would be drawn: not quiet and ``stream`` (default stderr) is a terminal."""
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed stream
        return False


def _line(desc: str, k: int, total: int | None, elapsed: float) -> str:
    head = f"{desc}  " if desc else ""
    if total:
        filled = min(_WIDTH, int(_WIDTH * k / total))
        bar = "#" * filled + "·" * (_WIDTH - filled)
        return f"\r{head}{k}/{total} [{bar}] {elapsed:.1f} s"
    return f"\r{head}{k} {elapsed:.1f} s"


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "",
    quiet: bool = False,
    stream: IO[str] | None = None,
) -> Iterator[T]:
    """Yield from ``iterable``, drawing a one-line bar on ``stream`` (default stderr) if enabled.

    Args:
        iterable: the items to loop over.
        total: number of items (taken from ``len(iterable)`` when omitted and available).
        desc: a short label in front of the bar.
        quiet: never draw (``--quiet``/``--json`` in the commands).
        stream: where to draw (default ``sys.stderr``); drawn only if ``stream.isatty()``.
    """
    out = sys.stderr if stream is None else stream
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not enabled(quiet, out):
        yield from iterable
        return
    t0 = time.perf_counter()
    last = -1.0
    k = 0
    try:
        out.write(_line(desc, 0, total, 0.0))
        out.flush()
        for item in iterable:
            yield item
            k += 1
            now = time.perf_counter()
            if now - last >= _MIN_INTERVAL or (total is not None and k >= total):
                out.write(_line(desc, k, total, now - t0))
                out.flush()
                last = now
    finally:
        out.write("\n")
        out.flush()
