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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/33_cmpt_experiments.ipynb)
#
# # CMPT 4: experiments
#
# This notebook runs the paper's experiments in their original layout on the image + text pair of
# the embedded benchmark (`quick`), or on UPMC Food-101 with CLIP ViT-B/16 + BERT-base (`paper`).
# Every table is a `TableSpec` of `rmm_lib.tables.cmpt`; its `run` is what `python -m rmm_lib run
# <key>` calls on real data. The paper's numbers are printed beside ours and labelled: they come
# from Food-101 and MM-IMDb with CLIP and BERT, ours from a six-class benchmark with MiniLM and a
# small random-weight ViT, so compare shapes (who wins, where the drop is), not values.
#
# Six trainings serve every table: three under the missing-aware-prompt (MAP) protocol (Tables 1
# and 6) and three on complete data -- baseline, modality dropout, CMPT -- for Table 2, Figs. 2-4.
# Two more seeds of CMPT test whether its proxies carry the missing modality.

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

from rmm_lib.experiments import metrics_from_patterns, predict_patterns
from rmm_lib.context import Assets
from rmm_lib.methods.cmpt import parameter_report
from rmm_lib.missing import inference_sweep
from rmm_lib.plots import plot_method_bars, plot_metric_curve, plot_per_class
from rmm_lib.tables import get
from rmm_lib.recipes.cmpt import chapter_context, chapter_splits, paper_architecture, train_cmpt
from rmm_lib.reporting import format_table
from rmm_lib.tables.cmpt import (
    FIG3_GAINS, MAP_ROWS, PAPER_PARAMETERS, proxy_check, run_sweep, run_table1, run_table2, run_table6,
)
from rmm_lib.widgets import missing_rate_slider, static_view

splits = chapter_splits(PROFILE)
test = splits["test"]
ASSETS = Assets()  # trained models, shared by all tables below


def ctx(key):
    return chapter_context(get(key), splits, PROFILE, assets=ASSETS)

# %% [markdown]
# ## Tables 6 and 1: missing in training and in test ($\eta = 70\%$)
#
# The MAP protocol (Lee et al., 2023): 70% of the samples lack the image, or lack the text, or
# (type "both") half of them lack each. Table 6 trains under one type and tests under each of the
# three; Table 1 is its diagonal (same type in training and test). When the training data are
# incomplete, CMPT does not add modality dropout: its proxies learn from the complete 30%.

# %%
# NBVAL_CHECK_OUTPUT
grid = run_table6(ctx("cmpt.table6.food101"))
print(format_table({f"train {tr}": {f"test {te}": v for te, v in row.items()} for tr, row in grid.items()},
                   title="Table 6, ours (benchmark, accuracy %)"))

# %%
paper6 = get("cmpt.table6.food101").paper_numbers
print(format_table({k: {c: v for c, v in row.items() if c in ("Kim & Kim", "CMPT")} for k, row in paper6.items()},
                   title="Table 6, paper (UPMC Food-101, accuracy %)"))

# %%
# NBVAL_CHECK_OUTPUT
ours1 = run_table1(ctx("cmpt.table1.food101"))  # reuses the three models above
paper1 = get("cmpt.table1.food101").paper_numbers
print(format_table({row: {"ours (benchmark)": ours1[row]["CMPT (ours)"], "paper CMPT (Food-101)": paper1[row]["CMPT"],
                          "paper Kim & Kim": paper1[row]["Kim & Kim"], "paper ViLT": paper1[row]["ViLT"]}
                    for row in MAP_ROWS.values()}, title="Table 1 (eta = 70%)"))

# %% [markdown]
# Our accuracy follows how much text the test samples have, and training with 70 % of the text
# missing leaves the model at 36-37 % whatever the test: the random-weight image tower gives it
# little to learn from. Of the two trainings that learn from the text, training under "both" is the
# more even across test types (41.33 to 55.33). On test samples mostly without text it scores 5.33
# points above the matched training (41.33 against 36.00), weak evidence from one seed (one
# accuracy on 300 samples has a standard error of about 2.9 points, a difference of two runs up to
# about 4); in the paper the matched training is best in that column. Our Table 1 (the
# diagonal) falls by 21.67 points from the image-missing type to the text-missing one, the
# paper's CMPT by 7.11.
#
# ## Table 2: complete training, one modality absent at test
#
# Three models on the same encoders, trained on complete data: a **baseline** (class tokens summed,
# no proxy, no dropout), **modality dropout** (the same, with random modality dropout) and **CMPT**.
# The paper compares CMPT with published numbers of other methods; the Sec. 4.6.1 ablation
# (baseline, modality dropout, CMPT) is the comparison we can run on equal footing.

