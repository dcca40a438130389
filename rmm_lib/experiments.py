"""Recipes the notebooks share: train a baseline in one call, evaluate it under missing masks."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .baselines import make_baseline
from .encoders import quick_encoders
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


def evaluate_under_masks(trainer: Trainer, dataset, masks: dict) -> dict:
    """``{key: metrics}`` for the dataset with each presence mask of ``masks`` applied."""
    return {key: trainer.evaluate(dataset.with_presence(mask)) for key, mask in masks.items()}


def per_class_accuracy(trainer: Trainer, dataset, n_classes: int | None = None) -> np.ndarray:
    """Accuracy of each class on ``dataset`` (classification models)."""
    pred = trainer.predict(dataset)
    y = pred["target"].numpy()
    yhat = pred["logits"].argmax(1).numpy()
    n_classes = n_classes or int(pred["logits"].shape[1])
    return np.array([(yhat[y == k] == k).mean() if (y == k).any() else np.nan for k in range(n_classes)])


def summarize(metrics: dict, keys: Sequence[str] | None = None, digits: int = 3) -> dict:
    """Round a metrics dict for display (checked notebook outputs)."""
    keys = keys or list(metrics)
    return {k: round(float(metrics[k]), digits) for k in keys}


__all__ = ["fit_baseline", "evaluate_under_masks", "per_class_accuracy", "summarize"]
