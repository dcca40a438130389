"""The named grids of the book: configurations whose cells ``python -m rmm_lib grid NAME`` computes
into ``results/NAME.json`` (see :mod:`rmm_lib.records`), and that the notebooks read.

Each grid's configuration holds everything that decides its numbers, the benchmark's generation
options included, so a changed default makes its record stale.
"""
from __future__ import annotations

from ..records import Grid
from . import cmpt, cmpt_controls, compare, intro, limits, mla, trml, trml_controls

GRIDS = {g.name: g for g in (limits.GRID, intro.GRID, mla.GRID, trml.GRID, trml_controls.GRID, cmpt.GRID,
                              cmpt_controls.GRID, compare.GRID)}


def get_grid(name: str) -> Grid:
    if name not in GRIDS:
        raise KeyError(f"No grid named {name!r}; the grids are {sorted(GRIDS)}.")
    return GRIDS[name]
