import json

import pytest
import torch
from torch import nn

from rmm_lib import seed_everything
from rmm_lib.baselines import make_baseline
from rmm_lib.encoders import quick_encoders
from rmm_lib.hooks import HOOK_NAMES, TrainingHooks
from rmm_lib.train import TrainConfig, Trainer


def _concat(ds, seed, dropout=0.3):
    seed_everything(seed)
    return make_baseline("dropout", quick_encoders(ds, 16), 16, 6, modality_dropout=dropout)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(small_splits, tmp_path):
    train, val = small_splits["train"], small_splits["val"]
    cfg = TrainConfig(epochs=4, batch_size=32, lr=3e-3, scheduler="step", step_size=2, seed=7)
    full = Trainer(_concat(train, 0), cfg)
    full.fit(train, val)

    first = Trainer(_concat(train, 0), cfg)
    first.fit(train, val, epochs=2, run_dir=tmp_path / "run")
    torch.manual_seed(12345)  # disturb the global RNG: resume must restore it
    resumed = Trainer(_concat(train, 99), cfg)  # different initial weights, overwritten by the checkpoint
    resumed.fit(train, val, resume=tmp_path / "run" / "last.pt")

    assert resumed.epoch == full.epoch == 4
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    strip = lambda h: [{k: v for k, v in e.items() if "second" not in k} for e in h]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)


def test_checkpoint_loads_with_weights_only_and_record_is_json(small_splits, tmp_path):
    train = small_splits["train"]
    trainer = Trainer(_concat(train, 0), TrainConfig(epochs=1))
    trainer.fit(train, run_dir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == 1
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["epochs_run"] == 1 and record["config"]["epochs"] == 1
    assert record["timings"]["samples_per_second"] > 0
    assert record["parameters"]["trainable"] == sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)


def test_corrupt_or_missing_checkpoint_is_refused(small_splits, tmp_path):
    trainer = Trainer(_concat(small_splits["train"], 0), TrainConfig(epochs=1))
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        trainer.load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"Cannot resume from .*bad.pt: it is a text file \(it begins 'not a "
                                         r"checkpoint'\)\. .*Delete it") as err:
        trainer.load_checkpoint(bad)
    assert err.value.__cause__ is None and "weights_only=False" not in str(err.value)
    trainer.fit(small_splits["train"], run_dir=tmp_path / "run")
    cut = tmp_path / "cut.pt"
    cut.write_bytes((tmp_path / "run" / "last.pt").read_bytes()[:5000])  # an interrupted copy
    with pytest.raises(ValueError, match=r"cut.pt: it is a damaged \(truncated\?\) zip archive") as err:
        trainer.load_checkpoint(cut)
    assert "weights_only=False" not in str(err.value)
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": TrainConfig()}, pickled)  # a Python object, not tensors: a safe load refuses it
    with pytest.raises(ValueError, match="holds Python objects other than tensors") as err:
        trainer.load_checkpoint(pickled)
    assert "weights_only=False" not in str(err.value)


def test_a_checkpoint_of_another_model_or_other_settings_is_refused_by_name(small_splits, tmp_path):
    train = small_splits["train"]
    seed_everything(0)
    concat = Trainer(make_baseline("concat", quick_encoders(train, 16), 16, 6), TrainConfig(epochs=1))
    concat.fit(train, run_dir=tmp_path / "concat")
    seed_everything(0)
    late = Trainer(make_baseline("late", quick_encoders(train, 16), 16, 6), TrainConfig(epochs=1))
    with pytest.raises(ValueError, match=r"concat.last.pt was saved from a rmm_lib.baselines.\w+, not from this "
                                         r"rmm_lib.baselines.\w+: it belongs to another model's run"):
        late.load_checkpoint(tmp_path / "concat" / "last.pt")
    seed_everything(0)
    wider = Trainer(make_baseline("concat", quick_encoders(train, 24), 24, 6), TrainConfig(epochs=1))
    with pytest.raises(ValueError, match=r"last.pt does not fit this .*of another shape .*built with other settings"):
        wider.load_checkpoint(tmp_path / "concat" / "last.pt")


class _FrozenTower(nn.Module):
    """A frozen 'pretrained' tower under a small trainable head (the shape of a LoRA or linear-probe run)."""

    task = "classification"

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.tower = nn.Sequential(nn.Linear(16, 256), nn.BatchNorm1d(256), nn.ReLU()).requires_grad_(False)
        self.scale = nn.Parameter(torch.tensor(2.0), requires_grad=False)  # a frozen scalar (0-dim)
        self.head = nn.Linear(256, 6)

    def forward(self, batch):
        return {"logits": self.head(self.scale * self.tower(batch.inputs["text"].float()))}


