"""MLA's tables and figures as runnable specifications (Zhang et al., CVPR 2024).

Paper numbers are transcribed exactly from the paper (Tables 1-4; App. A.4 repeats them with
standard deviations). The same ``run`` functions serve the chapter notebook (the testbed,
quick settings) and the paper profile (real data, App. A.3 hyperparameters).

* ``mla.table1_<dataset>``: complete modalities, unimodal and "Multi" accuracy of Sum, Concat,
  Late fusion, FiLM, BiGated, OGM-GE, QMF and MLA (Table 1).
* ``mla.table2``: IEMOCAP, each modality of each sample dropped with probability eta, the same eta
  in train/val/test; Late fusion, QMF, MLA (Table 2).
* ``mla.table3_<dataset>``: ablation of head gradient modification (HGM) and dynamic fusion (DF).
* ``mla.fig2``: one modality's accuracy as the other's *training* data is masked, MLA vs QMF.
* ``mla.fig3``: the modality gap (Liang et al. 2022), MLA vs Concat.
* ``mla.table4``: Food-101 with CLIP encoders.
* ``mla.released``: the released-code variant beside the paper's method (not a paper table).

Each model is trained by :func:`rmm_lib.recipes.mla.fit`, which keeps it in the run's assets, so a
notebook that runs several specs with one :class:`~rmm_lib.context.Assets` trains each model once.
"""
from __future__ import annotations

import numpy as np

from ..context import RunContext, TableSpec
from ..methods.mla import modality_gap
from ..missing import mla_random_missing, only_modality
from ..recipes.mla import PAPER_TRAIN, QUICK_TRAIN, accuracy_row, encoder_features, fit
from . import register

METHODS = {  # paper column -> rmm_lib name
    "Sum": "sum", "Concat": "concat", "Late Fusion": "late_independent", "FiLM": "film", "BiGated": "bigated",
    "OGM-GE": "ogm_ge", "QMF": "qmf", "MLA": "mla",
}
ETAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def _cols(*values):
    return dict(zip(METHODS, values))


def _t1(rows: dict) -> dict:
    """{modality: {method: value}} -> {method: {modality: value}}, the layout ``run`` returns."""
    return {method: {mod: rows[mod][method] for mod in rows} for method in METHODS}


TABLE1 = {
    "cremad": _t1({
        "Audio": _cols(54.14, 55.65, 52.17, 53.89, 51.49, 53.76, 59.41, 59.27),
        "Video": _cols(18.45, 18.68, 55.48, 18.67, 17.34, 28.09, 39.11, 64.91),
        "Multi": _cols(60.32, 61.56, 66.32, 60.07, 59.21, 68.14, 63.71, 79.70),
    }),
    "kinetics_sounds": _t1({
        "Audio": _cols(48.77, 49.18, 47.87, 48.67, 49.96, 48.87, 51.57, 54.67),
        "Video": _cols(24.53, 24.67, 46.76, 23.15, 23.77, 29.73, 32.19, 51.03),
        "Multi": _cols(64.72, 64.84, 65.53, 63.33, 63.72, 65.74, 65.78, 71.35),
    }),
    "food101": _t1({
        "Image": _cols(4.57, 3.51, 58.46, 4.68, 14.20, 22.35, 45.74, 69.60),
        "Text": _cols(85.63, 86.02, 85.19, 85.84, 85.79, 85.17, 84.13, 86.47),
        "Multi": _cols(86.19, 86.32, 90.21, 87.21, 88.87, 87.54, 92.87, 93.33),
    }),
    "mvsa": _t1({
        "Text": _cols(73.33, 75.22, 72.15, 74.85, 73.13, 74.76, 74.87, 75.72),
        "Image": _cols(28.46, 27.32, 45.24, 27.12, 28.15, 31.98, 32.99, 54.99),
        "Multi": _cols(76.19, 76.25, 76.88, 75.34, 75.94, 76.37, 77.96, 79.94),
    }),
    "iemocap": _t1({
        "Audio": _cols(39.79, 41.93, 43.12, 41.64, 42.23, 41.38, 42.98, 46.29),
        "Image": _cols(29.44, 30.00, 32.38, 29.85, 27.45, 30.24, 31.22, 37.63),
        "Text": _cols(65.16, 67.84, 68.79, 66.37, 65.16, 70.79, 75.03, 73.22),
        "Multi": _cols(74.18, 75.91, 74.96, 74.32, 73.34, 76.17, 76.17, 78.92),
    }),
}

