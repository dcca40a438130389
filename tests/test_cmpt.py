"""CMPT (rmm_lib.methods.cmpt): proxy tokens, LoRA freezing, gate (Eq. 5), alignment (Eq. 4),
robustness on the benchmark, parameter counts of the paper architectures (Tables 3-4)."""
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from rmm_lib.methods import cmpt
from rmm_lib.recipes import cmpt as recipe
from rmm_lib.train import TrainConfig, Trainer
from rmm_lib.utils import seed_everything


@pytest.fixture(scope="module")
def pair(small_splits):
    return {k: v.select_modalities(["image", "text"]) for k, v in small_splits.items()}


def _model(ds, **kwargs):
    seed_everything(0)
    encoders = {
        "image": cmpt.ImageTokens(cmpt.add_lora(recipe.tiny_vit(layers=1), "open_clip")),
        "text": recipe.minilm_text_encoder(max_length=16),
    }
    return cmpt.CMPTModel(encoders, 6, **kwargs)


@pytest.fixture(scope="module")
def model(pair):
    return _model(pair["train"], modality_dropout=cmpt.UNIFORM_DROPOUT)


def test_only_lora_proxies_and_head_learn(model):
    learnable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert learnable, "nothing would train"
    for name in learnable:
        assert "lora_" in name or name.startswith(("proxy_tokens.", "head.")), name
    assert {"proxy_tokens.image", "proxy_tokens.text", "head.weight", "head.bias"} <= learnable
    # rank 1 on q, k, v, output of each of MiniLM's 6 layers: 6 x 4 x (384 + 384)
    report = cmpt.parameter_report(model)
    assert report["lora/text"]["learnable"] == 6 * 4 * 768
    assert report["backbone/text"]["learnable"] == 0 and report["backbone/image"]["learnable"] == 0
    assert report["all"]["learnable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_proxy_gets_gradient_and_frozen_weights_stay(model, pair):
    model.train()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    proxy_before = model.proxy_tokens["text"].detach().clone()
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=40, lr=1e-2, optimizer="adamw", weight_decay=0.02),
                      progress=False)
    batch = pair["train"][list(range(40))]
    out = model(batch)  # no modality dropout here: both proxies are used by the alignment loss
    loss = torch.nn.functional.cross_entropy(out["logits"], batch.label) + cmpt.alignment_loss(
        out["cls"], out["proxy"], batch.present, model.modalities)
    loss.backward()
    assert model.proxy_tokens["text"].grad is not None and model.proxy_tokens["text"].grad.abs().sum() > 0
    assert model.proxy_tokens["image"].grad.abs().sum() > 0
    trainer.fit(pair["train"].subset(list(range(80))))
    for n, p in model.named_parameters():
        if n in frozen:
            if "attn.base_layer" in n:
                # peft runs nn.MultiheadAttention by merging the adapter into the weight and
                # subtracting it again: round-off only, no learning.
                assert torch.allclose(p.detach(), frozen[n], atol=1e-6), f"frozen weight {n} changed"
            else:
                assert torch.equal(p.detach(), frozen[n]), f"frozen weight {n} changed"
    assert not torch.equal(model.proxy_tokens["text"].detach(), proxy_before)
    assert any(not torch.equal(p.detach(), lora_before[n]) for n, p in model.named_parameters() if "lora_B" in n)


@pytest.mark.parametrize("pattern", [(True, True), (False, True), (True, False)])
def test_gate_follows_eq5(pattern):
    b, d = 5, 7
    g = torch.Generator().manual_seed(0)
    cls = {"image": torch.randn(b, d, generator=g), "text": torch.randn(b, d, generator=g)}
    proxy = {"image": torch.randn(b, d, generator=g), "text": torch.randn(b, d, generator=g)}
    present = torch.tensor([pattern] * b)
    fused = cmpt.gate_and_fuse(cls, proxy, present, ("image", "text"))
    expected = {
        (True, True): cls["image"] + cls["text"],
        (False, True): cls["text"] + proxy["text"],  # image missing: text's proxy stands in
        (True, False): cls["image"] + proxy["image"],  # text missing: image's proxy stands in
    }[pattern]
    assert torch.equal(fused, expected)


def test_gate_mixed_batch_and_bad_input():
    cls = {"a": torch.zeros(3, 2), "b": torch.ones(3, 2)}
    proxy = {"a": torch.full((3, 2), 10.0), "b": torch.full((3, 2), 100.0)}
    present = torch.tensor([[True, True], [False, True], [True, False]])
    fused = cmpt.gate_and_fuse(cls, proxy, present, ("a", "b"))
    assert fused[:, 0].tolist() == [1.0, 101.0, 10.0]
    with pytest.raises(ValueError, match="neither modality"):
        cmpt.gate_and_fuse(cls, proxy, torch.tensor([[False, False]] * 3), ("a", "b"))


