"""What `gflab check` prints: maps as the region where a claim holds (never a negative margin
beside the passes), and every column of a `--beyond` map explained."""

from __future__ import annotations

import math

from gflab.cli.check import format_map, format_reports
from gflab.proofs_checks.runner import MAP_GLOSSARY, ClaimReport


def _report(cid, verdict, margin, examples=4, holds_in=4, units="decades"):
    return ClaimReport(
        id=cid,
        verdict=verdict,
        examples=examples,
        worst_margin=margin,
        seconds=1.0,
        margin_units=units,
        holds_in=holds_in,
    )


def test_a_map_shows_its_region_not_a_negative_margin():
    text = format_reports(
        "ci", [_report("DMC-1", "held", 0.25), _report("SGF-7", "map", -1.86, 28, 19, "log10")]
    )
    sgf7 = next(line for line in text.splitlines() if line.startswith("SGF-7"))
    assert "holds 19/28" in sgf7 and "-1.86" not in sgf7 and "log10" not in sgf7
    dmc1 = next(line for line in text.splitlines() if line.startswith("DMC-1"))
    assert "0.25" in dmc1 and "decades" in dmc1
    assert "map: not a pass/fail" in text


def test_holds_in_counts_examples_with_nonnegative_margin():
    """The runner's count, on a claim whose check returns the example as its margin."""
    from hypothesis import strategies as st
    from shared_cases import toy_claim

    from gflab.proofs_checks.registry import Evidence
    from gflab.proofs_checks.runner import run_claim

    claim = toy_claim(
        lambda: st.sampled_from([-1.0, 0.0, 2.0]), Evidence, examples=30, report_only=True
    )
    rep = run_claim(claim, "ci")
    assert rep.verdict == "map"
    assert 0 < rep.holds_in < rep.examples  # both regions drawn in 30 examples of 3 values
    assert rep.to_json()["holds_in"] == rep.holds_in


def test_every_column_of_the_sgf7_map_is_explained():
    """SGF-7's rows (proofs_checks/sgf.py `_cell` and the boundary rows) have glossary entries."""
    row = dict.fromkeys(
        ["kind", "init", "rho", "beta_hat", "gamma_hat", "eps", "order", "smallest_delay", "holds"],
        1.0,
    )
    text = format_map({"title": "SGF-7", "rows": [row, {"beta_hat_star": 0.1, "note": "x"}]})
    unexplained = [
        k for k in [*row, "beta_hat_star", "note"] if f"  {k}: {MAP_GLOSSARY[k]}" not in text
    ]
    assert unexplained == []
    assert "see the claim's docs page" not in text


def test_a_map_can_bring_its_own_legend_and_unknown_columns_are_flagged():
    text = format_map({"rows": [{"speed": math.pi, "weird": 1}], "legend": {"speed": "bulk rate"}})
    assert "  speed: bulk rate" in text and "3.142" in text
    assert "  weird: see the claim's docs page" in text
