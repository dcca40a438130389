"""Bring your own method: put a model on the comparison's footing (notebook 40) with one call.

The comparison trains every method on one footing -- the testbed's image + text pair, the CMPT
chapter's frozen towers, one trainer with early stopping on validation -- under the protocols of
all three papers, over five seeds, and reads each result beside the information limit of what the
method saw. This module opens that footing to a method that is not one of the library's::

    from rmm_lib import footing

    class Mine(torch.nn.Module):                      # follows rmm_lib.hooks.TrainingHooks
        def __init__(self, f: footing.Footing):
            super().__init__()
            self.encoders, self.head = f.encoders(), torch.nn.Linear(2 * 64, f.n_outputs)

        def forward(self, batch):
            z = [self.encoders[m](batch.inputs[m]) for m in batch.modalities]
            return {"logits": self.head(torch.cat(z, 1))}

    footing.register("mine", Mine, protocols=("complete", "rate:0.5"))
    rows = footing.compare("mine")                    # trains what the record lacks, then reads it
    rows.show()                                       # the chapter's rows for "mine"

**A method** is a factory ``build(footing, **options) -> nn.Module`` -- a model class taking the
:class:`Footing` is one -- whose model follows the trainer's hooks
(:class:`rmm_lib.hooks.TrainingHooks`): ``forward(batch)`` returns ``{"logits": (B, n_outputs)}``,
and a model that trains differently overrides the hooks. It reads either the towers' pooled
**features** (``reads="features"``: ``batch.inputs["image"]`` and ``batch.inputs["text"]``, each
384 wide, computed once and cached) or the **raw inputs** (``reads="tokens"``: the photo
``batch.inputs["image"]`` and the review ``batch.strings["text"]``, for a method that enters the
towers, :meth:`Footing.towers`). An absent modality arrives as the library's placeholder (zeros,
the empty string) and ``batch.present`` says which.

**Its cells** ``NAME|PROTOCOL/seed=S`` and ``REGIME/NAME|PROTOCOL/seed=S`` run through the code
the comparison's own cells run through: the protocols' masks
(:func:`rmm_lib.recipes.compare.protocol_masks`), the one trainer (:func:`~rmm_lib.recipes.compare.fit_model`,
early stopping on validation), the same test masks and the same validation masks. They are kept as
the method's own section of the comparison's record (``results/compare.json``,
``record["methods"][NAME]``, see :mod:`rmm_lib.records`) with their provenance. The section's
configuration is the footing's (:func:`footing_config`) plus the registration, so adding a method
never makes the comparison's record stale, and changing the footing makes every section stale.

**Its rows** (:func:`rows`) are the chapter's: its scores with 95 % intervals and the limit of
what the test samples show, its paired difference from the baseline chosen on validation, MultiBench's
relative and effective robustness, and its row of the regime map.

Nothing here reads the environment: the caller passes where records live (``root``).
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import records
from . import stats as S
from .data.types import MultimodalDataset
from .grids import compare as G
from .hooks import HOOK_NAMES, TrainingHooks
from .recipes import compare as R
from .train import TrainConfig

#: What a method can read: the towers' pooled features, or the raw photo and review.
READS = ("features", "tokens")
#: The protocols a method can run under (:data:`rmm_lib.recipes.compare.PROTOCOLS` and the score).
PROTOCOLS = R.PROTOCOLS + ("score",)
#: The keys of grid ``compare``'s configuration that decide a method's numbers.
FOOTING_KEYS = ("sizes", "benchmark_seed", "benchmark", "modalities", "encoder", "image_tower", "image_pretrain",
                "map_eta", "rates", "sweep", "trml_kept", "regimes", "train")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")


def footing_config() -> dict:
    """The footing every method shares: grid ``compare``'s data, towers, protocols and trainer."""
    return {**{k: G.CONFIG[k] for k in FOOTING_KEYS}, "text_max_length": R.TEXT_MAX_LENGTH}


