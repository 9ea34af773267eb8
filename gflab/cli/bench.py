"""``gflab bench``: gflab's compiled solvers against SciPy/NumPy baselines, (docs/theory.md §4)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from gflab.cli._common import print_json

EXAMPLES = """examples:
  gflab bench                 # full run (n = 30, batch of 32, LoRA 60x70; ~15 min on 2 cores)
  gflab bench --quick --json  # small sizes, seconds once compiled (the smoke test)
  gflab bench --repeats 5     # best of 5 back-to-back rounds per case
  gflab bench --only lora_single,flow_vs_gd   # just those sections
  gflab bench --only flow_single_hybrid       # one case (its section runs, one case is shown)
  gflab bench --cold                          # also the cold cases (fresh processes, ~17 min)
  gflab bench --only check_ci --quick         # one cold case, small form (about a minute)
  gflab bench --only figures_cold --variants no_export   # with a ratio against exports off
  gflab bench --only check_ci --against ../gflab-old    # ratios against another checkout
  gflab bench --include sweep,bridge   # also the sweep executors and the bridge probe overhead

Speedups are baseline seconds / gflab seconds measured back to back in this process; on a shared
machine compare ratios, not absolute times. gflab times are warm (compile reported separately).
Cold cases (check_ci, check_jobs2, dmc_claims_cold, figures_cold) run whole commands in new processes with
empty caches and count the programs they compile (docs/performance.md, "Cold starts").
"""


#: ``gflab bench``: its one-line help, description and examples (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "time gflab against SciPy/NumPy baselines",
    "description": "Time gflab's compiled gradient-flow and GD solves (Tsit5 and the automatic "
    "Tsit5 -> RKC2 solver) against SciPy solve_ivp and NumPy loops on deep matrix "
    "completion (docs/theory.md §2.1) and LoRA SpecGF (§2.2), check that they reach the same "
    "end state (and its error against DOP853), and report compile cost, recompiles "
    "and persistent-cache hits.",
    "epilog": EXAMPLES,
}


def add_flags(p) -> None:
    """``gflab bench``'s flags: ``--json``, ``--quick``, ``--repeats``, ``--only``, ``--cold``,
    ``--variants`` and the rest.

    Args:
        p: the ``gflab bench`` parser.
    """
    p.add_argument("--json", action="store_true", help='print {"cases": [...]} as JSON')
    p.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    p.add_argument(
        "--repeats",
        type=_positive_int,
        default=3,
        metavar="K",
        help="best of K back-to-back rounds per case (default 3)",
    )
    p.add_argument(
        "--only",
        type=_only,
        default=(),
        metavar="LIST",
        help="run only these sections or cases, comma-separated: flow_single, flow_default, "
        "lora_single, flow_batch, flow_vs_gd, authors_protocol, compile (compile runs flow_single too), "
        "bucket_batch, one "
        "of their cases (e.g. flow_single_hybrid: its section runs, that case is reported), or "
        "a cold case: check_ci, check_jobs2, dmc_claims_cold, figures_cold (default: every section, no cold "
        "case)",
    )
    p.add_argument(
        "--cold",
        action="store_true",
        help="also run every cold case (whole commands in fresh processes with empty caches; "
        "17 min wall measured on 2 busy cores, a few minutes with --quick)",
    )
    p.add_argument(
        "--variants",
        type=_variants,
        default=(),
        metavar="LIST",
        help="rerun each cold case with these settings and report ratios against the default, "
        "comma-separated: no_export (GFLAB_EXPORT=off), no_buckets (GFLAB_BUCKETS=off); one this "
        "gflab does not read is skipped with a note (default: none)",
    )
    p.add_argument(
        "--against",
        type=_checkout,
        default=None,
        metavar="DIR",
        help="also run each cold case with the gflab of another source checkout DIR (e.g. the "
        "previous release) and report ratios against this one (default: none)",
    )
    p.add_argument(
        "--work",
        default=None,
        metavar="DIR",
        help="keep the cold cases' caches and compile logs in DIR (default: a temporary folder, "
        "removed)",
    )
    p.add_argument(
        "--include",
        type=_sections,
        default=(),
        metavar="LIST",
        help="extra sections, comma-separated: sweep (the same 200-config sweep on local:1, "
        "local:2, dask-local:2) and bridge (probe cost per logged step at k = 10, tiny model; "
        "needs the bridge extra; default: none)",
    )
    p.set_defaults(func=run)


def _sections(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in items if x not in ("sweep", "bridge")]
    if bad or not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(
            f"expected a comma list of distinct sweep, bridge; got {text!r}"
        )
    return items


SECTIONS = (
    "flow_single",
    "flow_default",
    "lora_single",
    "flow_batch",
    "flow_vs_gd",
    "authors_protocol",
    "compile",
    "bucket_batch",
)
"""The in-process sections, in the order ``benchmarks/bench.py`` runs them (it reads this list;
one the loaded benchmarks lack is refused when asked for and left out of a full run)."""

DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s != "bucket_batch")
"""The sections of a plain ``gflab bench`` (``bucket_batch``, vmap against a loop, runs only when
named)."""

CASES = {
    "flow_single": ("flow_single", "flow_single_hybrid"),
    "flow_default": (),  # flow_default_t<T>, one per horizon (_CASE_PATTERNS)
    "lora_single": ("lora_single", "lora_single_hybrid"),
    "flow_batch": ("flow_batch_vmap", "flow_batch_loop", "flow_batch_hybrid_loop"),
    "flow_vs_gd": ("flow_vs_gd_jit", "flow_vs_gd_numpy", "flow_vs_gd_hybrid"),
    "authors_protocol": ("authors_protocol_tsit5", "authors_protocol_hybrid"),
    "compile": ("compile",),
    "bucket_batch": ("bucket_batch_4", "bucket_batch_8", "bucket_batch_32", "bucket_batch_128"),
}
"""Each section's cases, by the name they report (``--only`` takes either)."""

