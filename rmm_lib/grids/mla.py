"""The MLA chapter's grid (notebooks 20-23): MLA, its released-code variant and the paper's baselines
on the testbed, over model seeds.

Every cell trains one model on the testbed (benchmark seed 0, notebook 00's split sizes) with the
chapter's quick settings (:data:`rmm_lib.recipes.mla.QUICK_TRAIN`: the paper's SGD with momentum 0.9,
early stopping on validation accuracy) and its own model seed, and reports test metrics. Cells are named
``MODEL/seed=S`` with MODEL one of

* ``sum``, ``concat``, ... ``mla`` (Table 1): complete data; test accuracy and each modality alone;
  MLA's cell adds the fusion rules on the same model (Eq. 7, equal weights, the label-reading
  oracle, the inverted rule, fixed weights, the released batch-axis rule), what Eq. 7 sees (entropy
  of right and wrong predictions) and the modality gap (Fig. 3, also in Concat's cell);
* ``mla:hgm-`` (Table 3): MLA without head gradient modification;
* ``mla@adam``, ``mla:hgm-@adam``, ``concat@adam``: the same under the chapter's earlier Adam
  settings (``CONFIG["adam_train"]``), a named variant; MLA's cells (both optimisers) add the
  means of the per-step records (``updates``: the cosines of the plain and projected gradient and of
  the applied update with the previous modality's features, and the forgetting per step);
* ``alone:M``: modality M's encoder trained alone (the laziness control's ceiling); Table 1's Sum,
  Concat and MLA cells add ``probe``, a linear probe's test accuracy on each frozen encoder;
* ``released``: the released-code variant (:func:`rmm_lib.methods.mla.released_mla`);
* ``NAME@eta=R`` (Table 2): trained, selected and tested with each modality of each sample dropped
  with probability R (the same rate in train, validation and test); MLA's cell adds the fusion
  controls on its masked test set;
* ``NAME@image-train=R`` (Fig. 2): a fraction R of the training samples lose their image; the
  text-alone test accuracy;
* ``mla@unpaired`` (notebook 20): every training and validation sample keeps one modality only.
"""
from __future__ import annotations

import numpy as np

from .. import missing
from ..data import MODALITIES, make_testbed
from ..records import Grid
from .intro import CONFIG as INTRO
from .intro import at_profile_scale, by_model  # noqa: F401  (by_model: rmm_lib.grids.mla.by_model)

SEEDS = (0, 1, 2, 3, 4)
RATES = (0.1, 0.4, 0.7)
TABLE1 = ("sum", "concat", "late_independent", "film", "bigated", "ogm_ge", "qmf", "mla")
TABLE2 = ("late_independent", "qmf", "mla", "released")
FIG2 = ("mla", "qmf")
FUSIONS = ("entropy", "mean", "oracle", "inverse_entropy")
CONFIG = {
    "sizes": dict(INTRO["sizes"]),
    "benchmark_seed": INTRO["benchmark_seed"],
    # recipes.mla.QUICK_TRAIN (the paper's SGD) and QUICK_TRAIN_ADAM (the earlier variant), written
    # out so that a change of the recipe makes the record stale
    "train": {"optimizer": "sgd", "momentum": 0.9, "lr": 1e-2, "batch_size": 64, "epochs": 80, "patience": 8},
    "adam_train": {"optimizer": "adam", "lr": 3e-3, "batch_size": 64, "epochs": 40, "patience": 5},
    "probe": {"epochs": 15, "lr": 5e-3},
    "dim": 32,
    "seeds": list(SEEDS),
    "rates": list(RATES),
    "fig2_rates": [0.5, 0.9],
    "batch_sizes": [16, 64, 600],  # the released batch-axis fusion depends on the test batch
    "fixed_weights": [round(w, 1) for w in np.linspace(0, 1, 11)],
}
ADAM = ("mla@adam", "mla:hgm-@adam", "concat@adam")
ALONE = tuple(f"alone:{m}" for m in MODALITIES)
MODELS = TABLE1 + ("mla:hgm-", "released") + ADAM + ALONE + tuple(f"{m}@eta={r}" for r in RATES for m in TABLE2) + tuple(
    f"{m}@image-train={r}" for m in FIG2 for r in CONFIG["fig2_rates"]) + ("mla@unpaired",)


