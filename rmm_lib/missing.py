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
import operator
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

#: Letters used in the TRML victim notation, mapped to the benchmark's modality names.
MODALITY_LETTERS = {"T": "text", "V": "image", "A": "audio"}
MAP_TYPES = ("text", "image", "both")


# ----------------------------------------------------------------------------- validation
# The check_* helpers return the cleaned value or raise a ValueError that names the argument, the
# bad value and what to pass instead. Other modules (the benchmark, encoders, baselines) use them.
def check_count(value, name: str, minimum: int = 1, hint: str | None = None) -> int:
    """Return ``value`` as an ``int`` >= ``minimum`` (a sample count, a width, a number of layers).

    Refuses booleans and non-integers (``10.0``, ``"10"``): a count is a whole number. ``hint`` says
    what the count is for; it ends the message for a value below ``minimum``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got the boolean {value!r}.")
    try:
        number = operator.index(value)
    except TypeError:
        arg = name.split(" (")[0]
        example = f"{arg}={int(value)}" if isinstance(value, float) and value.is_integer() else f"{arg}={max(minimum, 1)}"
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__}); pass e.g. {example}."
        ) from None
    if number < minimum:
        fix = hint or (f"pass at least {minimum}" if minimum > 0 else "pass 0 or more")
        raise ValueError(f"{name}={number} is below {minimum}: {fix}.")
    return int(number)


def check_seed(seed, name: str = "seed") -> int:
    """A random seed: a non-negative integer (what :func:`numpy.random.default_rng` accepts)."""
    return check_count(seed, name, minimum=0, hint="seeds are non-negative integers, e.g. seed=0")


def check_nonnegative(value, name: str, hint: str | None = None) -> float:
    """Return ``value`` as a finite float >= 0 (a noise level, a loss weight)."""
    number = _as_number(value, name, "a number >= 0")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name}={value!r} must be a finite number >= 0; {hint or 'use 0 to turn it off'}.")
    return number


def check_positive(value, name: str, hint: str | None = None) -> float:
    """Return ``value`` as a finite float > 0 (a temperature, a scale)."""
    number = _as_number(value, name, "a number > 0")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name}={value!r} must be a finite number > 0; {hint or 'e.g. 1.0'}.")
    return number


def _as_number(value, name: str, what: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be {what}, got the boolean {value!r}.")
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be {what}, got the string {value!r}; pass the number itself, "
                         f"e.g. {name.split(' (')[0]}={_unquoted(value)}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r} ({type(value).__name__}).") from None


def check_rate(rate, name: str = "rate") -> float:
    """Return ``rate`` as a float in [0, 1] or raise a ValueError that says how to fix it."""
    if isinstance(rate, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number in [0, 1], got the boolean {rate!r}; give a fraction, e.g. 0.7.")
    if isinstance(rate, (str, bytes)):  # as the counts refuse "10": a number read from text is parsed by its reader
        raise ValueError(f"{name} must be a number in [0, 1], got the string {rate!r}; pass the number itself, "
                         f"e.g. {name.split(' (')[0]}={_unquoted(rate)}.")
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {rate!r}; give a fraction, e.g. 0.7.") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{name}={rate!r} is outside [0, 1]. Give a fraction, e.g. 0.7 for 70% (not 70)."
        )
    return value


def _unquoted(text) -> str:
    """A string's content shown as the literal to pass instead (``"0.3"`` -> ``0.3``), when it is one."""
    text = text.decode(errors="replace") if isinstance(text, bytes) else text
    try:
        return repr(float(text))
    except ValueError:
        return "0.7"


def check_modalities(modalities, minimum: int = 1, name: str = "modalities") -> tuple:
    """The modality names as a tuple: distinct strings, at least ``minimum`` of them."""
    if isinstance(modalities, (str, bytes)):
        raise ValueError(
            f"{name} must be a sequence of modality names, got the single string {modalities!r}; "
            f"pass a tuple such as ({modalities!r},) or ('image', 'text')."
        )
    try:
        names = tuple(modalities)
    except TypeError:
        raise ValueError(
            f"{name} must be a sequence of modality names such as ('image', 'text'), got {modalities!r}."
        ) from None
    bad = [m for m in names if not isinstance(m, str) or not m]
    if bad:
        raise ValueError(f"{name} must hold non-empty strings (modality names), got {bad!r} in {names!r}.")
    if len(set(names)) != len(names):
        twice = sorted({m for m in names if names.count(m) > 1})
        raise ValueError(f"{name}={names!r} names {twice} more than once; each modality is one mask column.")
    if len(names) < minimum:
        raise ValueError(
            f"{name}={names!r} has {len(names)} modality(ies); this protocol needs at least {minimum}."
        )
    return names


