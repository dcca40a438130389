"""CMPT's tables (Reza et al. 2025) as runnable specifications.

Paper numbers are transcribed exactly as printed ("mean ± SD" kept as text where the paper gives
one). Every ``run(ctx)`` trains CMPT with :func:`rmm_lib.recipes.cmpt.train_cmpt` on
``ctx.splits`` and returns ``{row: {column: value}}`` in percent. Trained models are kept in
``ctx.assets`` under a key per training setting, so with one shared
:class:`~rmm_lib.context.Assets` Table 1 reuses Table 6's runs and Table 2 / Figs. 2-4 share one
complete-data training.
"""
from __future__ import annotations

import numpy as np

from ..context import RunContext, TableSpec
from ..experiments import metrics_from_patterns, predict_patterns
from ..metrics import task_metrics
from ..methods.cmpt import parameter_report
from ..missing import inference_sweep, map_splits
from ..recipes.cmpt import QUICK, metric_of, task_of, train_cmpt
from . import register

# ----------------------------------------------------------------------------- Table 5
#: Table 5, image-text column (Food-101, MM-IMDb).
TRAIN_IMAGE_TEXT = dict(optimizer="adamw", lr=1e-3, eps=1e-8, weight_decay=0.02, scheduler="poly", poly_power=0.9,
                        epochs=10, warmup_epochs=5, warmup_factor=0.1, batch_size=8)
#: Table 5, audio-video column (Kinetics-Sounds, AVE, CREMA-D).
TRAIN_AUDIO_VIDEO = dict(TRAIN_IMAGE_TEXT, lr=5e-5, epochs=100, batch_size=4)
#: Table 5 rows that are not TrainConfig fields.
TABLE5_OTHER = {
    "lambda": 0.20, "lora_rank": 1, "lora_alpha": 1, "lora_dropout": 0.1,
    "image_encoder": "ViT-B (CLIP, 16x16 patches, 224x224)", "text_encoder": "BERT-Base", "audio_encoder": "AST",
    "audio": "16 kHz, 128 mel bins, up to 1024 frames", "frames_per_video": 3,
    "text_max_length": {"food101": 40, "mmimdb": 256}, "gpus": {"image_text": "2x RTX 2080Ti", "audio_video": "1x RTX 2080Ti"},
}
IMAGE_TEXT = {"image": "ViT-B-16/openai", "text": "bert-base-uncased"}
AUDIO_VIDEO = {"audio": "MIT/ast-finetuned-audioset-10-10-0.4593", "video": "ViT-B-16/openai"}

#: MAP missing types -> availability row label (image %, text %) at eta = 70 %.
MAP_ROWS = {"image": "image 30% / text 100%", "both": "image 65% / text 65%", "text": "image 100% / text 30%"}

# ----------------------------------------------------------------------------- paper numbers
_T1_COLS = ("ViLT", "MAP Input", "MAP Attn.", "MSP", "VisualBERT", "Ma et al.", "Kim & Kim", "MuAP Head",
            "MuAP Cross", "CMPT")
