"""``gflab figures``: regenerate registered figures (PNG + PDF + JSON sidecar)."""

from __future__ import annotations

import argparse

from gflab.cli._common import print_json
from gflab.cli._progress import reporter


def register(sub) -> None:
    p = sub.add_parser(
        "figures",
        help="regenerate figures into figures/out",
        description="Regenerate registered figures from cached simulations (PNG, PDF, sidecar).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n  gflab figures\n  gflab figures --style paper --out paper-figs\n"
            "  gflab figures --fast --only dmc_offdiag_2x2\n  gflab figures --list"
        ),
    )
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
    p.add_argument(
        "--no-store", action="store_true", help="do not reuse or save simulation results"
    )
    p.add_argument(
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


def run(args) -> int:
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
