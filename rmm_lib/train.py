"""One trainer for every method and baseline.

A model is an ``nn.Module`` whose ``forward(batch)`` returns ``{"logits": ...}`` and which has a
``task`` attribute (``classification``, ``regression`` or ``multilabel``). Methods that train
differently subclass :class:`rmm_lib.hooks.TrainingHooks` and override its hooks
(``training_step``, ``steps_per_batch``, ``before_optimizer_step(step, output)``,
``configure_optimizer``), each documented there with its default.

The trainer picks the device (CUDA, MPS, CPU), uses mixed precision on CUDA, seeds everything,
shows tqdm bars (``progress=False`` or ``RMM_PROGRESS=0`` to silence), stops early on the
validation metric, saves a checkpoint every epoch that resumes exactly, and writes a JSON record.

Several processes (``torchrun --nproc_per_node N``, see :mod:`rmm_lib.distributed`): the model is
trained data-parallel under PyTorch's DDP. ``batch_size`` stays the batch of one optimiser step,
split evenly over the processes; each epoch's permutation is the one-process permutation, rank
``r`` taking every ``N``-th sample of it (``DistributedSampler``), so the shards of a step together
are the one-process batch. Evaluation splits whole batches over the ranks and gathers every output,
so metrics are over the whole set. Only rank 0 writes checkpoints and records.
"""
from __future__ import annotations

import copy
import hashlib
import json
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import BatchSampler, DistributedSampler, SequentialSampler
from tqdm.auto import tqdm

from .distributed import barrier, gather_objects, is_main_process, rank, world_size, wrap_data_parallel
from .files import checkpoint_problem, fingerprint_tensors
from .hooks import HOOK_NAMES, TrainingHooks
from .losses import task_loss  # noqa: F401  (re-exported: rmm_lib.train.task_loss)
from .metrics import MONITOR, task_metrics
from .profiles import progress_enabled
from .traces import traced as _traced
from .utils import seed_everything, select_device


