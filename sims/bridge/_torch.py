"""Lazy torch import and device choice, shared by the bridge modules."""

from __future__ import annotations

from typing import Any

from gflab.theory.errors import GflabInputError

DEVICES = ("auto", "cpu", "cuda")


def import_torch() -> Any:
    """``torch`` with one thread for small matrices (docs/theory.md §4); a clear error without the extra."""
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise GflabInputError(
            "bridge",
            "the bridge extra installed (pip install -r requirements/bridge.lock)",
            "no torch",
        ) from None
    if torch.get_num_threads() != 1:
        # small matrices: more threads only add contention on shared cores (docs/theory.md §4)
        torch.set_num_threads(1)
    return torch


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` if available, else ``cpu``; ``cuda`` without a GPU is an input error."""
    torch = import_torch()
    if name not in DEVICES:
        raise GflabInputError("device", "one of " + ", ".join(DEVICES), name)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GflabInputError("device", "cpu or auto (no CUDA device is available here)", name)
    return name


def synchronize(device: str) -> None:
    """Wait for queued GPU work so that wall-clock timings mean something."""
    if device == "cuda":
        import_torch().cuda.synchronize()
