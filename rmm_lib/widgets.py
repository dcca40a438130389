"""Sliders over a missing rate (or a kept fraction): one evaluation, three views.

A rendered book has no kernel, so an ipywidgets slider there is frozen at the value it was saved
at. A :class:`Slider` therefore evaluates every position once, up front, into :class:`Frame` s
(what the figure shows at that position) and draws the same frames three ways:

- :meth:`Slider.interactive` -- a plotly figure with a slider over the precomputed frames. It runs
  in the browser with no kernel and no network: the book ships plotly.js in ``_static`` (see
  ``book/_ext/rmm_offline.py``); elsewhere (Colab, Jupyter) the page falls back to plotly's CDN.
- :meth:`Slider.small_multiples` -- every frame side by side (matplotlib), for print.
- :meth:`Slider.live` -- an ipywidgets slider that calls ``evaluate`` again when moved, for a
  running kernel (Colab, Jupyter); the book hides its output (cell tag ``remove-output``).

``evaluate(value) -> Frame`` is the one function a notebook writes; the layout (axis titles, a
fixed y range shared by every frame, so moving the slider never rescales the axis) is shared.
"""
from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from .style import MAX_WIDTH_IN, MIN_FONT_PT, PALETTE

#: Where the book's pages find plotly.js: notebooks/X.html -> _static/plotly.min.js.
BOOK_PLOTLY_JS = "../_static/plotly.min.js"


@dataclass(frozen=True)
class Series:
    """One named series of a frame: ``y`` over the layout's ``x``.

    ``error`` = (below, above) draws error bars (bars); ``band`` = (lower, upper) a shaded band (lines).
    """
    name: str
    y: Sequence[float]
    error: tuple[Sequence[float], Sequence[float]] | None = None
    band: tuple[Sequence[float], Sequence[float]] | None = None

    @classmethod
    def bars(cls, name: str, bands: dict) -> Series:
        """Bars at ``bands["mean"]`` with error bars to ``low``/``high`` (``rmm_lib.stats.bands``)."""
        mean, low, high = (np.asarray(bands[k], dtype=float) for k in ("mean", "low", "high"))
        return cls(name, mean, error=(mean - low, high - mean))

    @classmethod
    def line(cls, name: str, bands: dict) -> Series:
        """A line at ``bands["mean"]`` in a shaded band from ``low`` to ``high`` (``rmm_lib.stats.bands``)."""
        return cls(name, bands["mean"], band=(bands["low"], bands["high"]))


@dataclass(frozen=True)
class Frame:
    """What the figure shows at one slider position. ``marker``: a dotted vertical line at that x."""
    series: Sequence[Series]
    title: str = ""
    marker: float | None = None


@dataclass(frozen=True)
class Layout:
    """What every frame shares. ``kind``: "bar" (grouped bars over categories) or "line"."""
    x: Sequence
    x_title: str
    y_title: str
    y_range: tuple[float, float]
    kind: str = "bar"
    slider_label: str = "missing rate"
    value_format: str = "{:.0%}"
    height: int = 500

    def __post_init__(self):
        if self.kind not in ("bar", "line"):
            raise ValueError(f"Layout.kind must be 'bar' or 'line', got {self.kind!r}")
        if not self.y_range[0] < self.y_range[1]:
            raise ValueError(f"Layout.y_range must be (low, high) with low < high, got {self.y_range}")


def _check_frame(frame: Frame, layout: Layout, value, names: list[str] | None) -> list[str]:
    if not isinstance(frame, Frame):
        raise TypeError(f"evaluate({value!r}) must return a rmm_lib.widgets.Frame, got {type(frame).__name__}")
    own = [s.name for s in frame.series]
    if names is not None and own != names:
        raise ValueError(f"every frame must show the same series in the same order: the first frame has "
                         f"{names}, the frame at {value!r} has {own}")
    for s in frame.series:
        parts = [("y", s.y)] + [(f"error[{i}]", e) for i, e in enumerate(s.error or ())] \
            + [(f"band[{i}]", b) for i, b in enumerate(s.band or ())]
        for what, values in parts:
            if len(values) != len(layout.x):
                raise ValueError(f"series {s.name!r} at {value!r}: {what} has {len(values)} values for "
                                 f"{len(layout.x)} x positions")
    return own


