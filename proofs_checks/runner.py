"""Run claims with ``hypothesis``: count examples, track the worst margin, shrink counterexamples.

Profiles (``--profile`` or ``$GFLAB_PROFILE``): ``ci`` (derandomised, few examples: the default
test suite runs every claim with it), ``dev`` (more, random), ``thorough`` (hundreds). A claim's
``examples`` dict scales the count per profile (expensive claims ask for fewer).

``ci`` is deterministic per process set-up, not per claim alone: besides its seeded draws,
hypothesis (6.170) now and then draws a number written in one of the project's modules that the
process has imported, so the examples depend on which of them are loaded. Every fresh ``gflab
check`` process, and every ``--jobs`` worker, imports the same ones and draws the same examples;
a pytest process imports more and may draw others (tests/test_runner.py compares fresh
processes).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky, Unsatisfiable

from gflab.proofs_checks.registry import Claim, Evidence, claims
from gflab.sims.progress import Progress, notify
from gflab.theory._validate import one_of
from gflab.theory.errors import GflabInputError

__all__ = [
    "MAP_GLOSSARY",
    "map_legend",
    "ClaimReport",
    "run_claim",
    "run_claims",
    "worst_example",
    "example_config",
    "PROFILES",
    "current_profile",
]

PROFILES = ("ci", "dev", "thorough")


def current_profile(profile: str | None = None) -> str:
    """The hypothesis profile to run: ``profile``, else ``$GFLAB_PROFILE``, else ``ci``.

    Args:
        profile: ``ci``, ``dev`` or ``thorough``, or None.

    Returns:
        The profile's name (GflabInputError naming ``profile`` for any other).
    """
    p = profile or os.environ.get("GFLAB_PROFILE", "ci")
    return one_of("profile", p, PROFILES)


@dataclass
class ClaimReport:
    """The outcome of checking one claim: its verdict, how many examples ran, the worst margin
    with its numbers and reproducing command, and any counterexample. ``holds_in`` counts the
    examples with margin ≥ 0 (for a map: the size of the region where it holds).
    """

    id: str
    verdict: str  # "held" | "violated" | "map"
    examples: int
    worst_margin: float
    seconds: float
    statement: str = ""
    worst_numbers: dict = field(default_factory=dict)
    counterexample: Any = None
    counterexample_numbers: dict = field(default_factory=dict)
    reproduce: str = ""
    margin_units: str = ""
    error: str = ""
    worst_example: dict = field(default_factory=dict)
    holds_in: int = (
        0  # examples with margin >= 0 (for a map: the size of the region where it holds)
    )

    def to_json(self) -> dict:
        """The report as a JSON-ready dict (non-finite margins as strings)."""
        from gflab.sims.result import json_safe

        out = {
            "id": self.id,
            "verdict": self.verdict,
            "examples": self.examples,
            "worst_margin": self.worst_margin,
            "seconds": self.seconds,
            "margin_units": self.margin_units,
            "statement": self.statement,
            "worst_numbers": self.worst_numbers,
            "worst_example": self.worst_example,
            "holds_in": self.holds_in,
        }
        if self.verdict == "violated":
            out["counterexample"] = _repr(self.counterexample)
            out["counterexample_numbers"] = self.counterexample_numbers
            out["reproduce"] = self.reproduce
            if self.error:
                out["error"] = self.error
        return json_safe(out)


# What the columns of the `--beyond` maps mean (a map may add its own through its "legend").
MAP_GLOSSARY: dict[str, str] = {
    "holds": "True where the claim's statement holds for this row",
    "margin": "the claim's margin for this row (> 0: holds with that room, < 0: fails; its units)",
    "hypothesis_dropped": "which hypothesis of the claim this row leaves out",
    "setting": "the configuration of the row",
    "status": "the solver's outcome (converged, t1_reached, max_steps, diverged)",
    "kind": "grid: a cell of the (β̂, γ̂) grid; misaligned: B(0) tilted off the smallest target; "
    "boundary: the β̂* where ε crosses its bound",
    "init": "initialisation (lora: A(0) = 0, B(0) = γ·Gaussian; gaussian: both factors Gaussian)",
    "rho": "overlap of B(0) with the smallest target's direction (1: aligned as the theorem assumes)",
    "beta_hat": "β̂ = β / s_min³, the smoothing of T_β in the units of the smallest target",
    "gamma_hat": "γ̂ = γ / √s_min, the init scale in the units of the smallest target",
    "beta_hat_star": "the largest β̂ at which ε stays ≤ 0.05 (bisection in log β̂)",
    "eps": "ε = max |d/dt √d_i − 1| over the active window (0: exactly equal rate)",
    "order": "arrival order of the modes (smaller-first as the theorem says, or broken)",
    "smallest_delay": "how much later the smallest mode arrives than √(s/2) predicts (time units)",
    "note": "why a row has no number",
    "depth": "depth L of the factorisation",
    "m": "mimic init's parameter m (∞: diagonal)",
    "alpha": "init scale α",
    "n": "matrix size",
    "floor": "DASH's floor λ on the shrink factor",
    "restored": "True where DASH brought the resumed run back to from-scratch rank and error",
    "sr_minus_1": "stable rank − 1 of the limit (resumed, scratch, intervened)",
    "test_rmse": "RMSE on the unobserved entries (resumed, scratch, intervened)",
    "rank_gap_closed": "fraction of the resumed-vs-scratch rank gap that DASH closed (1: all of it)",
    "fraction_at_floor": "fraction of neurons DASH shrank down to the floor",
    "product_norm_ratio": "‖W‖ after DASH / before",
    "groups": "number of mask groups with no cross-kernel between them",
}


def map_legend(result: dict) -> dict[str, str]:
    """The meaning of every column of a `--beyond` map: its own ``legend``, then the glossary.

    Args:
        result: what a claim's ``beyond`` returned (``rows`` and maybe ``legend``).

    Returns:
        column → meaning, for every column in the rows.
    """
    keys = list(dict.fromkeys(k for row in result.get("rows", []) for k in row))
    own = result.get("legend", {})
    return {k: own.get(k) or MAP_GLOSSARY.get(k, "see the claim's docs page") for k in keys}


def _repr(x):
    if hasattr(x, "to_dict"):
        return x.to_dict()
    if isinstance(x, dict):
        return {k: _repr(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_repr(v) for v in x]
    return x if isinstance(x, (int, float, str, bool, type(None))) else repr(x)


def example_config(claim: Claim, example: Any, evidence: Evidence | None = None):
    """The simulation config standing for ``example``: the check's ``Evidence.config``, else
    ``claim.config(example)``, else the example itself (or its ``.config``) when it is a config.

    Args:
        claim: the claim.
        example: one drawn example.
        evidence: its check's evidence, when known.

    Returns:
        The config, or None when no config stands for the example.
    """
    if evidence is not None and evidence.config is not None:
        return evidence.config
    if claim.config is not None and example is not None:
        return claim.config(example)
    for cand in (example, getattr(example, "config", None)):
        if hasattr(cand, "to_dict") and hasattr(cand, "method"):
            return cand
    return None


def worst_example(claim: Claim, example: Any, evidence: Evidence | None = None) -> dict:
    """``{"config", "store_key", "reproduce"}`` of an example: ``reproduce`` is the ``gflab
    simulate ... --json`` command whose output carries the same ``store_key``; ``check_reproduce``
    adds the claim's own command when it says more (two runs, a perturbed init).

    Args:
        claim: the claim.
        example: one drawn example.
        evidence: its check's evidence, when known.

    Returns:
      The dict, or ``{"example": repr}`` when no config stands for the example (a pure
      computation, e.g. PRUNE-1), with the claim's own ``check_reproduce`` command if it has one.
    """
    from gflab.sims.schema import command
    from gflab.sims.store import ResultStore

    cfg = example_config(claim, example, evidence)
    if cfg is None:
        if example is None:
            return {}
        out = {"example": _repr(example)}
        if claim.reproduce is not None:
            out["check_reproduce"] = claim.reproduce(example)
        return out
    out = {"config": cfg.to_dict(), "store_key": ResultStore().key(cfg), "reproduce": command(cfg)}
    if claim.reproduce is not None:
        own = claim.reproduce(example)
        if own and own != out["reproduce"]:
            out["check_reproduce"] = own
    return out


def _settings(profile: str, n: int) -> settings:
    common = dict(
        max_examples=n,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    if profile == "ci":
        return settings(derandomize=True, **common)
    if profile == "dev":
        return settings(**common)
    return settings(
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink], **common
    )


def _check_examples(claim: Claim, profile: str, n: int, progress: Progress | None):
    """Draw up to ``n`` examples with hypothesis and check each, shrinking the first violation.

    Returns:
        (every (example, evidence) checked, the failing ones (the shrunk one last), an error
        message ("" when the run itself went well), the seconds taken).
    """
    seen: list[tuple[Any, Evidence]] = []
    failing: list[tuple[Any, Evidence]] = []

    @_settings(profile, n)
    @given(claim.strategy())
    def prop(example):
        ev = claim.check(example)
        if not isinstance(ev, Evidence) or not math.isfinite(ev.margin):
            ev = Evidence(
                -math.inf, {"bad_evidence": repr(ev)}, "check returned a non-finite margin"
            )
        seen.append((example, ev))
        notify(
            progress,
            len(seen),
            n if len(seen) < n else None,  # finished only at the verdict (shrinking replays more)
            unit=claim.id,
            item="example",
            **{"worst margin": min(e.margin for _, e in seen)},
        )
        if not ev.held and not claim.report_only:
            failing.append((example, ev))
            raise AssertionError(f"{claim.id} violated: margin {ev.margin}")

    t0 = time.perf_counter()
    error = ""
    notify(progress, 0, n, unit=claim.id, item="example")  # the clock starts before example 1
    try:
        prop()
    except (AssertionError, Flaky) as e:
        error = "" if isinstance(e, AssertionError) else f"flaky: {e}"
    except Unsatisfiable:
        error = "no example satisfied the claim's hypotheses"
    except GflabInputError as e:
        error = f"bad example: {e}"
        failing.append((None, Evidence(-math.inf, {}, error)))
    secs = time.perf_counter() - t0
    return seen, failing, error, secs


def _report(claim: Claim, seen: list, failing: list, error: str, secs: float) -> ClaimReport:
    """The report of a claim from its checked examples (the worst one, the counterexample)."""
    margins = [ev.margin for _, ev in seen] or [math.nan]
    worst_i = min(range(len(seen)), key=lambda i: seen[i][1].margin) if seen else None
    worst = seen[worst_i][1].numbers if worst_i is not None else {}
    worst_ex = worst_example(claim, *seen[worst_i]) if worst_i is not None else {}
    if claim.report_only:
        verdict = "map"
    else:
        verdict = "violated" if failing else "held"
    rep = ClaimReport(
        id=claim.id,
        verdict=verdict,
        examples=len(seen),
        worst_margin=min(margins),
        seconds=secs,
        statement=claim.statement,
        worst_numbers=worst,
        margin_units=claim.margin_units,
        error=error,
        worst_example=worst_ex,
        holds_in=sum(1 for _, ev in seen if ev.held),
    )
    if failing:
        # hypothesis replays the shrunk example last
        ex, ev = failing[-1]
        rep.counterexample = ex
        rep.counterexample_numbers = ev.numbers
        shown = worst_example(claim, ex, ev) if ex is not None else {}
        rep.reproduce = shown.get("reproduce") or shown.get("check_reproduce", "")
    return rep


def run_claim(
    claim: Claim,
    profile: str | None = None,
    max_examples: int | None = None,
    progress: Progress | None = None,
) -> ClaimReport:
    """Check ``claim`` on examples drawn by its strategy; shrink the first violation found.

    ``progress`` (:class:`gflab.sims.progress.Progress`) is called after each example (examples
    checked, the profile's count, the worst margin so far) and once at the end with the verdict.

    Args:
        claim: the claim.
        profile: ``ci``, ``dev`` or ``thorough`` (None: :func:`current_profile`).
        max_examples: overrides the profile's number of examples.
        progress: see above.

    Returns:
        The claim's report.
    """
    profile = current_profile(profile)
    n = max_examples or claim.examples.get(profile, 10)
    seen, failing, error, secs = _check_examples(claim, profile, n, progress)
    if not failing and not claim.report_only and (error or not seen):
        # a flaky run, or one that checked nothing, has shown nothing: never "held"
        error = error or "no example was checked: the strategy drew none"
        failing.append((None, Evidence(-math.inf, {}, error)))
    rep = _report(claim, seen, failing, error, secs)
    notify(
        progress,
        len(seen),
        len(seen),
        unit=claim.id,
        item="example",
        verdict=rep.verdict,
        **{"worst margin": rep.worst_margin},
    )
    return rep


def run_claims(
    ids: list[str] | None = None,
    profile: str | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> list[ClaimReport]:
    """Run the claims ``ids`` (all by default); reports in the order asked. ``progress`` as in
    :func:`run_claim`, each claim a unit ``"ID (i/N)"``.

    ``jobs`` > 1 runs claims in that many spawned processes (claims are independent; each process
    loads the compiled solves from the persistent compilation cache), handed out in order.
    A claim whose process dies is reported ``violated`` with the reason, never lost.

    Args:
        ids: claim ids (None: every registered claim).
        profile: as in :func:`run_claim`.
        progress: see above.
        jobs: worker processes.

    Returns:
        One report per claim.
    """
    reg = claims()
    ids = ids or list(reg)
    for cid in ids:
        if cid not in reg:
            raise GflabInputError("claim", "one of " + ", ".join(reg), cid)
    if not (isinstance(jobs, int) and not isinstance(jobs, bool) and 1 <= jobs <= MAX_JOBS):
        raise GflabInputError("jobs", f"an integer in [1, {MAX_JOBS}]", jobs)
    labels = {cid: f"{cid} ({i}/{len(ids)})" for i, cid in enumerate(ids, 1)}
    if jobs == 1 or len(ids) < 2:
        return [
            run_claim(reg[cid], profile, progress=_relabel(progress, labels[cid])) for cid in ids
        ]
    return _run_parallel(ids, current_profile(profile), progress, min(jobs, len(ids)), labels)


MAX_JOBS = 64


def _relabel(progress: Progress | None, label: str) -> Progress | None:
    if progress is None:
        return None

    def hook(done, total, info):
        progress(done, total, {**info, "unit": label})

    return hook


def _claim_in_worker(cid: str, profile: str, queue) -> ClaimReport:
    """One claim in a pool process; progress events go back through ``queue``."""
    hook = None
    if queue is not None:

        def hook(done, total, info):
            queue.put((cid, done, total, info))

    return run_claim(claims()[cid], profile, progress=hook)


def _run_parallel(ids, profile, progress, jobs, labels) -> list[ClaimReport]:
    import concurrent.futures as cf
    import multiprocessing as mp
    import threading

    from gflab.sims.sweep._programs import warm_shared_programs

    warm_shared_programs()  # the library's eager programs: compiled once here, not per worker
    reg = claims()
    ctx = mp.get_context("spawn")  # never fork a process that has started XLA's threads
    manager = ctx.Manager() if progress is not None else None
    queue = manager.Queue() if manager is not None else None
    stop = threading.Event()

    def drain():
        while not stop.is_set() or not queue.empty():
            try:
                cid, done, total, info = queue.get(timeout=0.2)
            except Exception:  # queue.Empty, or the manager gone at shutdown
                continue
            progress(done, total, {**info, "unit": labels[cid]})

    pump = threading.Thread(target=drain, daemon=True) if queue is not None else None
    if pump is not None:
        pump.start()
    order = list(ids)
    reports: dict[str, ClaimReport] = {}
    try:
        with cf.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_claim_in_worker, c, profile, queue): c for c in order}
            for fut in cf.as_completed(futures):
                cid = futures[fut]
                try:
                    reports[cid] = fut.result()
                except (
                    Exception
                ) as e:  # a dead process (BrokenProcessPool) or an unpicklable report
                    reason = f"the claim's process failed: {type(e).__name__}: {e}"
                    reports[cid] = ClaimReport(
                        id=cid,
                        verdict="violated",
                        examples=0,
                        worst_margin=-math.inf,
                        seconds=math.nan,
                        statement=reg[cid].statement,
                        margin_units=reg[cid].margin_units,
                        error=reason,
                    )
    finally:
        stop.set()
        if pump is not None:
            pump.join()
        if manager is not None:
            manager.shutdown()
    return [reports[c] for c in ids]