@dataclass(frozen=True)
class Footing:
    """What a method's factory builds one cell's model from.

    ``train``: the training split as the method reads it, the protocol's mask applied (features or
    raw inputs, :attr:`Method.reads`); ``task``: ``"classification"`` (or ``"regression"`` under
    the ``score`` protocol); ``n_outputs``: the width the logits must have."""

    train: MultimodalDataset
    task: str
    n_outputs: int
    reads: str
    text_max_length: int = R.TEXT_MAX_LENGTH
    encoder: dict = field(default_factory=lambda: dict(R.ENCODER))

    @property
    def modalities(self) -> tuple:
        return tuple(self.train.modalities)

    def encoders(self, dim: int | None = None, hidden: int | None = None) -> nn.ModuleDict:
        """Fresh per-modality encoders of the features (features -> 128 -> 128 -> 64, MLA App.
        A.3.2's MLP): the ones every feature method of the comparison reads through."""
        if self.reads != "features":
            raise ValueError("Footing.encoders() reads pooled features; this method reads the raw inputs "
                             "(reads='tokens'): build on Footing.towers() instead.")
        return R.feature_encoders(self.train, int(dim or self.encoder["dim"]), int(hidden or self.encoder["hidden"]))

    def towers(self) -> dict:
        """Fresh copies of the footing's two pretrained towers, frozen: ``{"image": ImageTokens,
        "text": TextTokens}`` (:mod:`rmm_lib.methods.cmpt`; MiniLM with its tokenizer, the image
        tower pretrained here to read label photos)."""
        if self.reads != "tokens":
            raise ValueError("Footing.towers() runs the towers on raw inputs; register the method with "
                             "reads='tokens' (a features method gets their pooled outputs as inputs).")
        return R.quick_towers(self.text_max_length)


@dataclass(frozen=True)
class Method:
    """A registered method (see :func:`register`)."""

    name: str
    build: Callable[..., nn.Module]
    reads: str
    options: dict
    train: dict
    protocols: tuple
    seeds: tuple
    regimes: tuple
    regime_seeds: tuple
    regime_protocols: tuple
    controls: dict
    label: str
    description: str
    sample: tuple = ()
    trace_tolerance: float | None = None

    def config(self) -> dict:
        """Its section's configuration: the footing and everything the registration decides."""
        build = f"{getattr(self.build, '__module__', '?')}.{getattr(self.build, '__qualname__', repr(self.build))}"
        return {"footing": footing_config(), "method": {
            "name": self.name, "build": build, "reads": self.reads, "options": dict(self.options),
            "train": dict(self.train), "protocols": list(self.protocols), "seeds": list(self.seeds),
            "regimes": list(self.regimes), "regime_seeds": list(self.regime_seeds),
            "regime_protocols": list(self.regime_protocols), "controls": dict(self.controls)}}

    def cells(self) -> tuple:
        """``NAME|PROTOCOL/seed=S`` for each protocol and seed, then ``REGIME/NAME|PROTOCOL/seed=S``
        for each regime, seed and regime protocol."""
        main = [f"{self.name}|{p}/seed={s}" for s in self.seeds for p in self.protocols]
        regime = [f"{r}/{self.name}|{p}/seed={s}" for r in self.regimes for s in self.regime_seeds
                  for p in self.regime_protocols]
        return tuple(main + regime)

    def model(self, footing: Footing) -> nn.Module:
        """Build the model of one cell and check it keeps the trainer's contract (:func:`check_model`)."""
        model = self.build(footing, **self.options)
        check_model(model, footing, self.name)
        return model


_REGISTRY: dict = {}


def _check_hooks(cls: type, name: str) -> None:
    undeclared = [h for h in HOOK_NAMES + ("steps_per_batch",) if hasattr(cls, h)]
    if undeclared and not issubclass(cls, TrainingHooks):
        raise TypeError(f"Method {name!r}: {cls.__name__} defines {undeclared} but does not subclass "
                        "rmm_lib.hooks.TrainingHooks, so the trainer would not call them as hooks. Subclass "
                        "TrainingHooks (class M(TrainingHooks, nn.Module)) or rename them.")


