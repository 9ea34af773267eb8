"""Write the table of docs/figures.md from the figure registry (``regenerates`` of each figure).

Usage: python docs/_build/figure_table.py [--check]

The table sits between the two marker lines of docs/figures.md; ``--check`` exits 1 (and says
which rows differ) when the page is not what the registry gives, without writing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "figures.md"
BEGIN = "<!-- figure-table: begin (docs/_build/figure_table.py writes it) -->"
END = "<!-- figure-table: end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(specs) -> str:
    """The Markdown table: source (paper figure, authors' script or ours) → command, per figure.

    Args:
        specs: registered figures (:class:`gflab.figures.registry.FigureSpec`), in registry order.

    Returns:
        The table's Markdown, one row per figure.
    """
    rows = [
        "| regenerates | command |",
        "|---|---|",
    ]
    for s in specs:
        rows.append(f"| {_cell(s.regenerates)} | `gflab figures --only {s.name}` |")
    return "\n".join(rows)


def render_page(page: str, specs) -> str:
    """``page`` with the text between the markers replaced by :func:`table`."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table(specs)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from gflab.figures.registry import registry

    argv = sys.argv[1:] if argv is None else argv
    page = PAGE.read_text()
    new = render_page(page, registry().values())
    if "--check" in argv:
        if new != page:
            print(
                "docs/figures.md: the table differs from the registry; run "
                "python docs/_build/figure_table.py",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
