"""The figure registry behind ``gflab figures``.

A figure is a function ``(ctx: FigureContext) -> (matplotlib Figure, meta dict)`` registered with
:func:`register`. It reads results through the result store (cached, content-addressed), so
regenerating figures reuses finished simulations: ``ctx.run`` for a simulation config,
``ctx.record`` for a figure-specific measurement (a named runner function returning arrays), and
``ctx.prefetch`` / ``ctx.prefetch_records`` to compute the missing ones on all cores first.
:func:`render` writes PNG + PDF + a JSON sidecar (configs, seeds, versions, git revision, wall
time, provenance) per figure into the output folder; the provenance text also goes into the PDF
and PNG metadata, and into the image only in the ``draft`` style (:mod:`gflab.figures.style`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gflab.figures import style as figure_style
from gflab.sims.progress import Progress, notify
from gflab.sims.store import ResultStore, git_revision, package_versions, source_hash
from gflab.theory.errors import GflabInputError

__all__ = [
    "FigureSpec",
    "FigureContext",
    "register",
    "registry",
    "render",
    "save_figure",
    "compute_record",
    "FIGURE_MODULES",
    "REGENERATES_SOURCES",
]

# modules that register figures; later issues add theirs here
FIGURE_MODULES = (
    "gflab.figures.dmc",
    "gflab.figures.sgf",
    "gflab.figures.bridge",
    "gflab.figures.sweep",
    "gflab.figures.dash",
    "gflab.figures.amuse",
    "gflab.figures.prune",
)


#: how a figure's ``regenerates`` text starts: the paper or the authors' material it regenerates,
#: or ``ours:`` for a figure gflab made up (docs/figures.md explains the tags)
REGENERATES_SOURCES = ("[DMC]", "[SGF]", "[DASH]", "[AMUSE]", "[Kleinman]", "[DUAL]", "ours:")


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: ``name``, ``title``, the ``paper`` it belongs to, its function, a
    ``description`` (the docstring by default) and ``regenerates``: which paper figure or authors'
    notebook/script it regenerates and with which settings, or ``ours: ...`` (gflab's own)."""

    name: str
    title: str
    paper: str
    func: Callable
    description: str = ""
    regenerates: str = ""


