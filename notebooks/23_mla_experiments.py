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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/23_mla_experiments.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
#
# # MLA 3: the experiments, in the paper's form
#
# This notebook reruns MLA's experiments -- its Tables 1-3 and Figs. 2-3, and the released code
# beside the paper -- on the book's testbed (notebook 00: 1,200 / 300 / 600 samples, three
# modalities, six classes), with the small quick encoders and the paper's optimiser (SGD, momentum
# 0.9, App. A.3; the step size chosen on validation), every model trained to convergence with early
# stopping on validation accuracy. The chapter's earlier optimiser, Adam, is kept as a named variant
# and compared in its own section. Each model is trained with five model
# seeds; a number is a mean with its 95 % Student-t interval, and a comparison is the paired
# difference over seeds, called real only when its interval excludes zero. The runs are one grid
# (`python -m rmm_lib grid mla`, kept in `results/mla.json`); the next cells read it.
#
# Beside each number stand the **information limit** of what the model sees at test (notebook 00:
# the best accuracy any model could reach with those modalities) and the paper's number. The
# testbed's modalities line up with IEMOCAP's columns in the paper, so IEMOCAP's numbers are
# printed under ours, labelled `(paper)`. They are a different dataset with different encoders:
# compare the *patterns*, not the values. (The papers' own datasets run through the specs of
# `rmm_lib.tables.mla` with the App. A.3 settings: `python -m rmm_lib run mla.table2`, on a GPU.)

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
# The records of grid `mla` and the helpers that read them.
from functools import partial

import numpy as np

from rmm_lib import limits as L
from rmm_lib import stats as S
from rmm_lib.data import MODALITIES
from rmm_lib.grids import mla as G
from rmm_lib.grids.limits import benchmark_limits
from rmm_lib.records import per_seed, results
from rmm_lib.reporting import show_table
from rmm_lib.tables.mla import METHODS, TABLE1, TABLE2, TABLE3

LIMITS = benchmark_limits()
GRID = G.grid_for(PROFILE)
runs = G.by_model(results(GRID))
NAMES = {name: paper for paper, name in METHODS.items()}  # rmm_lib name -> the paper's column


values = partial(per_seed, runs)  # values(model, *keys): one number per seed (default: test accuracy)
mean, compare = S.fmt_mean, S.fmt_paired  # mean [95 % interval]; paired difference [interval] (verdict)


def limit(modalities):
    return L.describe(L.limit_of(LIMITS, modalities))


# %% [markdown]
# ## Table 1: complete modalities
#
# Every baseline of the paper's Table 1, on the same encoders and trainer: Sum, Concat, Late
# fusion (each encoder and head trained on its own modality, outputs averaged, as App. A.2
# describes), FiLM (text conditions the others), BiGated (text gates the others), OGM-GE (on
# Concat), QMF (late fusion with energy-weighted outputs and a ranking regulariser) and MLA. A
# modality's column is the model's accuracy when every other modality is absent at test time.
# The row `reference` is the same encoder and a linear head trained on that modality alone (the
# grid's `alone` cells, the same optimiser and budget, five seeds).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
cols = [m.capitalize() for m in MODALITIES] + ["Multi"]
table1 = {NAMES[m]: {**{c: mean(values(m, "unimodal", c.lower())) for c in cols[:-1]}, "Multi": mean(values(m))}
          for m in G.TABLE1}
table1["reference (alone)"] = {m.capitalize(): mean(values(f"alone:{m}")) for m in MODALITIES}
table1["limit"] = {**{m.capitalize(): limit([m]) for m in MODALITIES}, "Multi": limit(MODALITIES)}
show_table(table1, TABLE1["iemocap"], columns=cols, contenders=[NAMES[m] for m in G.TABLE1],
           title=f"Table 1, testbed, accuracy (%) over {len(runs['mla'])} seeds; IEMOCAP (paper) below")

