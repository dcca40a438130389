"""TRML's recipe: foundation models for both profiles, the chapter's data, and the one runner
that trains and tests one cell of Tables 1-7 (the model itself is :mod:`rmm_lib.methods.trml`).

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
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.types import MultimodalDataset, apply_masks
from ..methods.trml import TEXT, TRML, VIDEO, FoundationBaseline, similarity_matrix
from ..missing import parse_victim, trml_setting_a, trml_setting_b
from ..profiles import cache_root
from ..train import TrainConfig, Trainer
from ..files import building, save_atomically
from ..utils import seed_everything, select_device, set_threads

log = logging.getLogger(__name__)

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
    # ViT-B-32's layout (224-pixel frames, 32-pixel patches, 77 tokens) at a reduced width and depth:
    # the paper profile's classes on the real loaders' shapes, cheap enough for CPU tests.
    "rmm-reduced-vit-b-32": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "head_width": 32, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
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
    return cache_root() / "trml"


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
                           n_frames: int = 4, image_size: int = 32, **options) -> dict:
    """:func:`rmm_lib.data.make_benchmark` (generation ``options`` passed on) turned into text +
    video splits."""
    from ..data import make_benchmark

    raw = make_benchmark(n_train, n_val, n_test, seed=seed, n_unlabelled=n_unlabelled, **options)
    return {split: to_video_dataset(ds, n_frames, image_size) for split, ds in raw.items()}


def testbed_video_splits(seed: int = 0, n_frames: int = 4) -> dict:
    """The book's testbed (:data:`rmm_lib.data.TESTBED`, :data:`QUICK_SIZES`) as text + video splits,
    with the unlabelled split the quick foundation model is pretrained on."""
    from ..data import TESTBED

    return benchmark_video_splits(**QUICK_SIZES, seed=seed, n_frames=n_frames, **TESTBED)


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
    with building(path):  # parallel callers (test workers, notebooks) wait for the one that builds it
        if path.is_file() and not rebuild:
            return str(path)
        start = time.perf_counter()
        model, loss = _pretrain_clip(name, unlabelled, seed, epochs, batch_size, lr, weight_decay)
        save_atomically(model.state_dict(), path)
    log.info("pretrained %s on %d unlabelled pairs in %.0f s (final ClipLoss %.2f); saved to %s",
             name, len(unlabelled), time.perf_counter() - start, loss, path)
    return str(path)


def _pretrain_clip(name: str, unlabelled: MultimodalDataset, seed: int, epochs: int, batch_size: int, lr: float,
                   weight_decay: float) -> tuple:
    """The contrastive pretraining of :func:`pretrain_foundation`: ``(model, final loss)``."""
    import open_clip
    from open_clip.loss import ClipLoss

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
    return model, float(loss.item())


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


@dataclass
class RunResult:
    """One trained model and its test metrics."""

    trainer: object
    metrics: dict
    history: list


def fit(model: nn.Module, splits: dict, config=None, progress: bool | None = False, run_dir=None,
        resume=None) -> RunResult:
    """Train ``model`` with :class:`rmm_lib.train.Trainer` (early stopping on ``val``), evaluate on
    ``test``. ``run_dir``/``resume``: checkpoint every epoch there / continue from a checkpoint."""
    trainer = Trainer(model, config or TrainConfig(), progress=progress)
    history = trainer.fit(splits["train"], splits.get("val"), run_dir=run_dir, resume=resume)
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
    fit_kwargs: dict | None = None,
    **trml_kwargs,
) -> RunResult:
    """One cell of Tables 1-7: ``method`` in ``trml``, ``lb``, ``ub``, ``cyclic`` (earlier-work
    baseline), ``w/o L(t,t)``, ``w/o L(v,v)``, ``w/o L_sml``, trained and tested under TRML Setting
    ``setting`` with victim ``victim`` and kept fraction ``kept``.

    ``feature_splits`` are cached features (:func:`cache_features`) when the towers are frozen, or
    raw text + video splits (then pass ``tokenizer`` and ``freeze_encoders=False`` to fine-tune).
    ``clip`` is deep-copied, so runs never share weights. ``fit_kwargs``: checkpointing
    (:meth:`rmm_lib.context.RunContext.fit_kwargs`).
    """
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
    return fit(model, data, config, **(fit_kwargs or {}))


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


def own_sample_retrieval(collected: dict, batch_size: int = 64) -> dict:
    """How often a virtual feature's most similar original (cosine) in its batch of ``batch_size``
    consecutive samples is its own sample's -- what the semantic matching loss (Eq. 12-17) asks
    for. ``collected`` is :func:`collect` on complete samples; chance is ``1 / batch_size``.
    Returns the rate for the virtual text and the virtual visual feature; a last, smaller batch is
    left out, so every rate has the same chance level."""
    n = len(collected["x_t"]) // batch_size * batch_size
    if n == 0:
        raise ValueError(f"own_sample_retrieval needs at least batch_size={batch_size} samples, got "
                         f"{len(collected['x_t'])}.")
    rates = {}
    for name, original, virtual in ((TEXT, "x_t", "virtual_t"), (VIDEO, "x_v", "virtual_v")):
        hits = 0
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            sim = similarity_matrix(collected[original][rows], collected[virtual][rows])  # (original, virtual)
            hits += int((sim.argmax(0) == torch.arange(batch_size)).sum())
        rates[name] = hits / n
    return rates


# ----------------------------------------------------------------------------- chapter set-up
#: Quick-profile sizes of this chapter: the book's testbed (1,200 / 300 / 600) and 1,500 unlabelled
#: pairs to pretrain the foundation model on.
QUICK_SIZES = {"n_train": 1200, "n_val": 300, "n_test": 600, "n_unlabelled": 1500}
#: Quick-profile training with frozen towers and cached features (notebooks 10, 11, 13: the
#: mechanisms), so only the temporal encoder, the generators, the temperature and the head learn --
#: at a larger learning rate than appendix B's 5e-5; to convergence (early stopping on validation).
QUICK_TRAIN = {"epochs": 40, "batch_size": 64, "lr": 2e-3, "patience": 5}
#: Quick-profile training with the towers fine-tuned, as appendix B does (notebook 12's results):
#: a larger learning rate than its 5e-5 for the small towers, to convergence.
QUICK_FINE_TUNE = {"epochs": 30, "batch_size": 32, "lr": 3e-4, "patience": 5}


#: Appendix B's method options: lambda 0.1 (Eq. 18) and alpha 0.5 (Eq. 19).
APPENDIX_B_MODEL = {"lam": 0.1, "alpha": 0.5}


def appendix_b_train(batch_size: int) -> dict:
    """Appendix B: Adam, lr 5e-5 (CLIP fine-tuned); batch 16/32/32 for MOSI/MOSEI/MELD.
    ``epochs`` is ours: the paper does not give it."""
    return {"optimizer": "adam", "lr": 5e-5, "batch_size": batch_size, "epochs": 30}


def chapter_config(profile, fine_tune: bool = False, batch_size: int = 16) -> TrainConfig:
    """The :class:`~rmm_lib.train.TrainConfig` of the chapter's cells: appendix B (Adam, 5e-5,
    CLIP fine-tuned; batch 16 for CMU-MOSI) in the paper profile, :data:`QUICK_TRAIN` (or
    :data:`QUICK_FINE_TUNE`) in the quick profile."""
    if profile.name == "paper":
        return TrainConfig.from_dict(appendix_b_train(batch_size))
    return TrainConfig.from_dict(QUICK_FINE_TUNE if fine_tune else QUICK_TRAIN)


def prepare(profile, arch: str | None = None, seed: int = 0, n_frames: int = 4, dataset: str = "mosi_raw") -> dict:
    """Data and foundation model of one chapter notebook.

    quick: the book's testbed as text + ``n_frames``-frame video (:func:`image_to_video`), and
    the small open_clip model ``arch`` pretrained here on the unlabelled split (cached on disk).
    paper: ``rmm_lib.data.load_splits(dataset, profile.data_root)`` and CLIP ``ViT-B-32`` /
    ``openai`` (or ``arch`` given as ``"NAME/TAG"``), both through the same loading call.
    Logs which foundation model the run uses (``foundation`` says it too).

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
        set_threads(1)  # as rmm_lib.notebook.setup() sets it: also for callers that skip setup (tests)
        splits = testbed_video_splits(seed=seed, n_frames=n_frames)
        clip, tokenizer, description = quick_foundation(splits.pop("unlabelled"), arch or "rmm-trml-vit", seed=seed)
    log.info("foundation model: %s", description)
    data = frozen_features(clip, tokenizer, splits) if profile.name == "quick" else splits
    return {"splits": splits, "data": data, "clip": clip, "tokenizer": tokenizer, "foundation": description}


