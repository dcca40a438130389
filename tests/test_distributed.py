"""Data-parallel training under torch.distributed (gloo, 2 CPU processes) against one process.

One spawn of two processes runs every scenario (:func:`_worker`; each process start costs seconds
on a shared 2-core machine) and leaves its results under a temporary folder; the tests compare
them with the same runs in this (one) process.

Tolerance of the training equivalence: 2 processes x half the batch reach the one-process weights
within ``atol=1e-5, rtol=1e-4`` (float32; DDP averages the two half-batch gradients, which
differs from the whole-batch mean by rounding only). Dropout is off in those runs; a resumed
2-process run must match an uninterrupted one bit for bit, and evaluation must give the same
metrics exactly.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rmm_lib import seed_everything
from rmm_lib.baselines import make_baseline
from rmm_lib.data import FeatureCache, MultimodalDataset
from rmm_lib.encoders import quick_encoders
from rmm_lib.methods import cmpt
from rmm_lib.methods.mla import MLA
from rmm_lib.train import TrainConfig, Trainer

WORLD = 2
ATOL, RTOL = 1e-5, 1e-4
CONFIG = dict(batch_size=16, lr=3e-3, seed=1, amp=False, device="cpu", grad_clip=1.0)


# ----------------------------------------------------------------------------- the runs, shared by both sides
def _no_dropout(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def _baseline(ds, dropout=0.0):
    seed_everything(0)
    return make_baseline("dropout" if dropout else "concat", quick_encoders(ds, 16), 16, 6,
                         modality_dropout=dropout or 0.5)


def _mla(ds, **kwargs):
    seed_everything(0)
    return MLA(quick_encoders(ds, 16), 16, 6, **kwargs)


def _cmpt(ds):
    from rmm_lib.recipes import cmpt as recipe

    seed_everything(0)
    encoders = {"image": cmpt.ImageTokens(cmpt.add_lora(recipe.tiny_vit(layers=1), "open_clip", dropout=0.0)),
                "text": recipe.minilm_text_encoder(max_length=12, layers=1)}
    return _no_dropout(cmpt.CMPTModel(encoders, 6, modality_dropout=cmpt.UNIFORM_DROPOUT))


def _state(trainer) -> dict:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def train_baseline(data, run_dir=None):
    trainer = Trainer(_baseline(data["train"]), TrainConfig(epochs=2, **CONFIG), progress=False)
    trainer.fit(data["train"], data["val"], run_dir=run_dir)
    return trainer


def train_mla(data):
    trainer = Trainer(_mla(data["train"]), TrainConfig(epochs=2, **CONFIG), progress=False)
    trainer.fit(data["train_missing"])
    return trainer


def train_cmpt(data):
    trainer = Trainer(_cmpt(data["pair"]), TrainConfig(epochs=1, **{**CONFIG, "batch_size": 8}), progress=False)
    trainer.fit(data["pair"])
    return trainer


def resume_config():
    # dropout (modality dropout of the baseline) on: resuming must restore every rank's RNG
    return TrainConfig(epochs=4, scheduler="step", step_size=2, **CONFIG)


def evaluation(data):
    """The released MLA variant: its fusion depends on the test batch (a good check of sharding)."""
    trainer = Trainer(_mla(data["train"], variant="released"), TrainConfig(**{**CONFIG, "batch_size": 24}),
                      progress=False)
    return trainer.evaluate(data["test"]), trainer.predict(data["test"])["logits"]


def cached_features(ds, root):
    """A frozen linear encoder's features of ``ds``'s audio through the on-disk cache."""
    flat = MultimodalDataset({"audio": ds.inputs["audio"].flatten(1)}, ds.label, ids=ds.ids)
    seed_everything(0)
    encoder = torch.nn.Linear(flat.inputs["audio"].shape[1], 4)
    cache = FeatureCache(root)
    return cache.features(flat, "audio", encoder, "linear", batch_size=8), cache.encoded


# ----------------------------------------------------------------------------- the two processes
def _worker(rank: int, data: dict, folder: str) -> None:
    torch.set_num_threads(1)
    folder = Path(folder)
    dist.init_process_group("gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=180))  # a failing rank must not leave the other waiting
    try:
        results = {}
        results["baseline"] = _state(train_baseline(data, run_dir=folder / "baseline_run"))
        results["mla"] = _state(train_mla(data))
        results["cmpt"] = _state(train_cmpt(data))
        full = Trainer(_baseline(data["train"], dropout=0.3), resume_config(), progress=False)
        full.fit(data["train"], data["val"])
        first = Trainer(_baseline(data["train"], dropout=0.3), resume_config(), progress=False)
        first.fit(data["train"], data["val"], epochs=2, run_dir=folder / "resume_run")
        torch.manual_seed(1234 + rank)  # disturb each rank's RNG: resuming must restore it
        resumed = Trainer(_baseline(data["train"], dropout=0.3), resume_config(), progress=False)
        resumed.fit(data["train"], data["val"], resume=folder / "resume_run" / "last.pt")
        results["resume"] = {"full": _state(full), "resumed": _state(resumed),
                             "full_history": full.history, "resumed_history": resumed.history}
        results["evaluation"] = evaluation(data)
        results["cache"] = cached_features(data["audio"], folder / "cache")
        torch.save(results, folder / f"results-{rank}.pt")
    finally:
        dist.destroy_process_group()


def _strip_times(history):
    return [{k: v for k, v in e.items() if "second" not in k} for e in history]


@pytest.fixture(scope="module")
def data(small_splits):
    train = small_splits["train"].select_modalities(["image", "text"]).subset(list(range(64)))
    gen = np.random.default_rng(0)
    present = np.ones((64, 2), dtype=bool)
    lacking = gen.choice(64, 24, replace=False)  # a quarter without image, a quarter without text
    present[lacking[:12], 0] = False
    present[lacking[12:], 1] = False
    pair = small_splits["train"].select_modalities(["image", "text"]).subset(list(range(16)))
    return {"train": train, "train_missing": train.with_presence(present),
            "val": small_splits["val"].select_modalities(["image", "text"]).subset(list(range(40))),
            # 80 samples in batches of 24: 4 batches, the last short (sharded over 2 ranks: 2 each)
            "test": small_splits["test"].select_modalities(["image", "text"]),
            "pair": pair,
            "audio": small_splits["train"].subset(list(range(40)))}


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Both ranks' results, once for the whole module."""
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(data, str(folder)), nprocs=WORLD, join=True)
    return folder, [torch.load(folder / f"results-{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same thread count as each rank: same kernels
    try:
        return {"baseline": _state(train_baseline(data)), "mla": _state(train_mla(data)),
                "cmpt": _state(train_cmpt(data)), "evaluation": evaluation(data),
                "cache": cached_features(data["audio"], tmp_path_factory.mktemp("cache"))}
    finally:
        torch.set_num_threads(threads)


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), atol=ATOL, rtol=RTOL), \
            (name, float((a[name].float() - b[name].float()).abs().max()))