def check_model(model, footing: Footing, name: str = "") -> None:
    """Raise a clear error unless ``model`` keeps the trainer's contract on ``footing``: an
    ``nn.Module`` with trainable parameters, hooks declared through
    :class:`~rmm_lib.hooks.TrainingHooks`, and ``forward(batch)`` returning ``{"logits": (B,
    n_outputs)}`` (checked on two training samples, in eval mode, without touching the seeded
    random state)."""
    who = f"Method {name!r}" if name else "The model"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: the factory returned {type(model).__name__}, not a torch.nn.Module.")
    _check_hooks(type(model), name)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{who} has no trainable parameter; the trainer would have nothing to fit.")
    was_training = model.training
    with torch.random.fork_rng(), torch.no_grad():
        batch = next(iter(footing.train.subset([0, 1]).loader(2)))
        model.eval()
        try:
            out = model(batch)
        finally:
            model.train(was_training)
    if not isinstance(out, dict) or not isinstance(out.get("logits"), torch.Tensor):
        raise TypeError(f"{who}: forward(batch) must return a dict with a 'logits' tensor (the trainer's "
                        f"contract, rmm_lib.hooks.TrainingHooks); it returned {type(out).__name__}"
                        f"{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}.")
    if tuple(out["logits"].shape) != (2, footing.n_outputs):
        raise ValueError(f"{who}: logits of shape {tuple(out['logits'].shape)} for a batch of 2; the footing "
                         f"needs (2, {footing.n_outputs}) ({footing.task}).")


