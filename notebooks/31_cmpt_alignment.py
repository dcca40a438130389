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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/31_cmpt_alignment.ipynb)
#
# # CMPT 3.3: learning the proxies by alignment and adaptation
#
# A proxy token only becomes a stand-in for the other modality if something pulls it there. CMPT
# does two things (Sec. 3.3):
#
# * **adaptation**: the encoders stay frozen, $\Theta_{f,m}$ fixed, and learn only rank-1 LoRA
#   factors $\Delta_{f,m}$ on the query, key, value and output projections of every attention
#   block (Eq. 3, Table 5: rank 1, alpha 1, dropout 0.1) -- through peft;
# * **alignment**: on samples that have both modalities, the final proxy of modality 1 is pulled
#   towards the final class token of modality 2 and vice versa (Eq. 4),
#
# $$\mathcal{L}_{\text{align}} = \frac{1}{N_{\mathcal{D}_c}} \sum_{x \in \mathcal{D}_c}
# \mathrm{MSE}(\hat{\mathcal{T}}_{\mathrm{CMPT},m_1}, \hat{\mathcal{T}}_{\mathrm{CLS},m_2}) +
# \mathrm{MSE}(\hat{\mathcal{T}}_{\mathrm{CMPT},m_2}, \hat{\mathcal{T}}_{\mathrm{CLS},m_1}),$$
#
# added to the task loss with $\lambda = 0.2$ (Eq. 7). The paper does not say whether the class
# token target is detached; we let gradients flow into both sides (`detach_target=False`).

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


# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from rmm_lib.methods.cmpt import parameter_report
from rmm_lib.plots import cosine_similarity_matrix, plot_curves, plot_similarity, plot_token_attention
from rmm_lib.recipes.cmpt import QUICK, chapter_context, chapter_splits, train_cmpt
from rmm_lib.tables import get

splits = chapter_splits(PROFILE)
test = splits["test"]

# %% [markdown]
# ## Learnable and frozen parameters
#
# `rmm_lib.recipes.cmpt.train_cmpt` builds the model of notebook 30 and trains it. The `paper`
# profile uses the Table 5 recipe (AdamW, weight decay 0.02, polynomial decay with power 0.9
# after 5 warm-up epochs at 0.1x the learning rate, 10 epochs). The `quick` profile uses
# `rmm_lib.recipes.cmpt.QUICK`: 8 epochs of AdamW at a constant 0.01, no weight decay, no warm-up --
# squeezing the paper's schedule into a few CPU epochs left the models near chance. We
# fingerprint the frozen weights before and after training.

# %%
ctx = chapter_context(get("cmpt.fig3.food101"), splits, PROFILE)
trainer = train_cmpt(ctx, variant="cmpt")
model = trainer.model.eval()

# %%
# NBVAL_CHECK_OUTPUT
report = parameter_report(model)
for part, row in report.items():
    print(f"{part:14s} total {row['total']:>10,d}   learnable {row['learnable']:>7,d}")
print(f"learnable share: {report['all']['learnable'] / report['all']['total']:.2%}")

# %% [markdown]
# Only the LoRA factors, the proxies and the head moved; we check it on the weights themselves:
# a fresh copy of the text encoder from the same pretrained files has identical frozen weights.

# %%
# NBVAL_CHECK_OUTPUT
from rmm_lib.recipes.cmpt import minilm_text_encoder

if PROFILE.name == "quick":
    fresh = minilm_text_encoder(lora=False, layers=QUICK["model"]["text_layers"]).model.state_dict()
    trained = {k.replace(".base_layer", ""): v for k, v in model.encoders["text"].model.state_dict().items()
               if "lora_" not in k}
    same = all(torch.equal(fresh[k], v) for k, v in trained.items() if k in fresh)
    print("frozen MiniLM weights unchanged after training:", same, "| compared:", sum(k in fresh for k in trained))

# %% [markdown]
# ## The alignment loss falls
#
# The trainer logs the task and alignment terms per epoch (`train_align` is Eq. 4 averaged over
# batches; with random modality dropout only complete samples count).

# %%
hist = trainer.history
plot_curves([h["epoch"] for h in hist], {"alignment (Eq. 4)": [h["train_align"] for h in hist],
                                        "task (cross-entropy)": [h["train_task"] for h in hist]},
            "epoch", "training loss");

# %%
# NBVAL_CHECK_OUTPUT
print("alignment loss, first -> last epoch:", round(hist[0]["train_align"], 2), "->", round(hist[-1]["train_align"], 2))

# %% [markdown]
# ## Do proxies look like the other modality's class token? (held-out data)
#
# For test samples we compare the image's proxy $\hat{\mathcal{T}}_{\mathrm{CMPT},\text{image}}$
# with the text's class token $\hat{\mathcal{T}}_{\mathrm{CLS},\text{text}}$ of the *same* sample
# (diagonal) and of other samples (off-diagonal), by cosine similarity; and the same for the text's
# proxy against the image's class token. One sample per class, so a bright diagonal means the proxy
# carries sample-specific, class-specific information of the modality it never saw.

# %%
labels = test.label.numpy()
rows = [int(np.flatnonzero(labels == k)[0]) for k in range(len(test.meta["class_names"]))]
with torch.no_grad():
    out = model(test[rows])
    held = model(test[list(range(len(test)))])
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
plot_similarity(cosine_similarity_matrix(out["proxy"]["image"], out["cls"]["text"]), "image proxy (sample)",
                "text class token (sample)", ax=axes[0], title="proxy(image) vs CLS(text)")
plot_similarity(cosine_similarity_matrix(out["proxy"]["text"], out["cls"]["image"]), "text proxy (sample)",
                "image class token (sample)", ax=axes[1], title="proxy(text) vs CLS(image)")
fig.tight_layout()

# %%
# NBVAL_CHECK_OUTPUT
for src, dst in (("image", "text"), ("text", "image")):
    sim = cosine_similarity_matrix(held["proxy"][src], held["cls"][dst])
    same = sim.diagonal().mean().item()
    other = (sim.sum() - sim.diagonal().sum()).item() / (sim.numel() - len(sim))
    print(f"proxy({src}) vs CLS({dst}) on {len(sim)} test samples: same sample {same:.2f}, other samples {other:.2f}")

# %% [markdown]
# Read the two numbers together. In the `quick` run the proxies moved towards the *region* of the
# other modality's class tokens (the alignment loss fell, and the image proxy points the same way
# as the text class tokens on average), but they carry no *sample-specific* information: the
# same-sample similarity is no higher than the other-sample one (to two decimals). With a random-weight image tower
# there is little of the text to read from the image, and a few epochs of rank-1 adapters are a
# small budget. In the `paper` profile (CLIP and BERT, 10 epochs) this is the cell to check first.

# %% [markdown]
# ## What the proxy attends to after alignment
#
# The same map as in notebook 30, now with the trained LoRA factors and proxy.

# %%
with torch.no_grad():
    att = model(test[[0]], output_attentions=True)["outputs"]["text"]
words = ["<proxy>"] + att["words"][0]
w = att["attentions"][-1][0].mean(0)
ax = plot_token_attention(w[:2, : len(words)], words, ["proxy", "[CLS]"], title="last-layer attention, after training")