# ----------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("model", ["baseline", "mla", "cmpt"])
def test_two_processes_with_half_batches_reach_the_one_process_weights(runs, one_process, model):
    _, ranks = runs
    for rank in ranks:
        _assert_close(rank[model], one_process[model])
    for name, value in ranks[0][model].items():  # the ranks agree exactly (DDP keeps them in step)
        assert torch.equal(value, ranks[1][model][name]), name


def test_resume_under_two_processes_continues_exactly(runs):
    _, ranks = runs
    for rank in ranks:
        full, resumed = rank["resume"]["full"], rank["resume"]["resumed"]
        for name in full:
            assert torch.equal(full[name], resumed[name]), name
        assert _strip_times(rank["resume"]["full_history"]) == _strip_times(rank["resume"]["resumed_history"])


def test_evaluation_under_two_processes_equals_one_process(runs, one_process):
    _, ranks = runs
    metrics, logits = one_process["evaluation"]
    for rank in ranks:
        assert rank["evaluation"][0] == metrics
        assert torch.equal(rank["evaluation"][1], logits)  # every sample once, in order


def test_one_record_and_one_checkpoint_per_run(runs):
    folder, _ = runs
    for run in ("baseline_run", "resume_run"):
        assert sorted(p.name for p in (folder / run).iterdir()) == ["last.pt", "record.json"]
    record = json.loads((folder / "baseline_run" / "record.json").read_text())
    assert record["processes"] == WORLD and record["epochs_run"] == 2
    assert record["timings"]["train_samples"] == 2 * 64  # each sample once per epoch, over both ranks
    state = torch.load(folder / "resume_run" / "last.pt", weights_only=True)
    assert len(state["rank_rng"]) == WORLD


def test_the_feature_cache_is_encoded_once_over_the_ranks_and_merged(runs, one_process):
    folder, ranks = runs
    features, _ = one_process["cache"]
    for rank in ranks:
        assert torch.equal(rank["cache"][0], features)
    assert sum(rank["cache"][1] for rank in ranks) == len(features)  # each sample encoded by one rank
    (entry,) = [p for p in (folder / "cache").iterdir() if p.is_dir()]
    assert sorted(p.name for p in entry.iterdir()) == ["done.npy", "features.npy", "key.json"]


def test_a_batch_that_does_not_split_evenly_is_refused(data, monkeypatch):
    import rmm_lib.train as train_module

    monkeypatch.setattr(train_module, "world_size", lambda: 3)
    with pytest.raises(ValueError, match="multiple of 3"):
        Trainer(_baseline(data["train"]), TrainConfig(**CONFIG), progress=False)
