"""Shrink the PNGs of a `gflab figures` output folder into the gallery's thumbnails.

Usage: python docs/_build/thumbnails.py SRC_DIR DEST_DIR [--width PX]

Each SRC_DIR/NAME.png becomes DEST_DIR/NAME.png, WIDTH pixels wide (aspect kept), as an
optimised palette PNG so the committed gallery stays small (tens of kB per figure).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image


def make_thumbnail(src: Path, dest: Path, width: int) -> tuple[int, int]:
    """Write a ``width``-pixel-wide palette PNG of ``src`` to ``dest``.

    Args:
        src: a PNG file.
        dest: the thumbnail's path (its folder must exist).
        width: target width in pixels; images narrower than this are kept at their size.

    Returns:
        The thumbnail's (width, height) in pixels.
    """
    with Image.open(src) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
        return im.size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args(argv)
    pngs = sorted(args.src.glob("*.png"))
    if not pngs:
        print(f"thumbnails: no PNG files in {args.src}", file=sys.stderr)
        return 2
    args.dest.mkdir(parents=True, exist_ok=True)
    for png in pngs:
        w, h = make_thumbnail(png, args.dest / png.name, args.width)
        kb = (args.dest / png.name).stat().st_size / 1024
        print(f"{png.name}: {w}x{h}, {kb:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
