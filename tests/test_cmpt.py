"""CMPT (rmm_lib.methods.cmpt): proxy tokens, LoRA freezing, gate (Eq. 5), alignment (Eq. 4),
robustness on the benchmark, parameter counts of the paper architectures (Tables 3-4)."""
from dataclasses import replace

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


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known failure on the testbed (results/cmpt.json): the learned proxy is no "
                   "better than the same model with its proxy zeroed -- it closes none of the gap to the oracle "
                   "(notebook 33) -- on towers where it passes its positive control (notebook 31, "
                   "test_cmpt_controls), because the photo predicts the review's class token with a ridge R^2 of "
                   "only about 0.1; strict, so a fix shows up as XPASS")
def test_learned_proxy_carries_the_missing_modality():
    """Complete training, five seeds (the chapter's grid); at test one modality is absent from every
    sample. The learned proxy must beat the *same* trained model with its final proxy tokens zeroed
    (the floor: what a model without proxies puts in the slot) in both single-modality cases, by a
    paired difference whose 95 % interval lies above zero. The oracle -- the true class token of the
    missing modality in the slot -- shows how much there was to gain (notebook 33).

    Reading the record keeps the question cheap; ``tests/test_records.py`` checks that the record
    is current and that its cells reproduce. A broken proxy (zeroed, noise, the other modality's)
    scores at or below the floor and fails this the same way."""
    from rmm_lib import records, stats
    from rmm_lib.grids import cmpt as grid

    record = records.load(grid.GRID)
    stale = records.stale_reason(grid.GRID, record)
    if stale:  # not the expected failure: the question cannot be answered from this record
        raise RuntimeError(f"results/cmpt.json cannot answer this: {stale}")
    runs = [c["result"] for k, c in record["cells"].items() if k.startswith("cmpt/")]
    for case in ("image missing", "text missing"):
        diff = stats.paired_difference([r["test"][case] for r in runs], [r["floor"][case] for r in runs])
        assert diff["real"] and diff["mean"] > 0, (case, diff)


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


def test_image_tower_pretraining_is_cached_and_loads_exactly(tmp_path, monkeypatch):
    """The quick image tower: pretrained once (here a tiny budget), then read from the cache; the
    loaded tower is the saved one and is frozen."""
    monkeypatch.setenv("RMM_CACHE", str(tmp_path))
    budget = {"n_photos": 64, "epochs": 1, "batch_size": 32}
    path = recipe.pretrain_image_tower(pretrain=budget)
    stamp = path.stat().st_mtime_ns
    assert recipe.pretrain_image_tower(pretrain=budget) == path and path.stat().st_mtime_ns == stamp
    assert recipe.pretrain_image_tower(pretrain={**budget, "lr": 1e-4}) != path  # keyed by settings
    vit, accuracy = recipe.quick_image_tower(pretrain=budget)
    saved = torch.load(path, weights_only=True)
    assert all(torch.equal(v, saved["state_dict"][k]) for k, v in vit.state_dict().items())
    assert 0.0 <= accuracy <= 1.0 and not any(p.requires_grad for p in vit.parameters())
    tokens = cmpt.ImageTokens(vit)(torch.zeros(2, 1, 16, 16), torch.zeros(recipe.IMAGE_TOWER["width"]))
    assert tokens["tokens"].shape == (2, 18, recipe.IMAGE_TOWER["width"])  # proxy, class, 16 patches


def test_digit_photos_are_seeded_and_refuse_bad_input():
    from rmm_lib.data import digit_photos

    images, digits = digit_photos(50, "val", seed=3)
    assert images.shape == (50, 1, 16, 16) and digits.min() >= 0 and digits.max() <= 9
    again, same = digit_photos(50, "val", seed=3)
    assert torch.equal(images, again) and torch.equal(digits, same)
    assert not torch.equal(digit_photos(50, "train", seed=3)[0], images)
    with pytest.raises(ValueError, match="pool of scans"):
        digit_photos(5, "unlabelled")


def test_quick_towers_are_the_chapters_and_the_records_stay_buildable(pair):
    """The chapter's towers (recipe.QUICK, issue 24): q, k, v and o adapted separately at rank 32
    on the image tower, its proxy read before the final norm, MiniLM read by its mean token with the
    proxy at [CLS]'s position; RECORDS_MODEL (grid compare's ``cmpt@records`` variant) still builds
    the earlier towers: one fused rank-1 adapter, read after the norm, MiniLM's [CLS]."""
    width = recipe.IMAGE_TOWER["width"]
    new = recipe.build_cmpt(pair["train"], **recipe.QUICK["model"])
    image, text = new.encoders["image"], new.encoders["text"]
    adapted = {n.split(".lora_A")[0].split(".")[-1] for n, _ in image.named_parameters() if "lora_A" in n}
    assert adapted == {"q_proj", "k_proj", "v_proj", "out_proj"} and image.proxy_read == "before_norm"
    assert cmpt.parameter_report(new)["lora/image"]["learnable"] == 4 * 32 * (width + width)
    assert (text.pooling, text.proxy_position) == ("mean", "cls")
    old = recipe.build_cmpt(pair["train"], **recipe.RECORDS_MODEL)
    assert old.encoders["image"].proxy_read == "final_norm" and old.encoders["text"].pooling == "cls"
    assert not any("q_proj" in n for n, _ in old.encoders["image"].named_parameters())
    assert cmpt.parameter_report(old)["lora/image"]["learnable"] < cmpt.parameter_report(new)["lora/image"]["learnable"] / 10


def test_minilm_readings_measure_every_reading_and_a_proxy_slot_that_carries(pair):
    """Notebook 30's measurement behind the chapter's text tower: every (position, pooling) of
    TextTokens is read, the probe scores a probability, and the proxy's output moves with its
    input at both positions (0 would be a slot that cannot carry anything)."""
    readings = recipe.minilm_readings(pair, max_length=16, batch_size=64)
    assert set(readings) == {(p, q) for p in cmpt.TextTokens.POSITIONS for q in cmpt.TextTokens.POOLINGS}
    assert all(0.0 <= r["probe_val_accuracy"] <= 1.0 for r in readings.values())
    assert min(r["proxy_output_change"] for r in readings.values()) > 0.05, readings
    # the pooling reads the sentence, never the proxy: at one position both poolings see the same
    # proxy outputs; the position changes what the encoder is given, and so the proxy's outputs
    change = {k: round(r["proxy_output_change"], 5) for k, r in readings.items()}
    assert change[("cls", "cls")] == change[("cls", "mean")] and change[("own", "cls")] == change[("own", "mean")]
    assert change[("cls", "cls")] != change[("own", "cls")]