_CASE_PATTERNS = {"flow_default": re.compile(r"flow_default_t[0-9][0-9.e+-]*")}

COLD = ("check_ci", "check_jobs2", "dmc_claims_cold", "figures_cold")
"""The cold cases (``benchmarks.cold.COLD_CASES``)."""

_ONLY = (*SECTIONS, *(c for cs in CASES.values() for c in cs if c not in SECTIONS), *COLD)


def _known(name: str) -> bool:
    return name in _ONLY or any(p.fullmatch(name) for p in _CASE_PATTERNS.values())


def _only(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in items if not _known(x)]
    if bad or not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(
            f"expected a comma list of distinct sections or cases ({', '.join(_ONLY)}, "
            "flow_default_t<T>); "
            f"got {text!r}"
        )
    return items


def _variants(text: str) -> tuple[str, ...]:
    allowed = ("no_export", "no_buckets")
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in items if x not in allowed]
    if bad or not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(
            f"expected a comma list of distinct {', '.join(allowed)}; got {text!r}"
        )
    return items


def plan(only: tuple[str, ...], cold: bool) -> tuple[tuple[str, ...], Callable, tuple]:
    """What ``--only``/``--cold`` select.

    Args:
        only: the ``--only`` names (sections, cases or cold cases); empty: every section.
        cold: ``--cold`` (add every cold case).

    Returns:
        ``(sections, keep, cold_cases)``: the in-process sections to run (in :data:`SECTIONS`
        order), ``keep(case_name)`` telling whether a case they report is shown (its section
        was asked for whole, or the case itself), and the cold cases to run (:data:`COLD`
        order).
    """
    cold_cases = tuple(c for c in COLD if c in only or cold)
    if not only:
        return DEFAULT_SECTIONS, lambda name: True, cold_cases
    whole = {n for n in only if n in SECTIONS}
    singles = {n for n in only if n not in SECTIONS and n not in COLD}
    wanted = whole | {section_of(n) for n in singles}

    def keep(name: str) -> bool:
        return name in singles or section_of(name) in whole

    return tuple(s for s in SECTIONS if s in wanted), keep, cold_cases


