"""MLA's table specs: paper numbers present, runs on the benchmark, paper settings on real data."""
import numpy as np
import pytest
import torch

from rmm_lib.data import MultimodalDataset
from rmm_lib.tables import RunContext, get, load_all
from rmm_lib.tables import mla as tables


def test_specs_are_registered_with_the_papers_numbers():
    keys = set(load_all())
    for ds in ("cremad", "kinetics_sounds", "food101", "iemocap"):
        assert f"mla.table1_{ds}" in keys and f"mla.table3_{ds}" in keys
    assert {"mla.table2", "mla.table4", "mla.fig2", "mla.fig3", "mla.released"} <= keys
    t1 = get("mla.table1_cremad").paper_numbers
    assert t1["MLA"] == {"Audio": 59.27, "Video": 64.91, "Multi": 79.70} and len(t1) == 8
    assert get("mla.table2").paper_numbers["MLA"]["70"] == 55.89
    assert get("mla.table3_food101").paper_numbers["HGM+ DF+"]["Multi"] == 93.33
    assert get("mla.table4").paper_numbers["CLIP + MLA"]["Image"] == 72.22
    assert get("mla.table2").train["optimizer"] == "sgd" and get("mla.table2").train["lr"] == 1e-3


def test_table1_runs_on_the_benchmark(small_splits):
    spec = get("mla.table1_iemocap")
    ctx = RunContext(spec, small_splits, progress=False, overrides={"epochs": 1, "methods": ["Concat", "MLA"]})
    result = spec.run(ctx)
    assert set(result) == {"Concat", "MLA"}
    assert set(result["MLA"]) == {"Image", "Text", "Audio", "Multi"}
    assert all(0 <= v <= 100 for row in result.values() for v in row.values())
    assert "ours / paper" in tables.paper_vs_ours(result, spec.paper_numbers)


def test_real_data_uses_the_appendix_settings_and_feature_encoders():
    n = 40
    ds = MultimodalDataset({"audio": torch.randn(n, 12), "text": torch.randn(n, 20)},
                           label=torch.arange(n) % 4, meta={"class_names": ("a", "b", "c", "d")})
    splits = {"train": ds, "val": ds, "test": ds}
    ctx = RunContext(get("mla.table2"), splits, progress=False, overrides={"epochs": 1})
    cfg = tables.train_config(ctx)
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.batch_size, cfg.gamma, cfg.epochs) == ("sgd", 1e-3, 0.9, 64, 0.1, 1)
    enc = tables.build_encoders(ds, 16, "iemocap")
    assert enc["audio"](torch.randn(3, 12)).shape == (3, 16)
    assert sum(isinstance(m, torch.nn.Linear) for m in enc["text"].modules()) == 3  # A.3.2: three FC layers
    with pytest.raises(ValueError, match="No paper-profile encoder"):
        tables.build_encoders(MultimodalDataset({"depth": torch.randn(n, 2, 2, 2)}, label=torch.zeros(n).long()), 8)
