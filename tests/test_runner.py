"""The claim runner never reports "held" for a run that showed nothing.

A verdict is worth what its examples are: a check that is flaky (hypothesis could not replay it),
a strategy that draws no example, or one whose hypotheses nothing satisfies must come back
"violated" with the reason in ``error`` — never "held" with 0 examples.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis.errors import Flaky
from shared_cases import toy_claim

from gflab.proofs_checks.registry import Evidence
from gflab.proofs_checks.runner import run_claim


def _flaky_check(example):
    raise Flaky("the check gave different answers on replay")


def _claim(strategy, check=lambda e: Evidence(1.0, {}, "")):
    return toy_claim(strategy, check)


CASES = {
    "flaky": (lambda: st.integers(0, 3), _flaky_check, "flaky"),
    "unsatisfiable": (lambda: st.integers(0, 3).filter(lambda x: False), None, "satisfied"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_that_showed_nothing_is_not_held(case):
    strategy, check, reason = CASES[case]
    claim = _claim(strategy) if check is None else _claim(strategy, check)
    rep = run_claim(claim, "ci")
    assert rep.verdict == "violated", (case, rep.verdict, rep.error)
    assert reason in rep.error, rep.error


def test_a_true_claim_is_held_with_its_examples():
    # the control: the same runner on a claim whose every example holds, so the guard above is
    # not simply "never held"
    rep = run_claim(_claim(lambda: st.integers(0, 3)), "ci", max_examples=4)
    assert rep.verdict == "held" and rep.examples >= 1 and rep.error == ""


def _check_json(*args):
    import json

    from shared_cases import gflab_process

    out = gflab_process("check", *args, "--json", timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)["claims"]


def test_claims_in_processes_give_the_serial_reports():
    # two cheap claims in 2 spawned processes against the same claims run one after the other in
    # one process, each side a fresh `gflab check` process: the ci profile is derandomised, so the
    # reports (verdict, examples, worst margin, worst example and its store key) must be equal, in
    # the order asked for. (Fresh processes on both sides: hypothesis also draws constants from the
    # project's modules that happen to be imported, so a draw inside pytest may differ.)
    ids = ["SGF-3", "AMUSE-1"]
    args = [a for cid in ids for a in ("--claim", cid)]
    par, ser = _check_json(*args, "--jobs", "2"), _check_json(*args, "--jobs", "1")
    assert [r["id"] for r in par] == ids
    for report in par + ser:
        report.pop("seconds")
    assert par == ser
    assert [(r["verdict"], r["examples"] >= 1) for r in par] == [("held", True)] * len(ids)


@pytest.mark.parametrize("jobs", [0, -1, 65, 1.5, True])
def test_jobs_outside_its_range_is_refused(jobs):
    from gflab.proofs_checks.runner import run_claims
    from gflab.theory.errors import GflabInputError

    with pytest.raises(GflabInputError, match="jobs"):
        run_claims(["SGF-3"], "ci", jobs=jobs)