def frozen_features(clip, tokenizer, splits: dict) -> dict:
    """Encode each split once with the frozen open_clip towers (:func:`cache_features`)."""
    probe = TRML(clip, tokenizer, freeze_encoders=True)
    return cache_features(probe, {k: splits[k] for k in ("train", "val", "test") if k in splits})


# ----------------------------------------------------------------------------- one table cell
#: Our row names -> :func:`run_trml` method names. "cyclic" stands in for Modal-Trans (cyclic translation).
METHODS = {"LB": "lb", "UB": "ub", "Cyclic (Modal-Trans-like)": "cyclic", "TRML": "trml",
           "w/o L(t,t)": "w/o L(t,t)", "w/o L(v,v)": "w/o L(v,v)", "w/o L_sml": "w/o L_sml"}


def foundation(ctx) -> tuple:
    """``(clip, tokenizer)`` of a run: the chapter's (``ctx.assets.foundation``), else the paper's
    CLIP ViT-B/32 -- with random weights when ``ctx.pretrained`` is off, at a reduced size
    (:data:`TINY_CLIP_CONFIGS` ``rmm-reduced-vit-b-32``) when ``ctx.reduced`` is on."""
    if ctx.assets.foundation is None:
        name, tag = ("rmm-reduced-vit-b-32", None) if ctx.reduced else PAPER_FOUNDATION
        tag = tag if ctx.pretrained else None
        with contextlib.nullcontext() if tag else _quiet_open_clip():  # "initialized randomly": expected
            ctx.assets.foundation = load_foundation(name, tag, offline=ctx.profile.offline)
    return ctx.assets.foundation


