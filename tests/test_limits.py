"""The information limits invert the benchmark's story: checked against enumeration, against the
posterior's own calibration (a wrong likelihood breaks it), and against a simulated retriever."""
import numpy as np
import pytest
import torch

from rmm_lib import limits as L
from rmm_lib.data import benchmark as B


@pytest.fixture(scope="module")
def draw():
    test = B.make_split(3000, "test", seed=11, redundancy=0.8)
    evidence = {"text": L.text_loglik(test.strings["text"]), "audio": L.audio_loglik(test.inputs["audio"]),
                "image": L.perfect_reader_loglik(test.label)}
    return test, evidence


def _calibration_gap(p_class, labels):
    """E[max_c P(c|x)] minus the accuracy of the argmax, in units of its standard error."""
    top = p_class.max(1).values.numpy()
    hit = (p_class.argmax(1) == labels).double().numpy()
    diff = top - hit
    return diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)))


def test_text_limit_by_sampling_matches_enumeration(draw):
    _, evidence = draw
    p_class, p_score = L.posterior({"text": evidence["text"]})
    estimate = L.interval(L.bayes_scores(p_class, p_score)["accuracy"])
    exact = L.exact_text_accuracy()
    assert estimate["low"] - 0.005 <= exact <= estimate["high"] + 0.005
    assert 0.6 < exact < 0.75  # the family and the mood word, not the category within a family


@pytest.mark.parametrize("subset", L.SUBSETS, ids=L.subset_name)
def test_posterior_is_calibrated_on_every_subset(draw, subset):
    # the Bayes posterior's confidence must equal its accuracy; a mis-specified likelihood does not
    test, evidence = draw
    p_class, _ = L.posterior({m: evidence[m] for m in subset})
    assert abs(_calibration_gap(p_class, test.label)) < 3.5


def test_a_wrong_audio_likelihood_is_caught_by_calibration(draw):
    test, _ = draw
    wrong = L.audio_loglik(test.inputs["audio"], audio_noise=0.8)  # half the true noise: overconfident
    p_class, _ = L.posterior({"audio": wrong})
    assert abs(_calibration_gap(p_class, test.label)) > 5


def test_photo_alone_is_bounded_by_the_shared_digit(draw):
    test, evidence = draw
    p_class, p_score = L.posterior({"image": evidence["image"]})
    acc = L.bayes_scores(p_class, p_score)["accuracy"]
    shared = np.isin(test.label.numpy(), [4, 5])  # soup and stew share digit 7: a coin flip between them
    assert acc[shared] == pytest.approx(0.5) and acc[~shared] == pytest.approx(1.0)


def test_seeing_more_never_lowers_the_limit(draw):
    _, evidence = draw
    acc = {}
    for subset in L.SUBSETS:
        p_class, p_score = L.posterior({m: evidence[m] for m in subset})
        acc[subset] = L.bayes_scores(p_class, p_score)["accuracy"].mean()
    for subset in L.SUBSETS:
        for bigger in L.SUBSETS:
            if set(subset) < set(bigger):
                assert acc[bigger] >= acc[subset] - 0.005, (subset, bigger)


def test_limit_of_reads_the_estimate_for_the_photo_and_the_exact_value_otherwise():
    entry = {"mean": 0.8, "low": 0.79, "high": 0.81}
    table = {"limits": {"perfect": {s: {"accuracy": {**entry, "mean": 0.83}} for s in map(L.subset_name, L.SUBSETS)},
                        "cnn": {s: {"accuracy": entry} for s in map(L.subset_name, L.SUBSETS)}}}
    assert L.limit_of(table, ["text", "image"])["kind"] == "estimate"
    assert L.limit_of(table, ["text", "image"])["bound"] == 0.83
    assert L.limit_of(table, ["audio"])["kind"] == "exact"
    with pytest.raises(KeyError, match="No limit"):
        L.limit_of(table, ["smell"])
    assert L.limit_of(table, ["video", "text"]) == L.limit_of(table, ["image", "text"])  # TRML's video is the photo


@pytest.mark.parametrize("redundancy", [0.0, 0.5, 0.8, 1.0])
def test_retrieval_limit_matches_a_simulated_brand_reader(redundancy):
    rng = np.random.default_rng(0)
    batch, trials, hits = 32, 4000, 0.0
    for _ in range(trials):
        branded = rng.random(batch) < redundancy
        brand = np.where(branded, rng.integers(0, 16, batch), -1)
        hits += 1 / np.sum(brand == brand[0])  # picks uniformly among the candidates with its brand
    assert hits / trials == pytest.approx(L.retrieval_limit(batch, redundancy), abs=0.02)
    assert L.retrieval_limit(batch, 0.0) == pytest.approx(1 / batch)


