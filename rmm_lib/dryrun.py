"""Full-size dry runs: each paper table's own code at the paper's size, random weights, one step.

A reader's first real run used to be the first time the full-size configuration (ViT-B/16 at 224
pixels, BERT-base at the paper's text length, AST over 1024 frames, ResNet-18 on spectrograms, CLIP
ViT-B/32 with its context length, the proxy tokens and adapters inside them) met its data. A dry run
makes that meeting happen before any GPU hour: :func:`dry_run` builds a table's context in the
``paper`` profile with ``pretrained=False`` (the backbones' real classes and sizes, no weights,
nothing downloaded), runs the table's ``run`` with one batch per model (``max_steps=1``) at batch
``batch_size``, and measures every model the table trains (a "cell"):

* **parameters**, total and trainable;
* **step time**: the training step's wall time (one batch: loading, forward, backward, optimiser
  step) and one evaluation step's (``Trainer.predict`` on ``batch_size`` samples);
* **memory**: on CUDA ``max_memory_allocated`` during the step; on a CPU the process's peak resident
  set during the step (Linux ``VmHWM``, reset before each step), which includes every model the
  table already holds;
* **activations**: the bytes the step keeps for its backward pass (``saved_tensors_hooks``; model
  weights left out), per sample: the part of a GPU's need that grows with the batch. MLA's step
  runs one forward per modality, so its figure is the sum of those (an upper bound);
* **checkpoint**: the size of ``last.pt`` as a real run writes it for that model (trainable weights,
  buffers, the frozen tensors training moved, optimiser state and the best epoch's copy; see
  ``Trainer.save_checkpoint``), written after the evaluation steps. The cells checkpoint into a
  temporary folder, deleted when the run ends: a dry run leaves no checkpoint.

``timed_steps`` adds that many further training steps per cell on one batch, timed after the first
(the GPU cost script, ``benchmarks/gpu_cost.py``). :func:`dry_run_group` runs several tables in one
process with shared assets, so tables that share a model (CMPT Table 1 is Table 6's diagonal; MLA
Table 3 reuses Table 1's MLA) train it once, and :func:`run_isolated` runs each group in its own
process, so a table's memory is released before the next and one killed by the system (out of
memory) is reported, not fatal. Nothing here prints; ``python -m rmm_lib smoke`` does.
"""
from __future__ import annotations

import contextlib
import gc
import io
import logging
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import torch

from .context import Assets, build_context
from .train import Trainer, trainable_state

log = logging.getLogger(__name__)

#: Where the main model of each paper lives among a table's cells (for the one-line summary).
MAIN_MODELS = {"trml": "TRML", "mla": "MLA", "cmpt": "CMPTModel", "compare": "CMPTModel"}