def splits(config: dict = CONFIG) -> dict:
    return make_testbed(**config["sizes"], seed=config["benchmark_seed"])


def test_mask(config: dict, rate: float) -> np.ndarray:
    """The test split's presence mask at missing rate ``rate`` (one draw, shared by every model seed)."""
    return missing.mla_random_missing(config["sizes"]["n_test"], MODALITIES, rate, seed=1)


def _train_masks(config: dict, rate: float, seed: int) -> dict:
    sizes = {s: config["sizes"][f"n_{s}"] for s in ("train", "val")}
    return missing.mla_splits(sizes, MODALITIES, rate, seed=2 + seed)


def _image_dropped(n: int, rate: float, seed: int) -> np.ndarray:
    """Fig. 2's training mask: a fraction ``rate`` of the samples lose their image."""
    mask = np.ones((n, len(MODALITIES)), dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: int(round(rate * n))], MODALITIES.index("image")] = False
    return mask


def _one_modality_each(n: int) -> np.ndarray:
    """Sample i keeps modality i mod M only: no sample is multimodal."""
    mask = np.zeros((n, len(MODALITIES)), dtype=bool)
    mask[np.arange(n), np.arange(n) % len(MODALITIES)] = True
    return mask


def _fit(config: dict, data: dict, method: str, seed: int, masks: dict | None = None, train_key: str = "train",
         **kwargs):
    from ..recipes.mla import build_model
    from ..train import TrainConfig, Trainer
    from ..utils import seed_everything, set_threads

    set_threads(1)  # the same numbers on any core count
    masks = masks or {}
    train, val = (data[s].with_presence(masks[s]) if s in masks else data[s] for s in ("train", "val"))
    seed_everything(seed)
    model = build_model(method, train, config["dim"], quick=True, **kwargs)
    trainer = Trainer(model, TrainConfig.from_dict(config[train_key], seed=seed), progress=False)
    trainer.fit(train, val)
    return trainer


def _alone(config: dict, data: dict, modality: str, seed: int):
    """Modality ``modality``'s quick encoder and a linear head trained on that modality alone."""
    from ..baselines import UnimodalModel
    from ..encoders import quick_encoders
    from ..train import TrainConfig, Trainer
    from ..utils import seed_everything, set_threads

    set_threads(1)
    seed_everything(seed)
    train = data["train"]
    encoder = quick_encoders(train, config["dim"])[modality]
    model = UnimodalModel(encoder, modality, config["dim"], len(train.meta["class_names"]))
    trainer = Trainer(model, TrainConfig.from_dict(config["train"], seed=seed), progress=False)
    trainer.fit(train, data["val"])
    return trainer


def _probes(config: dict, encoders, data: dict, seed: int) -> dict:
    """Laziness: a linear probe on each of a trained model's ``encoders`` (``{modality: module}``),
    frozen, trained on the training split with early stopping on validation; its test accuracy."""
    import copy

    from ..experiments import linear_probe
    from ..train import TrainConfig

    out = {}
    for m in encoders:
        encoder = copy.deepcopy(encoders[m])  # the probe freezes it; the trained model stays as it was
        probe = linear_probe(encoder, m, data, config["dim"], config=TrainConfig.from_dict(config["probe"], seed=seed),
                             progress=False)
        out[m] = probe.evaluate(data["test"])["accuracy"]
    return out


