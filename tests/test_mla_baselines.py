"""The extra baselines of MLA's Table 1: FiLM, BiGated, OGM-GE, QMF, independent late fusion."""
from dataclasses import replace

import pytest
import torch

from rmm_lib import seed_everything
from rmm_lib.baselines import (
    MLA_BASELINES,
    BiGatedFusion,
    FiLMFusion,
    OGMGEFusion,
    QMFFusion,
    make_mla_baseline,
)
from rmm_lib.encoders import quick_encoders
from rmm_lib.train import TrainConfig, Trainer


@pytest.mark.parametrize("cls", [FiLMFusion, BiGatedFusion, OGMGEFusion, QMFFusion])
def test_absent_modality_input_does_not_matter(cls, small_splits, batch):
    seed_everything(0)
    model = cls(quick_encoders(small_splits["train"], 16), 16, 6).eval()
    noisy = replace(batch, inputs={**batch.inputs, "image": torch.randn_like(batch.inputs["image"]) * 5})
    a, b = model(batch)["logits"], model(noisy)["logits"]
    assert a.shape == (12, 6)
    assert torch.allclose(a[:4], b[:4], atol=1e-5)
    assert not torch.allclose(a[4:8], b[4:8])


def test_film_modulates_with_the_condition_modality(small_splits, batch):
    seed_everything(0)
    model = FiLMFusion(quick_encoders(small_splits["train"], 16), 16, 6, condition="text").eval()
    assert model.modulated == ("image", "audio")
    full = small_splits["test"][list(range(12))]
    other_text = replace(full, inputs={**full.inputs, "text": full.inputs["text"].flip(0)})
    assert not torch.allclose(model(full)["logits"], model(other_text)["logits"])
    with pytest.raises(ValueError, match="condition"):
        FiLMFusion(quick_encoders(small_splits["train"], 16), 16, 6, condition="video")


def test_qmf_weights_by_energy_over_present_modalities(small_splits, batch):
    seed_everything(0)
    model = QMFFusion(quick_encoders(small_splits["train"], 16), 16, 6).eval()
    out = model(batch)
    conf = out["confidence"]
    expected = conf[4:8, :1] * out["unimodal_logits"]["image"][4:8]
    assert torch.allclose(out["logits"][4:8], expected, atol=1e-5)
    assert torch.allclose(conf[:, 0], torch.logsumexp(out["unimodal_logits"]["image"], 1) / 10)


def test_qmf_history_and_rank_loss(small_splits):
    seed_everything(0)
    model = QMFFusion(quick_encoders(small_splits["train"], 16), 16, 6, n_samples=len(small_splits["train"]))
    b = small_splits["train"][list(range(16))]
    first = model.training_step(b, 0)
    assert float(first["rank"]) == 0.0  # no history yet
    assert (model.loss_count[:, :16] == 1).all() and (model.loss_count[:, 16:] == 0).all()
    second = model.training_step(b, 0)
    assert float(second["rank"]) >= 0.0 and torch.isfinite(second["loss"])
    with pytest.raises(ValueError, match="history size"):
        QMFFusion(quick_encoders(small_splits["train"], 16), 16, 6, n_samples=4).training_step(b, 0)


def test_ogm_ge_slows_the_dominant_modality(small_splits):
    seed_everything(0)
    model = OGMGEFusion(quick_encoders(small_splits["train"], 16), 16, 6, noise=False)
    b = small_splits["train"][list(range(32))]
    with torch.no_grad():  # make the image dominate: its share of the head is scaled up
        model.head.weight[:, :16] *= 50
    output = model.training_step(b, 0)
    output["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.before_optimizer_step(0, output)  # the hook receives what training_step returned
    k = model.coefficients
    assert k["image"] < 1.0
    assert all(0 < v <= 1 for v in k.values())
    name = next(n for n in grads if n.startswith("encoders.image"))
    assert torch.allclose(dict(model.named_parameters())[name].grad, grads[name] * k["image"])
    assert torch.equal(model.head.weight.grad, grads["head.weight"])  # the head is not modulated


@pytest.mark.parametrize("name", MLA_BASELINES)
def test_every_baseline_trains_with_the_shared_trainer(name, small_splits):
    seed_everything(0)
    model = make_mla_baseline(name, quick_encoders(small_splits["train"], 8), 8, 6)
    trainer = Trainer(model, TrainConfig(epochs=1), progress=False)
    trainer.fit(small_splits["train"])
    assert 0.0 <= trainer.evaluate(small_splits["test"])["accuracy"] <= 1.0


def test_factory_and_task_checks(small_splits):
    enc = quick_encoders(small_splits["train"], 8)
    with pytest.raises(ValueError, match="Unknown MLA baseline"):
        make_mla_baseline("gated", enc, 8, 6)
    for cls in (OGMGEFusion, QMFFusion):
        with pytest.raises(ValueError, match="classification only"):
            cls(enc, 8, 1, task="regression")
