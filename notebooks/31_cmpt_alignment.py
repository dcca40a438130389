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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/31_cmpt_alignment.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
#
# # CMPT 3.3: learning the proxies by alignment and adaptation
#
# A proxy token only becomes a stand-in for the other modality if something pulls it there. CMPT
# does two things (Sec. 3.3):
#
# * **adaptation**: the encoders stay frozen, $\Theta_{f,m}$ fixed, and learn only LoRA
#   factors $\Delta_{f,m}$ on the query, key, value and output projections of every attention
#   block (Table 5: rank 1, alpha 1, dropout 0.1; the quick image tower, one block where the
#   paper's has 12, uses rank 32 -- notebook 30 and the control below say why) -- through peft.
#   The encoder's final tokens are
#
# $$\hat{\mathcal{T}}_m = f_m(\tilde{\mathcal{T}}_m; \Theta_{f,m}, \Delta_{f,m}) \in \mathbb{R}^{(N+2) \times d}, \tag{3}$$
#
#   the proxy, the class token and the modality's tokens, in that order;
# * **alignment**: on the samples $\mathcal{D}_c$ that have both modalities, the final proxy of
#   modality 1 is pulled towards the final class token of modality 2 and vice versa,
#
# \begin{equation*}
# \begin{aligned}
# \mathcal{L}_{\text{align}} = \frac{1}{N_{\mathcal{D}_c}} \sum_{x \in \mathcal{D}_c}
# & \mathrm{MSE}(\hat{\mathcal{T}}_{\mathrm{CMPT},m_1}, \hat{\mathcal{T}}_{\mathrm{CLS},m_2}) \\
# {} + {} & \mathrm{MSE}(\hat{\mathcal{T}}_{\mathrm{CMPT},m_2}, \hat{\mathcal{T}}_{\mathrm{CLS},m_1}),
# \end{aligned} \tag{4}
# \end{equation*}
#
# added to the task loss with $\lambda = 0.2$ (Eq. 7, notebook 32). The paper does not say whether the class
# token target is detached; we let gradients flow into both sides (`detach_target=False`).

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
import numpy as np
import torch

from rmm_lib import limits as L
from rmm_lib import stats as S
from rmm_lib.data import TESTBED
from rmm_lib.grids import cmpt as G
from rmm_lib.grids.intro import by_model
from rmm_lib.methods.cmpt import parameter_report
from rmm_lib.plots import plot_curves
from rmm_lib.recipes.cmpt import QUICK, build_cmpt, chapter_context, chapter_splits, train_cmpt, variant_options
from rmm_lib.records import results
from rmm_lib.reporting import show_table
from rmm_lib.tables import get
from rmm_lib.train import TrainConfig, Trainer
from rmm_lib.utils import seed_everything

splits = chapter_splits(PROFILE)
test = splits["test"]

# %% [markdown]
# ## Learnable and frozen parameters
#
# `rmm_lib.recipes.cmpt.train_cmpt` builds the model of notebook 30 and trains it. The `paper`
# profile uses the Table 5 recipe (AdamW, weight decay 0.02, polynomial decay with power 0.9
# after 5 warm-up epochs at 0.1x the learning rate, 10 epochs). The `quick` profile's models
# (`rmm_lib.recipes.cmpt.QUICK`: AdamW at a constant 3e-3, early stopping on validation accuracy)
# are the five seeds of the chapter's grid, read from its record below; here, to look at the
# weights themselves, the `quick` profile trains one model for 20 steps with the same recipe. We
# fingerprint the frozen weights before and after.

# %%
if PROFILE.name == "paper":
    trainer = train_cmpt(chapter_context(get("cmpt.fig3.food101"), splits, PROFILE), variant="cmpt")
else:
    seed_everything(0)
    model = build_cmpt(splits["train"], **QUICK["model"], **variant_options("cmpt", complete=True))
    trainer = Trainer(model, TrainConfig.from_dict({**QUICK["train"], "epochs": 1, "patience": None},
                                                   max_batches=20), progress=False)
    trainer.fit(splits["train"])
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
# batches; with random modality dropout only complete samples count). Below, the five recorded
# CMPT runs of the grid (`results/cmpt.json`): the mean over seeds with its 95 % band, over the
# epochs every seed ran (early stopping ends the runs at different epochs).

