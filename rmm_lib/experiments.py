"""Recipes the notebooks share: train a baseline in one call, evaluate it under missing masks."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import recall_score

from .baselines import UnimodalModel, make_baseline
from .encoders import quick_encoders
from .missing import only_modality
from .train import TrainConfig, Trainer
from .utils import seed_everything



def fit_baseline(
    name: str,
    splits: dict,
    task: str = "classification",
    config: TrainConfig | None = None,
    modality: str | None = None,
    dim: int = 64,
    train_presence=None,
    val_presence=None,
    progress: bool | None = None,
    run_dir=None,
    **kwargs,
) -> Trainer:
    """Seed, build quick encoders and the baseline ``name`` (see
    :func:`rmm_lib.baselines.make_baseline`), then fit on ``splits["train"]`` with early stopping
    on ``splits["val"]``. Optional presence masks are applied to train/val first. With
    ``run_dir``, checkpoints and the JSON record of the run are written there."""
    config = config or TrainConfig()
    seed_everything(config.seed)
    train, val = splits["train"], splits.get("val")
    if train_presence is not None:
        train = train.with_presence(train_presence)
    if val is not None and val_presence is not None:
        val = val.with_presence(val_presence)
    out_dim = len(train.meta["class_names"]) if task == "classification" else 1
    model = make_baseline(name, quick_encoders(train, dim), dim, out_dim, task=task, modality=modality, **kwargs)
    trainer = Trainer(model, config, progress=progress)
    trainer.fit(train, val, run_dir=run_dir)
    return trainer


def linear_probe(encoder, modality: str, splits: dict, dim: int = 64, task: str = "classification",
                 config: TrainConfig | None = None, progress: bool | None = None) -> Trainer:
    """Train only a linear head on a frozen ``encoder`` of one modality: how much that encoder
    alone knows, e.g. an encoder taken out of a jointly trained fusion model (modality laziness).
    The encoder is frozen (``requires_grad=False``), so its weights stay as they were."""
    config = config or TrainConfig(epochs=15, lr=5e-3)
    seed_everything(config.seed)
    for p in encoder.parameters():
        p.requires_grad_(False)
    out_dim = len(splits["train"].meta["class_names"]) if task == "classification" else 1
    trainer = Trainer(UnimodalModel(encoder, modality, dim, out_dim, task), config, progress=progress)
    trainer.fit(splits["train"], splits.get("val"))
    return trainer


def evaluate_under_masks(trainer: Trainer, dataset, masks: dict) -> dict:
    """``{key: metrics}`` for the dataset with each presence mask of ``masks`` applied."""
    return {key: trainer.evaluate(dataset.with_presence(mask)) for key, mask in masks.items()}


def per_class_accuracy(trainer: Trainer, dataset, n_classes: int | None = None) -> np.ndarray:
    """Accuracy within each class on ``dataset`` (per-class recall, scikit-learn); NaN for a class
    with no sample."""
    return per_class_recall(trainer.predict(dataset), n_classes)


def per_class_recall(pred: dict, n_classes: int | None = None) -> np.ndarray:
    """Per-class accuracy (recall, scikit-learn) of a prediction dict (``target``, ``logits``), e.g.
    one entry of :func:`predict_patterns`; NaN for a class with no sample."""
    n_classes = n_classes or int(pred["logits"].shape[1])
    return recall_score(np.asarray(pred["target"]), np.asarray(pred["logits"].argmax(1)), labels=list(range(n_classes)),
                        average=None, zero_division=np.nan)


def summarize(metrics: dict, keys: Sequence[str] | None = None, digits: int = 3) -> dict:
    """Round a metrics dict for display (checked notebook outputs)."""
    keys = keys or list(metrics)
    return {k: round(float(metrics[k]), digits) for k in keys}


__all__ = ["fit_baseline", "linear_probe", "evaluate_under_masks", "per_class_accuracy", "summarize"]


# ----------------------------------------------------------------------------- MLA chapter helpers
def unimodal_accuracies(trainer: Trainer, dataset) -> dict:
    """Accuracy with each modality alone (every other modality set absent) and with all ("multi")."""
    out = {}
    for m in dataset.modalities:
        out[m] = trainer.evaluate(dataset.with_presence(only_modality(len(dataset), dataset.modalities, m)))["accuracy"]
    out["multi"] = trainer.evaluate(dataset)["accuracy"]
    return out


def fit_with_unimodal_curves(trainer: Trainer, train, test, epochs: int) -> dict:
    """Train one epoch at a time and record :func:`unimodal_accuracies` on ``test`` after each:
    ``{modality or "multi": [accuracy per epoch]}`` (modality laziness as training curves)."""
    curves: dict = {}
    for epoch in range(1, epochs + 1):
        trainer.fit(train, epochs=epoch)
        for key, value in unimodal_accuracies(trainer, test).items():
            curves.setdefault(key, []).append(value)
    return curves


def sequential_forgetting(trainer: Trainer, train, test, first: str, second: str, epochs=(4, 4)) -> list:
    """Train on modality ``first`` only, then on ``second`` only (the other modality absent from
    every training sample), and record after each epoch the test accuracy of ``first`` alone.
    With a shared head, whatever the second phase does to the head shows up as forgetting of
    ``first``: the test of MLA's head gradient modification (Sec. 2.2)."""
    only = {m: train.with_presence(only_modality(len(train), train.modalities, m)) for m in (first, second)}
    test_first = test.with_presence(only_modality(len(test), test.modalities, first))
    accuracy, total = [], 0
    for phase, n in ((first, epochs[0]), (second, epochs[1])):
        for _ in range(n):
            total += 1
            trainer.fit(only[phase], epochs=total)
            accuracy.append(trainer.evaluate(test_first)["accuracy"])
    return accuracy


# ----------------------------------------------------------------------------- per-pattern evaluation
def predict_patterns(trainer: Trainer, dataset, patterns=None) -> dict:
    """Outputs for every sample of a complete ``dataset`` under each presence pattern (a tuple of
    booleans, one per modality; default: complete and each modality alone missing). A model whose
    prediction for a sample depends only on that sample (eval mode) then gives the metrics of *any*
    mask through :func:`metrics_from_patterns` without running again -- sweeps become cheap."""
    m = len(dataset.modalities)
    if patterns is None:
        patterns = [tuple([True] * m)] + [tuple(j != k for j in range(m)) for k in range(m)]
    out = {}
    for pattern in patterns:
        mask = np.tile(np.asarray(pattern, dtype=bool), (len(dataset), 1))
        out[tuple(pattern)] = trainer.predict(dataset.with_presence(mask))
    return out


def metrics_from_patterns(task: str, preds: dict, presence) -> dict:
    """The task's metrics when sample ``i`` has presence row ``presence[i]``, assembled from
    :func:`predict_patterns` outputs."""
    import torch

    from .metrics import task_metrics

    presence = np.asarray(presence, dtype=bool)
    first = next(iter(preds.values()))
    logits = torch.empty_like(first["logits"])
    for i, row in enumerate(map(tuple, presence.tolist())):
        if row not in preds:
            raise ValueError(f"No predictions for presence pattern {row}; pass it to predict_patterns.")
        logits[i] = preds[row]["logits"][i]
    return task_metrics(task, first["target"], logits)


__all__ += ["predict_patterns", "metrics_from_patterns"]
