"""MLA: Multimodal Learning with Alternating Unimodal Adaptation (Zhang, Yoon, Bansal, Yao; CVPR 2024).

One encoder ``h_m`` per modality, one shared linear head ``g``. Training takes one optimiser step
per modality in a fixed cycle (Eq. 1-2); each step projects the shared head's gradient with a
recursive-least-squares matrix ``P`` so that learning the current modality disturbs what the head
learned from the previous ones (Eq. 3-4). At test time every present modality predicts on its own
and the predictions are averaged with per-sample weights that favour the modality whose
prediction has the lower entropy (Eq. 5-7).

Choices where the paper is open (each one a parameter):

* **One batch, M steps.** The trainer hands a batch to :meth:`MLA.training_step` once per modality
  (``steps_per_batch = M``), so iteration ``t`` of Eq. 1 is the ``t``-th step overall and the
  modality is ``order[t mod M]``. Samples of the batch that lack modality ``m`` are left out of
  step ``m``: unpaired data need no imputation, and a step whose modality is absent from the whole
  batch is skipped (no gradient, no update of ``P``).
* **Order of Eq. 3 and Eq. 4.** Algorithm 1 computes ``P_t`` from the current step's mean feature
  and then applies it to the current gradient (``projection_order="paper"``). Orthogonal weight
  modification (Zeng et al. 2019), which the paper cites, projects with ``P_{t-1}`` and updates
  ``P`` afterwards (``"owm"``). Eq. 3's ``q_t`` is written with ``P_t`` on the right-hand side;
  we read it as ``P_{t-1}`` (RLS gain), otherwise the definition is circular.
* **Several processes** (torchrun): a step is skipped only when no rank's shard has the modality,
  the loss is weighted by the rank's share of the step's samples and Eq. 3's ``r`` is the mean
  over every rank, so the step equals the one-process step on the whole batch; Eq. 4 then acts on
  the gradient DDP has already averaged.
* **What ``P`` multiplies.** ``P`` is ``s x s`` with ``s`` the head's input size, so it acts on the
  input side of the head's weight: ``grad_W <- grad_W P``. The bias has no input side and keeps
  its plain gradient (the released code does the same).
* **Regression.** A one-output head has no softmax. Its uncertainty is the entropy of a Gaussian
  whose variance is the variance of the linear head's output when its input features are dropped
  out with probability ``regression_dropout`` (closed form, no sampling):
  ``var = p / (1 - p) * sum_j (w_j h_j)^2`` and ``e = 0.5 * log(2 pi e var)`` (Eq. 6 for
  regression). Eq. 7 is then unchanged.

:func:`released_mla` builds the variant that behaves as the authors' released code does
(see :class:`MLA` ``variant="released"``): no projection, ``P`` divided by its Frobenius norm, and
one entropy per modality per test batch, computed over the batch axis.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import TrainingHooks, sum_over_ranks, world_size
from ..losses import task_loss

PROJECTION_ORDERS = ("paper", "owm")
FUSIONS = ("entropy", "mean", "batch_entropy", "inverse_entropy", "oracle")
VARIANTS = ("paper", "released")


# ----------------------------------------------------------------------------- Eq. 3-4
def rls_update(P: torch.Tensor, r: torch.Tensor, alpha: float) -> torch.Tensor:
    """One recursive-least-squares step of the gradient-modification matrix (Eq. 3).

    ``P_t = P_{t-1} - q_t r^T P_{t-1}`` with gain ``q_t = P_{t-1} r / (alpha + r^T P_{t-1} r)`` and
    ``r`` the mean encoded feature of the step's modality. Afterwards ``P_t r = alpha /
    (alpha + r^T P_{t-1} r) * P_{t-1} r``: with a small ``alpha`` the direction ``r`` is removed.
    Returns a new ``(s, s)`` matrix, symmetrised against round-off.
    """
    if P.dim() != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"P must be a square (s, s) matrix, got shape {tuple(P.shape)}.")
    r = r.reshape(-1).to(P.dtype)
    if r.numel() != P.shape[0]:
        raise ValueError(f"The feature r has {r.numel()} entries but P is {tuple(P.shape)}; r must have s entries.")
    if not torch.isfinite(r).all():
        raise ValueError("The feature r has NaN or infinite entries; check the encoder's output.")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 (it keeps Eq. 3's denominator away from zero), got {alpha}.")
    Pr = P @ r
    q = Pr / (alpha + r @ Pr)
    P_new = P - torch.outer(q, r @ P)
    return 0.5 * (P_new + P_new.T)


def project_head_gradient(grad: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Eq. 4 for a linear head: the weight gradient ``(out, s)`` multiplied by ``P`` on its input side."""
    if grad.shape[-1] != P.shape[0]:
        raise ValueError(f"Head weight gradient {tuple(grad.shape)} does not match P {tuple(P.shape)}.")
    return grad @ P.T


