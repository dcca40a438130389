"""MLA's positive controls: regimes where each mechanism must help, its ceiling measured on the
same inputs, and the variant that removes the mechanism (which must fail the same check).

* **Forgetting** (Sec. 2.2, Eq. 3-4). :func:`interference_task` builds two feature modalities that
  share the head's input directions with *conflicting* labels: modality ``b`` of class ``k``
  points along modality ``a``'s class ``k + 1`` direction, plus a private direction of its own.
  A plain update of the shared head for ``b`` then moves the head's output on ``a``'s features:
  forgetting is certain. :func:`forgetting_run` trains MLA on it (the one trainer, the encoders
  fixed so that only the head learns) and reads :class:`rmm_lib.methods.mla.MLA`'s per-step
  records: the head's loss on the previous modality's samples right after a step on the other
  modality minus right before it, and the cosine of the applied update with those samples'
  features. Three variants: ``"projection"`` (Eq. 4 as the paper has it), ``"none"`` (no
  projection: the broken variant) and ``"oracle"`` (the ceiling: the gradient projected exactly off
  the other modality's training features, a projector MLA does not know).
* **Laziness** (Sec. 2.1). :func:`laziness_run` trains joint fusion (Concat) and MLA on the testbed
  in a regime where one modality is much stronger, then fits a linear probe on each model's frozen
  encoder of the weak modality: alternation must leave that encoder knowing more. The ceiling is
  the same encoder trained on the weak modality alone.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data.types import MultimodalDataset
from ..methods.mla import MLA
from ..train import TrainConfig, Trainer
from ..utils import seed_everything, set_threads

VARIANTS = ("projection", "none", "oracle")
#: The paper's optimiser (App. A.3: SGD, momentum 0.9) at the quick chapter's step size, and Adam.
OPTIMIZERS = {"sgd": {"optimizer": "sgd", "momentum": 0.9, "lr": 0.01},
              "plain_sgd": {"optimizer": "sgd", "momentum": 0.0, "lr": 0.01},
              "adam": {"optimizer": "adam", "lr": 3e-3}}


# ----------------------------------------------------------------------------- forgetting
def interference_task(seed: int = 0, n_train: int = 640, n_test: int = 640, dim: int = 32, classes: int = 4,
                      noise: float = 0.3, overlap: float = 1.0) -> dict:
    """Two feature modalities ``a`` and ``b`` for a shared linear head, every sample complete.

    The head's input has three blocks of ``classes`` directions: ``a``'s own, ``b``'s own and a
    shared block. ``a`` of class ``k`` is ``3 (e^a_k + overlap e^s_k)``, ``b`` of class ``k`` is
    ``3 (e^b_k + overlap e^s_{k+1 mod classes})``, each plus Gaussian noise (``noise`` per
    dimension): in the shared block the two modalities put *different* classes on the same
    direction. A head that learns ``b`` along ``a``'s feature directions unlearns ``a``; each
    modality can still be learned along directions the other's features do not span.
    Returns ``{"train", "test"}``."""
    if dim < 3 * classes:
        raise ValueError(f"dim must hold three blocks of class directions (>= {3 * classes}), got {dim}.")
    gen = torch.Generator().manual_seed(10_000 + seed)
    eye = torch.eye(dim)
    own_a, own_b, shared = eye[:classes], eye[classes:2 * classes], eye[2 * classes:3 * classes]

    def split(n: int) -> MultimodalDataset:
        label = torch.randint(classes, (n,), generator=gen)
        a = 3 * (own_a[label] + overlap * shared[label]) + noise * torch.randn(n, dim, generator=gen)
        b = 3 * (own_b[label] + overlap * shared[(label + 1) % classes]) + noise * torch.randn(n, dim, generator=gen)
        return MultimodalDataset({"a": a, "b": b}, label, meta={"class_names": [f"class {k}" for k in range(classes)]})

    return {"train": split(n_train), "test": split(n_test)}


class OracleProjectionMLA(MLA):
    """A control, not a method: Eq. 4 with a projector MLA cannot have -- for a step on modality
    ``m``, the exact projector off the span of the *other* modality's training features (their
    leading singular directions), fixed for the whole run. Its forgetting is the least a
    projection of the head's weight gradient can reach on these features."""

    def __init__(self, encoders: nn.ModuleDict, dim: int, out_dim: int, train: MultimodalDataset,
                 rank: int | None = None, **kwargs):
        super().__init__(encoders, dim, out_dim, **kwargs)
        rank = out_dim if rank is None else rank  # the features' signal: one direction per class
        for m in self.modalities:
            others = torch.cat([train.inputs[o].float() for o in self.modalities if o != m])
            vh = torch.linalg.svd(others, full_matrices=False).Vh[:rank]
            self.register_buffer(f"oracle_{m}", torch.eye(dim) - vh.T @ vh)

    def _project(self) -> None:
        grad = self.head.weight.grad
        if grad is not None:
            self.head.weight.grad = grad @ getattr(self, f"oracle_{self.last_step['modality']}")


def _head_model(train: MultimodalDataset, variant: str, alpha: float) -> MLA:
    """MLA on fixed (identity) encoders, so that only the shared head learns."""
    dim, out_dim = train.inputs["a"].shape[1], len(train.meta["class_names"])
    encoders = nn.ModuleDict({m: nn.Identity() for m in train.modalities})
    if variant == "oracle":
        return OracleProjectionMLA(encoders, dim, out_dim, train, alpha=alpha, record=True)
    return MLA(encoders, dim, out_dim, alpha=alpha, projection=variant == "projection", record=True)


