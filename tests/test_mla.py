"""MLA (rmm_lib.methods.mla): properties of Eq. 1-7 and one seeded benchmark comparison."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from rmm_lib import seed_everything
from rmm_lib.baselines import make_baseline
from rmm_lib.encoders import quick_encoders
from rmm_lib.methods.mla import (
    MLA,
    batch_fusion_weights,
    fusion_weights,
    modality_gap,
    prediction_entropy,
    project_head_gradient,
    released_mla,
    rls_update,
)
from rmm_lib.train import TrainConfig, Trainer


def _model(splits, dim=16, **kwargs):
    seed_everything(0)
    return MLA(quick_encoders(splits["train"], dim), dim, 6, **kwargs)


# ----------------------------------------------------------------------------- Eq. 3-4
@pytest.mark.parametrize("s", [3, 17, 64])
def test_p_stays_symmetric_positive_semidefinite(s):
    g = torch.Generator().manual_seed(s)
    P = torch.eye(s)
    for _ in range(200):
        P = rls_update(P, torch.randn(s, generator=g) * 3 + 1, alpha=0.05)
        assert torch.allclose(P, P.T, atol=1e-6)
    assert torch.linalg.eigvalsh(P.double()).min() > -1e-5


@pytest.mark.parametrize("s", [5, 32, 128])
def test_update_removes_direction_r_and_projected_gradient_is_orthogonal(s):
    g = torch.Generator().manual_seed(1)
    P = rls_update(torch.eye(s), torch.randn(s, generator=g), alpha=1.0)  # some history
    r = torch.randn(s, generator=g)
    before = torch.linalg.vector_norm(P @ r)
    P = rls_update(P, r, alpha=1e-4)
    assert torch.linalg.vector_norm(P @ r) < 1e-3 * before
    grad = torch.randn(6, s, generator=g)
    step = project_head_gradient(grad, P)
    # a head update along the projected gradient leaves the head's output on r unchanged
    assert torch.linalg.vector_norm(step @ r) < 1e-3 * torch.linalg.vector_norm(grad @ r)
    # a large alpha barely touches P: alpha is what trades memory for plasticity
    assert torch.allclose(rls_update(torch.eye(s), r, alpha=1e6), torch.eye(s), atol=1e-3)


def test_rls_rejects_bad_input():
    with pytest.raises(ValueError, match="s entries"):
        rls_update(torch.eye(4), torch.ones(5), 0.1)
    with pytest.raises(ValueError, match="alpha"):
        rls_update(torch.eye(4), torch.ones(4), 0.0)
    with pytest.raises(ValueError, match="NaN"):
        rls_update(torch.eye(4), torch.tensor([1.0, float("nan"), 0, 0]), 0.1)
    with pytest.raises(ValueError, match="square"):
        rls_update(torch.ones(3, 4), torch.ones(4), 0.1)


def _grads_after_hook(splits, batch, projection):
    model = _model(splits, projection=projection).eval()  # eval: no dropout, identical forward passes
    model.P.copy_(rls_update(model.P, torch.randn(16, generator=torch.Generator().manual_seed(0)), 0.01))
    model.iteration.fill_(3)  # t > 0 so Eq. 4 projects; t mod 3 = 0 -> first modality
    out = model.training_step(batch, 0)
    out["loss"].backward()
    P_before = model.P.clone()
    model.before_optimizer_step(0, out)
    # Eq. 3's r is the feature mean this step's training_step handed to the hook
    assert torch.allclose(model.P, rls_update(P_before, out["feature_mean"], model.alpha), atol=1e-6)
    return model, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_projection_changes_the_head_weight_update_and_nothing_else(small_splits):
    batch = small_splits["train"][list(range(32))]
    on_model, on = _grads_after_hook(small_splits, batch, True)
    _, off = _grads_after_hook(small_splits, batch, False)
    assert set(on) == set(off)
    for name in on:
        if name == "head.weight":
            assert not torch.allclose(on[name], off[name])
            P_used = on_model.P  # the paper's order: P_t (updated from this step's feature), then Eq. 4
            assert torch.allclose(on[name], off[name] @ P_used.T, atol=1e-6)
        else:
            assert torch.equal(on[name], off[name]), name
    assert any(n.startswith("encoders.") for n in on)  # the step did train an encoder


def test_first_iteration_is_not_projected(small_splits):
    batch = small_splits["train"][list(range(32))]
    grads = {}
    for projection in (True, False):
        model = _model(small_splits, projection=projection).eval()
        out = model.training_step(batch, 0)
        out["loss"].backward()
        model.before_optimizer_step(0, out)
        grads[projection] = model.head.weight.grad.clone()
    assert torch.equal(grads[True], grads[False])  # Eq. 4, t = 0


# ----------------------------------------------------------------------------- Eq. 1-2
def test_step_cycle_follows_the_order_and_skips_absent_modalities(small_splits):
    model = _model(small_splits, order=("text", "audio", "image"))
    assert model.steps_per_batch == 3
    batch = small_splits["train"][list(range(20))]
    present = batch.present.clone()
    present[:, 1] = False  # no text anywhere in this batch
    present[:5, 0] = False  # five samples without the image
    present[:, 2] = True
    batch = replace(batch, present=present)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    seen = []
    for t in range(6):
        opt.zero_grad(set_to_none=True)
        before = [p.detach().clone() for p in model.parameters()]
        out = model.training_step(batch, t % 3)
        out["loss"].backward()
        model.before_optimizer_step(t % 3, out)
        opt.step()
        seen.append(dict(model.last_step))
        moved = any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
        assert moved == (seen[-1]["modality"] != "text")  # the skipped step changes nothing
        assert out["skip"] == (seen[-1]["modality"] == "text")  # the step says so to its hook
        if not out["skip"]:  # Eq. 3's r: the mean feature of this step's samples, handed to the hook
            assert out["feature_mean"].shape == (16,) and not out["feature_mean"].requires_grad
    assert [s["modality"] for s in seen] == ["text", "audio", "image"] * 2
    assert [s["n_samples"] for s in seen] == [0, 20, 15] * 2  # a sample without m never feeds step m
    assert int(model.iteration) == 6


def test_unpaired_training_runs_through_the_trainer(small_splits):
    # every sample has exactly one modality: no pair anywhere, as in fully unpaired data
    n = len(small_splits["train"])
    mask = np.zeros((n, 3), dtype=bool)
    mask[np.arange(n), np.arange(n) % 3] = True
    train = small_splits["train"].with_presence(mask)
    trainer = Trainer(_model(small_splits), TrainConfig(epochs=1, optimizer="sgd", lr=0.01), progress=False)
    before = {m: [p.detach().clone() for p in enc.parameters()] for m, enc in trainer.model.encoders.items()}
    trainer.fit(train)
    assert int(trainer.model.iteration) == 3 * int(np.ceil(n / 64))
    for m, enc in trainer.model.encoders.items():  # every encoder learned from its own samples
        assert any(not torch.equal(a, b) for a, b in zip(before[m], enc.parameters())), m
    assert np.isfinite(trainer.evaluate(small_splits["test"])["accuracy"])


# ----------------------------------------------------------------------------- Eq. 5-7
def test_fusion_weights_positive_normalised_and_favour_low_entropy():
    g = torch.Generator().manual_seed(0)
    e = torch.rand(50, 3, generator=g) * 2
    present = torch.rand(50, 3, generator=g) > 0.3
    present[:, 0] |= ~present.any(1)
    w = fusion_weights(e, present)
    assert torch.allclose(w.sum(1), torch.ones(50))
    assert (w[present] > 0).all() and (w[~present] == 0).all()
    both = present[:, 0] & present[:, 1]
    lower = both & (e[:, 0] < e[:, 1])
    assert (w[lower, 0] > w[lower, 1]).all()
    # Eq. 7 for two present modalities is a logistic function of the entropy difference
    d = e[both, 1] - e[both, 0]
    only_two = both & ~present[:, 2]
    assert torch.allclose(w[only_two, 0], torch.sigmoid(d[only_two[both]]), atol=1e-6)
    with pytest.raises(ValueError, match="no modality"):
        fusion_weights(e[:2], torch.zeros(2, 3, dtype=torch.bool))


def test_entropy_is_per_sample_and_bounded():
    logits = torch.tensor([[10.0, 0, 0], [0.0, 0, 0]])
    e = prediction_entropy(logits)
    assert e[0] < 0.01 and torch.isclose(e[1], torch.log(torch.tensor(3.0)))
    w = torch.tensor([[1.0, -2.0]])
    h = torch.tensor([[0.1, 0.1], [3.0, 3.0]])
    e_reg = prediction_entropy(None, "regression", w, h)
    assert e_reg[0] < e_reg[1]  # larger head contributions, larger dropout variance, less certain


def test_forward_fuses_present_modalities_only(small_splits):
    model = _model(small_splits).eval()
    batch = small_splits["test"][list(range(12))]
    present = batch.present.clone()
    present[:4, 1:] = False  # image only
    batch = replace(batch, present=present)
    out = model(batch)
    assert torch.allclose(out["logits"][:4], out["unimodal_logits"]["image"][:4], atol=1e-6)
    stacked = torch.stack([out["unimodal_logits"][m] for m in model.modalities], 1)
    assert torch.allclose(out["logits"], (out["weights"].unsqueeze(-1) * stacked).sum(1), atol=1e-6)
    noisy = replace(batch, inputs={**batch.inputs, "audio": torch.randn_like(batch.inputs["audio"]) * 5})
    assert torch.allclose(model(noisy)["logits"][:4], out["logits"][:4], atol=1e-6)
    with pytest.raises(ValueError, match="no modality"):
        model(replace(batch, present=torch.zeros_like(present)))


def test_regression_head_fuses_with_dropout_variance(small_splits):
    seed_everything(0)
    model = MLA(quick_encoders(small_splits["train"], 8), 8, 1, task="regression")
    trainer = Trainer(model, TrainConfig(epochs=1), progress=False)
    trainer.fit(small_splits["train"])
    out = model.eval()(small_splits["test"][list(range(10))])
    assert out["logits"].shape == (10, 1) and torch.isfinite(out["entropy"]).all()
    assert torch.allclose(out["weights"].sum(1), torch.ones(10))


# ----------------------------------------------------------------------------- released-code variant
def test_released_variant_never_projects_normalises_p_and_fuses_per_batch(small_splits):
    batch = small_splits["train"][list(range(32))]
    model = released_mla(quick_encoders(small_splits["train"], 16), 16, 6).eval()
    assert not model.projection and model.fusion == "batch_entropy"
    for t in range(4):
        model.zero_grad(set_to_none=True)
        out = model.training_step(batch, t % 3)
        out["loss"].backward()
        plain = model.head.weight.grad.clone()
        model.before_optimizer_step(t % 3, out)
        assert torch.equal(model.head.weight.grad, plain)
        assert torch.isclose(torch.linalg.matrix_norm(model.P), torch.tensor(1.0))
    out = model(batch)
    assert torch.allclose(out["weights"], out["weights"][:1].expand_as(out["weights"]))  # one weight per batch
    assert not torch.allclose(model(small_splits["train"][list(range(8))])["weights"][0], out["weights"][0])
    w = batch_fusion_weights([torch.randn(8, 6), torch.zeros(8, 6)])
    assert torch.isclose(w.sum(), torch.tensor(1.0)) and w[1] < w[0]  # uniform over the batch = max entropy


def test_bad_hyperparameters_are_refused(small_splits):
    enc = quick_encoders(small_splits["train"], 8)
    for kwargs, msg in [({"alpha": -1}, "alpha"), ({"fusion": "max"}, "fusion"),
                        ({"projection_order": "x"}, "projection_order"), ({"order": ("image",)}, "order"),
                        ({"variant": "v2"}, "variant"), ({"task": "multilabel"}, "classification")]:
        with pytest.raises(ValueError, match=msg):
            MLA(enc, 8, 6, **kwargs)


def test_modality_gap():
    a = torch.tensor([[1.0, 0.0]] * 4)
    assert modality_gap(a, a) == pytest.approx(0.0)
    assert modality_gap(a, -a) == pytest.approx(2.0)


# ----------------------------------------------------------------------------- benchmark
def _unimodal_accuracy(trainer, ds, modality):
    mask = np.zeros((len(ds), len(ds.modalities)), dtype=bool)
    mask[:, ds.modalities.index(modality)] = True
    return trainer.evaluate(ds.with_presence(mask))["accuracy"]


def benchmark_gap(splits, make_mla=None, epochs=10):
    """Text-only (the weaker modality) accuracy of MLA minus that of Concat, same encoders/trainer."""
    cfg = TrainConfig(epochs=epochs, lr=3e-3, seed=0)
    accs = {}
    for name in ("concat", "mla"):
        seed_everything(0)
        enc = quick_encoders(splits["train"], 32)
        model = make_baseline("concat", enc, 32, 6) if name == "concat" else (make_mla or MLA)(enc, 32, 6)
        trainer = Trainer(model, cfg, progress=False)
        trainer.fit(splits["train"])
        accs[name] = _unimodal_accuracy(trainer, splits["test"], "text")
    return accs["mla"] - accs["concat"], accs


@pytest.fixture(scope="module")
def bench():
    from rmm_lib.data import make_benchmark

    return make_benchmark(600, 100, 400, seed=0)


def test_mla_trains_the_weaker_modality_better_than_concat(bench):
    torch.set_num_threads(1)  # same numbers on any core count
    gap, accs = benchmark_gap(bench)
    # Observed (seed 0): Concat 0.34, MLA 0.44 on text alone. Checked by breaking MLA: a
    # sign-flipped projection (0.30), a frozen head (P = 0; 0.36) and a cycle stuck on one
    # modality (0.15) fall below the 0.05 margin. A complement projection grad (I - P) does not
    # (0.43): the gain here comes from alternation; the Eq. 3-4 tests above catch that bug.
    assert gap > 0.05, accs


def test_fuse_is_the_weighted_sum_of_eq5():
    from rmm_lib.methods.mla import fuse

    g = torch.Generator().manual_seed(0)
    z = [torch.randn(5, 4, generator=g) for _ in range(3)]
    assert torch.allclose(fuse(z, torch.tensor([0.0, 1.0, 0.0])), z[1])  # one-hot picks a modality
    w = torch.softmax(torch.randn(5, 3, generator=g), 1)
    expected = sum(w[:, j : j + 1] * z[j] for j in range(3))
    assert torch.allclose(fuse(z, w), expected, atol=1e-6)
    with pytest.raises(ValueError, match="do not match"):
        fuse(z, torch.ones(2))


# ----------------------------------------------------------------------------- positive control
def test_the_projection_prevents_forgetting_where_forgetting_is_certain_and_its_removal_fails():
    """Positive control of Eq. 3-4 under the paper's SGD (momentum 0.9): two modalities put
    different classes on shared head directions, the head learns ``a`` and then ``b`` alone.
    Without the projection ``b``'s updates unlearn ``a``; with it the forgetting falls by at least
    half of what the exact projector (the oracle) removes, and the update is close to orthogonal to
    ``a``'s features. The broken variant (projection off) fails the same check."""
    from rmm_lib.recipes import mla_controls as C

    control = C.forgetting_control(range(5), "sgd")
    paper = C.forgetting_verdict(control, "projection")
    assert paper["passed"], paper
    assert C.forgetting_verdict(control, "oracle")["passed"]  # the ceiling passes its own check
    broken = C.forgetting_verdict(control, "none")
    assert not broken["passed"] and broken["cos_update_features"] > 0.2, broken
    # the mechanism costs nothing on the modality it protects: a is kept, b still learned
    assert np.mean(control["projection"]["accuracy_a"]) > np.mean(control["none"]["accuracy_a"])
    assert np.mean(control["projection"]["accuracy_b"]) > 0.95


def test_a_projection_that_leaves_the_gradient_alone_fails_the_positive_control(monkeypatch):
    """The verdict of the variant without projection is measured against itself; the check that
    matters is that a *wrong implementation* of Eq. 4 fails it: here ``project_head_gradient``
    returns the plain gradient, as the released code effectively does."""
    from rmm_lib.methods import mla
    from rmm_lib.recipes import mla_controls as C

    control = C.forgetting_control(range(5), "sgd", variants=("none", "oracle"))
    monkeypatch.setattr(mla, "project_head_gradient", lambda grad, P: grad)
    control.update(C.forgetting_control(range(5), "sgd", variants=("projection",)))
    verdict = C.forgetting_verdict(control, "projection")
    assert not verdict["passed"] and not verdict["reduction"]["real"], verdict
