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

from .hooks import TrainingHooks
from .losses import task_loss
from .missing import check_count, check_nonnegative, check_positive, check_rate

TASKS = ("classification", "regression", "multilabel")


def _check_model_args(encoders, dim, out_dim, task) -> None:
    """The argument checks every model constructor here starts with (``encoders=None``: one encoder)."""
    if encoders is not None and (not isinstance(encoders, nn.ModuleDict) or not len(encoders)):
        raise ValueError(
            "encoders must be a non-empty nn.ModuleDict {modality: encoder}, e.g. quick_encoders(train, dim); "
            f"got {type(encoders).__name__} {encoders!r:.80}. Wrap a dict with nn.ModuleDict(...) so its "
            "parameters are trained."
        )
    check_count(dim, "dim", hint="it is the feature size every encoder outputs, e.g. 64")
    check_count(out_dim, "out_dim", hint="it is the number of classes (or 1 for regression)")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    if task == "regression" and out_dim != 1:
        raise ValueError(f"out_dim={out_dim} with task='regression': a regression head predicts one score; pass out_dim=1.")
    if task == "classification" and out_dim < 2:
        raise ValueError(f"out_dim={out_dim} with task='classification': pass the number of classes (at least 2).")


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
        if not isinstance(encoder, nn.Module):
            raise ValueError(f"encoder must be an nn.Module (one modality's encoder), got {type(encoder).__name__}.")
        if not isinstance(modality, str) or not modality:
            raise ValueError(f"modality must be the name of the encoder's modality, e.g. 'image', got {modality!r}.")
        _check_model_args(None, dim, out_dim, task)
        super().__init__()
        self.encoder, self.modality, self.task = encoder, modality, task
        self.head = nn.Linear(dim, out_dim)

    def forward(self, batch) -> dict:
        h = self.encoder(batch.inputs[self.modality])
        return {"logits": self.head(h), "features": {self.modality: h}}


class SumFusion(nn.Module):
    """Sum of (masked) modality features, then a linear head."""

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification"):
        _check_model_args(encoders, dim, out_dim, task)
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
        _check_model_args(encoders, dim, out_dim, task)
        modality_dropout = check_rate(modality_dropout, "modality_dropout (probability of dropping a modality)")
        super().__init__()
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
        _check_model_args(encoders, dim, out_dim, task)
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
        if not batch.present.any(1).all():
            # Averaging over zero modalities would divide by zero (NaN in fp32, inf in fp16).
            raise ValueError(
                "LateFusion got a sample with no modality present; every sample needs at least one. "
                "Build masks with rmm_lib.missing (they never empty a sample) or drop such samples."
            )
        stacked = torch.stack(logits, dim=1)  # (B, M, K)
        fused = (stacked * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True)
        return {"logits": fused, "features": feats, "unimodal_logits": dict(zip(self.modalities, logits))}


def drop_modalities(batch, p: float, generator: torch.Generator | None = None):
    """Return a copy of ``batch`` where each sample with two or more modalities present loses one,
    chosen uniformly among its present ones, with probability ``p`` (modality dropout)."""
    p = check_rate(p, "p (modality-dropout probability)")
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
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline {name!r}; choose from {BASELINES}.")
    _check_model_args(encoders, dim, out_dim, task)
    if name == "dropout":
        check_rate(modality_dropout, "modality_dropout (probability of dropping a modality)")
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


# ============================================================================= MLA Table 1 baselines
# FiLM, BiGated, OGM-GE and QMF as MLA's appendix A.2 describes them, for any number of modalities,
# on the same encoders and trainer as the models above. An absent modality is handled as above:
# its feature is zeroed (FiLM, BiGated, OGM-GE) or it is left out of the fusion (QMF).


