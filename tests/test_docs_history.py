"""User docs describe the software, not its development: no "session N" or "issue N" in the README
or the documentation site's pages (the history lives in git, CHANGELOG.md, benchmarks/HISTORY.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "notebooks").glob("*.py")]
)
HISTORY = re.compile(r"\b(?:sessions?|issues?)\s+#?\d+", re.IGNORECASE)


def history_mentions(text: str) -> list[str]:
    return [m.group(0) for m in HISTORY.finditer(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_user_page_has_no_development_history(page):
    assert history_mentions(page.read_text()) == []


def test_the_pattern_catches_what_the_pages_once_said():
    said = "Measured on a 2-core CPU (session 5, ...); Since issue 12 the figure; Sessions 6–7"
    assert history_mentions(said) == ["session 5", "issue 12", "Sessions 6"]
