"""Results kept as data: grids computed cell by cell into committed JSON records.

A :class:`Grid` names a configuration (everything that decides its numbers), its cells and the
function that computes one cell. ``python -m rmm_lib grid NAME`` runs the cells a record lacks and
writes ``results/NAME.json`` after each one, so an interrupted run resumes where it stopped. Each
cell keeps its provenance: the hash of the ``rmm_lib`` code that computed it, package versions,
device, wall time and the command that recomputes it.

A grid may also be a **section** of another grid's record (``Grid.section``): the record of
grid ``compare`` keeps each method brought to its footing (:mod:`rmm_lib.footing`) under
``record["methods"][NAME]``, with a configuration, cells and traces of its own, so adding a method
never makes the comparison's own record stale.

A record is **stale** when its configuration differs from the grid's: the notebooks then compute
instead of reading it, and the tests fail until the grid is recomputed. CI also recomputes a few
cells of every grid (``Grid.sample``) and checks that they reproduce the record
(:func:`reproduction_problems`), on any CPU:

* every number within ``Grid.tolerance`` -- absolute, per key, at least the drift measured when
  only the floating-point kernels change (``benchmarks/kernel_drift.py`` writes
  ``results/kernel_drift.json``; a test checks each tolerance covers it). A whole training run
  amplifies the last bits of other kernels (another CPU): early stopping picks another epoch, a
  few test samples flip. Numbers no tolerance can hold across CPUs (the epoch early stopping
  picks) are compared only on the machine that wrote them (``Grid.exact_only``);
* the **loss trace** of the cell -- the training losses of its first ``Grid.trace_steps``
  optimiser steps (:func:`rmm_lib.traces.trace_losses`), stored for the sample cells -- within
  ``Grid.trace_tolerance`` (relative). The first steps see the code's data, model, initial weights
  and loss, and drift by orders of magnitude less than a whole run, so a changed method fails here
  even when its final numbers stay within the drift.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from .profiles import kernel_overrides
from .traces import trace_losses

#: Where committed records live: ``results/`` at the repository root.
RESULTS = Path(__file__).resolve().parents[1] / "results"
_PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "open_clip_torch", "transformers", "peft")


def code_hash() -> str:
    """sha256 (first 12 hex digits) of every ``rmm_lib`` source file: which code wrote a record."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def cpu_model() -> str:
    """The processor's model name and its widest vector instructions: float results can differ in
    the last bits between CPUs (other kernels), and a trained model then drifts."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    isa = next((f for f in ("avx512f", "avx2", "avx") if f in flags), "")
    return f"{model}{', ' + isa if isa else ''}"


def kernels() -> dict:
    """What decides the last bits of a float result here: the processor, the vector kernels torch
    dispatches to (``torch.backends.cpu.get_cpu_capability()``) and any environment override of
    torch's, MKL's or oneDNN's kernel choice."""
    import torch

    return {"cpu": cpu_model(), "capability": torch.backends.cpu.get_cpu_capability(), **kernel_overrides()}


