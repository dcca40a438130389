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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/23_mla_experiments.ipynb)
#
# # MLA 3: the experiments, in the paper's form
#
# This notebook reruns MLA's experiments through the table specifications in
# `rmm_lib.tables.mla`: each spec holds the paper's numbers (transcribed exactly), its dataset,
# backbones and App. A.3 hyperparameters, and a `run` function. In the `quick` profile every spec
# runs on the embedded benchmark with small encoders and a few epochs of Adam; in the `paper`
# profile the same cells load the spec's dataset and train with SGD (lr $10^{-3}$, momentum 0.9,
# batch 64, step decay 0.1) on the paper's backbones.
#
# The benchmark's three modalities (image, text, audio) line up with IEMOCAP's columns in the
# paper, so IEMOCAP's numbers are printed under ours, labelled `(paper)`. They are a different
# dataset with different encoders: compare the *patterns* (which method lifts the weaker
# modalities, which fuses best), not the values. Models are trained once and shared between
# tables.


# %%
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
# ## Table 1: complete modalities
#
# Every baseline of the paper's Table 1, on the same encoders and trainer: Sum, Concat, Late
# fusion (each encoder and head trained on its own modality, outputs averaged, as App. A.2
# describes), FiLM (text conditions the others), BiGated (text gates the others), OGM-GE (on
# Concat), QMF (late fusion with energy-weighted outputs and a ranking regulariser) and MLA. A
# modality's column is the model's accuracy when every other modality is absent at test time.

# %%
from rmm_lib.context import Assets
from rmm_lib.recipes.mla import context
from rmm_lib.reporting import format_table
from rmm_lib.tables import get

ASSETS = Assets()  # every table of this page shares its trained models (each model is trained once)

QUICK = PROFILE.name == "quick"
table1_keys = ["mla.table1_iemocap"] if QUICK else [
    f"mla.table1_{d}" for d in ("cremad", "kinetics_sounds", "food101", "iemocap")]
table1 = {}
for key in table1_keys:
    ctx = context(get(key), PROFILE, ASSETS)
    table1[key] = ctx.spec.run(ctx)

# %%
# NBVAL_CHECK_OUTPUT
for key, result in table1.items():
    print(key, "(accuracy %; the paper's rows under ours)")
    print(format_table(result, context(get(key), PROFILE, ASSETS).spec.paper_numbers))

# %% [markdown]
# The pattern of the paper's Table 1 appears where it is about laziness: the jointly trained
# fusions (Sum, Concat, FiLM, BiGated, OGM-GE) leave the image and above all the text well below
# what the models that train each modality on its own loss reach (Late fusion, QMF, MLA): text
# 16-33 % against 37-40 %, image 18-53 % against about 60 %. The audio column is close for all but
# FiLM (41-45 %). FiLM and BiGated make the conditioning modality (text) nearly useless on its own:
# it only modulates the others. On the fused ("Multi") accuracy MLA does not win on the benchmark
# with this budget; Late fusion does, by 7 points (76.00 against 69.00), more than the noise of one
# run on 400 test samples (a standard error of about 2.3 points). In the paper MLA is the best
# fusion (78.92) and text is IEMOCAP's strongest modality (65.16-75.03); on the benchmark text is
# the weakest, so the columns match by name, not by role.
#
# ## Table 2: missing modalities at train and test time
#
# Each modality of each sample is dropped with probability $\eta$ in train, validation and test
# alike (an emptied sample gets one modality back). MLA is compared with Late fusion and QMF, the
# paper's strongest general baselines; the paper's other rows (CCA ... TATE) are printed for
# reference only.

# %%
from rmm_lib.tables.mla import ETAS

rates = (0.1, 0.4, 0.7) if QUICK else ETAS
ctx2 = context(get("mla.table2"), PROFILE, ASSETS, rates=rates)
table2 = ctx2.spec.run(ctx2)

# %%
# NBVAL_CHECK_OUTPUT
print(format_table(table2, ctx2.spec.paper_numbers, columns=list(table2["MLA"])))

# %% [markdown]
# MLA is the lowest of the three at every rate here, where the paper has it above every row. Late
# fusion leads, as in Table 1, by 7.0, 5.0 and 3.0 points at $\eta$ = 10, 40 and 70 %; the last is
# within the noise of one run, so this does not show a trend. MLA's gap to QMF (3.75, 2.0 and 1.25 points) is within
# the noise of one run.
#
# The slider shows one missing rate at a time; the static panels below it show every rate for the
# rendered book.

# %%
from rmm_lib.plots import plot_method_bars
from rmm_lib.widgets import missing_rate_slider, static_view


def at_rate(rate):
    col = f"{int(round(rate * 100))}"
    return {m: row[col] for m, row in table2.items()}, {m: ctx2.spec.paper_numbers[m][col] for m in table2}


def draw(result, ax, rate):
    ours, paper = result
    plot_method_bars(ours, paper, ax=ax, title=f"eta = {rate:.0%}", ylim=(0, 100))


static_view(at_rate, rates, draw, ncols=len(rates));

# %%
missing_rate_slider(at_rate, list(rates), draw);