# ----------------------------------------------------------------------------- Eq. 5-7
def prediction_entropy(logits: torch.Tensor, task: str = "classification", head_weight: torch.Tensor | None = None,
                       features: torch.Tensor | None = None, regression_dropout: float = 0.1) -> torch.Tensor:
    """Per-sample uncertainty ``e_{m,r}`` of one modality's prediction (Eq. 6), shape ``(B,)``.

    Classification: the Shannon entropy of ``softmax(logits)``. Regression: the entropy of a
    Gaussian whose variance is the head output's variance under dropout of the head input (see the
    module docstring); needs ``head_weight`` ``(1, s)`` and ``features`` ``(B, s)``.
    """
    if task == "classification":
        logp = F.log_softmax(logits.float(), dim=-1)
        return -(logp.exp() * logp).sum(-1)
    if task == "regression":
        if head_weight is None or features is None:
            raise ValueError("Regression entropy needs the head weight and the features it multiplies.")
        if not 0.0 < regression_dropout < 1.0:
            raise ValueError(f"regression_dropout must be in (0, 1), got {regression_dropout}.")
        p = regression_dropout
        var = p / (1 - p) * ((features.float() * head_weight.float().reshape(1, -1)) ** 2).sum(-1)
        return 0.5 * torch.log(2 * math.pi * math.e * var.clamp_min(1e-12))
    raise ValueError(f"MLA's dynamic fusion supports classification and regression, not {task!r}.")