def run_cell(ctx, splits: dict, method: str, setting: str, victim: str, task: str) -> RunResult:
    """One cell of a TRML table under ``ctx`` (its training configuration, seed, method options,
    checkpoints); UB is trained once per run and shared by every cell that needs it."""
    clip, tokenizer = foundation(ctx)
    key = ("trml", method, "-" if method == "ub" else setting, "-" if method == "ub" else victim, task, ctx.seed,
           repr(ctx.train), repr(sorted(ctx.model.items())))
    if key not in ctx.assets.models:
        result = run_trml(clip, splits, method, setting, victim, task=task, config=ctx.train, seed=ctx.seed,
                          tokenizer=tokenizer, fit_kwargs=ctx.fit_kwargs(*key), **ctx.model)
        result.trainer.release_training_state()  # kept for evaluation: gradients and optimiser state freed
        ctx.assets.models[key] = result
    return ctx.assets.models[key]


def table_splits(ctx) -> dict:
    """The splits a TRML table trains on: cached frozen features when the options freeze the towers
    and the splits are raw, else the splits as given."""
    splits = ctx.splits
    if not splits["train"].inputs[TEXT].is_floating_point() and ctx.model.get("freeze_encoders", False):
        key = ("trml-features", id(splits["train"]))
        if key not in ctx.assets.models:
            ctx.assets.models[key] = frozen_features(*foundation(ctx), splits)
        splits = ctx.assets.models[key]
    return splits


def chapter_context(spec, chapter: dict, profile, **table):
    """A run context for a TRML spec (``rmm_lib.tables.get(key)``) on a chapter notebook's data (:func:`prepare`): its
    foundation model and data, appendix B in the paper profile, :data:`QUICK_TRAIN` in the quick
    profile (the spec's quick settings); ``table`` options (rows, settings) on top."""
    from ..context import Assets, build_context

    assets = Assets(foundation=(chapter["clip"], chapter["tokenizer"]))
    return build_context(spec, chapter["data"], profile, device=str(select_device()), table=table, assets=assets)



# ----------------------------------------------------------------------------- positive control
#: The benchmark's regime in which the present modality carries most of what the missing one's
#: feature holds: every product branded (its sticker in the photo, its name in the review) and
#: every photo tracing the review's own mood and intensity -- both knobs at their top.
CONTROL_BENCHMARK = {"redundancy": 1.0, "shared_traces": 1.0}


class ConstantGenerator(nn.Module):
    """The broken variant of the positive control: a generator that ignores its input and outputs
    one vector (``value``, learned when ``learn`` is on, else fixed) for every sample."""

    def __init__(self, value: torch.Tensor, learn: bool = True):
        super().__init__()
        self.value = nn.Parameter(value.detach().clone().float(), requires_grad=learn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], -1)