@dataclass
class FigureContext:
    """What a figure function gets: the fast flag, the style, a store, and store-backed runners.

    ``progress`` (:class:`gflab.sims.progress.Progress`) hears of every run the figure finishes: the
    configs announced by :meth:`prefetch`/:meth:`prefetch_records` make the total (so the command
    line can show an ETA), runs without an announcement count on top of it.
    """

    fast: bool = False
    store: ResultStore | None = None
    quiet: bool = True
    style: str = "default"
    configs: list = field(default_factory=list)
    progress: Progress | None = None
    label: str = ""
    _planned: int = 0
    _done: int = 0
    _counted: set = field(default_factory=set)

    def _tick(self, key: str | None = None, n: int = 1) -> None:
        if key is not None and key in self._counted:
            return  # its prefetch counted it already
        self._done += n
        self._report()

    def _report(self, **info) -> None:
        # the total only while runs remain: the figure is finished when render says so
        total = self._planned if self._done < self._planned else None
        notify(self.progress, self._done, total, unit=self.label, item="run", **info)

    def _key(self, obj) -> str | None:
        if self.store is None or not self._counted:
            return None
        return self.store.key(obj)

    @staticmethod
    def executor(executor: str | None = None) -> str:
        """The sweep executor for independent runs: ``executor``, else ``$GFLAB_FIGURE_EXECUTOR``,
        else ``local:2`` (``local:1`` on one core).

        Args:
            executor: an executor spec (``local:N``, ``dask:...``), or None.

        Returns:
            The executor spec to use.
        """
        return executor or os.environ.get(
            "GFLAB_FIGURE_EXECUTOR", f"local:{min(2, os.cpu_count() or 1)}"
        )

    def prefetch(self, configs: list, executor: str | None = None) -> None:
        """Compute the configs missing from the store in parallel (a sweep executor, default
        ``$GFLAB_FIGURE_EXECUTOR`` or ``local:2``), so that the following ``run`` calls read them.

        XLA runs single-threaded (sims._jaxsetup), so independent flows on separate cores are the
        way to use a multi-core machine. Without a store, or with one config missing, nothing
        happens; failures are left for ``run`` to recompute (and raise) in-process.

        Args:
            configs: the configs the figure will :meth:`run`.
            executor: the sweep executor (None: the default above).
        """
        self._planned += len(configs)
        self._report()
        if self.store is None:
            return
        executor = self.executor(executor)
        missing = [c for c in configs if self.store.status(c) != "ok"]
        if len(missing) < 2 or executor == "local:1":
            return
        from gflab.sims.sweep import run_sweep

        base = self._done + len(configs) - len(missing)

        def hook(k, n, counts):
            self._done = base + k
            self._report()

        run_sweep(missing, self.store, executor, progress=hook if self.progress else None)
        self._done = base + len(missing)
        self._counted.update(self.store.key(c) for c in configs)

    def run(self, config: Any, runner: Callable):
        """``runner(config)`` through the store (reuse if present), recording the config.

        Args:
            config: a model config.
            runner: computes the result of ``config`` (e.g. ``simulate``).

        Returns:
            The result, stored or computed.
        """
        self.configs.append(config.to_dict() if hasattr(config, "to_dict") else config)
        if self.store is None:
            out = runner(config)
        else:
            out = self.store.get_or_run(config, runner)
        self._tick(self._key(config))
        return out

    def record(self, model: str, params: dict, runner: str) -> dict[str, np.ndarray]:
        """A figure-specific measurement through the store: the arrays ``runner(**params)``
        returned, stored under the key ``_record_key(model, params, runner)`` (computed now if missing).

        Args:
            model: the record kind (part of the key), e.g. ``"sgf-rates"``.
            params: JSON-serialisable keyword arguments of the runner (part of the key).
            runner: ``"module:function"``; the function returns ``{name: array}``.

        Returns:
            The stored arrays by name.
        """
        key = _record_key(model, params, runner)
        self.configs.append(key)
        if self.store is not None:
            rec = self.store.get_record(key)
            if rec is not None:
                self.store.hits += 1
                self._tick(self._key(key))
                return rec[0]
            self.store.misses += 1
        arrays = _resolve(runner)(**params)
        if self.store is not None:
            self.store.put_record(key, arrays, {"record": model, "runner": runner})
        self._tick(self._key(key))
        return arrays

    def prefetch_records(
        self, model: str, params: list[dict], runner: str, executor: str | None = None
    ) -> None:
        """Compute the missing :meth:`record` entries on a spawn-based process pool of the sweep
        executor's size (``local:N``; default as :meth:`prefetch`), each worker writing to the store.

        Serial (nothing to do here; ``record`` computes in-process) for one missing entry, for
        ``local:1`` and for dask executors. Failures surface when ``record`` recomputes them.

        Args:
            model: the records' model name (part of each key).
            params: one parameter dict per record.
            runner: the record runner, ``module:function``.
            executor: the sweep executor (None: the default of :meth:`prefetch`).
        """
        self._planned += len(params)
        self._report()
        if self.store is None:
            return
        from gflab.sims.sweep import parse_executor

        kind, workers = parse_executor(self.executor(executor))
        missing = [p for p in params if self.store.status(_record_key(model, p, runner)) != "ok"]
        if kind != "local" or workers < 2 or len(missing) < 2:
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from gflab.sims.sweep._programs import assign_programs, warm_shared_programs

        warm_shared_programs()  # compiled here once, loaded from the cache by every worker
        root = str(Path(self.store.root).resolve())
        # one compiled program per worker: a single-process pool per lane of same-shape records
        lanes, _ = assign_programs(missing, workers)
        # spawn, never fork: JAX is multithreaded and forking it can deadlock
        pools = [ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) for _ in lanes]
        try:
            futures = [
                pool.submit(compute_record, model, missing[j], runner, root, self.store.versions)
                for pool, lane in zip(pools, lanes, strict=True)
                for j in lane
            ]
            self._done += len(params) - len(missing)
            self._report()
            for f in as_completed(futures):
                f.exception()  # wait; a failure is recomputed (and raised) by ``record``
                self._tick()
        finally:
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)
        self._counted.update(self.store.key(_record_key(model, p, runner)) for p in params)


def _record_key(model: str, params: dict, runner: str) -> dict:
    """What the store hashes for a figure's record: the model, its parameters, and the code of
    the runner's module and of every gflab module it imports (the store's own key covers only
    theory/ and sims/), so editing a runner gives its records new keys."""
    from gflab.sims.store import module_code_hash

    return {"model": model, **params, "runner_code": module_code_hash(runner)}


