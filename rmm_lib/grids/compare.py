"""The comparison's grid (notebook 40): every method on one footing
(:mod:`rmm_lib.recipes.compare`), under each paper's protocol, over model seeds, and the regimes.

Cells are named ``METHOD|PROTOCOL/seed=S`` (the testbed) or ``REGIME/METHOD|PROTOCOL/seed=S`` (the
testbed with one knob turned, :data:`REGIMES`), and ``limits/REGIME`` (the information limits of a
regime's draw, :func:`rmm_lib.limits.estimated_limits`). The protocols, all built by
:mod:`rmm_lib.missing` (:func:`rmm_lib.recipes.compare.protocol_masks`):

* ``complete`` -- complete training; at test a share 0-100 % (steps of 10) of the samples lacks
  one modality (CMPT Table 2, Figs. 2-3), for each modality, and the three MAP test types;
* ``map:TYPE`` -- MAP eta = 70 % of type image / both / text in training and validation, tested
  under each type (CMPT Tables 1 and 6);
* ``rate:R`` -- each modality of each sample missing with probability R in train, validation and
  test alike (MLA Table 2);
* ``trml:M`` -- the victim modality M kept for 10 % of the training (and validation) samples;
  Setting A tests with M absent everywhere, Setting B with M missing at the same 90 % (TRML);
* ``score`` -- ``complete`` on the sentiment score (regression: MAE, Acc-2).

The **label-scarce** regimes (:data:`LABEL_SCARCE`, cells ``labels=N/METHOD|complete/seed=S``) keep
the testbed's training split but only its first N labels: TRML and CMPT run twice, on the labelled
samples alone and with the rest as unlabelled complete pairs for their matching / alignment loss
(``trml+unlabelled``, ``cmpt+unlabelled``: :func:`rmm_lib.recipes.compare.label_scarce`); the
baselines and MLA, whose losses all need the label, train on the labelled samples.

Every cell reports its test metrics under each of the protocol's test masks (feature methods also
their validation metrics under the same masks drawn for the validation split), plus the controls of
the method's mechanism under the same masks: TRML and CMPT's **floor** (zeros where the virtual
feature / proxy token goes), MLA's **oracle** fusion (the weights that favour the modality giving
the true class the higher probability). The ceiling of TRML and CMPT is the same model on complete
inputs (the true feature in place of the generated one), which every cell reports as ``complete``.
"""
from __future__ import annotations

import numpy as np

from ..data import make_testbed
from ..data import benchmark as B
from ..records import Grid
from ..recipes import compare as R
from ..recipes.cmpt import IMAGE_PRETRAIN, IMAGE_TOWER
from .intro import CONFIG as INTRO

SEEDS = (0, 1, 2, 3, 4)
PAIR, MAP_TYPES, RATES, SWEEP, PROTOCOLS = R.PAIR, R.MAP_TYPES, R.RATES, R.SWEEP, R.PROTOCOLS
#: Each knob of the benchmark the regimes turn (the testbed's value is the knob's other point).
REGIMES = {
    "n_train=100": {"n_train": 100},
    "n_train=300": {"n_train": 300},
    "n_train=3600": {"n_train": 3600},
    "redundancy=0": {"redundancy": 0.0, "shared_traces": 0.0},
    "redundancy=0.4": {"redundancy": 0.4, "shared_traces": 0.5},
    "image_noise=0": {"image_noise": 0.0},
    "image_noise=0.6": {"image_noise": 0.6},
    "image_noise=1": {"image_noise": 1.0},
}
REGIME_PROTOCOLS = ("complete", "rate:0.5")
#: The regimes whose information limits differ from the testbed's and can be computed: a photo's
#: noise changes what a reader can see; the training size does not change the limit; redundancy
#: below 1 with ``shared_traces`` < 1 is outside what :mod:`rmm_lib.limits` models.
LIMIT_REGIMES = ("image_noise=0", "image_noise=0.6", "image_noise=1")
REGIME_SEEDS = (0, 1, 2, 3, 4)
#: CMPT runs its towers (75-90 s a model here, 50x a feature method): within the budget it
#: gets 5 seeds of every protocol but the three outer shared rates (MLA Table 2 is read at 50 %),
#: and 3 seeds of the complete protocol in four regimes; its no-proxy controls (the same adapted
#: towers) run the complete protocol.
CMPT_BUDGET = {
    "protocols": ["complete", "map:image", "map:both", "map:text", "rate:0.5", "trml:image", "trml:text"],
    "regime_seeds": [0, 1, 2],
    "regimes": ["n_train=100", "n_train=300", "redundancy=0", "image_noise=1"],
}
#: The label-scarce regimes: the testbed's training split with only its first ``n_labelled`` labels.
LABEL_SCARCE = {"labels=100": {"n_labelled": 100}}
LABEL_SCARCE_METHODS = ("lb:image", "lb:text", "concat", "late", "dropout", "mla", "trml", "trml+unlabelled",
                        "cmpt", "cmpt+unlabelled")
