"""The comparison's recipe (notebook 40): one footing for every method, and the one runner that
trains a method under a protocol's masks.

**The footing.** The testbed's image + text pair, the CMPT chapter's two pretrained towers (the
all-MiniLM-L6-v2 wheel for the review, the image tower pretrained here to read label photos) and
one trainer configuration (:data:`TRAIN`: the CMPT chapter's AdamW settings, early stopping on
validation accuracy, never on test).

* **Feature methods** -- LB, Concat, Late fusion, modality dropout, TRML and MLA (both variants) --
  read each tower's pooled output, computed once with the towers frozen (:func:`frozen_features`,
  cached on disk), through the same per-modality encoder (:data:`ENCODER`: MLA App. A.3.2's MLP for
  pre-extracted features). TRML's premise is CLIP's joint space; these towers were not trained
  into one, so TRML here tests its mechanism (generators + semantic matching + sum fusion) on
  the same features as everyone else, not the paper's encoders.
* **CMPT** cannot read pooled features: its proxy tokens enter the towers, so it runs the towers
  themselves with the chapter's adapters (:data:`CMPT_MODEL`: q, k, v, o adapted separately, rank
  32 on the one-block image tower, rank 1 on MiniLM read by the mean of its tokens). Its matched
  controls are the same adapted towers without proxies: ``cmpt:baseline`` (no modality dropout,
  Sec. 4.6.1's baseline) and ``cmpt:dropout`` (modality dropout, no proxy, no alignment).

Each method trains with its paper's optimiser where the paper names one: MLA (both variants) with
SGD and momentum (:data:`TRAIN_BY_METHOD`, the MLA chapter's quick settings); every other method
with :data:`TRAIN`. Earlier settings stay as named variants (:data:`VARIANTS`): ``mla@adamw`` (MLA
under :data:`TRAIN`) and ``cmpt@records`` (CMPT on the towers of the book's earlier records).

**Unlabelled pairs** (:func:`label_scarce`, an extension beyond the papers, off unless a cell asks
for it): a training split where only the first ``n_labelled`` samples keep their label. The
methods whose extra loss needs no label (``trml+unlabelled``: TRML's semantic matching;
``cmpt+unlabelled``: CMPT's alignment) also see the remaining complete pairs with the label
:data:`~rmm_lib.losses.UNLABELLED`, which carries no task loss; every other method trains on the
labelled samples alone.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import missing

from ..data.types import MultimodalDataset
from ..losses import UNLABELLED
from ..profiles import cache_root
from ..train import TrainConfig, Trainer
from ..files import building, save_atomically
from ..utils import seed_everything, set_threads
from .cmpt import IMAGE_TOWER, QUICK, RECORDS_MODEL, build_cmpt, quick_image_tower, variant_options
from .mla import QUICK_TRAIN as MLA_TRAIN

log = logging.getLogger(__name__)

#: The trainer configuration of every method without one of its own (the CMPT chapter's quick settings).
TRAIN = dict(QUICK["train"])
#: Methods whose paper names another optimiser: MLA's SGD with momentum (App. A.3; the MLA
#: chapter's quick step and epoch budget, chosen there on validation).
TRAIN_BY_METHOD = {"mla": dict(MLA_TRAIN), "mla:released": dict(MLA_TRAIN)}
#: The CMPT model options of the comparison: the CMPT chapter's towers and adapters.
CMPT_MODEL = dict(QUICK["model"])
#: The per-modality encoder of the feature methods: features -> 128 -> 128 -> ``dim`` (MLA App. A.3.2).
ENCODER = {"hidden": 128, "dim": 64}
#: The review's tokens kept by both the frozen and the LoRA text tower (the CMPT chapter's).
TEXT_MAX_LENGTH = int(QUICK["model"]["text_max_length"])
FEATURE_METHODS = ("lb:image", "lb:text", "concat", "late", "dropout", "trml", "mla", "mla:released")
TOKEN_METHODS = ("cmpt", "cmpt:baseline", "cmpt:dropout")
METHODS = FEATURE_METHODS + TOKEN_METHODS
#: Earlier settings kept as named variants: ``mla@adamw`` (MLA under :data:`TRAIN`, as the book's
#: earlier records ran it) and ``cmpt@records`` (CMPT on :data:`~rmm_lib.recipes.cmpt.RECORDS_MODEL`'s
#: towers: fused attention adapted at rank 1, proxies read after the final norm, MiniLM's [CLS]).
#: ``cmpt:dropout@r1`` is the no-proxy dropout arm with every adapter at rank 1 (the paper's rank).
VARIANTS = ("mla@adamw", "cmpt@records", "cmpt:dropout@r1")
#: The two methods that may also read unlabelled complete pairs (:func:`label_scarce`).
UNLABELLED_METHODS = ("trml+unlabelled", "cmpt+unlabelled")
ALL_METHODS = METHODS + VARIANTS + UNLABELLED_METHODS
#: TRML's options on this footing: the virtual features as Eq. 6 writes them (``normalize_virtual``
#: off, the default notebook 12 chose on validation).
TRML_OPTIONS = {"normalize_virtual": False}
#: The modality-dropout probability of the feature-level dropout baseline (rmm_lib.baselines).
DROPOUT_P = 0.5


# ----------------------------------------------------------------------------- protocols
PAIR = ("image", "text")
MAP_TYPES = ("image", "both", "text")
RATES = (0.1, 0.3, 0.5, 0.7)
SWEEP = tuple(round(0.1 * i, 1) for i in range(11))
#: Each paper's protocol (see :func:`protocol_masks`).
PROTOCOLS = ("complete",) + tuple(f"map:{t}" for t in MAP_TYPES) + tuple(f"rate:{r}" for r in RATES) + tuple(
    f"trml:{m}" for m in PAIR)
#: The protocols' settings: MAP's eta (CMPT Tables 1 and 6), the sweep's rates (Figs. 2-3) and
#: TRML's kept fraction p of the victim (Sec. 4.1).
PROTOCOL_SETTINGS = {"modalities": list(PAIR), "map_eta": 0.7, "sweep": list(SWEEP), "trml_kept": 0.1}


def _victim(modality: str) -> str:
    return f"{next(m for m in PAIR if m != modality)}->{modality}"


def protocol_masks(protocol: str, seed: int, sizes: dict, config: dict | None = None) -> tuple:
    """``(fit_masks, test_masks)`` of ``protocol`` for model seed ``seed``: presence masks
    ``{"train", "val"}`` (absent: complete) and ``{name: test mask}``, all from :mod:`rmm_lib.missing`."""
    config = {**PROTOCOL_SETTINGS, **(config or {})}
    mods, n = config["modalities"], sizes["n_test"]
    sz = {"train": sizes["n_train"], "val": sizes["n_val"], "test": n}
    complete = missing.full_presence(n, mods)
    eta = config["map_eta"]

    def map_test(t):  # one draw per test type, shared by every seed and method (as in grid cmpt)
        return missing.map_splits(sz, "both", t, eta, mods, seed=0)["test"]

    if protocol in ("complete", "score"):
        tests = {"complete": complete}
        for gone in mods:
            sweep = missing.inference_sweep(n, gone, config["sweep"], mods, seed=0)
            tests.update({f"sweep:{gone}@{r}": sweep[r] for r in config["sweep"] if r > 0})
        if protocol == "complete":
            tests.update({f"map:{t}": map_test(t) for t in MAP_TYPES})
        return {}, tests
    if protocol.startswith("map:"):
        masks = missing.map_splits(sz, protocol[4:], protocol[4:], eta, mods, seed=1 + seed)
        return ({"train": masks["train"], "val": masks["val"]},
                {"complete": complete, **{f"map:{t}": map_test(t) for t in MAP_TYPES}})
    if protocol.startswith("rate:"):
        masks = missing.mla_splits(sz, mods, float(protocol[5:]), seed=1 + seed)
        return {"train": masks["train"], "val": masks["val"]}, {"complete": complete, "same": masks["test"]}
    if protocol.startswith("trml:"):
        victim, kept = _victim(protocol[5:]), config["trml_kept"]
        a = missing.trml_setting_a(sz["train"], sz["val"], n, mods, victim=victim, kept=kept, seed=seed)
        b = missing.trml_setting_b(sz["train"], sz["val"], n, mods, victim=victim, kept=kept, seed=seed)
        if not all(np.array_equal(a[s], b[s]) for s in ("train", "val")):
            raise AssertionError("TRML Settings A and B should share their training masks; they do not.")
        return {"train": a["train"], "val": a["val"]}, {"complete": complete, "A": a["test"], "B": b["test"]}
    raise ValueError(f"Unknown protocol {protocol!r}; the protocols are {PROTOCOLS + ('score',)}.")



# ----------------------------------------------------------------------------- frozen features
def _feature_key(splits: dict, settings: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for name in sorted(splits):
        ds = splits[name]
        h.update(name.encode())
        h.update(ds.inputs["image"].numpy().tobytes())
        h.update("\n".join(ds.strings["text"]).encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def pooled_features(splits: dict, towers: dict, batch_size: int = 256, device: str = "cpu") -> dict:
    """``{split: {"image": (N, d), "text": (N, d)}}``: each frozen tower's pooled output -- the text
    model's [CLS] token, the image tower's class token -- for CMPT's tower objects ``towers``
    (``{"image": ImageTokens, "text": TextTokens}``, any profile), read through the datasets' loaders."""
    text, image = towers["text"], towers["image"]
    if getattr(text, "tokenizer", None) is None:
        raise ValueError("The text tower has no tokenizer (random-weight paper towers have none); use "
                         "reduced=True for a weightless run, or the pretrained towers.")
    text.eval(), image.eval()
    out = {}
    for name, ds in splits.items():
        texts, images = [], []
        for batch in ds.loader(batch_size):
            enc = text.tokenizer(list(batch.strings["text"]), padding=True, truncation=True,
                                 max_length=text.max_length, return_tensors="pt").to(device)
            texts.append(text.model(**enc).last_hidden_state[:, 0].float().cpu())
            img = batch.inputs["image"].to(device)
            images.append(image.visual(img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img).float().cpu())
        out[name] = {"image": torch.cat(images), "text": torch.cat(texts)}
    return out


