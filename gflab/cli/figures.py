"""``gflab figures``: regenerate registered figures (PNG + PDF + JSON sidecar)."""

from __future__ import annotations

import sys

from gflab.cli._common import print_json
from gflab.cli._progress import reporter

#: ``gflab figures``: its one-line help, description and examples (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "regenerate figures into figures/out",
    "description": "Regenerate registered figures from cached simulations (PNG, PDF, sidecar).",
    "epilog": (
        "examples:\n  gflab figures\n  gflab figures --style paper --out paper-figs\n"
        "  gflab figures --fast --only dmc_offdiag_2x2\n  gflab figures --list"
    ),
}


def add_flags(p) -> None:
    """``gflab figures``' flags: ``--only``, ``--fast``, ``--out``, the style and the store
    flags.

    Args:
        p: the ``gflab figures`` parser.
    """
    p.add_argument("--out", default="figures/out", help="output folder (default figures/out)")
    p.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="render only NAME (repeatable)"
    )
    p.add_argument("--fast", action="store_true", help="smaller sizes and fewer seeds (CI smoke)")
    p.add_argument(
        "--style",
        choices=("paper", "default", "draft"),
        default="default",
        help="paper: printed size (3.25 or 6.75 in wide, 8 pt text); default: 1.6x larger for "
        "screens; draft: default plus the provenance footer in the image (always in the PDF/PNG "
        "metadata and the JSON sidecar) (default: default)",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="list registered figures, each with the paper figure it regenerates, and exit",
    )
    s = p.add_mutually_exclusive_group()
    s.add_argument(
        "--no-store", action="store_true", help="do not reuse or save simulation results"
    )
    s.add_argument(
        "--store",
        default=None,
        help="result store folder (default $GFLAB_STORE or .gflab-cache/results)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="draw every figure again (default: keep a figure whose files carry the current code,"
        " versions and options)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress and no summary line")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=run)


# measured on 2-core machines from an empty store and JAX cache (docs/performance.md)
FIRST_RUN_MINUTES = {False: (10, 22), True: (2, 5)}


def plan_line(names, out, fast: bool, style: str, store, force: bool) -> str:
    """The first line of `gflab figures`: what will be drawn, what is kept, and a rough duration
    (the sum of the last run's seconds where ``out`` has them, else the measured first-run range).

    Args:
        names: the figures to render.
        out: the output folder.
        fast: ``--fast``.
        style: the style's name.
        store: the result store, or None.
        force: ``--force`` (redraw what is current).

    Returns:
        The line.
    """
    import json
    from pathlib import Path

    from gflab.figures.registry import render_key

    todo, kept, seconds, known = [], 0, 0.0, 0
    for n in names:
        side = Path(out) / f"{n}.json"
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            meta = {}
        if store is not None and not force and meta.get("render_key") == render_key(n, fast, style):
            kept += 1
            continue
        todo.append(n)
        if isinstance(meta.get("wall_seconds"), (int, float)) and meta.get("fast") == fast:
            seconds += float(meta["wall_seconds"])
            known += 1
    what = f"gflab figures: drawing {len(todo)} of {len(names)} figures into {out}"
    if kept:
        what += f" ({kept} up to date, kept)"
    if not todo:
        return what
    if known == len(todo):
        return what + f"; about {max(1, round(seconds / 60))} min (the last run's times)"
    lo, hi = FIRST_RUN_MINUTES[bool(fast)]
    return what + (
        f"; from an empty store roughly {lo}-{hi} min on 2 cores (much less for results "
        "already stored)"
    )


def run(args) -> int:
    """Render the chosen figures into ``--out``, reading every record that is current from
    the store and computing (and storing) the rest; ``args`` is the parsed command line.
    Returns 0 (``--list`` only prints the figures).

    Args:
        args: flags parsed by :func:`register`'s parser.
    """
    from gflab.figures.registry import registry, render
    from gflab.sims.store import ResultStore

    if args.list and args.json:
        rows = [
            {"name": n, "paper": s.paper, "title": s.title, "regenerates": s.regenerates}
            for n, s in registry().items()
        ]
        print_json({"figures": rows})
        return 0
    if args.list:
        for name, spec in registry().items():
            print(f"{name:<32} [{spec.paper}] {spec.title}")
            print(f"{'':<32} regenerates: {spec.regenerates or '(not stated)'}")
        return 0
    store = None if args.no_store else ResultStore(args.store)
    if store is not None:
        store.require_writable()  # before any progress line
    _check_out(args)
    if not (args.quiet or args.json):
        print(
            plan_line(
                args.only or list(registry()), args.out, args.fast, args.style, store, args.force
            ),
            file=sys.stderr,
            flush=True,
        )
    with reporter(args, item="run") as progress:  # per figure: its runs, rate, ETA
        summaries = render(
            args.only or None,
            args.out,
            fast=args.fast,
            store=store,
            style=args.style,
            progress=progress,
            force=args.force,
        )
    if args.json:
        print_json({"figures": summaries})
    elif not args.quiet:
        kept = sum(1 for s in summaries if s["current"])
        drawn = len(summaries) - kept
        print(
            f"wrote {drawn} figures to {args.out}" + (f" ({kept} up to date, kept)" if kept else "")
        )
    return 0


# a figure's PNG, PDF and JSON sidecar: a few MiB at most
_FIGURE_BYTES = 8 * 2**20


def _check_out(args) -> None:
    """``--out`` is a folder (or a path to create one) on a file system with room for the
    figures, checked before the work starts."""
    from pathlib import Path

    from gflab.cli._common import require_free_space
    from gflab.figures.registry import registry
    from gflab.theory.errors import GflabInputError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GflabInputError("out", "a folder (or a path to create one)", f"{out} (a file)")
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise GflabInputError("out", "a path below a folder", f"{out} ({existing} is a file)")
    count = len(args.only) if args.only else len(registry())
    require_free_space("out", existing, count * _FIGURE_BYTES, shown=out)