#: The earlier settings kept as variants, under the protocols the prose compares them on.
VARIANT_PROTOCOLS = {"mla@adamw": list(R.PROTOCOLS), "cmpt@records": ["complete", "map:both", "rate:0.5"],
                     "cmpt:dropout@r1": ["complete"]}
CONFIG = {
    "sizes": dict(INTRO["sizes"]),
    "benchmark_seed": INTRO["benchmark_seed"],
    "benchmark": {**B.default_options(), **B.TESTBED},
    "modalities": list(PAIR),
    "train": dict(R.TRAIN),
    "train_by_method": {k: dict(v) for k, v in R.TRAIN_BY_METHOD.items()},
    "encoder": dict(R.ENCODER),
    "dropout_p": R.DROPOUT_P,
    "trml": dict(R.TRML_OPTIONS),
    "cmpt_model": dict(R.CMPT_MODEL),
    "image_tower": dict(IMAGE_TOWER),
    "image_pretrain": dict(IMAGE_PRETRAIN),
    "map_eta": 0.7,
    "rates": list(RATES),
    "sweep": list(SWEEP),
    "trml_kept": 0.1,
    "seeds": list(SEEDS),
    "regimes": {k: dict(v) for k, v in REGIMES.items()},
    "regime_protocols": list(REGIME_PROTOCOLS),
    "regime_seeds": list(REGIME_SEEDS),
    "cmpt_budget": {k: list(v) for k, v in CMPT_BUDGET.items()},
    "label_scarce": {k: dict(v) for k, v in LABEL_SCARCE.items()},
    "label_scarce_methods": list(LABEL_SCARCE_METHODS),
    "variants": {k: list(v) for k, v in VARIANT_PROTOCOLS.items()},
}


# ----------------------------------------------------------------------------- data and masks
def regime_options(config: dict, regime: str | None) -> tuple:
    """``(sizes, benchmark options)`` of ``regime`` (``None``: the testbed)."""
    sizes, options = dict(config["sizes"]), dict(config["benchmark"])
    if regime is not None and regime in config.get("label_scarce", {}):
        return sizes, options  # the testbed's draw; only its labels are fewer (fit_cell)
    if regime is not None:
        if regime not in config["regimes"]:
            known = sorted(config["regimes"]) + sorted(config.get("label_scarce", {}))
            raise ValueError(f"Unknown regime {regime!r}; the regimes are {known}.")
        for k, v in config["regimes"][regime].items():
            (sizes if k.startswith("n_") else options)[k] = v
    return sizes, options


def splits(config: dict = CONFIG, regime: str | None = None) -> dict:
    sizes, options = regime_options(config, regime)
    data = make_testbed(**sizes, seed=config["benchmark_seed"], **options)
    return {k: v.select_modalities(config["modalities"]) for k, v in data.items()}


# ----------------------------------------------------------------------------- one cell
def parse(cell: str) -> tuple:
    """``(regime or None, method, protocol, seed)`` of a cell name."""
    head, seed = cell.rsplit("/seed=", 1)
    regime, _, rest = head.rpartition("/")
    method, protocol = rest.split("|")
    return regime or None, method, protocol, int(seed)


def evaluate_features(trainer, test, tests: dict) -> dict:
    """``{name: metrics}`` of ``trainer``'s model on ``test`` under each presence mask of ``tests``."""
    return {name: trainer.evaluate(test.with_presence(mask)) for name, mask in tests.items()}


