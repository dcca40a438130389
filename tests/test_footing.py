"""The public comparison interface (rmm_lib.footing): a method registered from outside runs through
the comparison's own code, keeps its cells as a section of the comparison's record, and gets the
chapter's rows; bad registrations fail with a clear error."""
import json
import tomllib
from pathlib import Path

import pytest
import torch
from torch import nn

from rmm_lib import footing, records
from rmm_lib.grids import compare as G
from rmm_lib.grids.limits import benchmark_limits
from rmm_lib.hooks import TrainingHooks
from rmm_lib.recipes import compare as R

ROOT = Path(__file__).resolve().parents[1]
LIMITS = benchmark_limits(log=lambda *_: None)


class Concat(nn.Module):
    """The comparison's Concat baseline, built through the footing: a method from outside."""

    def __init__(self, f: footing.Footing):
        super().__init__()
        self.model = R.build("concat", f.train, f.task)

    def forward(self, batch):
        return self.model(batch)


@pytest.fixture
def registry():
    """Register test methods, then forget them (the module's registry is process-wide)."""
    names = []

    def add(name, build, **kw):
        names.append(name)
        return footing.register(name, build, **kw)

    yield add
    for name in names:
        if name in footing.registered():
            footing.unregister(name)


def test_a_method_from_outside_runs_through_the_comparisons_own_code(registry, tmp_path):
    # the footing's Concat and the grid's own Concat cell: same masks, seed, trainer and selection,
    # so the same numbers bit for bit -- and its cells land in their own section of the record
    registry("concat_out", Concat, protocols=("rate:0.5",), seeds=(0, 1))
    record = footing.run("concat_out", root=tmp_path, log=lambda *_: None)
    own = G.GRID.compute(G.CONFIG, "concat|rate:0.5/seed=0")
    ours = record["cells"]["concat_out|rate:0.5/seed=0"]
    assert ours["result"]["test"] == records._canonical(own["test"])
    assert ours["result"]["val"] == records._canonical(own["val"])
    assert ours["result"]["best_epoch"] == own["best_epoch"]
    assert ours["command"] == "python -m rmm_lib compare --method concat_out --cells concat_out|rate:0.5/seed=0"
    assert ours["code_hash"] == records.code_hash()
    stored = json.loads((tmp_path / "compare.json").read_text())
    assert set(stored["methods"]["concat_out"]["cells"]) == {"concat_out|rate:0.5/seed=0", "concat_out|rate:0.5/seed=1"}
    assert stored["methods"]["concat_out"]["config"]["footing"] == records._canonical(footing.footing_config())
    assert "concat_out|rate:0.5/seed=0" in stored["methods"]["concat_out"]["traces"]
    # read back: current, and the rows of the chapter for the one situation it ran
    assert records.stale_reason(footing.grid("concat_out"), records.load(footing.grid("concat_out"), tmp_path)) is None
    rows = footing.rows("concat_out", footing.runs("concat_out", root=tmp_path, log=lambda *_: None))
    assert set(rows.differences) == {"rate:0.5@same"}
    d = rows.differences["rate:0.5@same"]
    assert d["n"] == 2 and d["baseline"] in G.BASELINES
    scores = next(iter(rows.tables.values()))
    assert list(scores) == ["same rate 0.5"] and "limit" in scores["same rate 0.5"]


def test_the_rows_are_the_chapters_numbers(registry):
    # rows of a method already in the committed record (read as if registered): the paired
    # difference and the robustness are grid compare's own functions of the same runs
    registry("concat_rows", Concat)
    runs = G.by_model(records.results(G.GRID, log=lambda *_: None))
    runs = {k.replace("concat|", "concat_rows|"): v for k, v in runs.items() if k.startswith("concat|")} | runs
    rows = footing.rows("concat_rows", runs)
    for title, situation in G.HEAD_TO_HEAD.items():
        assert rows.differences[situation]["mean"] == pytest.approx(G.versus_baseline(runs, "concat", situation)["mean"])
        # the limit beside each score is the limit of that situation's own test masks
        limit = rows.tables["concat_rows: scores and the limit (accuracy %)"][title]["limit"]
        assert limit == f"{100 * G.situation_limit(LIMITS, situation):.1f}"
    robust = rows.tables["concat_rows: robustness under the complete-training sweeps"]
    assert set(robust) == {"image missing (sweep 0-100 %)", "text missing (sweep 0-100 %)"}
    assert (None, "auc") in rows.regime_differences