@dataclass
class TrainConfig:
    """Hyperparameters of one run. ``monitor`` defaults to the task's metric in
    :data:`rmm_lib.metrics.MONITOR`; ``patience=None`` disables early stopping."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"  # adam, adamw or sgd
    momentum: float = 0.9
    eps: float = 1e-8
    scheduler: str | None = None  # None, "step" (StepLR) or "poly" (polynomial decay)
    step_size: int = 70
    gamma: float = 0.1
    poly_power: float = 0.9
    grad_clip: float | None = None
    patience: int | None = None
    monitor: str | None = None
    seed: int = 0
    amp: bool = True
    device: str | None = None
    # Stop each epoch after this many batches (smoke runs: a few steps on synthetic data).
    max_batches: int | None = None
    # Warm-up (CMPT Table 5): the first ``warmup_epochs`` run at ``warmup_factor`` x lr; with
    # scheduler="poly" the polynomial decay then runs over the remaining epochs.
    warmup_epochs: int = 0
    warmup_factor: float = 0.1

    def __post_init__(self):
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "step_size": self.step_size}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1, got {value!r}.")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}.")
        for name in ("weight_decay", "momentum", "eps", "gamma", "poly_power"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"TrainConfig.scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip!r}.")
        for name in ("patience", "max_batches"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < (0 if name == "patience" else 1)):
                raise ValueError(f"TrainConfig.{name} must be None or an integer >= {0 if name == 'patience' else 1}, "
                                 f"got {value!r}.")
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"TrainConfig.warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}.")
        if not 0 < self.warmup_factor <= 1:
            raise ValueError(f"TrainConfig.warmup_factor must be in (0, 1], got {self.warmup_factor!r}.")

    @classmethod
    def from_dict(cls, settings: dict, **overrides) -> "TrainConfig":
        """The one way a spec's settings become a config: ``settings`` then ``overrides``; a key
        that is not a field is refused (a typo must not silently train with the default)."""
        merged = {**dict(settings or {}), **overrides}
        unknown = sorted(set(merged) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Unknown training setting(s) {unknown}; TrainConfig takes "
                             f"{sorted(cls.__dataclass_fields__)}. Model options go to the method, not here.")
        return cls(**merged)


OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = (None, "step", "poly")


def _target(task: str, batch) -> torch.Tensor:
    if task == "regression" and batch.score is None:
        raise ValueError("A regression task needs a dataset with a `score` target.")
    return batch.score if task == "regression" else batch.label


class Trainer:
    """Fit, evaluate and checkpoint one model. See the module docstring for the model contract."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig | None = None, progress: bool | None = None):
        self.config = config or TrainConfig()
        self.task = getattr(model, "task", "classification")
        undeclared = [h for h in HOOK_NAMES + ("steps_per_batch",) if hasattr(model, h)]
        if undeclared and not isinstance(model, TrainingHooks):
            raise TypeError(f"{type(model).__name__} defines {undeclared} but does not subclass "
                            "rmm_lib.hooks.TrainingHooks, so the trainer would not know them as hooks.")
        # the hooks, bound to the model (a plain nn.Module gets TrainingHooks' defaults)
        self.hooks = model if isinstance(model, TrainingHooks) else _DefaultHooks(model)
        self.device = select_device(self.config.device)
        seed_everything(self.config.seed)
        self.model = model.to(self.device)
        self.processes = world_size()
        self._check_batch_split()
        self.progress = progress_enabled(progress) and is_main_process()
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.use_amp = self.config.amp and self.device.type == "cuda"
        self.amp_dtype = autocast_dtype() if self.use_amp else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.monitor, self.mode = MONITOR[self.task]
        if self.config.monitor:
            self.monitor = self.config.monitor
            self.mode = "min" if self.monitor in ("mae", "loss") else "max"
        self.epoch = 0
        self.history: list = []
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict | None = None
        self.bad_epochs = 0
        self.timings = {"train_seconds": 0.0, "train_samples": 0}
        self._released = False  # release_training_state() was called: no more training
        self._best_restored = False  # fit ended on the best epoch's weights (best_state is then a copy)
        # several processes: every training step runs through DDP (see _TrainingStepModule)
        self._data_parallel = self._wrap_data_parallel() if self.processes > 1 else None

    # ------------------------------------------------------------------ set-up
    def _check_batch_split(self) -> None:
        if self.config.batch_size % self.processes:
            raise ValueError(
                f"TrainConfig.batch_size={self.config.batch_size} is the batch of one optimiser step over all "
                f"{self.processes} processes, so it must be a multiple of {self.processes} (each process takes "
                f"batch_size / {self.processes}). Pass e.g. batch_size="
                f"{max(1, round(self.config.batch_size / self.processes)) * self.processes}.")

    def _wrap_data_parallel(self):
        """The training step in DDP. A step may leave parameters out of its graph (MLA's one-modality
        steps, a modality absent from a rank's shard), so DDP looks for them after every forward
        unless the model sets ``unused_parameters = False`` (see :class:`~rmm_lib.hooks.TrainingHooks`)."""
        step_module = _TrainingStepModule(self.model, self.hooks.training_step)
        return wrap_data_parallel(step_module, bool(getattr(self.model, "unused_parameters", True)))

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("The model has no trainable parameters.")
        own = self.hooks.configure_optimizer(cfg)
        if own is not None:
            return own
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, eps=cfg.eps)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, eps=cfg.eps)
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        raise ValueError(f"optimizer must be adam, adamw or sgd, got {cfg.optimizer!r}.")

    def _make_scheduler(self):
        cfg = self.config
        if cfg.warmup_epochs:
            return self._warmup_scheduler()
        if cfg.scheduler is None:
            return None
        if cfg.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(self.optimizer, cfg.step_size, cfg.gamma)
        if cfg.scheduler == "poly":
            return torch.optim.lr_scheduler.PolynomialLR(self.optimizer, cfg.epochs, cfg.poly_power)
        raise ValueError(f"scheduler must be None, 'step' or 'poly', got {cfg.scheduler!r}.")

    def _warmup_scheduler(self):
        cfg = self.config
        if not 0 <= cfg.warmup_epochs < cfg.epochs or not 0 < cfg.warmup_factor <= 1:
            raise ValueError(f"warmup_epochs must be in [0, epochs) and warmup_factor in (0, 1]; got "
                             f"{cfg.warmup_epochs} of {cfg.epochs} epochs and factor {cfg.warmup_factor}.")
        if cfg.scheduler not in (None, "poly"):
            raise ValueError(f"warm-up combines with scheduler=None or 'poly', not {cfg.scheduler!r}.")
        warm, decay = cfg.warmup_epochs, cfg.epochs - cfg.warmup_epochs

        def factor(epoch: int) -> float:
            if epoch < warm:
                return cfg.warmup_factor
            if cfg.scheduler is None:
                return 1.0
            return max(0.0, 1 - (epoch - warm) / decay) ** cfg.poly_power

        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    # ------------------------------------------------------------------ training
    def _loss(self, batch, step: int) -> dict:
        if self._data_parallel is None:
            out = self.hooks.training_step(batch, step)
        else:  # through DDP's __call__, so that backward averages the gradients over the processes
            out = self._data_parallel(batch, step)
        if not torch.isfinite(out["loss"]):
            raise FloatingPointError(
                f"Loss became {out['loss'].item()} at epoch {self.epoch + 1}: lower the learning rate "
                "or check the inputs for NaNs."
            )
        return out

    def _train_epoch(self, train) -> dict:
        self.model.train()
        loader = self._train_loader(train)
        n_steps = int(self.hooks.steps_per_batch)
        totals: dict = {}
        count = 0
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}", leave=False, disable=not self.progress)
        for index, batch in enumerate(bar):
            if self.config.max_batches is not None and index >= self.config.max_batches:
                break
            batch = batch.to(self.device, non_blocking=True)
            for step in range(n_steps):
                self.optimizer.zero_grad(set_to_none=True)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                    out = self._loss(batch, step)
                self.scaler.scale(out["loss"]).backward()
                self.scaler.unscale_(self.optimizer)
                self.hooks.before_optimizer_step(step, out)
                if self.config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                _traced(out["loss"])
                for key, value in out.items():
                    if torch.is_tensor(value) and value.dim() == 0:
                        totals[key] = totals.get(key, 0.0) + float(value.detach()) * len(batch)
            count += len(batch)
            bar.set_postfix(loss=totals.get("loss", 0.0) / max(count, 1))
        if self.scheduler is not None:
            self.scheduler.step()
        if self.processes > 1:
            totals, count = _sum_totals(gather_objects((totals, count)))
        seconds = time.perf_counter() - start
        self.timings["train_seconds"] += seconds
        self.timings["train_samples"] += count
        stats = {f"train_{k}": v / count for k, v in totals.items()}
        stats.update(epoch_seconds=seconds, samples_per_second=count / seconds)
        return stats

    def _train_loader(self, train):
        """This epoch's batches: a fresh permutation seeded by seed and epoch (replayable)."""
        seed = self.config.seed * 100_003
        if self.processes == 1:
            generator = torch.Generator().manual_seed(seed + self.epoch)
            return train.loader(self.config.batch_size, shuffle=True, generator=generator)
        # DistributedSampler draws the same permutation (seeded with seed + epoch) and gives rank r
        # every N-th sample of it, so the N shards of step k are the one-process batch k. When the
        # set is not a multiple of N it repeats up to N - 1 samples, so that every rank takes the
        # same number of steps (DDP needs that); otherwise each sample is seen once per epoch.
        sampler = DistributedSampler(train, num_replicas=self.processes, rank=rank(), shuffle=True, seed=seed)
        sampler.set_epoch(self.epoch)
        return train.loader(self.config.batch_size // self.processes, sampler=sampler)

    def fit(self, train, val=None, epochs: int | None = None, run_dir: str | Path | None = None,
            resume: str | Path | None = None, restore_best: bool = True) -> list:
        """Train for ``epochs`` (default: the config's). With ``val``, track the monitored metric,
        stop after ``patience`` epochs without improvement and (``restore_best``) end with the best
        weights. With ``run_dir``, save ``last.pt`` every epoch and ``record.json`` at the end.
        ``resume`` continues exactly from a checkpoint written by this trainer."""
        epochs = self.config.epochs if epochs is None else epochs
        if self._released:
            raise RuntimeError(
                "This trainer's optimiser state was released (release_training_state) after it finished training, so "
                "continuing would not be the same run. Resume from its checkpoint in a new Trainer "
                "(fit(..., resume=run_dir / 'last.pt')), or build a new one.")
        self._frozen()  # fingerprint the frozen weights before any step can touch them
        if resume is not None:
            self.load_checkpoint(resume)
        run_dir = Path(run_dir) if run_dir else None
        if run_dir and is_main_process():
            run_dir.mkdir(parents=True, exist_ok=True)
        while self.epoch < epochs:
            stats = self._train_epoch(train)
            self.epoch += 1
            if val is not None:
                stats.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
                self._track(stats[f"val_{self.monitor}"])
            self.history.append({"epoch": self.epoch, **stats})
            if run_dir:
                self.save_checkpoint(run_dir / "last.pt")
            if self.config.patience is not None and self.bad_epochs >= self.config.patience:
                break
        if restore_best and self.best_state is not None:
            load_weights(self.model, self.best_state)
            self._best_restored = True
        if run_dir:
            self.write_record(run_dir / "record.json")
        return self.history

    def release_training_state(self) -> None:
        """Free what only further training needs -- the last gradients, the optimiser's state (Adam's
        two moments, SGD's momentum) and the best epoch's copy of the weights once the model holds them
        -- when the model is trained and kept for evaluation. A table keeps every model it trains
        (``RunContext.assets``); without this each kept model also held up to four more copies of its
        trainable weights, on the GPU: TRML Table 5's 13 fine-tuned CLIP ViT-B/32 models would hold
        about 39 GB instead of 8. The checkpoints :meth:`fit` wrote keep all of it for resuming;
        :meth:`fit` on this trainer is refused afterwards."""
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer.state.clear()
        if self._best_restored:
            self.best_state = None  # the model's own weights are the best epoch's
        self._released = True

    def _track(self, value: float) -> None:
        better = (
            self.best_value is None
            or (self.mode == "max" and value > self.best_value)
            or (self.mode == "min" and value < self.best_value)
        )
        if better:
            self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
            self.best_state = copy.deepcopy(self._weights())  # not the frozen weights (those that did not move)
        else:
            self.bad_epochs += 1

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def predict(self, dataset, batch_size: int | None = None) -> dict:
        """Model outputs over a dataset: ``{"logits": (N, K), "target": (N,...), "present": (N, M)}``.
        Several processes: every rank gets the outputs over the whole dataset (see :meth:`_predict_sharded`)."""
        self.model.eval()
        if self.processes > 1:
            return self._predict_sharded(dataset, batch_size or self.config.batch_size)
        logits, targets = [], []
        for batch in dataset.loader(batch_size or self.config.batch_size):
            batch = batch.to(self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                out = self.model(batch)
            logits.append(out["logits"].float().cpu())
            targets.append(_target(self.task, batch).cpu())
        return {"logits": torch.cat(logits), "target": torch.cat(targets), "present": dataset.presence}

    def _predict_sharded(self, dataset, batch_size: int) -> dict:
        """:meth:`predict` over several processes. Whole batches of the one-process order go to the
        ranks in turn and every rank gathers all outputs: each forward sees exactly the batch it
        sees in one process (MLA's released fusion depends on the batch), the metrics are over the
        whole set (not one rank's shard) and equal on every rank (early stopping agrees). A batch
        that DistributedSampler repeats to even out the ranks is counted once."""
        batches = list(BatchSampler(SequentialSampler(range(len(dataset))), batch_size, drop_last=False))
        outputs = {}
        for index in DistributedSampler(batches, num_replicas=self.processes, rank=rank(), shuffle=False):
            batch = dataset[batches[index]].to(self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                out = self.model(batch)
            outputs[index] = (out["logits"].float().cpu(), _target(self.task, batch).cpu())
        for part in gather_objects(outputs):
            outputs.update(part)
        ordered = [outputs[i] for i in range(len(batches))]
        return {"logits": torch.cat([o[0] for o in ordered]), "target": torch.cat([o[1] for o in ordered]),
                "present": dataset.presence}

    def evaluate(self, dataset, batch_size: int | None = None) -> dict:
        """The task's metrics on ``dataset`` (see :func:`rmm_lib.metrics.task_metrics`)."""
        pred = self.predict(dataset, batch_size)
        return task_metrics(self.task, pred["target"], pred["logits"])

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | Path) -> None:
        """Everything needed to resume exactly: the weights that train (and every buffer),
        optimiser, scheduler, scaler, epoch, early-stopping state, history and RNG states.
        Loadable with ``weights_only=True``. Frozen weights (a pretrained tower under LoRA, a frozen
        encoder) are not copied into every checkpoint -- the pretrained files already hold them --
        but fingerprinted as they were before training, so that resuming on other frozen weights is
        refused. A frozen tensor that training moved all the same is kept (peft's LoRA on a
        ``MultiheadAttention`` merges into and out of its base weight at every step, which leaves
        round-off there), so that resume stays exact.

        Several processes: every rank calls it (each rank's RNG states are gathered into the file
        as ``rank_rng``); rank 0 alone writes, and every rank returns once the file is in place."""
        ranks_rng = gather_objects(_rng_states()) if self.processes > 1 else None
        if not is_main_process():
            barrier()  # rank 0 is writing
            return
        weights = self._weights()
        state = {
            "format": CHECKPOINT_FORMAT,
            "model_class": _class_name(self.model),
            "model": weights,
            "frozen": {**self._frozen(), "moved": sorted(set(weights) - set(trainable_state(self.model)))},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "timings": self.timings,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python_rng": random.getstate(),
            "config": asdict(self.config),
        }
        if ranks_rng is not None:
            state["rank_rng"] = ranks_rng
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint behind
        barrier()

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (``weights_only=True``). A
        checkpoint of N processes resumes exactly under N processes: each rank takes back its own
        RNG states. A file that is not such a checkpoint, one saved from another model, or one
        trained on other frozen weights is refused with what to do."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No checkpoint at {path}; train first or pass the right run_dir.")
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:  # noqa: BLE001 -- torch's message advises an unsafe retry; say what the file is
            raise ValueError(_unreadable(path, err)) from None
        missing = {"model", "optimizer", "epoch", "torch_rng"} - set(state) if isinstance(state, dict) else {"model"}
        if missing:
            raise ValueError(f"{path} is not a trainer checkpoint: it lacks {sorted(missing)}. Pass the last.pt that "
                             "Trainer.save_checkpoint wrote in the run's folder, or train without resume.")
        self._check_fits(path, state)
        load_weights(self.model, state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.best_state, self.bad_epochs = state["best_state"], state["bad_epochs"]
        self.history, self.timings = list(state["history"]), dict(state["timings"])
        rng = self._own_rng_states(state)
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        random.setstate(_as_tuple(rng["python"]))

    def _frozen(self) -> dict:
        """Count and fingerprint of the frozen parameters as they were before training (computed once,
        by :meth:`fit` before its first step, or here)."""
        if not hasattr(self, "_frozen_source"):
            frozen = frozen_parameters(self.model)
            self._frozen_source = {n: fingerprint_tensors({n: t}) for n, t in frozen.items()}
            self._frozen_summary = {"tensors": len(frozen), "values": sum(t.numel() for t in frozen.values()),
                                    "sha256": fingerprint_tensors({}) if not frozen else
                                    hashlib.sha256("".join(sorted(self._frozen_source.values())).encode()).hexdigest()}
        return self._frozen_summary

    def _weights(self) -> dict:
        """What a checkpoint keeps of the model: :func:`trainable_state`, and every frozen tensor that
        no longer equals what it was before training."""
        self._frozen()
        moved = {n: t for n, t in frozen_parameters(self.model).items()
                 if fingerprint_tensors({n: t}) != self._frozen_source.get(n)}
        return {**trainable_state(self.model), **{n: t.detach() for n, t in moved.items()}}

    def _check_fits(self, path: Path, state: dict) -> None:
        """Refuse, with what to do, a checkpoint of another model, of other settings, or trained on
        other frozen weights."""
        here, there = _class_name(self.model), state.get("model_class")
        if there and there != here:
            raise ValueError(
                f"Checkpoint {path} was saved from a {there}, not from this {here}: it belongs to another model's run. "
                "Resume with the model that wrote it, or train this one from the start (without resume, or with its "
                "own run_dir).")
        problems = _mismatch(self.model, state["model"])
        if problems:
            raise ValueError(
                f"Checkpoint {path} does not fit this {here}: {problems}. It was saved from "
                f"{'a ' + there if there else 'a model'} built with other settings (width, layers, LoRA rank, "
                "modalities) or another model. Build the model as it was built for that run, or train this one from "
                "the start (without resume, or with its own run_dir).")
        frozen = state.get("frozen")
        if frozen and frozen["sha256"] != self._frozen()["sha256"]:
            raise ValueError(
                f"Checkpoint {path} trained on top of frozen weights other than this model's ({frozen['tensors']} "
                f"frozen tensors, fingerprint {frozen['sha256'][:12]} there, {self._frozen()['sha256'][:12]} here): "
                "the pretrained files differ from the ones the run started from (another download or version). "
                "Resume with the same pretrained weights, or train from the start without resume.")

    def _own_rng_states(self, state: dict) -> dict:
        """This rank's RNG states in a checkpoint: its own entry of ``rank_rng`` when the checkpoint
        was written by as many processes as run now, else the ones of rank 0 (or of the one process)."""
        ranks = state.get("rank_rng")
        if ranks and len(ranks) == self.processes:
            return ranks[rank()]
        return {"torch": state["torch_rng"], "cuda": state["cuda_rng"], "python": state["python_rng"]}

    # ------------------------------------------------------------------ record
    def record(self, extra: dict | None = None) -> dict:
        """Config, history, best epoch, timings and environment of this run, JSON-ready."""
        params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        secs = self.timings["train_seconds"]
        return {
            "model": type(self.model).__name__,
            "task": self.task,
            "config": asdict(self.config),
            "device": str(self.device),
            "parameters": {"total": params, "trainable": trainable},
            "epochs_run": self.epoch,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "monitor": self.monitor,
            "history": self.history,
            "timings": {**self.timings, "samples_per_second": self.timings["train_samples"] / secs if secs else None},
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
            **({"processes": self.processes} if self.processes > 1 else {}),
            **(extra or {}),
        }

    def write_record(self, path: str | Path, extra: dict | None = None) -> dict:
        """Write :meth:`record` as JSON (rank 0 only, under several processes) and return it."""
        record = self.record(extra)
        if is_main_process():
            Path(path).write_text(json.dumps(record, indent=2, default=str))
        return record


def autocast_dtype() -> torch.dtype:
    """The mixed-precision type on this machine's GPU: bf16 where the GPU computes it natively
    (compute capability 8.0 and up: A100, H100, L4, RTX 30xx and later), else fp16 with a gradient
    scaler. ``torch.cuda.is_bf16_supported()`` counts emulation as support by default, which on a T4
    (Colab's free GPU, compute capability 7.5) would run every matmul in emulated bf16, far slower than
    its fp16 tensor cores."""
    return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16


#: What a checkpoint holds: 2 = the weights that train, every buffer, the frozen tensors training moved,
#: and a fingerprint of the frozen weights before training.
CHECKPOINT_FORMAT = 2


def frozen_parameters(model: torch.nn.Module) -> dict:
    """``{name: tensor}`` of the parameters that do not train (``requires_grad=False``), tied names included."""
    return {n: p for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}


def trainable_state(model: torch.nn.Module) -> dict:
    """The part of ``model.state_dict()`` that a checkpoint keeps: every entry but the frozen parameters
    (the weights that train, buffers such as running statistics, and any extra state)."""
    frozen = set(frozen_parameters(model))
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def load_weights(model: torch.nn.Module, state: dict) -> None:
    """Load what a checkpoint keeps (:func:`trainable_state`, and any frozen tensor it kept) into
    ``model``: every trained entry must be there, and nothing the model does not have."""
    problems = _mismatch(model, state)
    if problems:
        raise ValueError(f"These weights do not fit this {_class_name(model)}: {problems}.")
    model.load_state_dict(state, strict=False)


def _mismatch(model: torch.nn.Module, saved: dict) -> str:
    """What keeps ``saved`` from loading into ``model``, in words (empty when nothing does): a
    trained entry missing, an entry the model lacks, a tensor of another shape."""
    everything = model.state_dict()
    missing = sorted(set(trainable_state(model)) - set(saved))
    unexpected = sorted(set(saved) - set(everything))
    shapes = [f"{k} {tuple(saved[k].shape)} vs {tuple(everything[k].shape)}" for k in everything
              if k in saved and torch.is_tensor(saved[k]) and tuple(saved[k].shape) != tuple(everything[k].shape)]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
        if items:
            parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:3])})")
    return "; ".join(parts)


