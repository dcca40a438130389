"""Missing-modality protocols of the three papers, as seeded presence masks.

A *presence mask* is a boolean array of shape ``(n_samples, n_modalities)``; ``True`` means the
modality is present. Column order is the ``modalities`` tuple passed to each function. The mask is
turned into model inputs by :meth:`rmm_lib.data.MultimodalDataset.with_presence`, which also writes
placeholders (zeros, the empty string) where a modality is absent -- the two ways the papers
represent absence.

Protocols
---------
* TRML (Sec. 3.1, Fig. 1c-d): :func:`trml_setting_a`, :func:`trml_setting_b`, victims written
  ``"A->B"`` (modality B is the victim, inferred from A), parsed by :func:`parse_victim`.
* MLA (Sec. 3.2.1, after Lian et al. 2022): :func:`mla_random_missing` -- every modality of every
  sample dropped with probability ``eta``, the same rate in train/val/test, never an empty sample.
* CMPT / missing-aware prompts (Lee et al. 2023): :func:`map_missing`, :func:`map_splits` (the 3x3
  train/test grid of CMPT Table 6) and :func:`inference_sweep` (complete in training, x% missing at
  inference, CMPT Fig. 2-3).

Counts are exact wherever the protocol defines a fraction of samples (``round(rate * n)``); MLA's
protocol is a per-cell coin flip, so only its expectation is fixed (see :func:`mla_expected_rate`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Letters used in the TRML victim notation, mapped to the benchmark's modality names.
MODALITY_LETTERS = {"T": "text", "V": "image", "A": "audio"}
MAP_TYPES = ("text", "image", "both")


# ----------------------------------------------------------------------------- validation
def check_rate(rate, name: str = "rate") -> float:
    """Return ``rate`` as a float in [0, 1] or raise a ValueError that says how to fix it."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {rate!r}.") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{name}={rate!r} is outside [0, 1]. Give a fraction, e.g. 0.7 for 70% (not 70)."
        )
    return value


def check_modality(modality: str, modalities: Sequence[str]) -> int:
    """Index of ``modality`` in ``modalities``; a ValueError naming the known ones otherwise."""
    if modality not in modalities:
        raise ValueError(f"Unknown modality {modality!r}; this data has {tuple(modalities)}.")
    return list(modalities).index(modality)