def register(name: str, build: Callable[..., nn.Module], *, reads: str = "features", options: dict | None = None,
             train: dict | None = None, protocols=None, seeds=G.SEEDS, regimes=(), regime_seeds=G.REGIME_SEEDS,
             regime_protocols=None, controls: dict | None = None, label: str | None = None, description: str = "",
             sample=None, trace_tolerance: float | None = None, replace: bool = False) -> Method:
    """Register ``build`` under ``name`` and return the :class:`Method`.

    ``build(footing, **options)`` returns the model of one cell (a class taking a :class:`Footing`
    is a factory); ``options``: its keyword arguments, recorded in the configuration; ``reads``:
    ``"features"`` or ``"tokens"`` (:data:`READS`); ``train``: trainer settings over the footing's
    (:data:`rmm_lib.recipes.compare.TRAIN`, AdamW with early stopping on validation); ``protocols``:
    which of :data:`PROTOCOLS` to run (default all; a method reading tokens cannot run ``score``);
    ``seeds``: model seeds, the first of the comparison's (``(0, 1)``: two), as the paired
    differences pair each with the baselines' run of the same seed; ``regimes``: points of the regime map
    (:data:`rmm_lib.grids.compare.REGIMES`) to run with ``regime_seeds`` under ``regime_protocols``
    (default: those of :data:`rmm_lib.grids.compare.REGIME_PROTOCOLS` it runs); ``controls``:
    ``{name: {attribute: value}}``, each the trained model evaluated again under the same test
    masks with those attributes set (a mechanism's control, e.g. ``{"floor": {"case_blind":
    True}}``; ``"floor"`` is read as the chapter's floor); ``sample``: the cells CI recomputes to
    check the record (default: the first; a cheap one keeps CI short); ``trace_tolerance``: how
    far (relative) their loss traces may move on another CPU (default the comparison's; measure
    it with ``python benchmarks/kernel_drift.py --grids compare-NAME`` and allow twice that); ``replace``: allow a name
    registered before (re-running a notebook cell)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"A method name is letters, digits and _ . : - (starting with a letter or digit); got {name!r}.")
    if name in R.ALL_METHODS:
        raise ValueError(f"{name!r} is one of the comparison's own methods {R.ALL_METHODS}; choose another name.")
    if name in _REGISTRY and not replace:
        raise ValueError(f"A method named {name!r} is already registered (by {_REGISTRY[name].build!r}); "
                         "choose another name, or pass replace=True to replace it.")
    if not callable(build):
        raise TypeError(f"Method {name!r}: build must be a callable build(footing, **options) -> nn.Module, "
                        f"got {type(build).__name__}.")
    if inspect.isclass(build):
        if not issubclass(build, nn.Module):
            raise TypeError(f"Method {name!r}: {build.__name__} is not a torch.nn.Module.")
        _check_hooks(build, name)
    if reads not in READS:
        raise ValueError(f"Method {name!r}: reads must be one of {READS}, got {reads!r}.")
    options = dict(options or {})
    try:
        inspect.signature(build).bind(None, **options)
    except TypeError as err:
        raise TypeError(f"Method {name!r}: build{inspect.signature(build)} does not take the options "
                        f"{sorted(options)} ({err}).") from None
    protocols = tuple(PROTOCOLS if protocols is None else protocols)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"Method {name!r}: unknown protocol(s) {unknown or protocols}; the protocols are {PROTOCOLS}.")
    if reads == "tokens" and "score" in protocols:
        raise ValueError(f"Method {name!r} reads tokens and is judged per presence pattern on classification; "
                         "the score protocol is for feature methods. Drop 'score' from its protocols.")
    unknown = [r for r in regimes if r not in G.REGIMES]
    if unknown:
        raise ValueError(f"Method {name!r}: unknown regime(s) {unknown}; the regimes are {sorted(G.REGIMES)}.")
    regime_protocols = tuple(p for p in G.REGIME_PROTOCOLS if p in protocols) if regime_protocols is None \
        else tuple(regime_protocols)
    wrong = [p for p in regime_protocols if p not in G.REGIME_PROTOCOLS or p not in protocols]
    if wrong or (regimes and not regime_protocols):
        raise ValueError(f"Method {name!r}: the regime map judges {G.REGIME_PROTOCOLS}, and a regime protocol "
                         f"must be one of the method's protocols; got {list(regime_protocols)}.")
    for what, values, theirs in (("seeds", seeds, G.SEEDS), ("regime_seeds", regime_seeds, G.REGIME_SEEDS)):
        # differences are paired seed by seed with the baselines' runs, which are seeds 0, 1, ...
        if not len(values) or tuple(values) != tuple(theirs[:len(values)]):
            raise ValueError(f"Method {name!r}: {what} must be the first of the comparison's seeds {tuple(theirs)} "
                             f"(0, 1, ...), so each pairs with the baselines' run of the same seed; got {values!r}.")
    controls = {str(k): dict(v) for k, v in dict(controls or {}).items()}
    taken = [k for k in controls if k in ("test", "val", "best_epoch", "epochs_run", "best_val", "trainable_parameters")]
    if taken or any(not v for v in controls.values()):
        raise ValueError(f"Method {name!r}: each control is a name (not {taken}) and the attributes it sets, "
                         f"{{name: {{attribute: value}}}}; got {controls}.")
    settings = {**R.TRAIN, **dict(train or {})}
    TrainConfig.from_dict(settings)  # a typo is refused here, not after an hour of cells
    method = Method(name, build, reads, options, settings, protocols, tuple(int(s) for s in seeds), tuple(regimes),
                    tuple(int(s) for s in regime_seeds), regime_protocols, controls, label or name, description)
    cells = method.cells()
    sample = tuple(cells[:1] if sample is None else sample)
    if not sample or set(sample) - set(cells):
        raise ValueError(f"Method {name!r}: the sample cells {sorted(set(sample) - set(cells)) or sample} are not "
                         f"among its cells (e.g. {cells[0]!r}).")
    if trace_tolerance is not None and not 0 < trace_tolerance < 1:
        raise ValueError(f"Method {name!r}: trace_tolerance is a relative difference in (0, 1), got {trace_tolerance}.")
    method = dataclasses.replace(method, sample=sample, trace_tolerance=trace_tolerance)
    _REGISTRY[name] = method
    return method


def unregister(name: str) -> None:
    """Forget the method ``name`` (its record section stays)."""
    get(name)
    del _REGISTRY[name]


def get(name: str) -> Method:
    """The registered method ``name``."""
    if name not in _REGISTRY:
        raise KeyError(f"No method named {name!r} is registered; registered: {sorted(_REGISTRY)}. Import the "
                       "module that registers it (the library's own: rmm_lib.contributed).")
    return _REGISTRY[name]


def registered() -> tuple:
    """The names registered so far, in order."""
    return tuple(_REGISTRY)


# ----------------------------------------------------------------------------- cells
def _compute(config: dict, cell: str) -> dict:
    regime, name, protocol, seed = G.parse(cell)
    method, footing = get(name), config["footing"]
    sizes, _ = G.regime_options(footing, regime)
    data = G.splits(footing, regime)
    if method.reads == "features":
        data = R.frozen_features(data, footing["text_max_length"])
    fit_masks, tests = R.protocol_masks(protocol, seed, sizes, footing)
    task = "regression" if protocol == "score" else "classification"
    n_outputs = 1 if task == "regression" else len(data["train"].meta["class_names"])

    def make(train):
        return method.model(Footing(train, task, n_outputs, method.reads, footing["text_max_length"], footing["encoder"]))

    trainer = R.fit_model(make, data, seed, fit_masks, config["method"]["train"])
    evaluate = G.evaluate_features if method.reads == "features" else G.evaluate_tokens
    out = {"test": evaluate(trainer, data["test"], tests), "val": evaluate(trainer, data["val"], G.val_masks(footing, cell))}
    model = trainer.model
    for control, settings in config["method"]["controls"].items():
        missing = [k for k in settings if not hasattr(model, k)]
        if missing:
            raise ValueError(f"Method {name!r}: control {control!r} sets {missing}, which the model does not have.")
        kept = {k: getattr(model, k) for k in settings}
        for k, v in settings.items():
            setattr(model, k, v)
        try:
            out[control] = evaluate(trainer, data["test"], tests)
        finally:
            for k, v in kept.items():
                setattr(model, k, v)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {**out, **G.fit_summary(trainer), "trainable_parameters": trainable}


def grid(name: str) -> records.Grid:
    """The method's cells as a section of grid ``compare``'s record (:mod:`rmm_lib.records`), with
    the sample cells CI recomputes and the comparison's tolerances."""
    method = get(name)
    return records.Grid(name=G.GRID.name, config=method.config(), cells=method.cells(), compute=_compute,
                        sample=method.sample,
                        tolerance=G.GRID.tolerance, trace_tolerance=method.trace_tolerance or G.GRID.trace_tolerance,
                        section=name,
                        run_command=f"python -m rmm_lib compare --method {name}",
                        description=method.description or f"{name} on the comparison's footing")