def _updates(trainer) -> dict:
    """The means of MLA's per-step records (``record=True``) over the steps that follow a step on
    another modality and whose effect was measured."""
    done = [r for r in trainer.model.records if "forgetting" in r]
    keys = ("cos_plain", "cos_projected", "cos_update", "cos_update_features", "forgetting")
    return {k: float(np.mean([r[k] for r in done])) for k in keys} | {"steps": len(done)}


def _summary(trainer, test) -> dict:
    return {"test": {"accuracy": trainer.evaluate(test)["accuracy"]}, "best_epoch": trainer.best_epoch,
            "epochs_run": trainer.epoch, "best_val": trainer.best_value}


def _with_fusion(trainer, rule: str, test, batch_size: int | None = None) -> float:
    """Test accuracy of the trained MLA model fused with ``rule`` (a test-time choice)."""
    kept = trainer.model.fusion
    trainer.model.fusion = rule
    try:
        return trainer.evaluate(test, batch_size)["accuracy"]
    finally:
        trainer.model.fusion = kept


def _what_eq7_sees(trainer, test, weights) -> dict:
    """Per modality: accuracy alone, mean entropy of its right and wrong predictions, mean weight;
    and the accuracy of fixed weights (w on the image, the rest shared) on the same predictions."""
    import torch

    from ..methods.mla import fuse

    model = trainer.model.eval()
    with torch.no_grad():
        out = model(test[list(range(len(test)))].to(trainer.device))
    label = test.label
    per_modality = {}
    for j, m in enumerate(MODALITIES):
        right = out["unimodal_logits"][m].argmax(1).cpu() == label
        entropy = out["entropy"][:, j].cpu()
        per_modality[m] = {"accuracy": float(right.float().mean()), "entropy_right": float(entropy[right].mean()),
                           "entropy_wrong": float(entropy[~right].mean()),
                           "mean_weight": float(out["weights"][:, j].mean())}
    unimodal = [out["unimodal_logits"][m].cpu() for m in MODALITIES]
    rest = len(MODALITIES) - 1
    fixed = {str(w): float((fuse(unimodal, torch.tensor([w] + [(1 - w) / rest] * rest)).argmax(1) == label)
                           .float().mean()) for w in weights}
    return {"per_modality": per_modality, "fixed_image_weight": fixed}


def _gap(trainer, test) -> float:
    from ..methods.mla import modality_gap
    from ..recipes.mla import encoder_features

    feats = encoder_features(trainer, test)
    return modality_gap(feats["image"], feats["text"])