def check_modality(modality: str, modalities: Sequence[str], name: str = "modality") -> int:
    """Index of ``modality`` in ``modalities``; a ValueError naming the known ones otherwise."""
    modalities = tuple(modalities)
    if not isinstance(modality, str) or modality not in modalities:
        raise ValueError(
            f"Unknown modality {modality!r} for {name}; this data has {modalities}: pass one of those."
        )
    return modalities.index(modality)


def check_choice(value, name: str, choices: Sequence) -> str:
    """``value`` if it is one of ``choices``; a ValueError listing them otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
    return value


def check_sizes(sizes, name: str = "sizes", splits: Sequence[str] | None = None) -> dict:
    """``{split: n}`` with every ``n`` an integer >= 1 (and, given ``splits``, only those names)."""
    if not isinstance(sizes, Mapping) or not sizes:
        raise ValueError(
            f"{name} must be a non-empty dict of split sizes, e.g. {{'train': 800, 'test': 200}}, got {sizes!r}."
        )
    if splits is not None:
        unknown = [s for s in sizes if s not in splits]
        if unknown:
            raise ValueError(f"{name} has unknown split(s) {unknown}; use only {tuple(splits)}.")
    return {
        split: check_count(n, f"{name}[{split!r}]", hint="every split needs at least one sample")
        for split, n in sizes.items()
    }


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


def _drop_count(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean (n,) with exactly ``count`` True entries at random positions."""
    dropped = np.zeros(n, dtype=bool)
    dropped[rng.permutation(n)[:count]] = True
    return dropped


def full_presence(n: int, modalities: Sequence[str]) -> np.ndarray:
    """Every modality present for every sample (the complete-modality setting, Fig. 1a of TRML)."""
    n = check_count(n, "n (number of samples)")
    return np.ones((n, len(check_modalities(modalities))), dtype=bool)


def only_modality(n: int, modalities: Sequence[str], modality: str) -> np.ndarray:
    """Only ``modality`` present for every sample, every other modality absent: the mask that
    tests a model on one modality alone (the unimodal rows of MLA Table 1, probing one encoder)."""
    n = check_count(n, "n (number of samples)")
    modalities = check_modalities(modalities)
    mask = np.zeros((n, len(modalities)), dtype=bool)
    mask[:, check_modality(modality, modalities)] = True
    return mask


def missing_rates(presence: np.ndarray, modalities: Sequence[str]) -> dict:
    """Fraction of samples missing each modality."""
    modalities = check_modalities(modalities)
    presence = np.asarray(presence, dtype=bool)
    if presence.ndim != 2 or presence.shape[1] != len(modalities) or not len(presence):
        raise ValueError(
            f"presence must be a non-empty (n_samples, {len(modalities)}) mask for modalities "
            f"{modalities}, got shape {presence.shape}."
        )
    return {m: float(1.0 - presence[:, i].mean()) for i, m in enumerate(modalities)}


# ----------------------------------------------------------------------------- TRML
def parse_victim(victim: str, modalities: Sequence[str], letters: dict | None = None) -> tuple:
    """Parse TRML's ``"A->B"`` notation into ``(source, victim)`` modality names.

    ``"T->V"`` means the visual modality is the victim (missing) and text is used to infer it.
    Letters map through ``letters`` (default :data:`MODALITY_LETTERS`); full names work too.
    """
    letters = MODALITY_LETTERS if letters is None else letters
    modalities = check_modalities(modalities, minimum=2)
    if not isinstance(victim, str):
        raise ValueError(f"victim must be a string 'A->B' (B missing, inferred from A), e.g. 'T->V'; got {victim!r}.")
    text = victim.replace("→", "->").replace(" ", "")
    if "->" not in text:
        raise ValueError(f"Victim {victim!r} must read 'A->B' (B missing, inferred from A), e.g. 'T->V'.")
    source, target = text.split("->", 1)
    names = [letters.get(part.upper(), part) if len(part) == 1 else part for part in (source, target)]
    for name in names:
        check_modality(name, modalities, name=f"victim={victim!r}")
    if names[0] == names[1]:
        raise ValueError(f"Victim {victim!r} names the same modality twice; the source must differ, e.g. 'T->V'.")
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
    check_choice(val_like, "val_like", ("train", "test"))
    rules = {"train": "kept", "val": "kept" if val_like == "train" else "absent", "test": "absent"}
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
    rules = {"train": "missing", "val": "missing", "test": "missing"}
    return _trml_masks((n_train, n_val, n_test), modalities, victim, kept, seed, rules)


