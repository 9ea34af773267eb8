"""What a sweep did: its summary, failures, record in the store and progress."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gflab.sims.engine import STATUSES
from gflab.sims.store import ResultStore


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped by SIGTERM or Ctrl-C; finished entries are in the store."""

    def __init__(self, signum: int, summary: SweepSummary | None = None):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.summary = summary


@dataclass
class SweepSummary:
    """What a sweep did: counts, per-status counts over stored results, failures, seconds."""

    total: int
    executor: str
    store: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    recomputed_corrupt: int = 0
    statuses: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    startup_seconds: float = 0.0
    solve_seconds: float = 0.0
    interrupted: bool = False
    requeued: int = 0
    programs: int = 0  # distinct compiled programs among the configurations run (local:N, N > 1)
    programs_split: int = 0  # of those, compiled by more than one worker (to keep a core busy)
    batch: str = "loop"  # "vmap": configurations of one program solved together (sweep/_batch.py)
    batched: int = 0  # configurations whose flow was solved in a batched (vmapped) solve
    warnings: list = field(default_factory=list)
    keys: list = field(default_factory=list)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("keys")
        return d

    def table(self) -> str:
        rows = [
            ("configurations", self.total),
            ("done", self.done),
            ("skipped (stored)", self.skipped),
            ("failed", self.failed),
        ]
        if self.recomputed_corrupt:
            rows.append(("recomputed (corrupt)", self.recomputed_corrupt))
        rows += [(f"status {s}", self.statuses.get(s, 0)) for s in STATUSES]
        # other models' statuses (the river's finished/diverged...)
        rows += [(f"status {s}", n) for s, n in self.statuses.items() if s and s not in STATUSES]
        rows += [
            ("seconds", f"{self.seconds:.2f}"),
            ("executor", self.executor),
            ("store", self.store),
        ]
        if self.requeued:
            rows.append(("re-queued (worker died)", self.requeued))
        if self.interrupted:
            rows.append(("interrupted", "yes: rerun the same command to resume"))
        w = max(len(r[0]) for r in rows)
        lines = [f"{k:<{w}}  {v}" for k, v in rows]
        for f in self.failures[:10]:
            lines.append(f"failed {f['key'][:12]}  {f['error']}")
        if len(self.failures) > 10:
            lines.append(f"... {len(self.failures) - 10} more failures (see --json)")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def sweep_key(configs: Iterable) -> str:
    """Identity of a sweep: the hash of its configurations' canonical JSON, in order."""
    blob = json.dumps(
        [c.to_dict() if hasattr(c, "to_dict") else c for c in configs],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def sweep_record(store: ResultStore, configs: Iterable) -> dict | None:
    """The sweep's record from the store (summary and ``failures``), or None if never finished."""
    rec = store.get_record({"sweep": sweep_key(configs)})
    return None if rec is None else rec[1]


def collect_record(summary: SweepSummary, counts: Counter, rec: dict) -> None:
    outcome = rec["outcome"]
    counts[outcome] += 1
    if outcome == "failed":
        summary.failed += 1
        summary.failures.append({k: rec.get(k) for k in ("key", "config", "error", "traceback")})
        return
    if outcome == "done":
        summary.done += 1
        summary.recomputed_corrupt += bool(rec.get("corrupt_before"))
        summary.solve_seconds += rec.get("solve_seconds", 0.0)
        summary.batched += bool(rec.get("batched"))
    else:
        summary.skipped += 1
    summary.statuses[rec["status"]] = summary.statuses.get(rec["status"], 0) + 1
