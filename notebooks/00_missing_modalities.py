# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/00_missing_modalities.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
#
# # When a modality goes missing
#
# A multimodal model is trained on, say, images with their captions, or video with its audio and
# transcript. In use, one of those inputs is often gone: a camera fails, a post has no picture, a
# speaker is off-screen, a licence forbids keeping the audio. The three papers of this book attack
# that situation from three sides:
#
# * **TRML** generates a *virtual* version of the missing modality from the present one and
#   aligns it with the real one;
# * **MLA** trains one modality at a time through a shared head, so that no modality depends on the
#   others being there, and fuses only what is present at test time;
# * **CMPT** adds one *proxy token* per modality that learns to stand in for the other modality's
#   class token.
#
# This first notebook sets up what they share: the missing-modality protocols each paper evaluates
# with, a small benchmark that runs on a laptop CPU, and a plain fusion baseline whose accuracy
# falls as modalities go missing -- the problem the later chapters solve.

# %% tags=["hide-input"]
# Setup: install rmm_lib when it is missing (Colab); read the run profile in one place.
import importlib.util
import os
import subprocess
import sys

RMM_SOURCE = "git+https://github.com/rmm-book/rmm"
if importlib.util.find_spec("rmm_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", RMM_SOURCE], check=True)
# os.environ["RMM_PROFILE"] = "paper"  # the papers' settings, on a GPU
from rmm_lib.notebook import setup

PROFILE = setup()  # RMM_PROFILE: "quick" (default, CPU, minutes) or "paper"

# %% [markdown]
# ## The embedded benchmark
#
# `rmm_lib` generates a three-modality dataset from a seed in seconds, offline. Each sample is a
# product review recorded three ways: a photo of the product's label (a real handwritten digit
# from scikit-learn), the review sentence (real English words) and a spectrogram of the product's
# jingle. Every sample has a category (six classes) and a sentiment score in $[-3, 3]$. Four in
# five products also carry a *brand*, a sticker in the photo's corners that the review names: it
# says nothing about the label, but it ties a photo to its own review. The
# [benchmark page](../book/benchmark.md) tells the generative story; here we only look at it.
# Every quick-profile chapter uses this one testbed (`make_testbed`: 1,200 / 300 / 600 samples,
# benchmark seed 0). (In the `paper` profile this notebook draws a ten times larger benchmark and
# trains with a paper-scale budget; the papers' own datasets enter in their chapters.)

# %%
import numpy as np

from rmm_lib import missing
from rmm_lib.data import CLASS_NAMES, MODALITIES, TESTBED, make_testbed
from rmm_lib.plots import plot_benchmark_samples, plot_presence

splits = make_testbed(PROFILE.n_train, PROFILE.n_val, PROFILE.n_test, seed=0)
train, val, test = splits["train"], splits["val"], splits["test"]
plot_benchmark_samples(test, n=5);

# %% [markdown]
# The tensors behind the pictures, and the class balance of the training split:

# %%
# NBVAL_CHECK_OUTPUT
for name, tensor in train.inputs.items():
    print(f"{name:6s} {tuple(tensor.shape)} {tensor.dtype}")
print("classes:", dict(zip(CLASS_NAMES, np.bincount(train.label.numpy()).tolist())))
print("text example:", repr(train.strings["text"][0]))

# %% [markdown]
# ## What each modality can tell, at most
#
# Because we generate the data, we can invert the generative story: for a test sample seen
# through a subset of its modalities, compute the exact posterior over its category and score,
# marginalising every hidden draw (`rmm_lib.limits`). The best possible accuracy is the mean of
# the posterior's top probability, the best possible MAE its expected distance to the posterior
# median, each over 20,000 fresh test samples with a 95 % interval. The review and the jingle have
# exact likelihoods. The photo's only cue to the category is its digit, read two ways: by a
# *perfect reader* (an exact bound: soup and stew share digit 7, so the photo alone is a coin flip
# between them) and by a CNN trained on 60,000 photos, 50 times the quick training split (an
# estimate, marked `est.`; a better reader could only do better). No model trained on this
# benchmark can beat the limit of the modalities it sees at test.

# %%
from rmm_lib import limits as L
from rmm_lib.grids.limits import benchmark_limits
from rmm_lib.reporting import show_table

LIMITS = benchmark_limits()