# %% tags=["hide-input"]
runs = by_model(results(G.GRID))["cmpt"]
epochs = min(len(r["history"]) for r in runs)
curve = {name: S.bands(np.array([[h[key] for h in r["history"][:epochs]] for r in runs]).T)
         for name, key in (("alignment (Eq. 4)", "train_align"), ("task (cross-entropy)", "train_task"))}
ax = plot_curves(list(range(1, epochs + 1)), curve, "epoch", "training loss (mean over batches)", ylim=(0, None))

# %%
# NBVAL_CHECK_OUTPUT
first, last = ([r["history"][i]["train_align"] for r in runs] for i in (0, epochs - 1))
print(f"alignment loss, epoch 1 -> epoch {epochs}: {S.fmt(S.mean_interval(first), 1, 2)} -> "
      f"{S.fmt(S.mean_interval(last), 1, 2)}; change {S.fmt_diff(S.paired_difference(last, first), 1, 2)}")

# %% [markdown]
# ## Do proxies look like the other modality's class token? (held-out data)
#
# For the 600 test samples we compare the image's proxy $\hat{\mathcal{T}}_{\mathrm{CMPT},\text{image}}$
# with the text's class token $\hat{\mathcal{T}}_{\mathrm{CLS},\text{text}}$ of the *same* sample
# and of the other samples, by cosine similarity, and the same for the text's proxy against the
# image's class token. `retrieval` is how often a proxy's most similar class token is its own
# sample's. Chance is 1/600; the testbed's shared content bounds it: a retriever that reads only
# the brand (sticker and "by <brand>", notebook 00) finds its own sample with the rate below.

# %%
# NBVAL_CHECK_OUTPUT
rows = {}
for direction in runs[0]["proxy_cosine"]:
    same, other, hit = ([r["proxy_cosine"][direction][k] for r in runs] for k in ("same", "other", "retrieval"))
    rows[direction] = {"same sample": S.fmt(S.mean_interval(same), 1, 3),
                       "other samples": S.fmt(S.mean_interval(other), 1, 3),
                       "same - other": S.fmt_diff(S.paired_difference(same, other), 1, 3),
                       "retrieval": S.fmt(S.mean_interval(hit), 1, 4)}
show_table(rows, title="cosine of each proxy with the other modality's class token, and own-sample retrieval, "
                       f"{len(runs)} seeds", best=None)
print(f"chance {1 / len(test):.4f} | brand-only retriever among {len(test)}: "
      f"{L.retrieval_limit(len(test), TESTBED['redundancy']):.4f}")

# %% [markdown]
# Read the numbers together. The alignment loss fell by 0.91 [0.85, 0.97] from the first epoch to
# the seventh, yet the image's proxy is exactly as close to the text class tokens of other samples
# as to its own sample's (-0.001 [-0.003, +0.001]): whatever it learned, it is the same for every
# review. That is what an MSE target rewards when the image tells little about which sentence goes
# with it. The text's proxy is measurably closer to its own sample's image class token (+0.031
# [+0.021, +0.041]), but barely: it picks its own sample out of 600 no more often than chance,
# where a retriever reading only the brand would find it 14 times as often. So the proxies carry at most class-level content, and
# notebook 33 shows that even that does not help the head (zeroing them costs nothing). A flat
# same-sample cosine is the finding, not a plotting artefact.

# %% [markdown]
# ## Raw cosines flatter a constant: the centred numbers
#
# A raw cosine between a proxy and the other modality's class token is large even for a proxy
# that knows nothing about its sample, because every class token shares a large common part. The
# cell below builds the most ignorant proxy there is -- one constant vector, the mean text class
# token of the training reviews (frozen MiniLM, read as the chapter reads it: the mean of its
# tokens) -- and scores it against the test reviews' class tokens. `rmm_lib.metrics.feature_fidelity` subtracts the training mean first: its R^2 (0 is what
# the mean target scores) and its centred same-minus-other cosine are what the rest of the chapter
# reports beside every learned proxy.

# %%
from rmm_lib.metrics import feature_fidelity
from rmm_lib.plots import cosine_similarity_matrix
from rmm_lib.recipes.cmpt_controls import text_class_tokens

if PROFILE.name == "quick":
    text_cls = text_class_tokens({k: splits[k].strings["text"] for k in ("train", "test")},
                                 QUICK["model"]["text_tower"]["pooling"])  # the chapter's reading of MiniLM
    constant = text_cls["train"].mean(0, keepdim=True).expand_as(text_cls["test"])
    sim = cosine_similarity_matrix(constant, text_cls["test"])
    raw_same = float(sim.diagonal().mean())
    raw_other = float((sim.sum() - sim.diagonal().sum()) / (sim.numel() - len(sim)))
    centred = feature_fidelity(constant, text_cls["test"], centre=text_cls["train"].mean(0))
    print(f"constant proxy (mean text class token): raw cosine same {raw_same:.3f}, other {raw_other:.3f} | "
          f"R^2 {centred['r2']:.3f}, centred same - other {centred['centred_gap']:+.3f}")