# %% [markdown]
# ## Table 3: ablation of head gradient modification (HGM) and dynamic fusion (DF)
#
# HGM is a training choice (two models); DF is a test-time choice (entropy weights of Eq. 7 or
# equal weights), so each model is evaluated both ways.

# %%
# NBVAL_CHECK_OUTPUT
ctx3 = context(get("mla.table3_iemocap" if QUICK else "mla.table3_cremad"), PROFILE, ASSETS)
print(format_table(ctx3.spec.run(ctx3), ctx3.spec.paper_numbers))

# %% [markdown]
# In the paper both components help, and together they help most. On the benchmark neither does:
# the projection leaves the unimodal accuracies where they were (within a point) and lowers the
# fused one by 1.0 and 2.5 points, and dynamic fusion is 1.25 and 2.75 points below equal weights
# (notebooks 21 and 22 look at why). All four fused accuracies lie between 69.00 and 72.75, within
# the noise of one run, so the table shows no gain from either component rather than a loss. What
# carries MLA here is alternation itself.
#
# ## Fig. 2: isolation of the modalities
#
# A growing share of the training samples lose their image; we measure the accuracy of the *text*
# alone. If the modalities are learned in isolation, the text accuracy should not depend on how
# many images the training set had. The paper shows this for MLA against QMF on Kinetics-Sounds.

# %%
from rmm_lib.plots import plot_curves

ctx_f2 = context(get("mla.fig2"), PROFILE, ASSETS, kept="text", masked="image", rates=(0.0, 0.5, 0.9)) if QUICK else \
    context(get("mla.fig2"), PROFILE, ASSETS, kept="video", masked="audio")
fig2 = ctx_f2.spec.run(ctx_f2)
cols = list(next(iter(fig2.values())))
plot_curves([int(c) for c in cols], {m: [fig2[m][c] for c in cols] for m in fig2},
            f"{ctx_f2.table.masked} missing in training (%)", f"{ctx_f2.table.kept}-only accuracy (%)");

# %%
# NBVAL_CHECK_OUTPUT
for method, row in fig2.items():
    print(f"{method:4s}", "  ".join(f"{k}%: {v:.2f}" for k, v in row.items()))

# %% [markdown]
# Both curves are flat on the benchmark: MLA's text accuracy moves by about a point as the images
# disappear from training, and so does QMF's. QMF also trains each modality on its own loss
# (beside the fused one), so here it is isolated too; the paper's Fig. 2 shows QMF's accuracy
# falling on Kinetics-Sounds.
#
# ## Fig. 3: the modality gap
#
# Liang et al. (2022) measure the gap between two modalities' embeddings as the distance between
# the centroids of their L2-normalised features. The paper finds MLA's image-text gap on Food-101
# larger than Concat's. Here are both, on the benchmark's test set.

# %%
import matplotlib.pyplot as plt

from rmm_lib.plots import plot_modality_gap
from rmm_lib.recipes.mla import encoder_features, fit
from rmm_lib.tables.mla import METHODS

ctx_f3 = context(get("mla.fig3"), PROFILE, ASSETS)
fig3 = ctx_f3.spec.run(ctx_f3)
fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6))
for ax, method in zip(axes, ("Concat", "MLA")):
    feats = encoder_features(fit(ctx_f3, METHODS[method]), ctx_f3.splits["test"])
    plot_modality_gap(feats["image"], feats["text"], ("image", "text"), ax=ax, title=method)
fig.tight_layout()

# %%
# NBVAL_CHECK_OUTPUT
for method, row in fig3.items():
    print(f"{method:7s} image-text gap {row['gap']:.2f}, multi accuracy {row['Multi']:.2f}")

# %% [markdown]
# The two gaps are the same on the benchmark (0.80 each): with small encoders trained from scratch,
# MLA does not push the image and text features further apart than joint training does. The paper's
# larger gap for MLA comes from pretrained M3AE encoders on Food-101.
# %% [markdown]
# ## The released code beside the paper
#
# The authors' released code differs from the paper in ways the book's facts page lists: its
# projection never runs (a parameter-name check does not match the head), its $\mathbf{P}$ is
# divided by its Frobenius norm, and its test-time fusion takes the softmax over the batch axis,
# giving one weight per modality per batch. `released_mla` reproduces that behaviour (written from
# the description, not from their code). Both are trained on complete data and at $\eta = 0.5$.

# %%
# NBVAL_CHECK_OUTPUT
ctx_r = context(get("mla.released"), PROFILE, ASSETS)
print(format_table(ctx_r.spec.run(ctx_r)))

# %% [markdown]
# The image and audio columns barely move (the audio by half a point) -- without the projection,
# training is the same alternation -- but the text column (40.00 to 36.25) and the fused accuracy
# fall: the batch-axis rule fuses every modality whether present or not (the released code
# zero-fills dropped features) and gives one weight per modality per batch. That costs 9.25 points
# of fused accuracy with complete data (59.75 against 69.00) and 8.25 at $\eta = 0.5$ (41.50 against
# 49.75). A reader who reruns the released code gets alternation without the paper's projection and
# with a different fusion rule.
