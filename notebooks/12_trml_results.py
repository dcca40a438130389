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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/12_trml_results.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
#
# # TRML 4.1-4.2: overall results, ablations and backbones
#
# Tables 1-5 of the paper compare TRML with the unimodal lower bound (LB: the non-victim modality
# alone), the complete-data upper bound (UB) and earlier missing-modality methods, in Setting A and
# Setting B, with $p = 10\%$ of the victim kept. Each table is a `TableSpec` of
# `rmm_lib.tables.trml` (the paper's numbers are transcribed there); in the `paper` profile its
# `run` trains every cell on CMU-MOSI/MOSEI/MELD (`python -m rmm_lib run trml.table1`, last section).
#
# In the `quick` profile every cell is trained on the book's testbed five times (model seeds 0-4)
# by the grid `python -m rmm_lib grid trml` (`rmm_lib.grids.trml`), kept in `results/trml.json`:
# the small open_clip towers, pretrained once on the testbed's unlabelled pairs, are fine-tuned as
# appendix B fine-tunes CLIP, in Setting A (the victim kept for 10 % of the training samples,
# absent at test), with early stopping on validation. Every number is a mean with its 95 % interval;
# a comparison is a paired difference over seeds, real only when its interval excludes zero. Beside
# each result stands the information limit of what the model sees at test (notebook 00).

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
# The records of grid `trml` and the helpers that read them.
from rmm_lib import limits as L
from rmm_lib import stats as S
from rmm_lib.grids import intro, trml as G
from rmm_lib.grids.limits import benchmark_limits
from rmm_lib.plots import plot_intervals
from rmm_lib.records import results
from rmm_lib.reporting import show_table
from rmm_lib.tables import get

QUICK = PROFILE.name == "quick"
if QUICK:
    runs = G.by_row(results(G.GRID))
    reference = intro.by_model(results(intro.GRID))
    LIMITS = benchmark_limits()
SOURCE = {"T->V": "text", "V->T": "video"}  # what the model sees at test when the victim is missing


def values(task, method, victim, metric, part="test"):
    scale = 100 if metric != "mae" else 1
    return [scale * r[part][metric] for r in runs[(task, method, victim)]]


def cell(task, method, victim, metric, part="test"):
    iv = S.mean_interval(values(task, method, victim, metric, part))
    return S.fmt(iv, 1, 3) if metric == "mae" else S.fmt(iv, 1, 1)


def limit_text(modalities, metric):
    entry = L.limit_of(LIMITS, modalities, "mae" if metric == "mae" else "accuracy")
    return (L.describe(entry, 1.0, 3, better="lower") if metric == "mae" else L.describe(entry))


def compare(task, a, b, victim, metric, part_a="test", part_b="test"):
    d = S.paired_difference(values(task, a, victim, metric, part_a), values(task, b, victim, metric, part_b))
    digits = 3 if metric == "mae" else 1
    return f"{S.fmt_diff(d, 1, digits)} ({S.verdict(d)})"


def bands(task, metric):
    """{victim: {row: mean and 95 % interval}} and the limits of what each row sees, for a figure."""
    rows, lims = {}, {}
    for victim in G.VICTIMS:
        rows[victim], lims[victim] = {}, {}
        for method, name in ROW_NAMES.items():
            rows[victim][name] = S.mean_interval(values(task, method, "-" if method == "ub" else victim, metric))
            sees = ["text", "video"] if method == "ub" else [SOURCE[victim]]
            scale = 1 if metric == "mae" else 100
            lims[victim][name] = scale * L.limit_of(LIMITS, sees, "mae" if metric == "mae" else "accuracy")["mean"]
    return rows, lims


# %% [markdown]
# ## The chapter's encoders beside the reference models
#
# A missing-modality method can only be judged on encoders that learn what their modality holds.
# The lower bounds of this chapter (each tower fine-tuned alone, classification) against the
# reference model of the same modality (notebook 00's small encoder trained alone) and the limit:

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
if QUICK:
    rows = {}
    for victim, modality in SOURCE.items():
        ref = [100 * r["test"]["accuracy"] for r in reference[f"lb:{L.ALIASES.get(modality, modality)}"]]
        rows[f"{modality} tower alone (LB, {victim})"] = {
            "accuracy (%)": cell("classification", "lb", victim, "accuracy"),
            "reference model": S.fmt(S.mean_interval(ref), 1, 1),
            "limit": limit_text([modality], "accuracy")}
    show_table(rows, title="Unimodal accuracy on the testbed, 5 seeds", best=None)
    for victim, modality in SOURCE.items():
        print(f"{modality} tower alone, per seed:", ", ".join(f"{v:.1f}" for v in values("classification", "lb", victim,
                                                                                          "accuracy")))