# %%
# NBVAL_CHECK_OUTPUT
if PROFILE.name == "quick":
    print("raw cosine of a constant above 0.5, the same for own and other samples:",
          raw_same > 0.5 and abs(raw_same - raw_other) < 1e-4)
    print("its centred same-minus-other cosine is zero and its R^2 at most zero:",
          abs(centred["centred_gap"]) < 1e-6 and centred["r2"] <= 1e-6)

# %% [markdown]
# The chapter's five CMPT models again (the `cmpt` grid's models, retrained by the grid
# `cmpt_controls`, `rmm_lib.recipes.cmpt_controls.proxy_fidelity`), now with these numbers: each
# proxy's R^2 against the other modality's class token of the same model (Eq. 4's target), its
# centred same-minus-other cosine, and the **ridge ceiling**: a ridge regression from the proxy's
# own modality's *frozen* features (the pretrained tower without LoRA: class token and mean token)
# to the same target, fitted on the 1,200 training samples, scored on the 600 test samples.

# %% tags=["hide-input"]
from rmm_lib.grids import cmpt_controls as GC

control = by_model(results(GC.GRID))
LAMBDAS = {"chapter": "lambda 0.2 (paper)", f"chapter:lam={GC.CONTROL_LAM:g}": f"lambda {GC.CONTROL_LAM:g}"}
rows = {}
for run, lam in LAMBDAS.items():
    for direction in control[run][0]["fidelity"]:
        fid = [r["fidelity"][direction] for r in control[run]]
        rows[f"{direction}, {lam}"] = {"proxy R^2": S.fmt_mean([f["proxy"]["r2"] for f in fid], 1, 2),
                                       "ridge R^2": S.fmt_mean([f["ridge"]["r2"] for f in fid], 1, 3),
                                       "proxy centred cos": S.fmt_mean([f["proxy"]["centred_gap"] for f in fid], 1, 3),
                                       "ridge centred cos": S.fmt_mean([f["ridge"]["centred_gap"] for f in fid], 1, 3)}
show_table(rows, title=f"each learned proxy against its target, beside the ridge ceiling, {len(control['chapter'])} "
                       "seeds, 600 test samples", best=None)

# %%
# NBVAL_CHECK_OUTPUT
for run, lam in LAMBDAS.items():
    for direction in control[run][0]["fidelity"]:
        fid = [r["fidelity"][direction] for r in control[run]]
        half = [f["proxy"]["r2"] >= 0.5 * f["ridge"]["r2"] and f["proxy"]["centred_gap"] >= 0.5 * f["ridge"]["centred_gap"]
                for f in fid]
        print(f"{direction}, {lam}: reaches half the ridge ceiling (R^2 and centred cosine) on {sum(half)} of "
              f"{len(fid)} seeds")

# %% [markdown]
# Neither learned proxy stands for its target (the rows at lambda 0.2, the paper's). The image's
# proxy scores R^2 = -2.16 [-3.38, -0.93]: it lies further from the text class tokens than their
# mean does, and its centred same-minus-other cosine, -0.002 [-0.004, 0.001], says it holds nothing
# of its own sample's review. Yet a ridge regression from the frozen image features reaches R^2
# 0.097 [0.082, 0.111] and a centred cosine of 0.306 [0.283, 0.328] on the same test samples: the
# photo does say something about the review's class token, and the proxy finds none of it. The
# text's proxy: R^2 -0.21 [-0.26, -0.17], centred 0.028 [0.019, 0.037], where ridge reaches 0.115
# [0.109, 0.121] and 0.342 [0.333, 0.350]. The ceiling itself is low: an R^2 of about 0.1 says how
# little of a review its photo holds on this testbed. So the
# raw cosines of the previous section were not the whole story: there *is* room, and the learned
# proxies do not take it. The control below asks whether they could.