# %%
# NBVAL_CHECK_OUTPUT
show_table(L.limits_rows(LIMITS), title="Information limits of the testbed", best=None)
print(f"CNN digit reader (60,000 training photos): {LIMITS['reader_accuracy']:.3f} on the fresh test draw")
print(f"review alone by enumeration (no sampling): {100 * LIMITS['exact_text_accuracy']:.1f}")
print(f"finding a review's own photo in a batch of 64 from the brand alone: "
      f"{L.retrieval_limit(64, TESTBED['redundancy']):.3f} (chance {1 / 64:.3f})")

# %% [markdown]
# The photo is the most informative single modality (at most 83.1 %: soup and stew share a digit),
# the review next (66.8 %: it names a family and a mood, and the family separates neither tea from
# coffee nor bread from cake), the jingle weakest (55.2 %). They complement each other: photo and
# review together allow 93.8-95.8 %, all three 95.5-97.2 %. The CNN reader falls three points short
# of a perfect digit reader (80.0 against 83.1 with the photo alone), so the estimates with the
# photo are lower bounds of the true limits and the perfect-reader values upper bounds. Two
# consequences for the chapters: a model that sees only the review at test -- TRML's Setting A
# with the visual missing, CMPT with the image absent -- can score at most 66.8 %, whatever stands in
# for the photo; and the review carries almost all there is to know about the sentiment score (an
# MAE of 0.455 alone, 0.432 with everything). The brand, finally, lets a review find its own photo
# in a batch of 64 about a quarter of the time (0.256), sixteen times chance.

# %% [markdown]
# ## Missing-modality protocols as pictures
#
# Absence is recorded in a **presence mask** $\pi \in \{0, 1\}^{N \times M}$ (one row per sample,
# one column per modality) and, in the inputs, by a placeholder: zeros for images and audio, the
# empty string (all padding) for text. Each paper draws its masks differently.
#
# * **TRML** names a *victim* modality: "T→V" means the visual modality is missing and must be
#   inferred from text. In *Setting A* the victim is kept for only a fraction $p$ (10%) of the
#   training samples and is absent from every test sample; in *Setting B* it is missing at the same
#   rate $1-p$ in training and test.
# * **MLA** drops every modality of every sample with probability $\eta$ (0.1 to 0.7), the same in
#   train, validation and test, and gives one modality back to any sample left with none.
# * **CMPT** follows the missing-aware-prompt protocol: $\eta = 70\%$ of the samples lack the
#   text, the image, or -- for "both" -- half of them lack text and half lack the image.
#
# Each panel shows 40 samples (columns) of one protocol's test split; blue is present.

# %%
n = len(test)
two = ("image", "text")
trml_a = missing.trml_setting_a(len(train), len(val), n, two, victim="T->V", kept=0.1, seed=0)
trml_b = missing.trml_setting_b(len(train), len(val), n, two, victim="T->V", kept=0.1, seed=0)
masks = {
    "TRML A, T->V (train)": trml_a["train"],
    "TRML A, T->V (test)": trml_a["test"],
    "TRML B, T->V (test)": trml_b["test"],
    "MLA eta=0.3": missing.mla_random_missing(n, MODALITIES, 0.3, seed=0),
    "MLA eta=0.7": missing.mla_random_missing(n, MODALITIES, 0.7, seed=0),
    "CMPT 70% text": missing.map_missing(n, "text", 0.7, two, seed=0),
    "CMPT 70% image": missing.map_missing(n, "image", 0.7, two, seed=0),
    "CMPT 70% both": missing.map_missing(n, "both", 0.7, two, seed=0),
}
plot_presence({k: v for k, v in masks.items() if v.shape[1] == 2}, two, ncols=3);

# %%
plot_presence({k: v for k, v in masks.items() if v.shape[1] == 3}, MODALITIES, ncols=2);

# %% [markdown]
# The counts are exact where a protocol fixes a fraction of samples. MLA's protocol is a coin flip
# per sample and modality, and giving an emptied sample one modality back lowers the real rate to
# $\eta - \eta^M / M$ in expectation -- 0.586 rather than 0.7 for three modalities. The paper
# reports its results by $\eta$; we print both.

# %%
# NBVAL_CHECK_OUTPUT
for name, mask in masks.items():
    cols = two if mask.shape[1] == 2 else MODALITIES
    rates = ", ".join(f"{m} {r:.3f}" for m, r in missing.missing_rates(mask, cols).items())
    print(f"{name:22s} missing: {rates}")
print(f"MLA expected per-modality rate at eta=0.7, M=3: {missing.mla_expected_rate(0.7, 3):.3f}")