def evaluate_tokens(trainer, test, tests: dict, task: str = "classification") -> dict:
    """:func:`evaluate_features` for a model that runs the towers: each test sample is predicted
    once per presence pattern the masks hold, and each mask's metrics are assembled from those
    (valid for a model whose prediction of a sample depends on that sample alone, in eval mode)."""
    from ..experiments import metrics_from_patterns, predict_patterns

    patterns = sorted({tuple(map(bool, row)) for mask in tests.values() for row in np.asarray(mask)})
    preds = predict_patterns(trainer, test, patterns)
    return {name: metrics_from_patterns(task, preds, mask) for name, mask in tests.items()}


def fit_summary(trainer) -> dict:
    """The epoch early stopping kept, the epochs run and the best validation value."""
    return {"best_epoch": trainer.best_epoch, "epochs_run": trainer.epoch, "best_val": trainer.best_value}


def fit_cell(config: dict, cell: str) -> tuple:
    """Train the model of ``cell``: ``(trainer, splits as the method reads them, test masks)``."""
    regime, method, protocol, seed = parse(cell)
    sizes, _ = regime_options(config, regime)
    data = R.prepare(method, splits(config, None if regime in config["label_scarce"] else regime))
    fit_masks, tests = R.protocol_masks(protocol, seed, sizes, config)
    task = "regression" if protocol == "score" else "classification"
    n_labelled = config["label_scarce"][regime]["n_labelled"] if regime in config["label_scarce"] else None
    trainer = R.fit(method, data, seed, fit_masks, task, config["train"], config["cmpt_model"], n_labelled)
    return trainer, data, tests


def val_masks(config: dict, cell: str) -> dict:
    """The test masks of ``cell``'s protocol drawn for the validation split (the same construction
    at the validation size): what a practitioner who knows the test condition can select on."""
    regime, _, protocol, seed = parse(cell)
    sizes, _ = regime_options(config, regime)
    return R.protocol_masks(protocol, seed, {**sizes, "n_test": sizes["n_val"]}, config)[1]


def _cell(config: dict, cell: str) -> dict:
    if cell.startswith("limits/"):
        return _limits(config, cell[len("limits/"):])
    _, method, _, _ = parse(cell)
    base = R.base_method(method)
    trainer, data, tests = fit_cell(config, cell)
    test, model = data["test"], trainer.model
    if base in R.TOKEN_METHODS:
        out = {"test": evaluate_tokens(trainer, test, tests)}
        if base == "cmpt":
            model.zero_proxy = True
            try:
                out["floor"] = evaluate_tokens(trainer, test, tests)
            finally:
                model.zero_proxy = False
    else:
        # validation under the test condition too: the baselines are selected on it (notebook 40)
        out = {"test": evaluate_features(trainer, test, tests),
               "val": evaluate_features(trainer, data["val"], val_masks(config, cell))}
        if base == "trml":
            model.substitute = "zero"
            try:
                out["floor"] = evaluate_features(trainer, test, tests)
            finally:
                model.substitute = "virtual"
        if base == "mla" and model.task == "classification":
            model.fusion = "oracle"
            try:
                out["oracle"] = evaluate_features(trainer, test, tests)
            finally:
                model.fusion = "entropy"
    return {**out, **fit_summary(trainer)}


def _limits(config: dict, regime: str) -> dict:
    """The limits of a noisier or cleaner photo: the CNN reader's estimate, as grid ``limits``'s
    ``cnn`` cell computes it for the testbed (the perfect reader ignores the noise)."""
    from .. import limits as L
    from .limits import GRID as LIMITS

    _, options = regime_options(config, regime)
    lim = LIMITS.config
    return L.estimated_limits(lim["seed"], options, lim["n_test"], lim["reader_epochs"], lim["n_reader"])


# ----------------------------------------------------------------------------- the cells
def _runs(config: dict, method: str, protocol: str) -> bool:
    if method in R.VARIANTS:
        return protocol in config["variants"][method] and R.runs_under(method, protocol)
    if method == "cmpt":
        return protocol in config["cmpt_budget"]["protocols"]
    return R.runs_under(method, protocol)