def quick_towers(text_max_length: int = TEXT_MAX_LENGTH) -> dict:
    """The CMPT chapter's two quick towers, frozen and without LoRA: MiniLM and the image tower."""
    from ..methods.cmpt import ImageTokens
    from .cmpt import minilm_text_encoder

    return {"image": ImageTokens(quick_image_tower()[0]), "text": minilm_text_encoder(text_max_length, lora=False)}


def as_feature_splits(splits: dict, feats: dict) -> dict:
    """``splits`` with their inputs replaced by the pooled features ``feats`` (labels, scores,
    presence and strings kept)."""
    return {name: MultimodalDataset(feats[name], ds.label, ds.score, ds.presence.numpy(), ds.strings, ds.ids,
                                    ds.meta) for name, ds in splits.items()}


def feature_cache_path(splits: dict, text_max_length: int = TEXT_MAX_LENGTH) -> Path:
    """Where :func:`frozen_features` keeps the features of ``splits`` (a hash of their content and
    of the towers' settings)."""
    settings = {"text": "all-MiniLM-L6-v2 (eager attention)", "text_max_length": text_max_length,
                "image_tower": IMAGE_TOWER}
    return cache_root() / "compare" / f"features-{_feature_key(splits, settings)}.pt"


def frozen_features(splits: dict, text_max_length: int = TEXT_MAX_LENGTH) -> dict:
    """Each split as a dataset of pooled features ``{"image": (N, 384), "text": (N, 384)}`` from the
    frozen towers (MiniLM's [CLS], the image tower's class token), with the same labels, scores,
    presence and strings. Computed once per split content and cached under ``RMM_CACHE``."""
    for name, ds in splits.items():
        if tuple(ds.modalities) != ("image", "text"):
            raise ValueError(f"The comparison's features are of the image + text pair; split {name!r} has "
                             f"{ds.modalities}. Use dataset.select_modalities(['image', 'text']).")
    path = feature_cache_path(splits, text_max_length)
    with building(path):  # parallel callers wait for the one that encodes
        if not path.is_file():
            set_threads(1)
            save_atomically(pooled_features(splits, quick_towers(text_max_length)), path)
            log.info("encoded the comparison's splits with the frozen towers; saved to %s", path)
    return as_feature_splits(splits, torch.load(path, weights_only=True))