# %% [markdown]
# What the paper's Table 1 is about is laziness: the jointly trained fusions leave the weaker
# modalities under-trained. The differences that say it, MLA minus each jointly trained model on
# each modality alone, and MLA's fused accuracy against every baseline:

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
show_table({f"MLA - {NAMES[m]}": {c: compare(values('mla', 'unimodal', c.lower()), values(m, 'unimodal', c.lower()))
                                  for c in cols[:-1]} for m in ("concat", "sum", "ogm_ge")},
           title="each modality alone: MLA - a jointly trained fusion, points", best=None)
show_table({f"MLA - {NAMES[m]}": {"Multi": compare(values('mla'), values(m))} for m in G.TABLE1[:-1]},
           title="all three modalities: MLA - each baseline, points", best=None)

# %% [markdown]
# Laziness shows where the paper says it does, on two of the three modalities. Read alone, MLA's
# encoders beat Concat's by 12.1 points [8.6, 15.7] on the review and 4.6 [2.9, 6.3] on the jingle,
# both real; on the photo the difference is not measurable (+2.6 [-6.9, +12.1]). FiLM and BiGated
# make the conditioning modality useless on its own (the review alone at 16.3 and 15.8, chance is
# 16.7), as they must: it only modulates the others. Under the paper's SGD, though, MLA's review
# alone (35.3) stays far below the same encoder trained on the review alone (50.2): early stopping
# on the fused validation accuracy ends MLA's runs long before the review's encoder has converged
# (trained alone, it needs 60-80 epochs at this step size). Notebook 20 measures what each encoder
# knows with a linear probe.
#
# On the fused accuracy MLA does not lead on the testbed: 81.9 [78.6, 85.1], measurably below Late
# fusion (-3.7 [-7.0, -0.4]) and FiLM (-3.9 [-6.0, -1.8]) and not measurably different from the
# others. This contradicts the paper, where MLA is first (78.92 on IEMOCAP, 2.75 points above the
# next). Every fused accuracy stays ten points or more below the limit of all three modalities
# (95.5), so the data leave room above every model.
#
# ## Table 2: missing modalities at train and test time
#
# Each modality of each sample is dropped with probability $\eta$ in train, validation and test
# alike (an emptied sample gets one modality back). MLA is compared with Late fusion and QMF, the
# paper's strongest general baselines, and with the released code's variant (last section). The
# limit is that of the test masks: each test sample's limit for the modalities it keeps, averaged
# (`limit_under_masks`). The paper's other rows (CCA ... TATE) are not rerun.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
rates = GRID.config["rates"]
col = {r: f"{int(round(r * 100))}" for r in rates}
table2 = {NAMES.get(m, "MLA (released)"): {col[r]: mean(values(f"{m}@eta={r}")) for r in rates} for m in G.TABLE2}
table2["limit of what the test keeps"] = {
    col[r]: L.describe(L.limit_under_masks(LIMITS, G.test_mask(GRID.config, r), MODALITIES)) for r in rates}
paper2 = {m: TABLE2[m] for m in ("Late Fusion", "QMF", "MLA")}
show_table(table2, paper2, columns=list(col.values()),
           title="Table 2, testbed, accuracy (%) by missing rate eta (%); IEMOCAP (paper) below")
show_table({f"eta {col[r]}%": {"MLA - Late fusion": compare(values(f"mla@eta={r}"), values(f'late_independent@eta={r}')),
                               "MLA - QMF": compare(values(f"mla@eta={r}"), values(f'qmf@eta={r}'))} for r in rates},
           title="paired differences over seeds, points", best=None)

# %% tags=["hide-input"]
from rmm_lib.plots import place_legend, plot_metric_curve


def band(model):
    ivs = [S.mean_interval(np.array(values(f"{model}@eta={r}")) * 100) for r in rates]
    return {k: [iv[k] for iv in ivs] for k in ("mean", "low", "high")}


paper_curves = {m: (rates, [TABLE2[m][col[r]] for r in rates]) for m in paper2}
limit_all = [100 * L.limit_under_masks(LIMITS, G.test_mask(GRID.config, r), MODALITIES)["mean"] for r in rates]
ax = plot_metric_curve(rates, {NAMES[m]: band(m) for m in ("late_independent", "qmf", "mla")}, "accuracy (%)",
                       paper=paper_curves, ylim=(0, 100), title="Table 2: ours (5 seeds, 95% band) and the paper's",
                       legend=None)
