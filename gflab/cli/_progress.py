"""Progress of long commands on stderr, drawn with tqdm: a live bar on a terminal, plain lines elsewhere.

:class:`Reporter` is the command line's side of :class:`gflab.sims.progress.Progress`: the layers below
call it with ``(done, total, info)`` and never see a terminal. On a terminal it draws one tqdm bar
per unit (count, rate, elapsed and ETA, the unit's status after the counts); when stderr is a pipe,
a log or CI, it prints one plain line (the same tqdm meter, without the bar) at most every
``$GFLAB_PROGRESS_INTERVAL`` seconds (default 10), at each tenth of the unit when a second has
passed, and when the unit ends. A long run with nothing new to count (one solve, one training)
is never silent: a heartbeat repeats the unit's line with its elapsed time whenever
:data:`HEARTBEAT` seconds (20) passed without one (on a terminal it redraws the bar's clock). ``quiet`` (``--quiet``, ``--json``) prints nothing, so JSON on
stdout is never mixed with anything and stderr stays empty.

:func:`progress` wraps an iterable (the demos' frame loops) with the same reporter.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, TypeVar

from tqdm import tqdm

__all__ = ["Reporter", "reporter", "progress", "enabled", "is_terminal"]

T = TypeVar("T")

DEFAULT_INTERVAL = 10.0  # seconds between plain lines when stderr is not a terminal
_MIN_GAP = 1.0  # a tenth-of-the-unit line only if this long since the last line
_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
# when the total is not known yet: what is finished so far and for how long it has been running
_COUNT = "{desc}: {n_fmt} {unit} finished, running for {elapsed}{postfix}"
_COUNT_RATE = "{desc}: {n_fmt} {unit} finished, running for {elapsed}, {rate_fmt}{postfix}"
HEARTBEAT = 20.0  # seconds: the longest a running command stays silent
_LINE = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def is_terminal(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default stderr) is an open terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed stream
        return False


def enabled(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """True when a live bar would be drawn: not quiet and ``stream`` (default stderr) a terminal."""
    return not quiet and is_terminal(stream)


def _shape(stream: IO[str]) -> dict:
    """tqdm's size arguments: follow the terminal, or 100 × 24 when it reports no size (a
    pseudo-terminal without one, where tqdm would draw nothing at all)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        size = os.terminal_size((0, 0))
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": 100, "nrows": 24}


def _interval() -> float:
    text = os.environ.get("GFLAB_PROGRESS_INTERVAL", "")
    try:
        v = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return v if math.isfinite(v) and v >= 0 else DEFAULT_INTERVAL


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float) or hasattr(v, "dtype"):  # NumPy scalars print as numbers
        try:
            f = float(v)
        except (TypeError, ValueError):
            return str(v)
        if not math.isfinite(f):
            return str(f)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.3g}"
    return str(v)


def _postfix(info: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in info.items())