def test_registration_errors_say_what_is_wrong(registry):
    registry("twice", Concat, protocols=("complete",))
    with pytest.raises(ValueError, match="already registered"):
        footing.register("twice", Concat)
    footing.register("twice", Concat, protocols=("rate:0.5",), replace=True)
    assert footing.get("twice").protocols == ("rate:0.5",)
    with pytest.raises(ValueError, match="comparison's own methods"):
        footing.register("concat", Concat)
    with pytest.raises(ValueError, match="unknown protocol.*the protocols are"):
        footing.register("bad_protocol", Concat, protocols=("rate:0.9",))
    with pytest.raises(ValueError, match="unknown regime"):
        footing.register("bad_regime", Concat, regimes=("n_train=5",))
    with pytest.raises(ValueError, match="score protocol is for feature methods"):
        footing.register("tokens_score", Concat, reads="tokens", protocols=("score",))
    with pytest.raises(ValueError, match="reads must be one of"):
        footing.register("bad_reads", Concat, reads="pixels")
    with pytest.raises(TypeError, match="does not take the options"):
        footing.register("bad_option", Concat, options={"width": 3})
    with pytest.raises(ValueError, match="Unknown training setting"):
        footing.register("bad_train", Concat, train={"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="seeds must be the first of the comparison's seeds"):
        footing.register("bad_seeds", Concat, seeds=(3, 4))  # would pair with the baselines' seeds 0 and 1
    with pytest.raises(ValueError, match="sample cells"):
        footing.register("bad_sample", Concat, protocols=("complete",), sample=("bad_sample|complete/seed=9",))
    with pytest.raises(ValueError, match="each control is a name"):
        footing.register("bad_control", Concat, controls={"test": {"x": 1}})
    with pytest.raises(ValueError, match="A method name"):
        footing.register("a|b", Concat)
    with pytest.raises(KeyError, match="No method named 'never'"):
        footing.get("never")
    assert "bad_protocol" not in footing.registered()


class HooksByName(nn.Module):
    """Defines a hook's name without subclassing TrainingHooks: the trainer would ignore it."""

    def __init__(self, f):
        super().__init__()
        self.head = nn.Linear(1, 1)

    def training_step(self, batch, step):
        return {"loss": self.head.weight.sum()}


def _footing():
    feats = R.frozen_features(G.splits(G.CONFIG))
    return footing.Footing(feats["train"], "classification", len(feats["train"].meta["class_names"]), "features")


def test_a_model_that_breaks_the_hooks_contract_is_refused(registry):
    with pytest.raises(TypeError, match="does not subclass rmm_lib.hooks.TrainingHooks"):
        footing.register("hooks_by_name", HooksByName)
    f = _footing()

    class WrongWidth(TrainingHooks, nn.Module):
        def __init__(self, f):
            super().__init__()
            self.head = nn.Linear(f.train.inputs["image"].shape[1], 3)

        def forward(self, batch):
            return {"logits": self.head(batch.inputs["image"])}

    class Tensor(WrongWidth):
        def forward(self, batch):
            return self.head(batch.inputs["image"])

    class Frozen(WrongWidth):
        def __init__(self, f):
            super().__init__(f)
            self.head.requires_grad_(False)

    with pytest.raises(ValueError, match=r"logits of shape \(2, 3\).*needs \(2, \d+\)"):
        registry("wrong_width", WrongWidth).model(f)
    with pytest.raises(TypeError, match="must return a dict with a 'logits' tensor"):
        registry("tensor_out", Tensor).model(f)
    with pytest.raises(ValueError, match="no trainable parameter"):
        registry("frozen", Frozen).model(f)
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        registry("not_module", lambda f: "model").model(f)
    with pytest.raises(ValueError, match="reads pooled features"):
        footing.Footing(f.train, f.task, f.n_outputs, "tokens").encoders()
    # the check runs no random draw the seeded training would see
    model = Concat(f)
    state = torch.random.get_rng_state()
    footing.check_model(model, f, "concat_ok")
    assert torch.equal(state, torch.random.get_rng_state()) and model.training


def test_sections_and_the_record_never_overwrite_each_other(tmp_path):
    calls = []
    main = records.Grid("toy", {"scale": 2}, ("a",), lambda c, k: calls.append(k) or {"v": c["scale"]})
    part = records.Grid("toy", {"scale": 3}, ("a", "b"), lambda c, k: {"v": c["scale"]}, section="mine",
                        run_command="python -m rmm_lib compare --method mine")
    records.run(main, root=tmp_path, log=lambda *_: None)
    records.run(part, root=tmp_path, log=lambda *_: None)
    records.run(main, cells=["a"], fresh=True, root=tmp_path, log=lambda *_: None)  # rewrites the record
    assert records.stale_reason(main, records.load(main, tmp_path)) is None
    assert records.stale_reason(part, records.load(part, tmp_path)) is None
    assert records.load(part, tmp_path)["cells"]["b"]["command"] == "python -m rmm_lib compare --method mine --cells b"
    changed = records.Grid("toy", {"scale": 4}, ("a", "b"), part.compute, section="mine")
    assert "configuration differs" in records.stale_reason(changed, records.load(changed, tmp_path))
    assert records.stale_reason(main, records.load(main, tmp_path)) is None  # another section's change: main still current


def test_the_interface_sits_above_the_recipes_and_below_the_notebooks():
    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    index = {name.strip(): i for i, layer in enumerate(layers) for name in layer.split("|")}
    assert index["rmm_lib.notebook"] < index["rmm_lib.contributed"] < index["rmm_lib.footing"] < index["rmm_lib.grids"]
    assert index["rmm_lib.grids"] < index["rmm_lib.recipes"]


def test_the_command_runs_a_method_a_module_registers(tmp_path, monkeypatch, capsys):
    from rmm_lib.__main__ import main

    (tmp_path / "my_methods.py").write_text(
        "from rmm_lib import footing\n"
        "from tests.test_footing import Concat\n"
        "footing.register('cli_concat', Concat, protocols=('rate:0.5',), seeds=(0, 1))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT))
    try:
        assert main(["compare", "--module", "my_methods", "--method", "cli_concat", "--root", str(tmp_path),
                     "--cells", "cli_concat|rate:0.5/seed=1"]) == 0
        section = json.loads((tmp_path / "compare.json").read_text())["methods"]["cli_concat"]
        assert list(section["cells"]) == ["cli_concat|rate:0.5/seed=1"]
        assert main(["compare", "--list"]) == 0 and "cli_concat" in capsys.readouterr().out
    finally:
        if "cli_concat" in footing.registered():
            footing.unregister("cli_concat")
    assert main(["compare", "--method", "nowhere"]) == 2
    assert "No method named 'nowhere'" in capsys.readouterr().err
    assert main(["compare", "--module", "no_such_module_here", "--method", "x"]) == 2


class BlindToText(Concat):
    """Concat with a control: ``blind`` zeroes the text features at evaluation."""

    def __init__(self, f):
        super().__init__(f)
        self.blind = False

    def forward(self, batch):
        if self.blind:
            batch = batch.with_presence(batch.present & torch.tensor([True, False]))
        return super().forward(batch)


def test_a_control_is_the_trained_model_evaluated_again_with_its_attributes_set(registry, tmp_path):
    registry("blind", BlindToText, protocols=("rate:0.5",), seeds=(0,), controls={"floor": {"blind": True}})
    record = footing.run("blind", root=tmp_path, log=lambda *_: None)
    result = record["cells"]["blind|rate:0.5/seed=0"]["result"]
    assert set(result["floor"]) == set(result["test"]) == {"complete", "same"}
    assert result["floor"]["complete"]["accuracy"] < result["test"]["complete"]["accuracy"] - 0.05
    # the rows read a "floor" control as the chapter's floor: learned - floor and the reachable room
    rows = footing.rows("blind", footing.runs("blind", root=tmp_path, log=lambda *_: None))
    scores = rows.tables["blind: scores and the limit (accuracy %)"]["same rate 0.5"]
    assert {"floor (control)", "learned - floor", "reachable room: limit - floor"} <= set(scores)
    plain = footing.rows("concat", G.by_model(records.results(G.GRID, log=lambda *_: None)))
    assert "floor (control)" not in plain.tables["concat: scores and the limit (accuracy %)"]["same rate 0.5"]
    registry("no_attribute", Concat, protocols=("rate:0.5",), seeds=(0,), controls={"floor": {"blind": True}})
    with pytest.raises(ValueError, match="control 'floor' sets \\['blind'\\], which the model does not have"):
        footing.run("no_attribute", root=tmp_path, log=lambda *_: None)