def versions() -> dict:
    """Python and the versions of the packages that decide the numbers."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _canonical(value):
    """JSON round trip: tuples become lists, keys strings, so configurations compare as stored."""
    return json.loads(json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class Grid:
    """One named grid. ``compute(config, cell)`` returns a JSON-ready dict of numbers for ``cell``.

    ``sample``: the cells CI recomputes (a few minutes' worth); ``tolerance``: the largest absolute
    difference, per number, that still counts as reproduced on another CPU (a key sets it for every
    number below it; default ``default_tolerance``); ``exact_only``: keys compared only where the
    record was written; ``trace_steps`` / ``trace_tolerance``: the loss trace of each sample cell
    and its largest relative difference (see the module docstring)."""

    name: str
    config: dict
    cells: tuple
    compute: Callable[[dict, str], dict]
    sample: tuple = ()
    tolerance: dict = field(default_factory=dict)
    #: further cells recomputed only by ``benchmarks/kernel_drift.py``, to measure drift on more runs
    drift_cells: tuple = ()
    default_tolerance: float = 1e-6
    exact_only: tuple = ("best_epoch", "epochs_run")
    trace_steps: int = 5
    trace_tolerance: float = 1e-4
    description: str = ""
    #: the key of ``record["methods"]`` this grid is kept under in ``results/NAME.json`` ("": the record itself)
    section: str = ""
    #: the command that computes it (default ``python -m rmm_lib grid NAME``)
    run_command: str = ""

    def __post_init__(self):
        if len(set(self.cells)) != len(self.cells):
            raise ValueError(f"Grid {self.name!r} lists a cell twice.")
        unknown = (set(self.sample) | set(self.drift_cells)) - set(self.cells)
        if unknown:
            raise ValueError(f"Grid {self.name!r}: sample cells {sorted(unknown)} are not cells of the grid.")

    @property
    def command(self) -> str:
        return self.run_command or f"python -m rmm_lib grid {self.name}"

    @property
    def label(self) -> str:
        """``NAME`` or ``NAME[SECTION]``: how messages name the grid."""
        return f"{self.name}[{self.section}]" if self.section else self.name

    def path(self, root: Path | None = None) -> Path:
        return Path(root or RESULTS) / f"{self.name}.json"


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def load(grid: Grid, root: Path | None = None) -> dict | None:
    """The stored record of ``grid`` (``None`` if there is none); a section's own part of the file."""
    stored = _read(grid.path(root))
    if grid.section:
        return (stored or {}).get("methods", {}).get(grid.section)
    return stored


def stale_reason(grid: Grid, record: dict | None) -> str | None:
    """Why ``record`` cannot stand for ``grid`` (``None`` when it can)."""
    if record is None:
        return f"no record; run `{grid.command}`"
    if record.get("config") != _canonical(grid.config):
        changed = sorted(k for k in set(record.get("config", {})) | set(grid.config)
                         if record.get("config", {}).get(k) != _canonical(grid.config).get(k))
        return f"its configuration differs from the code's in {changed}; rerun `{grid.command} --fresh`"
    missing = [c for c in grid.cells if c not in record.get("cells", {})]
    if missing:
        return f"{len(missing)} of {len(grid.cells)} cells missing (e.g. {missing[0]!r}); run `{grid.command}`"
    untraced = [c for c in grid.sample if c not in record.get("traces", {})]
    if untraced:
        return f"sample cell(s) {untraced} have no loss trace; run `{grid.command}`"
    return None


def _write(grid: Grid, record: dict, root: Path | None) -> None:
    from .files import building

    path = grid.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with building(path):  # the grid and its sections share one file: read, merge and replace under a lock
        stored = _read(path) or {}
        if grid.section:
            whole = {**stored, "methods": {**stored.get("methods", {}), grid.section: record}}
        else:
            whole = {**record, **({"methods": stored["methods"]} if "methods" in stored else {})}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # one per process: two runs may write the same record
        tmp.write_text(json.dumps(whole, indent=1, sort_keys=True) + "\n")
        tmp.replace(path)  # never a half-written record


def compute_cell(grid: Grid, cell: str, device: str = "cpu") -> dict:
    """Compute one cell with its provenance."""
    start = time.perf_counter()
    result = grid.compute(grid.config, cell)
    return {
        "result": _canonical(result),
        "seconds": round(time.perf_counter() - start, 2),
        "code_hash": code_hash(),
        "versions": versions(),
        "device": device,
        "cpu": cpu_model(),
        "kernels": kernels(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": f"{grid.command} --cells {cell}",
    }


def trace(grid: Grid, cell: str) -> dict:
    """The loss trace of ``cell``: the training losses of its first ``grid.trace_steps`` optimiser
    steps (the computation stops there), with the kernels that computed them."""
    with trace_losses(grid.trace_steps) as losses:
        grid.compute(grid.config, cell)
    return {"losses": list(losses), "kernels": kernels()}


def trace_differences(stored: list, recomputed: list, tolerance: float) -> list:
    """``[(step, stored, recomputed)]`` for every step whose loss differs by more than ``tolerance``
    relative to the stored loss (or whose trace is longer or shorter)."""
    if len(stored) != len(recomputed):
        return [("steps", len(stored), len(recomputed))]
    return [(i, a, b) for i, (a, b) in enumerate(zip(stored, recomputed))
            if not math.isclose(a, b, rel_tol=tolerance, abs_tol=1e-12)]


def reproduction_problems(grid: Grid, cell: str, record: dict | None = None, across_cpus: bool = False) -> list:
    """Recompute ``cell`` and its loss trace here and say what does not reproduce the record:
    numbers beyond ``grid.tolerance`` (where other kernels computed it; bit for bit, the
    ``exact_only`` keys included, where the same kernels and versions did), trace steps beyond
    ``grid.trace_tolerance``. Empty when it reproduces. ``across_cpus=True`` applies the tolerances of
    another CPU even where this machine wrote the record (what a reader's laptop checks)."""
    record = record or load(grid)
    stored = record["cells"][cell]
    fresh = compute_cell(grid, cell)
    if not across_cpus and stored.get("kernels") == fresh["kernels"] and stored.get("versions") == fresh["versions"]:
        tolerance, default = {}, 1e-9  # the machine and kernels that wrote it: bit for bit
    else:
        tolerance, default = {**grid.tolerance, **{k: math.inf for k in grid.exact_only}}, grid.default_tolerance
    problems = [f"{name}: {a} recorded, {b} now" for name, a, b in
                differences(stored["result"], fresh["result"], tolerance, default)]
    stored_trace = record.get("traces", {}).get(cell)
    if stored_trace is None:
        problems.append(f"no loss trace recorded for {cell!r}; run `{grid.command}`")
    else:
        now = trace(grid, cell)["losses"]
        problems += [f"loss trace step {i}: {a} recorded, {b} now" for i, a, b in
                     trace_differences(stored_trace["losses"], now, grid.trace_tolerance)]
    return problems


def run(grid: Grid, cells=None, fresh: bool = False, root: Path | None = None, device: str = "cpu",
        log=print) -> dict:
    """Compute the cells of ``grid`` (all, or ``cells``) that its record lacks, writing the record
    after each. ``fresh`` starts a new record (needed when the configuration changed), or with
    ``cells`` recomputes just those cells (after a change of the code that computes them)."""
    record = None if fresh and cells is None else load(grid, root)
    if fresh and cells is not None and record is not None:
        record["cells"] = {c: v for c, v in record["cells"].items() if c not in set(cells)}
    if record is not None and record.get("config") != _canonical(grid.config):
        raise ValueError(f"The record {grid.path(root)} is stale ({stale_reason(grid, record)}).")
    record = record or {"grid": grid.label, "config": _canonical(grid.config), "description": grid.description,
                        "command": grid.command, "cells": {}}
    todo = list(grid.cells if cells is None else cells)
    redo = set(todo) if fresh and cells is not None else set()  # recomputed here, whatever the file holds
    unknown = [c for c in todo if c not in grid.cells]
    if unknown:
        raise ValueError(f"Grid {grid.label!r} has no cells {unknown}; its cells are {list(grid.cells)}.")
    for i, cell in enumerate(todo):
        if cell in record["cells"]:
            continue
        record["cells"][cell] = compute_cell(grid, cell, device)
        stored = load(grid, root)  # another process may have filled other cells meanwhile: keep them
        if stored is not None and stored.get("config") == record["config"]:
            record["cells"] = {**{c: v for c, v in stored["cells"].items() if c not in redo}, **record["cells"]}
        _write(grid, record, root)
        log(f"[{i + 1}/{len(todo)}] {grid.label}/{cell}: {record['cells'][cell]['seconds']:.1f} s")
    traces = record.setdefault("traces", {})
    for cell in grid.sample:
        if cell not in traces or (fresh and cell in todo):
            traces[cell] = trace(grid, cell)  # the sample cells' fingerprints (see the module docstring)
            _write(grid, record, root)
            log(f"{grid.label}/{cell}: loss trace of {len(traces[cell]['losses'])} steps")
    return record


def results(grid: Grid, root: Path | None = None, log=print) -> dict:
    """``{cell: result}`` of ``grid``: read from its record when the record is current, otherwise
    computed here (and not written: only the command writes records). Says which it did."""
    record = load(grid, root)
    reason = stale_reason(grid, record)
    if reason is None:  # (each cell's code hash, machine and date stay in the record: a re-run cell changes them)
        where = f"results/{grid.name}.json" + (f" (section {grid.section!r})" if grid.section else "")
        log(f"{grid.label}: {len(grid.cells)} cells read from {where} (computed by `{grid.command}`)")
        return {c: record["cells"][c]["result"] for c in grid.cells}
    log(f"{grid.label}: computing {len(grid.cells)} cells here ({reason})")
    kept = record["cells"] if record and record.get("config") == _canonical(grid.config) else {}
    return {c: kept[c]["result"] if c in kept else _canonical(grid.compute(grid.config, c)) for c in grid.cells}


def per_seed(runs: dict, model: str, *keys) -> list:
    """One number per seed from ``{model: [result per seed]}`` (a grid's ``by_model``):
    ``result[keys[0]][keys[1]]...``, by default the test accuracy."""
    if model not in runs:
        raise KeyError(f"No runs of {model!r}; the grid has {sorted(runs)}.")
    out = []
    for result in runs[model]:
        for key in keys or ("test", "accuracy"):
            result = result[key]
        out.append(result)
    return out


def descend(tolerance: dict, default: float, key: str) -> tuple:
    """The ``(tolerance, default)`` that hold below ``key``: a number named ``key`` becomes the
    default of everything below it; a dict named ``key`` adds its own entries (``{"test":
    {"accuracy": 0.08}}`` -- an accuracy under ``test``, not elsewhere)."""
    value = tolerance.get(key, default)
    if isinstance(value, dict):
        return {**tolerance, **value}, default
    return tolerance, value


def differences(stored, recomputed, tolerance: dict, default: float, path: str = "") -> list:
    """``[(number, stored, recomputed)]`` for every number that differs by more than its tolerance.
    A key named in ``tolerance`` sets the tolerance of every number below it (see :func:`descend`)."""
    if isinstance(stored, dict) and isinstance(recomputed, dict):
        return [d for key in sorted(set(stored) | set(recomputed))
                for d in (differences(stored[key], recomputed[key], *descend(tolerance, default, key), f"{path}{key}.")
                          if key in stored and key in recomputed else [(f"{path}{key}", stored.get(key),
                                                                         recomputed.get(key))])]
    if isinstance(stored, list) and isinstance(recomputed, list) and len(stored) == len(recomputed):
        return [d for i, (a, b) in enumerate(zip(stored, recomputed))
                for d in differences(a, b, tolerance, default, f"{path}{i}.")]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (stored, recomputed))
    same = abs(stored - recomputed) <= default if numbers else stored == recomputed
    return [] if same else [(path.rstrip("."), stored, recomputed)]
