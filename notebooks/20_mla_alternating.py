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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/20_mla_alternating.ipynb)
#
# # MLA 2.1: alternating unimodal learning
#
# MLA (Zhang, Yoon, Bansal and Yao, CVPR 2024) starts from an observation about joint training.
# When every modality's encoder is trained at once through one fused prediction, the modality that
# is easiest to fit reduces the loss first, and the gradient left for the others shrinks: they stay
# under-trained. The paper calls this **modality laziness**. Its remedy is to never train two
# modalities in the same step.
#
# Every modality $m$ has its own encoder $h_m$; one linear head $g$ is shared by all of them, so
# each modality's prediction is $f_m = g \circ h_m$. Iteration $t$ trains a single modality,
#
# $$m_t = t \bmod M, \qquad (1)$$
#
# on the loss of that modality alone,
#
# $$\mathcal{L}_t = \mathbb{E}_{(x, y) \sim \mathcal{D}_{m_t}}\big[\ell\big(g(h_{m_t}(x; \theta_{m_t}); \phi), y\big)\big]. \qquad (2)$$
#
# Because step $m$ only needs samples that *have* modality $m$, MLA never needs paired data: a
# sample without a modality simply never feeds that modality's step. This notebook makes laziness
# visible on the embedded benchmark and shows what alternation changes.


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
# ## Data and the two models
#
# We use the embedded benchmark (three modalities, six classes; see notebook 00). Its photo is the
# dominant modality, its review text the weaker one. In the `paper` profile the same cells run on
# CREMA-D with ResNet-18 encoders and the appendix's SGD settings.
#
# Both models use the same encoders, trainer and budget. `Concat` fuses the encoders' features
# into one linear head and trains everything jointly; `MLA` is `rmm_lib.methods.mla.MLA`, whose
# `training_step` hook implements Eq. 2 and whose `steps_per_batch` makes the trainer take one step
# per modality for every batch (Eq. 1).

# %%
from rmm_lib.experiments import fit_with_unimodal_curves
from rmm_lib.plots import plot_curves
from rmm_lib.recipes.mla import chapter_splits, chapter_trainer

splits = chapter_splits(PROFILE, "cremad")
train, test = splits["train"], splits["test"]
mla = chapter_trainer(PROFILE, splits, "mla")
print("modalities:", train.modalities, "| steps per batch:", mla.model.steps_per_batch)
print("cycle of Eq. 1:", [mla.model.modality_at(t) for t in range(7)])

# %% [markdown]
# ## Training curves, one modality at a time
#
# After every epoch we measure each modality's accuracy **alone**: the test set with every other
# modality absent. For Concat that is the model's own head with the other features zeroed; for MLA
# it is $f_m$ directly. The curves show where each model spends its learning.

# %%
epochs = mla.config.epochs
concat = chapter_trainer(PROFILE, splits, "concat")
curves = {"Concat": fit_with_unimodal_curves(concat, train, test, epochs),
          "MLA": fit_with_unimodal_curves(mla, train, test, epochs)}

import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, (name, c) in zip(axes, curves.items()):
    plot_curves(range(1, epochs + 1), c, "epoch", "test accuracy", ax=ax, title=name)
fig.tight_layout()

# %% [markdown]
# The numbers at the end of training:

# %%
# NBVAL_CHECK_OUTPUT
for name, c in curves.items():
    print(f"{name:7s}", "  ".join(f"{k} {v[-1]:.2f}" for k, v in c.items()))

# %% [markdown]
# Joint training leaves the text encoder far behind what MLA gets from the same encoder: the text
# and image accuracies of MLA are clearly higher, although every encoder took exactly as many
# optimiser steps in both models. That is modality laziness, and alternation removes most of it.
# Whether this also lifts the *fused* accuracy depends on how the unimodal predictions are
# combined at test time (Sec. 2.3, notebook 22) -- on this benchmark, with this small budget,
# the fused accuracy of the two models is close.
#
# Unpaired data need nothing special. Below, every training sample keeps exactly one modality, so
# no sample is multimodal at all; MLA still trains every encoder and the head.

# %%
import numpy as np

n = len(train)
one_each = np.zeros((n, len(train.modalities)), dtype=bool)
one_each[np.arange(n), np.arange(n) % len(train.modalities)] = True
unpaired = chapter_trainer(PROFILE, splits, "mla")
unpaired.fit(train.with_presence(one_each))

# %%
# NBVAL_CHECK_OUTPUT
from rmm_lib.experiments import unimodal_accuracies

print("MLA trained on unpaired data (one modality per sample):")
print("  ".join(f"{k} {v:.2f}" for k, v in unimodal_accuracies(unpaired, test).items()))