def _interrupted_and_resumed(model_class, splits, tmp_path) -> dict:
    """Train 3 epochs at once, and 1 epoch then resumed to 3 (each model built afresh): assert the
    two end equal, and return the checkpoint written after the first epoch."""
    train, val = splits["train"], splits["val"]
    cfg = TrainConfig(epochs=3, batch_size=32, lr=3e-3, seed=2)
    full = Trainer(model_class(), cfg)
    full.fit(train, val)
    Trainer(model_class(), cfg).fit(train, val, epochs=1, run_dir=tmp_path / "run")
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    resumed = Trainer(model_class(), cfg)
    resumed.fit(train, val, resume=tmp_path / "run" / "last.pt")
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    return state


def test_checkpoints_keep_what_trains_and_resume_exactly_on_the_same_frozen_weights(small_splits, tmp_path):
    state = _interrupted_and_resumed(_FrozenTower, small_splits, tmp_path)
    assert set(state["model"]) == {"head.weight", "head.bias", "tower.1.running_mean", "tower.1.running_var",
                                   "tower.1.num_batches_tracked"}  # the frozen Linear and BatchNorm weights stay out
    assert state["frozen"]["tensors"] == 5 and state["frozen"]["values"] == 16 * 256 + 256 + 2 * 256 + 1
    assert state["frozen"]["moved"] == []
    other = Trainer(_FrozenTower(seed=1), TrainConfig())  # other "pretrained" weights under the same head
    with pytest.raises(ValueError, match=r"trained on top of frozen weights other than this model's \(5 frozen "
                                         r"tensors, fingerprint \w{12} there, \w{12} here\)"):
        other.load_checkpoint(tmp_path / "run" / "last.pt")


def test_early_stopping_stops_and_restores_best(small_splits):
    train, val = small_splits["train"], small_splits["val"]
    # lr = 0 is refused by TrainConfig now; Adam's steps of about lr = 1e-12 leave the weights where
    # they were (to 1e-9), so (as with lr = 0) nothing can improve
    trainer = Trainer(_concat(train, 0), TrainConfig(epochs=20, lr=1e-12, patience=2))
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit(train, val)
    assert trainer.epoch == 3 and trainer.best_epoch == 1
    assert all(torch.allclose(v.float(), start[k].float(), rtol=0, atol=1e-9)  # nothing moved
               for k, v in trainer.model.state_dict().items())

    trainer = Trainer(_concat(train, 0), TrainConfig(epochs=6, lr=3e-3, patience=None))
    trainer.fit(train, val)
    vals = [h["val_accuracy"] for h in trainer.history]
    assert trainer.best_value == max(vals) and trainer.best_epoch == vals.index(max(vals)) + 1
    best = trainer.best_state
    assert all(torch.equal(a, best[k]) for k, a in trainer.model.state_dict().items())
    assert trainer.evaluate(val)["accuracy"] == pytest.approx(trainer.best_value)


class _TextLinear(nn.Module):
    """A linear classifier on the text ids, the model the hook tests subclass."""

    task = "classification"

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 6)

    def forward(self, batch):
        return {"logits": self.lin(batch.inputs["text"].float())}


class _Hooked(TrainingHooks, _TextLinear):
    """Two optimiser steps per batch; the hook zeroes the first step's gradient."""

    steps_per_batch = 2

    def __init__(self):
        super().__init__()
        self.calls, self.weights = [], []

    def training_step(self, batch, step):
        self.calls.append(step)
        self.weights.append(self.lin.weight.detach().clone())
        return {"loss": nn.functional.cross_entropy(self(batch)["logits"], batch.label), "aux": torch.tensor(1.0)}

    def before_optimizer_step(self, step, output):
        if step == 0:
            self.lin.weight.grad.zero_()


def test_hooks_are_called_per_step(small_splits):
    model = _Hooked()
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=120, optimizer="sgd", momentum=0.0))
    trainer.fit(small_splits["train"])
    assert model.calls == [0, 1, 0, 1]
    # the hook ran between backward and the step: step 0's zeroed gradient left the weights unchanged
    assert torch.equal(model.weights[0], model.weights[1]) and not torch.equal(model.weights[1], model.weights[2])
    assert trainer.history[0]["train_aux"] == pytest.approx(2.0)  # summed over the two steps


