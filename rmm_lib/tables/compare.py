"""The comparison (notebook 40) on real data: every method, one footing, each paper's protocol.

None of the three papers compares with the other two, so this spec has no paper numbers: its
rows are ours only. ``python -m rmm_lib run compare.grid.food101 --data-root ... --out runs/`` runs
it in the paper profile on UPMC Food-101 with CMPT's encoders (CLIP ViT-B/16's image tower and
bert-base-uncased, Sec. 4.2): the feature methods read their pooled outputs, frozen (computed
once); CMPT and its no-proxy controls (with and without modality dropout) run them with rank-1
LoRA (:func:`rmm_lib.recipes.cmpt.train_cmpt`). One trainer configuration for every method (CMPT's
Table 5, image-text column), the epoch kept on validation accuracy; unlike the quick grid, MLA does
not get its own SGD here (its paper's 100 epochs on Food-101 were not budgeted). MM-IMDb is left out: its task is multi-label, which the feature baselines,
MLA and TRML do not implement.

``--table methods=concat,cmpt`` and ``--table settings=complete,map:both`` run a part.
"""
from __future__ import annotations

import numpy as np

from ..context import RunContext, TableSpec
from ..experiments import metrics_from_patterns, predict_patterns
from ..metrics import area_under_curve
from ..recipes import compare as R
from ..recipes.cmpt import QUICK, train_cmpt
from ..train import Trainer
from ..utils import seed_everything
from . import register
from .cmpt import IMAGE_TEXT, TRAIN_IMAGE_TEXT

#: The columns each protocol writes (accuracy, %), in order.
COLUMNS = {
    "complete": ("complete", "no image", "no text", "AUC (image missing)", "AUC (text missing)"),
    **{f"map:{t}": tuple(f"MAP train {t} | test {u}" for u in R.MAP_TYPES) for t in R.MAP_TYPES},
    **{f"rate:{r}": (f"same rate {r}",) for r in R.RATES},
    **{f"trml:{m}": (f"TRML A ({m} victim)", f"TRML B ({m} victim)") for m in R.PAIR},
}


def _features(ctx: RunContext) -> dict:
    """The pooled outputs of the frozen towers, computed once per run (kept in ``ctx.assets``)."""
    from ..recipes.cmpt import paper_token_encoders, reduced_token_encoders

    key = ("compare-features", id(ctx.splits["train"]))
    if key not in ctx.assets.models:
        length = int(ctx.model.get("text_max_length", 40))
        if ctx.profile.name == "quick":
            towers = R.quick_towers(length)
        elif ctx.reduced:
            towers = reduced_token_encoders(ctx.splits["train"], length)
        else:
            towers = paper_token_encoders(R.PAIR, pretrained=ctx.pretrained, device=ctx.device,
                                          text_max_length=length, offline=ctx.profile.offline)
        for tower in towers.values():
            tower.to(ctx.device)
        feats = R.pooled_features(ctx.splits, towers, device=ctx.device)
        ctx.assets.models[key] = R.as_feature_splits(ctx.splits, feats)
    return ctx.assets.models[key]


def _train_features(ctx: RunContext, method: str, protocol: str, masks: dict) -> Trainer:
    data = R.prepare_features(method, _features(ctx))
    train, val = (data[s].with_presence(masks[s]) if s in masks else data[s] for s in ("train", "val"))
    seed_everything(ctx.seed)
    trainer = Trainer(R.build(method, train), ctx.train, progress=ctx.progress)
    trainer.fit(train, val if not ctx.smoke else None, **ctx.fit_kwargs("compare", method, protocol, ctx.seed))
    trainer.release_training_state()
    return trainer


def _scores(ctx: RunContext, method: str, protocol: str) -> dict:
    """``{test mask name: accuracy}`` of ``method`` trained under ``protocol``."""
    sizes = {f"n_{s}": len(ctx.splits[s]) for s in ("train", "val", "test")}
    masks, tests = R.protocol_masks(protocol, ctx.seed, sizes)
    if method in R.TOKEN_METHODS:
        variant = {"cmpt": "cmpt", "cmpt:baseline": "baseline", "cmpt:dropout": "dropout"}[method]
        trainer = train_cmpt(ctx, masks.get("train"), masks.get("val"), variant=variant)
        test = ctx.splits["test"]
        patterns = sorted({tuple(map(bool, row)) for mask in tests.values() for row in np.asarray(mask)})
        preds = predict_patterns(trainer, test, patterns)
        return {k: metrics_from_patterns("classification", preds, m)["accuracy"] for k, m in tests.items()}
    trainer = _train_features(ctx, method, protocol, masks)
    test = R.prepare_features(method, _features(ctx))["test"]
    return {k: trainer.evaluate(test.with_presence(m))["accuracy"] for k, m in tests.items()}


def _row(protocol: str, acc: dict) -> dict:
    """The protocol's columns (:data:`COLUMNS`), in percent."""
    if protocol == "complete":
        curves = {m: [acc["complete"]] + [acc[f"sweep:{m}@{r}"] for r in R.SWEEP if r > 0] for m in R.PAIR}
        return {"complete": 100 * acc["complete"], "no image": 100 * acc["sweep:image@1.0"],
                "no text": 100 * acc["sweep:text@1.0"],
                **{f"AUC ({m} missing)": 100 * area_under_curve(R.SWEEP, curves[m]) for m in R.PAIR}}
    if protocol.startswith("map:"):
        return {f"MAP train {protocol[4:]} | test {u}": 100 * acc[f"map:{u}"] for u in R.MAP_TYPES}
    if protocol.startswith("rate:"):
        return {f"same rate {protocol[5:]}": 100 * acc["same"]}
    m = protocol[5:]
    return {f"TRML A ({m} victim)": 100 * acc["A"], f"TRML B ({m} victim)": 100 * acc["B"]}


def run_comparison(ctx: RunContext) -> dict:
    """``{method: {column: accuracy %}}`` over the chosen methods and protocols."""
    methods = ctx.table.methods or R.METHODS
    protocols = ctx.table.settings or R.PROTOCOLS
    unknown = [m for m in methods if m not in R.METHODS] + [p for p in protocols if p not in R.PROTOCOLS]
    if unknown:
        raise ValueError(f"Unknown methods or protocols {unknown}; methods are {R.METHODS}, protocols {R.PROTOCOLS}.")
    out = {}
    for method in methods:
        row = {}
        for protocol in protocols:
            if R.runs_under(method, protocol):
                row.update(_row(protocol, _scores(ctx, method, protocol)))
        out[method] = row
    return out


register(TableSpec(
    key="compare.grid.food101", paper="compare",
    title="The comparison: LB, Concat, Late fusion, modality dropout, TRML, MLA (paper / released), CMPT -- "
          "UPMC Food-101",
    dataset="food101", backbones=IMAGE_TEXT, train=TRAIN_IMAGE_TEXT, quick_train=QUICK["train"],
    quick_model=QUICK["model"], model={"text_max_length": 40},
    protocol="complete training with 0-100 % of test samples missing one modality (CMPT Figs. 2-3); MAP eta = 70 % "
             "3x3 (CMPT Tables 1, 6); the same rate 10-70 % in train, val and test (MLA Table 2); TRML Settings "
             "A and B, kept 10 %, each victim",
    paper_numbers={}, run=run_comparison, options=("methods", "settings"),
    notes="No paper compares the three methods: our numbers only. Feature methods on the frozen towers' pooled "
          "outputs; CMPT and its no-proxy control on the towers with rank-1 LoRA.",
))
