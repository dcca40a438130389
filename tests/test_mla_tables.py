"""MLA's table specs: paper numbers present, runs on the benchmark, paper settings on real data."""
import numpy as np
import pytest
import torch

from rmm_lib.data import MultimodalDataset
from rmm_lib.recipes import mla as recipe
from rmm_lib.reporting import format_table
from rmm_lib.tables import build_context, get, load_all


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
    ctx = build_context(spec, small_splits, "quick", train={"epochs": 1}, table={"methods": ["Concat", "MLA"]})
    assert ctx.train.epochs == 1 and ctx.table.methods == ("Concat", "MLA")
    result = spec.run(ctx)
    assert set(result) == {"Concat", "MLA"}
    assert set(result["MLA"]) == {"Image", "Text", "Audio", "Multi"}
    assert all(0 <= v <= 100 for row in result.values() for v in row.values())
    text = format_table(result, spec.paper_numbers)  # ours, then the paper's rows labelled (paper)
    lines = text.splitlines()
    cells = lambda line: [c.strip() for c in line.split(" | ")]  # noqa: E731
    mla = next(line for line in lines if cells(line)[0] == "MLA")
    paper = next(line for line in lines if cells(line)[0] == "MLA (paper)")
    assert f"{result['MLA']['Multi']:.2f}" in cells(mla)
    assert f"{spec.paper_numbers['MLA']['Multi']:.2f}" in cells(paper)
    assert lines.index(mla) < lines.index(paper)


def test_real_data_uses_the_appendix_settings_and_feature_encoders():
    n = 40
    ds = MultimodalDataset({"audio": torch.randn(n, 12), "text": torch.randn(n, 20)},
                           label=torch.arange(n) % 4, meta={"class_names": ("a", "b", "c", "d")})
    splits = {"train": ds, "val": ds, "test": ds}
    ctx = build_context(get("mla.table2"), splits, "paper", train={"epochs": 1})
    cfg = ctx.train
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.batch_size, cfg.gamma, cfg.epochs) == ("sgd", 1e-3, 0.9, 64, 0.1, 1)
    quick = build_context(get("mla.table2"), splits, "quick", train={"epochs": 1}).train  # the quick profile's own
    assert (quick.optimizer, quick.lr, quick.epochs) == (recipe.QUICK_TRAIN["optimizer"], recipe.QUICK_TRAIN["lr"], 1)
    enc = recipe.build_encoders(ds, 16)
    assert enc["audio"](torch.randn(3, 12)).shape == (3, 16)
    assert sum(isinstance(m, torch.nn.Linear) for m in enc["text"].modules()) == 3  # A.3.2: three FC layers
    with pytest.raises(ValueError, match="No paper-profile encoder"):
        recipe.build_encoders(MultimodalDataset({"depth": torch.randn(n, 2, 2, 2)}, label=torch.zeros(n).long()), 8)


def test_clip_towers_need_weights_except_in_a_smoke_run():
    """Table 4 / Food-101 use CLIP ViT-B-32 towers: without the OpenAI weights a real run stops with
    a message naming them; a smoke run (shapes and cost only) builds them without weights."""
    from rmm_lib.encoders import WeightsNotFoundError

    n = 4
    ds = MultimodalDataset({"image": torch.randn(n, 3, 224, 224)}, label=torch.zeros(n).long())
    with pytest.raises(WeightsNotFoundError, match="ViT-B-32"):
        recipe.build_encoders(ds, 8)
    tower = recipe.build_encoders(ds, 8, pretrained=False)["image"]
    assert tower(ds.inputs["image"][:2]).shape == (2, 8)


def test_clip_text_tower_reads_the_loaders_byte_rows():
    """Food-101's text tensor is UTF-8 bytes + 1 (the loaders' format): the CLIP text tower turns
    the rows back into strings and tokenizes them with CLIP's BPE, never as if they were BPE ids."""
    from rmm_lib.data.sources.common import strings_from_text_bytes, text_bytes

    texts = ["crème brûlée with berries", "pad thai", ""]
    ids = torch.from_numpy(text_bytes(texts, 256))
    assert strings_from_text_bytes(ids) == texts
    assert strings_from_text_bytes(text_bytes(["crème"], 3)) == ["cr"]  # a cut character is dropped
    with pytest.raises(ValueError, match="byte ids"):
        strings_from_text_bytes(torch.full((1, 4), 300))
    ds = MultimodalDataset({"text": ids}, label=torch.zeros(3).long())
    tower = recipe.build_encoders(ds, 8, pretrained=False)["text"]
    tokens = tower.tokenizer(strings_from_text_bytes(ids))
    assert tokens.shape == (3, 77) and tokens[2, 2] == 0  # "" -> start, end, padding
    assert tower(ids).shape == (3, 8)
