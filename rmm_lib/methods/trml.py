"""TRML: Toward Robust Multimodal Learning using Multimodal Foundational Models (Zhao, Poria et al.).

One file, the whole method, with the paper's equation numbers:

* **Foundation-model features (Eq. 1-3).** An open_clip model's text tower gives ``x_t`` (Eq. 1);
  its image tower encodes each of the ``n`` video frames (Eq. 2, ``(n, d)``) and a temporal encoder
  turns the frame features into one visual feature ``x_v`` (Eq. 3). The paper says the temporal
  encoder "consists of an RNN encoder" and nothing more: :class:`TemporalEncoder` defaults to a
  one-layer GRU whose last hidden state is ``x_v`` and also offers ``"lstm"``, ``"transformer"``
  and ``"mean"`` (parameter-free mean pooling).
* **Missing-modality inference (Eq. 4-9).** Two generators ``f_{v2t}`` and ``f_{t2v}``, each
  ``MLP(ReLU(MLP(x)))`` (:class:`Generator`), produce virtual features ``x̄_t`` and ``x̄_v`` from the
  other modality. Fusion is a sum: ``x = x_t + x_v`` when complete (Eq. 9), and the virtual feature
  replaces whichever one is missing, in training and in test (Eq. 7-8). A small MLP head follows.
* **Semantic matching (Eq. 10-19).** Cosine-similarity matrices between original and virtual
  features of a mini-batch (Eq. 10-11), softmax over rows and over columns with a learnable
  positive temperature ``tau`` (Eq. 12-15), cross-entropy against the diagonal averaged over both
  directions (Eq. 16-17), weighted ``L_sml = lam L(t,t̄) + (1-lam) L(v,v̄)`` (Eq. 18) and added to
  the task loss, ``L = L_task + alpha L_sml`` (Eq. 19). Matching needs the original feature, so it
  is computed over the samples of the batch that have both modalities.

Choices where the paper is silent or ambiguous (each one a parameter):

* ``temporal`` -- the temporal encoder's form (default GRU, the paper's "RNN encoder").
* ``regression_loss`` -- the paper writes "mean absolute error (MSE)"; default ``"l1"`` (the
  metric it reports is MAE), ``"mse"`` available.
* ``temperature`` -- the initial ``tau`` (default 0.1, the low end of the paper's Fig. 8 sweep);
  ``learn_temperature=False`` keeps it fixed (the Fig. 8 sweep). It is stored as ``log tau`` so
  it stays positive.
* ``normalize_features`` -- CLIP's joint space is a cosine space, so text and frame embeddings are
  L2-normalised before the temporal encoder and the fusion (default on).
* ``normalize_virtual`` -- the real features are L2-normalised (``normalize_features``); the
  paper says nothing of the generators' output, which Eq. 6 leaves unnormalised (default off, as
  written). With ``normalize_virtual=True`` each virtual feature is rescaled to unit length before
  it stands in for a missing one (Eq. 7-8) and before the matching loss (Eq. 10-17, which is blind
  to length: cosines). Where the real features are not normalised it has no unit length to match,
  so it then does nothing. Our choice, measured on validation in notebook 12.
* ``matching`` -- ``"semantic"`` (TRML), ``"cyclic"`` (an earlier-work baseline in the spirit of
  Modal-Trans / cyclic translation: the generators are trained by reconstructing the original
  feature and by translating back, with MSE) or ``"none"`` (generators trained only through the
  task loss: the paper's ablation "w/o L_sml").

The foundation models of both profiles, the chapter's data and the fit-one-cell runner are
:mod:`rmm_lib.recipes.trml`: this file holds the model and its losses only.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import TrainingHooks
from ..losses import task_loss
from ..missing import check_rate

TEXT, VIDEO = "text", "video"


# ----------------------------------------------------------------------------- modules
class TemporalEncoder(nn.Module):
    """Eq. 3: frame features ``(B, n, d) -> (B, d)``.

    ``kind``: ``"gru"`` (default; the paper's "RNN encoder", last hidden state), ``"lstm"``,
    ``"transformer"`` (one encoder layer, then mean over frames) or ``"mean"`` (no parameters).
    """

    KINDS = ("gru", "lstm", "transformer", "mean")

    def __init__(self, dim: int, kind: str = "gru"):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"temporal encoder kind must be one of {self.KINDS}, got {kind!r}.")
        self.kind = kind
        if kind == "gru":
            self.rnn = nn.GRU(dim, dim, batch_first=True)
        elif kind == "lstm":
            self.rnn = nn.LSTM(dim, dim, batch_first=True)
        elif kind == "transformer":
            layer = nn.TransformerEncoderLayer(dim, max(1, dim // 32), 2 * dim, dropout=0.0, batch_first=True)
            self.rnn = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 3:
            raise ValueError(f"The temporal encoder takes (batch, frames, dim), got {tuple(frames.shape)}.")
        if self.kind == "mean":
            return frames.mean(1)
        if self.kind == "transformer":
            return self.rnn(frames).mean(1)
        out, _ = self.rnn(frames)
        return out[:, -1]


class Generator(nn.Module):
    """Eq. 6: ``f_{v2t / t2v} = MLP(ReLU(MLP(x)))`` -- two linear layers with a ReLU between."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or 2 * dim
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def similarity_matrix(original: torch.Tensor, virtual: torch.Tensor) -> torch.Tensor:
    """Eq. 10-11: ``s_ij = <x_i, x̄_j> / (|x_i| |x̄_j|)`` for the rows of a mini-batch."""
    if original.shape != virtual.shape or original.dim() != 2:
        raise ValueError(f"original {tuple(original.shape)} and virtual {tuple(virtual.shape)} must be equal (B, d).")
    return F.normalize(original, dim=1) @ F.normalize(virtual, dim=1).T


def matching_loss(original: torch.Tensor, virtual: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """Eq. 12-17: row softmax (original -> virtual) and column softmax (virtual -> original) of the
    similarity matrix at temperature ``tau``; cross-entropy against the diagonal (the same sample
    is the positive), the two directions averaged. Zero for a batch with fewer than one pair."""
    if original.shape[0] == 0:
        return original.new_zeros(())
    logits = similarity_matrix(original, virtual) / tau
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# ----------------------------------------------------------------------------- the model
class TRML(TrainingHooks, nn.Module):
    """TRML on a two-modality (``text``, ``video``) dataset. See the module docstring.

    Parameters
    ----------
    clip: an open_clip ``CLIP`` model (its ``encode_text`` and ``encode_image`` are Eq. 1-2).
    tokenizer: its tokenizer (text is tokenised from ``batch.strings["text"]``).
    task: ``"regression"`` (sentiment score; MOSI/MOSEI) or ``"classification"`` (MELD).
    out_dim: outputs of the head (1 for regression, the number of classes otherwise).
    lam, alpha: Eq. 18 and Eq. 19 weights (appendix B: 0.1 and 0.5).
    freeze_encoders: keep the open_clip towers fixed (the paper fine-tunes them); required for
        :func:`cache_features`, which encodes every sample once.
    """

    MATCHING = ("semantic", "cyclic", "none")
    #: What stands in for a missing modality's feature: the generated virtual feature (Eq. 7-8), or
    #: zeros -- a control, the floor of the mechanism (the head then sees the present modality only).
    #: The generator's ceiling needs no option: the same model on complete inputs puts the true
    #: feature where the virtual one would go.
    SUBSTITUTES = ("virtual", "zero")

    def __init__(
        self,
        clip: nn.Module,
        tokenizer=None,
        task: str = "regression",
        out_dim: int = 1,
        temporal: str = "gru",
        generator_hidden: int | None = None,
        head_hidden: int = 128,
        lam: float = 0.1,
        alpha: float = 0.5,
        temperature: float = 0.1,
        learn_temperature: bool = True,
        text_matching: bool = True,
        visual_matching: bool = True,
        matching: str = "semantic",
        regression_loss: str = "l1",
        normalize_features: bool = True,
        normalize_virtual: bool = False,
        freeze_encoders: bool = False,
        dropout: float = 0.1,
        substitute: str = "virtual",
    ):
        super().__init__()
        check_rate(lam, "lam (Eq. 18 weight)")
        if substitute not in self.SUBSTITUTES:
            raise ValueError(f"substitute must be one of {self.SUBSTITUTES}, got {substitute!r}.")
        self.substitute = substitute
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha (Eq. 19 weight) must be a finite number >= 0, got {alpha}.")
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if task not in ("regression", "classification"):
            raise ValueError(f"task must be 'regression' or 'classification', got {task!r}.")
        if regression_loss not in ("l1", "mse"):
            raise ValueError(f"regression_loss must be 'l1' or 'mse', got {regression_loss!r}.")
        if matching not in self.MATCHING:
            raise ValueError(f"matching must be one of {self.MATCHING}, got {matching!r}.")
        self.clip, self.tokenizer, self.task = clip, tokenizer, task
        dim = int(clip.text_projection.shape[1] if torch.is_tensor(getattr(clip, "text_projection", None))
                  else clip.text_projection.out_features)
        self.dim = dim
        self.temporal = TemporalEncoder(dim, temporal)
        self.t2v = Generator(dim, generator_hidden)  # Eq. 5: virtual visual from text
        self.v2t = Generator(dim, generator_hidden)  # Eq. 4: virtual text from visual
        # "Several fully connected layers" (Sec. 3.3). CLIP features share a large common
        # direction (the modality gap), so the fused feature is standardised first (BatchNorm).
        self.head = nn.Sequential(nn.BatchNorm1d(dim), nn.Linear(dim, head_hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(head_hidden, out_dim))
        self.log_tau = nn.Parameter(torch.tensor(math.log(temperature)), requires_grad=learn_temperature)
        self.lam, self.alpha = float(lam), float(alpha)
        self.text_matching, self.visual_matching = text_matching, visual_matching
        self.matching, self.regression_loss = matching, regression_loss
        self.normalize_features = normalize_features
        self.normalize_virtual = bool(normalize_virtual)
        self.freeze_encoders = freeze_encoders
        if freeze_encoders:
            for p in self.clip.parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------------ features
    @property
    def tau(self) -> torch.Tensor:
        """The temperature of Eq. 12-15, always positive (stored as its log)."""
        return self.log_tau.exp()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_encoders:
            self.clip.eval()  # frozen towers: no dropout, fixed statistics
        return self

    def _device(self) -> torch.device:
        return self.head[1].weight.device

    def encode_raw(self, batch) -> tuple:
        """Eq. 1-2 on raw inputs: ``x_t (B, d)`` from the strings, frame features ``(B, n, d)``."""
        if self.tokenizer is None:
            raise ValueError("TRML needs the open_clip tokenizer to encode raw text.")
        video = batch.inputs[VIDEO]
        if video.dim() != 5:
            raise ValueError(f"video must be (batch, frames, 3, H, W), got {tuple(video.shape)}.")
        tokens = self.tokenizer(batch.strings[TEXT]).to(video.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoders):
            text = self.clip.encode_text(tokens)
            b, n = video.shape[:2]
            frames = self.clip.encode_image(video.flatten(0, 1)).view(b, n, -1)
        return text.float(), frames.float()

    def features(self, batch) -> tuple:
        """``x_t`` (Eq. 1) and ``x_v`` (Eq. 2-3), from raw inputs (video ``(B, n, 3, H, W)``) or from
        cached open_clip features (video ``(B, n, d)``, text ``(B, d)``; see :func:`cache_features`)."""
        if batch.inputs[VIDEO].dim() == 3:  # cached frame features
            text, frames = batch.inputs[TEXT].float(), batch.inputs[VIDEO].float()
            if text.dim() != 2 or text.shape[1] != self.dim or frames.shape[2] != self.dim:
                raise ValueError(f"Cached TRML inputs must be text (B, {self.dim}) and video (B, n, {self.dim}) "
                                 f"features, got {tuple(text.shape)} and {tuple(frames.shape)}; build them with "
                                 "cache_features(model, splits) from the same foundation model.")
        else:
            text, frames = self.encode_raw(batch)
        if self.normalize_features:
            text, frames = F.normalize(text, dim=-1), F.normalize(frames, dim=-1)
        return text, self.temporal(frames)

    def forward(self, batch) -> dict:
        """Eq. 4-9: virtual features and the fused representation; the head's ``logits``."""
        x_t, x_v = self.features(batch)
        virtual_t, virtual_v = self.v2t(x_v), self.t2v(x_t)  # Eq. 4-5
        if self.normalize_virtual and self.normalize_features:  # ours: unit length, like the real features
            virtual_t, virtual_v = F.normalize(virtual_t, dim=-1), F.normalize(virtual_v, dim=-1)
        has_t = batch.has(TEXT).unsqueeze(1)
        has_v = batch.has(VIDEO).unsqueeze(1)
        stand_in_t, stand_in_v = ((virtual_t, virtual_v) if self.substitute == "virtual"
                                  else (torch.zeros_like(virtual_t), torch.zeros_like(virtual_v)))
        used_t = torch.where(has_t, x_t, stand_in_t)  # Eq. 8: virtual text replaces missing text
        used_v = torch.where(has_v, x_v, stand_in_v)  # Eq. 7: virtual visual replaces missing visual
        fused = used_t + used_v  # Eq. 7-9
        return {
            "logits": self.head(fused),
            "fused": fused,
            "features": {TEXT: x_t, VIDEO: x_v},
            "virtual": {TEXT: virtual_t, VIDEO: virtual_v},
        }

    # ------------------------------------------------------------------ losses
    def task_loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        if self.task == "regression" and self.regression_loss == "mse":
            return F.mse_loss(logits.float().reshape(-1), batch.score)
        return task_loss(self.task, logits, batch)

    def sml_loss(self, out: dict, batch) -> dict:
        """Eq. 18 over the samples with both modalities (the only ones with an original to match)."""
        both = batch.has(TEXT) & batch.has(VIDEO)
        x, v = out["features"], out["virtual"]
        zero = out["logits"].new_zeros(())
        if self.matching == "semantic":
            l_t = matching_loss(x[TEXT][both], v[TEXT][both], self.tau) if self.text_matching else zero
            l_v = matching_loss(x[VIDEO][both], v[VIDEO][both], self.tau) if self.visual_matching else zero
        elif self.matching == "cyclic":
            l_t, l_v = self.cyclic_loss(x[TEXT][both], x[VIDEO][both])
        else:
            l_t = l_v = zero
        return {"sml_loss": self.lam * l_t + (1 - self.lam) * l_v, "loss_tt": l_t, "loss_vv": l_v}

    def cyclic_loss(self, x_t: torch.Tensor, x_v: torch.Tensor) -> tuple:
        """Baseline objective in the spirit of Modal-Trans / cyclic translation: translate, compare
        with the original (MSE), translate back and compare again."""
        if x_t.shape[0] == 0:
            return x_t.new_zeros(()), x_t.new_zeros(())
        virtual_v, virtual_t = self.t2v(x_t), self.v2t(x_v)
        l_t = F.mse_loss(virtual_t, x_t) + F.mse_loss(self.v2t(virtual_v), x_t)
        l_v = F.mse_loss(virtual_v, x_v) + F.mse_loss(self.t2v(virtual_t), x_v)
        return l_t, l_v

    def training_step(self, batch, step: int = 0) -> dict:
        """Eq. 19: ``L = L_task + alpha * L_sml`` (hook called by :class:`rmm_lib.train.Trainer`)."""
        out = self(batch)
        l_task = self.task_loss(out["logits"], batch)
        sml = self.sml_loss(out, batch)
        return {"loss": l_task + self.alpha * sml["sml_loss"], "task_loss": l_task.detach(),
                "sml_loss": sml["sml_loss"].detach(), "tau": self.tau.detach()}


# ----------------------------------------------------------------------------- baselines
class FoundationBaseline(TrainingHooks, nn.Module):
    """TRML's bounds on the same features and head (appendix C).

    ``kind="lb"``: Supervised-Unimodality, the non-victim modality ``modality`` alone.
    ``kind="ub"``: Supervised-Bimodality, ``x_t + x_v`` (train and test it on complete data).
    """

    def __init__(self, trml: TRML, kind: str, modality: str | None = None):
        super().__init__()
        if kind not in ("lb", "ub"):
            raise ValueError(f"kind must be 'lb' or 'ub', got {kind!r}.")
        if kind == "lb" and modality not in (TEXT, VIDEO):
            raise ValueError(f"The lower bound needs modality='text' or 'video', got {modality!r}.")
        self.trml, self.kind, self.modality, self.task = trml, kind, modality, trml.task

    def forward(self, batch) -> dict:
        x_t, x_v = self.trml.features(batch)
        if self.kind == "lb":
            fused = x_t if self.modality == TEXT else x_v
        else:
            missing = ~(batch.has(TEXT) & batch.has(VIDEO))
            if bool(missing.any()):
                raise ValueError("The upper bound (UB) uses complete data; this batch has missing modalities.")
            fused = x_t + x_v
        return {"logits": self.trml.head(fused), "fused": fused, "features": {TEXT: x_t, VIDEO: x_v}}

    def training_step(self, batch, step: int = 0) -> dict:
        return {"loss": self.trml.task_loss(self(batch)["logits"], batch)}


__all__ = ["TRML", "FoundationBaseline", "Generator", "TemporalEncoder", "similarity_matrix", "matching_loss", "TEXT", "VIDEO"]