# ----------------------------------------------------------------------------- TRML on these features
class FrozenFeatureSpace(nn.Module):
    """Stands in for the open_clip model when TRML reads features cached from other frozen towers:
    TRML only reads the width of its ``text_projection``; the features arrive cached."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("text_projection", torch.zeros(0, dim), persistent=False)


def as_trml_dataset(ds: MultimodalDataset) -> MultimodalDataset:
    """TRML's view of a feature split: the photo is a one-frame ``video`` ``(N, 1, d)``; columns
    keep their order (image, text), so the protocols' masks apply unchanged."""
    inputs = {"video": ds.inputs["image"].unsqueeze(1), "text": ds.inputs["text"]}
    return MultimodalDataset(inputs, ds.label, ds.score, ds.presence.numpy(), ds.strings, ds.ids, ds.meta)


# ----------------------------------------------------------------------------- models
def feature_encoders(train, dim: int = ENCODER["dim"], hidden: int = ENCODER["hidden"]) -> nn.ModuleDict:
    """One encoder per modality of feature split ``train``: features -> ``hidden`` -> ``hidden`` ->
    ``dim`` (:data:`ENCODER`, MLA App. A.3.2's MLP), what every feature method reads through."""
    from ..encoders import MLPEncoder

    return nn.ModuleDict({m: MLPEncoder(int(train.inputs[m].shape[1]), dim, hidden) for m in train.modalities})


