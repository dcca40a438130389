"""Means, intervals and paired differences over seeds: how the book reports a quick-profile number.

A number is the mean over runs (seeds) with its 95 % Student-t interval; a comparison is the
*paired* difference (same seeds, same data) with its paired-t interval. A difference is called
real only when its interval excludes zero. scipy computes every interval.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def _values(values, name: str) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty: an interval needs at least one value (and two for a width).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds a NaN or infinite value: {arr.tolist()}; check the runs that produced it.")
    return arr


def mean_interval(values, confidence: float = CONFIDENCE) -> dict:
    """``{"mean", "low", "high", "n"}``: the mean and its Student-t interval (zero width for n = 1,
    marked by ``low == high``; never report a single run as if it had an interval)."""
    arr = _values(values, "values")
    mean = float(arr.mean())
    if arr.size < 2 or np.all(arr == arr[0]):
        return {"mean": mean, "low": mean, "high": mean, "n": int(arr.size)}
    low, high = stats.t.interval(confidence, arr.size - 1, loc=mean, scale=stats.sem(arr))
    return {"mean": mean, "low": float(low), "high": float(high), "n": int(arr.size)}


def paired_difference(a, b, confidence: float = CONFIDENCE) -> dict:
    """Mean of ``a - b`` over pairs (the same seed on both sides) with its paired-t interval, and
    ``real``: whether the interval excludes zero."""
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired_difference needs one value per seed on each side, got {a.size} and {b.size}.")
    out = mean_interval(a - b, confidence)
    out["real"] = bool(out["n"] >= 2 and (out["low"] > 0 or out["high"] < 0))
    return out


def verdict(diff: dict) -> str:
    """The words the prose uses for a paired difference."""
    if not diff["real"]:
        return "no measurable difference"
    return "real: higher" if diff["mean"] > 0 else "real: lower"


def fmt(interval: dict, scale: float = 100.0, digits: int = 1) -> str:
    """``"62.1 [60.3, 63.9]"`` (accuracies as points by default)."""
    m, lo, hi = (interval[k] * scale for k in ("mean", "low", "high"))
    if math.isclose(lo, hi):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def fmt_diff(diff: dict, scale: float = 100.0, digits: int = 1) -> str:
    """``"+1.2 [-0.4, 2.8]"``: a signed paired difference and its interval."""
    m, lo, hi = (diff[k] * scale for k in ("mean", "low", "high"))
    return f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def fmt_mean(values, scale: float = 100.0, digits: int = 1) -> str:
    """:func:`fmt` of :func:`mean_interval`: ``"62.1 [60.3, 63.9]"`` from one value per seed."""
    return fmt(mean_interval(values), scale, digits)


def fmt_paired(a, b, scale: float = 100.0, digits: int = 1) -> str:
    """``"+1.2 [-0.4, 2.8] (no measurable difference)"``: the paired difference ``a - b`` over seeds,
    its interval and the words the prose uses for it (:func:`verdict`)."""
    d = paired_difference(a, b)
    return f"{fmt_diff(d, scale, digits)} ({verdict(d)})"


def binomial_halfwidth(accuracy: float, n: int) -> float:
    """Half-width of the normal 95 % interval of one accuracy measured on ``n`` test samples."""
    return float(stats.norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(accuracy * (1 - accuracy) / n))


def gap_closure(floor, learned, oracle, confidence: float = CONFIDENCE) -> dict:
    """How much of the gap between a mechanism's floor (nothing stands in for the missing modality)
    and its oracle (the truth stands in) the learned mechanism closes, over paired seeds:
    ``possible`` = oracle - floor, ``closed`` = learned - floor (paired differences with intervals)
    and ``fraction`` = closed / possible (the mean of per-seed ratios, with its interval; omitted
    when some seed's oracle does not beat its floor, where the ratio means nothing)."""
    floor, learned, oracle = (_values(v, n) for v, n in ((floor, "floor"), (learned, "learned"), (oracle, "oracle")))
    out = {"possible": paired_difference(oracle, floor, confidence),
           "closed": paired_difference(learned, floor, confidence)}
    gap = oracle - floor
    if np.all(gap > 0):
        out["fraction"] = mean_interval((learned - floor) / gap, confidence)
    return out


def bands(values_by_x) -> dict:
    """``{"mean", "low", "high"}`` lists, one entry per x, from the per-seed values at each x: a
    curve with its 95 % band, as :func:`rmm_lib.plots.plot_curves` and ``plot_metric_curve`` draw it."""
    ivs = [mean_interval(v) for v in values_by_x]
    return {k: [iv[k] for iv in ivs] for k in ("mean", "low", "high")}


def near(label: str, value: float, reference: float, tolerance: float, digits: int = 2) -> str:
    """A line that reads the same on any CPU: ``"<label> = <reference> ± <tolerance>: holds"`` when
    ``value`` lies within ``tolerance`` of ``reference``; an AssertionError naming ``value`` otherwise.

    A notebook prints the value a run gave in an ordinary cell and this line in a checked one
    (``# NBVAL_CHECK_OUTPUT``): the last digits of a training run move on other floating-point
    kernels, but a result that moves more than ``tolerance`` (chosen from the drift measured by
    ``benchmarks/kernel_drift.py``) fails the check."""
    value, reference, tolerance = float(value), float(reference), float(tolerance)
    if not (math.isfinite(value) and tolerance >= 0):
        raise ValueError(f"near({label!r}): value {value!r} must be finite and tolerance {tolerance!r} >= 0.")
    claim = f"{label} = {reference:.{digits}f} ± {tolerance:.{digits}f}"
    if abs(value - reference) > tolerance:
        raise AssertionError(f"{claim} does not hold: this run gave {value:.{digits + 2}f}.")
    return f"{claim}: holds"