# %% [markdown]
# The text tower alone reaches 59.1 [57.0, 61.1] %, the same as the reference bag-of-words model
# (59.0), and 7.7 points below what the review allows (66.8). The gap to the limit is not the
# foundation model's: the reference model, which learns its words from scratch, falls just as
# short, so it is the price of 1,200 training samples. The video tower is the weak one: 61.2 %
# with an interval of [51.8, 70.7] against 75.6 for the reference CNN, and one seed of five ends
# at 49 %.

# %% [markdown]
# Why the video tower is so unstable: its validation accuracy, measured each epoch on 300
# samples, is jagged -- it moves by up to 14-25 points from one epoch to the next while it climbs --
# so early stopping can end a run at a dip of the curve. The grid therefore trains this chapter's
# classification cells with a patience of 10 epochs and up to 50 (grid `trml`, `train_by_task`);
# the book's earlier records used a patience of 5 and 30 epochs. Both schedules, run side by side
# for the video tower alone (grid `trml_controls`, everything else as above):

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
from rmm_lib.grids import trml_controls as GC

if QUICK:
    controls = GC.by_cell(results(GC.GRID))
    video = {"patience 5, 30 epochs": controls[("video", "lb", "V->T")],
             "patience 10, 50 epochs": controls[("video", GC.VIDEO_LB, "V->T")]}
    accuracy = {k: [100 * r["test"]["accuracy"] for r in v] for k, v in video.items()}
    for name, rs in video.items():
        print(f"{name}, per seed:", ", ".join(f"{a:.1f}" for a in accuracy[name]),
              "| epochs run:", ", ".join(str(r["epochs_run"]) for r in rs),
              "| mean:", S.fmt(S.mean_interval(accuracy[name]), 1, 1))
    print("longer - shorter, paired:", S.fmt_paired(accuracy["patience 10, 50 epochs"],
                                                    accuracy["patience 5, 30 epochs"], 1, 1))
    jumps = [max(abs(a - b) for a, b in zip(r["val_curve"][1:], r["val_curve"][:-1]))
             for r in video["patience 10, 50 epochs"]]
    print("largest change of validation accuracy between two epochs, per seed (points):",
          ", ".join(f"{100 * j:.0f}" for j in jumps))

# %% [markdown]
# The longer schedule is measurably better, +4.7 [+1.5, +8.0] points over five paired seeds, and
# every seed runs at least 30 epochs. It does not make the tower good: 64.3 [57.4, 71.2] % here and
# 61.2 % in grid `trml` (the same settings in another process: this tower's runs move by several
# points with the order of floating-point sums), 11-14 points below the reference CNN (75.6). Its
# pretraining, on captions that name only a product family, gives it little to start from. So in
# V→T, where the video is all the model sees at test, every row of this notebook starts from a weak
# and unstable encoder; the last section of Table 5 below therefore also runs the chapter's
# classification protocol on the comparison's working towers, whose photo tower is within reach of
# the reference.
#
# ## Sentiment regression: Tables 1-2 (CMU-MOSI form)
#
# "Cyclic (Modal-Trans-like)" is the earlier-work baseline we can run on the same towers: the same
# generators trained by reconstructing the original feature and translating back (MSE, in the
# spirit of Modal-Trans' cyclic translation) instead of by semantic matching. MFM, SMIL and
# MM-Align are not re-implemented; their paper numbers stay in the paper's rows. The limit column
# is the best MAE possible from what each row sees at test (UB sees both modalities).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
ROW_NAMES = {"lb": "LB", "ub": "UB", "cyclic": "Cyclic (Modal-Trans-like)", "trml": "TRML"}


def result_table(task, metrics):
    table = {}
    for method, name in ROW_NAMES.items():
        table[name] = {}
        for victim in G.VICTIMS:
            sees = ["text", "video"] if method == "ub" else [SOURCE[victim]]
            for metric, label in metrics:
                table[name][f"{victim} A {label}"] = cell(task, method, "-" if method == "ub" else victim, metric)
            table[name][f"{victim} limit"] = limit_text(sees, metrics[0][0])
    return table