def _victim_generator(model: TRML, victim: str) -> str:
    """The generator that makes the victim's virtual feature: ``t2v`` when video is the victim."""
    return "t2v" if victim_names(victim)[1] == VIDEO else "v2t"


def _control_trml(clip, tokenizer, splits: dict, task: str, **trml_kwargs) -> TRML:
    """A TRML model for the control: on ``clip``'s towers (fine-tuned unless ``freeze_encoders``),
    or, with ``clip=None``, on cached features of any width (nothing but a width to read)."""
    n_classes = len(splits["train"].meta.get("class_names", ())) or int(splits["train"].label.max()) + 1
    if clip is None:
        clip = nn.Module()
        clip.text_projection = torch.zeros(1, int(splits["train"].inputs[TEXT].shape[1]))
        trml_kwargs["freeze_encoders"] = True
    else:
        clip = copy.deepcopy(clip)
        trml_kwargs.setdefault("freeze_encoders", splits["train"].inputs[TEXT].is_floating_point())
    return TRML(clip, tokenizer, task=task, out_dim=1 if task == "regression" else n_classes, **trml_kwargs)


def train_control_model(clip, tokenizer, splits: dict, victim: str, seed: int, config, constant: bool = False,
                        kept: float = 0.1, task: str = "classification", **trml_kwargs) -> RunResult:
    """TRML under Setting A (``victim`` kept for ``kept`` of the training samples, absent at test),
    as :func:`run_trml` trains it -- or, with ``constant=True``, the same model whose victim
    generator is a :class:`ConstantGenerator` (one learned vector: the broken variant). ``clip=None``
    reads ``splits`` as cached features."""
    seed_everything(seed)
    model = _control_trml(clip, tokenizer, splits, task, **trml_kwargs)
    if constant:
        setattr(model, _victim_generator(model, victim), ConstantGenerator(0.01 * torch.randn(model.dim)))
    masks = setting_masks(splits, "A", victim, kept, seed=0)
    return fit(model, apply_masks(splits, masks), replace(config or TrainConfig(), seed=seed))


@torch.no_grad()
def feature_diagnostics(model: TRML, splits: dict, victim: str, kept: float = 0.1) -> dict:
    """How well a trained model's virtual feature of the ``victim`` stands for the true one, beside
    what the present modality allows (the book shows these three beside every virtual feature):

    * ``fidelity`` -- :func:`rmm_lib.metrics.feature_fidelity` of the virtual feature against the
      true one on the complete test samples (R^2, centred same-minus-other cosine), centred on the
      mean true feature of the training pairs the generator had;
    * ``ridge`` -- :func:`rmm_lib.metrics.ridge_ceiling` from the present modality's feature to the
      missing one's, on the same (the model's own) features: fitted on the training pairs the
      generator had (Setting A keeps the victim for ``kept`` of them), scored on the same test
      samples; ``ridge_all`` fitted on every training pair;
    * ``virtual_norm`` -- the mean length of the virtual feature (the real ones have length 1).
    """
    from ..metrics import feature_fidelity, ridge_ceiling

    target = victim_names(victim)[1]
    tgt, src = ("x_v", "x_t") if target == VIDEO else ("x_t", "x_v")
    virt = "virtual_v" if target == VIDEO else "virtual_t"
    masks = setting_masks(splits, "A", victim, kept, seed=0)
    kept_rows = torch.as_tensor(apply_masks(splits, masks)["train"].presence.numpy()).all(1)
    train_all, test = collect(model, splits["train"]), collect(model, splits["test"])
    centre = train_all[tgt][kept_rows].mean(0)
    return {"fidelity": feature_fidelity(test[virt], test[tgt], centre=centre),
            "ridge": ridge_ceiling(train_all[src][kept_rows], train_all[tgt][kept_rows], test[src], test[tgt]),
            "ridge_all": ridge_ceiling(train_all[src], train_all[tgt], test[src], test[tgt]),
            "virtual_norm": float(test[virt].norm(dim=1).mean())}


