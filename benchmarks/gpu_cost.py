"""GPU cost of every paper table, measured: each model family at the paper's batch size and precision.

    python benchmarks/gpu_cost.py                       # on a GPU: -> results/gpu_cost.json (< 8 min on one GPU)
    python benchmarks/gpu_cost.py --steps 30 --budget-s 420
    python benchmarks/gpu_cost.py --device cpu --steps 2 --only mla.table2 --out /tmp/gpu_cost.json   # a CPU check

Tables that train the same models (same paper, dataset, training settings and method options:
``rmm_lib.dryrun.groups_of``) are measured once, on one of them: its run with the paper's own method
alone (TRML ``rows=('TRML',), settings=('A',)``; MLA ``methods=('MLA',)`` (Table 2: one rate); CMPT's Tables 3-4, one
model; the comparison ``methods=('cmpt',), settings=('complete',)``), at full size with random
weights (``pretrained=False``: nothing downloaded), at the spec's batch size, through the trainer,
which autocasts to bf16 on a GPU that computes it natively and to fp16 with a gradient scaler
otherwise (``rmm_lib.train.autocast_dtype``). Data: random inputs of the real shapes, texts long
enough to reach each tokenizer's maximum length. After the first step (building, allocation),
``--steps`` further steps on one batch are timed (the median) and a few evaluation steps.

Recorded per family: step time, samples per second, peak GPU memory (``max_memory_allocated``), and
for every table of the family the projected time of the whole table:

    models x [epochs x (ceil(train / batch) x step + ceil(val / batch) x eval step) + ceil(test / batch) x eval step]

with the model count and sample counts of ``rmm_lib.estimates`` (the same as the FLOP estimate's):
every model of a table is charged the measured model's time; data loading from disk, the extra
missing-modality evaluations of some tables and early stopping are not counted. All families run
in this one process (memory released between them); ``--budget-s`` stops starting new families
once that much time has passed, and the record lists the ones left out. Provenance: the GPU, torch
and CUDA versions, the code hash and this command.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "gpu_cost.json"

#: The table options that train the paper's own method alone (None: the table trains one model).
MAIN_ONLY = {"trml": {"rows": ("TRML",), "settings": ("A",)}, "mla": {"methods": ("MLA",), "rates": (0.5,)},
             "compare": {"methods": ("cmpt",), "settings": ("complete",)}, "cmpt": None}
#: Tables preferred as a family's representative (their run takes the options above, or trains one model).
PREFERRED = ("mla.table1_", "cmpt.table3.", "cmpt.table4.", "trml.table1", "trml.table3", "trml.table5", "compare.")
WORDS = 400  # words per synthetic text: past CLIP's 77 tokens and BERT's 40 (or 256)


def main_only(spec) -> dict | None:
    """The options of :data:`MAIN_ONLY` that ``spec``'s run reads (``TableSpec.options``; a table
    refuses the others): a table that takes none trains all its models."""
    part = {k: v for k, v in (MAIN_ONLY.get(spec.paper) or {}).items() if k in spec.options}
    return part or None


def families(specs: list) -> list:
    """``[(representative key, [keys of the family])]`` over ``specs``."""
    from rmm_lib.dryrun import groups_of

    out = []
    for keys in groups_of(specs):
        rep = next((k for p in PREFERRED for k in keys if k.startswith(p)), keys[0])
        out.append((rep, keys))
    return out


def projected_minutes(spec, step_s: float, eval_s: float) -> dict | None:
    """The whole table's time from one model's measured steps (formula in the module docstring)."""
    from rmm_lib.estimates import models_trained, sample_counts

    models, samples, epochs = models_trained(spec), sample_counts(spec), (spec.train or {}).get("epochs")
    if not (models and samples and epochs):
        return None
    batch = int(spec.train["batch_size"])
    n = {k: math.ceil(v / batch) for k, v in samples.items()}
    per_model = epochs * (n["train"] * step_s + n["val"] * eval_s) + n["test"] * eval_s
    return {"minutes": round(models * per_model / 60, 1), "models": models, "epochs": epochs,
            "steps_per_epoch": n["train"], "batch_size": batch}


def measure(rep: str, device: str, steps: int, eval_steps: int) -> dict:
    import torch

    from rmm_lib import dryrun
    from rmm_lib.data import synthetic_splits
    from rmm_lib.tables import get
    from rmm_lib.train import autocast_dtype

    spec = get(rep)
    batch = int(spec.train["batch_size"])
    splits = synthetic_splits(spec.dataset, n=batch, seed=0, words=WORDS)
    start = time.perf_counter()
    result = dryrun.dry_run_group([spec], splits, device=device, batch_size=batch, timed_steps=steps,
                                  eval_steps=eval_steps, table=main_only(spec))
    entry = result["tables"][rep]
    cells = dryrun.table_cells(result, rep)
    out = {"representative": rep, "options": main_only(spec), "batch_size": batch,
           "precision": (str(autocast_dtype()).replace("torch.", "") + " autocast") if device.startswith("cuda")
           else "float32", "status": entry["status"], "wall_s": round(time.perf_counter() - start, 1)}
    if entry["status"] != "ok" or not cells:
        out["error"] = entry.get("error", "no model trained")
        return out
    main = dryrun.main_cell(result, rep, spec.paper) or cells[0]
    out.update(model=main["model"], parameters=main["parameters"], trainable=main["trainable"],
               step_s=main["steady_step_s"], samples_per_s=main["samples_per_s"], eval_step_s=main["eval_step_s"],
               peak_memory_mib=max(main["peak_memory_mib"], main["steady_peak_memory_mib"]),
               cells=[{k: c[k] for k in ("model", "parameters", "trainable", "steady_step_s", "samples_per_s",
                                         "eval_step_s", "peak_memory_mib", "steady_peak_memory_mib")} for c in cells])
    del result
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="default: cuda (refused without a GPU unless --device cpu)")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per family, after the first")
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no new family after this many seconds")
    parser.add_argument("--only", nargs="*", default=None, help="only the families of these tables")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    import torch

    from rmm_lib.records import code_hash, cpu_model, versions
    from rmm_lib.tables import get, load_all

    device = args.device or "cuda"
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("No GPU here: this script measures GPU cost. Run it on a GPU machine, or pass --device cpu for a "
                 "check of the script itself (its figures are then not GPU figures).")
    if args.steps < 1:
        sys.exit(f"--steps must be >= 1 (timed steps after the first), got {args.steps}")
    specs = load_all()
    chosen = list(specs.values()) if not args.only else [get(k) for k in args.only]
    start, rows, skipped = time.perf_counter(), {}, []
    for rep, keys in families(sorted(chosen, key=lambda s: s.key)):
        if time.perf_counter() - start > args.budget_s:
            skipped.extend(keys)
            continue
        row = measure(rep, device, args.steps, args.eval_steps)
        row["tables"] = {}
        for key in keys:
            projection = projected_minutes(get(key), row["step_s"], row["eval_step_s"]) if row["status"] == "ok" else None
            row["tables"][key] = projection
        rows[rep] = row
        shown = (f"step {row['step_s'] * 1000:.0f} ms, {row['samples_per_s']:.1f} samples/s, peak "
                 f"{row['peak_memory_mib']:.0f} MiB" if row["status"] == "ok" else row.get("error", "")[:200])
        print(f"{rep} (batch {row['batch_size']}, {row['precision']}): {shown} [{row['wall_s']:.0f} s]", flush=True)
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    given = list(sys.argv[1:] if argv is None else argv)
    record = {
        "provenance": {
            "command": " ".join(["python benchmarks/gpu_cost.py", *given]),
            "code_hash": code_hash(), "versions": versions(), "device": device, "gpu": gpu,
            "cuda": torch.version.cuda if gpu else None, "cpu": cpu_model(), "machine": platform.machine(),
            "timed_steps": args.steps, "eval_steps": args.eval_steps,
            "wall_s": round(time.perf_counter() - start, 1),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "data": f"random inputs of the real shapes (rmm_lib.data.synthetic_splits, {WORDS} words per text)",
        },
        "families": rows, "skipped": skipped,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} ({len(rows)} families measured, {len(skipped)} tables skipped for time)")
    return 0 if all(r["status"] == "ok" for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