def main_cells(config: dict = CONFIG) -> tuple:
    cells = []
    for s in config["seeds"]:
        for m in R.METHODS + R.VARIANTS:
            cells += [f"{m}|{p}/seed={s}" for p in PROTOCOLS if _runs(config, m, p)]
        cells += [f"{m}|score/seed={s}" for m in R.FEATURE_METHODS]
    return tuple(cells)


def label_scarce_cells(config: dict = CONFIG) -> tuple:
    return tuple(f"{r}/{m}|complete/seed={s}" for r in config["label_scarce"] for s in config["seeds"]
                 for m in config["label_scarce_methods"])


def regime_cells(config: dict = CONFIG) -> tuple:
    cells = [f"limits/{r}" for r in config["regimes"] if r in LIMIT_REGIMES]
    for r in config["regimes"]:
        for s in config["regime_seeds"]:
            for m in R.FEATURE_METHODS:
                cells += [f"{r}/{m}|{p}/seed={s}" for p in config["regime_protocols"] if _runs(config, m, p)]
        if r in config["cmpt_budget"]["regimes"]:
            cells += [f"{r}/cmpt|complete/seed={s}" for s in config["cmpt_budget"]["regime_seeds"]]
    return tuple(cells)


def grid(config: dict = CONFIG, name: str = "compare") -> Grid:
    return Grid(
        name=name,
        config=config,
        cells=main_cells(config) + regime_cells(config) + label_scarce_cells(config),
        compute=_cell,
        sample=("concat|complete/seed=0", "trml|trml:image/seed=1", "mla:released|rate:0.5/seed=0",
                "n_train=100/cmpt|complete/seed=0", "labels=100/trml+unlabelled|complete/seed=0"),
        drift_cells=("lb:image|complete/seed=0", "late|rate:0.5/seed=0", "dropout|map:both/seed=0",
                     "mla|rate:0.3/seed=0", "trml|complete/seed=0", "concat|score/seed=0", "mla|complete/seed=1"),
        # Twice the largest drift under 7 kernel paths (benchmarks/kernel_drift.py -> results/kernel_drift.json),
        # rounded up; tests/test_records.py checks the cover. The loss trace is the sharp check.
        # test accuracy: the CMPT cell on 100 training samples moves 12.7 points when another kernel
        # path makes early stopping pick another epoch; its loss trace (below) still moves < 1.4 %.
        tolerance={"best_val": 0.08, "floor": {"accuracy": 0.4, "f1_macro": 0.6},
                   "oracle": {"accuracy": 0.07, "f1_macro": 0.13},
                   "test": {"accuracy": 0.26, "f1_macro": 0.34, "mae": 0.1, "corr": 0.15, "acc2": 0.08, "acc2_has0": 0.08},
                   "val": {"accuracy": 0.14, "f1_macro": 0.15, "mae": 0.1, "corr": 0.15, "acc2": 0.1, "acc2_has0": 0.1}},
        trace_tolerance=0.03,  # towers pretrained per machine: up to 1.4 %
        description="Notebook 40: every method on one footing (testbed image + text, the CMPT chapter's "
                    "towers, one trainer, early stopping on validation), under the protocols of CMPT, MLA "
                    "and TRML, 5 model seeds, the regimes (training size, redundancy, imbalance) and a "
                    "label-scarce regime with unlabelled pairs.",
    )


GRID = grid()


# ----------------------------------------------------------------------------- reading the record
#: The baselines a practitioner would pick from, on validation (LB of either modality included:
#: with one modality always absent, the other's unimodal model is a candidate).
BASELINES = ("lb:image", "lb:text", "concat", "late", "dropout")
#: The three papers' methods (MLA twice: the paper's and the released code's).
MECHANISMS = ("trml", "mla", "mla:released", "cmpt")
NAMES = {"lb:image": "LB image", "lb:text": "LB text", "concat": "Concat", "late": "Late fusion",
         "dropout": "modality dropout", "trml": "TRML", "mla": "MLA", "mla:released": "MLA (released code)",
         "cmpt": "CMPT", "cmpt:baseline": "CMPT's towers, no proxy",
         "cmpt:dropout": "CMPT's towers + dropout, no proxy", "mla@adamw": "MLA with AdamW (earlier)",
         "cmpt@records": "CMPT, earlier towers", "cmpt:dropout@r1": "CMPT's towers at rank 1 + dropout", "trml+unlabelled": "TRML + unlabelled pairs",
         "cmpt+unlabelled": "CMPT + unlabelled pairs"}


