"""Every registered table, end to end on files, as on Colab: a tiny copy of its dataset in the
released layout (tests/e2e_fixtures.py), prepared by its data_scripts/ script, loaded by
``load_splits`` (the file-backed datasets), then ``python -m rmm_lib run KEY --random-weights
--reduced --max-steps 2``: the paper profile's backbone classes with random weights at a reduced
size, each model trained for 2 steps, ``result.json`` written; a ``--resume`` run reproduces it.

One test per spec (a new spec gets its test automatically). A spec that cannot run this way is
listed in :data:`CANNOT_RUN` with the reason."""
from __future__ import annotations

import json
import math

import pytest

from e2e_fixtures import SIZES, prepared  # noqa: F401 (a session fixture: each dataset is prepared once)
from rmm_lib.data import PreparedDataset, load_splits
from rmm_lib.data.registry import info
from rmm_lib.tables import load_all

SPECS = load_all()
KEYS = sorted(SPECS)
DATASETS = sorted({s.dataset for s in SPECS.values()})

#: key -> why that spec cannot run end to end on files (each test skips with its reason).
CANNOT_RUN: dict = {}
#: key -> {(row, column): why that cell is not a number}: the documented non-numbers.
NON_NUMBERS: dict = {}
#: key -> (``--table`` options, why): the part of a table that runs here, where the rest repeats a
#: code path another spec runs in full on files of the same shapes (CPU time of the test suite).
PART: dict = {
    "mla.table1_kinetics_sounds": (["--table", "methods=('Concat','MLA')"],
                                   "the encoders, shapes and methods of mla.table1_cremad, which trains all eight"),
    "mla.fig2": (["--table", "rates=(0.0,0.9)"], "two of the four rates: the others change the training mask only"),
}


@pytest.mark.parametrize("name", DATASETS)
def test_fixture_prepares_and_loads_from_files(name, prepared):  # noqa: F811
    root = prepared(name)
    splits = load_splits(name, root, in_memory=False)
    spec = info(name)
    assert [len(splits[s]) for s in ("train", "val", "test")] == list(SIZES[name])
    for split, ds in splits.items():
        assert isinstance(ds, PreparedDataset) and ds.modalities == tuple(spec.modalities), split
        batch = ds[[0, len(ds) - 1]]
        for m, shape in spec.modalities.items():
            assert tuple(batch.inputs[m].shape) == (2, *shape), (split, m)
        assert batch.present.all()
    if name == "mmimdb":  # every genre positive and negative somewhere in each split
        for ds in splits.values():
            assert (ds.label.sum(0) >= 1).all() and (ds.label.sum(0) < len(ds)).all()
    elif spec.task == "classification" and name not in {"mvsa", "meld"}:  # the fixtures hold every class they use in every split
        classes = {s: set(ds.label.tolist()) for s, ds in splits.items()}
        assert classes["train"] == classes["val"] == classes["test"], classes
    if spec.task.startswith("regression"):
        for ds in splits.values():
            assert (ds.score > 0).any() and (ds.score < 0).any()


def _cells(ours: dict):
    """``(row, column, value)`` for every cell; a bare number is a row without columns."""
    for row, values in ours.items():
        if isinstance(values, dict):
            for col, value in values.items():
                yield row, col, value
        else:
            yield row, "", values


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(key, row, col, value):
    """A cell is a finite number, a list of them (a figure's curve), or a documented non-number."""
    if (row, col) in NON_NUMBERS.get(key, {}):
        return
    values = value if isinstance(value, list) else [value]
    assert values and all(_is_number(v) for v in values), f"{key}: cell ({row!r}, {col!r}) = {value!r} is not a finite number"


def _spy_on_fits(monkeypatch) -> list:
    """``(run_dir, resume)`` of every ``Trainer.fit`` call from now on (None: no checkpoint
    directory / nothing to resume from)."""
    import inspect

    from rmm_lib.train import Trainer

    fits, fit = [], Trainer.fit
    signature = inspect.signature(fit)

    def spy(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        run_dir, resume = bound.arguments.get("run_dir"), bound.arguments.get("resume")
        fits.append((None if run_dir is None else str(run_dir), None if resume is None else str(resume)))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", spy)
    return fits


#: ``python -m rmm_lib run KEY ...`` as the issue gives it; batch 4 so 8 training samples make the
#: 2 batches of the one epoch (``--max-steps 2``).
ARGS = ["--random-weights", "--reduced", "--max-steps", "2", "--train", "batch_size=4", "--no-progress", "--device", "cpu"]


@pytest.mark.parametrize("key", KEYS)
def test_table_runs_end_to_end_on_files(key, prepared, tmp_path, capsys, monkeypatch):  # noqa: F811
    from rmm_lib.__main__ import main

    if key in CANNOT_RUN:
        pytest.skip(CANNOT_RUN[key])
    spec = SPECS[key]
    root = prepared(spec.dataset)
    fits = _spy_on_fits(monkeypatch)
    argv = ["run", key, "--data-root", str(root), "--out", str(tmp_path / "runs"), *ARGS, *PART.get(key, ([],))[0]]
    rc = main(argv)
    assert rc == 0, capsys.readouterr().err
    # every trained model checkpoints into a cell of its own (else --resume loads another model)
    cells = [d for d, _ in fits]
    assert cells and None not in cells, f"{key}: a model trained without a checkpoint directory"
    shared = sorted({d.rsplit("/", 1)[-1] for d in cells if cells.count(d) > 1})
    assert not shared, f"{key}: {len(cells)} models trained into {len(set(cells))} cells; shared: {shared}"
    out = tmp_path / "runs" / key
    record = json.loads((out / "result.json").read_text())
    assert record["key"] == key and record["dataset"] == spec.dataset
    assert record["synthetic"] is True  # random weights, 2 steps: never shown as a result
    assert record["config"]["max_batches"] == 2 and record["config"]["epochs"] == 1 and record["config"]["batch_size"] == 4
    assert record["ours"], f"{key} produced no numbers"
    for row, col, value in _cells(record["ours"]):
        _check_value(key, row, col, value)
    assert any((out / "cells").rglob("last.pt")), f"{key}: no checkpoint under {out / 'cells'}"
    # resumed: every finished model is loaded from its own checkpoint, and the numbers are the same
    fits.clear()
    assert main(argv + ["--resume"]) == 0, capsys.readouterr().err
    assert sorted(d for d, _ in fits) == sorted(cells), f"{key}: the resumed run trained other cells"
    assert all(r == f"{d}/last.pt" for d, r in fits), f"{key}: a resumed model did not start from its checkpoint"
    again = json.loads((out / "result.json").read_text())
    assert again["resumed"] is True and again["ours"] == record["ours"]
