"""DMC-1..DMC-5 run with the ci profile (DESIGN §2.3) and the runner's counterexample path."""

from __future__ import annotations

import math

import pytest

from proofs_checks import dmc
from proofs_checks.registry import claims
from proofs_checks.runner import run_claim

DMC_IDS = ("DMC-1", "DMC-2", "DMC-3", "DMC-4", "DMC-5")


@pytest.mark.parametrize("cid", DMC_IDS)
def test_claim_holds_ci(cid):
    rep = run_claim(claims()[cid], profile="ci")
    assert rep.verdict == "held", rep.to_json()
    assert rep.examples >= 1
    # margins are in decades; a held claim has a finite, non-negative worst margin
    assert math.isfinite(rep.worst_margin) and rep.worst_margin >= 0


def test_false_variant_is_refuted_with_shrunk_counterexample():
    """'Depth-3 diagonal completion is decoupled' must fail, shrink, and give a command."""
    rep = run_claim(dmc.false_variant_claim(), profile="ci")
    assert rep.verdict == "violated"
    ex = rep.counterexample
    assert ex["depth"] == 3 and ex["mask"] == "diagonal"
    # hypothesis shrinks sampled_from towards its first element
    assert ex["alpha"] == 1e-1 and ex["m"] == 2.0
    # violated by decades: the depth-3 cross kernel is O(0.1) of the diagonal, τ_dec = 1e-6
    assert rep.counterexample_numbers["max_coupling"] > 1e3 * dmc.TAU_DEC
    assert rep.reproduce.startswith("gflab simulate dmf --depth 3 --n 4")


def test_all_dmc_claims_registered_with_reproduce_and_beyond():
    reg = claims()
    for cid in DMC_IDS:
        c = reg[cid]
        assert c.reproduce is not None and c.beyond is not None and c.margin_units
        assert set(c.examples) >= {"ci", "dev", "thorough"}
