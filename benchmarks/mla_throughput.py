"""Training throughput of MLA against Concat on the same data (a measurement, not a test).

    python benchmarks/mla_throughput.py [--epochs 3] [--n-train 1200] [--device cpu|cuda]

Both models get the same quick encoders, trainer, batch size and data (the embedded benchmark).
Samples/s counts training samples per second of wall time, as the trainer records it (MLA takes
one optimiser step per modality for every batch, Concat one). One run each, after one warm-up
epoch that is not counted. Prints the machine's load average beside the numbers: on a shared
machine the ratio is more trustworthy than either number.
"""
from __future__ import annotations

import argparse
import os
import platform

import torch

from rmm_lib.baselines import make_baseline
from rmm_lib.data import make_benchmark
from rmm_lib.encoders import quick_encoders
from rmm_lib.methods.mla import MLA
from rmm_lib.train import TrainConfig, Trainer
from rmm_lib.utils import seed_everything


def samples_per_second(name: str, splits: dict, epochs: int, device: str | None, dim: int = 32) -> float:
    seed_everything(0)
    encoders = quick_encoders(splits["train"], dim)
    model = MLA(encoders, dim, 6) if name == "mla" else make_baseline("concat", encoders, dim, 6)
    trainer = Trainer(model, TrainConfig(epochs=epochs + 1, lr=3e-3, device=device), progress=False)
    trainer.fit(splits["train"], epochs=1)  # warm-up (allocations, kernels)
    trainer.timings = {"train_seconds": 0.0, "train_samples": 0}
    trainer.fit(splits["train"])
    return trainer.timings["train_samples"] / trainer.timings["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    splits = make_benchmark(args.n_train, 50, 50, seed=0)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rates = {name: samples_per_second(name, splits, args.epochs, args.device) for name in ("concat", "mla")}
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    for name, rate in rates.items():
        print(f"{name:7s} {rate:9.1f} training samples/s ({device}, {args.n_train} samples x {args.epochs} epochs)")
    print(f"MLA / Concat throughput ratio: {rates['mla'] / rates['concat']:.2f}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
