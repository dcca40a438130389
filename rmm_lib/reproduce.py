"""Running a paper table on real data and recording the result beside the paper's numbers.

Used by ``python -m rmm_lib`` and by the book's "Reproducing the papers" page: a run writes
``<out>/<key>/result.json`` (what ran, where, how long, our numbers and the paper's) and
``<out>/<key>/table.md`` (one row per reported number: paper, ours, difference).
"""
from __future__ import annotations

import json
import math
import platform
import resource
import time
from pathlib import Path

import torch

from .tables import RunContext, TableSpec

RESULT = "result.json"
TABLE = "table.md"


def command(spec: TableSpec) -> str:
    return f"python -m rmm_lib run {spec.key} --data-root $RMM_DATA_ROOT --out runs/"


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return round(float(value), 2)
    return value


def comparison_rows(paper: dict, ours: dict | None) -> list:
    """``[(row, column, paper, ours)]`` over every number the paper reports (and any extra of ours)."""
    # a row may be a bare number ({"Acc": 78.9}) instead of {column: number}
    paper = {r: (v if isinstance(v, dict) else {"": v}) for r, v in (paper or {}).items()}
    ours = {r: (v if isinstance(v, dict) else {"": v}) for r, v in (ours or {}).items()}
    rows = []
    for row in list(paper) + [r for r in ours if r not in paper]:
        columns = dict(paper.get(row, {}))
        for col in ours.get(row, {}):
            columns.setdefault(col, None)
        for col in columns:
            rows.append((row, col, _number(paper.get(row, {}).get(col)), _number(ours.get(row, {}).get(col))))
    return rows


def markdown_table(spec: TableSpec, ours: dict | None) -> str:
    """Paper's numbers beside ours (``-`` where one side has none; ``not run yet`` before a run)."""
    lines = ["| row | column | paper | ours |", "|---|---|---|---|"]
    for row, col, p, o in comparison_rows(spec.paper_numbers, ours):
        shown = "not run yet" if ours is None else ("-" if o is None else o)
        lines.append(f"| {row} | {col} | {'-' if p is None else p} | {shown} |")
    return "\n".join(lines) + "\n"


def peak_memory_mb(device: str) -> float:
    """Peak GPU memory allocated by torch on ``device`` (CUDA), else the process's peak RSS."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_table(spec: TableSpec, splits: dict, *, device: str = "cpu", out_dir="runs", epochs: int | None = None,
              seed: int = 0, smoke: bool = False, max_steps: int | None = None, progress: bool = True) -> dict:
    """Call ``spec.run`` and write its record; returns the record."""
    out = Path(out_dir) / spec.key
    out.mkdir(parents=True, exist_ok=True)
    overrides = {"epochs": epochs} if epochs is not None else {}
    if smoke:  # one short epoch per model: the run's shape is tested, not its result
        overrides.update(epochs=1, max_batches=max_steps or 2, warmup_epochs=0)  # no warm-up in one epoch
    ctx = RunContext(spec=spec, splits=splits, device=device, out_dir=out, smoke=smoke, max_steps=max_steps,
                     progress=progress, seed=seed, overrides=overrides)
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    ours = spec.run(ctx)
    wall = time.perf_counter() - start
    if not isinstance(ours, dict):
        raise TypeError(f"{spec.key}.run returned {type(ours).__name__}; it must return {{row: {{column: value}}}}.")
    record = {
        "key": spec.key, "paper": spec.paper, "title": spec.title, "dataset": spec.dataset,
        "synthetic": bool(smoke), "device": str(device), "seed": seed, "overrides": overrides, "max_steps": max_steps,
        "wall_s": round(wall, 3), "peak_memory_mb": round(peak_memory_mb(device), 1),
        "backbones": spec.backbones, "train": spec.train, "protocol": spec.protocol,
        "ours": ours, "paper_numbers": spec.paper_numbers,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
    }
    (out / RESULT).write_text(json.dumps(record, indent=1, default=str))
    title = f"# {spec.key}: {spec.title}\n\n" + ("*Smoke run on synthetic data: not a result.*\n\n" if smoke else "")
    (out / TABLE).write_text(title + markdown_table(spec, ours))
    return record


def load_record(key: str, out_dir="runs") -> dict | None:
    """The record of a finished real run of ``key`` (None if it has not run here)."""
    path = Path(out_dir) / key / RESULT
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return None if record.get("synthetic") else record


def expected_time(spec: TableSpec) -> str:
    if spec.gpu_minutes is None:
        return ("not measured yet (no GPU was lent when this page was written); "
                f"`python -m rmm_lib smoke {spec.key} --steps 20` on your GPU prints steps/s and peak memory")
    return f"about {spec.gpu_minutes:g} minutes on one GPU (from a measured smoke run)"


def table_section(spec: TableSpec, runs_dir="runs") -> str:
    """One table's block on the "Reproducing the papers" page (markdown)."""
    from .data.registry import DATASETS

    record = load_record(spec.key, runs_dir)
    dataset = DATASETS[spec.dataset].title if spec.dataset in DATASETS else spec.dataset
    backbones = ", ".join(f"{m}: `{b}`" for m, b in spec.backbones.items()) or "-"
    where = (f"`{runs_dir}/{spec.key}/result.json`, run on {record['environment'].get('gpu') or record['device']} "
             f"in {record['wall_s'] / 60:.0f} min" if record else
             f"not run yet; the command writes `{runs_dir}/{spec.key}/result.json` and `table.md`, and this page shows them")
    lines = [
        f"**{spec.key}: {spec.title}**", "",
        f"- **Command:** `{command(spec)}`",
        f"- **Dataset:** {dataset} (`{spec.dataset}`); **backbones:** {backbones}",
        f"- **Protocol:** {spec.protocol or '-'}",
        f"- **Expected time:** {expected_time(spec)}",
        f"- **Our numbers:** {where}",
    ]
    if spec.notes:
        lines.append(f"- **Notes:** {spec.notes}")
    return "\n".join(lines) + "\n\n" + markdown_table(spec, record["ours"] if record else None)