def show_result_table(task, metrics, title):
    """The table of one task, a part per victim; UB (both modalities) is a bound, not a contender."""
    table = result_table(task, metrics)
    best = {c: None if c.endswith("limit") else "min" if c.endswith("MAE") else "max" for c in table["LB"]}
    show_table(table, title=title, best=best, contenders=["LB", ROW_NAMES["cyclic"], "TRML"],
               groups=lambda c: f"{c.split()[0]}: the victim is missing at test")


if QUICK:
    show_result_table("regression", [("mae", "MAE"), ("acc2", "Acc-2")], "Tables 1-2 on the testbed, Setting A, 5 seeds")
    show_table({f"TRML - {other}": {f"{victim} {label}": compare("regression", "trml", key, victim, metric)
                                    for victim in G.VICTIMS for metric, label in metrics}
                for other, key, metrics in (("LB", "lb", (("mae", "MAE"), ("acc2", "Acc-2"))),
                                            ("Cyclic", "cyclic", (("mae", "MAE"),)))},
               title="paired differences over seeds (MAE: lower is better)", best=None,
               groups=lambda c: f"{c.split()[0]} victim")

# %% tags=["hide-input"]
if QUICK:
    for key in ("trml.table1", "trml.table2"):
        spec = get(key)
        show_table(spec.paper_numbers, title=f"{key} -- {spec.title} (the paper's rows; Setting B is not run here)",
                   digits=3, best=None)

# %% [markdown]
# The same rows as a picture: each method's MAE on the testbed (mean and 95 % interval over seeds)
# beside the best MAE possible from what it sees at test (open diamonds), one panel per victim.

# %% tags=["hide-input"]
if QUICK:
    rows, lims = bands("regression", "mae")
    plot_intervals({f"{v.replace('->', '→')}: the victim is missing": r for v, r in rows.items()},
                   {f"{v.replace('->', '→')}: the victim is missing": r for v, r in lims.items()},
                   xlabel="test MAE", better="lower", limit_label="best MAE possible from what the row sees");

# %% [markdown]
# With the visual missing (T→V), all four rows are close to each other and to what the text
# allows: LB's MAE is 0.517 against the review's limit of 0.455. UB is only slightly better than LB
# (0.508): the photo adds little to the sentiment, which the review carries. TRML is *really worse*
# than LB by 0.023 [0.008, 0.039] in MAE and than the cyclic baseline by 0.028, with no measurable
# difference in Acc-2. With the text missing (V→T), every row is near a constant guess (MAE about
# 0.96, the median predictor's 0.96; the photo's limit is 0.80) and TRML shows no measurable
# difference from LB. The paper finds TRML close to UB and well above LB on CMU-MOSI; on this
# testbed it does not improve on LB, and the next section says why it cannot by much.
#
# ## What the mechanism could close, and what it closes
#
# Three evaluations bound the virtual modality. Its **floor** is the same trained TRML model with
# zeros where the virtual feature goes, so that the head sees the present modality only. Its
# **ceiling** is UB: a perfect generator would make every training and test sample complete. And
# the **limit** of the present modality caps every method when the victim is absent at test, since
# a virtual feature computed from the present modality holds nothing the present modality does not.
# The last column gives the trained head the true feature instead of the virtual one: a diagnostic,
# not a ceiling, since that head saw true features for only 10 % of its training samples. Gaps are
# signed so that positive is better (a lower MAE, a higher accuracy).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
if QUICK:
    gaps = {}
    for task, metric in (("regression", "mae"), ("classification", "accuracy")):
        for victim in G.VICTIMS:
            floor = values(task, "trml", victim, metric, "zero")
            learned = values(task, "trml", victim, metric)
            ceiling = values(task, "ub", "-", metric)
            sign = -1 if metric == "mae" else 1  # closing the gap lowers an error
            gap = S.gap_closure([sign * v for v in floor], [sign * v for v in learned], [sign * v for v in ceiling])
            digits = 3 if metric == "mae" else 1
            fraction = S.fmt(gap["fraction"], 100, 0) + " %" if "fraction" in gap else "-"
            gaps[f"{task}, {victim}, {metric}"] = {
                "floor": S.fmt(S.mean_interval(floor), 1, digits), "TRML": S.fmt(S.mean_interval(learned), 1, digits),
                "UB": S.fmt(S.mean_interval(ceiling), 1, digits),
                "true features to the trained head":
                    S.fmt(S.mean_interval(values(task, 'trml', victim, metric, 'true_features')), 1, digits),
                "could close": S.fmt_diff(gap['possible'], 1, digits),
                "closes": f"{S.fmt_diff(gap['closed'], 1, digits)} ({fraction})"}
    show_table(gaps, title="TRML between its floor and UB, 5 seeds (gaps signed: positive is better)", best=None,
               groups={"MAE or accuracy (%)": ["floor", "TRML", "UB", "true features to the trained head"],
                       "the gap (fraction closed)": ["could close", "closes"]})