def fusion_weights(entropy: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Modality importance ``lambda_{m,r}`` of Eq. 7, per sample, over present modalities only.

    ``entropy`` and ``present`` are ``(B, M)``. ``lambda = exp(max_m e - e_m) / sum_v exp(max_m e - e_v)``
    where the max and the sum run over the modalities present in that sample; absent ones get 0.
    """
    if entropy.shape != present.shape:
        raise ValueError(f"entropy {tuple(entropy.shape)} and present {tuple(present.shape)} must both be (B, M).")
    present = present.bool()
    if not present.any(1).all():
        bad = (~present.any(1)).nonzero().flatten()[:5].tolist()
        raise ValueError(f"Samples {bad} have no modality present; dynamic fusion needs at least one.")
    e = entropy.float().masked_fill(~present, float("-inf"))
    e_max = e.max(1, keepdim=True).values
    score = (e_max - entropy.float()).masked_fill(~present, float("-inf"))
    return torch.softmax(score, dim=1)


def batch_fusion_weights(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """The released code's fusion weights: for each modality, softmax over the **batch** axis,
    entropy summed over the whole batch, then Eq. 7 across modalities. One weight per modality
    for the whole batch (shape ``(M,)``); it depends on the batch size."""
    e = []
    for z in logits:
        logp = F.log_softmax(z.float(), dim=0)
        e.append(-(logp.exp() * logp).sum())
    e = torch.stack(e)
    return torch.softmax(e.max() - e, dim=0)


def oracle_fusion_weights(unimodal_logits: Sequence[torch.Tensor], target: torch.Tensor, present: torch.Tensor,
                          candidates: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """A control, not a method: it reads the label. Per sample, of the candidate weightings -- each
    present modality alone, equal weights over the present ones, and any ``candidates`` ``(B, M)``
    (e.g. Eq. 7's) -- the one whose fused prediction puts the true class furthest ahead of the
    others. Its accuracy is at least that of every candidate: the ceiling of choosing, per sample,
    how much to trust each modality. Returns ``(B, M)``."""
    present = present.bool()
    eye = torch.eye(present.shape[1], device=present.device)
    options = [torch.where(present, eye[m], 0.0) for m in range(present.shape[1])]
    options.append(present.float() / present.float().sum(1, keepdim=True))
    options += [c.to(present.device).float() for c in candidates]
    margins = []
    for weights in options:
        fused = fuse(unimodal_logits, weights)
        true = fused.gather(1, target.view(-1, 1)).squeeze(1)
        rival = fused.scatter(1, target.view(-1, 1), float("-inf")).max(1).values
        usable = (weights > 0).any(1)  # a modality absent from the sample gives no option
        margins.append(torch.where(usable, true - rival, float("-inf")))
    best = torch.stack(margins, 1).argmax(1)
    return torch.stack(options, 1)[torch.arange(len(best)), best]


def fuse(unimodal_logits: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Eq. 5: the weighted sum of the modalities' predictions. ``unimodal_logits`` holds one
    ``(B, K)`` tensor per modality; ``weights`` is ``(B, M)`` (per sample, Eq. 7) or ``(M,)``
    (one fixed weight per modality, e.g. for comparing Eq. 7 with hand-set weights)."""
    stacked = torch.stack([z.float() for z in unimodal_logits], dim=1)  # (B, M, K)
    weights = weights.to(stacked.device, stacked.dtype)
    if weights.dim() == 1:
        weights = weights.unsqueeze(0).expand(len(stacked), -1)
    if weights.shape != stacked.shape[:2]:
        raise ValueError(f"weights {tuple(weights.shape)} do not match {stacked.shape[1]} modalities "
                         f"x {stacked.shape[0]} samples.")
    return (weights.unsqueeze(-1) * stacked).sum(1)


# ----------------------------------------------------------------------------- the model
class MLA(TrainingHooks, nn.Module):
    """Encoders ``h_m`` + one shared linear head ``g`` trained by alternating unimodal steps.

    Parameters
    ----------
    encoders: ``{modality: module}`` mapping each modality's input to a ``(B, dim)`` feature.
    dim: the head's input size ``s``. out_dim: classes (or 1 for regression).
    alpha: Eq. 3's regulariser; smaller removes the previous features' directions more completely.
    projection: head gradient modification on/off (the "HGM" column of Table 3).
    projection_order: ``"paper"`` (update ``P`` then project, Algorithm 1) or ``"owm"``.
    normalize_p: divide ``P`` by its Frobenius norm after every update (released code).
    fusion: ``"entropy"`` (per sample, Eq. 5-7; "DF" of Table 3), ``"mean"`` (equal weights over
        present modalities), ``"batch_entropy"`` (released code) or ``"inverse_entropy"`` (a
        deliberately wrong rule that favours the *less* certain modality, for tests and the book), or
        ``"oracle"`` (a control that reads the label: :func:`oracle_fusion_weights`).
    order: the modality cycle of Eq. 1 (default: the encoders' order).
    variant: ``"paper"`` or ``"released"`` -- the latter sets ``projection=False``,
        ``normalize_p=True`` and ``fusion="batch_entropy"`` (see :func:`released_mla`).
    record: keep per-step diagnostics in ``self.records`` (one dict per step ``t`` that follows a
        step on another modality): ``cos_plain`` and ``cos_projected``, the cosine
        ``|G r_prev| / (|G| |r_prev|)`` between the head's weight gradient ``G`` (before and after
        Eq. 4) and the previous step's mean feature ``r_prev``; and, once the optimiser has stepped,
        what the step actually did: ``cos_update``, the same cosine for the applied change of the
        head's weight ``dW`` (the optimiser rescales and adds momentum, so it is not ``G``),
        ``cos_update_features`` = ``|dW H_prev^T| / (|dW| |H_prev|)`` over the previous step's
        features ``H_prev`` (each sample, not only their mean), and ``forgetting``, the head's loss
        on the previous step's samples right after this step minus right before it.
    """

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification",
                 alpha: float = 1.0, projection: bool = True, projection_order: str = "paper",
                 normalize_p: bool = False, fusion: str = "entropy", order: Sequence[str] | None = None,
                 regression_dropout: float = 0.1, variant: str = "paper", record: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
        if variant == "released":
            projection, normalize_p, fusion = False, True, "batch_entropy"
        if projection_order not in PROJECTION_ORDERS:
            raise ValueError(f"projection_order must be one of {PROJECTION_ORDERS}, got {projection_order!r}.")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}.")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}.")
        if task not in ("classification", "regression"):
            raise ValueError(f"MLA supports classification and regression, not {task!r}.")
        if len(encoders) < 1:
            raise ValueError("MLA needs at least one modality encoder.")
        self.encoders = encoders if isinstance(encoders, nn.ModuleDict) else nn.ModuleDict(encoders)
        self.modalities = tuple(self.encoders)
        self.order = tuple(order) if order is not None else self.modalities
        if sorted(self.order) != sorted(self.modalities):
            raise ValueError(f"order {self.order} must list each modality {self.modalities} exactly once.")
        self.head = nn.Linear(dim, out_dim)  # g, shared by every modality
        self.task, self.dim, self.variant = task, dim, variant
        self.alpha, self.projection, self.projection_order = float(alpha), projection, projection_order
        self.normalize_p, self.fusion, self.regression_dropout = normalize_p, fusion, regression_dropout
        self.register_buffer("P", torch.eye(dim))  # Eq. 3, P_0 = I
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))  # t of Eq. 1
        self.last_step: dict = {}
        # record=True keeps, per step, how much the head update moves the head's output on the
        # previous step's mean feature, before and after Eq. 4 (see :meth:`before_optimizer_step`).
        self.record, self.records, self._previous_r = record, [], None
        self._previous_batch, self._current_batch, self._pending = None, None, None

    @property
    def steps_per_batch(self) -> int:
        """One optimiser step per modality for every batch (Eq. 1)."""
        return len(self.order)

    def modality_at(self, t: int) -> str:
        """``m_t = t mod M`` (Eq. 1), in the cycle ``self.order``."""
        return self.order[int(t) % len(self.order)]

    # ------------------------------------------------------------------ Eq. 2
    def unimodal_logits(self, batch, modality: str) -> tuple:
        """``f_m(x) = g(h_m(x))`` for every sample of the batch: ``(logits, features)``."""
        h = self.encoders[modality](batch.inputs[modality])
        if h.dim() != 2 or h.shape[1] != self.dim:
            raise ValueError(f"Encoder {modality!r} returned {tuple(h.shape)}; the shared head expects (B, {self.dim}).")
        return self.head(h), h

    def training_step(self, batch, step: int) -> dict:
        """Loss of one alternating step (Eq. 2): only modality ``m_t`` and only the samples that have it."""
        if self.record:
            self._finish_record()
        m = self.modality_at(int(self.iteration))
        rows = batch.has(m).nonzero().flatten()
        self.last_step = {"modality": m, "iteration": int(self.iteration), "n_samples": int(rows.numel())}
        if world_size() > 1:
            return self._sharded_step(batch, m, rows)
        if rows.numel() == 0:
            # Nothing of modality m in this batch: a zero loss (it touches the head only so that a
            # CUDA fp16 GradScaler has gradients to check), and the hook then clears every
            # gradient so the optimiser leaves the weights (and momenta) alone.
            return {"loss": sum(p.sum() for p in self.head.parameters()) * 0.0, "skip": True}
        sub = batch.select(rows)
        logits, h = self.unimodal_logits(sub, m)
        if self.record:
            self._current_batch = (m, h.detach(), sub)
        return {"loss": task_loss(self.task, logits, sub), "skip": False, "feature_mean": h.detach().float().mean(0)}

    def _sharded_step(self, batch, m: str, rows: torch.Tensor) -> dict:
        """:meth:`training_step` on one rank's shard of the batch, equal to the one-process step on
        the whole batch: the step is skipped only when no rank has modality ``m``; the loss is
        weighted so that DDP's average over ranks is the mean over every rank's ``m`` samples
        (shards may hold different numbers of them); Eq. 3's ``r`` is the mean over all ranks."""
        count = sum_over_ranks(torch.tensor(float(rows.numel()), device=batch.present.device))
        total = int(count)
        if total == 0:
            return {"loss": sum(p.sum() for p in self.head.parameters()) * 0.0, "skip": True}
        if rows.numel() == 0:  # other ranks have m: take part in their step with a zero loss
            loss, feature_sum = sum(p.sum() for p in self.head.parameters()) * 0.0, self.head.weight.new_zeros(self.dim)
        else:
            sub = batch.select(rows)
            logits, h = self.unimodal_logits(sub, m)
            loss = task_loss(self.task, logits, sub) * (rows.numel() * world_size() / total)
            feature_sum = h.detach().float().sum(0)
        return {"loss": loss, "skip": False, "feature_mean": sum_over_ranks(feature_sum.float()) / total}

    def before_optimizer_step(self, step: int, output: dict) -> None:
        """Eq. 3-4 on the shared head's weight gradient, then advance ``t``. ``output`` is this
        step's :meth:`training_step` result: its ``feature_mean`` is Eq. 3's ``r``."""
        t = int(self.iteration)
        self.iteration += 1
        if output.get("skip"):
            for p in self.parameters():
                p.grad = None
            return
        r = output.get("feature_mean")
        plain = self.head.weight.grad.detach().clone() if self.record and self.head.weight.grad is not None else None
        if self.projection and self.projection_order == "owm" and t > 0:
            self._project()
        if r is not None:
            self._update_p(r)
        if self.projection and self.projection_order == "paper" and t > 0:  # Eq. 4: plain gradient at t = 0
            self._project()
        if self.record:
            self._start_record(t, plain, r)
        self._previous_r = r

    # ------------------------------------------------------------------ diagnostics (record=True)
    def _start_record(self, t: int, plain, r) -> None:
        """Before the optimiser steps: the gradients' cosines and the head's loss on the previous
        step's samples (another modality), kept until :meth:`_finish_record` sees the step's effect."""
        previous, self._previous_batch, self._current_batch = self._previous_batch, self._current_batch, None
        if plain is None or self._previous_r is None or previous is None or previous[0] == self.last_step.get("modality"):
            return
        entry = {"t": t, "modality": self.last_step.get("modality"), "previous": previous[0],
                 "cos_plain": _cosine(plain, self._previous_r),
                 "cos_projected": _cosine(self.head.weight.grad, self._previous_r)}
        self.records.append(entry)
        with torch.no_grad():
            loss = task_loss(self.task, self.head(previous[1]), previous[2])
        self._pending = (entry, previous, self.head.weight.detach().clone(), float(loss))

    @torch.no_grad()
    def _finish_record(self) -> None:
        """After the optimiser stepped (called at the next step): the applied change of the head's
        weight against the previous modality's features, and the change of its loss on them."""
        if self._pending is None:
            return
        entry, (_, h, sub), weight, loss_before = self._pending
        self._pending = None
        update = self.head.weight.detach() - weight
        entry["cos_update"] = _cosine(update, h.float().mean(0))
        entry["cos_update_features"] = float(torch.linalg.matrix_norm(update.float() @ h.float().T) /
                                             (torch.linalg.matrix_norm(update.float()) * torch.linalg.matrix_norm(h.float()) + 1e-12))
        entry["forgetting"] = float(task_loss(self.task, self.head(h), sub)) - loss_before

    def _update_p(self, r: torch.Tensor) -> None:
        P = rls_update(self.P, r, self.alpha)
        if self.normalize_p:
            P = P / torch.linalg.matrix_norm(P)
        self.P.copy_(P)

    def _project(self) -> None:
        grad = self.head.weight.grad
        if grad is not None:
            self.head.weight.grad = project_head_gradient(grad, self.P)

    # ------------------------------------------------------------------ Eq. 5-7
    def forward(self, batch) -> dict:
        """Test-time dynamic fusion: per-modality predictions weighted by Eq. 7 (or the chosen rule).

        Returns ``logits`` (fused, Eq. 5), ``unimodal_logits``, ``features`` (absent rows zeroed),
        ``entropy`` ``(B, M)`` and ``weights`` ``(B, M)``.
        """
        present = torch.stack([batch.has(m) for m in self.modalities], dim=1)
        if not present.any(1).all():
            raise ValueError("A sample has no modality present; MLA needs at least one per sample.")
        logits, feats, ents = {}, {}, []
        for m in self.modalities:
            z, h = self.unimodal_logits(batch, m)
            logits[m] = z
            feats[m] = h * batch.has(m).to(h.dtype).unsqueeze(1)
            ents.append(prediction_entropy(z, self.task, self.head.weight, h, self.regression_dropout))
        entropy = torch.stack(ents, dim=1)
        if self.fusion == "entropy":
            weights = fusion_weights(entropy, present)
        elif self.fusion == "inverse_entropy":
            weights = fusion_weights(-entropy, present)
        elif self.fusion == "mean":
            weights = present.float() / present.float().sum(1, keepdim=True)
        elif self.fusion == "oracle":  # a control: it reads the label (classification only)
            if self.task != "classification":
                raise ValueError("fusion='oracle' picks the modality that gives the true class the highest "
                                 "probability, so it needs a classification task.")
            weights = oracle_fusion_weights([logits[m] for m in self.modalities], batch.label, present,
                                            [fusion_weights(entropy, present)])
        else:  # batch_entropy: the released code fuses every modality with one weight per batch
            w = batch_fusion_weights([logits[m] for m in self.modalities])
            weights = w.unsqueeze(0).expand(len(present), -1)
        fused = fuse([logits[m] for m in self.modalities], weights)
        return {"logits": fused, "unimodal_logits": logits, "features": feats, "entropy": entropy, "weights": weights}