def check_presence(presence: np.ndarray, modalities: Sequence[str] | None = None) -> np.ndarray:
    """Validate a presence mask: boolean, 2-D, one column per modality, no empty sample."""
    presence = np.asarray(presence)
    if presence.ndim != 2:
        raise ValueError(f"A presence mask is (n_samples, n_modalities); got shape {presence.shape}.")
    if presence.dtype != bool:
        if not np.isin(presence, (0, 1)).all():
            raise ValueError("A presence mask holds only True/False (or 0/1) values.")
        presence = presence.astype(bool)
    if modalities is not None and presence.shape[1] != len(modalities):
        raise ValueError(
            f"Presence mask has {presence.shape[1]} columns but the data has "
            f"{len(modalities)} modalities {tuple(modalities)}."
        )
    empty = np.flatnonzero(~presence.any(axis=1))
    if empty.size:
        raise ValueError(
            f"{empty.size} sample(s) would have no modality left (first: {empty[:5].tolist()}). "
            "Lower the missing rate or use a protocol that keeps at least one modality per sample."
        )
    return presence


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _drop_exact(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean (n,) with exactly round(rate * n) True entries at random positions."""
    dropped = np.zeros(n, dtype=bool)
    dropped[rng.permutation(n)[: int(round(rate * n))]] = True
    return dropped


def full_presence(n: int, modalities: Sequence[str]) -> np.ndarray:
    """Every modality present for every sample (the complete-modality setting, Fig. 1a of TRML)."""
    return np.ones((int(n), len(modalities)), dtype=bool)


def missing_rates(presence: np.ndarray, modalities: Sequence[str]) -> dict:
    """Fraction of samples missing each modality."""
    presence = np.asarray(presence, dtype=bool)
    return {m: float(1.0 - presence[:, i].mean()) for i, m in enumerate(modalities)}


# ----------------------------------------------------------------------------- TRML
def parse_victim(victim: str, modalities: Sequence[str], letters: dict | None = None) -> tuple:
    """Parse TRML's ``"A->B"`` notation into ``(source, victim)`` modality names.

    ``"T->V"`` means the visual modality is the victim (missing) and text is used to infer it.
    Letters map through ``letters`` (default :data:`MODALITY_LETTERS`); full names work too.
    """
    letters = MODALITY_LETTERS if letters is None else letters
    text = str(victim).replace("→", "->").replace(" ", "")
    if "->" not in text:
        raise ValueError(f"Victim {victim!r} must read 'A->B' (B missing, inferred from A), e.g. 'T->V'.")
    source, target = text.split("->", 1)
    names = [letters.get(part.upper(), part) if len(part) == 1 else part for part in (source, target)]
    for name in names:
        check_modality(name, modalities)
    if names[0] == names[1]:
        raise ValueError(f"Victim {victim!r} names the same modality twice.")
    return names[0], names[1]


def trml_setting_a(
    n_train: int,
    n_val: int,
    n_test: int,
    modalities: Sequence[str],
    victim: str = "T->V",
    kept: float = 0.1,
    seed: int = 0,
    val_like: str = "train",
) -> dict:
    """TRML Setting A: the victim is kept for a fraction ``kept`` (the paper's p) of training samples
    and is absent from every test sample (Fig. 1c). Other modalities stay present.

    The paper describes only training and test; ``val_like`` chooses whether validation follows
    the training rule (default) or the test rule.
    """
    if val_like not in ("train", "test"):
        raise ValueError(f"val_like must be 'train' or 'test', got {val_like!r}.")
    rules = {"train": "partial", "val": "partial" if val_like == "train" else "absent", "test": "absent"}
    return _trml_masks((n_train, n_val, n_test), modalities, victim, kept, seed, rules)


def trml_setting_b(
    n_train: int,
    n_val: int,
    n_test: int,
    modalities: Sequence[str],
    victim: str = "T->V",
    kept: float = 0.1,
    seed: int = 0,
) -> dict:
    """TRML Setting B: the victim is missing at the same rate ``1 - kept`` (the paper's p')
    in training, validation and test (Fig. 1d). Exactly ``round((1 - kept) * n)`` per split."""
    rules = {"train": "partial", "val": "partial", "test": "partial"}
    return _trml_masks((n_train, n_val, n_test), modalities, victim, kept, seed, rules)


def _trml_masks(sizes, modalities, victim, kept, seed, rules: dict) -> dict:
    """Per split: the victim kept for exactly ``round(kept * n)`` samples ("partial") or for none
    ("absent"); every other modality present."""
    kept = check_rate(kept, "kept (p)")
    _, victim_name = parse_victim(victim, modalities)
    col = check_modality(victim_name, modalities)
    rng = _rng(seed)
    masks = {}
    for split, n in zip(("train", "val", "test"), sizes):
        mask = full_presence(n, modalities)
        mask[:, col] = ~_drop_exact(n, 1.0 - kept, rng) if rules[split] == "partial" else False
        masks[split] = check_presence(mask, modalities)
    return masks


# ----------------------------------------------------------------------------- MLA
def mla_random_missing(n: int, modalities: Sequence[str], eta: float, seed: int = 0) -> np.ndarray:
    """MLA's missing protocol (Sec. 3.2.1, following Lian et al. 2022): each modality of each sample
    is masked independently with probability ``eta``. A sample left with no modality gets one
    modality back, chosen uniformly at random, so no sample is empty.

    The effective per-modality missing rate is therefore ``eta - eta**M / M`` in expectation
    (:func:`mla_expected_rate`), e.g. 0.586 for eta = 0.7 and three modalities. Use the same
    ``eta`` (and different seeds) for train, validation and test, as the paper does.
    """
    eta = check_rate(eta, "eta (missing rate)")
    if len(modalities) < 2:
        raise ValueError("Missing-modality masking needs at least two modalities.")
    rng = _rng(seed)
    presence = rng.random((int(n), len(modalities))) >= eta
    empty = np.flatnonzero(~presence.any(axis=1))
    presence[empty, rng.integers(0, len(modalities), size=empty.size)] = True
    return check_presence(presence, modalities)


def mla_expected_rate(eta: float, n_modalities: int) -> float:
    """Expected per-modality missing fraction of :func:`mla_random_missing`."""
    eta = check_rate(eta, "eta (missing rate)")
    return eta - eta**n_modalities / n_modalities


def mla_splits(sizes: dict, modalities: Sequence[str], eta: float, seed: int = 0) -> dict:
    """:func:`mla_random_missing` for each split in ``sizes`` (same rate, independent draws)."""
    return {
        split: mla_random_missing(n, modalities, eta, seed=seed * 1000 + i)
        for i, (split, n) in enumerate(sizes.items())
    }


# ----------------------------------------------------------------------------- CMPT / MAP
def map_missing(
    n: int,
    missing_type: str,
    rate: float = 0.7,
    modalities: Sequence[str] = ("image", "text"),
    seed: int = 0,
) -> np.ndarray:
    """Missing-aware-prompt protocol used by CMPT Tables 1 and 6.

    ``missing_type="text"``: exactly ``round(rate * n)`` samples lack text; ``"image"``: lack the
    image; ``"both"``: ``round(rate * n)`` samples are incomplete, half of them without text and
    half without the image, never both at once. With rate 0.7 the availability (image %, text %)
    is 100/30, 30/100 and 65/65.
    """
    rate = check_rate(rate, "rate (missing ratio)")
    if missing_type not in MAP_TYPES:
        raise ValueError(f"missing_type must be one of {MAP_TYPES}, got {missing_type!r}.")
    for modality in ("image", "text"):
        check_modality(modality, modalities)
    rng = _rng(seed)
    presence = full_presence(n, modalities)
    order = rng.permutation(int(n))[: int(round(rate * n))]
    if missing_type == "both":
        half = len(order) // 2
        no_text, no_image = order[:half], order[half:]
    else:
        no_text = order if missing_type == "text" else order[:0]
        no_image = order if missing_type == "image" else order[:0]
    presence[no_text, list(modalities).index("text")] = False
    presence[no_image, list(modalities).index("image")] = False
    return check_presence(presence, modalities)


def map_splits(
    sizes: dict,
    train_type: str,
    test_type: str,
    rate: float = 0.7,
    modalities: Sequence[str] = ("image", "text"),
    seed: int = 0,
    val_like: str = "train",
) -> dict:
    """Independent training and test settings (CMPT Table 6's 3x3 grid). ``sizes`` maps split name
    (``train``, ``val``, ``test``) to its size; validation follows ``val_like``."""
    if val_like not in ("train", "test"):
        raise ValueError(f"val_like must be 'train' or 'test', got {val_like!r}.")
    types = {"train": train_type, "test": test_type, "val": train_type if val_like == "train" else test_type}
    return {
        split: map_missing(n, types[split], rate, modalities, seed=seed * 1000 + i)
        for i, (split, n) in enumerate(sizes.items())
    }


def inference_sweep(
    n: int,
    missing: str,
    rates: Sequence[float],
    modalities: Sequence[str],
    seed: int = 0,
) -> dict:
    """Complete in training, ``rate`` of the test samples lacking modality ``missing`` (CMPT
    Fig. 2-3). Missing sets are nested -- the samples missing at 30% include those at 10% -- so a
    curve over rates is not blurred by a new draw at each point."""
    col = check_modality(missing, modalities)
    rates = [check_rate(r, "rate") for r in rates]
    order = _rng(seed).permutation(int(n))
    masks = {}
    for rate in rates:
        mask = full_presence(n, modalities)
        mask[order[: int(round(rate * n))], col] = False
        masks[rate] = check_presence(mask, modalities)
    return masks
