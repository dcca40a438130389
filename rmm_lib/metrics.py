"""Metrics the three papers report, on top of scikit-learn.

Sentiment scores (CMU-MOSI/MOSEI style, in [-3, 3]):
* :func:`acc2` -- binary accuracy of the sign. Two conventions exist in the literature and both are
  here: ``zero="exclude"`` (negative vs positive, samples whose true score is exactly 0 are left
  out; the default) and ``zero="nonnegative"`` (negative vs non-negative, 0 counts as positive).
* :func:`mae` -- mean absolute error; :func:`pearson` -- correlation.

Classes: :func:`accuracy`, :func:`f1_macro`. Multi-label (MM-IMDb): :func:`multilabel_f1`.

Robustness to missing modalities, over a curve of a metric against the missing rate:
* :func:`area_under_curve` -- the curve's mean over its range of rates (trapezoid rule).
* :func:`relative_robustness`, :func:`effective_robustness`, :func:`maxmin_normalize` --
  MultiBench's two robustness metrics (Liang et al., "MultiBench: Multiscale Benchmarks for
  Multimodal Representation Learning", NeurIPS 2021 Datasets and Benchmarks, Sec. 3 and its
  ``eval_scripts/robustness.py``), followed exactly: relative robustness is the area under the
  accuracy-versus-imperfection curve over imperfection levels 0 to 1; effective robustness is the
  sum over levels of the accuracy above a reference curve (MultiBench: late fusion) shifted to
  start at the method's own clean accuracy (after Taori et al. 2020); MultiBench reports both
  min-max normalised over the methods compared.

A stand-in feature (TRML's virtual modality, CMPT's proxy token) against the feature it stands for:
* :func:`feature_fidelity` -- R^2 against the target, and the **centred** cosine with the same
  sample's target minus the mean cosine with the other samples' targets. Centring (on the target's
  mean) matters: a constant equal to the mean target has a raw cosine near 1 with every target, yet
  carries nothing about the sample; its centred gap is 0 and its R^2 is 0.
* :func:`ridge_ceiling` -- the same two numbers for a ridge regression (scikit-learn's ``RidgeCV``)
  from the available features to the target: what a linear read of those features can reach.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import accuracy_score, auc, f1_score, mean_absolute_error, r2_score


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _check_pair(y_true, y_pred):
    y_true, y_pred = _np(y_true), _np(y_pred)
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} samples but y_pred has {y_pred.shape[0]}.")
    if y_true.shape[0] == 0:
        raise ValueError("Cannot compute a metric on zero samples.")
    if np.issubdtype(y_pred.dtype, np.floating) and np.isnan(y_pred).any():
        raise ValueError("Predictions contain NaN: the model diverged or a missing input leaked NaNs.")
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    """Fraction of exact matches (y_pred: class ids, or logits of shape (N, K))."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    return float(accuracy_score(y_true, y_pred))


def f1_macro(y_true, y_pred) -> float:
    """Macro-averaged F1 over classes (y_pred: class ids or logits)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def acc2(y_true, y_pred, zero: str = "exclude") -> float:
    """Binary sentiment accuracy from continuous scores; see the module docstring for ``zero``."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    if zero == "exclude":
        keep = y_true != 0
        if not keep.any():
            raise ValueError("Every true score is 0: Acc-2 with zero='exclude' is undefined.")
        return float(accuracy_score(y_true[keep] > 0, y_pred[keep] > 0))
    if zero == "nonnegative":
        return float(accuracy_score(y_true >= 0, y_pred >= 0))
    raise ValueError(f"zero must be 'exclude' or 'nonnegative', got {zero!r}.")


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(mean_absolute_error(y_true.reshape(-1), y_pred.reshape(-1)))


