"""``gflab results``: list the result store's entries as a table, CSV or JSON (sims.tables)."""

from __future__ import annotations

import csv
import json
import math
import os
import sys

EXAMPLES = """examples:
  gflab results                                  # a table per model of the default store
  gflab results --model lora --format csv > lora.csv
  gflab results --store /tmp/store --format json
  python -c "from gflab.sims.tables import results_frame; print(results_frame(model='dmf').describe())"
"""

OTHER_COLUMNS = ("key", "model", "status", "created")


#: ``gflab results``: its one-line help, description and examples (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "list stored results (table, CSV or JSON)",
    "description": "List the entries of the result store: store key, model, status, config "
    "fields and final measurements (the rows of sims.tables.results_records / "
    "results_frame).",
    "epilog": EXAMPLES,
}


def add_flags(p) -> None:
    """``gflab results``' flags: ``--format``, ``--store``, ``--model``.

    Args:
        p: the ``gflab results`` parser.
    """
    p.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table: aligned columns per model (keys shortened to 12 characters); csv: every "
        "column, full keys; json: a list of row objects (default table)",
    )
    p.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help="result store folder (default $GFLAB_STORE or .gflab-cache/results)",
    )
    from gflab.sims.models import MODELS

    p.add_argument(
        "--model",
        choices=tuple(MODELS),
        default=None,
        help="only entries of this model (default: every entry)",
    )
    p.set_defaults(func=run)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)  # "nan", "inf": JSON has no non-finite numbers
    return x


def _table(rows: list[dict], columns: tuple[str, ...]) -> str:
    from gflab.sims.tables import cell_text

    cells = [list(columns)] + [
        [cell_text(r.get(c))[:12] if c == "key" else cell_text(r.get(c)) for c in columns]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def run(args) -> int:
    """List the stored results as ``args.format`` asks (a closed pipe ends quietly).

    Args:
        args: the parsed ``gflab results`` arguments.

    Returns:
        The exit status, 0.
    """
    try:
        return _print(args)
    except BrokenPipeError:  # `gflab results | head`: the reader left, not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (so the interpreter's flush is quiet)
        return 0


def _print(args) -> int:
    from gflab.sims.models import MODELS
    from gflab.sims.tables import cell_text, results_records

    rows = results_records(args.store, args.model)
    if args.format == "json":
        print(json.dumps([{k: _json_safe(v) for k, v in r.items()} for r in rows], indent=1))
        return 0
    if args.format == "csv":
        columns = list(dict.fromkeys(k for r in rows for k in r)) or ["key", "model", "status"]
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([cell_text(r.get(c)) for c in columns])
        return 0
    if not rows:
        print("no stored results", file=sys.stderr)
        return 0
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r.get("model") or "other", []).append(r)
    out = []
    for model, members in groups.items():
        columns = MODELS[model].columns if model in MODELS else OTHER_COLUMNS
        out.append(f"{model} ({len(members)})\n{_table(members, columns)}")
    print("\n\n".join(out))
    return 0