def build(method: str, train, task: str = "classification", encoder: dict | None = None) -> nn.Module:
    """The model of ``method`` (one of :data:`FEATURE_METHODS`) for feature split ``train``."""
    from ..baselines import make_baseline
    from ..methods.mla import MLA, released_mla
    from ..methods.trml import TRML

    encoder = {**ENCODER, **(encoder or {})}
    dim, hidden = int(encoder["dim"]), int(encoder["hidden"])
    out_dim = len(train.meta["class_names"]) if task == "classification" else 1
    if method.startswith("lb:"):
        return make_baseline("lb", feature_encoders(train, dim, hidden), dim, out_dim, task, modality=method[3:])
    if method in ("concat", "late"):
        return make_baseline(method, feature_encoders(train, dim, hidden), dim, out_dim, task)
    if method == "dropout":
        return make_baseline("dropout", feature_encoders(train, dim, hidden), dim, out_dim, task, modality_dropout=DROPOUT_P)
    if method == "mla":
        return MLA(feature_encoders(train, dim, hidden), dim, out_dim, task)
    if method == "mla:released":
        return released_mla(feature_encoders(train, dim, hidden), dim, out_dim, task)
    if method == "trml":
        width = int(train.inputs["video"].shape[-1])
        # the one-frame "video" needs no temporal model: mean pooling is the identity
        return TRML(FrozenFeatureSpace(width), task=task, out_dim=out_dim, temporal="mean", head_hidden=hidden,
                    freeze_encoders=True, **TRML_OPTIONS)
    raise ValueError(f"Unknown feature method {method!r}; choose from {FEATURE_METHODS}.")


def base_method(method: str) -> str:
    """The model ``method`` trains: a variant's (``mla@adamw`` -> ``mla``) or an unlabelled-pairs
    arm's (``trml+unlabelled`` -> ``trml``) method of :data:`METHODS`."""
    if method not in ALL_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {ALL_METHODS}.")
    return method.split("@")[0].split("+")[0]


def runs_under(method: str, protocol: str) -> bool:
    """Whether ``method`` has a model under ``protocol``: a unimodal LB has no missing-modality
    training (its reference is complete training), and CMPT's no-proxy controls are Sec. 4.6.1's
    complete-training models. ``score`` is complete training on the sentiment score, which CMPT's
    classification head does not predict."""
    base = base_method(method)
    if base in TOKEN_METHODS and protocol == "score":
        return False
    if base.startswith("lb:"):
        return protocol in ("complete", "score")
    if base in ("cmpt:baseline", "cmpt:dropout"):
        return protocol == "complete"
    return True


def prepare_features(method: str, feats: dict) -> dict:
    """Feature splits as ``method`` reads them (TRML's view for TRML)."""
    base = base_method(method)
    if base not in FEATURE_METHODS:
        raise ValueError(f"Unknown feature method {method!r}; choose from {FEATURE_METHODS}.")
    return {k: as_trml_dataset(v) for k, v in feats.items()} if base == "trml" else feats


def prepare(method: str, splits: dict) -> dict:
    """The splits ``method`` reads: features for feature methods (TRML's view for TRML), the raw
    splits for CMPT."""
    if base_method(method) in TOKEN_METHODS:
        return splits
    return prepare_features(method, frozen_features(splits))


