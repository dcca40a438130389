"""The task loss every model shares (a method file may import this and the data types, nothing above)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def task_loss(task: str, logits: torch.Tensor, batch) -> torch.Tensor:
    """Cross-entropy (classification), L1 on the score (regression, as the MOSI/MOSEI papers
    report MAE) or binary cross-entropy (multi-label)."""
    if task == "classification":
        return F.cross_entropy(logits.float(), batch.label)
    if task == "regression":
        if batch.score is None:
            raise ValueError("A regression task needs a dataset with a `score` target.")
        return F.l1_loss(logits.float().reshape(-1), batch.score)
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits.float(), batch.label.float())
    raise ValueError(f"Unknown task {task!r}; use classification, regression or multilabel.")
