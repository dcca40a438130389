"""What each modality subset of the embedded benchmark can tell about the label, at best.

We generate the benchmark, so we can invert its story (:mod:`rmm_lib.data.benchmark`). For a test
sample ``x`` seen through a modality subset, the Bayes posterior over its category ``c`` and score
``s`` marginalises every hidden draw: the score grid, the intensity ``z`` (Gauss-Legendre nodes on
the three regions the intensifier word cuts it into), the jingle's pitch jitter and onset.

* ``text`` and ``audio`` likelihoods are **exact**: the review is a product of word choices, the
  jingle a known mean in Gaussian noise.
* The **photo**'s only cue to the category is the digit on its label (soup and stew share digit 7)
  and a faint contrast cue to the score, which we ignore. Two readers of the digit bracket it: a
  *perfect reader* (the true digit; an exact upper bound on accuracy) and a CNN trained on 50x the
  quick training size (an estimate, a lower bound: a better reader could only do better).

The best accuracy is ``E[max_c P(c | x)]`` and the best MAE ``E[sum_s P(s | x) |s - median|]``,
each a Monte Carlo mean over a large fresh test draw, reported with its 95 % interval. No model
trained on the benchmark can beat the limit of the modalities it sees at test, within noise.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from scipy import stats

from .data import benchmark as B
from .stats import mean_interval as interval
from .train import TrainConfig

SUBSETS = tuple(s for k in (1, 2, 3) for s in itertools.combinations(B.MODALITIES, k))
#: Sizes of the draws the limits are computed on (50x the quick training size of 1,200 for the reader).
READER_TRAIN, READER_VAL, LIMIT_TEST = 60_000, 6_000, 20_000
_SCORE_STEPS = np.arange(-9, 10)  # the score is a multiple of 1/3 in [-3, 3]
SCORES = _SCORE_STEPS / 3
_Z_CUTS = (-8.0, -0.5, 0.5, 8.0)  # the intensifier word is 'slightly' / 'quite' / 'very' in these regions
_Z_NODES_PER_REGION = 24


def subset_name(subset) -> str:
    return "+".join(subset)


# ----------------------------------------------------------------------------- the story's priors
def score_given_class() -> np.ndarray:
    """``P(s | c)``, shape ``(6, 19)``: the score is round-to-thirds(mean_c + N(0, 1)), clipped."""
    means = np.array([c[4] for c in B.CATEGORIES])[:, None]
    upper = np.where(_SCORE_STEPS == 9, np.inf, (_SCORE_STEPS + 0.5) / 3)[None, :]
    lower = np.where(_SCORE_STEPS == -9, -np.inf, (_SCORE_STEPS - 0.5) / 3)[None, :]
    return stats.norm.cdf((upper - means) / B.SCORE_NOISE) - stats.norm.cdf((lower - means) / B.SCORE_NOISE)


def intensity_nodes() -> tuple:
    """Quadrature nodes ``z``, weights (summing to 1) and the intensifier region of each node."""
    nodes, weights, region = [], [], []
    x, w = np.polynomial.legendre.leggauss(_Z_NODES_PER_REGION)
    for r, (a, b) in enumerate(zip(_Z_CUTS[:-1], _Z_CUTS[1:])):
        z = (b - a) / 2 * x + (a + b) / 2
        nodes.append(z)
        weights.append(w * (b - a) / 2 * stats.norm.pdf(z))
        region.append(np.full(len(z), r))
    weights = np.concatenate(weights)
    return np.concatenate(nodes), weights / weights.sum(), np.concatenate(region)


def _sentiment_level_given_score() -> np.ndarray:
    """``P(level | s)``, shape ``(19, 7)``: level = clip(round(s + N(0, 0.6)) + 3, 0, 6)."""
    levels = np.arange(7)
    upper = np.where(levels == 6, np.inf, levels - 3 + 0.5)[None, :]
    lower = np.where(levels == 0, -np.inf, levels - 3 - 0.5)[None, :]
    s = SCORES[:, None]
    noise = B.SENTIMENT_WORD_NOISE
    return stats.norm.cdf((upper - s) / noise) - stats.norm.cdf((lower - s) / noise)


# ----------------------------------------------------------------------------- exact likelihoods
def text_loglik(texts, topic_noise: float = 0.25) -> torch.Tensor:
    """``log P(review | c, s, z)`` up to a constant, shape ``(N, 6, 19, Q)``, from the raw strings:
    the topic word's family, the sentiment word's level and the intensifier's strength are the only
    words that depend on the hidden draws."""
    families = list(B.FAMILY_WORDS)
    family_of = {w: families.index(f) for f, ws in B.FAMILY_WORDS.items() for w in ws}
    level_of = {w: i for i, ws in enumerate(B.SENTIMENT_WORDS) for w in ws}
    strength_of = {w: i for i, ws in enumerate(B.INTENSIFIERS) for w in ws}
    parsed = []
    for text in texts:
        words = text.split()
        found = [next((m[w] for w in words if w in m), None) for m in (family_of, level_of, strength_of)]
        if None in found:
            raise ValueError(f"Not a benchmark review (no topic, sentiment or intensifier word): {text!r}.")
        parsed.append(found)
    family, level, strength = (torch.tensor(col) for col in zip(*parsed))
    own = torch.tensor([families.index(c[2]) for c in B.CATEGORIES])
    p_family = (1 - topic_noise) * (family[:, None] == own[None, :]) + topic_noise / len(families)  # (N, 6)
    p_level = torch.tensor(_sentiment_level_given_score()).T[level]  # (N, 19)
    _, _, region = intensity_nodes()
    p_strength = (strength[:, None] == torch.tensor(region)[None, :]).double()  # (N, Q)
    return (p_family.double().log()[:, :, None, None] + p_level.log()[:, None, :, None]
            + p_strength.log()[:, None, None, :])


def audio_loglik(spectra: torch.Tensor, audio_noise: float = 1.6, chunk: int = 256) -> torch.Tensor:
    """``log P(jingle | c, s, z)`` up to a constant, shape ``(N, 6, 19, Q)``, marginalising the pitch
    jitter (+-1 bin) and the onset (first third of the frames). The mean of a jingle is the outer
    product of its loudness contour and its pitch band, so the Gaussian log-likelihood needs only
    the projection of each frame on each band (two numbers per pitch and onset)."""
    if not audio_noise > 0:
        raise ValueError("The audio limit needs audio_noise > 0: a noiseless jingle names its class exactly.")
    n, frames, bins = spectra.shape
    x = spectra.double()
    t = torch.linspace(-1, 1, frames, dtype=torch.float64)
    pitches = torch.arange(min(c[3] for c in B.CATEGORIES) - 1, max(c[3] for c in B.CATEGORIES) + 2)
    band = torch.exp(-0.5 * (torch.arange(bins)[None, :] - pitches[:, None]).double() ** 2)  # (P, bins)
    onsets = torch.arange(frames // 3)
    gate = (torch.arange(frames)[None, :] >= onsets[:, None]).double()  # (O, F)
    h = [(gate * t[None, :] ** k).sum(1) for k in range(3)]  # (O,) each
    energy = (band ** 2).sum(1)  # (P,)
    z, _, _ = intensity_nodes()
    level, by_z, by_s = B.LOUDNESS
    alpha = torch.tensor(level + by_z * z)  # (Q,)
    beta = torch.tensor(by_s * SCORES)  # (S,)
    quad = 0.5 * energy[:, None, None, None] * (
        alpha[None, None, None, :] ** 2 * h[0][None, :, None, None]
        + 2 * alpha[None, None, None, :] * beta[None, None, :, None] * h[1][None, :, None, None]
        + beta[None, None, :, None] ** 2 * h[2][None, :, None, None])  # (P, O, S, Q)
    col = {int(p): i for i, p in enumerate(pitches)}
    pitch_index = torch.tensor([[col[c[3] + j] for j in (-1, 0, 1)] for c in B.CATEGORIES])  # (6, 3)
    out = []
    for start in range(0, n, chunk):
        proj = torch.einsum("nfb,pb->npf", x[start:start + chunk], band)  # (n, P, F)
        g0 = torch.einsum("npf,of->npo", proj, gate)
        g1 = torch.einsum("npf,of->npo", proj * t, gate)
        ll = (g0[..., None, None] * alpha + g1[..., None, None] * beta[:, None] - quad) / audio_noise ** 2
        ll = ll[:, pitch_index]  # (n, 6, 3, O, S, Q)
        out.append(torch.logsumexp(ll.flatten(2, 3), dim=2) - math.log(ll.shape[2] * ll.shape[3]))
    return torch.cat(out)


def perfect_reader_loglik(labels: torch.Tensor) -> torch.Tensor:
    """A photo read perfectly: its digit, so ``log P(photo | c)`` is 0 for the categories that share
    the true category's digit and -inf otherwise; shape ``(N, 6)``."""
    digit = torch.tensor([c[1] for c in B.CATEGORIES])
    return torch.where(digit[labels][:, None] == digit[None, :], 0.0, -math.inf).double()