# %% [markdown]
# The gap between the floor and UB is large -- 16-18 accuracy points, 0.46 of MAE with the text
# missing -- and TRML closes little of it: 0.014 of MAE (31 % of a small gap) with the visual
# missing, nothing measurable in the other three rows. This is what the limits predict. With the
# victim absent at test, TRML sees only the present modality, so it cannot pass that modality's
# limit (66.8 % for the review, about 80 % for the photo), while UB sees both (94-96 %): most of the
# gap to UB is information that no virtual feature can recreate. The room TRML does have is the
# distance from LB to the present modality's limit (7.7 points for the review), which it does not
# take either. Giving the trained head the true feature instead of the virtual one does not help
# (56.1 and 53.0 %): a head trained on 90 % virtual features does not know what to do with real
# ones.

# %% [markdown]
# ## A positive control: where the present modality predicts the missing feature
#
# TRML closes almost none of the gap above. Is that the testbed, or our implementation? A
# positive control runs the mechanism where it must work and a broken variant beside it. The
# benchmark's two knobs go to their top (`redundancy=1`, `shared_traces=1`): every product carries
# a brand, whose sticker is in the photo and whose name ends the review, and every photo traces the
# review's own mood and intensity. There the present modality predicts much of the missing one's
# feature, and a ridge regression from the present feature to the missing one, fitted on the same
# training pairs the generator has (the 10 % Setting A keeps), says how much. The broken variant
# replaces the victim's generator with one learned vector, the same for every sample (run with the
# visual missing). Everything
# else is this chapter's: the same pretrained towers fine-tuned, Setting A, classification, 5 seeds
# (grid `trml_controls`, `python -m rmm_lib grid trml_controls`).
#
# **What we predict** (written after one seed of one victim had run, before the other 24 cells):
#
# 1. *The feature test passes, the constant fails it.* The virtual feature's centred
#    same-minus-other cosine is measurably above zero and reaches a sizeable share of the ridge
#    ceiling's; the constant's is zero by construction and its $R^2$ below zero. (`tests/test_trml.py`
#    runs the same test on a small constructed task, where the real generator passes and the
#    constant fails.)
# 2. *The task test does not pass.* The test asks the virtual feature to close a
#    measurable share of the gap between the floor and UB. With the victim absent at test, the
#    virtual feature is a function of the present modality: it holds nothing the present modality
#    does not, and what it predicts well here -- the brand, the product family -- says nothing of
#    the class that the present modality does not already say. The gap to UB is the missing
#    modality's own information (the category within a family in the photo; the soup/stew
#    distinction in the review). We expect TRML with its virtual feature to be no better than the
#    same model given the training mean of its virtual features (the floor that keeps the head on
#    its training distribution), and the constant generator to match it.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
from rmm_lib.recipes.trml import control_verdict, fidelity_verdict

