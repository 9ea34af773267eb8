"""Helpers shared by subcommands: argument types that fail with the parameter's name, JSON output."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(v):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return v


def float_list(text: str) -> tuple[float, ...]:
    parts = text.split(",")
    if any(not p.strip() for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers without empty items, got {text!r}"
        )
    try:
        vals = tuple(float(x) for x in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not vals or any(not math.isfinite(v) for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated finite numbers, got {text!r}")
    return vals


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


def print_json_error(parameter: str, message: str, allowed: str) -> None:
    """``{"error": {"parameter", "message", "allowed"}}`` as one line on stdout."""
    print_json({"error": {"parameter": parameter, "message": message, "allowed": allowed}})
    sys.stdout.flush()


def report_error(
    command: str, parameter: str, message: str, allowed: str, as_json: bool = False
) -> int:
    """Print one failure: a JSON object on stdout (``as_json``) or one line on stderr.

    Args:
      command: the subcommand (``sweep``), named in the line.
      parameter: the offending parameter (``store``, ``n``, ...).
      message: the one-line message.
      allowed: what would have been accepted.
      as_json: print the JSON form (``--json`` was given).

    Returns:
      2, the exit code of every bad-input failure.
    """
    if as_json:
        print_json_error(parameter, message, str(allowed))
    else:
        prefix = f"gflab {command}: error: " if command else "gflab: error: "
        print(prefix + " ".join(str(message).split()), file=sys.stderr)
    return 2


def _seconds(minimum_open: bool):
    def check(text: str) -> bool:
        try:
            v = float(text)
        except ValueError:
            return False
        return math.isfinite(v) and (v > 0 if minimum_open else v >= 0) and v < 1e9

    return check


def _bytes_ok(text: str) -> bool:
    from gflab.sims.limits import _parse_bytes

    try:
        _parse_bytes(text)
    except ValueError:
        return False
    return True


# every environment variable gflab reads as a setting: name -> (what is allowed, check); an empty
# value means unset
ENVIRONMENT = {
    "GFLAB_PROGRESS_INTERVAL": ("a number of seconds >= 0", _seconds(False)),
    "GFLAB_DASK_WORKER_TIMEOUT": ("a number of seconds > 0", _seconds(True)),
    "GFLAB_MAX_SECONDS": ("a number of seconds > 0", _seconds(True)),
    "GFLAB_MAX_MEMORY": ("a positive size in bytes, e.g. 8G or 512M", _bytes_ok),
    "GFLAB_XLA_THREADS": ("single or multi", lambda t: t in ("single", "multi")),
    "GFLAB_XLA_FUSION_EMITTERS": ("on or off", lambda t: t in ("on", "off")),
    "GFLAB_PROFILE": ("ci, dev or thorough", lambda t: t in ("ci", "dev", "thorough")),
}


def check_environment(environ=None) -> None:
    """Raise :class:`theory.GflabInputError` naming the first variable of :data:`ENVIRONMENT`
    whose value is not allowed (before any work starts)."""
    import os

    from gflab.theory.errors import GflabInputError

    env = os.environ if environ is None else environ
    for name, (allowed, ok) in ENVIRONMENT.items():
        text = env.get(name, "")
        if text and not ok(text):
            raise GflabInputError(name, allowed, text)


def require_free_space(parameter: str, folder, nbytes: float, shown=None) -> None:
    """Raise :class:`theory.GflabInputError` naming ``parameter`` if the file system of the
    existing folder ``folder`` has less than ``nbytes`` free (an estimate of what will be
    written), before the work starts."""
    import os

    from gflab.sims.limits import format_bytes
    from gflab.theory.errors import GflabInputError

    try:
        st = os.statvfs(folder)
    except OSError:
        return  # no answer: the write itself reports
    free = st.f_bavail * st.f_frsize
    if free < nbytes:
        raise GflabInputError(
            parameter,
            f"a location with ~{format_bytes(nbytes)} free for what will be written",
            f"{shown or folder} ({format_bytes(free)} free)",
        )


def check_output_file(parameter: str, path, nbytes: float) -> None:
    """The file ``path`` can be written: its folder exists (none is created for it), is a
    writable folder with ``nbytes`` free, and ``path`` is not a folder. Checked before work."""
    import os
    from pathlib import Path

    from gflab.theory.errors import GflabInputError

    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise GflabInputError(parameter, "a file path (not a folder)", str(p))
    if not parent.is_dir():
        raise GflabInputError(
            parameter,
            "a file in an existing folder (no folder is created)",
            f"{p} ({parent} {'is not a folder' if parent.exists() else 'does not exist'})",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GflabInputError(parameter, "a file in a writable folder", f"{p} ({parent})")
    require_free_space(parameter, parent, nbytes, shown=p)
