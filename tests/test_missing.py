import numpy as np
import pytest

from rmm_lib import missing

TWO = ("image", "text")
THREE = ("image", "text", "audio")


@pytest.mark.parametrize("bad", [-0.1, 1.5, 70, float("nan"), "much", None])
def test_rates_outside_unit_interval_are_refused(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        missing.mla_random_missing(10, THREE, bad)


def test_unknown_modality_is_refused():
    with pytest.raises(ValueError, match="Unknown modality 'video'"):
        missing.inference_sweep(10, "video", [0.5], THREE)


def test_empty_sample_is_refused_with_its_index():
    mask = np.ones((5, 2), dtype=bool)
    mask[3] = False
    with pytest.raises(ValueError, match=r"no modality left \(first: \[3\]\)"):
        missing.check_presence(mask, TWO)


@pytest.mark.parametrize("victim,expected", [("T->V", ("text", "image")), ("V→T", ("image", "text")),
                                             ("text->image", ("text", "image"))])
def test_victim_notation(victim, expected):
    assert missing.parse_victim(victim, TWO) == expected


@pytest.mark.parametrize("victim", ["TV", "T->T", "T->A"])
def test_bad_victims(victim):
    with pytest.raises(ValueError):
        missing.parse_victim(victim, TWO)


def test_trml_setting_a_exact_counts():
    masks = missing.trml_setting_a(1000, 200, 300, TWO, victim="T->V", kept=0.1, seed=4)
    image, text = 0, 1
    assert masks["train"][:, image].sum() == 100  # p = 10% of training samples keep the victim
    assert masks["val"][:, image].sum() == 20  # validation follows training by default
    assert not masks["test"][:, image].any()  # no victim at test time
    assert all(m[:, text].all() for m in masks.values())  # the source modality is never touched
    val_as_test = missing.trml_setting_a(1000, 200, 300, TWO, kept=0.1, seed=4, val_like="test")
    assert not val_as_test["val"][:, image].any()


def test_trml_setting_b_same_rate_everywhere():
    masks = missing.trml_setting_b(1000, 200, 300, TWO, victim="V->T", kept=0.1, seed=4)
    for split, n in (("train", 1000), ("val", 200), ("test", 300)):
        assert masks[split][:, 1].sum() == round(0.1 * n)
        assert masks[split][:, 0].all()


def test_protocols_are_seeded():
    a = missing.trml_setting_b(500, 50, 50, TWO, seed=1)["train"]
    b = missing.trml_setting_b(500, 50, 50, TWO, seed=1)["train"]
    c = missing.trml_setting_b(500, 50, 50, TWO, seed=2)["train"]
    assert (a == b).all() and not (a == c).all()
    assert (missing.mla_random_missing(300, THREE, 0.5, seed=9) == missing.mla_random_missing(300, THREE, 0.5, seed=9)).all()


@pytest.mark.parametrize("eta", [0.1, 0.4, 0.7, 0.9])
def test_mla_rate_matches_its_expectation_and_never_empties(eta):
    n = 60_000
    mask = missing.mla_random_missing(n, THREE, eta, seed=0)
    assert mask.any(axis=1).all()
    expected = missing.mla_expected_rate(eta, 3)
    rates = np.array(list(missing.missing_rates(mask, THREE).values()))
    # binomial std of a rate over 60k samples is < 0.0021; 4 sigma
    assert np.abs(rates - expected).max() < 0.0085


def test_mla_restores_a_uniformly_chosen_modality():
    mask = missing.mla_random_missing(30_000, THREE, 0.999, seed=0)  # nearly every sample emptied, then restored
    assert mask.any(axis=1).all() and (mask.sum(axis=1) == 1).mean() > 0.99
    assert np.abs(mask.mean(axis=0) - 1 / 3).max() < 0.015


def test_mla_refuses_a_rate_that_empties_every_sample():
    with pytest.raises(ValueError, match="eta=1.0 drops every modality.*keep exactly one.*only_modality"):
        missing.mla_random_missing(10, THREE, 1.0)


def test_mla_zero_rate_keeps_everything():
    assert missing.mla_random_missing(100, THREE, 0.0).all()


def test_mla_splits_use_independent_draws():
    masks = missing.mla_splits({"train": 400, "test": 400}, THREE, 0.5, seed=0)
    assert not (masks["train"] == masks["test"]).all()


@pytest.mark.parametrize("kind,image_avail,text_avail", [("text", 1.0, 0.3), ("image", 0.3, 1.0), ("both", 0.65, 0.65)])
def test_map_protocol_availability(kind, image_avail, text_avail):
    mask = missing.map_missing(1000, kind, 0.7, TWO, seed=5)
    assert mask[:, 0].mean() == pytest.approx(image_avail)
    assert mask[:, 1].mean() == pytest.approx(text_avail)
    assert mask.any(axis=1).all()  # "both" never removes both modalities of one sample


def test_map_train_and_test_settings_are_independent():
    masks = missing.map_splits({"train": 100, "val": 50, "test": 100}, "text", "image", 0.7, TWO)
    assert masks["train"][:, 0].all() and masks["train"][:, 1].sum() == 30
    assert masks["val"][:, 1].sum() == 15
    assert masks["test"][:, 1].all() and masks["test"][:, 0].sum() == 30


def test_map_needs_image_and_text():
    with pytest.raises(ValueError, match="missing_type"):
        missing.map_missing(10, "audio", 0.7, TWO)
    with pytest.raises(ValueError, match=r"has no 'image'\. Pass modalities that include both"):
        missing.map_missing(10, "text", 0.7, ("audio", "text"))


def test_inference_sweep_is_nested_and_exact():
    masks = missing.inference_sweep(200, "text", [0.0, 0.1, 0.5, 1.0], TWO, seed=0)
    counts = [int((~m[:, 1]).sum()) for m in masks.values()]
    assert counts == [0, 20, 100, 200]
    assert ((~masks[0.5][:, 1]) | masks[0.1][:, 1]).all()  # missing at 10% => missing at 50%
    with pytest.raises(ValueError, match="no modality left"):
        missing.inference_sweep(10, "text", [0.5], ("text",))
