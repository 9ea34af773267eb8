"""One worker per compiled program (gflab.sims.sweep._programs): configurations that differ only
in numeric data share a program and a worker; a program is split across workers only to keep one
busy, and that is counted."""

from __future__ import annotations

import pytest

from gflab.sims.config import DMFConfig
from gflab.sims.sweep._programs import assign_programs, program_key


def _dmf(**kw):
    base = dict(depth=3, n=4, init="mimic", m=3.0, alpha=1e-3, mask="diagonal", t1=10.0)
    return DMFConfig(**{**base, **kw}).to_dict()


def test_values_share_a_program_shapes_do_not():
    assert program_key(_dmf(alpha=1e-3, seed=0)) == program_key(_dmf(alpha=1e-2, seed=5))
    assert program_key(_dmf(n=4)) != program_key(_dmf(n=12))  # buckets 8 and 16
    assert program_key(_dmf(depth=3)) != program_key(_dmf(depth=5))  # depth buckets 4 and 8


def test_sizes_of_one_bucket_share_a_program(monkeypatch):
    """Solves run padded to a bucket (n 4 and 6 both as 8, depth 3 and 4 both as 4): one program,
    so one worker; with buckets off the real sizes decide."""
    assert program_key(_dmf(n=4, depth=3)) == program_key(_dmf(n=6, depth=4))
    monkeypatch.setenv("GFLAB_BUCKETS", "0")
    assert program_key(_dmf(n=4)) != program_key(_dmf(n=6))
    assert program_key(_dmf(depth=3)) != program_key(_dmf(depth=4))


def _workers_per_program(items, lanes):
    seen: dict[str, set[int]] = {}
    for w, lane in enumerate(lanes):
        for j in lane:
            seen.setdefault(program_key(items[j]), set()).add(w)
    return {k: len(v) for k, v in seen.items()}


def test_the_phase_diagram_case_compiles_each_program_once(monkeypatch):
    """9 shapes × 2 values on 2 workers (the figure that compiled 18 times), on real shapes: 9
    compiles, every configuration run once, the load within one program of even."""
    monkeypatch.setenv("GFLAB_BUCKETS", "0")
    items = [
        _dmf(n=n, depth=d, alpha=a) for n in (4, 6, 8) for d in (3, 4, 5) for a in (1e-3, 1e-2)
    ]
    lanes, stats = assign_programs(items, 2)
    assert sorted(j for lane in lanes for j in lane) == list(range(len(items)))
    assert stats == {"programs": 9, "programs_split": 0}
    assert set(_workers_per_program(items, lanes).values()) == {1}
    assert abs(len(lanes[0]) - len(lanes[1])) <= 2


@pytest.mark.parametrize("workers", [2, 3])
def test_one_program_is_split_only_to_use_the_workers(workers):
    items = [_dmf(alpha=a) for a in (1e-4, 1e-3, 1e-2, 1e-1, 0.2, 0.3)]
    lanes, stats = assign_programs(items, workers)
    assert stats == {"programs": 1, "programs_split": 1}
    assert len(lanes) == workers and sorted(sum(lanes, [])) == list(range(6))


def test_programs_stay_whole_when_there_are_enough_of_them():
    items = [_dmf(n=n, alpha=a) for n in (4, 12) for a in (1e-3, 1e-2, 1e-1)]
    lanes, stats = assign_programs(items, 2)
    assert stats["programs_split"] == 0
    assert set(_workers_per_program(items, lanes).values()) == {1}


def test_a_local_pool_sweep_reports_its_programs(tmp_path):
    """`local:2` runs each shape's configurations on one worker and says how many programs."""
    from gflab.sims.store import ResultStore
    from gflab.sims.sweep import run_sweep

    configs = [
        DMFConfig(depth=2, n=n, init="mimic", m=3.0, alpha=a, mask="diagonal", t1=2.0, n_save=4)
        for n in (3, 9)  # buckets 8 and 16: two programs
        for a in (1e-2, 1e-1)
    ]
    summary = run_sweep(configs, ResultStore(tmp_path / "s"), "local:2")
    assert (summary.done, summary.failed) == (4, 0)
    assert (summary.programs, summary.programs_split) == (2, 0)
    assert summary.to_json()["programs"] == 2