def _class_name(model: torch.nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _unreadable(path: Path, err: Exception) -> str:
    """Why torch could not load ``path``, without torch's advice to retry unsafely."""
    problem = checkpoint_problem(path)
    if problem is None:
        problem = ("it holds Python objects other than tensors and plain values, which a safe load "
                   "(weights_only=True) refuses" if "weights_only" in str(err) or "Unpickl" in type(err).__name__
                   else f"torch could not read it ({type(err).__name__})")
    return (f"Cannot resume from {path}: {problem}. It is not a checkpoint that Trainer.save_checkpoint wrote, or "
            "it was cut short. Delete it (or its run folder) and train again without resume; checkpoints are only "
            "ever loaded as tensors and plain values (weights_only=True).")


class _DefaultHooks(TrainingHooks):
    """TrainingHooks' defaults for a model that does not subclass it."""

    def __init__(self, model):
        self.model, self.task = model, getattr(model, "task", "classification")

    def __call__(self, batch):
        return self.model(batch)


class _TrainingStepModule(torch.nn.Module):
    """``training_step`` as a module's forward. DDP averages the gradients of a backward only for
    what ran through its own ``__call__``, so under several processes the trainer calls each step
    through DDP wrapped around this module, which holds the model (hence its parameters)."""

    def __init__(self, model: torch.nn.Module, training_step):
        super().__init__()
        self.model = model
        self.training_step = training_step  # a bound method: not a second copy of the module

    def forward(self, batch, step: int) -> dict:
        return self.training_step(batch, step)


def _rng_states() -> dict:
    """This process's RNG states, as a checkpoint keeps them."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate()}


def _sum_totals(parts: list) -> tuple:
    """Per-rank ``(totals, count)`` of an epoch summed over the ranks (every sample counted)."""
    totals: dict = {}
    for part, _ in parts:
        for key, value in part.items():
            totals[key] = totals.get(key, 0.0) + value
    return totals, sum(count for _, count in parts)


def _as_tuple(value):
    """``random.setstate`` wants tuples; a checkpoint may hand back lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
