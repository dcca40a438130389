"""Training cost of CMPT against full fine-tuning of the same encoders (one run each).

    python benchmarks/cmpt_cost.py                 # quick encoders (MiniLM + small ViT), CPU
    python benchmarks/cmpt_cost.py --steps 20      # more timed steps
    RMM_PROFILE=paper python benchmarks/cmpt_cost.py   # CLIP ViT-B/16 + BERT-base (weights needed)

Each mode runs in its own process, so the peak memory of one does not leak into the other:
``cmpt`` trains LoRA + proxy tokens + head (Eq. 7 loss); ``full`` makes every weight of the same
model trainable. Reports the mean optimiser-step time (after two warm-up steps) and the peak
memory (CUDA: ``max_memory_allocated``; CPU: growth of the process's peak resident set during the
steps, which includes gradients, AdamW states and activations), then the full/CMPT ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(mode: str, steps: int, batch_size: int) -> dict:
    import torch

    from rmm_lib.methods.cmpt import UNIFORM_DROPOUT
    from rmm_lib.profiles import profile_from_env
    from rmm_lib.recipes.cmpt import QUICK, build_cmpt, chapter_splits
    from rmm_lib.utils import seed_everything, select_device

    profile = profile_from_env()  # a script is an entry point: RMM_PROFILE
    device = select_device()
    splits = chapter_splits(profile)
    seed_everything(0)
    kwargs = {"dropout_unit": "sample"} if profile.name == "paper" else dict(QUICK["model"])
    model = build_cmpt(splits["train"], profile=profile, modality_dropout=UNIFORM_DROPOUT, **kwargs)
    if mode == "full":
        model.requires_grad_(True)
    model = model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.02, eps=1e-8)
    batch = splits["train"][list(range(batch_size))].to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        model.training_step(batch)["loss"].backward()
        opt.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {"mode": mode, "device": device.type, "profile": profile.name, "batch_size": batch_size,
            "trainable": sum(p.numel() for p in params), "step_seconds": seconds, "peak_mib": peak,
            "peak_growth_mib": None if device.type == "cuda" else (peak - rss_before / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--child", choices=("cmpt", "full"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.batch_size)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RMM_PROGRESS": "0"}
    rows = {}
    for mode in ("cmpt", "full"):
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(args.steps),
                               "--batch-size", str(args.batch_size)], env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        rows[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    print(f"device {rows['cmpt']['device']} | profile {rows['cmpt']['profile']} | batch {args.batch_size} | "
          f"{args.steps} timed steps | load average {load[0]:.1f} (1 min), {os.cpu_count()} cores")
    for mode, r in rows.items():
        growth = "" if r["peak_growth_mib"] is None else f" (growth during steps {r['peak_growth_mib']:.0f} MiB)"
        print(f"{mode:5s} trainable {r['trainable']:>11,d} | step {1000 * r['step_seconds']:8.1f} ms | "
              f"peak memory {r['peak_mib']:.0f} MiB{growth}")
    c, f = rows["cmpt"], rows["full"]
    print(f"full / CMPT: step time x{f['step_seconds'] / c['step_seconds']:.2f}, "
          f"peak memory x{f['peak_mib'] / c['peak_mib']:.2f}, trainable x{f['trainable'] / c['trainable']:.0f}")


if __name__ == "__main__":
    main()
