"""The ``gflab`` command: one entry point, one module per subcommand (``gflab/cli/<name>.py``).

Each subcommand module defines ``COMMAND`` (its parser's ``help``, ``description`` and
``epilog`` examples) and ``add_flags(parser)``, which adds its flags and sets
``func(args) -> int``. Bad input anywhere raises :class:`theory.GflabInputError`; ``main`` turns it
into one line on stderr and exit code 2 (argparse's own errors too), never a traceback. An
``OSError`` that escapes a command (a path that is a file, unwritable, a full disk) is one line and
exit 2 as well. With ``--json`` anywhere on the command line, every such failure is printed on
stdout as ``{"error": {"parameter", "message", "allowed"}}`` instead (still exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys

from gflab.cli._common import check_environment, print_json_error, report_error

SUBCOMMANDS = ("simulate", "check", "figures", "bench", "sweep", "bridge", "demo", "results")

EPILOG = """examples:
  gflab simulate dmf --depth 3 --n 4 --init mimic --m 3 --alpha 1e-3 --mask diagonal --target ones --until-converged
  gflab simulate lora --rows 60 --cols 70 --rank 5 --target-svals 1,2,4,8,16 --flow specgf --beta 1e-6 --gamma 1e-3 --t1 6 --json
  gflab figures --out figures/out
  gflab bench
"""


class CleanParser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) and exits with 2."""

    json_errors = False  # set by `main` when --json is on the command line

    def error(self, message: str):  # noqa: D401
        """Exit 2 with one line (``gflab X: error: ...``, or a JSON error object with ``--json``).

        Args:
            message: argparse's message.
        """
        if CleanParser.json_errors:
            m = re.match(r"argument ([^:]+): (.*)", message)
            parameter = m.group(1).split("/")[-1].lstrip("-") if m else "arguments"
            print_json_error(parameter, m.group(2) if m else message, "see --help")
            self.exit(2)
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` as people expect it: examples keep their own lines, a one-paragraph description
    is wrapped, and every option with a default names it (``(default: 8)``)."""

    def _fill_text(self, text, width, indent):
        if "\n" in text.strip("\n"):
            return super()._fill_text(text, width, indent)  # its own lines: kept
        return argparse.HelpFormatter._fill_text(self, text, width, indent)

    def _get_help_string(self, action):
        text = action.help or ""
        if text is argparse.SUPPRESS or not action.option_strings or action.nargs == 0:
            return text
        if "%(default)" in text or "default" in text.lower():
            return text  # says its default in its own words
        if action.default in (None, argparse.SUPPRESS) or action.default in ((), []):
            return text
        return (text + " " if text else "") + "(default: %(default)s)"


def _parsers(parser: argparse.ArgumentParser):
    """``parser`` and every subcommand parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


# argparse takes only -1 and -1.5 for negative numbers and every other token that starts with "-"
# for an option; -1e-3 and -inf are values too, so that `--alpha -1e-3` reaches validation
# ("alpha: expected a real number > 0") instead of failing with "expected one argument"
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$")


def attach_negative_values(argv: list[str]) -> list[str]:
    """``--flag -1e-3`` → ``--flag=-1e-3`` (argparse's documented form for such a value).

    Args:
        argv: the command line after ``gflab``.

    Returns:
        The same arguments, each flag taking a negative number joined to it with ``=``.
    """
    out: list[str] = []
    for tok in argv:
        prev = out[-1] if out else ""
        if _NEGATIVE_NUMBER.match(tok) and prev.startswith("--") and "=" not in prev:
            out[-1] = f"{prev}={tok}"
        else:
            out.append(tok)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``gflab`` parser with every installed subcommand.

    Returns:
        The parser (each subcommand's module registers its own flags).
    """
    parser = CleanParser(
        prog="gflab",
        description="Simulate, check and plot the training dynamics of low-rank factorisations.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from gflab import __version__

    parser.add_argument("--version", action="version", version=f"gflab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CleanParser)
    for name in SUBCOMMANDS:
        modname = f"gflab.cli.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        module = importlib.import_module(modname)
        module.add_flags(sub.add_parser(name, **module.COMMAND))
    for p in _parsers(parser):  # one help format for every subcommand
        p.formatter_class = HelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``gflab ARGV``.

    Args:
        argv: the command line after ``gflab`` (default ``sys.argv[1:]``).

    Returns:
        The exit code: 0; 1 when a claim is violated (``check``); 2 for refused input (one line
        naming the parameter); 130 when interrupted; 141 when stdout was closed early.
    """
    # headless by default, except for `demo`, which must see whether the user chose a backend
    if (argv if argv is not None else sys.argv[1:])[:1] != ["demo"]:
        os.environ.setdefault("MPLBACKEND", "Agg")
    from gflab.theory.errors import GflabInputError

    raw = attach_negative_values(list(argv if argv is not None else sys.argv[1:]))
    as_json = "--json" in raw
    try:
        check_environment()
    except GflabInputError as e:
        command = raw[0] if raw and raw[0] in SUBCOMMANDS else ""
        return report_error(command, e.parameter, str(e), e.allowed, as_json)
    CleanParser.json_errors = as_json
    parser = build_parser()
    try:
        args = parser.parse_args(raw)
    finally:
        CleanParser.json_errors = False
    if not getattr(args, "command", None):
        if as_json:
            return report_error("", "COMMAND", "no command given", ", ".join(SUBCOMMANDS), True)
        parser.print_help()
        return 2
    as_json = bool(getattr(args, "json", False)) or as_json
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader went away (`gflab ... | head`): nothing more to say, and no traceback; stdout
        # is pointed at /dev/null so that Python's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by a closed pipe
    except GflabInputError as e:
        return report_error(args.command, e.parameter, str(e), e.allowed, as_json)
    except OSError as e:
        what = e.filename if e.filename is not None else ""
        msg = f"{e.strerror or type(e).__name__}" + (f": {what}" if what else "")
        return report_error(args.command, "path", msg, "a readable/writable path", as_json)
    except KeyboardInterrupt:
        print("gflab: interrupted", file=sys.stderr)
        return 130
