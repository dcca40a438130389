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
from dataclasses import asdict
from pathlib import Path

import torch

from .context import TableSpec, build_context
from .distributed import barrier, is_main_process, world_size
from .records import code_hash  # noqa: F401  (re-exported: rmm_lib.reproduce.code_hash)

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


def run_table(spec: TableSpec, splits: dict, profile, *, device: str = "cpu", out_dir="runs", seed: int = 0,
              train: dict | None = None, model: dict | None = None, table: dict | None = None,
              max_steps: int | None = None, pretrained: bool = True, reduced: bool = False, resume: bool = False,
              progress: bool = True, command_line: str | None = None) -> dict:
    """Run ``spec`` on ``splits`` under ``profile`` and write its record; returns the record.

    Every trained model checkpoints under ``<out_dir>/<key>/cells/``; ``resume=True`` continues each
    from its last checkpoint (a finished one is loaded, not retrained), so an interrupted run picks
    up where it stopped and ends with the same numbers. ``max_steps`` or ``pretrained=False`` make a
    smoke run: its record is marked ``synthetic`` and never shown as a result."""
    out = Path(out_dir) / spec.key
    out.mkdir(parents=True, exist_ok=True)
    ctx = build_context(spec, splits, profile, seed=seed, device=device, train=train, model=model, table=table,
                        out_dir=out, resume=resume, pretrained=pretrained, reduced=reduced, max_steps=max_steps,
                        progress=progress)
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    ours = spec.run(ctx)
    wall = time.perf_counter() - start
    if not isinstance(ours, dict):
        raise TypeError(f"{spec.key}.run returned {type(ours).__name__}; it must return {{row: {{column: value}}}}.")
    smoke = ctx.smoke or reduced
    record = {
        "key": spec.key, "paper": spec.paper, "title": spec.title, "dataset": spec.dataset,
        "synthetic": bool(smoke), "profile": ctx.profile.name, "device": str(device), "seed": seed,
        "pretrained": pretrained, "reduced": reduced, "resumed": resume, "max_steps": max_steps,
        "config": asdict(ctx.train), "model_options": {k: repr(v) for k, v in ctx.model.items()},
        "table_options": {k: v for k, v in asdict(ctx.table).items() if v is not None},
        "wall_s": round(wall, 3), "peak_memory_mb": round(peak_memory_mb(device), 1),
        "backbones": spec.backbones, "protocol": spec.protocol,
        "ours": ours, "paper_numbers": spec.paper_numbers,
        "provenance": {"code_hash": code_hash(), "command": command_line or command(spec)},
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        **({"processes": world_size()} if world_size() > 1 else {}),  # torchrun: wall_s is on this many GPUs
    }
    if is_main_process():  # under torchrun every rank computed the same record; one writes it
        _write_result(out, spec, record, ours, smoke)
    barrier()
    return record