# ----------------------------------------------------------------------------- posteriors and limits
def posterior(evidence: dict) -> tuple:
    """``P(c | x)`` ``(N, 6)`` and ``P(s | x)`` ``(N, 19)`` from per-modality log-likelihoods:
    ``(N, 6, 19, Q)`` tensors (text, audio) or ``(N, 6)`` class-only ones (the photo)."""
    z, weights, _ = intensity_nodes()
    joint = (torch.tensor(score_given_class()).log()[:, :, None] + torch.tensor(weights).log()[None, None, :])[None]
    for ll in evidence.values():
        joint = joint + (ll[:, :, None, None] if ll.dim() == 2 else ll)
    joint = joint - torch.logsumexp(joint.flatten(1), 1)[:, None, None, None]  # uniform class prior
    p = joint.exp()
    return p.sum((2, 3)), p.sum((1, 3))


def bayes_scores(p_class: torch.Tensor, p_score: torch.Tensor) -> dict:
    """Per-sample Bayes accuracy ``max_c P(c|x)`` and expected absolute error at the posterior median."""
    cdf = p_score.cumsum(1)
    median = torch.tensor(SCORES)[(cdf < 0.5).sum(1)]
    abs_err = (p_score * (torch.tensor(SCORES)[None, :] - median[:, None]).abs()).sum(1)
    return {"accuracy": p_class.max(1).values.numpy(), "mae": abs_err.numpy()}