def label_scarce(train, n_labelled: int, method: str):
    """The training split of the label-scarce regime for ``method``: its first ``n_labelled``
    samples keep their label; the methods of :data:`UNLABELLED_METHODS` also get the rest as
    complete pairs labelled :data:`~rmm_lib.losses.UNLABELLED` (no task loss; their matching
    or alignment loss reads them), every other method gets the labelled samples alone."""
    n = len(train)
    if not 0 < n_labelled < n:
        raise ValueError(f"n_labelled must be between 1 and the training size - 1 ({n - 1}), got {n_labelled}.")
    if method not in UNLABELLED_METHODS:
        return train.subset(list(range(n_labelled)))
    label = train.label.clone()
    label[n_labelled:] = UNLABELLED
    presence = train.presence.numpy().copy()
    presence[n_labelled:] = True  # the unlabelled pairs are complete
    return MultimodalDataset(train.inputs, label, train.score, presence, train.strings, train.ids, train.meta)


def train_config_of(method: str, train_config: dict | None = None) -> dict:
    """The trainer configuration ``method`` trains with: its paper's (:data:`TRAIN_BY_METHOD`) or
    ``train_config`` (default :data:`TRAIN`); ``mla@adamw`` takes ``train_config``."""
    own = TRAIN_BY_METHOD.get(method)
    return dict(own) if own is not None else dict(train_config or TRAIN)


def build_token_model(method: str, train, cmpt_model: dict | None = None):
    """The CMPT model of ``method`` (CMPT, a no-proxy control or a variant) for split ``train``."""
    base = base_method(method)
    if base not in TOKEN_METHODS:
        raise ValueError(f"{method!r} is not a CMPT arm; the CMPT arms are {TOKEN_METHODS}.")
    options = dict(RECORDS_MODEL if method == "cmpt@records" else (cmpt_model or CMPT_MODEL))
    if method.endswith("@r1"):
        options["image_tower"] = {**options["image_tower"], "rank": 1}
    variant = {"cmpt": "cmpt", "cmpt:baseline": "baseline", "cmpt:dropout": "dropout"}[base]
    return build_cmpt(train, **options, **variant_options(variant, bool(train.presence.all())))


def fit_model(make_model, splits: dict, seed: int, masks: dict | None = None, train_config: dict | None = None,
              n_labelled: int | None = None, method: str = "") -> Trainer:
    """Train the model ``make_model(train split)`` returns on ``splits`` with presence masks
    ``{"train": ..., "val": ...}`` applied, through the one trainer (``train_config``, default
    :data:`TRAIN`), keeping the epoch with the best validation metric. The model is built after
    the masks are applied and the seed is set, so its initial weights depend on ``seed`` alone;
    ``n_labelled``: the label-scarce regime of ``method`` (:func:`label_scarce`). Single-threaded,
    so the same numbers come out on any machine."""
    set_threads(1)
    masks = masks or {}
    train, val = (splits[s].with_presence(masks[s]) if s in masks else splits[s] for s in ("train", "val"))
    if n_labelled is not None:
        train = label_scarce(train, n_labelled, method)
    seed_everything(seed)
    model = make_model(train)
    trainer = Trainer(model, TrainConfig.from_dict(dict(train_config or TRAIN), seed=seed), progress=False)
    trainer.fit(train, val)
    return trainer


def fit(method: str, splits: dict, seed: int, masks: dict | None = None, task: str = "classification",
        train_config: dict | None = None, cmpt_model: dict | None = None, n_labelled: int | None = None) -> Trainer:
    """Train ``method`` on ``splits`` (as :func:`prepare` returns them) with :func:`fit_model`, its
    trainer configuration :func:`train_config_of`; ``n_labelled``: the label-scarce regime
    (:func:`label_scarce`)."""
    base = base_method(method)
    if base in TOKEN_METHODS:
        if task != "classification":
            raise ValueError("CMPT has a classification head only (Sec. 3.4); it has no score track.")
        make = lambda train: build_token_model(method, train, cmpt_model)  # noqa: E731
    else:
        make = lambda train: build(base, train, task)  # noqa: E731
    return fit_model(make, splits, seed, masks, train_config_of(method, train_config), n_labelled, method)


__all__ = ["TRAIN", "TRAIN_BY_METHOD", "CMPT_MODEL", "TRML_OPTIONS", "ENCODER", "FEATURE_METHODS", "TOKEN_METHODS", "METHODS",
           "VARIANTS", "UNLABELLED_METHODS", "ALL_METHODS", "PROTOCOLS", "protocol_masks", "base_method",
           "label_scarce", "train_config_of", "build_token_model",
           "pooled_features", "quick_towers", "frozen_features", "FrozenFeatureSpace", "as_trml_dataset", "build",
           "runs_under", "prepare_features", "prepare", "fit", "fit_model", "feature_encoders"]