_T2 = {
    "Late Fusion": (72.95, 69.06, 64.89, 61.09, 56.48, 52.41, 45.07),
    "QMF": (73.49, 71.33, 65.89, 62.27, 57.94, 55.60, 50.25),
    "CCA": (65.19, 62.60, 59.35, 55.25, 51.38, 45.73, 30.61),
    "DCCA": (57.25, 51.74, 42.53, 36.54, 34.82, 33.65, 41.09),
    "DCCAE": (61.66, 57.67, 54.95, 51.08, 45.71, 39.07, 41.42),
    "AE": (71.36, 67.40, 62.02, 57.24, 50.56, 43.04, 39.86),
    "CRA": (71.28, 67.34, 62.24, 57.04, 49.86, 43.22, 38.56),
    "MMIN": (71.84, 69.36, 66.34, 63.30, 60.54, 57.52, 55.44),
    "IF-MMIN": (71.32, 68.29, 64.17, 60.13, 57.45, 53.26, 52.04),
    "CPM-Net": (55.29, 53.65, 52.52, 51.01, 49.09, 47.38, 44.76),
    "TATE": (67.84, 63.22, 62.19, 60.36, 58.74, 57.99, 54.35),
    "MLA": (75.07, 72.33, 68.47, 67.00, 63.48, 59.17, 55.89),
}
TABLE2 = {method: {f"{int(round(eta * 100))}": v for eta, v in zip(ETAS, values)} for method, values in _T2.items()}

ABLATION = ("HGM- DF-", "HGM- DF+", "HGM+ DF-", "HGM+ DF+")


def _t3(rows: dict) -> dict:
    return {cell: {mod: rows[mod][i] for mod in rows} for i, cell in enumerate(ABLATION)}


TABLE3 = {
    "cremad": _t3({"Audio": (52.17, 52.17, 59.27, 59.27), "Video": (55.48, 55.48, 64.91, 64.91),
                   "Multi": (66.32, 72.79, 74.51, 79.70)}),
    "kinetics_sounds": _t3({"Audio": (47.87, 47.87, 54.66, 54.66), "Video": (46.76, 46.76, 51.03, 51.03),
                            "Multi": (65.53, 66.34, 70.72, 71.35)}),
    "food101": _t3({"Text": (85.19, 85.19, 86.47, 86.47), "Image": (58.46, 58.46, 69.60, 69.60),
                    "Multi": (90.21, 91.37, 91.72, 93.33)}),
    "mvsa": _t3({"Text": (72.15, 72.15, 75.72, 75.72), "Image": (45.24, 45.24, 54.99, 54.99),
                 "Multi": (76.88, 77.53, 79.59, 79.94)}),
    "iemocap": _t3({"Audio": (43.12, 43.12, 46.29, 46.29), "Text": (68.79, 68.79, 73.22, 73.22),
                    "Image": (32.38, 32.38, 37.63, 37.63), "Multi": (74.96, 75.42, 77.58, 78.92)}),
}

TABLE4 = {"CLIP": {"Image": 63.07, "Text": 83.98, "Multi": 93.07},
          "CLIP + MLA": {"Image": 72.22, "Text": 85.34, "Multi": 93.47}}


def run_table1(ctx: RunContext) -> dict:
    methods = ctx.table.get("methods", list(METHODS))
    return {m: accuracy_row(fit(ctx, METHODS[m]), ctx.splits["test"]) for m in methods}


def run_table2(ctx: RunContext) -> dict:
    etas = ctx.table.get("rates", ETAS)
    methods = ctx.table.get("methods", ["Late Fusion", "QMF", "MLA"])
    out = {m: {} for m in methods}
    for eta in etas:
        mods = ctx.splits["train"].modalities
        masks = {s: mla_random_missing(len(ctx.splits[s]), mods, eta, seed=ctx.seed * 1000 + i)
                 for i, s in enumerate(("train", "val", "test"))}
        for m in methods:
            trainer = fit(ctx, METHODS[m], presence=masks, tag=f"eta={eta}")
            out[m][f"{int(round(eta * 100))}"] = 100 * trainer.evaluate(ctx.splits["test"].with_presence(masks["test"]))["accuracy"]
    return out