# %% [markdown]
# ## A baseline, and what missing modalities cost it
#
# Our baseline is the plainest fusion model: one small encoder per modality (a CNN for the photo,
# a bag of word embeddings for the text, a one-layer transformer for the spectrogram), their
# features concatenated, one linear head. It is trained on complete data with Adam, to
# convergence: up to 60 epochs, keeping the epoch with the best *validation* accuracy and stopping
# after six without improvement -- the same trainer every method in this book uses. Beside it,
# each modality alone (the unimodal *lower bound* of TRML's tables), which is also the book's
# **reference model** of each modality: every chapter compares its own encoders with it.
#
# Every number below is a mean over five model seeds on the same testbed, with its 95 % Student-t
# interval; a comparison is the paired difference over seeds, called real only when its interval
# excludes zero. The runs are a grid (`python -m rmm_lib grid intro`) kept as a record in
# `results/intro.json`; the next cell reads it, or computes it when the record does not match the
# code's configuration.

# %% tags=["hide-input"]
# The records of grid `intro` (python -m rmm_lib grid intro) and a helper that reads them.
from rmm_lib import stats as S
from rmm_lib.grids import intro as G
from rmm_lib.records import results

GRID = G.grid_for(PROFILE)
runs = G.by_model(results(GRID))


def accuracies(model, key="accuracy"):
    return [r["test"][key] for r in runs[model]]


# %%
# NBVAL_CHECK_OUTPUT
rows = {f"{m} only (LB)": {"accuracy (%)": S.fmt(S.mean_interval(accuracies(f"lb:{m}"))),
                           "limit of what it sees": L.describe(L.limit_of(LIMITS, [m]))} for m in MODALITIES}
rows["concat (all three)"] = {"accuracy (%)": S.fmt(S.mean_interval(accuracies("concat"))),
                              "limit of what it sees": L.describe(L.limit_of(LIMITS, MODALITIES))}
show_table(rows, title=f"Test accuracy over {len(runs['concat'])} model seeds", best=None)
best = max(MODALITIES, key=lambda m: np.mean(accuracies(f"lb:{m}")))
gain = S.paired_difference(accuracies("concat"), accuracies(f"lb:{best}"))
print(f"concat - {best} only: {S.fmt_diff(gain)} points ({S.verdict(gain)})")
epochs = [r["best_epoch"] for rs in runs.values() for r in rs]
print(f"selected epochs: {min(epochs)}-{max(epochs)} of at most {GRID.config['train']['epochs']}")

# %% [markdown]
# Each modality alone falls short of its limit -- the photo by 4.4 points (75.6 against the 80.0 of
# the reader trained on 60,000 photos), the review by 7.8, the jingle by 2.3: the cost of learning
# from 1,200 samples. Concat gains 10.2 points [8.9, 11.5] over the photo alone, a real difference,
# yet stays about ten points below what the three modalities allow. The testbed leaves room above
# every baseline, so a method that fails to improve on them is not held back by the data. The
# intervals are over model seeds on one test draw of 600 samples; a claim about the benchmark
# rather than the model also carries that draw's own noise, about 2.8 points either way for an
# accuracy near 0.86 (binomial).
#
# The same model regresses the sentiment score with an L1 loss (TRML names mean absolute error as
# its task loss on CMU-MOSI/MOSEI). Those benchmarks are reported with MAE and binary accuracy
# *Acc-2*, which comes in two conventions that differ only on samples whose true score is exactly
# 0: *negative vs positive* leaves them out, *negative vs non-negative* counts them as positive.
# `rmm_lib.metrics` reports both (`acc2`, `acc2_has0`).

# %%
# NBVAL_CHECK_OUTPUT
print(f"concat, sentiment MAE: {S.fmt(S.mean_interval(accuracies('concat:regression', 'mae')), 1, 3)}")
for key in ("acc2", "acc2_has0"):
    print(f"concat, sentiment {key} (%): {S.fmt(S.mean_interval(accuracies('concat:regression', key)))}")
print(f"limit of all three, MAE: {L.describe(L.limit_of(LIMITS, MODALITIES, 'mae'), 1, 3, better='lower')}")
print(f"test samples with a score of exactly 0: {int((test.score == 0).sum())} of {len(test)}")

