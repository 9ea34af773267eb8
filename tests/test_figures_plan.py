"""The first line of `gflab figures`: what will be drawn, what is kept, and a rough duration."""

from __future__ import annotations

import json

from gflab.cli.figures import plan_line
from gflab.figures.registry import render_key

NAMES = ["sgf_equal_rate", "sgf_arrivals"]


def test_a_first_run_says_what_and_the_measured_range(tmp_path):
    line = plan_line(NAMES, tmp_path, False, "default", store=object(), force=False)
    assert line.startswith(f"gflab figures: drawing 2 of 2 figures into {tmp_path}")
    assert "roughly 10-22 min on 2 cores" in line
    assert "2-5 min" in plan_line(NAMES, tmp_path, True, "default", store=object(), force=False)


def test_last_run_times_and_current_figures(tmp_path):
    """Stale sidecars give the sum of their last seconds (150 + 90 s: about 4 min); a sidecar
    with the current render key is kept and left out of the estimate; --force draws all."""
    (tmp_path / "sgf_equal_rate.json").write_text(
        json.dumps({"render_key": "old", "wall_seconds": 150.0, "fast": False})
    )
    (tmp_path / "sgf_arrivals.json").write_text(
        json.dumps({"render_key": "old", "wall_seconds": 90.0, "fast": False})
    )
    line = plan_line(NAMES, tmp_path, False, "default", store=object(), force=False)
    assert line.endswith(
        "drawing 2 of 2 figures into " + str(tmp_path) + "; about 4 min (the last run's times)"
    )
    (tmp_path / "sgf_arrivals.json").write_text(
        json.dumps(
            {
                "render_key": render_key("sgf_arrivals", False, "default"),
                "wall_seconds": 90.0,
                "fast": False,
            }
        )
    )
    line = plan_line(NAMES, tmp_path, False, "default", store=object(), force=False)
    assert "drawing 1 of 2 figures" in line and "(1 up to date, kept)" in line
    assert line.endswith("about 2 min (the last run's times)")  # 150 s
    forced = plan_line(NAMES, tmp_path, False, "default", store=object(), force=True)
    assert "drawing 2 of 2" in forced and "kept" not in forced
