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
