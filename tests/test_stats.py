"""Intervals over seeds and paired differences: what the prose may call real."""
import numpy as np
import pytest
from scipy import stats as sps

from rmm_lib import sanity, stats


def test_mean_interval_is_the_student_t_interval():
    values = [0.71, 0.74, 0.69, 0.75, 0.72]
    iv = stats.mean_interval(values)
    low, high = sps.t.interval(0.95, 4, loc=np.mean(values), scale=sps.sem(values))
    assert (iv["low"], iv["high"], iv["n"]) == (pytest.approx(low), pytest.approx(high), 5)
    assert stats.mean_interval([0.7])["low"] == stats.mean_interval([0.7])["high"] == 0.7


def test_pairing_finds_a_consistent_shift_that_seed_noise_hides():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.05, 8)  # runs differ a lot by seed ...
    a, b = 0.70 + seed_effect + 0.01, 0.70 + seed_effect  # ... but a beats b by one point on every seed
    assert stats.paired_difference(a, b)["real"]
    unpaired = sps.ttest_ind(a, b)
    assert unpaired.pvalue > 0.05
    assert stats.verdict(stats.paired_difference(a, b)) == "real: higher"
    noise = np.array([0.02, -0.02, 0.01, -0.01, 0.03, -0.03, 0.0, 0.0])  # mean zero
    assert stats.verdict(stats.paired_difference(b + noise, b)) == "no measurable difference"


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="empty"):
        stats.mean_interval([])
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_interval([0.5, float("nan")])
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired_difference([1, 2, 3], [1, 2])


def test_gap_closure_reports_what_could_be_closed_and_what_is():
    floor, learned, oracle = [0.60, 0.62, 0.61], [0.66, 0.67, 0.66], [0.80, 0.81, 0.82]
    out = stats.gap_closure(floor, learned, oracle)
    assert out["possible"]["mean"] == pytest.approx(0.2, abs=1e-9)
    assert out["closed"]["mean"] == pytest.approx(0.0533, abs=1e-3)
    assert 0.2 < out["fraction"]["mean"] < 0.3
    assert "fraction" not in stats.gap_closure(floor, learned, floor)  # no gap: no ratio


def test_formatting():
    assert stats.fmt({"mean": 0.621, "low": 0.603, "high": 0.639}) == "62.1 [60.3, 63.9]"
    assert stats.fmt_diff({"mean": 0.012, "low": -0.004, "high": 0.028}) == "+1.2 [-0.4, +2.8]"


# The sanity checks, each broken on purpose.
def test_a_method_above_the_limit_is_flagged():
    limit = {"mean": 0.80, "low": 0.79, "high": 0.81, "bound": 0.83}
    assert sanity.above_limit([0.82, 0.83, 0.81], limit, 600) is None
    assert "above the information limit" in sanity.above_limit([0.90, 0.91, 0.92], limit, 600)


def test_an_upper_bound_below_its_lower_bound_is_flagged():
    assert sanity.below([0.87, 0.86, 0.88], [0.75, 0.74, 0.76], "UB", "LB") is None
    assert "UB is below LB" in sanity.below([0.62, 0.63, 0.62], [0.67, 0.66, 0.67], "UB", "LB")
    assert sanity.below([0.66, 0.68, 0.64], [0.67, 0.66, 0.66], "UB", "LB") is None  # within noise


def test_a_weak_chapter_encoder_is_flagged():
    assert sanity.far_from_reference([0.70, 0.72], [0.75, 0.76], 0.10, "image tower", "reference") is None
    assert "too weak" in sanity.far_from_reference([0.20, 0.30], [0.75, 0.76], 0.10, "image tower", "reference")


def test_bands_are_the_intervals_at_each_x():
    out = stats.bands([[0.5, 0.7], [0.6, 0.6, 0.6]])
    assert out["mean"] == pytest.approx([0.6, 0.6])
    assert out["low"][0] < 0.6 < out["high"][0] and out["low"][1] == out["high"][1] == 0.6
