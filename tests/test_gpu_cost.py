"""benchmarks/gpu_cost.py, checked on a CPU with a tiny step count (no GPU is needed to test it):
the families it measures, the projection of each table from the measured steps, the time budget,
and its refusal to call CPU figures GPU figures."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from rmm_lib.estimates import models_trained, sample_counts
from rmm_lib.tables import get

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("gpu_cost", ROOT / "benchmarks" / "gpu_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tables_sharing_models_are_one_family(script):
    families = dict(script.families([get(k) for k in ("mla.table2", "mla.table1_iemocap", "mla.table1_cremad",
                                                      "trml.table1", "trml.table2", "trml.table5")]))
    assert families == {"mla.table1_iemocap": ["mla.table2", "mla.table1_iemocap"], "mla.table1_cremad": ["mla.table1_cremad"],
                        "trml.table1": ["trml.table1", "trml.table2"], "trml.table5": ["trml.table5"]}


def test_measures_on_cpu_and_projects_each_table_from_its_steps(script, tmp_path, capsys):
    out = tmp_path / "gpu_cost.json"
    assert script.main(["--device", "cpu", "--steps", "2", "--eval-steps", "1", "--only", "mla.table2",
                        "mla.table1_iemocap", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["provenance"]["device"] == "cpu" and record["provenance"]["gpu"] is None
    assert record["provenance"]["command"].startswith("python benchmarks/gpu_cost.py --device cpu")
    (rep, row), = record["families"].items()
    assert rep == "mla.table1_iemocap" and row["options"]["methods"] == ["MLA"] and row["precision"] == "float32"
    assert row["batch_size"] == 64 and row["model"] == "MLA" and row["step_s"] > 0
    assert row["samples_per_s"] == pytest.approx(64 / row["step_s"], rel=0.01)
    for key in ("mla.table2", "mla.table1_iemocap"):  # by hand: models x epochs x batches x step (+ evaluation)
        spec, projected = get(key), row["tables"][key]
        n = {k: math.ceil(v / 64) for k, v in sample_counts(spec).items()}
        per_model = 100 * (n["train"] * row["step_s"] + n["val"] * row["eval_step_s"]) + n["test"] * row["eval_step_s"]
        assert projected["minutes"] == pytest.approx(models_trained(spec) * per_model / 60, abs=0.05)
        assert projected["models"] == models_trained(spec) and projected["epochs"] == 100
    assert "mla.table1_iemocap (batch 64, float32): step" in capsys.readouterr().out


def test_the_budget_stops_new_families(script, tmp_path):
    out = tmp_path / "gpu_cost.json"
    script.main(["--device", "cpu", "--steps", "1", "--budget-s", "0", "--only", "mla.table2", "--out", str(out)])
    record = json.loads(out.read_text())
    assert record["families"] == {} and record["skipped"] == ["mla.table2"]


def test_refuses_to_call_cpu_figures_gpu_figures(script, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="No GPU here"):
        script.main(["--only", "mla.table2"])
