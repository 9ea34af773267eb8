"""``gflab sweep SPEC.toml``: a grid of configurations through the result store, resumable."""

from __future__ import annotations

import signal
import sys

from gflab.cli._common import print_json
from gflab.cli._progress import reporter

EXAMPLES = """spec (TOML):
  model = "dmf"                     # any model of gflab simulate (lora, river, dmf-dash, ...)
  seeds = [0, 1, 2]
  [base]                            # fields shared by every configuration
  n = 8
  init = "mimic"
  m = 200.0
  [grid]                            # the product of these axes
  depth = [2, 3, 4]
  alpha = {logspace = [-3, 1, 5]}   # 1e-3 ... 1e1

examples:
  gflab sweep examples/sweeps/dmc_phase.toml
  gflab sweep examples/sweeps/dmc_phase.toml --executor local:2 --json
  gflab sweep examples/sweeps/dmc_phase.toml --executor dask-local:2 --store /tmp/results
  gflab sweep examples/sweeps/dmc_phase.toml --executor dask://127.0.0.1:8786

A rerun of the same command skips stored results (resume); exit status 1 if a configuration failed.
"""


#: ``gflab sweep``: its one-line help, description and examples (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "run a grid of configurations into the result store (resumable)",
    "description": "Run every configuration of a TOML sweep spec into the result store; "
    "finished entries are skipped, failures are recorded and do not stop the sweep.",
    "epilog": EXAMPLES,
}


def add_flags(p) -> None:
    """``gflab sweep SPEC.toml``'s arguments: the spec, ``--executor``, ``--store``,
    ``--force``/``--dry-run``, ``--timeout``, ``--batch``, ``--allow-import``, ``--json``,
    ``--quiet``.

    Args:
        p: the ``gflab sweep`` parser.
    """
    p.add_argument("spec", metavar="SPEC.toml", help="sweep specification (TOML)")
    p.add_argument(
        "--executor",
        default="local:1",
        help="local:1 (serial, default) | local[:N] (process pool) | dask-local:N "
        "(dask LocalCluster on loopback) | dask://HOST:PORT (existing scheduler)",
    )
    p.add_argument(
        "--store",
        default=None,
        help="result store folder (default $GFLAB_STORE or .gflab-cache/results)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--force", action="store_true", help="recompute stored entries too")
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="count configurations and stored entries; run nothing",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time limit per configuration (a run past it is a failure; serial and local:N)",
    )
    p.add_argument(
        "--batch",
        choices=("auto", "vmap", "loop"),
        default="auto",
        help="vmap: the configurations of one compiled program as one batched solve | loop: one "
        "by one | auto (default): loop on CPU, vmap on a GPU (docs/performance.md)",
    )
    p.add_argument(
        "--allow-import",
        action="store_true",
        help="allow a spec runner outside the registered ones (imports and runs its module)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run (or with ``--dry-run`` count) the sweep ``args.spec`` into the result store.

    Args:
        args: the parsed ``gflab sweep`` arguments.

    Returns:
        The exit status: 0, 1 when a configuration failed, 128 + the signal number when the
        sweep was interrupted.

    Raises:
        GflabInputError: a bad flag combination, executor, store folder or spec.
    """
    from gflab.sims.limits import format_bytes
    from gflab.sims.store import ResultStore
    from gflab.sims.sweep import (
        WARN_CONFIGS,
        SweepInterrupted,
        count_stored,
        estimate,
        load_spec,
        parse_executor,
        run_sweep,
    )
    from gflab.theory.errors import GflabInputError

    kind, _ = parse_executor(args.executor)  # validate flags before reading anything
    if args.timeout is not None and not (0 < args.timeout < 1e9):
        raise GflabInputError("timeout", "a number of seconds > 0", args.timeout)
    if args.timeout is not None and kind != "local":
        raise GflabInputError(
            "timeout",
            f"no --timeout with --executor {args.executor} (serial and local:N only)",
            args.timeout,
        )
    spec = load_spec(args.spec, allow_import=args.allow_import)
    store = ResultStore(args.store)
    if store.root.exists() and not store.root.is_dir():
        raise GflabInputError("store", "a folder (or a path to create one)", str(store.root))
    if not args.dry_run and spec.size:  # room for what will be written, before the first run
        from gflab.cli._common import require_free_space

        where = next((p for p in (store.root, *store.root.parents) if p.is_dir()), None)
        per_entry = estimate(spec)["store_bytes"] / spec.size
        try:
            require_free_space("store", where or ".", spec.size * per_entry, shown=store.root)
        except GflabInputError:
            todo = spec.size if args.force else spec.size - count_stored(spec, store)
            require_free_space("store", where or ".", todo * per_entry, shown=store.root)
    if spec.size >= WARN_CONFIGS:
        est = estimate(spec)
        print(
            f"gflab sweep: warning: {est['configurations']:,} configurations: at least "
            f"~{est['seconds_at_least'] / 3600:.1f} h serially and ~"
            f"{format_bytes(est['store_bytes'])} in the store",
            file=sys.stderr,
        )
    if args.dry_run:
        stored = count_stored(spec, store)
        info = {"configurations": spec.size, "stored": stored, "to_run": spec.size - stored}
        if args.json:
            print_json(info)
        else:
            print("  ".join(f"{k} {v}" for k, v in info.items()))
        return 0
    configs = spec.configs()
    rep = reporter(args, desc="sweep", item="point")  # points done, rate, ETA, outcomes
    try:
        with rep:
            summary = run_sweep(
                configs,
                store,
                args.executor,
                runner=spec.runner,
                force=args.force,
                progress=rep,
                timeout=args.timeout,
                batch=args.batch,
            )
    except SweepInterrupted as e:
        s = e.summary
        if s is not None and not args.quiet:
            print(s.table(), file=sys.stderr)
        print(
            "gflab sweep: interrupted; finished entries are stored, rerun to resume",
            file=sys.stderr,
        )
        return 128 + int(e.signum or signal.SIGINT)
    if args.json:
        print_json(summary.to_json())
    elif not args.quiet:
        print(summary.table())
    elif summary.warnings:
        print("\n".join(f"gflab sweep: warning: {w}" for w in summary.warnings), file=sys.stderr)
    return 1 if summary.failed else 0