def realized_scores(p_class: torch.Tensor, p_score: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor) -> dict:
    """Per-sample hits of the posterior's argmax and absolute errors of its median on the true
    labels: what a classifier built on a *learned* likelihood actually achieves (its own confidence
    ``max_c P(c|x)`` need not be calibrated)."""
    cdf = p_score.cumsum(1)
    median = torch.tensor(SCORES)[(cdf < 0.5).sum(1)]
    return {"accuracy": (p_class.argmax(1) == labels).double().numpy(),
            "mae": (median - scores.double()).abs().numpy()}


def exact_text_accuracy(topic_noise: float = 0.25) -> float:
    """Bayes accuracy of the review alone by enumeration (no sampling): ``sum_{f,l} max_c P(c,f,l)``."""
    families = list(B.FAMILY_WORDS)
    own = np.array([families.index(c[2]) for c in B.CATEGORIES])
    p_family = (1 - topic_noise) * (np.arange(4)[:, None] == own[None, :]) + topic_noise / 4  # (f, c)
    p_level = score_given_class() @ _sentiment_level_given_score()  # (c, l)
    joint = p_family[:, :, None] * p_level[None, :, :] / len(B.CATEGORIES)  # (f, c, l)
    return float(joint.max(1).sum())


def evidence_of(split, readers: dict) -> dict:
    """Per-modality log-likelihoods of a benchmark split, one entry per image reader."""
    opts = split.meta.get("options", {})
    if opts.get("shared_traces", 1.0) != 1.0:
        raise ValueError(f"the limits are derived for shared_traces=1 (the jingle's loudness follows the review's "
                         f"mood), got {opts['shared_traces']}; draw the limit split with shared_traces=1. (The "
                         "photo's contrast is ignored by its readers, so the image and image+text limits do "
                         "not depend on it.)")
    shared = {"text": text_loglik(split.strings["text"], opts.get("topic_noise", 0.25)),
              "audio": audio_loglik(split.inputs["audio"], opts.get("audio_noise", 1.6))}
    return {name: {**shared, "image": read(split)} for name, read in readers.items()}


