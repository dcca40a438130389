"""Data types shared by every method: a multimodal dataset and the batch it yields.

A :class:`MultimodalDataset` holds one tensor per modality (first axis = sample), optional raw
strings (text), a presence mask, labels and ids. Indexing it with a list of indices returns a
:class:`Batch`; :meth:`MultimodalDataset.loader` wraps that in a ``torch.utils.data.DataLoader``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from ..missing import check_presence


@dataclass
class Batch:
    """One mini-batch. ``present[:, j]`` tells whether ``modalities[j]`` is present per sample."""

    inputs: dict
    present: torch.Tensor
    label: torch.Tensor
    score: torch.Tensor | None
    ids: torch.Tensor
    modalities: tuple
    strings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to(self, device, non_blocking: bool = False) -> "Batch":
        """Move every tensor to ``device`` in one call (strings stay on the host)."""
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return replace(
            self,
            inputs={m: move(t) for m, t in self.inputs.items()},
            present=move(self.present),
            label=move(self.label),
            score=move(self.score),
            ids=move(self.ids),
        )

    def has(self, modality: str) -> torch.Tensor:
        """Boolean (B,) presence of one modality."""
        return self.present[:, self.modalities.index(modality)]


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).reshape(tensor.shape[0], -1).any(dim=1).nonzero().flatten()
        raise ValueError(
            f"{name} has NaN or infinite values in {bad.numel()} sample(s) (first: {bad[:5].tolist()}). "
            "Clean or drop those samples before building the dataset."
        )


class MultimodalDataset(torch.utils.data.Dataset):
    """Per-modality tensors + presence mask + labels, indexable by a list of sample indices.

    Parameters
    ----------
    inputs: ``{modality: tensor}``, each tensor's first axis is the sample axis.
    label: class labels (long, ``(N,)``) or multi-label targets (float, ``(N, K)``).
    score: optional continuous target (``(N,)``, e.g. sentiment in [-3, 3]).
    presence: boolean ``(N, M)``; default all present.
    strings: ``{modality: list of str}`` raw text kept beside its token ids.
    ids: sample ids (default ``0..N-1``).
    meta: free-form description (class names, vocabulary, generator settings).
    """

    def __init__(
        self,
        inputs: dict,
        label: torch.Tensor,
        score: torch.Tensor | None = None,
        presence=None,
        strings: dict | None = None,
        ids: torch.Tensor | None = None,
        meta: dict | None = None,
    ):
        if not inputs:
            raise ValueError("A dataset needs at least one modality in `inputs`.")
        self.modalities = tuple(inputs)
        n = int(label.shape[0])
        for name, tensor in inputs.items():
            if tensor.shape[0] != n:
                raise ValueError(
                    f"Modality {name!r} has {tensor.shape[0]} samples but there are {n} labels; "
                    "every modality tensor needs one row per sample."
                )
            _check_finite(f"Modality {name!r}", tensor)
        if score is not None:
            if score.shape[0] != n:
                raise ValueError(f"score has {score.shape[0]} entries for {n} samples.")
            _check_finite("score", score)
        strings = dict(strings or {})
        for name, values in strings.items():
            if len(values) != n:
                raise ValueError(f"strings[{name!r}] has {len(values)} entries for {n} samples.")
        if presence is None:
            presence = np.ones((n, len(self.modalities)), dtype=bool)
        presence = check_presence(np.asarray(presence), self.modalities)
        if presence.shape[0] != n:
            raise ValueError(f"Presence mask has {presence.shape[0]} rows for {n} samples.")
        self.inputs = inputs
        self.label = label
        self.score = score
        self.presence = torch.as_tensor(presence, dtype=torch.bool)
        self.strings = strings
        self.ids = torch.arange(n) if ids is None else torch.as_tensor(ids)
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def __getitem__(self, index) -> Batch:
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        rows = idx.tolist()
        return Batch(
            inputs={m: t[idx] for m, t in self.inputs.items()},
            present=self.presence[idx],
            label=self.label[idx],
            score=None if self.score is None else self.score[idx],
            ids=self.ids[idx],
            modalities=self.modalities,
            strings={m: [v[i] for i in rows] for m, v in self.strings.items()},
        )

    # ------------------------------------------------------------------ views
    def subset(self, index) -> "MultimodalDataset":
        """A new dataset with the samples at ``index`` (placeholders and mask kept)."""
        b = self[index]
        return MultimodalDataset(b.inputs, b.label, b.score, b.present.numpy(), b.strings, b.ids, self.meta)

    def with_presence(self, presence) -> "MultimodalDataset":
        """Apply a presence mask: absent modalities get their placeholder (zeros for tensors, id 0
        -- padding -- for token ids, the empty string for raw text). Data already absent stays
        absent: the result's mask is the logical AND of the old and the new one."""
        presence = check_presence(np.asarray(presence), self.modalities)
        if presence.shape[0] != len(self):
            raise ValueError(f"Presence mask has {presence.shape[0]} rows; the dataset has {len(self)} samples.")
        mask = self.presence & torch.as_tensor(presence)
        inputs = {}
        for j, (name, tensor) in enumerate(self.inputs.items()):
            keep = mask[:, j].reshape(-1, *([1] * (tensor.dim() - 1)))
            inputs[name] = torch.where(keep, tensor, torch.zeros((), dtype=tensor.dtype))
        strings = {
            name: [s if mask[i, self.modalities.index(name)] else "" for i, s in enumerate(values)]
            for name, values in self.strings.items()
        }
        return MultimodalDataset(inputs, self.label, self.score, mask.numpy(), strings, self.ids, self.meta)

    def select_modalities(self, modalities: Sequence[str]) -> "MultimodalDataset":
        """Keep only ``modalities`` (in that order). Samples left with none raise a ValueError."""
        for m in modalities:
            if m not in self.modalities:
                raise ValueError(f"Unknown modality {m!r}; this data has {self.modalities}.")
        cols = [self.modalities.index(m) for m in modalities]
        return MultimodalDataset(
            {m: self.inputs[m] for m in modalities},
            self.label,
            self.score,
            self.presence[:, cols].numpy(),
            {m: v for m, v in self.strings.items() if m in modalities},
            self.ids,
            self.meta,
        )

    def loader(
        self,
        batch_size: int = 64,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> DataLoader:
        """A DataLoader yielding :class:`Batch` objects. Shuffling draws from ``generator`` so a
        run can be replayed exactly."""
        sampler = RandomSampler(self, generator=generator) if shuffle else SequentialSampler(self)
        return DataLoader(self, batch_size=None, sampler=BatchSampler(sampler, batch_size, drop_last))
