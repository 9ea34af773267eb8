"""SGF-1..SGF-7 under the ci profile, and a deliberately false variant that must be caught."""

from __future__ import annotations

import math

import pytest

from proofs_checks import sgf
from proofs_checks.registry import Claim, Evidence, claims
from proofs_checks.runner import run_claim

# SGF-1's dense-output measurement ran for minutes in the merged tree (it took ~20 s on its own
# branch): it is in `make test-all` until that is found (see the issue notes)
HOLDING = [
    pytest.param("SGF-1", marks=pytest.mark.slow),
    "SGF-2",
    "SGF-3",
    "SGF-4",
    "SGF-5",
    "SGF-6",
]


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


ISSUE_11_SGF1 = dict(
    rows=10,
    cols=12,
    rank=3,
    target_svals=(0.1, 0.32, 1.024),
    flow="specgf",
    beta=1e-9,
    gamma=0.00313,
    init="lora",
    method="adaptive",
    t1=3.62,
    n_save=401,
    seed=3,
)


@pytest.mark.slow  # the dense SGF-1 measurement: see HOLDING
def test_sgf1_is_not_fooled_by_its_save_grid():
    """Issue 11's config (β̂ = 1e-6, γ̂ = 0.0099): on the 401-point save grid ε = 0.0068, but the
    deviation peaks at the window's start, between grid points. The dense measurement must find
    the peak: 0.01125 (measured; the grid value is reported alongside). The oracle is the
    solver's own interpolant sampled ×33 finer around the peak: refining the dense measurement
    4× per step more changes it by < 1e-12, so 1e-4 is all rounding of the window edge."""
    from sims.config import LoRAConfig

    c = LoRAConfig(**ISSUE_11_SGF1)
    ev = sgf._check_sgf1(c)
    assert ev.numbers["eps_on_save_grid"] < 0.0069  # what the grid saw
    assert abs(ev.numbers["eps"] - 0.011254) < 1e-4, ev.numbers["eps"]
    assert not ev.held  # ε > 0.01: a counterexample to the old statement's γ̂ range
    dense = sgf.run_dense(c)
    fine = sgf.dense_equal_rate_deviation(dense, c.target_svals, per_step=16)[0]
    assert abs(fine - ev.numbers["eps"]) < 1e-9
