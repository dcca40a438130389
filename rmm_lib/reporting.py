"""Results tables: aligned text for the command line, HTML tables that fit the book's column.

:func:`format_table` prints ``{row: {column: value}}`` as aligned text (``python -m rmm_lib`` and any
terminal). :class:`Table` is the same table for a notebook or the book: an HTML table (pandas'
Styler, static, no kernel needed) whose cells put a value's 95 % interval under it in small print,
whose best value per column among our rows is bold on a tinted cell, and which is split into parts
when it has more columns than fit the page. Its plain-text form (``repr``) is :func:`format_table`'s,
so a notebook's text output, and what nbval compares, stays stable. :func:`show_table` displays one.
"""
from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Callable, Sequence

# A number at the start of a cell ("62.1 [60.3, 63.9]", "+4.3 [...] +", "0.517"); "−" is a minus.
_LEADING_NUMBER = re.compile(r"^\s*([+\-\u2212]?\d[\d,]*(?:\.\d+)?)")
# A cell's value, its interval in brackets, and what follows (a verdict, a remark).
_WITH_INTERVAL = re.compile(r"^(?P<value>[^\[]*?)\s*(?P<interval>\[[^\]]*\])\s*(?P<rest>.*)$")

# Rows that never compete for "best": the information limit (a bound, not a method) and the
# papers' rows (another dataset). Matched on the start of the row's name, case-insensitive.
NOT_CONTENDERS = ("limit",)
PAPER_SUFFIX = " (paper)"

TABLE_CSS = """
.rmm-table{border-collapse:collapse;margin:0.2em 0 0.4em 0;font-size:0.9em;line-height:1.25;
  width:auto;max-width:100%;table-layout:auto;color:inherit}
.rmm-table caption{caption-side:top;text-align:left;font-weight:600;padding:0 0 0.35em 0;color:inherit}
.rmm-table th,.rmm-table td{padding:0.3em 0.55em;border:none;white-space:normal;vertical-align:top;
  max-width:none;background:none}
.rmm-table thead th{border-bottom:1.5px solid #555;text-align:right;font-weight:600;vertical-align:bottom}
.rmm-table thead th.blank{border-bottom:1.5px solid #555}
.rmm-table tbody th{text-align:left;font-weight:normal;min-width:7em;max-width:15em}
.rmm-table td{text-align:right;font-variant-numeric:tabular-nums}
.rmm-table .rmm-ci,.rmm-table .rmm-rest{display:block;font-size:0.82em;color:#5a5a5a;white-space:nowrap}
.rmm-table .rmm-rest{white-space:normal}
.rmm-table td.rmm-best{background:#dde8f3}
.rmm-table td.rmm-best .rmm-value{font-weight:700}
.rmm-table td.rmm-other,.rmm-table td.rmm-other .rmm-ci{color:#5a5a5a;font-style:italic}
.rmm-table td.rmm-empty{color:#8a8a8a}
.rmm-table tbody tr:nth-child(even){background:#f6f6f6}
.rmm-table-note{font-size:0.85em;color:#5a5a5a;margin:0 0 1.2em 0}
"""


