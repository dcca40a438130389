"""Training cost of every method of the comparison (notebook 40) on the same batch.

    python benchmarks/compare_cost.py              # CPU, the testbed, batch 32 (the comparison's)
    python benchmarks/compare_cost.py --steps 50   # more timed steps
    python benchmarks/compare_cost.py --only map   # re-measure these rows, keep the file's others

Each method runs in its own process, so one's peak memory does not leak into another's. A step
is what the one trainer does with a batch (``Trainer.fit`` over that one batch: MLA makes one
optimiser step per modality). Feature methods train on the frozen towers' pooled outputs; the
towers' own pass over the batch (``towers``, forward only, paid once per sample when the features
are cached) is measured apart, so "step + towers" is their cost without a cache. CMPT runs the
towers with LoRA in every step; the methods brought through :mod:`rmm_lib.footing` (MAP) are
built as their cells build them. Reports trainable parameters, the mean step time after two
warm-up steps, and the peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak
resident set and its growth during the steps). Writes ``results/compare_cost.json``, which notebook
40 reads; the file says where and how it was measured.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "compare_cost.json"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)


def measure(method: str, steps: int, batch_size: int) -> dict:
    import torch

    from rmm_lib.grids import compare as G
    from rmm_lib.recipes import compare as R
    from rmm_lib.train import TrainConfig, Trainer
    from rmm_lib.utils import seed_everything, select_device, set_threads

    set_threads(1)  # the grid's setting: one thread per process
    device = select_device()
    splits = G.splits(G.CONFIG)
    rows = list(range(batch_size))
    if method == "towers":
        towers = {k: v.to(device) for k, v in R.quick_towers().items()}
        one = {"train": splits["train"].subset(rows)}
        R.pooled_features(one, towers, device=str(device))  # warm-up
        rss = _peak_mib()
        start = time.perf_counter()
        for _ in range(steps):
            R.pooled_features(one, towers, device=str(device))
        seconds = (time.perf_counter() - start) / steps
        return {"method": method, "device": device.type, "trainable": 0, "step_seconds": seconds,
                "peak_mib": _peak_mib(), "peak_growth_mib": _peak_mib() - rss}
    import rmm_lib.contributed  # noqa: F401  (registers the contributed methods)
    from rmm_lib import footing

    if method in footing.registered():
        spec = footing.get(method)
        batch = (splits if spec.reads == "tokens" else R.frozen_features(splits))["train"].subset(rows)
        seed_everything(0)
        model = spec.model(footing.Footing(batch, "classification", len(batch.meta["class_names"]), spec.reads))
        settings = spec.train
    else:
        batch = R.prepare(method, splits)["train"].subset(rows)
        seed_everything(0)
        model = R.build_token_model(method, batch) if method in R.TOKEN_METHODS else R.build(method, batch)
        settings = R.train_config_of(method)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    config = {**settings, "epochs": 1, "batch_size": len(batch)}  # one step: the whole batch
    trainer = Trainer(model, TrainConfig.from_dict(config, seed=0, device=str(device)), progress=False)
    for _ in range(2):
        trainer.fit(batch, epochs=trainer.epoch + 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss = _peak_mib()
    before = trainer.timings["train_seconds"]
    for _ in range(steps):
        trainer.fit(batch, epochs=trainer.epoch + 1)
    seconds = (trainer.timings["train_seconds"] - before) / steps
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else _peak_mib()
    return {"method": method, "device": device.type, "trainable": trainable, "step_seconds": seconds,
            "peak_mib": peak, "peak_growth_mib": None if device.type == "cuda" else peak - rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child")
    parser.add_argument("--only", action="append", default=[], help="measure only these rows (keep the file's others)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.batch_size)))
        return
    import rmm_lib.contributed  # noqa: F401  (registers the contributed methods)
    from rmm_lib.footing import registered
    from rmm_lib.recipes.compare import METHODS
    from rmm_lib.records import code_hash, versions

    env = {**os.environ, "PYTHONPATH": str(ROOT), "RMM_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    every = ("towers",) + METHODS + registered()
    kept = json.loads(OUT.read_text()) if args.only and OUT.is_file() else {"rows": {}}
    rows = {m: r for m, r in kept["rows"].items() if m not in args.only}
    for method in args.only or every:
        proc = subprocess.run([sys.executable, __file__, "--child", method, "--steps", str(args.steps),
                               "--batch-size", str(args.batch_size)], env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        rows[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = rows[method]
        growth = "" if r["peak_growth_mib"] is None else f" (growth during the steps {r['peak_growth_mib']:.0f} MiB)"
        print(f"{method:13s} trainable {r['trainable']:>10,d} | step {1000 * r['step_seconds']:8.1f} ms | "
              f"peak memory {r['peak_mib']:.0f} MiB{growth}", flush=True)
    load = os.getloadavg()
    rows = {m: rows[m] for m in every if m in rows}
    only = "".join(f" --only {m}" for m in args.only)
    record = {"command": f"python benchmarks/compare_cost.py --steps {args.steps} --batch-size {args.batch_size}{only}",
              "batch_size": args.batch_size, "steps": args.steps, "device": rows["towers"]["device"],
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.1f} (1 min) at the end",
              "threads": 1, "code_hash": code_hash(), "versions": versions(),
              "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "rows": rows}
    if args.only:
        record["earlier"] = {k: kept.get(k) for k in ("command", "machine", "finished", "code_hash")}
    OUT.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({record['machine']})")


if __name__ == "__main__":
    main()
