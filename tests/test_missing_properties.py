"""Property tests: the promises in rmm_lib.missing's docstrings hold for any valid arguments."""
import pytest
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rmm_lib import missing

FAST = settings(max_examples=50, deadline=None)

sizes = st.integers(min_value=1, max_value=300)
rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
mla_rates = st.floats(min_value=0.0, max_value=1.0, exclude_max=True, allow_nan=False)  # eta = 1 is refused
seeds = st.integers(min_value=0, max_value=2**31 - 1)
# 2-4 distinct modality names, always holding image and text (the MAP protocol needs both)
modality_sets = st.lists(st.sampled_from(["audio", "video", "depth"]), unique=True, max_size=2).flatmap(
    lambda extra: st.permutations(["image", "text", *extra])
).map(tuple)


def assert_mask(mask, n, modalities):
    assert mask.dtype == bool and mask.shape == (n, len(modalities))
    assert mask.any(axis=1).all(), "a sample was left with no modality"


# ----------------------------------------------------------------------------- basics
@FAST
@given(n=sizes, modalities=modality_sets)
def test_full_presence_is_all_present(n, modalities):
    mask = missing.full_presence(n, modalities)
    assert_mask(mask, n, modalities)
    assert mask.all()


@FAST
@given(n=sizes, modalities=modality_sets, data=st.data())
def test_only_modality_keeps_exactly_one_column(n, modalities, data):
    modality = data.draw(st.sampled_from(modalities))
    mask = missing.only_modality(n, modalities, modality)
    assert_mask(mask, n, modalities)
    j = modalities.index(modality)
    assert mask[:, j].all() and mask.sum() == n
    assert missing.missing_rates(mask, modalities) == {m: float(m != modality) for m in modalities}


# ----------------------------------------------------------------------------- TRML
def _victim_setup(data, modalities):
    source, victim = data.draw(st.permutations(modalities).map(lambda p: p[:2]))
    return f"{source}->{victim}", modalities.index(victim)


@FAST
@given(n=st.tuples(sizes, sizes, sizes), modalities=modality_sets, kept=rates, seed=seeds,
       val_like=st.sampled_from(["train", "test"]), data=st.data())
def test_trml_setting_a(n, modalities, kept, seed, val_like, data):
    victim, col = _victim_setup(data, modalities)
    masks = missing.trml_setting_a(*n, modalities, victim=victim, kept=kept, seed=seed, val_like=val_like)
    assert list(masks) == ["train", "val", "test"]
    for (split, mask), size in zip(masks.items(), n):
        assert_mask(mask, size, modalities)
        assert np.delete(mask, col, axis=1).all()  # other modalities stay present
        keeps_p = split == "train" or (split == "val" and val_like == "train")
        # the victim is kept for exactly round(p * n) training samples, absent from every test sample
        assert mask[:, col].sum() == (round(kept * size) if keeps_p else 0)
    again = missing.trml_setting_a(*n, modalities, victim=victim, kept=kept, seed=seed, val_like=val_like)
    assert all((masks[s] == again[s]).all() for s in masks)  # deterministic in the seed


@FAST
@given(n=st.tuples(sizes, sizes, sizes), modalities=modality_sets, kept=rates, seed=seeds, data=st.data())
def test_trml_setting_b(n, modalities, kept, seed, data):
    victim, col = _victim_setup(data, modalities)
    masks = missing.trml_setting_b(*n, modalities, victim=victim, kept=kept, seed=seed)
    for mask, size in zip(masks.values(), n):
        assert_mask(mask, size, modalities)
        assert np.delete(mask, col, axis=1).all()
        # the same missing rate 1 - p in every split: exactly round((1 - kept) * n) missing
        assert (~mask[:, col]).sum() == round((1 - kept) * size)
    again = missing.trml_setting_b(*n, modalities, victim=victim, kept=kept, seed=seed)
    assert all((masks[s] == again[s]).all() for s in masks)


# ----------------------------------------------------------------------------- MLA
@FAST
@given(n=sizes, modalities=modality_sets, eta=mla_rates, seed=seeds)
def test_mla_random_missing(n, modalities, eta, seed):
    mask = missing.mla_random_missing(n, modalities, eta, seed=seed)
    assert_mask(mask, n, modalities)  # never an empty sample
    assert (mask == missing.mla_random_missing(n, modalities, eta, seed=seed)).all()
    if eta == 0.0:
        assert mask.all()


