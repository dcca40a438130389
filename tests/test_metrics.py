import numpy as np
import pytest
import torch

from rmm_lib import metrics


def test_acc2_two_conventions_by_hand():
    y_true = [-1.0, 0.0, 2.0, 0.5]
    y_pred = [-0.5, 1.0, -1.0, 0.2]
    # zero excluded: samples 0, 2, 3 -> right, wrong, right
    assert metrics.acc2(y_true, y_pred, zero="exclude") == pytest.approx(2 / 3)
    # zero counted non-negative: [F,T,T,T] vs [F,T,F,T]
    assert metrics.acc2(y_true, y_pred, zero="nonnegative") == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="undefined"):
        metrics.acc2([0.0, 0.0], [1.0, -1.0])


def test_mae_and_accuracy_by_hand():
    assert metrics.mae([1.0, -2.0, 0.0], [0.5, -1.0, 0.0]) == pytest.approx(0.5)
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert metrics.accuracy(torch.tensor([0, 1, 1]), logits) == pytest.approx(2 / 3)


def test_multilabel_f1_by_hand():
    y_true = np.array([[1, 0], [1, 1], [0, 1]])
    prob = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.7]])
    out = metrics.multilabel_f1(y_true, prob, from_logits=False)
    assert out["f1_macro"] == pytest.approx((2 / 3 + 1) / 2)  # class 0: P=1, R=1/2; class 1: perfect
    assert out["f1_micro"] == pytest.approx(6 / 7)  # tp=3, fp=0, fn=1
    logits = np.log(prob / (1 - prob))
    assert metrics.multilabel_f1(y_true, logits)["f1_micro"] == pytest.approx(6 / 7)


def test_bad_predictions_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        metrics.mae([1.0, 2.0], [float("nan"), 1.0])
    with pytest.raises(ValueError, match="3 samples but y_pred has 2"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="Unknown task"):
        metrics.task_metrics("ranking", [1], [1])


# Robustness over a missing-rate curve (MultiBench's definitions), on hand-computed examples.
def test_area_under_curve_is_the_mean_over_the_range():
    from rmm_lib.metrics import area_under_curve

    # trapezoids: 0.5 * (0.9 + 0.7) / 2 + 0.5 * (0.7 + 0.3) / 2 = 0.65, over a range of 1
    assert area_under_curve([0, 0.5, 1], [0.9, 0.7, 0.3]) == pytest.approx(0.65)
    # over 0.1 .. 0.7 a flat curve's mean is its value; uneven steps weigh by width
    assert area_under_curve([0.1, 0.4, 0.7], [0.6, 0.6, 0.6]) == pytest.approx(0.6)
    assert area_under_curve([0, 0.1, 1], [1.0, 0.0, 0.0]) == pytest.approx(0.05)


def test_relative_robustness_is_multibench_area_over_levels_0_to_1():
    from rmm_lib.metrics import relative_robustness

    levels = [i / 10 for i in range(11)]
    assert relative_robustness(levels, [0.8] * 11) == pytest.approx(0.8)
    # MultiBench sums (f_i + f_i+1) * 0.1 / 2: a drop from 1 to 0 at the second level gives 0.05
    assert relative_robustness(levels, [1.0] + [0.0] * 10) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="0 to 1"):
        relative_robustness([0, 0.5], [0.9, 0.7])


def test_effective_robustness_is_what_is_kept_beyond_the_shifted_reference():
    from rmm_lib.metrics import effective_robustness

    # f = (0.9, 0.7, 0.3), late fusion (0.8, 0.7, 0.5) shifted to start at 0.9: (0.9, 0.8, 0.6)
    assert effective_robustness([0, 0.5, 1], [0.9, 0.7, 0.3], [0.8, 0.7, 0.5]) == pytest.approx(-0.4)
    # a curve parallel to the reference has effective robustness 0, whatever its clean accuracy
    assert effective_robustness([0, 0.5, 1], [0.6, 0.5, 0.2], [0.9, 0.8, 0.5]) == pytest.approx(0.0)


def test_maxmin_normalize_and_bad_curves_are_refused():
    from rmm_lib.metrics import area_under_curve, maxmin_normalize

    assert maxmin_normalize({"a": 0.65, "b": 0.8, "c": 0.5}) == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.0})
    with pytest.raises(ValueError, match="two different scores"):
        maxmin_normalize({"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError, match="increase strictly"):
        area_under_curve([0, 0.5, 0.5], [1, 1, 1])
    with pytest.raises(ValueError, match="one value per rate"):
        area_under_curve([0, 0.5, 1], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        area_under_curve([0, 1], [1, float("nan")])


# ----------------------------------------------------------------------------- stand-in features
def test_a_constant_mean_scores_a_high_raw_cosine_but_nothing_centred():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(200, 8)) + 5.0  # far from the origin: the raw cosine with the mean is ~1
    constant = np.tile(target.mean(0), (200, 1))
    raw = (constant * target).sum(1) / np.linalg.norm(constant, axis=1) / np.linalg.norm(target, axis=1)
    assert raw.mean() > 0.9
    out = metrics.feature_fidelity(constant + 1e-9 * rng.normal(size=constant.shape), target)
    assert abs(out["centred_gap"]) < 0.05 and out["r2"] == pytest.approx(0.0, abs=1e-6)
    exact = metrics.feature_fidelity(target, target)
    assert exact["r2"] == pytest.approx(1.0) and exact["centred_gap"] > 0.9


def test_ridge_ceiling_reads_a_linear_target_and_not_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6))
    y = x @ rng.normal(size=(6, 4))
    good = metrics.ridge_ceiling(x[:300], y[:300], x[300:], y[300:])
    assert good["r2"] > 0.99 and good["centred_gap"] > 0.9
    noise = metrics.ridge_ceiling(x[:300], rng.normal(size=(300, 4)), x[300:], rng.normal(size=(100, 4)))
    assert noise["r2"] < 0.05 and abs(noise["centred_gap"]) < 0.1


def test_feature_fidelity_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        metrics.feature_fidelity(np.zeros((5, 3)), np.zeros((5, 4)))
