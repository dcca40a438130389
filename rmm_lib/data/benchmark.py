"""The embedded benchmark: a small, offline, seeded multimodal dataset with real signals.

The story
---------
Each sample is a short review of a market product, recorded three ways:

* ``image`` -- a photo of the product's label: a real handwritten digit from scikit-learn's
  bundled ``load_digits`` (1,797 scans), upsampled to 16x16, shifted, with sensor noise.
* ``text`` -- the sentence the reviewer wrote: real English words, tokenised by
  :class:`WordVocab` and also kept as raw strings for pretrained text encoders.
* ``audio`` -- a mel-spectrogram-like sequence (20 frames x 16 bins) of the product's jingle: a
  tone whose pitch names the category, buried in noise, whose loudness contour follows the mood.

Six categories (the class label) and a sentiment score in [-3, 3] (the mean of three annotators'
integer ratings, so exact zeros occur as in CMU-MOSI). The generative choices that make the
papers' phenomena arise on their own:

* **A dominant modality.** Label photos are clean and learned fast, but two categories share the
  same label design (digit 7), so the image alone cannot separate them.
* **A weaker, complementary one.** Text names a product *family* (drinks, bakery, ...) with some
  noise: it cannot tell apart categories of one family, which the image can, and it is the only
  clear signal for the two categories that share a label. Sentiment words follow the score.
* **Shared content.** Category, score and a per-sample "intensity" leave traces in every modality
  (stroke contrast, intensifier words, loudness), so a missing modality is partly inferable from
  the others.
* **Class-dependent reliance.** Which modality is needed depends on the category (see the table
  in :data:`CATEGORIES`).
* **Redundancy (a knob).** With ``redundancy=r``, a share ``r`` of products carry a *brand*, one of
  :data:`BRANDS`, drawn independently of everything else: its 4-bit code is a sticker in the photo's
  corners and the review ends "by <brand>". The brand tells nothing about the class or the score,
  but it is sample-level content two modalities share, so a model can tell *which* photo goes with
  *which* review (TRML's semantic matching). ``r=0`` (no brands) leaves every draw as it was.
* **Shared traces (a knob).** With ``shared_traces=q`` (default 1), the photo's contrast and the
  jingle's loudness follow the review's own mood and intensity with probability ``q``; otherwise
  each draws a mood and an intensity of its own from the same category. With ``q=0`` and
  ``redundancy=0``, what a photo carries beyond its category is independent of its review given the
  category: nothing sample-level is shared. ``q=1`` leaves every draw as it was.
"""
from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from ..missing import check_count, check_nonnegative, check_rate, check_seed
from .types import MultimodalDataset

MODALITIES = ("image", "text", "audio")

#: name, label digit(s), text family, tone bin, mean sentiment.
CATEGORIES = (
    ("tea", 0, "drink", 2, 1.0),
    ("coffee", 1, "drink", 4, -0.5),
    ("bread", 2, "bakery", 6, 0.5),
    ("cake", 3, "bakery", 8, -1.0),
    ("soup", 7, "soup", 10, 0.0),
    ("stew", 7, "stew", 12, 0.0),
)
CLASS_NAMES = tuple(c[0] for c in CATEGORIES)

# Constants of the generative story, shared with rmm_lib.limits (which inverts it exactly).
SCORE_NOISE = 1.0  # std of a review's sentiment around its category's mean
SENTIMENT_WORD_NOISE = 0.6  # std of the reviewer's choice of sentiment word around the score
LOUDNESS = (0.6, 0.12, 0.15)  # jingle contour: level + intensity slope x z + mood slope x s x t