def _cell(config: dict, cell: str) -> dict:
    from ..experiments import unimodal_accuracies

    model, seed = cell.split("/seed=")
    seed = int(seed)
    data = splits(config)
    test = data["test"]
    if "@eta=" in model:
        method, rate = model.split("@eta=")
        masked = test.with_presence(test_mask(config, float(rate)))
        kwargs = {"variant": "released"} if method == "released" else {}
        trainer = _fit(config, data, "mla" if method == "released" else method, seed,
                       _train_masks(config, float(rate), seed), **kwargs)
        out = _summary(trainer, masked)
        if method == "mla":
            out["fusion"] = {rule: _with_fusion(trainer, rule, masked) for rule in FUSIONS}
        return out
    if "@image-train=" in model:
        method, rate = model.split("@image-train=")
        trainer = _fit(config, data, method, seed, {"train": _image_dropped(len(data["train"]), float(rate), seed)})
        return {**_summary(trainer, test), "text_alone": unimodal_accuracies(trainer, test)["text"]}
    if model == "mla@unpaired":
        masks = {s: _one_modality_each(len(data[s])) for s in ("train", "val")}
        trainer = _fit(config, data, "mla", seed, masks)
        return {**_summary(trainer, test), "unimodal": unimodal_accuracies(trainer, test)}
    if model.startswith("alone:"):
        trainer = _alone(config, data, model.split(":", 1)[1], seed)
        modality = model.split(":", 1)[1]
        return {**_summary(trainer, test), "probe": _probes(config, {modality: trainer.model.encoder}, data, seed)}
    model, _, variant = model.partition("@")
    train_key = "adam_train" if variant == "adam" else "train"
    kwargs = {"projection": False} if model == "mla:hgm-" else {"variant": "released"} if model == "released" else {}
    if model in ("mla", "mla:hgm-"):
        kwargs["record"] = True
    trainer = _fit(config, data, "mla" if model in ("mla:hgm-", "released") else model, seed, train_key=train_key,
                   **kwargs)
    out = {**_summary(trainer, test), "unimodal": {m: a for m, a in unimodal_accuracies(trainer, test).items()
                                                    if m != "multi"}}
    if model in ("mla", "mla:hgm-"):
        out["fusion"] = {rule: _with_fusion(trainer, rule, test) for rule in FUSIONS}
        out["updates"] = _updates(trainer)
    if variant == "adam":
        return out
    if model == "mla":
        out["batch_fusion"] = {str(b): _with_fusion(trainer, "batch_entropy", test, b) for b in config["batch_sizes"]}
        out.update(_what_eq7_sees(trainer, test, config["fixed_weights"]))
    if model == "released":
        out["batch_fusion"] = {str(b): trainer.evaluate(test, b)["accuracy"] for b in config["batch_sizes"]}
    if model in ("mla", "concat"):
        out["modality_gap"] = _gap(trainer, test)
    if model in ("sum", "concat", "mla"):
        out["probe"] = _probes(config, trainer.model.encoders, data, seed)
    return out


def grid(config: dict = CONFIG, name: str = "mla") -> Grid:
    return Grid(
        name=name,
        config=config,
        cells=tuple(f"{m}/seed={s}" for m in MODELS for s in config["seeds"]),
        compute=_cell,
        sample=("mla/seed=0", "qmf@eta=0.4/seed=1"),
        drift_cells=("mla/seed=1", "sum/seed=0", "concat/seed=0", "released/seed=0", "mla@eta=0.4/seed=0"),
        # Twice the largest drift under 7 kernel paths (benchmarks/kernel_drift.py -> results/kernel_drift.json),
        # rounded up; tests/test_records.py checks the cover. The loss trace is the sharp check.
        tolerance={"best_val": 0.03, "test": {"accuracy": 0.08}, "batch_fusion": 0.05, "fixed_image_weight": 0.1,
                   "fusion": {"entropy": 0.08, "inverse_entropy": 0.05, "mean": 0.05, "oracle": 0.05}, "modality_gap": 0.15,
                   "per_modality": {"accuracy": 0.1, "mean_weight": 0.03, "entropy_right": 0.25, "entropy_wrong": 0.25},
                   "unimodal": 0.1, "probe": 0.1,
                   "updates": {"cos_plain": 0.05, "cos_projected": 0.05, "cos_update": 0.05, "cos_update_features": 0.05,
                               "forgetting": 0.02, "steps": 400}},
        trace_tolerance=1e-5,  # quick encoders' features only: first losses move ~1e-7
        description="Notebooks 20-23: MLA, its released-code variant and the baselines of its Tables 1-3 and "
                    "Fig. 2-3 on the testbed (Table 2 at missing rates 0.1/0.4/0.7), trained with the paper's SGD "
                    "(Adam as a named variant), each encoder alone and linear probes of the trained encoders "
                    "(laziness), 5 model seeds, early stopping on validation.",
    )


GRID = grid()


def grid_for(profile) -> Grid:
    """The recorded quick grid, or (paper profile) the same grid at the profile's sizes and budget,
    computed in the notebook (a GPU run; no record). The papers' own datasets run through the
    specs of :mod:`rmm_lib.tables.mla`."""
    if profile.name == "quick":
        return GRID
    return grid(at_profile_scale(CONFIG, profile), name=f"mla-{profile.name}")
