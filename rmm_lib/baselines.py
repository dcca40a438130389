"""Baselines shared by the three papers, all on the same encoders.

* :class:`UnimodalModel` -- one modality alone: the lower bound (LB) of TRML's tables and the
  unimodal rows of MLA Table 1.
* :class:`SumFusion`, :class:`ConcatFusion`, :class:`LateFusion` -- the conventional fusion rows
  of MLA Table 1 (its appendix A.2).
* ``ConcatFusion(modality_dropout=p)`` -- modality dropout, CMPT's baseline (Sec. 3.5, Fig. 2-3).
* The upper bound (UB) is any fusion model trained and tested with every modality present
  (:func:`make_baseline` ``"ub"`` returns a Concat model; the protocol, not the model, makes it UB).

Absent modalities are handled the same way in every model: encoders see the placeholder input and
their feature is multiplied by the presence mask, so an absent modality contributes exactly zero
(Sum, Concat) or is left out of the average (Late fusion).

Every model returns ``{"logits": (B, out_dim), "features": {modality: (B, dim)}}``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def masked_features(encoders: nn.ModuleDict, batch, modalities: Sequence[str]) -> dict:
    """Encode each modality and zero the features of absent samples."""
    feats = {}
    for m in modalities:
        h = encoders[m](batch.inputs[m])
        feats[m] = h * batch.has(m).to(h.dtype).unsqueeze(1)
    return feats


class UnimodalModel(nn.Module):
    """Encoder of one modality + linear head (LB). Samples without that modality get the
    encoder's output on the placeholder input."""

    def __init__(self, encoder: nn.Module, modality: str, dim: int, out_dim: int, task: str = "classification"):
        super().__init__()
        self.encoder, self.modality, self.task = encoder, modality, task
        self.head = nn.Linear(dim, out_dim)

    def forward(self, batch) -> dict:
        h = self.encoder(batch.inputs[self.modality])
        return {"logits": self.head(h), "features": {self.modality: h}}


class SumFusion(nn.Module):
    """Sum of (masked) modality features, then a linear head."""

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification"):
        super().__init__()
        self.encoders, self.modalities, self.task = encoders, tuple(encoders), task
        self.head = nn.Linear(dim, out_dim)

    def forward(self, batch) -> dict:
        feats = masked_features(self.encoders, batch, self.modalities)
        return {"logits": self.head(torch.stack(list(feats.values())).sum(0)), "features": feats}


class ConcatFusion(nn.Module):
    """Concatenated (masked) modality features, then a linear head.

    ``modality_dropout=p``: in training, each sample with more than one modality present loses one
    of them, chosen uniformly, with probability ``p`` -- the modality-dropout baseline.
    """

    def __init__(
        self,
        encoders: nn.ModuleDict,
        dim: int,
        out_dim: int,
        task: str = "classification",
        modality_dropout: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= modality_dropout <= 1.0:
            raise ValueError(f"modality_dropout must be a probability in [0, 1], got {modality_dropout}.")
        self.encoders, self.modalities, self.task = encoders, tuple(encoders), task
        self.modality_dropout = modality_dropout
        self.head = nn.Linear(dim * len(self.modalities), out_dim)

    def forward(self, batch) -> dict:
        if self.training and self.modality_dropout > 0:
            batch = drop_modalities(batch, self.modality_dropout)
        feats = masked_features(self.encoders, batch, self.modalities)
        return {"logits": self.head(torch.cat([feats[m] for m in self.modalities], dim=1)), "features": feats}


class LateFusion(nn.Module):
    """One head per modality; logits averaged over the modalities present in each sample."""

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification"):
        super().__init__()
        self.encoders, self.modalities, self.task = encoders, tuple(encoders), task
        self.heads = nn.ModuleDict({m: nn.Linear(dim, out_dim) for m in self.modalities})

    def forward(self, batch) -> dict:
        feats, logits, weights = {}, [], []
        for m in self.modalities:
            feats[m] = self.encoders[m](batch.inputs[m])
            logits.append(self.heads[m](feats[m]))
            weights.append(batch.has(m).to(feats[m].dtype))
        w = torch.stack(weights, dim=1)  # (B, M)
        stacked = torch.stack(logits, dim=1)  # (B, M, K)
        fused = (stacked * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True)
        return {"logits": fused, "features": feats, "unimodal_logits": dict(zip(self.modalities, logits))}


def drop_modalities(batch, p: float, generator: torch.Generator | None = None):
    """Return a copy of ``batch`` where each sample with two or more modalities present loses one,
    chosen uniformly among its present ones, with probability ``p`` (modality dropout)."""
    from dataclasses import replace

    present = batch.present.clone()
    n_present = present.sum(1)
    draw = torch.rand(len(present), generator=generator, device=present.device)
    drop_rows = ((draw < p) & (n_present > 1)).nonzero().flatten()
    if drop_rows.numel():
        scores = torch.rand(drop_rows.numel(), present.shape[1], generator=generator, device=present.device)
        scores = scores.masked_fill(~present[drop_rows], -1.0)
        present[drop_rows, scores.argmax(1)] = False
    return replace(batch, present=present)


BASELINES = ("lb", "ub", "sum", "concat", "late", "dropout")


def make_baseline(
    name: str,
    encoders: nn.ModuleDict,
    dim: int,
    out_dim: int,
    task: str = "classification",
    modality: str | None = None,
    modality_dropout: float = 0.5,
) -> nn.Module:
    """Build a baseline by name: ``lb`` (needs ``modality``), ``ub``, ``sum``, ``concat``,
    ``late`` or ``dropout``."""
    if name == "lb":
        if modality not in encoders:
            raise ValueError(f"The lower bound needs modality= one of {tuple(encoders)}, got {modality!r}.")
        return UnimodalModel(encoders[modality], modality, dim, out_dim, task)
    if name in ("ub", "concat"):
        return ConcatFusion(encoders, dim, out_dim, task)
    if name == "sum":
        return SumFusion(encoders, dim, out_dim, task)
    if name == "late":
        return LateFusion(encoders, dim, out_dim, task)
    if name == "dropout":
        return ConcatFusion(encoders, dim, out_dim, task, modality_dropout=modality_dropout)
    raise ValueError(f"Unknown baseline {name!r}; choose from {BASELINES}.")