# %% [markdown]
# The regression's MAE, 0.642 [0.619, 0.665], is far above the limit of about 0.43: a small model
# that learns the score from 1,200 samples is well short of the posterior median, which has the
# meaning of every word built in. The two Acc-2 conventions differ by 3.7 points, because 72 of the
# 600 test scores are exactly zero.
#
# Joint training can also under-use the weaker modalities -- MLA's *modality laziness*. A linear
# probe on each encoder taken out of the trained Concat model (frozen) shows how much that encoder
# learned, next to the same modality trained alone:

# %%
# NBVAL_CHECK_OUTPUT
for m in MODALITIES:
    probe = [r["probes"][m] for r in runs["concat"]]
    lazy = S.paired_difference(probe, accuracies(f"lb:{m}"))
    print(f"{m:6s} encoder from concat: {S.fmt(S.mean_interval(probe))}   trained alone: "
          f"{S.fmt(S.mean_interval(accuracies(f'lb:{m}')))}   difference {S.fmt_diff(lazy)} ({S.verdict(lazy)})")

# %% [markdown]
# Every encoder taken out of Concat is below the same modality trained alone. For the review the
# loss is large and real, 12.2 points [8.8, 15.5] -- the laziness MLA is about -- and for the photo
# small but real, 2.7 points [1.3, 4.1]. The jingle's 3.1-point loss has an interval that includes
# zero: no measurable difference.
#
# Now take modalities away at test time, MLA-style, at rates from 0 to 70%, from the model trained
# on complete data. We also retrain at each rate, with the same rate in training and test, as MLA's
# Table 2 does.

# %%
# NBVAL_CHECK_OUTPUT
rates = GRID.config["rates"]
complete_train = {r: [c["under_masks"][str(r)]["accuracy"] for c in runs["concat"]] for r in rates}
same_rate = {r: complete_train[r] if r == 0 else accuracies(f"same_rate:{r}") for r in rates}
show_table({f"eta = {r:.1f}": {
    "trained complete": S.fmt(S.mean_interval(complete_train[r])),
    "trained at the same rate": S.fmt(S.mean_interval(same_rate[r])),
    "same rate - complete": None if r == 0 else (lambda d: f"{S.fmt_diff(d)} ({S.verdict(d)})")(
        S.paired_difference(same_rate[r], complete_train[r]))} for r in rates},
    title="Concat's test accuracy (%) as modalities go missing, 5 seeds", best=None)

# %% tags=["hide-input"]
from rmm_lib.plots import plot_metric_curve


plot_metric_curve(rates, {"concat, trained complete": S.bands(complete_train[r] for r in rates),
                          "concat, trained at the same rate": S.bands(same_rate[r] for r in rates)},
                  limits={"limit, all three present": L.limit_of(LIMITS, MODALITIES)["mean"]},
                  title="Concat fusion as modalities go missing (5 seeds, 95% band)");

# %% [markdown]
# Accuracy falls steadily with the missing rate, from 85.8 with every modality present to 56.6 at
# $\eta = 0.7$. Retraining at the same rate makes no measurable difference at any rate: every paired
# interval includes zero (and every point estimate is slightly negative). A plain fusion model has
# no mechanism that makes use of what remains -- the starting point of the three methods.
#
# Not every class loses alike, as the per-class view shows (mean over the five seeds, with the
# spread of the seeds as error bars): every rate side by side, then the same frames behind a slider
# that works in the rendered page. With a kernel (Colab, Jupyter), the last cell's slider
# re-evaluates live.

# %%
from rmm_lib.widgets import Frame, Layout, Series, Slider

slider_rates = GRID.config["slider_rates"]


def evaluate_at(rate):
    per_class = np.array([c["under_masks"][str(rate)]["per_class"] for c in runs["concat"]])
    acc = S.mean_interval([c["under_masks"][str(rate)]["accuracy"] for c in runs["concat"]])
    spread = {"mean": per_class.mean(0), "low": per_class.min(0), "high": per_class.max(0)}
    return Frame([Series.bars("concat: mean, seeds' spread", spread)],
                 title=f"eta = {rate:.0%}: accuracy {S.fmt(acc, 1, 2)}")


view = Slider(evaluate_at, slider_rates, Layout(x=CLASS_NAMES, x_title="class", y_title="test accuracy",
                                                y_range=(0, 1), slider_label="missing rate eta"))
view.small_multiples(ncols=4);

# %%
view.interactive()

# %% tags=["remove-output"]
view.live();

# %% [markdown]
# ## Where this goes next
#
# The rest of the book replaces this baseline with the three methods and runs them under the
# protocols above, on this benchmark and -- in the `paper` profile -- on the papers' datasets. The
# chapter plan lists what each chapter reproduces.
