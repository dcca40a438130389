"""Notebook 00's grid: each modality alone, Concat fusion, laziness probes and missing rates, over seeds.

Every cell trains one model on the testbed (benchmark seed 0, the quick profile's split sizes) with
its own model seed, selects its epoch on validation only, and reports test metrics.
"""
from __future__ import annotations

from .. import missing
from ..data import MODALITIES, make_testbed
from ..records import Grid
from ..train import TrainConfig

SEEDS = (0, 1, 2, 3, 4)
RATES = (0.0, 0.1, 0.3, 0.5, 0.7)
SLIDER_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
CONFIG = {
    "sizes": {"n_train": 1200, "n_val": 300, "n_test": 600},
    "benchmark_seed": 0,
    # trained to convergence: a generous epoch cap, early stopping on validation accuracy
    "train": {"epochs": 60, "batch_size": 64, "lr": 2e-3, "patience": 6},
    "seeds": list(SEEDS),
    "rates": list(RATES),
    "slider_rates": list(SLIDER_RATES),
}
MODELS = tuple(f"lb:{m}" for m in MODALITIES) + ("concat", "concat:regression") + tuple(
    f"same_rate:{r}" for r in RATES[1:])


def splits(config: dict = CONFIG) -> dict:
    return make_testbed(**config["sizes"], seed=config["benchmark_seed"])


def _fit_summary(trainer) -> dict:
    return {"best_epoch": trainer.best_epoch, "epochs_run": trainer.epoch, "best_val": trainer.best_value}


def _cell(config: dict, cell: str) -> dict:
    from ..experiments import fit_baseline, linear_probe, per_class_accuracy

    model, seed = cell.split("/seed=")
    data = splits(config)
    test = data["test"]
    train_cfg = TrainConfig.from_dict(config["train"], seed=int(seed))
    n = len(test)
    if model.startswith("lb:"):
        trainer = fit_baseline("lb", data, config=train_cfg, modality=model[3:], progress=False)
        return {"test": trainer.evaluate(test), **_fit_summary(trainer)}
    if model == "concat:regression":
        trainer = fit_baseline("concat", data, task="regression", config=train_cfg, progress=False)
        return {"test": trainer.evaluate(test), **_fit_summary(trainer)}
    if model.startswith("same_rate:"):
        rate = float(model.split(":")[1])
        masks = missing.mla_splits({"train": len(data["train"]), "val": len(data["val"])}, MODALITIES, rate,
                                   seed=2 + int(seed))
        trainer = fit_baseline("concat", data, config=train_cfg, train_presence=masks["train"],
                               val_presence=masks["val"], progress=False)
        test_mask = missing.mla_random_missing(n, MODALITIES, rate, seed=1)
        return {"test": trainer.evaluate(test.with_presence(test_mask)), **_fit_summary(trainer)}
    trainer = fit_baseline("concat", data, config=train_cfg, progress=False)
    probes = {m: linear_probe(trainer.model.encoders[m], m, data, progress=False).evaluate(test)["accuracy"]
              for m in MODALITIES}
    under = {}
    for rate in config["slider_rates"]:
        masked = test.with_presence(missing.mla_random_missing(n, MODALITIES, rate, seed=1))
        under[str(rate)] = {"accuracy": trainer.evaluate(masked)["accuracy"],
                            "per_class": per_class_accuracy(trainer, masked).tolist()}
    return {"test": trainer.evaluate(test), "probes": probes, "under_masks": under, **_fit_summary(trainer)}


def grid(config: dict = CONFIG, name: str = "intro") -> Grid:
    return Grid(
        name=name,
        config=config,
        cells=tuple(f"{m}/seed={s}" for m in MODELS for s in config["seeds"]),
        compute=_cell,
        sample=("lb:text/seed=0", "concat/seed=1"),
        drift_cells=("lb:image/seed=0", "lb:audio/seed=0", "concat/seed=0", "concat:regression/seed=0", "same_rate:0.5/seed=0"),
        # Twice the largest drift under 7 kernel paths (benchmarks/kernel_drift.py -> results/kernel_drift.json),
        # rounded up; tests/test_records.py checks the cover. The loss trace is the sharp check.
        tolerance={"best_val": 0.05, "probes": 0.1, "under_masks": {"accuracy": 0.05, "per_class": 0.2},
                   "test": {"accuracy": 0.08, "f1_macro": 0.08, "mae": 0.05, "corr": 0.05, "acc2": 0.03, "acc2_has0": 0.03}},
        trace_tolerance=1e-5,  # quick encoders' features only: first losses move ~1e-7
        description="Notebook 00: LB per modality, Concat (complete, regression, probes, missing rates) and "
                    "Concat retrained at each rate, on the testbed over 5 model seeds.",
    )


GRID = grid()


def at_profile_scale(config: dict, profile) -> dict:
    """A quick grid's configuration at ``profile``'s split sizes and training budget (the paper
    profile's variant of a chapter grid: computed in the notebook, on a GPU, never recorded)."""
    sizes = {"n_train": profile.n_train, "n_val": profile.n_val, "n_test": profile.n_test}
    train = {**config["train"], "epochs": profile.epochs, "patience": profile.patience}
    return {**config, "sizes": sizes, "train": train}


def grid_for(profile) -> Grid:
    """The recorded quick grid, or (paper profile) the same grid at the profile's sizes and budget,
    computed in the notebook (a GPU run; no record)."""
    if profile.name == "quick":
        return GRID
    return grid(at_profile_scale(CONFIG, profile), name=f"intro-{profile.name}")


def by_model(cells: dict) -> dict:
    """``{model: [result per seed]}`` from ``{cell: result}``."""
    out: dict = {}
    for cell, result in cells.items():
        out.setdefault(cell.split("/seed=")[0], []).append(result)
    return out
