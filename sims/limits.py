"""Size limits: refuse work that cannot fit *before* anything is allocated or compiled.

The budget is derived from the machine (80 % of the memory the kernel reports as available) and can
be overridden with ``$GFLAB_MAX_MEMORY`` (bytes, or with a suffix: ``512M``, ``8G``). Every caller
estimates what it would allocate and calls :func:`require_fits`, which raises
:class:`~theory._validate.GflabInputError` naming the parameter, the memory needed and the budget,
so the command line answers with one line and exit code 2.

Work whose cost is predictable from its config (the river valley's steps × state size) is also
checked against a time budget, ``$GFLAB_MAX_SECONDS`` (default 600 s, a positive number of
seconds) with :func:`require_time`: the estimate uses costs per unit measured on a 2-core CPU,
so a refusal means hours, not a close call.
"""

from __future__ import annotations

import os

from gflab.theory.errors import GflabInputError

__all__ = [
    "memory_budget_bytes",
    "require_fits",
    "format_bytes",
    "FLOAT64_BYTES",
    "time_budget_seconds",
    "require_time",
    "format_seconds",
]

FLOAT64_BYTES = 8
_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_bytes(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1] if t and t[-1] in _SUFFIX else ""
    number = t[: len(t) - len(unit)] if unit else t
    try:
        value = float(number) * _SUFFIX[unit]
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < 2**62):
        raise GflabInputError("GFLAB_MAX_MEMORY", "a positive size in bytes, e.g. 8G or 512M", text)
    return int(value)


def _available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30  # no way to ask: assume a small machine


def memory_budget_bytes() -> int:
    """The most memory one run may plan to allocate, in bytes."""
    env = os.environ.get("GFLAB_MAX_MEMORY")
    if env:
        return _parse_bytes(env)
    return int(0.8 * _available_bytes())


def format_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``: sizes in messages people read.

    Args:
        n: a size in bytes.

    Returns:
        The size with a binary unit.
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _refuse_over(parameter: str, got, needed: float, budget: float, fmt, fits: str, env: str):
    """Raise :class:`GflabInputError` naming ``parameter`` unless ``needed <= budget`` (NaN is
    refused too); ``fmt`` writes both amounts, ``fits`` says what the run must fit, ``env`` is
    the variable that sets the budget."""
    if not (needed <= budget):
        raise GflabInputError(
            parameter,
            f"a value whose run {fits} (needs ~{fmt(float(needed))}, budget {fmt(budget)}; "
            f"set {env} to change)",
            got,
        )


def require_fits(parameter: str, nbytes: float, got: object) -> None:
    """Raise if an allocation of ``nbytes`` (an estimate) exceeds :func:`memory_budget_bytes`.

    Args:
      parameter: the user-facing parameter whose value drives the size (e.g. ``"n"``).
      nbytes: the estimated allocation in bytes (a float, so overflowing products stay finite).
      got: the parameter's value, echoed in the message.
    """
    budget = memory_budget_bytes()
    _refuse_over(parameter, got, nbytes, budget, format_bytes, "fits in memory", "GFLAB_MAX_MEMORY")


DEFAULT_MAX_SECONDS = 600.0


def time_budget_seconds() -> float:
    """The longest one run may be estimated to take, in seconds (``$GFLAB_MAX_SECONDS``)."""
    env = os.environ.get("GFLAB_MAX_SECONDS")
    if env is None:
        return DEFAULT_MAX_SECONDS
    try:
        value = float(env)
    except ValueError:
        value = float("nan")
    if not (0 < value < 1e12):
        raise GflabInputError("GFLAB_MAX_SECONDS", "a positive number of seconds, e.g. 3600", env)
    return value


def format_seconds(s: float) -> str:
    """``5400`` → ``"1.5 h"``: durations in messages people read.

    Args:
        s: a duration in seconds.

    Returns:
        The duration in s, min, h or d.
    """
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def require_time(parameter: str, seconds: float, got: object) -> None:
    """Raise if a run estimated to take ``seconds`` exceeds :func:`time_budget_seconds`.

    Args:
      parameter: the user-facing parameter whose value drives the time (e.g. ``"steps"``).
      seconds: the estimate (a float, so overflowing products stay finite or inf).
      got: the parameter's value, echoed in the message.
    """
    budget = time_budget_seconds()
    fits = "fits the time budget"
    _refuse_over(parameter, got, seconds, budget, format_seconds, fits, "GFLAB_MAX_SECONDS")
