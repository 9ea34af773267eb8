"""The ``gflab`` command: one entry point, one module per subcommand (``gflab/cli/<name>.py``).

Each subcommand module defines ``register(subparsers)`` which adds its parser and sets
``func(args) -> int``. Bad input anywhere raises :class:`theory.GflabInputError`; ``main`` turns it
into one line on stderr and exit code 2 (argparse's own errors too), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

SUBCOMMANDS = ("simulate", "check", "figures", "bench", "sweep", "bridge", "demo", "results")

EPILOG = """examples:
  gflab simulate dmf --depth 3 --n 4 --init mimic --m 3 --alpha 1e-3 --mask diagonal --target ones --until-converged
  gflab simulate lora --rows 60 --cols 70 --rank 5 --target-svals 1,2,4,8,16 --flow specgf --beta 1e-6 --gamma 1e-3 --t1 6 --json
  gflab figures --out figures/out
  gflab bench
"""


class CleanParser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) and exits with 2."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CleanParser(
        prog="gflab",
        description="Simulate, check and plot the training dynamics of low-rank factorisations.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="gflab 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CleanParser)
    for name in SUBCOMMANDS:
        modname = f"gflab.cli.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # headless by default, except for `demo`, which must see whether the user chose a backend
    if (argv if argv is not None else sys.argv[1:])[:1] != ["demo"]:
        os.environ.setdefault("MPLBACKEND", "Agg")
    from theory._validate import GflabInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GflabInputError as e:
        print(f"gflab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gflab: interrupted", file=sys.stderr)
        return 130