def test_model_forward_uses_the_gate(model, pair):
    model.eval()
    batch = pair["test"][list(range(6))]
    present = torch.tensor([[True, True], [True, True], [False, True], [False, True], [True, False], [True, False]])
    batch = batch.with_presence(present)
    assert torch.equal(batch.present, present)
    assert batch.inputs["image"][2:4].abs().sum() == 0 and batch.strings["text"][4:6] == ["", ""]  # placeholders
    with torch.no_grad():
        out = model(batch)
        fused = cmpt.gate_and_fuse(out["cls"], out["proxy"], present, model.modalities)
        assert torch.allclose(out["logits"], model.head(fused))
        # a missing image's content does not matter: the gate never reads it
        noisy = replace(batch, inputs={**batch.inputs, "image": batch.inputs["image"] + 5 * torch.randn_like(
            batch.inputs["image"])})
        assert torch.allclose(model(noisy)["logits"][2:4], out["logits"][2:4], atol=1e-5)


def test_alignment_ignores_incomplete_samples():
    g = torch.Generator().manual_seed(1)
    cls = {"a": torch.randn(4, 3, generator=g), "b": torch.randn(4, 3, generator=g)}
    proxy = {"a": torch.randn(4, 3, generator=g), "b": torch.randn(4, 3, generator=g)}
    present = torch.tensor([[True, True], [True, False], [False, True], [True, True]])
    loss = cmpt.alignment_loss(cls, proxy, present, ("a", "b"))
    per = ((proxy["a"] - cls["b"]) ** 2).mean(1) + ((proxy["b"] - cls["a"]) ** 2).mean(1)
    assert torch.allclose(loss, per[[0, 3]].mean())
    changed = {k: v.clone() for k, v in proxy.items()}
    changed["a"][1:3] += 100.0  # incomplete samples: no effect
    assert torch.allclose(cmpt.alignment_loss(cls, changed, present, ("a", "b")), loss)
    none = cmpt.alignment_loss(cls, proxy, torch.tensor([[True, False]] * 4), ("a", "b"))
    assert none.item() == 0.0


def test_bad_settings_raise(pair):
    enc = {"image": cmpt.ImageTokens(recipe.tiny_vit(layers=1)), "text": cmpt.ImageTokens(recipe.tiny_vit(layers=1))}
    with pytest.raises(ValueError, match="three probabilities"):
        cmpt.CMPTModel(enc, 6, modality_dropout=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="lambda"):
        cmpt.CMPTModel(enc, 6, lam=-1)
    with pytest.raises(ValueError, match="two modalities"):
        cmpt.CMPTModel({"image": enc["image"]}, 6)
    with pytest.raises(ValueError, match="equal token widths"):
        cmpt.CMPTModel({"image": enc["image"], "text": cmpt.ImageTokens(recipe.tiny_vit(width=64, heads=2))}, 6)
    with pytest.raises(ValueError, match="rank"):
        cmpt.add_lora(recipe.tiny_vit(layers=1), "open_clip", r=0)


def test_modality_dropout_writes_placeholders(pair):
    model = _model(pair["train"], modality_dropout=(0.0, 1.0, 0.0), dropout_unit="sample")
    batch = model.drop(pair["train"][list(range(8))])
    assert not batch.present[:, 0].any() and batch.present[:, 1].all()
    assert batch.inputs["image"].abs().sum() == 0
    batch = _model(pair["train"], modality_dropout=(0.0, 0.0, 1.0)).drop(pair["train"][list(range(8))])
    assert batch.strings["text"] == [""] * 8


def test_warmup_then_poly_schedule():
    lin = torch.nn.Linear(2, 2)
    lin.task = "classification"
    trainer = Trainer(lin, TrainConfig(epochs=4, lr=1.0, scheduler="poly", poly_power=0.9, warmup_epochs=2,
                                       optimizer="adamw"), progress=False)
    lrs = []
    for _ in range(4):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.scheduler.step()
    assert lrs[:2] == [0.1, 0.1] and lrs[2] == 1.0 and 0 < lrs[3] < 1.0
    with pytest.raises(ValueError, match="warmup_epochs"):
        Trainer(torch.nn.Linear(2, 2), TrainConfig(epochs=2, warmup_epochs=2), progress=False)


@pytest.mark.parametrize("kind", ["image_text", "audio_video"])
def test_paper_parameter_counts(kind):
    """Tables 3-4: total within 1 %; learnable within 25 % (the paper's head and the exact LoRA
    placement in CLIP's fused attention are not given; see notebook 33)."""
    model = recipe.paper_architecture(kind)
    report = cmpt.parameter_report(model)["all"]
    from rmm_lib.tables.cmpt import PAPER_PARAMETERS

    total, learnable = PAPER_PARAMETERS[kind]
    assert abs(report["total"] / 1e6 - total) / total < 0.01, report
    assert abs(report["learnable"] / 1e6 - learnable) / learnable < 0.25, report