ax.plot(np.array(rates) * 100, limit_all, ls=":", color="k", label="limit of what the test keeps")
place_legend(ax, "outside");

# %% [markdown]
# MLA is below Late fusion at $\eta$ = 10 % and 40 % (-2.7 [-4.2, -1.2] and -3.2 [-4.1, -2.2]
# points, real) and level with it at 70 % (+0.1 [-1.8, +2.0]); against QMF no difference is
# measurable at any rate (-2.4, -2.4 and +0.8 points). This contradicts the paper, where MLA is
# above every row at every rate, by 1.6, 4.7 and 5.6 points over QMF at 10, 40 and 70 %. Our values
# are higher than the paper's because the testbed is easier than IEMOCAP; only the order of the
# methods can be compared. Every model loses accuracy as the modalities go, and all stay well
# below the limit of what the test keeps. The released code's variant is far below all three
# (last section).
#
# ## Table 3: ablation of head gradient modification (HGM) and dynamic fusion (DF)
#
# HGM is a training choice (two models per seed); DF is a test-time choice (Eq. 7's entropy
# weights, or equal weights over the present modalities), so each model is evaluated both ways.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
ablation = {}
for hgm, model in (("HGM-", "mla:hgm-"), ("HGM+", "mla")):
    for df, rule in (("DF-", "mean"), ("DF+", "entropy")):
        ablation[f"{hgm} {df}"] = {**{c: mean(values(model, "unimodal", c.lower())) for c in cols[:-1]},
                                   "Multi": mean(values(model, "fusion", rule))}
show_table(ablation, TABLE3["iemocap"], columns=cols, title="Table 3, testbed, accuracy (%); IEMOCAP (paper) below")
effects = {f"HGM+ - HGM-, {c.lower()} alone": compare(values('mla', 'unimodal', c.lower()),
                                                     values('mla:hgm-', 'unimodal', c.lower())) for c in cols[:-1]}
for df, rule in (("DF-", "mean"), ("DF+", "entropy")):
    effects[f"HGM+ - HGM-, Multi with {df}"] = compare(values('mla', 'fusion', rule), values('mla:hgm-', 'fusion', rule))
for model in ("mla:hgm-", "mla"):
    effects[f"DF+ - DF-, Multi, {'HGM-' if model == 'mla:hgm-' else 'HGM+'}"] = compare(
        values(model, 'fusion', 'entropy'), values(model, 'fusion', 'mean'))
show_table({k: {"paired difference, points": v} for k, v in effects.items()}, title="the ablation's effects, 5 seeds",
           best=None)

# %% [markdown]
# On the testbed the projection has no measurable effect, on each modality alone (+0.6, +0.5 and
# -3.4 points, every interval includes zero) or on the fused accuracy (-0.0 with equal weights,
# -0.3 with Eq. 7). Dynamic fusion has a real effect, but a negative one: Eq. 7 is 1.8 points
# [0.7, 3.0] below equal weights without the projection and 2.1 [0.7, 3.5] below with it. The full
# method (HGM+ DF+, 81.9) is therefore not the best cell of its own ablation. In the paper both
# components help and together they help most (74.96 to 78.92 on IEMOCAP); here neither does.
# Notebook 21 shows why the projection has nothing to do here -- the testbed has no forgetting to
# prevent, while the implementation removes forgetting where it is certain (its positive control)
# -- and notebook 22 what Eq. 7 could gain at most.
#
# ## The optimiser: the paper's SGD against Adam
#
# Until this version the chapter trained with Adam. Eq. 4 projects the head's *gradient*; Adam then
# divides each coordinate of it by its own running scale, so the update it applies is no longer
# orthogonal to what the projection protected (notebook 21 measures this). MLA with and without the
# projection, and Concat, under both optimisers, five seeds each:

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
opt_rows = {}
for model, label in (("mla", "MLA"), ("mla:hgm-", "MLA without HGM"), ("concat", "Concat")):
    opt_rows[label] = {"SGD (paper)": mean(values(model)), "Adam (variant)": mean(values(f"{model}@adam")),
                       "SGD - Adam": compare(values(model), values(f"{model}@adam"))}