def run(name: str, cells=None, fresh: bool = False, root: Path | None = None, log=print) -> dict:
    """Compute the cells of method ``name`` its section lacks (all, or ``cells``), writing the
    section after each; ``root``: the folder of the record (default the committed ``results/``)."""
    return records.run(grid(name), cells, fresh=fresh, root=root, log=log)


def results(name: str, root: Path | None = None, log=print) -> dict:
    """``{cell: result}`` of method ``name``: read from its section when current, else computed here."""
    return records.results(grid(name), root, log=log)


def runs(*names: str, root: Path | None = None, log=print) -> dict:
    """The comparison's runs (:func:`rmm_lib.grids.compare.by_model`, read from the committed
    record) with those of the methods ``names`` (from their sections under ``root``)."""
    cells = dict(records.results(G.GRID, log=log))
    for name in names:
        cells.update(results(name, root, log))
    return G.by_model(cells)


# ----------------------------------------------------------------------------- rows
@dataclass
class Rows:
    """The chapter's rows for one method: ``tables`` ``{title: {row: {column: text}}}`` to show,
    and the numbers behind them: ``differences`` ``{situation: paired difference from the chosen
    baseline}`` and ``regime_differences`` ``{(regime, situation): ...}`` (:func:`rmm_lib.stats.paired_difference`
    plus ``baseline``)."""

    method: str
    tables: dict
    differences: dict
    regime_differences: dict

    def show(self) -> None:
        """Display every table (HTML in a notebook, text in a terminal)."""
        from .reporting import show_table

        for title, table in self.tables.items():
            if table:
                show_table(table, title=title, best=None)


def _mark(d: dict) -> str:
    return "gain" if d["real"] and d["mean"] > 0 else "loss" if d["real"] else "tie"