def run_table3(ctx: RunContext) -> dict:
    out = {}
    for hgm in (False, True):
        trainer = fit(ctx, "mla") if hgm else fit(ctx, "mla", projection=False)
        for df in (False, True):
            trainer.model.fusion = "entropy" if df else "mean"
            out[f"HGM{'+' if hgm else '-'} DF{'+' if df else '-'}"] = accuracy_row(trainer, ctx.splits["test"])
        trainer.model.fusion = "entropy"
    return {cell: out[cell] for cell in ABLATION}


def run_fig2(ctx: RunContext) -> dict:
    """Accuracy (%) of modality ``kept`` alone while ``masked``'s training data is dropped at each rate."""
    mods = ctx.splits["train"].modalities
    kept, masked = ctx.table.get("kept", mods[1]), ctx.table.get("masked", mods[0])
    rates = ctx.table.get("rates", (0.0, 0.3, 0.6, 0.9))
    col = mods.index(masked)
    out = {}
    for method in ctx.table.get("methods", ["MLA", "QMF"]):
        for rate in rates:
            mask = np.ones((len(ctx.splits["train"]), len(mods)), dtype=bool)
            rng = np.random.default_rng(ctx.seed)
            mask[rng.permutation(len(mask))[: int(round(rate * len(mask)))], col] = False
            trainer = fit(ctx, METHODS[method], presence={"train": mask}, tag=f"{masked}-train={rate}")
            test_mask = only_modality(len(ctx.splits["test"]), mods, kept)
            acc = trainer.evaluate(ctx.splits["test"].with_presence(test_mask))["accuracy"]
            out.setdefault(method, {})[f"{int(round(rate * 100))}"] = 100 * acc
    return out


def run_fig3(ctx: RunContext) -> dict:
    a, b = ctx.table.get("pair", ("image", "text"))
    out = {}
    for method in ("Concat", "MLA"):
        f = encoder_features(fit(ctx, METHODS[method]), ctx.splits["test"])
        out[method] = {"gap": modality_gap(f[a], f[b]), "Multi": 100 * fit(ctx, METHODS[method]).evaluate(ctx.splits["test"])["accuracy"]}
    return out


def run_table4(ctx: RunContext) -> dict:
    return {"CLIP": accuracy_row(fit(ctx, "concat"), ctx.splits["test"]),
            "CLIP + MLA": accuracy_row(fit(ctx, "mla"), ctx.splits["test"])}


def run_released(ctx: RunContext) -> dict:
    """The paper's MLA beside the released-code variant, complete and at one missing rate."""
    eta = ctx.table.get("eta", 0.5)
    mods = ctx.splits["train"].modalities
    masks = {s: mla_random_missing(len(ctx.splits[s]), mods, eta, seed=ctx.seed * 1000 + i)
             for i, s in enumerate(("train", "val", "test"))}
    out = {}
    for name, kwargs in (("MLA (as in the paper)", {}), ("MLA (released code)", {"variant": "released"})):
        row = accuracy_row(fit(ctx, "mla", **kwargs), ctx.splits["test"])
        trainer = fit(ctx, "mla", presence=masks, tag=f"eta={eta}", **kwargs)
        row[f"Multi, eta={eta}"] = 100 * trainer.evaluate(ctx.splits["test"].with_presence(masks["test"]))["accuracy"]
        out[name] = row
    return out


# ----------------------------------------------------------------------------- the specs
_BACKBONES = {
    "cremad": {"audio": "resnet18 (scratch, fbank)", "video": "resnet18 (scratch, 3 frames)"},
    "kinetics_sounds": {"audio": "resnet18 (scratch, fbank)", "video": "resnet18 (scratch, 3 frames)"},
    "food101": {"image": "M3AE (paper); ViT-B-32/openai here", "text": "M3AE (paper); CLIP text here"},
    "mvsa": {"image": "M3AE (paper); ViT-B-32/openai here", "text": "M3AE (paper); CLIP text here"},
    "iemocap": {"audio": "CAVMAE (paper)", "image": "M3AE (paper)", "text": "M3AE (paper)"},
}
_NAMES = {"cremad": "CREMA-D", "kinetics_sounds": "Kinetics-Sounds", "food101": "UPMC Food-101", "mvsa": "MVSA",
          "iemocap": "IEMOCAP"}