def section_of(case: str) -> str | None:
    """The section a case belongs to.

    Args:
        case: a case name as the bench reports it (e.g. ``flow_single_hybrid``).

    Returns:
        The longest section name that is the case's name or starts it followed by ``_``;
        ``None`` for no section.
    """
    found = [s for s in SECTIONS if case == s or case.startswith(s + "_")]
    return max(found, key=len) if found else None


def _checkout(text: str) -> str:
    from pathlib import Path

    if not (Path(text) / "sims").is_dir() or not (Path(text) / "tests").is_dir():
        raise argparse.ArgumentTypeError(
            f"expected a gflab source checkout (a folder with sims/ and tests/), got {text!r}"
        )
    return text


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [1, {MAX_REPEATS}], got {text!r}"
        ) from None
    if not 1 <= v <= MAX_REPEATS:  # each round runs every case: more is a runaway, not a bench
        raise argparse.ArgumentTypeError(f"expected an integer in [1, {MAX_REPEATS}], got {text!r}")
    return v


MAX_REPEATS = 100


def load_benchmarks():
    """``benchmarks/bench.py`` of the source checkout this gflab was installed from.

    The benchmarks are not part of the installed package (as diffrax keeps its own): they live in
    ``benchmarks/`` beside ``gflab/``, which an editable install (``pip install -e .``, what
    ``make setup`` does) leaves in place. Elsewhere: a bad-input error naming where to run it.
    """
    import importlib
    from pathlib import Path

    from gflab.theory.errors import GflabInputError

    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "bench.py").is_file():
        raise GflabInputError(
            "benchmarks",
            "a source checkout with benchmarks/bench.py (run gflab bench from a clone "
            "installed with pip install -e . or make setup)",
            f"no benchmarks/ next to {root / 'gflab'}",
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks.bench")


def run(args) -> int:
    """Run the benchmark sections (and cold cases) ``args`` selects; print the table or JSON.

    Args:
        args: the parsed ``gflab bench`` arguments.

    Returns:
        The exit status: 0 when every compared case agrees (:func:`all_agree`) and every cold
        case passed (:func:`cold_ok`), else 1.

    Raises:
        GflabInputError: an ``--only`` section the benchmarks do not have.
    """
    import os
    import time
    from pathlib import Path

    from gflab.sims.result import json_safe

    bench = load_benchmarks()
    sections, keep, cold_cases = plan(args.only, args.cold)
    available = getattr(bench, "SECTIONS", SECTIONS)
    missing = [s for s in sections if s not in available]
    if missing and args.only:
        from gflab.theory.errors import GflabInputError

        raise GflabInputError("only", "a section of " + ", ".join(available), ",".join(missing))
    sections = tuple(s for s in sections if s in available)
    progress = lambda s: print(f"gflab bench: {s}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    if sections:
        starts: list[tuple[str, float]] = []

        def timed(msg: str) -> None:  # each section announces itself: time it until the next
            starts.append((msg.split()[0], time.perf_counter()))
            progress(msg)

        report = bench.run_bench(
            quick=args.quick, repeats=args.repeats, progress=timed, only=sections
        )
        ends = [t for _, t in starts[1:]] + [time.perf_counter()]
        report["section_seconds"] = {n: e - t for (n, t), e in zip(starts, ends, strict=True)}
        report["cases"] = [c for c in report["cases"] if keep(c["name"])]
    else:
        report = {"machine": bench.machine(), "cases": []}
    if cold_cases:
        from benchmarks.cold import run_cold

        report["cold"] = run_cold(
            cold_cases,
            quick=args.quick,
            variants=args.variants,
            work=Path(args.work) if args.work else None,
            against=Path(args.against) if args.against else None,
            progress=progress,
        )
    report["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
    if "sweep" in args.include:
        from gflab.sims.sweep import bench_sweep

        progress("sweep executors (local:1, local:2, dask-local:2)")
        n = 40 if args.quick else 200
        report["sweep"] = bench_sweep(n_configs=n)
    if "bridge" in args.include:
        from gflab.sims.bridge.bench import probe_overhead

        progress("bridge probe overhead (tiny model, k = 10)")
        report["bridge"] = probe_overhead(model="tiny", every=10, steps=30 if args.quick else 100)
        from gflab.sims.bridge.prune_run import TrainSpec, recording_overhead

        progress("bridge dynamics recording overhead (digits MLP proxy)")
        epochs = 10 if args.quick else 50
        report["bridge"]["dynamics"] = recording_overhead(train=TrainSpec(epochs=epochs))
    if args.json:
        print_json(json_safe(report))
    else:
        print(format_table(report))
    return 0 if all_agree(report) and cold_ok(report) else 1


def cold_ok(report: dict) -> bool:
    """Whether the cold cases passed.

    Args:
        report: the bench's report (``cold``: :func:`benchmarks.cold.run_cold`'s result).

    Returns:
        True when every cold case and variant ran, compiled no program in two processes and had
        no program split over workers (no cold case: True).
    """
    return all(
        c["status"] == "ok" and not any(v.get("problems") for v in c["variants"])
        for c in report.get("cold", [])
    )


def all_agree(report: dict) -> bool:
    """True when every case that compares end states agrees within its tolerance.

    Args:
        report: the bench's report (``run``'s JSON).

    Returns:
        False when a case's ``max_abs_diff`` exceeds (or is not ≤, e.g. NaN) its
        ``agreement_tolerance``; True otherwise.
    """
    for c in report["cases"]:
        if "agreement_tolerance" in c and not c["max_abs_diff"] <= c["agreement_tolerance"]:
            return False
    return True


def format_table(report: dict) -> str:
    """The report as text.

    Args:
        report: the bench's report (``run``'s JSON).

    Returns:
        The in-process cases, the cold cases, the load average, then the extra sections.
    """
    if "setup" in report:
        lines = _warm_table(report)
    else:
        m = report["machine"]
        lines = [f"machine: {m['cpu_count']} CPUs, jax {m['jax']} ({m['jax_backend']})"]
    if "cold" in report:
        from benchmarks.cold import format_cold

        lines.append(format_cold(report["cold"]))
    if "load_average" in report:
        la = report["load_average"]
        lines.append(
            "load average (1, 5, 15 min) before "
            + ", ".join(f"{x:.2f}" for x in la["before"])
            + "; after "
            + ", ".join(f"{x:.2f}" for x in la["after"])
        )
    comp = report.get("compilation")
    if comp:
        lines += [
            "",
            f"compilation in this process: {comp['requests']} cache look-ups, {comp['hits']} hits, "
            f"{comp['misses']} misses, {comp['compiled']} executables built "
            f"({comp['compile_seconds']:.3g} s in compile-or-load); cache "
            f"{comp['cache_dir'] or 'off'}, EQX_ON_ERROR {comp['eqx_on_error']}",
        ]
    if "sweep" in report:
        sw = report["sweep"]
        lines += ["", f"sweep of {sw['n_configs']} configurations (speedup vs the first executor):"]
        for ex, v in sw["executors"].items():
            lines.append(
                f"  {ex:<14} {v['seconds']:>8.3g} s  speedup {v['speedup']:.3g}x  "
                f"overhead/config {v['overhead_per_config']:.3g} s"
            )
    if "bridge" in report:
        b = report["bridge"]
        lines += [
            "",
            f"bridge probe overhead (k = {b.get('every', 10)}): "
            f"{100 * b['per_log_fraction']:.3g} % of a training step per logged step, "
            f"{100 * b['amortised_fraction']:.3g} % of the run",
        ]
        if "dynamics" in b:
            d = b["dynamics"]
            lines.append(
                f"bridge dynamics recording ({d['data']} {d['model']}, N = {d['n']}, "
                f"E = {d['epochs']}): {100 * d['overhead_fraction']:.3g} % of the proxy's "
                f"training time ({d['train_seconds']:.3g} s; goal <= 5 %)"
            )
    return "\n".join(lines)


def _warm_table(report: dict) -> list[str]:
    s = report["setup"]
    m = report["machine"]
    lines = [
        f"gflab bench: depth {s['depth']}, n {s['n']}, {s['mask']} mask, {s['target']} target, "
        f"alpha {s['alpha']:g}, rtol {s['rtol']:g}, atol {s['atol']:g}; best of {s['repeats']}",
        f"machine: {m['cpu_count']} CPUs, jax {m['jax']} ({m['jax_backend']}), numpy {m['numpy']}, "
        f"scipy {m['scipy']}",
        "",
        f"{'case':<24} {'gflab s':>9} {'baseline s':>11} {'speedup':>8} {'cpu speedup':>12}"
        "  baseline",
    ]
    for c in report["cases"]:
        lines.append(
            f"{c['name']:<24} {c['gflab_seconds']:>9.4g} {c['baseline_seconds']:>11.4g} "
            f"{c['speedup']:>7.3g}x {c['speedup_cpu']:>11.3g}x  {c['baseline']}"
        )
        lines.append(" " * 25 + _details(c))
    if "section_seconds" in report:
        lines.append(
            "sections (wall s): "
            + ", ".join(f"{n} {t:.0f}" for n, t in report["section_seconds"].items())
        )
    lines += [
        "",
        "speedup = baseline / gflab wall seconds (best of the rounds, run back to back);",
        "cpu speedup uses this process's CPU seconds, which other jobs on a shared machine",
        "disturb less.",
    ]
    return lines


def _details(c: dict) -> str:
    name = c["name"]
    if name.startswith("flow_default"):
        return (
            f"default method ({c['solver']}, rtol {c['rtol']:g}), t1 {c['t1']:g}: "
            f"{c['gflab_steps']} steps vs {c['baseline_field_evals']} SciPy evals; end error vs "
            f"DOP853 {c['gflab_end_error']:.2g} vs {c['baseline_end_error']:.2g}"
        )
    if name.startswith(("flow_single", "lora_single")):
        jvps = f" + {c['gflab_jvps']} JVPs" if "gflab_jvps" in c else ""
        return (
            f"{c['solver']} rtol {c['gflab_rtol']:g}: evals {c['gflab_field_evals']}{jvps} vs "
            f"{c['baseline_field_evals']}; end error vs DOP853 {c['gflab_end_error']:.2g} vs "
            f"{c['baseline_end_error']:.2g}; cpu vs tsit5 {c['speedup_cpu_vs_tsit5']:.3g}x; "
            f"compile {c['compile_seconds']:.3g} s; max|ΔW| {c['max_abs_diff']:.2g} "
            f"(tol {c['agreement_tolerance']:.2g})"
        )
    if name.startswith("authors_protocol"):
        return (
            f"{c['solver']}: flow {c['gflab_field_evals']} evals (≈ "
            f"{c['flow_time_in_gd_steps']:.0f} GD steps) vs GD {c['gd_steps']} steps; loss "
            f"{c['flow_loss']:.2g} / {c['gd_loss']:.2g}; cpu vs tsit5 "
            f"{c['speedup_cpu_vs_tsit5']:.3g}x"
        )
    if name.startswith("flow_batch"):
        return (
            f"batch {c['batch']}, attempted steps {c['gflab_attempted_steps_min']}–"
            f"{c['gflab_attempted_steps_max']}; max|ΔW| {c['max_abs_diff']:.2g} "
            f"(tol {c['agreement_tolerance']:.2g})"
        )
    if name.startswith("flow_vs_gd"):
        return (
            f"flow {c['gflab_field_evals']} evals (t = {c['flow_time']:.4g} ≈ "
            f"{c['flow_time_in_gd_steps']:.0f} GD steps) vs GD {c['gd_steps']} evals; "
            f"MSE {c['flow_mse']:.2g} / {c['gd_mse']:.2g}"
        )
    if name == "compile":
        shapes = ", ".join(f"n={p['n']}: {p['compile_seconds']:.3g} s" for p in c["per_shape"])
        return f"compile per shape {shapes}; recompiled: {c['recompiled']}"
    return ""