@pytest.fixture(scope="module")
def chapter():
    """The chapter's quick benchmark splits (300 / 100 / 300; also sets the quick thread count)."""
    from rmm_lib.profiles import get_profile

    return recipe.chapter_splits(get_profile("quick"))


def _fit(splits, variant, seed=0):
    """One model of Sec. 4.6.1 with the chapter's quick settings (those of notebooks 32-33)."""
    from rmm_lib.profiles import get_profile
    from rmm_lib.tables import get

    ctx = recipe.chapter_context(get("cmpt.table2.food101"), splits, get_profile("quick"), seed=seed)
    # the spec's quick settings, complete (nothing of Table 5 leaks in), and the quick model options
    assert ctx.train == TrainConfig.from_dict(recipe.QUICK["train"], seed=seed, device=ctx.device)
    assert ctx.model == recipe.QUICK["model"] and ctx.seed == seed
    return recipe.train_cmpt(ctx, variant=variant)


def _break(trainer, break_proxy=None):
    """A broken method: the proxy output replaced at inference (in place; returns ``trainer``)."""
    if break_proxy:
        original = trainer.model.encode

        def encode(batch, output_attentions=False):
            enc = original(batch, output_attentions)
            if break_proxy == "zero":
                enc["proxy"] = {m: torch.zeros_like(v) for m, v in enc["proxy"].items()}
            elif break_proxy == "noise":
                gen = torch.Generator().manual_seed(0)
                enc["proxy"] = {m: torch.randn(v.shape, generator=gen) * v.std() for m, v in enc["proxy"].items()}
            elif break_proxy == "swap":  # the gate reads the wrong modality's proxy
                m1, m2 = trainer.model.modalities
                enc["proxy"] = {m1: enc["proxy"][m2], m2: enc["proxy"][m1]}
            return enc

        trainer.model.encode = encode
    return trainer


@pytest.mark.xfail(strict=True, reason="known failure, quick profile: learned minus zeroed proxy, mean of the two "
                   "single-modality cases, was +3.8 / +1.3 / -0.3 points for seeds 0 / 1 / 2 (mean +1.6): within "
                   "the seeds' spread, so the proxies are not shown to carry the missing modality (see notebook 33); "
                   "strict, so a fix shows up as XPASS")
def test_learned_proxy_carries_the_missing_modality(chapter):
    """Complete training (the chapter's quick settings), seeds 0, 1 and 2; at test one modality is
    absent from every sample. The learned proxy must beat the same model with its proxy output
    zeroed (the placeholder a model without proxies gets) by >= 2 points of accuracy, on average
    over the two single-modality cases and the three seeds: one seed's difference moves by several
    points from seed to seed. ``RMM_BREAK_CMPT=zero|noise|swap`` breaks the proxy at inference
    (zeroed / replaced by noise / the other modality's proxy); each makes this fail.

    The issue asks for "CMPT beats modality dropout" here; on this benchmark with the quick
    encoders it did, but a zeroed proxy did as well (the gain came from not encoding the
    placeholder, not from the proxy), so that comparison cannot tell a broken proxy from a working
    one and is reported in notebook 33 instead of asserted."""
    from rmm_lib.experiments import metrics_from_patterns, predict_patterns

    test = chapter["test"]
    patterns = [(False, True), (True, False)]

    def accuracy(trainer):
        preds = predict_patterns(trainer, test, patterns)
        return np.mean([metrics_from_patterns("classification", preds, np.tile(p, (len(test), 1)))["accuracy"]
                        for p in patterns])

    gains = []
    for seed in (0, 1, 2):
        trainer = _fit(chapter, "cmpt", seed)
        ours = accuracy(_break(trainer, os.environ.get("RMM_BREAK_CMPT")))
        zeroed = accuracy(_break(trainer, "zero"))  # the same trained weights
        gains.append(ours - zeroed)
    assert np.mean(gains) >= 0.02, gains


def test_table_specs_and_table5_config():
    from rmm_lib.tables import load_all
    from rmm_lib.tables.cmpt import TRAIN_AUDIO_VIDEO, TRAIN_IMAGE_TEXT

    specs = load_all()
    for key in ("cmpt.table1.food101", "cmpt.table6.mmimdb", "cmpt.table2.cremad", "cmpt.table4.ave"):
        assert key in specs and specs[key].paper == "cmpt"
    assert specs["cmpt.table1.mmimdb"].paper_numbers["image 100% / text 30%"]["CMPT"] == "52.61 ± 0.12"
    assert specs["cmpt.table2.kinetics_sounds"].paper_numbers["video (audio missing)"]["CMPT"] == 85.77
    cfg = TrainConfig(**TRAIN_IMAGE_TEXT)  # Table 5 is a valid TrainConfig
    assert (cfg.optimizer, cfg.eps, cfg.weight_decay, cfg.poly_power, cfg.warmup_epochs) == ("adamw", 1e-8, 0.02, 0.9, 5)
    assert TrainConfig(**TRAIN_AUDIO_VIDEO).lr == 5e-5
