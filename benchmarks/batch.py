"""``bucket_batch``: the flows of one shape bucket as one vmapped solve against a loop of single
solves (``gflab sweep --batch vmap`` against ``--batch loop``), on whatever backend JAX runs.

The problems are DMF flows (docs/theory.md §2.1) whose sizes share one bucket (n drawn from the
bucket's upper half, depth 3, Gaussian init with α and seed varying, Bernoulli(0.5) mask,
rank-2 target), each taken up to its solve the way a sweep does
(:func:`gflab.sims.engine.capture_flow` around :func:`gflab.sims.dmf.simulate_dmf`), then solved

- ``loop``: one after the other on one compiled single solve (:meth:`FlowCall.solve`);
- ``vmap``: all at once (:func:`gflab.sims.engine.solve_flows`).

Both are compiled (or loaded) first; then each round times the loop and the batch back to back
(best of ``repeats``, CPU and wall seconds of this process). ``speedup_cpu`` = loop / vmap (> 1:
the batch wins); ``max_state_difference``: the largest difference of a final state between the
two (rounding of the batched arithmetic; the members' step counts are compared too).

As a script (``python -m benchmarks.batch --help``) it prints the same as JSON, with options for
a GPU run (benchmarks/gpu_batch.sh): the batch sizes, n, and ``--loop-only`` for the CPU
reference.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import numpy as np

from gflab.sims import engine
from gflab.sims.buckets import bucket
from gflab.sims.config import DMFConfig
from gflab.sims.dmf import simulate_dmf
from gflab.sims.methods import Adaptive

SIZES_FULL = (8, 32, 128)
SIZES_QUICK = (4, 8)


def problems(count: int, n_max: int = 8, t1: float = 50.0, n_save: int = 20) -> list:
    """``count`` DMF flow problems of one bucket, captured at their solve.

    Args:
        count: how many.
        n_max: the largest n; the sizes cycle over the upper half of its bucket (all ≤ n_max).
        t1: the horizon.
        n_save: saved points per solve.
    Returns:
        The :class:`gflab.sims.engine.FlowCall` of each.
    """
    top = bucket(n_max)
    sizes = [n for n in range(top // 2 + 1, top + 1) if n <= n_max] or [n_max]
    calls = []
    for i in range(count):
        cfg = DMFConfig(
            depth=3,
            n=sizes[i % len(sizes)],
            init="gaussian",
            alpha=10.0 ** (-2 + (i % 5) / 4),  # 1e-2 … 1e-1: transients of different lengths
            mask="bernoulli:0.5",
            target="lowrank:2",
            seed=1000 + i,
            t1=t1,
            n_save=n_save,
            method=Adaptive(rtol=1e-8, atol=1e-12),
        )
        try:
            with engine.capture_flow():
                simulate_dmf(cfg)
        except engine.FlowCaptured as e:
            calls.append(e.call)
    return calls


def _clock(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - t0


def measure(size: int, repeats: int, n_max: int = 8, strategies=("loop", "vmap")) -> dict:
    """One batch size: first calls (compile or load), then best-of-``repeats`` rounds.

    Args:
        size: the batch size.
        repeats: timed rounds.
        n_max: the problems' largest n (:func:`problems`).
        strategies: which of ``loop`` and ``vmap`` to time.
    Returns:
        The case dict (``gflab bench``'s fields, the loop as the baseline when both ran).
    """
    calls = problems(size, n_max)
    run = {
        "loop": lambda: [c.solve() for c in calls],
        "vmap": lambda: engine.solve_flows(calls),
    }
    first, best, raws = {}, {}, {}
    for s in strategies:
        _, _, first[s] = _clock(run[s])
    for _ in range(repeats):
        for s in strategies:
            raws[s], cpu, wall = _clock(run[s])
            old = best.get(s, (np.inf, np.inf))
            best[s] = (min(old[0], cpu), min(old[1], wall))
    case = {
        "name": f"bucket_batch_{size}",
        "batch": size,
        "n_bucket": bucket(n_max),
        "backend": jax.default_backend(),
        "statuses": sorted({r.status for rs in raws.values() for r in rs}),
    }
    for s in strategies:
        case[f"{s}_cpu_seconds"], case[f"{s}_seconds"] = best[s]
        case[f"{s}_solves_per_second"] = size / best[s][1]
        case[f"{s}_first_call_seconds"] = first[s]
    if len(strategies) == 2:
        lo, vm = raws["loop"], raws["vmap"]
        diff = max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for x, y in zip(lo, vm, strict=True)
            for a, b in zip(x.final_state, y.final_state, strict=True)
        )
        case.update(
            gflab_seconds=best["vmap"][1],
            gflab_cpu_seconds=best["vmap"][0],
            baseline="loop of single solves",
            baseline_seconds=best["loop"][1],
            baseline_cpu_seconds=best["loop"][0],
            speedup=best["loop"][1] / best["vmap"][1],
            speedup_cpu=best["loop"][0] / best["vmap"][0],
            max_state_difference=diff,
            equal_steps=sum(
                (x.steps, x.rejected_steps) == (y.steps, y.rejected_steps)
                for x, y in zip(lo, vm, strict=True)
            ),
        )
    return case


def cases(quick: bool, repeats: int) -> list[dict]:
    """The ``bucket_batch`` section of ``gflab bench``: one case per batch size.

    Args:
        quick: the small sizes (:data:`SIZES_QUICK`) instead of :data:`SIZES_FULL`.
        repeats: timed rounds per size (at most 2: the large batches are the slow part).
    Returns:
        The cases.
    """
    sizes = SIZES_QUICK if quick else SIZES_FULL
    return [measure(b, min(repeats, 2)) for b in sizes]


def main(argv=None) -> int:
    """``python -m benchmarks.batch``: the measurement as JSON on stdout (benchmarks/gpu_batch.sh).

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
    Returns:
        0.
    """
    p = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__)
    p.add_argument("--sizes", default="8,32,128", help="comma list of batch sizes")
    p.add_argument("--n", type=int, default=8, help="largest n of the problems (their bucket)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--loop-only", action="store_true", help="time only the loop (CPU reference)")
    p.add_argument("--vmap-only", action="store_true", help="time only the batched solve")
    a = p.parse_args(argv)
    strategies = ("loop",) if a.loop_only else ("vmap",) if a.vmap_only else ("loop", "vmap")
    sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    out = {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cases": [measure(b, a.repeats, a.n, strategies) for b in sizes],
    }
    json.dump(out, sys.stdout, indent=1, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
