"""``gflab demo``: lecture demos, live (sliders, play/pause), rendered headless to GIF/MP4, or
written as one self-contained HTML page with a precomputed slider grid."""

from __future__ import annotations

import os
import sys

from gflab.cli._common import print_json
from gflab.cli._progress import progress

EXAMPLES = """examples:
  gflab demo --list
  gflab demo depth                                  # live window: sliders for depth, alpha, m, n
  gflab demo depth --set depth=4 --set alpha=1e-4   # start the sliders elsewhere
  gflab demo staircase --warm                       # before the lecture: compile every shape
  gflab demo staircase --present                    # 1920x1080, projector-sized text
  gflab demo staircase --save staircase.gif --frames 60   # 1920x1080 GIF
  gflab demo muon --set init=gaussian --save muon.gif --dpi 60
  gflab demo plasticity --save plasticity.mp4       # mp4 needs ffmpeg
  gflab demo depth --html depth.html                # one file, opens in any browser, no network

Without a display (MPLBACKEND=Agg, or no DISPLAY on Linux) --save, --html and --warm work.
"""


#: ``gflab demo``: its one-line help, description and examples (:func:`gflab.cli.build_parser`)
COMMAND = {
    "help": "lecture demos: live sliders, or a GIF/MP4 with --save",
    "description": "Lecture demos of docs/theory.md §2: an interactive matplotlib window with sliders and "
    "play/pause, or a headless render with --save FILE.gif|FILE.mp4.",
    "epilog": EXAMPLES,
}


def add_flags(p) -> None:
    """``gflab demo NAME``'s arguments: the live window's options, ``--save`` (GIF/MP4),
    ``--html`` and ``--warm``.

    Args:
        p: the ``gflab demo`` parser.
    """
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
        "--html",
        metavar="FILE",
        help="write one self-contained HTML page (Plotly inlined, no network) with sliders over "
        "a precomputed grid of parameter values and a time slider / play button; --set NAME=V "
        "pins a slider's parameter (a smaller, faster page)",
    )
    p.add_argument(
        "--warm",
        action="store_true",
        help="compute every shape the demo uses once, so the persistent JAX compilation cache "
        "has them and the window opens without compiling (run before a lecture)",
    )
    p.add_argument(
        "--present",
        action="store_true",
        help="presentation mode: a 1920x1080 (full-screen) window with projector-sized text",
    )
    p.add_argument(
        "--frames", type=int, default=48, help="frames to render with --save (default 48)"
    )
    p.add_argument(
        "--fps",
        type=int,
        default=None,
        help="frames per second: playback of the window (default 25) or of --save (default 12)",
    )
    p.add_argument(
        "--dpi",
        type=int,
        default=None,
        help="resolution with --save (default 120: 16x9 in at 120 dpi is 1920x1080 pixels)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--json", action="store_true", help="print the render summary (timings) as JSON")
    p.set_defaults(func=run)


def _overrides(demo, items: list[str]) -> dict:
    from gflab.theory.errors import GflabInputError

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
    from gflab.figures.demos import DEMO_NAMES, get

    for name in DEMO_NAMES:
        d = get(name)
        print(f"{name:<12} {d.summary}")
        for q in d.params:
            extra = f"  ({q.help})" if q.help else ""
            setting = f"{q.name}={q.format(q.default)}"
            print(f"    {setting:<16} {q.label}: {q.describe_range()}{extra}")
    return 0


class _Said(str):
    """A value printed as it is (no quotes) in the error line."""

    def __repr__(self) -> str:
        return str(self)