FAMILY_WORDS = {
    "drink": ("cup", "brew", "mug", "sip", "kettle", "blend"),
    "bakery": ("loaf", "crust", "oven", "slice", "dough", "bake"),
    "soup": ("broth", "bowl", "ladle", "spoonful", "stock", "simmer"),
    "stew": ("pot", "casserole", "hotpot", "braise", "chunks", "gravy"),
}
# Sentiment words from very negative (index 0) to very positive (index 6).
SENTIMENT_WORDS = (
    ("awful", "dreadful", "terrible"),
    ("bad", "poor", "disappointing"),
    ("bland", "dull", "meh"),
    ("okay", "fine", "average"),
    ("nice", "good", "pleasant"),
    ("great", "lovely", "delicious"),
    ("superb", "amazing", "outstanding"),
)
#: Brand names (redundancy); brand k's sticker code is the 4 bits of k, one per photo corner.
BRANDS = ("alder", "aspen", "birch", "cedar", "elm", "fir", "hazel", "holly",
          "larch", "linden", "maple", "oak", "pine", "rowan", "spruce", "willow")
BRAND_WORD = "by"
INTENSIFIERS = (("slightly", "somewhat"), ("quite", "really"), ("very", "extremely"))
OPENERS = ("honestly", "well", "overall", "today", "so", "frankly")
TEMPLATES = (
    "{opener} the {topic} was {intensity} {sentiment}",
    "{opener} i found this {topic} {intensity} {sentiment}",
    "the {topic} tasted {intensity} {sentiment} {opener}",
    "{opener} a {intensity} {sentiment} {topic} from the market",
)


class WordVocab:
    """Word-level tokenizer over the benchmark's closed vocabulary (id 0 = padding, 1 = unknown)."""

    PAD, UNK = 0, 1
    _word = re.compile(r"[a-z']+")

    def __init__(self, words):
        self.itos = ["[PAD]", "[UNK]"] + sorted(set(words))
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts, max_len: int = 16) -> torch.Tensor:
        """Token ids, shape ``(len(texts), max_len)``, right-padded with 0; empty text is all 0."""
        out = torch.zeros(len(texts), max_len, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.stoi.get(w, self.UNK) for w in self._word.findall(text.lower())][:max_len]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


def benchmark_vocab(brands: bool = False) -> WordVocab:
    """The closed vocabulary of the reviews; with ``brands``, also "by" and the :data:`BRANDS`."""
    words = set()
    for group in (*FAMILY_WORDS.values(), *SENTIMENT_WORDS, *INTENSIFIERS, OPENERS):
        words.update(group)
    if brands:
        words.update((BRAND_WORD, *BRANDS))
    for template in TEMPLATES:
        words.update(w for w in re.findall(r"[a-z']+", re.sub(r"\{\w+\}", " ", template)))
    return WordVocab(words)


def _digit_pools(seed: int) -> dict:
    """Split the real digit scans into disjoint train/val/test pools per digit."""
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    rng = np.random.default_rng(seed + 7919)
    pools = {"train": {}, "val": {}, "test": {}}
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == d))
        a, b = int(0.6 * len(idx)), int(0.75 * len(idx))
        for split, part in (("train", idx[:a]), ("val", idx[a:b]), ("test", idx[b:])):
            pools[split][d] = images[part]
    return pools


def _make_images(pool: dict, digits: np.ndarray, score, intensity, rng, size: int, noise: float):
    n = len(digits)
    base = torch.stack([pool[d][rng.integers(len(pool[d]))] for d in digits])  # (n, 8, 8)
    img = F.interpolate(base[:, None], size=(size - 4, size - 4), mode="bilinear", align_corners=False)
    canvas = torch.zeros(n, 1, size, size)
    shifts = rng.integers(0, 5, size=(n, 2))
    for i, (dy, dx) in enumerate(shifts):
        canvas[i, 0, dy : dy + size - 4, dx : dx + size - 4] = img[i, 0]
    # Contrast follows intensity (shared content) and, faintly, the mood.
    gain = torch.tensor(1.0 + 0.25 * intensity + 0.05 * score, dtype=torch.float32).view(n, 1, 1, 1)
    canvas = canvas * gain + noise * torch.tensor(rng.standard_normal((n, 1, size, size)), dtype=torch.float32)
    return canvas


