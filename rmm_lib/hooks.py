"""The trainer's extension points, declared once (in the manner of Lightning's ``ModelHooks``).

A model that trains differently from "task loss on ``forward``'s logits, one optimiser step per
batch" subclasses :class:`TrainingHooks` next to ``nn.Module`` and overrides only what it needs.
Every hook has a documented default, so :class:`rmm_lib.train.Trainer` calls them unconditionally;
a plain ``nn.Module`` gets the same defaults. A model that defines a hook's name without
subclassing is refused by the trainer (the hook would otherwise be silently ignored).

Under several processes (``torchrun``, see :mod:`rmm_lib.distributed`) each hook sees its rank's
shard of the batch; :func:`sum_over_ranks` and :func:`world_size` (re-exported here for hooks) give
totals over every shard. ``before_optimizer_step`` runs on the gradient already averaged over the
processes.
"""
from __future__ import annotations

from .distributed import sum_over_ranks, world_size  # noqa: F401  (for hooks: totals over every rank)
from .losses import task_loss

HOOK_NAMES = ("training_step", "before_optimizer_step", "configure_optimizer")


class TrainingHooks:
    """Mix-in declaring the hooks :class:`~rmm_lib.train.Trainer` calls.

    ``task`` (``classification``, ``regression`` or ``multilabel``) picks the default loss.
    """

    task: str = "classification"
    #: Optimiser steps per batch; each step calls :meth:`training_step` with ``step`` = 0, 1, ...
    #: (MLA takes one per modality).
    steps_per_batch: int = 1
    #: Whether a step may leave trainable parameters out of its graph: MLA trains one modality per
    #: step, CMPT skips a modality absent from the batch, Late Fusion's per-modality heads... Under
    #: several processes DDP then looks for them after every forward (``find_unused_parameters``,
    #: one walk over the graph per step, ~10% of a tiny model's step). True by default, as missing
    #: modalities make it common; a model whose every step uses every parameter may set False.
    unused_parameters: bool = True

    def training_step(self, batch, step: int) -> dict:
        """The loss of optimiser step ``step`` of this batch: ``{"loss": tensor, ...}``.

        Default: :func:`rmm_lib.losses.task_loss` on ``forward(batch)["logits"]``. Other 0-d tensor
        entries are logged as ``train_<name>``; anything else rides along to
        :meth:`before_optimizer_step`."""
        return {"loss": task_loss(self.task, self(batch)["logits"], batch)}

    def before_optimizer_step(self, step: int, output: dict) -> None:
        """Edit gradients after backward (unscaled, before clipping): ``output`` is what
        :meth:`training_step` returned for this step. Default: nothing."""

    def configure_optimizer(self, config):
        """An optimiser of the model's own, or ``None`` (default) for the one ``config`` names."""
        return None
