"""Throughput where it counts, at full size: MLA against Concat on the same encoders, CMPT against
full fine-tuning of the same towers (step time and memory).

    python benchmarks/throughput.py              # CPU, batch 2 -> results/throughput.json
    python benchmarks/throughput.py --steps 5    # more timed steps

Every model is the paper profile's, at full size with random weights (nothing downloaded): MLA and
Concat on CREMA-D's two ResNet-18s and on Food-101's CLIP ViT-B/32 towers (``recipes.mla.build_model``,
App. A.3's SGD); CMPT on Food-101's ViT-B/16 + BERT-base and on CREMA-D's AST + ViT-B/16
(``recipes.cmpt.build_cmpt``: frozen towers, rank-1 LoRA, proxy tokens; Table 5's AdamW) and the same
model with every weight trainable ("full fine-tuning"). Each runs in its own process, so one's memory
does not leak into another's: one warm-up step, then ``--steps`` timed steps through the trainer on
one batch of random inputs of the real shapes (texts long enough to reach the tokenizers' maximum
lengths). Reported: trainable parameters, the median step time, the process's peak resident memory
and its growth during the timed steps (gradients, optimiser states, activations). On a GPU the
same script reports ``max_memory_allocated``. An MLA step is one optimiser step per modality (its
alternating update), a Concat step one.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "throughput.json"
#: (comparison, dataset, variant): each pair shares its encoders.
RUNS = [("mla_vs_concat", "cremad", "mla"), ("mla_vs_concat", "cremad", "concat"),
        ("mla_vs_concat", "food101", "mla"), ("mla_vs_concat", "food101", "concat"),
        ("cmpt_vs_full", "food101", "cmpt"), ("cmpt_vs_full", "food101", "full"),
        ("cmpt_vs_full", "cremad", "cmpt"), ("cmpt_vs_full", "cremad", "full")]


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(comparison: str, dataset: str, variant: str, steps: int, batch_size: int, device: str) -> dict:
    import torch

    from rmm_lib.data import synthetic_splits
    from rmm_lib.profiles import get_profile
    from rmm_lib.recipes import cmpt, mla
    from rmm_lib.tables.cmpt import TRAIN_AUDIO_VIDEO, TRAIN_IMAGE_TEXT
    from rmm_lib.train import TrainConfig, Trainer
    from rmm_lib.utils import seed_everything

    torch.set_num_threads(1)
    train = synthetic_splits(dataset, n=batch_size, seed=0, words=60)["train"]
    seed_everything(0)
    if comparison == "mla_vs_concat":
        model = mla.build_model(variant, train, mla.PAPER_DIM, pretrained=False)
        settings = mla.PAPER_TRAIN
    else:
        model = cmpt.build_cmpt(train, profile=get_profile("paper"), pretrained=False,
                                **cmpt.variant_options("cmpt", True))
        if variant == "full":
            model.requires_grad_(True)
        settings = TRAIN_AUDIO_VIDEO if "audio" in train.modalities else TRAIN_IMAGE_TEXT
    config = TrainConfig.from_dict(settings, epochs=1, batch_size=batch_size, warmup_epochs=0, scheduler=None,
                                   seed=0, device=device)
    trainer = Trainer(model, config, progress=False)
    trainer.fit(train, epochs=1)  # warm-up: first allocations, lazy initialisation
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = _peak_mib()
    seconds = []
    for _ in range(steps):
        start = trainer.timings["train_seconds"]
        trainer.fit(train, epochs=trainer.epoch + 1)
        seconds.append(trainer.timings["train_seconds"] - start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _peak_mib()
    return {"comparison": comparison, "dataset": dataset, "variant": variant, "model": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "steps_per_batch": int(trainer.hooks.steps_per_batch), "batch_size": batch_size, "device": device,
            "step_s": sorted(seconds)[len(seconds) // 2], "step_s_all": [round(s, 4) for s in seconds],
            "peak_mib": round(peak, 1), "peak_growth_mib": None if cuda else round(peak - before, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=3, metavar=("COMPARISON", "DATASET", "VARIANT"))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.batch_size, args.device)))
        return
    from rmm_lib.records import code_hash, cpu_model, versions

    env = {**os.environ, "PYTHONPATH": str(ROOT), "RMM_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    rows = []
    for run in RUNS:
        proc = subprocess.run([sys.executable, __file__, "--child", *run, "--steps", str(args.steps), "--batch-size",
                               str(args.batch_size), "--device", args.device], env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['dataset']:8s} {r['variant']:7s} trainable {r['trainable']:>11,d} | step {r['step_s']:.2f} s | "
              f"peak {r['peak_mib']:.0f} MiB (+{r['peak_growth_mib']} during the steps)", flush=True)
    load = os.getloadavg()
    record = {"command": " ".join(["python benchmarks/throughput.py", *sys.argv[1:]]), "batch_size": args.batch_size,
              "steps": args.steps, "device": args.device, "threads": 1, "cpu": cpu_model(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.1f} (1 min) at the end",
              "code_hash": code_hash(), "versions": versions(),
              "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