def pearson(y_true, y_pred) -> float:
    """Pearson correlation (0 when either side is constant)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    a, b = y_true.reshape(-1).astype(float), y_pred.reshape(-1).astype(float)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def multilabel_f1(y_true, y_score, threshold: float = 0.5, from_logits: bool = True) -> dict:
    """F1 macro and micro for multi-label targets ``(N, K)``; ``y_score`` are logits (sigmoid then
    ``threshold``) or probabilities with ``from_logits=False``."""
    y_true, y_score = _check_pair(y_true, y_score)
    if y_true.shape != y_score.shape:
        raise ValueError(f"Multi-label targets {y_true.shape} and scores {y_score.shape} differ in shape.")
    prob = 1 / (1 + np.exp(-y_score)) if from_logits else y_score
    pred = prob >= threshold
    y_true = y_true.astype(bool)
    return {
        "f1_macro": float(f1_score(y_true, pred, average="macro", zero_division=0)),
        "f1_micro": float(f1_score(y_true, pred, average="micro", zero_division=0)),
    }


def task_metrics(task: str, target, output) -> dict:
    """All metrics for one task: ``classification`` (target labels, output logits),
    ``regression`` (target scores, output (N,) or (N, 1)), ``multilabel`` (targets (N, K), logits)."""
    if task == "classification":
        return {"accuracy": accuracy(target, output), "f1_macro": f1_macro(target, output)}
    if task == "regression":
        out = _np(output).reshape(-1)
        return {
            "mae": mae(target, out),
            "acc2": acc2(target, out, zero="exclude"),
            "acc2_has0": acc2(target, out, zero="nonnegative"),
            "corr": pearson(target, out),
        }
    if task == "multilabel":
        return multilabel_f1(target, output)
    raise ValueError(f"Unknown task {task!r}; use classification, regression or multilabel.")


#: The metric that early stopping watches per task, and whether higher is better.
MONITOR = {"classification": ("accuracy", "max"), "regression": ("mae", "min"), "multilabel": ("f1_macro", "max")}


def _check_curve(rates, values, name: str = "values"):
    rates, values = np.asarray(rates, dtype=float), np.asarray(values, dtype=float)
    if rates.ndim != 1 or len(rates) < 2:
        raise ValueError(f"a robustness curve needs at least two rates, got {rates.tolist()}")
    if values.shape != rates.shape:
        raise ValueError(f"{name} has {values.size} points for {rates.size} rates; give one value per rate")
    if not np.all(np.diff(rates) > 0):
        raise ValueError(f"rates must increase strictly, got {rates.tolist()}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or inf: {values.tolist()}")
    return rates, values


def area_under_curve(rates, values) -> float:
    """The mean of ``values`` over the range of ``rates`` (trapezoid rule, divided by the range):
    0.7 for a method that keeps 0.7 at every rate, whatever the range."""
    rates, values = _check_curve(rates, values)
    return float(auc(rates, values) / (rates[-1] - rates[0]))


def relative_robustness(rates, values) -> float:
    """MultiBench's relative robustness: the area under accuracy against the imperfection level,
    with levels from 0 to 1 (MultiBench's 0, 0.1, ..., 1.0; the trapezoid rule, not normalised)."""
    rates, values = _check_curve(rates, values)
    if rates[0] != 0 or rates[-1] != 1:
        raise ValueError(f"relative robustness is defined over missing rates 0 to 1 (MultiBench), got "
                         f"{rates[0]:g} to {rates[-1]:g}; use area_under_curve for another range")
    return float(auc(rates, values))


def effective_robustness(rates, values, reference) -> float:
    """MultiBench's effective robustness: ``sum_i f_i - (r_i + f_0 - r_0)`` over the rates, where
    ``f`` is the method's curve and ``r`` the reference's (MultiBench: late fusion) -- what the
    method keeps beyond the reference once both start from the method's clean accuracy."""
    rates, f = _check_curve(rates, values)
    _, r = _check_curve(rates, reference, "reference")
    return float(np.sum(f - (r + f[0] - r[0])))


def maxmin_normalize(scores: dict) -> dict:
    """``(s - min) / (max - min)`` over the methods compared, as MultiBench reports its robustness."""
    values = np.asarray(list(scores.values()), dtype=float)
    if len(values) < 2 or values.max() == values.min():
        raise ValueError(f"min-max normalisation needs at least two different scores, got {scores}")
    return {k: float((v - values.min()) / (values.max() - values.min())) for k, v in scores.items()}


# ----------------------------------------------------------------------------- stand-in features
def _features(x, name: str) -> np.ndarray:
    x = _np(x).astype(np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a (samples, features) matrix, got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has NaN or infinite entries.")
    return x


def feature_fidelity(predicted, target, centre=None) -> dict:
    """How well ``predicted`` ``(N, D)`` stands for ``target`` ``(N, D)``, sample by sample.

    Returns ``r2`` (scikit-learn's ``r2_score``, variance-weighted over the dimensions: 1 is exact,
    0 is what the mean target scores, below 0 is worse than the mean), ``cos_same`` and
    ``cos_other`` (mean centred cosine of a prediction with its own target and with the other
    samples' targets) and ``centred_gap = cos_same - cos_other``. ``centre`` (``(D,)``, default the
    target's mean) is subtracted from both before the cosines; pass the training targets' mean to
    keep test samples out of it.
    """
    pred, tgt = _features(predicted, "predicted"), _features(target, "target")
    if pred.shape != tgt.shape:
        raise ValueError(f"predicted {pred.shape} and target {tgt.shape} must have the same shape.")
    if len(pred) < 2:
        raise ValueError("feature_fidelity needs at least two samples (it compares each with the others).")
    centre = tgt.mean(0) if centre is None else _np(centre).astype(np.float64).reshape(-1)
    a, b = pred - centre, tgt - centre
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-12
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-12
    cos = a @ b.T
    same = float(np.diag(cos).mean())
    other = float((cos.sum() - np.trace(cos)) / (len(cos) * (len(cos) - 1)))
    return {"r2": float(r2_score(tgt, pred, multioutput="variance_weighted")), "cos_same": same,
            "cos_other": other, "centred_gap": same - other}


def ridge_ceiling(x_train, y_train, x_test, y_test, alphas=tuple(np.logspace(-3, 4, 15))) -> dict:
    """:func:`feature_fidelity` of a ridge regression from ``x`` to ``y``: fitted on the training
    pairs (the penalty chosen by RidgeCV's leave-one-out error on them, never on the test pairs),
    scored on the test pairs, centred on the training targets' mean. Adds ``alpha``, the penalty
    chosen."""
    xtr, ytr = _features(x_train, "x_train"), _features(y_train, "y_train")
    xte, yte = _features(x_test, "x_test"), _features(y_test, "y_test")
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError(f"x and y must pair up: train {len(xtr)} vs {len(ytr)}, test {len(xte)} vs {len(yte)}.")
    model = RidgeCV(alphas=alphas).fit(xtr, ytr)
    return {**feature_fidelity(model.predict(xte), yte, centre=ytr.mean(0)), "alpha": float(model.alpha_)}
