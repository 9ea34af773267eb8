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
