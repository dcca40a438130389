"""Data types shared by every method: the dataset interface, a multimodal dataset and its batch.

:class:`ModalDataset` is the one interface every dataset keeps, whether its rows live in memory
(:class:`MultimodalDataset`) or on disk (:class:`~rmm_lib.data.prepared.PreparedDataset`), so a
method never needs to know which one it got. Indexing a dataset with a list of indices returns a
:class:`Batch`; :meth:`ModalDataset.loader` wraps that in a ``torch.utils.data.DataLoader``.

Placeholders for absent modalities (zeros for tensors -- id 0, padding, for token ids -- and the
empty string for raw text) are written in one place, :func:`placeholder_inputs` and
:func:`placeholder_strings`, so datasets and batches cannot drift apart.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler

from ..missing import check_presence


# ----------------------------------------------------------------------------- placeholders
def placeholder_inputs(inputs: dict, present: torch.Tensor, modalities: Sequence[str]) -> dict:
    """``inputs`` with the rows where ``present[:, j]`` is False replaced by zeros of the tensor's
    dtype on the tensor's device (id 0 is the padding id for token ids).

    ``modalities`` names the columns of ``present``; ``inputs`` may hold any subset of them.
    """
    modalities = tuple(modalities)
    out = {}
    for m, t in inputs.items():
        keep = present[:, modalities.index(m)].to(device=t.device, dtype=torch.bool)
        keep = keep.reshape(-1, *([1] * (t.dim() - 1)))
        out[m] = torch.where(keep, t, torch.zeros((), dtype=t.dtype, device=t.device))
    return out


def placeholder_strings(strings: dict, present, modalities: Sequence[str]) -> dict:
    """``strings`` with the entries of absent samples replaced by the empty string."""
    modalities = tuple(modalities)
    present = torch.as_tensor(present).cpu()  # one transfer, not one per string
    out = {}
    for m, values in strings.items():
        keep = present[:, modalities.index(m)].tolist()
        out[m] = [s if k else "" for s, k in zip(values, keep)]
    return out


# ----------------------------------------------------------------------------- batch
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

    def select(self, rows) -> "Batch":
        """The samples ``rows`` (a boolean (B,) mask or an index tensor) of this batch: inputs,
        mask, targets, ids and strings together, so no field is left with the old row count."""
        rows = torch.as_tensor(rows)
        if rows.dtype == torch.bool:
            if rows.shape != (len(self),):
                raise ValueError(f"A row mask has one entry per sample ({len(self)}); got shape {tuple(rows.shape)}.")
            rows = rows.nonzero().flatten()
        rows = rows.long().reshape(-1)
        pick = lambda t: None if t is None else t[rows.to(t.device)]  # noqa: E731
        idx = rows.tolist()
        return replace(
            self,
            inputs={m: pick(t) for m, t in self.inputs.items()},
            present=pick(self.present),
            label=pick(self.label),
            score=pick(self.score),
            ids=pick(self.ids),
            strings={m: [v[i] for i in idx] for m, v in self.strings.items()},
        )

    def with_presence(self, present) -> "Batch":
        """A copy whose mask is ``present`` (replacing, not ANDed with, the batch's mask), absent
        inputs replaced by placeholders -- how a method simulates missing data on a batch."""
        present = torch.as_tensor(present, device=self.present.device).bool()
        if present.shape != self.present.shape:
            raise ValueError(f"A batch mask has shape {tuple(self.present.shape)}; got {tuple(present.shape)}.")
        return replace(
            self,
            inputs=placeholder_inputs(self.inputs, present, self.modalities),
            strings=placeholder_strings(self.strings, present, self.modalities),
            present=present,
        )


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).reshape(tensor.shape[0], -1).any(dim=1).nonzero().flatten()
        raise ValueError(
            f"{name} has NaN or infinite values in {bad.numel()} sample(s) (first: {bad[:5].tolist()}). "
            "Clean or drop those samples before building the dataset."
        )


# ----------------------------------------------------------------------------- the interface
class ModalDataset(torch.utils.data.Dataset, abc.ABC):
    """What every dataset offers, in memory or file-backed.

    Attributes
    ----------
    modalities: tuple of modality names, the column order of ``presence``.
    inputs: ``{modality: tensor-like}``: a tensor, or a view with ``.shape``, ``.dtype``,
        ``.dim()``, ``.is_floating_point()``, ``len()`` and row indexing that returns a tensor.
    label: class labels (long ``(N,)``) or multi-label targets (float ``(N, K)``).
    score: continuous target ``(N,)`` or None.
    presence: boolean ``(N, M)`` tensor.
    strings: ``{modality: list of str}`` raw text ("" where absent).
    ids: ``(N,)`` sample ids.
    meta: free-form description (class names, split, where the files are).
    """

    modalities: tuple
    inputs: dict
    label: torch.Tensor
    score: torch.Tensor | None
    presence: torch.Tensor
    strings: dict
    ids: torch.Tensor
    meta: dict

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @abc.abstractmethod
    def __getitem__(self, index) -> Batch:
        """The samples at ``index`` (a list / tensor of indices) as one :class:`Batch`."""

    @abc.abstractmethod
    def subset(self, index) -> "ModalDataset":
        """A dataset of the samples at ``index``, mask and placeholders kept."""

    @abc.abstractmethod
    def with_presence(self, presence) -> "ModalDataset":
        """Apply a presence mask: absent modalities get placeholders (zeros, id 0, ""). Data
        already absent stays absent: the new mask is the AND of the old and the given one."""

    @abc.abstractmethod
    def select_modalities(self, modalities: Sequence[str]) -> "ModalDataset":
        """Keep only ``modalities`` (in that order). Samples left with none raise a ValueError."""

    def to_memory(self) -> "MultimodalDataset":
        """Every row read into a plain in-memory :class:`MultimodalDataset`."""
        b = self[np.arange(len(self))]
        return MultimodalDataset(b.inputs, b.label, b.score, b.present.numpy(), b.strings, b.ids, self.meta)

    def loader(
        self,
        batch_size: int = 64,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        sampler: Sampler | None = None,
    ) -> DataLoader:
        """A DataLoader yielding :class:`Batch` objects. Shuffling draws from ``generator`` so a
        run can be replayed exactly. ``sampler`` replaces both (the trainer passes a
        ``DistributedSampler``: one rank's shard)."""
        if sampler is None:
            sampler = RandomSampler(self, generator=generator) if shuffle else SequentialSampler(self)
        return DataLoader(self, batch_size=None, sampler=BatchSampler(sampler, batch_size, drop_last))

    # shared checks, so both implementations refuse the same bad arguments with the same words
    def _and_mask(self, presence) -> torch.Tensor:
        """``presence`` validated against this dataset, ANDed with the current mask."""
        presence = check_presence(np.asarray(presence), self.modalities)
        if presence.shape[0] != len(self):
            raise ValueError(f"Presence mask has {presence.shape[0]} rows; the dataset has {len(self)} samples.")
        return self.presence & torch.as_tensor(presence, dtype=torch.bool)

    def _columns(self, modalities: Sequence[str]) -> list:
        """The mask columns of ``modalities`` (unknown names raise)."""
        for m in modalities:
            if m not in self.modalities:
                raise ValueError(f"Unknown modality {m!r}; this data has {self.modalities}.")
        return [self.modalities.index(m) for m in modalities]


def apply_masks(splits: dict, masks: dict) -> dict:
    """``{split: dataset}`` with ``masks[split]`` applied (``with_presence``) to each split named in
    ``masks``; the other splits are returned unchanged (typically: train complete, test masked)."""
    unknown = sorted(set(masks) - set(splits))
    if unknown:
        raise ValueError(f"Masks for unknown split(s) {unknown}; the splits are {sorted(splits)}.")
    return {name: ds if masks.get(name) is None else ds.with_presence(masks[name]) for name, ds in splits.items()}


# ----------------------------------------------------------------------------- in memory
class MultimodalDataset(ModalDataset):
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
        mask = self._and_mask(presence)
        inputs = placeholder_inputs(self.inputs, mask, self.modalities)
        strings = placeholder_strings(self.strings, mask, self.modalities)
        return MultimodalDataset(inputs, self.label, self.score, mask.numpy(), strings, self.ids, self.meta)

    def select_modalities(self, modalities: Sequence[str]) -> "MultimodalDataset":
        """Keep only ``modalities`` (in that order). Samples left with none raise a ValueError."""
        cols = self._columns(modalities)
        return MultimodalDataset(
            {m: self.inputs[m] for m in modalities},
            self.label,
            self.score,
            self.presence[:, cols].numpy(),
            {m: v for m, v in self.strings.items() if m in modalities},
            self.ids,
            self.meta,
        )

    def to_memory(self) -> "MultimodalDataset":
        """Already in memory: ``self`` (no copy)."""
        return self