if QUICK:
    def ctl(method, victim, part, key):
        return [100 * r[part][key] for r in controls[("control", method, victim)]]

    def feat(method, victim, which, key):
        return [r[which][key] for r in controls[("control", method, victim)]]

    ub = [100 * r["test"]["accuracy"] for r in controls[("control", "ub", "-")]]
    fid_rows, task_rows, verdicts = {}, {}, {}
    for victim, method, label in (("T->V", "trml", "TRML"), ("T->V", "constant", "constant generator (broken)"),
                                  ("V->T", "trml", "TRML")):
        name = f"{victim}, {label}"
        fid_rows[name] = {
            "virtual R^2": S.fmt(S.mean_interval(feat(method, victim, "fidelity", "r2")), 1, 2),
            "virtual centred cosine": S.fmt(S.mean_interval(feat(method, victim, "fidelity", "centred_gap")), 1, 2),
            "ridge R^2": S.fmt(S.mean_interval(feat(method, victim, "ridge", "r2")), 1, 2),
            "ridge centred cosine": S.fmt(S.mean_interval(feat(method, victim, "ridge", "centred_gap")), 1, 2),
            "ridge (all pairs) R^2": S.fmt(S.mean_interval(feat(method, victim, "ridge_all", "r2")), 1, 2),
            "virtual length": S.fmt(S.mean_interval([r["virtual_norm"] for r in controls[("control", method, victim)]]), 1, 2)}
        floor, learned = ctl(method, victim, "test", "mean"), ctl(method, victim, "test", "virtual")
        gap = control_verdict(learned, floor, ub)
        fraction = S.fmt(gap["fraction"], 100, 0) + " %" if "fraction" in gap else "-"
        task_rows[name] = {
            "floor (mean stand-in)": S.fmt(S.mean_interval(floor), 1, 1),
            "zeros": S.fmt(S.mean_interval(ctl(method, victim, "test", "zero")), 1, 1),
            "virtual": S.fmt(S.mean_interval(learned), 1, 1),
            "true feature": S.fmt(S.mean_interval(ctl(method, victim, "test", "true")), 1, 1),
            "UB": S.fmt(S.mean_interval(ub), 1, 1),
            "closes": f"{S.fmt_diff(gap['closed'], 1, 1)} ({fraction})",
            "virtual - zeros": S.fmt_paired(learned, ctl(method, victim, "test", "zero"), 1, 1)}
        verdicts[name] = (fidelity_verdict([r["fidelity"] for r in controls[("control", method, victim)]],
                                           [r["ridge"] for r in controls[("control", method, victim)]]),
                          gap)
    show_table(fid_rows, title="Positive control, the virtual feature against its target and the ridge ceiling "
               "(test, complete samples), 5 seeds", best=None)
    show_table(task_rows, title="Positive control, test accuracy (%) with the victim absent, 5 seeds", best=None)
    for name, (fv, gap) in verdicts.items():
        print(f"{name}: feature test passes: {fv['passes']}; task test passes: {gap['passes']}")

# %% [markdown]
# **What happened.** The first prediction holds. The virtual feature carries its own sample in
# both directions -- centred cosine 0.45 [0.37, 0.53] with the visual missing, 0.29 [0.26, 0.32]
# with the text missing -- about half of what the ridge regression reaches on the same features
# and pairs (0.81 and 0.65), while its $R^2$ stays near zero (0.11 and 0.08 against 0.67 and 0.40):
# it points the right way and is about a third of the real features' length (0.33 against 1).
# The constant generator's centred cosine is zero and its $R^2$ is -1.79: it fails the feature test,
# as it must, and its floor and its virtual row are the same number.
#
# The second prediction holds with the visual missing and is wrong with the text missing. T→V: the
# virtual feature is no better than its training mean (+0.3 [-0.3, +0.9] points) or than zeros,
# and the true feature does no better either: the test fails. V→T: the virtual text is 2.8 [0.1,
# 5.5] points above its training mean, 15 % of the 23.6-point gap to UB, a measurable share, so
# the test passes there (just: the interval's low end is 0.1; against zeros the difference, +2.0
# [-0.8, +4.8], is not measurable). It holds no information the video lacks -- the true text
# given to the same head is *lower*, 44.3 % -- so what the generator adds is a better reading of
# the present video: a second, trained map of the video feature into the space the head was trained
# on, which helps where the video tower is weak. The broken variant closes nothing, so the control
# separates a working generator from a broken one on the feature test in both directions and on the
# task test with the text missing. The remaining verdict of this notebook stands: under Setting A
# most of the gap to UB is the missing modality's own information, which no virtual feature made
# from the present one can bring. (`tests/test_trml.py` keeps the T→V task test as a strict xfail.)
#
# ## Virtual features at unit length (`normalize_virtual`)
#
# The real features are L2-normalised before the fusion; the paper says nothing of the
# generators' output, and Eq. 6 leaves it as it comes. Notebook 40 finds virtual features several
# times longer than the real ones after complete training; here, under Setting A, they come out
# shorter (the tables above and notebook 10). `TRML(normalize_virtual=True)` rescales each virtual
# feature to unit length before it stands in for a missing one (our choice, not the paper's). We
# choose the default on **validation** (Setting A's validation split, the victim kept for 10 % of
# it), on the testbed, with this chapter's fine-tuned towers and 5 seeds, and show test beside it
# (grid `trml_controls`).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
if QUICK:
    def norm_acc(setting, victim, part, key="virtual"):
        return [100 * r[part][key] for r in controls[("normalize", setting, victim)]]

    norm_rows = {}
    for victim in GC.VICTIMS:
        for setting in ("off", "on"):
            rs = controls[("normalize", setting, victim)]
            norm_rows[f"{victim}, normalize_virtual {setting}"] = {
                "val accuracy (%)": S.fmt(S.mean_interval(norm_acc(setting, victim, "val")), 1, 1),
                "test accuracy (%)": S.fmt(S.mean_interval(norm_acc(setting, victim, "test")), 1, 1),
                "virtual length": S.fmt(S.mean_interval([r["virtual_norm"] for r in rs]), 1, 2),
                "virtual R^2": S.fmt(S.mean_interval([r["fidelity"]["r2"] for r in rs]), 1, 2),
                "virtual centred cosine": S.fmt(S.mean_interval([r["fidelity"]["centred_gap"] for r in rs]), 1, 2),
                "ridge R^2 / centred cosine": f"{S.fmt(S.mean_interval([r['ridge']['r2'] for r in rs]), 1, 2)} / "
                                              f"{S.fmt(S.mean_interval([r['ridge']['centred_gap'] for r in rs]), 1, 2)}"}
    show_table(norm_rows, title="normalize_virtual off (the paper as written) and on, testbed, Setting A, 5 seeds",
               best=None)
    show_table({f"on - off, {victim}": {part: S.fmt_paired(norm_acc("on", victim, part), norm_acc("off", victim, part), 1, 1)
                                        for part in ("val", "test")} for victim in GC.VICTIMS},
               title="paired differences over seeds, accuracy points", best=None)
    print("validation prefers normalize_virtual on (paired over both victims, interval above zero):",
          S.paired_difference([a for v in GC.VICTIMS for a in norm_acc("on", v, "val")],
                              [b for v in GC.VICTIMS for b in norm_acc("off", v, "val")])["low"] > 0)