def test_nan_loss_stops_training_with_advice(small_splits):
    class Broken(_Hooked):
        def training_step(self, batch, step):
            return {"loss": torch.tensor(float("nan"), requires_grad=True)}

    with pytest.raises(FloatingPointError, match="learning rate"):
        Trainer(Broken(), TrainConfig(epochs=1)).fit(small_splits["train"])


def test_bad_config_is_refused(small_splits):
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(_concat(small_splits["train"], 0), TrainConfig(optimizer="lbfgs"))
    with pytest.raises(ValueError, match="optimizer"):  # refused when the config is built, before any model
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0.0)


def test_max_batches_cuts_each_epoch_short(small_splits):
    model = _Hooked()
    trainer = Trainer(model, TrainConfig(epochs=2, batch_size=40, optimizer="sgd", momentum=0.0, max_batches=1))
    trainer.fit(small_splits["train"])  # 240 samples = 6 batches per epoch, cut to 1
    assert model.calls == [0, 1, 0, 1]
    # the hook ran between backward and the step: step 0's zeroed gradient left the weights unchanged
    assert torch.equal(model.weights[0], model.weights[1]) and not torch.equal(model.weights[1], model.weights[2])
    assert [h["epoch"] for h in trainer.history] == [1, 2]


# ----------------------------------------------------------------------------- TrainConfig.from_dict
def test_from_dict_refuses_an_unknown_key_and_names_it():
    with pytest.raises(ValueError, match="lrr"):
        TrainConfig.from_dict({"epochs": 2, "lrr": 1e-3})
    with pytest.raises(ValueError, match="extra"):  # the removed field: method options go to the model
        TrainConfig.from_dict({"epochs": 2}, extra={"lam": 0.1})
    cfg = TrainConfig.from_dict({"epochs": 2, "lr": 1e-2}, lr=5e-3, seed=3)  # overrides win
    assert (cfg.epochs, cfg.lr, cfg.seed) == (2, 5e-3, 3)
    assert TrainConfig.from_dict({}) == TrainConfig()


# ----------------------------------------------------------------------------- the hook contract
@pytest.mark.parametrize("hook", HOOK_NAMES + ("steps_per_batch",))
def test_a_hook_without_subclassing_is_refused(hook):
    class Undeclared(_TextLinear):
        pass

    setattr(Undeclared, hook, 2 if hook == "steps_per_batch" else (lambda self, *args: None))
    with pytest.raises(TypeError, match=f"(?s){hook}.*TrainingHooks"):
        Trainer(Undeclared(), TrainConfig(epochs=1))


class _Recording(TrainingHooks, _TextLinear):
    """Keeps every dict its training_step returns and every output its before_optimizer_step gets."""

    steps_per_batch = 2

    def __init__(self):
        super().__init__()
        self.returned, self.received = [], []

    def training_step(self, batch, step):
        out = {"loss": nn.functional.cross_entropy(self(batch)["logits"], batch.label), "step": step,
               "marker": object()}
        self.returned.append(out)
        return out

    def before_optimizer_step(self, step, output):
        assert output["step"] == step
        self.received.append(output)


def test_before_optimizer_step_receives_the_dict_training_step_returned(small_splits):
    model = _Recording()
    Trainer(model, TrainConfig(epochs=1, batch_size=120), progress=False).fit(small_splits["train"])
    assert len(model.returned) == 4  # 2 batches x 2 steps
    assert len(model.received) == len(model.returned)
    assert all(got is sent for got, sent in zip(model.received, model.returned))  # the same object, unchanged
    assert [o["step"] for o in model.received] == [0, 1, 0, 1]


class _OwnOptimizer(TrainingHooks, _TextLinear):
    """Trains with an SGD of its own (lr 0.5), whatever the config names; counts its steps."""

    def __init__(self):
        super().__init__()
        self.grads = []

    def configure_optimizer(self, config):
        class Counting(torch.optim.SGD):
            steps = 0

            def step(self, closure=None):
                Counting.steps += 1
                return super().step(closure)

        self.optimizer = Counting(self.parameters(), lr=0.5, momentum=0.0)
        return self.optimizer

    def before_optimizer_step(self, step, output):
        self.grads.append(self.lin.weight.grad.detach().clone())


