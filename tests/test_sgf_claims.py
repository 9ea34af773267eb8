"""SGF-1..SGF-7 under the ci profile, and a deliberately false variant that must be caught."""

from __future__ import annotations

import math

import pytest

from proofs_checks import sgf
from proofs_checks.registry import Claim, Evidence, claims
from proofs_checks.runner import run_claim

HOLDING = ["SGF-1", "SGF-2", "SGF-3", "SGF-4", "SGF-5", "SGF-6"]


@pytest.mark.parametrize("cid", HOLDING)
def test_claim_holds_ci(cid):
    rep = run_claim(claims()[cid], profile="ci")
    assert rep.verdict == "held", (rep.counterexample, rep.counterexample_numbers, rep.error)
    assert rep.examples == claims()[cid].examples["ci"]
    assert math.isfinite(rep.worst_margin) and rep.worst_margin >= 0


def test_sgf7_map_has_holding_and_breaking_cells():
    c = claims()["SGF-7"]
    assert c.report_only
    rep = run_claim(c, profile="ci")
    assert rep.verdict == "map" and rep.examples == c.examples["ci"]
    out = c.beyond(profile="ci")
    grid = [r for r in out["rows"] if r["kind"] in ("grid", "misaligned")]
    assert any(r["holds"] for r in grid) and any(not r["holds"] for r in grid)
    # the theory's direction: at γ̂ = 1e-4, small β̂ holds and β̂ = 1 breaks the order
    lora = {
        r["beta_hat"]: r
        for r in grid
        if r["kind"] == "grid" and r["init"] == "lora" and r["gamma_hat"] < 1e-3
    }
    assert lora[min(lora)]["holds"] and lora[max(lora)]["order"] == "broken"
    bounds = [r for r in out["rows"] if r["kind"] == "boundary" and "bracket" in r]
    assert bounds and all(1e-7 < r["beta_hat_star"] < 1 for r in bounds)


def _gf_smaller_first(example) -> Evidence:
    t, _, _, _ = sgf.gf_arrivals(example)
    return Evidence(sgf.order_margin(example.target_svals, t, smaller_first=True), {"t": t})


def test_false_variant_gradient_flow_smaller_first_is_violated_and_shrunk():
    false = Claim(
        id="SGF-FALSE",
        paper="SGF",
        statement="gradient flow arrives smaller-first (false)",
        hypotheses="as SGF-3",
        strategy=sgf.gf_examples,
        check=_gf_smaller_first,
        reproduce=sgf.command,
        examples={"ci": 3, "dev": 3, "thorough": 3},
    )
    rep = run_claim(false, profile="ci")
    assert rep.verdict == "violated"
    ex = rep.counterexample
    assert ex is not None and ex.flow == "gf"
    assert rep.counterexample_numbers["t"][0] > rep.counterexample_numbers["t"][-1]
    # shrunk: hypothesis minimises towards the first rank and the smallest seed
    assert ex.rank == sgf.RANKS[0] and ex.seed == 0
    assert rep.reproduce.startswith("gflab simulate lora ") and "--flow gf" in rep.reproduce