class Reporter:
    """A :class:`gflab.sims.progress.Progress` callable drawing on ``stream`` (default stderr).

    Args:
        desc: the unit's label when the caller names none (``info["unit"]``).
        item: what is counted when the caller names nothing (``info["item"]``), e.g. ``"point"``.
        quiet: print nothing at all.
        stream: where to write (default ``sys.stderr``); a live bar only if it is a terminal.
        interval: seconds between plain lines off a terminal (default
            ``$GFLAB_PROGRESS_INTERVAL`` or 10).
        clock: the time source (seconds), for tests.
        heartbeat: the longest silence in seconds while a unit runs (default :data:`HEARTBEAT`;
            ``None``: no heartbeat thread, for tests that call :meth:`beat` themselves).

    Call :meth:`close` (or use it as a context manager) to end the last unit.
    """

    def __init__(
        self,
        desc: str = "",
        item: str = "",
        *,
        quiet: bool = False,
        stream: IO[str] | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: float | None = HEARTBEAT,
    ):
        self.desc, self.item, self.quiet = desc, item, quiet
        self.stream = sys.stderr if stream is None else stream
        self.tty = is_terminal(self.stream)
        self.interval = _interval() if interval is None else interval
        self.clock = clock
        self._unit: str | None = None
        self._bar: tqdm | None = None
        self._state: dict[str, Any] = {}
        self._lock = threading.RLock()  # the heartbeat thread and the caller write one stream
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the protocol
    def __call__(self, done: int, total: int | None = None, info: Mapping[str, Any] = ()) -> None:
        if self.quiet:
            return
        with self._lock:
            self._update(done, total, info)
        if self.heartbeat is not None and self._thread is None:
            self._thread = threading.Thread(target=self._beat_loop, daemon=True, name="gflab-beat")
            self._thread.start()

    def beat(self) -> None:
        """Repeat the running unit's line if it has been silent for :attr:`heartbeat` seconds
        (on a terminal: redraw its bar, whose clock then moves)."""
        with self._lock:
            if self.quiet or self._unit is None:
                return
            if self._bar is not None:
                self._bar.refresh()
                return
            now = self.clock()
            if now - self._state["last"] >= (self.heartbeat or HEARTBEAT):
                self._line(now)

    def _beat_loop(self) -> None:
        period = min(self.heartbeat or HEARTBEAT, 5.0)
        while not self._stop.wait(period):
            self.beat()

    def _update(self, done: int, total: int | None, info: Mapping[str, Any]) -> None:
        info = dict(info)
        unit = str(info.pop("unit", self.desc))
        item = str(info.pop("item", self.item))
        if unit != self._unit:
            self._end()
            self._start(unit, item)
        done = int(done)
        total = None if total is None else max(int(total), done)
        st = self._state
        if st["done0"] is None:  # what was done before this run (a resumed sweep's stored points)
            st["done0"] = done
        st.update(done=done, total=total, postfix=_postfix(info))
        if self.tty and self._bar is None:  # drawn from the first call: its count is the start
            self._bar = tqdm(
                total=total,
                initial=done,
                desc=unit,
                unit=st["item"] or "it",
                file=self.stream,
                leave=True,
                **_shape(self.stream),
                mininterval=0.1,
                bar_format=_BAR if total else _COUNT,
            )
        if self._bar is not None:
            bar = self._bar
            if bar.total != total:
                bar.total = total
                bar.bar_format = _BAR if total else _COUNT
            bar.set_postfix_str(st["postfix"], refresh=False)
            if done != bar.n:
                bar.update(done - bar.n)  # redraws at most every tqdm.mininterval
            else:
                bar.refresh()
            return
        now = self.clock()
        since = now - st["last"]
        decile = math.floor(10 * done / total) if total else -1
        due = since >= self.interval or (
            decile > st["decile"] and since >= min(_MIN_GAP, self.interval)
        )
        finished = total is not None and done >= total  # its line now, not at the next unit
        if (due or finished) and (done, st["postfix"]) != st["printed"]:  # a line only for news
            self._line(now)
        if decile > st["decile"]:
            st["decile"] = decile

    def close(self) -> None:
        """End the current unit: close its bar, or print its final plain line."""
        self._stop.set()
        with self._lock:
            self._end()
            self._unit = None

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals
    def _start(self, unit: str, item: str) -> None:
        self._unit = unit
        now = self.clock()
        self._state = {
            "t0": now,
            "last": now,
            "decile": 0,
            "done": 0,
            "total": None,
            "printed": None,
        }
        self._state.update(postfix="", item=item, done0=None)

    def _end(self) -> None:
        if self._bar is not None:
            self._bar.refresh()
            self._bar.close()
            self._bar = None
        elif self._unit is not None and self._state.get("printed") != (
            self._state.get("done"),
            self._state.get("postfix"),
        ):
            self._line(self.clock())

    def _line(self, now: float) -> None:
        st = self._state
        elapsed = now - st["t0"]
        fresh = st["done"] - (st["done0"] or 0)
        text = tqdm.format_meter(
            st["done"],
            st["total"],
            elapsed,
            rate=fresh / elapsed if fresh > 0 and elapsed > 0 else None,
            prefix=self._unit or "",
            unit=st["item"] or "it",
            postfix=st["postfix"] or None,
            bar_format=_LINE if st["total"] else (_COUNT_RATE if fresh > 0 else _COUNT),
        )
        self.stream.write(text + "\n")
        self.stream.flush()
        st["last"], st["printed"] = now, (st["done"], st["postfix"])


def reporter(args, desc: str = "", item: str = "") -> Reporter:
    """The reporter of a command: silent with ``--quiet`` or ``--json``, stderr otherwise."""
    quiet = bool(getattr(args, "quiet", False) or getattr(args, "json", False))
    return Reporter(desc, item, quiet=quiet)


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str = "",
    quiet: bool = False,
    stream: IO[str] | None = None,
) -> Iterator[T]:
    """Yield from ``iterable``, reporting each item on ``stream`` (default stderr) via :class:`Reporter`.

    Args:
        iterable: the items to loop over.
        total: number of items (taken from ``len(iterable)`` when omitted and available).
        desc: a short label in front of the count.
        quiet: print nothing (``--quiet``/``--json`` in the commands).
        stream: where to write (default ``sys.stderr``): a live bar on a terminal, plain lines
            elsewhere.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if quiet:
        yield from iterable
        return
    with Reporter(desc or "progress", quiet=quiet, stream=stream) as rep:
        rep(0, total)
        for k, item in enumerate(iterable, 1):
            yield item
            rep(k, total)
