"""The papers' tables as runnable specifications.

Each paper has one module here (``mla.py``, ``cmpt.py``, ``trml.py``) that registers one
:class:`TableSpec` per table or figure it reproduces. A spec says which dataset, backbones,
protocol and hyperparameters the paper used, what the paper reported, and how to run it.
The same ``run`` function serves the chapter notebook (embedded benchmark, quick profile) and
``python -m rmm_lib run <key>`` (real data, paper profile). The spec and context types live in
:mod:`rmm_lib.context`, below the recipes; the runners that train one model live in
:mod:`rmm_lib.recipes`.
"""
from __future__ import annotations

import importlib

from ..context import RunContext, TableSpec, build_context  # noqa: F401  (the types a table module uses)

PAPERS = ("mla", "cmpt", "trml", "compare")


REGISTRY: dict[str, TableSpec] = {}


def register(spec: TableSpec) -> TableSpec:
    """Add ``spec`` to the registry (a paper module calls this at import time)."""
    if spec.key in REGISTRY and REGISTRY[spec.key] is not spec:
        raise ValueError(f"table {spec.key!r} is registered twice")
    REGISTRY[spec.key] = spec
    return spec


def load_all() -> dict[str, TableSpec]:
    """Import every paper module that exists and return the registry."""
    for paper in PAPERS:
        try:
            importlib.import_module(f"{__name__}.{paper}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{paper}":
                raise
    return REGISTRY


def get(key: str) -> TableSpec:
    """The spec registered under ``key`` ("mla.table2")."""
    specs = load_all()
    if key not in specs:
        known = ", ".join(sorted(specs)) or "none yet"
        raise KeyError(f"unknown table {key!r}; known tables: {known}")
    return specs[key]
