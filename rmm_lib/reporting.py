"""Tables as text: the one formatter every chapter prints its results with."""
from __future__ import annotations

import math


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
    table += [(f"{name} (paper)", values) for name, values in (paper or {}).items()]
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