def subset_limits(evidence: dict, realized_on=None) -> dict:
    """Limits (accuracy and MAE, mean and interval) of every modality subset given its evidence:
    the Bayes expectations, or with ``realized_on`` (a split) the realized hits and errors on it."""
    out = {}
    for subset in SUBSETS:
        p_class, p_score = posterior({m: evidence[m] for m in subset})
        scores = (bayes_scores(p_class, p_score) if realized_on is None
                  else realized_scores(p_class, p_score, realized_on.label, realized_on.score))
        out[subset_name(subset)] = {k: interval(v) for k, v in scores.items()}
    return out


def train_image_reader(seed: int = 0, options: dict | None = None, epochs: int = 12,
                       n_train: int = READER_TRAIN, n_val: int = READER_VAL, progress: bool = False):
    """A CNN digit reader for the photo (the quick profile's image encoder, twice as wide), trained
    on ``n_train`` fresh photos from the training pool of scans with early stopping on validation."""
    from .baselines import UnimodalModel
    from .encoders import ImageCNN
    from .train import Trainer

    options = options or {}
    pools = B._digit_pools(seed)
    train = B.make_split(n_train, "train", seed + 1000, pools, **options).select_modalities(["image"])
    val = B.make_split(n_val, "val", seed + 1000, pools, **options).select_modalities(["image"])
    model = UnimodalModel(ImageCNN(1, 64, width=32), "image", 64, len(B.CATEGORIES))
    trainer = Trainer(model, TrainConfig(epochs=epochs, batch_size=256, lr=2e-3, patience=3, seed=seed), progress)
    trainer.fit(train, val)
    return trainer


def exact_limits(seed: int = 0, options: dict | None = None, n_test: int = LIMIT_TEST) -> dict:
    """Limits with the perfect digit reader (exact for text and audio, an upper bound with the
    photo) on a fresh test draw of ``n_test`` samples of the benchmark drawn with ``seed``."""
    options = dict(options or {})
    test = _limit_test_split(seed, options, n_test)
    evidence = evidence_of(test, {"perfect": lambda s: perfect_reader_loglik(s.label)})["perfect"]
    return {"limits": subset_limits(evidence), "exact_text_accuracy": exact_text_accuracy(
        options.get("topic_noise", 0.25)), "n_test": n_test}


def estimated_limits(seed: int = 0, options: dict | None = None, n_test: int = LIMIT_TEST,
                     reader_epochs: int = 12, n_reader: int = READER_TRAIN) -> dict:
    """Limits with the photo read by a CNN trained on ``n_reader`` photos (:func:`train_image_reader`):
    an estimate of what a learned photo encoder can reach, on the same test draw as :func:`exact_limits`:
    the realized accuracy and MAE of the posterior built on the reader's likelihood."""
    options = dict(options or {})
    reader = train_image_reader(seed, options, reader_epochs, n_train=n_reader)
    test = _limit_test_split(seed, options, n_test)

    def cnn_read(split):
        logits = reader.predict(split.select_modalities(["image"]))["logits"].double()
        return torch.log_softmax(logits, 1)  # uniform prior: P(c|photo) is the likelihood up to a constant

    evidence = evidence_of(test, {"cnn": cnn_read})["cnn"]
    return {"limits": subset_limits(evidence, realized_on=test), "reader_accuracy": reader.evaluate(test.select_modalities(["image"]))["accuracy"],
            "reader_epochs_run": reader.epoch, "n_reader": n_reader, "n_test": n_test}


def _limit_test_split(seed: int, options: dict, n_test: int):
    # the chapters' partition of the scans (so the reader never saw a test scan), a fresh draw of samples
    return B.make_split(n_test, "test", seed + 1000, B._digit_pools(seed), **options)


def limits_table(exact: dict, estimated: dict) -> dict:
    """The two computations as one table for :func:`limit_of`."""
    return {"limits": {"perfect": exact["limits"], "cnn": estimated["limits"]},
            "reader_accuracy": estimated["reader_accuracy"], "exact_text_accuracy": exact["exact_text_accuracy"]}


#: Other names of the benchmark's modalities: TRML's video is the photo panned over a few frames.
ALIASES = {"video": "image"}