def by_model(cells: dict) -> dict:
    """``{"[REGIME/]METHOD|PROTOCOL": [result per seed, in seed order]}`` from ``{cell: result}``."""
    out: dict = {}
    models = [c for c in cells if not c.startswith("limits/")]
    for cell in sorted(models, key=lambda c: (c.rsplit("/seed=", 1)[0], int(c.rsplit("/seed=", 1)[1]))):
        out.setdefault(cell.rsplit("/seed=", 1)[0], []).append(cells[cell])
    return out


def model_key(method: str, protocol: str, regime: str | None = None) -> str:
    return f"{regime + '/' if regime else ''}{method}|{protocol}"


def scores(runs: dict, method: str, protocol: str, test: str, regime: str | None = None, split: str = "test",
           metric: str = "accuracy", control: str | None = None) -> list:
    """One number per seed: ``method``'s ``metric`` under test mask ``test`` of ``protocol``; ``split``
    ``"val"`` reads the same mask drawn for validation; ``control`` ``"floor"`` / ``"oracle"`` reads
    the mechanism's control instead."""
    return [r[control or split][test][metric] for r in runs[model_key(method, protocol, regime)]]


def sweep(runs: dict, method: str, gone: str, regime: str | None = None, split: str = "test",
          metric: str = "accuracy", control: str | None = None, protocol: str = "complete") -> np.ndarray:
    """``(seeds, 11)``: accuracy with 0, 10, ..., 100 % of the samples missing ``gone``."""
    names = ["complete"] + [f"sweep:{gone}@{r}" for r in SWEEP if r > 0]
    return np.array([scores(runs, method, protocol, n, regime, split, metric, control) for n in names]).T


def robustness(runs: dict, method: str, gone: str, regime: str | None = None, reference: str = "late",
               split: str = "test") -> dict:
    """Per seed: the area under the sweep (:func:`rmm_lib.metrics.area_under_curve`) and
    MultiBench's relative and effective robustness (reference: late fusion, as MultiBench)."""
    from ..metrics import area_under_curve, effective_robustness, relative_robustness

    f, r = sweep(runs, method, gone, regime, split), sweep(runs, reference, gone, regime, split)
    return {"auc": [area_under_curve(SWEEP, c) for c in f], "relative": [relative_robustness(SWEEP, c) for c in f],
            "effective": [effective_robustness(SWEEP, c, ref) for c, ref in zip(f, r)]}


def summary(runs: dict, method: str, situation: str, regime: str | None = None, split: str = "test",
            control: str | None = None) -> list:
    """Per seed, the number a situation is judged on: ``"auc:M"`` (complete training, area under the
    sweep of M missing), ``"auc"`` (the mean of both modalities' areas) or ``"PROTOCOL@TEST"``."""
    from ..metrics import area_under_curve

    if situation.startswith("auc"):
        gone = [situation[4:]] if ":" in situation else list(PAIR)
        curves = [sweep(runs, method, g, regime, split, control=control) for g in gone]
        return list(np.mean([[area_under_curve(SWEEP, c) for c in cs] for cs in curves], axis=0))
    protocol, test = situation.split("@", 1)
    return scores(runs, method, protocol, test, regime, split, control=control)


def selected_baseline(runs: dict, situation: str, regime: str | None = None) -> str:
    """The baseline with the best mean *validation* score in ``situation`` (never the test's)."""
    candidates = [b for b in BASELINES if model_key(b, protocol_of(situation), regime) in runs]
    return max(candidates, key=lambda b: float(np.mean(summary(runs, b, situation, regime, split="val"))))


def protocol_of(situation: str) -> str:
    """The protocol a situation (:func:`summary`'s names) is judged under."""
    return "complete" if situation.startswith("auc") else situation.split("@")[0]


def difference(runs: dict, method: str, other: str, situation: str, regime: str | None = None) -> dict:
    """``method`` minus ``other`` in ``situation``, paired over the seeds both have
    (:func:`rmm_lib.stats.paired_difference`)."""
    from ..stats import paired_difference

    a, b = summary(runs, method, situation, regime), summary(runs, other, situation, regime)
    n = min(len(a), len(b))
    return paired_difference(a[:n], b[:n])