_T1 = {
    "mmimdb": (
        (37.61, 46.30, 44.74, 47.45, 38.63, 46.63, 56.03, 47.21, 46.73, "60.21 ± 0.40"),
        (36.30, 42.66, 41.56, 42.03, 37.23, 41.28, 49.24, 42.57, 43.92, "54.04 ± 0.23"),
        (34.71, 39.22, 38.16, 38.34, 36.41, 38.65, 43.21, 41.37, 39.88, "52.61 ± 0.12"),
    ),
    "food101": (
        (76.93, 86.18, 86.05, 86.34, 77.41, 86.38, 87.11, 86.90, 86.59, "87.48 ± 0.13"),
        (69.03, 79.08, 78.09, 78.89, 71.06, 78.58, 82.67, 77.87, 78.95, "82.83 ± 0.25"),
        (66.29, 74.53, 72.57, 73.77, 67.78, 73.41, 78.81, 74.61, 74.60, "80.37 ± 0.18"),
    ),
}
_T6_COLS = ("ViLT", "MAP", "MSP", "Kim & Kim", "CMPT")
_T6 = {  # train row -> test rows, in MAP_ROWS order (30/100, 65/65, 100/30)
    "mmimdb": (
        ((37.63, 47.18, 47.45, 56.03, "60.21 ± 0.40"), (34.47, 37.25, 42.17, 49.81, "50.05 ± 0.53"),
         (30.00, 24.31, 34.32, 43.07, "36.10 ± 0.19")),
        ((36.48, 42.72, 44.81, 55.26, "57.45 ± 0.21"), (36.54, 40.84, 42.03, 49.24, "54.04 ± 0.23"),
         (33.76, 37.80, 37.30, 42.46, "50.05 ± 0.29")),
        ((27.25, 20.17, 34.11, 54.67, "44.72 ± 0.46"), (32.51, 29.79, 36.97, 49.09, "49.26 ± 0.42"),
         (34.26, 36.89, 38.34, 43.21, "52.61 ± 0.12")),
    ),
    "food101": (
        ((76.40, 86.34, 86.34, 87.11, "87.48 ± 0.13"), (59.03, 57.92, 71.88, 81.22, "77.52 ± 0.29"),
         (41.94, 29.71, 56.87, 75.41, "67.60 ± 0.26")),
        ((73.62, 85.55, 85.91, 87.35, "87.36 ± 0.20"), (68.60, 78.49, 78.89, 82.67, "82.83 ± 0.25"),
         (64.25, 71.17, 71.58, 78.13, "78.40 ± 0.09")),
        ((43.67, 27.46, 57.22, 86.90, "85.34 ± 0.15"), (54.75, 50.79, 65.13, 82.35, "82.78 ± 0.22"),
         (66.01, 73.71, 73.77, 78.81, "80.37 ± 0.18")),
    ),
}
_T2_COLS = ("FiLM", "BiGated", "OGM-GE", "QMF", "MLA", "CMPT")
_T2 = {  # rows: first modality available / second available / both
    "cremad": {"audio (video missing)": (53.89, 51.49, 53.76, 59.41, 59.27, 67.20),
               "video (audio missing)": (18.67, 17.34, 28.09, 39.11, 64.91, 76.21),
               "audio + video": (60.07, 59.21, 68.14, 63.71, 79.70, 88.84)},
    "kinetics_sounds": {"audio (video missing)": (48.67, 49.96, 48.87, 51.57, 54.67, 68.27),
                        "video (audio missing)": (23.15, 23.77, 29.73, 32.19, 51.03, 85.77),
                        "audio + video": (63.33, 63.72, 65.74, 65.78, 71.35, 91.21)},
    "food101": {"image (text missing)": (4.68, 14.20, 22.35, 45.74, 69.60, 75.66),
                "text (image missing)": (85.84, 85.79, 85.17, 84.13, 86.47, 80.66),
                "image + text": (87.21, 88.87, 87.54, 92.87, 93.33, 94.47)},
}
#: Table 3: method -> (total M, learnable M, Food-101 acc, MM-IMDb F1-macro / F1-micro).
TABLE3 = {
    "ViLT": (112.63, 112.63, 92.00, "55.30 / 64.70"), "MBT": (196.00, 196.00, 93.56, "59.60 / 64.81"),
    "MMBT": (170.00, 170.00, 94.10, "60.80 / 66.10"), "MMLoRA": (196.10, 196.10, 93.70, "61.70 / 67.20"),
    "PMF": (198.43, 2.54, 91.51, "58.77 / 64.51"), "PMF-L": (643.95, 4.44, 91.68, "61.66 / 66.72"),
    "MLA": (218.26, 218.26, 93.33, "- / -"), "CMPT": (195.51, 0.27, 94.47, "63.58 / 69.23"),
}
#: Table 4: method -> (total M, learnable M, KS, AVE, CREMA-D); None = not reported.
TABLE4 = {
    "G-Blend": (22.36, 22.36, 62.20, 65.50, 58.70), "FiLM": (22.35, 22.35, 63.33, None, 60.07),
    "BiGated": (22.35, 22.35, 63.72, None, 59.21), "OGM-GE": (22.35, 22.35, 65.74, 76.90, 68.14),
    "QMF": (22.36, 22.36, 65.78, "68.16*", 63.71), "PMR": (22.36, 22.36, None, 66.40, 61.80),
    "MLA": (22.37, 22.37, 71.35, "64.68*", 79.70), "MBT": (172.00, 172.00, 85.00, 77.80, None),
    "MMLoRA": (172.19, 172.19, 91.40, 96.20, 88.60), "CMPT": (172.16, 0.17, 91.21, 96.77, 88.84),
}
#: Sec. 4.6.1 / A5 (Figs. 3, 5): gains of CMPT with one modality entirely missing at test, in points.
FIG3_GAINS = {
    "mmimdb": {"image missing: CMPT - baseline": 32.06, "image missing: CMPT - modality dropout": 11.55},
    "food101": {"image missing: CMPT - baseline": 5.07, "image missing: CMPT - modality dropout": 3.81,
                "text missing: CMPT - baseline": 25.59, "text missing: CMPT - modality dropout": 11.96},
}


def _rows(cols, values) -> dict:
    return dict(zip(cols, values))


#: Tables 3-4: (total, learnable) parameters in millions as the paper prints them.
PAPER_PARAMETERS = {"image_text": (195.51, 0.27), "audio_video": (172.16, 0.17)}