# ----------------------------------------------------------------------------- memory
def _status_mib(field: str) -> float | None:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in MiB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's peak resident set (Linux ``clear_refs``); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class _Memory:
    """Peak memory of the steps of one run: per step (reset before it) and over the whole run."""

    def __init__(self, device: str):
        self.cuda = str(device).startswith("cuda") and torch.cuda.is_available()
        self.run_peak = 0.0

    def start_table(self) -> None:
        """Start a table's peak afresh (what it holds includes the models earlier tables left it)."""
        self.run_peak = 0.0
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            _reset_peak_rss()

    def start_step(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated() / 2**20
        self.run_peak = max(self.run_peak, _status_mib("VmHWM") or 0.0)
        _reset_peak_rss()
        return _status_mib("VmRSS") or 0.0

    def step_peak(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak = _status_mib("VmHWM") or 0.0
        self.run_peak = max(self.run_peak, peak)
        return peak

    def overall(self) -> float:
        """The peak since :meth:`start_table`, evaluations included."""
        now = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else (_status_mib("VmHWM") or 0.0)
        self.run_peak = max(self.run_peak, now)
        return self.run_peak


@contextlib.contextmanager
def _saved_activations(model: torch.nn.Module):
    """Count the bytes autograd keeps for backward inside the block (each storage once, the model's
    own weights and buffers left out); yields a dict whose ``"bytes"`` fills in."""
    own = {t.untyped_storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    seen, out = set(), {"bytes": 0}

    def pack(t):
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in own and ptr not in seen:
                seen.add(ptr)
                out["bytes"] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield out


def _checkpoint_bytes(trainer: Trainer) -> int:
    """The size of ``last.pt`` as a real run writes it for this model, written now (after the
    evaluation steps) into a temporary folder: the weights that train, the frozen tensors training
    moved (peft's LoRA on nn.MultiheadAttention merges into its base weight at every forward, so
    after a real run those tensors differ by rounding and the checkpoint keeps them), the optimiser
    state, plus the best epoch's copy when this run had no validation split to keep one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.pt"
        trainer.save_checkpoint(path)
        size = path.stat().st_size
        if trainer.best_state is None:
            buffer = io.BytesIO()
            torch.save(trainer._weights(), buffer)
            size += buffer.getbuffer().nbytes
    return size


def _moved_frozen(trainer: Trainer) -> int:
    """How many frozen values training moved (kept by the checkpoint beside what trains)."""
    keep = set(trainable_state(trainer.model))
    return sum(t.numel() for n, t in trainer._weights().items() if n not in keep)


# ----------------------------------------------------------------------------- one table's cells
class _Ledger(dict):
    """``ctx.assets.models`` that remembers which table stored each entry and which later table
    reused it, so a table that shares a model with an earlier one says so."""

    def __init__(self, cells_of_trainer: dict):
        super().__init__()
        self.cells_of_trainer = cells_of_trainer
        self.origin: dict = {}  # key -> (table, cell)
        self.table: str | None = None
        self.reused: dict = {}  # table -> {cell: table it came from}

    def _note(self, key):
        table, cell = self.origin.get(key, (None, None))
        if cell is not None and table != self.table:
            self.reused.setdefault(self.table, {})[cell] = table

    def __contains__(self, key):
        found = super().__contains__(key)
        if found:
            self._note(key)
        return found

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self._note(key)
        return value

    def __setitem__(self, key, value):
        trainer = value if isinstance(value, Trainer) else getattr(value, "trainer", None)
        self.origin[key] = (self.table, self.cells_of_trainer.get(id(trainer)))
        super().__setitem__(key, value)


class _Observer:
    """Wraps ``Trainer.fit`` for the duration of a dry run and measures every model it trains."""

    def __init__(self, device: str, batch_size: int, timed_steps: int = 0, eval_steps: int = 1):
        self.memory = _Memory(device)
        self.batch_size, self.timed_steps, self.eval_steps = batch_size, timed_steps, eval_steps
        self.cells: dict = {}
        self.cells_of_trainer: dict = {}
        self.table: str | None = None

    @contextlib.contextmanager
    def watching(self):
        original = Trainer.fit
        observer = self

        def fit(trainer, train, val=None, *args, **kwargs):
            return observer._fit(original, trainer, train, val, *args, **kwargs)

        Trainer.fit = fit
        try:
            yield self
        finally:
            Trainer.fit = original

    def _fit(self, original, trainer, train, val, *args, **kwargs):
        run_dir = kwargs.get("run_dir")
        before = self.memory.start_step()
        with _saved_activations(trainer.model) as saved:
            history = original(trainer, train, val, *args, **kwargs)
        peak = self.memory.step_peak()
        n = min(self.batch_size, len(train))
        step_s = history[-1]["epoch_seconds"] if history else None
        timed = self._timed_steps(original, trainer, train) if self.timed_steps else None
        eval_s = self._eval_step(trainer, train)
        total = sum(p.numel() for p in trainer.model.parameters())
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        index = sum(1 for c in self.cells.values() if c["table"] == self.table)
        name = f"{self.table}#{index}"
        self.cells[name] = {
            "table": self.table, "cell": Path(run_dir).name.rsplit("-", 1)[0].rstrip("-") if run_dir else None,
            "model": type(trainer.model).__name__, "parameters": total, "trainable": trainable,
            "batch_size": n, "steps_per_batch": int(trainer.hooks.steps_per_batch),
            "train_step_s": None if step_s is None else round(step_s, 4),
            "eval_step_s": round(eval_s, 4),
            "peak_memory_mib": round(peak, 1), "step_memory_growth_mib": round(max(0.0, peak - before), 1),
            "saved_activations_mib_per_sample": round(saved["bytes"] / 2**20 / max(n, 1), 2),
            "checkpoint_mib": round(_checkpoint_bytes(trainer) / 2**20, 2),
            "moved_frozen": _moved_frozen(trainer),
            **(timed or {}),
        }
        self.cells_of_trainer[id(trainer)] = name
        log.info("%s: %s, %.1f M parameters (%.2f M trainable), step %.2f s", name, type(trainer.model).__name__,
                 total / 1e6, trainable / 1e6, step_s or float("nan"))
        return history

    def _timed_steps(self, original, trainer, train) -> dict:
        """``timed_steps`` more single-batch epochs on the first ``batch_size`` samples, after the
        first step: the steady step time, samples per second and (CUDA) the peak memory."""
        one = train.subset(list(range(min(self.batch_size, len(train)))))
        self.memory.start_step()
        seconds = []
        for _ in range(self.timed_steps):
            before = trainer.timings["train_seconds"]
            original(trainer, one, None, epochs=trainer.epoch + 1)
            seconds.append(trainer.timings["train_seconds"] - before)
        step = sorted(seconds)[len(seconds) // 2]  # the median: robust to one slow step
        return {"timed_steps": len(seconds), "steady_step_s": round(step, 5),
                "samples_per_s": round(len(one) / step, 2), "steady_peak_memory_mib": round(self.memory.step_peak(), 1)}

    def _eval_step(self, trainer, train) -> float:
        one = train.subset(list(range(min(self.batch_size, len(train)))))
        trainer.predict(one, self.batch_size)  # warm-up (the first call allocates)
        start = time.perf_counter()
        for _ in range(self.eval_steps):
            trainer.predict(one, self.batch_size)
        return (time.perf_counter() - start) / self.eval_steps


def dry_run_group(specs: list, splits: dict, *, device: str = "cpu", batch_size: int = 2, seed: int = 0,
                  table: dict | None = None, timed_steps: int = 0, eval_steps: int = 1, train: dict | None = None,
                  memory_cap_mib: float | None = None) -> dict:
    """Dry-run each of ``specs`` (the same dataset) on ``splits`` in this process, in order, with one
    shared :class:`~rmm_lib.context.Assets` (shared models train once). ``memory_cap_mib``: after a
    table, drop the kept models when the process holds more than this (a later table then trains
    its own again). ``train``: training settings on top of the spec's (the batch size is
    ``batch_size``). Returns ``{"tables": {key: ...}, "cells": {name: ...}}``; a table that fails is
    recorded with its error and the others still run."""
    from .profiles import get_profile

    profile = get_profile("paper")
    observer = _Observer(device, batch_size, timed_steps, eval_steps)
    ledger = _Ledger(observer.cells_of_trainer)
    assets = Assets(models=ledger)
    tables = {}
    with observer.watching(), tempfile.TemporaryDirectory(prefix="rmm-dryrun-") as tmp:
        for spec in specs:
            observer.table = ledger.table = spec.key
            observer.memory.start_table()
            start = time.perf_counter()
            entry = {"dataset": spec.dataset, "device": str(device)}
            try:
                ctx = build_context(spec, splits, profile, seed=seed, device=device, train={**(train or {}),
                                    "batch_size": batch_size}, table=table, out_dir=Path(tmp) / spec.key,
                                    pretrained=False, max_steps=1, assets=assets)
                spec.run(ctx)
                entry["status"] = "ok"
            except Exception as err:  # noqa: BLE001 -- recorded with its type: every table is reported
                entry.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000])
                log.warning("%s failed: %s", spec.key, entry["error"])
            entry["wall_s"] = round(time.perf_counter() - start, 2)
            entry["trained"] = [n for n, c in observer.cells.items() if c["table"] == spec.key]
            entry["reused"] = dict(ledger.reused.get(spec.key, {}))
            entry["peak_memory_mib"] = round(observer.memory.overall(), 1)
            tables[spec.key] = entry
            if memory_cap_mib is not None and (_status_mib("VmRSS") or 0) > memory_cap_mib:
                ledger.clear()
                ledger.origin.clear()
                gc.collect()
            shutil.rmtree(Path(tmp) / spec.key, ignore_errors=True)  # no checkpoint outlives its table
    return {"tables": tables, "cells": observer.cells}


def dry_run(spec, splits: dict, **kwargs) -> dict:
    """One table's dry run (:func:`dry_run_group` with one spec)."""
    return dry_run_group([spec], splits, **kwargs)


# ----------------------------------------------------------------------------- isolation
def _group_in_child(keys: list, data: dict, options: dict) -> dict:
    """Run in a fresh process: load the splits, dry-run the tables."""
    from .tables import get
    from .utils import set_threads

    threads = options.pop("threads", None)
    if threads:
        set_threads(threads)
    return dry_run_group([get(k) for k in keys], load_dry_splits(**data), **options)


def load_dry_splits(dataset: str, data_root: str | None = None, samples: int = 4, seed: int = 0,
                    words: int | None = None, data_options: dict | None = None) -> dict:
    """The splits a dry run reads: the prepared files under ``data_root`` (its first ``samples``
    per split when ``samples`` is set and the split is larger), else random data of the real shapes
    (``synthetic_splits``; ``words`` per text).

    Prepared data that hold fewer classes than the release (a fixture, a subset) keep their labels,
    but their class list is completed to the release's count (``unseen class k``), so that every
    model is built with the paper's output layer, hence the paper's parameter count."""
    from .data import load_splits, synthetic_splits
    from .data.registry import DATASETS

    if data_root is None:
        return synthetic_splits(dataset, n=samples, seed=seed, **({} if words is None else {"words": words}))
    splits = load_splits(dataset, data_root, seed=seed, in_memory=False, **(data_options or {}))
    if samples:
        splits = {k: v if len(v) <= samples else v.subset(list(range(samples))) for k, v in splits.items()}
    info = DATASETS.get(dataset)
    for ds in splits.values():
        names = list(ds.meta.get("class_names") or [])
        if info is not None and info.task == "classification" and names and len(names) < info.n_classes:
            ds.meta["class_names"] = names + [f"unseen class {i}" for i in range(len(names), info.n_classes)]
    return splits


def groups_of(specs: list) -> list:
    """Tables that may share models, in registry order: one group per (paper, dataset, training
    settings, method options); the others alone."""
    import json

    groups: dict = {}
    for spec in specs:
        key = (spec.paper, spec.dataset, json.dumps(spec.train, sort_keys=True, default=str),
               json.dumps(spec.model, sort_keys=True, default=str), json.dumps(spec.data_options, sort_keys=True))
        groups.setdefault(key, []).append(spec.key)
    return list(groups.values())


def run_isolated(groups: list, data_for, options: dict | None = None, on_group=None) -> dict:
    """Each group of table keys in its own fresh process (``spawn``): ``data_for(spec)`` gives
    :func:`load_dry_splits`' arguments, ``options`` :func:`dry_run_group`'s. Returns the merged
    ``{"tables", "cells"}``; a process that dies (killed for memory) marks its tables failed.
    ``on_group(keys, result)`` is called after each group (progress)."""
    import multiprocessing

    from .tables import get

    merged = {"tables": {}, "cells": {}}
    context = multiprocessing.get_context("spawn")
    for keys in groups:
        dataset = get(keys[0]).dataset
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(_group_in_child, list(keys), data_for(get(keys[0])), dict(options or {}))
            try:
                result = future.result()
            except BrokenProcessPool:
                result = {"tables": {k: {"dataset": dataset, "status": "failed",
                                         "error": "the process was killed (out of memory?)"} for k in keys},
                          "cells": {}}
            except Exception as err:  # noqa: BLE001 -- e.g. the data could not be loaded
                result = {"tables": {k: {"dataset": dataset, "status": "failed",
                                         "error": f"{type(err).__name__}: {err}"[:2000]} for k in keys}, "cells": {}}
        merged["tables"].update(result["tables"])
        merged["cells"].update(result["cells"])
        if on_group is not None:
            on_group(keys, result)
    return merged


# ----------------------------------------------------------------------------- the record
def paper_parameters(spec) -> dict | None:
    """The parameter counts a paper prints for ``spec``'s main model, with where: CMPT Table 3
    (image-text) and Table 4 (audio-video) for every CMPT table of that kind (the same model); CMPT
    Table 4's MLA row (ResNet-18 encoders) for MLA on CREMA-D and Kinetics-Sounds. None elsewhere:
    TRML and MLA print no counts, and CMPT's MLA figure for Food-101 is M3AE's, not our CLIP's."""
    from .tables.cmpt import PAPER_PARAMETERS, TABLE4

    if spec.paper in ("cmpt", "compare"):
        kind = "audio_video" if "audio" in spec.backbones else "image_text"
        total, learnable = PAPER_PARAMETERS[kind]
        where = "CMPT Table 4 (audio-video)" if kind == "audio_video" else "CMPT Table 3 (image-text)"
        return {"total_m": total, "trainable_m": learnable, "source": where}
    if spec.paper == "mla" and spec.dataset in ("cremad", "kinetics_sounds"):
        total, learnable = TABLE4["MLA"][:2]
        return {"total_m": total, "trainable_m": learnable, "source": "CMPT Table 4, MLA row (ResNet-18 encoders)"}
    return None


def make_record(result: dict, *, command: str, options: dict, data: str) -> dict:
    """The committed form of a dry run of tables: provenance (code hash, versions, CPU, the
    command), one summary per table beside the paper's counts, and every cell."""
    import datetime
    import platform

    from .records import code_hash, cpu_model, versions
    from .tables import get

    tables = {}
    for key, entry in sorted(result["tables"].items()):
        spec = get(key)
        row = {**summary(result, key, spec.paper), "dataset": spec.dataset, "trained": entry.get("trained", []),
               "reused": entry.get("reused", {})}
        if entry.get("error"):
            row["error"] = entry["error"]
        paper = paper_parameters(spec)
        if paper:
            row["paper_parameters"] = paper
        tables[key] = row
    return {
        "provenance": {
            "command": command, "code_hash": code_hash(), "versions": versions(), "cpu": cpu_model(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_machine_memory_gib():.0f} GiB",
            "threads": torch.get_num_threads(), "data": data,
            "load_average_1min_at_end": round(os.getloadavg()[0], 1),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **options,
        },
        "tables": tables,
        "cells": result["cells"],
    }


def _machine_memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


# ----------------------------------------------------------------------------- summaries
def table_cells(result: dict, key: str) -> list:
    """Every cell ``key`` used: the ones it trained, then the ones it reused from another table."""
    entry = result["tables"][key]
    return [result["cells"][n] for n in entry.get("trained", []) + list(entry.get("reused", {}))
            if n in result["cells"]]


def main_cell(result: dict, key: str, paper: str) -> dict | None:
    """The cell of the paper's own method (TRML, MLA, CMPT with its proxies; of several, the one
    with the slowest training step: a table's first cell may train on a batch that misses a
    modality), else the first cell."""
    cells = table_cells(result, key)
    wanted = MAIN_MODELS.get(paper)
    own = [c for c in cells if c["model"] == wanted and (wanted != "CMPTModel" or (c.get("cell") or "").startswith("cmpt-cmpt"))]
    own = own or [c for c in cells if c["model"] == wanted]
    if own:
        return max(own, key=lambda c: c.get("train_step_s") or 0.0)
    return cells[0] if cells else None


def summary(result: dict, key: str, paper: str) -> dict:
    """One table in numbers: models, the main model's parameters, the slowest training step, the
    peak memory and the checkpoints a real run of it writes (one ``last.pt`` per model)."""
    entry = result["tables"][key]
    cells = table_cells(result, key)
    main = main_cell(result, key, paper)
    steps = [c["train_step_s"] for c in cells if c.get("train_step_s") is not None]
    return {
        "status": entry.get("status"), "models": len(cells),
        "model": main and main["model"], "parameters": main and main["parameters"],
        "trainable": main and main["trainable"],
        "train_step_s": main and main["train_step_s"], "eval_step_s": main and main["eval_step_s"],
        "slowest_train_step_s": max(steps) if steps else None,
        "peak_memory_mib": entry.get("peak_memory_mib"),
        "checkpoints_mib": round(sum(c["checkpoint_mib"] for c in cells), 1),
        "largest_checkpoint_mib": max((c["checkpoint_mib"] for c in cells), default=None),
        "wall_s": entry.get("wall_s"),
    }


def fmt_millions(n) -> str:
    return "-" if n is None else (f"{n / 1e6:.2f} M" if n < 1e9 else f"{n / 1e9:.2f} B")


def fmt_mib(mib) -> str:
    if mib is None or (isinstance(mib, float) and math.isnan(mib)):
        return "-"
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.0f} MiB" if mib >= 10 else f"{mib:.1f} MiB"


__all__ = ["dry_run", "dry_run_group", "run_isolated", "groups_of", "load_dry_splits", "summary", "table_cells",
           "main_cell", "make_record", "paper_parameters", "fmt_millions", "fmt_mib", "MAIN_MODELS"]
