"""Missing-rate sliders that re-evaluate a trained model live, with a static twin for the book.

A rendered book has no kernel, so a slider alone would show nothing there. Every slider therefore
comes with :func:`static_view`: the same drawing at every rate of the slider's range, as small
multiples. Notebooks show the static view first, then the live slider.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np


def static_view(evaluate: Callable[[float], dict], rates: Sequence[float], draw: Callable, ncols: int = 4,
                panel_size=(3.0, 2.6)):
    """Small multiples: ``draw(result, ax, rate)`` for ``result = evaluate(rate)`` at each rate."""
    rates = list(rates)
    nrows = int(np.ceil(len(rates) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False)
    results = {}
    for ax, rate in zip(axes.flat, rates):
        results[rate] = evaluate(rate)
        draw(results[rate], ax, rate)
    for ax in list(axes.flat)[len(rates):]:
        ax.axis("off")
    fig.tight_layout()
    return fig, results


def missing_rate_slider(evaluate: Callable[[float], dict], rates: Sequence[float], draw: Callable,
                        description: str = "missing rate"):
    """An ipywidgets slider over ``rates``; moving it calls ``evaluate(rate)`` and redraws."""
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()
    slider = widgets.SelectionSlider(
        options=[(f"{r:.0%}", r) for r in rates], value=rates[0], description=description,
        continuous_update=False, style={"description_width": "initial"},
    )

    def redraw(change=None):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4.5, 3))
            draw(evaluate(slider.value), ax, slider.value)
            plt.show()
            plt.close(fig)

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, out])
    display(box)
    return box
