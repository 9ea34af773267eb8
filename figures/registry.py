"""The figure registry behind ``gflab figures``.

A figure is a function ``(ctx: FigureContext) -> (matplotlib Figure, meta dict)`` registered with
:func:`register`. It reads results through ``ctx.run`` (the result store: cached, content-addressed)
so regenerating figures reuses finished simulations. :func:`render` writes PNG + PDF + a JSON
sidecar (configs, seeds, versions, git revision, wall time) per figure into the output folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sims.store import ResultStore, git_revision, package_versions
from theory._validate import GflabInputError

__all__ = ["FigureSpec", "FigureContext", "register", "registry", "render", "FIGURE_MODULES"]

# modules that register figures; later issues add theirs here
FIGURE_MODULES = (
    "figures.dmc",
    "figures.sgf",
    "figures.bridge",
    "figures.sweep",
    "figures.dash",
    "figures.amuse",
)


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    paper: str
    func: Callable
    description: str = ""


@dataclass
class FigureContext:
    """What a figure function gets: the fast flag, a store, and a memoising runner."""

    fast: bool = False
    store: ResultStore | None = None
    quiet: bool = True
    configs: list = field(default_factory=list)

    def prefetch(self, configs: list, executor: str | None = None) -> None:
        """Compute the configs missing from the store in parallel (a sweep executor, default
        ``$GFLAB_FIGURE_EXECUTOR`` or ``local:2``), so that the following ``run`` calls read them.

        XLA runs single-threaded (sims._jaxsetup), so independent flows on separate cores are the
        way to use a multi-core machine. Without a store, or with one config missing, nothing
        happens; failures are left for ``run`` to recompute (and raise) in-process.
        """
        if self.store is None:
            return
        executor = executor or os.environ.get(
            "GFLAB_FIGURE_EXECUTOR", f"local:{min(2, os.cpu_count() or 1)}"
        )
        missing = [c for c in configs if self.store.status(c) != "ok"]
        if len(missing) < 2 or executor == "local:1":
            return
        from sims.sweep import run_sweep

        run_sweep(missing, self.store, executor)

    def run(self, config: Any, runner: Callable):
        """``runner(config)`` through the store (reuse if present), recording the config."""
        self.configs.append(config.to_dict() if hasattr(config, "to_dict") else config)
        if self.store is None:
            return runner(config)
        return self.store.get_or_run(config, runner)


_REGISTRY: dict[str, FigureSpec] = {}


def register(name: str, *, title: str, paper: str, description: str = ""):
    def deco(func):
        if name in _REGISTRY:
            raise ValueError(f"figure {name!r} registered twice")
        _REGISTRY[name] = FigureSpec(
            name, title, paper, func, description or (func.__doc__ or "").strip()
        )
        return func

    return deco


def registry() -> dict[str, FigureSpec]:
    for mod in FIGURE_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    return dict(_REGISTRY)


def render(
    names: list[str] | None = None,
    out: str | os.PathLike = "figures/out",
    *,
    fast: bool = False,
    store: ResultStore | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Render the named figures (all by default) into ``out``; returns one summary dict each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reg = registry()
    names = list(reg) if not names else names
    for n in names:
        if n not in reg:
            raise GflabInputError("figure", "one of " + ", ".join(reg), n)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    summaries = []
    for n in names:
        spec = reg[n]
        ctx = FigureContext(fast=fast, store=store)
        t0 = time.perf_counter()
        fig, meta = spec.func(ctx)
        wall = time.perf_counter() - t0
        png, pdf, side = (outdir / f"{n}.{ext}" for ext in ("png", "pdf", "json"))
        fig.savefig(png, dpi=150, bbox_inches="tight")
        fig.savefig(pdf, bbox_inches="tight")
        plt.close(fig)
        sidecar = {
            "figure": n,
            "title": spec.title,
            "paper": spec.paper,
            "description": spec.description,
            "fast": fast,
            "wall_seconds": wall,
            "git_revision": git_revision(),
            "versions": package_versions(),
            "configs": ctx.configs,
            **meta,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        side.write_text(json.dumps(sidecar, indent=1, default=str))
        summaries.append(
            {"name": n, "png": str(png), "pdf": str(pdf), "sidecar": str(side), "seconds": wall}
        )
        if progress:
            progress(f"{n}: {wall:.1f} s")
    return summaries
