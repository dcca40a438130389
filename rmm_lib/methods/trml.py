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
* ``matching`` -- ``"semantic"`` (TRML), ``"cyclic"`` (an earlier-work baseline in the spirit of
  Modal-Trans / cyclic translation: the generators are trained by reconstructing the original
  feature and by translating back, with MSE) or ``"none"`` (generators trained only through the
  task loss: the paper's ablation "w/o L_sml").

The quick profile has no pretrained CLIP: :func:`pretrain_foundation` trains a small open_clip
model contrastively (open_clip's own ``ClipLoss``) on the benchmark's unlabelled split, saves its
state dict and :func:`load_foundation` reads it back through the same
:func:`rmm_lib.encoders.open_clip_model` call that loads ``ViT-B-32`` / ``openai`` in the paper
profile. The benchmark's label photo is a single frame; :func:`image_to_video` turns it into a short
pan (see its docstring).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.types import MultimodalDataset
from ..missing import check_rate, parse_victim, trml_setting_a, trml_setting_b
from ..train import task_loss
from ..utils import seed_everything

TEXT, VIDEO = "text", "video"
#: TRML's victim letters for the text/video datasets of this chapter.
TRML_LETTERS = {"T": TEXT, "V": VIDEO}

# ----------------------------------------------------------------------------- foundation models
#: Small open_clip configurations for the quick profile (registered with open_clip.add_model_config).
#: Two architectures, like CLIP's ViT and ResNet families, for the backbone comparison (Fig. 4).
TINY_CLIP_CONFIGS = {
    "rmm-trml-vit": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "rmm-trml-rn": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16, "head_width": 32},
        "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
}
#: Pretraining settings per quick-profile model (AdamW). The ViT's were chosen by a linear probe on
#: its frozen features (lr 3e-3 with weight decay 0.1 left it near chance); the ResNet tower is much
#: slower on a CPU, so it keeps a short schedule.
PRETRAIN_SETTINGS = {
    "rmm-trml-vit": {"epochs": 40, "batch_size": 128, "lr": 1e-3, "weight_decay": 0.0},
    "rmm-trml-rn": {"epochs": 8, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.1},
}
#: What the paper profile loads: CLIP ViT-B/32 with OpenAI's weights (the paper names "CLIP" only).
PAPER_FOUNDATION = ("ViT-B-32", "openai")
#: A second real architecture for Fig. 4 in the paper profile.
PAPER_FOUNDATION_ALT = ("RN50", "openai")


def cache_dir() -> Path:
    """Where pretrained quick-profile foundation models live (``RMM_CACHE`` or ``~/.cache/rmm``)."""
    return Path(os.environ.get("RMM_CACHE", "~/.cache/rmm")).expanduser() / "trml"


def register_tiny_configs() -> Path:
    """Write :data:`TINY_CLIP_CONFIGS` as JSON files and register them with open_clip."""
    import open_clip

    folder = cache_dir() / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, cfg in TINY_CLIP_CONFIGS.items():
        path = folder / f"{name}.json"
        text = json.dumps(cfg, indent=1, sort_keys=True)
        if not path.is_file() or path.read_text() != text:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # atomic: parallel workers read these files
            tmp.write_text(text)
            tmp.replace(path)
    if not all(name in open_clip.list_models() for name in TINY_CLIP_CONFIGS):
        open_clip.add_model_config(folder)
    return folder


def clip_image_stats() -> tuple:
    """The (mean, std) open_clip normalises images with (OpenAI's)."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    return OPENAI_DATASET_MEAN, OPENAI_DATASET_STD


def image_to_video(images: torch.Tensor, n_frames: int = 4, image_size: int = 32, step: int = 1) -> torch.Tensor:
    """A short "video" from one grey photo per sample: ``(N, C, H, W) -> (N, n_frames, 3, S, S)``.

    The photo is resized to ``S = image_size`` (bilinear), copied to three channels, and frame
    ``k`` shows it shifted sideways by ``step * (k - (n_frames - 1) / 2)`` pixels (rounded; the
    border is filled with the background, zero) -- a slow camera pan across the label. Frames are
    then normalised with CLIP's mean and std. The content is the same in every frame, so the
    temporal encoder has to learn to pool the frames, which is what it does on real clips too.
    """
    if images.dim() != 4:
        raise ValueError(f"image_to_video expects (N, C, H, W) images, got shape {tuple(images.shape)}.")
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}.")
    x = F.interpolate(images.float(), size=(image_size, image_size), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ValueError(f"Images need 1 or 3 channels, got {x.shape[1]}.")
    frames = []
    for k in range(n_frames):
        shift = int(round(step * (k - (n_frames - 1) / 2)))
        frame = torch.zeros_like(x)
        if shift >= 0:
            frame[..., shift:] = x[..., : image_size - shift]
        else:
            frame[..., :shift] = x[..., -shift:]
        frames.append(frame)
    video = torch.stack(frames, dim=1)
    mean, std = clip_image_stats()
    mean = torch.tensor(mean).view(1, 1, 3, 1, 1)
    std = torch.tensor(std).view(1, 1, 3, 1, 1)
    return ((video.clamp(0, 2) / 2.0) - mean) / std  # photos lie in about [0, 2]; CLIP expects [0, 1]


def to_video_dataset(ds: MultimodalDataset, n_frames: int = 4, image_size: int = 32) -> MultimodalDataset:
    """The benchmark as TRML sees it: ``text`` (ids, raw strings kept) and ``video`` frames made
    from the label photo by :func:`image_to_video`. Presence, labels and ids are kept."""
    if "image" not in ds.modalities or TEXT not in ds.modalities:
        raise ValueError(f"to_video_dataset needs 'image' and 'text' modalities; this data has {ds.modalities}.")
    cols = [ds.modalities.index(TEXT), ds.modalities.index("image")]
    return MultimodalDataset(
        {TEXT: ds.inputs[TEXT], VIDEO: image_to_video(ds.inputs["image"], n_frames, image_size)},
        ds.label,
        ds.score,
        ds.presence[:, cols].numpy(),
        {TEXT: ds.strings.get(TEXT, [""] * len(ds))},
        ds.ids,
        ds.meta,
    )


def benchmark_video_splits(n_train: int, n_val: int, n_test: int, seed: int = 0, n_unlabelled: int = 0,
                           n_frames: int = 4, image_size: int = 32) -> dict:
    """:func:`rmm_lib.data.make_benchmark` turned into text + video splits (quick profile)."""
    from ..data import make_benchmark

    raw = make_benchmark(n_train, n_val, n_test, seed=seed, n_unlabelled=n_unlabelled)
    return {split: to_video_dataset(ds, n_frames, image_size) for split, ds in raw.items()}


def _config_key(name: str, **settings) -> str:
    blob = json.dumps({"config": TINY_CLIP_CONFIGS.get(name), "name": name, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pretrain_foundation(
    unlabelled: MultimodalDataset,
    name: str = "rmm-trml-vit",
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    rebuild: bool = False,
    verbose: bool = True,
) -> str:
    """Contrastively pretrain the small open_clip model ``name`` on image-text pairs of an
    unlabelled text + video split, with open_clip's own ``ClipLoss``; save its state dict and return
    the checkpoint's path.

    The checkpoint is cached under :func:`cache_dir`, keyed by the configuration, the data and the
    seed; a second call (another notebook) loads it instead of training again. Each step pairs a
    caption with one frame of its clip, drawn at random (a seeded generator). Settings left at
    ``None`` come from :data:`PRETRAIN_SETTINGS`. The captions name only a product *family*, so contrastive pairs can teach the towers
    the family (and mood), not the category within a family.
    """
    import open_clip
    from open_clip.loss import ClipLoss

    register_tiny_configs()
    if name not in TINY_CLIP_CONFIGS:
        raise ValueError(f"pretrain_foundation builds the quick-profile models {tuple(TINY_CLIP_CONFIGS)}, not {name!r}.")
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay}
    settings = {**PRETRAIN_SETTINGS[name], **{k: v for k, v in given.items() if v is not None}}
    epochs, batch_size, lr, weight_decay = (settings[k] for k in ("epochs", "batch_size", "lr", "weight_decay"))
    data_sig = hashlib.sha256(unlabelled.inputs[VIDEO][:64].numpy().tobytes()
                              + "|".join(unlabelled.strings[TEXT][:64]).encode()).hexdigest()[:8]
    key = _config_key(name, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, wd=weight_decay,
                      n=len(unlabelled),
                      data=data_sig)
    path = cache_dir() / f"{name}-{key}.pt"
    if path.is_file() and not rebuild:
        return str(path)
    seed_everything(seed)
    with _quiet_open_clip():  # it warns that a model built for training has no pretrained weights
        model = open_clip.create_model(name, pretrained=None)
    tokenizer = open_clip.get_tokenizer(name)
    tokens = tokenizer(unlabelled.strings[TEXT])
    video = unlabelled.inputs[VIDEO]
    loss_fn = ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(unlabelled)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        frame = torch.randint(video.shape[1], (n,), generator=gen)
        for i in range(0, n - batch_size + 1, batch_size):  # full batches: constant negatives
            idx = order[i : i + batch_size]
            image_features, text_features, logit_scale = model(video[idx, frame[idx]], tokens[idx])[:3]
            loss = loss_fn(image_features, text_features, logit_scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # unique: parallel test workers may pretrain at once
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    if verbose:
        print(f"pretrained {name} on {n} unlabelled pairs in {time.perf_counter() - start:.0f} s "
              f"(final ClipLoss {loss.item():.2f}); saved to the cache")
    return str(path)


@contextlib.contextmanager
def _quiet_open_clip():
    """Silence open_clip's logging.warning about randomly initialised weights (expected here)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def load_foundation(name: str, pretrained: str | None, offline: bool | None = None):
    """Load a foundation model through :func:`rmm_lib.encoders.open_clip_model` -- the one path for
    ``("ViT-B-32", "openai")`` and for a local checkpoint file. Returns ``(model, tokenizer)``."""
    from ..encoders import open_clip_model

    if name in TINY_CLIP_CONFIGS:
        register_tiny_configs()
    model, _, tokenizer = open_clip_model(name, pretrained, offline=offline)
    return model, tokenizer


def quick_foundation(unlabelled: MultimodalDataset, name: str = "rmm-trml-vit", seed: int = 0, **kwargs):
    """Pretrain (or find in the cache) the quick-profile model and load it back through the
    paper-profile loading path. Returns ``(model, tokenizer, description)``."""
    path = pretrain_foundation(unlabelled, name, seed=seed, **kwargs)
    model, tokenizer = load_foundation(name, path)
    description = f"{name} (open_clip, pretrained here with ClipLoss, seed {seed}): cached as {Path(path).name}"
    return model, tokenizer, description


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
class TRML(nn.Module):
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
        freeze_encoders: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        check_rate(lam, "lam (Eq. 18 weight)")
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
        has_t = batch.has(TEXT).unsqueeze(1)
        has_v = batch.has(VIDEO).unsqueeze(1)
        used_t = torch.where(has_t, x_t, virtual_t)  # Eq. 8: virtual text replaces missing text
        used_v = torch.where(has_v, x_v, virtual_v)  # Eq. 7: virtual visual replaces missing visual
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
class FoundationBaseline(nn.Module):
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


# ----------------------------------------------------------------------------- feature cache
@torch.no_grad()
def encode_dataset(model: TRML, ds: MultimodalDataset, batch_size: int = 256) -> MultimodalDataset:
    """Run the frozen open_clip towers once over ``ds``: a dataset whose ``text`` is ``(N, d)`` and
    ``video`` ``(N, n, d)`` features, with the same presence, labels, ids and strings."""
    if not model.freeze_encoders:
        raise ValueError("Caching features needs frozen encoders: build TRML(..., freeze_encoders=True).")
    device = model._device()
    model.clip.eval()
    texts, frames = [], []
    for batch in ds.loader(batch_size):
        t, f = model.encode_raw(batch.to(device))
        texts.append(t.cpu())
        frames.append(f.cpu())
    return MultimodalDataset({TEXT: torch.cat(texts), VIDEO: torch.cat(frames)}, ds.label, ds.score,
                             ds.presence.numpy(), ds.strings, ds.ids, ds.meta)


def cache_features(model: TRML, splits: dict, batch_size: int = 256) -> dict:
    """Encode every split once (:func:`encode_dataset`); TRML models read these features directly
    (they recognise them by shape). Apply presence masks to the returned splits: placeholders never
    reach the model, which reads presence from the mask."""
    return {name: encode_dataset(model, ds, batch_size) for name, ds in splits.items()}


# ----------------------------------------------------------------------------- protocols
def victim_names(victim: str) -> tuple:
    """``"T->V"`` -> ``("text", "video")``: (source, victim) of this chapter's datasets."""
    return parse_victim(victim, (TEXT, VIDEO), letters=TRML_LETTERS)


def setting_masks(splits: dict, setting: str, victim: str = "T->V", kept: float = 0.1, seed: int = 0) -> dict:
    """Presence masks of TRML Setting ``"A"`` or ``"B"`` for ``splits`` (text, video)."""
    source, target = victim_names(victim)
    sizes = [len(splits[s]) for s in ("train", "val", "test")]
    modalities = splits["train"].modalities
    full = f"{source}->{target}"
    if setting.upper() == "A":
        return trml_setting_a(*sizes, modalities, victim=full, kept=kept, seed=seed)
    if setting.upper() == "B":
        return trml_setting_b(*sizes, modalities, victim=full, kept=kept, seed=seed)
    raise ValueError(f"setting must be 'A' or 'B', got {setting!r}.")


def apply_masks(splits: dict, masks: dict) -> dict:
    """``splits`` with each split's presence mask applied (placeholders written)."""
    return {name: ds.with_presence(masks[name]) if name in masks else ds for name, ds in splits.items()}


@dataclass
class RunResult:
    """One trained model and its test metrics."""

    trainer: object
    metrics: dict
    history: list


def fit(model: nn.Module, splits: dict, config=None, progress: bool | None = False) -> RunResult:
    """Train ``model`` with :class:`rmm_lib.train.Trainer` (early stopping on ``val``), evaluate on
    ``test``."""
    from ..train import TrainConfig, Trainer

    trainer = Trainer(model, config or TrainConfig(), progress=progress)
    history = trainer.fit(splits["train"], splits.get("val"))
    return RunResult(trainer, trainer.evaluate(splits["test"]), history)


def run_trml(
    clip: nn.Module,
    feature_splits: dict,
    method: str = "trml",
    setting: str = "A",
    victim: str = "T->V",
    kept: float = 0.1,
    task: str = "regression",
    config=None,
    seed: int = 0,
    mask_seed: int = 0,
    tokenizer=None,
    **trml_kwargs,
) -> RunResult:
    """One cell of Tables 1-7: ``method`` in ``trml``, ``lb``, ``ub``, ``cyclic`` (earlier-work
    baseline), ``w/o L(t,t)``, ``w/o L(v,v)``, ``w/o L_sml``, trained and tested under TRML Setting
    ``setting`` with victim ``victim`` and kept fraction ``kept``.

    ``feature_splits`` are cached features (:func:`cache_features`) when the towers are frozen, or
    raw text + video splits (then pass ``tokenizer`` and ``freeze_encoders=False`` to fine-tune).
    ``clip`` is deep-copied, so runs never share weights.
    """
    from ..train import TrainConfig

    config = config or TrainConfig()
    seed_everything(seed)
    cached = feature_splits["train"].inputs[TEXT].is_floating_point()
    n_classes = len(feature_splits["train"].meta.get("class_names", ())) or int(feature_splits["train"].label.max()) + 1
    out_dim = 1 if task == "regression" else n_classes
    kwargs = dict(trml_kwargs)
    kwargs.setdefault("freeze_encoders", cached)
    ablations = {"w/o L(t,t)": {"text_matching": False}, "w/o L(v,v)": {"visual_matching": False},
                 "w/o L_sml": {"matching": "none"}, "cyclic": {"matching": "cyclic"}, "trml": {}}
    if method not in (*ablations, "lb", "ub"):
        raise ValueError(f"method must be one of {(*ablations, 'lb', 'ub')}, got {method!r}.")
    kwargs.update(ablations.get(method, {}))
    model = TRML(copy.deepcopy(clip), tokenizer, task=task, out_dim=out_dim, **kwargs)
    if method == "ub":
        data = feature_splits
        model = FoundationBaseline(model, "ub")
    else:
        masks = setting_masks(feature_splits, setting, victim, kept, seed=mask_seed)
        data = apply_masks(feature_splits, masks)
        if method == "lb":
            model = FoundationBaseline(model, "lb", victim_names(victim)[0])
    config = replace(config, seed=seed)
    return fit(model, data, config)


def summarize_run(metrics: dict, task: str) -> dict:
    """The columns TRML reports: MAE and Acc-2 (regression) or Acc (classification), in % for accuracies."""
    if task == "regression":
        return {"MAE": round(metrics["mae"], 3), "Acc-2": round(100 * metrics["acc2"], 1)}
    return {"Acc": round(100 * metrics["accuracy"], 1)}


@torch.no_grad()
def collect(model: TRML, ds: MultimodalDataset, batch_size: int = 256) -> dict:
    """Original and virtual features, fused representation and predictions over ``ds``."""
    model.eval()
    keys = {"x_t": [], "x_v": [], "virtual_t": [], "virtual_v": [], "logits": []}
    for batch in ds.loader(batch_size):
        out = model(batch.to(model._device()))
        keys["x_t"].append(out["features"][TEXT].cpu())
        keys["x_v"].append(out["features"][VIDEO].cpu())
        keys["virtual_t"].append(out["virtual"][TEXT].cpu())
        keys["virtual_v"].append(out["virtual"][VIDEO].cpu())
        keys["logits"].append(out["logits"].float().cpu())
    return {k: torch.cat(v) for k, v in keys.items()}


__all__ = [
    "TRML", "FoundationBaseline", "Generator", "TemporalEncoder", "similarity_matrix", "matching_loss",
    "image_to_video", "to_video_dataset", "benchmark_video_splits", "pretrain_foundation", "load_foundation",
    "quick_foundation", "register_tiny_configs", "cache_features", "encode_dataset", "setting_masks",
    "apply_masks", "run_trml", "fit", "summarize_run", "collect", "victim_names", "TINY_CLIP_CONFIGS",
    "PAPER_FOUNDATION", "PAPER_FOUNDATION_ALT", "prepare", "frozen_features", "chapter_config", "QUICK_TRAIN",
    "QUICK_FINE_TUNE",
]


# ----------------------------------------------------------------------------- chapter set-up
#: Quick-profile sizes of this chapter (smaller than the profile's so that four notebooks, each
#: pretraining-or-loading a foundation model, stay within minutes on a CPU).
QUICK_SIZES = {"n_train": 800, "n_val": 200, "n_test": 400, "n_unlabelled": 1500}
#: Quick-profile training: frozen towers and cached features, so only the temporal encoder, the
#: generators, the temperature and the head learn -- at a larger learning rate than appendix B's
#: 5e-5 (which fine-tunes CLIP), for 8 epochs.
QUICK_TRAIN = {"epochs": 8, "batch_size": 64, "lr": 2e-3, "patience": 3}
#: Quick-profile training with the towers fine-tuned (notebook 12): smaller learning rate and batch.
QUICK_FINE_TUNE = {"epochs": 8, "batch_size": 32, "lr": 1e-4, "patience": 3}


def chapter_config(profile, fine_tune: bool = False, batch_size: int = 16):
    """The :class:`~rmm_lib.train.TrainConfig` of the chapter's cells: appendix B (Adam, 5e-5,
    CLIP fine-tuned; batch 16 for CMU-MOSI) in the paper profile, :data:`QUICK_TRAIN` (or
    :data:`QUICK_FINE_TUNE`) in the quick profile."""
    from ..train import TrainConfig

    if profile.name == "paper":
        from ..tables.trml import appendix_b_train

        return TrainConfig(**{k: v for k, v in appendix_b_train(batch_size).items() if k != "extra"})
    return TrainConfig(**(QUICK_FINE_TUNE if fine_tune else QUICK_TRAIN))


def prepare(profile, arch: str | None = None, seed: int = 0, n_frames: int = 4, dataset: str = "mosi_raw",
            verbose: bool = True) -> dict:
    """Data and foundation model of one chapter notebook.

    quick: the embedded benchmark as text + ``n_frames``-frame video (:func:`image_to_video`), and
    the small open_clip model ``arch`` pretrained here on the unlabelled split (cached on disk).
    paper: ``rmm_lib.data.load_splits(dataset, profile.data_root)`` and CLIP ``ViT-B-32`` /
    ``openai`` (or ``arch`` given as ``"NAME/TAG"``), both through the same loading call.
    Prints which foundation model the run uses.

    Returns ``splits`` (raw text and video), ``data`` (what the chapter trains on: frozen cached
    features in the quick profile, the raw splits -- towers fine-tuned as in appendix B -- in the
    paper profile), ``clip``, ``tokenizer`` and ``foundation`` (a description).
    """
    if profile.name == "paper":
        from ..data import load_splits  # the real-data loaders (paper profile only)

        splits = load_splits(dataset, profile.data_root)
        name, tag = (arch or "/".join(PAPER_FOUNDATION)).split("/")
        clip, tokenizer = load_foundation(name, tag, offline=profile.offline)
        description = f"{name} / {tag} (released open_clip weights)"
    else:
        # One thread, as rmm_lib.notebook.setup() sets it: also for callers that skip setup (tests).
        torch.set_num_threads(1)
        splits = benchmark_video_splits(QUICK_SIZES["n_train"], QUICK_SIZES["n_val"], QUICK_SIZES["n_test"],
                                        seed=seed, n_unlabelled=QUICK_SIZES["n_unlabelled"], n_frames=n_frames)
        clip, tokenizer, description = quick_foundation(splits.pop("unlabelled"), arch or "rmm-trml-vit", seed=seed,
                                                        verbose=verbose)
    if verbose:
        print("foundation model:", description)
    data = frozen_features(clip, tokenizer, splits) if profile.name == "quick" else splits
    return {"splits": splits, "data": data, "clip": clip, "tokenizer": tokenizer, "foundation": description}


def frozen_features(clip, tokenizer, splits: dict) -> dict:
    """Encode each split once with the frozen open_clip towers (:func:`cache_features`)."""
    probe = TRML(clip, tokenizer, freeze_encoders=True)
    return cache_features(probe, {k: splits[k] for k in ("train", "val", "test")})