# %%
# NBVAL_CHECK_OUTPUT
ours2 = run_table2(ctx("cmpt.table2.food101"))
print(format_table(ours2, title="Table 2, ours (benchmark, accuracy %)"))

# %%
paper2 = get("cmpt.table2.food101").paper_numbers
print(format_table({k: {c: row[c] for c in ("QMF", "MLA", "CMPT")} for k, row in paper2.items()},
                   title="Table 2, paper (UPMC Food-101, accuracy %)"))

# %% [markdown]
# ## Figs. 2-3: a growing share of test samples without one modality
#
# The same three models; at test, $x\%$ of the samples lose the image (left) or the text (right).
# The missing sets are nested, so each curve moves smoothly. Each model predicted every test sample
# once per presence pattern (`predict_patterns`), so any mask is scored without running it again.

# %%
rates = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
sweep = run_sweep(ctx("cmpt.fig3.food101"), rates)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, missing in zip(axes, ("image", "text")):
    plot_metric_curve(rates, sweep[missing], "accuracy (%)", ax=ax, title=f"{missing} missing at test")

# %%
# NBVAL_CHECK_OUTPUT
for missing in ("image", "text"):
    gain_b = sweep[missing]["cmpt"][-1] - sweep[missing]["baseline"][-1]
    gain_d = sweep[missing]["cmpt"][-1] - sweep[missing]["dropout"][-1]
    print(f"{missing} missing for all: CMPT - baseline {gain_b:+.2f}, CMPT - modality dropout {gain_d:+.2f} (ours)")
for key, value in FIG3_GAINS["food101"].items():
    print(f"paper (Food-101, Fig. 5): {key} {value:+.2f}")

# %% [markdown]
# ### Is it the proxy?
#
# A gain of CMPT over modality dropout can have two sources: what the proxy token carries, or
# simply that CMPT does not push a placeholder (a blank image, an empty sentence) through the
# missing modality's encoder. To separate them we score the same trained CMPT model with its
# final proxy tokens replaced by zeros (`CMPTModel.zero_proxy`, a diagnostic switch). One seed
# is not enough to read this difference: it moves by several points from one seed to the next, so
# `proxy_check` trains CMPT with seeds 0, 1 and 2 (seed 0 is the model above).

# %%
# NBVAL_CHECK_OUTPUT
check = proxy_check(ctx("cmpt.fig3.food101"), seeds=(0, 1, 2))
gains = []
for seed, row in check.items():
    gain = np.mean([r["learned"] - r["zeroed"] for r in row.values()])
    gains.append(gain)
    print(f"seed {seed}: " + " | ".join(f"{k}: learned {r['learned']:.2f}, zeroed {r['zeroed']:.2f}"
                                        for k, r in row.items()) + f" | learned - zeroed {gain:+.2f}")
print(f"learned - zeroed, mean of the three seeds: {np.mean(gains):+.2f} points")

# %% [markdown]
# **What our quick numbers show** (read with the cells above; they come from this run). On the
# embedded benchmark with CPU-sized encoders -- the pretrained MiniLM and a random-weight one-layer
# ViT, 8 epochs on 300 samples -- every model stays far below the paper's Food-101 numbers, which
# come from CLIP ViT-B/16 + BERT trained on 60,000+ samples. Here the text carries most of what the
# models learn: without the image CMPT loses under three points and the other two about nine;
# without the text all three fall to 26-31 %.
#
# * **Table 2 and Figs. 2-3.** With the image missing, CMPT is 2-3 points above the baseline and
#   modality dropout. With the text missing, it is 4.33 points above the baseline but 1.00 below
#   modality dropout (the paper: 11.96 above). With complete data CMPT is the lowest of the three.
#   On 300 test samples the standard error of one accuracy is about 2.9 points: the differences of
#   1-3 points are within noise, and those of 3.7-4.7 points (CMPT above the baseline with the text
#   missing, below both others with complete data) are weak evidence from one seed.
# * **Is it the proxy?** With the image missing, zeroing the text's proxy moves accuracy by one
#   point or less in every seed (in seed 1 the zeroed proxy scores higher): the head does not use
#   what that proxy holds. With the text missing, the image's proxy helps in two seeds and hurts in
#   the third. Averaged over both cases and the three seeds, the learned proxy is 1.61 points above
#   the zeroed one, inside the spread between seeds (-0.33 to +3.83).
#
# So on this benchmark we cannot show that the proxies carry the missing modality, and a gain of
# CMPT over modality dropout here may come from skipping the placeholder instead. Notebook 31 shows
# the same from the other side: a proxy is no closer to the other modality's class token of its own
# sample than to those of other samples. `tests/test_cmpt.py` keeps the claim as a strict expected
# failure; the `paper` profile, with CLIP and BERT on Food-101, is where it can be tested.

