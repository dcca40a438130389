"""The papers' tables as runnable specifications.

Each paper has one module here (``mla.py``, ``cmpt.py``, ``trml.py``) that registers one
:class:`TableSpec` per table or figure it reproduces. A spec says which dataset, backbones,
protocol and hyperparameters the paper used, what the paper reported, and how to run it.
The same ``run`` function serves the chapter notebook (embedded benchmark, quick profile) and
``python -m rmm_lib run <key>`` (real data, paper profile).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PAPERS = ("mla", "cmpt", "trml")


@dataclass(frozen=True)
class TableSpec:
    """One table (or figure) of one paper."""

    key: str  # "<paper>.<table>", e.g. "mla.table2"
    paper: str
    title: str
    dataset: str  # a dataset name known to rmm_lib.data (e.g. "food101", "mosi", "benchmark")
    backbones: dict  # {"image": "ViT-B-16/openai", "text": "bert-base-uncased", ...}
    train: dict  # keyword arguments of rmm_lib.train.TrainConfig, as the paper gives them
    protocol: str  # the missing-modality protocol in words
    paper_numbers: dict  # {row: {column: value}} exactly as printed in the paper
    run: Callable[["RunContext"], dict]  # returns {row: {column: value}} measured here
    gpu_minutes: float | None = None  # expected wall time on one GPU (from measured smoke runs)
    notes: str = ""


@dataclass
class RunContext:
    """What a spec's ``run`` receives."""

    spec: TableSpec
    splits: dict  # {"train", "val", "test"} -> MultimodalDataset, as loaded for spec.dataset
    device: str = "cpu"
    out_dir: Path = Path("runs")
    smoke: bool = False  # random-init backbones, synthetic inputs of the real shapes, few steps
    max_steps: int | None = None
    progress: bool = True
    seed: int = 0
    overrides: dict = field(default_factory=dict)  # e.g. {"epochs": 1} from the command line


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