class FiLMFusion(nn.Module):
    """FiLM (Perez et al. 2018; MLA App. A.2): one *condition* modality is encoded by a linear layer
    ``dim -> 2 dim`` into ``(gamma, beta)``, which modulate every other modality's feature
    ``gamma * h_m + beta``; the modulated features are concatenated into a linear head.

    When the condition modality is absent from a sample, its modulation is the identity
    (``gamma = 1, beta = 0``): our choice, the appendix does not say.
    """

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification",
                 condition: str | None = None):
        _check_model_args(encoders, dim, out_dim, task)
        super().__init__()
        self.encoders, self.modalities, self.task = encoders, tuple(encoders), task
        if len(self.modalities) < 2:
            raise ValueError("FiLM needs at least two modalities (one condition, one modulated).")
        self.condition = condition or ("text" if "text" in encoders else self.modalities[0])
        if self.condition not in encoders:
            raise ValueError(f"condition must be one of {self.modalities}, got {self.condition!r}.")
        self.modulated = tuple(m for m in self.modalities if m != self.condition)
        self.film = nn.Linear(dim, 2 * dim)
        self.head = nn.Linear(dim * len(self.modulated), out_dim)

    def forward(self, batch) -> dict:
        feats = masked_features(self.encoders, batch, self.modalities)
        gamma, beta = self.film(feats[self.condition]).chunk(2, dim=1)
        has_c = batch.has(self.condition).to(gamma.dtype).unsqueeze(1)
        gamma = has_c * gamma + (1 - has_c)  # identity modulation without the condition
        beta = has_c * beta
        mod = [(gamma * feats[m] + beta) * batch.has(m).to(gamma.dtype).unsqueeze(1) for m in self.modulated]
        return {"logits": self.head(torch.cat(mod, dim=1)), "features": feats}


class BiGatedFusion(nn.Module):
    """Bilinear gated fusion (Kiela et al. 2018; MLA App. A.2): a linear layer per modality; the
    *gate* modality's hidden state passes through a sigmoid and multiplies the others' hidden
    states, which are concatenated into the fusion head. Without the gate modality the gate is 1."""

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification",
                 gate: str | None = None):
        _check_model_args(encoders, dim, out_dim, task)
        super().__init__()
        self.encoders, self.modalities, self.task = encoders, tuple(encoders), task
        if len(self.modalities) < 2:
            raise ValueError("BiGated needs at least two modalities (one gate, one gated).")
        self.gate = gate or ("text" if "text" in encoders else self.modalities[0])
        if self.gate not in encoders:
            raise ValueError(f"gate must be one of {self.modalities}, got {self.gate!r}.")
        self.gated = tuple(m for m in self.modalities if m != self.gate)
        self.hidden = nn.ModuleDict({m: nn.Linear(dim, dim) for m in self.modalities})
        self.head = nn.Linear(dim * len(self.gated), out_dim)

    def forward(self, batch) -> dict:
        feats = masked_features(self.encoders, batch, self.modalities)
        g = torch.sigmoid(self.hidden[self.gate](feats[self.gate]))
        has_g = batch.has(self.gate).to(g.dtype).unsqueeze(1)
        g = has_g * g + (1 - has_g)
        hid = [g * self.hidden[m](feats[m]) * batch.has(m).to(g.dtype).unsqueeze(1) for m in self.gated]
        return {"logits": self.head(torch.cat(hid, dim=1)), "features": feats}


