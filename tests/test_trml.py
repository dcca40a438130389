import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from rmm_lib.methods import trml as T
from rmm_lib.recipes import trml as R
from rmm_lib.train import TrainConfig


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    # Pretrained checkpoints of the tests go to a private folder, never the user's cache.
    monkeypatch.setenv("RMM_CACHE", str(tmp_path_factory.getbasetemp() / "rmm-cache"))


@pytest.fixture(scope="module")
def video_splits():
    return R.benchmark_video_splits(240, 80, 80, seed=3, n_unlabelled=64)


def tiny_clip(seed=0):
    import open_clip

    R.register_tiny_configs()
    torch.manual_seed(seed)
    with R._quiet_open_clip():
        return open_clip.create_model("rmm-trml-vit", pretrained=None), open_clip.get_tokenizer("rmm-trml-vit")


# ----------------------------------------------------------------------------- Eq. 4-6
def test_generators_map_shapes_and_receive_gradient(video_splits):
    clip, tok = tiny_clip()
    model = T.TRML(clip, tok, task="regression", freeze_encoders=True)
    batch = video_splits["train"].with_presence(np.c_[np.ones(240, bool), np.arange(240) % 2 == 0])[list(range(8))]
    out = model(batch)
    assert out["virtual"]["text"].shape == (8, model.dim) and out["virtual"]["video"].shape == (8, model.dim)
    assert out["logits"].shape == (8, 1)
    model.training_step(batch)["loss"].backward()
    for gen in (model.t2v, model.v2t):
        grads = [p.grad for p in gen.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.clip.parameters())  # frozen towers


def test_virtual_replaces_only_missing_features(video_splits):
    clip, tok = tiny_clip()
    model = T.TRML(clip, tok, freeze_encoders=True).eval()
    pattern = np.arange(240) % 3  # 0: both present, 1: video missing, 2: text missing
    presence = np.c_[pattern != 2, pattern != 1]
    batch = video_splits["train"].with_presence(presence)[list(range(6))]
    out = model(batch)
    x, virtual = out["features"], out["virtual"]
    expected = torch.stack([
        x["text"][i] + x["video"][i] if p == 0  # Eq. 9
        else x["text"][i] + virtual["video"][i] if p == 1  # Eq. 7: the virtual visual stands in
        else virtual["text"][i] + x["video"][i]  # Eq. 8: the virtual text stands in
        for i, p in enumerate(pattern[:6])])
    assert torch.allclose(out["fused"], expected)


def test_temporal_encoder_kinds_and_bad_shapes():
    frames = torch.randn(3, 5, 16)
    for kind in T.TemporalEncoder.KINDS:
        assert T.TemporalEncoder(16, kind)(frames).shape == (3, 16)
    with pytest.raises(ValueError, match="kind must be one of"):
        T.TemporalEncoder(16, "cnn")
    with pytest.raises(ValueError, match="batch, frames, dim"):
        T.TemporalEncoder(16)(torch.randn(3, 16))


# ----------------------------------------------------------------------------- Eq. 10-18
def test_matching_loss_equals_hand_computed_value():
    original = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    virtual = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # cosines: s = [[1, 1/sqrt2], [0, 1/sqrt2]]
    tau, r = 0.5, 1 / math.sqrt(2)
    s = [[1.0, r], [0.0, r]]

    def ce(logits, k):  # -log softmax(logits)[k]
        return -logits[k] + math.log(sum(math.exp(v) for v in logits))

    rows = [ce([s[i][0] / tau, s[i][1] / tau], i) for i in range(2)]  # Eq. 12, t -> t_bar
    cols = [ce([s[0][j] / tau, s[1][j] / tau], j) for j in range(2)]  # Eq. 13, t_bar -> t
    expected = 0.5 * (sum(rows) / 2 + sum(cols) / 2)  # Eq. 16
    assert T.matching_loss(original, virtual, tau).item() == pytest.approx(expected, rel=1e-6)


def test_matching_loss_is_minimised_when_virtual_equals_original():
    # Among all assignments of the original features as "virtual" ones, the identity (virtual ==
    # original) gives the lowest loss; shuffled or noisy virtual features give more.
    torch.manual_seed(0)
    x = torch.randn(5, 8)
    at_identity = T.matching_loss(x, x, 0.2).item()
    for perm in itertools.permutations(range(5)):
        if list(perm) != list(range(5)):
            assert T.matching_loss(x, x[list(perm)], 0.2).item() > at_identity
    noisy = [T.matching_loss(x, x + 0.5 * torch.randn_like(x), 0.2).item() for _ in range(20)]
    assert min(noisy) > at_identity