def run(args) -> int:
    """Open the demo's live window, or save it (GIF/MP4 with ``--save``, a web page with
    ``--html``), or only compile it (``--warm``); ``args`` is the parsed command line.

    Args:
        args: the demo's name and flags, parsed.

    Returns:
        0 when done (no display for a live window raises ``GflabInputError``: exit code 2).
    """
    # Equinox's runtime checks are host callbacks by default, and XLA refuses to put a program
    # with host callbacks in the persistent compilation cache: every solve would then compile
    # again in each new process. With "nan" a failed check poisons the state instead, which the
    # solvers already report as a status. Only where nothing has imported equinox yet.
    if "equinox" not in sys.modules:
        os.environ.setdefault("EQX_ON_ERROR", "nan")
    from gflab.figures.demos import check_playback, display_problem, get, open_window
    from gflab.theory.errors import GflabInputError

    if args.list:
        return _list()
    if not args.name:
        raise GflabInputError("NAME", "a demo name (gflab demo --list shows them)", None)
    demo = get(args.name)
    values = _overrides(demo, args.set)
    quiet = args.quiet or args.json
    check_playback(frames=args.frames, fps=args.fps, dpi=args.dpi)
    if sum(bool(x) for x in (args.save, args.html, args.warm)) > 1:
        raise GflabInputError("--save/--html/--warm", "one of them per call", "several")
    from gflab.cli._common import check_output_file

    if args.save:  # a frame of 16x9 in at the dpi, compressed to about a byte a pixel or less
        px = (16 * (args.dpi or 120)) * (9 * (args.dpi or 120))
        check_output_file("save", args.save, args.frames * px)
    if args.html:  # the page embeds every precomputed parameter set: tens of MiB at most
        check_output_file("html", args.html, 64 * 2**20)
    if args.warm:
        return _warm(demo, args, quiet)
    if args.html:
        return _write_html(demo, args, values, quiet)
    if args.save:
        return _save(demo, args, values, quiet)
    problem = display_problem()
    if problem:
        raise GflabInputError(
            "display",
            f"an interactive window (or render headless with --save FILE.gif or --html FILE.html,"
            f" e.g. gflab demo {args.name} --save {args.name}.gif)",
            _Said(f"none: {problem}"),
        )
    open_window(demo, values, present=args.present, fps=args.fps or 25)
    return 0


def _warm(demo, args, quiet: bool) -> int:
    """``--warm``: compute every compiled shape once, so that the cache holds them."""
    from gflab.figures.demos import warm
    from gflab.sims._jaxsetup import CACHE_DIR

    done = warm(demo, progress=progress, quiet=quiet)
    total = sum(d["seconds"] for d in done)
    if args.json:
        print_json({"demo": demo.name, "cache": CACHE_DIR, "computed": done})
    elif not args.quiet:
        where = CACHE_DIR or "nowhere (GFLAB_JAX_CACHE=off: warming helps this process only)"
        print(f"warmed {demo.name}: {len(done)} parameter sets in {total:.1f} s; cache {where}")
    return 0


def _write_html(demo, args, values: dict, quiet: bool) -> int:
    """``--html FILE``: the precomputed web page."""
    from gflab.figures.demos.web import write_html

    rep = write_html(demo, args.html, values=values, progress=progress, quiet=quiet)
    if args.json:
        print_json(rep)
    elif not args.quiet:
        print(
            f"wrote {rep['path']}: {rep['grid_points']} precomputed parameter sets, "
            f"{rep['bytes'] / 2**20:.1f} MiB, computed in {rep['compute_seconds']:.1f} s"
        )
    return 0


def _save(demo, args, values: dict, quiet: bool) -> int:
    """``--save FILE``: a headless GIF or MP4."""
    from gflab.figures.demos import render

    kw = {} if args.dpi is None else {"dpi": args.dpi}
    rep = render(
        demo,
        args.save,
        values=values,
        frames=args.frames,
        fps=args.fps or 12,
        progress=progress,
        quiet=quiet,
        **kw,
    )
    if args.json:
        print_json(rep.summary())
    elif not args.quiet:
        w, h = rep.size_px
        print(
            f"wrote {rep.path}: {rep.frames} frames at {w}x{h}, update "
            f"{rep.compute_seconds:.2f} s, {1000 * rep.mean_frame_seconds:.0f} ms/frame"
        )
    return 0