@dataclass
class Slider:
    """``evaluate`` at every value of ``values``, kept as frames, with three views of them."""
    evaluate: Callable[[object], Frame]
    values: Sequence
    layout: Layout
    frames: dict = field(init=False)

    def __post_init__(self):
        self.values = list(self.values)
        if not self.values:
            raise ValueError("a slider needs at least one value")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"slider values must be distinct, got {self.values}")
        self.frames, names = {}, None
        for value in self.values:
            self.frames[value] = self.evaluate(value)
            names = _check_frame(self.frames[value], self.layout, value, names)

    def label(self, value) -> str:
        return self.layout.value_format.format(value)

    # -- the static page: plotly frames ----------------------------------------------------------
    def _traces(self, frame: Frame) -> list[dict]:
        x, traces = list(self.layout.x), []
        for i, s in enumerate(frame.series):
            color = _COLORS[i % len(_COLORS)]
            if self.layout.kind == "bar":
                trace = {"type": "bar", "name": s.name, "x": x, "y": _floats(s.y), "marker": {"color": color}}
                if s.error is not None:
                    trace["error_y"] = {"type": "data", "symmetric": False, "arrayminus": _floats(s.error[0]),
                                        "array": _floats(s.error[1]), "visible": True}
                traces.append(trace)
                continue
            if s.band is not None:  # lower edge (invisible), then upper edge filled down to it
                traces.append({"type": "scatter", "mode": "lines", "x": x, "y": _floats(s.band[0]),
                               "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip",
                               "name": f"{s.name} (lower)"})
                traces.append({"type": "scatter", "mode": "lines", "x": x, "y": _floats(s.band[1]),
                               "line": {"width": 0}, "fill": "tonexty", "fillcolor": _rgba(color, 0.2),
                               "showlegend": False, "hoverinfo": "skip", "name": f"{s.name} (upper)"})
            traces.append({"type": "scatter", "mode": "lines+markers", "name": s.name, "x": x,
                           "y": _floats(s.y), "line": {"color": color}})
        return traces

    def _frame_layout(self, frame: Frame) -> dict:
        shapes = [] if frame.marker is None else [
            {"type": "line", "x0": frame.marker, "x1": frame.marker, "yref": "paper", "y0": 0, "y1": 1,
             "line": {"color": "gray", "width": 1, "dash": "dot"}}]
        return {"title": {"text": frame.title, "x": 0.01, "xanchor": "left"}, "shapes": shapes}

    def figure_dict(self) -> dict:
        """The plotly figure as a plain dict: data and layout at the first value, one frame per value."""
        lay, first = self.layout, self.frames[self.values[0]]
        names = [f"{i}" for i in range(len(self.values))]
        steps = [{"method": "animate", "label": self.label(v),
                  "args": [[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                    "transition": {"duration": 0}}]}
                 for v, name in zip(self.values, names)]
        layout = {
            **self._frame_layout(first),
            "xaxis": {"title": {"text": lay.x_title}, **({"type": "category"} if lay.kind == "bar" else {})},
            "yaxis": {"title": {"text": lay.y_title}, "range": list(lay.y_range), "autorange": False},
            "barmode": "group", "height": lay.height, "margin": {"t": 60, "b": 190},
            "font": {"size": 13},  # 13 px: above the book's small print, like every figure's text
            # legend above the plot, right; the slider below the x axis title
            "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
            "sliders": [{"active": 0, "steps": steps, "currentvalue": {"prefix": f"{lay.slider_label}: "},
                         "pad": {"t": 75}}],
        }
        frames = [{"name": name, "data": self._traces(self.frames[v]), "layout": self._frame_layout(self.frames[v])}
                  for v, name in zip(self.values, names)]
        return {"data": self._traces(first), "layout": layout, "frames": frames,
                "config": {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}}

    def figure(self):
        """The same figure as a ``plotly.graph_objects.Figure`` (to save or restyle)."""
        import plotly.graph_objects as go

        fig = self.figure_dict()
        return go.Figure(data=fig["data"], layout=fig["layout"], frames=fig["frames"])

    def interactive(self) -> InteractiveFigure:
        """The figure a reader moves in the rendered book (no kernel, no network)."""
        return InteractiveFigure(self.figure_dict())

    # -- print and a running kernel: matplotlib ----------------------------------------------------
    def draw(self, frame: Frame, ax) -> None:
        """One frame on a matplotlib axis, with the layout's fixed y range."""
        lay, x = self.layout, np.arange(len(self.layout.x))
        n = len(frame.series)
        for i, s in enumerate(frame.series):
            color = _COLORS[i % len(_COLORS)]
            if lay.kind == "bar":
                width = 0.8 / n
                err = None if s.error is None else np.asarray([s.error[0], s.error[1]], dtype=float)
                ax.bar(x - 0.4 + width * (i + 0.5), _floats(s.y), width, yerr=err, capsize=2, label=s.name,
                       color=color)
            else:
                xs = np.asarray(lay.x, dtype=float)
                if s.band is not None:
                    ax.fill_between(xs, _floats(s.band[0]), _floats(s.band[1]), color=color, alpha=0.2, lw=0)
                ax.plot(xs, _floats(s.y), "o-", ms=3, label=s.name, color=color)
        if lay.kind == "bar":
            width = ax.get_position().width * ax.figure.get_figwidth()  # inches
            slanted = len(lay.x) > 6 or width / max(1, len(lay.x)) < 0.55  # labels would touch
            ax.set_xticks(x, [str(c) for c in lay.x], rotation=45 if slanted else 0,
                          ha="right" if slanted else "center", rotation_mode="anchor", fontsize=MIN_FONT_PT)
        if frame.marker is not None:
            ax.axvline(frame.marker, color="0.5", lw=1, ls=":")
        ax.set(xlabel=lay.x_title, ylabel=lay.y_title, ylim=lay.y_range)
        width = ax.get_position().width * ax.figure.get_figwidth()  # the panel's width in inches
        ax.set_title("\n".join(textwrap.wrap(frame.title, max(16, int(width * 72 / (0.6 * 11))))), fontsize=11)
        if n > 1:
            ax.legend(fontsize=MIN_FONT_PT)

    def small_multiples(self, ncols: int = 3, height: float = 2.9):
        """Every frame side by side on one shared y range, at most ``ncols`` panels a row within the
        book's column (``style.MAX_WIDTH_IN``); returns the matplotlib figure."""
        ncols = min(ncols, len(self.values))
        nrows = int(np.ceil(len(self.values) / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(MAX_WIDTH_IN, height * nrows), squeeze=False, sharey=True,
                                 layout="constrained")
        for k, (ax, value) in enumerate(zip(axes.flat, self.values)):
            self.draw(self.frames[value], ax)
            if k % ncols:
                ax.set_ylabel("")  # one y label per row
            if k + ncols < len(self.values):
                ax.set_xlabel("")  # and the x label under the last panel of each column
        for ax in list(axes.flat)[len(self.values):]:
            ax.axis("off")
        return fig

    def live(self, figsize=(5.0, 3.2)):
        """An ipywidgets slider over the same values; moving it calls ``evaluate`` again and redraws."""
        import ipywidgets as widgets
        from IPython.display import display

        out = widgets.Output()
        slider = widgets.SelectionSlider(options=[(self.label(v), v) for v in self.values], value=self.values[0],
                                         description=self.layout.slider_label, continuous_update=False,
                                         style={"description_width": "initial"})

        def redraw(change=None):
            frame = self.evaluate(slider.value)
            _check_frame(frame, self.layout, slider.value, [s.name for s in self.frames[self.values[0]].series])
            with out:
                out.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=figsize)
                self.draw(frame, ax)
                plt.show()
                plt.close(fig)

        slider.observe(redraw, names="value")
        redraw()
        box = widgets.VBox([slider, out])
        display(box)
        return box