def test_redundancy_adds_a_brand_and_changes_nothing_else():
    plain = B.make_split(300, "train", seed=4)
    branded = B.make_split(300, "train", seed=4, redundancy=0.8)
    assert torch.equal(plain.label, branded.label) and torch.equal(plain.score, branded.score)
    assert torch.equal(plain.inputs["audio"], branded.inputs["audio"])
    has = branded.meta["brand"] >= 0
    assert 0.7 < has.float().mean() < 0.9 and (plain.meta["brand"] == -1).all()
    # the photo differs only in its corners, the review only by its last two words
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert torch.equal(plain.inputs["image"][inner], branded.inputs["image"][inner])
    for i in np.flatnonzero(has.numpy())[:20]:
        words = branded.strings["text"][i].split()
        assert words[:-2] == plain.strings["text"][i].split() and words[-2:] == ["by", B.BRANDS[branded.meta["brand"][i]]]
        code = B.brand_code(int(branded.meta["brand"][i]))
        corners = branded.inputs["image"][i, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
        assert [int(c == 1.0) for c in corners] == list(code)
    with pytest.raises(ValueError, match="redundancy"):
        B.make_split(10, "train", redundancy=1.5)


def _within_class_correlation(ds):
    """Pearson correlation, within categories, of the photo's contrast (its mean pixel) and the
    intensifier strength the review names, with its 95 % interval (scipy)."""
    from scipy.stats import pearsonr

    strength = {w: i for i, words in enumerate(B.INTENSIFIERS) for w in words}
    said = np.array([next(strength[w] for w in t.split() if w in strength) for t in ds.strings["text"]], float)
    contrast = ds.inputs["image"].mean(dim=(1, 2, 3)).numpy().astype(float)
    labels = ds.label.numpy()
    centred = [np.concatenate([v[labels == c] - v[labels == c].mean() for c in range(len(B.CATEGORIES))])
               for v in (contrast, said)]
    result = pearsonr(*centred)
    interval = result.confidence_interval(0.95)
    return result.statistic, interval.low, interval.high


def test_shared_traces_0_with_redundancy_0_leaves_nothing_sample_level_shared():
    # measured: given the category, the photo's contrast says nothing about the review's intensity
    shared = B.make_split(3000, "test", seed=5)
    independent = B.make_split(3000, "test", seed=5, shared_traces=0.0)
    r, low, high = _within_class_correlation(shared)
    assert low > 0.2, f"the default shares the intensity: within-class r = {r:.3f} [{low:.3f}, {high:.3f}]"
    r, low, high = _within_class_correlation(independent)
    assert low < 0 < high, f"shared_traces=0 still shares: within-class r = {r:.3f} [{low:.3f}, {high:.3f}]"
    assert bool(independent.meta["own_traces"]["image"].all()) and (independent.meta["brand"] == -1).all()
    # the review, the label and the score are untouched: only the photo's and jingle's traces move
    assert shared.strings["text"] == independent.strings["text"] and torch.equal(shared.score, independent.score)
    r_full = _within_class_correlation(shared)[0]
    half_split = B.make_split(3000, "test", seed=5, shared_traces=0.5)
    half = half_split.meta["own_traces"]
    assert all(0.45 < float(half[m].float().mean()) < 0.55 for m in ("image", "audio"))
    # a mixture: half the photos trace the review, so the correlation is about half of the full one
    r_half, low, high = _within_class_correlation(half_split)
    assert low < 0.5 * r_full < high, f"q=0.5: r = {r_half:.3f} [{low:.3f}, {high:.3f}], q=1: {r_full:.3f}"
    assert not shared.meta["own_traces"]["audio"].any()


def test_limits_refuse_traces_they_do_not_model():
    split = B.make_split(50, "test", seed=5, shared_traces=0.5)
    with pytest.raises(ValueError, match="shared_traces=1"):
        L.evidence_of(split, {"perfect": lambda s: L.perfect_reader_loglik(s.label)})
    with pytest.raises(ValueError, match="shared_traces"):
        B.make_split(10, "train", shared_traces=-0.1)


def test_limit_under_masks_weights_each_subset_by_its_share():
    entry = lambda m: {"accuracy": {"mean": m, "low": m - 0.01, "high": m + 0.01}}  # noqa: E731
    table = {"limits": {"perfect": {s: entry(0.9 if "image" in s else 0.6) for s in map(L.subset_name, L.SUBSETS)},
                        "cnn": {s: entry(0.8 if "image" in s else 0.6) for s in map(L.subset_name, L.SUBSETS)}}}
    presence = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1]], bool)
    out = L.limit_under_masks(table, presence, ("image", "text", "audio"))
    assert out["mean"] == pytest.approx((0.8 + 0.8 + 0.6 + 0.6) / 4)
    assert out["bound"] == pytest.approx((0.9 + 0.9 + 0.6 + 0.6) / 4) and out["kind"] == "estimate"
    assert "bound" not in L.limit_under_masks(table, presence[2:], ("image", "text", "audio"))
    with pytest.raises(ValueError, match="no modality"):
        L.limit_under_masks(table, np.zeros((2, 3), bool), ("image", "text", "audio"))