# %% [markdown]
# Is lambda 0.2 simply too weak for Eq. 4 to lead? The rows at lambda 10 (grid `cmpt_controls`,
# cells `chapter:lam=10`: the chapter's model, seeds and data, only lambda changed; 10 is the
# weight under which the positive control below trains) say no. The proxies get no closer to
# their targets: R^2 -54.4 [-103.0, -5.9] for the image's and -4.63 [-5.54, -3.73] for the text's,
# centred cosines of 0.010 and 0.003 whose intervals hold zero. Because the target is not detached
# (as in the paper; `detach_target` is the parameter), the strong alignment also pulls the class
# tokens toward the proxies, and the task pays for it: with both modalities 17.5 [13.9, 21.0]
# points lower, and with the image missing 20.8 [6.0, 35.7] %, 41.6 [27.7, 55.6] points below
# lambda 0.2 and at chance (one class in six) on four of five seeds, no better than the zeroed proxy. With the text
# missing nothing measurable changes. So no lambda makes the chapter's proxies carry their partner;
# the paper's 0.2 costs the task nothing, and 10 costs it much.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
lam10 = control[f"chapter:lam={GC.CONTROL_LAM:g}"]
chapter_runs = by_model(results(G.GRID))["cmpt"]
complete = [r["test"]["complete"] for r in lam10]
print(f"complete, lambda {GC.CONTROL_LAM:g}: {S.fmt_mean(complete)} | lambda {GC.CONTROL_LAM:g} - lambda 0.2 "
      f"(grid cmpt), paired by seed: {S.fmt_paired(complete, [r['test']['complete'] for r in chapter_runs])}")
for case in ("image missing", "text missing"):
    learned, floor = [r["test"][case] for r in lam10], [r["floor"][case] for r in lam10]
    print(f"{case}, lambda {GC.CONTROL_LAM:g}: learned {S.fmt_mean(learned)} | floor {S.fmt_mean(floor)} | "
          f"learned - floor {S.fmt_paired(learned, floor)}")
    print(f"   lambda {GC.CONTROL_LAM:g} - lambda 0.2 (grid cmpt), paired by seed: "
          f"{S.fmt_paired(learned, [r['test'][case] for r in chapter_runs])}")

# %% [markdown]
# ## A positive control: a target the photo determines
#
# The flat same-sample cosine could mean that the photo says little about its review -- or that
# the image proxy cannot carry a per-sample target at all. To tell the two apart, we give the
# proxy a target the photo determines completely, on CMPT's own code path
# (`rmm_lib.recipes.cmpt_controls.proxy_control`): the testbed's photos at their highest
# redundancy, and a stand-in second modality whose class token is a **fixed random rotation of the
# image tower's own frozen class token**. The model, the gate of Eq. 5, the alignment of Eq. 4 and
# the trainer are the chapter's; the head trains on complete pairs (the stand-in carries nothing
# the photo lacks, so with modality dropout the head would learn to do without it), Eq. 4 teaches
# the proxy, with lambda 10 (the alignment is what is measured), 16 epochs, 600 photos. With the
# stand-in absent, the gate reads the image's proxy in its slot. We measure, on 300 test photos:
#
# * the proxy's R^2 against the target and its centred same-minus-other cosine, beside the
#   **ridge ceiling**: a ridge regression from the *same frozen image features* (class token and
#   mean patch token) to the target (`rmm_lib.metrics.ridge_ceiling`), which reaches R^2 = 1 here;
# * the task with the stand-in absent: the **floor** (proxy zeroed), the learned proxy and the
#   **oracle** (the true target in the slot), and the share of the floor-to-oracle gap it closes.
#
# **The pass rule, and our prediction, written before the runs below.** A proxy passes when it
# reaches at least half of the ridge ceiling's R^2 and of its centred cosine and closes at least a
# quarter of the floor-to-oracle gap. Two broken proxies must fail it: the *zeroed* proxy, and an
# *isolated* proxy whose attention to every other token is masked (it cannot see the photo). We
# predict that the records' image tower fails: a rank-1 adapter changes one direction of a
# projection, the tower has one block, and its one adapter is shared by the fused q/k/v
# projection of open_clip's attention, while the target's variation spreads over about ten
# directions (85 % of the class token's variance lies in its first ten principal components). So we
# also run the paper's layout -- one adapter on each of q, k, v and o (Sec. 3.5), the proxy read
# before the tower's frozen final norm -- at Table 5's rank 1, where we expect the same failure for
# the same reason, and at rank 32, where the adapters can express a rotation of those directions
# and the proxy should pass.