def rows(name: str, runs: dict, limits: dict | None = None) -> Rows:
    """The chapter's rows of method ``name`` from ``runs`` (:func:`runs`): every head-to-head
    situation (:data:`rmm_lib.grids.compare.HEAD_TO_HEAD`) it ran, with its score, the limit of
    what the test samples show and what it leaves to that limit (with a ``"floor"`` control: the
    floor, learned - floor and the reachable room limit - floor); its paired difference from the
    baseline chosen on validation there, and the room the limit left above that baseline (a
    method's *reachable room* when it has no floor control of its own); its relative and
    effective robustness (MultiBench; reference late fusion) under both sweeps; and its regime-map
    row (:data:`rmm_lib.grids.compare.REGIME_SITUATIONS` at each regime it ran). ``limits``: the
    testbed's limits table (default :func:`rmm_lib.grids.limits.benchmark_limits`)."""
    from .grids.limits import benchmark_limits

    limits = limits if limits is not None else benchmark_limits(log=lambda *_: None)
    label = get(name).label if name in _REGISTRY else name
    scores, versus, robust, regimes, diffs, regime_diffs = {}, {}, {}, {}, {}, {}
    for title, situation in G.HEAD_TO_HEAD.items():
        protocol = G.protocol_of(situation)
        if G.model_key(name, protocol) not in runs:
            continue
        own = G.summary(runs, name, situation)
        limit = G.situation_limit(limits, situation)
        scores[title] = {label: S.fmt_mean(own), "limit": f"{100 * limit:.1f}",
                         "limit - method": S.fmt_diff(S.paired_difference([limit] * len(own), own))}
        if "floor" in runs[G.model_key(name, protocol)][0]:  # a floor control: the chapter's reachable room
            floor = G.summary(runs, name, situation, control="floor")
            gap = S.gap_closure(floor, own, [limit] * len(own))
            scores[title] |= {"floor (control)": S.fmt_mean(floor), "learned - floor": S.fmt_diff(gap["closed"]),
                              "reachable room: limit - floor": S.fmt_diff(gap["possible"])}
        d = diffs[situation] = G.versus_baseline(runs, name, situation)
        base = G.summary(runs, d["baseline"], situation)
        versus[title] = {"baseline (chosen on val)": f"{G.NAMES.get(d['baseline'], d['baseline'])} {S.fmt_mean(base)}",
                         f"{label} - baseline": f"{S.fmt_diff(d)} ({_mark(d)})",
                         "room: limit - baseline": S.fmt_diff(S.paired_difference([limit] * len(base), base))}
    if G.model_key(name, "complete") in runs:
        for gone in G.PAIR:
            r = G.robustness(runs, name, gone)
            robust[f"{gone} missing (sweep 0-100 %)"] = {
                "relative robustness (area under the sweep, %)": S.fmt_mean(r["relative"]),
                "effective robustness (vs late fusion, points x 11)":
                    S.fmt_diff(S.paired_difference(r["effective"], [0.0] * len(r["effective"])))}
    for regime in [None, *G.REGIMES]:
        for title, situation in G.REGIME_SITUATIONS.items():
            if G.model_key(name, G.protocol_of(situation), regime) not in runs:
                continue
            d = regime_diffs[(regime, situation)] = G.versus_baseline(runs, name, situation, regime)
            regimes.setdefault(regime or "testbed", {})[title] = (
                f"{S.fmt_diff(d)} ({_mark(d)}; vs {G.NAMES.get(d['baseline'], d['baseline'])})")
    tables = {f"{label}: scores and the limit (accuracy %)": scores,
              f"{label} - the baseline chosen on validation (points, paired over seeds)": versus,
              f"{label}: robustness under the complete-training sweeps": robust,
              f"{label}: regime map row (method - chosen baseline, points)": regimes}
    return Rows(name, tables, diffs, regime_diffs)


def compare(name: str, root: Path | None = None, log=print) -> Rows:
    """Run method ``name`` on the footing (the cells its section lacks, :func:`run`) and return its
    rows (:func:`rows`) beside the comparison's record."""
    run(name, root=root, log=log)
    return rows(name, runs(name, root=root, log=log))


__all__ = ["READS", "PROTOCOLS", "FOOTING_KEYS", "footing_config", "Footing", "Method", "check_model", "register",
           "unregister", "get", "registered", "grid", "run", "results", "runs", "Rows", "rows", "compare"]