@FAST
@given(eta=rates, n_modalities=st.integers(1, 6))
def test_mla_expected_rate_is_a_rate_below_eta(eta, n_modalities):
    expected = missing.mla_expected_rate(eta, n_modalities)
    assert 0.0 <= expected <= eta + 1e-12


def test_mla_expected_rate_by_hand():
    # 3 modalities, eta 0.7: a sample emptied with probability 0.7^3 gets one modality back
    assert missing.mla_expected_rate(0.7, 3) == pytest.approx((3 * 0.7 - 0.7 ** 3) / 3)
    assert missing.mla_expected_rate(1.0, 2) == 0.5 and missing.mla_expected_rate(0.4, 1) == 0.0


@FAST
@given(split_sizes=st.dictionaries(st.sampled_from(["train", "val", "test"]), sizes, min_size=1),
       modalities=modality_sets, eta=mla_rates, seed=seeds)
def test_mla_splits(split_sizes, modalities, eta, seed):
    masks = missing.mla_splits(split_sizes, modalities, eta, seed=seed)
    assert list(masks) == list(split_sizes)
    for split, mask in masks.items():
        assert_mask(mask, split_sizes[split], modalities)
    again = missing.mla_splits(split_sizes, modalities, eta, seed=seed)
    assert all((masks[s] == again[s]).all() for s in masks)


# ----------------------------------------------------------------------------- CMPT / MAP
def _check_map(mask, n, missing_type, rate, modalities):
    assert_mask(mask, n, modalities)
    image, text = modalities.index("image"), modalities.index("text")
    others = [j for j in range(len(modalities)) if j not in (image, text)]
    assert mask[:, others].all()  # only image and text are ever removed
    no_image, no_text = ~mask[:, image], ~mask[:, text]
    k = round(rate * n)
    if missing_type == "text":
        assert no_text.sum() == k and not no_image.any()
    elif missing_type == "image":
        assert no_image.sum() == k and not no_text.any()
    else:  # "both": k incomplete samples, half without text and half without the image, never both
        assert not (no_image & no_text).any()
        assert no_image.sum() + no_text.sum() == k
        assert abs(int(no_image.sum()) - int(no_text.sum())) <= 1


@FAST
@given(n=sizes, missing_type=st.sampled_from(missing.MAP_TYPES), rate=rates, modalities=modality_sets, seed=seeds)
def test_map_missing(n, missing_type, rate, modalities, seed):
    mask = missing.map_missing(n, missing_type, rate, modalities, seed=seed)
    _check_map(mask, n, missing_type, rate, modalities)
    assert (mask == missing.map_missing(n, missing_type, rate, modalities, seed=seed)).all()


@FAST
@given(split_sizes=st.fixed_dictionaries({"train": sizes, "val": sizes, "test": sizes}),
       train_type=st.sampled_from(missing.MAP_TYPES), test_type=st.sampled_from(missing.MAP_TYPES),
       rate=rates, seed=seeds, val_like=st.sampled_from(["train", "test"]))
def test_map_splits_follow_their_setting(split_sizes, train_type, test_type, rate, seed, val_like):
    modalities = ("image", "text")
    masks = missing.map_splits(split_sizes, train_type, test_type, rate, modalities, seed=seed, val_like=val_like)
    types = {"train": train_type, "test": test_type, "val": train_type if val_like == "train" else test_type}
    for split, mask in masks.items():
        _check_map(mask, split_sizes[split], types[split], rate, modalities)


@FAST
@given(n=sizes, modalities=modality_sets, sweep=st.lists(rates, min_size=1, max_size=6), seed=seeds, data=st.data())
def test_inference_sweep_is_exact_and_nested(n, modalities, sweep, seed, data):
    modality = data.draw(st.sampled_from(modalities))
    col = modalities.index(modality)
    masks = missing.inference_sweep(n, modality, sweep, modalities, seed=seed)
    assert set(masks) == set(sweep)
    for rate, mask in masks.items():
        assert_mask(mask, n, modalities)
        assert (~mask[:, col]).sum() == round(rate * n)  # exact count
        assert np.delete(mask, col, axis=1).all()  # the other modalities are complete
    ordered = sorted(masks)
    for low, high in zip(ordered, ordered[1:]):  # samples missing at a lower rate miss at every higher one
        assert (masks[low][:, col] | ~masks[high][:, col]).all()
    again = missing.inference_sweep(n, modality, sweep, modalities, seed=seed)
    assert all((masks[r] == again[r]).all() for r in masks)