def _write_result(out: Path, spec: TableSpec, record: dict, ours: dict, smoke: bool) -> None:
    tmp = out / (RESULT + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    tmp.replace(out / RESULT)
    title = f"# {spec.key}: {spec.title}\n\n" + ("*Smoke run (random or reduced weights, few steps): not a result.*\n\n"
                                                 if smoke else "")
    (out / TABLE).write_text(title + markdown_table(spec, ours))


def load_record(key: str, out_dir="runs") -> dict | None:
    """The record of a finished real run of ``key`` (None if it has not run here)."""
    path = Path(out_dir) / key / RESULT
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return None if record.get("synthetic") else record


def _cell(text) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _count(table: dict | None) -> int:
    return sum(v is not None for _, _, v, _ in comparison_rows(table, None))


def _numbers(n: int) -> str:
    return f"{n} number" + ("" if n == 1 else "s")


def _measured(spec: TableSpec, record: dict | None, gpu: str = "A100") -> str | None:
    """A measured GPU time for the page's ``gpu`` column (``"T4"`` or ``"A100"``, the A100 column
    standing for any GPU other than a T4): the spec's ``gpu_minutes`` (a measured run), a real run's
    wall time on a GPU (not a resumed run: its wall time covers only the last part), or the time
    ``benchmarks/gpu_cost.py`` projected from steps measured on a GPU (``results/gpu_cost.json``)."""
    from .estimates import format_minutes, measured_gpu

    def column(name: str) -> str:
        return "T4" if "T4" in name.upper() else "A100"

    if spec.gpu_minutes is not None and gpu == "A100":
        return f"{format_minutes(spec.gpu_minutes)} (measured)"
    device = ((record or {}).get("environment") or {}).get("gpu")
    if device and column(device) == gpu and not record.get("resumed") and record.get("wall_s") is not None:
        processes = record.get("processes", 1)  # a torchrun run: GPU time is wall time x GPUs
        where = device if processes == 1 else f"{processes} x {device}"
        return f"{format_minutes(record['wall_s'] * processes / 60)} (measured, {where})"
    projected = measured_gpu(spec)
    if projected and column(projected["gpu"]) == gpu:
        return f"{format_minutes(projected['minutes'])} (projected from steps measured on {projected['gpu']})"
    return None


def expected_time(spec: TableSpec, record: dict | None = None, gpu: str = "A100") -> str:
    """The page's GPU-time cell for ``gpu`` (``"A100"``: an A100-class GPU, ``"T4"``): a measured
    time when one exists, else the FLOPs estimate of :mod:`rmm_lib.estimates`, labelled as such."""
    from .estimates import estimate, format_minutes, gaps

    measured = _measured(spec, record, gpu)
    if measured:
        return measured
    est = estimate(spec)
    if est is None:
        return "no estimate: " + "; ".join(gaps(spec))
    shown = format_minutes(est.minutes_on(gpu))
    shown = shown if shown.startswith("<") else "≈ " + shown
    if gpu != "A100":
        return f"{shown} (estimate)"
    models = f"{est.models} model" + ("" if est.models == 1 else "s")
    return f"{shown} (estimate: {models} × {est.epochs} epochs)"


def _gb(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 0.1 else "< 0.1"


def memory_cell(spec: TableSpec) -> str:
    """Estimated peak GPU memory (from the full-size record), flagged when a T4 cannot hold it."""
    from .estimates import GPUS, gpu_memory_gib

    gib = gpu_memory_gib(spec)
    if gib is None:
        return "no full-size record (`python benchmarks/full_size.py`)"
    over = f"; more than a T4's {GPUS['T4'].memory_gib:.0f} GB" if gib > GPUS["T4"].memory_gib else ""
    return f"≈ {_gb(gib)} GB (estimate{over})"


def disk_cell(spec: TableSpec) -> str:
    """The data (download + prepared arrays) and the checkpoints one run writes."""
    from .estimates import disk_gib

    d = disk_gib(spec)
    data = None if d["download"] is None else d["download"] + (d["prepared"] or 0)
    checkpoints = "?" if d["checkpoints"] is None else (f"{d['checkpoints'] * 1024:.0f} MB" if d["checkpoints"] < 1
                                                        else f"{_gb(d['checkpoints'])} GB")
    return f"data {'size not stated' if data is None else '≈ ' + _gb(data) + ' GB'}, checkpoints {checkpoints}"


def dataset_anchor(name: str) -> str:
    """The anchor MyST gives the datasets page's heading ``### <title> (`<name>`)`` when the book
    sets ``myst_heading_anchors`` (its default slug: lower case, punctuation dropped, spaces to -)."""
    import re

    from .data.registry import DATASETS

    heading = f"{DATASETS[name].title} ({name})"
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def dataset_link(spec: TableSpec, datasets_page: str = "../book/datasets.md", anchors: bool = False) -> str:
    """The spec's dataset, linked to the book's datasets page (plain text if it has no loader);
    ``anchors=True`` links its section, which needs ``myst_heading_anchors`` in the book's config
    (without it ``jupyter-book build -W -n`` fails on the anchor)."""
    from .data.registry import DATASETS

    if spec.dataset not in DATASETS:
        return f"{spec.dataset} (no loader yet)"
    target = datasets_page + (f"#{dataset_anchor(spec.dataset)}" if anchors else "")
    return f"[{DATASETS[spec.dataset].title}]({target})"


def paper_table(spec: TableSpec) -> str:
    """The paper's numbers as the paper lays them out (one row per row, one column per column), as
    transcribed in the spec: not rounded."""
    rows = {r: (v if isinstance(v, dict) else {"": v}) for r, v in (spec.paper_numbers or {}).items()}
    if not rows:
        return "*A figure: the paper prints no numbers.*\n"
    cols = list(dict.fromkeys(c for r in rows.values() for c in r))
    lines = ["| | " + " | ".join(_cell(c or "value") for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for row, values in rows.items():
        lines.append(f"| {_cell(row)} | " + " | ".join(_cell("-" if values.get(c) is None else values[c])
                                                     for c in cols) + " |")
    return "\n".join(lines) + "\n"


def table_section(spec: TableSpec, runs_dir="runs") -> str:
    """One table's numbers for the page: the paper's as printed, or, once
    ``<runs_dir>/<key>/result.json`` exists, every number beside ours (:func:`markdown_table`)."""
    record = load_record(spec.key, runs_dir)
    head = f"**`{spec.key}`: {spec.title}**"
    if record is None:
        body = paper_table(spec)
    else:
        head += f" (ours: `{Path(runs_dir).name}/{spec.key}/{RESULT}`, {record.get('device', '?')})"
        body = markdown_table(spec, record.get("ours") or {})
    notes = f"\n*{spec.notes}*\n" if spec.notes else ""
    return f"{head}\n{notes}\n{body}"


def unavailable(spec: TableSpec) -> str:
    """Why ``spec``'s data can no longer be obtained ("" when it can)."""
    from .data.registry import DATASETS

    return getattr(DATASETS.get(spec.dataset), "unavailable", "")


def summary_row(spec: TableSpec, runs_dir="runs", datasets_page: str = "../book/datasets.md",
                anchors: bool = False) -> str:
    """One row of a paper's table on the page: table, dataset, time on a T4 and on an A100-class
    GPU, GPU memory, disk, the paper's numbers and ours."""
    record = load_record(spec.key, runs_dir)
    n_paper = _count(spec.paper_numbers)
    paper = _numbers(n_paper) if n_paper else "figure only"
    ours = "—" if record is None else _numbers(_count(record.get("ours")))
    data = dataset_link(spec, datasets_page, anchors) + (" ⚠ no longer distributed" if unavailable(spec) else "")
    cells = [f"`{spec.key}`: {spec.title}", data, expected_time(spec, record, "T4"), expected_time(spec, record, "A100"),
             memory_cell(spec), disk_cell(spec), paper, ours]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


SUMMARY_HEADER = ("| table | dataset | T4 | A100-class | GPU memory | disk | paper | ours |\n"
                  "|---|---|---|---|---|---|---|---|")


def paper_section(paper: str, specs, runs_dir="runs", datasets_page: str = "../book/datasets.md",
                  anchors: bool = False) -> str:
    """A paper's block on the "Reproducing the papers" page: one summary table (a row per spec;
    tables whose data can no longer be obtained last), then the paper's numbers, spec by spec,
    folded in a ``<details>`` element."""
    specs = sorted(specs, key=lambda s: (bool(unavailable(s)), s.key))
    if not specs:
        return ""
    name = paper.upper()
    lines = [f"**{name}: {len(specs)} table(s)**", "", SUMMARY_HEADER]
    lines += [summary_row(s, runs_dir, datasets_page, anchors) for s in specs]
    gone = sorted({unavailable(s) for s in specs if unavailable(s)})
    if gone:
        lines += ["", "⚠ " + "; ".join(gone) + "."]
    lines += ["", f"<details><summary>{name}: the paper's numbers, table by table (ours beside them once run)"
              "</summary>", ""]
    lines += [table_section(s, runs_dir) for s in specs]
    lines += ["</details>", ""]
    return "\n".join(lines)


#: The page's one line on running a table on several GPUs.
SEVERAL_GPUS = ("**Several GPUs**: `torchrun --nproc_per_node N -m rmm_lib run KEY ...` runs the same table "
                "data-parallel, one process per GPU (PyTorch DDP; `batch_size` stays the batch of one step, split "
                "over the GPUs); `scripts/slurm_torchrun.sh` is an example SLURM job.")


def reproduction_page(specs: dict, runs_dir="runs", datasets_page: str = "../book/datasets.md",
                      anchors: bool = False) -> str:
    """Every registered spec, once, grouped by paper (TRML, MLA, CMPT, then any other)."""
    from .estimates import describe

    papers = list(dict.fromkeys(["trml", "mla", "cmpt"] + sorted({s.paper for s in specs.values()})))
    blocks = ["Every row runs with `python -m rmm_lib run KEY --data-root $RMM_DATA_ROOT --out runs/`.", "",
              describe(), "", SEVERAL_GPUS, ""]
    for paper in papers:
        block = paper_section(paper, [s for s in specs.values() if s.paper == paper], runs_dir, datasets_page,
                              anchors)
        if block:
            blocks.append(block)
    return "\n".join(blocks)


# ----------------------------------------------------------------------------- the full-size record
def _m(n) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def _mib(v) -> str:
    if v is None:
        return "-"
    return f"{v / 1024:.1f} GB" if v >= 1024 else f"{v:.0f} MB" if v >= 1 else f"{v * 1024:.0f} kB"


def full_size_section(specs: dict, record: dict | None = None) -> str:
    """The full-size record (``results/full_size.json``) as one Markdown table: per table, the models
    it trains, its main model's parameters beside the paper's counts, the CPU step times at batch 2,
    the peak resident memory and the checkpoints a real run writes; failures with their reason."""
    from .estimates import FULL_SIZE_FILE, load_record

    record = load_record(FULL_SIZE_FILE) if record is None else record
    if not record:
        return "*No full-size record yet: run `python benchmarks/full_size.py`.*\n"
    prov = record["provenance"]
    lines = [f"Measured by `{prov['command']}` (code `{prov['code_hash']}`, torch {prov['versions'].get('torch')}, "
             f"{prov['cpu']}, {prov.get('threads', 1)} thread, {prov['finished'][:10]}): each table's models at full "
             f"size with random weights, one training and one evaluation step at batch {prov['batch_size']} on "
             "its release-format fixture, **on a CPU** (not GPU times). *Parameters* are the main model's "
             "(TRML, MLA, CMPT with its proxies); the paper's counts where it prints them. *Checkpoints*: one "
             "`last.pt` per model, as a real run writes them.", "",
             "| table | models | parameters (paper) | trainable (paper) | CPU step: train / eval | peak RAM | "
             "checkpoints |", "|---|---|---|---|---|---|---|"]
    failed = []
    for key in sorted(specs):
        row = record["tables"].get(key)
        if row is None:
            lines.append(f"| `{key}` | not in the record | | | | | |")
            continue
        if row["status"] != "ok":
            failed.append(f"`{key}`: {row.get('error', 'failed')}")
            lines.append(f"| `{key}` | failed (below) | | | | | |")
            continue
        paper = row.get("paper_parameters") or {}
        total = _m(row["parameters"]) + (f" ({paper['total_m']:.2f} M)" if paper else "")
        trainable = _m(row["trainable"]) + (f" ({paper['trainable_m']:.2f} M)" if paper else "")
        shared = f", {len(row['reused'])} shared" if row.get("reused") else ""
        lines.append(f"| `{key}` | {row['models']}{shared} | {total} | {trainable} | {row['train_step_s']:.1f} s / "
                     f"{row['eval_step_s']:.1f} s | {_mib(row['peak_memory_mib'])} | {_mib(row['checkpoints_mib'])} |")
    sources = sorted({r["paper_parameters"]["source"] for r in record["tables"].values() if r.get("paper_parameters")})
    if sources:
        lines += ["", "Paper counts from: " + "; ".join(sources) + "."]
    if failed:
        lines += ["", "Could not run here: " + "; ".join(_cell(f) for f in failed) + "."]
    return "\n".join(lines) + "\n"


def _step(row: dict) -> str:
    """The median step time with the range of the timed steps (how much one step varies)."""
    times = row.get("step_s_all") or [row["step_s"]]
    return f"{row['step_s']:.2f} s (steps {min(times):.2f}-{max(times):.2f})"


def throughput_section(record: dict | None = None) -> str:
    """MLA against Concat and CMPT against full fine-tuning (``results/throughput.json``), labelled
    with where they were measured."""
    from .estimates import RESULTS, load_record

    record = load_record(RESULTS / "throughput.json") if record is None else record
    if not record:
        return "*No throughput record yet: run `python benchmarks/throughput.py`.*\n"
    rows = {(r["comparison"], r["dataset"], r["variant"]): r for r in record["rows"]}
    where = (f"{'CPU' if record['device'] == 'cpu' else record['device']} ({record['cpu']}, {record['threads']} "
             f"thread), full size, random weights, batch {record['batch_size']}, median of {record['steps']} steps")
    out = [f"Measured by `{record['command']}` on a **{where}**; not GPU figures.", ""]
    names = {"cremad": "CREMA-D", "food101": "Food-101"}
    for dataset in ("cremad", "food101"):
        a, b = rows.get(("mla_vs_concat", dataset, "mla")), rows.get(("mla_vs_concat", dataset, "concat"))
        if a and b:
            out.append(f"- **MLA vs Concat, {names[dataset]}** (same encoders, {_m(a['trainable'])} trainable): "
                       f"an MLA step takes {_step(a)}, a Concat step {_step(b)}: MLA / Concat = "
                       f"{a['step_s'] / b['step_s']:.2f} (MLA makes {a['steps_per_batch']} optimiser steps per "
                       f"batch, one per modality); peak memory {_mib(a['peak_mib'])} vs {_mib(b['peak_mib'])}.")
    for dataset in ("food101", "cremad"):
        a, b = rows.get(("cmpt_vs_full", dataset, "cmpt")), rows.get(("cmpt_vs_full", dataset, "full"))
        if a and b:
            growth = ("" if a.get("peak_growth_mib") is None else
                      f", growth during the steps {_mib(a['peak_growth_mib'])} vs {_mib(b['peak_growth_mib'])}")
            frozen = b["parameters"] - b["trainable"]
            caveat = (f" (all but {_m(frozen)}: peft's LoRA on the image tower's nn.MultiheadAttention puts its fused "
                      "projections back frozen at every forward)" if frozen > 0 else "")
            out.append(f"- **CMPT vs full fine-tuning, {names[dataset]}** (same towers): {_m(a['trainable'])} vs "
                       f"{_m(b['trainable'])} trainable{caveat}; a step takes {_step(a)} vs {_step(b)}: full / CMPT = "
                       f"{b['step_s'] / a['step_s']:.2f}; peak memory {_mib(a['peak_mib'])} vs "
                       f"{_mib(b['peak_mib'])}{growth}.")
    return "\n".join(out) + "\n"


def gpu_record_note() -> str:
    """Whether a GPU measurement (``results/gpu_cost.json``) is recorded; until then every time is an estimate."""
    from .estimates import GPU_COST_FILE, load_record

    record = load_record(GPU_COST_FILE)
    gpu = (record.get("provenance") or {}).get("gpu")
    if not gpu:
        return ("**No GPU measurement is recorded yet** (`results/gpu_cost.json`: `python benchmarks/gpu_cost.py` "
                "on one GPU, under 8 minutes): every GPU time and GPU memory figure on this page is an estimate.")
    prov = record["provenance"]
    return (f"GPU steps measured on **{gpu}** by `{prov['command']}` (code `{prov['code_hash']}`, "
            f"{prov['finished'][:10]}); the times projected from them replace the estimates in that GPU's column.")
