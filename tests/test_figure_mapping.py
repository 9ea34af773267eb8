"""Every figure says what it regenerates (a paper figure, an authors' notebook cell or script, or
``ours:``), ``gflab figures --list`` and the sidecar carry it, and docs/figures.md tabulates it."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import matplotlib
import pytest

from gflab.cli import main

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_build"))
import figure_table  # noqa: E402

# the module (gflab.figures.registry is also a name)
R = importlib.import_module("gflab.figures.registry")

SPECS = R.registry()


def mapping_gap(spec: R.FigureSpec) -> str | None:
    """Why ``spec.regenerates`` does not say what the figure regenerates (None if it does)."""
    text = spec.regenerates.strip()
    if not text:
        return f"{spec.name}: regenerates is empty"
    if not text.startswith(R.REGENERATES_SOURCES):
        return f"{spec.name}: regenerates must start with one of {R.REGENERATES_SOURCES}"
    if len(text) < 30:  # a tag alone says nothing: which figure, cell or claim, which settings
        return f"{spec.name}: regenerates is too short to name a figure and its settings"
    return None


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_figure_names_what_it_regenerates(name):
    assert mapping_gap(SPECS[name]) is None


@pytest.mark.parametrize(
    "text, gap",
    [
        ("", "empty"),
        ("Fig. 3", "must start with"),
        ("[SGF]", "too short"),
    ],
)
def test_mapping_check_can_fail(text, gap):
    spec = R.FigureSpec("x", "t", "SGF", lambda ctx: None, regenerates=text)
    assert gap in mapping_gap(spec)


def test_docs_table_is_the_registry():
    page = figure_table.PAGE.read_text()
    assert figure_table.render_page(page, SPECS.values()) == page, (
        "docs/figures.md is stale: run python docs/_build/figure_table.py"
    )
    missing = [n for n in SPECS if f"`gflab figures --only {n}`" not in page]
    assert missing == []
    # the comparison can fail: a figure whose text changed makes another table
    changed = [
        R.FigureSpec(s.name, s.title, s.paper, s.func, regenerates="ours: x" * 5)
        for s in SPECS.values()
    ]
    assert figure_table.render_page(page, changed) != page


def test_list_json_carries_regenerates(capsys):
    assert main(["figures", "--list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["figures"]
    assert {r["name"]: r["regenerates"] for r in rows} == {
        n: s.regenerates for n, s in SPECS.items()
    }


def test_sidecar_records_regenerates(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    def tiny(ctx):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, 1], [0, 1], label="line")
        return fig, {}

    text = "ours: a two-point line drawn by the test of the sidecar's regenerates field"
    spec = R.FigureSpec("mapping_probe", "probe", "SGF", tiny, regenerates=text)
    monkeypatch.setitem(R._REGISTRY, "mapping_probe", spec)
    (summary,) = R.render(["mapping_probe"], tmp_path, store=None)
    assert json.loads(Path(summary["sidecar"]).read_text())["regenerates"] == text
