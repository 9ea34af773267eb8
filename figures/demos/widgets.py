"""ipywidgets controls for the lecture demos, for the notebooks in ``notebooks/``.

:func:`demo_widget` puts one slider per parameter of a :class:`~figures.demos._base.Demo` (a
dropdown for choices) and a time slider above one image of the demo's figure. The callbacks call
the demo's own ``compute`` / ``show`` / ``frame`` (the code behind ``gflab demo``), so a notebook
shows what the window and the GIF show; the figure is rendered with Agg into a PNG, displayed
once, and replaced in place on every change.
"""

from __future__ import annotations

import io
import time
from typing import Any

from gflab.figures import style
from gflab.figures.demos._base import Demo

__all__ = ["DemoWidget", "demo_widget"]


class DemoWidget:
    """Sliders, a time cursor and the figure of one demo (see :func:`demo_widget`).

    Attributes:
      controls: parameter name → its ipywidgets control.
      time: the time-cursor slider (fraction of the run in [0, 1]).
      image: the ``ipywidgets.Image`` showing the figure (PNG).
      data: the last ``compute`` result; values: the parameter values it was computed for.
      box: the whole widget (what the notebook displays).
    """

    def __init__(
        self,
        demo: Demo,
        values: dict[str, Any] | None = None,
        figsize: tuple[float, float] | None = None,
        dpi: int = 80,
    ):
        import ipywidgets as W
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from gflab.figures.demos._runner import demo_style

        self.demo = demo
        self.values = demo.resolve(values)
        self.compute_seconds: list[float] = []
        figsize = figsize or demo.figsize
        self._rc = demo_style(figsize)
        with self._styled():
            self.fig = Figure(figsize=figsize, dpi=dpi)
            FigureCanvasAgg(self.fig)
            demo.setup(self.fig, (0.07, 0.12, 0.9, 0.78))
        self.controls: dict[str, Any] = {}
        layout = W.Layout(width="420px")
        style_ = {"description_width": "140px"}
        for p in demo.params:
            v = self.values[p.name]
            if p.choices is not None:
                w = W.Dropdown(options=list(p.choices), value=v, description=p.label)
            elif p.scale == "log":
                w = W.FloatLogSlider(
                    value=v, base=10, min=p.to_slider(p.lo), max=p.to_slider(p.hi), step=0.05
                )
                w.description = p.label
            elif p.scale == "int":
                w = W.IntSlider(value=v, min=int(p.lo), max=int(p.hi), description=p.label)
            else:
                w = W.FloatSlider(value=v, min=p.lo, max=p.hi, step=0.01, description=p.label)
            w.layout, w.style = layout, style_
            w.continuous_update = False  # one computation when the slider is let go
            w.observe(self._changed(p.name), names="value")
            self.controls[p.name] = w
        self.time = W.FloatSlider(
            value=1.0, min=0.0, max=1.0, step=0.01, description="time cursor", layout=layout
        )
        self.time.style = style_
        self.time.observe(lambda _change: self._draw(), names="value")
        self.status = W.Label()
        self.image = W.Image(format="png")
        self.box = W.VBox(
            [W.HBox([W.VBox(list(self.controls.values()) + [self.time]), self.status]), self.image]
        )
        self.recompute()

    def _styled(self):
        import matplotlib as mpl

        style.apply()
        return mpl.rc_context(self._rc)

    def _changed(self, name):
        def cb(change):
            self.values[name] = self.demo.resolve({name: change["new"]})[name]
            self.recompute()

        return cb

    def recompute(self) -> None:
        """Compute the current values (the slow part), redraw the curves and the cursor."""
        self.status.value = "computing…"
        t0 = time.perf_counter()
        self.data = self.demo.compute(**self.values)
        dt = time.perf_counter() - t0
        self.compute_seconds.append(dt)
        with self._styled():
            self.demo.show(self.data)
        self.status.value = f"update {dt:.2f} s"
        self._draw()

    def _draw(self) -> None:
        with self._styled():
            self.demo.frame(self.data, float(self.time.value))
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png", facecolor="white")
        self.image.value = buf.getvalue()

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def demo_widget(demo: Demo | str, values: dict[str, Any] | None = None, **kw) -> DemoWidget:
    """The interactive version of ``gflab demo NAME`` for a notebook.

    Args:
      demo: a :class:`Demo` or its name (see ``gflab demo --list``).
      values: start values of the sliders.
      **kw: ``figsize`` (inches) and ``dpi`` of the figure.

    Returns:
      A :class:`DemoWidget`; the cell's value displays it.
    """
    if isinstance(demo, str):
        from gflab.figures.demos import get

        demo = get(demo)
    return DemoWidget(demo, values, **kw)