opt_rows["HGM+ - HGM-"] = {"SGD (paper)": compare(values("mla"), values("mla:hgm-")),
                           "Adam (variant)": compare(values("mla@adam"), values("mla:hgm-@adam"))}
for c in cols[:-1]:
    opt_rows[f"MLA, {c.lower()} alone"] = {
        "SGD (paper)": mean(values("mla", "unimodal", c.lower())), "Adam (variant)": mean(values("mla@adam", "unimodal", c.lower())),
        "SGD - Adam": compare(values("mla", "unimodal", c.lower()), values("mla@adam", "unimodal", c.lower()))}
show_table(opt_rows, best=None, title="test accuracy (%) under both optimisers; differences paired over 5 seeds, points")

# %% [markdown]
# The paper's optimiser costs accuracy on the testbed: MLA is 4.2 points [1.5, 6.8] below its Adam
# run, and MLA without HGM 4.5 [1.8, 7.2] below (Concat's -2.9 [-8.0, +2.2] is not measurable).
# The loss is the review: MLA's review alone falls from 59.3 to 35.3 (-24.0 [-29.2, -18.8]), while
# its jingle gains 5.5 [2.4, 8.5] and its photo does not move. Adam's per-coordinate step sizes
# train the review's encoder far faster than SGD's single step size, and early stopping on the
# fused accuracy does not wait for it. The projection's effect is not measurable under either
# optimiser (-0.3 [-4.1, +3.5] points under SGD, -0.7 [-2.7, +1.3] under Adam), so the verdict on
# HGM does not depend on the optimiser. We keep the paper's SGD as the default, since the chapter
# reproduces the paper, and show Adam beside it; a reader tuning MLA for a small text encoder would
# prefer Adam.
#
# ## Fig. 2: isolation of the modalities
#
# A growing share of the training samples lose their image; we measure the accuracy of the *text*
# alone. If the modalities are learned in isolation, the text accuracy should not depend on how
# many images the training set had. The paper shows this for MLA against QMF on Kinetics-Sounds.

# %% tags=["hide-input"]
from rmm_lib.plots import plot_curves

fig2_rates = [0.0] + GRID.config["fig2_rates"]


def text_alone(method, rate):
    return values(method, "unimodal", "text") if rate == 0 else values(f"{method}@image-train={rate}", "text_alone")


fig2 = {NAMES[m]: [text_alone(m, r) for r in fig2_rates] for m in G.FIG2}
plot_curves([100 * r for r in fig2_rates], {m: S.bands(vs) for m, vs in fig2.items()},
            "images missing in training (%)", "text-alone test accuracy", ylim=(0, 1),
            title="Fig. 2 on the testbed: mean of 5 seeds, 95 % band");

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
show_table({method: {**{f"{100 * r:.0f} %": mean(v) for r, v in zip(fig2_rates, per_rate)},
                     "90 % - 0 %": compare(per_rate[-1], per_rate[0])} for method, per_rate in fig2.items()},
           title="text-alone test accuracy (%) by the share of training images missing, 5 seeds", best=None)

# %% [markdown]
# Neither curve is flat. From no image missing to 90 % missing, MLA's text-alone accuracy falls by
# 6.2 points [1.9, 10.5], a real difference, and QMF's by 5.0 [-0.2, +10.2], not measurable. Part
# of the fall need not be interference: with fewer images the fused validation accuracy peaks at
# another epoch, and the slowly trained review encoder (see the optimiser section) depends on how
# many epochs it gets. The isolation the paper shows for MLA on Kinetics-Sounds is not reproduced
# here under its optimiser (the grid does not run Fig. 2 under Adam, so we cannot say whether the
# optimiser or the method is the cause).
#
# ## Fig. 3: the modality gap
#
# Liang et al. (2022) measure the gap between two modalities' embeddings as the distance between
# the centroids of their L2-normalised features. The paper finds MLA's image-text gap on Food-101
# larger than Concat's. Here are both, on the testbed's test set.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
for m in ("concat", "mla"):
    print(f"{NAMES[m]:7s} image-text gap {S.fmt(S.mean_interval(values(m, 'modality_gap')), 1, 2)}")