def _resolve(runner: str) -> Callable:
    module, _, name = runner.partition(":")
    return getattr(importlib.import_module(module), name)


def compute_record(model: str, params: dict, runner: str, root: str, versions: dict) -> str:
    """One :meth:`FigureContext.record` entry computed into the store at ``root`` (a pool task).

    Args:
        model: the record's model name.
        params: its parameters.
        runner: the record runner, ``module:function``.
        root: the store's folder.
        versions: the package versions the store keys with.

    Returns:
        The record's store key.
    """
    store = ResultStore(root, versions=versions)
    arrays = _resolve(runner)(**params)
    return store.put_record(
        _record_key(model, params, runner), arrays, {"record": model, "runner": runner}
    )


_REGISTRY: dict[str, FigureSpec] = {}


def register(name: str, *, title: str, paper: str, description: str = "", regenerates: str = ""):
    """Register a figure function under ``name`` (a decorator).

    Args:
        name: the figure's name (``gflab figures --only NAME``, file names).
        title: one line, also the PDF/PNG title.
        paper: the paper it belongs to (DMC, SGF, DASH, AMUSE).
        description: defaults to the function's docstring.
        regenerates: which figure of the paper (or which authors' notebook cell or script) the
            figure regenerates, with the settings that differ, starting with one of
            :data:`REGENERATES_SOURCES`; ``"ours: ..."`` for a figure gflab made up. Listed by
            ``gflab figures --list``, written to the sidecar, tabulated in docs/figures.md.
    """

    def deco(func):
        if name in _REGISTRY:
            raise ValueError(f"figure {name!r} registered twice")
        _REGISTRY[name] = FigureSpec(
            name,
            title,
            paper,
            func,
            description or (func.__doc__ or "").strip(),
            regenerates,
        )
        return func

    return deco


def registry() -> dict[str, FigureSpec]:
    """Every registered figure, in the order of :data:`FIGURE_MODULES` and, within a module, of
    registration: the same order whichever module a process happened to import first."""
    for mod in FIGURE_MODULES:
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod)
    rank = {m: i for i, m in enumerate(FIGURE_MODULES)}
    return dict(
        sorted(_REGISTRY.items(), key=lambda kv: rank.get(kv[1].func.__module__, len(rank)))
    )


def save_figure(fig, spec: FigureSpec, outdir: Path, meta: dict) -> tuple[Path, Path, Path]:
    """Write ``fig`` as PNG (150 dpi) + PDF (Type 42 fonts) + JSON sidecar into ``outdir``.

    The provenance recorded by :func:`gflab.figures.style.footer` goes into the PDF metadata (Subject),
    the PNG text chunks (Description) and the sidecar, never into the image unless drawn by the
    ``draft`` style.

    Args:
        fig: the matplotlib figure.
        spec: the figure's registry entry (its name and paper).
        outdir: the output folder.
        meta: the provenance for the sidecar.

    Returns:
        (png, pdf, sidecar) paths.
    """
    import matplotlib as mpl

    png, pdf, side = (outdir / f"{spec.name}.{ext}" for ext in ("png", "pdf", "json"))
    prov = figure_style.provenance(fig)
    rev = git_revision()
    with mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        fig.savefig(
            png,
            dpi=150,
            bbox_inches="tight",
            metadata={
                "Title": spec.title,
                "Description": prov,
                "Software": f"gflab figures (git {rev})",
            },
        )
        fig.savefig(
            pdf,
            bbox_inches="tight",
            metadata={
                "Title": spec.title,
                "Subject": prov,
                "Keywords": f"gflab; {spec.paper}; {spec.name}; git {rev}",
                "Creator": f"gflab figures (git {rev})",
            },
        )
    side.write_text(json.dumps({**meta, "provenance": prov}, indent=1, default=str))
    return png, pdf, side


_DRAWING_PACKAGES = ("matplotlib", "torch", "scikit-learn")
_ROOT = Path(__file__).resolve().parent.parent


