"""What a paper table is (:class:`TableSpec`) and what one run of it receives (:class:`RunContext`).

These types sit below the recipes and the tables, so a recipe's fit-one-cell runner can take a
context without importing ``rmm_lib.tables``. A context is built once, by :func:`build_context`,
at an entry point (the CLI, a chapter's recipe helper, a test); nothing below it reads the
environment: the profile, the device, the seed, the training configuration, the method's options,
the output directory and the shared assets are all fields.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

from .profiles import Profile, get_profile
from .train import TrainConfig


@dataclass(frozen=True)
class TableSpec:
    """One table (or figure) of one paper.

    ``train`` and ``model`` are the paper's settings (the paper profile); ``quick_train`` and
    ``quick_model`` are the quick profile's complete replacements (CPU, minutes), so nothing of a
    100-epoch GPU schedule leaks into a CPU run.
    """

    key: str  # "<paper>.<table>", e.g. "mla.table2"
    paper: str
    title: str
    dataset: str  # a dataset name known to rmm_lib.data (e.g. "food101", "mosi", "benchmark")
    backbones: dict  # {"image": "ViT-B-16/openai", "text": "bert-base-uncased", ...}
    train: dict  # keyword arguments of rmm_lib.train.TrainConfig, as the paper gives them
    protocol: str  # the missing-modality protocol in words
    paper_numbers: dict  # {row: {column: value}} exactly as printed in the paper
    run: Callable[["RunContext"], dict]  # returns {row: {column: value}} measured here
    gpu_minutes: float | None = None  # measured wall time on one GPU (None: not measured yet)
    notes: str = ""
    options: tuple = ()  # the TableOptions its run reads (a part of the table); any other is refused
    model: dict = field(default_factory=dict)  # the method's options as the paper gives them
    quick_train: dict = field(default_factory=dict)
    quick_model: dict = field(default_factory=dict)
    data_options: dict = field(default_factory=dict)  # keyword arguments of load_splits


@dataclass(frozen=True)
class TableOptions:
    """Which part of a table to run (``None``: the whole table, as the paper prints it)."""

    rows: tuple | None = None  # TRML: rows (methods) of the table
    settings: tuple | None = None  # TRML: "A", "B"
    methods: tuple | None = None  # MLA: paper columns to train
    rates: tuple | None = None  # MLA Table 2 / Fig. 2 missing rates
    eta: float | None = None  # CMPT MAP rate, MLA released-variant rate
    kept: str | None = None  # MLA Fig. 2: the modality tested alone
    masked: str | None = None  # MLA Fig. 2: the modality whose training data are masked
    pair: tuple | None = None  # MLA Fig. 3: the two modalities of the gap

    @classmethod
    def from_dict(cls, options: dict | None) -> "TableOptions":
        options = dict(options or {})
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"Unknown table option(s) {unknown}; known: {[f.name for f in fields(cls)]}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})

    def get(self, name: str, default):
        value = getattr(self, name)
        return default if value is None else value


@dataclass
class Assets:
    """Things several runs share within one process: trained models by cell (so a notebook that
    renders several tables from the same models trains each once) and a loaded foundation model."""

    models: dict = field(default_factory=dict)
    foundation: tuple | None = None  # (clip, tokenizer) for TRML


@dataclass
class RunContext:
    """What a spec's ``run`` (and a recipe's fit-one-cell runner) receives. Build with
    :func:`build_context`."""

    spec: TableSpec
    splits: dict  # {"train", "val", "test"} -> a rmm_lib.data.ModalDataset
    profile: Profile
    train: TrainConfig  # seed and device included
    model: dict = field(default_factory=dict)  # the method's options (checked by its constructor)
    table: TableOptions = field(default_factory=TableOptions)
    seed: int = 0
    device: str = "cpu"
    out_dir: Path | None = None  # checkpoints of every trained cell go under out_dir/cells/
    resume: bool = False  # continue each cell from its last checkpoint in out_dir
    pretrained: bool = True  # False: the profile's backbone classes with random weights (smoke runs, tests)
    reduced: bool = False  # the paper profile's classes at a reduced size (tests on CPU)
    progress: bool = False
    assets: Assets = field(default_factory=Assets)

    @property
    def smoke(self) -> bool:
        """A run whose shape is tested, not its result (random weights or a step limit)."""
        return not self.pretrained or self.train.max_batches is not None

    def with_seed(self, seed: int) -> "RunContext":
        """The same run with model seed ``seed`` (assets shared)."""
        return replace(self, seed=seed, train=replace(self.train, seed=seed))

    def cell_dir(self, *parts) -> Path | None:
        """Where one trained cell checkpoints (``None`` without an output directory): a readable
        name plus a hash of everything that identifies the cell."""
        if self.out_dir is None:
            return None
        text = json.dumps([str(p) for p in parts], sort_keys=True)
        slug = "-".join(str(p) for p in parts[:2]).replace("/", "_").replace(" ", "")[:40]
        return Path(self.out_dir) / "cells" / f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    def fit_kwargs(self, *parts) -> dict:
        """``Trainer.fit`` keyword arguments that checkpoint the cell ``parts`` and, with
        ``resume``, continue it from its last checkpoint."""
        run_dir = self.cell_dir(*parts)
        if run_dir is None:
            return {}
        last = run_dir / "last.pt"
        return {"run_dir": run_dir, "resume": last if self.resume and last.is_file() else None}


def table_options(spec: TableSpec, table: dict | None) -> TableOptions:
    """``table`` as :class:`TableOptions`, refusing an option ``spec`` does not read: a part asked
    for and silently ignored would run (and report) the whole table instead."""
    options = TableOptions.from_dict(table)
    ignored = sorted(set(table or {}) - set(spec.options))
    if ignored:
        takes = f"it takes only {list(spec.options)}" if spec.options else "it runs only as a whole"
        raise ValueError(f"Table {spec.key} does not read the option(s) {ignored}: {takes}. "
                         "Drop them, or pick the table whose part you want (`python -m rmm_lib list`).")
    return options


def build_context(spec: TableSpec, splits: dict, profile: Profile | str, *, seed: int = 0, device: str = "cpu",
                  train: dict | None = None, model: dict | None = None, table: dict | None = None,
                  out_dir=None, resume: bool = False, pretrained: bool = True, reduced: bool = False,
                  max_steps: int | None = None, progress: bool = False, assets: Assets | None = None) -> RunContext:
    """The one constructor of a :class:`RunContext`.

    The training configuration is the spec's paper settings (``paper`` profile) or its complete
    quick settings (``quick``), then ``train`` on top, through :meth:`TrainConfig.from_dict`, which
    refuses unknown keys. ``max_steps`` makes a smoke run: one epoch of that many batches, no
    warm-up. Method options: the spec's, the quick profile's, then ``model``.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if not {"train", "test"} <= set(splits):
        raise ValueError(f"splits need 'train' and 'test' (and usually 'val'); got {sorted(splits)}.")
    quick = profile.name == "quick"
    base = dict(spec.quick_train) if quick and spec.quick_train else dict(spec.train)
    over = dict(train or {})
    if max_steps is not None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}.")
        over.update(epochs=1, max_batches=max_steps, warmup_epochs=0)  # no warm-up in one epoch
    config = TrainConfig.from_dict(base, **over, seed=seed, device=device)
    options = {**spec.model, **(spec.quick_model if quick else {}), **(model or {})}
    return RunContext(spec=spec, splits=splits, profile=profile, train=config, model=options,
                      table=table_options(spec, table), seed=seed, device=str(device),
                      out_dir=None if out_dir is None else Path(out_dir), resume=resume, pretrained=pretrained,
                      reduced=reduced, progress=progress, assets=assets or Assets())
