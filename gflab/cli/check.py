"""``gflab check``: run the claims of docs/theory.md §2.3 and print a table (or JSON)."""

from __future__ import annotations

import os

from gflab.cli._common import print_json
from gflab.cli._progress import reporter

#: ``gflab check``: its one-line help, description and examples (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "check the papers' claims with hypothesis",
    "description": "Check claims (docs/theory.md §2.3) on hypothesis-drawn configurations; report margins.",
    "epilog": "examples:\n  gflab check --profile ci\n  gflab check --claim DMC-3 --profile dev --json\n"
    "  gflab check --beyond DMC-2\n  gflab check --jobs 1 --claim SGF-1",
}


def add_flags(p) -> None:
    """``gflab check``'s flags: ``--claim``, the profile (ci, dev, thorough), ``--jobs``, and
    ``--beyond`` for the maps.

    Args:
        p: the ``gflab check`` parser.
    """
    p.add_argument(
        "--claim", action="append", default=[], metavar="ID", help="claim id (repeatable)"
    )
    p.add_argument(
        "--profile", default=None, help="ci | dev | thorough (default $GFLAB_PROFILE or ci)"
    )
    p.add_argument(
        "--beyond", metavar="ID", help="drop the claim's hypotheses one at a time; print the map"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="claims run in N processes at once (default: the number of CPUs; 1: in this process)",
    )
    p.add_argument("--list", action="store_true", help="list claims and exit")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print the reports as JSON (no progress)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Check the chosen claims (or draw their maps with ``--beyond``); one verdict line each,
    with its margin, or the whole report as JSON.

    Returns the exit code: 1 when a claim is violated, else 0 (refused input raises
    ``GflabInputError``, which :func:`gflab.cli.main` turns into one line and exit code 2).

    Args:
        args: what argparse parsed (``args.claim``, ``args.profile``, ``args.beyond``, ...).
    """
    from gflab.proofs_checks.registry import claims
    from gflab.proofs_checks.runner import MAX_JOBS, PROFILES, current_profile, run_claims
    from gflab.theory._validate import one_of
    from gflab.theory.errors import GflabInputError

    reg = claims()
    for cid in args.claim:
        if cid not in reg:
            raise GflabInputError("claim", "one of " + ", ".join(reg), cid)
    if len(set(args.claim)) != len(args.claim):
        raise GflabInputError("claim", "distinct claim ids", args.claim)
    if args.profile is not None:  # '' too: not a silent fall back to $GFLAB_PROFILE
        one_of("profile", args.profile, PROFILES)
    if args.list:
        for cid, c in reg.items():
            if not args.claim or cid in args.claim:
                print(f"{cid:<7} [{c.paper}] {c.statement}")
        return 0
    if args.beyond is not None:
        if args.beyond not in reg:
            raise GflabInputError("beyond", "one of " + ", ".join(reg), args.beyond)
        c = reg[args.beyond]
        if c.beyond is None:
            raise GflabInputError("beyond", "a claim with a beyond-the-hypotheses map", args.beyond)
        result = c.beyond(profile=current_profile(args.profile))
        if args.json:
            print_json(result)
        else:
            _print_map(result)
        return 0
    profile = current_profile(args.profile)
    # run_claims validates jobs (one rule); the default is the CPU count, capped at its maximum
    jobs = args.jobs if args.jobs is not None else max(1, min(os.cpu_count() or 1, MAX_JOBS))
    with reporter(args, item="example") as prog:  # per claim: examples, rate, ETA, worst margin
        reports = run_claims(args.claim or None, profile, progress=prog, jobs=jobs)
    if args.json:
        from gflab.sims._jaxsetup import compile_counts

        # this process's tracing, compiling and saved executables (claims run by --jobs N
        # workers count in those workers)
        doc = {"profile": profile, "claims": [r.to_json() for r in reports]}
        print_json({**doc, "compilation": compile_counts()})
    else:
        print(format_reports(profile, reports))
    return 1 if any(r.verdict == "violated" for r in reports) else 0


def format_reports(profile: str, reports) -> str:
    """The text table of ``gflab check``: pass/fail claims with their worst margin; maps (claims
    that chart where a statement holds, e.g. SGF-7) with the region where it holds, never a
    negative "margin" beside the passes.

    Args:
        profile: the hypothesis profile the reports ran under.
        reports: one :class:`gflab.proofs_checks.runner.ClaimReport` per claim.

    Returns:
        The table's text.
    """
    lines = [f"profile {profile}"]
    lines.append(
        f"{'claim':<8} {'verdict':<9} {'examples':>8} {'worst margin':>14} {'seconds':>8}  units"
    )
    for r in reports:
        shown = f"{r.worst_margin:>14.4g}"
        if r.verdict == "map":
            shown = f"{f'holds {r.holds_in}/{r.examples}':>14}"
        units = "" if r.verdict == "map" else r.margin_units
        lines.append(f"{r.id:<8} {r.verdict:<9} {r.examples:>8} {shown} {r.seconds:>8.1f}  {units}")
    lines.append(
        "margin: > 0 held with that much room, < 0 violated (in the units shown); "
        "map: not a pass/fail, holds k/n = the claim holds on k of the n examples drawn beyond "
        "its hypotheses (gflab check --beyond ID charts where)"
    )
    for r in reports:
        if r.verdict == "violated":
            lines.append(f"\n{r.id} violated. shrunk example: {r.counterexample!r}")
            lines.append(f"  numbers: {r.counterexample_numbers}")
            if r.error:
                lines.append(f"  {r.error}")
            if r.reproduce:
                lines.append(f"  reproduce: {r.reproduce}")
    return "\n".join(lines)


def format_map(result: dict) -> str:
    """A `--beyond` map as an aligned table, then what each column means.

    Args:
        result: a claim's ``beyond`` result (``rows``, and ``title``/``legend`` when it has them).

    Returns:
        The table's text.
    """
    from gflab.proofs_checks.runner import map_legend

    rows = result.get("rows", [])
    legend = map_legend(result)
    cols = list(legend)

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, dict):
            return ",".join(f"{k}:{cell(x)}" for k, x in v.items())
        return str(v)

    table = [[cell(row.get(c, "")) for c in cols] for row in rows]
    width = [max([len(c)] + [len(t[i]) for t in table]) for i, c in enumerate(cols)]
    lines = [result.get("title", "beyond the hypotheses")]
    lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(cols, width, strict=True)))
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(t, width, strict=True)) for t in table]
    lines.append("columns:")
    lines += [f"  {c}: {meaning}" for c, meaning in legend.items()]
    return "\n".join(lines)


def _print_map(result: dict) -> None:
    print(format_map(result))