print(f"MLA - Concat: {S.fmt_diff(S.paired_difference(values('mla', 'modality_gap'), values('concat', 'modality_gap')), 1, 2)} "
      f"({S.verdict(S.paired_difference(values('mla', 'modality_gap'), values('concat', 'modality_gap')))})")

# %% [markdown]
# The two gaps do not differ measurably (0.81 against 0.80, see the paired difference above):
# with small encoders trained from scratch, MLA does not push the photo and review features
# further apart than joint training does. The paper's larger gap for MLA comes from pretrained M3AE
# encoders on Food-101, a setting the testbed neither confirms nor contradicts.
#
# ## The released code beside the paper
#
# The authors' released code (GitHub `Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation`,
# read but not copied; the book records what it does in its checked facts) differs from the paper
# in three ways. Its projection never runs: it is guarded by a parameter name that the head it is
# given does not have, so released MLA is alternation through a shared head *without* head
# gradient modification. Its $\mathbf{P}$ is still updated, then divided by its Frobenius norm.
# And its test-time fusion takes the softmax over the **batch** axis and sums the entropy over
# the batch: one weight per modality per test batch, which depends on the batch size, and every
# modality is fused whether present or not (dropped features are zeros). `released_mla` behaves
# that way. Both variants are trained with the same seeds, complete and at each missing rate.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
released = {}
for name, model in (("MLA (as in the paper)", "mla"), ("MLA (released code)", "released")):
    released[name] = {**{c: mean(values(model, "unimodal", c.lower())) for c in cols[:-1]}, "Multi": mean(values(model)),
                      **{f"Multi, eta {col[r]}%": mean(values(f"{model}@eta={r}")) for r in rates}}
show_table(released, title="accuracy (%), complete test set and Table 2's missing rates",
           groups={"complete test set": cols, "missing rate eta (Table 2)": [f"Multi, eta {col[r]}%" for r in rates]})
diffs = {f"{c.lower()} alone": compare(values('released', 'unimodal', c.lower()), values('mla', 'unimodal', c.lower()))
         for c in cols[:-1]}
diffs["Multi, complete"] = compare(values('released'), values('mla'))
diffs.update({f"Multi, eta {col[r]}%": compare(values(f'released@eta={r}'), values(f'mla@eta={r}')) for r in rates})
show_table({k: {"released - paper, points": v} for k, v in diffs.items()}, title="the released code against the paper",
           best=None)
print(f"released, Multi - its image alone: {compare(values('released'), values('released', 'unimodal', 'image'))}")
print("released, by test batch size:", "  ".join(f"{b}: {mean(values('released', 'batch_fusion', str(b)))}"
                                                for b in GRID.config["batch_sizes"]))

# %% [markdown]
# Released training is the same alternation without the projection. Its jingle and photo alone
# are not measurably different from the paper variant's (-1.9 and -10.4 points, wide intervals);
# its review alone is 17.3 points [11.3, 23.3] lower. The fused accuracy is another matter: the
# batch-axis rule costs 11.6 points [6.0, 17.2] with complete data, a real difference, and 12.1,
# 15.9 and 15.4 points at $\eta$ = 10, 40 and 70 %, all real. Summed over a batch, the modalities'
# entropies can differ so much that one modality takes the whole batch: in two of the five seeds
# the released model's fused accuracy is exactly that of its photo alone; in the other three its
# photo is weak (50-56 %) and the fused accuracy lands 10-16 points above it, still well below the
# paper variant's. The batch size hardly matters (70.3 at batch 64, 69.5 at 16, 70.4 at 600;
# notebook 22). With modalities missing, every modality is fused even for the samples that lack it
# (zero-filled), which is why the loss grows with $\eta$. A reader who reruns the released code therefore gets alternation without the
# paper's projection and a fusion rule that follows one modality per batch -- and, as released,
# the epoch is kept on the best *test* accuracy, which we never do (we select on validation).
