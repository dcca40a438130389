from dataclasses import replace

import pytest
import torch

from rmm_lib import seed_everything
from rmm_lib.baselines import ConcatFusion, LateFusion, SumFusion, drop_modalities, make_baseline
from rmm_lib.encoders import quick_encoders


@pytest.mark.parametrize("cls", [SumFusion, ConcatFusion, LateFusion])
def test_absent_modality_input_does_not_matter(cls, small_splits, batch):
    seed_everything(0)
    model = cls(quick_encoders(small_splits["train"], 16), 16, 6).eval()
    noisy = replace(batch, inputs={**batch.inputs, "image": torch.randn_like(batch.inputs["image"]) * 5})
    a, b = model(batch)["logits"], model(noisy)["logits"]
    assert torch.allclose(a[:4], b[:4], atol=1e-6)  # image absent: its input is ignored
    assert not torch.allclose(a[4:8], b[4:8])  # image present: it is used


def test_late_fusion_averages_present_heads_only(small_splits, batch):
    seed_everything(0)
    model = LateFusion(quick_encoders(small_splits["train"], 16), 16, 6).eval()
    out = model(batch)
    uni = out["unimodal_logits"]
    assert torch.allclose(out["logits"][4:8], uni["image"][4:8])
    assert torch.allclose(out["logits"][:4], (uni["text"][:4] + uni["audio"][:4]) / 2)


def test_modality_dropout_removes_one_modality_never_all(batch):
    g = torch.Generator().manual_seed(0)
    dropped = drop_modalities(batch, 1.0, generator=g)
    before, after = batch.present.sum(1), dropped.present.sum(1)
    assert torch.equal(after, torch.where(before > 1, before - 1, before))
    assert (dropped.present <= batch.present).all()
    assert torch.equal(drop_modalities(batch, 0.0).present, batch.present)


def test_factory_refuses_unknown_names(small_splits):
    enc = quick_encoders(small_splits["train"], 16)
    with pytest.raises(ValueError, match="Unknown baseline"):
        make_baseline("gated", enc, 16, 6)
    with pytest.raises(ValueError, match="modality="):
        make_baseline("lb", enc, 16, 6)



def test_late_fusion_refuses_a_sample_with_no_modality(batch, small_splits):
    model = LateFusion(quick_encoders(small_splits["train"], 8), 8, 6)
    present = batch.present.clone()
    present[1] = False
    with pytest.raises(ValueError, match="no modality present"):
        model(replace(batch, present=present))