# %% [markdown]
# Validation does not prefer unit length: over both victims and five seeds, on minus off is -0.6
# [-2.0, +0.8] points (-1.7 [-4.4, +0.9] with the visual missing, +0.5 [-0.9, +2.0] with the text
# missing), and test agrees (-1.2 and -1.5 points, neither measurable). So the default stays as
# Eq. 6 is written, `normalize_virtual=False`, and grid `trml` needs no recompute. Unit length
# leaves the virtual feature's direction as it was (centred cosine 0.47 against 0.42 with the
# visual missing) and makes its $R^2$ strongly negative (-1.20): under Setting A the generators'
# outputs here are about a third of the real features' length, not longer, so the rescaling
# triples them; the trained head then leans on them more (the mean stand-in costs it 7 points
# instead of none), without a gain. This is the testbed's Setting A with fine-tuned towers; on the
# comparison's footing (notebook 40: frozen towers, complete training, virtual features 2-5 times
# too long) the issue that asked for this parameter measured a gain on one seed, which this
# notebook does not test.
#
# ## Classification: Table 5 (MELD form)
#
# The same protocol with the six product categories and cross-entropy, scored by accuracy (Setting
# A here; the paper's table also has Setting B).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
if QUICK:
    show_result_table("classification", [("accuracy", "Acc")], "Table 5 on the testbed, Setting A, 5 seeds")
    show_table({f"TRML - {other}": {f"{victim}": compare("classification", "trml", key, victim, "accuracy")
                                    for victim in G.VICTIMS}
                for other, key in (("LB", "lb"), ("Cyclic", "cyclic"))},
               title="paired differences over seeds, accuracy points", best=None)

# %% tags=["hide-input"]
if QUICK:
    show_table(get("trml.table5").paper_numbers, title="trml.table5 -- the paper's rows (MELD)", digits=1, best=None)

# %% [markdown]
# As a picture: each method's accuracy (mean and 95 % interval over seeds) beside the limit of
# what it sees at test (open diamonds), one panel per victim.

# %% tags=["hide-input"]
if QUICK:
    rows, lims = bands("classification", "accuracy")
    plot_intervals({f"{v.replace('->', '→')}: the victim is missing": r for v, r in rows.items()},
                   {f"{v.replace('->', '→')}: the victim is missing": r for v, r in lims.items()},
                   xlabel="test accuracy (%)", xlim=(0, 100));

# %% [markdown]
# Classification tells the same story. With the visual missing TRML is really below LB, by 3.6
# [0.8, 6.4] points; with the text missing it shows no measurable difference from LB (-0.9
# [-10.0, +8.2]; the interval is the unstable video tower's) and is really below the cyclic
# baseline, by 6.0 [1.5, 10.5]. No row passes the limit of what it sees. The paper's Table 5 has
# TRML 6.1 points above LB with the visual missing on MELD; here it is below LB.
#
# ### Table 5 on the comparison's working towers
#
# The chapter's video tower stays 11-14 points short of the reference. The comparison chapter
# (notebook 40, grid `compare`) runs the same Setting A classification protocol -- the victim kept
# for 10 % of the training samples, absent from every test sample -- on towers that read their
# modality: the frozen photo tower pretrained in the book and MiniLM, each read through the same
# small MLP, TRML's generators and matching loss on those features (the photo as a one-frame
# video). TRML's floor is the same trained model with its virtual feature zeroed; Concat is the
# plain fusion model trained under the same protocol; UB is Concat trained and tested with both
# modalities, the ceiling a perfect virtual feature would approach.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
from rmm_lib.grids import compare as GX

