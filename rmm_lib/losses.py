"""The task loss every model shares (a method file may import this and the data types, nothing above)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: The class label of an unlabelled sample: it carries no task loss. Only the comparison's
#: label-scarce regime writes it (:func:`rmm_lib.recipes.compare.label_scarce`).
UNLABELLED = -1


def task_loss(task: str, logits: torch.Tensor, batch) -> torch.Tensor:
    """Cross-entropy (classification), L1 on the score (regression, as the MOSI/MOSEI papers
    report MAE) or binary cross-entropy (multi-label).

    A class label :data:`UNLABELLED` carries no loss: an unlabelled pair
    (:func:`rmm_lib.recipes.compare.label_scarce`) trains only the losses that need no label. The
    mean runs over the labelled samples; a batch without one gives a zero that keeps the graph."""
    if task == "classification":
        labelled = batch.label != UNLABELLED
        if bool(labelled.all()):
            return F.cross_entropy(logits.float(), batch.label)
        if not bool(labelled.any()):
            return logits.float().sum() * 0.0
        return F.cross_entropy(logits.float()[labelled], batch.label[labelled])
    if task == "regression":
        if batch.score is None:
            raise ValueError("A regression task needs a dataset with a `score` target.")
        return F.l1_loss(logits.float().reshape(-1), batch.score)
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits.float(), batch.label.float())
    raise ValueError(f"Unknown task {task!r}; use classification, regression or multilabel.")