# ----------------------------------------------------------------------------- running
def _map_sizes(splits) -> dict:
    return {k: len(v) for k, v in splits.items() if k in ("train", "val", "test")}


def run_table6(ctx: RunContext) -> dict:
    """Table 6 (and, on its diagonal, Table 1): MAP protocol at eta = 70 %, three training
    settings, each tested on the three test settings. ``{train row: {test row: metric %}}``."""
    rate = ctx.table.get("eta", 0.7)
    modalities = ctx.splits["train"].modalities
    task, metric = task_of(ctx.splits), metric_of(task_of(ctx.splits))
    out = {}
    for train_type, train_row in MAP_ROWS.items():
        masks = map_splits(_map_sizes(ctx.splits), train_type, train_type, rate, modalities, seed=ctx.seed)
        trainer = train_cmpt(ctx, masks["train"], masks.get("val"))
        preds = predict_patterns(trainer, ctx.splits["test"])
        out[train_row] = {}
        for test_type, test_row in MAP_ROWS.items():
            test_mask = map_splits(_map_sizes(ctx.splits), train_type, test_type, rate, modalities,
                                   seed=ctx.seed)["test"]
            out[train_row][test_row] = 100 * metrics_from_patterns(task, preds, test_mask)[metric]
    return out


def run_table1(ctx: RunContext) -> dict:
    """Table 1: same missing type in training and test (the diagonal of Table 6)."""
    grid = run_table6(ctx)
    return {row: {"CMPT (ours)": grid[row][row]} for row in MAP_ROWS.values()}


def run_table2(ctx: RunContext) -> dict:
    """Table 2: complete training; one modality absent from every test sample, or none."""
    m1, m2 = ctx.splits["train"].modalities
    task, metric = task_of(ctx.splits), metric_of(task_of(ctx.splits))
    out = {}
    for variant in ("baseline", "dropout", "cmpt"):
        preds = predict_patterns(train_cmpt(ctx, variant=variant), ctx.splits["test"])
        score = {p: 100 * task_metrics(task, v["target"], v["logits"])[metric] for p, v in preds.items()}
        out[variant] = {f"{m1} ({m2} missing)": score[(True, False)], f"{m2} ({m1} missing)": score[(False, True)],
                        f"{m1} + {m2}": score[(True, True)]}
    return out


def run_complete(ctx: RunContext) -> dict:
    """Tables 3-4: complete training and test, with the model's parameter counts."""
    trainer = train_cmpt(ctx)
    task = task_of(ctx.splits)
    pred = trainer.predict(ctx.splits["test"])
    metrics = task_metrics(task, pred["target"], pred["logits"])
    counts = parameter_report(trainer.model)["all"]
    row = {"total (M)": counts["total"] / 1e6, "learnable (M)": counts["learnable"] / 1e6}
    row.update({k: 100 * v for k, v in metrics.items() if k in ("accuracy", "f1_macro", "f1_micro")})
    return {"CMPT (ours)": row}


def run_sweep(ctx: RunContext, rates=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)) -> dict:
    """Figs. 2-3 (and A5): complete training; ``rate`` of test samples missing one modality.
    ``{missing modality: {variant: [metric % per rate]}}``."""
    test = ctx.splits["test"]
    task, metric = task_of(ctx.splits), metric_of(task_of(ctx.splits))
    preds = {v: predict_patterns(train_cmpt(ctx, variant=v), test) for v in ("baseline", "dropout", "cmpt")}
    out = {}
    for missing in test.modalities:
        masks = inference_sweep(len(test), missing, rates, test.modalities, seed=ctx.seed)
        out[missing] = {v: [100 * metrics_from_patterns(task, p, masks[r])[metric] for r in rates]
                        for v, p in preds.items()}
    return out


def proxy_check(ctx: RunContext, seeds=(0, 1, 2)) -> dict:
    """Is it the proxy? Complete training (CMPT with modality dropout) for each seed; each model is
    scored with one modality absent from every test sample, once as trained and once with its
    final proxy tokens zeroed (``CMPTModel.zero_proxy``, the placeholder a model without proxies
    would see). ``{seed: {"<m> missing": {"learned": %, "zeroed": %}}}``."""
    test = ctx.splits["test"]
    m1, m2 = test.modalities
    task, metric = task_of(ctx.splits), metric_of(task_of(ctx.splits))
    patterns = {f"{m1} missing": (False, True), f"{m2} missing": (True, False)}

    def scores(trainer):
        preds = predict_patterns(trainer, test, list(patterns.values()))
        return {k: 100 * metrics_from_patterns(task, preds, np.tile(p, (len(test), 1)))[metric]
                for k, p in patterns.items()}

    out = {}
    for seed in seeds:
        trainer = train_cmpt(ctx.with_seed(seed), variant="cmpt")
        learned = scores(trainer)
        trainer.model.zero_proxy = True
        try:
            zeroed = scores(trainer)
        finally:
            trainer.model.zero_proxy = False
        out[seed] = {k: {"learned": learned[k], "zeroed": zeroed[k]} for k in patterns}
    return out


