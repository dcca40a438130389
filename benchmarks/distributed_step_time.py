"""Training step time on 1 process against 2 data-parallel processes (CPU, gloo), tiny models.

    python benchmarks/distributed_step_time.py [--epochs 2] [--n-train 256]

Each configuration runs in freshly spawned processes, one torch thread each, with the same global
batch (2 processes: half of it each), and times the trainer's own ``train_seconds`` over the epochs
after one warm-up epoch. "Step" is one batch of the global batch size (MLA takes one optimiser step
per modality on it). Also measured: the price of DDP's ``find_unused_parameters`` (the trainer's
default: MLA's steps, CMPT's skipped modalities and Late Fusion's heads leave parameters out of
the graph) on the Concat baseline, which also runs without it (``unused_parameters = False``). One run each: on a machine shared with other work the ratios are more trustworthy
than the times; the load average is printed beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rmm_lib.baselines import make_baseline
from rmm_lib.data import make_benchmark
from rmm_lib.encoders import quick_encoders
from rmm_lib.methods import cmpt
from rmm_lib.methods.mla import MLA
from rmm_lib.train import TrainConfig, Trainer
from rmm_lib.utils import seed_everything

#: name -> (global batch size, samples used)
MODELS = {"concat": (32, None), "concat-no_find_unused": (32, None), "mla": (32, None), "cmpt": (8, 32)}


def build(name: str, train):
    seed_everything(0)
    if name.startswith("concat"):
        model = make_baseline("concat", quick_encoders(train, 32), 32, 6)
        model.unused_parameters = not name.endswith("no_find_unused")  # the trainer reads this flag
        return model
    if name == "mla":
        return MLA(quick_encoders(train, 32), 32, 6)
    from rmm_lib.recipes import cmpt as recipe

    encoders = {"image": cmpt.ImageTokens(cmpt.add_lora(recipe.tiny_vit(layers=1), "open_clip")),
                "text": recipe.minilm_text_encoder(max_length=12, layers=1)}
    return cmpt.CMPTModel(encoders, 6, modality_dropout=cmpt.UNIFORM_DROPOUT)


def worker(rank: int, world: int, name: str, epochs: int, n_train: int, folder: str) -> None:
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous-{name}-{world}", rank=rank,
                                world_size=world, timeout=timedelta(minutes=5))
    try:
        batch, n = MODELS[name]
        splits = make_benchmark(n_train, 20, 20, seed=0)
        train = splits["train"].select_modalities(["image", "text"])
        train = train.subset(list(range(n or n_train)))
        trainer = Trainer(build(name, train), TrainConfig(epochs=epochs + 1, batch_size=batch, lr=1e-3, amp=False,
                                                          device="cpu"), progress=False)
        trainer.fit(train, epochs=1)  # warm-up: allocations, DDP's first-iteration set-up
        trainer.timings = {"train_seconds": 0.0, "train_samples": 0}
        trainer.fit(train)
        steps = epochs * -(-len(train) // batch)
        if rank == 0:
            Path(folder, f"{name}-{world}.json").write_text(json.dumps(trainer.timings["train_seconds"] / steps))
    finally:
        if world > 1:
            dist.destroy_process_group()


def step_seconds(name: str, world: int, epochs: int, n_train: int, folder: str) -> float:
    mp.spawn(worker, args=(world, name, epochs, n_train, folder), nprocs=world, join=True)
    return json.loads(Path(folder, f"{name}-{world}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=256)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, 1 torch thread per process, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        times = {(name, w): step_seconds(name, w, args.epochs, args.n_train, folder) for name in MODELS for w in (1, 2)}
    print(f"{'model':22s} {'batch':>5s} {'1 process':>11s} {'2 processes':>12s} {'2p / 1p':>8s}")
    for name, (batch, _) in MODELS.items():
        one, two = times[(name, 1)], times[(name, 2)]
        print(f"{name:22s} {batch:5d} {one * 1e3:9.1f} ms {two * 1e3:10.1f} ms {two / one:8.2f}")
    cost = times[("concat", 2)] / times[("concat-no_find_unused", 2)]
    print(f"find_unused_parameters on Concat, 2 processes: {cost:.2f}x the step time without it")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
