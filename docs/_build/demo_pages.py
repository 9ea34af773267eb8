"""Turn the pages of `gflab demo NAME --html` into the site's embedded demos (docs/demos/NAME.html).

Usage: python docs/_build/demo_pages.py SRC_DIR DEST_DIR

Each SRC_DIR/NAME.html (a self-contained page, plotly.js inlined: ~5 MB) becomes DEST_DIR/NAME.html
with the inlined plotly.js replaced by ``<script src="plotly.min.js">``, the inlined player script
(the controls and the drawing) by ``<script src="player.js">`` and the style sheet by
``<link rel="stylesheet" href="player.css">``: the committed pages keep only their title, caption
and precomputed curves (0.2-3.9 MB each, 5 MB in all), and the docs build writes one shared
``demos/plotly.min.js`` (from the installed plotly package), ``demos/player.js`` and
``demos/player.css`` (``gflab.figures.demos.web.PLAYER_JS`` and ``PAGE_CSS``) into the site
(docs/_build/hooks.py). Nothing is loaded from the network either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PLOTLY_TAG = '<script src="plotly.min.js"></script>'
PLAYER_TAG = '<script src="player.js"></script>'
CSS_TAG = '<link rel="stylesheet" href="player.css">'


def plotly_js() -> str:
    """The plotly.js bundle that `gflab demo --html` inlines (the installed plotly package's)."""
    import plotly.offline

    return plotly.offline.get_plotlyjs()


def share_plotly(page: str, js: str) -> str:
    """``page`` with its one inlined copy of ``js`` replaced by :data:`PLOTLY_TAG`.

    Args:
        page: the text of a page written by ``gflab demo NAME --html``.
        js: the plotly.js bundle inlined in it.

    Returns:
        The page, loading plotly.js from ``plotly.min.js`` beside it.

    Raises:
        ValueError: the page does not inline exactly this plotly.js once (another plotly version
            or a page not made by ``gflab demo --html``).
    """
    inlined = f"<script>{js}</script>"
    if page.count(inlined) != 1:
        raise ValueError("the page does not inline the installed plotly.js exactly once")
    return page.replace(inlined, PLOTLY_TAG)


def share_player(page: str, js: str, css: str) -> str:
    """``page`` with its inlined player script ``js`` and style sheet ``css`` replaced by
    :data:`PLAYER_TAG` and :data:`CSS_TAG`.

    Args:
        page: the text of a page written by ``gflab demo NAME --html``.
        js: the player script inlined in it (``gflab.figures.demos.web.PLAYER_JS``).
        css: the style sheet inlined in it (``gflab.figures.demos.web.PAGE_CSS``).

    Returns:
        The page, loading its script from ``player.js`` and its style from ``player.css`` beside
        it.

    Raises:
        ValueError: the page does not inline exactly this script and this style sheet once each
            (a page made by another version of gflab, or not by ``gflab demo --html``).
    """
    script, style = f"<script>\n{js}</script>", f"<style>\n{css}</style>"
    if page.count(script) != 1 or page.count(style) != 1:
        raise ValueError(
            "the page does not inline this gflab's player script and style sheet exactly once"
        )
    return page.replace(script, PLAYER_TAG).replace(style, CSS_TAG)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="folder of `gflab demo NAME --html` pages")
    ap.add_argument("dest", type=Path, help="the docs' demos folder (docs/demos)")
    args = ap.parse_args(argv)
    pages = sorted(args.src.glob("*.html"))
    if not pages:
        print(f"no .html pages in {args.src}", file=sys.stderr)
        return 2
    from gflab.figures.demos.web import PAGE_CSS, PLAYER_JS

    js = plotly_js()
    args.dest.mkdir(parents=True, exist_ok=True)
    for src in pages:
        dest = args.dest / src.name
        page = share_plotly(src.read_text(encoding="utf-8"), js)
        dest.write_text(share_player(page, PLAYER_JS, PAGE_CSS), encoding="utf-8")
        print(f"{dest}: {dest.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