# ----------------------------------------------------------------------------- registry
for _ds in ("mmimdb", "food101"):
    _name = "MM-IMDb (F1-macro)" if _ds == "mmimdb" else "UPMC Food-101 (accuracy)"
    register(TableSpec(
        key=f"cmpt.table1.{_ds}", paper="cmpt", title=f"Table 1: missing in training and test, eta = 70 % -- {_name}",
        dataset=_ds, backbones=IMAGE_TEXT, train=TRAIN_IMAGE_TEXT, quick_train=QUICK["train"], quick_model=QUICK["model"],
        protocol="MAP (Lee et al. 2023), eta = 70 %: image-missing, both-missing (half each), text-missing; "
                 "the same type in train, val and test",
        paper_numbers={row: _rows(_T1_COLS, vals) for row, vals in zip(MAP_ROWS.values(), _T1[_ds])},
        run=run_table1, options=("eta",), notes="CMPT column: mean ± SD of three seeds.",
    ))
    register(TableSpec(
        key=f"cmpt.table6.{_ds}", paper="cmpt", title=f"Table 6: training vs test missing type (3 x 3) -- {_name}",
        dataset=_ds, backbones=IMAGE_TEXT, train=TRAIN_IMAGE_TEXT, quick_train=QUICK["train"], quick_model=QUICK["model"],
        protocol="MAP, eta = 70 %; train type (row) and test type (column) chosen independently",
        paper_numbers={f"train {tr} | test {te}": _rows(_T6_COLS, vals)
                       for tr, row in zip(MAP_ROWS.values(), _T6[_ds]) for te, vals in zip(MAP_ROWS.values(), row)},
        run=run_table6, options=("eta",),
    ))
    register(TableSpec(
        key=f"cmpt.table3.{_ds}", paper="cmpt", title=f"Table 3: complete modalities, parameters -- {_name}",
        dataset=_ds, backbones=IMAGE_TEXT, train=TRAIN_IMAGE_TEXT, quick_train=QUICK["train"], quick_model=QUICK["model"], protocol="complete in training and test",
        paper_numbers={m: {"total (M)": v[0], "learnable (M)": v[1], "UPMC Food-101": v[2], "MM-IMDb": v[3]}
                       for m, v in TABLE3.items()},
        run=run_complete,
    ))

for _ds, _pair in (("cremad", AUDIO_VIDEO), ("kinetics_sounds", AUDIO_VIDEO), ("food101", IMAGE_TEXT)):
    register(TableSpec(
        key=f"cmpt.table2.{_ds}", paper="cmpt", title=f"Table 2: complete training, one modality absent at test -- {_ds}",
        dataset=_ds, backbones=_pair, train=TRAIN_AUDIO_VIDEO if _pair is AUDIO_VIDEO else TRAIN_IMAGE_TEXT,
        quick_train=QUICK["train"], quick_model=QUICK["model"],
        protocol="complete in training (random modality dropout); at test one modality missing for every sample",
        paper_numbers={row: _rows(_T2_COLS, vals) for row, vals in _T2[_ds].items()},
        run=run_table2, notes="Our rows: baseline, modality dropout and CMPT on the same encoders.",
    ))

for _ds in ("kinetics_sounds", "ave", "cremad"):
    register(TableSpec(
        key=f"cmpt.table4.{_ds}", paper="cmpt", title=f"Table 4: complete audio-video, parameters -- {_ds}",
        dataset=_ds, backbones=AUDIO_VIDEO, train=TRAIN_AUDIO_VIDEO, quick_train=QUICK["train"], quick_model=QUICK["model"], protocol="complete in training and test",
        paper_numbers={m: {"total (M)": v[0], "learnable (M)": v[1], "KS": v[2], "AVE": v[3], "CREMA-D": v[4]}
                       for m, v in TABLE4.items()},
        run=run_complete,
    ))

for _ds in ("mmimdb", "food101"):
    register(TableSpec(
        key=f"cmpt.fig3.{_ds}", paper="cmpt",
        title=f"Figs. 2-3 / 5: complete training, x % of test samples missing one modality -- {_ds}",
        dataset=_ds, backbones=IMAGE_TEXT, train=TRAIN_IMAGE_TEXT, quick_train=QUICK["train"], quick_model=QUICK["model"],
        protocol="complete in training; nested test masks, rates 0-100 %",
        paper_numbers=FIG3_GAINS[_ds], run=run_sweep,
        notes="The paper gives these curves as figures only; the numbers are the gains its text quotes.",
    ))