# %% [markdown]
# ### Slider
#
# The static view shows every rate; with a kernel, the slider below re-scores the three models live.

# %%
preds = {v: predict_patterns(train_cmpt(ctx("cmpt.fig3.food101"), variant=v), test)
         for v in ("baseline", "dropout", "cmpt")}
masks = inference_sweep(len(test), "text", rates, test.modalities, seed=0)


def evaluate(rate):
    return {v: 100 * metrics_from_patterns("classification", p, masks[rate])["accuracy"] for v, p in preds.items()}


def draw(result, ax, rate):
    plot_method_bars(result, ax=ax, title=f"text missing for {rate:.0%}", ylim=(0, 100))


fig, _ = static_view(evaluate, rates, draw, ncols=4)

# %%
slider = missing_rate_slider(evaluate, list(rates), draw, description="share of test samples without text")

# %% [markdown]
# ## Fig. 4: which classes gain?
#
# Per-class accuracy of CMPT minus that of modality dropout, with one modality missing for every
# test sample, sorted by gain as in the paper.

# %%
from rmm_lib.experiments import per_class_recall

names = list(test.meta["class_names"])

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, (missing, pattern) in zip(axes, (("text", (True, False)), ("image", (False, True)))):
    gain = per_class_recall(preds["cmpt"][pattern], len(names)) - per_class_recall(preds["dropout"][pattern], len(names))
    order = np.argsort(-gain)
    plot_per_class(gain[order], [names[i] for i in order], ax=ax, ylim=(-0.5, 0.5),
                   title=f"available: {'image' if missing == 'text' else 'text'}, missing: {missing}")
    ax.axhline(0, color="k", lw=0.8)
fig.tight_layout()

# %% [markdown]
# The per-class differences are large and go both ways: with either modality missing, some
# classes gain 0.2 to 0.5 in recall or more (the largest bar runs past the plot's range of ±0.5)
# and others lose 0.4 to 0.5, while the
# overall accuracies of the two models differ by 1.0 (text missing) and 2.3 points (image missing).
# With about 50 test samples per class, this says that CMPT and modality dropout get different
# classes right, not that CMPT helps particular classes.
#
# ## Parameters: Tables 3 and 4
#
# The paper architectures, built without weights on PyTorch's `meta` device (offline, no memory):
# CLIP ViT-B/16's visual tower + bert-base-uncased with 101 classes (Food-101), and AST + CLIP
# ViT-B/16 with 31 classes (Kinetics-Sounds).

# %%
# NBVAL_CHECK_OUTPUT
for kind in ("image_text", "audio_video"):
    report = parameter_report(paper_architecture(kind))
    total, learnable = PAPER_PARAMETERS[kind]
    print(f"{kind}: ours {report['all']['total'] / 1e6:.2f} M total / {report['all']['learnable'] / 1e6:.2f} M "
          f"learnable | paper {total:.2f} M / {learnable:.2f} M")
    for part, row in report.items():
        if part != "all":
            print(f"   {part:14s} {row['total'] / 1e6:8.3f} M total  {row['learnable']:>8,d} learnable")

# %% [markdown]
# The totals agree to within a few tenths of a percent: the gap is what each side counts (we drop
# CLIP's output projection and BERT's pooler, which CMPT never uses). The learnable counts are
# below the paper's 0.27 M / 0.17 M. peft adapts open_clip's fused `in_proj` (query, key, value)
# with one rank-1 pair, 18,432 fewer parameters than three separate adapters on ViT-B; the rest
# of the gap (about 0.04 M for image-text) is not explained by the paper's description -- a
# larger head or adapters in more places would account for it.