def digit_photos(n: int, split: str = "train", seed: int = 0, image_size: int = 16, image_noise: float = 0.2):
    """``n`` label photos of uniformly drawn digits 0-9 from the ``split`` pool of scans, drawn as
    :func:`make_split` draws them (shift, contrast, sensor noise; no brand sticker), with their
    digits: ``(images (n, 1, S, S), digits (n,))``. Data to pretrain an image encoder to read
    labels, apart from any testbed sample (its own random stream)."""
    n = check_count(n, "n", hint="pretraining needs at least one photo")
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test (a pool of scans), got {split!r}.")
    options = _check_options(image_size=image_size, image_noise=image_noise)
    rng = np.random.default_rng([check_seed(seed), 4, ("train", "val", "test").index(split)])
    digits = rng.integers(0, 10, size=n)
    score, intensity = rng.normal(0, 1.2, size=n), rng.normal(0, 1, size=n)
    images = _make_images(_digit_pools(seed)[split], digits, score, intensity, rng, options["image_size"],
                          options["image_noise"])
    return images, torch.tensor(digits, dtype=torch.long)


def _make_texts(labels, score, intensity, rng, topic_noise: float) -> list:
    families = list(FAMILY_WORDS)
    texts = []
    for c, s, z in zip(labels, score, intensity):
        family = CATEGORIES[c][2]
        if rng.random() < topic_noise:  # reviewers sometimes talk about something else
            family = families[rng.integers(len(families))]
        level = int(np.clip(np.round(s + rng.normal(0, SENTIMENT_WORD_NOISE)) + 3, 0, 6))
        strength = int(np.clip(np.round(z + 1), 0, 2))
        texts.append(
            TEMPLATES[rng.integers(len(TEMPLATES))].format(
                opener=OPENERS[rng.integers(len(OPENERS))],
                topic=FAMILY_WORDS[family][rng.integers(6)],
                intensity=INTENSIFIERS[strength][rng.integers(2)],
                sentiment=SENTIMENT_WORDS[level][rng.integers(3)],
            )
        )
    return texts


def _draw_brands(n: int, redundancy: float, seed: int, split_seed: int) -> np.ndarray:
    """Brand of each sample (-1: unbranded). Its own random stream, so that ``redundancy`` never
    changes the other draws of the split."""
    rng = np.random.default_rng([seed, split_seed, 1])
    branded = rng.random(n) < redundancy
    return np.where(branded, rng.integers(0, len(BRANDS), size=n), -1)


def _score_given_class(labels, rng) -> np.ndarray:
    """A sentiment score per sample: its category's mean plus annotator noise, on the 1/3 grid."""
    valence = np.array([CATEGORIES[c][4] for c in labels])
    return np.clip(np.round(3 * (valence + rng.normal(0, SCORE_NOISE, size=len(labels)))) / 3, -3, 3) + 0.0


def _own_traces(labels, score, intensity, shared: float, seed: int, split_seed: int) -> dict:
    """Mood and intensity traced in the photo and in the jingle: the review's own with probability
    ``shared``, else a fresh draw from the same category. Its own random stream, so that
    ``shared_traces`` never changes the other draws of the split."""
    rng = np.random.default_rng([seed, split_seed, 2])
    out = {}
    for modality in ("image", "audio"):
        own = rng.random(len(labels)) >= shared
        fresh_score, fresh_intensity = _score_given_class(labels, rng), rng.normal(0, 1, size=len(labels))
        out[modality] = (np.where(own, fresh_score, score), np.where(own, fresh_intensity, intensity), own)
    return out


def _stick_brands(images: torch.Tensor, brands: np.ndarray, level: float = 1.0) -> torch.Tensor:
    """Brand k's sticker: a ``level``-bright 2x2 square in corner j for each set bit j of k."""
    size = images.shape[-1]
    corners = ((0, 0), (0, size - 2), (size - 2, 0), (size - 2, size - 2))
    out = images.clone()
    for i in np.flatnonzero(brands >= 0):
        for bit, (y, x) in enumerate(corners):
            if (brands[i] >> bit) & 1:
                out[i, :, y : y + 2, x : x + 2] = level
    return out


def brand_code(brand: int) -> tuple:
    """The four corner bits of a brand's sticker (top-left, top-right, bottom-left, bottom-right)."""
    return tuple((brand >> bit) & 1 for bit in range(4))


