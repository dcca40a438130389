"""The comparison (notebook 40, grid ``compare``): its protocols are the library's, every method
trains through the one trainer on the same footing, and the regime knobs change what they say."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rmm_lib import missing, records
from rmm_lib.grids import compare as G
from rmm_lib.recipes import compare as R

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"n_train": 40, "n_val": 20, "n_test": 30}


# ----------------------------------------------------------------------------- protocols
def test_each_protocol_is_the_librarys_mask():
    mods = ("image", "text")
    sz = {"train": 40, "val": 20, "test": 30}
    fit, tests = R.protocol_masks("map:both", 3, SIZES)
    expected = missing.map_splits(sz, "both", "both", 0.7, mods, seed=4)
    assert np.array_equal(fit["train"], expected["train"]) and np.array_equal(fit["val"], expected["val"])
    assert np.array_equal(tests["map:text"], missing.map_splits(sz, "both", "text", 0.7, mods, seed=0)["test"])
    fit, tests = R.protocol_masks("rate:0.3", 2, SIZES)
    expected = missing.mla_splits(sz, mods, 0.3, seed=3)
    assert all(np.array_equal(fit[s], expected[s]) for s in ("train", "val"))
    assert np.array_equal(tests["same"], expected["test"])
    fit, tests = R.protocol_masks("trml:image", 1, SIZES)
    a = missing.trml_setting_a(40, 20, 30, mods, victim="text->image", kept=0.1, seed=1)
    b = missing.trml_setting_b(40, 20, 30, mods, victim="text->image", kept=0.1, seed=1)
    assert np.array_equal(fit["train"], a["train"]) and np.array_equal(tests["A"], a["test"])
    assert np.array_equal(tests["B"], b["test"])


def test_protocols_hide_what_their_papers_say():
    n = SIZES["n_test"]
    fit, tests = R.protocol_masks("complete", 0, SIZES)
    assert fit == {} and tests["complete"].all()
    for gone, col in (("image", 0), ("text", 1)):
        absent = [(~tests[f"sweep:{gone}@{r}"][:, col]).sum() for r in R.SWEEP if r > 0]
        assert absent == [round(r * n) for r in R.SWEEP if r > 0]  # 10 %, 20 %, ... 100 % of the samples
        assert tests[f"sweep:{gone}@1.0"][:, 1 - col].all()  # the other modality stays
    fit, tests = R.protocol_masks("trml:text", 0, {"n_train": 400, "n_val": 100, "n_test": 200})
    assert fit["train"][:, 1].mean() == pytest.approx(0.1, abs=0.01) and fit["train"][:, 0].all()
    assert not tests["A"][:, 1].any()  # Setting A: the victim absent from every test sample
    assert tests["B"][:, 1].mean() == pytest.approx(0.1, abs=0.01)  # Setting B: missing at the same 90 %
    fit, tests = R.protocol_masks("map:image", 0, {"n_train": 400, "n_val": 100, "n_test": 200})
    assert fit["train"][:, 0].mean() == pytest.approx(0.3) and fit["train"][:, 1].all()
    both = tests["map:both"]
    assert both[:, 0].mean() == pytest.approx(0.65) and both[:, 1].mean() == pytest.approx(0.65)
    with pytest.raises(ValueError, match="Unknown protocol"):
        R.protocol_masks("rate", 0, SIZES)


def test_the_notebook_writes_no_mask_of_its_own():
    source = (ROOT / "notebooks" / "40_comparison.py").read_text()
    assert "protocol_masks" in source
    for forbidden in ("default_rng", "np.random", "torch.rand", "full_presence(", "map_missing(", "mla_random_missing("):
        assert forbidden not in source, f"notebook 40 builds masks itself ({forbidden})"


def test_cell_names_round_trip_and_every_cell_is_a_known_method_and_protocol():
    assert G.parse("n_train=100/mla:released|rate:0.5/seed=2") == ("n_train=100", "mla:released", "rate:0.5", 2)
    assert G.parse("lb:image|complete/seed=0") == (None, "lb:image", "complete", 0)
    assert G.parse("labels=100/trml+unlabelled|complete/seed=4") == ("labels=100", "trml+unlabelled", "complete", 4)
    for cell in G.GRID.cells:
        if cell.startswith("limits/"):
            assert cell[7:] in G.CONFIG["regimes"]
            continue
        regime, method, protocol, seed = G.parse(cell)
        assert method in R.ALL_METHODS and protocol in R.PROTOCOLS + ("score",)
        assert regime is None or regime in G.CONFIG["regimes"] or regime in G.CONFIG["label_scarce"]
        assert R.runs_under(method, protocol), cell
        assert method not in R.UNLABELLED_METHODS or regime in G.CONFIG["label_scarce"], cell
    main = [c for c in G.GRID.cells if "/" not in c.rsplit("/seed=", 1)[0]]
    for method in R.METHODS + R.VARIANTS:  # at least five seeds of every method under each protocol it runs
        for protocol in R.PROTOCOLS:
            seeds = {G.parse(c)[3] for c in main if G.parse(c)[1:3] == (method, protocol)}
            assert not G._runs(G.CONFIG, method, protocol) or len(seeds) >= 5, (method, protocol)
    scarce = [G.parse(c) for c in G.GRID.cells if c.startswith(tuple(f"{r}/" for r in G.CONFIG["label_scarce"]))]
    for method in ("trml", "trml+unlabelled", "cmpt", "cmpt+unlabelled", "concat", "dropout"):
        assert len({s for _, m, _, s in scarce if m == method}) >= 5, method


# ----------------------------------------------------------------------------- one footing, one trainer
@pytest.fixture(scope="module")
def tiny():
    config = {**G.CONFIG, "sizes": SIZES}
    return G.splits(config)


def test_features_are_the_frozen_towers_pooled_outputs_and_are_cached(tiny):
    path = R.feature_cache_path(tiny)
    path.unlink(missing_ok=True)
    first = R.frozen_features(tiny)
    assert path.is_file()
    again = R.frozen_features(tiny)
    for s in tiny:
        assert first[s].inputs["image"].shape == (len(tiny[s]), 384) == first[s].inputs["text"].shape
        assert torch.equal(first[s].inputs["text"], again[s].inputs["text"])
        assert torch.equal(first[s].label, tiny[s].label) and first[s].strings == tiny[s].strings
    # the text feature reads the review: two different reviews, two different vectors
    assert not torch.allclose(first["train"].inputs["text"][0], first["train"].inputs["text"][1])
    with pytest.raises(ValueError, match="image \\+ text"):
        R.frozen_features({k: v.select_modalities(["text"]) for k, v in tiny.items()})


def test_trml_reads_the_same_features_with_the_photo_as_one_frame(tiny):
    feats = R.frozen_features(tiny)
    view = R.as_trml_dataset(feats["test"])
    assert view.modalities == ("video", "text") and view.inputs["video"].shape == (30, 1, 384)
    assert torch.equal(view.inputs["video"][:, 0], feats["test"].inputs["image"])
    masked = R.as_trml_dataset(feats["test"].with_presence(missing.only_modality(30, ("image", "text"), "text")))
    assert not masked.presence[:, 0].any() and masked.presence[:, 1].all()  # columns keep their order


def test_every_method_trains_through_the_one_trainer_with_one_configuration(tiny, monkeypatch):
    from rmm_lib.train import Trainer

    seen = []
    fit = Trainer.fit

    def spy(self, train, val=None, **kwargs):
        seen.append((type(self.model).__name__, self.config.lr, self.config.patience, self.config.batch_size))
        return fit(self, train, val, **kwargs)

    monkeypatch.setattr(Trainer, "fit", spy)
    quick = {**R.TRAIN, "epochs": 1, "max_batches": 1}
    # MLA keeps its paper's optimiser (SGD with momentum), with the same one-epoch budget here
    monkeypatch.setattr(R, "TRAIN_BY_METHOD", {m: {**c, "epochs": 1, "max_batches": 1} for m, c in R.TRAIN_BY_METHOD.items()})
    masks = R.protocol_masks("map:both", 0, SIZES)[0]
    optimisers = {}
    for method in R.METHODS + R.VARIANTS:
        data = R.prepare(method, tiny)
        trainer = R.fit(method, data, 0, masks, train_config=quick)
        assert trainer.epoch == 1
        optimisers[method] = type(trainer.optimizer).__name__
    own = [s for s, m in zip(seen, R.METHODS + R.VARIANTS) if m not in R.TRAIN_BY_METHOD]
    assert len(seen) == len(R.METHODS + R.VARIANTS) and len({s[1:] for s in own}) == 1
    assert {"UnimodalModel", "ConcatFusion", "LateFusion", "TRML", "MLA", "CMPTModel"} <= {s[0] for s in seen}
    assert optimisers["mla"] == optimisers["mla:released"] == "SGD"  # MLA App. A.3
    assert optimisers["mla@adamw"] == optimisers["concat"] == optimisers["cmpt"] == "AdamW"
    with pytest.raises(ValueError, match="classification head only"):
        R.fit("cmpt", tiny, 0, task="regression", train_config=quick)


def test_the_released_mla_variant_differs_from_the_paper_in_what_facts_says(tiny):
    feats = R.frozen_features(tiny)
    paper, released = R.build("mla", feats["train"]), R.build("mla:released", feats["train"])
    assert (paper.projection, paper.fusion) == (True, "entropy")
    assert (released.projection, released.fusion, released.normalize_p) == (False, "batch_entropy", True)


def cmpt_lora(model) -> int:
    from rmm_lib.methods.cmpt import parameter_report

    return parameter_report(model)["lora/image"]["learnable"]


def test_cmpt_arms_differ_only_in_proxy_dropout_and_towers(tiny):
    arms = {m: R.build_token_model(m, tiny["train"]) for m in ("cmpt", "cmpt:baseline", "cmpt:dropout", "cmpt@records",
                                                                 "cmpt:dropout@r1")}
    assert [arms[m].use_proxy for m in arms] == [True, False, False, True, False]
    lora = {m: cmpt_lora(arms[m]) for m in ("cmpt:dropout", "cmpt:dropout@r1")}
    assert lora["cmpt:dropout"] == 32 * lora["cmpt:dropout@r1"]  # the same adapters, rank 32 and rank 1
    assert arms["cmpt:baseline"].dropout_probs is None
    assert arms["cmpt:dropout"].dropout_probs is not None and arms["cmpt"].dropout_probs is not None
    # the chapter's towers (split q/k/v/o) for the comparison's arms; the earlier fused ones for @records
    split = [any("q_proj" in n for n, _ in arms[m].encoders["image"].named_parameters()) for m in arms]
    assert split == [True, True, True, False, True]
    with pytest.raises(ValueError, match="not a CMPT arm"):
        R.build_token_model("concat", tiny["train"])
    with pytest.raises(ValueError, match="Unknown method"):
        R.base_method("cmpt:proxy-only")


# ----------------------------------------------------------------------------- few labels, unlabelled pairs
def test_label_scarce_hides_labels_only_from_the_arms_that_read_unlabelled_pairs(tiny):
    from rmm_lib.losses import UNLABELLED

    train = tiny["train"].with_presence(R.protocol_masks("map:both", 0, SIZES)[0]["train"])
    alone = R.label_scarce(train, 10, "trml")
    assert len(alone) == 10 and torch.equal(alone.label, train.label[:10])
    pairs = R.label_scarce(train, 10, "trml+unlabelled")
    assert len(pairs) == len(train) and torch.equal(pairs.label[:10], train.label[:10])
    assert (pairs.label[10:] == UNLABELLED).all() and pairs.presence[10:].all()  # complete, unlabelled
    assert torch.equal(pairs.presence[:10], train.presence[:10])
    for n in (0, len(train)):
        with pytest.raises(ValueError, match="n_labelled"):
            R.label_scarce(train, n, "trml")


def test_an_unlabelled_sample_carries_no_task_loss_and_a_batch_of_them_keeps_the_graph():
    from types import SimpleNamespace

    from rmm_lib.losses import UNLABELLED, task_loss

    logits = torch.randn(6, 4, requires_grad=True)
    label = torch.tensor([0, 1, UNLABELLED, 3, UNLABELLED, 2])
    loss = task_loss("classification", logits, SimpleNamespace(label=label))
    keep = label != UNLABELLED
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits[keep], label[keep]))
    loss.backward()
    assert logits.grad[~keep].abs().sum() == 0 and logits.grad[keep].abs().sum() > 0
    none = task_loss("classification", logits, SimpleNamespace(label=torch.full((6,), UNLABELLED)))
    assert none.item() == 0 and none.requires_grad
    full = torch.tensor([0, 1, 2, 3, 0, 1])
    assert torch.equal(task_loss("classification", logits, SimpleNamespace(label=full)),
                       torch.nn.functional.cross_entropy(logits, full))


@pytest.mark.parametrize("method", ["trml+unlabelled", "cmpt+unlabelled"])
def test_unlabelled_pairs_train_the_matching_or_alignment_loss_and_nothing_else(tiny, method):
    data = R.prepare(method, tiny)
    train = R.label_scarce(data["train"], 10, method)
    seed_model = R.build_token_model(method, train) if method.startswith("cmpt") else R.build("trml", train)
    if method.startswith("cmpt"):
        seed_model.dropout_probs = None  # every unlabelled pair stays complete in this batch
    batch = train[list(range(10, len(train)))]  # the unlabelled pairs only
    out = seed_model.training_step(batch)
    task = out.get("task", out.get("task_loss"))
    extra = out.get("align", out.get("sml_loss"))
    assert float(task) == 0 and float(extra) > 0
    out["loss"].backward()
    moved = [n for n, p in seed_model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert moved and not any(n.startswith("head") for n in moved), moved


# ----------------------------------------------------------------------------- reading the record
def _runs(values: dict) -> dict:
    """A record read as ``G.by_model`` returns it: ``{model: [result per seed]}`` with one test mask."""
    cell = lambda v, w: {"test": {"sweep:image@1.0": {"accuracy": v}}, "val": {"sweep:image@1.0": {"accuracy": w}}}
    return {f"{m}|complete": [cell(v, w) for v, w in zip(test, val)] for m, (test, val) in values.items()}


def test_the_baseline_is_chosen_on_validation_and_differences_are_paired_over_seeds():
    seeds = np.array([0.50, 0.60, 0.70, 0.55, 0.65])
    runs = _runs({"late": (seeds, seeds + 0.2),           # best on validation
                  "concat": (seeds + 0.1, seeds - 0.2),   # best on test: never chosen
                  "trml": (seeds + 0.03, seeds)})
    situation = "complete@sweep:image@1.0"  # a test mask whose name holds an '@' itself
    assert G.selected_baseline(runs, situation) == "late"
    d = G.versus_baseline(runs, "trml", situation)
    # paired: the seeds' spread cancels, so the interval is exactly +0.03 (unpaired, it would span zero)
    assert d["baseline"] == "late" and d["mean"] == pytest.approx(0.03)
    assert d["low"] == pytest.approx(0.03) and d["real"]
    assert G.difference(runs, "concat", "trml", situation)["mean"] == pytest.approx(0.07)


# ----------------------------------------------------------------------------- regimes
def test_regime_knobs_turn_the_benchmark_option_they_name(tiny):
    sizes, options = G.regime_options(G.CONFIG, "n_train=100")
    assert sizes["n_train"] == 100 and options == G.CONFIG["benchmark"]
    sizes, options = G.regime_options(G.CONFIG, "redundancy=0")
    assert (options["redundancy"], options["shared_traces"]) == (0.0, 0.0) and sizes == G.CONFIG["sizes"]
    with pytest.raises(ValueError, match="Unknown regime"):
        G.regime_options(G.CONFIG, "n_train=7")
    assert G.regime_options(G.CONFIG, "labels=100") == (G.CONFIG["sizes"], G.CONFIG["benchmark"])
    # image_noise: the same photos with more sensor noise (the draw is otherwise the same)
    cfg = {**G.CONFIG, "sizes": SIZES, "regimes": {"clean": {"image_noise": 0.0}, "noisy": {"image_noise": 1.0}}}
    clean, noisy = G.splits(cfg, "clean")["test"], G.splits(cfg, "noisy")["test"]
    assert torch.equal(clean.label, tiny["test"].label) and clean.strings == noisy.strings
    assert (noisy.inputs["image"] - clean.inputs["image"]).std() > 4 * (tiny["test"].inputs["image"] - clean.inputs["image"]).std()


def test_the_imbalance_knob_moves_the_photos_limit_and_not_the_reviews():
    record = records.load(G.GRID)
    limits = json.loads((ROOT / "results" / "limits.json").read_text())["cells"]["cnn"]["result"]["limits"]
    by_noise = {0.2: limits}
    for regime in G.LIMIT_REGIMES:
        by_noise[G.REGIMES[regime]["image_noise"]] = record["cells"][f"limits/{regime}"]["result"]["limits"]
    noise = sorted(by_noise)
    image = [by_noise[x]["image"]["accuracy"]["mean"] for x in noise]
    text = [by_noise[x]["text"]["accuracy"]["mean"] for x in noise]
    assert all(a > b for a, b in zip(image, image[1:])), image  # noisier photo, less to read
    assert max(text) - min(text) < 0.02, text  # the review is the same


def test_the_food101_table_reports_each_protocol_in_its_papers_columns():
    from rmm_lib.tables.compare import COLUMNS, _row

    flat = {"complete": 0.9, **{f"sweep:{m}@{r}": 0.5 for m in R.PAIR for r in R.SWEEP if r > 0}}
    row = _row("complete", flat)
    assert tuple(row) == COLUMNS["complete"]
    # a curve at 0.9 then 0.5 for ten rates: trapezoid area (0.9 + 0.5) / 2 * 0.1 + 0.5 * 0.9
    assert row["AUC (image missing)"] == pytest.approx(100 * (0.07 + 0.45))
    assert row["no text"] == pytest.approx(50.0)
    row = _row("map:both", {"map:image": 0.6, "map:both": 0.7, "map:text": 0.8})
    assert row == {"MAP train both | test image": 60.0, "MAP train both | test both": 70.0,
                   "MAP train both | test text": 80.0}
    assert _row("trml:text", {"A": 0.4, "B": 0.5}) == {"TRML A (text victim)": 40.0, "TRML B (text victim)": 50.0}
