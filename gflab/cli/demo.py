"""``gflab demo``: lecture demos, live (sliders, play/pause) or rendered headless to GIF/MP4."""

from __future__ import annotations

import argparse
import sys

from gflab.cli._common import print_json
from gflab.cli._progress import progress

EXAMPLES = """examples:
  gflab demo --list
  gflab demo depth                                  # live window: sliders for depth, alpha, m, n
  gflab demo depth --set depth=4 --set alpha=1e-4   # start the sliders elsewhere
  gflab demo staircase --save staircase.gif --frames 60
  gflab demo muon --set init=gaussian --save muon.gif
  gflab demo plasticity --save plasticity.mp4       # mp4 needs ffmpeg

Without a display (MPLBACKEND=Agg, or no DISPLAY on Linux) only --save works.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="lecture demos: live sliders, or a GIF/MP4 with --save",
        description="Lecture demos of DESIGN §2: an interactive matplotlib window with sliders and "
        "play/pause, or a headless render with --save FILE.gif|FILE.mp4.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="demo name (see --list)")
    p.add_argument("--list", action="store_true", help="list the demos and their parameters")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="start value of a parameter (repeatable; see --list)",
    )
    p.add_argument(
        "--save", metavar="FILE", help="render headless into FILE.gif (Pillow) or FILE.mp4 (ffmpeg)"
    )
    p.add_argument(
        "--frames", type=int, default=48, help="frames to render with --save (default 48)"
    )
    p.add_argument("--fps", type=int, default=12, help="frames per second with --save (default 12)")
    p.add_argument("--dpi", type=int, default=80, help="resolution with --save (default 80)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--json", action="store_true", help="print the render summary (timings) as JSON")
    p.set_defaults(func=run)


def _overrides(demo, items: list[str]) -> dict:
    from theory._validate import GflabInputError

    params = {q.name: q for q in demo.params}
    out = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or key not in params:
            raise GflabInputError(
                "--set", "PARAM=VALUE with PARAM one of " + ", ".join(params), item
            )
        out[key] = params[key].parse(text)
    return out


def _list() -> int:
    from figures.demos import DEMO_NAMES, get

    for name in DEMO_NAMES:
        d = get(name)
        print(f"{name:<12} {d.summary}")
        for q in d.params:
            extra = f"  ({q.help})" if q.help else ""
            setting = f"{q.name}={q.format(q.default)}"
            print(f"    {setting:<16} {q.label}: {q.describe_range()}{extra}")
    return 0


def run(args) -> int:
    from figures.demos import display_problem, get, open_window, render
    from theory._validate import GflabInputError

    if args.list:
        return _list()
    if not args.name:
        raise GflabInputError("NAME", "a demo name (gflab demo --list shows them)", None)
    demo = get(args.name)
    values = _overrides(demo, args.set)
    if args.save:
        rep = render(
            demo,
            args.save,
            values=values,
            frames=args.frames,
            fps=args.fps,
            dpi=args.dpi,
            progress=progress,
            quiet=args.quiet or args.json,
        )
        if args.json:
            print_json(rep.summary())
        elif not args.quiet:
            print(
                f"wrote {rep.path}: {rep.frames} frames, update {rep.compute_seconds:.2f} s, "
                f"{1000 * rep.mean_frame_seconds:.0f} ms/frame"
            )
        return 0
    problem = display_problem()
    if problem:
        print(
            f"gflab demo: error: cannot open an interactive window: {problem}; "
            f"render headless instead with --save FILE.gif "
            f"(e.g. gflab demo {args.name} --save {args.name}.gif)",
            file=sys.stderr,
        )
        return 2
    open_window(demo, values)
    return 0