def _cosine(grad: torch.Tensor, r: torch.Tensor) -> float:
    """``|G r| / (|G|_F |r|)``: 0 when the update leaves the output on ``r`` unchanged."""
    num = torch.linalg.vector_norm(grad.float() @ r.float())
    return float(num / (torch.linalg.matrix_norm(grad.float()) * torch.linalg.vector_norm(r.float()) + 1e-12))


def released_mla(encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification", **kwargs) -> MLA:
    """MLA as the authors' released code behaves (from the description in FACTS.md, not their code).

    * Alternating steps through the shared head, one per modality per batch -- as in the paper.
    * **No head gradient modification**: the released projection is guarded by a parameter name
      the head does not have, so it never runs. ``P`` is still updated (symmetric RLS form, then
      divided by its Frobenius norm) so that one can look at it, but it never touches a gradient.
    * **Fusion over the batch axis**: softmax over the samples of a test batch, entropy summed
      over the batch, one weight per modality per batch (depends on the batch size), and every
      modality is fused whether present or not (dropped features are zeros, as in the release).
    """
    return MLA(encoders, dim, out_dim, task=task, variant="released", **kwargs)


def modality_gap(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Modality gap of Liang et al. (2022), the measure behind MLA's Fig. 3: the distance between
    the centroids of the L2-normalised embeddings of two modalities."""
    a = F.normalize(torch.as_tensor(features_a, dtype=torch.float32), dim=1).mean(0)
    b = F.normalize(torch.as_tensor(features_b, dtype=torch.float32), dim=1).mean(0)
    return float(torch.linalg.vector_norm(a - b))


__all__ = [
    "MLA",
    "released_mla",
    "rls_update",
    "project_head_gradient",
    "prediction_entropy",
    "fusion_weights",
    "batch_fusion_weights",
    "fuse",
    "modality_gap",
]