def versus_baseline(runs: dict, method: str, situation: str, regime: str | None = None) -> dict:
    """``method`` minus the validation-selected baseline (:func:`difference`, plus ``baseline``:
    which one)."""
    base = selected_baseline(runs, situation, regime)
    return {**difference(runs, method, base, situation, regime), "baseline": base}


# ----------------------------------------------------------------------------- limits beside the results
#: The head-to-head's situations (notebook 40): complete training judged by the area under each
#: sweep, each paper's protocol judged under its own test mask.
HEAD_TO_HEAD = {"sweep, image missing (AUC)": "auc:image", "sweep, text missing (AUC)": "auc:text",
                **{f"MAP {t} (train = test)": f"map:{t}@map:{t}" for t in MAP_TYPES},
                **{f"same rate {r}": f"rate:{r}@same" for r in RATES},
                **{f"TRML {s}, {v} victim": f"trml:{v}@{s}" for v in PAIR for s in ("A", "B")}}
#: The regime map's situations: complete training judged by the area under both sweeps, and the
#: same 50 % rate in every split.
REGIME_SITUATIONS = {"complete training (AUC of both sweeps)": "auc", "same rate 50 %": "rate:0.5@same"}


def draws_per_seed(protocol: str) -> bool:
    """Whether ``protocol``'s test masks are drawn per model seed (the shared rates, TRML's
    settings) rather than once for every seed."""
    return protocol.startswith(("rate", "trml"))


def limit_of_mask(limits: dict, protocol: str, test: str, seeds=(0,), config: dict = CONFIG) -> dict:
    """The information limit of what the test samples show under test mask ``test`` of
    ``protocol`` (:func:`rmm_lib.limits.limit_under_masks` of the limits table ``limits``), the
    mean over the masks drawn for ``seeds``."""
    from .. import limits as L

    ivs = [L.limit_under_masks(limits, R.protocol_masks(protocol, s, config["sizes"], config)[1][test], PAIR)
           for s in seeds]
    return {**ivs[0], **{k: float(np.mean([iv[k] for iv in ivs])) for k in ("mean", "low", "high", "bound")
                         if k in ivs[0]}}


def limit_per_seed(limits: dict, protocol: str, test: str, seeds=SEEDS, config: dict = CONFIG) -> list:
    """The limit under each model seed's own test mask (one shared draw where the protocol has one)."""
    return [limit_of_mask(limits, protocol, test, (s,) if draws_per_seed(protocol) else (0,), config)["mean"]
            for s in seeds]


def situation_limit(limits: dict, situation: str, config: dict = CONFIG) -> float:
    """The limit of a situation (:func:`summary`'s names): of its test mask, or the area under the
    limit's sweep for ``"auc:M"``, or the mean of both areas for ``"auc"``."""
    from ..metrics import area_under_curve

    if situation.startswith("auc"):
        gone = [situation[4:]] if ":" in situation else list(PAIR)
        return float(np.mean([area_under_curve(SWEEP, [limit_of_mask(limits, "complete", "complete" if r == 0 else
                                                                     f"sweep:{g}@{r}", config=config)["mean"]
                                                       for r in SWEEP]) for g in gone]))
    protocol, test = situation.split("@", 1)
    return limit_of_mask(limits, protocol, test, SEEDS if draws_per_seed(protocol) else (0,), config)["mean"]


def rooms(runs: dict, limits: dict, method: str, protocol: str, test: str, regime: str | None = None) -> dict:
    """A mechanism between its controls under one test mask, per seed: ``floor`` (its control),
    ``learned``, ``ceiling`` (the same model on complete inputs), ``limit``, and the gap closure of
    the full room (ceiling - floor) and of the reachable one (limit - floor)."""
    from ..stats import gap_closure

    floor, learned = scores(runs, method, protocol, test, regime, control="floor"), scores(runs, method, protocol, test, regime)
    ceiling = scores(runs, method, protocol, "complete", regime)
    lim = limit_per_seed(limits, protocol, test)[:len(learned)]
    return {"floor": floor, "learned": learned, "ceiling": ceiling, "limit": float(np.mean(lim)),
            "full": gap_closure(floor, learned, ceiling), "reachable": gap_closure(floor, learned, lim)}