def test_sml_weights_follow_eq_18(video_splits):
    clip, tok = tiny_clip()
    model = T.TRML(clip, tok, freeze_encoders=True, lam=0.1)
    batch = video_splits["train"][list(range(16))]
    parts = model.sml_loss(model(batch), batch)
    assert parts["sml_loss"].item() == pytest.approx(0.1 * parts["loss_tt"].item() + 0.9 * parts["loss_vv"].item(), rel=1e-5)
    ablated = T.TRML(clip, tok, freeze_encoders=True, text_matching=False)
    assert ablated.sml_loss(ablated(batch), batch)["loss_tt"].item() == 0.0


def test_temperature_is_learnable_and_positive(video_splits):
    clip, tok = tiny_clip()
    model = T.TRML(clip, tok, freeze_encoders=True, temperature=0.1)
    assert model.tau.item() == pytest.approx(0.1) and model.log_tau.requires_grad
    opt = torch.optim.SGD([model.log_tau], lr=50.0)  # a huge step must not make it negative
    batch = video_splits["train"][list(range(16))]
    for _ in range(3):
        opt.zero_grad()
        model.training_step(batch)["loss"].backward()
        assert model.log_tau.grad is not None and model.log_tau.grad.abs() > 0
        opt.step()
    assert model.tau.item() > 0 and model.tau.item() != pytest.approx(0.1)
    fixed = T.TRML(clip, tok, freeze_encoders=True, learn_temperature=False)
    assert not fixed.log_tau.requires_grad
    with pytest.raises(ValueError, match="temperature must be positive"):
        T.TRML(clip, tok, temperature=0.0)
    with pytest.raises(ValueError, match="lam"):
        T.TRML(clip, tok, lam=1.5)


# ----------------------------------------------------------------------------- protocols
def test_setting_a_has_no_victim_in_test_and_b_keeps_the_rate(video_splits):
    splits = {k: video_splits[k] for k in ("train", "val", "test")}
    for victim, col in (("T->V", 1), ("V->T", 0)):
        a = R.setting_masks(splits, "A", victim, kept=0.1, seed=1)
        assert not a["test"][:, col].any() and a["test"][:, 1 - col].all()
        assert a["train"][:, col].sum() == round(0.1 * 240)
        b = R.setting_masks(splits, "B", victim, kept=0.1, seed=1)
        for split, n in (("train", 240), ("val", 80), ("test", 80)):
            assert b[split][:, col].sum() == round(0.1 * n) and b[split][:, 1 - col].all()
    assert R.victim_names("T->V") == ("text", "video")
    with pytest.raises(ValueError, match="A->B"):
        R.setting_masks(splits, "A", "TV")
    with pytest.raises(ValueError, match="setting must be"):
        R.setting_masks(splits, "C")
    with pytest.raises(ValueError, match="outside"):
        R.setting_masks(splits, "B", kept=10)


def test_image_to_video_pans_the_photo():
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, 4, 4] = 1.0
    video = R.image_to_video(img, n_frames=3, image_size=8, step=1)
    assert video.shape == (1, 3, 3, 8, 8)
    peaks = [int(video[0, k, 0].flatten().argmax()) % 8 for k in range(3)]
    assert peaks == [3, 4, 5]
    with pytest.raises(ValueError, match="N, C, H, W"):
        R.image_to_video(torch.zeros(8, 8))


# ----------------------------------------------------------------------------- foundation model
def test_saved_checkpoint_loads_exactly_through_the_paper_path(tmp_path):
    clip, _ = tiny_clip(seed=4)
    path = tmp_path / "clip.pt"
    torch.save(clip.state_dict(), path)
    loaded, tokenizer = R.load_foundation("rmm-trml-vit", str(path))  # the path ViT-B-32/openai takes
    state = loaded.state_dict()
    assert state.keys() == clip.state_dict().keys()
    for key, value in clip.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert tokenizer(["a mug of tea"]).shape == (1, R.TINY_CLIP_CONFIGS["rmm-trml-vit"]["text_cfg"]["context_length"])


