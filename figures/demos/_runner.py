"""Running a demo: headless GIF/MP4 rendering, and the interactive window (sliders, play/pause).

Both drive the same :class:`~figures.demos._base.Demo` methods: ``compute`` once per parameter
set, ``show`` its static curves, then ``frame(data, u)`` per time-cursor position.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from figures import style
from figures.demos._base import Demo
from theory._validate import GflabInputError

__all__ = [
    "RenderReport",
    "render",
    "Controller",
    "display_problem",
    "open_window",
    "INTERACTIVE_BACKENDS",
]

NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
INTERACTIVE_BACKENDS = ("macosx", "qtagg", "gtk4agg", "gtk3agg", "tkagg", "wxagg")

Progress = Callable[..., Iterable]


def _no_progress(iterable, total=None, desc="", quiet=False):
    return iterable


@dataclass
class RenderReport:
    """What a headless render did, with its timings (reported, never asserted)."""

    path: str
    frames: int
    compute_seconds: float
    frame_seconds: list[float] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    data: Any = None

    @property
    def mean_frame_seconds(self) -> float:
        return sum(self.frame_seconds) / max(len(self.frame_seconds), 1)

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "frames": self.frames,
            "compute_seconds": round(self.compute_seconds, 4),
            "mean_frame_seconds": round(self.mean_frame_seconds, 4),
            "max_frame_seconds": round(max(self.frame_seconds, default=0.0), 4),
            "values": self.values,
        }


def ffmpeg_available() -> bool:
    from matplotlib.animation import FFMpegWriter

    return bool(FFMpegWriter.isAvailable()) and shutil.which("ffmpeg") is not None


def _writer(path: Path, fps: int):
    from matplotlib.animation import FFMpegWriter, PillowWriter

    suffix = path.suffix.lower()
    if suffix == ".gif":
        return PillowWriter(fps=fps)
    if suffix == ".mp4":
        if not ffmpeg_available():
            raise GflabInputError(
                "--save",
                "a .gif file: ffmpeg is not installed, so an .mp4 cannot be written "
                "(install ffmpeg or use --save FILE.gif)",
                str(path),
            )
        return FFMpegWriter(fps=fps)
    raise GflabInputError("--save", "a file name ending in .gif or .mp4", str(path))


def render(
    demo: Demo,
    path: str | os.PathLike,
    *,
    values: dict[str, Any] | None = None,
    frames: int = 48,
    fps: int = 12,
    dpi: int = 80,
    progress: Progress | None = None,
    quiet: bool = False,
) -> RenderReport:
    """Render ``demo`` headless (Agg) into a GIF (Pillow) or an MP4 (ffmpeg), ``frames`` frames.

    ``progress`` is a ``progress(iterable, total, desc, quiet)`` wrapper (the command line passes
    :func:`gflab.cli._progress.progress`); by default nothing is drawn.
    """
    from matplotlib.figure import Figure

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise GflabInputError("--frames", "an integer >= 1", frames)
    path = Path(path)
    writer = _writer(path, fps)
    vals = demo.resolve(values)
    style.apply()
    fig = Figure(figsize=demo.figsize, dpi=dpi)
    demo.setup(fig, (0.07, 0.13, 0.9, 0.74))
    fig.text(0.01, 0.015, demo.caption(vals), fontsize=7.5, color="0.3", ha="left", va="bottom")
    t0 = time.perf_counter()
    data = demo.compute(**vals)
    compute_s = time.perf_counter() - t0
    demo.show(data)
    report = RenderReport(str(path), frames, compute_s, values=vals, data=data)
    wrap = progress or _no_progress
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer.saving(fig, str(path), dpi):
        for k in wrap(range(frames), total=frames, desc=f"demo {demo.name}", quiet=quiet):
            t1 = time.perf_counter()
            demo.frame(data, k / max(frames - 1, 1))
            writer.grab_frame()
            report.frame_seconds.append(time.perf_counter() - t1)
    return report


# ----------------------------------------------------------------------------- interactive


def _startup_env(name: str) -> str | None:
    """``name`` as the user's shell set it: the ``gflab`` entry point may have defaulted
    MPLBACKEND to Agg in ``os.environ`` since, so read the process's initial environment where
    the OS exposes it (Linux), else ``os.environ``."""
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return os.environ.get(name)
    key = name.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(key):
            return item[len(key) :].decode(errors="replace")
    return None


def display_problem(backend: str | None = None) -> str | None:
    """Why no interactive window can open here, or None. ``backend`` defaults to the user's
    MPLBACKEND (see :func:`_startup_env`)."""
    user = _startup_env("MPLBACKEND") if backend is None else backend
    if user and user.lower().removeprefix("module://") in NON_INTERACTIVE:
        return f"MPLBACKEND={user} is not an interactive backend"
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


class Controller:
    """An interactive demo window: one slider per parameter (radio buttons for choices), a time
    slider, and a play/pause button. Moving a parameter recomputes after a short pause (debounced:
    dragging does not queue one computation per pixel); the animation only moves the time cursor.
    Works on any canvas, so tests drive it under Agg through :meth:`set`, :meth:`recompute`,
    :meth:`toggle` and :meth:`tick`.
    """

    LOOP_FRAMES = 150  # frames per pass of the cursor over the run

    def __init__(self, demo: Demo, fig, values: dict[str, Any] | None = None):
        from matplotlib.widgets import Button, RadioButtons, Slider

        self.demo = demo
        self.fig = fig
        self.values = demo.resolve(values)
        self.playing = True
        self.u = 0.0
        self.compute_seconds: list[float] = []
        self.frame_seconds: list[float] = []
        self._moving_cursor = False

        numeric = [p for p in demo.params if p.choices is None]
        choice = [p for p in demo.params if p.choices is not None]
        row = 0.042
        bottom = 0.03 + row * (len(numeric) + 1)
        demo.setup(fig, (0.07, bottom + 0.09, 0.9, 0.86 - bottom - 0.09))
        fig.suptitle(demo.title, fontsize=11)
        self.status = fig.text(0.99, 0.995, "", fontsize=7.5, color="0.35", ha="right", va="top")

        self.sliders: dict[str, Slider] = {}
        slider_w = 0.5 if choice else 0.72
        for i, p in enumerate(numeric):
            ax = fig.add_axes((0.2, 0.03 + row * (len(numeric) - i), slider_w, row * 0.6))
            label = p.label + (" (log₁₀)" if p.scale == "log" else "")
            s = Slider(
                ax,
                label,
                p.to_slider(p.lo),
                p.to_slider(p.hi),
                valinit=p.to_slider(self.values[p.name]),
                valstep=1 if p.scale == "int" else None,
            )
            s.valtext.set_text(p.format(self.values[p.name]))
            s.on_changed(self._param_changed(p))
            self.sliders[p.name] = s
        ax = fig.add_axes((0.2, 0.03, slider_w, row * 0.6))
        self.time_slider = Slider(ax, "time cursor", 0.0, 1.0, valinit=0.0)
        self.time_slider.on_changed(self._cursor_changed)

        self.radios: dict[str, RadioButtons] = {}
        for j, p in enumerate(choice):
            h = 0.028 * (len(p.choices) + 1)
            ax = fig.add_axes((0.76, 0.03 + j * (h + 0.01), 0.2, h))
            ax.set_title(p.label, fontsize=8, loc="left")
            r = RadioButtons(ax, list(p.choices), active=list(p.choices).index(self.values[p.name]))
            r.on_clicked(self._choice_changed(p))
            self.radios[p.name] = r

        bax = fig.add_axes((0.02, 0.03, 0.08, row * 0.9))
        self.button = Button(bax, "pause")
        self.button.on_clicked(lambda _event: self.toggle())

        self._timer = fig.canvas.new_timer(interval=250)
        self._timer.single_shot = True
        self._timer.add_callback(self.recompute)
        self.data = None
        self.recompute()
        self.animation = None

    # -- parameter changes
    def _param_changed(self, p):
        def cb(sval):
            v = p.from_slider(sval)
            self.sliders[p.name].valtext.set_text(p.format(v))
            self.values[p.name] = v
            self._schedule()

        return cb

    def _choice_changed(self, p):
        def cb(label):
            self.values[p.name] = label
            self._schedule()

        return cb

    def _schedule(self):
        self.status.set_text("computing…")
        self._timer.stop()
        self._timer.start()

    def set(self, name: str, value: Any) -> None:
        """Set a parameter as if its control moved (the recomputation is scheduled, not run)."""
        p = {q.name: q for q in self.demo.params}[name]
        value = p.check(value)
        if p.choices is not None:
            self.radios[name].set_active(list(p.choices).index(value))
        else:
            self.sliders[name].set_val(p.to_slider(value))

    def recompute(self) -> None:
        t0 = time.perf_counter()
        self.data = self.demo.compute(**self.values)
        dt = time.perf_counter() - t0
        self.compute_seconds.append(dt)
        self.demo.show(self.data)
        self._draw_cursor()
        self.status.set_text(f"update {dt:.2f} s")
        self.fig.canvas.draw_idle()

    # -- time cursor
    def _cursor_changed(self, u):
        self.u = float(u)
        if not self._moving_cursor:  # the user grabbed the cursor: hold it there
            self.playing = False
            self.button.label.set_text("play")
        self._draw_cursor()

    def _draw_cursor(self):
        if self.data is None:
            return []
        t0 = time.perf_counter()
        artists = self.demo.frame(self.data, self.u)
        self.frame_seconds.append(time.perf_counter() - t0)
        self.fig.canvas.draw_idle()
        return artists

    def toggle(self) -> None:
        self.playing = not self.playing
        self.button.label.set_text("pause" if self.playing else "play")
        self.fig.canvas.draw_idle()

    def tick(self, _frame=None):
        """One animation step: advance the cursor while playing (wraps around)."""
        if self.playing and self.data is not None:
            u = self.u + 1.0 / self.LOOP_FRAMES
            self._moving_cursor = True
            try:
                self.time_slider.set_val(0.0 if u > 1.0 else u)
            finally:
                self._moving_cursor = False
        return []

    def start(self):
        from matplotlib.animation import FuncAnimation

        self.animation = FuncAnimation(self.fig, self.tick, interval=40, cache_frame_data=False)
        return self.animation


def open_window(demo: Demo, values: dict[str, Any] | None = None) -> Controller:
    """Open the interactive window (blocks until it is closed). Call :func:`display_problem`
    first: this switches matplotlib to an interactive backend."""
    import matplotlib.pyplot as plt

    user = _startup_env("MPLBACKEND")
    candidates = (user,) if user else INTERACTIVE_BACKENDS
    for name in candidates:
        try:
            plt.switch_backend(name)
            break
        except (ImportError, RuntimeError, ValueError):
            continue
    else:
        raise GflabInputError(
            "display",
            "an interactive matplotlib backend ("
            + ", ".join(candidates)
            + "); none could start here: install tkinter or PyQt, or render with --save FILE.gif",
            None,
        )
    style.apply()
    fig = plt.figure(figsize=(demo.figsize[0], demo.figsize[1] + 2.2))
    ctl = Controller(demo, fig, values)
    ctl.start()
    plt.show()
    return ctl