def test_configure_optimizer_is_the_optimizer_used(small_splits):
    model = _OwnOptimizer()
    before = model.lin.weight.detach().clone()
    # the config names Adam with a tiny learning rate: the model's own SGD must be used instead
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=240, optimizer="adam", lr=1e-6, amp=False),
                      progress=False)
    assert trainer.optimizer is model.optimizer
    trainer.fit(small_splits["train"])  # one batch: one step
    assert type(model.optimizer).steps == 1 and len(model.grads) == 1
    assert torch.allclose(model.lin.weight.detach(), before - 0.5 * model.grads[0], atol=1e-6)


def test_a_gpu_that_only_emulates_bf16_trains_in_fp16(monkeypatch):
    """A T4 (compute capability 7.5) has no native bf16; torch.cuda.is_bf16_supported() says True there by
    default (emulation), which would run every matmul in slow emulated bf16. The trainer asks for native support."""
    from rmm_lib.train import autocast_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert autocast_dtype() == torch.float16  # a T4: bf16 only by emulation
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert autocast_dtype() == torch.bfloat16  # an A100, H100, L4


def test_a_trained_model_kept_for_evaluation_frees_its_training_state(small_splits, tmp_path):
    """Tables keep every model they train: once trained, its gradients and optimiser state go (three
    more copies of the weights with Adam), its evaluation is unchanged, the checkpoint still resumes,
    and training the released trainer further is refused."""
    train, val = small_splits["train"], small_splits["val"]
    trainer = Trainer(_concat(train, 0), TrainConfig(epochs=1, batch_size=32))
    trainer.fit(train, val, run_dir=tmp_path / "run")
    before = trainer.evaluate(val)
    assert trainer.optimizer.state and any(p.grad is not None for p in trainer.model.parameters())
    assert trainer.best_state is not None  # restored into the model at the end of fit: a second copy
    trainer.release_training_state()
    assert not trainer.optimizer.state and all(p.grad is None for p in trainer.model.parameters())
    assert trainer.best_state is None and trainer.best_epoch == 1
    assert trainer.evaluate(val) == before
    with pytest.raises(RuntimeError, match="Resume from its checkpoint"):
        trainer.fit(train, val, epochs=2)
    resumed = Trainer(_concat(train, 0), TrainConfig(epochs=2, batch_size=32))
    resumed.fit(train, val, resume=tmp_path / "run" / "last.pt")
    assert resumed.epoch == 2


def test_a_lora_model_on_open_clip_attention_resumes(tmp_path):
    """peft's LoRA on open_clip's nn.MultiheadAttention adds its update to the frozen projection for
    each forward and subtracts it again, so the 'frozen' tensors drift by rounding while training; the
    frozen fingerprint is therefore taken before the first step, the moved tensors travel in the
    checkpoint, and a resume on the same weights is accepted (a fingerprint taken at the first checkpoint refused it)."""
    from rmm_lib.data import synthetic_splits
    from rmm_lib.profiles import get_profile
    from rmm_lib.recipes import cmpt
    from rmm_lib.train import frozen_parameters

    train = synthetic_splits("food101", n=4)["train"]

    def build():
        return cmpt.build_cmpt(train, profile=get_profile("paper"), reduced=True, **cmpt.variant_options("cmpt", True))

    model = build()
    as_built = {k: v.detach().clone() for k, v in frozen_parameters(model).items()}
    first = Trainer(model, TrainConfig(epochs=2, batch_size=2, lr=1e-2))
    first.fit(train, epochs=1, run_dir=tmp_path / "run")
    drift = max(float((as_built[k] - v).abs().max()) for k, v in frozen_parameters(model).items())
    assert 0 < drift < 1e-5  # the rounding the fingerprint must not see
    resumed = Trainer(build(), TrainConfig(epochs=2, batch_size=2, lr=1e-2))
    resumed.fit(train, resume=tmp_path / "run" / "last.pt")
    assert resumed.epoch == 2


class _MovesItsFrozenWeight(_FrozenTower):
    """A frozen weight that each step nudges in place, as peft's LoRA on nn.MultiheadAttention does when
    it merges into and out of the base weight (round-off stays behind)."""

    def forward(self, batch):
        if self.training:
            with torch.no_grad():
                self.tower[0].weight.mul_(1 + 1e-7)
        return super().forward(batch)


def test_a_frozen_weight_that_training_moved_is_kept_and_resume_stays_exact(small_splits, tmp_path):
    state = _interrupted_and_resumed(_MovesItsFrozenWeight, small_splits, tmp_path)
    assert state["frozen"]["moved"] == ["tower.0.weight"] and "tower.0.weight" in state["model"]