class InteractiveFigure:
    """A plotly figure as self-contained HTML: the figure's JSON and a loader for plotly.js.

    plotly.js is loaded from the book's ``_static`` (``BOOK_PLOTLY_JS``); when that file is not
    there (a notebook opened on Colab or in Jupyter) the loader falls back to plotly's CDN.
    """

    def __init__(self, figure: dict):
        self.figure = figure
        text = json.dumps(figure, sort_keys=True, allow_nan=False)
        self.div_id = "rmm-slider-" + hashlib.sha1(text.encode()).hexdigest()[:12]
        self.json = text.replace("</", "<\\/")  # a "</script>" inside a title must not end the tag

    def _repr_html_(self) -> str:
        from plotly.offline import get_plotlyjs_version

        cdn = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
        return _HTML.format(id=self.div_id, json=self.json, local=BOOK_PLOTLY_JS, cdn=cdn,
                            height=self.figure["layout"].get("height", 500))

    def __repr__(self) -> str:
        n = len(self.figure["frames"])
        return f"<interactive figure with a slider over {n} frames (open the rendered book or run the notebook)>"


_HTML = """<div id="{id}" class="rmm-slider" style="width:100%;min-height:{height}px"></div>
<script type="application/json" id="{id}-figure">{json}</script>
<script>
(function () {{
  var id = "{id}";
  function draw() {{
    var fig = JSON.parse(document.getElementById(id + "-figure").textContent);
    Plotly.newPlot(id, fig);
  }}
  // One load of plotly.js per page, shared by every figure on it: the book's own copy, else the CDN.
  if (!window.rmmPlotly) {{
    window.rmmPlotly = new Promise(function (resolve, reject) {{
      if (window.Plotly) {{ resolve(); return; }}
      function load(urls) {{
        var s = document.createElement("script");
        s.src = urls[0];
        s.onload = resolve;
        s.onerror = function () {{ urls.length > 1 ? load(urls.slice(1)) : reject(new Error("plotly.js not found")); }};
        document.head.appendChild(s);
      }}
      load(["{local}", "{cdn}"]);
    }});
  }}
  window.rmmPlotly.then(draw);
}})();
</script>
"""

_COLORS = PALETTE  # colour-blind safe (rmm_lib.style), the figures' colours


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _floats(values) -> list[float | None]:
    """Plain floats for JSON; a missing value (NaN) becomes a gap (None), never an invalid NaN."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]
