"""The run context: one constructor, typed fields, the profile from the entry point, exact resume."""
import json

import pytest
import torch
from torch import nn

from rmm_lib import tables
from rmm_lib.context import Assets, TableOptions, TableSpec, build_context
from rmm_lib.data import MultimodalDataset
from rmm_lib.hooks import TrainingHooks
from rmm_lib.profiles import get_profile
from rmm_lib.train import Trainer


def _splits(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long()
    ds = MultimodalDataset({"audio": x}, label=y, meta={"class_names": ("a", "b")})
    return {"train": ds, "val": ds.subset(list(range(16))), "test": ds.subset(list(range(16, 48)))}


class Interrupt(RuntimeError):
    """Raised by the toy model to stand in for a killed run."""


class ToyModel(TrainingHooks, nn.Module):
    stop_after_steps = None  # set by a test: raise after this many optimiser steps (an interrupted run)

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(6, 2)
        self.steps = 0

    def forward(self, batch):
        return {"logits": self.net(batch.inputs["audio"])}

    def training_step(self, batch, step):
        self.steps += 1
        if ToyModel.stop_after_steps is not None and self.steps > ToyModel.stop_after_steps:
            raise Interrupt("killed")
        return super().training_step(batch, step)


SEEN = {}


def toy_run(ctx):
    SEEN.update(profile=ctx.profile.name, config=ctx.train, table=ctx.table, model=ctx.model)
    torch.manual_seed(ctx.seed)
    trainer = Trainer(ToyModel(), ctx.train, progress=False)
    trainer.fit(ctx.splits["train"], ctx.splits["val"], **ctx.fit_kwargs("toy", ctx.seed))
    weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    return {"toy": {"accuracy": 100 * trainer.evaluate(ctx.splits["test"])["accuracy"],
                    "weight sum": float(weights.sum()), "weight norm": float(weights.norm())}}


TOY = TableSpec(key="toy.resume", paper="toy", title="Toy", dataset="iemocap", backbones={}, protocol="",
                paper_numbers={}, run=toy_run, train={"epochs": 6, "batch_size": 8, "lr": 0.05, "optimizer": "sgd"},
                quick_train={"epochs": 2, "batch_size": 16}, model={"width": 4}, quick_model={"width": 2},
                options=("rows",))


def test_the_profile_picks_the_paper_or_the_quick_settings_and_unknown_keys_are_refused():
    paper = build_context(TOY, _splits(), get_profile("paper"), train={"lr": 0.1}, seed=3)
    assert (paper.train.epochs, paper.train.lr, paper.train.optimizer, paper.train.seed) == (6, 0.1, "sgd", 3)
    assert paper.model == {"width": 4} and paper.profile.name == "paper"
    quick = build_context(TOY, _splits(), "quick", model={"depth": 1})
    assert (quick.train.epochs, quick.train.batch_size, quick.train.optimizer) == (2, 16, "adam")
    assert quick.model == {"width": 2, "depth": 1}
    with pytest.raises(ValueError, match="Unknown training setting.*'lrr'"):
        build_context(TOY, _splits(), "quick", train={"lrr": 1.0})
    with pytest.raises(ValueError, match="Unknown table option.*'rowz'"):
        build_context(TOY, _splits(), "quick", table={"rowz": ("LB",)})
    with pytest.raises(ValueError, match="max_steps"):
        build_context(TOY, _splits(), "quick", max_steps=0)
    assert build_context(TOY, _splits(), "quick", table={"rows": ("LB",)}).table.rows == ("LB",)
    smoke = build_context(TOY, _splits(), "paper", max_steps=2)
    assert smoke.smoke and (smoke.train.epochs, smoke.train.max_batches, smoke.train.warmup_epochs) == (1, 2, 0)
    assert not paper.smoke


def test_a_part_the_table_does_not_read_is_refused_not_ignored():
    """``--table methods=('MLA',)`` on MLA's Table 4, whose run trains both of its rows regardless,
    would run (and report) the whole table: every table declares the options its run reads."""
    from rmm_lib.tables import get

    with pytest.raises(ValueError, match=r"mla.table4 does not read the option\(s\) \['methods'\]: it runs only as a whole"):
        build_context(get("mla.table4"), _splits(), "quick", table={"methods": ("MLA",)})
    with pytest.raises(ValueError, match=r"takes only \['rows', 'settings'\]"):
        build_context(get("trml.table1"), _splits(), "quick", table={"methods": ("TRML",)})
    assert build_context(get("mla.table1_cremad"), _splits(), "quick", table={"methods": ("MLA",)}).table.methods == ("MLA",)


def test_table_options_are_typed_and_a_seed_change_reaches_the_training_config():
    options = TableOptions.from_dict({"rates": [0.1, 0.5]})
    assert options.rates == (0.1, 0.5) and options.get("eta", 0.7) == 0.7
    ctx = build_context(TOY, _splits(), "quick", assets=Assets())
    other = ctx.with_seed(5)
    assert other.seed == 5 and other.train.seed == 5 and other.assets is ctx.assets and ctx.train.seed == 0


def test_cells_get_distinct_stable_checkpoint_folders(tmp_path):
    ctx = build_context(TOY, _splits(), "quick", out_dir=tmp_path)
    assert ctx.cell_dir("mla", "eta=0.1") == ctx.cell_dir("mla", "eta=0.1") != ctx.cell_dir("mla", "eta=0.2")
    assert ctx.fit_kwargs("a")["resume"] is None
    assert build_context(TOY, _splits(), "quick").fit_kwargs("a") == {}


@pytest.fixture
def toy_cli(monkeypatch):
    import rmm_lib.data

    tables.load_all()
    monkeypatch.setitem(tables.REGISTRY, TOY.key, TOY)
    monkeypatch.setattr(rmm_lib.data, "load_splits", lambda name, root=None, **kw: _splits())
    monkeypatch.setattr(ToyModel, "stop_after_steps", None)
    from rmm_lib.__main__ import main

    return main


def test_the_command_line_runs_the_paper_profile_and_resumes_exactly(toy_cli, tmp_path):
    args = ["run", TOY.key, "--data-root", str(tmp_path), "--no-progress", "--train", "batch_size=8"]
    assert toy_cli([*args, "--out", str(tmp_path / "whole")]) == 0
    assert SEEN["profile"] == "paper" and SEEN["config"].epochs == 6 and SEEN["config"].batch_size == 8
    whole = json.loads((tmp_path / "whole" / TOY.key / "result.json").read_text())
    assert whole["profile"] == "paper" and whole["config"]["epochs"] == 6
    assert whole["provenance"]["command"].startswith("python -m rmm_lib run toy.resume")
    assert len(whole["provenance"]["code_hash"]) == 12

    # killed in epoch 4 (6 batches an epoch), then resumed with the same command
    ToyModel.stop_after_steps = 3 * 6 + 2
    with pytest.raises(Interrupt):
        toy_cli([*args, "--out", str(tmp_path / "cut")])
    ToyModel.stop_after_steps = None
    (checkpoint,) = (tmp_path / "cut" / TOY.key / "cells").glob("*/last.pt")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 3
    assert toy_cli([*args, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    resumed = json.loads((tmp_path / "cut" / TOY.key / "result.json").read_text())
    assert resumed["ours"] == whole["ours"] and resumed["resumed"]

    # without --resume the same command starts again from scratch (and still ends the same)
    assert toy_cli([*args, "--out", str(tmp_path / "cut")]) == 0
    assert json.loads((tmp_path / "cut" / TOY.key / "result.json").read_text())["ours"] == whole["ours"]


def test_the_command_line_refuses_unknown_settings(toy_cli, tmp_path, capsys):
    assert toy_cli(["run", TOY.key, "--out", str(tmp_path), "--train", "epochz=2"]) == 2
    assert "Unknown training setting" in capsys.readouterr().err
    assert toy_cli(["run", TOY.key, "--out", str(tmp_path), "--train", "epochs"]) == 2
    assert toy_cli(["run", TOY.key, "--out", str(tmp_path), "--profile", "quick", "--no-progress"]) == 0
    assert SEEN["profile"] == "quick" and SEEN["config"].epochs == 2