def _trml_masks(sizes, modalities, victim, kept, seed, rules: dict) -> dict:
    """Per split: the victim kept for exactly ``round(kept * n)`` samples ("kept", Setting A's p),
    missing for exactly ``round((1 - kept) * n)`` ("missing", Setting B's p'), or kept for none
    ("absent"); every other modality present. The two exact rules differ only when both products
    end in .5 (an odd ``n``), where both counts cannot be honoured at once."""
    sizes = [
        check_count(n, name, hint="every split needs at least one sample")
        for n, name in zip(sizes, ("n_train", "n_val", "n_test"))
    ]
    kept = check_rate(kept, "kept (p)")
    modalities = check_modalities(modalities, minimum=2)
    _, victim_name = parse_victim(victim, modalities)
    col = check_modality(victim_name, modalities)
    rng = _rng(check_seed(seed))
    masks = {}
    for split, n in zip(("train", "val", "test"), sizes):
        mask = full_presence(n, modalities)
        if rules[split] == "absent":
            mask[:, col] = False
        else:
            n_missing = n - int(round(kept * n)) if rules[split] == "kept" else int(round((1.0 - kept) * n))
            mask[:, col] = ~_drop_count(n, n_missing, rng)
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
    n = check_count(n, "n (number of samples)")
    eta = check_rate(eta, "eta (missing rate)")
    modalities = check_modalities(modalities)
    if len(modalities) < 2:
        raise ValueError(
            f"Missing-modality masking needs at least two modalities, got modalities={modalities!r}."
        )
    if eta == 1.0:
        raise ValueError(
            "eta=1.0 drops every modality of every sample; the protocol would then give each sample one modality "
            "back at random, so every sample would keep exactly one -- not a missing rate. Use eta < 1 (the paper "
            "uses up to 0.7), or build unimodal data on purpose with missing.only_modality."
        )
    rng = _rng(check_seed(seed))
    presence = rng.random((n, len(modalities))) >= eta
    empty = np.flatnonzero(~presence.any(axis=1))
    presence[empty, rng.integers(0, len(modalities), size=empty.size)] = True
    return check_presence(presence, modalities)


def mla_expected_rate(eta: float, n_modalities: int) -> float:
    """Expected per-modality missing fraction of :func:`mla_random_missing`."""
    eta = check_rate(eta, "eta (missing rate)")
    n_modalities = check_count(n_modalities, "n_modalities")
    return eta - eta**n_modalities / n_modalities


def mla_splits(sizes: dict, modalities: Sequence[str], eta: float, seed: int = 0) -> dict:
    """:func:`mla_random_missing` for each split in ``sizes`` (same rate, independent draws)."""
    sizes = check_sizes(sizes)
    eta = check_rate(eta, "eta (missing rate)")
    seed = check_seed(seed)
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
    n = check_count(n, "n (number of samples)")
    check_choice(missing_type, "missing_type", MAP_TYPES)
    rate = check_rate(rate, "rate (missing ratio)")
    modalities = check_modalities(modalities)
    lacking = [m for m in ("image", "text") if m not in modalities]
    if lacking:
        raise ValueError(
            f"The missing-aware-prompt protocol masks the image and the text; modalities={modalities!r} has no "
            f"{' and no '.join(repr(m) for m in lacking)}. Pass modalities that include both, e.g. ('image', 'text'), "
            "in the column order of your presence mask."
        )
    rng = _rng(check_seed(seed))
    presence = full_presence(n, modalities)
    order = rng.permutation(n)[: int(round(rate * n))]
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
    check_choice(val_like, "val_like", ("train", "test"))
    check_choice(train_type, "train_type", MAP_TYPES)
    check_choice(test_type, "test_type", MAP_TYPES)
    sizes = check_sizes(sizes, splits=("train", "val", "test"))
    seed = check_seed(seed)
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
    n = check_count(n, "n (number of samples)")
    modalities = check_modalities(modalities)
    col = check_modality(missing, modalities, name="missing")
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Iterable):
        raise ValueError(f"rates must be a list of missing rates, e.g. [0.1, 0.3, 0.5]; got {rates!r}.")
    rates = [check_rate(r, f"rates[{i}]") for i, r in enumerate(rates)]
    if not rates:
        raise ValueError("rates is empty; pass at least one missing rate, e.g. [0.1, 0.3, 0.5].")
    order = _rng(check_seed(seed)).permutation(n)
    masks = {}
    for rate in rates:
        mask = full_presence(n, modalities)
        mask[order[: int(round(rate * n))], col] = False
        masks[rate] = check_presence(mask, modalities)
    return masks