# %% tags=["hide-input"]
LABELS = {"records/rotation/learned": "records' tower (1 block, fused q/k/v, rank 1)",
          "split-r1/rotation/learned": "q, k, v, o split, rank 1",
          "split-r12/rotation/learned": "q, k, v, o split, rank 12",
          "split-r32/rotation/learned": "q, k, v, o split, rank 32",
          "split-r32/rotation/isolated": "rank 32, proxy isolated (broken)"}


def control_row(runs, part=None):
    pick = (lambda r: r) if part is None else (lambda r: {**r, **r[part]})
    runs = [pick(r) for r in runs]
    closure = S.gap_closure(*([r["task"][k] for r in runs] for k in ("floor", "learned", "oracle")))
    return {"proxy R^2": S.fmt_mean([r["proxy"]["r2"] for r in runs], 1, 2),
            "ridge R^2": S.fmt_mean([r["ridge"]["r2"] for r in runs], 1, 2),
            "proxy centred cos": S.fmt_mean([r["proxy"]["centred_gap"] for r in runs], 1, 2),
            "ridge centred cos": S.fmt_mean([r["ridge"]["centred_gap"] for r in runs], 1, 2),
            "floor": S.fmt_mean([r["task"]["floor"] for r in runs]),
            "learned": S.fmt_mean([r["task"]["learned"] for r in runs]),
            "oracle": S.fmt_mean([r["task"]["oracle"] for r in runs]),
            "gap closed": S.fmt(closure["fraction"], 1, 2) if "fraction" in closure else "-",
            "passed": f"{sum(r['passed']['passed'] for r in runs)}/{len(runs)}"}


rows = {LABELS[k]: control_row(control[k]) for k in LABELS}
rows["rank 32, proxy zeroed (broken)"] = control_row(control["split-r32/rotation/learned"], "zeroed")
show_table(rows, title=f"positive control: the image proxy and a rotation of the photo's own class token, "
                       f"{len(control['split-r32/rotation/learned'])} seeds, 300 test photos", best=None)

# %%
# NBVAL_CHECK_OUTPUT
passes = {k: [r["passed"]["passed"] for r in control[k]] for k in LABELS}
print("rank 32, split q/k/v/o: passes on every seed:", all(passes["split-r32/rotation/learned"]))
print("zeroed proxy fails on every seed:", not any(r["zeroed"]["passed"]["passed"]
                                                     for r in control["split-r32/rotation/learned"]))
print("isolated proxy fails on every seed:", not any(passes["split-r32/rotation/isolated"]))
print("records' tower fails on every seed:", not any(passes["records/rotation/learned"]))
print("rank 1, split q/k/v/o, fails on every seed:", not any(passes["split-r1/rotation/learned"]))

# %% [markdown]
# The prediction held on every seed. With the records' tower the proxy's R^2 is -0.051 [-0.077,
# -0.026] -- worse than always answering the mean target -- and the model with the stand-in absent
# does *worse* with it than with zeros (-12.9 [-19.3, -6.6] points): its centred cosine, 0.342
# [0.324, 0.360], says it finds part of the target's direction, but not its scale. The paper's
# layout at rank 1 (one adapter each on q, k, v and o, read before the norm) does no better: R^2
# 0.033 [-0.028, 0.094], centred 0.155 [0.020, 0.291], -7.2 [-11.0, -3.4] points. At rank 32 the
# same code path passes on all five seeds: R^2 0.591 [0.566, 0.616] of a ceiling of 1.000, centred
# cosine 0.769 [0.753, 0.784] of 0.998, and 0.50 [0.42, 0.59] of the floor-to-oracle gap closed
# (+10.7 [+8.2, +13.2] points). Both broken proxies fail: zeroed (R^2 -0.335, centred 0) and
# isolated (R^2 -0.014 [-0.019, -0.009], centred 0.000). So the implementation -- proxy token,
# attention, Eq. 4, gate -- carries a per-sample target when its adapters can express it, and at
# Table 5's rank 1 on this tower they cannot, even for a target the photo fixes completely. Rank 12
# lies between: R^2 0.48 [0.41, 0.56] and 0.37 [0.19, 0.54] of the gap, a pass on one seed of five.
# That is why the chapter's towers (notebook 30, grid `cmpt`) use rank 32 with q, k, v and o split:
# the empty proxies earlier in this notebook come from towers that pass this control, so they are a
# verdict on what a photo can say about its review (the ridge ceiling of about 0.1), not on
# adapters too small to say it. (`tests/test_cmpt_controls.py` runs seed 0 of the
# rank-32 control and of its two broken variants on every commit.)
