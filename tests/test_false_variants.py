"""Every claim check can fail: on the first example its strategy draws, the true claim holds and a
deliberately false variant of it (a shifted rate, a wrong closed form, a swapped regime, the
other convention's band...) is violated by the same check (docs/theory.md §2.3).

The false variants live next to the claims (``proofs_checks.{dmc,sgf,prune}.FALSE_VARIANTS``). One case
per claim; no shrinking (a shrink would pay for new solves and proves nothing more here).
"""

from __future__ import annotations

import pytest
from shared_cases import first_example

from gflab.proofs_checks import dmc, prune, prune_runs, sgf
from gflab.proofs_checks.registry import claims

FALSE = {
    **dmc.FALSE_VARIANTS,
    **sgf.FALSE_VARIANTS,
    **prune.FALSE_VARIANTS,
    **prune_runs.FALSE_VARIANTS,
}
IDS = (
    [f"DMC-{i}" for i in range(1, 6)]
    + [f"SGF-{i}" for i in range(1, 8)]
    + [f"PRUNE-{i}" for i in range(1, 7)]
    + ["SEMI-1"]
)


def test_every_claim_has_a_false_variant():
    # the papers' claims; DASH-1 and AMUSE-1/2 are checked in tests/test_dash.py and
    # tests/test_amuse.py (AMUSE-1 "no river" and "zero noise", AMUSE-2 "fast rise" there)
    papers = [c for c in claims() if c.startswith(("DMC-", "SGF-", "PRUNE-", "SEMI-"))]
    assert sorted(FALSE) == sorted(IDS) == sorted(papers)


@pytest.mark.parametrize("cid", IDS)
def test_false_variant_is_violated_where_the_claim_holds(cid):
    claim = claims()[cid]
    ex = first_example(claim.strategy())
    if cid == "PRUNE-6":
        # a map whose ci draw (digits, 90 %) is a cell where random wins: take a cell where the
        # score beats random (20 % label noise, 30 % pruning; docs/pruning.md)
        ex = prune_runs.PRUNE6_HOLDING
    elif claim.report_only:
        # SGF-7 is a map that deliberately draws breaking cells (its first draw has β̂ = 1): take
        # the holding corner of its space (β̂ = 1e-6, γ̂ = 1e-4, aligned B(0)) on the same problem
        s_min = min(ex.config.target_svals)
        ex = sgf.MisalignedExample(
            ex.config.replace(beta=1e-6 * s_min**3, gamma=1e-4 * s_min**0.5), 1.0
        )
    true_ev = claim.check(ex)
    what, false_check = FALSE[cid]
    false_ev = false_check(ex)
    assert true_ev.held, (cid, true_ev.margin, true_ev.numbers)
    assert not false_ev.held, (cid, what, false_ev.margin, false_ev.numbers)
