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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/32_cmpt_fusion.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
#
# # CMPT 3.4-3.5: gating, fusion and missing modalities in training
#
# After the encoders, CMPT holds four tokens per sample: two class tokens and two proxies. A
# **gate** decides which two are summed:
#
# \begin{equation*}
# \mathcal{T} = \begin{cases}
# \hat{\mathcal{T}}_{\mathrm{CLS},m_1} + \hat{\mathcal{T}}_{\mathrm{CLS},m_2} & \text{both present,}\\
# \hat{\mathcal{T}}_{\mathrm{CLS},m_2} + \hat{\mathcal{T}}_{\mathrm{CMPT},m_2} & m_1 \text{ missing,}\\
# \hat{\mathcal{T}}_{\mathrm{CLS},m_1} + \hat{\mathcal{T}}_{\mathrm{CMPT},m_1} & m_2 \text{ missing,}
# \end{cases} \tag{5}
# \end{equation*}
#
# and a linear head predicts from $\mathcal{T}$,
#
# $$\hat y = h(\mathcal{T}; \Theta_h). \tag{6}$$
#
# The LoRA factors of both encoders and the head learn from the task loss and the alignment loss
# of notebook 31 together,
#
# $$\mathcal{L}_{\text{total}} = \mathcal{L}_{\text{task}} + \lambda \mathcal{L}_{\text{align}}, \tag{7}$$
#
# with $\lambda = 0.2$, the paper's value for every experiment. A missing input is replaced by a
# placeholder -- the empty string for text, zeros for an image -- but with the gate, nothing of the
# missing modality reaches the head. When the training data are complete, CMPT drops a modality
# at random (Sec. 3.5) so that the head also learns from proxies.

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


# %%
import torch

from rmm_lib import limits as L
from rmm_lib import stats as S
from rmm_lib.grids import cmpt as G
from rmm_lib.grids.intro import by_model
from rmm_lib.grids.limits import benchmark_limits
from rmm_lib.methods.cmpt import gate_and_fuse
from rmm_lib.recipes.cmpt import chapter_splits
from rmm_lib.records import results
from rmm_lib.reporting import show_table

splits = chapter_splits(PROFILE)
test = splits["test"]

# %% [markdown]
# ## Placeholders
#
# `Batch.with_presence` writes the paper's placeholders into a batch for a presence mask.

# %%
# NBVAL_CHECK_OUTPUT
batch = test[[0, 1, 2]]
present = torch.tensor([[True, True], [False, True], [True, False]])
held = batch.with_presence(present)
for i in range(3):
    print(f"sample {i}: present {present[i].tolist()} | image sum {held.inputs['image'][i].abs().sum():.2f} "
          f"| text {held.strings['text'][i]!r}")

# %% [markdown]
# ## The gate, case by case
#
# `gate_and_fuse` implements Eq. 5 with two `torch.where` calls, one per slot. We feed it
# labelled dummy tokens to see which ones it picks for each presence pattern.

# %%
# NBVAL_CHECK_OUTPUT
names = {"cls": {"image": 1.0, "text": 10.0}, "proxy": {"image": 100.0, "text": 1000.0}}
tok = {kind: {m: torch.full((3, 1), v) for m, v in d.items()} for kind, d in names.items()}
fused = gate_and_fuse(tok["cls"], tok["proxy"], present, ("image", "text"))
decode = {11.0: "CLS(image) + CLS(text)", 1010.0: "CLS(text) + CMPT(text)", 101.0: "CLS(image) + CMPT(image)"}
for row, value in zip(present.tolist(), fused[:, 0].tolist()):
    print(f"present (image, text) = {row}: {decode[value]}")

# %% [markdown]
# ## Random modality dropout in training
#
# Sec. 3.5: on complete training data, each iteration "either uses both modalities or randomly
# drops one". How often is not stated; we keep both or drop either with equal probability
# (`modality_dropout=(1/3, 1/3, 1/3)`) and draw per sample in this chapter's quick runs
# (`dropout_unit`; `"batch"` draws once per iteration, the paper's literal wording). A dropped
# modality gets its placeholder and, in CMPT, its class token is replaced by the other modality's
# proxy, so the head learns to read proxies. Without dropout the head never sees a missing
# modality in training.
#
# What dropout alone does is measured best without proxies: the grid's **baseline** (class tokens
# summed, no dropout) against **modality dropout** (the same model, with dropout), five seeds each
# on the testbed (`results/cmpt.json`), tested with both modalities and with one absent from every
# test sample, beside the limit of what the test sample holds.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
LIMITS = benchmark_limits()
runs = by_model(results(G.GRID))
acc = {v: {c: [r["test"][c] for r in runs[v]] for c in G.PATTERNS} for v in ("baseline", "dropout", "cmpt")}
rows = {name: {c: S.fmt_mean(acc[v][c]) for c in G.PATTERNS}
        for v, name in (("baseline", "baseline (no dropout)"), ("dropout", "modality dropout"), ("cmpt", "CMPT"))}
rows["limit"] = {c: L.describe(L.limit_of(LIMITS, G.SEES[c])) for c in G.PATTERNS}
show_table(rows, title="accuracy (%) over 5 seeds, complete training")
for c in G.PATTERNS:
    print(f"{c:13s}: modality dropout - baseline {S.fmt_paired(acc['dropout'][c], acc['baseline'][c])}")

# %% [markdown]
# Without proxies, modality dropout changes nothing measurable with both modalities (+0.6 [-0.8,
# +1.9]) or with the text missing (-0.7 [-3.8, +2.4]), and with the image missing it is worth 14.5 [10.1, 19.0] points: the
# baseline, whose head only ever saw two class tokens summed, reads the review alone at 40-51 %
# across seeds, the same model trained with dropout at 56-60 %: a head that has seen one class
# token alone in training learns to read it alone. CMPT (proxies, alignment and the same dropout) is higher again
# with the image missing, 62.5 %; notebook 33 shows that this is not what its proxies carry. Every
# model stays below the limit of what it sees, furthest with the image missing (66.8 possible from
# the text alone).
