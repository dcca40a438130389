"""Frozen-encoder TRML training: features cached once vs the open_clip towers re-run every epoch.

    python benchmarks/trml_cache.py [--epochs 3]

Prints both wall times and their ratio (a measurement, not a test). Uses the quick-profile
foundation model (pretrained and cached on first use) and Setting A, T->V.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from rmm_lib.recipes import trml as T
from rmm_lib.train import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RMM_PROGRESS", "0")
    splits = T.benchmark_video_splits(**{k: v for k, v in T.QUICK_SIZES.items() if k != "n_unlabelled"},
                                      n_unlabelled=T.QUICK_SIZES["n_unlabelled"])
    clip, tokenizer, description = T.quick_foundation(splits.pop("unlabelled"), verbose=False)
    config = TrainConfig(epochs=args.epochs, batch_size=64, lr=2e-3, patience=None)

    start = time.perf_counter()
    features = T.frozen_features(clip, tokenizer, splits)
    T.run_trml(clip, features, "trml", "A", "T->V", config=config)
    cached = time.perf_counter() - start

    start = time.perf_counter()
    T.run_trml(clip, splits, "trml", "A", "T->V", config=config, tokenizer=tokenizer, freeze_encoders=True)
    reencoded = time.perf_counter() - start

    print(f"foundation: {description}")
    print(f"threads: {torch.get_num_threads()}, cpus: {os.cpu_count()}, load average: {os.getloadavg()}")
    print(f"{args.epochs} epochs, {len(splits['train'])} train / {len(splits['val'])} val / {len(splits['test'])} test")
    print(f"encode once + train: {cached:.1f} s | re-encode every epoch: {reencoded:.1f} s | "
          f"ratio {reencoded / cached:.1f}x")


if __name__ == "__main__":
    main()