def limit_of(table: dict, modalities, metric: str = "accuracy") -> dict:
    """The limit of the subset ``modalities`` (any order; ``video`` is the photo, :data:`ALIASES`):
    the CNN-reader estimate when the photo is in it, the exact value otherwise; with the
    perfect-reader bound as ``bound`` where they differ."""
    seen = {ALIASES.get(m, m) for m in modalities}
    subset = subset_name(m for m in B.MODALITIES if m in seen)
    if not subset or seen - set(B.MODALITIES) or subset not in table["limits"]["cnn"]:
        raise KeyError(f"No limit for modalities {modalities!r}; the benchmark's are {list(B.MODALITIES)}.")
    estimate = table["limits"]["cnn"][subset][metric]
    exact = table["limits"]["perfect"][subset][metric]
    if "image" not in subset:
        return {**exact, "kind": "exact"}
    return {**estimate, "kind": "estimate", "bound": exact["mean"]}


def retrieval_limit(batch_size: int, redundancy: float, n_brands: int = len(B.BRANDS)) -> float:
    """Chance that a retriever which sees only the brand picks a sample's own partner out of a batch
    of ``batch_size`` (uniformly among the candidates that share its brand, or that are unbranded):
    ``r f(r / K) + (1 - r) f(1 - r)`` with ``f(p) = (1 - (1 - p)^B) / (B p)``. Other shared content
    (category, mood, intensity) can only raise it; chance is ``1 / B``."""
    def f(p):
        return 1.0 if p == 0 else (1 - (1 - p) ** batch_size) / (batch_size * p)

    r = redundancy
    return r * f(r / n_brands) + (1 - r) * f(1 - r)


def describe(entry: dict, scale: float = 100.0, digits: int = 1, better: str = "higher") -> str:
    """One limit as text: ``"95.6 [95.3, 95.9]"`` (exact posterior) or, with the photo,
    ``"93.9 [93.6, 94.2] est., <= 95.6"`` (CNN reader, and the perfect reader's bound; ``>=`` for
    an error, where lower is better)."""
    lo, mid, hi = (entry[k] * scale for k in ("low", "mean", "high"))
    text = f"{mid:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
    if entry.get("kind") == "estimate":
        text += f" est., {'<=' if better == 'higher' else '>='} {entry['bound'] * scale:.{digits}f}"
    return text


def limits_rows(table: dict) -> dict:
    """``{subset: {"accuracy (%)": text, "MAE": text}}`` for :func:`rmm_lib.reporting.format_table`."""
    return {subset_name(subset): {"accuracy (%)": describe(limit_of(table, subset, "accuracy")),
                                  "MAE": describe(limit_of(table, subset, "mae"), 1.0, 3, better="lower")}
            for subset in SUBSETS}


def limit_under_masks(table: dict, presence, modalities, metric: str = "accuracy") -> dict:
    """The limit of a test set whose samples see different modality subsets (``presence``,
    ``(N, M)`` over ``modalities``): the mean of each sample's subset limit. Its ``low``/``high``
    average the subsets' intervals; ``bound`` (with the photo) averages the perfect-reader values.
    A sample with no modality present would have the prior's limit; it is refused."""
    present = np.asarray(presence, dtype=bool)
    if present.ndim != 2 or present.shape[1] != len(modalities):
        raise ValueError(f"presence must be (N, {len(modalities)}) over {list(modalities)}, got {present.shape}.")
    if not present.any(1).all():
        raise ValueError("A sample has no modality present; every protocol here keeps at least one.")
    patterns, counts = np.unique(present, axis=0, return_counts=True)
    weights = counts / counts.sum()
    out = {"mean": 0.0, "low": 0.0, "high": 0.0, "bound": 0.0}
    kinds = set()
    for pattern, w in zip(patterns, weights):
        entry = limit_of(table, [m for m, p in zip(modalities, pattern) if p], metric)
        kinds.add(entry["kind"])
        for k in ("mean", "low", "high"):
            out[k] += w * entry[k]
        out["bound"] += w * entry.get("bound", entry["mean"])
    out["kind"] = "estimate" if "estimate" in kinds else "exact"
    if out["kind"] == "exact":
        out.pop("bound")
    return out
