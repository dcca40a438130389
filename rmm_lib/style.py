"""How the book's figures look: a colour-blind-safe palette, text sizes that stay legible at the
page's width, and PNGs that record the smallest text they hold.

The palette is Okabe and Ito's (2008), in an order whose every pair stays distinct for readers
with protanopia, deuteranopia and tritanopia (``tests/test_plots.py`` simulates them); no red
beside a green. :func:`use_book_style` sets matplotlib's defaults: every text at least
``MIN_FONT_PT`` points, figures at most ``MAX_WIDTH_IN`` inches wide (the book's column at 100
dpi), so that text renders at 12 px or more in the book. In a notebook it also makes every inline
figure a PNG that records its smallest font size and its dpi (:func:`figure_png`), which the
book's browser check (``scripts/check_book.py``) reads to measure the rendered text.
"""
from __future__ import annotations

import base64
import io

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text

# Okabe & Ito's colours, named. Yellow is kept for fills only: it is too light for a line on white.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "bluish green": "#009E73", "vermillion": "#D55E00",
             "reddish purple": "#CC79A7", "sky blue": "#56B4E9", "black": "#000000", "yellow": "#F0E442"}
# The order lines take: each pair distinct in every simulated colour-vision deficiency.
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish green", "reddish purple", "sky blue", "vermillion",
                                  "black")]
GREY = "#7f7f7f"
# A verdict's colour: a real gain, no measurable difference, a real loss (blue / grey / orange).
VERDICT_COLORS = {"gain": "#6aa6d6", "tie": "#dcdcdc", "loss": "#f0b357"}

MIN_FONT_PT = 10.0   # the smallest text a figure may hold
MAX_WIDTH_IN = 7.0   # the widest figure: the column shows 688 px of output, so 10 pt renders at 13 px or more
DPI = 100
PNG_KEYS = {"font": "rmm:min-font-pt", "dpi": "rmm:dpi"}

BOOK_RC = {
    "figure.dpi": DPI,
    "savefig.dpi": "figure",
    "figure.figsize": (6.4, 3.8),
    "font.size": 10.5,
    "axes.titlesize": 11.0,
    "axes.labelsize": 10.5,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": 10.5,
    "figure.titlesize": 11.5,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def _texts(artist):
    """The visible texts under ``artist`` (an invisible parent hides its children)."""
    if not artist.get_visible():
        return
    if isinstance(artist, Text) and artist.get_text().strip():
        yield artist
    for child in artist.get_children():
        yield from _texts(child)


def min_font_size(fig: Figure) -> float | None:
    """The smallest font size (points) of any visible, non-empty text in ``fig`` -- titles,
    labels, tick labels, legends, annotations, colour bars -- after drawing it; None if none."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return min(sizes) if sizes else None


def figure_png(fig: Figure, dpi: float | None = None) -> bytes | None:
    """``fig`` as PNG bytes (tight box, as the inline backend draws it) that record its smallest
    font size and its dpi as PNG text chunks (``PNG_KEYS``); None for an empty figure."""
    if not fig.axes and not fig.lines and not fig.patches and not fig.texts:
        return None
    dpi = dpi or fig.dpi
    smallest = min_font_size(fig)
    metadata = {PNG_KEYS["dpi"]: f"{dpi:g}"}
    if smallest is not None:
        metadata[PNG_KEYS["font"]] = f"{smallest:g}"
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi, bbox_inches="tight", facecolor=fig.get_facecolor(),
                metadata=metadata)
    return out.getvalue()


def png_metadata(data: bytes) -> dict:
    """The PNG text chunks (``{key: value}``) of PNG bytes: what :func:`figure_png` recorded."""
    import struct
    import zlib

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    found, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            found[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"IEND":
            break
        pos += 12 + length
    return found


def _inline_png(fig: Figure):
    data = figure_png(fig)
    return None if data is None else base64.b64encode(data).decode("ascii")


def use_book_style(shell=None) -> None:
    """Set the book's matplotlib defaults (``BOOK_RC``) and, in IPython (``shell``, else the running
    one), show every figure as :func:`figure_png`'s PNG. The inline backend is loaded first, since
    loading it resets the PNG formatter."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            get_ipython = None
        shell = get_ipython() if get_ipython else None
    if shell is not None and "inline" in str(matplotlib.get_backend()):
        import matplotlib_inline.backend_inline  # noqa: F401  (configures the shell when first loaded)
    matplotlib.rcParams.update(BOOK_RC)
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, _inline_png)