class OGMGEFusion(TrainingHooks, ConcatFusion):
    """OGM-GE (Peng et al. 2022; MLA App. A.2) on the Concat model.

    Each modality's share of the concatenated head gives a unimodal output
    ``W_m h_m + b / M``; its score ``s_m`` is the summed softmax probability of the true class over
    the batch. A modality that dominates (``rho_m = s_m / mean of the others' scores > 1``) has its
    encoder gradients scaled by ``k_m = 1 - tanh(alpha * rho_m)`` (on-the-fly gradient modulation),
    and Gaussian noise with the gradient's own standard deviation is added to every encoder
    gradient (generalisation enhancement). ``alpha`` defaults to 0.8, the value the OGM-GE
    README recommends for CREMA-D (0.1 for VGGSound);
    with two modalities ``rho`` is the paper's ratio. Classification only.
    """

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification",
                 alpha: float = 0.8, noise: bool = True):
        if task != "classification":
            raise ValueError("OGM-GE's modulation is defined through class probabilities: classification only.")
        alpha = check_positive(alpha, "alpha (OGM-GE modulation strength)", hint="OGM-GE recommends 0.8 (CREMA-D) or 0.1")
        super().__init__(encoders, dim, out_dim, task)
        self.alpha, self.noise, self.dim = float(alpha), noise, dim
        self.coefficients: dict = {m: 1.0 for m in self.modalities}

    def unimodal_logits(self, feats: dict) -> dict:
        W, b, M = self.head.weight, self.head.bias, len(self.modalities)
        return {m: feats[m] @ W[:, i * self.dim:(i + 1) * self.dim].T + b / M for i, m in enumerate(self.modalities)}

    def training_step(self, batch, step: int) -> dict:
        out = self(batch)
        with torch.no_grad():
            uni = self.unimodal_logits(out["features"])
            scores = {m: float(torch.softmax(z.float(), 1).gather(1, batch.label[:, None]).sum()) for m, z in uni.items()}
        for m in self.modalities:
            others = [scores[v] for v in self.modalities if v != m]
            rho = scores[m] / max(sum(others) / len(others), 1e-8)
            self.coefficients[m] = 1.0 - float(torch.tanh(torch.tensor(self.alpha * rho))) if rho > 1 else 1.0
        return {"loss": task_loss(self.task, out["logits"], batch)}

    def before_optimizer_step(self, step: int, output: dict) -> None:
        for m in self.modalities:
            for p in self.encoders[m].parameters():
                if p.grad is None:
                    continue
                p.grad.mul_(self.coefficients[m])
                if self.noise and p.grad.numel() > 1:
                    p.grad.add_(torch.randn_like(p.grad) * (p.grad.std() + 1e-8))


class QMFFusion(TrainingHooks, nn.Module):
    """Quality-aware multimodal fusion (QMF, Zhang et al. 2023; MLA App. A.2), in the late-fusion
    setting: one head per modality; the fused logits are the unimodal logits weighted by each
    modality's energy-based confidence ``logsumexp(z_m) / 10`` (detached), over present
    modalities only.

    Loss: cross-entropy of the fused logits + each modality's cross-entropy + ``rank_weight`` x a
    ranking regulariser: for each modality, pairs of samples whose historical (running mean)
    unimodal loss differs must have confidences in the opposite order, with that difference as
    margin. The history is kept per sample id (``n_samples`` slots). Classification only.
    """

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification",
                 rank_weight: float = 0.1, energy_scale: float = 10.0, n_samples: int = 100_000):
        _check_model_args(encoders, dim, out_dim, task)
        rank_weight = check_nonnegative(rank_weight, "rank_weight", hint="0 turns the ranking regulariser off")
        energy_scale = check_positive(energy_scale, "energy_scale", hint="QMF divides the energy by 10")
        n_samples = check_count(n_samples, "n_samples", hint="pass more than the largest sample id, e.g. len(train)")
        super().__init__()
        if task != "classification":
            raise ValueError("QMF's energy confidence is defined on class logits: classification only.")
        self.encoders, self.modalities, self.task = encoders, tuple(encoders), task
        self.heads = nn.ModuleDict({m: nn.Linear(dim, out_dim) for m in self.modalities})
        self.rank_weight, self.energy_scale = float(rank_weight), float(energy_scale)
        self.register_buffer("loss_sum", torch.zeros(len(self.modalities), n_samples))
        self.register_buffer("loss_count", torch.zeros(len(self.modalities), n_samples))

    def _outputs(self, batch) -> dict:
        feats, logits, conf = {}, {}, []
        for m in self.modalities:
            feats[m] = self.encoders[m](batch.inputs[m])
            logits[m] = self.heads[m](feats[m])
            conf.append(torch.logsumexp(logits[m].float(), dim=1) / self.energy_scale)
        present = torch.stack([batch.has(m) for m in self.modalities], dim=1).float()
        conf = torch.stack(conf, dim=1)  # (B, M)
        w = conf.detach() * present
        fused = (w.unsqueeze(-1) * torch.stack([logits[m].float() for m in self.modalities], 1)).sum(1)
        return {"logits": fused, "features": feats, "unimodal_logits": logits, "confidence": conf, "present": present}

    def forward(self, batch) -> dict:
        out = self._outputs(batch)
        return {k: out[k] for k in ("logits", "features", "unimodal_logits", "confidence")}

    def _history(self, j: int) -> torch.Tensor:
        """Running mean unimodal loss per sample id, min-max normalised over the ids seen (as QMF does)."""
        seen = self.loss_count[j] > 0
        mean = self.loss_sum[j] / self.loss_count[j].clamp_min(1)
        lo, hi = mean[seen].min(), mean[seen].max()
        return (mean - lo) / (hi - lo).clamp_min(1e-8)

    def training_step(self, batch, step: int) -> dict:
        import torch.nn.functional as F

        ids = batch.ids.long()
        if ids.max() >= self.loss_sum.shape[1]:
            raise ValueError(f"Sample id {int(ids.max())} exceeds QMF's history size; pass n_samples > max id.")
        out = self._outputs(batch)
        loss = F.cross_entropy(out["logits"], batch.label)
        rank = torch.zeros((), device=loss.device)
        for j, m in enumerate(self.modalities):
            rows = out["present"][:, j].bool()
            if not rows.any():
                continue
            per_sample = F.cross_entropy(out["unimodal_logits"][m][rows].float(), batch.label[rows], reduction="none")
            loss = loss + per_sample.mean()
            sid = ids[rows]
            seen = self.loss_count[j, sid] > 0
            if seen.sum() > 1:
                c = out["confidence"][rows, j][seen]
                h = self._history(j)[sid[seen]]
                c2, h2 = torch.roll(c, -1), torch.roll(h, -1)
                target = torch.sign(h - h2)  # +1: the first sample was harder so far
                margin = (h - h2).abs()
                # the harder sample should be the less confident one, up to the margin (as QMF writes
                # it: MarginRankingLoss(c, c2 + margin * target, -target))
                rank = rank + F.margin_ranking_loss(c, c2 + margin * target, -target, margin=0.0)
            with torch.no_grad():
                self.loss_sum[j, sid] += per_sample.detach()
                self.loss_count[j, sid] += 1
        return {"loss": loss + self.rank_weight * rank, "rank": rank.detach()}


