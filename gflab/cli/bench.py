"""``gflab bench``: gflab's compiled solvers against SciPy/NumPy baselines, (docs/theory.md §4)."""

from __future__ import annotations

import argparse
import sys

from gflab.cli._common import print_json

EXAMPLES = """examples:
  gflab bench                 # full run (n = 30, batch of 32, LoRA 60x70; ~15 min on 2 cores)
  gflab bench --quick --json  # small sizes, seconds once compiled (the smoke test)
  gflab bench --repeats 5     # best of 5 back-to-back rounds per case
  gflab bench --only lora_single,flow_vs_gd   # just those sections
  gflab bench --include sweep,bridge   # also the sweep executors and the bridge probe overhead

Speedups are baseline seconds / gflab seconds measured back to back in this process; on a shared
machine compare ratios, not absolute times. gflab times are warm (compile reported separately).
"""


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time gflab against SciPy/NumPy baselines",
        description="Time gflab's compiled gradient-flow and GD solves (Tsit5 and the automatic "
        "Tsit5 -> RKC2 solver) against SciPy solve_ivp and NumPy loops on deep matrix "
        "completion (docs/theory.md §2.1) and LoRA SpecGF (§2.2), check that they reach the same "
        "end state (and its error against DOP853), and report compile cost, recompiles "
        "and persistent-cache hits.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        help="run only these sections, comma-separated: flow_single, flow_default, lora_single, "
        "flow_batch, flow_vs_gd, authors_protocol, compile (compile runs flow_single too; "
        "default: all)",
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


_ONLY = (
    "flow_single",
    "flow_default",
    "lora_single",
    "flow_batch",
    "flow_vs_gd",
    "authors_protocol",
    "compile",
)


def _only(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in items if x not in _ONLY]
    if bad or not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(
            f"expected a comma list of distinct {', '.join(_ONLY)}; got {text!r}"
        )
    return items


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
    from gflab.sims.result import json_safe

    run_bench = load_benchmarks().run_bench

    progress = lambda s: print(f"gflab bench: {s}", file=sys.stderr, flush=True)
    report = run_bench(quick=args.quick, repeats=args.repeats, progress=progress, only=args.only)
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
    return 0 if all_agree(report) else 1


def all_agree(report: dict) -> bool:
    """True when every case that compares end states agrees within its tolerance."""
    for c in report["cases"]:
        if "agreement_tolerance" in c and not c["max_abs_diff"] <= c["agreement_tolerance"]:
            return False
    return True


def format_table(report: dict) -> str:
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
    lines += [
        "",
        "speedup = baseline / gflab wall seconds (best of the rounds, run back to back);",
        "cpu speedup uses this process's CPU seconds, which other jobs on a shared machine",
        "disturb less.",
    ]
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