def diagnostics_claims(diagnostics: dict, min_centred_gap: float = 0.1) -> dict:
    """The two claims notebooks 10 and 11 check on :func:`feature_diagnostics`: the virtual feature
    carries its own sample (centred same-minus-other cosine above ``min_centred_gap``), and the
    ridge ceiling lies above it in both R^2 and centred cosine (the generator leaves room)."""
    fidelity, ridge = diagnostics["fidelity"], diagnostics["ridge"]
    return {f"virtual feature carries its own sample (centred cosine above {min_centred_gap:g})":
            fidelity["centred_gap"] > min_centred_gap,
            "ridge ceiling above it (R^2 and centred cosine)":
            ridge["r2"] > fidelity["r2"] and ridge["centred_gap"] > fidelity["centred_gap"]}


@torch.no_grad()
def control_measures(run: RunResult, splits: dict, victim: str, kept: float = 0.1) -> dict:
    """What the positive control reads off one trained model (:func:`train_control_model`), with the
    victim absent at test (Setting A): :func:`feature_diagnostics`, and in ``test`` / ``val`` the
    accuracy with the virtual feature (``virtual``), with the training mean of the model's own
    virtual features in its place (``mean``: the floor -- the head gets what it was trained with,
    minus everything sample-specific), with zeros (``zero``: grid ``trml``'s floor, off the head's
    training distribution) and with the true feature (``true``: complete inputs)."""
    model, trainer = run.trainer.model, run.trainer
    virt = "virtual_v" if victim_names(victim)[1] == VIDEO else "virtual_t"
    masked = apply_masks(splits, setting_masks(splits, "A", victim, kept, seed=0))
    mean_virtual = collect(model, splits["train"])[virt].mean(0)
    name = _victim_generator(model, victim)
    generator = getattr(model, name)
    out: dict = {}
    for split in ("val", "test"):
        accuracies = {"virtual": trainer.evaluate(masked[split])["accuracy"]}
        setattr(model, name, ConstantGenerator(mean_virtual, learn=False))
        accuracies["mean"] = trainer.evaluate(masked[split])["accuracy"]
        setattr(model, name, generator)
        model.substitute = "zero"
        accuracies["zero"] = trainer.evaluate(masked[split])["accuracy"]
        model.substitute = "virtual"
        accuracies["true"] = trainer.evaluate(splits[split])["accuracy"]
        out[split] = accuracies
    out.update(feature_diagnostics(model, splits, victim, kept))
    out["best_epoch"], out["epochs_run"] = trainer.best_epoch, trainer.epoch
    return out


def train_control_ub(clip, tokenizer, splits: dict, seed: int, config, task: str = "classification",
                     **trml_kwargs) -> dict:
    """UB on the same towers and data (complete training and test): the control's ceiling."""
    seed_everything(seed)
    model = FoundationBaseline(_control_trml(clip, tokenizer, splits, task, **trml_kwargs), "ub")
    run = fit(model, splits, replace(config or TrainConfig(), seed=seed))
    return {"test": {"accuracy": run.metrics["accuracy"]},
            "val": {"accuracy": run.trainer.evaluate(splits["val"])["accuracy"]},
            "best_epoch": run.trainer.best_epoch, "epochs_run": run.trainer.epoch}


def control_verdict(virtual, floor, ub) -> dict:
    """The positive control's test over paired seeds: the virtual feature passes when it closes a
    measurable share of the floor-to-UB gap (:func:`rmm_lib.stats.gap_closure`: the paired
    difference virtual - floor has an interval above zero). Returns the gap closure with ``passes``."""
    from .. import stats

    closure = stats.gap_closure(floor, virtual, ub)
    return {**closure, "passes": bool(closure["closed"]["real"] and closure["closed"]["mean"] > 0)}


def fidelity_verdict(virtual: list, ridge: list, share: float = 0.1) -> dict:
    """The positive control's feature test over seeds (one :func:`rmm_lib.metrics.feature_fidelity`
    dict per seed for the virtual feature, and the ridge ceiling's on the same features): the
    virtual feature passes when its centred same-minus-other cosine is measurably above zero (its
    interval over seeds excludes zero) and reaches ``share`` of the ridge ceiling's on average."""
    from .. import stats

    gaps = [v["centred_gap"] for v in virtual]
    ceiling = [r["centred_gap"] for r in ridge]
    interval = stats.mean_interval(gaps)
    reached = float(sum(gaps) / max(sum(ceiling), 1e-12))
    return {"centred_gap": interval, "ridge_centred_gap": stats.mean_interval(ceiling), "share": reached,
            "passes": bool(interval["low"] > 0 and reached >= share)}