class IndependentLateFusion(TrainingHooks, LateFusion):
    """Late fusion as MLA's appendix A.2 trains it: every encoder and its head learn from their own
    modality's loss only (no cross-modal gradient); the test-time output is the average of the
    present modalities' logits, as in :class:`LateFusion`."""

    def training_step(self, batch, step: int) -> dict:
        out = self(batch)
        loss = torch.zeros((), device=out["logits"].device)
        for m, z in out["unimodal_logits"].items():
            rows = batch.has(m)
            if rows.any():
                loss = loss + task_loss(self.task, z[rows], batch.select(rows))
        return {"loss": loss}


MLA_BASELINES = ("sum", "concat", "late", "late_independent", "film", "bigated", "ogm_ge", "qmf")


def make_mla_baseline(name: str, encoders: nn.ModuleDict, dim: int, out_dim: int, task: str = "classification",
                      **kwargs) -> nn.Module:
    """The baselines of MLA's Table 1 by name: ``sum``, ``concat``, ``late``, ``late_independent``,
    ``film``, ``bigated``, ``ogm_ge``, ``qmf`` (extra keyword arguments go to the class)."""
    if name not in MLA_BASELINES:
        raise ValueError(f"Unknown MLA baseline {name!r}; choose from {MLA_BASELINES}.")
    classes = {"film": FiLMFusion, "bigated": BiGatedFusion, "ogm_ge": OGMGEFusion, "qmf": QMFFusion,
               "late_independent": IndependentLateFusion}
    if name in classes:
        return classes[name](encoders, dim, out_dim, task, **kwargs)
    if name in ("sum", "concat", "late"):
        return make_baseline(name, encoders, dim, out_dim, task=task)
    raise ValueError(f"Unknown MLA baseline {name!r}; choose from {MLA_BASELINES}.")