if QUICK:
    working = GX.by_model(results(GX.GRID))
    PROTOCOL = {"T->V": ("trml:image", "text"), "V->T": ("trml:text", "image")}  # victim -> (protocol, sees)
    rows, acc = {}, {}
    for victim, (protocol, sees) in PROTOCOL.items():
        acc[victim] = {"LB (tower alone)": GX.scores(working, f"lb:{sees}", "complete", "complete"),
                       "Concat": GX.scores(working, "concat", protocol, "A"),
                       "TRML, virtual zeroed (floor)": GX.scores(working, "trml", protocol, "A", control="floor"),
                       "TRML": GX.scores(working, "trml", protocol, "A")}
        for name, v in acc[victim].items():
            rows.setdefault(name, {})[f"{victim} A Acc"] = S.fmt_mean(v)
            rows[name][f"{victim} limit"] = limit_text([sees], "accuracy")
        # UB as in the tables above: both modalities in training and at test (Concat, complete training)
        rows.setdefault("UB (Concat, both modalities)", {})[f"{victim} A Acc"] = S.fmt_mean(
            GX.scores(working, "concat", "complete", "complete"))
        rows["UB (Concat, both modalities)"][f"{victim} limit"] = limit_text(["image", "text"], "accuracy")
    show_table(rows, title="Table 5's protocol on the comparison's towers (grid compare), 5 seeds", best=None)
    print("photo tower alone - reference CNN (notebook 00):",
          S.fmt_paired(acc["V->T"]["LB (tower alone)"], [r["test"]["accuracy"] for r in reference["lb:image"]]))
    for victim in PROTOCOL:
        a = acc[victim]
        print(f"{victim}: TRML - floor {S.fmt_paired(a['TRML'], a['TRML, virtual zeroed (floor)'])} | "
              f"TRML - Concat {S.fmt_paired(a['TRML'], a['Concat'])} | TRML - LB {S.fmt_paired(a['TRML'], a['LB (tower alone)'])}")

# %% [markdown]
# On towers that read their modality -- the photo tower alone is no different from the reference
# CNN (+0.5 [-1.6, +2.6] points) -- the verdict is the same. The virtual feature does carry
# something the trained head uses: zeroing it costs 14.1 [0.6, 27.5] points with the visual missing
# and 3.7 [2.5, 5.0] with the text missing. But models trained without any virtual feature do as
# well: TRML shows no measurable difference from Concat under the same protocol (-1.5 [-4.9, +1.8]
# points with the visual missing, -1.5 [-3.9, +1.0] with the text missing), and with the visual missing it is really below the text tower alone, by 2.8
# [0.4, 5.2]. UB, 87.0 %, is out of reach for any row: with the victim absent, what the present
# modality shows caps a model at 66.8 % (the review) or about 80 % (the photo). The room that is
# reachable -- from LB to that limit, 8.4 and 3.9 points -- TRML does not take either. So the
# virtual feature repairs a head that learned to rely on it; it does not bring what the missing
# modality would, and the chapter's conclusion does not rest on its weak video tower. (These are grid `compare`'s cells, TRML with its virtual features as Eq. 6 writes them.)
#
# ## Ablations: Tables 6-7
#
# Without $\mathcal{L}^{(t,\bar t)}$, without $\mathcal{L}^{(v,\bar v)}$, and without
# $\mathcal{L}_{sml}$ (the generators stay and learn only through the task loss), each against full
# TRML on the same seeds.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
if QUICK:
    show_table({f"{victim}, {ablation}": {  # "without L(t,t)" is the paper's "w/o L(t,t)"
        "MAE": cell('regression', ablation, victim, 'mae'),
        "TRML - ablation: MAE": compare('regression', 'trml', ablation, victim, 'mae'),
        "TRML - ablation: Acc-2": compare('regression', 'trml', ablation, victim, 'acc2')}
        for victim in G.VICTIMS for ablation in G.ABLATIONS},
        title="Tables 6-7 on the testbed: each ablation against full TRML, 5 seeds", best=None)

