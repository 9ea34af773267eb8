"""Running a demo: headless GIF/MP4 rendering, ahead-of-time warming, and the interactive window.

All of them drive the same :class:`~figures.demos._base.Demo` methods: ``compute`` once per
parameter set, ``show`` its static curves, then ``frame(data, u)`` per time-cursor position.

The window never computes on the GUI thread: ``compute`` runs in a worker thread while the window
shows a "computing…" banner, and playback redraws only the artists ``frame`` returns (blitting)
at the nominal frame rate. :func:`warm` computes every shape a demo uses once, so JAX's persistent
compilation cache holds them before a lecture.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gflab.figures import style
from gflab.figures.demos._base import Demo
from gflab.theory.errors import GflabInputError

__all__ = [
    "RenderReport",
    "render",
    "warm",
    "Controller",
    "display_problem",
    "open_window",
    "check_playback",
    "demo_style",
    "INTERACTIVE_BACKENDS",
    "SAVE_FIGSIZE",
    "SAVE_DPI",
    "PRESENT_FIGSIZE",
    "PRESENT_DPI",
]

NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
INTERACTIVE_BACKENDS = ("macosx", "qtagg", "gtk4agg", "gtk3agg", "tkagg", "wxagg")

# Projector resolution, 1920×1080: GIFs by default (16 × 9 in at 120 dpi) and --present windows
# (19.2 × 10.8 in at 100 dpi).
SAVE_FIGSIZE, SAVE_DPI = (16.0, 9.0), 120
PRESENT_FIGSIZE, PRESENT_DPI = (19.2, 10.8), 100
MAX_FRAMES, MAX_FPS, MIN_DPI, MAX_DPI = 100_000, 120, 10, 1200
TRACE_ENV = "GFLAB_DEMO_TRACE"  # a file: the window appends timing events there (JSON lines)

Progress = Callable[..., Iterable]


def _no_progress(iterable, total=None, desc="", quiet=False):
    return iterable


def _int_in(parameter: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise GflabInputError(parameter, f"an integer in [{lo}, {hi}]", value)
    return value


def check_playback(
    *, frames: int | None = None, fps: int | None = None, dpi: int | None = None
) -> None:
    """Refuse frame counts, frame rates and resolutions that make no sense, before any work.

    Args:
      frames: frames to render (1 … 100 000), or None to skip the check.
      fps: frames per second (1 … 120), or None.
      dpi: dots per inch (10 … 1200), or None.
    """
    if frames is not None:
        _int_in("--frames", frames, 1, MAX_FRAMES)
    if fps is not None:
        _int_in("--fps", fps, 1, MAX_FPS)
    if dpi is not None:
        _int_in("--dpi", dpi, MIN_DPI, MAX_DPI)


def demo_style(figsize: tuple[float, float]) -> dict[str, Any]:
    """rcParams for a demo figure ``figsize`` inches wide: text scales with the width
    (0.9 pt per inch: 10 pt on the 11 in window, 17 pt on a 19.2 in projector frame, i.e. about
    24 px at 1920 px), and every size inside the demos is relative to it."""
    base = round(0.9 * float(figsize[0]), 1)
    return {
        "font.size": base,
        "axes.titlesize": "medium",
        "axes.labelsize": "medium",
        "legend.fontsize": "small",
        "xtick.labelsize": "small",
        "ytick.labelsize": "small",
        "figure.titlesize": "large",
        "lines.linewidth": 1.8 * max(1.0, figsize[0] / 11.0),
        "lines.markersize": 6.0 * max(1.0, figsize[0] / 11.0),
    }


@contextmanager
def _styled(figsize):
    import matplotlib as mpl

    style.apply()
    with mpl.rc_context(demo_style(figsize)):
        yield


@dataclass
class RenderReport:
    """What a headless render did, with its timings (reported, never asserted)."""

    path: str
    frames: int
    compute_seconds: float
    frame_seconds: list[float] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    size_px: tuple[int, int] = (0, 0)

    @property
    def mean_frame_seconds(self) -> float:
        return sum(self.frame_seconds) / max(len(self.frame_seconds), 1)

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "frames": self.frames,
            "size_px": list(self.size_px),
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
    dpi: int = SAVE_DPI,
    figsize: tuple[float, float] = SAVE_FIGSIZE,
    progress: Progress | None = None,
    quiet: bool = False,
) -> RenderReport:
    """Render ``demo`` headless (Agg) into a GIF (Pillow) or an MP4 (ffmpeg).

    Args:
      demo: the demo.
      path: ``*.gif`` or ``*.mp4``.
      values: parameter values (defaults for the rest).
      frames: frames, the time cursor moving from the start to the end of the run.
      fps: playback frames per second.
      dpi: resolution; the default with ``figsize`` gives 1920×1080 pixels (a projector).
      figsize: inches (width, height).
      progress: a ``progress(iterable, total, desc, quiet)`` wrapper (the command line passes
        :func:`gflab.cli._progress.progress`); by default nothing is drawn.
      quiet: passed to ``progress``.

    Returns:
      A :class:`RenderReport` (timings, values, the ``compute`` result, the pixel size).
    """
    from matplotlib.figure import Figure

    from gflab.sims.limits import require_fits

    check_playback(frames=frames, fps=fps, dpi=dpi)
    path = Path(path)
    writer = _writer(path, fps)
    width, height = round(figsize[0] * dpi), round(figsize[1] * dpi)
    # Pillow keeps every RGBA frame in memory until the file is written; ffmpeg streams them
    kept = frames if path.suffix.lower() == ".gif" else 2
    require_fits("--frames" if kept > 2 else "--dpi", 4.0 * width * height * (kept + 1), frames)
    vals = demo.resolve(values)
    with _styled(figsize):
        fig = Figure(figsize=figsize, dpi=dpi)
        demo.setup(fig, (0.07, 0.14, 0.9, 0.72))
        fig.suptitle(demo.title)
        fig.text(0.01, 0.012, demo.caption(vals), fontsize="small", color="0.3", va="bottom")
        t0 = time.perf_counter()
        data = demo.compute(**vals)
        compute_s = time.perf_counter() - t0
        demo.show(data)
        report = RenderReport(
            str(path), frames, compute_s, values=vals, data=data, size_px=(width, height)
        )
        wrap = progress or _no_progress
        path.parent.mkdir(parents=True, exist_ok=True)
        with writer.saving(fig, str(path), dpi):
            for k in wrap(range(frames), total=frames, desc=f"demo {demo.name}", quiet=quiet):
                t1 = time.perf_counter()
                demo.frame(data, k / max(frames - 1, 1))
                writer.grab_frame()
                report.frame_seconds.append(time.perf_counter() - t1)
    return report


def warm(demo: Demo, progress: Progress | None = None, quiet: bool = False) -> list[dict]:
    """Compute every shape ``demo`` uses once (:meth:`Demo.warm_values`), so that JAX's
    persistent compilation cache holds the compiled solves before the window opens.

    Returns:
      One ``{"values": ..., "seconds": ...}`` per computed parameter set.
    """
    out = []
    todo = demo.warm_values()
    wrap = progress or _no_progress
    for values in wrap(todo, total=len(todo), desc=f"warm {demo.name}", quiet=quiet):
        t0 = time.perf_counter()
        demo.compute(**demo.resolve(values))
        out.append({"values": values, "seconds": round(time.perf_counter() - t0, 3)})
    return out


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


class _Blitter:
    """Redraw only the animated artists: the background (everything else) is captured after each
    full draw and restored before the animated artists are drawn on top."""

    def __init__(self, canvas):
        self.canvas = canvas
        self.background = None
        self.artists: list = []
        self.cid = canvas.mpl_connect("draw_event", self._on_draw)

    def set_artists(self, artists) -> None:
        for a in self.artists:
            a.set_animated(False)
        self.artists = list(dict.fromkeys(artists))
        for a in self.artists:
            a.set_animated(True)

    def _on_draw(self, _event) -> None:
        self.background = self.canvas.copy_from_bbox(self.canvas.figure.bbox)
        self._draw_animated()

    def _draw_animated(self) -> None:
        fig = self.canvas.figure
        for a in self.artists:
            if a.figure is not None and a.get_visible():
                fig.draw_artist(a)

    def update(self) -> bool:
        """Blit the animated artists; False (and a full draw is queued) without a background."""
        if self.canvas.figure.canvas is not self.canvas:  # the window was closed
            return False
        if self.background is None:
            self.canvas.draw_idle()
            return False
        self.canvas.restore_region(self.background)
        self._draw_animated()
        self.canvas.blit(self.canvas.figure.bbox)
        return True


class Controller:
    """An interactive demo window: one slider per parameter (radio buttons for choices), a time
    slider, and a play/pause button.

    Moving a parameter schedules a computation (debounced: dragging does not queue one per pixel)
    that runs in a worker thread while a "computing…" banner shows; a newer request supersedes an
    older one. Playback moves only the time cursor and blits what ``frame`` returns, at ``fps``.
    Works on any canvas: tests drive it under Agg through :meth:`set`, :meth:`request`,
    :meth:`wait`, :meth:`recompute`, :meth:`toggle` and :meth:`tick`.
    """

    LOOP_SECONDS = 6.0  # one pass of the cursor over the run

    def __init__(
        self,
        demo: Demo,
        fig,
        values: dict[str, Any] | None = None,
        *,
        fps: int = 25,
        compute_now: bool = True,
    ):
        check_playback(fps=fps)
        self.demo = demo
        self.fig = fig
        self.fps = fps
        self.loop_frames = max(2, round(self.LOOP_SECONDS * fps))
        self.values = demo.resolve(values)
        self.playing = True
        self.u = 0.0
        self.compute_seconds: list[float] = []
        self.frame_seconds: list[float] = []
        self.tick_times: list[float] = []
        self._moving_cursor = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gflab-demo")
        self._future: Future | None = None
        self._pending: dict[str, Any] | None = None
        self._started = 0.0
        self._trace_path = os.environ.get(TRACE_ENV)
        self._drawn_once = False
        self._first_frame = False

        numeric = [p for p in demo.params if p.choices is None]
        choice = [p for p in demo.params if p.choices is not None]
        row = 0.042
        bottom = 0.03 + row * (len(numeric) + 1)
        demo.setup(fig, (0.07, bottom + 0.09, 0.9, 0.84 - bottom - 0.09))
        fig.suptitle(demo.title)
        self.status = fig.text(
            0.99, 0.995, "", fontsize="small", color="0.35", ha="right", va="top"
        )
        self.banner = fig.text(
            0.5,
            0.55,
            "",
            fontsize="xx-large",
            ha="center",
            va="center",
            color="0.15",
            bbox=dict(boxstyle="round,pad=0.6", fc="white", ec="0.6", alpha=0.9),
            zorder=10,
            visible=False,
        )

        self._add_controls(fig, numeric, choice, row)
        self._connect(fig)
        self._play = None
        self.data = None
        if compute_now:
            self.recompute()

    def _add_controls(self, fig, numeric: list, choice: list, row: float) -> None:
        """A slider per numeric parameter, the time slider, radio buttons per choice parameter and
        the play/pause button, below the demo's axes."""
        from matplotlib.widgets import Button, RadioButtons, Slider

        self.sliders: dict[str, Slider] = {}
        slider_w = 0.5 if choice else 0.68
        for i, p in enumerate(numeric):
            ax = fig.add_axes((0.24, 0.03 + row * (len(numeric) - i), slider_w, row * 0.6))
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
        ax = fig.add_axes((0.24, 0.03, slider_w, row * 0.6))
        self.time_slider = Slider(ax, "time cursor", 0.0, 1.0, valinit=0.0)
        self.time_slider.drawon = False  # moved every frame: blitted, never a full redraw
        self.time_slider.on_changed(self._cursor_changed)

        self.radios: dict[str, RadioButtons] = {}
        for j, p in enumerate(choice):
            h = 0.032 * (len(p.choices) + 1)
            ax = fig.add_axes((0.78, 0.03 + j * (h + 0.01), 0.18, h))
            ax.set_title(p.label, fontsize="small", loc="left")
            r = RadioButtons(ax, list(p.choices), active=list(p.choices).index(self.values[p.name]))
            r.on_clicked(self._choice_changed(p))
            self.radios[p.name] = r

        bax = fig.add_axes((0.02, 0.03, 0.09, row * 0.9))
        self.button = Button(bax, "pause")
        self.button.on_clicked(lambda _event: self.toggle())

    def _connect(self, fig) -> None:
        """Blitting, the first-draw and close events, the debounce and poll timers."""
        self.blitter = _Blitter(fig.canvas)
        fig.canvas.mpl_connect("draw_event", self._on_first_draw)
        fig.canvas.mpl_connect("close_event", lambda _event: self.close())
        self._debounce = fig.canvas.new_timer(interval=250)
        self._debounce.single_shot = True
        self._debounce.add_callback(self.request)
        self._poll = fig.canvas.new_timer(interval=100)
        # a timer callback that returns False or 0 is removed by matplotlib: discard the result
        self._poll.add_callback(lambda: [self.poll()] and None)

    # -- tracing (GFLAB_DEMO_TRACE=FILE): how long until the window, the first frame, the fps
    def _trace(self, event: str, **kw) -> None:
        if not self._trace_path:
            return
        with open(self._trace_path, "a") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **kw}) + "\n")

    def _on_first_draw(self, _event) -> None:
        if not self._drawn_once:
            self._drawn_once = True
            self._trace("window_drawn")

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
        self._set_computing(True, "computing…")
        self._debounce.stop()
        self._debounce.start()

    def _set_computing(self, on: bool, text: str = "") -> None:
        self.banner.set_visible(on)
        self.banner.set_text(text)
        self.status.set_text(text if on else self.status.get_text())
        self.fig.canvas.draw_idle()

    def set(self, name: str, value: Any) -> None:
        """Set a parameter as if its control moved (the computation is scheduled, not run)."""
        p = {q.name: q for q in self.demo.params}[name]
        value = p.check(value)
        if p.choices is not None:
            self.radios[name].set_active(list(p.choices).index(value))
        else:
            self.sliders[name].set_val(p.to_slider(value))

    @property
    def computing(self) -> bool:
        return self._future is not None

    def request(self) -> None:
        """Start computing the current values in the worker thread (or queue them behind the
        computation in flight, superseding any queued earlier request)."""
        values = dict(self.values)
        if self._future is not None:
            self._pending = values
            return
        self._started = time.perf_counter()
        self._future = self._executor.submit(self._timed_compute, values)
        first = self.data is None
        self._set_computing(True, "computing… (first run compiles)" if first else "computing…")
        self._poll.start()

    def _timed_compute(self, values):
        t0 = time.perf_counter()
        data = self.demo.compute(**values)
        return data, time.perf_counter() - t0, values

    def poll(self) -> bool:
        """Apply a finished computation (the GUI timer calls this); True when one was applied."""
        fut = self._future
        if fut is None:
            self._poll.stop()
            return False
        if not fut.done():
            self.banner.set_text(f"computing…  {time.perf_counter() - self._started:.1f} s")
            self.fig.canvas.draw_idle()
            return False
        self._future = None
        try:
            data, dt, values = fut.result()
        except Exception as e:  # a bad combination of values: say so in the window, keep going
            self._set_computing(True, f"could not compute: {e}")
            self._poll.stop()
            return False
        if self._pending is not None and self._pending != values:
            pending, self._pending = self._pending, None
            self.values.update(pending)
            self.request()
            return False
        self._pending = None
        self._poll.stop()
        self._apply(data, dt)
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Block until the computation in flight (and any queued one) is applied."""
        while self._future is not None:
            self._future.result(timeout)
            self.poll()

    def recompute(self) -> None:
        """Compute the current values and show them, synchronously (waits for the worker)."""
        if self._future is None:
            self.request()
        self.wait()

    def _apply(self, data, dt) -> None:
        self.data = data
        self.compute_seconds.append(dt)
        self.demo.show(data)
        artists = self.demo.frame(data, self.u)
        slider = self.time_slider
        self.blitter.set_artists([*artists, slider.poly, slider._handle, slider.valtext])
        self.banner.set_visible(False)
        self.status.set_text(f"update {dt:.2f} s")
        self._trace("computed", seconds=dt)
        # a full draw now (not draw_idle): it captures the new background before the next blit
        self.blitter.background = None
        self.fig.canvas.draw()

    # -- time cursor
    def _cursor_changed(self, u):
        self.u = float(u)
        if not self._moving_cursor:  # the user grabbed the cursor: hold it there
            self.playing = False
            self.button.label.set_text("play")
            self.fig.canvas.draw_idle()
        self._draw_cursor()

    def _draw_cursor(self):
        if self.data is None:
            return []
        t0 = time.perf_counter()
        artists = self.demo.frame(self.data, self.u)
        blitted = self.blitter.update()
        self.frame_seconds.append(time.perf_counter() - t0)
        if blitted and not self._first_frame:
            self._first_frame = True
            self._trace("first_frame")
        return artists

    def toggle(self) -> None:
        self.playing = not self.playing
        self.button.label.set_text("pause" if self.playing else "play")
        self.fig.canvas.draw_idle()

    def tick(self, _frame=None):
        """One animation step: advance the cursor while playing (wraps around)."""
        if self.playing and self.data is not None:
            now = time.perf_counter()
            self.tick_times.append(now)
            if len(self.tick_times) == 10 * self.fps:
                gaps = [b - a for a, b in zip(self.tick_times, self.tick_times[1:], strict=False)]
                self._trace("playback", fps=len(gaps) / sum(gaps), nominal=self.fps)
            u = self.u + 1.0 / self.loop_frames
            self._moving_cursor = True
            try:
                self.time_slider.set_val(0.0 if u > 1.0 else u)
            finally:
                self._moving_cursor = False
        return []

    def measured_fps(self, last: int = 50) -> float:
        """Frames per second over the last ``last`` ticks (nan before two ticks)."""
        t = self.tick_times[-last:]
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else math.nan

    def start(self):
        """Start playback: a GUI timer at the nominal frame rate calls :meth:`tick`."""
        self._play = self.fig.canvas.new_timer(interval=max(1, round(1000 / self.fps)))
        self._play.add_callback(self.tick)
        self._play.start()
        return self._play

    def close(self) -> None:
        """Stop the timers and the worker (a computation in flight finishes unseen)."""
        for timer in (self._play, self._poll, self._debounce):
            if timer is not None:
                timer.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)


def open_window(
    demo: Demo,
    values: dict[str, Any] | None = None,
    *,
    present: bool = False,
    fps: int = 25,
) -> Controller:
    """Open the interactive window (blocks until it is closed). Call :func:`display_problem`
    first: this switches matplotlib to an interactive backend. The window appears at once; the
    first computation runs in the background.

    Args:
      demo: the demo.
      values: start values of the sliders.
      present: 1920×1080 with projector-sized text (full screen where the backend can).
      fps: playback frame rate.

    Returns:
      The :class:`Controller` (after the window closed).
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    check_playback(fps=fps)
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
    if present:
        figsize, dpi = PRESENT_FIGSIZE, PRESENT_DPI
    else:
        figsize, dpi = (demo.figsize[0], demo.figsize[1] + 2.2), mpl.rcParams["figure.dpi"]
    # for the whole process (this window is all it shows): show() creates text on every update
    mpl.rcParams.update(demo_style(figsize))
    fig = plt.figure(figsize=figsize, dpi=dpi, num=f"gflab demo {demo.name}")
    ctl = Controller(demo, fig, values, fps=fps, compute_now=False)
    if present:
        try:
            fig.canvas.manager.full_screen_toggle()
        except Exception:  # noqa: BLE001  (a backend without full screen keeps the 1920×1080 size)
            pass
    ctl.request()
    ctl.start()
    try:
        plt.show()
    finally:
        ctl.close()
    return ctl