def _make_audio(labels, score, intensity, rng, frames: int, bins: int, noise: float):
    n = len(labels)
    t = np.linspace(-1, 1, frames)
    pitch = np.array([CATEGORIES[c][3] for c in labels]) + rng.integers(-1, 2, size=n)  # +-1 bin jitter
    freq = np.arange(bins)
    band = np.exp(-0.5 * (freq[None, :] - pitch[:, None]) ** 2)  # (n, bins)
    # Loudness contour: rising for positive mood, falling for negative; level from intensity.
    level, by_intensity, by_mood = LOUDNESS
    contour = level + by_intensity * intensity[:, None] + by_mood * score[:, None] * t[None, :]
    onset = rng.integers(0, frames // 3, size=n)
    gate = (np.arange(frames)[None, :] >= onset[:, None]).astype(float)
    spec = (contour * gate)[:, :, None] * band[:, None, :] + noise * rng.standard_normal((n, frames, bins))
    return torch.tensor(spec, dtype=torch.float32)


def make_split(
    n: int,
    split: str,
    seed: int = 0,
    pools: dict | None = None,
    image_noise: float = 0.2,
    topic_noise: float = 0.25,
    audio_noise: float = 1.6,
    image_size: int = 16,
    frames: int = 20,
    bins: int = 16,
    text_len: int = 16,
    redundancy: float = 0.0,
    shared_traces: float = 1.0,
) -> MultimodalDataset:
    """One split of the benchmark, deterministic from ``(seed, split)``.

    ``redundancy`` is the share of branded products (see the module docstring): their photo
    carries the brand's sticker and their review names it. ``shared_traces`` is the chance that the
    photo's contrast and the jingle's loudness follow the review's mood and intensity (1: always)."""
    n = check_count(n, "n", hint="a split needs at least one sample")
    split_seed = {"train": 0, "val": 1, "test": 2, "unlabelled": 3}.get(split) if isinstance(split, str) else None
    if split_seed is None:
        raise ValueError(f"split must be train, val, test or unlabelled, got {split!r}.")
    seed = check_seed(seed)
    options = _check_options(
        image_noise=image_noise, topic_noise=topic_noise, audio_noise=audio_noise,
        image_size=image_size, frames=frames, bins=bins, text_len=text_len, redundancy=redundancy,
        shared_traces=shared_traces,
    )
    image_noise, topic_noise, audio_noise = options["image_noise"], options["topic_noise"], options["audio_noise"]
    image_size, frames, bins, text_len = options["image_size"], options["frames"], options["bins"], options["text_len"]
    redundancy = options["redundancy"]
    if pools is not None and not all(s in pools for s in ("train", "val", "test")):
        raise ValueError("pools must be the dict returned by _digit_pools(seed) (keys train, val, test); "
                         "pass pools=None to build it.")
    pools = _digit_pools(seed) if pools is None else pools
    pool = pools["train" if split == "unlabelled" else split]
    rng = np.random.default_rng([seed, split_seed])
    labels = rng.integers(0, len(CATEGORIES), size=n)
    score = _score_given_class(labels, rng)
    intensity = rng.normal(0, 1, size=n)
    digits = np.array([CATEGORIES[c][1] for c in labels])

    vocab = benchmark_vocab(brands=redundancy > 0)
    texts = _make_texts(labels, score, intensity, rng, topic_noise)
    traces = _own_traces(labels, score, intensity, options["shared_traces"], seed, split_seed)
    images = _make_images(pool, digits, *traces["image"][:2], rng, image_size, image_noise)
    audio = _make_audio(labels, *traces["audio"][:2], rng, frames, bins, audio_noise)
    brands = _draw_brands(n, redundancy, seed, split_seed)
    if redundancy > 0:
        images = _stick_brands(images, brands)
        texts = [f"{t} {BRAND_WORD} {BRANDS[b]}" if b >= 0 else t for t, b in zip(texts, brands)]
    inputs = {"image": images, "text": vocab.encode(texts, text_len), "audio": audio}
    meta = {
        "name": "rmm-embedded-benchmark",
        "split": split,
        "seed": seed,
        "class_names": CLASS_NAMES,
        "vocab": vocab,
        "intensity": torch.tensor(intensity, dtype=torch.float32),
        "brand": torch.tensor(brands, dtype=torch.long),
        # which samples' photo / jingle trace a mood and intensity of their own (shared_traces < 1)
        "own_traces": {m: torch.tensor(t[2]) for m, t in traces.items()},
        "options": {**options, "seed": seed},
    }
    return MultimodalDataset(
        inputs,
        label=torch.tensor(labels, dtype=torch.long),
        score=torch.tensor(score, dtype=torch.float32),
        strings={"text": texts},
        meta=meta,
    )


#: Generation options of :func:`make_split` and how each is checked.
_OPTIONS = {
    "image_noise": ("noise", "it is the std of the sensor noise on label photos; use 0 for clean images"),
    "topic_noise": ("probability", "it is the chance that a review talks about another family, e.g. 0.25"),
    "audio_noise": ("noise", "it is the std of the noise burying the jingle; use 0 for a clean tone"),
    "image_size": (5, "the digit is drawn at image_size - 4 pixels and shifted by up to 4; use e.g. 16"),
    "frames": (3, "the jingle starts within the first third of the frames; use e.g. 20"),
    "bins": (1, "it is the number of spectrogram bins (the category tones sit at bins 1-13); use e.g. 16"),
    "text_len": (1, "it is the number of tokens kept per review; use e.g. 16"),
    "redundancy": ("probability", "it is the share of branded products, e.g. 0.8; 0 for none"),
    "shared_traces": ("probability", "it is the chance that photo and jingle trace the review's mood and "
                                     "intensity, e.g. 1 (always); 0 for never"),
}


def _check_options(**options) -> dict:
    """Checked generation options (see :data:`_OPTIONS`); unknown names are refused."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"Unknown benchmark option(s) {unknown}; the options are {sorted(_OPTIONS)}.")
    checked = {}
    for name, value in options.items():
        rule, meaning = _OPTIONS[name]
        if rule == "noise":
            checked[name] = check_nonnegative(value, name, hint=meaning)
        elif rule == "probability":
            checked[name] = check_rate(value, name)
        else:
            checked[name] = check_count(value, name, minimum=rule, hint=meaning)
    return checked


def make_benchmark(
    n_train: int = 1200,
    n_val: int = 300,
    n_test: int = 600,
    seed: int = 0,
    n_unlabelled: int = 0,
    **kwargs,
) -> dict:
    """Train/val/test (and optionally unlabelled) splits of the embedded benchmark.

    Digit scans are split into disjoint pools first, so no test photo was seen in training.
    Extra keyword arguments (noise levels, sizes) go to :func:`make_split`.
    """
    sizes = {
        split: check_count(n, f"n_{split}", hint=f"the {split} split needs at least one sample")
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test))
    }
    n_unlabelled = check_count(n_unlabelled, "n_unlabelled", minimum=0,
                               hint="pass 0 for no unlabelled split")
    seed = check_seed(seed)
    _check_options(**kwargs)  # before the digit pools are built
    pools = _digit_pools(seed)
    if n_unlabelled:
        sizes["unlabelled"] = n_unlabelled
    return {split: make_split(n, split, seed, pools, **kwargs) for split, n in sizes.items()}


#: The book's one testbed: every quick-profile chapter draws the benchmark with these options (and
#: the quick profile's split sizes). Redundancy 0.8: four in five products carry a brand, enough for
#: a sample's own partner to be found well above chance (see rmm_lib.limits.retrieval_limit).
TESTBED = {"redundancy": 0.8}


def make_testbed(n_train: int, n_val: int, n_test: int, seed: int = 0, **kwargs) -> dict:
    """:func:`make_benchmark` with the :data:`TESTBED` options (``kwargs`` override them)."""
    return make_benchmark(n_train, n_val, n_test, seed=seed, **{**TESTBED, **kwargs})


def default_options() -> dict:
    """The generation options :func:`make_split` uses when none are given (records keep them, so a
    changed default makes a record stale)."""
    import inspect

    params = inspect.signature(make_split).parameters
    return {name: params[name].default for name in _OPTIONS}