for _ds in TABLE1:
    register(TableSpec(
        key=f"mla.table1_{_ds}", paper="mla", title=f"Table 1: complete modalities, {_NAMES[_ds]}", dataset=_ds,
        backbones=_BACKBONES[_ds], train=PAPER_TRAIN, quick_train=QUICK_TRAIN, protocol="complete modalities in train and test; unimodal "
        "columns evaluate with every other modality absent", paper_numbers=TABLE1[_ds], run=run_table1, options=("methods",),
        notes="Shared linear head for MLA; every baseline on the same encoders and trainer (App. A.2).",
    ))
    register(TableSpec(
        key=f"mla.table3_{_ds}", paper="mla", title=f"Table 3: ablation of HGM and DF, {_NAMES[_ds]}", dataset=_ds,
        backbones=_BACKBONES[_ds], train=PAPER_TRAIN, quick_train=QUICK_TRAIN, protocol="complete modalities; DF- fuses with equal weights",
        paper_numbers=TABLE3[_ds], run=run_table3,
    ))

register(TableSpec(
    key="mla.table2", paper="mla", title="Table 2: IEMOCAP with missing rates 10-70%", dataset="iemocap",
    backbones={"audio": "wav2vec features + 3-layer MLP (128)", "image": "MANet features + 3-layer MLP (128)",
               "text": "BERT features + 3-layer MLP (128)"},
    train=PAPER_TRAIN, quick_train=QUICK_TRAIN, protocol="each modality of each sample dropped with probability eta, same eta in train/val/"
    "test, an emptied sample gets one modality back (rmm_lib.missing.mla_random_missing)",
    paper_numbers=TABLE2, run=run_table2, options=("methods", "rates"), notes="Only Late Fusion, QMF and MLA are run; the other rows are the paper's.",
))
register(TableSpec(
    key="mla.fig2", paper="mla", title="Fig. 2: one modality's accuracy as the other's training data is masked",
    dataset="kinetics_sounds", backbones=_BACKBONES["kinetics_sounds"], train=PAPER_TRAIN, quick_train=QUICK_TRAIN,
    protocol="a fraction of training samples lose one modality; test with the other modality alone",
    paper_numbers={}, run=run_fig2, options=("kept", "masked", "methods", "rates"), notes="A figure: the paper prints no values.",
))
register(TableSpec(
    key="mla.fig3", paper="mla", title="Fig. 3: modality gap, MLA vs Concat", dataset="food101",
    backbones=_BACKBONES["food101"], train=PAPER_TRAIN, quick_train=QUICK_TRAIN, protocol="complete modalities; gap = distance between "
    "the centroids of L2-normalised image and text features (Liang et al. 2022)",
    paper_numbers={}, run=run_fig3, options=("pair",), notes="A figure: the paper prints no values.",
))
register(TableSpec(
    key="mla.table4", paper="mla", title="Table 4: Food-101 with CLIP encoders", dataset="food101",
    backbones={"image": "CLIP (variant not stated; ViT-B-32/openai here)", "text": "CLIP text"},
    train=PAPER_TRAIN, quick_train=QUICK_TRAIN, protocol="complete modalities", paper_numbers=TABLE4, run=run_table4,
    notes="'CLIP' is read as joint (Concat) training on CLIP encoders; the paper does not say which fusion.",
))
register(TableSpec(
    key="mla.released", paper="mla", title="The released code's behaviour beside the paper's MLA",
    dataset="iemocap", backbones=_BACKBONES["iemocap"], train=PAPER_TRAIN, quick_train=QUICK_TRAIN,
    protocol="complete, and eta = 0.5 missing in every split", paper_numbers={}, run=run_released, options=("eta",),
    notes="Variant written from FACTS.md: no projection, P normalised by its Frobenius norm, batch-axis fusion.",
))


