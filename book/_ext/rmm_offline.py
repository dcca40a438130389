"""Sphinx extension: ship what the book's pages would otherwise fetch from a CDN.

The pages' sliders (``rmm_lib.widgets.InteractiveFigure``) load plotly.js from ``_static``; this
copies the plotly.js that the installed ``plotly`` package carries there, so the page works with
no network. (MathJax comes from the ``sphinx-mathjax-offline`` extension, also in ``_static``.)
"""
from pathlib import Path


def copy_plotly_js(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    from plotly.offline import get_plotlyjs

    target = Path(app.outdir) / "_static" / "plotly.min.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = get_plotlyjs()
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("build-finished", copy_plotly_js)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