def test_pretraining_is_cached_and_seeded(video_splits):
    import os

    ds = video_splits["unlabelled"]
    path = R.pretrain_foundation(ds, epochs=1, batch_size=32, seed=5)
    stamp = os.path.getmtime(path)
    assert R.pretrain_foundation(ds, epochs=1, batch_size=32, seed=5) == path
    assert os.path.getmtime(path) == stamp  # found in the cache, not retrained
    again = R.pretrain_foundation(ds, epochs=1, batch_size=32, seed=5, rebuild=True)
    a, b = torch.load(path, weights_only=True), torch.load(again, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same weights



@pytest.fixture(scope="module")
def chapter_runs():
    """Notebook 12's grid on the testbed (towers fine-tuned, Setting A, 5 seeds), from its record."""
    from rmm_lib import records
    from rmm_lib.grids import trml as G

    record = records.load(G.GRID)
    assert records.stale_reason(G.GRID, record) is None, "run `python -m rmm_lib grid trml`"
    return G.by_row({c: v["result"] for c, v in record["cells"].items()})


def _acc(runs, method, victim, part="test"):
    return [r[part]["accuracy"] for r in runs[("classification", method, victim)]]


def test_trml_matching_finds_own_samples(chapter_runs):
    """What holds on the testbed: TRML's virtual features pick out their own sample in a batch of 64
    far above chance -- the 95 % interval of the mean over seeds above three times chance (3/64); a
    generator re-initialised after training sits at chance (notebook 11: 0.019). TRML against LB is
    the chapter's finding, not a property of the code (with the visual missing it is really below
    LB, notebook 12); the strict xfail below keeps the paper's claim."""
    from rmm_lib import stats

    for victim in ("T->V", "V->T"):
        retrieval = [r["retrieval"]["video" if victim == "T->V" else "text"]
                     for r in chapter_runs[("classification", "trml", victim)]]
        assert stats.mean_interval(retrieval)["low"] > 3 / 64, (victim, retrieval)  # chance is 1/64


XFAIL_REASON = ("known failure on the testbed (notebook 12): with the victim absent at test, TRML sees only "
                "the present modality, so it cannot pass that modality's information limit, and its "
                "virtual feature adds no information; over 5 seeds it does not beat LB by 3 points. "
                "Strict, so a real gain shows up as XPASS.")


@pytest.mark.xfail(strict=True, reason=XFAIL_REASON)
def test_trml_beats_the_lower_bound_by_a_margin(chapter_runs):
    """The issue's claim: with 90% of the victim missing (Setting A, both victims), TRML beats LB by
    a margin a broken generator could not reach (>= 3 points of accuracy on average over seeds)."""
    gains = [np.mean(_acc(chapter_runs, "trml", v)) - np.mean(_acc(chapter_runs, "lb", v)) for v in ("T->V", "V->T")]
    assert np.mean(gains) >= 0.03, gains


def test_chapter_config_is_appendix_b_in_the_paper_profile():
    from rmm_lib.profiles import get_profile

    paper = R.chapter_config(get_profile("paper"))
    assert (paper.optimizer, paper.lr, paper.batch_size) == ("adam", 5e-5, 16)  # appendix B, CMU-MOSI
    assert R.chapter_config(get_profile("paper"), batch_size=32).batch_size == 32  # MOSEI, MELD
    quick = R.chapter_config(get_profile("quick"))
    assert (quick.lr, quick.batch_size, quick.epochs) == (R.QUICK_TRAIN["lr"], R.QUICK_TRAIN["batch_size"], 40)
    assert R.chapter_config(get_profile("quick"), fine_tune=True).lr == R.QUICK_FINE_TUNE["lr"]


def test_cached_features_of_another_model_are_refused(video_splits):
    clip, tokenizer = tiny_clip()
    model = T.TRML(clip, tokenizer, freeze_encoders=True)
    features = R.cache_features(model, {"test": video_splits["test"]})["test"]
    batch = features[list(range(4))]
    model(batch)  # the model recognises its own cached features by shape
    narrow = replace(batch, inputs={k: v[..., :32] for k, v in batch.inputs.items()})
    with pytest.raises(ValueError, match="cache_features"):
        model(narrow)


def test_table_spec_runs_from_the_command_line_without_a_notebook_model(video_splits, monkeypatch):
    """`python -m rmm_lib run|smoke trml.*` passes no foundation model: the spec loads the paper's
    CLIP itself (here a tiny stand-in, so the test stays fast and offline)."""
    from rmm_lib.tables import build_context, get

    monkeypatch.setattr(R, "PAPER_FOUNDATION", ("rmm-trml-vit", None))
    spec = get("trml.table1")
    # as the command line builds it: the paper profile, random weights, one step per model
    ctx = build_context(spec, video_splits, "paper", pretrained=False, max_steps=1, progress=False,
                        table={"rows": ("LB", "TRML"), "settings": ("A",)})
    assert ctx.smoke and ctx.assets.foundation is None  # no notebook model handed in
    assert (ctx.train.epochs, ctx.train.max_batches) == (1, 1)
    table = spec.run(ctx)
    assert set(table) == {"LB", "TRML"} and set(table["TRML"]) == {"T->V A MAE", "T->V A Acc-2"}
    assert ctx.assets.foundation is not None  # the spec loaded the (stand-in) paper CLIP itself


def test_chapter_context_trains_the_quick_settings_only_in_the_quick_profile():
    from rmm_lib.profiles import get_profile
    from rmm_lib.tables import get

    spec = get("trml.table1")
    chapter = {"clip": object(), "tokenizer": object(), "data": {"train": None, "test": None}}
    quick = R.chapter_context(spec, chapter, get_profile("quick"), rows=("LB",))
    assert quick.splits is chapter["data"] and quick.assets.foundation[0] is chapter["clip"]
    assert quick.assets.foundation[1] is chapter["tokenizer"]
    assert quick.train.lr == R.QUICK_TRAIN["lr"] and quick.table.rows == ("LB",)
    assert (quick.train.batch_size, quick.train.epochs, quick.train.patience) == (
        R.QUICK_TRAIN["batch_size"], R.QUICK_TRAIN["epochs"], R.QUICK_TRAIN["patience"])
    paper = R.chapter_context(spec, chapter, get_profile("paper"))
    assert paper.train.lr == 5e-5 != R.QUICK_TRAIN["lr"]  # the spec's appendix B settings stay in charge
    assert (paper.train.optimizer, paper.train.batch_size) == ("adam", 16)
    assert paper.spec.train["lr"] == 5e-5
    assert paper.model == R.APPENDIX_B_MODEL == {"lam": 0.1, "alpha": 0.5}  # appendix B's method options
    assert paper.table.rows is None  # the whole table unless rows are given


# ----------------------------------------------------------------------------- positive control
def _constructed_features(seed: int, n: int = 480, dim: int = 16, classes: int = 4):
    """A small constructed task on TRML's cached-feature path: the text feature is a class centre
    plus noise, the video feature a fixed nonlinear function of it (plus a little noise) -- so the
    present text determines the missing video's feature, and a ridge regression shows how well."""
    from rmm_lib.data.types import MultimodalDataset

    g = torch.Generator().manual_seed(1000 + seed)
    centres = torch.randn(classes, dim, generator=g)
    mixing = torch.randn(dim, dim, generator=g) / dim ** 0.5
    splits = {}
    for name, size in (("train", n), ("val", n // 4), ("test", n // 2)):
        label = torch.randint(0, classes, (size,), generator=g)
        text = centres[label] + torch.randn(size, dim, generator=g)
        video = torch.tanh(2 * text @ mixing) + 0.1 * torch.randn(size, dim, generator=g)
        splits[name] = MultimodalDataset({"text": text, "video": video.unsqueeze(1)}, label,
                                         meta={"class_names": [str(c) for c in range(classes)]})
    return splits


@pytest.mark.parametrize("constant", [False, True], ids=["trml", "constant-generator"])
def test_positive_control_passes_the_real_generator_and_fails_a_constant(constant):
    """TRML's positive control on a constructed task where the present modality determines the
    missing one's feature (Setting A, T->V): the virtual visual feature's centred same-minus-other
    cosine is measurably above zero over seeds and reaches a tenth of the ridge ceiling's on the
    same features. The broken variant -- the generator replaced by one learned vector -- must fail
    it (its centred cosine is zero by construction, its R^2 below zero)."""
    config = TrainConfig(epochs=8, batch_size=64, lr=2e-3, patience=8)
    virtual, ridge = [], []
    for seed in range(3):
        splits = _constructed_features(seed)
        run = R.train_control_model(None, None, splits, "T->V", seed, config, constant=constant, temporal="mean")
        measured = R.control_measures(run, splits, "T->V")
        virtual.append(measured["fidelity"])
        ridge.append(measured["ridge"])
    verdict = R.fidelity_verdict(virtual, ridge)
    assert min(r["r2"] for r in ridge) > 0.5, ridge  # the regime: the present modality predicts the missing one
    if constant:
        assert not verdict["passes"], verdict
        assert max(v["r2"] for v in virtual) <= 0.0, virtual
    else:
        assert verdict["passes"], verdict


def test_normalize_virtual_rescales_only_the_virtual_features(video_splits):
    """``normalize_virtual`` (ours; off by default, as Eq. 6 is written) puts every virtual feature
    at unit length, like the real features, and changes nothing else of the forward pass."""
    clip, tok = tiny_clip()
    batch = video_splits["train"][list(range(8))]
    plain = T.TRML(clip, tok, freeze_encoders=True).eval()
    assert plain.normalize_virtual is False
    unit = T.TRML(clip, tok, freeze_encoders=True, normalize_virtual=True).eval()
    unit.load_state_dict(plain.state_dict())
    a, b = plain(batch), unit(batch)
    for name in ("text", "video"):
        assert torch.allclose(b["virtual"][name].norm(dim=1), torch.ones(8), atol=1e-5)
        assert torch.allclose(b["virtual"][name], torch.nn.functional.normalize(a["virtual"][name], dim=1), atol=1e-6)
        assert torch.equal(a["features"][name], b["features"][name])


@pytest.fixture(scope="module")
def control_runs():
    """Notebook 12's positive control and normalisation variants (grid trml_controls), from its record."""
    from rmm_lib import records
    from rmm_lib.grids import trml_controls as GC

    record = records.load(GC.GRID)
    assert records.stale_reason(GC.GRID, record) is None, "run `python -m rmm_lib grid trml_controls`"
    return GC.by_cell({c: v["result"] for c, v in record["cells"].items()})


def _control_task(control_runs, method, victim):
    rows = control_runs[("control", method, victim)]
    ub = [r["test"]["accuracy"] for r in control_runs[("control", "ub", "-")]]
    return R.control_verdict([r["test"]["virtual"] for r in rows], [r["test"]["mean"] for r in rows], ub)


def test_benchmark_control_feature_test_passes_trml_and_fails_the_constant(control_runs):
    """On the benchmark at its highest redundancy (5 seeds, towers fine-tuned, Setting A), the
    virtual feature's centred same-minus-other cosine is measurably above zero and reaches a share
    of the ridge ceiling's on the same features, for both victims; the constant generator's is zero."""
    for victim in ("T->V", "V->T"):
        rows = control_runs[("control", "trml", victim)]
        verdict = R.fidelity_verdict([r["fidelity"] for r in rows], [r["ridge"] for r in rows])
        assert verdict["passes"], (victim, verdict)
    rows = control_runs[("control", "constant", "T->V")]
    assert not R.fidelity_verdict([r["fidelity"] for r in rows], [r["ridge"] for r in rows])["passes"]
    assert not _control_task(control_runs, "constant", "T->V")["passes"]  # the broken variant fails both tests


def test_benchmark_control_task_test_passes_with_the_text_missing(control_runs):
    """The issue's task test, V->T (the video present): the virtual text closes a measurable share of
    the gap between the floor (the training mean of the virtual features in its place) and UB."""
    assert _control_task(control_runs, "trml", "V->T")["passes"]


CONTROL_XFAIL = ("known failure (notebook 12): with the visual missing (T->V), the trained head does no better with "
                 "the virtual feature than with its training mean (nor with the true feature): under Setting A the "
                 "virtual feature is a function of the present text, and the gap to UB is the photo's own "
                 "information about the class. Strict, so a real gain shows up as XPASS.")


@pytest.mark.xfail(strict=True, reason=CONTROL_XFAIL)
def test_benchmark_control_task_test_passes_with_the_visual_missing(control_runs):
    """The issue's task test, T->V: the virtual visual closes a measurable share of the gap between
    the floor and UB."""
    assert _control_task(control_runs, "trml", "T->V")["passes"]


def test_diagnostics_claims_read_the_centred_cosine_and_the_ridge_room():
    """Notebooks 10-11's checked claims: a virtual feature with no centred same-minus-other cosine
    (a constant) does not carry its sample, and a ridge ceiling below the feature leaves no room."""
    from rmm_lib.recipes.trml import diagnostics_claims

    good = {"fidelity": {"r2": 0.5, "centred_gap": 0.7}, "ridge": {"r2": 0.8, "centred_gap": 0.9}}
    constant = {"fidelity": {"r2": -1.8, "centred_gap": 0.0}, "ridge": good["ridge"]}
    above = {"fidelity": good["fidelity"], "ridge": {"r2": 0.8, "centred_gap": 0.6}}
    assert list(diagnostics_claims(good).values()) == [True, True]
    assert list(diagnostics_claims(constant).values()) == [False, True]
    assert list(diagnostics_claims(above).values()) == [True, False]  # one of the two ridge numbers below