def render_key(name: str, fast: bool, style: str) -> str:
    """What a rendered figure depends on: its name, ``fast``, ``style``, the source of theory/,
    sims/ and figures/, and the versions of the packages that compute (the store's) and draw or
    train (matplotlib, torch, scikit-learn). Equal keys: the files on disk are current.

    Args:
        name: the figure's name.
        fast: the ``--fast`` flag.
        style: the style's name.

    Returns:
        The hex key.
    """
    import hashlib
    from importlib import metadata

    versions = dict(package_versions())
    for pkg in _DRAWING_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "absent"
    doc = {
        "figure": name,
        "fast": fast,
        "style": style,
        "code": _code_hash(),
        "versions": versions,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _code_hash() -> str:
    return source_hash(_ROOT / d for d in ("theory", "sims", "figures"))


def _is_current(outdir: Path, name: str, key: str) -> bool:
    png, pdf, side = (outdir / f"{name}.{ext}" for ext in ("png", "pdf", "json"))
    if not (png.is_file() and pdf.is_file() and side.is_file()):
        return False
    try:
        return json.loads(side.read_text()).get("render_key") == key
    except (OSError, ValueError):
        return False


def _summary(name: str, png, pdf, sidecar, seconds: float, current: bool) -> dict:
    """One entry of :func:`render`'s answer."""
    return {
        "name": name,
        "png": str(png),
        "pdf": str(pdf),
        "sidecar": str(sidecar),
        "seconds": seconds,
        "current": current,
    }


def _draw(spec: FigureSpec, ctx: FigureContext, key: str, outdir: Path) -> dict:
    """Draw one figure with ``ctx`` and save it with its sidecar; its :func:`_summary`."""
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    notify(ctx.progress, 0, None, unit=ctx.label, item="run")  # the clock starts with the figure
    fig, meta = spec.func(ctx)
    wall = time.perf_counter() - t0
    sidecar = {
        "figure": spec.name,
        "title": spec.title,
        "paper": spec.paper,
        "regenerates": spec.regenerates,
        "description": spec.description,
        "fast": ctx.fast,
        "style": ctx.style,
        "wall_seconds": wall,
        "git_revision": git_revision(),
        "versions": package_versions(),
        "configs": ctx.configs,
        "render_key": key,
        **meta,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    png, pdf, side = save_figure(fig, spec, outdir, sidecar)
    plt.close(fig)
    notify(ctx.progress, ctx._done, ctx._done, unit=ctx.label, item="run", seconds=round(wall, 1))
    return _summary(spec.name, png, pdf, side, seconds=wall, current=False)


def render(
    names: list[str] | None = None,
    out: str | os.PathLike = "figures/out",
    *,
    fast: bool = False,
    store: ResultStore | None = None,
    style: str = "default",
    progress: Progress | None = None,
    force: bool = False,
) -> list[dict]:
    """Render the named figures (all by default) into ``out``; returns one summary dict each.

    Args:
        names: figure names (None: all registered).
        out: output folder.
        fast: smaller sizes and fewer seeds.
        store: result store (None: compute everything, store nothing).
        style: ``paper``, ``default`` or ``draft`` (:mod:`gflab.figures.style`).
        progress: :class:`gflab.sims.progress.Progress`, told of each run of each figure (a unit
            ``"NAME (i/N)"`` per figure) and once per finished figure with its wall seconds.
        force: draw every figure again. Otherwise, with a store, a figure whose files in ``out``
            carry the current :func:`render_key` (same code, versions, fast, style) is kept.

    Returns:
        One dict per figure: name, png, pdf, sidecar paths, wall seconds and ``current`` (True:
        kept, it was up to date).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (pyplot loaded once the backend is set)

    figure_style.use(style)
    reg = registry()
    names = list(reg) if not names else names
    for n in names:
        if n not in reg:
            raise GflabInputError("figure", "one of " + ", ".join(reg), n)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    summaries = []
    for i, n in enumerate(names, 1):
        key = render_key(n, fast, style)
        label = f"{n} ({i}/{len(names)})"
        if store is not None and not force and _is_current(outdir, n, key):
            notify(progress, 0, 0, unit=label, item="run", kept="up to date")
            paths = [outdir / f"{n}.{ext}" for ext in ("png", "pdf", "json")]
            summaries.append(_summary(n, *paths, seconds=0.0, current=True))
            continue
        ctx = FigureContext(fast=fast, store=store, style=style, progress=progress, label=label)
        summaries.append(_draw(reg[n], ctx, key, outdir))
    return summaries