def _cell(value, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def format_table(rows: dict, paper: dict | None = None, title: str = "", digits: int = 2,
                 columns: list | None = None) -> str:
    """``{row: {column: value}}`` as aligned text; ``paper`` rows (the paper's numbers) follow ours,
    each labelled ``(paper)``. Columns are ``columns``, else the union of both in order of first
    appearance; a missing cell prints ``-``, floats are rounded to ``digits``."""
    table = [(str(name), values) for name, values in rows.items()]
    table += [(f"{name}{PAPER_SUFFIX}", values) for name, values in (paper or {}).items()]
    if not table:
        raise ValueError("format_table needs at least one row.")
    cols = list(columns) if columns is not None else list(dict.fromkeys(c for _, values in table for c in values))
    width = max(len(name) for name, _ in table)
    widths = [max(len(str(c)), *(len(_cell(values.get(c), digits)) for _, values in table)) for c in cols]
    lines = [title] if title else []
    lines.append(" " * width + " | " + " | ".join(str(c).rjust(w) for c, w in zip(cols, widths)))
    for name, values in table:
        lines.append(name.ljust(width) + " | " + " | ".join(_cell(values.get(c), digits).rjust(w)
                                                            for c, w in zip(cols, widths)))
    return "\n".join(lines)


def leading_number(value) -> float | None:
    """The number a cell shows first (its mean), or None: ``"62.1 [60.3, 63.9]"`` -> 62.1,
    ``"+4.3 [+1.6, +7.0] +"`` -> 4.3, ``"23,814"`` -> 23814, ``0.517`` -> 0.517, ``"Late fusion 85.0"``
    -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    match = _LEADING_NUMBER.match(str(value))
    return float(match.group(1).replace("\u2212", "-").replace(",", "")) if match else None


def _escape(text) -> str:
    """HTML-escaped text, with "->" drawn as an arrow that never breaks across lines."""
    return html.escape(str(text)).replace("-&gt;", "\u2192")


def _cell_html(text: str) -> str:
    """A cell's text as HTML: the value on the first line, its interval and any remark below it."""
    match = _WITH_INTERVAL.match(text)
    if not match or not match.group("value"):
        return f'<span class="rmm-value">{_escape(text)}</span>'
    out = f'<span class="rmm-value">{_escape(match.group("value"))}</span>'
    out += f'<span class="rmm-ci">{_escape(match.group("interval"))}</span>'
    if match.group("rest"):
        out += f'<span class="rmm-rest">{_escape(match.group("rest"))}</span>'
    return out


class Table:
    """A results table ``{row: {column: value}}`` for a notebook: HTML where HTML is shown, the
    aligned text of :func:`format_table` elsewhere (``repr``, ``str``, a terminal).

    ``paper`` rows (the paper's numbers) follow ours, labelled ``(paper)``, in italics.
    ``best`` says, per column, which value is best: ``"max"`` (default), ``"min"``, ``None`` (no
    mark), or a dict ``{column: "max" | "min" | None}`` (columns it leaves out get ``default``).
    The best is taken over our rows only (``contenders``; by default every row but the papers' and
    those whose name starts with "limit") on the first number a cell shows, ties all marked.
    A table with more than ``max_columns`` columns is shown in parts: ``groups`` names them
    (``{caption: [columns]}``, or a function from a column to its part's caption), else the
    columns are cut into equal runs; ``transpose=True`` shows rows as columns instead (the
    best-value marks stay with the original columns). ``mark`` (a function of a cell's value)
    marks further cells the same way, e.g. the real gains of a table of differences, with
    ``mark_note`` saying what they are; ``note`` is a sentence under the table.
    """

    def __init__(self, rows: dict, paper: dict | None = None, title: str = "", digits: int = 2,
                 columns: Sequence | None = None, best: str | dict | None = "max", default: str | None = "max",
                 contenders: Sequence | None = None, max_columns: int = 5,
                 groups: dict | Callable | None = None, transpose: bool = False, note: str = "",
                 mark: Callable | None = None, mark_note: str = ""):
        if not rows and not paper:
            raise ValueError("Table needs at least one row.")
        self.rows = {str(k): dict(v) for k, v in rows.items()}
        self.paper = {f"{k}{PAPER_SUFFIX}": dict(v) for k, v in (paper or {}).items()}
        self.title, self.digits, self.note = title, digits, note
        every = list(self.rows.values()) + list(self.paper.values())
        self.columns = list(columns) if columns is not None else list(dict.fromkeys(c for v in every for c in v))
        if isinstance(best, dict):
            unknown = set(best) - set(self.columns)
            if unknown:
                raise ValueError(f"best names columns the table does not have: {sorted(map(str, unknown))}")
            self.best = {c: best.get(c, default) for c in self.columns}
        else:
            self.best = {c: best for c in self.columns}
        for c, rule in self.best.items():
            if rule not in ("max", "min", None):
                raise ValueError(f"best for column {c!r} must be 'max', 'min' or None, got {rule!r}")
        if contenders is None:
            contenders = [r for r in self.rows if not r.lower().startswith(NOT_CONTENDERS)]
        missing = set(map(str, contenders)) - set(self.rows)
        if missing:
            raise ValueError(f"contenders names rows the table does not have: {sorted(missing)}")
        self.contenders = [str(r) for r in contenders]
        self.max_columns, self.groups, self.transpose = max_columns, groups, transpose
        self.mark, self.mark_note = mark, mark_note

    # -- the plain text ----------------------------------------------------------------------
    def text(self) -> str:
        paper = {k[: -len(PAPER_SUFFIX)]: v for k, v in self.paper.items()}
        return format_table(self.rows, paper or None, self.title, self.digits, self.columns)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer, cycle):  # IPython's text/plain: the aligned text, not an address
        printer.text(self.text())

    # -- what the HTML shows -----------------------------------------------------------------
    def best_cells(self) -> set:
        """``{(row, column)}`` of the best value per column among the contenders."""
        marked = set()
        for c in self.columns:
            rule = self.best[c]
            if rule is None or str(c).lower().startswith(NOT_CONTENDERS):
                continue
            numbers = {r: leading_number(self.rows[r].get(c)) for r in self.contenders}
            numbers = {r: v for r, v in numbers.items() if v is not None}
            if len(numbers) < 2:
                continue
            target = max(numbers.values()) if rule == "max" else min(numbers.values())
            marked |= {(r, c) for r, v in numbers.items() if v == target}
        return marked

    def marked_cells(self) -> set:
        """``{(row, column)}`` of the cells ``mark`` picks (our rows only)."""
        if self.mark is None:
            return set()
        return {(r, c) for r, values in self.rows.items() for c in self.columns
                if values.get(c) is not None and self.mark(values[c])}

    def parts(self) -> list:
        """``[(caption, columns)]``: the HTML tables this one is shown as (one when it fits)."""
        if self.groups is not None:
            if callable(self.groups):
                found = {}
                for c in self.columns:
                    found.setdefault(self.groups(c), []).append(c)
                return list(found.items())
            named = [c for cols in self.groups.values() for c in cols]
            if sorted(map(str, named)) != sorted(map(str, self.columns)) or len(set(named)) != len(named):
                raise ValueError("groups must hold every column of the table exactly once.")
            return [(caption, list(cols)) for caption, cols in self.groups.items()]
        if self.transpose or len(self.columns) <= self.max_columns:
            return [("", self.columns)]
        n = math.ceil(len(self.columns) / self.max_columns)
        size = math.ceil(len(self.columns) / n)
        runs = [self.columns[i:i + size] for i in range(0, len(self.columns), size)]
        return [(f"columns {i * size + 1}-{i * size + len(cols)} of {len(self.columns)}", cols)
                for i, cols in enumerate(runs)]

    def _frame(self, cols):
        """(DataFrame of cell HTML, DataFrame of td classes) for one part, in display orientation."""
        import pandas as pd

        marked = self.best_cells() | self.marked_cells()
        body, classes, names = [], [], []
        for name, values, other in ([(r, v, False) for r, v in self.rows.items()]
                                    + [(r, v, True) for r, v in self.paper.items()]):
            if not any(values.get(c) is not None for c in cols):
                continue  # a row with nothing in this part
            names.append(name)
            cells, kinds = [], []
            for c in cols:
                value = values.get(c)
                text = _cell(value, self.digits)
                cells.append(_cell_html(text) if value is not None else "&ndash;")
                kind = "rmm-other" if other else ""
                kind += " rmm-best" if (name, c) in marked else ""
                kind += " rmm-empty" if value is None else ""
                kinds.append(kind.strip())
            body.append(cells)
            classes.append(kinds)
        frame = pd.DataFrame(body, index=names, columns=[str(c) for c in cols])
        kinds = pd.DataFrame(classes, index=names, columns=[str(c) for c in cols])
        if self.transpose:
            frame, kinds = frame.T, kinds.T
        return frame, kinds

    def html(self) -> str:
        from pandas.io.formats.style import Styler

        parts = self.parts()
        digest = hashlib.sha1(self.text().encode()).hexdigest()[:10]  # the same table, the same HTML
        pieces = [f"<style>{TABLE_CSS.strip()}</style>", '<div class="rmm-tables">']
        for i, (caption, cols) in enumerate(parts):
            frame, kinds = self._frame(cols)
            title = self.title
            if caption:
                title = f"{title} ({caption})" if title else caption
            styler = (Styler(frame, uuid=f"{digest}_{i}", cell_ids=False)
                      .set_td_classes(kinds)
                      .format(lambda v: v, escape=None)
                      .format_index(_escape, axis=0, escape=None)
                      .format_index(_escape, axis=1, escape=None)
                      .set_table_attributes('class="rmm-table"'))
            if title:
                styler = styler.set_caption(_escape(title))
            papers = [k for k, name in enumerate(frame.index) if name in self.paper]
            if papers and not self.transpose and papers[0] > 0:  # a rule between our rows and the papers'
                styler = styler.set_table_styles([{"selector": f"tbody tr:nth-child({papers[0] + 1}) > *",
                                                   "props": "border-top: 1px solid #8a8a8a"}], overwrite=False)
            pieces.append(styler.to_html())
        legend = []
        if self.best_cells():
            legend.append("bold on a tint: the best mean of our rows in each column")
        if self.marked_cells() and self.mark_note:
            legend.append(f"bold on a tint: {self.mark_note}")
        if any(_WITH_INTERVAL.match(_cell(v, self.digits)) for row in self.rows.values() for v in row.values()):
            legend.append("brackets: 95 % interval")
        if self.paper:
            legend.append("italics: the paper's numbers")
        if self.note:
            legend.append(self.note)
        if legend:
            sentence = "; ".join(legend)
            pieces.append(f'<p class="rmm-table-note">{_escape(sentence[0].upper() + sentence[1:])}.</p>')
        pieces.append("</div>")
        return "\n".join(pieces)

    def _repr_html_(self) -> str:
        return self.html()


def show_table(rows: dict, paper: dict | None = None, title: str = "", **options) -> None:
    """Display ``rows`` as a :class:`Table`: HTML in a notebook, the aligned text in a terminal.
    ``options`` are :class:`Table`'s. (Returns nothing, so that a cell ending with it shows the
    table once.)"""
    table = Table(rows, paper, title, **options)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # no IPython: a terminal
        print(table.text())
        return
    if get_ipython() is None:
        print(table.text())
    else:
        display(table)
