"""The claim runner never reports "held" for a run that showed nothing.

A verdict is worth what its examples are: a check that is flaky (hypothesis could not replay it),
a strategy that draws no example, or one whose hypotheses nothing satisfies must come back
"violated" with the reason in ``error`` — never "held" with 0 examples.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis.errors import Flaky

from proofs_checks.registry import Claim, Evidence
from proofs_checks.runner import run_claim


def _flaky_check(example):
    raise Flaky("the check gave different answers on replay")


def _claim(strategy, check=lambda e: Evidence(1.0, {}, "")):
    return Claim(
        id="TEST-1", paper="test", statement="s", hypotheses="h", strategy=strategy, check=check
    )


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