def forgetting_run(splits: dict, variant: str = "projection", optimizer: str = "sgd", seed: int = 0,
                   schedule: str = "sequential", epochs: int = 6, batch_size: int = 32, alpha: float = 1.0,
                   tail: float = 0.5) -> dict:
    """Train MLA's shared head on :func:`interference_task` (the encoders fixed, so only the head
    learns) and measure what steps on ``b`` do to ``a``. ``optimizer`` names :data:`OPTIMIZERS`.

    ``schedule="sequential"``: ``epochs`` on ``a`` alone, then ``epochs`` on ``b`` alone (MLA's
    cycle still runs; the steps of the absent modality are skipped). ``forgetting`` is the head's
    test loss on ``a`` after the second phase minus before it (``forgetting_accuracy``: the same
    for ``a``'s accuracy, as a loss), and ``cos_update_features`` the cosine of the second phase's
    whole change of the head's weight with ``a``'s test features, ``|dW H_a^T| / (|dW| |H_a|)``:
    with momentum, a step's update carries earlier gradients, so only a phase without ``a``
    isolates what ``b`` does.

    ``schedule="alternating"``: MLA's own cycle on complete data; the means over the last ``tail``
    of the steps (the first still learn both modalities at once) of
    :class:`rmm_lib.methods.mla.MLA`'s per-step records: ``forgetting`` (loss on the previous
    modality's samples right after the step minus right before), ``cos_update``,
    ``cos_update_features``, ``cos_plain`` and ``cos_projected``.

    Both add the test accuracy of each modality alone at the end."""
    import torch.nn.functional as F

    from ..experiments import unimodal_accuracies
    from ..missing import only_modality

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}.")
    if schedule not in ("sequential", "alternating"):
        raise ValueError(f"schedule must be 'sequential' or 'alternating', got {schedule!r}.")
    set_threads(1)
    seed_everything(seed)
    train, test = splits["train"], splits["test"]
    model = _head_model(train, variant, alpha)
    config = TrainConfig.from_dict({**OPTIMIZERS[optimizer], "batch_size": batch_size, "epochs": epochs}, seed=seed)
    trainer = Trainer(model, config, progress=False)
    if schedule == "alternating":
        trainer.fit(train)
        done = [r for r in model.records if "forgetting" in r]
        done = done[int(len(done) * (1 - tail)):]
        out = {k: float(np.mean([r[k] for r in done])) for k in ("forgetting", "cos_update", "cos_update_features",
                                                                   "cos_plain", "cos_projected")}
    else:
        h_a, label = test.inputs["a"].float(), test.label

        @torch.no_grad()
        def state():
            logits = model.head(h_a)
            return model.head.weight.detach().clone(), float(F.cross_entropy(logits, label)), \
                float((logits.argmax(1) == label).float().mean())

        only = {m: train.with_presence(only_modality(len(train), train.modalities, m)) for m in ("a", "b")}
        trainer.fit(only["a"], epochs=epochs)
        w0, loss0, acc0 = state()
        trainer.fit(only["b"], epochs=2 * epochs)
        w1, loss1, acc1 = state()
        update = w1 - w0
        out = {"forgetting": loss1 - loss0, "forgetting_accuracy": acc0 - acc1,
               "cos_update_features": float(torch.linalg.matrix_norm(update @ h_a.T) /
                                            (torch.linalg.matrix_norm(update) * torch.linalg.matrix_norm(h_a) + 1e-12))}
    out.update({f"accuracy_{m}": a for m, a in unimodal_accuracies(trainer, test).items() if m != "multi"})
    return out


def forgetting_control(seeds=range(5), optimizer: str = "sgd", variants=VARIANTS, task: dict | None = None,
                       **kwargs) -> dict:
    """:func:`forgetting_run` for each variant and seed (each seed its own draw of the task):
    ``{variant: {key: [one value per seed]}}``."""
    runs = {v: [forgetting_run(interference_task(s, **(task or {})), v, optimizer, s, **kwargs) for s in seeds]
            for v in variants}
    return {v: {k: [r[k] for r in rs] for k in rs[0]} for v, rs in runs.items()}


def forgetting_verdict(control: dict, variant: str, reference: str = "none", max_cosine: float = 0.25,
                       min_share: float = 0.5) -> dict:
    """The positive control's check of ``variant``: it **passes** when, over the paired seeds, its
    forgetting is measurably below ``reference``'s (no projection) and closes at least
    ``min_share`` of the way to the oracle's, and its applied updates are close to orthogonal to
    the previous modality's features (mean ``cos_update_features`` at most ``max_cosine``)."""
    from .. import stats

    ours, ref = np.asarray(control[variant]["forgetting"]), np.asarray(control[reference]["forgetting"])
    reduction = stats.paired_difference(ref, ours)
    share = None
    if "oracle" in control:
        closure = stats.gap_closure(-ref, -ours, -np.asarray(control["oracle"]["forgetting"]))
        share = closure.get("fraction", {}).get("mean")
    cosine = float(np.mean(control[variant]["cos_update_features"]))
    passed = bool(reduction["real"] and reduction["mean"] > 0 and cosine <= max_cosine
                  and (share is None or share >= min_share))
    return {"passed": passed, "reduction": reduction, "share_of_oracle": share, "cos_update_features": cosine}