# %% tags=["hide-input"]
if QUICK:
    for key in ("trml.table6", "trml.table7"):
        show_table(get(key).paper_numbers, title=f"{key} -- the paper's rows", digits=3, best=None)

# %% [markdown]
# Removing a matching term makes no measurable difference in five of the six comparisons. The one
# real difference goes against the paper: without $\mathcal{L}_{sml}$, V→T is *better* (MAE lower by
# 0.013 [0.008, 0.019], Acc-2 higher by 1.9 [0.6, 3.2]). The paper finds every term helps. Here the
# matching loss does its own job -- the virtual features find their own samples (notebook 11) --
# but that does not carry over to the task.
#
# ## Backbones (Fig. 4)
#
# The paper swaps CLIP for X-CLIP and ImageBind. We swap the open_clip architecture behind the
# same interface: the ViT used above and a ResNet-style tower (open_clip's `ModifiedResNet`, as in
# CLIP RN50), each pretrained the same way (in the `paper` profile: `ViT-B-32` and `RN50`, both
# `openai`).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
if QUICK:
    for backbone, method in (("ViT", "trml"), ("ResNet", "trml-resnet")):
        print(f"{backbone:6s} T->V: MAE {cell('regression', method, 'T->V', 'mae')}, "
              f"Acc-2 {cell('regression', method, 'T->V', 'acc2')}")
    print(f"ResNet - ViT, MAE: {compare('regression', 'trml-resnet', 'trml', 'T->V', 'mae')}")

# %% [markdown]
# The ResNet tower gives a real, small improvement over the ViT: MAE 0.509 against 0.540, a
# difference of 0.032 [0.011, 0.053]. The paper also finds TRML works with several backbones.
#
# Two of the paper's figures are not redrawn here. Its Fig. 5 would set TRML beside MM-Align on the
# same foundation model (CMU-MOSI and MOSEI), to show that the gain comes from TRML and not from
# the encoder; MM-Align is not re-implemented in this book, so there is no second method to draw
# (its published numbers stay in the paper's rows above). Its Fig. 6 would add the audio track
# through ImageBind; rmm_lib loads no ImageBind model, and this chapter's protocol uses the
# testbed's image and text only. (Its Fig. 1, the missing-modality scenarios, is drawn as presence
# masks in notebook 00; Fig. 2 is redrawn in notebook 10, Fig. 3 in notebook 11, Figs. 7-9 in
# notebook 13.)
#
# ## What these numbers say
#
# On the testbed, with towers fine-tuned as in appendix B and five seeds per cell, TRML does not
# reproduce the paper's gains: it is never measurably above LB, it is below LB in one T→V MAE
# comparison and below the cyclic baseline in four, and its ablations do not show that the matching
# terms help. The testbed can reward a missing-modality mechanism -- UB is 11-15 points above LB in
# accuracy, and the matching loss works (own-sample retrieval well above chance) -- but the limits
# show how little of that room is open to a model that sees one modality at test: in Setting A the
# best any method can do is the present modality's limit, and LB is already within 9 points of it
# with the review. What would let TRML help is information the present modality lacks; a virtual
# feature computed from it holds none. The positive control says the implementation is not what
# holds TRML back: where the present modality predicts the missing feature, the generators carry
# their own sample (about half the ridge ceiling's centred cosine, where a constant generator has
# none), and with the text missing the virtual feature closes a measurable 15 % of the gap to UB;
# with the visual missing it closes nothing, as the limits predict. Unit-length virtual features
# change nothing measurable. The strict xfail `test_trml_beats_the_lower_bound_by_a_margin`
# keeps the paper's claim as an open question on this testbed. The `paper` profile runs the same
# specs with CLIP ViT-B/32 on CMU-MOSI/MOSEI and MELD.
#
# ## In the paper profile
#
# The same tables on CMU-MOSI and MELD with CLIP ViT-B/32 fine-tuned (appendix B): one run per cell,
# with the paper's numbers beside ours. (Quick profile: nothing to run here; the tables above.)

# %%
if not QUICK:
    from rmm_lib.recipes import trml as R

    chapter = R.prepare(PROFILE)

    def run_table(key, **table):
        ctx = R.chapter_context(get(key), chapter, PROFILE, **table)  # appendix B
        return ctx.spec, ctx.spec.run(ctx)

    for key in ("trml.table1", "trml.table2", "trml.table5", "trml.table6", "trml.table7"):
        spec, ours = run_table(key)
        show_table(ours, spec.paper_numbers, title=f"{key} -- {spec.title}")
